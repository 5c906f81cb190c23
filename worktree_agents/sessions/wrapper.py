"""The session wrapper: the one process that owns a session from start to end.

`main --stream S --worktree W [--runner R] [--interactive] [--launch FILE]`, started as
interpreter.py says (never `python -m` in the worktree, whose files could shadow a module).

The coordinator starts it in a process group of its own, so it outlives the
`wta` command that launched it. It starts the runner's agent (a child process,
or a tmux session), copies the agent's output into the stream's log with
secrets redacted, enforces `timeout` (the whole tree: TERM, then KILL), and
when the agent ends it commits the in-zone leftovers, lists the others, and
records the outcome, so the exit status is known even when nobody watches.
SIGTERM (`wta stop`) ends the agent the same way and records `stopped`.

What the session runs (the agent's command, its sandbox, its timeout: a `Launch`)
comes from zones.yaml. The coordinator, which has validated it already, works it
out and hands it over in `--launch FILE`, so that the wrapper does not import
pydantic to validate it again (about 0.2 s of CPU per session); started without
`--launch`, the wrapper works it out itself, with the same `plan_launch`.

`--pipe-log LOG` is a helper mode: copy stdin into LOG, redacted (the sink of
an interactive session's tmux pane).
"""

from __future__ import annotations

import argparse
import dataclasses
import errno
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
import traceback

from worktree_agents import interpreter, layout
from worktree_agents.errors import WtaError
from worktree_agents.redaction import Redactor, pieces

POLL = 0.1
STATUS_WAIT = 5.0  # how long a dead tmux pane may go without an exit status (TmuxAgent.poll)
_SETTLE = 0.2    # how long a process that was ending as the agent ended is given to be gone


class Log:
    """The stream's log, appended to by the wrapper and the agent's output pump."""

    def __init__(self, path: str, redact: Redactor) -> None:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        self.path = path
        self.redact = redact
        self._file = open(path, "ab", buffering=0)
        self._lock = threading.Lock()
        self.dropped = 0   # bytes of output that could not be written

    def write(self, data: bytes) -> None:
        with self._lock:
            self._write(data)

    def _write(self, data: bytes) -> None:
        try:
            self._file.write(self.redact(data))
        except OSError:
            # A full disk: drop the output rather than stop reading it (the agent would block on its pipe).
            self.dropped += len(data)

    def say(self, text: str) -> None:
        """A line of wta's own. The log's time stays that of the agent's last output, which is what a stall is
        told by (`liveness.last_activity`): wta's line at a timeout had made a stalled session `running`."""
        with self._lock:
            try:
                before = os.fstat(self._file.fileno())
            except OSError:
                before = None
            self._write(f"wta: {text}\n".encode(errors="surrogateescape"))   # (a path of undecodable bytes)
            if before is not None:
                try:
                    os.utime(self._file.fileno(), ns=(before.st_atime_ns, before.st_mtime_ns))
                except OSError:
                    pass

    def close(self) -> None:
        self._file.close()


# -- the agent, as a child process or in tmux ---------------------------------------

class ProcessAgent:
    tmux = None

    def __init__(self, argv: list[str], cwd: str, env: dict[str, str], log: Log) -> None:
        self.proc = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self._pump = threading.Thread(target=self._copy, args=(log,), daemon=True)
        self._pump.start()

    def _copy(self, log: Log) -> None:
        for piece in pieces(self.proc.stdout):   # a progress bar's `\r` updates too, as they come
            log.write(piece)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def poll(self) -> tuple[bool, int | None]:
        code = self.proc.poll()
        return code is not None, code

    def wait(self, seconds: float) -> None:
        """Return when the agent ends, or after `seconds`: its end is seen at once, not at the next tick."""
        try:
            self.proc.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            pass

    def kill(self) -> None:
        from worktree_agents.sessions import process

        root = process.find(self.proc.pid, None)
        process.terminate(process.tree(root) if root else [])
        self.proc.poll()

    def close(self) -> None:
        self._pump.join(timeout=5)


