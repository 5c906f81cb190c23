"""Whether a session is alive: its process runs (the same one: pid and start time), it
crashed, or it stalled; and which processes make it up.

`observe` is how anyone reading a record (the coordinator, `wta status`, `wta watch`,
`wta logs`) notices a crash (the wrapper is gone, or its pid was reused, with no
recorded end) or a stall (no output and no commit for `stall_after`), and records it.
`running_pid` only reads (`wta merge` refuses a stream whose session runs).
"""

from __future__ import annotations

import os
import time

from worktree_agents.errors import WtaError
from worktree_agents import sandbox
from worktree_agents.sessions import process
from worktree_agents.sessions.leftovers import last_commit_time
from worktree_agents.sessions.store import CRASHED, RUNNING, STALLED, SessionRecord, SessionStore, iso, parse_time

STALL_CHECK_EVERY = 5.0     # seconds between stall checks of one session (they run git)


def last_activity(record: SessionRecord) -> float | None:
    """The latest of: the session's start, its log's last write, its worktree's last commit."""
    times = [parse_time(record.started_at)]
    if record.log and os.path.exists(record.log):
        times.append(os.path.getmtime(record.log))
    if record.worktree and os.path.isdir(record.worktree):
        times.append(last_commit_time(record.worktree))
    times = [t for t in times if t is not None]
    return max(times) if times else None


def running_pid(state_dir: str, stream: str) -> int | None:
    """The pid of the stream's session while its process runs (a stalled one runs too), else None.

    Only reads: a pid the OS has given to another process since (its start time
    differs from the recorded one) is no session. `observe` also records what it finds.
    """
    record = SessionStore(state_dir).read(stream)
    return record.pid if record is not None and _process_runs(record) else None


def _process_runs(record: SessionRecord) -> bool:
    return record.live and process.is_alive(record.pid, record.pid_create_time)


def observe(store: SessionStore, record: SessionRecord, check_stall: bool = True) -> SessionRecord:
    """Notice (and record) a crash or a stall (after the record's `stall_after`) of a live session.

    What is noticed is returned even when it cannot be recorded (a full disk).
    """
    if not record.live or sandbox.inside():
        # (In a session's sandbox, a pid namespace of its own, no session's process is seen, and wta's
        # state is read-only: a live record is taken as it is.)
        return record
    if not _process_runs(record):
        current = record
        try:
            with store.updating(record.stream) as current:
                if current.live and current.ended_at is None and \
                        not process.is_alive(current.pid, current.pid_create_time):
                    current.state = CRASHED
                    current.reason = ("the session's process ended without recording an exit (killed, or the "
                                      "machine restarted)")
        except WtaError:
            pass
        if current.state == CRASHED:
            # What the wrapper started may still run in its process group: nothing would ever end it.
            process.terminate(process.group_members(current.pid, current.pid_create_time))
        return current
    stall_after = record.stall_after
    if not check_stall or not stall_after:
        return record
    started = parse_time(record.started_at)
    if record.state == RUNNING and started is not None and time.time() - started <= stall_after:
        return record   # it has not run for as long as it would have to be quiet: no git to ask
    seen = last_activity(record)
    if seen is None:
        return record
    stalled = time.time() - seen > stall_after
    current = record
    try:
        with store.updating(record.stream) as current:
            if current.live and current.pid == record.pid:
                current.last_activity = iso(seen)
                if stalled and current.state == RUNNING:
                    current.state, current.reason = STALLED, f"no output and no commit for {stall_after}s"
                elif not stalled and current.state == STALLED:
                    current.state, current.reason = RUNNING, None
    except WtaError:
        pass
    return current


def session_roots(record: SessionRecord) -> list:
    """The processes whose trees make up a live session: the wrapper, and the agent when
    it lives outside the wrapper's tree (in tmux)."""
    roots = [process.find(record.pid, record.pid_create_time)]
    if record.tmux:
        roots.append(process.find(record.agent_pid, record.agent_create_time))
    return [r for r in roots if r is not None]


def session_processes(record: SessionRecord) -> list:
    """Every process that belongs to the session: the wrapper's tree, the agent's tree and
    whatever still runs in the session's process group."""
    found = {}
    for root in (process.find(record.pid, record.pid_create_time), process.find(record.agent_pid, record.agent_create_time)):
        for p in process.tree(root) if root is not None else []:
            found[p.pid] = p
    if record.pid:
        for p in process.group_members(record.pid, record.pid_create_time):
            found.setdefault(p.pid, p)
    return list(found.values())
