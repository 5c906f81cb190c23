"""Where each stream stands on the git side, collected as data (see docs/status.md).

Cheap by construction: the zones come from the compiled snapshot (no yaml or
pydantic), all branch tips from one `git for-each-ref`, the worktrees from one
`git worktree list`, and each stream costs at most four git calls (ahead/behind,
status, the audit's `git log`, `git merge-tree`), run for all streams at once
in threads.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any

from worktree_agents import git, requests
from worktree_agents.enforce import audit_commits
from worktree_agents.merge import merge_status
from worktree_agents.sessions.supervisor import session_status
from worktree_agents.snapshot import ZonesInForce
from worktree_agents.state import StateStore
from worktree_agents.worktrees import Worktree, list_worktrees

STATUS_VERSION = 1


@dataclass
class StreamStatus:
    stream: str
    branch: str
    worktree: str | None               # the worktree's path (registered, else as recorded)
    worktree_exists: bool
    head: str | None                   # the branch's tip, None when the branch does not exist
    ahead: int | None                  # commits in base..branch
    behind: int | None                 # commits in branch..base
    dirty: int | None                  # changed, staged and untracked files in the worktree
    last_commit: str | None            # committer date of the tip, ISO 8601
    violations: list[dict[str, Any]] = field(default_factory=list)
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


@dataclass
class Status:
    repository: str                    # the main worktree
    base: str
    base_head: str | None
    zones: str                         # where the zones in force come from
    streams: list[StreamStatus]
    merge: dict[str, Any] | None = None  # a `wta merge` under way, stopped or interrupted (merge.merge_status)

    def to_json(self) -> dict[str, Any]:
        return {"version": STATUS_VERSION, **asdict(self)}


def collect(project, zones: ZonesInForce | None = None) -> Status:
    """The status of every stream in the zones in force (and any other stream state.json knows)."""
    zones = zones or project.zones()
    env = project.env
    records = StateStore(project.repo.state_dir).streams()
    heads = git.branch_heads(project.main, env)
    worktrees = [w for w in list_worktrees(project.main, env) if not w.bare]
    by_branch = {w.branch: w for w in worktrees if w.branch}
    by_path = {os.path.realpath(w.path): w for w in worktrees}
    names = list(zones.streams) + [s for s in records if s not in zones.streams]
    base = zones.base
    base_head = heads[base].sha if base in heads else None

    def one(stream: str) -> StreamStatus:
        record = records.get(stream) or {}
        branch = record.get("branch") or f"{zones.branch_prefix}{stream}"
        return _stream_status(project, zones, stream, branch, record, heads, base_head,
                              _worktree_of(branch, record, by_branch, by_path), env)

    workers = min(8, len(names)) or 1
    with ThreadPoolExecutor(max_workers=workers) as pool:
        streams = list(pool.map(one, names))
    sessions = session_status(project.repo.state_dir, names)
    for s in streams:
        s.session = sessions.get(s.stream)
    asked = requests.status_for(project.repo.state_dir, names, zones, env)
    for s in streams:
        s.requests = asked[s.stream]
    return Status(project.main, base, base_head, zones.source, streams, merge_status(project.repo.state_dir))


def _worktree_of(branch: str, record: dict, by_branch: dict[str, Worktree],
                 by_path: dict[str, Worktree]) -> tuple[str | None, Worktree | None]:
    """The stream's worktree path and its registration (None when git no longer has it)."""
    recorded = record.get("worktree")
    if recorded and os.path.realpath(recorded) in by_path:
        return recorded, by_path[os.path.realpath(recorded)]
    if branch in by_branch:
        return by_branch[branch].path, by_branch[branch]
    return recorded, None


def _stream_status(project, zones: ZonesInForce, stream: str, branch: str, record: dict,
                   heads: dict[str, git.BranchHead], base_head: str | None,
                   where: tuple[str | None, Worktree | None], env: dict[str, str]) -> StreamStatus:
    path, registered = where
    exists = registered is not None and not registered.prunable and path is not None and os.path.isdir(path)
    tip = heads.get(branch)
    status = StreamStatus(
        stream, branch, path, exists, tip.sha if tip else None, None, None, None,
        tip.committed_at if tip else None, state=record.get("state"), reason=record.get("reason"),
        created_at=record.get("created_at"), setup=record.get("setup"), record=record)
    if exists:
        status.dirty = len(git.worktree_changes(path, env))
    if tip is None or base_head is None:
        return status
    base = zones.base
    status.ahead, status.behind = git.ahead_behind(base, branch, project.main, env)
    if status.ahead:
        if stream in zones.zones.zones:
            commits = git.commit_changes([f"{base}..{branch}"], cwd=project.main, env=env)
            status.violations = [
                {"commit": v.commit, "path": v.path, "reason": v.reason, "owner": v.owner, "detail": v.detail}
                for v in audit_commits(zones.zones, stream, commits, project.main, env)]
        if status.behind:
            status.conflict_files = git.merge_conflicts(base, branch, project.main, env)
    status.conflicts = bool(status.conflict_files)
    return status
