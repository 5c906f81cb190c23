"""Launching the sessions of `wta up`: schedule them, then run the coordinator
until they end, or hand the schedule (or, after Ctrl-C, the rest of it) to a
detached coordinator and leave the sessions running.

What it has to say goes through `say`, and the sessions' progress through
`view.update`: the command (`commands/up.py`) renders both.
"""

from __future__ import annotations

import os
from typing import Callable

from worktree_agents import sessions
from worktree_agents.errors import CHECK
from worktree_agents.interrupts import Ended
from worktree_agents.sessions import supervisor
from worktree_agents.sessions.store import DONE, LANDED, LANDING, OPEN, STOPPED, SessionStore


def launch(project, config, streams: list[str] | None, view_for: Callable, say: Callable[[str], None],
           runner: str | None = None,
           detach: bool = False, max_parallel: int | None = None, interactive: bool = False,
           land: bool = False, wrappers=None) -> int:
    """Start the streams' sessions (in `after` order); the exit code of `wta up`.

    `wrappers`: a sessions.spawner.Spawner started already, for the foreground coordinator.

    `view_for(streams)`: what shows the sessions: `update(records)` while they
    run, `finish(records)` after, and `close()` once the foreground coordinator is done.
    """
    plan = supervisor.schedule_for(config, streams, runner, interactive, max_parallel, land)
    view = view_for(plan.streams)
    records, ended, detached, handing_over = None, None, None, False
    with supervisor.coordinator_lock(project.repo.state_dir, plan=plan) as lock:
        scheduled = supervisor.queue_sessions(project, config, plan)
        store = SessionStore(project.repo.state_dir)
        for stream in plan.streams:
            if stream not in scheduled:
                record = store.read(stream)  # resuming a schedule whose coordinator died
                state = record.state
                if state in (DONE, LANDING) and plan.land:
                    say(f"{stream}: {state} in an earlier run; lands now")
                elif state == DONE and record.reason == supervisor.INTERRUPTED_LANDING.format(stream=stream):
                    say(f"{stream}: {record.reason}; left as it is")
                else:
                    what = {DONE: "done in the interrupted schedule", LANDED: "landed in the interrupted schedule",
                            STOPPED: "stopped by `wta stop` before it started",
                            LANDING: "landing when the schedule was interrupted (`wta merge --continue` or "
                                     "`wta up --land` finishes it)"}
                    say(f"{stream}: {what.get(state, 'already running')}; left as it is")
        if not detach:
            coordinator = supervisor.Coordinator(project, config, plan, wrappers)
            try:
                records = coordinator.run(view.update)
                view.finish(records)
            except KeyboardInterrupt as stop:   # SIGHUP and SIGTERM too (`wta up` runs in interrupts.like_ctrl_c)
                def off_the_interrupt(text: str) -> None:
                    say(f"\n{text}")   # (a ^C may be on the line)

                if isinstance(stop, Ended):
                    coordinator.end(off_the_interrupt)
                    ended = stop
                else:
                    coordinator.let_landing_finish(off_the_interrupt)
                    handing_over = True   # (its watcher's open alerts too: said once, not again by the next)
            finally:
                view.close(hand_over=handing_over)
        if records is None and ended is None:
            # Handed to a detached coordinator with the lock still held: no other `wta up` comes between.
            rest = supervisor.unfinished(project, plan)
            if rest:
                detached = rest, supervisor.spawn_detached(
                    project, supervisor.Schedule(tuple(rest), plan.runner, plan.interactive, plan.max_parallel,
                                                 plan.land), lock, alerts_of=os.getpid() if handing_over else None)
        if handing_over and detached is None:
            from worktree_agents.coordination import open_alerts

            open_alerts.drop_handed_over(project.repo.state_dir, os.getpid())
    if ended is not None:
        say("\nended by SIGTERM: the sessions that had not started are stopped (`wta up` schedules them again); "
            "the running ones carry on until they end or `wta stop` ends them")
        return ended.exit_code
    if records is None:
        if detached is None:
            say("\nnothing left to schedule")
            return 0
        rest, pid = detached
        if not detach:
            say("")  # off the ^C
        # (A manual stream is no process to run, and has no log to follow: said apart, with where to work.)
        by_hand = {ctx.stream: ctx.worktree for ctx in _by_hand(project, config, plan) if ctx.stream in rest}
        runs = [s for s in rest if s not in by_hand]
        does = [f"runs {'the sessions' if detach else 'the rest of the schedule'} ({', '.join(runs)})"] if runs else []
        does += [f"opens {', '.join(by_hand)} for a person"] if by_hand else []
        follow = "`wta status`, `wta logs STREAM -f`" if runs else "`wta status`"
        say(f"detached: a coordinator (pid {pid}) {' and '.join(does)}; follow with {follow}; end with `wta stop`")
        for stream, worktree in by_hand.items():
            say(f"{stream}: a person works in {worktree}")
        _manual_prompts(project, config, plan, say)
        return 0
    _manual_prompts(project, config, plan, say)
    failed = [s for s in plan.streams if records[s] is None or records[s].state not in (DONE, LANDED, OPEN)]
    return CHECK if failed else 0


def _manual_prompts(project, config, plan: supervisor.Schedule, say: Callable[[str], None]) -> None:
    """A manual session is a person: one line on how to get to the worktrees and the prompts (written
    to files, not printed: four full prompts would bury everything else)."""
    manual = _by_hand(project, config, plan)
    if manual:
        say(f"manual sessions: `wta open STREAM` opens a worktree in your editor, `wta prompt STREAM` prints its "
            f"prompt (also in {os.path.dirname(manual[0].prompt_file)}/)")


def _by_hand(project, config, plan: supervisor.Schedule) -> list[sessions.SessionContext]:
    """The sessions of the schedule that are a person's (a runner that starts no process), in its order."""
    worktrees = supervisor.stream_worktrees(project)
    contexts = [sessions.context(project, config, stream, worktrees[stream], plan.runner, plan.interactive)
                for stream in plan.streams if stream in worktrees]   # (`wta down` may have removed one meanwhile)
    return [ctx for ctx in contexts if not sessions.runner(ctx.runner).starts_process]
