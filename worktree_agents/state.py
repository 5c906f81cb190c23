"""What wta knows about each stream, and the lock that serialises the commands
that change it. Everything lives under `<common git dir>/wta/`, never in a worktree:

    state.json          the stream records (schema below), replaced atomically
    state.json.lock     held for the instant of a read-modify-write of state.json
    lock                the command lock: held by the one wta command that changes
                        worktrees and state, with who holds it (JSON, see `LockHolder`)
    logs/<stream>.log   output of the stream's `setup:` commands (and its session)

state.json, version 1: a dict of stream records keyed by stream name. Readers
ignore fields they do not know and writers keep them, so later features add
fields without a new version.

    {
      "version": 1,
      "streams": {
        "api": {
          "branch": "wta/api",                  # the stream's branch
          "worktree": "/home/me/webapp-worktrees/api",  # absolute path of its worktree
          "created_at": "2025-05-01T09:30:12+00:00",    # ISO 8601 UTC: when `wta up` prepared it first
          "updated_at": "2025-05-01T09:30:15+00:00",    # last change of this record
          "state": "prepared",                  # "prepared" | "failed": how preparing the worktree went
          "reason": null,                       # one line saying why, when the state is "failed"
          "sparse": null,                       # null | "cone" | "patterns": how the worktree is sparse
          "copied": [".env.local"],             # `copy:` paths copied from the main worktree
          "setup": {                            # the `setup:` commands' last run
            "status": "ok",                     # "ok" | "failed" | "none" (no setup commands) | "skipped" (copy: failed)
            "command": null,                    # the command that failed
            "exit_code": null,                  # its exit code
            "finished_at": "2025-05-01T09:30:15+00:00",
            "log": "/home/me/webapp/.git/wta/logs/api.log"
          }
        }
      }
    }
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import shlex
import socket
import sys
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from typing import Any, Iterator

from worktree_agents import layout
from worktree_agents.errors import CHECK, WtaError, cannot_write
from worktree_agents.files import write_atomic

STATE_VERSION = 1
LOCK_TIMEOUT_ENV = "WTA_LOCK_TIMEOUT"
DEFAULT_LOCK_TIMEOUT = 5.0
_POLL = 0.05


def now() -> str:
    """The current time as the ISO 8601 UTC string used in every state file."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _is_record(record: Any) -> bool:
    return isinstance(record, dict) and all(isinstance(record.get(key), (str, type(None)))
                                            for key in ("branch", "worktree", "state", "reason"))


