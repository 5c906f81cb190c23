"""A merge run: the steps of each stream (verify, rebase, test, fast-forward),
recorded before each one, and the entry points that start, continue and abort it."""

from __future__ import annotations

import os
import time
from dataclasses import asdict
from typing import Any, Sequence

from worktree_agents import git, layout, shell
from worktree_agents.backups import backup_ref, new_run_id
from worktree_agents.errors import WtaError
from worktree_agents.merge.plan import (MergePlan, boundary, commit_graph, git_env, pending_streams, plan_merge,
                                        refusals, session_refusal, touches, verify, verify_result)
from worktree_agents.merge.report import (CONFLICT, FAILED, MERGED, NO_TEST, NOT_REACHED, NOT_RUN, PASSED, REFUSED,
                                          SKIPPED, STOPS, TEST_FAILED, VERIFY_FAILED, MergeReport, Progress,
                                          StreamResult, explain, listed, progress_line, quiet, result_from, timed)
from worktree_agents.merge.state import (FAST_FORWARD, IN_FLIGHT, MERGED_STEP, REBASE, STATE_VERSION,
                                         TEST, VERIFY, describe_state, pause, read_state, save_report,
                                         state_path, write_state)
from worktree_agents.sessions.store import SessionStore
from worktree_agents.state import command_lock
from worktree_agents.worktrees import registry

# -- one run ---------------------------------------------------------------------