class TmuxAgent:
    """The agent in a tmux pane. The pane runs it under a shell that writes its exit status to
    `exit_file`: tmux (3.3) can show a pane dead and never give its status."""

    def __init__(self, session, argv: list[str], cwd: str, env: dict[str, str], log: Log,
                 exit_file: str) -> None:
        self.session = session
        self.tmux = session.to_dict()
        self.exit_file = exit_file
        self.log_path = log.path
        try:
            os.unlink(exit_file)
        except FileNotFoundError:
            pass
        recorded = ["/bin/sh", "-c", '"$@"; echo $? > "$WTA_PANE_EXIT"', "wta-pane", *argv]
        session.start(recorded, cwd, {**env, "WTA_PANE_EXIT": exit_file},
                      shlex.join(interpreter.command("worktree_agents.sessions.wrapper", "main", "--pipe-log", log.path)))
        found = session.pane()
        self.pid = found[0] if found else None
        self.dead_since: float | None = None

    def poll(self) -> tuple[bool, int | None]:
        found = self.session.pane()
        if found is None and self.session.alive():
            return False, None  # tmux did not answer this time
        dead = found is None or found[1]
        if not dead:
            return False, None
        status = self._recorded_status()
        if status is not None:
            return True, status
        # Ended, and the shell has not written the status yet (or was killed before it could).
        self.dead_since = self.dead_since or time.monotonic()
        if time.monotonic() - self.dead_since < STATUS_WAIT:
            return False, None
        if found is not None and found[2] is not None:
            return True, found[2]
        raise WtaError("the agent's tmux pane ended without an exit status (was its shell or tmux server killed?)")

    def _recorded_status(self) -> int | None:
        try:
            with open(self.exit_file, encoding="utf-8") as f:
                text = f.read().strip()
        except FileNotFoundError:
            return None
        if not text.isdigit():
            return None
        code = int(text)
        return -(code - 128) if code > 128 else code  # a shell's 128+N: killed by signal N

    def wait(self, seconds: float) -> None:
        time.sleep(seconds)  # the pane's process is tmux's child, not ours: looked at each tick

    def kill(self) -> None:
        from worktree_agents.sessions import process

        root = process.find(self.pid, None)
        process.terminate(process.tree(root) if root else [])

    def close(self) -> None:
        """Let the log reader drain the pane's output, then end the tmux server."""
        from worktree_agents.sessions import process

        self.session.kill()  # closes the pipe: the reader writes what is left and ends
        # Found by its command line, not as the server's child: it may still be starting, or already
        # be an orphan once the server has gone.
        process.wait_gone(process.with_argv(["--pipe-log", self.log_path]), 5.0)


# -- what the session runs -------------------------------------------------------------

@dataclasses.dataclass
class Launch:
    """What one session runs, worked out from zones.yaml (`plan_launch`); plain data, written as JSON.
    No environment in it: the session's is the wrapper's own, which may hold API keys."""

    stream: str
    runner: str
    worktree: str
    repo_root: str                  # the main worktree
    state_dir: str                  # <common git dir>/wta
    log: str
    port: int
    timeout: int                    # seconds
    timeout_text: str               # as zones.yaml would write it (10m)
    model: str | None               # the claude and api runners' model, for the record
    confinement: str                # what the log says about the sandbox
    sandbox: dict | None = None     # the stream's sandbox (sandbox.Sandbox's fields); None: not sandboxed
    argv: list[str] | None = None   # the agent's command, inside the sandbox
    interactive: bool = False       # the agent runs in tmux
    error: str | None = None        # why the agent cannot start (`sandbox: required` without bwrap, ...)

    def write(self, path: str) -> None:
        from worktree_agents.files import write_json

        # Read back at once, by the wrapper. (Its fields as they are: plain values, lists and the sandbox's
        # dict of tuples, which JSON writes as lists; `dataclasses.asdict` deep-copied each, for nothing.)
        write_json(path, {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}, fsync=False)

    @classmethod
    def take(cls, path: str) -> "Launch":
        """The launch the coordinator wrote to `path`, which is removed: it is handed over once."""
        import json

        with open(path, encoding="utf-8") as f:
            launch = cls(**json.load(f))
        os.unlink(path)
        return launch

    def jail(self):
        """The sandbox.Sandbox the agent runs in, or None."""
        if self.sandbox is None:
            return None
        from worktree_agents.sandbox import Sandbox

        return Sandbox(**{name: _tuples(value) for name, value in self.sandbox.items()})


