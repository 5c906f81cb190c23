"""What to merge: the streams in order, their tips and worktrees, the zones in
force, and the checks made on them before anything moves."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Collection, Sequence

from worktree_agents import git, layout, sandbox
from worktree_agents.errors import WtaError
from worktree_agents.files import write_atomic
from worktree_agents.merge.report import (DETACHED, FSCK, GIT_LINK, IN_RESULT, LOCKED, MERGE_COMMITS, REFUSED,
                                          REWORD_ADVICE, TAMPERED, UNCOMMITTED, VERIFY_FAILED, StreamResult, Touch,
                                          listed)
from worktree_agents.quoting import shell_word
from worktree_agents.sessions import liveness
from worktree_agents.worktrees import locks, registry
from worktree_agents.zones import CONFIG_FILE, check_streams, enforce
from worktree_agents.zones.in_force import compile_zones_in_force
from worktree_agents.zones.ownership import ZoneMap, quote_path


@dataclass
class MergePlan:
    main: str
    state_dir: str
    base: str
    base_sha: str
    streams: list[str]                          # selected, in merge order
    branches: dict[str, str]
    tips: dict[str, str | None]                 # None: the branch does not exist
    worktrees: dict[str, str]                   # branch -> worktree that has it checked out
    base_worktree: str | None                   # where the base is checked out, if anywhere
    zones: ZoneMap                              # of the base's committed zones.yaml
    test: str | None
    config: Any                                 # config.Config: the main worktree's zones.yaml


def plan_merge(project, names: Sequence[str], env: dict[str, str], base: str | None = None,
               first: Collection[str] = ()) -> MergePlan:
    """The named streams (all when none) in merge order: `after` dependencies first, then `first`
    (config.Config.order), then file order."""
    config = project.main_config()
    check_streams(names, list(config.streams))
    heads = git.branch_heads(project.main, env)
    if base is None:
        # Whether it has commits: read with the other branches (a base without a commit date is asked about
        # again, and the reason it is none given: unborn, a name close to it, a ref to no commit).
        base = project.base(config, must_exist=False)
        if base not in heads or not heads[base].committed_at:
            project.base(config)
    if base not in heads:
        raise WtaError(f"base branch {base!r} does not exist; create it or set `base:` in zones.yaml")
    if config.test:
        sandbox.require(config.sandbox, CONFIG_FILE)  # before anything moves, not at the first test
    streams = [s for s in config.order(first) if not names or s in names]
    branches = {s: config.branch_for(s) for s in streams}
    checked_out = registry.checked_out(project.main, project.repo.common_dir, config.branch_for, env)
    return MergePlan(
        main=project.main, state_dir=project.repo.state_dir, base=base, base_sha=heads[base].sha,
        streams=streams, branches=branches,
        tips={s: heads[b].sha if b in heads else None for s, b in branches.items()},
        worktrees=checked_out, base_worktree=checked_out.get(base),
        zones=compile_zones_in_force(project.repo, base, project.main).zones, test=config.test, config=config,
    )


def commit_graph(plan: MergePlan, base: str, streams: Sequence[str], env: dict[str, str]) -> git.CommitGraph:
    """Every commit the streams have beyond `base`, from one `git log`."""
    return git.CommitGraph(base, [plan.tips.get(s) for s in streams], cwd=plan.main, env=env)


def boundary(commits: Sequence[git.CommitChanges]) -> set[str]:
    """The parents the stream's commits grow from (outside the stream)."""
    own = {c.sha for c in commits}
    return {p for c in commits for p in c.parents if p not in own}


def git_env() -> dict[str, str]:
    """The environment of every git command of a merge (git's runner reads objects as they
    really are: no replace refs, grafts or commit-graph; `git.ISOLATION`)."""
    return git.no_git_env()


def verify_result(result: StreamResult, plan: MergePlan, base_now: str, new_head: str, env: dict[str, str],
                  changes: Sequence[git.RawChange] | None = None) -> bool:
    """Whether what the base would gain by moving to `new_head` stays in the zone (else `result` says why;
    `changes`: `git.tree_changes(base_now, new_head)`, when the caller has read them)."""
    stray = enforce.audit_result(plan.zones, result.stream, base_now, new_head, plan.main, env, changes)
    if not stray:
        return True
    result.result, result.files, result.cause = VERIFY_FAILED, list(dict.fromkeys(v.path for v in stray)), IN_RESULT
    result.problems = [f"{quote_path(v.path)}: {v.describe()}" for v in stray]
    result.detail = (f"{len(stray)} verification failure(s): {result.branch} on top of {plan.base} would change "
                     "paths outside its zone")
    return False


