"""`wta attach STREAM`: join an interactive session's tmux session."""

from __future__ import annotations

import os

from worktree_agents.commands.streams import known_stream
from worktree_agents.errors import WtaError
from worktree_agents.project import Project
from worktree_agents.sessions import tmux
from worktree_agents.sessions.store import SessionStore


def run(stream: str) -> int:
    project = Project.find()
    known_stream(project.main_config(), stream)
    record = SessionStore(project.repo.state_dir).read(stream)
    session = tmux.TmuxSession.from_dict(record.tmux) if record and record.tmux and record.live else None
    if session is None or not session.alive():
        raise WtaError(f"stream {stream!r} has no interactive session running; start one with "
                       f"`wta up --interactive {stream}`, or follow its log with `wta logs {stream} -f`")
    tmux.require()
    os.execvp("tmux", session.attach_argv())  # tmux takes over this process
    return 0
