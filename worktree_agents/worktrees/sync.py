"""Bringing stream branches up to the base (`wta sync`, and before every session starts).

A session should start from the base as it is now, not as it was when its
worktree was made: a dependent must see what its dependencies landed. So:

- a branch with no commits of its own is moved to the base (a compare-and-swap
  of its ref; the files of its worktree follow, local changes and untracked
  files carried along as `git checkout` carries them, the move refused, nothing
  moved, where it would overwrite one);
- a branch with commits of its own that is behind is rebased onto the base
  inside its worktree, after a backup of its tip under `refs/wta/backup/`
  (copied without `git rebase` where no merge has anything to decide:
  worktrees/replay.py); on a conflict the rebase is aborted and the branch
  stays as it was; one with merge commits of its own gets the base merged in
  instead (a rebase would drop its merges and what they add);
- never while a session runs in that worktree.

Returns data, never prints.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Callable, Sequence

from worktree_agents import git, layout
from worktree_agents.backups import keep_tips
from worktree_agents.errors import WtaError
from worktree_agents.merge.recovery import check_own_rebase, undo_stopped_rebase
from worktree_agents.merge.report import listed
from worktree_agents.quoting import shell_word
from worktree_agents.worktrees import locks, replay, submodules
from worktree_agents.worktrees.registry import checked_out, defuse_reflogs, stream_off_branch, worktree_git_dir
from worktree_agents.zones import check_streams

# What syncing did to a stream.
CURRENT = "current"        # already contains the base
MOVED = "moved"            # no commits of its own: now at the base
REBASED = "rebased"        # its commits now sit on the base
MERGED = "merged"          # it has merge commits of its own: the base was merged into it
CONFLICT = "conflict"      # the rebase conflicts: aborted, branch unchanged
REFUSED = "refused"        # a session runs there, local changes in the way, no branch or no worktree
STOPS = (CONFLICT, REFUSED)


@dataclass
class SyncResult:
    stream: str
    branch: str
    outcome: str
    behind: int = 0                 # commits the base had that the branch lacked
    ahead: int = 0                  # the branch's own commits
    old: str | None = None
    new: str | None = None
    backup: str | None = None       # the ref holding the old tip (rebased only)
    files: list[str] = field(default_factory=list)   # conflicting or uncommitted paths
    detail: str = ""                # one line: why it stopped (or, synced, what is left to do)
    no_branch: bool = False         # refused for having no branch at all: nothing to sync (`wta sync` skips it)

    @property
    def ok(self) -> bool:
        return self.outcome not in STOPS

    def line(self, base: str) -> str:
        """One line for people."""
        if self.ok and self.detail:   # synced, with something left to do (a submodule behind)
            return f"{self._line(base)}; {self.detail}"
        return self._line(base)

    def _line(self, base: str) -> str:
        if self.outcome == CURRENT:
            return f"{self.branch} already contains {base}"
        if self.outcome == MOVED:
            return f"{self.branch} moved to {base} ({self.behind} commit(s) it was behind)"
        if self.outcome == REBASED:
            return (f"{self.branch}: {self.ahead} commit(s) rebased onto {base} ({self.behind} behind before); "
                    f"old tip kept at {self.backup}")
        if self.outcome == MERGED:
            return (f"{self.branch}: {base} merged into it ({self.behind} behind before; it has merge commits of its "
                    f"own, which a rebase would drop); old tip kept at {self.backup}")
        return f"{self.branch} not synced: {self.detail}"


def sync_streams(project, names: Sequence[str] = ()) -> tuple[str, list[SyncResult]]:
    """Bring the named streams (all when none) up to the base; the base and one result per stream."""
    config = project.main_config()
    check_streams(names, list(config.streams))
    base = project.base(config)
    held = checked_out(project.main, project.repo.common_dir, config.branch_for, project.env)
    return base, [sync_stream(project, base, s, config.branch_for(s), held.get(config.branch_for(s)))
                  for s in config.order() if not names or s in names]


def sync_stream(project, base: str, stream: str, branch: str, worktree: str | None,
                session_check: bool = True) -> SyncResult:
    """Bring one stream's branch up to `base`.

    `session_check`: refuse while the stream's session runs (the coordinator,
    which syncs just before starting that session, knows none does).
    """
    env, main, common = project.env, project.main, project.repo.common_dir
    tip = git.tip_of(common, branch, main, env)   # from the ref files: the coordinator syncs before every session
    result = SyncResult(stream, branch, REFUSED, old=tip, new=tip)
    if tip is None:   # (its worktree on the branch's earlier name: `branch_prefix:` changed; the rename)
        result.detail = stream_off_branch(main, common, stream, branch, env) or ""
        if not result.detail:
            result.no_branch = True
            result.detail = f"no branch {branch} yet, nothing to sync (`wta up {stream} --no-launch` makes it)"
        return result
    base_sha = git.tip_of(common, base, main, env)
    if base_sha is None:
        result.detail = f"the base branch {base} does not exist; create it, or name another `base:` in zones.yaml"
        return result
    if tip == base_sha:
        result.outcome = CURRENT
        return result
    result.ahead, result.behind = git.ahead_behind(base_sha, tip, cwd=main, env=env)
    if result.behind == 0:
        result.outcome = CURRENT
        return result
    from worktree_agents.sessions.liveness import running_pid

    pid = running_pid(project.repo.state_dir, stream) if session_check else None
    if pid:
        result.detail = f"its session is running (pid {pid}); it is synced before its next session starts"
        return result
    if worktree is not None:
        if not os.path.isdir(worktree):
            result.detail = f"its worktree {worktree} is missing; recreate it with `wta up {stream} --no-launch`"
            return result
        try:
            finished = replay.finish_move(worktree, branch, _journal(project, stream), env)
        except WtaError as exc:   # cut short, and someone's change there since
            result.detail = str(exc)
            return result
        if finished:   # an earlier sync's, cut short (wta killed, Ctrl-C): the worktree half moved, now done
            again = sync_stream(project, base, stream, branch, worktree, session_check)
            again.detail = "; ".join(filter(None, [finished, again.detail]))
            return again
        if git.rebasing(worktree_git_dir(worktree)):
            result.detail = _rebase_left(worktree)
            return result
    left = locks.branch_locks(common, project.repo.state_dir, project.main_config, stream, branch,
                              worktree_git_dir(worktree) if worktree is not None else None)
    if left:   # (git's raw "Unable to create ...lock", said as a move meanwhile, was no help)
        result.detail = "; ".join(left) + f"; then `wta sync {shell_word(stream)}`"
        return result
    if worktree is not None:
        defuse_reflogs(worktree, common)
        # A move to the base carries local changes along as `git checkout` does (refusing, naming them, where
        # it would overwrite one: _move); a rebase writes the files commit after commit: only a clean worktree.
        dirty = git.tracked_changes(worktree, env) if result.ahead else []
        if dirty:
            result.files = dirty
            result.detail = (f"uncommitted changes in {worktree}: {listed(dirty)}; commit or stash them there "
                             f"(a rebase carries none along), then `wta sync {shell_word(stream)}`")
            return result
    journal = _journal(project, stream)

    def locked(error: str | bytes) -> str | None:   # (made after the check above: a running session can)
        line = locks.made_after_the_check(common, project.repo.state_dir, project.main_config, stream, branch,
                                          worktree_git_dir(worktree) if worktree is not None else None, error)
        return line and f"{line}; then `wta sync {shell_word(stream)}`"

    if result.ahead == 0:
        return _followed(_move(result, base_sha, worktree, main, env, journal, locked), worktree, env)
    if worktree is None:
        result.detail = (stream_off_branch(main, common, stream, branch, env) or
                         f"no worktree has {branch} checked out to rebase it in; `wta up {stream} --no-launch`")
        return result
    return _followed(_rebase(result, base, base_sha, worktree, main, env, journal, locked), worktree, env)


def _journal(project, stream: str) -> str:
    """The file naming a move of the stream's branch while sync makes it (replay.move_branch)."""
    return layout.path(project.repo.state_dir, layout.SYNC_MOVE, stream=stream)


