"""Starting session wrappers: forked from one process that has imported the wrapper already.

A wrapper started as a new Python pays for the interpreter's start and its
imports (40-60 ms of CPU, about as long before its agent starts) at every
session. The coordinator starts one spawner instead (`Spawner`, this module's
`serve` in a process of its own), which imports the wrapper and everything it
uses once, then forks a wrapper for each session: a few milliseconds each. The
spawner is single-threaded (forking is safe there, unlike in the coordinator,
whose threads could hold a lock the child would need), starts nothing but
wrappers, and reaps them, telling the coordinator when each ends.

A forked wrapper is what a started one was: its own session and process group
(`setsid`), the session's directory, environment and log, stdin from /dev/null;
it outlives the coordinator and the spawner alike. Should the spawner fail to
start or end early, the coordinator starts wrappers as new processes again.

Protocol, one line each way: the coordinator writes a request (JSON: the
wrapper's arguments, directory, environment and log); the spawner answers
`started <pid>` or `error <message>` in order, and writes `ended <pid>` when
it has reaped a wrapper.
"""

from __future__ import annotations

import json
import os
import queue
import select
import signal
import subprocess
import sys
import threading

from worktree_agents import interpreter
from worktree_agents.sessions import process

START_TIMEOUT = 30.0   # seconds for the spawner to answer a request


class Spawned:
    """A wrapper the spawner forked: what the coordinator needs of a subprocess.Popen."""

    def __init__(self, pid: int, ended: threading.Event, spawner: "Spawner") -> None:
        self.pid, self._ended, self._spawner = pid, ended, spawner

    def poll(self) -> int | None:
        """None while it runs (the wrapper records how its session ended; 0 here means only that it did)."""
        if self._ended.is_set():
            return 0
        if not self._spawner.alive and not process.is_alive(self.pid, None):   # nobody left to tell us: look ourselves
            return 0
        return None

    def wait(self) -> int:
        while not self._ended.wait(1.0):
            if not self._spawner.alive and not process.is_alive(self.pid, None):
                break
        return 0


class Spawner:
    """The coordinator's side: starts the spawner on first use and asks it for wrappers."""

    def __init__(self, env: dict[str, str], log_path: str | None = None) -> None:
        """`log_path`: where the spawner's own output goes (its errors); None: this process's stderr."""
        self._log_path, self._env = log_path, env
        self._proc: subprocess.Popen | None = None
        self._lock = threading.Lock()
        self._answers: queue.Queue = queue.Queue()
        self._ended: dict[int, threading.Event] = {}
        self._ended_lock = threading.Lock()
        self._forked = 0
        self.alive = False

    def start(self) -> None:
        """Start the spawner now (its imports then overlap with the coordinator's own work)."""
        with self._lock:
            self._start()

    def _start(self) -> None:
        if self._proc is not None:
            return
        log = None
        if self._log_path is not None:
            os.makedirs(os.path.dirname(self._log_path), exist_ok=True)
            log = open(self._log_path, "ab")
        try:
            self._proc = subprocess.Popen(interpreter.command("worktree_agents.sessions.spawner", "serve"),
                                          stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log,
                                          env=self._env, start_new_session=True)
        finally:
            if log is not None:
                log.close()
        self.alive = True
        threading.Thread(target=self._read, name="spawner", daemon=True).start()

    def spawn(self, args: list[str], cwd: str, env: dict[str, str], log: str) -> Spawned:
        """Fork a wrapper with these arguments; OSError when the spawner cannot (the caller starts one itself)."""
        with self._lock:
            self._start()
            if not self.alive:
                raise OSError("the session spawner has ended")
            request = json.dumps({"args": args, "cwd": cwd, "env": env, "log": log}) + "\n"
            try:
                assert self._proc is not None and self._proc.stdin is not None
                self._proc.stdin.write(request.encode())
                self._proc.stdin.flush()
                answer = self._answers.get(timeout=START_TIMEOUT)
            except (OSError, queue.Empty) as exc:
                raise OSError(f"the session spawner did not answer: {exc}") from None
        if isinstance(answer, str):
            raise OSError(answer)
        pid, ended = answer
        self._forked += 1
        return Spawned(pid, ended, self)

    def _read(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        for line in self._proc.stdout:
            word, _, rest = line.decode(errors="replace").rstrip("\n").partition(" ")
            if word == "started":
                ended = threading.Event()
                with self._ended_lock:
                    self._ended[int(rest)] = ended   # a pid used again is a new wrapper
                self._answers.put((int(rest), ended))
            elif word == "ended":
                with self._ended_lock:
                    found = self._ended.pop(int(rest), None)
                if found is not None:
                    found.set()
            else:
                self._answers.put(rest or "the session spawner failed")
        self.alive = False
        self._answers.put("the session spawner has ended")

    def close(self) -> None:
        """End the spawner (the wrappers it forked go on) and wait for it: it has no zombie left behind."""
        with self._lock:
            if self._proc is None or self._proc.stdin is None:
                return
            self.alive = False   # no more requests: `spawn` says so (OSError) rather than write to a closed pipe
            if not self._forked:
                self._proc.kill()   # unused (a refused `wta up`): no need to let it finish its imports
            try:
                self._proc.stdin.close()
            except OSError:
                pass
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()


# -- the spawner process -------------------------------------------------------------

def serve() -> int:
    """Read requests on stdin until it closes; fork a wrapper for each, reap them, answer on stdout."""
    from worktree_agents.sessions import wrapper

    wrapper.preload()
    wake_read, wake_write = os.pipe()
    os.set_blocking(wake_write, False)
    signal.set_wakeup_fd(wake_write)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    pending = b""
    while True:
        try:
            ready, _, _ = select.select([0, wake_read], [], [])
        except InterruptedError:
            continue
        if wake_read in ready:
            os.read(wake_read, 4096)
        _reap()
        if 0 not in ready:
            continue
        data = os.read(0, 65536)
        if not data:
            return 0   # the coordinator has gone: the wrappers carry on without us
        pending += data
        while b"\n" in pending:
            line, pending = pending.split(b"\n", 1)
            _answer(_fork(json.loads(line), (wake_read, wake_write)))


def _reap() -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        _answer(f"ended {pid}")


def _answer(line: str) -> None:
    os.write(1, (line + "\n").encode())


def _fork(request: dict, own_fds: tuple[int, int]) -> str:
    from worktree_agents.sessions import wrapper

    try:
        log = os.open(request["log"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    except OSError as exc:
        return f"error cannot open {request['log']}: {exc}"
    try:
        pid = os.fork()
    except OSError as exc:
        os.close(log)
        return f"error cannot fork a session wrapper: {exc}"
    if pid:
        os.close(log)
        return f"started {pid}"
    code = 1
    try:   # the wrapper, as subprocess would have started it
        os.setsid()
        signal.set_wakeup_fd(-1)
        for number in (signal.SIGCHLD, signal.SIGINT):
            signal.signal(number, signal.SIG_DFL)
        for fd in own_fds:
            os.close(fd)
        null = os.open(os.devnull, os.O_RDONLY)
        for source, target in ((null, 0), (log, 1), (log, 2)):
            os.dup2(source, target)
        os.close(null)
        os.close(log)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        code = wrapper.main(request["args"])
    except BaseException as exc:   # noqa: BLE001 - whatever it was, this process must end here
        code = exc.code if isinstance(exc, SystemExit) and isinstance(exc.code, int) else 1
        if not isinstance(exc, SystemExit):
            import traceback

            traceback.print_exc()
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        os._exit(code)
