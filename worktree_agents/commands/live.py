"""What `wta up` shows while the sessions run: a table redrawn in place on a
terminal (the latest `wta watch` alerts under it), else one line per change."""

from __future__ import annotations

import sys
import time

from worktree_agents.commands import output
from worktree_agents.commands.output import fit_screen, table, use_colour
from worktree_agents.coordination.watch import Alert, AlertFeed
from worktree_agents.sessions.store import SessionRecord, parse_time

REDRAW_EVERY = 0.5


def view_for(project, config, streams):
    """The live table on a terminal, the change log elsewhere."""
    feed = AlertFeed.for_schedule(project, config)
    return LiveView(streams, feed) if use_colour() else ChangeLog(streams, feed)


class _View:
    def __init__(self, streams, feed: "AlertFeed | None" = None) -> None:
        self.streams = streams
        self.feed = feed

    def close(self, hand_over: bool = False) -> None:
        """`hand_over`: the alerts held open go to the detached coordinator that takes the schedule over."""
        if self.feed:
            self.feed.close(hand_over)


def rows(streams, records: dict[str, SessionRecord | None]) -> list[tuple]:
    found = []
    for stream in streams:
        r = records.get(stream) or SessionRecord(stream)
        started, ended = parse_time(r.started_at), parse_time(r.ended_at)
        took = f"{int((ended or time.time()) - started)}s" if started else ""
        cost = output.spent(r.cost_usd, r.cost_simulated, r.total_cost_usd, r.total_sessions) \
            if r.cost_usd is not None or r.total_cost_usd is not None else ""
        found.append((stream, r.runner, r.state, r.pid if r.live else "", took, r.turns if r.turns is not None else "",
                      cost, r.reason or ""))
    return found


HEADERS = ("stream", "runner", "state", "pid", "time", "turns", "cost", "reason")


class LiveView(_View):
    """A table redrawn in place on a terminal, the latest alerts under it."""

    def __init__(self, streams, feed: AlertFeed | None = None) -> None:
        super().__init__(streams, feed)
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
            text += "\n\nalerts\n" + "\n".join(a.line() for a in self.feed.recent)
        text = fit_screen(text)   # (moving up by the count of lines must reach the top of the last table)
        if self.lines:
            sys.stdout.write(f"\x1b[{self.lines}F\x1b[J")
        sys.stdout.write(text + "\n")
        sys.stdout.flush()
        self.lines = text.count("\n") + 1
        self.drawn = time.monotonic()

    def finish(self, records) -> None:
        if self.feed:
            self.feed.poll(now=True)  # the last states (a stream blocked at the very end) are news too
        self._draw(records)


class ChangeLog(_View):
    """Off a terminal: one line per state change and per alert (the table is for terminals); an alert
    about a session's state is left out, its own line says it already (`s00: landed (...)`)."""

    def __init__(self, streams, feed: AlertFeed | None = None) -> None:
        super().__init__(streams, feed)
        self.seen: dict[str, tuple] = {}

    def _alerts(self, fresh: list[Alert]) -> None:
        for alert in fresh:
            if not alert.session_state:
                print(f"alert: {alert.line()}", flush=True)

    def update(self, records) -> None:
        self._alerts(self.feed.poll() if self.feed else [])
        for stream in self.streams:
            r = records.get(stream)
            if r is None:
                continue
            # A new reason in the same state is news too (a landing that waits says what for), and so is a
            # hand-back, whose `pending` the follow-up's start may replace before this looks.
            seen = (r.state, None if r.live else r.reason, r.handbacks)
            before = self.seen.get(stream)
            if before == seen:
                continue
            self.seen[stream] = seen
            if before is not None and r.handbacks > before[2]:
                print(f"{stream}: handed back to its agent (follow-up {r.handbacks}; `wta prompt {stream}` shows why)",
                      flush=True)
            if before is None or before[:2] != seen[:2]:
                detail = f" (pid {r.pid})" if r.live and r.pid else (f" ({r.reason})" if r.reason else "")
                print(f"{stream}: {r.state}{detail}", flush=True)

    def finish(self, records) -> None:
        self._alerts(self.feed.poll(now=True) if self.feed else [])
        self.update(records)
