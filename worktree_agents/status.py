"""Where each stream stands on the git side, collected as data (see docs/status.md).

Cheap by construction: the zones come from the compiled snapshot (no yaml or
pydantic), all branch tips from one `git for-each-ref`, the worktrees from one
`git worktree list`, every stream's commits beyond the base (counted, and
audited) from one `git log`, and each stream costs at most three git calls
(`git status`, the commits behind, `git merge-tree`), run for all streams at
once in threads. The `git status` of each worktree is by far the dearest (it
looks at every file), so all of them are started first, and the rest is done
while they run.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any

from worktree_agents import git
from worktree_agents.coordination import open_alerts, requests
from worktree_agents.hooks import install as hooks
from worktree_agents.hooks.hooks_path import shared_hooks_path
from worktree_agents.merge.state import merge_status
from worktree_agents.quoting import shell_word
from worktree_agents.repo import unborn_base
from worktree_agents import sandbox
from worktree_agents.sessions import process
from worktree_agents.sessions.liveness import last_activity, observe, session_roots
from worktree_agents.sessions.store import (DONE, LANDED, LANDING, OPEN, PENDING, WAITING, SessionRecord,
                                            SessionStore, iso)
from worktree_agents.sessions.supervisor import coordinator_pid
from worktree_agents.state import StateStore
from worktree_agents.worktrees import locks
from worktree_agents.worktrees.registry import Worktree, check_git_link, list_worktrees, off_branch, worktree_git_dir
from worktree_agents.zones.enforce import audit_commits, has_prefix
from worktree_agents.zones.in_force import ZonesInForce

STATUS_VERSION = 1
ORPHANED = ("not started: no coordinator is scheduling it (the last one ended without finishing the schedule); "
            "`wta up` resumes the schedule")
UNLANDED = ("not landing: no coordinator is landing it (the last one ended without finishing the schedule); "
            "`wta up --land` resumes the schedule, and lands it")   # (a plain `wta up` lands under `land: auto` only)


@dataclass
class StreamStatus:
    stream: str
    branch: str
    worktree: str | None               # the worktree's path (registered, else as recorded)
    worktree_exists: bool
    head: str | None                   # the branch's tip, None when the branch does not exist
    ahead: int | None                  # commits in base..branch
    behind: int | None                 # commits in branch..base
    dirty: int | None                  # changed, staged and untracked files in the worktree (an untracked
    #                                    directory counts once, as `git status` lists it)
    last_commit: str | None            # committer date of the tip, ISO 8601
    violations: list[dict[str, Any]] = field(default_factory=list)
    unprefixed: list[dict[str, str]] = field(default_factory=list)   # commit, subject: its commits without the
    #                                    `[stream]` prefix, which `wta merge` refuses too (the table counts both)
    conflicts: bool | None = None      # would merging into the base conflict now?
    conflict_files: list[str] = field(default_factory=list)
    state: str | None = None           # from state.json: "prepared", "failed", ...
    reason: str | None = None
    created_at: str | None = None
    setup: dict[str, Any] | None = None
    record: dict[str, Any] = field(default_factory=dict)   # the whole state.json record
    session: dict[str, Any] | None = None  # the agent session: state, pid, usage, turns, cost (docs/sessions.md)
    requests: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # open_to, opened_by,
    #                                          closed_recently: requests between streams (docs/coordination.md)
    zone_check: bool | None = None     # does git run wta's hooks in the worktree? None: no worktree
    unchecked: str | None = None       # when it does not: why, and the fix (hooks.not_installed)
    hooks_missing: str | None = None   # the repository's hooks directory (a relative core.hooksPath) that is not
    #                                    in the worktree: its commits run only wta's check
    off_branch: str | None = None      # its worktree is not on its branch: why, and the fix (registry.off_branch)
    locked: list[str] = field(default_factory=list)  # lock files no process holds at its ref or reflog: each
    #                                    with who could have made it and the fix (worktrees.locks)
    alerts: list[dict[str, str]] = field(default_factory=list)  # state, message: what a running watcher holds
    #                                                            open about it (coordination/open_alerts.py)


@dataclass
class Status:
    repository: str                    # the main worktree
    base: str
    base_head: str | None
    zones: str                         # where the zones in force come from
    streams: list[StreamStatus]
    merge: dict[str, Any] | None = None  # a `wta merge` under way, stopped or interrupted (merge.merge_status)
    alerts: list[dict[str, str]] = field(default_factory=list)  # stream, state, message: every open alert of the
    #                                        running watchers (a check's stream is `check:<name>`), the streams' too
    base_unborn: str | None = None     # the base has no commit yet, checked out in the main worktree: what to do

    def to_json(self) -> dict[str, Any]:
        return {"version": STATUS_VERSION, **asdict(self)}


def collect(project, zones: ZonesInForce | None = None) -> Status:
    """The status of every stream in the zones in force (and any other stream state.json knows)."""
    zones = zones or project.base_zones()
    env = project.env
    records = StateStore(project.repo.state_dir).streams()
    worktrees = [w for w in list_worktrees(project.main, env, project.worktree_listing()) if not w.bare]
    by_branch = {w.branch: w for w in worktrees if w.branch}
    by_path = {os.path.realpath(w.path): w for w in worktrees}
    names = list(zones.streams) + [s for s in records if s not in zones.streams]
    branches = {s: (records.get(s) or {}).get("branch") or zones.branch_for(s) for s in names}
    places = {s: _worktree_of(branches[s], records.get(s) or {}, by_branch, by_path) for s in names}
    present = {s: path for s, (path, registered) in places.items() if _exists(path, registered)}
    for path in present.values():
        check_git_link(path, project.repo.common_dir)
    scans = {s: git.start_worktree_changes(path, env, untracked="normal") for s, path in present.items()}
    try:
        heads = git.branch_heads(project.main, env)
        base = zones.base
        base_head = heads[base].sha if base in heads else None
        graph = git.CommitGraph(base_head, [t.sha for b, t in heads.items() if b in branches.values()],
                                cwd=project.main, env=env) if base_head else None

        shared_hooks = shared_hooks_path(project.repo.common_dir) if present else None

        def one(stream: str) -> StreamStatus:
            status = _stream_status(project, zones, stream, branches[stream], records.get(stream) or {}, heads,
                                    graph, places[stream], scans.get(stream), env)
            if stream in present and hooks.repository_hooks_missing(project.main, present[stream], shared_hooks):
                status.hooks_missing = shared_hooks
            return status

        workers = min(8, len(names)) or 1
        with ThreadPoolExecutor(max_workers=workers) as pool:
            streams = list(pool.map(one, names))
    finally:  # reap every scan, also when something failed (`wta watch` calls this in a loop)
        for scan in scans.values():
            scan.wait()
    sessions = session_status(project.repo.state_dir, names)
    for s in streams:
        s.session = sessions.get(s.stream)
        if s.session is not None:
            scan = scans.get(s.stream)
            now = git.worktree_changes_of(scan.wait(), originals=True) if scan is not None else []
            s.session["outside_zone_uncommitted"] = still_uncommitted(s.session["leftovers_outside_zone"], now)
    _waits_for_a_landing(project, streams)
    asked = requests.status_for(project.repo.state_dir, names, zones, env)
    alerts = open_alerts.read(project.repo.state_dir)
    left = locks.reflog_locks(project.repo.common_dir, project.repo.state_dir, zones, names)
    for s in streams:
        s.locked = left.get(s.stream, [])
        s.requests = asked[s.stream]
        s.alerts = [{"state": a["state"], "message": a["message"]} for a in alerts if a["stream"] == s.stream]
    unborn = unborn_base(project.main, base, env) if base_head is None else None
    return Status(project.main, base, base_head, zones.source, streams, merge_status(project.repo.state_dir),
                  alerts, unborn)


def _waits_for_a_landing(project, streams: list[StreamStatus]) -> None:
    """Under `land: manual`, a stream left unstarted by its coordinator (a `wta up --land` killed) whose
    `after` dependencies have not landed: a plain `wta up` resumes the schedule and then waits for `wta merge`
    of them, so the advice names what makes it start."""
    orphaned = [s for s in streams if s.session and s.session["reason"] == ORPHANED]
    if not orphaned:
        return   # the common case: zones.yaml is not read
    from worktree_agents.errors import WtaError

    try:
        config = project.main_config()
    except WtaError:
        return
    if config.land != "manual":
        return   # `wta up` lands them itself
    by_name = {s.stream: s for s in streams}

    def landed(dep: str) -> bool:   # as the schedule tells (sessions.dependencies): on the base, its session over
        there = by_name.get(dep)
        state = (there.session or {}).get("state") if there else None
        return state == LANDED or (state in (DONE, OPEN) and there.ahead == 0)

    for s in orphaned:
        deps = [d for d in config.streams[s.stream].after if not landed(d)] if s.stream in config.streams else []
        if deps:
            s.session["reason"] = orphaned_until_landed(deps)


def orphaned_until_landed(deps: list[str]) -> str:
    """ORPHANED, for a stream that starts only once `deps` have landed (`land: manual`)."""
    landed = f"{', '.join(deps)} {'has' if len(deps) == 1 else 'have'} landed"
    return (f"not started: no coordinator is scheduling it (the last one ended without finishing the schedule), "
            f"and it starts once {landed}; `wta up --land` resumes the schedule and lands them (a plain `wta up` "
            f"waits for `wta merge {' '.join(deps)}`, as `land: manual` says)")


def _worktree_of(branch: str, record: dict, by_branch: dict[str, Worktree],
                 by_path: dict[str, Worktree]) -> tuple[str | None, Worktree | None]:
    """The stream's worktree path and its registration (None when git no longer has it)."""
    recorded = record.get("worktree")
    if recorded and os.path.realpath(recorded) in by_path:
        return recorded, by_path[os.path.realpath(recorded)]
    if branch in by_branch:
        return by_branch[branch].path, by_branch[branch]
    return recorded, None


