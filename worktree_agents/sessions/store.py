"""Session records: one JSON file per stream under `<common git dir>/wta/sessions/`.

Several processes write a stream's record: the coordinator (pending, waiting,
failed on a dependency), the session wrapper (running, then the outcome) and
any reader that notices a crash or a stall. Every change is a read-modify-write
under a per-stream lock, and the file is replaced atomically, so no writer loses
another's update and no reader sees half a file. The schema is in docs/sessions.md.
"""

from __future__ import annotations

import fcntl
import json
import os
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from datetime import datetime, timezone
from typing import Any, Iterable, Iterator

from worktree_agents import layout
from worktree_agents.files import write_atomic
from worktree_agents.redaction import printable, redact_text


PENDING, WAITING, RUNNING, DONE, FAILED, STALLED, STOPPED, CRASHED, OPEN = (
    "pending", "waiting", "running", "done", "failed", "stalled", "stopped", "crashed", "open")
# The integration loop (sessions/landing.py): landing on the base, landed, or given up on.
LANDING, LANDED, BLOCKED = "landing", "landed", "blocked"
LIVE = frozenset({RUNNING, STALLED})                 # a wrapper process should exist
# Nothing more for wta to run (a `done` session is landed next when `land: auto`). An `open` session
# is a person (the manual runner): open until its stream is merged or stopped, with no process, so no
# log and no "done" alert.
ENDED = frozenset({DONE, FAILED, STOPPED, CRASHED, LANDED, BLOCKED, OPEN})
# Lets the streams `after` it go on (to wait, if need be, for it to land on the base): its work is
# complete, or a person works on it.
SATISFIES_AFTER = frozenset({DONE, LANDING, LANDED, OPEN})


def now() -> str:
    """The current time as ISO 8601 UTC, to the millisecond (ordering sessions needs it)."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def parse_time(value: str | None) -> float | None:
    """Seconds since the epoch of a recorded time, or None."""
    if not value:
        return None
    try:
        return datetime.fromisoformat(value).timestamp()
    except ValueError:
        return None


def iso(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    return datetime.fromtimestamp(seconds, timezone.utc).isoformat(timespec="milliseconds")


@dataclass(kw_only=True)
class AgentFigures:
    """What the agent's output says about its session: a runner's report, kept in the record."""

    turns: int | None = None
    cost_usd: float | None = None
    cost_simulated: bool = False  # a scripted model answered (wta demo): nothing was billed
    input_tokens: int | None = None
    output_tokens: int | None = None
    permission_denials: list[dict] = field(default_factory=list)
    result: str | None = None

    def take_figures(self, other: AgentFigures) -> None:
        for f in fields(AgentFigures):
            setattr(self, f.name, getattr(other, f.name))


@dataclass
class SessionRecord(AgentFigures):
    stream: str
    runner: str = ""
    state: str = PENDING
    reason: str | None = None
    worktree: str | None = None
    model: str | None = None
    port: int | None = None
    pid: int | None = None                   # the session wrapper
    pid_create_time: float | None = None     # its start time as the OS reports it: tells a reused pid apart
    agent_pid: int | None = None
    agent_create_time: float | None = None
    started_at: str | None = None
    ended_at: str | None = None
    exit_code: int | None = None
    last_activity: str | None = None
    leftovers_committed: list[str] = field(default_factory=list)
    leftovers_outside_zone: list[str] = field(default_factory=list)
    stall_after: int | None = None           # seconds without output or commit that make it `stalled`
    tmux: dict | None = None                 # {"socket": ..., "session": ...} of an interactive session
    sandbox: str | None = None               # what confines the agent's processes ("bwrap"), None: nothing
    log: str | None = None
    waiting_to_land: list[str] = field(default_factory=list)   # `waiting`: dependencies done, not yet landed
    handbacks: int = 0                       # follow-up sessions started for a failed landing
    # [started_at, ended_at] of each session of this schedule that ended done and whose landing failed: a
    # follow-up or the block replaced them above, and `wta watch` still says each ended `done`.
    failed_to_land: list[list[str]] = field(default_factory=list)
    moved_while_landing: int = 0             # landings in a row its branch got new commits during
    # What this schedule's sessions of the stream spent together (the first and each follow-up after a failed
    # landing; the figures above are the last session's): added to as each session ends, carried by a resumed
    # follow-up, started anew with the schedule. None: no session reported that figure.
    total_sessions: int = 0                  # sessions whose end added their figures
    total_turns: int | None = None
    total_cost_usd: float | None = None
    total_input_tokens: int | None = None
    total_output_tokens: int | None = None
    # The events of this record a watcher has announced ("<started_at>:<state>": `done`, `stopped`, `landed`),
    # so that the next watcher announces those that none did (the coordinator was killed) and no others;
    # None: a record from before they were kept, whose endings are all history.
    announced: list[str] | None = field(default_factory=list)
    landed_at: str | None = None
    landed_head: str | None = None           # the base commit that landed the stream
    updated_at: str | None = None

    @property
    def live(self) -> bool:
        return self.state in LIVE

    def begin_session(self, started_at: str) -> None:
        """A new session of the stream starts (the first, or a follow-up, which keeps the record of the one
        before): the figures are its own from now on, none until it reports them at its end."""
        self.started_at, self.ended_at, self.exit_code = started_at, None, None
        self.take_figures(AgentFigures())

    def add_to_totals(self, figures: AgentFigures) -> None:
        """A session of this schedule ended with these figures: they count in its totals."""
        self.total_sessions += 1
        self.total_turns = _plus(self.total_turns, figures.turns)
        self.total_cost_usd = _plus(self.total_cost_usd, figures.cost_usd)
        self.total_input_tokens = _plus(self.total_input_tokens, figures.input_tokens)
        self.total_output_tokens = _plus(self.total_output_tokens, figures.output_tokens)

    def totals(self) -> dict[str, Any]:
        """The totals' fields, as a follow-up resumed by the next schedule carries them."""
        return {name: getattr(self, name) for name in TOTALS}

    @property
    def ended(self) -> bool:
        return self.state in ENDED

    def to_dict(self) -> dict[str, Any]:
        """Every field, its lists and dicts copied (what `dataclasses.asdict` gives, without its deep copy of
        every value: a `wta up` takes this hundreds of times, twice for each update)."""
        values = self.__dict__
        return {name: _copied(values[name]) for name in _FIELD_NAMES}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "SessionRecord":
        return cls(**{"announced": None, **{k: v for k, v in data.items() if k in _KNOWN}})


