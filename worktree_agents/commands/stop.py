"""`wta stop [STREAM...]`: end sessions and their whole process trees; worktrees and commits stay."""

from __future__ import annotations

import os
import signal

from worktree_agents.commands.streams import known_streams
from worktree_agents.merge.recovery import end_test
from worktree_agents.merge.state import describe_state, read_state
from worktree_agents.state import lock_holder
from worktree_agents.project import Project
from worktree_agents.sessions import process, supervisor
from worktree_agents.sessions.stop import stop
from worktree_agents.sessions.store import SessionStore


COORDINATOR_WAIT = 10   # seconds a coordinator gets to end (a landing under way finishing) before it is killed


def run(streams: list[str]) -> int:
    project = Project.find()
    config = project.main_config()
    names = known_streams(config, streams, project)
    cut_short: set[str] = set()   # the streams of a landing the coordinator's end interrupted
    if not streams:
        # Stop the coordinator first, so that it does not start what is being stopped.
        pid = supervisor.coordinator_pid(project.repo.state_dir)
        killed = False
        if pid is not None:
            os.kill(pid, signal.SIGTERM)   # it lets a landing under way finish, for as long as we wait
            coordinator = process.find(pid, None)
            if coordinator is not None and process.wait_gone([coordinator], COORDINATOR_WAIT):
                process.terminate([coordinator])  # it would not end: the hard way
                killed = True
            print(f"coordinator (pid {pid}): stopped")
        # A landing's `test:` that a coordinator ended (or killed) during it left running: it stops too; the
        # landing itself is finished or undone by the next `wta up` or `wta merge --continue`.
        landing = read_state(project.repo.state_dir)
        if landing is not None and lock_holder(project.repo.state_dir) is None:   # no live merge runs it
            end_test(landing)
            if landing.get("status") in ("running", "aborting"):   # interrupted: only --continue goes on with it
                cut_short = set(landing["streams"][landing["index"]:])
            if killed:
                print(f"its landing did not end within {COORDINATOR_WAIT} s and was cut short: "
                      f"{describe_state(landing)}; `wta merge --continue` finishes it, `wta merge --abort` undoes it")
    store = SessionStore(project.repo.state_dir)
    up = lock_holder(project.repo.state_dir)
    preparing = up.pid if up is not None and up.command.startswith("wta up") else None
    for stream in names:
        record = store.read(stream)
        if preparing is not None and (record is None or not record.live):
            # No session yet: that `wta up` makes worktrees or runs `setup:`, and would start it after.
            store.request_stop(stream, preparing)
            print(f"{stream}: stopped before it started (`wta up`, pid {preparing}, prepares it and will not start "
                  "its session)")
            continue
        print(f"{stream}: {stop(store, stream, cut_short=stream in cut_short)}")
    return 0
