"""A merge run: the steps of each stream (verify, rebase, test, fast-forward),
recorded before each one, and the entry points that start and continue it (merge.abort undoes it)."""

from __future__ import annotations

import os
import stat
import time
from contextlib import nullcontext
from dataclasses import asdict, replace
from typing import Any, Callable, Collection, Sequence

from worktree_agents import git, layout, sandbox, shell
from worktree_agents.backups import backup_ref, new_run_id
from worktree_agents.errors import WtaError
from worktree_agents.merge import recovery
from worktree_agents.merge.abort import finish_abort
from worktree_agents.merge.plan import (MergePlan, boundary, commit_graph, forged_base, git_env, in_the_way,
                                        kept_objects, merge_commits_refusal, pending_streams, plan_merge, refusals,
                                        session_refusal, touches, verify, verify_objects, verify_result,
                                        work_elsewhere)
from worktree_agents.merge.report import (CONFLICT, DELETED, FAILED, LOCKED, MERGED, NO_TEST, NOT_REACHED, NOT_RUN,
                                          PASSED, REFUSED, SKIPPED, STOPS, TAMPERED, TEST_FAILED, UNTRACKED,
                                          VERIFY_FAILED, MergeReport, Progress, StreamResult, explain, hidden_changes,
                                          listed, progress_line, quiet, result_from, timed, untracked_beyond)
from worktree_agents.merge.state import (FAST_FORWARD, IN_FLIGHT, MERGED_STEP, REBASE, STATE_VERSION,
                                         TEST, VERIFY, describe_state, pause, read_state, save_report,
                                         state_path, write_state)
from worktree_agents.quoting import shell_word
from worktree_agents.repo import Repo
from worktree_agents.sessions import process
from worktree_agents.sessions.store import SessionStore
from worktree_agents.state import command_lock
from worktree_agents.worktrees import locks, registry, replay, submodules
from worktree_agents.zones import enforce
from worktree_agents.zones.in_force import zones_in_force

# -- one run ---------------------------------------------------------------------

Landed = Callable[[StreamResult, str], None]   # told of each stream (and the base) as it lands


def _nobody(result: StreamResult, base: str) -> None:
    pass