_FIELD_NAMES = tuple(f.name for f in fields(SessionRecord))
_KNOWN = frozenset(_FIELD_NAMES)


def _copied(value: Any) -> Any:
    """A record's value as JSON holds it, its lists and dicts copied (a change made in place to the record's
    own then shows against the copy)."""
    if isinstance(value, list):
        return [_copied(v) for v in value]
    if isinstance(value, dict):
        return {k: _copied(v) for k, v in value.items()}
    return value


TOTALS = ("total_sessions", "total_turns", "total_cost_usd", "total_input_tokens", "total_output_tokens")


def _plus(total: Any, more: Any) -> Any:
    return total if more is None else more if total is None else total + more


class SessionStore:
    """The session records of one repository (`<common>/wta/`)."""

    def __init__(self, state_dir: str) -> None:
        self.state_dir = state_dir

    def path(self, stream: str) -> str:
        return layout.path(self.state_dir, layout.SESSION, stream=stream)

    def log_path(self, stream: str) -> str:
        return layout.path(self.state_dir, layout.STREAM_LOG, stream=stream)

    def prompt_path(self, stream: str) -> str:
        return layout.path(self.state_dir, layout.PROMPT, stream=stream)

    def handback_path(self, stream: str) -> str:
        """Why the stream's last landing failed, for its follow-up session's prompt."""
        return layout.path(self.state_dir, layout.HANDBACK, stream=stream)

    def request_stop(self, stream: str, up_pid: int) -> None:
        """`wta stop` of a stream whose session the `wta up` of pid `up_pid` has not started yet (it runs
        `setup:`, or makes worktrees): that `wta up` does not start it (`take_stop_request`)."""
        write_atomic(layout.path(self.state_dir, layout.STOP_REQUEST, stream=stream), f"{up_pid}\n")

    def take_stop_request(self, stream: str, up_pid: int) -> bool:
        """Whether `wta stop` asked the `wta up` of pid `up_pid` not to start this stream's session; the request
        goes (one for another, ended `wta up` is no longer anybody's)."""
        path = layout.path(self.state_dir, layout.STOP_REQUEST, stream=stream)
        try:
            with open(path, encoding="ascii", errors="replace") as f:
                requested = f.read().strip() == str(up_pid)
            os.unlink(path)
        except OSError:
            return False
        return requested

    def read(self, stream: str) -> SessionRecord | None:
        try:
            with open(self.path(stream), encoding="utf-8") as f:
                data = json.load(f)
        except (FileNotFoundError, ValueError):
            return None
        return SessionRecord.from_dict(data) if isinstance(data, dict) else None

    def read_all(self, streams: list[str]) -> dict[str, SessionRecord | None]:
        return {s: self.read(s) for s in streams}

    def _write(self, record: SessionRecord) -> None:
        record.updated_at = now()
        if record.reason:   # (it may quote a commit's subject, a test's output: `wta status --json` and notify read it;
            # the error an agent's result line gives: its escape sequences went to the terminal with `wta status`)
            record.reason = printable(redact_text(record.reason))
        # Without fsync, as the merge state: what a record must survive is a killed writer (the
        # rename sees to it); a `wta up` rewrites them dozens of times, an fsync each (ms apiece).
        write_atomic(self.path(record.stream), json.dumps(record.to_dict(), indent=1) + "\n", fsync=False)

    @contextmanager
    def updating(self, stream: str) -> Iterator[SessionRecord]:
        """Hold the stream's lock; the record yielded (a fresh one if none) is saved at the end."""
        os.makedirs(os.path.dirname(self.path(stream)), exist_ok=True)
        fd = os.open(self.path(stream) + ".lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            record = self.read(stream) or SessionRecord(stream)
            before = record.to_dict()
            yield record
            if record.to_dict() != before:
                self._write(record)
        finally:
            os.close(fd)

    def update(self, stream: str, **values: Any) -> SessionRecord:
        with self.updating(stream) as record:
            for name, value in values.items():
                setattr(record, name, value)
        return record

    def close_open(self, stream: str, reason: str) -> None:
        """A manual session (`open`) is over once its stream has landed: it ended `done`."""
        found = self.read(stream)
        if found is None or found.state != OPEN:
            return  # the common case: no lock taken, nothing written
        with self.updating(stream) as record:
            if record.state == OPEN:
                record.state, record.reason, record.ended_at = DONE, reason, now()

    def settle_landing(self, stream: str, landed_head: str | None, reason: str) -> None:
        """A person's `wta merge` (or `--continue`, `--abort`) settled what the automatic landing had left:
        `landed` at `landed_head`, or `done` again (None: not landed) for a landing its coordinator left
        `landing` (killed). Landed, a stream `blocked`, `stopped` (`wta stop` during its landing or its
        follow-up) or handed back (`pending` for its follow-up) is done with too: the follow-up does not
        start, and the failure no longer heads its prompt."""
        settled = (LANDING, BLOCKED, STOPPED) if landed_head else (LANDING,)

        def unsettled(record: SessionRecord | None) -> bool:
            return record is not None and (record.state in settled or bool(
                landed_head and record.state == PENDING and record.handbacks))

        if not unsettled(self.read(stream)):
            return  # the common case: no lock taken, nothing written
        with self.updating(stream) as record:
            if unsettled(record):
                record.state, record.reason = (LANDED, reason) if landed_head else (DONE, reason)
                if landed_head:
                    record.landed_at, record.landed_head = now(), landed_head
        if landed_head:
            try:
                os.unlink(self.handback_path(stream))
            except FileNotFoundError:
                pass

    def merge_ended(self, streams: Iterable[str], run_id: str, how: str) -> None:
        """A person's merge `run_id` ended (`how`: "was aborted", "finished"): a stream whose landing waits for
        it ("landing waits: a merge RUN_ID ... stopped ...; run `wta merge --continue` ...") says so no more.
        Its coordinator tries again on its own; without one, `wta status` says that none lands it."""
        for stream in streams:
            record = self.read(stream)
            if record is None or record.state != LANDING or f" merge {run_id} " not in (record.reason or ""):
                continue   # (the common case: nothing written)
            with self.updating(stream) as record:
                if record.state == LANDING and f" merge {run_id} " in (record.reason or ""):
                    record.reason = waited_for_ended(run_id, how)

    def announce(self, stream: str, event: str) -> None:
        """Note that a watcher announced `event` ("<started_at>:<state>") of the stream's record."""
        with self.updating(stream) as record:
            if record.announced is not None and event not in record.announced:
                record.announced = [*record.announced, event]

    def reset(self, stream: str, **values: Any) -> SessionRecord:
        """Start a fresh record (a new launch), keeping nothing of the last session."""
        with self.updating(stream) as record:
            fresh = SessionRecord(stream, **values)
            for name in _FIELD_NAMES:
                setattr(record, name, getattr(fresh, name))
        return record


def waited_for_ended(run_id: str, how: str = "has ended") -> str:
    """The reason of a landing that waited for a person's merge `run_id`, which ended (`how`)."""
    return f"landing: the merge {run_id} it waited for {how}; its landing is tried again"