def _followed(result: SyncResult, worktree: str | None, env: dict[str, str]) -> SyncResult:
    """The worktree's submodules brought along (worktrees.submodules), once its files moved."""
    if worktree is not None and result.outcome in (MOVED, REBASED, MERGED):
        behind = submodules.follow(worktree, result.old, result.new, env)
        if behind:
            result.detail = (f"submodule(s) {', '.join(behind)} left at their old commit (the new one is not there); "
                             f"`git submodule update` in {worktree} fetches it")
    return result


def _move(result: SyncResult, base_sha: str, worktree: str | None, main: str, env: dict[str, str],
          journal: str, locked: Callable[[str | bytes], str | None]) -> SyncResult:
    """A branch with no commits of its own: its ref moves to the base only if it is still where we read it.
    `locked(error)`: the line for a lock file git stopped on that no git at work holds, or None."""
    old = result.old
    assert old is not None
    if worktree is not None:   # the files first (refusing rather than overwriting anything local), then the ref
        why = replay.move_branch(worktree, result.branch, old, base_sha, "wta sync: move to the base", env, journal)
    else:
        try:
            git.update_refs([(f"refs/heads/{result.branch}", base_sha, old)], "wta sync: move to the base", cwd=main,
                            env=env)
            why = None
        except git.GitError as exc:
            why = f"{result.branch} moved meanwhile ({exc})"
    line = locked(why) if why else None
    if line:   # (not "moved meanwhile; run it again": it stops every try while it is there)
        result.detail = line
        return result
    if why and worktree is not None and why.startswith(replay.FILES_IN_THE_WAY):
        files = _in_the_way(worktree, old, base_sha, env)
        if files:
            result.files = files
            result.detail = (f"moving it to the base would overwrite local changes or untracked files in {worktree}: "
                             f"{listed(files)}; commit, stash or move them there, then "
                             f"`wta sync {shell_word(result.stream)}` (the branch and its files were not moved)")
            return result
    if why:
        again = (f"move or delete what is in the way there, then `wta sync {shell_word(result.stream)}`"
                 if why.startswith(replay.FILES_IN_THE_WAY) else f"run `wta sync {shell_word(result.stream)}` again")
        result.detail = f"{why}; {again}"
        return result
    result.outcome, result.new = MOVED, base_sha
    return result


