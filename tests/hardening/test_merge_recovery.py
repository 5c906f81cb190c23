"""Lost commits and stuck recoveries: the shapes a killed or disturbed `wta merge` leaves.

Lost commits: a person commits in a stream's worktree while the merge runs
its test, or after a merge was killed at the test. The rule: a branch is never
moved backwards over commits wta has not backed up; a branch that moved during
a merge stops that stream with a message, and keeps both tips (the branch, and
the backup ref under refs/wta/backup/).

Stuck recoveries: what SIGKILL leaves at an unlucky instant (an empty
`rebase-merge` directory, a stale `index.lock` with half-written files of a
fast-forward's checkout, a worktree left on a detached HEAD, a stream branch
deleted during the test). After each, `--continue` or `--abort` reaches a
clean state with no manual step.

Each test builds the shape with real git on the four-stream repository of
tests/merge/test_run.py, and checks: the base is unmoved or at a tested commit,
every commit reachable before is reachable after, every worktree ends on its
branch with nothing left over.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from support import commit_all, git, wta, write_files
from merge_support import (MERGED_ORDER, STREAMS, assert_contained, at_step, reachable, repo,  # noqa: F401 (fixture)
                           set_test, sha, state_dir, subjects, wait_for, wt)

GATE = 'if [ "$WTA_STREAM" = api ]; then touch "$HOME/in-test"; while [ ! -f "$HOME/go" ]; do sleep 0.02; done; fi\n'


def start(repo: Path, *args: str, pause: str | None = None) -> subprocess.Popen:
    extra = {"WTA_MERGE_PAUSE_AT": pause} if pause else {}
    return subprocess.Popen([sys.executable, "-m", "worktree_agents", "merge", *args], cwd=repo,
                            env={**os.environ, **extra}, start_new_session=True, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def kill_at(repo: Path, point: str) -> None:
    """Run `wta merge` until it records `point` (step:stream), then SIGKILL its whole process group."""
    proc = start(repo, pause=point)
    step, stream = point.split(":")
    wait_for(lambda: at_step(repo, step, stream)() or proc.poll() is not None, f"the merge to reach {point}")
    assert proc.poll() is None, proc.communicate()
    os.killpg(proc.pid, 9)
    proc.communicate(timeout=30)


def merge_state(repo: Path) -> dict:
    return json.loads((state_dir(repo) / "merge.json").read_text())


def private_dir(where: Path) -> Path:
    return Path(git(where, "rev-parse", "--absolute-git-dir").stdout.strip())


def backups(repo: Path) -> dict[str, str]:
    lines = git(repo, "for-each-ref", "--format=%(refname) %(objectname)", "refs/wta/backup/").stdout.splitlines()
    return dict(line.split(" ") for line in lines)


def assert_clean(repo: Path) -> None:
    assert not (state_dir(repo) / "merge.json").exists()
    for where, branch in [(repo, "main"), *((wt(repo, s), f"wta/{s}") for s in STREAMS)]:
        assert git(where, "symbolic-ref", "-q", "HEAD").stdout.strip() == f"refs/heads/{branch}", where
        assert git(where, "status", "--porcelain=v1", "--untracked-files=all").stdout == "", where
        for leftover in ("index.lock", "rebase-merge", "rebase-apply"):
            assert not (private_dir(where) / leftover).exists(), (where, leftover)


def nothing_lost(figures, fault: str, recovery: str, before: set[str], repo: Path) -> None:
    lost = before - reachable(repo)
    figures.fault(fault, recovery, commits_before=len(before), commits_lost=len(lost))
    assert not lost, f"{len(lost)} commit(s) no longer reachable after {fault}"

def recovers_with(repo: Path, figures, then: str, before: set[str], fault: str) -> None:
    """`wta merge --continue` or `--abort` after `fault`: no commit lost, and (after a fresh merge when
    aborted) every stream merged in order, the repository clean."""
    wta(repo, "merge", then, check=0)
    assert before <= reachable(repo)
    if then == "--abort":
        wta(repo, "merge", check=0)
    assert subjects(repo)[:5] == MERGED_ORDER
    assert_clean(repo)
    nothing_lost(figures, fault, f"`{then}`", before, repo)


def one_reason(stderr: str) -> str:
    """The stopped stream's line: one line, no traceback, no usage text from git."""
    assert "Traceback" not in stderr and "usage:" not in stderr and "<revision>" not in stderr, stderr
    return stderr.strip().splitlines()[0]