def verify_objects(result: StreamResult, plan: MergePlan, base: str, tip: str, env: dict[str, str]) -> bool:
    """Whether every object the stream brings is one `git fsck` accepts (else `result` says why).

    The zones judge path strings; a tree entry named `..` or two entries of one
    name would land on the base all the same, and break every checkout and clone
    that checks objects. (Rebased commits are built by git from these and the base's.)
    """
    reason = git.fsck_objects(base, tip, layout.path(plan.state_dir, layout.SCRATCH), cwd=plan.main, env=env)
    if reason is None:
        return True
    result.result, result.problems, result.cause = VERIFY_FAILED, [f"git fsck: {reason}"], FSCK
    result.detail = (f"{result.branch} brings objects git fsck rejects ({reason}); rewrite its commits "
                     "without them")
    return False


def verify(zones: ZoneMap, stream: str, base: str, commits: Sequence[git.CommitChanges],
            cwd: str, env: dict[str, str]) -> tuple[list[str], list[str]]:
    """Every verification failure (one line each) and the paths outside the zone."""
    problems = [f"{c.sha[:12]} {c.subject!r}: no [{stream}] prefix{REWORD_ADVICE}"
                for c in reversed(commits) if not enforce.has_prefix(c.subject, stream)]
    if stream not in zones.zones:
        return problems + [f"stream {stream!r} is not in zones.yaml on {base!r}; commit zones.yaml there first"], []
    violations = enforce.audit_commits(zones, stream, commits, cwd, env)
    problems += [f"{(v.commit or '')[:12]} {quote_path(v.path)}: {v.describe()}" for v in violations]
    return problems, list(dict.fromkeys(v.path for v in violations))


def kept_objects(plan: MergePlan) -> str:
    """Where a landing packs the objects it checked (git.keep_packed): the object store."""
    return os.path.join(layout.common_dir(plan.state_dir), "objects")


def forged_base(plan: MergePlan, base: str, env: dict[str, str]) -> list[str]:
    """The objects of the base's history, loose only (a person's own commits, which no landing brought), that
    no longer hold what their name says, one line each; when none, they are packed where no sandbox writes.

    A sandboxed session can write over a loose object file (same name, other content); a stream rebased
    onto it would land on content nobody made."""
    marker = layout.path(plan.state_dir, layout.PACKED_BASE)   # (the walk stops at the base checked last)
    try:
        with open(marker, encoding="ascii") as f:
            packed = f.read().strip()
    except (OSError, UnicodeDecodeError):
        packed = ""
    packed = packed if len(packed) in (40, 64) and not packed.strip("0123456789abcdef") else ""
    forged = git.unpacked_rewritten(base, kept_objects(plan), plan.main, env, packed=packed or None)
    if not forged and packed != base:
        write_atomic(marker, base + "\n", fsync=False)
    objects = kept_objects(plan)
    return [f"object {oid} of {plan.base}'s history no longer holds what its name says (its loose file "
            f"{os.path.join(objects, oid[:2], oid[2:])} was written over or removed); put the real one back "
            "(`git fsck` names every such object)" for oid in forged]


def merge_commits_refusal(plan: MergePlan, stream: str, commits: Sequence[git.CommitChanges], base: str, tip: str,
                          env: dict[str, str]) -> StreamResult | None:
    """Why a stream with merge commits of its own cannot land on `base` now, or None.

    Such a stream lands as it is when it contains `base` (it merged the base in): no rebase, which
    would drop its merges and what they add (a conflict's resolution, a change made in the merge).
    Under `merge: squash` one that does not is merged onto `base` (Run.squash_merge): nothing to rebase.
    Otherwise it is refused, with the fix.
    """
    merges = [c for c in commits if c.merge]
    if not merges or plan.config.merge == "squash" or git.is_ancestor(base, tip, cwd=plan.main, env=env):
        return None
    branch, merge = plan.branches[stream], merges[-1]
    return StreamResult(stream, branch, REFUSED, commits=len(commits), worktree=plan.worktrees.get(branch),
                        cause=MERGE_COMMITS, problems=[f"{c.sha[:12]} {c.subject!r}" for c in reversed(merges)],
                        detail=f"{branch} has merge commit {merge.sha[:12]} {merge.subject!r} and does not contain "
                               f"{plan.base} at {base[:12]}: a rebase would drop what its merges add; merge "
                               f"{plan.base} into it (git merge {shell_word(plan.base)}) or rebase it yourself, then "
                               "merge again")


def session_refusal(plan: MergePlan, stream: str) -> StreamResult | None:
    pid = liveness.running_pid(plan.state_dir, stream)
    if not pid:
        return None
    return StreamResult(stream, plan.branches[stream], REFUSED,
                        detail=f"its session is running (pid {pid}); wait for it to end or stop it with "
                               f"`wta stop {stream}`")


