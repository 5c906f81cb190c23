"""`wta logs STREAM [-f] [--raw]`: the session's log; `-f` follows it until nothing more happens to the stream by
itself: its session ended, and its coordinator does not land it (`land: manual`), has landed it or blocked it
(a landing handed back starts a follow-up session, which writes on in the same log), or is gone; exit 1 when
it failed, or its stream is blocked. Claude Code's stream-json lines are rendered for people
(sessions/transcript.py), `--raw`: as written."""

from __future__ import annotations

import os
import sys
import time

from worktree_agents.commands.streams import known_stream
from worktree_agents.errors import WtaError
from worktree_agents import sessions
from worktree_agents.project import Project
from worktree_agents import sandbox
from worktree_agents.redaction import shown
from worktree_agents.sessions.store import (BLOCKED, CRASHED, DONE, FAILED, LANDED, LANDING, PENDING, WAITING,
                                            SessionRecord, SessionStore)
from worktree_agents.sessions.liveness import observe
from worktree_agents.sessions.transcript import Transcript

FOLLOW_POLL = 0.2


def run(stream: str, follow: bool = False, raw: bool = False) -> int:
    project = Project.find()
    config = project.main_config()
    known_stream(config, stream, project)
    store = SessionStore(project.repo.state_dir)
    record = store.read(stream)
    path = store.log_path(stream)
    if sessions.by_hand(sessions.runner_of(record, config, stream)):
        if not os.path.exists(path):
            raise WtaError(f"stream {stream!r} has no log: a person drives it (a manual session); open its "
                           f"worktree with `wta open {stream}`")
        # Re-run with `--runner manual`: the log of its earlier sessions is still there, and is no less theirs.
        print(f"wta: stream {stream!r} is driven by a person now (a manual session, which writes no log); "
              f"below is the log of an earlier session ({path})", file=sys.stderr)
        follow = False   # nothing writes to it any more
    coming = record is not None and (record.live or record.state in (PENDING, WAITING) and  # -f waits for its log
                                     _goes_on(store, record, config))
    if not os.path.exists(path) and not (follow and coming):
        if stream not in config.streams:   # taken out of zones.yaml: `wta up` would refuse it
            raise WtaError(f"{path}: stream {stream!r} has no log, and zones.yaml no longer defines it; add it back "
                           f"to streams: in zones.yaml to start a session, or remove its worktree (wta down {stream})")
        if coming:   # its coordinator starts it: `wta up STREAM` would refuse (a coordinator is scheduling)
            raise WtaError(f"{path}: stream {stream!r} has no log yet: {_not_started(record)}; "
                           f"`wta logs -f {stream}` waits for it and follows it")
        raise WtaError(f"{path}: stream {stream!r} has no log yet; start its session with `wta up {stream}`")
    if follow and not os.path.exists(path) and record.state in (PENDING, WAITING):
        print(f"wta: stream {stream!r} has no log yet: {_not_started(record)}; it is followed once the session "
              "starts (Ctrl-C stops)", file=sys.stderr)
    out = sys.stdout.buffer
    transcript = None if raw else Transcript()
    position = 0
    try:
        while True:
            position = _copy(path, position, out, transcript, last=not follow)
            if not follow:
                return 0
            record = store.read(stream)
            if record is not None and record.state not in (PENDING, WAITING):
                record = observe(store, record, check_stall=False)
            if record is None or not _goes_on(store, record, config):
                _copy(path, position, out, transcript, last=True)  # what was written while it ended
                return _ended(stream, record)
            time.sleep(FOLLOW_POLL)
    except KeyboardInterrupt:
        return 0


def _goes_on(store: SessionStore, record: SessionRecord, config) -> bool:
    """Whether more is to come of the stream by itself, which `-f` waits for: its session runs; or the
    running coordinator is to start it (`pending`, `waiting`: the first session, or a follow-up a landing
    handed back), or to land it (`done` or `landing`, under `land: auto` or `wta up --land`). Not when that
    coordinator is gone: nobody would (the reason says so, as `wta status` does); nor when it does not land
    (`land: manual`: a person's `wta merge` does)."""
    if record.live:
        return True
    if record.state not in (PENDING, WAITING, DONE, LANDING):
        return False
    if sandbox.inside():   # (no coordinator is seen from a session's sandbox: as a session ends, so does -f)
        return record.state in (PENDING, WAITING)
    from worktree_agents.sessions.supervisor import coordinator_of

    holder = coordinator_of(store.state_dir)
    if holder is None:
        if record.state in (PENDING, WAITING, LANDING):
            from worktree_agents.status import ORPHANED, UNLANDED

            record.reason = UNLANDED if record.state == LANDING else ORPHANED
        return False
    if record.stream not in holder.get("streams", [record.stream]):
        return False   # left from a schedule that ended: this coordinator does not start it, nor land it
    if record.state in (PENDING, WAITING):
        return True
    lands = holder.get("land", config.land == "auto")   # (a lock file an older wta wrote does not say)
    return bool(lands) and not sessions.by_hand(sessions.runner_of(record, config, record.stream))


def _not_started(record: SessionRecord) -> str:
    """What a stream whose session has not started yet waits for ("its session is waiting for ui")."""
    if record.state == WAITING:
        return f"its session is {record.reason or record.state}"
    if record.state == PENDING:
        return "its session has not started yet" + (f" ({record.reason})" if record.reason else "")
    return "its session is starting"


def _ended(stream: str, record: SessionRecord | None) -> int:
    """`-f`'s exit code once nothing more comes (`_goes_on`): 1 when the session failed or its stream is blocked
    (SPEC), with the reason of a crash, which no session wrote into its log (its wrapper was killed), and what
    became of a stream after its last session ended done (landed, blocked: the log ends on "ended: done"), or
    of one its coordinator left (pending, waiting, landing: none starts or lands it now), as `wta status`
    says it."""
    if record is not None and record.state in (PENDING, WAITING, LANDING, LANDED, BLOCKED):
        why = record.reason or ""
        print(f"wta: stream {stream!r} is " + (why if why.startswith(record.state) else
                                                record.state + (f": {why}" if why else "")), file=sys.stderr)
        return 1 if record.state == BLOCKED else 0
    if record is None or record.state not in (FAILED, CRASHED):
        return 0
    if record.state == CRASHED:
        print(f"wta: session of stream {stream!r} crashed: {record.reason}", file=sys.stderr)
    return 1


def _copy(path: str, position: int, out, transcript: Transcript | None = None, last: bool = True) -> int:
    """What the log has past `position`, written to `out`; the position after it. With `transcript`, its
    lines rendered, each once whole (a line still being written waits for its end, unless it is the `last`
    read). On a terminal, without the escape sequences an agent's output may carry but its colours (a
    window title, erased lines, the clipboard written: one cut in two by a read loses its start, and its
    end shows as text)."""
    try:
        with open(path, "rb") as f:
            f.seek(position)
            data = f.read()
    except FileNotFoundError:
        return position
    if transcript is not None:
        data = data if last else data[:data.rfind(b"\n") + 1]
        text = transcript.render(data.decode("utf-8", "surrogateescape"))
        out.write((shown(text) if out.isatty() else text).encode("utf-8", "surrogateescape"))
    elif out.isatty():
        out.write(shown(data.decode("utf-8", "surrogateescape")).encode("utf-8", "surrogateescape"))
    else:
        out.write(data)
    out.flush()
    return position + len(data)