def _exists(path: str | None, registered: Worktree | None) -> bool:
    return registered is not None and not registered.prunable and path is not None and os.path.isdir(path)


def still_uncommitted(left: list[str], changes: list[str]) -> list[str]:
    """Those of the paths a session `left` uncommitted that the worktree's `git status` (`changes`, an untracked
    directory as one `dir/` entry) still lists: a path since committed, restored or deleted is no longer one."""
    listed = set(changes)
    folders = tuple(c for c in changes if c.endswith("/"))
    return [p for p in left if p in listed or p.startswith(folders)]


def _stream_status(project, zones: ZonesInForce, stream: str, branch: str, record: dict,
                   heads: dict[str, git.BranchHead], graph: git.CommitGraph | None,
                   where: tuple[str | None, Worktree | None], scan: git.Running | None,
                   env: dict[str, str]) -> StreamStatus:
    path, registered = where
    tip = heads.get(branch)
    status = StreamStatus(
        stream, branch, path, scan is not None, tip.sha if tip else None, None, None, None,
        tip.committed_at if tip else None, state=record.get("state"), reason=record.get("reason"),
        created_at=record.get("created_at"), setup=record.get("setup"), record=record)
    try:
        if scan is not None:
            status.zone_check = hooks.zone_check_installed(project.repo.common_dir, path, env)
            if not status.zone_check:
                status.unchecked = hooks.not_installed(project.repo.common_dir, stream, path, env)
                stopped = git.stopped_for_a_person(worktree_git_dir(path))
                if stopped:   # (a worktree `wta merge --abort`'s take-back made, stopped on a conflict: not adopted)
                    status.unchecked = (f"zone check not installed in {stream} ({path}): a {stopped} stopped "
                                        f"half-way there; finish it (git -C {shell_word(path)} {stopped} --continue)")
            status.off_branch = off_branch(registered, branch)
        if tip is not None and graph is not None:
            _compare_with_base(project, zones, stream, branch, graph.reachable(tip.sha), status, env)
    finally:  # read the worktree's `git status` last (it was started first), and always reap it
        if scan is not None:
            status.dirty = len(git.worktree_changes_of(scan.wait()))
    return status


