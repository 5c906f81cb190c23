"""`wta merge` killed with SIGKILL at every step: `--abort` restores every ref
exactly, `--continue` finishes, and every commit that existed is still reachable.

The merge runs in its own process group and the whole group is killed (git and
the test command with it), the way a crash or `kill -9` of a terminal leaves a
repository: a rebase half-way, a test never finished, a fast-forward whose
state was never recorded.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from merge_support import (BLOCK, MERGED_ORDER, STREAMS, assert_contained, at_step, block_after_fast_forward,
                           block_before_the_first_checkout,
                           block_in_rebase, block_in_replay, branch_refs, needs_git_rebase, merge_state, reachable,
                           repo, set_test,  # noqa: F401 (fixture)
                           state_dir, subjects, wait_for, wt)
from support import git, wta


# Where to kill: how to make the merge stop there (a blocking hook or test, or
# WTA_MERGE_PAUSE_AT), and the moment to wait for before killing.
def _arm(point: str, repo: Path) -> tuple[dict[str, str], object]:
    home = Path(os.environ["HOME"])
    blocked = lambda: (home / "blocked").exists()  # noqa: E731
    extra: dict[str, str] = {}
    if point == "during-rebase":        # git rebase of infra, the first, stops in its post-checkout hook
        extra = block_in_rebase()
    elif point == "during-replay":      # api's copied commits are in its worktree, its branch not moved yet
        extra = block_in_replay()
    elif point == "during-test":        # api's test runs and does not finish
        set_test(f'[ "$WTA_STREAM" = api ] || exit 0\n{BLOCK}')
    elif point == "during-fast-forward":  # main has moved for infra, the state does not know yet
        extra = block_after_fast_forward()
    else:
        step, stream = {"between-streams": ("merged", "api"), "before-fast-forward": ("fast-forward", "ui")}[point]
        return {"WTA_MERGE_PAUSE_AT": f"{step}:{stream}"}, at_step(repo, step, stream)
    (home / "block").write_text("")
    return extra, blocked


def kill_merge_at(point: str, repo: Path) -> None:
    extra, ready = _arm(point, repo)
    home = Path(os.environ["HOME"])
    proc = subprocess.Popen([sys.executable, "-m", "worktree_agents", "merge"], cwd=repo,
                            env={**os.environ, **extra}, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: ready() or proc.poll() is not None, f"the merge to reach {point}")
        assert proc.poll() is None, f"the merge ended (exit {proc.returncode}) before reaching {point}"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        for name in ("block", "blocked"):
            (home / name).unlink(missing_ok=True)


def assert_worktrees_clean(repo: Path) -> None:
    assert git(repo, "status", "--porcelain").stdout == ""
    for stream in STREAMS:
        where = wt(repo, stream)
        assert git(where, "symbolic-ref", "HEAD").stdout.strip() == f"refs/heads/wta/{stream}", stream
        assert git(where, "status", "--porcelain").stdout == "", stream


POINTS = ("during-rebase", "during-replay", "during-test", "between-streams", "before-fast-forward",
          "during-fast-forward")


@pytest.mark.parametrize("point", POINTS)
def test_killed_merge_can_be_aborted_then_continued(repo, point):
    if point == "during-rebase":
        needs_git_rebase(repo)   # every stream must be rebased by git now
    refs_before = branch_refs(repo)
    before = reachable(repo)

    kill_merge_at(point, repo)
    assert merge_state(repo)["status"] == "running"
    if point == "during-rebase":
        assert "rebase in progress" in git(wt(repo, "infra"), "status").stdout  # killed half-way through it
    if point == "during-replay":        # killed between the files and the branch
        assert git(wt(repo, "api"), "diff", "--cached", "--name-only", "HEAD").stdout.split() == \
            ["ai-agents/tools.md"] and merge_state(repo)["new_head"]
    if point == "during-fast-forward":
        assert subjects(repo)[0] == "[infra] add tools" and merge_state(repo)["step"] == "fast-forward"
    assert wta(repo, "merge", check=2).stderr.rstrip().endswith("run `wta merge --continue` to finish it or "
                                                                 "`wta merge --abort` to undo it")

    wta(repo, "merge", "--abort", check=0)

    assert branch_refs(repo) == refs_before
    assert_worktrees_clean(repo)
    assert before <= reachable(repo)

    kill_merge_at(point, repo)
    done = wta(repo, "merge", "--continue", check=0)

    assert "monitor: merged" in done.stdout
    assert subjects(repo)[:5] == MERGED_ORDER
    assert_contained(repo)
    assert_worktrees_clean(repo)
    assert before <= reachable(repo)
    assert not (state_dir(repo) / "merge.json").exists()


def test_a_branch_switched_to_in_the_base_worktree_during_the_fast_forward_is_never_moved(repo):
    """The fast-forward was `git merge --ff-only` in the base's worktree, after checking that it had the
    base checked out: a person's `git switch -c hotfix` in between got infra's commits on hotfix."""
    home = Path(os.environ["HOME"])
    before = git(repo, "rev-parse", "main").stdout.strip()
    (home / "block").write_text("")
    proc = subprocess.Popen([sys.executable, "-m", "worktree_agents", "merge"], cwd=repo, text=True,
                            env={**os.environ, **block_before_the_first_checkout()}, start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_for(lambda: (home / "blocked").exists() or proc.poll() is not None, "the fast-forward of infra")
        assert proc.poll() is None
        git(repo, "switch", "-q", "-c", "hotfix")
        (home / "block").unlink()
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert git(repo, "rev-parse", "hotfix").stdout.strip() == before
    assert git(repo, "status", "--porcelain").stdout == ""        # hotfix's files as they were
    assert subjects(repo)[0] == "[infra] add tools"                 # main moved, and only main
    assert "no longer has main checked out" in out, out
    git(repo, "switch", "-q", "main")
    wta(repo, "merge", "--continue", check=0)
    assert subjects(repo)[:5] == MERGED_ORDER


def test_a_second_merge_cannot_run_while_one_runs(repo):
    proc = subprocess.Popen([sys.executable, "-m", "worktree_agents", "merge"], cwd=repo,
                            env={**os.environ, "WTA_MERGE_PAUSE_AT": "test:infra"}, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(at_step(repo, "test", "infra"), "the first merge to pause")
        second = wta(repo, "merge", check=1, env={**os.environ, "WTA_LOCK_TIMEOUT": "0.2"})
        assert "`wta merge` (pid" in second.stderr and "wait for it to finish" in second.stderr
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    wta(repo, "merge", "--continue", check=0)
    assert subjects(repo)[:5] == MERGED_ORDER
