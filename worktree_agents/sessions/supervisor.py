"""Scheduling sessions: the coordinator.

The coordinator starts session wrappers in `after` order with at most
`max_parallel` running, keeps a dependent `waiting` until every dependency
ended `done` and landed on the base, and fails it (`dependency <name> failed`)
when one did not (dependencies.py). Just before a session starts, its branch is brought up to
the base (worktrees/sync.py), so a dependent starts from its dependencies'
work. With `land: auto` (or `wta up --land`) it also lands each stream whose
session ended `done`, one run at a time (landing.py), and starts a follow-up
session when a landing fails. Each wrapper records its own session. It runs in the
foreground under `wta up`, or detached (`wta up -d`, or after Ctrl-C) as a process
of its own (this module's `main`, started as interpreter.py says), logging to
`<common>/wta/logs/coordinator.log`. One coordinator per repository at a time
(`<common>/wta/coordinator.lock`). Crashes and stalls are noticed by
liveness.py, `wta stop` is stop.py.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import signal
import shlex
import subprocess
import sys
import threading
import time
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from typing import Callable, Iterator, Sequence

from worktree_agents import git, interpreter, layout, sessions
from worktree_agents.errors import CHECK, WtaError, cannot_write
from worktree_agents.sessions import landing, process, spawner
from worktree_agents.sessions.dependencies import Dependencies
from worktree_agents.sessions.liveness import STALL_CHECK_EVERY, observe
from worktree_agents.sessions.stop import COORDINATOR_ENDED, ended_with_its_coordinator
from worktree_agents.sessions.store import (DONE, FAILED, LANDED, LANDING, OPEN, PENDING, RUNNING, STOPPED,
                                            WAITING, SessionRecord, SessionStore, now)

POLL = 0.2                  # between rounds when nothing wakes the coordinator sooner
# A follow-up that a coordinator ended by SIGTERM had not started, which `wta up` resumes.
FOLLOW_UP_RESUMED = "handed back to its agent: its follow-up, which the ended coordinator had not started"
# A stream a killed coordinator left `landing` with no merge under way (its landing waited, or had not begun),
# which a schedule that does not land finds: `done` again, not landed.
INTERRUPTED_LANDING = "its landing was interrupted before it landed (`wta merge {stream}` or `wta up --land` lands it)"


@dataclass(frozen=True)
class Schedule:
    streams: tuple[str, ...]      # in `after` order
    runner: str | None = None     # --runner: overrides every stream's runner
    interactive: bool = False
    max_parallel: int = 4
    land: bool = False            # land each stream as its session ends done (`land: auto`, --land)


def stream_worktrees(project) -> dict[str, str]:
    """Each stream's worktree, as recorded in the worktree itself (`wta-stream`); the first, if two say so."""
    from worktree_agents.worktrees import registry

    found: dict[str, str] = {}
    for stream, path in registry.stream_worktrees(project.main, project.repo.common_dir):
        found.setdefault(stream, path)
    return found


# -- the coordinator lock ------------------------------------------------------------

@contextmanager
def coordinator_lock(state_dir: str, handed_over: int | None = None, plan: Schedule | None = None) -> Iterator[int]:
    """Be the repository's one coordinator for the duration of the block; the lock file's descriptor.

    `handed_over`: that descriptor, inherited from the `wta up` that started this (detached)
    coordinator while it held the lock (`spawn_detached`): the lock passes on with no moment
    free, in which another `wta up` would queue sessions that no coordinator then starts.
    `plan`: what it schedules, written in the lock file with its pid (`coordinator_of`)."""
    os.makedirs(state_dir, exist_ok=True)
    path = layout.path(state_dir, layout.COORDINATOR_LOCK)
    fd = handed_over if handed_over is not None else os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        if handed_over is not None and os.path.samestat(os.fstat(fd), os.stat(path)):
            os.set_inheritable(fd, False)
        elif handed_over is not None:
            raise WtaError(f"descriptor {fd} is not {path}; start the coordinator with `wta up -d`")
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)   # (handed over: held already, by the same open file)
        except BlockingIOError:
            raise _scheduling(state_dir) from None
        try:
            _name_holder(fd, os.getpid(), plan)
        except OSError as exc:
            raise cannot_write(path, exc) from None
        yield fd
    finally:
        os.close(fd)