def _in_the_way(worktree: str, old: str, new: str, env: dict[str, str]) -> list[str]:
    """The local changes in `worktree` (staged, modified, untracked, ignored too) that a move of its files from
    `old` to `new` would overwrite: at a path the move changes, or at a folder of one, or inside one (a
    file the move puts where a folder of untracked files is). What git's own check refused, said by path."""
    moved = {change.path for change in git.tree_changes(old, new, worktree, env)}
    folders = {path[:i] for path in moved for i, c in enumerate(path) if c == "/"}
    local = dict.fromkeys([*git.tracked_changes(worktree, env), *git.untracked_files(worktree, env, ignored=True)])

    def touched(path: str) -> bool:
        above = [path[:i] for i, c in enumerate(path) if c == "/"]
        return path in moved or path in folders or any(a in moved for a in above)

    return [path for path in local if touched(path)]


def _rebase(result: SyncResult, base: str, base_sha: str, worktree: str, main: str,
            env: dict[str, str], journal: str, locked: Callable[[str | bytes], str | None]) -> SyncResult:
    tip = result.old
    assert tip is not None
    ref = f"refs/heads/{result.branch}"
    result.backup = keep_tips({ref: tip}, "wta sync", main, env)[ref]
    commits = git.commit_changes([f"^{base_sha}", tip], cwd=main, env=env)
    if any(c.merge for c in commits):
        return _merge(result, base, base_sha, worktree, env)
    copied = replay.replay(commits, base_sha, worktree, env)
    why = None if copied is None else \
        replay.move_branch(worktree, result.branch, tip, copied, f"wta sync: rebase onto {base}", env, journal)
    if copied is not None and why is None:
        result.outcome, result.new = REBASED, copied
        return result
    line = locked(why) if why else None
    if line:   # (`git rebase` would do it all again, and stop on it too)
        return _unchanged(result, worktree, env, line)
    proc = git.rebase(base_sha, worktree, env)
    if proc.returncode != 0:
        line = locked(proc.stderr)
        if line and undo_stopped_rebase(worktree, ref, tip, env):   # (`rebase --abort` would stop on it too)
            return _unchanged(result, worktree, env, line)
        if git.rebasing(worktree_git_dir(worktree)):
            result.files = git.unmerged_paths(worktree, env)
            check_own_rebase(worktree, worktree_git_dir(worktree), f"refs/heads/{result.branch}", [tip])
            git.abort_rebase(worktree, env)
            if git.rebasing(worktree_git_dir(worktree)):   # a rebase git could not set up or undo (a full disk)
                result.outcome, result.detail = REFUSED, f"rebasing onto {base} failed; {_rebase_left(worktree)}"
                return result
        return _stopped(result, proc, f"rebasing onto {base}", "rebase", f"git rebase {shell_word(base)}", worktree,
                        env)
    result.outcome, result.new = REBASED, git.rev_parse("HEAD", worktree, env)
    return result


