"""`wta prompt STREAM`: the stream's full prompt, zone rules included, for pasting into an editor."""

from __future__ import annotations

import sys

from worktree_agents.commands.streams import known_stream
from worktree_agents.project import Project
from worktree_agents.redaction import printable
from worktree_agents.sessions.prompt import full_prompt
from worktree_agents.sessions.supervisor import stream_worktrees


def run(stream: str) -> int:
    project = Project.find()
    config = project.main_config()
    known_stream(config, stream)
    text = full_prompt(config, stream, project.main, stream_worktrees(project).get(stream), project.repo.state_dir)
    print(printable(text) if sys.stdout.isatty() else text, end="")   # (requests in it: other agents' text)
    return 0
