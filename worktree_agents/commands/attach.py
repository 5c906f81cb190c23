"""`wta attach STREAM`: join an interactive session's tmux session."""

from __future__ import annotations

import os
import subprocess

from worktree_agents import sessions
from worktree_agents.commands.streams import known_stream
from worktree_agents.errors import WtaError
from worktree_agents.project import Project
from worktree_agents.sessions import tmux
from worktree_agents.sessions.store import SessionStore


def run(stream: str) -> int:
    project = Project.find()
    config = project.main_config()
    known_stream(config, stream, project)
    record = SessionStore(project.repo.state_dir).read(stream)
    session = tmux.TmuxSession.from_dict(record.tmux) if record and record.tmux and record.live else None
    if session is None and sessions.by_hand(sessions.runner_of(record, config, stream)):
        # (Its `wta logs` says "no log": no hint to follow one.)
        raise WtaError(f"stream {stream!r} has no session to attach to: a person drives it (a manual session); "
                       f"open its worktree with `wta open {stream}`")
    if session is None or not session.alive():
        raise WtaError(f"stream {stream!r} has no interactive session running; start one with "
                       f"`wta up --interactive {stream}`, or follow its log with `wta logs {stream} -f`")
    tmux.require()
    if not (os.isatty(0) and os.isatty(1)):
        raise WtaError(f"wta attach needs a terminal (stdin and stdout); run it in one, or follow the session's "
                       f"log with `wta logs {stream} -f`")
    code = subprocess.run(session.attach_argv()).returncode
    # tmux says 1 when its server ended under it: the session ended while attached, which is no failure
    # of the attach. What the session ended as is in its record (`wta status`).
    return 0 if code == 0 or not session.alive() else code