def _compare_with_base(project, zones: ZonesInForce, stream: str, branch: str, own: list[git.CommitChanges],
                       status: StreamStatus, env: dict[str, str]) -> None:
    """Commits ahead (`own`: the branch's commits beyond the base) and behind, the audit's
    violations, and the conflicts with the base now."""
    status.ahead = len(own)
    status.unprefixed = [{"commit": c.sha, "subject": c.subject} for c in reversed(own)
                         if not has_prefix(c.subject, stream)]
    base_ref, branch_ref = f"refs/heads/{zones.base}", f"refs/heads/{branch}"
    status.behind = git.commits_behind(base_ref, branch_ref, project.main, env)
    if own:
        if stream in zones.zones.zones:
            status.violations = [
                {"commit": v.commit, "path": v.path, "reason": v.reason, "owner": v.owner, "detail": v.detail}
                for v in audit_commits(zones.zones, stream, own, project.main, env)]
        if status.behind:
            try:
                status.conflict_files = git.merge_conflicts(base_ref, branch_ref, project.main, env)
            except git.GitError:   # no history in common with the base (a branch made again from nothing)
                status.conflicts = None
                return
    status.conflicts = bool(status.conflict_files)


def _earlier_log(store: SessionStore, stream: str) -> str | None:
    """The log `wta logs` shows of a stream whose record has none (a manual session writes none): its earlier
    sessions' (a run before `--runner manual`), or None."""
    path = store.log_path(stream)
    return path if os.path.exists(path) else None