# -- lost commits ------------------------------------------------------------------------

def test_a_commit_made_while_the_test_fails_stays_on_the_branch(repo, figures):
    before = reachable(repo)
    set_test(GATE + '[ "$WTA_STREAM" != api ]\n')
    proc = start(repo)
    wait_for(lambda: (Path(os.environ["HOME"]) / "in-test").exists() or proc.poll() is not None, "api's test to start")
    assert proc.poll() is None, proc.communicate()
    base_during = sha(repo, "main")
    api = wt(repo, "api")
    write_files(api, {"src/lib/fix.ts": "export const fix = 1\n"})
    fix = commit_all(api, "[api] a fix made during the test")
    (Path(os.environ["HOME"]) / "go").touch()
    out, err = proc.communicate(timeout=120)

    assert proc.returncode == 1, out + err
    reason = one_reason(err)
    assert reason.startswith("api: ") and "wta/api got new commits during the merge" in reason, reason
    assert sha(repo, "wta/api") == fix                       # the person's commit is the branch's tip
    assert sha(repo, "main") == base_during                  # the base did not move for api
    assert before | {fix} <= reachable(repo)
    # Both tips are kept: the branch (with the fix) and the tip from before the merge, in a backup ref.
    run = merge_state(repo)["run_id"]
    assert backups(repo)[f"refs/wta/backup/{run}/heads/wta/api"] in before

    set_test("exit 0\n")
    wta(repo, "merge", "--continue", check=0)
    assert "[api] a fix made during the test" in subjects(repo)
    assert_contained(repo)
    assert_clean(repo)
    nothing_lost(figures, "a commit in a stream worktree while its test fails",
                 "the stream stops, its branch keeps the commit; `--continue`", before, repo)


def test_continue_after_a_kill_at_the_test_keeps_a_fix_committed_since(repo, figures):
    before = reachable(repo)
    kill_at(repo, "test:api")
    base_then = sha(repo, "main")
    api = wt(repo, "api")
    write_files(api, {"src/lib/fix.ts": "export const fix = 2\n"})
    fix = commit_all(api, "[api] fix after the kill")

    done = wta(repo, "merge", "--continue", check=0)

    assert "api: merged" in done.stdout
    assert git(repo, "merge-base", "--is-ancestor", base_then, "main").returncode == 0
    assert "[api] fix after the kill" in subjects(repo)
    assert before | {fix} <= reachable(repo)
    assert_contained(repo)
    assert_clean(repo)
    nothing_lost(figures, "SIGKILL of `wta merge` at a test, then a fix committed",
                 "`--continue` merges the fix", before, repo)


def test_abort_after_a_kill_keeps_a_commit_made_since_in_a_backup(repo, figures):
    before = reachable(repo)
    refs = {f"refs/heads/{b}": sha(repo, b) for b in ["main", *(f"wta/{s}" for s in STREAMS)]}
    kill_at(repo, "test:api")
    api = wt(repo, "api")
    write_files(api, {"src/lib/fix.ts": "export const fix = 3\n"})
    fix = commit_all(api, "[api] fix before the abort")

    done = wta(repo, "merge", "--abort", check=0)

    assert {r: sha(repo, r) for r in refs} == refs
    assert fix in backups(repo).values() and "kept refs/heads/wta/api" in done.stdout
    assert_clean(repo)
    nothing_lost(figures, "SIGKILL of `wta merge` at a test, then a commit",
                 "`--abort` keeps it under a backup ref", before, repo)