class StateStore:
    """The stream records in `<state dir>/state.json`."""

    def __init__(self, state_dir: str) -> None:
        self.state_dir = state_dir
        self.path = layout.path(state_dir, layout.STATE)

    def read(self) -> dict[str, Any]:
        """The whole document; an empty one when there is no state yet."""
        try:
            with open(self.path, encoding="utf-8") as f:
                data = json.load(f)
        except FileNotFoundError:
            return {"version": STATE_VERSION, "streams": {}}
        except (OSError, ValueError) as exc:
            raise WtaError(f"{self.path}: unreadable ({exc}); delete it and run `wta up` to rebuild it") from None
        if not isinstance(data, dict) or data.get("version") != STATE_VERSION or \
                not isinstance(data.get("streams"), dict) or not all(_is_record(r) for r in data["streams"].values()):
            raise WtaError(f"{self.path}: damaged, or not a version {STATE_VERSION} wta state file; "
                           "delete it and run `wta up` to rebuild it")
        return data

    def streams(self) -> dict[str, dict[str, Any]]:
        return self.read()["streams"]

    def record(self, stream: str) -> dict[str, Any] | None:
        return self.streams().get(stream)

    def update_stream(self, stream: str, **fields: Any) -> dict[str, Any]:
        """Merge `fields` into the stream's record (other fields kept) and save."""
        with self._writing() as data:
            record = data["streams"].setdefault(stream, {})
            record.update(fields)
            record["updated_at"] = now()
            return dict(record)

    def remove_stream(self, stream: str) -> bool:
        """Forget a stream; whether it had a record."""
        with self._writing() as data:
            return data["streams"].pop(stream, None) is not None

    @contextmanager
    def _writing(self) -> Iterator[dict[str, Any]]:
        # A short lock around read-modify-write, so that writers that do not
        # hold the command lock (session processes) never lose an update.
        os.makedirs(self.state_dir, exist_ok=True)
        fd = os.open(self.path + ".lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            data = self.read()
            yield data
            write_atomic(self.path, json.dumps(data, indent=1, sort_keys=True) + "\n")
        finally:
            os.close(fd)

    def log_path(self, stream: str) -> str:
        return layout.path(self.state_dir, layout.STREAM_LOG, stream=stream)


# -- the command lock ------------------------------------------------------------

@dataclass(frozen=True)
class LockHolder:
    """Who holds the command lock: written into the lock file by its holder."""

    pid: int
    command: str           # the command line, e.g. "wta up --no-launch"
    started_at: str        # ISO 8601 UTC: when it took the lock
    process_start: float   # the process's start time (epoch seconds), to tell a reused pid apart
    host: str

    def describe(self, age: bool = True) -> str:
        """`age`: with how long ago it began (not in a reason recorded again each round: it would read as new)."""
        return f"`{self.command}` (pid {self.pid}) since {_local_time(self.started_at, age)}"

    def is_alive(self) -> bool:
        """Whether the process that took the lock still runs (same pid, same start time)."""
        if self.host != socket.gethostname():
            return True  # another machine's process: cannot tell, so assume it runs
        import psutil  # only when the lock is contended

        try:
            holder = psutil.Process(self.pid)
            start = holder.create_time()
            if holder.status() == psutil.STATUS_ZOMBIE:
                return False   # ended, not yet reaped by its parent
        except psutil.NoSuchProcess:
            return False
        except psutil.Error:
            return True
        return abs(start - self.process_start) < 1.0


def current_command() -> str:
    return shlex.join(["wta", *sys.argv[1:]])


def lock_timeout() -> float:
    raw = os.environ.get(LOCK_TIMEOUT_ENV, "")
    if not raw:
        return DEFAULT_LOCK_TIMEOUT
    try:
        value = float(raw)
    except ValueError:
        raise WtaError(f"{LOCK_TIMEOUT_ENV}={raw!r}: not a number of seconds; set it to e.g. 5") from None
    return max(value, 0.0)


class LockBusy(WtaError):
    """Another command held the command lock for longer than this one would wait."""


@contextmanager
def command_lock(state_dir: str, command: str | None = None, timeout: float | None = None) -> Iterator[LockHolder]:
    """Hold the command lock of this repository for the duration of the block.

    Waits up to `timeout` seconds (default: $WTA_LOCK_TIMEOUT, else 5) for the
    holder to finish, then fails with one line naming it. A lock whose holder
    died is taken over: the kernel drops a dead process's flock by itself, and
    if the lock file is still held although the recorded holder is gone (its
    descriptor leaked into a surviving child), the file is replaced.
    """
    path = layout.path(state_dir, layout.COMMAND_LOCK)
    deadline = time.monotonic() + (lock_timeout() if timeout is None else timeout)
    holder = LockHolder(os.getpid(), command or current_command(), now(), _process_start(), socket.gethostname())
    while True:
        fd = _open_lock(path)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            other = _read_holder(fd)
            if other is not None and not other.is_alive():
                _break(path, fd)
                os.close(fd)
                continue
            os.close(fd)
            if time.monotonic() >= deadline:
                who = other.describe() if other else "another wta command"
                raise LockBusy(f"{who} is changing this repository's worktrees (lock {path}); "
                               f"wait for it to finish and run again, or raise {LOCK_TIMEOUT_ENV} (seconds)",
                               CHECK) from None
            time.sleep(_POLL)
            continue
        if not _same_file(fd, path):
            os.close(fd)  # released and removed while we waited: lock the current file instead
            continue
        break
    try:
        data = json.dumps(asdict(holder)).encode()
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, data, 0)
        except OSError as exc:
            raise cannot_write(path, exc) from None
        yield holder
    finally:
        # Removed while still held, so that a waiter that locks the old file
        # notices (`_same_file`) and tries again on a fresh one.
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        os.close(fd)
        try:
            os.rmdir(state_dir)  # leave no trace when nothing else was written
        except OSError:
            pass


def lock_holder(state_dir: str) -> LockHolder | None:
    """Who holds the command lock now (as its file says, checked alive), or None; takes no lock."""
    try:
        fd = os.open(layout.path(state_dir, layout.COMMAND_LOCK), os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        holder = _read_holder(fd)
    finally:
        os.close(fd)
    return holder if holder is not None and holder.is_alive() else None


def _open_lock(path: str) -> int:
    while True:
        try:
            return os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except FileNotFoundError:
            os.makedirs(os.path.dirname(path), exist_ok=True)


def _read_holder(fd: int) -> LockHolder | None:
    try:
        data = json.loads(os.pread(fd, 65536, 0) or b"null")
        return LockHolder(int(data["pid"]), str(data["command"]), str(data["started_at"]),
                          float(data["process_start"]), str(data["host"]))
    except (ValueError, TypeError, KeyError):
        return None  # being written right now, or not ours: treat the holder as alive


def _break(path: str, fd: int) -> None:
    if _same_file(fd, path):
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass


def _same_file(fd: int, path: str) -> bool:
    try:
        return os.path.samestat(os.fstat(fd), os.stat(path))
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            return False
        raise


def _process_start() -> float:
    from worktree_agents.sessions.process import create_time   # from /proc: no psutil import on every command

    return create_time(os.getpid()) or 0.0


def _local_time(iso: str, age: bool = True) -> str:
    try:
        moment = datetime.fromisoformat(iso)
    except ValueError:
        return iso
    seconds = int((datetime.now(timezone.utc) - moment).total_seconds())
    return moment.astimezone().strftime('%Y-%m-%d %H:%M:%S') + (f" ({max(seconds, 0)}s ago)" if age else "")