def _rebase_left(worktree: str) -> str:
    """A rebase's state in a worktree: under way, or left half-way by a git that failed (a full disk)."""
    there = shell_word(worktree)
    return (f"its worktree {worktree} holds a rebase's state ({worktree_git_dir(worktree)}/rebase-merge or "
            f"rebase-apply): when you (or its agent) are rebasing there, finish it (git -C {there} rebase "
            f"--continue) or undo it (git -C {there} rebase --abort); otherwise remove that directory (`rebase "
            "--abort` moves the branch its head-name file names, whoever wrote it); then `wta sync`")


def _merge(result: SyncResult, base: str, base_sha: str, worktree: str, env: dict[str, str]) -> SyncResult:
    """The base merged into a branch with merge commits of its own, the merge carrying the stream's prefix."""
    proc = git.merge_into(base_sha, f"[{result.stream}] Merge {base} into {result.branch}", worktree, env)
    if proc.returncode != 0:
        result.files = git.unmerged_paths(worktree, env)
        git.abort_merge(worktree, env)
        return _stopped(result, proc, f"merging {base} into it", "merge", f"git merge {shell_word(base)}", worktree,
                        env)
    result.outcome, result.new = MERGED, git.rev_parse("HEAD", worktree, env)
    return result


def _unchanged(result: SyncResult, worktree: str, env: dict[str, str], line: str) -> SyncResult:
    """Stopped on a lock file (`line`), the branch and its worktree as they were: its backup goes."""
    if result.backup and git.commit_of(f"refs/heads/{result.branch}", worktree, env) == result.old:
        git.update_refs([(result.backup, git.ZERO_SHA, result.old)], "wta sync: nothing changed", worktree, env)
        result.backup = None
    result.outcome, result.detail = REFUSED, line
    return result


def _stopped(result: SyncResult, proc: git.Completed, doing: str, what_git_did: str, by_hand: str,
             worktree: str, env: dict[str, str]) -> SyncResult:
    """A rebase or merge that stopped and was undone (`result.files`: the paths in conflict): the branch
    is as it was, and the line says how to do it by hand. Its backup goes (it kept a tip the branch still
    has: each failed sync had added one to `wta backups`), unless the branch moved meanwhile."""
    if result.backup and git.commit_of(f"refs/heads/{result.branch}", worktree, env) == result.old:
        git.update_refs([(result.backup, git.ZERO_SHA, result.old)], "wta sync: nothing changed", worktree, env)
        result.backup = None
    result.outcome = CONFLICT
    what = f"conflicts in {', '.join(result.files[:5])}" if result.files else _last_line(proc.stderr)
    result.detail = (f"{doing} {what}; the {what_git_did} was aborted and {result.branch} is unchanged: "
                     f"{what_git_did} it by hand in {worktree} (`{by_hand}`)")
    return result


def _last_line(stderr: bytes) -> str:
    lines = stderr.decode(errors="replace").strip().splitlines()
    return lines[-1] if lines else "git failed"