def refuse_while_scheduling(state_dir: str, streams: Sequence[str]) -> None:
    """Refuse (exit 1) a `wta up` of `streams` while another coordinator schedules this repository's
    sessions, before it makes anything: it would make their worktrees, then be refused its coordinator.
    (The lock itself is taken later, by `coordinator_lock`, which refuses the same way.)"""
    try:
        fd = os.open(layout.path(state_dir, layout.COORDINATOR_LOCK), os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        from worktree_agents.state import current_command   # the command as typed: its -d, --land...

        now = shlex.join(["wta", "up", "--no-launch", *streams])
        raise _scheduling(state_dir, f"; or run `{current_command()}` again once it has ended (`{now}` makes "
                                     "the worktrees now)") from None
    finally:
        os.close(fd)


def _scheduling(state_dir: str, more: str = "") -> WtaError:
    holder = coordinator_pid(state_dir)
    return WtaError(f"a coordinator{f' (pid {holder})' if holder else ''} is already scheduling this repository's "
                    f"sessions; follow it with `wta status`, or end it with `wta stop`{more}", CHECK)


def _name_holder(fd: int, pid: int, plan: Schedule | None) -> None:
    """Write into the lock file (`fd`) who holds it: its pid and start time (a pid reused is no coordinator)
    and what it schedules, its streams and whether it lands them (`wta logs -f` follows a landing to come).
    Written, then cut to its length: a reader never finds it empty, and two writers of the same holder (a
    detached coordinator and the `wta up` that hands it the lock) leave it whole."""
    data = {"pid": pid, "create_time": process.create_time(pid)}
    if plan is not None:
        data.update(streams=list(plan.streams), land=plan.land)
    text = json.dumps(data).encode()
    os.pwrite(fd, text, 0)
    os.ftruncate(fd, len(text))


def coordinator_of(state_dir: str) -> dict | None:
    """What the lock file says of the running coordinator (`pid`; `streams` and `land`, what it schedules,
    unless an older wta wrote it), or None when none runs."""
    path = layout.path(state_dir, layout.COORDINATOR_LOCK)
    try:
        with open(path, encoding="utf-8") as f:
            data = json.loads(f.read() or "null")
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or not process.is_alive(data.get("pid"), data.get("create_time")):
        return None
    return data


def coordinator_pid(state_dir: str) -> int | None:
    """The pid of the running coordinator, or None."""
    holder = coordinator_of(state_dir)
    return None if holder is None else int(holder["pid"])


# -- scheduling ------------------------------------------------------------------------

def schedule_for(config, streams: list[str] | None, runner: str | None = None, interactive: bool = False,
                 max_parallel: int | None = None, land: bool = False) -> Schedule:
    chosen = set(streams or config.streams)
    return Schedule(tuple(s for s in config.order() if s in chosen), runner, interactive,
                    max_parallel or config.max_parallel, land or config.land == "auto")


def queue_sessions(project, config, plan: Schedule) -> list[str]:
    """Check that every planned session can start, then reset their records to `pending`.

    Sessions still running are left alone (launching is idempotent); the
    streams returned are those that will be scheduled. A schedule whose
    coordinator died (records left `pending` or `waiting`, or under `--land`
    `done` or `landing`, not landed yet: we hold the coordinator lock, so nobody
    schedules them) is resumed: its sessions that ended `done`, and the streams
    that landed, are kept, not run again.
    """
    worktrees = stream_worktrees(project)
    missing = [s for s in plan.streams if s not in worktrees]
    if missing:
        raise WtaError(f"no worktree for stream(s) {', '.join(missing)}; create them with `wta up --no-launch`")
    contexts = sessions.check_can_start(project, config, {s: worktrees[s] for s in plan.streams}, plan.runner,
                                        plan.interactive)
    store = SessionStore(project.repo.state_dir)
    records = {s: r for s in plan.streams if (r := store.read(s)) is not None}
    # (Under --land, a stream `done` or `landing` was not landed yet: its schedule did not finish either. One
    # `stopped` before it started by its coordinator's end (SIGTERM, not `wta stop`) is what `wta up` resumes.)
    resuming = any(r.state in (PENDING, WAITING) or plan.land and r.state in (DONE, LANDING) or
                   ended_with_its_coordinator(r) for r in records.values())
    scheduled = []
    underway = _merge_underway(project.repo.state_dir)
    for stream, ctx in contexts.items():
        record = records.get(stream)
        if record is not None and record.state == LANDING and not plan.land and underway is not None and \
                stream not in underway:
            # Nothing lands it (`wta merge --continue` has nothing to finish): its old reason ("landing waits:
            # ... commit or stash them there first") would stand, and its dependents wait for `wta merge`.
            store.update(stream, state=DONE, reason=INTERRUPTED_LANDING.format(stream=stream))
            continue   # (its session ended `done`: not run again)
        if store.take_stop_request(stream, os.getpid()):   # `wta stop` while this `wta up` prepared it
            store.update(stream, state=STOPPED, reason="stopped by `wta stop` before it started", ended_at=now())
            continue
        if record is not None and (observe(store, record, check_stall=False).live or
                                   resuming and record.state in (DONE, LANDED) or
                                   record.state == LANDING or   # `wta merge --continue` finishes it
                                   plan.land and record.state in (DONE, LANDING)):  # not landed yet: land it
            continue
        manual = not sessions.runner(ctx.runner).starts_process  # a person: no process, so no log
        follow_up = _follow_up_kept(record, store.handback_path(stream)) if resuming else {}
        store.reset(stream, runner=ctx.runner, worktree=ctx.worktree, log=None if manual else ctx.log,
                    port=ctx.port, stall_after=config.stall_after, **follow_up)
        scheduled.append(stream)
    return scheduled


def _follow_up_kept(record: SessionRecord | None, handback: str) -> dict:
    """What a resumed schedule keeps of a follow-up its coordinator had not started yet (killed: left `pending`;
    ended by SIGTERM: `stopped` before it started), so that the hand-backs so far count (land_retries), and so do
    the sessions' figures (the totals): {} for any other record."""
    if record is None or not record.handbacks or not os.path.exists(handback) or \
            not (record.state == PENDING or ended_with_its_coordinator(record)):
        return {}
    return {"handbacks": record.handbacks, "failed_to_land": record.failed_to_land, "announced": record.announced,
            **record.totals(),
            "reason": record.reason if record.state == PENDING else FOLLOW_UP_RESUMED}


def _merge_underway(state_dir: str) -> set[str] | None:
    """The streams of a merge under way, stopped or killed (`wta merge --continue` finishes them); None when
    its state is unreadable (`wta merge` says what to do)."""
    from worktree_agents.merge.state import read_state

    try:
        state = read_state(state_dir)
    except WtaError:
        return None
    return set(state.get("streams") or []) if state is not None else set()


class Coordinator:
    """Starts the plan's sessions as their turn comes, and lands them (`plan.land`); `step` is one round."""

    def __init__(self, project, config, plan: Schedule, wrappers: spawner.Spawner | None = None) -> None:
        """`wrappers`: a spawner started already (`wta up` starts one before it validates zones.yaml)."""
        self.project, self.config, self.plan = project, config, plan
        git.keep_from_terminal_signals()   # a landing under way finishes when wta is interrupted: its git too
        self.store = SessionStore(project.repo.state_dir)
        self.worktrees = stream_worktrees(project)
        self.base = project.base(config)
        self.children: dict[str, subprocess.Popen | spawner.Spawned] = {}
        # Started now, if not before: its imports overlap the first round's syncs (spawner.py).
        self.spawner = wrappers or spawner.Spawner(project.env, layout.path(project.repo.state_dir,
                                                                            layout.COORDINATOR_LOG))
        if any(sessions.runner(self._runner_of(s)).starts_process for s in plan.streams):
            try:
                self.spawner.start()
            except OSError:
                pass   # each wrapper is started as a process then
        self._stall_checked: dict[str, float] = {}
        self.after = Dependencies(project, config, plan.streams, self.base, plan.land, self.worktrees)
        # A session's end, a stream landed and a landing run's end each start the next round at once.
        self.wake = threading.Event()
        self.progress = landing.ProgressWriter(self.store)
        self.lander = landing.Lander(project, self.progress.put, self._landed, self.wake.set)

    def records(self) -> dict[str, SessionRecord | None]:
        return self.store.read_all(list(self.config.streams))

    def step(self) -> bool:
        """Start what may start, land what is done, fail what cannot; False when nothing is left to do."""
        for stream, child in list(self.children.items()):
            if child.poll() is not None:
                del self.children[stream]
        self.record_landings()
        landing_now = self.lander.in_flight()   # (before the records: an outcome recorded meanwhile is in them)
        records = self.records()
        for stream, record in records.items():
            if record is not None and record.live:
                due = time.monotonic() - self._stall_checked.get(stream, 0.0) >= STALL_CHECK_EVERY
                if due:
                    self._stall_checked[stream] = time.monotonic()
                records[stream] = observe(self.store, record, check_stall=due)
        running = sum(1 for r in records.values() if r is not None and r.live)
        # (A manual session is `done` once a person has merged it: nothing left to land.)
        ready_to_land = [stream for stream in self.plan.streams if self.plan.land and records[stream] is not None
                         and records[stream].state in (DONE, LANDING) and records[stream].runner != "manual"]
        remaining = bool(ready_to_land)
        if ready_to_land and not self.lander.busy:
            # In `after` order, one run at a time; the streams a dependent waits for go first. Started before this
            # round's launches, not after them: the landings are what dependents wait for, and a launch's sync
            # goes on under the run's command lock (`covering`), which the run holds once `start` returns.
            # Said `landing` before the run starts: said after, it could write over a `landed` the run had
            # already recorded.
            for stream in ready_to_land:
                if records[stream].state != LANDING:  # else: why it still waits
                    self.store.update(stream, state=LANDING, reason=f"landing on {self.base}")
            self.lander.start(ready_to_land, first=self._awaited(records))
        for stream in self.plan.streams:
            record = records[stream] or SessionRecord(stream)
            if stream in ready_to_land or record.ended or record.state == LANDING:
                continue
            remaining = True
            if record.live:
                continue
            seen = _as_landing(records, landing_now)
            problem = self.after.problem(stream, seen)
            if problem:
                records[stream] = self.store.update(stream, state=FAILED, reason=problem, ended_at=now())
                continue
            waiting, unlanded = self.after.waiting_for(stream, seen)
            if waiting:
                if record.state != WAITING or record.reason != waiting:
                    records[stream] = self.store.update(stream, state=WAITING, reason=waiting,
                                                        waiting_to_land=unlanded)
            elif running >= self.plan.max_parallel:
                if record.state != PENDING:
                    records[stream] = self.store.update(stream, state=PENDING, reason=None)
            else:
                records[stream] = self.launch(stream)
                running += 1 if records[stream].live else 0
        return remaining or self.lander.busy

    # -- landing ------------------------------------------------------------------------

    def _awaited(self, records: dict[str, SessionRecord | None]) -> set[str]:
        """The streams that a planned stream yet to start waits for (`after`)."""
        return {dependency for stream in self.plan.streams
                if records[stream] is None or not (records[stream].ended or records[stream].state == LANDING)
                for dependency in self.config.streams[stream].after}

    def _landed(self, outcome: landing.LandOutcome) -> None:
        """A stream has landed, and the run goes on (the landing thread): its dependents may start now."""
        self.progress.settle(outcome.stream)
        landing.record_outcome(self.store, outcome, self.config.land_retries)

    def record_landings(self) -> None:
        """Record a landing run that has finished: each stream landed, handed back to its agent, or blocked."""
        for outcome in self.lander.finished() or []:
            self.progress.settle(outcome.stream)
            landing.record_outcome(self.store, outcome, self.config.land_retries)

    # -- starting a session -------------------------------------------------------------

    def _bring_up_to_base(self, stream: str) -> SessionRecord | None:
        """Sync the stream's branch with the base before its session starts; the record when it must not start.

        Under the command lock, which a merge holds too: while one runs, the session waits for it;
        unless it is this coordinator's own landing run, which lets other streams than its own be
        synced under its lock (a dependent starts as soon as its dependency has landed).
        """
        from worktree_agents.worktrees import sync
        from worktree_agents.state import command_lock

        with ExitStack() as held:
            try:
                if not held.enter_context(self.lander.covering(stream)):
                    held.enter_context(command_lock(self.project.repo.state_dir, f"wta up: sync {stream}",
                                                    timeout=0))
            except WtaError as exc:  # a merge or a landing runs: try again on a later round
                return self.store.update(stream, state=PENDING, reason=f"starts after {str(exc).splitlines()[0]}")
            try:
                _clear_stale_index_lock(self.worktrees[stream], stream)
                result = sync.sync_stream(self.project, self.base, stream, self.config.branch_for(stream),
                                          self.worktrees[stream], session_check=False)
            except WtaError as exc:
                return self.store.update(stream, state=FAILED, ended_at=now(), reason=f"not started: {exc}")
        if result.ok or os.path.exists(self.store.handback_path(stream)):
            return None  # a follow-up after a conflict: resolving it is the session's task
        return self.store.update(stream, state=FAILED, ended_at=now(), reason=f"not started: {result.line(self.base)}")

    def launch(self, stream: str) -> SessionRecord:
        if stream not in self.worktrees:
            return self.store.update(stream, state=FAILED, ended_at=now(),
                                     reason="its worktree is gone; recreate it with `wta up --no-launch`")
        refused = self._bring_up_to_base(stream)
        if refused is not None:
            return refused
        ctx = sessions.context(self.project, self.config, stream, self.worktrees[stream], self.plan.runner,
                               self.plan.interactive)
        runner = sessions.runner(ctx.runner)
        started = now()
        launch = None
        try:
            runner.prepare_files(ctx)
            if not runner.starts_process:
                return self.store.update(stream, state=OPEN, reason=f"a person works in {ctx.worktree}",
                                         started_at=started, runner=ctx.runner)
            from worktree_agents.sessions.wrapper import plan_launch

            # Worked out here, where zones.yaml is validated already: the wrapper need not import pydantic.
            handed_over = layout.path(self.project.repo.state_dir, layout.LAUNCH, stream=stream)
            launch = plan_launch(self.project, ctx)
            launch.write(handed_over)
            args = ["--stream", stream, "--worktree", ctx.worktree, "--runner", ctx.runner, "--launch", handed_over,
                    *(["--interactive"] if ctx.interactive else [])]
            os.makedirs(os.path.dirname(ctx.log), exist_ok=True)
            try:
                child = self.spawner.spawn(args, ctx.worktree, ctx.env(), ctx.log)
            except OSError:   # no spawner: the wrapper as a process of its own, as it is forked
                with open(ctx.log, "ab") as log:
                    child = subprocess.Popen(interpreter.command("worktree_agents.sessions.wrapper", "main", *args),
                                             cwd=ctx.worktree, env=ctx.env(), stdin=subprocess.DEVNULL,
                                             stdout=log, stderr=log, start_new_session=True)
        except (OSError, WtaError) as exc:
            if launch is not None:   # (no wrapper to remove the sandbox's temp dir of its own)
                from worktree_agents.sandbox import remove_private_tmp

                remove_private_tmp(launch.jail())
            return self.store.update(stream, state=FAILED, reason=f"could not start the session: {exc}",
                                     started_at=started, ended_at=now())
        self.children[stream] = child
        self._stall_checked[stream] = time.monotonic()  # a session that has just started has not stalled
        threading.Thread(target=self._wake_when_ended, args=(child,), name=f"wait {stream}", daemon=True).start()
        with self.store.updating(stream) as record:
            if record.pid != child.pid:  # the wrapper has not recorded itself yet
                record.state, record.reason, record.pid = RUNNING, None, child.pid
                record.pid_create_time = process.create_time(child.pid)
                record.begin_session(started)
                record.runner = ctx.runner
            record.waiting_to_land = []
        return record

    def _runner_of(self, stream: str) -> str:
        return self.plan.runner or self.config.agent_for(stream).runner

    def _wake_when_ended(self, child: subprocess.Popen | spawner.Spawned) -> None:
        child.wait()   # the wrapper has recorded how its session ended
        self.wake.set()

    def run(self, tick: Callable[[dict[str, SessionRecord | None]], None] | None = None) -> dict:
        """Schedule until every planned session has ended; `tick` sees the records each round."""
        try:
            while True:
                self.wake.clear()
                remaining = self.step()
                if tick is not None:
                    tick(self.records())
                if not remaining:
                    return self.records()
                self.wake.wait(POLL)
        finally:
            self.spawner.close()   # the sessions it forked run on without it

    def let_landing_finish(self, say: Callable[[str], None]) -> None:
        """Interrupted (Ctrl-C, SIGTERM): a landing under way ends first, a rebase is not cut in the middle;
        interrupted again, it is left to the next `wta up` or `wta merge --continue`, which finish or undo it."""
        if not self.lander.busy:
            return
        say("waiting for the landing under way to finish (interrupted again, it is left to the next coordinator)")
        try:
            self.lander.wait()
            self.record_landings()
        except KeyboardInterrupt:
            git.interrupt_running()   # its git, in a group of its own, had gone on (a hung filter: for ever)
            say("ending now: the landing under way is finished or undone by the next `wta up` or "
                "`wta merge --continue`")

    def end(self, say: Callable[[str], None]) -> None:
        """Ended (SIGTERM): the landing under way finishes, the planned sessions that never started are
        `stopped`; those running carry on."""
        self.let_landing_finish(say)
        for stream in self.plan.streams:
            with self.store.updating(stream) as record:
                if record.state in (PENDING, WAITING):
                    record.state, record.reason, record.ended_at = STOPPED, COORDINATOR_ENDED, now()



def _as_landing(records: dict[str, SessionRecord | None],
                landing_now: frozenset[str]) -> dict[str, SessionRecord | None]:
    """The records as a dependent's `after` rule sees them: a stream `wta stop` ended while its landing is
    under way is still landing until that ends (its dependents had failed on `stopped`, and it then landed)."""
    stopped = [s for s in landing_now if records.get(s) is not None and records[s].state == STOPPED]
    if not stopped:
        return records
    return {**records, **{s: replace(records[s], state=LANDING) for s in stopped}}


def _clear_stale_index_lock(worktree: str, stream: str) -> None:
    """The index lock a git killed with an earlier session left (the session's group is ended when its crash
    is noticed: the OOM killer, a reboot, during its leftovers commit), which would fail this session's
    sync, its commits and its leftovers; one a live process holds stops the start, naming it."""
    from worktree_agents.merge.recovery import clear_stale_locks
    from worktree_agents.worktrees.registry import worktree_git_dir

    lock = os.path.join(worktree_git_dir(worktree), "index.lock")
    if os.path.exists(lock):
        clear_stale_locks([lock], worktree, then=f"`wta up {stream}`")


def unfinished(project, plan: Schedule) -> list[str]:
    """The planned streams with something left to do: a session, or landing it (`plan.land`)."""
    store = SessionStore(project.repo.state_dir)
    return [s for s in plan.streams if (r := store.read(s)) is None or not r.ended
            or plan.land and r.state == DONE]


def spawn_detached(project, plan: Schedule, lock: int, alerts_of: int | None = None) -> int:
    """Start a detached coordinator for `plan`, handing it the coordinator lock (`lock`: the descriptor
    `coordinator_lock` gave the caller, which holds it); its pid. `alerts_of`: the pid whose watcher handed
    over the alerts it announced and holds open (open_alerts.hand_over)."""
    argv = interpreter.command("worktree_agents.sessions.supervisor", "main", "--worktree", project.main,
                               "--max-parallel", str(plan.max_parallel), "--lock-fd", str(lock),
                               *(["--alerts-of", str(alerts_of)] if alerts_of is not None else []))
    for stream in plan.streams:
        argv += ["--stream", stream]
    if plan.runner:
        argv += ["--runner", plan.runner]
    if plan.interactive:
        argv.append("--interactive")
    if plan.land:
        argv.append("--land")
    log_path = layout.path(project.repo.state_dir, layout.COORDINATOR_LOG)
    os.makedirs(os.path.dirname(log_path), exist_ok=True)
    with open(log_path, "ab") as log:
        child = subprocess.Popen(argv, cwd=project.main, env=project.env, stdin=subprocess.DEVNULL,
                                 stdout=log, stderr=log, start_new_session=True, pass_fds=(lock,))
    try:
        # Named the holder now, not once it has started (its imports take a while): in between, the lock file
        # would name this `wta up`, which ends, and its schedule would seem to have no coordinator.
        _name_holder(lock, child.pid, plan)
    except OSError:
        pass   # (it names itself as it starts)
    return child.pid


def main(argv: list[str] | None = None) -> int:
    """The detached coordinator."""
    parser = argparse.ArgumentParser(prog="python -m worktree_agents.sessions.supervisor")
    parser.add_argument("--worktree", required=True)
    parser.add_argument("--stream", action="append", required=True)
    parser.add_argument("--runner")
    parser.add_argument("--interactive", action="store_true")
    parser.add_argument("--max-parallel", type=int)
    parser.add_argument("--land", action="store_true")
    parser.add_argument("--lock-fd", type=int, help="the coordinator lock, held and handed over by `wta up`")
    parser.add_argument("--alerts-of", type=int, help="the pid of the `wta up` whose open alerts it takes over")
    args = parser.parse_args(argv)
    from worktree_agents.project import Project

    def stamp(text: str) -> None:
        print(f"{now()} coordinator {os.getpid()}: {text}", flush=True)

    try:
        project = Project.find(args.worktree)
        config = project.main_config()
        plan = schedule_for(config, args.stream, args.runner, args.interactive, args.max_parallel, args.land)
        with coordinator_lock(project.repo.state_dir, handed_over=args.lock_fd, plan=plan):
            coordinator = Coordinator(project, config, plan)
            stamp(f"scheduling {', '.join(plan.streams)} (max_parallel {plan.max_parallel})")
            # The watcher of `wta up` in the foreground, here too: checks, alerts.log and `notify` (its
            # alerts go to this log); a detached schedule is not a silent one.
            from worktree_agents.coordination.watch import AlertFeed

            feed = AlertFeed.for_schedule(project, config, handed_over=args.alerts_of)

            def ending(*_: object) -> None:
                raise KeyboardInterrupt

            signal.signal(signal.SIGTERM, ending)
            seen: dict[str, str] = {}

            def log_changes(records: dict[str, SessionRecord | None]) -> None:
                for stream, record in records.items():
                    if record is not None and seen.get(stream) != record.state and stream in plan.streams:
                        seen[stream] = record.state
                        stamp(f"{stream}: {record.state}" + (f" ({record.reason})" if record.reason else ""))
                for alert in feed.poll():
                    stamp(f"alert: {alert.line()}")

            try:
                coordinator.run(log_changes)
                for alert in feed.poll(now=True):   # the last endings
                    stamp(f"alert: {alert.line()}")
            except KeyboardInterrupt:
                coordinator.end(stamp)
                stamp("ended; sessions already running carry on")
                return 1
            finally:
                feed.close()
        stamp("every session has ended")
        return 0
    except WtaError as exc:
        stamp(f"error: {exc}")
        return exc.exit_code


if __name__ == "__main__":
    sys.exit(main())