def _tuples(value):
    """JSON's lists back into the tuples they were (the sandbox's mounts)."""
    return tuple(_tuples(v) for v in value) if isinstance(value, (list, tuple)) else value


def plan_launch(project, ctx) -> Launch:
    """What the session of `ctx` (sessions.context) runs: the stream's sandbox as zones.yaml's `sandbox:`
    says, and the runner's command in it (the prompt written, telling the agent whether it is sandboxed).
    A sandbox that cannot be had or a command that cannot be made is the launch's `error`."""
    from worktree_agents import sandbox, sessions
    from worktree_agents.config import format_duration

    agent = ctx.agent
    launch = Launch(stream=ctx.stream, runner=ctx.runner, worktree=ctx.worktree, repo_root=ctx.repo_root,
                    state_dir=ctx.state_dir, log=ctx.log, port=ctx.port, timeout=agent.timeout,
                    timeout_text=format_duration(agent.timeout),
                    model=agent.model if ctx.runner in ("claude", "api") else None, confinement="not sandboxed")
    try:
        jail = sandbox.for_config(ctx.config, project.main, project.repo.common_dir, ctx.stream, ctx.worktree)
    except WtaError as exc:  # `sandbox: required` and no bubblewrap
        launch.error = str(exc)
        return launch
    if jail is not None:
        jail = sandbox.with_private_tmp(jail)   # (removed as the session ends: Session.run)
    if jail is None:
        why = "sandbox: off" if ctx.config.sandbox == "off" else sandbox.unavailable_reason()
        launch.confinement = f"not sandboxed ({why}): the agent can write wherever this user can"
    else:
        launch.sandbox = {f.name: getattr(jail, f.name) for f in dataclasses.fields(jail)}   # (tuples of str)
        launch.confinement = ("sandboxed (bwrap): it writes only in its worktree, on its branch, the temp dir "
                              "and its caches")
        if not jail.landlock:
            launch.confinement += f"; not enforced: {sandbox.fifo_reason()}"
        ctx = dataclasses.replace(ctx, sandboxed=True)
    try:
        command = sessions.runner(ctx.runner).command(ctx)
    except (WtaError, OSError) as exc:
        launch.error = str(exc)
        return launch
    # In a pid namespace of its own, as `setup:` and `test:`: what the agent leaves running (a daemon that
    # also cleared the environment wta finds a session's processes by) ends with the session.
    launch.argv = jail.wrap(command.argv, own_pids=True) if jail else command.argv
    launch.interactive = command.interactive
    return launch


# -- one session ---------------------------------------------------------------------