class Run:
    """A merge under way: the plan, the persisted state, and the steps per stream."""

    def __init__(self, plan: MergePlan, graph: git.CommitGraph, state: dict[str, Any], env: dict[str, str],
                 progress: Progress) -> None:
        self.plan, self.graph, self.state, self.env, self.progress = plan, graph, state, env, progress
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
                    write_state(self.plan.state_dir, st)
                    return self.report("stopped")
                st["index"] += 1
                if result.result == MERGED:
                    st["base_now"] = result.head
                    self.save(MERGED_STEP, stream)
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
        if boundary(commits) != {base_now}:
            self.save(REBASE, stream)
            self.progress(stream, f"rebasing {len(commits)} commit(s) onto {plan.base}")
            new_head = self.rebase(result, tip, base_now)
            if new_head is None:
                return timed(result, started)
        if not verify_result(result, plan, base_now, new_head, env):
            if new_head != tip:
                self.restore(branch, tip, wt)
            return timed(result, started)
        st["produced"].append(new_head)
        self.save(TEST, stream, new_head=new_head)
        if plan.test and not st["no_test"]:
            self.progress(stream, f"testing: {plan.test}")
            if not self.run_test(result, wt):
                self.restore(branch, tip, wt)
                return timed(result, started)
        self.save(FAST_FORWARD, stream)
        blocked = self.fast_forward(new_head)
        if blocked:
            self.restore(branch, tip, wt)
            result.result, result.detail = REFUSED, blocked
            return timed(result, started)
        self.claimed.update(c.sha for c in commits)
        result.head = new_head
        SessionStore(plan.state_dir).close_open(stream, f"merged into {plan.base}")
        return timed(result, started)

    def rebase(self, result: StreamResult, tip: str, onto: str) -> str | None:
        """Rebase the stream in its worktree; its new head, or None (result says why)."""
        plan, env, wt, branch = self.plan, self.env, result.worktree, result.branch
        assert wt is not None
        proc = git.rebase(onto, wt, env)
        if proc.returncode != 0:
            conflicted = git.unmerged_paths(wt, env)
            applying_sha = git.rev_parse("REBASE_HEAD", wt, env) or ""
            self.restore(branch, tip, wt)
            if conflicted:
                result.result, result.files = CONFLICT, conflicted
                result.touched_by = touches([f"^{tip}", onto], conflicted, plan.main, env)
                commit = self.graph.commits.get(applying_sha)
                during = f" while applying {applying_sha[:12]} {commit.subject!r}" if commit else ""
                result.detail = f"rebasing {branch} onto {plan.base} conflicts in {listed(conflicted)}{during}"
            else:
                lines = proc.stderr.decode(errors="replace").strip().splitlines() or [f"exit {proc.returncode}"]
                result.result, result.detail = REFUSED, f"git rebase failed in {wt}: {lines[-1]}"
            return None
        new_head, orig = git.rev_parse("HEAD", wt, env), git.rev_parse("ORIG_HEAD", wt, env)
        if orig != tip:
            # Someone committed while we merged: those commits were not verified.
            self.restore(branch, orig, wt)
            result.result = REFUSED
            result.detail = f"{branch} got new commits during the merge; `wta merge --continue` verifies them"
            return None
        return new_head

    def run_test(self, result: StreamResult, wt: str) -> bool:
        plan = self.plan
        log = layout.path(plan.state_dir, layout.MERGE_TEST_LOG, run_id=self.state["run_id"], stream=result.stream)
        os.makedirs(os.path.dirname(log), exist_ok=True)
        with open(log, "wb") as out:
            code = shell.run(plan.test or "", wt, shell.stream_env(plan.config, result.stream, wt, self.env), out)
        result.test_log = log
        if code == 0:
            result.test = PASSED
            return True
        result.result, result.test = TEST_FAILED, FAILED
        result.detail = f"`{plan.test}` exited {code} in {wt} (log: {log})"
        return False

    def fast_forward(self, new_head: str) -> str | None:
        """Move the base to `new_head` (its worktree's files too); why not, or None."""
        plan, env, old = self.plan, self.env, self.state["base_now"]
        where = plan.base_worktree
        if where is None:
            try:
                git.update_refs([(f"refs/heads/{plan.base}", new_head, old)], "wta merge: fast-forward",
                                cwd=plan.main, env=env)
            except git.GitError as exc:
                return f"cannot move {plan.base}: {exc}"
            return None
        if git.head_ref(where, env) != f"refs/heads/{plan.base}":
            return f"{where} no longer has {plan.base} checked out; check it out again, then `wta merge --continue`"
        proc = git.fast_forward(new_head, where, env)
        if proc.returncode != 0:
            lines = proc.stderr.decode(errors="replace").strip().splitlines() or [f"exit {proc.returncode}"]
            return f"cannot fast-forward {plan.base} in {where}: {lines[-1]}"
        return None

    def restore(self, branch: str, target: str, wt: str | None) -> None:
        restore_branch(self.plan.main, branch, target, wt, self.env)

    def report(self, status: str) -> MergeReport:
        plan, st = self.plan, self.state
        results = [result_from(st["results"][s]) if s in st["results"] else
                   StreamResult(s, plan.branches[s], NOT_REACHED) for s in st["streams"]]
        report = MergeReport(status, status == "merged", plan.base, st["base_start"], st["base_now"],
                             st["run_id"], streams=results)
        if status == "stopped":
            stopped = results[st["index"]]
            report.problems, report.advice = explain(stopped, plan)
        save_report(plan.state_dir, report)
        return report


def restore_branch(main: str, branch: str, target: str, wt: str | None, env: dict[str, str]) -> None:
    """Put a branch back at `target`; in its worktree, files follow (never dropping local changes)."""
    ref = f"refs/heads/{branch}"
    if wt and os.path.isdir(wt):
        if git.rebase_in_progress(wt, env):
            git.abort_rebase(wt, env)
        if git.head_ref(wt, env) == ref:
            if git.rev_parse("HEAD", wt, env) != target:
                if not git.reset_keep(target, wt, env):
                    raise WtaError(f"cannot put {branch} back to {target[:12]} in {wt}: local changes there are in "
                                   f"the way; commit or stash them, then run the same wta merge command again")
            return
    git.update_refs([(ref, target, None)], "wta merge: restore", cwd=main, env=env)


# -- entry points ------------------------------------------------------------------