class Run:
    """A merge under way: the plan, the persisted state, and the steps per stream."""

    def __init__(self, plan: MergePlan, graph: git.CommitGraph, state: dict[str, Any], env: dict[str, str],
                 progress: Progress, landed: Landed = _nobody) -> None:
        self.plan, self.graph, self.state, self.env, self.progress = plan, graph, state, env, progress
        self.landed = landed
        self.claimed: set[str] = set()   # commits merged by earlier streams of this run

    def save(self, step: str, stream: str, **fields: Any) -> None:
        self.state.update(step=step, stream=stream, **fields)
        write_state(self.plan.state_dir, self.state)
        pause(step, stream)

    def drive(self) -> MergeReport:
        st = self.state
        try:
            while st["index"] < len(st["streams"]):
                stream = st["streams"][st["index"]]
                result = self.merge_one(stream)
                st["results"][stream] = asdict(result)
                self.progress(stream, progress_line(result))
                if result.result in STOPS:
                    st["status"] = "stopped"
                    if st.get("keep_stopped", True):
                        write_state(self.plan.state_dir, st)
                    else:
                        os.unlink(state_path(self.plan.state_dir))
                    return self.report("stopped")
                st["index"] += 1
                if result.result == MERGED:
                    moved = (st["base_now"], result.head)
                    st["base_now"] = result.head
                    self.save(MERGED_STEP, stream)
                    self.zones_follow_base(moved)   # sessions may commit on the new base before the run ends
                    self.landed(result, self.plan.base)
        except git.GitError as exc:
            raise WtaError(f"{exc}; the merge state is kept: fix the cause, then `wta merge --continue` "
                           "(or `wta merge --abort`)") from None
        os.unlink(state_path(self.plan.state_dir))
        return self.report("merged")

    def merge_one(self, stream: str) -> StreamResult:
        plan, st, env = self.plan, self.state, self.env
        started = time.monotonic()
        branch, tip, base_now = plan.branches[stream], plan.tips[stream], st["base_now"]
        if tip is None:
            return StreamResult(stream, branch, SKIPPED, detail=f"no branch {branch}")
        commits = self.graph.reachable(tip, self.claimed)
        if not commits:
            return StreamResult(stream, branch, SKIPPED, detail=f"nothing to merge: {branch} has no commits "
                                                                f"beyond {plan.base}")
        # Worktrees were checked just before the run; a session may have started since.
        refused = session_refusal(plan, stream)
        if refused:
            return refused
        wt = plan.worktrees[branch]
        result = StreamResult(stream, branch, MERGED, commits=len(commits), worktree=wt,
                              test=NOT_RUN if plan.test else NO_TEST)
        self.save(VERIFY, stream, start=tip, new_head=None, worktree=wt, commits=len(commits))
        problems, files = verify(plan.zones, stream, plan.base, commits, plan.main, env)
        if problems:
            result.result, result.problems, result.files = VERIFY_FAILED, problems, files
            result.detail = f"{len(problems)} verification failure(s) in {branch}"
            return timed(result, started)
        if not verify_objects(result, plan, base_now, tip, env):
            return timed(result, started)
        ref = f"refs/heads/{branch}"
        if ref not in st["backups"]:
            # A stream that had nothing to merge when the run began.
            git.update_refs([(backup_ref(st["run_id"], ref), tip, None)], "wta merge: backup", cwd=plan.main, env=env)
            st["backups"][ref] = tip
        elif tip != st["backups"][ref]:
            # Work added after an earlier stop: back it up too before rewriting it.
            git.update_refs([(backup_ref(st["run_id"], ref, "retry"), tip, None)], "wta merge: backup",
                            cwd=plan.main, env=env)
        new_head = tip
        refused = merge_commits_refusal(plan, stream, commits, base_now, tip, env)
        if refused is not None:
            return timed(refused, started)
        merges = any(c.merge for c in commits)
        squashed = plan.config.merge == "squash" and merges and \
            not git.is_ancestor(base_now, tip, cwd=plan.main, env=env)
        if squashed:
            # (No rebase, which would drop what its merges add: its work merged onto the base, in one commit.)
            self.save(REBASE, stream)
            self.progress(stream, f"squashing {len(commits)} commit(s) onto {plan.base}")
            new_head = self.squash_merge(result, tip, base_now, commits)
            if new_head is None:
                return timed(result, started)
            submodules.follow(wt, tip, new_head, env)
        elif boundary(commits) != {base_now} and not merges:
            # (A stream with merge commits gets here only when it contains the base: it lands as it is.)
            self.save(REBASE, stream)
            self.progress(stream, f"rebasing {len(commits)} commit(s) onto {plan.base}")
            new_head = self.rebase(result, tip, base_now, commits)
            if new_head is None:
                return timed(result, started)
            submodules.follow(wt, tip, new_head, env)   # (however the worktree moved: copied or rebased)
        net = git.tree_changes(base_now, new_head, cwd=plan.main, env=env)   # (the fast-forward reads it too)
        if not verify_result(result, plan, base_now, new_head, env, net):
            if new_head != tip:
                self.restore(result, tip, ours=[new_head])
            return timed(result, started)
        if plan.config.merge == "squash" and not squashed:
            new_head = self.squash(stream, branch, base_now, new_head)
            net = None   # (of the commit squashed)
            if new_head == base_now:
                result.detail = f"its commits add up to no change on {plan.base}: nothing to land"
        st["produced"].append(new_head)
        if new_head == tip:
            # Landed as the person left it (rebased onto the base by hand): their commits, not the merge's.
            st.setdefault("as_is", []).append(tip)
        self.save(TEST, stream, new_head=new_head)
        if plan.test and not st["no_test"]:
            if not self.run_test(result, wt):
                self.restore(result, tip, ours=[new_head])
                return timed(result, started)
        if git.tip_of(layout.common_dir(plan.state_dir), branch, plan.main, env) != new_head:
            # Moved or deleted while it was tested: what lands must be what was tested.
            self.restore(result, tip, ours=[new_head])
            if result.result == MERGED:
                self.deleted(result, tip)
            return timed(result, started)
        # (Kept packed when none was: from here on a loose file written over is not what git reads.)
        parents: dict[str, list[str]] = {}
        rewritten = git.rewritten_objects(base_now, new_head, plan.main, env, keep=kept_objects(plan), parents=parents)
        if rewritten:
            # Written over in the object store after the checks (a sandboxed process can write there).
            self.restore(result, tip, ours=[new_head])
            result.result, result.cause = VERIFY_FAILED, TAMPERED
            result.problems = [f"object {oid} no longer holds what its name says" for oid in rewritten]
            result.detail = (f"{branch}: {len(rewritten)} object(s) it brings were written over after they were "
                             f"checked (first {rewritten[0][:12]}): not landed; `git fsck` names them, and the "
                             "stream's commits must be made again without them")
            return timed(result, started)
        self.save(FAST_FORWARD, stream)
        blocked = self.fast_forward(new_head, net, git.descends_from(base_now, new_head, parents))
        if blocked:
            self.restore(result, tip, ours=[new_head])
            if result.result == MERGED:
                result.result, result.detail, result.base_in_the_way = REFUSED, blocked, True
            else:
                result.problems.insert(0, blocked)
            return timed(result, started)
        self.claimed.update(c.sha for c in commits)
        result.head = new_head
        SessionStore(plan.state_dir).close_open(stream, f"merged into {plan.base}")
        return timed(result, started)

    def squash(self, stream: str, branch: str, onto: str, rebased: str) -> str:
        """One commit with the rebased stream's tree on `onto`, listing the subjects of the commits that
        the rebase kept (not those already on the base); the stream's branch moves to it. When they add up
        to no change (all on the base already, or undone within the stream), nothing: `onto` itself.

        The worktree's files stay as they are: the tree is the one checked out there.
        """
        env, main = self.env, self.plan.main
        tree = git.tree_of(rebased, main, env)
        if tree == git.tree_of(onto, main, env):
            if rebased != onto:
                git.update_refs([(f"refs/heads/{branch}", onto, rebased)], "wta merge: squash (no change)",
                                cwd=main, env=env)
            return onto
        kept = git.commits_not_in(onto, [rebased], main, env)
        squashed = self.squash_commit(stream, tree, onto, [subject for _, subject in reversed(kept)])
        git.update_refs([(f"refs/heads/{branch}", squashed, rebased)], "wta merge: squash", cwd=main, env=env)
        return squashed

    def squash_commit(self, stream: str, tree: str, onto: str, subjects: Sequence[str]) -> str:
        """The `[stream]` commit of `tree` on `onto` that lists `subjects` (oldest first)."""
        subjects = [enforce.split_subject(subject)[2] or subject for subject in subjects]
        summary = subjects[0] + (f" (and {len(subjects) - 1} more)" if len(subjects) > 1 else "")
        body = "\n".join(f"- {s}" for s in subjects)
        return git.commit_tree(tree, [onto], f"[{stream}] {summary}\n\n{body}\n", cwd=self.plan.main,
                               env=self.env, as_commit=True)

    def squash_merge(self, result: StreamResult, tip: str, onto: str,
                     commits: Sequence[git.CommitChanges]) -> str | None:
        """A stream with merge commits of its own that lacks `onto` (a stream landed ahead of it in this
        run), squashed: its work merged onto `onto` with a three-way merge (`git merge-tree`, in the
        object store), one commit of the result listing its commits (not its merges); its branch and
        worktree move to it. `onto` itself when that adds up to no change. None when the merge conflicts
        or the worktree cannot move (`result` says why): nothing moved then."""
        plan, env, wt, branch = self.plan, self.env, result.worktree, result.branch
        assert wt is not None
        tree, conflicted = git.merge_tree(onto, tip, cwd=plan.main, env=env)
        if conflicted:
            result.result, result.files = CONFLICT, conflicted
            result.touched_by = touches([f"^{tip}", onto], conflicted, plan.main, env)
            result.detail = f"squashing {branch} onto {plan.base} conflicts in {listed(conflicted)}"
            return None
        if tree == git.tree_of(onto, plan.main, env):
            new_head = onto
            result.detail = f"its commits add up to no change on {plan.base}: nothing to land"
        else:
            own = [c.subject for c in reversed(commits) if not c.merge] or [commits[0].subject]
            new_head = self.squash_commit(result.stream, tree, onto, own)
        self.state["new_head"] = new_head   # (before the worktree moves: recovery after a kill knows it)
        write_state(plan.state_dir, self.state)
        why = replay.move_branch(wt, branch, tip, new_head, f"wta merge: squash onto {plan.base}", env)
        if why and self.locked(result, why, tip):
            return None
        if why:
            result.result = REFUSED
            result.detail = f"cannot move {branch} to its squashed commit {new_head[:12]}: {why}"
            if git.tip_of(layout.common_dir(plan.state_dir), branch, plan.main, env) != tip:
                result.branch_moved = True
                result.detail = f"{branch} got new commits during the merge; `wta merge --continue` verifies them"
            return None
        return new_head

    def rebase(self, result: StreamResult, tip: str, onto: str, commits: Sequence[git.CommitChanges]) -> str | None:
        """Rebase the stream in its worktree; its new head, or None (result says why).

        Copied without `git rebase` where no merge has anything to decide (`worktrees.replay`):
        the new commits are recorded before the worktree moves, so that recovery after a kill
        knows them."""
        plan, env, wt, branch = self.plan, self.env, result.worktree, result.branch
        assert wt is not None
        copied = replay.replay(commits, onto, wt, env)
        if copied is not None:
            self.state["new_head"] = copied
            write_state(plan.state_dir, self.state)
            why = replay.move_branch(wt, branch, tip, copied, f"wta merge: rebase onto {plan.base}", env)
            if why is None:
                return copied
            if git.tip_of(layout.common_dir(plan.state_dir), branch, plan.main, env) != tip:
                self.restore(result, tip, ours=[copied])   # moved meanwhile: left there, and the stream stops
                if result.result == MERGED:
                    self.deleted(result, tip)
                return None
            if self.locked(result, why or "", tip):   # (`git rebase` would do it all again, and stop on it too)
                return None
            # Files in the way: `git rebase` says what it makes of them.
        proc = git.rebase(onto, wt, env)
        if proc.returncode != 0:
            if self.locked(result, proc.stderr, tip):
                return None
            conflicted = git.unmerged_paths(wt, env)
            applying_sha = git.rev_parse("REBASE_HEAD", wt, env) or ""
            self.restore(result, tip)
            if result.result == REFUSED:
                return None
            if conflicted:
                result.result, result.files = CONFLICT, conflicted
                result.touched_by = touches([f"^{tip}", onto], conflicted, plan.main, env)
                commit = self.graph.commits.get(applying_sha)
                during = f" while applying {applying_sha[:12]} {commit.subject!r}" if commit else ""
                result.detail = f"rebasing {branch} onto {plan.base} conflicts in {listed(conflicted)}{during}"
            else:
                result.result = REFUSED
                result.detail = f"git rebase failed in {wt}: {git.reason(proc.stderr) or f'exit {proc.returncode}'}"
            return None
        new_head, orig = git.rev_parse_all(["HEAD", "ORIG_HEAD"], wt, env) or (None, None)
        if orig != tip or new_head is None:
            # Someone committed while we merged: those commits were not verified.
            self.restore(result, orig, ours=[new_head])
            result.result, result.branch_moved = REFUSED, True
            result.detail = f"{branch} got new commits during the merge; `wta merge --continue` verifies them"
            return None
        landed = git.count_commits(onto, new_head, wt, env)
        if landed < len(commits):   # dropped by the rebase: their changes are on the base already
            result.commits = landed
            left = len(commits) - landed
            result.detail = f"{left} commit{'s' if left > 1 else ''} of {branch} already on {plan.base}: left out"
        return new_head

    def locked(self, result: StreamResult, error: str | bytes, tip: str) -> bool:
        """Whether the git that moved the stream's branch (or worked in its worktree) failed on a lock file made
        after the check (`error`: what it said), one no git at work holds: a running session of another stream
        can make `refs/heads/<its branch>.lock` while the landing rebases. Then it stops here, its branch and
        worktree back at `tip` with the lock left where it is, refused as a person's (LOCKED: blocked under
        `land: auto`, not handed back nor tried again), naming the file and the sandboxes that could have made it.
        A lock a git of the person's held for a moment is none of that: the failure goes on as git's."""
        plan, wt = self.plan, result.worktree
        assert wt is not None
        line = locks.made_after_the_check(layout.common_dir(plan.state_dir), plan.state_dir, lambda: plan.config,
                                          result.stream, result.branch, registry.worktree_git_dir(wt), error)
        if line is None:
            return False
        if not recovery.undo_stopped_rebase(wt, f"refs/heads/{result.branch}", tip, self.env):
            self.restore(result, tip)   # (as after a killed git: its locks cleared, `git rebase --abort`)
        if not result.branch_moved:
            result.result, result.cause, result.detail = REFUSED, LOCKED, line
        return True

    def run_test(self, result: StreamResult, wt: str) -> bool:
        plan = self.plan
        log = layout.path(plan.state_dir, layout.MERGE_TEST_LOG, run_id=self.state["run_id"], stream=result.stream)
        os.makedirs(os.path.dirname(log), exist_ok=True)
        head = self.state["new_head"]
        unlike, untracked = git.files_unlike(head, wt, layout.path(plan.state_dir, layout.SCRATCH), self.env)
        unlike = [(path, how) for path, how in unlike
                  if not (how == "D" and plan.config.sparse and _absent(wt, path))]   # (a sparse worktree lacks files)
        if unlike:
            result.result, result.files = REFUSED, [path for path, _ in unlike]
            result.detail = hidden_changes(wt, head, result.files)
            return False
        if untracked:
            # The test would pass on a file never committed (a module never `git add`ed), and the base break.
            result.result, result.files, result.cause = REFUSED, untracked, UNTRACKED
            result.detail = untracked_beyond(wt, head, untracked)
            return False
        # (Said once the worktree's files were found to be the commit's: a stream refused above is not tested.)
        self.progress(result.stream, f"testing: {plan.test}")
        jail = sandbox.for_config(plan.config, plan.main, layout.common_dir(plan.state_dir), result.stream, wt)
        with open(log, "wb") as out:
            code = shell.run(plan.test or "", wt, shell.stream_env(plan.config, result.stream, wt, self.env), out,
                             jail, started=self.test_started)
        recovery.undo_test_writes(wt, set(), self.env)   # (nothing was untracked but ignored files, which stay)
        for key in ("test_pid", "test_started", "test_untracked"):   # it ended: nothing of it to end or undo
            self.state.pop(key, None)
        result.test_log = log
        if code == 0:
            result.test = PASSED
            return True
        result.result, result.test = TEST_FAILED, FAILED
        result.detail = f"`{plan.test}` exited {code} in {wt} (log: {log})"
        return False

    def test_started(self, pgid: int) -> None:
        """Recorded, so that whatever ends this run half-way (SIGKILL, `wta stop`) leaves no test behind:
        the next `--continue`, `--abort` or `wta stop` ends it (recovery.end_test)."""
        self.state.update(test_pid=pgid, test_started=process.create_time(pgid))
        write_state(self.plan.state_dir, self.state)

    def fast_forward(self, new_head: str, net: Sequence[git.RawChange] | None = None,
                     descends: bool | None = None) -> str | None:
        """Move the base to `new_head` (its worktree's files too); why not, or None. `net`: the changes from
        the base's tip to `new_head` (`git.tree_changes`), read for the stream's checks; `descends`: whether
        `new_head` descends from it, as the check of the objects it brings found (`git.descends_from`)."""
        plan, env, old = self.plan, self.env, self.state["base_now"]
        ref, common = f"refs/heads/{plan.base}", layout.common_dir(plan.state_dir)
        # Only ever to a descendant of the tip everything was verified against, and only from that tip.
        if descends is None:
            descends = git.is_ancestor(old, new_head, cwd=plan.main, env=env)
        if not descends:
            return f"{new_head[:12]} does not descend from {plan.base} at {old[:12]}, so it is no fast-forward"
        where = plan.base_worktree
        if where is None:
            try:
                git.update_refs([(ref, new_head, old)], "wta merge: fast-forward", cwd=plan.main, env=env)
            except git.GitError as exc:
                return f"cannot move {plan.base}: {exc}"
            return None
        if not git.has_checked_out(where, ref, common, env):
            return f"{where} no longer has {plan.base} checked out; check it out again, then `wta merge --continue`"
        now = git.tip_of(common, plan.base, plan.main, env)
        if now != old:
            return (f"cannot fast-forward {plan.base}: it moved during the merge (to {(now or 'nothing')[:12]}; the "
                    f"stream was verified on {old[:12]}); `wta merge --continue` verifies it again on the new tip")
        # What `new_head` adds: it descends from `old` (checked above), so the added entries of the net change
        # that the checks read of these same two commits (every object `new_head` brings was found unchanged
        # since: rewritten_objects). Not where a submodule changes: `git diff` (added_paths) leaves out one
        # that .gitmodules says to ignore, so git is asked, as before.
        added = None if net is None or any(replay.SUBMODULE in (c.old_mode, c.new_mode) for c in net) else \
            [c.path for c in net if c.status == "A"]
        # A file a person put there since the merge began (during a test), where the stream adds one:
        # `read-tree` would refuse it, or overwrite it without a word when it is ignored.
        blocking = in_the_way(replace(plan, base_sha=old), new_head, env, added)
        if blocking:
            return (f"cannot fast-forward {plan.base} in {where}: it would overwrite {listed(blocking)}, untracked "
                    "there (put there during the merge); move or delete it there first")
        # The files and index first, then the base's ref alone, by compare-and-swap: `git merge --ff-only`
        # moved whatever branch was checked out there by the time it ran (a person's new branch).
        why = replay.move_branch(where, plan.base, old, new_head, "wta merge: fast-forward", env)
        if why and why.startswith(f"{replay.FILES_IN_THE_WAY} {where}: "):
            return f"cannot fast-forward {plan.base} in {where}: {why[len(f'{replay.FILES_IN_THE_WAY} {where}: '):]}"
        if why:
            return f"cannot fast-forward {plan.base}: {why}"
        if not git.has_checked_out(where, ref, common, env):
            # Switched to another branch (or commit) there meanwhile: the move of its files undone where it is
            # exact, a checkout of the same commit (`git switch -c hotfix`). Elsewhere it changed only the files
            # that checkout had as the base had them, and they are left: undone, they could lose its own.
            if git.commit_of("HEAD", where, env) == old:
                git.switch_tree(new_head, old, where, env)
            return None
        submodules.follow(where, old, new_head, env)
        # The base is the verified head now. A commit someone made on top of it since is
        # theirs to keep: the next stream's compare-and-swap above stops the run there.
        now = git.tip_of(common, plan.base, plan.main, env)
        if now != new_head and not (now and git.is_ancestor(new_head, now, cwd=plan.main, env=env)):
            return (f"{plan.base} is at {(now or 'nothing')[:12]} after the fast-forward, not at the verified "
                    f"{new_head[:12]}; put it back with `git update-ref {shell_word(ref)} {old}`, then "
                    "`wta merge --continue`")
        return None

    def deleted(self, result: StreamResult, tip: str) -> None:
        """The stream's branch was deleted while it was merged (and is put back at `tip`): refused. A landing
        (keep_stopped=False) keeps no merge to `--continue`; its stream is a person's (sessions.landing)."""
        result.result, result.cause = REFUSED, DELETED
        if self.state.get("keep_stopped", True):
            result.detail = (f"{result.branch} was deleted during the merge; it is back at {tip[:12]}, its tip from "
                             "before the merge; `wta merge --continue` merges it")
        else:   # (by a person, its `test:`, or a sandboxed agent of another stream: none of it the agent's)
            result.detail = (f"{result.branch} was deleted while it landed (by a person, by its `test:` or by "
                             f"another stream's agent); it is back at {tip[:12]}, its tip from before")

    def restore(self, result: StreamResult, target: str, ours: Sequence[str] = ()) -> None:
        """Put the stream's branch back at `target`; if it moved meanwhile, leave it and stop the stream."""
        moved = recovery.put_back(self.plan.main, result.branch, target, result.worktree, self.env, ours=ours)
        if moved:
            if result.detail:
                result.problems.insert(0, result.detail)
            backup = backup_ref(self.state["run_id"], f"refs/heads/{result.branch}")
            result.result, result.branch_moved = REFUSED, True
            result.detail = f"{moved} ({backup}); `wta merge --continue` verifies the new commits"

    def report(self, status: str) -> MergeReport:
        plan, st = self.plan, self.state
        results = [result_from(st["results"][s]) if s in st["results"] else
                   StreamResult(s, plan.branches[s], NOT_REACHED) for s in st["streams"]]
        report = MergeReport(status, status == "merged", plan.base, st["base_start"], st["base_now"],
                             st["run_id"], streams=results)
        if status == "stopped":
            stopped = results[st["index"]]
            report.problems, report.advice = explain(stopped, plan.base, plan.test)
        save_report(plan.state_dir, report)
        if st["base_now"] != st["base_start"]:
            # Also when it moved before this run went on (a killed run's fast-forward, a person's
            # commit); after a landing above, the cache is current and this only reads it.
            self.zones_follow_base()
        return report

    def zones_follow_base(self, moved: tuple[str, str] | None = None) -> None:
        """The base moved (a stream landed): bring the hooks' compiled zones and zones.fast (which hold
        its tip) up to it now, from outside every sandbox; a sandboxed session cannot rewrite them, and
        its commits would otherwise each go to the hook's Python until someone outside did. `moved`:
        (old, new) of a landing, which was verified not to change zones.yaml (read-only to every stream)."""
        common = layout.common_dir(self.plan.state_dir)
        try:
            zones_in_force(Repo(common, common), moved)
        except WtaError:
            pass  # only a cache: each hook works the zones out itself meanwhile