def test_continue_after_a_killed_abort_finishes_the_abort(repo, figures):
    """An --abort killed after it put the base back: --continue then finishes the abort (it used to
    stop on "main was moved away from the merged streams")."""
    before = reachable(repo)
    refs = {f"refs/heads/{b}": sha(repo, b) for b in ["main", *(f"wta/{s}" for s in STREAMS)]}
    kill_at(repo, "test:api")
    state = merge_state(repo)
    assert sha(repo, "main") != state["base_start"]  # streams before it landed
    state["status"] = "aborting"  # what --abort records before it moves anything
    (state_dir(repo) / "merge.json").write_text(json.dumps(state))
    git(repo, "update-ref", "refs/heads/main", state["base_start"])  # the abort got this far

    done = wta(repo, "merge", "--continue", check=0)

    assert "aborted" in done.stdout
    assert {r: sha(repo, r) for r in refs} == refs
    assert not (state_dir(repo) / "merge.json").exists()
    assert_clean(repo)
    nothing_lost(figures, "SIGKILL of `wta merge --abort` after the base went back",
                 "`--continue` finishes the abort", before, repo)


# -- stuck recoveries ----------------------------------------------------------------------

@pytest.mark.parametrize("then", ["--continue", "--abort"])
def test_an_empty_rebase_merge_directory_is_cleared(repo, figures, then):
    before = reachable(repo)
    kill_at(repo, "rebase:api")
    (private_dir(wt(repo, "api")) / "rebase-merge").mkdir()  # killed the instant git made it

    recovers_with(repo, figures, then, before,
                  "SIGKILL leaving an empty rebase-merge directory")


@pytest.mark.parametrize("then", ["--continue", "--abort"])
def test_a_killed_fast_forward_checkout_is_finished_or_undone(repo, figures, then):
    before = reachable(repo)
    kill_at(repo, "fast-forward:ui")
    target = merge_state(repo)["new_head"]
    # What a checkout killed half-way leaves: the index locked, some of the new files written.
    (repo / ".git" / "index.lock").write_bytes(b"")
    write_files(repo, {"src/components/Nav.tsx": git(repo, "show", f"{target}:src/components/Nav.tsx").stdout})

    recovers_with(repo, figures, then, before,
                  "SIGKILL in the fast-forward checkout (index.lock, half-written files)")


@pytest.mark.parametrize("then", ["--continue", "--abort"])
def test_a_file_a_killed_checkout_had_unlinked_to_write_anew_is_put_back(repo, figures, then):
    """git's checkout removes a file before it writes it again (also one whose content stays, when the
    index's stat data is stale): a kill between the two leaves a tracked file missing that no commit
    deletes. That is the killed git's, not a person's deletion: recovery had stopped on it, naming it."""
    before = reachable(repo)
    kill_at(repo, "fast-forward:ui")
    (repo / ".git" / "index.lock").write_bytes(b"")
    (repo / "README.md").unlink()

    recovers_with(repo, figures, then, before,
                  "SIGKILL in the fast-forward checkout between a file's unlink and its write")
    assert (repo / "README.md").exists()


def test_a_lock_held_by_a_live_git_is_named_not_removed(repo, figures):
    before = reachable(repo)
    kill_at(repo, "fast-forward:ui")
    lock = repo / ".git" / "index.lock"
    lock.write_bytes(b"")
    holder = subprocess.Popen(["sleep", "60"], stdin=open(lock, "rb"))  # a process has it open: not stale
    try:
        done = wta(repo, "merge", "--continue", check=2)
    finally:
        holder.kill()
        holder.wait()
    assert str(lock) in done.stderr and "Traceback" not in done.stderr
    assert lock.exists()
    lock.unlink()
    wta(repo, "merge", "--continue", check=0)
    assert_clean(repo)
    nothing_lost(figures, "index.lock held by a live process at `--continue`",
                 "named with what to do; `--continue` once it ends", before, repo)


@pytest.mark.parametrize("then", ["--continue", "--abort"])
def test_a_worktree_left_on_a_detached_head_is_put_back_on_its_branch(repo, figures, then):
    before = reachable(repo)
    kill_at(repo, "rebase:api")
    git(wt(repo, "api"), "checkout", "-q", "--detach", "main")  # where a killed rebase starts

    recovers_with(repo, figures, then, before,
                  "SIGKILL leaving a stream worktree on a detached HEAD")


