"""Putting branches and worktrees back after a merge step stopped, failed or was killed.

Two rules:

- A branch moves only by compare-and-swap (`update-ref NEW OLD`), and only
  backwards over commits wta made itself in this run (a rebase's result) or has
  backed up. A branch that moved to anything else while the merge ran (a person
  committed a fix) is left where it is: `put_back` says so, and the merge stops
  that stream, keeping both tips (the branch, and its backup ref).
- A worktree that wta was working in when it was killed is brought back to its
  branch with no manual step: a rebase half-way is undone (or its state
  directory removed when git cannot undo it, such as an empty `rebase-merge`),
  a lock left by a killed git is removed when no process holds it, a detached
  HEAD is put back on the branch, and files a killed checkout half-wrote (or
  had removed to write anew) are put back. Only what wta's own git wrote is
  touched: a file whose content is in none of the commits involved is
  someone's work, and is named instead.
"""

from __future__ import annotations

import os
import shutil
import time
from typing import Any, Iterable, Sequence

from worktree_agents import git
from worktree_agents.errors import WtaError
from worktree_agents.merge.report import listed
from worktree_agents.merge.state import FAST_FORWARD, REBASE, TEST
from worktree_agents.worktrees import registry, submodules
from worktree_agents.worktrees.locks import LOCK_SETTLE_SECONDS, changed, holders


def branch_tip(main: str, branch: str, env: dict[str, str]) -> str | None:
    return git.commit_of(f"refs/heads/{branch}", main, env)


def put_back(main: str, branch: str, target: str, wt: str | None, env: dict[str, str],
             ours: Iterable[str] = (), backed_up: bool = False) -> str | None:
    """Move `branch` back to `target` (its worktree's files too); why it was left where it is, or None.

    `ours`: the tips wta itself gave the branch in this step; `backed_up`: the
    current tip is in a backup ref already. Otherwise a branch at any tip but
    `target` and `ours` moved during the merge, and stays there. A deleted
    branch is created again at `target`.
    """
    ref = f"refs/heads/{branch}"
    current = branch_tip(main, branch, env)
    if current is None:  # deleted: nothing of it can be lost by creating it again
        git.update_refs([(ref, target, git.ZERO_SHA)], "wta merge: restore", cwd=main, env=env)
        current = target
    if wt and os.path.isdir(wt):
        settle_worktree(wt, ref, [target, *ours], env)
    if current != target and current not in ours and not backed_up:
        return (f"{branch} got new commits during the merge (now {current[:12]}); it is left there, its tip from "
                "before the merge is kept in a backup ref")
    if current == target:
        return None
    if wt and os.path.isdir(wt) and head_ref(wt, env) == ref:
        move_checked_out(wt, ref, current, target, env)
    else:
        git.update_refs([(ref, target, current)], "wta merge: restore", cwd=main, env=env)
    return None


def end_test(st: dict) -> None:
    """A merge's `test:` that a killed run left running (its process group, recorded as it started): ended
    before anything goes on, so that two runs of it never overlap in one worktree."""
    from worktree_agents.sessions import process

    if st.get("test_pid") and st.get("test_started"):   # (its group, as long as its leader is the one recorded)
        process.terminate(process.group_members(st["test_pid"], st["test_started"]), grace=2.0)
        # Killed during the test (its step, still): what it wrote is undone here. Killed after it, the run
        # had undone that already, and a git it killed since may hold the worktree's index.
        if st.get("step") == TEST and st.get("worktree") and os.path.isdir(st["worktree"]):
            try:
                undo_test_writes(st["worktree"], set(st.get("test_untracked", [])), git.no_git_env())
            except WtaError:
                pass   # (a lock a killed git left there: the recovery says so as it moves that worktree)
    st.pop("test_pid", None)


def undo_test_writes(wt: str, untracked_before: set[str], env: dict[str, str]) -> None:
    """The stream's worktree as it was before its `test:`: what the test wrote is not the agent's work.
    Left there, it went into the next session's leftovers commit and landed, or stopped every later
    landing as an uncommitted change. Tracked files go back to the commit tested (the worktree was clean
    before: merge.plan.readiness), files it added that git would show go, a repository it made too;
    ignored ones (a build's output) stay."""
    private = registry.worktree_git_dir(wt)
    if git.rebasing(private) or os.path.exists(os.path.join(private, "MERGE_HEAD")):
        return   # a person's rebase or merge under way there since: theirs to finish, nothing to undo
    if git.rev_parse("HEAD", wt, env) is not None and git.tracked_changes(wt, env):
        git.reset_to_head(wt, env)   # (no HEAD: its branch was deleted meanwhile, which the merge names)
    for path in set(git.untracked_files(wt, env)) - untracked_before:
        full = os.path.join(wt, path.rstrip("/"))   # ("fixture/": a repository the test made, listed whole)
        try:
            if os.path.isdir(full) and not os.path.islink(full):
                shutil.rmtree(full)
            else:
                os.unlink(full)
        except OSError:
            pass


