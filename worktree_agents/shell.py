"""Running the project's shell commands: `setup:` in a new worktree, the merge's
`test:`, `wta watch`'s checks and notify command. The one place wta starts a
shell command from zones.yaml, with its output in a log (and, in the
background, a deadline), in the stream's sandbox when it runs for a stream;
and the environment a stream's commands get.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections import deque
from typing import IO, TYPE_CHECKING, Callable

from worktree_agents import git
from worktree_agents.redaction import pieces

if TYPE_CHECKING:
    from worktree_agents.sandbox import Sandbox


def stream_env(config, stream: str, worktree: str, base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of everything wta runs for a stream (setup, session, merge test):
    `base` (default: this process's, without git's repository variables) plus the
    stream's coordinates WTA_STREAM, WTA_WORKTREE and WTA_PORT."""
    return stream_env_at(config.port_for(stream), stream, worktree, base)


def stream_env_at(port: int, stream: str, worktree: str, base: dict[str, str] | None = None) -> dict[str, str]:
    """`stream_env` with the stream's port already known (the session wrapper has no config)."""
    env = git.no_git_env() if base is None else dict(base)
    env.update(WTA_STREAM=stream, WTA_WORKTREE=worktree, WTA_PORT=str(port))
    return env


INTERRUPTED_GRACE = 2.0   # seconds an interrupted command's process group gets between SIGTERM and SIGKILL
# run()'s gate: "go" on stdin, then the command (same pid, so the same group leader) with stdin from /dev/null;
# the pipe's end without it (wta gone) ends it before the command starts.
GATE_SCRIPT = 'read -r go && [ "$go" = go ] || exit 125; exec "$@" </dev/null'


def run(command: str, cwd: str, env: dict[str, str], log: IO[bytes], jail: Sandbox | None = None,
        started: Callable[[int], None] | None = None) -> int:
    """Run `command` in a shell in `cwd` (no stdin), its output into `log` with API keys blanked out (the
    command's environment holds them: a test that prints its environment must not put them in the log,
    and from there in a follow-up's prompt); its exit code.

    In a process group of its own: a terminal's Ctrl-C or hang-up reaches wta, which decides (a landing
    under way under `wta up` finishes its test, sessions/schedule.py), never the command alone, whose
    death would read as its failure (a landing's test then handed back to the agent). What it leaves
    running in its group ends with it; when wta is interrupted meanwhile, the whole group is ended.
    `jail`: the stream's sandbox (sandbox.for_config) that the shell and all it starts run in; in a repository
    inside the temp dir, with a temp dir of its own (sandbox.with_private_tmp), removed when it has ended.
    `started(pid)`: told the group's id as it starts (the merge records it, to end what is left of it after
    wta was killed: merge.recovery.end_test); the command itself starts only once `started` has returned.
    It had started at once: a wta killed before it recorded the pid (a moment, longer on a loaded machine)
    left a test running that nothing knew of, beside the next run's in the same worktree. A wta killed
    before the gate opens leaves nothing: the gate's shell reads the end of its pipe and exits.
    """
    from worktree_agents import sandbox

    jail = sandbox.with_private_tmp(jail) if jail is not None else None
    try:
        return _run(command, cwd, env, log, jail, started)
    finally:
        sandbox.remove_private_tmp(jail)   # (the command's pid namespace has ended with it)


def _run(command: str, cwd: str, env: dict[str, str], log: IO[bytes], jail: Sandbox | None,
         started: Callable[[int], None] | None) -> int:
    from worktree_agents import sandbox
    from worktree_agents.redaction import Redactor

    redact = Redactor({**os.environ, **env})
    if jail is not None:
        env = jail.env(env)
    argv, stdin, gate = sandbox.shell(jail, command), subprocess.DEVNULL, None
    if started is not None:   # the group's leader waits for a line on its stdin, then execs the command
        stdin, gate = os.pipe()
        argv = ["/bin/sh", "-c", GATE_SCRIPT, "wta-gate", *argv]
    try:
        proc = subprocess.Popen(argv, cwd=cwd, env=env, stdin=stdin, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, start_new_session=True)
    except BaseException:
        if gate is not None:
            os.close(gate)
        raise
    finally:
        if gate is not None:
            os.close(stdin)
    sink = os.fdopen(os.dup(log.fileno()), "ab", buffering=0)
    pump = threading.Thread(target=_copy, args=(proc.stdout, sink, redact), daemon=True)
    pump.start()
    try:
        if started is not None:
            try:
                started(proc.pid)
                os.write(gate, b"go\n")
            finally:
                os.close(gate)
        return proc.wait()
    except BaseException:
        _signal_group(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=INTERRUPTED_GRACE)
        except subprocess.TimeoutExpired:
            pass
        raise
    finally:
        _signal_group(proc.pid, signal.SIGKILL)
        proc.wait()
        pump.join(timeout=5)   # (a process outside its group may hold the pipe: the log is complete without it)


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