class Session:
    def __init__(self, args: argparse.Namespace) -> None:
        from worktree_agents import git, sessions, shell
        from worktree_agents.sessions.store import SessionStore

        if args.launch:  # from the coordinator
            self.launch = Launch.take(args.launch)
        else:
            from worktree_agents.project import Project

            project = Project.find(args.worktree)
            self.launch = plan_launch(project, sessions.context(project, project.main_config(), args.stream,
                                                                project.toplevel, args.runner, args.interactive))
        launch = self.launch
        self.runner = sessions.runner(launch.runner)
        self.store = SessionStore(launch.state_dir)
        self.env = shell.stream_env_at(launch.port, launch.stream, launch.worktree, git.no_git_env(dict(os.environ)))
        self.log = Log(launch.log, Redactor(self.env))
        self.offset = sessions.log_size(launch.log)
        self.stop_requested = False
        self.sandbox = launch.jail()
        if self.sandbox is not None:
            self.env = self.sandbox.env(self.env)

    def run(self) -> int:
        from worktree_agents.sessions import process
        from worktree_agents.sessions.store import RUNNING, now

        launch = self.launch
        stream = launch.stream
        me = os.getpid()
        with self.store.updating(stream) as record:
            if record.pid != me:  # a new session (a follow-up keeps the record of the one before)
                record.begin_session(now())
            record.state, record.reason, record.pid = RUNNING, None, me
            record.pid_create_time = process.create_time(me)
            record.runner, record.worktree, record.log, record.port = (
                launch.runner, launch.worktree, launch.log, launch.port)
            record.model = launch.model
            record.sandbox = None
        timeout = launch.timeout
        agent = None
        timed_out, error = False, None
        code: int | None = None
        self.log.say(f"session of stream {stream!r} started: runner {launch.runner}, "
                     f"timeout {launch.timeout_text}, pid {me}, {launch.confinement}")
        try:
            if launch.error is not None:
                raise WtaError(launch.error)
            agent = self._start()
            self.store.update(stream, agent_pid=agent.pid, agent_create_time=process.create_time(agent.pid)
                              if agent.pid else None, tmux=agent.tmux,
                              sandbox=self.sandbox.name if self.sandbox else None)
            deadline = time.monotonic() + timeout
            while True:
                ended, code = agent.poll()
                if ended:
                    break
                if self.stop_requested or time.monotonic() >= deadline:
                    timed_out = not self.stop_requested
                    self.log.say("stopping the session (wta stop)" if self.stop_requested else
                                 f"timeout: the session ran longer than {launch.timeout_text}; ending it")
                    agent.kill()
                    try:
                        code = agent.poll()[1]
                    except WtaError:  # its tmux server went with it: the reason is the stop
                        code = None
                    break
                agent.wait(POLL)
        except (WtaError, OSError) as exc:
            error = str(exc)
            if isinstance(exc, OSError) and exc.errno == errno.E2BIG:
                # `{prompt}` put a long prompt (requests, a hand-back's test output) on the command line
                error = (f"its command line is longer than the system allows ({sum(len(a) for a in self.launch.argv)} "
                         "bytes); give the agent the prompt as a file: `{prompt_file}` in `command:`")
            self.log.say(f"the session could not run: {error}")
        finally:
            self._end_leftover_processes()
            if agent is not None:
                agent.close()
            from worktree_agents.sandbox import remove_private_tmp

            remove_private_tmp(self.sandbox)   # (its temp dir of its own, if it has one: the agent has ended)
        return self._finish(code, timed_out, error)

    def _start(self):
        launch = self.launch
        if launch.interactive:
            from worktree_agents.sessions.tmux import TmuxSession

            session = TmuxSession.for_stream(launch.repo_root, os.path.dirname(launch.state_dir), launch.stream)
            self.log.say(f"interactive: attach with `wta attach {launch.stream}` (tmux session {session.name})")
            return TmuxAgent(session, launch.argv, launch.worktree, self.env, self.log,
                             layout.path(launch.state_dir, layout.PANE_EXIT, stream=launch.stream))
        return ProcessAgent(launch.argv, launch.worktree, self.env, self.log)

    def _end_leftover_processes(self) -> None:
        """Whatever the agent left running ends with it: in the session's process group, and what left
        the group (`setsid`) still carrying the session's stream and worktree in its environment."""
        from worktree_agents.sessions import process

        me = os.getpid()
        started = process.create_time(me)
        left: list = []
        # (Processes still ending as the agent's end was seen are let end: the sandbox's pid-namespace init)
        if os.getpgid(0) == me and process.group_has_others(me, _SETTLE):  # not a group leader: started by hand
            left += process.group_members(me, started)
        marks = {k: self.env[k] for k in ("WTA_STREAM", "WTA_WORKTREE") if k in self.env}
        if not self.launch.interactive:
            left += process.marked(marks, started, _SETTLE)
        else:   # tmux's server carries them too, and ends with its agent; a sandbox's first process, which
            # takes no notice of the HUP tmux sends, and whatever is left in its namespace, do not
            left += [p for p in process.marked(marks, started) if process.namespace_init(p.pid)]
        if left:
            process.terminate(left)

    def _finish(self, code: int | None, timed_out: bool, error: str | None = None) -> int:
        from worktree_agents.sessions import leftovers, read_output
        from worktree_agents.sessions.store import DONE, FAILED, STOPPED, now

        launch = self.launch
        stream = launch.stream
        report = self.runner.report(read_output(launch.log, self.offset))
        if self.stop_requested:
            from worktree_agents.sessions.stop import BY_WTA_STOP   # (`wta down --force` says so itself)

            state, reason = STOPPED, BY_WTA_STOP
        elif error is not None:
            state, reason = FAILED, error
        elif timed_out:
            state, reason = FAILED, f"timeout after {launch.timeout_text}"
        elif code not in (0, None):
            state, reason = FAILED, report.error or (f"killed by signal {-code}" if code < 0 else f"exit status {code}")
        elif report.error:
            state, reason = FAILED, report.error
        else:
            state, reason = DONE, None
        try:
            saved = leftovers.commit_in_zone(launch.worktree, stream, leftovers.LEFTOVERS_MESSAGE,
                                             jail=self.sandbox, unowned=False)
        except WtaError as exc:
            saved = leftovers.CommitResult(error=str(exc))
        if saved.committed:
            self.log.say(f"committed {len(saved.committed)} leftover path(s) in the zone as {saved.sha[:12]}")
        if saved.outside:
            self.log.say(f"left uncommitted (outside the zone): {', '.join(saved.outside)}")
        if saved.error:
            self.log.say(f"the leftovers could not be committed: {saved.error}")
            reason = "; ".join(filter(None, [reason, f"leftovers not committed: {saved.error}"]))
            state = FAILED if state == DONE else state
        if self.log.dropped:
            self.log.say(f"{self.log.dropped} bytes of the agent's output could not be written to this log")
        # The log's last line comes before the record says the session ended: `wta logs -f` stops on that.
        self.log.say(f"session of stream {stream!r} ended: {state}" + (f" ({reason})" if reason else ""))
        with self.store.updating(stream) as record:
            record.state, record.reason, record.exit_code, record.ended_at = state, reason, code, now()
            record.take_figures(report)
            record.add_to_totals(report)   # (a follow-up's record holds the sessions before it)
            record.leftovers_committed, record.leftovers_outside_zone = saved.committed, saved.outside
            record.last_activity = record.ended_at   # its commits came before its end
        return 0

    def request_stop(self, *_: object) -> None:
        self.stop_requested = True