def move_checked_out(wt: str, ref: str, old: str, new: str, env: dict[str, str]) -> None:
    """Move the branch checked out in `wt` from `old` to `new` (compare-and-swap), its files with it.

    Local changes are carried over as `git checkout` would; when they are in
    the way nothing moves and the error names them.
    """
    git.update_refs([(ref, new, old)], "wta merge: restore", cwd=wt, env=env)
    proc = git.switch_tree(old, new, wt, env)
    if proc.returncode != 0:
        git.update_refs([(ref, old, new)], "wta merge: restore", cwd=wt, env=env)
        raise WtaError(f"cannot put {ref[len('refs/heads/'):]} back to {new[:12]} in {wt}: "
                       f"{git.reason(proc.stderr)}; commit or stash the changes there, then run the same wta merge "
                       "command again")
    submodules.follow(wt, old, new, env)


def head_ref(wt: str, env: dict[str, str]) -> str:
    """The ref the worktree's HEAD names ('' when detached)."""
    return git.head_ref(wt, env) or ""


def private_dir(wt: str, env: dict[str, str]) -> tuple[str, str]:
    """The worktree's own git dir and the repository's common one, both absolute."""
    dirs = git.git_dirs(wt, env)
    if dirs is None:
        raise WtaError(f"{wt} is no longer a git worktree; run `git worktree repair` in the main worktree, then "
                       "the same wta merge command again")
    return dirs[0], os.path.normpath(os.path.join(wt, dirs[1]))


# -- a worktree left half-way ---------------------------------------------------------------

def settle_worktree(wt: str, ref: str, known: Sequence[str | None], env: dict[str, str],
                    forced: bool = False) -> None:
    """Bring a worktree wta was working in back onto `ref`, with nothing of a killed git left over.

    `known`: commits whose files wta's git may have been writing there. Files
    that differ from HEAD are put back when each one's content is in one of
    them (or missing where git was killed: its checkout removes a file before
    writing it); when one is not, it is someone's work: that stops recovery with its
    name if git was killed there (a lock, a rebase, a detached HEAD, or
    `forced`: wta was checking out there), else it is left for the merge's own
    check of uncommitted changes. A rebase under way there is taken for wta's and
    undone: the caller has stopped first on a person's (`refuse_a_persons_rebase`).
    """
    gitdir, common = private_dir(wt, env)
    registry.defuse_reflogs(wt, common)
    rebasing = git.rebasing(gitdir)
    if rebasing:
        check_own_rebase(wt, gitdir, ref, known)
    locks = [os.path.join(gitdir, n) for n in os.listdir(gitdir) if n.endswith(".lock")]  # index, HEAD, REBASE_HEAD...
    locks += [os.path.join(common, f"{ref}.lock"), os.path.join(common, "packed-refs.lock")]
    killed = clear_stale_locks(locks, wt) or forced
    if rebasing:
        killed = True
        known = [*known, _rebase_head(gitdir)]
        git.abort_rebase(wt, env)
        clear_stale_locks(locks, wt)
        for name in git.REBASE_DIRS:  # git could not undo it (an empty or half-written directory): ours to remove
            shutil.rmtree(os.path.join(gitdir, name), ignore_errors=True)
    if head_ref(wt, env) == "":  # a killed rebase left HEAD detached
        known = [*known, git.rev_parse("HEAD", wt, env)]
        git.point_head(ref, wt, env)
        killed = True
    _restore_files(wt, [k for k in known if k], killed, env)