# -- entry points ------------------------------------------------------------------

def _absent(worktree: str, path: str) -> bool:
    """Whether `path` is missing from `worktree` as a sparse checkout leaves it: no file there, and each of its
    folders that exists a real one. (git says "deleted" too of a file behind a folder made a link, which the
    test reads through that link: another file than lands, in a place the temp dir may hold.)"""
    parts, where = path.split("/"), worktree
    for part in parts[:-1]:
        where = os.path.join(where, part)
        try:
            if not stat.S_ISDIR(os.lstat(where).st_mode):
                return False
        except FileNotFoundError:
            return True
    return not os.path.lexists(os.path.join(where, parts[-1]))


def merge_streams(project, names: Sequence[str] = (), no_test: bool = False,
                  progress: Progress = quiet, keep_stopped: bool = True, command: str = "wta merge",
                  lock_wait: float | None = None, locked: bool = False, landed: Landed = _nobody,
                  first: Collection[str] = (), begun: Callable[[Sequence[str], str], None] | None = None
                  ) -> MergeReport:
    """Merge the named streams (all when none) into the base, in order (plan_merge; `first`: the streams
    that go before the others where `after` leaves the order free).

    `keep_stopped=False` (an automatic landing, which hands the failure back
    to the stream's agent): a run that stops ends there, with nothing left to
    `--continue`; the stopped stream's branch is restored as always.
    `locked`: the caller holds the command lock already (an automatic landing).
    `begun(streams, base)`: told once nothing stands in the way and the run begins, with the streams it lands.
    """
    env = git_env()
    state_dir = project.repo.state_dir
    with nullcontext() if locked else command_lock(state_dir, command, timeout=lock_wait):
        existing = read_state(state_dir)
        if existing is not None:
            raise WtaError(f"a {describe_state(existing)}; run `wta merge --continue` to finish it or "
                           "`wta merge --abort` to undo it")
        plan = plan_merge(project, names, env, first=first)
        graph = commit_graph(plan, plan.base_sha, plan.streams, env)
        pending = pending_streams(plan, graph, plan.streams)
        if not pending and not work_elsewhere(plan, pending, env):
            return MergeReport("nothing", True, plan.base, plan.base_sha, plan.base_sha, streams=[
                StreamResult(s, b, SKIPPED, detail=f"nothing to merge beyond {plan.base}" if plan.tips[s]
                             else f"no branch {b}") for s, b in plan.branches.items()])
        problems, refused = refusals(plan, pending, env)
        problems += forged_base(plan, plan.base_sha, env)
        if problems:
            return MergeReport("refused", False, plan.base, plan.base_sha, plan.base_sha, problems=problems,
                               advice=["nothing was changed; fix the above, then run `wta merge` again"],
                               streams=[refused.get(s) or StreamResult(s, b, NOT_REACHED)
                                        for s, b in plan.branches.items()])
        run_id = new_run_id()
        backups = {f"refs/heads/{plan.base}": plan.base_sha}
        backups.update({f"refs/heads/{plan.branches[s]}": plan.tips[s] for s in pending})
        git.update_refs([(backup_ref(run_id, ref), sha, git.ZERO_SHA) for ref, sha in backups.items()],
                        "wta merge: backup", cwd=plan.main, env=env)
        state = {
            "version": STATE_VERSION, "run_id": run_id, "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "base": plan.base, "base_start": plan.base_sha, "base_now": plan.base_sha,
            "streams": plan.streams, "branches": plan.branches, "backups": backups, "produced": [], "no_test": no_test,
            "index": 0, "status": "running", "stream": None, "step": None, "results": {},
            "keep_stopped": keep_stopped,
            "worktrees": {s: plan.worktrees[plan.branches[s]] for s in pending},
        }
        write_state(state_dir, state)
        if begun is not None:
            begun(pending, plan.base)
        return _settled(state_dir, locked, Run(plan, graph, state, env, progress, landed).drive())