def readiness(plan: MergePlan, stream: str, env: dict[str, str]) -> StreamResult | None:
    """Why this stream cannot be merged now (session, worktree), or None."""
    branch = plan.branches[stream]
    refused = session_refusal(plan, stream)
    if refused:
        return refused
    unlogged = written_without_git(plan, stream, env)
    if unlogged:
        return StreamResult(stream, branch, REFUSED, detail=unlogged, cause=TAMPERED)
    where = plan.worktrees.get(branch)
    if where is None:
        common = layout.common_dir(plan.state_dir)
        wt = registry.off_branch_worktree(plan.main, common, stream, branch, env)
        if wt is not None:
            return off_branch_result(stream, branch, wt)
        switched = registry.held_by_another_stream(plan.main, common, branch, env)
        return StreamResult(stream, branch, REFUSED, detail=switched or f"no worktree has {branch} checked out; "
                                                                        f"create one with `wta up {stream} --no-launch`")
    try:
        registry.check_git_link(where, layout.common_dir(plan.state_dir))
    except WtaError as exc:   # (the .git file and the worktree's own config are read-only in its sandbox)
        return StreamResult(stream, branch, REFUSED, worktree=where, detail=str(exc), cause=GIT_LINK)
    left = locks.branch_locks(layout.common_dir(plan.state_dir), plan.state_dir, lambda: plan.config, stream,
                              branch, registry.worktree_git_dir(where))
    if left:   # (git would stop on it half-way: a rebase done but for the ref's update)
        return StreamResult(stream, branch, REFUSED, worktree=where, detail="; ".join(left), cause=LOCKED)
    registry.defuse_reflogs(where, layout.common_dir(plan.state_dir))   # before the rebase writes them
    dirty = git.tracked_changes(where, env)
    if dirty:
        return StreamResult(stream, branch, REFUSED, files=dirty, worktree=where,
                            detail=f"{UNCOMMITTED}{where}: {listed(dirty)}; commit or stash them there")
    return None


def written_without_git(plan: MergePlan, stream: str, env: dict[str, str]) -> str | None:
    """Why the stream's branch must not land when its ref was written without git, else None.

    git appends every move of a branch to the branch's reflog. A ref file written
    directly leaves the reflog behind; in the sandbox another stream's agent can do
    that once this stream's own commits have replaced the ref file (docs/security.md),
    but it cannot write this reflog.
    """
    ref, tip = f"refs/heads/{plan.branches[stream]}", plan.tips[stream]
    logged = git.reflog_newest(ref, layout.common_dir(plan.state_dir), plan.main, env) if tip else None
    if logged is None or logged == tip:
        return None
    return (f"{ref} is at {tip[:12]} but its reflog's newest entry is {logged[:12]}: something wrote the ref "
            f"without git (a sandboxed agent of another stream can); check `git log {logged[:12]}..{tip[:12]}`, "
            f"then put the branch back with `git update-ref {shell_word(ref)} {logged}` or record the "
            f"move with `git update-ref {shell_word(ref)} {logged} && git update-ref {shell_word(ref)} {tip}`")


def base_problems(plan: MergePlan, env: dict[str, str]) -> list[str]:
    """What in the base's worktree would stop its fast-forward: uncommitted changes, and untracked
    files that a stream's commits add (git would refuse to overwrite them), and a lock file left at its ref."""
    common = layout.common_dir(plan.state_dir)
    problems = [locks.described(p, f"move {plan.base} (the landing's fast-forward)",
                                "no sandbox writes there: a git that was killed, or is stopped, left it")
                for p in locks.stale([locks.ref_lock(common, plan.base)])]
    if plan.base_worktree is None:
        return problems
    try:
        registry.check_git_link(plan.base_worktree, common)
    except WtaError as exc:
        return [*problems, str(exc)]
    dirty = git.tracked_changes(plan.base_worktree, env)
    if dirty:
        problems.append(f"the base branch {plan.base} is checked out in {plan.base_worktree} with uncommitted "
                        f"changes: {listed(dirty)}; commit or stash them there first")
    # A file at a path a stream adds (or at one of its folders) that the base does not track is untracked
    # there: git refuses to overwrite it unless it is ignored, and then overwrites it without a word (a
    # person's `.env.local`, say). Either way it is the person's, so the landing waits for them to move it.
    for stream in plan.streams:
        tip = plan.tips[stream]
        blocking = in_the_way(plan, tip, env) if tip else []
        if blocking:
            problems.append(f"{stream}: its commits add {listed(blocking)}, untracked in {plan.base_worktree} "
                            f"where {plan.base} is checked out, so the fast-forward would refuse or (an ignored "
                            "file) overwrite it; move or delete the untracked file(s) there first")
    return problems


