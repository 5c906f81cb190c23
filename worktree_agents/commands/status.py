"""`wta status [--json] [--watch]`: where each stream stands (fields: docs/status.md)."""

from __future__ import annotations

import json
import os
import sys
import time
from datetime import datetime, timezone

from worktree_agents import status as status_mod
from worktree_agents.commands import output
from worktree_agents.commands import zones as zones_command
from worktree_agents.commands.output import emit_json, fit_screen, table, terminal_width, use_colour, wrap
from worktree_agents.errors import WtaError
from worktree_agents.hooks import install as hooks
from worktree_agents.project import Project
from worktree_agents.quoting import shell_word
from worktree_agents.shortening import cut_end, cut_path
from worktree_agents.zones.ownership import quote_path

WATCH_INTERVAL_ENV = "WTA_WATCH_INTERVAL"
WATCH_INTERVAL = 2.0


def run(as_json: bool = False, watch: bool = False) -> int:
    project = Project.find()
    if not watch:
        report = status_mod.collect(project)
        if as_json:
            emit_json(report.to_json())
        else:
            print(render(report, terminal_width()))
            problems = zones_command.summary(project)
            if problems:
                print(wrap(f"\n{problems}", terminal_width()))
        return 0
    return _watch(project, as_json)


def _interval(value: str | None) -> float:
    """WTA_WATCH_INTERVAL: seconds between refreshes, more than 0 (default 2)."""
    if not value:
        return WATCH_INTERVAL
    try:
        seconds = float(value)
    except ValueError:
        seconds = 0.0
    if not 0 < seconds < float("inf"):
        raise WtaError(f"{WATCH_INTERVAL_ENV}={value!r}: not a number of seconds above 0; set it to one "
                       f"(e.g. {WATCH_INTERVAL:g}) or unset it")
    return seconds


def _watch(project, as_json: bool) -> int:
    """Redraw in place on a terminal; elsewhere (or with NO_COLOR) print each refresh below the last."""
    interval = _interval(os.environ.get(WATCH_INTERVAL_ENV))
    live = use_colour(sys.stdout) and not as_json
    width = terminal_width()
    try:
        while True:
            report = status_mod.collect(project)
            stamp = datetime.now().strftime("%H:%M:%S")
            if as_json:
                sys.stdout.write(json.dumps(report.to_json(), default=str) + "\n")  # one document per line
            elif live:
                sys.stdout.write("\x1b[H\x1b[2J" + f"wta status  {stamp}  (every {interval:g}s, Ctrl-C to stop)\n\n"
                                 + fit_screen(render(report, width and width - 1), reserved=2) + "\n")
            else:
                sys.stdout.write(f"-- {stamp}\n{render(report, width)}\n")
            sys.stdout.flush()
            time.sleep(interval)
    except KeyboardInterrupt:
        return 0


# On a terminal, the columns that go when the table is too wide, first named first (docs/status.md):
# stream, the state and the commits ahead/behind always stay. The two tables' states are different things, each header
# says which: the stream's worktree (state.json: prepared, failed) and its agent session (running, done...).
WORKTREE_STATE, SESSION_STATE = "worktree state", "session state"
STREAM_COLUMNS_DROPPED = ("branch", "last commit", "requests", "worktree", "dirty", "violations", "conflicts")
SESSION_COLUMNS_DROPPED = ("cpu mem children", "last activity", "runner", "turns", "cost", "refused", "pid",
                           "uncommitted outside the zone")


def render(report: status_mod.Status, width: int | None = None) -> str:
    """The table for people. With `width` (a terminal's) every line fits it: paths and lists are shortened,
    a state's reason is a line of its own under the row, and the least telling columns go first; without
    one, whole lines (for scripts that read a pipe)."""
    rows, reasons = [], []
    for s in report.streams:
        if s.head is None:
            commits = "no branch"
        elif s.ahead is None or s.behind is None:
            commits = "-"  # no base to count from
        else:
            commits = f"+{s.ahead}/-{s.behind}"
        if s.worktree is None:
            where = "-"
        else:
            where = _short(s.worktree, home=width is not None) + ("" if s.worktree_exists else " (missing)")
        conflicts = "-" if s.conflicts is None else (f"{len(s.conflict_files)} file(s)" if s.conflicts else "no")
        reasons.append(s.reason)
        rows.append((s.stream, s.branch, commits, "-" if s.dirty is None else s.dirty,
                     len(s.violations) + len(s.unprefixed) or "-", conflicts, _requests(s.requests),
                     _age(s.last_commit), where, s.state or "-"))
    text = _table_with_reasons(("stream", "branch", "+ahead/-behind", "dirty", "violations", "conflicts",
                                "requests", "last commit", "worktree", WORKTREE_STATE), rows, reasons, width,
                               shorten={"worktree": cut_path}, drop=STREAM_COLUMNS_DROPPED)
    merging = report.merge
    merge_line = "" if merging is None else \
        f"merge {merging['run_id']} running at {merging['stream']} ({merging['step']})\n" \
        if merging["status"] == "running" else f"{merging['detail']}\n"
    base = f"base {report.base} ({report.base_head[:10]})" if report.base_head else \
        f"base {report.base}: {report.base_unborn}" if report.base_unborn else \
        f"base {report.base}: no such branch; create it (git branch {shell_word(report.base)} <commit>), run wta up " \
        "with the base checked out, or set `base:` in zones.yaml"
    unchecked = "".join(f"\n{s.unchecked}" for s in report.streams if s.unchecked and s.worktree)
    unchecked += "".join(f"\n{hooks.hooks_missing(f'{s.stream} ({s.worktree})', s.hooks_missing)}"
                         for s in report.streams if s.hooks_missing and s.worktree)
    unchecked += "".join(f"\n{s.stream}: {s.off_branch}" for s in report.streams if s.off_branch)
    unchecked += "".join(f"\n{s.stream}: {lock}" for s in report.streams for lock in s.locked)
    return f"{wrap(base, width)}\n{wrap(merge_line, width)}{text}{wrap(unchecked, width)}" + _sessions(report, width) \
        + wrap(_alerts(report), width)


