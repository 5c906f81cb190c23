"""The watcher behind `wta watch` and the alerts under `wta up`'s live table.

Each `tick()` looks at everything once and returns what changed since the last
tick: a condition that appears is an alert, reported once; one that goes away is
reported once more as cleared. Conditions are identified by keys, so an alert
that persists over many ticks is never repeated:

    check:<name>                     a `checks:` entry failed or timed out
    session:<stream>:<start>:<state> a session ended, failed, crashed or stalled
    violation:<stream>:<commit>      a commit in base..branch leaves the stream's zone or lacks its [stream] prefix
    conflict:<stream>:<base>         merging the stream into the base would conflict
    conflict:<a>:<b>                 two streams would conflict with each other
    request:<id>                     an open request between streams
    error:<source>                   the watcher could not look at something

Checks and notify commands run as child processes in their own process groups and
never block a tick; `close()` ends every one still running. Each alert is appended
to `<common>/wta/alerts.log` and handed to `notify` (zones.yaml). Git work is only
redone for branches whose tips moved.
"""

from __future__ import annotations

import os
import re
import shlex
import time
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable

from worktree_agents import git, layout, shell
from worktree_agents.coordination import open_alerts, requests
from worktree_agents.errors import WtaError
from worktree_agents.hooks import install as hooks
from worktree_agents.quoting import contexts, in_backticks
from worktree_agents.redaction import Redactor, one_line
from worktree_agents.sessions.store import (BLOCKED, CRASHED, DONE, FAILED, LANDED, LANDING, STALLED, STOPPED,
                                            WAITING, SessionStore, parse_time)
from worktree_agents.sessions.liveness import STALL_CHECK_EVERY, observe
from worktree_agents.worktrees.registry import stream_worktrees
from worktree_agents.zones.enforce import audit_commits, has_prefix
from worktree_agents.zones.in_force import ZonesInForce, zones_in_force
from worktree_agents.zones.ownership import quote_path

NOTIFY_TIMEOUT = 10.0
RECOVERED, OK, CLOSED = "recovered", "ok", "closed"
PROBLEM_SESSION_STATES = (FAILED, CRASHED, STALLED, BLOCKED)
EVENT_SESSION_STATES = (DONE, STOPPED, LANDED)
_MAX_FILES_SHOWN = 5


@dataclass(frozen=True)
class Alert:
    key: str
    stream: str          # the stream it is about, or `check:<name>` for a health check
    state: str           # failed, crashed, stalled, done, stopped, violation, conflict, request, unchecked, error;
                         # when cleared: recovered, ok or closed
    message: str
    at: str              # ISO 8601 UTC
    cleared: bool = False

    def line(self) -> str:
        """One line for a person: local time, stream, state, message."""
        clock = datetime.fromisoformat(self.at).astimezone().strftime("%H:%M:%S")
        return f"{clock} {self.stream} {self.state}: {self.message}"

    def log_line(self) -> str:
        return f"{self.at} {self.stream} {self.state}: {self.message}"

    @property
    def session_state(self) -> bool:
        """About a session's own state (it ended, landed, failed, stalled, came back), which a record of
        the session shows as well; not the one that asks a person to land a dependency."""
        return self.key.startswith(_SESSION_KEY) and not self.key.startswith(_LANDING_KEY.format(stream=self.stream))


_SESSION_KEY = "session:"
_LANDING_KEY = _SESSION_KEY + "{stream}:land:"


@dataclass(frozen=True)
class _Condition:
    stream: str
    state: str
    message: str
    clears_as: str | None = None   # None: an event (a session that ended), not reported when it goes
    clear_message: str = ""
    since: float | None = None     # events older than the watcher are history, not news...
    event: str | None = None       # ...unless no watcher announced them (SessionRecord.announced): this one's id
    told: bool = True              # and whether one did


@dataclass
class _CheckState:
    name: str
    run: str
    every: float
    timeout: float
    next_at: float = 0.0
    child: shell.Background | None = None
    failure: str | None = None     # the message of the last completed run, None when it passed


