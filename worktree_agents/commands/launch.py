"""The launch part of `wta up`: schedule the sessions, then show them until they end.

In the foreground a live table (or, off a terminal, one line per change)
follows the sessions; Ctrl-C hands the rest of the schedule to a detached
coordinator and leaves the sessions running. With `-d` the detached
coordinator takes the whole schedule at once.
"""

from __future__ import annotations

import shutil
import sys
import time
from collections import deque

from worktree_agents import sessions
from worktree_agents.commands.output import table, use_colour
from worktree_agents.errors import CHECK
from worktree_agents.sessions import supervisor
from worktree_agents.sessions.store import DONE, SessionRecord, SessionStore, parse_time
from worktree_agents.watch import Alert, Watcher

REDRAW_EVERY = 0.5
ALERTS_EVERY = 1.0     # seconds between the watcher's looks (each runs a few git commands)
ALERTS_SHOWN = 5       # the latest alerts, under the live table


def run(project, config, streams: list[str] | None = None, runner: str | None = None, detach: bool = False,
        max_parallel: int | None = None, interactive: bool = False) -> int:
    plan = supervisor.plan_for(config, streams, runner, interactive, max_parallel)
    feed = AlertFeed(Watcher(project, config))
    view = LiveView(plan.streams, feed) if use_colour() else ChangeLog(plan.streams, feed)
    records = None
    with supervisor.coordinator_lock(project.repo.state_dir):
        scheduled = supervisor.prepare(project, config, plan)
        store = SessionStore(project.repo.state_dir)
        for stream in plan.streams:
            if stream not in scheduled:
                done = store.read(stream).state == DONE  # resuming a schedule whose coordinator died
                print(f"{stream}: {'done in the interrupted schedule' if done else 'already running'}; "
                      "left as it is")
        if not detach:
            coordinator = supervisor.Coordinator(project, config, plan)
            try:
                records = coordinator.run(view.update)
            except KeyboardInterrupt:
                pass
            finally:
                feed.close()
    if records is None:
        rest = supervisor.unfinished(project, plan)
        pid = supervisor.spawn_detached(project, supervisor.Plan(tuple(rest), plan.runner, plan.interactive,
                                                                 plan.max_parallel))
        what = "the sessions" if detach else "the rest of the schedule"
        if not detach:
            print()  # off the ^C
        print(f"detached: a coordinator (pid {pid}) runs {what} ({', '.join(rest)}); "
              "follow with `wta status`, `wta logs STREAM -f`; end with `wta stop`")
        _manual_prompts(project, config, plan)
        return 0
    view.finish(records)
    _manual_prompts(project, config, plan)
    failed = [s for s in plan.streams if records[s] is None or records[s].state != DONE]
    return CHECK if failed else 0


def _manual_prompts(project, config, plan) -> None:
    """A manual session is a person: show them the prompt and where to work."""
    worktrees = supervisor.stream_worktrees(project)
    for stream in plan.streams:
        ctx = sessions.context(project, config, stream, worktrees[stream], plan.runner, plan.interactive)
        if sessions.runner(ctx.runner).starts_process:
            continue
        print(f"\n== {stream} (manual): open {ctx.worktree} in your editor ==")
        print(ctx.full_prompt(), end="")


def rows(streams, records: dict[str, SessionRecord | None]) -> list[tuple]:
    found = []
    for stream in streams:
        r = records.get(stream) or SessionRecord(stream)
        started, ended = parse_time(r.started_at), parse_time(r.ended_at)
        took = f"{int((ended or time.time()) - started)}s" if started else ""
        cost = f"${r.cost_usd:.4f}" if r.cost_usd is not None else ""
        found.append((stream, r.runner, r.state, r.pid if r.live else "", took, r.turns if r.turns is not None else "",
                      cost, r.reason or ""))
    return found


HEADERS = ("stream", "runner", "state", "pid", "time", "turns", "cost", "reason")


class AlertFeed:
    """The alerts of `wta watch` (docs/coordination.md), looked for every ALERTS_EVERY seconds."""

    def __init__(self, watcher: Watcher) -> None:
        self.watcher = watcher
        self.recent: deque[Alert] = deque(maxlen=ALERTS_SHOWN)
        self.looked = 0.0

    def poll(self) -> list[Alert]:
        """The alerts new since the last look (none between looks)."""
        if time.monotonic() - self.looked < ALERTS_EVERY:
            return []
        self.looked = time.monotonic()
        fresh = self.watcher.tick()
        self.recent.extend(fresh)
        return fresh

    def close(self) -> None:
        self.watcher.close()


class LiveView:
    """A table redrawn in place on a terminal, the latest alerts under it."""

    def __init__(self, streams, feed: AlertFeed | None = None) -> None:
        self.streams = streams
        self.feed = feed
        self.lines = 0
        self.drawn = 0.0

    def update(self, records) -> None:
        fresh = self.feed.poll() if self.feed else []
        if not fresh and time.monotonic() - self.drawn < REDRAW_EVERY:
            return
        self._draw(records)

    def _draw(self, records) -> None:
        text = table(HEADERS, rows(self.streams, records))
        if self.feed and self.feed.recent:
            width = shutil.get_terminal_size().columns
            text += "\n\nalerts\n" + "\n".join(a.line()[:width] for a in self.feed.recent)
        if self.lines:
            sys.stdout.write(f"\x1b[{self.lines}F\x1b[J")
        sys.stdout.write(text + "\n")
        sys.stdout.flush()
        self.lines = text.count("\n") + 1
        self.drawn = time.monotonic()

    def finish(self, records) -> None:
        self._draw(records)


class ChangeLog:
    """Off a terminal: one line per state change and per alert, then the final table."""

    def __init__(self, streams, feed: AlertFeed | None = None) -> None:
        self.streams = streams
        self.feed = feed
        self.seen: dict[str, str] = {}

    def update(self, records) -> None:
        for alert in self.feed.poll() if self.feed else []:
            print(f"alert: {alert.line()}", flush=True)
        for stream in self.streams:
            r = records.get(stream)
            if r is not None and self.seen.get(stream) != r.state:
                self.seen[stream] = r.state
                detail = f" (pid {r.pid})" if r.live and r.pid else (f" ({r.reason})" if r.reason else "")
                print(f"{stream}: {r.state}{detail}", flush=True)

    def finish(self, records) -> None:
        self.update(records)
        print(table(HEADERS, rows(self.streams, records)))