def undo_stopped_rebase(wt: str, ref: str, tip: str, env: dict[str, str]) -> bool:
    """Put the worktree back on `ref` at `tip` after wta's rebase there stopped on a lock file made after the
    check (worktrees.locks.made_after_the_check), the ref itself never moved; whether it is. Not with `git rebase
    --abort`, which writes the ref too and stops on the same lock: `settle_worktree` removed the lock for it, as a
    killed git's, and the agent that made it made it again, and the landing was tried, and handed back, again."""
    gitdir = registry.worktree_git_dir(wt)
    if branch_tip(wt, ref[len("refs/heads/"):], env) != tip:
        return False
    try:
        if git.rebasing(gitdir):
            check_own_rebase(wt, gitdir, ref, [tip])
            head = git.rev_parse("HEAD", wt, env)
            if head and head != tip and git.switch_tree(head, tip, wt, env).returncode != 0:
                return False
            for name in git.REBASE_DIRS:   # (what `--abort` would remove: it is wta's own rebase, checked above)
                shutil.rmtree(os.path.join(gitdir, name), ignore_errors=True)
        if head_ref(wt, env) != ref:
            git.point_head(ref, wt, env)
    except git.GitError:
        return False
    return git.rev_parse("HEAD", wt, env) == tip and not git.tracked_changes(wt, env)


def check_own_rebase(wt: str, gitdir: str, ref: str, known: Sequence[str | None]) -> None:
    """Stop (WtaError) unless the rebase state in the worktree's private git dir is one a rebase of `ref`
    from a commit wta knows would have written: `git rebase --abort`, which runs outside the sandbox, moves
    the ref its `head-name` names to its `orig-head`, and that directory is the stream's to write (its
    agent, its `test:`). Forged, it would move the base, or any branch, to any commit."""
    for name in git.REBASE_DIRS:
        state = os.path.join(gitdir, name)
        if not os.path.isdir(state):
            continue
        head_name, orig_head = (_state_line(os.path.join(state, f)) for f in ("head-name", "orig-head"))
        if head_name is None or head_name == ref and (orig_head is None or orig_head in known):
            continue   # (one killed as it began names nothing yet: `--abort` can move no ref for it)
        raise WtaError(f"{wt} holds a rebase's state that wta's rebase did not write ({state}: it names "
                       f"{head_name or 'no branch'} at {(orig_head or 'no commit')[:12]}); wta does not undo it: remove "
                       f"that directory (rm -r {state}), then run the same wta merge command again")


def _state_line(path: str) -> str | None:
    try:
        with open(path, encoding="ascii", errors="replace") as f:
            return f.readline().strip() or None
    except OSError:
        return None


def refuse_a_persons_rebase(wt: str, env: dict[str, str]) -> None:
    """Stop, naming it, when a rebase wta did not start is under way in `wt` (a person resolving the
    conflict a merge stopped on): undoing it would lose their work."""
    if git.rebasing(private_dir(wt, env)[0]):
        raise WtaError(f"{wt} is in the middle of a rebase that wta did not start; finish it there (git -C {wt} "
                       f"rebase --continue) or undo it (git -C {wt} rebase --abort), then run the same wta merge "
                       "command again")


def clear_stale_locks(locks: Sequence[str], wt: str, then: str = "run the same wta merge command again") -> bool:
    """Remove the locks a killed git left (whether there were any); a lock a live process holds is named,
    with what to do `then`."""
    found = False
    for lock in locks:
        try:
            age = time.time() - changed(lock)   # (not its mtime: `touch -d 2100-01-01` sets that)
        except OSError:
            continue
        if age < LOCK_SETTLE_SECONDS:
            time.sleep(min(LOCK_SETTLE_SECONDS - age, LOCK_SETTLE_SECONDS))
            if not os.path.exists(lock):
                continue  # a git at work finished with it
        holder = holders([lock]).get(lock)
        if holder is not None:
            raise WtaError(f"{lock} is held by a running process (pid {holder}); let it finish (or end it if no git "
                           f"runs in {wt}), then {then}")
        try:
            os.unlink(lock)
        except FileNotFoundError:
            pass
        found = True
    return found


def _rebase_head(gitdir: str) -> str | None:
    for name in git.REBASE_DIRS:
        try:
            with open(os.path.join(gitdir, name, "orig-head"), encoding="ascii") as f:
                return f.read().strip() or None
        except (OSError, ValueError):
            continue
    return None