def fill_command(template: str, values: dict[str, str]) -> str:
    """The notify command with {stream}, {state} and {message} filled in, shell-quoted.

    Each value is quoted for where its placeholder stands (quoting.contexts): bare, inside '...' or
    inside "..." (zones.yaml's own example puts one in single quotes); inside a command substitution
    within "...", it stands bare again, and is quoted as a bare word.
    """
    out: list[str] = []
    last = 0
    for i, quoting, backticks, guessed in contexts(template):
        if i < last or template[i] != "{":
            continue
        end = template.find("}", i)
        name = template[i + 1:end] if end > 0 else ""
        if name in values:
            value = values[name]
            if guessed:   # where the quoting is a guess (quoting.contexts): nothing the shell would read
                value = _PLAIN_ONLY.sub("_", value)
            out += [template[last:i], in_backticks(_quoted(value, quoting), backticks)]
            last = end + 1
    return "".join(out) + template[last:]


_PLAIN_ONLY = re.compile(r"[^\w .,:/@+%-]")   # what a value keeps inside a command substitution


def _quoted(value: str, quote: str | None) -> str:
    if quote == "'":
        return value.replace("'", "'\\''")
    if quote == '"':
        return re.sub(r'([\\"$`])', r"\\\1", value)
    return shlex.quote(value)


# -- the watcher -----------------------------------------------------------------------

