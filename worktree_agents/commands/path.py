"""`wta path STREAM`: the stream's worktree, for `cd "$(wta path api)"`."""

from __future__ import annotations

from worktree_agents.commands.streams import known_stream
from worktree_agents.errors import WtaError
from worktree_agents.project import Project
from worktree_agents.sessions.supervisor import stream_worktrees


def run(stream: str) -> int:
    print(worktree_of(Project.find(), stream))
    return 0


def worktree_of(project: Project, stream: str) -> str:
    """The stream's worktree; an error with the fix when it has none yet."""
    known_stream(project.main_config(), stream, project)
    path = stream_worktrees(project).get(stream)
    if path is None:
        raise WtaError(f"stream {stream!r} has no worktree yet; make it with `wta up --no-launch {stream}`")
    return path