class Background:
    """A shell command running in its own process group, its output into a log (through `redact`,
    which blanks out API keys: wta's environment holds them, and so does the command's), with a deadline."""

    def __init__(self, command: str, cwd: str, env: dict[str, str], log: IO[bytes], timeout: float,
                 redact: Callable[[bytes], bytes] | None = None) -> None:
        self.started = time.monotonic()
        self.deadline = self.started + timeout
        self.proc = subprocess.Popen(command, shell=True, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                                     stdout=log if redact is None else subprocess.PIPE, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        self._pump: threading.Thread | None = None
        try:
            if redact is not None:   # a file of its own: the caller may close `log` now
                sink = os.fdopen(os.dup(log.fileno()), "ab", buffering=0)
                self._pump = threading.Thread(target=_copy, args=(self.proc.stdout, sink, redact), daemon=True)
                self._pump.start()
        except BaseException:   # Ctrl-C while the thread starts (it waits for it): no one would end the command
            self.kill()
            raise

    def finished(self) -> int | None:
        """The exit code once it ended (its leftover children are ended too, its output all in the log),
        else None."""
        code = self.proc.poll()
        if code is not None:
            self.kill()  # anything it left running in its group
        return code

    def overdue(self) -> bool:
        return time.monotonic() >= self.deadline

    def kill(self) -> None:
        _signal_group(self.proc.pid, signal.SIGKILL)
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        if self._pump is not None:
            self._pump.join(timeout=5)


def _copy(source: IO[bytes], sink: IO[bytes], redact: Callable[[bytes], bytes]) -> None:
    with source, sink:
        for piece in pieces(source):
            try:
                sink.write(redact(piece))
            except OSError:
                pass   # a full disk: drop it rather than block the command on its pipe


class InTurn:
    """Shell commands run one after another, in the order given, in a thread of their own, each into `log`
    and ended at `timeout` (`wta watch`'s notify commands: run side by side, a session's `done` and the
    `landed` after it reached a person the other way round)."""

    def __init__(self, cwd: str, log: str, timeout: float, redact: Callable[[bytes], bytes]) -> None:
        self.cwd, self.log, self.timeout, self.redact = cwd, log, timeout, redact
        self._turns: deque[tuple[str, dict[str, str]]] = deque()
        self._cond = threading.Condition()
        self._running: Background | None = None
        self._thread: threading.Thread | None = None
        self._closing = self._stopped = False

    def run(self, command: str, env: dict[str, str]) -> None:
        with self._cond:
            self._turns.append((command, env))
            self._cond.notify()
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="notify", daemon=True)
                self._thread.start()

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._turns and not self._closing:
                    self._cond.wait()
                if self._stopped or not self._turns:
                    return
                command, env = self._turns.popleft()
                os.makedirs(os.path.dirname(self.log), exist_ok=True)
                with open(self.log, "ab") as output:
                    self._running = Background(command, self.cwd, env, output, self.timeout, self.redact)
            running = self._running
            while running.finished() is None and not running.overdue() and not self._stopped:
                time.sleep(0.02)
            running.kill()   # (overdue, stopped, or what it left running in its group)

    def close(self, wait: float) -> None:
        """Let the commands under way and waiting finish for up to `wait` seconds, then end them."""
        with self._cond:
            self._closing = True
            self._cond.notify()
        if self._thread is not None:
            self._thread.join(wait)
        with self._cond:
            self._stopped = True
            self._turns.clear()
        if self._thread is not None:
            self._thread.join(10)