class Watcher:
    """Polls checks, sessions, stream branches and requests; `tick()` returns the new alerts."""

    def __init__(self, project, config, git_every: float = 0.0, handed_over: int | None = None) -> None:
        """`git_every`: seconds between looks at the stream branches' commits and conflicts and at the
        worktrees' hooks (each look runs git for every stream, or pair of streams, whose tip moved);
        between them their alerts stand as last seen. 0: on every tick. `handed_over`: the pid of the
        `wta up` whose watcher handed its open alerts over (open_alerts.take_over): announced already."""
        self.project = project
        self.config = config
        self.state_dir = project.repo.state_dir
        self.env = project.env
        self.redact = Redactor(self.env)   # out of the checks' and notify's output, and alerts.log
        self.started = time.time()
        self.active: dict[str, _Condition] = {}
        self.checks = [_CheckState(c.name, c.run, float(c.every), float(c.timeout)) for c in config.checks]
        self.notify = shell.InTurn(self.project.main, layout.path(self.state_dir, layout.NOTIFY_LOG), NOTIFY_TIMEOUT,
                                   self.redact)
        self.sessions = SessionStore(self.state_dir)
        self._by_source: dict[str, dict[str, _Condition]] = {}
        self._audits: dict[str, tuple[tuple, dict[str, _Condition], _Touched]] = {}
        self._descends: dict[tuple[str, str], bool] = {}
        self._merges: dict[tuple[str, str], tuple[tuple, list[str]]] = {}
        self._stall_checked: dict[str, float] = {}
        self._requests_seen: tuple | None = None
        self._closed: dict[str, requests.Request] = {}
        self.git_every = git_every
        self._git_due = 0.0
        self._git_looked: dict[str, dict[str, _Condition]] = {}   # what the git sources found last
        self._open_written = False
        if handed_over is not None:
            for held in open_alerts.take_over(self.state_dir, handed_over):
                self.active[held["key"]] = _Condition(held["stream"], held["state"], held["message"],
                                                      held["clears_as"], held["clear_message"])

    # -- the loop body -------------------------------------------------------------

    def tick(self, full: bool = False) -> list[Alert]:
        """Look once; the alerts that started or cleared since the last tick (each logged and notified).
        `full`: at the git sources too, however recently they were looked at."""
        conditions: dict[str, _Condition] = {}
        conditions.update(self._source("checks", self._check_conditions))
        zones = self._zones(conditions)
        heads = self._source_value("branches", lambda: git.branch_heads(self.project.main, self.env), conditions)
        conditions.update(self._source("sessions", lambda: self._session_conditions(zones)))
        git_due = full or time.monotonic() >= self._git_due
        if git_due:
            self._git_due = time.monotonic() + self.git_every
        conditions.update(self._git_source("hooks", self._hook_conditions, git_due))
        for name, look in (("violations", self._violation_conditions), ("conflicts", self._conflict_conditions),
                           ("requests", self._request_conditions)):
            if zones is None or heads is None:
                conditions.update(self._by_source.get(name, {}))  # cannot look now: nothing has cleared
            elif name == "requests":
                conditions.update(self._source(name, lambda: look(zones, heads)))
            else:
                conditions.update(self._git_source(name, lambda: look(zones, heads), git_due))
        return self._report(conditions)

    def close(self, wait: float = 0.0, hand_over: bool = False) -> None:
        """End every check and notify command still running (no child outlives the watcher), after
        giving the notify commands up to `wait` seconds to finish. `hand_over`: the alerts it holds open
        go to the watcher that takes over (a detached coordinator after Ctrl-C of `wta up`)."""
        self.notify.close(wait)
        for check in self.checks:
            if check.child is not None:
                check.child.kill()
                check.child = None
        if hand_over:
            open_alerts.hand_over(self.state_dir)
        else:
            open_alerts.forget(self.state_dir)

    def __enter__(self) -> "Watcher":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- sources: each returns the conditions that hold now ---------------------------

    def _source(self, name: str, look: Callable[[], dict[str, _Condition]]) -> dict[str, _Condition]:
        """A source's conditions; when it cannot look, its last ones stand and an error alert says why."""
        try:
            found = look()
        except WtaError as exc:
            return {**self._by_source.get(name, {}), **_cannot_watch(name, exc)}
        self._by_source[name] = found
        return found

    def _git_source(self, name: str, look: Callable[[], dict[str, _Condition]], due: bool) -> dict[str, _Condition]:
        """A source that runs git: looked at when `due` (every `git_every` seconds), else as last seen
        (an error alert included, so that it is not reported as cleared in between)."""
        if due or name not in self._git_looked:
            self._git_looked[name] = self._source(name, look)
        return self._git_looked[name]

    def _source_value(self, name: str, look: Callable, conditions: dict[str, _Condition]):
        """What `look()` returns, or None with an error alert added to `conditions`."""
        try:
            return look()
        except WtaError as exc:
            conditions.update(_cannot_watch(name, exc))
            return None

    def _zones(self, conditions: dict[str, _Condition]) -> ZonesInForce | None:
        return self._source_value("zones", lambda: zones_in_force(self.project.repo), conditions)

    def _check_conditions(self) -> dict[str, _Condition]:
        now = time.monotonic()
        found = {}
        for check in self.checks:
            if check.child is not None:
                code = check.child.finished()
                if code is None and check.child.overdue():
                    check.child.kill()
                    check.failure = f"check {check.name} timed out after {check.timeout:g}s"
                    check.child = None
                elif code is not None:
                    check.failure = self._check_failure(check, code) if code else None
                    check.child = None
            if check.child is None and now >= check.next_at:
                check.next_at = now + check.every
                check.child = self._start_check(check)
            if check.failure:
                found[f"check:{check.name}"] = _Condition(
                    f"check:{check.name}", FAILED, check.failure, RECOVERED, f"check {check.name} passes again")
        return found

    def _check_log(self, check: _CheckState) -> str:
        return layout.path(self.state_dir, layout.CHECK_LOG, check=re.sub(r"[^A-Za-z0-9_.-]", "_", check.name))

    def _start_check(self, check: _CheckState) -> shell.Background:
        path = self._check_log(check)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as output:
            return shell.Background(check.run, self.project.main, self.env, output, check.timeout, self.redact)

    def _check_failure(self, check: _CheckState, code: int) -> str:
        try:
            with open(self._check_log(check), "rb") as f:
                lines = [ln for ln in f.read()[-4096:].decode(errors="replace").splitlines() if ln.strip()]
        except OSError:
            lines = []
        last = f": {one_line(lines[-1])[:200]}" if lines else ""
        return f"check {check.name} failed (exit {code}){last}"

    def _session_conditions(self, zones: ZonesInForce | None) -> dict[str, _Condition]:
        streams = list(zones.streams) if zones else list(self.config.streams)
        found = {}
        for stream, record in self.sessions.read_all(streams).items():
            if record is None:
                continue
            # The same reading as the coordinator's and `wta status`: a dead wrapper is a
            # crash, a quiet one a stall, and the record says so from then on.
            due = time.monotonic() - self._stall_checked.get(stream, 0.0) >= STALL_CHECK_EVERY
            if record.live and due:
                self._stall_checked[stream] = time.monotonic()
            record = observe(self.sessions, record, check_stall=due)
            state = record.state
            words = f"session {state}" + (f": {one_line(record.reason)}" if record.reason else "")
            key = f"{_SESSION_KEY}{stream}:{record.started_at or '-'}:{state}"
            # Under `land: auto` a session that ends `done` is `landing` a moment later, before a look every
            # second sees it, and may be handed back or blocked at once: its end is said all the same, once,
            # before what its landing says.
            ended_done = [*record.failed_to_land,
                          *([[record.started_at or "-", record.ended_at]]
                            if state in (LANDING, LANDED) and record.ended_at else [])]
            for started, ended in ended_done:
                found[f"{_SESSION_KEY}{stream}:{started}:{DONE}"] = _Condition(
                    stream, DONE, f"session {DONE}", since=parse_time(ended), **_event(record, started, DONE))
            if state == WAITING and record.waiting_to_land:
                # A person has to act (`wta merge DEP`): say so once, and again when it clears.
                found[_LANDING_KEY.format(stream=stream) + ",".join(record.waiting_to_land)] = _Condition(
                    stream, WAITING, one_line(record.reason or ""), "started", "no longer waiting for a landing")
            elif state in PROBLEM_SESSION_STATES:
                found[key] = _Condition(stream, state, words, RECOVERED, f"session no longer {state}")
            elif state in EVENT_SESSION_STATES:
                # Landed: when it landed, not when its session ended (a coordinator that a killed one's landing
                # was left to finishes it: news to its watcher, though the session ended before it started).
                at = record.landed_at if state == LANDED and record.landed_at else record.ended_at
                found[key] = _Condition(stream, state, words, since=parse_time(at or record.updated_at),
                                        **_event(record, record.started_at or "-", state))
        return found

    def _hook_conditions(self) -> dict[str, _Condition]:
        """Stream worktrees whose commits git no longer runs through wta's hooks."""
        found = {}
        common = self.project.repo.common_dir
        for stream, path in stream_worktrees(self.project.main, common, self.env):
            if not hooks.zone_check_installed(common, path, self.env):
                found[f"hooks:{stream}"] = _Condition(stream, "unchecked",
                                                      hooks.not_installed(common, stream, path, self.env), OK,
                                                      "zone check installed again")
        return found

    def _violation_conditions(self, zones: ZonesInForce, heads: dict[str, git.BranchHead]) -> dict[str, _Condition]:
        base = heads.get(zones.base)
        found: dict[str, _Condition] = {}
        due: dict[str, tuple] = {}   # the streams to audit again, with what they are audited at
        for stream in zones.streams:
            tip = heads.get(zones.branch_for(stream))
            if tip is None or base is None or tip.sha == base.sha:
                continue
            signature = (tip.sha, base.sha, zones.blob, zones.source)
            cached = self._audits.get(stream)
            if cached is not None and cached[0] != signature and cached[2].commits == 0 and \
                    cached[0][0] == tip.sha and self._base_descends(cached[0][1], base.sha):
                # Its tip was in the base already (landed), and the base only moved on: nothing of its own.
                cached = self._audits[stream] = (signature, {}, cached[2])
            if cached is None or cached[0] != signature:
                due[stream] = signature
            else:
                found.update(cached[1])
        # Streams that landed since the last look have no commit of their own: with several to audit,
        # one `for-each-ref --merged` names them instead of a `git log` each.
        landed = git.tips_merged_into(base.sha, cwd=self.project.main, env=self.env) if len(due) > 1 else set()
        for stream, signature in due.items():
            commits = [] if signature[0] in landed else \
                git.commit_changes([f"{signature[1]}..{signature[0]}"], cwd=self.project.main, env=self.env)
            self._audits[stream] = (signature, self._audit(zones, stream, commits), _Touched.of(commits))
            found.update(self._audits[stream][1])
        return found

    def _base_descends(self, old: str, new: str) -> bool:
        """Whether the base at `new` contains the base at `old` (one git look per move of the base)."""
        if old == new:
            return True
        if (old, new) not in self._descends:
            self._descends[(old, new)] = git.is_ancestor(old, new, cwd=self.project.main, env=self.env)
        return self._descends[(old, new)]

    def _touched(self, stream: str, tip: str, base: str) -> "_Touched | None":
        """What the stream's own commits (base..tip) touch, as the last audit found it; None when
        that audit was of another tip or base."""
        cached = self._audits.get(stream)
        return cached[2] if cached is not None and cached[0][:2] == (tip, base) else None

    def _audit(self, zones: ZonesInForce, stream: str, commits: list[git.CommitChanges]) -> dict[str, _Condition]:
        by_commit: dict[str, list] = {}
        for v in audit_commits(zones.zones, stream, commits, self.project.main, self.env):
            by_commit.setdefault(v.commit or "", []).append(v)
        subjects = {c.sha: c.subject for c in commits}
        # A commit without the `[stream]` prefix (`--no-verify`, a cherry-pick) `wta merge` refuses as well.
        unprefixed = [c.sha for c in reversed(commits) if not has_prefix(c.subject, stream)]
        found = {}
        for sha in list(by_commit) + [sha for sha in unprefixed if sha not in by_commit]:
            wrong = [f"has no [{stream}] prefix"] if sha in unprefixed else []
            found_here = by_commit.get(sha, [])
            if found_here:
                paths = ", ".join(f"{quote_path(v.path)} ({v.reason}{' ' + v.owner if v.owner else ''})"
                                  for v in found_here[:_MAX_FILES_SHOWN])
                more = f" and {len(found_here) - _MAX_FILES_SHOWN} more" if len(found_here) > _MAX_FILES_SHOWN else ""
                wrong.append(f"changes {len(found_here)} path(s) outside its zone: {paths}{more}")
            found[f"violation:{stream}:{sha}"] = _Condition(
                stream, "violation",
                f"commit {sha[:10]} {subjects.get(sha, '')!r} {' and '.join(wrong)}; `wta merge` will refuse it "
                "until it is fixed", OK, f"commit {sha[:10]} is no longer on the branch")
        return found

    def _conflict_conditions(self, zones: ZonesInForce, heads: dict[str, git.BranchHead]) -> dict[str, _Condition]:
        base = heads.get(zones.base)
        if base is None:
            return {}
        tips = {s: heads[zones.branch_for(s)].sha for s in zones.streams
                if zones.branch_for(s) in heads and heads[zones.branch_for(s)].sha != base.sha}
        found = {}
        with_base: dict[str, set[str]] = {}
        names = list(tips)
        touched = {s: self._touched(s, tips[s], base.sha) for s in names}
        for stream, tip in tips.items():
            if touched[stream] is not None and touched[stream].commits == 0:
                with_base[stream] = set()
                continue  # the base contains its tip (it has landed): merging it changes nothing
            files = self._merge_conflicts(zones.base, base.sha, stream, tip)
            with_base[stream] = set(files)
            if files:
                found[f"conflict:{stream}:{zones.base}"] = _Condition(
                    stream, "conflict", f"would conflict with {zones.base} on {_files(files)}; "
                    f"`wta merge` will stop there", OK, f"merges cleanly into {zones.base} again")
        for i, a in enumerate(names):
            for b in names[i + 1:]:
                if tips[a] == tips[b]:
                    continue
                if touched[a] is not None and touched[b] is not None and not touched[a].may_collide(touched[b]):
                    continue  # their own commits touch nothing in common: git would merge them cleanly
                # What both already conflict on with the base is reported there, once.
                files = [f for f in self._merge_conflicts(a, tips[a], b, tips[b])
                         if f not in with_base[a] and f not in with_base[b]]
                if files:
                    found[f"conflict:{a}:{b}"] = _Condition(
                        a, "conflict", f"would conflict with stream {b} on {_files(files)}",
                        OK, f"no longer conflicts with stream {b}")
        return found

    def _merge_conflicts(self, left: str, left_sha: str, right: str, right_sha: str) -> list[str]:
        cached = self._merges.get((left, right))
        if cached is None or cached[0] != (left_sha, right_sha):
            cached = ((left_sha, right_sha), git.merge_conflicts(left_sha, right_sha, self.project.main, self.env))
            self._merges[(left, right)] = cached
        return cached[1]

    def _request_conditions(self, zones: ZonesInForce, heads: dict[str, git.BranchHead]) -> dict[str, _Condition]:
        everything = requests.load_all(self.state_dir)
        open_ids = frozenset(r.id for r in everything if r.is_open)
        seen = (open_ids, tuple(sorted((name, h.sha) for name, h in heads.items())))
        if open_ids and seen != self._requests_seen:
            if requests.sync_closures(self.state_dir, zones, self.env):
                everything = requests.load_all(self.state_dir)
        self._requests_seen = (frozenset(r.id for r in everything if r.is_open), seen[1])
        self._closed = {r.id: r for r in everything if not r.is_open}
        found = {}
        for r in everything:
            if r.is_open:
                about = f" about {r.path}" if r.path else ""
                found[f"request:{r.id}"] = _Condition(
                    r.to_stream, "request", f"{r.id} from {r.requester}{about}: {one_line(r.text)}", CLOSED)
        return found

    # -- reporting -------------------------------------------------------------------

    def _report(self, conditions: dict[str, _Condition]) -> list[Alert]:
        at = datetime.now(timezone.utc).isoformat(timespec="seconds")
        alerts = []
        for key, c in conditions.items():
            if key in self.active:
                continue
            self.active[key] = c
            if c.clears_as is None and c.since is not None and c.since < self.started and c.told:
                continue  # it ended before we started watching, and a watcher said so: history, not news
            alerts.append(Alert(key, c.stream, c.state, self.redact.text(c.message), at))
            if c.event is not None:
                try:
                    self.sessions.announce(c.stream, c.event)
                except (OSError, WtaError):
                    pass   # (a full disk: the next watcher may say it again)
        for key in [k for k in self.active if k not in conditions]:
            c = self.active.pop(key)
            if c.clears_as is not None:
                alerts.append(Alert(key, c.stream, c.clears_as, self.redact.text(self._clear_message(key, c)), at,
                                    cleared=True))
        for alert in alerts:
            self._log(alert)
            self._notify(alert)
        if alerts or not self._open_written:
            self._write_open(at)
        return alerts

    def _write_open(self, at: str) -> None:
        """The conditions that hold now and clear by themselves (a failing check, a stalled session, a
        violation, a conflict, an open request), for `wta status` while this watcher runs."""
        held = [{"key": key, "stream": c.stream, "state": c.state, "message": one_line(c.message),
                 "clears_as": c.clears_as, "clear_message": c.clear_message}
                for key, c in self.active.items() if c.clears_as is not None]
        self._open_written = open_alerts.write(self.state_dir, held, at, self.redact, first=not self._open_written)

    def _clear_message(self, key: str, c: _Condition) -> str:
        if key.startswith("request:"):
            closed = self._closed.get(key.split(":", 1)[1])
            by = closed.closed_by if closed else None
            how = "by hand" if by == requests.MANUAL else (f"by commit {by[:10]}" if by else "")
            return one_line(f"{c.message.split(':', 1)[0]} closed {how}")
        return c.clear_message

    def _log(self, alert: Alert) -> None:
        path = layout.path(self.state_dir, layout.ALERTS_LOG)
        os.makedirs(self.state_dir, exist_ok=True)
        # One short append per line: concurrent watchers interleave whole lines.
        with open(path, "ab") as f:
            f.write(self.redact((one_line(alert.log_line()) + "\n").encode("utf-8", "surrogateescape")))

    def _notify(self, alert: Alert) -> None:
        if not self.config.notify:
            return
        values = {"stream": alert.stream, "state": alert.state, "message": one_line(alert.message)}
        env = {**self.env, **{f"WTA_ALERT_{k.upper()}": v for k, v in values.items()}}
        self.notify.run(fill_command(self.config.notify, values), env)