def in_the_way(plan: MergePlan, tip: str, env: dict[str, str], added: Sequence[str] | None = None) -> list[str]:
    """The files in the base's worktree, untracked (ignored or not), at a path the stream adds or at a
    folder of one. What the base itself added since the stream forked is tracked there, not in the way.
    `added`: the paths `tip` adds (`git.added_paths(plan.base_sha, tip)`), when the caller knows them."""
    wt = plan.base_worktree or ""
    found: list[str] = []
    seen: dict[str, bool] = {}
    candidates = []
    for path in git.added_paths(plan.base_sha, tip, plan.main, env) if added is None else added:
        parts = path.split("/")
        # (Not through a link among its folders: that folder is what is in the way, or the base's own link,
        # which git replaces; the loop below tells which.)
        linked = any(os.path.islink(os.path.join(wt, *parts[:i])) for i in range(1, len(parts)))
        if not linked and os.path.lexists(os.path.join(wt, path)):
            candidates.append(path)
            continue
        for i in range(1, len(parts)):
            folder = "/".join(parts[:i])
            if folder not in seen:
                full = os.path.join(wt, folder)
                seen[folder] = os.path.islink(full) or (os.path.lexists(full) and not os.path.isdir(full))
                if seen[folder]:
                    candidates.append(folder)
            if seen[folder]:
                break
    if not candidates:
        return found
    tracked = set(git.added_paths(tip, plan.base_sha, plan.main, env))   # the base's side since they forked
    folders = {"/".join(p.split("/")[:i]) for p in tracked for i in range(1, p.count("/") + 1)}
    for path in dict.fromkeys(candidates):
        if path in tracked or path in folders or \
                (path in seen and git.rev_parse(f"{plan.base_sha}:{path}", plan.main, env)):
            continue   # the base has it too (a conflict for the rebase to name, not a person's file)
        found.append(path)
    return sorted(found)


def touches(revs: Sequence[str], files: Sequence[str], cwd: str, env: dict[str, str]) -> list[Touch]:
    found = []
    for sha, subject, paths in git.commits_touching(revs, files, cwd=cwd, env=env):
        found.append(Touch(sha[:12], subject, enforce.split_subject(subject)[1], paths))
    return found


def pending_streams(plan: MergePlan, graph: git.CommitGraph, streams: Sequence[str]) -> list[str]:
    """The streams that bring commits of their own, in order."""
    claimed: set[str] = set()
    pending = []
    for stream in streams:
        commits = graph.reachable(plan.tips[stream], claimed)
        if commits:
            pending.append(stream)
            claimed.update(c.sha for c in commits)
    return pending


def refusals(plan: MergePlan, pending: Sequence[str], env: dict[str, str]) -> tuple[list[str], dict[str, StreamResult]]:
    """Check every stream to merge, and the base's worktree, before anything moves."""
    problems = base_problems(plan, env)
    refused = {}
    for stream in pending:
        result = readiness(plan, stream, env)
        if result:
            refused[stream] = result
            problems.append(f"{stream}: {result.detail}")
    for stream, result in work_elsewhere(plan, pending, env).items():
        refused[stream] = result
        problems.append(f"{stream}: {result.detail}")
    return problems, refused


def work_elsewhere(plan: MergePlan, pending: Sequence[str], env: dict[str, str]) -> dict[str, StreamResult]:
    """The streams with nothing to merge on their branch (or no branch of their name) whose worktree is off
    it, on commits the base lacks (a detached HEAD an agent committed on; its own branch under an earlier
    name, after `branch_prefix:` changed): their work is not "nothing to merge"."""
    found = {}
    others = {s: plan.branches[s] for s in plan.streams if s not in pending}   # (readiness sees to the rest)
    off = registry.off_branch_worktrees(plan.main, layout.common_dir(plan.state_dir), others, env)
    for stream, wt in off.items():
        if plan.tips[stream] is None or (wt.head and not git.is_ancestor(wt.head, plan.base_sha, plan.main, env)):
            found[stream] = off_branch_result(stream, others[stream], wt)
    return found


def off_branch_result(stream: str, branch: str, wt: registry.Worktree) -> StreamResult:
    """The refusal of a stream whose worktree `wt` is not on its branch (`registry.off_branch`); DETACHED when
    it has a detached HEAD outside a rebase (its agent can put its work back on its branch itself)."""
    detached = not wt.branch and not git.rebasing(registry.worktree_git_dir(wt.path))
    return StreamResult(stream, branch, REFUSED, detail=registry.off_branch(wt, branch) or "",
                        cause=DETACHED if detached else "")