def session_status(state_dir: str, streams: list[str]) -> dict[str, dict]:
    """Per stream, what `wta status` shows of its session (crashes and stalls recorded on the way)."""
    store = SessionStore(state_dir)
    found: dict[str, SessionRecord] = {}
    for stream in streams:
        record = store.read(stream)
        if record is not None:
            found[stream] = observe(store, record)
    # In a session's sandbox (a pid namespace of its own) neither the coordinator nor a session's processes are seen.
    sandboxed = sandbox.inside()
    if any(r.state in (PENDING, WAITING, LANDING) for r in found.values()) and not sandboxed and \
            coordinator_pid(state_dir) is None:
        # Reported, not recorded: a coordinator that is only being handed over to must still find them.
        for record in found.values():
            if record.state in (PENDING, WAITING, LANDING):
                record.reason = UNLANDED if record.state == LANDING else ORPHANED
    usage = process.usage({s: session_roots(r) for s, r in found.items() if r.live and not sandboxed})
    report = {}
    for stream, record in found.items():
        used = usage.get(stream)
        activity = last_activity(record) if record.live else None
        report[stream] = {
            "state": record.state, "reason": record.reason, "runner": record.runner,
            "sandboxed": record.sandbox is not None, "sandbox": record.sandbox,
            "pid": record.pid if record.live else None,
            "cpu_percent": used.cpu_percent if used else None,
            "memory_bytes": used.memory_bytes if used else None,
            "children": used.children if used else None,
            "turns": record.turns, "cost_usd": record.cost_usd, "cost_simulated": record.cost_simulated,
            "input_tokens": record.input_tokens, "output_tokens": record.output_tokens,
            **record.totals(),   # this schedule's sessions together (follow-ups after failed landings)
            "last_activity": iso(activity) if activity else record.last_activity,
            "started_at": record.started_at, "ended_at": record.ended_at, "exit_code": record.exit_code,
            "permission_denials": len(record.permission_denials),
            "leftovers_committed": record.leftovers_committed,
            "leftovers_outside_zone": record.leftovers_outside_zone,
            "attach": f"wta attach {stream}" if record.tmux and record.live else None,
            "log": record.log or _earlier_log(store, stream),
        }
    return report