def preload() -> None:
    """Import what a session's wrapper imports as it runs (the spawner does, once for every session)."""
    from worktree_agents import files, git, sandbox, shell  # noqa: F401
    from worktree_agents.sessions import command, leftovers, process, read_output, runner, store  # noqa: F401

    for name in ("command", "claude"):
        runner(name)


def pipe_log(path: str) -> int:
    log = Log(path, Redactor(dict(os.environ)))
    for piece in pieces(sys.stdin.buffer):
        log.write(piece)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m worktree_agents.sessions.wrapper")
    parser.add_argument("--stream")
    parser.add_argument("--worktree")
    parser.add_argument("--runner")
    parser.add_argument("--interactive", action="store_true")
    parser.add_argument("--launch", help="what to run, as the coordinator worked it out (a Launch, JSON)")
    parser.add_argument("--pipe-log")
    args = parser.parse_args(argv)
    if args.pipe_log:
        return pipe_log(args.pipe_log)
    if not args.stream or not args.worktree:
        parser.error("--stream and --worktree are required")
    session = None
    try:
        session = Session(args)
        signal.signal(signal.SIGTERM, session.request_stop)
        signal.signal(signal.SIGINT, session.request_stop)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        return session.run()
    except BaseException as exc:  # record why, whatever it was: nobody else will
        from worktree_agents.sessions.store import FAILED, SessionStore, now
        from worktree_agents.repo import Repo

        redact = Redactor(dict(os.environ))
        message = str(exc) if isinstance(exc, WtaError) else f"wrapper error: {type(exc).__name__}: {exc}"
        message = redact(message.encode()).decode()
        details = message if isinstance(exc, WtaError) else traceback.format_exc()
        sys.stderr.buffer.write(redact(f"wta: {details}\n".encode()))
        try:
            store = session.store if session else SessionStore(Repo.here(args.worktree).state_dir)
            store.update(args.stream, state=FAILED, reason=message, ended_at=now())
        except Exception:
            pass
        return 1

if __name__ == "__main__":
    sys.exit(main())