def _alerts(report: status_mod.Status) -> str:
    """What the running watchers (`wta watch`, `wta up`'s) hold open now."""
    if not report.alerts:
        return ""
    return "\n\nalerts (open, as the running watcher sees them)\n" + \
        "\n".join(f"{a['stream']} {_with_reason(a['state'], a['message'])}" for a in report.alerts)


def _table_with_reasons(headers: tuple[str, ...], rows: list[tuple], reasons: list[str | None], width: int | None,
           **fit) -> str:
    """The table with each state's reason after it in the state column, when there is no `width` (a pipe) or
    that fits it; else fitted to it (`fit`: output.table's), each reason on a line of its own under its row."""
    at = next(i for i, header in enumerate(headers) if header.endswith("state"))
    inline = table(headers, [(*row[:at], _with_reason(row[at], why), *row[at + 1:]) for row, why in zip(rows, reasons)])
    if width is None or max(map(len, inline.split("\n"))) <= width:
        return inline
    return table(headers, rows, width, notes=[why and _with_reason(row[at], why) for row, why in zip(rows, reasons)],
                 **fit)


def _with_reason(state: str, reason: str | None) -> str:
    """`state: reason`, or the reason alone when it starts with the state ("landing waits for ...")."""
    if not reason:
        return state
    return reason if reason.startswith(state) else f"{state}: {reason}"


def _requests(view: dict) -> str:
    """Open requests to the stream, its own still open, and its own closed lately (docs/coordination.md)."""
    counts = [(len(view.get(key, [])), word) for key, word in
              (("open_to", "open"), ("opened_by", "asked"), ("closed_recently", "closed"))]
    return ", ".join(f"{n} {word}" for n, word in counts if n) or "-"


def _sessions(report: status_mod.Status, width: int | None) -> str:
    """The agent sessions, when any stream had one (fields: docs/sessions.md)."""
    rows, reasons = [], []
    for s in report.streams:
        x = s.session
        if not x:
            continue
        reasons.append(x["reason"])
        usage = "-" if x["cpu_percent"] is None else \
            f"{x['cpu_percent']:.0f}% {x['memory_bytes'] / 2**20:.0f}M {x['children']} child(ren)"
        cost = output.spent(x["cost_usd"], x.get("cost_simulated", False), x["total_cost_usd"], x["total_sessions"])
        left = ", ".join(map(quote_path, x["outside_zone_uncommitted"])) or "-"
        rows.append((s.stream, x["runner"] or "-", x["state"], x["pid"] or "-", usage, x["turns"] or "-", cost,
                     x["permission_denials"] or "-", _age(x["last_activity"]), left))
    if not rows:
        return ""
    headers = ("stream", "runner", SESSION_STATE, "pid", "cpu mem children", "turns", "cost", "refused",
               "last activity", "uncommitted outside the zone")
    return "\n\nsessions\n" + _table_with_reasons(headers, rows, reasons, width, drop=SESSION_COLUMNS_DROPPED,
                                                   shorten={"uncommitted outside the zone": cut_end})


def _short(path: str, home: bool = False) -> str:
    """`path` relative to here when that is shorter; with `home` (on a terminal), also `~/...` when shorter."""
    rel = os.path.relpath(path)
    shortest = rel if len(rel) < len(path) else path
    tilde = _under_home(path) if home else None
    return tilde if tilde and len(tilde) < len(shortest) else shortest


def _under_home(path: str) -> str | None:
    """`~/...` for a path in the home directory, else None."""
    home = os.path.expanduser("~")
    if home == "/" or not (os.path.isabs(home) and os.path.isabs(path)) or os.path.commonpath([home, path]) != home:
        return None
    return "~" + path[len(home):]


def _age(iso: str | None) -> str:
    if not iso:
        return "-"
    try:
        seconds = int((datetime.now(timezone.utc) - datetime.fromisoformat(iso)).total_seconds())
    except ValueError:
        return iso
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit} ago"
    return f"{max(seconds, 0)}s ago"