def continue_merge(project, no_test: bool = False, progress: Progress = quiet,
                   command: str = "wta merge --continue", lock_wait: float | None = None,
                   locked: bool = False, landed: Landed = _nobody) -> MergeReport:
    """Finish a merge that stopped or was killed, from the stream it was at (`locked`, `landed`: as
    for merge_streams)."""
    env = git_env()
    state_dir = project.repo.state_dir
    with nullcontext() if locked else command_lock(state_dir, command, timeout=lock_wait):
        st = read_state(state_dir)
        if st is None:
            raise WtaError("no merge in progress; start one with `wta merge`")
        if st["status"] == "aborting":  # an --abort was killed half-way: the streams are going back
            return finish_abort(project, st, env)
        recovery.end_test(st)
        recovery.settle_worktrees(project.main, st, env)  # a killed --abort or --continue may have left one half-way
        if st["status"] == "running":
            _recover(project.main, st, env)
        plan = plan_merge(project, st["streams"], env, base=st["base"])
        if plan.base_sha != st["base_now"]:
            if not git.is_ancestor(st["base_now"], plan.base_sha, cwd=plan.main, env=env):
                raise WtaError(f"{plan.base} was moved away from the merged streams ({st['base_now'][:12]} is no "
                               f"longer in it); put it back or run `wta merge --abort`")
            st["base_now"] = plan.base_sha  # commits added on the base meanwhile (a fix) are kept
        st["no_test"] = st["no_test"] or no_test
        remaining = st["streams"][st["index"]:]
        graph = commit_graph(plan, st["base_now"], remaining, env)
        problems, refused = refusals(plan, pending_streams(plan, graph, remaining), env)
        problems += forged_base(plan, st["base_now"], env)
        if problems:
            write_state(state_dir, st)  # keeps what recovery found out
            return MergeReport("refused", False, plan.base, st["base_start"], st["base_now"], st["run_id"],
                               problems=problems,
                               advice=["the merge state is kept; fix the above, then run `wta merge --continue` "
                                       "again (or `wta merge --abort`)"],
                               streams=[refused.get(s) or (result_from(st["results"][s]) if s in st["results"]
                                                           else StreamResult(s, b, NOT_REACHED))
                                        for s, b in plan.branches.items()])
        st["status"] = "running"
        for stream in remaining:
            st["results"].pop(stream, None)
        write_state(state_dir, st)
        return _settled(state_dir, locked, Run(plan, graph, st, env, progress, landed).drive())