def _restore_files(wt: str, known: Sequence[str], killed: bool, env: dict[str, str]) -> None:
    """Put HEAD's files back where a killed git left other commits' files."""
    changed = git.changed_from_head(wt, env)
    untracked = git.untracked_files(wt, env)
    if not changed and not untracked:
        return
    blobs = _blobs_by_path(wt, known, env)
    present = [p for p in [*changed, *untracked] if os.path.lexists(os.path.join(wt, p))]
    hashes = dict(zip(present, git.hash_files(present, wt, env)))
    foreign = [p for p in [*changed, *untracked]
               if (hashes[p] not in blobs.get(p, ()) if p in hashes else not _unlinked(p, blobs, killed))]
    foreign = [p for p in foreign if not _half_written(wt, p, blobs.get(p, ()), env)]
    if foreign and killed:
        raise WtaError(f"{wt} has changes wta did not make: {listed(foreign)}; commit or stash them there, then run "
                       "the same wta merge command again")
    if foreign:
        return  # someone's uncommitted work: the merge's check of the worktree names it
    in_head = git.tree_blobs("HEAD", wt, env) or {}
    for path in [*untracked, *changed]:  # files HEAD does not have: written by the killed checkout
        if path not in in_head and os.path.lexists(os.path.join(wt, path)):
            os.unlink(os.path.join(wt, path))
    git.checkout_head_files(wt, env)


def _unlinked(path: str, blobs: dict[str, set[str | None]], killed: bool) -> bool:
    """Whether a missing file is no one's deletion to keep: a commit wta moved between lacks it, or a killed
    git's checkout removed it to write it anew (it does so before each write, also of a file whose content
    stays when the index's stat data is stale). Putting it back loses nothing: its content is in a commit."""
    return None in blobs.get(path, {None}) or killed and path in blobs


def _half_written(wt: str, path: str, blobs: Iterable[str | None], env: dict[str, str]) -> bool:
    """Whether the file holds the start of one of its known blobs: a write that a kill cut short."""
    full = os.path.join(wt, path)
    if os.path.islink(full) or not os.path.isfile(full):
        return False
    with open(full, "rb") as f:
        data = f.read()
    for blob in blobs:
        if blob is None:
            continue
        content = git.read_blob(blob, wt, env)
        if len(data) < len(content) and content.startswith(data):
            return True
    return False


def _blobs_by_path(wt: str, commits: Sequence[str], env: dict[str, str]) -> dict[str, set[str | None]]:
    """Per path, the blobs it has in any of the commits (None: some commit lacks it)."""
    listings = [entries for entries in (git.tree_blobs(c, wt, env) for c in dict.fromkeys(commits)) if entries]
    found: dict[str, set[str | None]] = {}
    for entries in listings:
        for path, blob in entries.items():
            found.setdefault(path, set()).add(blob)
    for entries in listings:
        for path, blobs in found.items():
            if path not in entries:
                blobs.add(None)
    return found


def settle_worktrees(main: str, st: dict[str, Any], env: dict[str, str], check_only: bool = False) -> None:
    """Clear what a killed git left in the worktrees of this merge (locks, a rebase, half-written files).
    `check_only`: change nothing, only stop on a rebase a person is doing in one of them."""
    heads = git.branch_heads(main, env)
    known = [*st["backups"].values(), *st["produced"], st.get("new_head"), st["base_now"]]
    in_flight = st["status"] == "running" and st.get("step")
    # A run that stopped had undone its own rebase; one that was killed (and maybe aborted since) may have
    # left it, in the worktree of the stream it was rebasing. Any other rebase under way is a person's.
    killed = st["status"] == "running" or st["status"] == "aborting" and st.get("aborted_from", "running") == "running"
    trees = {w.path: w.branch for w in registry.list_worktrees(main, env) if not w.bare and not w.prunable}
    paths = {**st.get("worktrees", {}), **({st["stream"]: st["worktree"]} if st.get("worktree") else {})}
    base_wt = next((path for path, branch in trees.items() if branch == st["base"]), None)
    places = [(where, st["branches"].get(stream), st.get("step") == REBASE and stream == st.get("stream"))
              for stream, where in paths.items()]
    places = [(where, branch, ours) for where, branch, ours in places
              if branch in heads and os.path.isdir(where) and trees.get(where) in (branch, None)]
    for where, _, ours in places + ([(base_wt, st["base"], False)] if base_wt else []):
        if not (killed and ours):
            refuse_a_persons_rebase(where, env)   # before anything is changed anywhere
    if check_only:
        return
    for where, branch, ours in places:
        settle_worktree(where, f"refs/heads/{branch}", [*known, heads[branch].sha], env,
                                 forced=in_flight == REBASE and ours)
    if base_wt:
        settle_worktree(base_wt, f"refs/heads/{st['base']}", [*known, heads[st["base"]].sha], env,
                                 forced=in_flight == FAST_FORWARD)