def _event(record, started: str, state: str) -> dict:
    """A session event's id in its record's `announced`, and whether a watcher announced it."""
    event = f"{started}:{state}"
    return {"event": event, "told": record.announced is None or event in record.announced}


def _cannot_watch(source: str, exc: WtaError) -> dict[str, _Condition]:
    return {f"error:{source}": _Condition("wta", "error", f"cannot watch {source}: {one_line(str(exc))}",
                                          OK, f"watching {source} again")}


@dataclass(frozen=True)
class _Touched:
    """The paths a stream's own commits change, their directories, and the directories they
    delete from: whether two streams' merge can conflict without running `git merge-tree`;
    and how many own commits it has (none: the base contains its tip)."""

    paths: frozenset[str]
    directories: frozenset[str]
    deleted_from: frozenset[str]
    commits: int

    @classmethod
    def of(cls, commits: list[git.CommitChanges]) -> "_Touched":
        paths = {change.path for commit in commits for change in commit.changes}
        deleted = {change.path for commit in commits for change in commit.changes if change.status == "D"}
        return cls(frozenset(paths), frozenset(d for p in paths for d in _directories(p)),
                   frozenset(d for p in deleted for d in _directories(p)), len(commits))

    def may_collide(self, other: "_Touched") -> bool:
        """A path both change; a file of one where the other has a directory; or a directory one
        deletes from (a rename, which git may follow into the other's files there) that the other
        changes in. Leans towards yes: then `git merge-tree` decides."""
        return bool(self.paths & other.paths or self.paths & other.directories or other.paths & self.directories
                    or self.deleted_from & other.directories or other.deleted_from & self.directories)