def _settled(state_dir: str, locked: bool, report: MergeReport) -> MergeReport:
    """A person's run (not an automatic landing, `locked`, which records its own outcomes) that lands a
    stream an automatic landing had left `landing` (its coordinator killed): the record says `landed`."""
    if not locked:
        store = SessionStore(state_dir)
        for result in report.streams:
            if result.result == MERGED and result.head:
                store.settle_landing(result.stream, result.head,
                                     f"landed on {report.base} at {result.head[:12]} by `wta merge`")
    return report


def _recover(main: str, st: dict[str, Any], env: dict[str, str]) -> None:
    """After a killed merge: finish or undo the step it was killed in."""
    stream, step = st.get("stream"), st.get("step")
    if stream is None or step not in IN_FLIGHT:
        return  # killed between streams: nothing half-done
    base_sha = recovery.branch_tip(main, st["base"], env)
    new_head = st.get("new_head")
    if step == FAST_FORWARD and new_head and base_sha == new_head:
        st["results"][stream] = asdict(StreamResult(
            stream, st["branches"][stream], MERGED, commits=st.get("commits", 0), head=new_head,
            worktree=st.get("worktree"), detail="its fast-forward had happened when the merge was interrupted"))
        st["base_now"] = base_sha
        st["index"] += 1
        st["step"] = MERGED_STEP
        return
    branch, start = st["branches"][stream], st["start"]
    current = recovery.branch_tip(main, branch, env)
    ours = [new_head] if new_head else []
    if step == REBASE and current not in (start, None) and not git.is_ancestor(start, current, cwd=main, env=env):
        # A rebase that finished unrecorded (or one made by hand): kept under a backup ref before going back.
        kept = backup_ref(st["run_id"], f"refs/heads/{branch}", f"interrupted-{current[:12]}")
        git.update_refs([(kept, current, None)], "wta merge: keep", cwd=main, env=env)
        ours.append(current)
    # A branch with commits of its own since (a fix) stays as it is: the merge verifies them from there.
    recovery.put_back(main, branch, start, st.get("worktree"), env, ours=ours)
