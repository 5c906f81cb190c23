"""`wta merge --dry-run`: what a merge would do, stream after stream; changes no ref and no file."""

from __future__ import annotations

import time
from typing import Sequence

from worktree_agents import git
from worktree_agents.merge.plan import (base_problems, commit_graph, git_env, merge_commits_refusal, plan_merge,
                                        readiness, touches, verify, verify_objects, verify_result)
from worktree_agents.merge.report import (CONFLICT, NOT_REACHED, REFUSED, SKIPPED, STOPS, UNTRACKED, VERIFY_FAILED,
                                          WOULD_MERGE, MergeReport, StreamResult, explain, listed, timed,
                                          untracked_beyond)

def predict_merge(project, names: Sequence[str] = (), no_test: bool = False) -> MergeReport:
    """What `wta merge` would do, stream after stream; changes no ref and no file.

    Each stream is merged with `git merge-tree` onto the predicted result of
    the streams before it (commit objects only, never a ref). A rebase replays
    commit by commit and stops at the first commit that conflicts, so it may
    name fewer files than the prediction. A stream the run would test (`test:`, no `no_test`) with untracked
    files in its worktree is refused, as the run refuses it before its test.
    """
    env = git_env()
    plan = plan_merge(project, names, env)
    graph = commit_graph(plan, plan.base_sha, plan.streams, env)
    report = MergeReport("dry-run", True, plan.base, plan.base_sha, plan.base_sha, dry_run=True)
    in_the_way = base_problems(plan, env)
    report.problems.extend(in_the_way)
    predicted, merged_tips, claimed = plan.base_sha, [], set()
    for stream in plan.streams:
        started = time.monotonic()
        branch, tip = plan.branches[stream], plan.tips[stream]
        commits = graph.reachable(tip, claimed)
        if tip is None or not commits:
            detail = f"no branch {branch}" if tip is None else f"nothing to merge: {branch} has no commits beyond {plan.base}"
            report.streams.append(StreamResult(stream, branch, SKIPPED, detail=detail))
            continue
        result = readiness(plan, stream, env) or StreamResult(stream, branch, WOULD_MERGE, commits=len(commits),
                                                               worktree=plan.worktrees.get(branch))
        result.commits = len(commits)
        if result.result == WOULD_MERGE:
            problems, files = verify(plan.zones, stream, plan.base, commits, plan.main, env)
            if problems:
                result.result, result.problems, result.files = VERIFY_FAILED, problems, files
                result.detail = f"{len(problems)} verification failure(s) in {branch}"
            else:
                verify_objects(result, plan, plan.base_sha, tip, env)
        if result.result == WOULD_MERGE:
            result = merge_commits_refusal(plan, stream, commits, predicted, tip, env) or result
        if result.result == WOULD_MERGE:
            tree, conflicted = git.merge_tree(predicted, tip, cwd=plan.main, env=env)
            if conflicted:
                result.result, result.files = CONFLICT, conflicted
                result.touched_by = touches([f"^{tip}", plan.base_sha, *merged_tips], conflicted, plan.main, env)
                result.detail = f"rebasing {branch} onto {plan.base} would conflict in {listed(conflicted)}"
            elif not verify_result(result, plan, predicted, tree, env):
                pass
            elif plan.test and not no_test and _untracked_refusal(result, tip, env):
                pass
            else:
                predicted = git.commit_tree(tree, [predicted, tip], f"wta merge --dry-run: {stream}",
                                            cwd=plan.main, env=env)
                merged_tips.append(tip)
                claimed.update(c.sha for c in commits)
        report.streams.append(timed(result, started))
        if result.result in STOPS:
            report.ok = False
            lines, _ = explain(result, plan.base, plan.test)
            report.problems += lines
    if in_the_way:
        report.ok = False
    _as_the_run_would_reach(report, in_the_way)
    return report


def _untracked_refusal(result: StreamResult, tip: str, env: dict[str, str]) -> bool:
    """Whether the run would refuse to test the stream for untracked files in its worktree that no ignore
    rule covers (merge.run.Run.run_test: its test would read them, and they would not land); says so in
    `result`."""
    wt = result.worktree
    untracked = git.untracked_files(wt, env, folders=True) if wt else []
    if not untracked:
        return False
    result.result, result.files, result.cause = REFUSED, untracked, UNTRACKED
    result.detail = untracked_beyond(wt, tip, untracked)
    return True


def _as_the_run_would_reach(report: MergeReport, in_the_way: list[str]) -> None:
    """A stream predicted to merge that the real run would not get to says so, as the run's row will: the
    run refuses every stream when the base's worktree is in the way, and stops at the first stream that
    stops. (Each is still predicted on its own, so that every problem shows at once.)"""
    stopped = None   # the first stream the run stops at
    for result in report.streams:
        if result.result == WOULD_MERGE and in_the_way:
            result.result, result.detail = NOT_REACHED, "the merge is refused first (the base's worktree, above)"
        elif result.result == WOULD_MERGE and stopped is not None:
            result.result, result.detail = NOT_REACHED, f"the merge stops at {stopped} first (alone: would merge)"
        elif result.result in STOPS and stopped is None:
            stopped = result.stream