def merge_streams(project, names: Sequence[str] = (), no_test: bool = False,
                  progress: Progress = quiet) -> MergeReport:
    """Merge the named streams (all when none) into the base, in order."""
    env = git_env()
    state_dir = project.repo.state_dir
    with command_lock(state_dir, "wta merge"):
        existing = read_state(state_dir)
        if existing is not None:
            raise WtaError(f"a {describe_state(existing)}; run `wta merge --continue` to finish it or "
                           "`wta merge --abort` to undo it")
        plan = plan_merge(project, names, env)
        graph = commit_graph(plan, plan.base_sha, plan.streams, env)
        pending = pending_streams(plan, graph, plan.streams)
        if not pending:
            return MergeReport("nothing", True, plan.base, plan.base_sha, plan.base_sha, streams=[
                StreamResult(s, b, SKIPPED, detail=f"nothing to merge beyond {plan.base}" if plan.tips[s]
                             else f"no branch {b}") for s, b in plan.branches.items()])
        problems, refused = refusals(plan, pending, env)
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
        }
        write_state(state_dir, state)
        return Run(plan, graph, state, env, progress).drive()


def continue_merge(project, no_test: bool = False, progress: Progress = quiet) -> MergeReport:
    """Finish a merge that stopped or was killed, from the stream it was at."""
    env = git_env()
    state_dir = project.repo.state_dir
    with command_lock(state_dir, "wta merge --continue"):
        st = read_state(state_dir)
        if st is None:
            raise WtaError("no merge in progress; start one with `wta merge`")
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
        return Run(plan, graph, st, env, progress).drive()


def _recover(main: str, st: dict[str, Any], env: dict[str, str]) -> None:
    """After a killed merge: finish or undo the step it was killed in."""
    stream, step = st.get("stream"), st.get("step")
    if stream is None or step not in IN_FLIGHT:
        return  # killed between streams: nothing half-done
    branch = git.branch_heads(main, env)
    base_sha = branch[st["base"]].sha
    if step == FAST_FORWARD and st.get("new_head") and base_sha == st["new_head"]:
        st["results"][stream] = asdict(StreamResult(
            stream, st["branches"][stream], MERGED, commits=st.get("commits", 0), head=st["new_head"],
            worktree=st.get("worktree"), detail="its fast-forward had happened when the merge was interrupted"))
        st["base_now"] = base_sha
        st["index"] += 1
        st["step"] = MERGED_STEP
        return
    restore_branch(main, st["branches"][stream], st["start"], st.get("worktree"), env)


def abort_merge(project) -> MergeReport:
    """Put the base and every stream branch back where they were before the merge began."""
    env = git_env()
    state_dir = project.repo.state_dir
    main = project.main
    with command_lock(state_dir, "wta merge --abort"):
        st = read_state(state_dir)
        if st is None:
            raise WtaError("no merge in progress; nothing to abort")
        wt = st.get("worktree")
        if st["status"] == "running" and wt and os.path.isdir(wt) and git.rebase_in_progress(wt, env):
            git.abort_rebase(wt, env)
        heads = git.branch_heads(main, env)
        checked_out = {w.branch: w.path for w in registry.list_worktrees(main, env) if w.branch}
        produced = set(st["produced"])
        base_ref = f"refs/heads/{st['base']}"
        report = MergeReport("aborted", True, st["base"], st["base_start"], st["base_start"], st["run_id"])
        # Streams first, the base last: the base's worktree is the one people look at.
        for ref in sorted(st["backups"], key=lambda r: r == base_ref):
            sha = st["backups"][ref]
            branch = ref[len("refs/heads/"):]
            current = heads[branch].sha if branch in heads else None
            if current == sha:
                continue
            if current and current not in produced:
                kept = backup_ref(st["run_id"], ref, "aborted")
                git.update_refs([(kept, current, None)], "wta merge --abort: keep", cwd=main, env=env)
                report.kept.append({"ref": ref, "sha": current, "backup": kept})
            restore_branch(main, branch, sha, checked_out.get(branch), env)
            report.restored.append({"ref": ref, "from": current or "", "to": sha})
        report.streams = [result_from(st["results"][s]) for s in st["streams"] if s in st["results"]]
        os.unlink(state_path(state_dir))
        save_report(state_dir, report)
        return report