def _directories(path: str) -> list[str]:
    """Every directory above `path` ('a/b/c' -> ['a', 'a/b'])."""
    parts = path.split("/")
    return ["/".join(parts[:i]) for i in range(1, len(parts))]


def _files(files: list[str]) -> str:
    shown = ", ".join(map(quote_path, files[:_MAX_FILES_SHOWN]))
    more = f" and {len(files) - _MAX_FILES_SHOWN} more" if len(files) > _MAX_FILES_SHOWN else ""
    return f"{len(files)} file(s): {shown}{more}"


# -- the watcher of a coordinator (`wta up`, in the foreground or detached) ------------------

NOTIFY_GRACE = 2.0     # seconds the notify commands of the last alerts get to finish when the schedule ends
ALERTS_EVERY = 1.0     # seconds between the watcher's looks at sessions, checks and requests
GIT_ALERTS_EVERY = 5.0  # and at commits outside a zone, conflicts and hooks: git for each stream whose tip
#                         moved, and for each pair of them; while agents commit, that is every stream
ALERTS_SHOWN = 5       # the latest alerts, under `wta up`'s live table


class AlertFeed:
    """The alerts of `wta watch` (docs/coordination.md), looked for every ALERTS_EVERY seconds."""

    def __init__(self, watcher: Watcher) -> None:
        self.watcher = watcher
        self.recent: deque[Alert] = deque(maxlen=ALERTS_SHOWN)
        self.looked = 0.0

    def poll(self, now: bool = False) -> list[Alert]:
        """The alerts new since the last look (none between looks, unless `now`: then a full look)."""
        if not now and time.monotonic() - self.looked < ALERTS_EVERY:
            return []
        self.looked = time.monotonic()
        fresh = self.watcher.tick(full=now)
        self.recent.extend(fresh)
        return fresh

    @classmethod
    def for_schedule(cls, project, config, handed_over: int | None = None) -> "AlertFeed":
        """The feed a coordinator runs while it schedules sessions (in `wta up`, or detached; `handed_over`:
        the pid of the `wta up` that handed it the schedule and its alerts)."""
        return cls(Watcher(project, config, git_every=GIT_ALERTS_EVERY, handed_over=handed_over))

    def close(self, hand_over: bool = False) -> None:
        self.watcher.close(wait=NOTIFY_GRACE, hand_over=hand_over)
