"""`wta stop`: ending a stream's session and every process of it; its worktree and commits stay."""

from __future__ import annotations

import signal

from worktree_agents.sessions import process
from worktree_agents.sessions.liveness import session_processes
from worktree_agents.sessions.store import LANDING, OPEN, PENDING, STOPPED, WAITING, SessionRecord, SessionStore, now

STOP_WAIT = 30.0   # beyond the kill grace: time for the wrapper to commit leftovers and record


BY_WTA_STOP = "stopped by `wta stop`"   # what the wrapper records when it is told to stop (SIGTERM)
COORDINATOR_ENDED = "stopped before it started: the coordinator was ended"   # its planned sessions', at its SIGTERM


def ended_with_its_coordinator(record: SessionRecord) -> bool:
    """Stopped before it started because its coordinator was ended (SIGTERM), not by `wta stop`: what the next
    `wta up` resumes."""
    return record.state == STOPPED and record.reason == COORDINATOR_ENDED


def stop(store: SessionStore, stream: str, cut_short: bool = False, by: str = "wta stop") -> str:
    """End a stream's session and every process of it; what happened, in a few words. `cut_short`: the
    stream is in a landing that was interrupted (its coordinator killed), which only `wta merge --continue`
    finishes (`wta merge STREAM` refuses while it is there). `by`: the command that stops it, for the record."""
    record = store.read(stream)
    if record is None:
        return "no session"
    if record.state in (PENDING, WAITING) or ended_with_its_coordinator(record):
        # (The latter: the coordinator that `wta stop` ended got there first. `wta stop`'s own words, so that the
        # next `wta up` runs everything anew rather than resuming the schedule, as after a SIGTERM.)
        store.update(stream, state=STOPPED, reason="stopped before it started", ended_at=record.ended_at or now())
        return "stopped before it started"
    if record.state == LANDING and cut_short:
        store.update(stream, state=STOPPED, ended_at=now(),
                     reason="stopped while landing: its landing was cut short; not tried again (`wta merge "
                            f"--continue` lands it; after `wta merge --abort`, `wta merge {stream}` does)")
        return "stopped: its landing was cut short, `wta merge --continue` finishes it; not tried again, no follow-up"
    if record.state == LANDING:  # done, its landing under way or to come: no further try, no follow-up
        store.update(stream, state=STOPPED, ended_at=now(),
                     reason=f"stopped while landing: not tried again (`wta merge {stream}` lands it)")
        return "stopped: a landing under way finishes; not tried again, no follow-up"
    if record.state == OPEN:  # a person's session: nothing to kill, only no longer open
        store.update(stream, state=STOPPED, reason="the manual session was stopped", ended_at=now())
        return "manual session stopped"
    procs = session_processes(record)
    if not record.live and not procs:
        return f"not running ({record.state})"
    wrapper = process.find(record.pid, record.pid_create_time)
    if wrapper is not None:
        # The wrapper ends the agent's tree itself, commits the in-zone leftovers and records `stopped`.
        try:
            wrapper.send_signal(signal.SIGTERM)
        except Exception:  # psutil.NoSuchProcess: it ended meanwhile
            pass
        process.wait_gone([wrapper], process.kill_grace() + STOP_WAIT)
    process.terminate(procs)  # psutil checks each one's identity before signalling it
    if record.tmux:
        from worktree_agents.sessions.tmux import TmuxSession

        TmuxSession.from_dict(record.tmux).kill()
    reason = f"stopped by `{by}`"
    with store.updating(stream) as current:
        if current.live:
            current.state, current.reason, current.ended_at = STOPPED, reason, now()
        elif current.state == STOPPED and current.reason == BY_WTA_STOP:   # the wrapper knows no other
            current.reason = reason
    return "stopped"