def test_a_sparse_worktree_put_back_on_its_branch_stays_sparse(repo, figures):
    """The files put back are HEAD's inside the worktree's sparse checkout, none outside it (recovery had
    written every tracked file, and the worktree was sparse no more)."""
    api = wt(repo, "api")
    git(api, "update-index", "-q", "--refresh")   # (a copied worktree: git would take every file for changed)
    git(api, "sparse-checkout", "set", "--no-cone", "/src/")
    assert sparse_only_in_src(api)
    before = reachable(repo)
    kill_at(repo, "rebase:api")
    git(api, "checkout", "-q", "--detach", "main")  # where a killed rebase starts

    wta(repo, "merge", "--abort", check=0)   # (a later rebase there would make it sparse again itself)
    assert sparse_only_in_src(api) and (api / "src" / "lib" / "db.ts").exists()
    assert git(api, "symbolic-ref", "HEAD").stdout.strip() == "refs/heads/wta/api"
    assert git(api, "status", "--porcelain").stdout == ""
    nothing_lost(figures, "SIGKILL leaving a sparse worktree on a detached HEAD", "`--abort`", before, repo)


def sparse_only_in_src(where: Path) -> bool:
    """Whether the worktree holds the files below src/ and none of the others (each marked skip-worktree)."""
    listed = [line.split(" ", 1) for line in git(where, "ls-files", "-t").stdout.splitlines()]
    outside = [path for tag, path in listed if not path.startswith("src/")]
    return (bool(outside) and all(tag == ("S" if path in outside else "H") for tag, path in listed)
            and not any((where / path).exists() for path in outside))


def test_a_stream_branch_deleted_during_the_test_stops_it_and_is_put_back(repo, figures):
    before = reachable(repo)
    set_test(GATE)
    proc = start(repo)
    wait_for(lambda: (Path(os.environ["HOME"]) / "in-test").exists() or proc.poll() is not None, "api's test to start")
    assert proc.poll() is None, proc.communicate()
    base_during = sha(repo, "main")
    git(repo, "update-ref", "-d", "refs/heads/wta/api")
    (Path(os.environ["HOME"]) / "go").touch()
    out, err = proc.communicate(timeout=120)

    assert proc.returncode == 1, out + err
    reason = one_reason(err)
    assert reason.startswith("api: ") and "wta/api" in reason, reason
    assert sha(repo, "main") == base_during
    assert before <= reachable(repo)

    wta(repo, "merge", "--continue", check=0)
    assert subjects(repo)[:5] == MERGED_ORDER
    assert_clean(repo)
    nothing_lost(figures, "a stream branch deleted during its test",
                 "the stream stops, its branch is put back; `--continue`", before, repo)


def test_continue_after_a_kill_in_the_test_of_a_deleted_branch(repo, figures):
    before = reachable(repo)
    kill_at(repo, "test:api")
    git(repo, "update-ref", "-d", "refs/heads/wta/api")

    done = wta(repo, "merge", "--continue")

    assert done.returncode in (0, 1) and "Traceback" not in done.stderr and "usage" not in done.stderr
    if done.returncode == 1:  # the stop names the branch; the next --continue finishes
        assert "wta/api" in done.stderr.splitlines()[0]
        wta(repo, "merge", "--continue", check=0)
    assert before <= reachable(repo)
    assert subjects(repo)[:5] == MERGED_ORDER
    assert_clean(repo)
    nothing_lost(figures, "SIGKILL at a test, then the stream branch deleted", "`--continue`", before, repo)


def test_ref_locks_a_killed_rebase_left_are_cleared(repo, figures):
    before = reachable(repo)
    kill_at(repo, "rebase:api")
    (private_dir(wt(repo, "api")) / "CHERRY_PICK_HEAD.lock").write_text("")  # killed inside a pick
    (repo / ".git" / "refs" / "heads" / "wta" / "api.lock").write_text("")   # killed inside a ref update

    wta(repo, "merge", "--continue", check=0)

    assert subjects(repo)[:5] == MERGED_ORDER
    assert_clean(repo)
    assert not (repo / ".git" / "refs" / "heads" / "wta" / "api.lock").exists()
    nothing_lost(figures, "SIGKILL leaving ref locks (CHERRY_PICK_HEAD.lock, the branch's lock)", "`--continue`",
                 before, repo)
