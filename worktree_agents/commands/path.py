"""`wta path STREAM`: the stream's worktree, for `cd "$(wta path api)"`."""

from __future__ import annotations

import os

from worktree_agents import git
from worktree_agents.commands.streams import known_stream
from worktree_agents.errors import WtaError
from worktree_agents.project import Project
from worktree_agents.sessions.supervisor import stream_worktrees


def run(stream: str) -> int:
    print(worktree_of(Project.find(), stream))
    return 0


def worktree_of(project: Project, stream: str) -> str:
    """The stream's worktree; an error with the fix when it has none yet."""
    config = project.main_config()
    known_stream(config, stream, project)
    path = stream_worktrees(project).get(stream)
    if path is None:
        from worktree_agents.worktrees.registry import known_branches, list_worktrees

        branch = config.branch_for(stream)
        held = [w.path for w in list_worktrees(project.main)[1:] if w.branch == branch]
        if held and not os.path.isdir(held[0]):   # deleted by hand: git still lists it until pruned
            raise WtaError(f"stream {stream!r}: its worktree {held[0]} is missing (its folder was deleted); "
                           f"`wta up --no-launch {stream}` makes it again")
        if held:   # a worktree made with plain git: `wta up` would refuse to make another
            raise WtaError(f"stream {stream!r} has no worktree of wta's; its branch {branch} is checked out at "
                           f"{held[0]}: cd there, or run `wta up --no-launch {stream}` to be told how to move it "
                           "where wta keeps it")
        if branch in (known_branches(project.repo.state_dir) or ()) and \
                git.tip_of(project.repo.common_dir, branch, project.main, project.env) is not None:
            # wta made it, and its branch outlived it: `wta down` (which keeps the branch) removed it.
            raise WtaError(f"stream {stream!r} has no worktree: it was removed (its branch {branch} is kept); "
                           f"`wta up {stream}` makes it again from its branch and starts its session "
                           f"(`wta up --no-launch {stream}`: the worktree alone)")
        raise WtaError(f"stream {stream!r} has no worktree yet; make it with `wta up --no-launch {stream}`")
    return path
