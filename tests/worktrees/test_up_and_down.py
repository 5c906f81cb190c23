"""`wta up --no-launch` and `wta down`: worktrees, branches, copied files, setup, sparse
checkouts, the refusals that create nothing, and removal that never drops work."""

from __future__ import annotations

import json
import re
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from support import (EXAMPLE_STREAMS as STREAMS, add_stream_worktree, clone_webapp, commit_all, example_zones, git,
                     make_repo, worktree_of, write_files, wta)


def branches(repo: Path) -> dict[str, str]:
    out = git(repo, "for-each-ref", "--format=%(refname) %(objectname)", "refs/heads/").stdout
    return dict(line.split(" ") for line in out.splitlines())


def footprint(repo: Path) -> tuple:
    """Everything `wta up` could create: worktrees, refs, the state dir, sibling folders."""
    git_dir = Path(git(repo, "rev-parse", "--absolute-git-dir").stdout.strip()) if (repo / ".git").exists() or \
        repo.suffix == ".git" else None
    state = sorted(str(p.relative_to(git_dir)) for p in (git_dir / "wta").rglob("*")) \
        if git_dir and (git_dir / "wta").exists() else None
    listing = git(repo, "worktree", "list", "--porcelain").stdout if git_dir else None
    refs = git(repo, "for-each-ref").stdout if git_dir else None
    return listing, refs, state, sorted(p.name for p in repo.parent.iterdir())


def state_of(repo: Path) -> dict:
    return json.loads((repo / ".git" / "wta" / "state.json").read_text())["streams"]


# -- wta up -------------------------------------------------------------------------

def test_up_makes_a_worktree_per_stream_and_a_second_run_has_nothing_to_do(tmp_path):
    repo = clone_webapp(tmp_path)
    done = wta(repo, "up", "--no-launch", check=0)
    listed = git(repo, "worktree", "list", "--porcelain").stdout
    for stream in STREAMS:
        path = worktree_of(repo, stream)
        assert f"worktree {path}\n" in listed
        assert f"branch refs/heads/wta/{stream}\n" in listed
        assert git(path, "rev-parse", "HEAD").stdout == git(repo, "rev-parse", "main").stdout
        assert (Path(git(path, "rev-parse", "--absolute-git-dir").stdout.strip()) / "wta-stream").read_text() \
            == f"{stream}\n"
        assert f"{stream}" in done.stdout and "created" in done.stdout
    records = state_of(repo)
    assert {s: (r["branch"], r["worktree"], r["state"], r["setup"]["status"]) for s, r in records.items()} == {
        s: (f"wta/{s}", str(worktree_of(repo, s)), "prepared", "ok") for s in STREAMS}
    log = (repo / ".git" / "wta" / "logs" / "api.log").read_text()
    assert "setup api 4101" in log  # WTA_PORT = base_port + position in zones.yaml

    before = (footprint(repo), (repo / ".git" / "wta" / "state.json").read_bytes())
    again = wta(repo, "up", "--no-launch", check=0)
    assert (footprint(repo), (repo / ".git" / "wta" / "state.json").read_bytes()) == before
    lines = again.stdout.splitlines()
    assert len(lines) == 4 and all("nothing to do" in line for line in lines)
    assert [line.split()[0] for line in lines] == ["infra", "api", "ui", "monitor"]  # `after` order


@pytest.mark.parametrize("hooks_path", [None, ".githooks"])
def test_hooks_fire_in_every_worktree(tmp_path, hooks_path):
    repo = clone_webapp(tmp_path)
    if hooks_path:  # relative: git runs each worktree's own `.githooks/`
        git(repo, "config", "core.hooksPath", hooks_path)
    wta(repo, "up", "--no-launch", check=0)
    outside = {"infra": "src/lib/db.ts", "api": "src/components/Button.tsx", "ui": "src/lib/db.ts",
               "monitor": "ai-agents/setup.md"}
    for stream, path in outside.items():
        where = worktree_of(repo, stream)
        (where / path).write_text("changed\n")
        git(where, "add", path)
        proc = git(where, "commit", "-m", "out of zone", check=False)
        assert proc.returncode != 0, stream
        assert path in proc.stderr and "may not change" in proc.stderr
        assert git(where, "rev-parse", "HEAD").stdout == git(repo, "rev-parse", "main").stdout
        git(where, "reset", "-q")   # wta wrote nothing into the worktree: only the change is listed
        assert git(where, "status", "--porcelain", "-uall").stdout == f" M {path}\n"
    assert git(repo, "status", "--porcelain", "-uall").stdout == ""


def test_a_zone_check_taken_away_is_put_back_by_the_next_wta_up(tmp_path):
    """What can still take the check away (a stream worktree's own core.hooksPath) is shown, and
    `wta up` puts it back; with nothing to put back, it has nothing to do."""
    repo = clone_webapp(tmp_path, example_zones(setup=None))
    wta(repo, "up", "--no-launch", "api", check=0)
    api = worktree_of(repo, "api")
    assert "nothing to do" in wta(repo, "up", "--no-launch", "api", check=0).stdout
    git(api, "config", "--worktree", "core.hooksPath", ".git-hooks-elsewhere")
    assert f"zone check not installed in api ({api})" in wta(repo, "status", check=0).stdout
    assert not refuses_out_of_zone_commit(api, "src/components/Button.tsx")
    git(api, "reset", "-q", "--hard", "HEAD~1")
    again = wta(repo, "up", "--no-launch", "api", check=0).stdout
    assert "reused" in again and f"{api}: its own core.hooksPath was .git-hooks-elsewhere" in again
    assert "zone check not installed" not in wta(repo, "status", check=0).stdout
    assert refuses_out_of_zone_commit(api, "src/components/Button.tsx")


def test_copied_file_is_in_each_worktree_and_never_committed(tmp_path):
    repo = clone_webapp(tmp_path)
    wta(repo, "up", "--no-launch", check=0)
    for stream in STREAMS:
        where = worktree_of(repo, stream)
        assert (where / ".env.local").read_text() == "SECRET=local\n"
        assert git(where, "status", "--porcelain", "--untracked-files=all").stdout == ""
        assert git(where, "check-ignore", "-q", ".env.local", check=False).returncode == 0
        git(where, "add", "-A")
        assert ".env.local" not in git(where, "ls-files").stdout
    assert state_of(repo)["api"]["copied"] == [".env.local"]


def test_a_copy_glob_never_reaches_into_gits_own_directory(tmp_path):
    zones = example_zones(setup=None).replace("copy: [.env.local]", "copy: ['.*/config']")
    repo = clone_webapp(tmp_path, zones, env_local=False)
    write_files(repo, {".vscode/config": "editor settings\n"})   # untracked; so is .git/config, git's own
    done = wta(repo, "up", "--no-launch", "api", check=0)
    api = worktree_of(repo, "api")
    assert (api / ".vscode" / "config").read_text() == "editor settings\n"
    assert (api / ".git").is_file() and "failed" not in done.stdout
    assert state_of(repo)["api"]["copied"] == [".vscode/config"]


def test_missing_copy_file_is_reported_and_not_fatal(tmp_path):
    repo = clone_webapp(tmp_path, example_zones(setup=None), env_local=False)
    done = wta(repo, "up", "--no-launch", "api", check=0)
    assert "not copied: .env.local" in done.stdout
    assert not (worktree_of(repo, "api") / ".env.local").exists()


def test_failing_setup_fails_only_its_stream_and_is_retried(tmp_path):
    repo = clone_webapp(tmp_path, example_zones(setup='["echo hello from $WTA_STREAM", "test $WTA_STREAM != ui"]'))
    done = wta(repo, "up", "--no-launch", check=1)
    ui_line = next(line for line in done.stdout.splitlines() if line.startswith("ui "))
    assert "failed" in ui_line and "test $WTA_STREAM != ui" in ui_line and "exited 1" in ui_line
    records = state_of(repo)
    assert records["ui"]["state"] == "failed" and "ui.log" in records["ui"]["reason"]
    assert records["ui"]["setup"]["exit_code"] == 1
    assert all(records[s]["state"] == "prepared" for s in ("infra", "api", "monitor"))
    assert "hello from ui" in (repo / ".git" / "wta" / "logs" / "ui.log").read_text()
    assert worktree_of(repo, "monitor").is_dir()  # streams after the failed one still prepared

    again = wta(repo, "up", "--no-launch", check=1)
    lines = {line.split()[0]: line for line in again.stdout.splitlines()}
    assert "failed" in lines["ui"]  # setup runs again until it succeeds
    assert all("nothing to do" in lines[s] for s in ("infra", "api", "monitor"))
    assert (repo / ".git" / "wta" / "logs" / "ui.log").read_text().count("hello from ui") == 2


def test_setup_runs_once_every_stream_branch_exists(tmp_path):
    """Worktrees are made side by side, ahead of each stream's setup: a setup starts only once all of
    them (and their branches) are made, or its sandbox could not pin the branches still to come."""
    streams = [f"s{i}" for i in range(8)]
    seen = "git for-each-ref --format='%(refname)' refs/heads/wta/ > .branches-seen"
    zones = "version: 1\nbase: main\nunowned: allow\nsetup: [" + json.dumps(seen) + "]\nstreams:\n" + \
        "".join(f"  {s}:\n    paths: [{s}/**]\n" for s in streams)
    files = {"slow.txt": "checked out slowly\n", ".gitattributes": "slow.txt filter=slow\n",
             **{f"{s}/README": f"{s}\n" for s in streams}}
    repo = make_repo(tmp_path / "repo", zones, files)
    git(repo, "config", "filter.slow.smudge", "sleep 0.2; cat")   # each checkout takes 0.2 s at least
    git(repo, "config", "filter.slow.clean", "cat")
    wta(repo, "up", "--no-launch", check=0)
    every = sorted(f"refs/heads/wta/{s}" for s in streams)
    for stream in streams:
        assert sorted((worktree_of(repo, stream) / ".branches-seen").read_text().split()) == every, stream


def _up_killed_during_its_checkout(tmp_path: Path, sig: int) -> tuple[Path, int]:
    """`wta up --no-launch` of one stream whose checkout hangs (a smudge filter), killed there with `sig`
    sent to its process group (a closed terminal, `kill`); the repository and the exit code."""
    zones = "version: 1\nbase: main\nunowned: allow\nstreams:\n  api:\n    paths: [api/**]\n"
    files = {"api/a.txt": "a\n", "api/slow.txt": "checked out slowly\n", ".gitattributes": "api/slow.txt filter=slow\n"}
    repo = make_repo(tmp_path / "repo", zones, files)
    git(repo, "config", "filter.slow.smudge", "sleep 60; cat")
    git(repo, "config", "filter.slow.clean", "cat")
    proc = subprocess.Popen([sys.executable, "-m", "worktree_agents", "up", "--no-launch"], cwd=repo,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while not (worktree_of(repo, "api") / "api" / "a.txt").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert (worktree_of(repo, "api") / "api" / "a.txt").exists(), "the checkout never started"
        os.killpg(proc.pid, sig)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    git(repo, "config", "filter.slow.smudge", "cat")
    return repo, proc.returncode


@pytest.mark.parametrize("sig, code", [(signal.SIGTERM, 143), (signal.SIGHUP, 130)], ids=["SIGTERM", "SIGHUP"])
def test_wta_up_ended_during_a_checkout_undoes_the_worktree_as_ctrl_c_does(tmp_path, sig, code):
    """Either signal had ended wta up on the spot: a worktree half checked out (no index) that the next
    wta up reused as it was."""
    repo, returncode = _up_killed_during_its_checkout(tmp_path, sig)
    assert returncode == code
    assert not worktree_of(repo, "api").exists() and "refs/heads/wta/api" not in branches(repo)
    assert "created" in wta(repo, "up", "--no-launch", check=0).stdout
    assert git(worktree_of(repo, "api"), "status", "--porcelain").stdout == ""


def test_wta_up_after_one_killed_during_a_checkout_finishes_it(tmp_path):
    """SIGKILL leaves the worktree made, tied to its stream, with part of its files and no index: the next
    wta up had taken it as it was (its files deleted in git's eyes, the agent starting in it)."""
    repo, returncode = _up_killed_during_its_checkout(tmp_path, signal.SIGKILL)
    assert returncode == -signal.SIGKILL
    assert worktree_of(repo, "api").exists() and git(worktree_of(repo, "api"), "status", "--porcelain").stdout != ""
    wta(repo, "up", "--no-launch", check=0)
    assert git(worktree_of(repo, "api"), "status", "--porcelain").stdout == ""
    assert (worktree_of(repo, "api") / "api" / "slow.txt").read_text() == "checked out slowly\n"


@pytest.mark.parametrize("own_commit", [False, True], ids=["moved", "rebased"])
def test_wta_sync_killed_while_it_moves_the_worktree_is_finished_by_the_next(tmp_path, own_commit):
    """Killed between writing the worktree's files and moving its branch, `wta sync` had left the base's
    changes there as the stream's uncommitted ones ("commit or stash them"), the branch at its old tip."""
    zones = "version: 1\nbase: main\nunowned: allow\nstreams:\n  api:\n    paths: [api/**]\n"
    files = {"api/a.txt": "a\n", "top/slow.txt": "one\n", "top/b.txt": "b\n",
             ".gitattributes": "top/slow.txt filter=slow\n"}
    repo = make_repo(tmp_path / "repo", zones, files)
    git(repo, "config", "filter.slow.clean", "cat")
    git(repo, "config", "filter.slow.smudge", "cat")
    wta(repo, "up", "--no-launch", check=0)
    if own_commit:
        (worktree_of(repo, "api") / "api" / "a.txt").write_text("api work\n")
        commit_all(worktree_of(repo, "api"), "[api] work")
    write_files(repo, {"top/b.txt": "b, changed on main\n", "top/new.txt": "new\n", "top/slow.txt": "two\n"})
    main = commit_all(repo, "main moves")
    git(repo, "config", "filter.slow.smudge", "sleep 60; cat")   # the sync's checkout of slow.txt hangs
    old = git(repo, "rev-parse", "wta/api").stdout.strip()
    proc = subprocess.Popen([sys.executable, "-m", "worktree_agents", "sync", "api"], cwd=repo,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        journal = repo / ".git" / "wta" / "sync" / "api.move"
        deadline = time.monotonic() + 30
        while not (journal.exists() and (worktree_of(repo, "api") / "top" / "new.txt").exists()) \
                and time.monotonic() < deadline:
            time.sleep(0.05)
        assert journal.exists(), "the sync never began to move the worktree"
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    git(repo, "config", "filter.slow.smudge", "cat")
    assert git(repo, "rev-parse", "wta/api").stdout.strip() == old   # cut short: the branch has not moved
    # A person's edit there since is no part of the move: kept, and the move waits for it, as it does for
    # the file the kill left half written (slow.txt), neither the old commit's nor the new one's.
    (worktree_of(repo, "api") / "api" / "a.txt").write_text("a person's edit\n")
    refused = wta(repo, "sync", "api", check=1)
    assert "was cut short, and api/a.txt, top/slow.txt are neither as the move found them nor as it would make " \
        "them" in refused.stderr, refused.stderr
    assert (worktree_of(repo, "api") / "api" / "a.txt").read_text() == "a person's edit\n"
    git(worktree_of(repo, "api"), "restore", "--", "api/a.txt", "top/slow.txt")
    done = wta(repo, "sync", "api", check=0)
    assert "finished moving wta/api from " in done.stdout, done.stdout + done.stderr
    api = worktree_of(repo, "api")
    assert git(api, "status", "--porcelain").stdout == ""
    assert git(api, "merge-base", "--is-ancestor", main, "HEAD", check=False).returncode == 0
    assert (api / "top" / "slow.txt").read_text() == "two\n" and (api / "top" / "new.txt").exists()
    assert (api / "api" / "a.txt").read_text() == ("api work\n" if own_commit else "a\n")
    assert not journal.exists()


def test_a_prepared_worktree_whose_index_a_person_removed_keeps_their_changes(tmp_path):
    """Only a worktree never prepared is checked out anew: one a person has worked in, its index removed
    (to mend it, say), keeps its changed files."""
    repo = make_repo(tmp_path / "repo", "version: 1\nbase: main\nunowned: allow\nstreams:\n  api:\n"
                                        "    paths: [api/**]\n", {"api/a.txt": "a\n"})
    wta(repo, "up", "--no-launch", check=0)
    api = worktree_of(repo, "api")
    (api / "api" / "a.txt").write_text("a person's work\n")
    (Path(git(api, "rev-parse", "--absolute-git-dir").stdout.strip()) / "index").unlink()
    wta(repo, "up", "--no-launch", check=None)
    assert (api / "api" / "a.txt").read_text() == "a person's work\n"


def test_wta_up_killed_during_the_checkout_of_a_worktree_made_again_finishes_it(tmp_path):
    """The stream's worktree was removed by hand (its record kept), made again by a `wta up` that was killed
    during the checkout: the next `wta up` had called the empty worktree "up to date"."""
    repo, _ = _up_killed_during_its_checkout(tmp_path, signal.SIGKILL)
    wta(repo, "up", "--no-launch", check=0)
    git(repo, "worktree", "remove", "--force", str(worktree_of(repo, "api")))
    git(repo, "config", "filter.slow.smudge", "sleep 60; cat")
    proc = subprocess.Popen([sys.executable, "-m", "worktree_agents", "up", "--no-launch"], cwd=repo,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.monotonic() + 30
    while not (worktree_of(repo, "api") / "api" / "a.txt").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    git(repo, "config", "filter.slow.smudge", "cat")
    wta(repo, "up", "--no-launch", check=0)
    assert git(worktree_of(repo, "api"), "status", "--porcelain").stdout == ""
    assert (worktree_of(repo, "api") / "api" / "slow.txt").read_text() == "checked out slowly\n"


def test_wta_down_killed_while_git_deletes_the_worktree_is_finished_by_the_next(tmp_path):
    """git deletes a worktree's `.git` first, then its files: killed in between, `wta down` had left the
    folder, which the next one called already gone and `wta up` refused as not the stream's."""
    zones = "version: 1\nbase: main\nunowned: allow\nstreams:\n  api:\n    paths: [api/**]\n"
    repo = make_repo(tmp_path / "repo", zones, {f"api/many/f{i}.txt": f"{i}\n" for i in range(3000)})
    wta(repo, "up", "--no-launch", check=0)
    folder = worktree_of(repo, "api")
    # wta's `git worktree remove` does git's first step (the `.git` file goes) and waits there to be killed: the
    # test's kill had to land within the real git's deletion of the files, and on a loaded machine came after it.
    shim, removing = tmp_path / "shim", tmp_path / "removing"
    shim.mkdir()
    (shim / "git").write_text(f'#!/bin/sh\ncase " $* " in *" worktree remove "*) rm -f "{folder}/.git"; '
                              f'touch {removing}; exec sleep 60;; esac\nexec {shutil.which("git")} "$@"\n')
    (shim / "git").chmod(0o755)
    proc = subprocess.Popen([sys.executable, "-m", "worktree_agents", "down", "api"], cwd=repo,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
                            env={**os.environ, "WTA_GIT": str(shim / "git")})
    deadline = time.monotonic() + 30
    while not removing.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert folder.is_dir() and not os.path.lexists(folder / ".git"), "the kill came too late to leave the folder"
    refused = wta(repo, "up", "--no-launch", "api", check=2)
    assert "which a `wta down` cut short was removing; run `wta down api` to finish" in refused.stderr
    done = wta(repo, "down", "api", check=0)
    assert f"removed    {folder}" in done.stdout and "by hand" not in done.stdout, done.stdout
    assert not folder.exists()
    assert "created" in wta(repo, "up", "--no-launch", "api", check=0).stdout


def _sync_killed_at(tmp_path: Path, words: str) -> tuple[Path, str]:
    """A repository whose stream api is behind main (main changed top.txt), and a `wta sync api` killed when
    it runs the git whose command line holds `words`; the repository and main's tip."""
    zones = "version: 1\nbase: main\nunowned: allow\nstreams:\n  api:\n    paths: [api/**]\n"
    repo = make_repo(tmp_path / "repo", zones, {"api/a.txt": "a\n", "top.txt": "one\n"})
    wta(repo, "up", "--no-launch", check=0)
    write_files(repo, {"top.txt": "two\n"})
    main = commit_all(repo, "main moves")
    shim = tmp_path / "shim"
    shim.mkdir()
    (shim / "git").write_text(f'#!/bin/sh\ncase " $* " in *"{words}"*) kill -9 $PPID; exit 1;; '
                              f'esac\nexec {shutil.which("git")} "$@"\n')
    (shim / "git").chmod(0o755)
    killed = subprocess.run([sys.executable, "-m", "worktree_agents", "sync", "api"], cwd=repo, capture_output=True,
                            env={**os.environ, "WTA_GIT": str(shim / "git")})
    assert killed.returncode == -signal.SIGKILL
    return repo, main


def test_wta_sync_killed_before_moving_the_files_keeps_an_edit_of_one_it_moves(tmp_path):
    """The next sync had taken every file the move writes as the move's, a person's edit there with them."""
    repo, main = _sync_killed_at(tmp_path, "read-tree -m -u")
    api = worktree_of(repo, "api")
    (api / "top.txt").write_text("a person's edit\n")
    refused = wta(repo, "sync", "api", check=1)
    assert "top.txt is neither as the move found it nor as it would make it" in refused.stderr, refused.stderr
    assert (api / "top.txt").read_text() == "a person's edit\n"
    git(api, "restore", "top.txt")
    assert "finished moving wta/api" in wta(repo, "sync", "api", check=0).stdout
    assert git(repo, "rev-parse", "wta/api").stdout.strip() == main and (api / "top.txt").read_text() == "two\n"


def test_wta_sync_killed_before_moving_the_files_finishes_carrying_an_edit_the_move_does_not_touch(tmp_path):
    """A sync moves a worktree with local changes the move does not touch (they are carried along): the
    next sync after one killed before its files moved had named such a change and waited for it."""
    repo, main = _sync_killed_at(tmp_path, "read-tree -m -u")
    api = worktree_of(repo, "api")
    (api / "api" / "a.txt").write_text("a person's edit\n")
    done = wta(repo, "sync", "api", check=0)
    assert "finished moving wta/api" in done.stdout, done.stderr
    assert git(repo, "rev-parse", "wta/api").stdout.strip() == main and (api / "top.txt").read_text() == "two\n"
    assert (api / "api" / "a.txt").read_text() == "a person's edit\n"
    assert git(api, "status", "--porcelain").stdout == " M api/a.txt\n"


def test_wta_sync_killed_after_moving_the_files_keeps_an_edit_made_since(tmp_path):
    """Killed between the files and the branch, then a person edits there: the next sync had written the
    new commit's files over everything (`read-tree --reset`), the edit with them."""
    repo, main = _sync_killed_at(tmp_path, "wta sync: move to the base")
    api = worktree_of(repo, "api")
    assert (api / "top.txt").read_text() == "two\n"                 # the files had moved, not the branch
    (api / "api" / "a.txt").write_text("a person's edit\n")
    done = wta(repo, "sync", "api", check=0)
    assert "finished moving wta/api" in done.stdout
    assert git(repo, "rev-parse", "wta/api").stdout.strip() == main
    assert (api / "api" / "a.txt").read_text() == "a person's edit\n"
    assert git(api, "status", "--porcelain").stdout == " M api/a.txt\n"


def test_only_the_named_streams_are_prepared(tmp_path):
    repo = clone_webapp(tmp_path)
    wta(repo, "up", "--no-launch", "ui", check=0)
    assert worktree_of(repo, "ui").is_dir() and not worktree_of(repo, "api").exists()
    assert "refs/heads/wta/api" not in branches(repo)


def test_an_existing_stream_branch_is_reused(tmp_path):
    """One wta made (its worktree removed since, the branch kept) at once; one made elsewhere, with commits
    the base lacks, only through a worktree a person gives it: a sandboxed agent can make a branch beside
    its own, and `wta up` had taken one for a later stream's, landing the agent's commits in its name."""
    repo = clone_webapp(tmp_path)
    wta(repo, "up", "--no-launch", "ui", check=0)
    (worktree_of(repo, "ui") / "src" / "components" / "page.txt").write_text("ui work\n")
    ui_tip = commit_all(worktree_of(repo, "ui"), "ui work")
    wta(repo, "down", "--force", "ui", check=0)
    assert "new branch" not in wta(repo, "up", "--no-launch", "ui", check=0).stdout
    assert git(worktree_of(repo, "ui"), "rev-parse", "HEAD").stdout.strip() == ui_tip
    # A repository an earlier wta left its branches in (no record of them yet): taken as they are, once.
    wta(repo, "down", "--force", "ui", check=0)
    (repo / ".git" / "wta" / "branches").unlink()
    assert "new branch" not in wta(repo, "up", "--no-launch", "ui", check=0).stdout
    assert "wta/ui\n" in (repo / ".git" / "wta" / "branches").read_text()

    git(repo, "branch", "wta/api", "main")
    git(repo, "worktree", "add", "-q", str(tmp_path / "scratch"), "wta/api")
    (tmp_path / "scratch" / "src" / "lib" / "db.ts").write_text("earlier work\n")
    tip = commit_all(tmp_path / "scratch", "earlier work")
    git(repo, "worktree", "remove", str(tmp_path / "scratch"))
    refused = wta(repo, "up", "--no-launch", "api", check=2)
    adopt = f"git worktree add {worktree_of(repo, 'api')} wta/api"
    assert "branch wta/api has commits main lacks, and wta neither made it nor saw a worktree of it" in refused.stderr
    assert adopt in refused.stderr and not worktree_of(repo, "api").exists()
    git(repo, *adopt.split()[1:])
    done = wta(repo, "up", "--no-launch", "api", check=0)
    assert "new branch" not in done.stdout
    assert git(worktree_of(repo, "api"), "rev-parse", "HEAD").stdout.strip() == tip


def test_a_stream_branch_with_commits_is_refused_at_the_first_wta_up_too(tmp_path):
    """With no wta state at all, the branches there were had been taken as an earlier wta's."""
    repo = clone_webapp(tmp_path)
    git(repo, "branch", "wta/ui", "main")
    git(repo, "worktree", "add", "-q", str(tmp_path / "scratch"), "wta/ui")
    (tmp_path / "scratch" / "src" / "components" / "z.txt").write_text("z\n")
    commit_all(tmp_path / "scratch", "made before wta")
    git(repo, "worktree", "remove", str(tmp_path / "scratch"))
    refused = wta(repo, "up", "--no-launch", check=2)
    assert "branch wta/ui has commits main lacks, and wta neither made it nor saw a worktree of it" in refused.stderr
    assert not (repo / ".git" / "wta" / "state.json").exists() and not worktree_of(repo, "api").exists()


def test_a_worktree_made_by_hand_at_the_path_is_adopted(tmp_path):
    repo = clone_webapp(tmp_path)
    where = worktree_of(repo, "ui")
    git(repo, "worktree", "add", "-q", "-b", "wta/ui", str(where), "main")
    done = wta(repo, "up", "--no-launch", "ui", check=0)
    assert "reused" in done.stdout
    assert (where / ".env.local").exists() and state_of(repo)["ui"]["state"] == "prepared"


def test_bad_launch_options_are_refused_before_anything_is_made(tmp_path):
    repo = clone_webapp(tmp_path)
    before = footprint(repo)
    assert "--runner robot" in wta(repo, "up", "--runner", "robot", check=2).stderr
    assert "--max-parallel 0" in wta(repo, "up", "--max-parallel", "0", check=2).stderr
    assert footprint(repo) == before


def test_sparse_worktrees_hold_only_the_zone_read_only_paths_and_top_level_files(tmp_path):
    repo = clone_webapp(tmp_path, example_zones(setup=None, sparse=True))
    done = wta(repo, "up", "--no-launch", "api", "ui", check=0)
    assert "sparse (cone)" in done.stdout and "sparse (patterns)" in done.stdout

    def files(where: Path) -> set[str]:
        return {str(p.relative_to(where)) for p in where.rglob("*")
                if p.is_file() and ".git" not in p.relative_to(where).parts}

    top = {"package.json", "tsconfig.json", ".env.example", "tailwind.config.ts", "README.md", "zones.yaml",
           ".env.local"}
    # api's zone is whole directories: cone mode, which also keeps the files directly in src/app.
    assert files(worktree_of(repo, "api")) == top | {
        "src/app/api/health/route.ts", "src/lib/db.ts", "docs/specs/api.md", "src/app/page.tsx",
        "src/app/layout.tsx"}
    # ui names single files: pattern mode, exact.
    assert files(worktree_of(repo, "ui")) == top | {
        "src/components/Button.tsx", "src/app/page.tsx", "src/app/layout.tsx", "docs/specs/api.md"}
    api = worktree_of(repo, "api")
    assert git(api, "config", "index.sparse").stdout.strip() == "true"
    assert git(api, "status", "--porcelain").stdout == ""
    assert git(repo, "config", "--get", "core.sparseCheckout", check=False).stdout.strip() != "true"
    assert (repo / "src" / "components" / "Button.tsx").exists()  # the main worktree stays full
    again = wta(repo, "up", "--no-launch", "api", "ui", check=0).stdout.splitlines()
    assert len(again) == 2 and all("nothing to do" in line for line in again)   # both modes read back as set


def test_an_existing_sparse_worktree_follows_its_zone_when_it_changes(tmp_path):
    """The sparse patterns were set only when the worktree was made: a zone widened on the base stayed
    out of the agent's sight, and `wta up` said "nothing to do"."""
    repo = clone_webapp(tmp_path, example_zones(setup=None, sparse=True))
    write_files(repo, {"extra/notes.md": "notes\n"})
    commit_all(repo, "extra notes")
    wta(repo, "up", "--no-launch", "api", check=0)
    api = worktree_of(repo, "api")
    assert not (api / "extra").exists()

    zones = (repo / "zones.yaml").read_text()
    widened = zones.replace("paths: [src/app/api/**, src/lib/**]", "paths: [src/app/api/**, src/lib/**, extra/**]")
    assert widened != zones
    write_files(repo, {"zones.yaml": widened})
    commit_all(repo, "api takes extra/")
    wta(repo, "sync", "api", check=0)

    again = wta(repo, "up", "--no-launch", "api", check=0)
    assert again.stdout.startswith("api          reused      wta/api") and "sparse (cone)" in again.stdout
    assert (api / "extra" / "notes.md").read_text() == "notes\n"
    assert git(api, "sparse-checkout", "list").stdout.splitlines() == ["docs/specs", "extra", "src/app/api", "src/lib"]
    assert "nothing to do" in wta(repo, "up", "--no-launch", "api", check=0).stdout   # and only once

    write_files(repo, {"zones.yaml": widened.replace("sparse: true", "sparse: false")})
    commit_all(repo, "no sparse checkouts")
    wta(repo, "sync", "api", check=0)
    wta(repo, "up", "--no-launch", "api", check=0)
    assert (api / "src" / "components" / "Button.tsx").exists()
    assert git(api, "sparse-checkout", "list", check=False).returncode != 0


def sparse_keys(worktree: Path) -> list[str]:
    """The sparse-checkout settings in a worktree's own config.worktree."""
    config = Path(git(worktree, "rev-parse", "--absolute-git-dir").stdout.strip()) / "config.worktree"
    keys = git(worktree, "config", "--file", str(config), "--name-only", "--list", check=False).stdout.split()
    return [k for k in keys if "sparse" in k]


def test_a_new_worktree_is_complete_though_the_main_worktree_is_sparse(tmp_path):
    """`git worktree add` copies the sparse checkout of the worktree it runs in: with `sparse: false` a new
    stream worktree held only what the main worktree did (ui without its own zone), and `wta up` said
    "nothing to do"."""
    repo = clone_webapp(tmp_path, example_zones(setup=None))
    git(repo, "sparse-checkout", "set", "--sparse-index", "src/app/api", "prompts")   # (api's prompt_file)
    wta(repo, "up", "--no-launch", "api", "ui", check=0)
    for stream in ("api", "ui"):
        where = worktree_of(repo, stream)
        assert all((where / f).is_file() for f in git(where, "ls-files").stdout.splitlines())
        assert git(where, "sparse-checkout", "list", check=False).returncode != 0
        assert sparse_keys(where) == []
        assert not (Path(git(where, "rev-parse", "--absolute-git-dir").stdout.strip()) / "info" /
                    "sparse-checkout").exists()
        assert git(where, "status", "--porcelain").stdout == ""
    assert (worktree_of(repo, "ui") / "src" / "components" / "Button.tsx").is_file()
    assert not (repo / "src" / "components").exists()   # the main worktree stays as its person made it
    assert git(repo, "sparse-checkout", "list").stdout.splitlines() == ["prompts", "src/app/api"]
    again = wta(repo, "up", "--no-launch", "api", "ui", check=0).stdout.splitlines()
    assert len(again) == 2 and all(line.endswith("(nothing to do)") for line in again)


def test_a_new_worktree_gets_none_of_the_main_worktrees_own_config(tmp_path):
    """`git worktree add` copies the main worktree's whole config.worktree: its core.hooksPath was taken for
    the stream worktree's own (`wta hooks uninstall` "gave it back" there), and its user.email signed the
    stream's commits."""
    repo = clone_webapp(tmp_path, example_zones(setup=None))
    mine = tmp_path / "main-hooks"
    mine.mkdir()
    (mine / "pre-commit").write_text(f"#!/bin/sh\ntouch {tmp_path}/main-hook-ran\n")
    (mine / "pre-commit").chmod(0o755)
    git(repo, "config", "extensions.worktreeConfig", "true")
    git(repo, "config", "--worktree", "core.hooksPath", str(mine))
    git(repo, "config", "--worktree", "user.email", "main-only@example.invalid")
    git(repo, "sparse-checkout", "set", "src", "prompts")
    up = wta(repo, "up", "--no-launch", "api", check=0)
    assert "core.hooksPath" not in up.stdout + up.stderr, up.stdout + up.stderr
    api = worktree_of(repo, "api")
    own = Path(git(api, "rev-parse", "--absolute-git-dir").stdout.strip()) / "config.worktree"
    keys = git(api, "config", "--file", str(own), "--name-only", "--list", check=False).stdout.split()
    assert keys == ["core.hookspath"]   # wta's own hooks, nothing of the main worktree's
    assert git(api, "config", "--worktree", "core.hooksPath").stdout.strip() != str(mine)
    write_files(api, {"src/lib/new.ts": "x\n"})
    git(api, "add", "-A")
    git(api, "commit", "-q", "-m", "new")
    assert git(api, "log", "-1", "--format=%ae %s").stdout.strip() != "main-only@example.invalid [api] new"
    assert not (tmp_path / "main-hook-ran").exists()
    uninstalled = wta(repo, "hooks", "uninstall", check=0)
    assert str(mine) not in uninstalled.stdout + uninstalled.stderr
    assert git(api, "config", "--worktree", "core.hooksPath", check=False).stdout.strip() != str(mine)
    # The main worktree keeps its own, as its person set them.
    assert git(repo, "config", "--worktree", "core.hooksPath").stdout.strip() == str(mine)
    assert git(repo, "config", "--worktree", "user.email").stdout.strip() == "main-only@example.invalid"


def test_a_new_sparse_worktree_is_sparse_as_its_zone_says_not_as_the_main_worktree(tmp_path):
    repo = clone_webapp(tmp_path, example_zones(setup=None, sparse=True))
    git(repo, "sparse-checkout", "set", "--sparse-index", "ai-agents", "prompts")
    wta(repo, "up", "--no-launch", "api", "ui", check=0)
    api, ui = worktree_of(repo, "api"), worktree_of(repo, "ui")
    assert git(api, "sparse-checkout", "list").stdout.splitlines() == ["docs/specs", "src/app/api", "src/lib"]
    assert sorted(sparse_keys(api)) == ["core.sparsecheckout", "core.sparsecheckoutcone", "index.sparse"]
    # ui's zone names files: pattern mode, which has no sparse index (the main worktree's was copied).
    assert "ai-agents" not in git(ui, "sparse-checkout", "list").stdout
    assert sorted(sparse_keys(ui)) == ["core.sparsecheckout", "core.sparsecheckoutcone"]
    assert git(ui, "config", "--worktree", "core.sparseCheckoutCone").stdout.strip() == "false"
    assert not (api / "ai-agents").exists() and not (ui / "ai-agents").exists()


def test_an_existing_worktree_made_sparse_not_by_wta_is_left_so_and_said(tmp_path):
    """With `sparse: false`, a sparse stream worktree wta did not make so (a person did, or an earlier wta's
    `git worktree add` copied the main worktree's) stays sparse: which of the two, wta cannot tell."""
    repo = clone_webapp(tmp_path, example_zones(setup=None))
    wta(repo, "up", "--no-launch", "ui", check=0)
    ui = worktree_of(repo, "ui")
    git(ui, "sparse-checkout", "set", "src/components")
    again = wta(repo, "up", "--no-launch", "ui", check=0).stdout
    assert "(nothing to do)" in again and "`git sparse-checkout disable` in it checks out every file" in again
    assert git(ui, "sparse-checkout", "list").stdout.splitlines() == ["src/components"]
    git(ui, "sparse-checkout", "disable")
    assert "sparse" not in wta(repo, "up", "--no-launch", "ui", check=0).stdout


def test_up_starts_without_typer_and_says_what_the_cli_says(tmp_path):
    fast_repo = clone_webapp(tmp_path / "fast", example_zones(setup=None))
    typer_repo = clone_webapp(tmp_path / "typer", example_zones(setup=None))
    profiled = {**os.environ, "PYTHONPROFILEIMPORTTIME": "1"}
    fast = wta(fast_repo, "--debug", "up", "api", "--no-launch", "ui", check=0, env=profiled)
    imported = {line.rsplit("|", 1)[1].strip() for line in fast.stderr.splitlines() if line.count("|") == 2}
    assert "worktree_agents.worktrees" in imported
    assert not {name for name in imported if name.split(".")[0] in ("typer", "click", "rich")}
    through_typer = subprocess.run(
        [sys.executable, "-c", "import sys; from worktree_agents.cli import app; sys.exit(app(args=['up', 'api', "
                               "'--no-launch', 'ui'], prog_name='wta', standalone_mode=False))"],
        cwd=typer_repo, capture_output=True, text=True)
    assert through_typer.returncode == 0, through_typer.stderr
    assert fast.stdout == through_typer.stdout and "api" in fast.stdout and "ui" in fast.stdout
    assert worktree_of(fast_repo, "ui").is_dir() and not worktree_of(fast_repo, "infra").exists()
    # Anything else still goes through typer: its help, its checks and its one-line usage errors.
    assert "--max-parallel" in wta(fast_repo, "up", "--help", check=0).stdout
    typo = wta(fast_repo, "up", "--no-lanch", check=2)
    assert typo.stderr.startswith("wta: No such option: --no-lanch") and len(typo.stderr.splitlines()) == 1
    unknown = wta(fast_repo, "up", "--no-launch", "nosuch", check=2)
    assert "unknown stream 'nosuch'" in unknown.stderr and len(unknown.stderr.splitlines()) == 1
    # `--land` and `--detach` skip typer too, and up's own checks answer them the same way.
    clash = wta(fast_repo, "up", "--land", "ui", "--no-launch", check=2, env=profiled)
    assert not {line for line in clash.stderr.splitlines() if "| typer" in line}
    assert clash.stderr.splitlines()[-1] == ("wta: --no-launch starts no session, so --land would do nothing; "
                                             "drop one or the other")
    twice = wta(fast_repo, "up", "-d", "--detach", "--no-launch", check=2, env=profiled)
    assert {line for line in twice.stderr.splitlines() if "| typer" in line}  # not the fast path's form


def test_a_sparse_worktree_in_pattern_mode_holds_directory_patterns_in_full(tmp_path):
    # `name/` patterns (a directory at any depth, or anchored) go to git as the files below them.
    zones = example_zones(setup=None, sparse=True).replace(
        "paths: [src/components/**, src/app/page.tsx,", "paths: [components/, /src/lib/, src/app/page.tsx,")
    zones = zones.replace("paths: [src/app/api/**, src/lib/**]", "paths: [src/app/api/**]")
    repo = clone_webapp(tmp_path, zones)
    done = wta(repo, "up", "--no-launch", "ui", check=0)
    assert "sparse (patterns)" in done.stdout
    ui = worktree_of(repo, "ui")
    checked_out = {str(p.relative_to(ui)) for p in ui.rglob("*") if p.is_file() and p.name != ".git"}
    assert {"src/components/Button.tsx", "src/lib/db.ts", "src/app/page.tsx"} <= checked_out
    assert "src/app/api/health/route.ts" not in checked_out
    assert git(ui, "status", "--porcelain").stdout == ""


def test_two_ups_at_once_one_waits_the_other_reports_the_lock(tmp_path):
    # The first up holds the lock in its setup until the impatient one has met it (`gate`, at most 60 s): a setup
    # of a fixed second a stream could end, on a loaded machine, before the impatient one tried the lock.
    gate = tmp_path / "met"
    repo = clone_webapp(tmp_path, example_zones(
        setup=f'["n=0; while [ ! -f {gate} ] && [ $n -lt 1200 ]; do sleep 0.05; n=$((n + 1)); done"]'))
    env = dict(os.environ)
    first = subprocess.Popen([sys.executable, "-m", "worktree_agents", "up", "--no-launch"], cwd=repo,
                             env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lock = repo / ".git" / "wta" / "lock"
    deadline = time.monotonic() + 20
    while not (lock.exists() and lock.stat().st_size) and time.monotonic() < deadline:
        time.sleep(0.02)
    waiter = subprocess.Popen([sys.executable, "-m", "worktree_agents", "up", "--no-launch"], cwd=repo,
                              env={**env, "WTA_LOCK_TIMEOUT": "30"}, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    impatient = wta(repo, "up", "--no-launch", env={**env, "WTA_LOCK_TIMEOUT": "0.3"}, check=1)
    assert "`wta up --no-launch` (pid" in impatient.stderr and " since " in impatient.stderr
    assert len(impatient.stderr.strip().splitlines()) == 1
    gate.touch()
    assert first.wait(timeout=60) == 0
    out, errors = waiter.communicate(timeout=60)
    assert waiter.returncode == 0, errors
    assert len(out.splitlines()) == 4 and all("nothing to do" in line for line in out.splitlines())
    registered = [line[len("worktree "):] for line in git(repo, "worktree", "list", "--porcelain").stdout.splitlines()
                  if line.startswith("worktree ")][1:]
    assert sorted(registered) == sorted(str(worktree_of(repo, s)) for s in STREAMS)
    assert all(r["state"] == "prepared" for r in state_of(repo).values())


@pytest.mark.parametrize("case", ["not-a-repository", "no-zones", "invalid-zones", "missing-base", "bare",
                                  "detached", "unborn", "path-taken", "branch-elsewhere", "unknown-stream",
                                  "overlapping-zones", "missing-prompt-file", "branch-clash", "worktrees-a-file",
                                  "worktrees-shared", "stream-branch-in-main", "worktrees-too-long"])
def test_refusals_exit_2_and_create_nothing(tmp_path, case):
    args = ["up", "--no-launch"]
    if case == "not-a-repository":
        where = tmp_path / "plain"
        where.mkdir()
        (where / "zones.yaml").write_text(example_zones())
    elif case == "no-zones":
        seed = make_repo(tmp_path / "seed", zones="")
        (seed / "zones.yaml").unlink()
        commit_all(seed, "no zones")
        git(tmp_path, "clone", "-q", str(seed), "webapp")
        where = tmp_path / "webapp"
    elif case == "invalid-zones":
        where = clone_webapp(tmp_path, example_zones().replace("unowned: deny", "unowned: deny\nsparce: true"))
    elif case == "missing-base":
        where = clone_webapp(tmp_path, example_zones().replace("base: main", "base: develop"))
    elif case == "bare":
        clone_webapp(tmp_path)
        where = tmp_path / "origin.git"
    elif case == "detached":
        where = clone_webapp(tmp_path, example_zones(base=False))
        git(where, "checkout", "-q", "--detach")
    elif case == "unborn":
        where = tmp_path / "fresh"
        where.mkdir()
        git(where, "init", "-q", "-b", "main")
        (where / "zones.yaml").write_text(example_zones(base=False))
    elif case == "path-taken":
        where = clone_webapp(tmp_path)
        worktree_of(where, "ui").mkdir(parents=True)
        (worktree_of(where, "ui") / "notes.txt").write_text("mine\n")
    elif case == "branch-elsewhere":
        where = clone_webapp(tmp_path)
        git(where, "worktree", "add", "-q", "-b", "wta/monitor", str(tmp_path / "elsewhere"), "main")
    elif case == "overlapping-zones":  # src/lib/db.ts is api's and ui's
        where = clone_webapp(tmp_path, example_zones().replace("paths: [src/components/**,",
                                                               "paths: [src/lib/db.ts, src/components/**,"))
    elif case == "missing-prompt-file":
        where = clone_webapp(tmp_path, example_zones().replace("prompts/api.md", "prompts/backend.md"))
    elif case == "branch-clash":   # a branch `wta` leaves no room for `wta/infra` (git keeps branches as files)
        where = clone_webapp(tmp_path)
        git(where, "branch", "wta")
    elif case == "worktrees-a-file":   # git worktree add had failed for each stream, each branch left made
        where = clone_webapp(tmp_path)
        worktree_of(where, "ui").parent.write_text("not a directory\n")
    elif case == "worktrees-shared":   # `{stream}/..`: every stream's worktree in one directory
        where = clone_webapp(tmp_path, example_zones().replace("worktrees: ../{repo}-worktrees/{stream}",
                                                               "worktrees: ../wt/{stream}/.."))
    elif case == "worktrees-too-long":   # git worktree add had failed for each stream, the cause cut off
        where = clone_webapp(tmp_path, example_zones().replace("worktrees: ../{repo}-worktrees/{stream}",
                                                               f"worktrees: ../wt/{'w' * 300}/{{stream}}"))
    elif case == "stream-branch-in-main":   # the base is the branch checked out: a person switched to ui's
        where = clone_webapp(tmp_path, example_zones(base=False))
        wta(where, "up", "--no-launch", "api", check=0)
        git(where, "switch", "-q", "-c", "wta/ui")
    else:
        where = clone_webapp(tmp_path)
        args.append("nosuch")
    before = footprint(where)
    done = wta(where, *args, check=2)
    assert footprint(where) == before
    assert done.stdout == ""
    message = done.stderr.strip().splitlines()
    assert len(message) == 1 and message[0].startswith("wta: "), done.stderr
    expected = {"not-a-repository": "not a git repository", "no-zones": "zones.yaml", "invalid-zones": "sparce",
                "missing-base": "'develop'", "bare": "bare", "detached": "detached", "unborn": "unborn",
                "path-taken": "already exists", "branch-elsewhere": "elsewhere", "unknown-stream": "nosuch",
                "overlapping-zones": "overlap: src/lib/db.ts is claimed by api and ui",
                "missing-prompt-file": "zones.yaml:33:18: streams.api.prompt_file: prompts/backend.md does not exist",
                "branch-clash": "stream 'infra': its branch wta/infra cannot be made beside the branch wta (git cannot "
                                "have both); change `branch_prefix:` in zones.yaml, or rename wta",
                "worktrees-a-file": f"cannot make stream 'infra''s worktree there: {worktree_of(where, 'ui').parent} "
                                    "is a file, not a directory; fix that or change `worktrees:` in zones.yaml",
                "worktrees-shared": f"zones.yaml:6:12: worktrees: streams infra and api would share the worktree "
                                    f"{tmp_path / 'wt'}; make each stream's directory its own",
                "stream-branch-in-main": "stream 'ui': its branch wta/ui is checked out in the main worktree "
                                         f"{where}, which makes it the base; switch back to the base there "
                                         "(git switch main), or name it with `base:` in zones.yaml",
                "worktrees-too-long": f"{tmp_path / 'wt' / ('w' * 300) / 'infra'}: cannot make stream 'infra''s "
                                      "worktree there: a directory name in it is 300 bytes long, more than the 255 "
                                      "its file system allows; fix that or change `worktrees:` in zones.yaml"}[case]
    assert expected in message[0]



def stream_marker(worktree: Path) -> str | None:
    marker = Path(git(worktree, "rev-parse", "--absolute-git-dir").stdout.strip()) / "wta-stream"
    return marker.read_text().strip() if marker.exists() else None


def refuses_out_of_zone_commit(worktree: Path, path: str) -> bool:
    (worktree / path).write_text("taken over\n")
    git(worktree, "add", path)
    proc = git(worktree, "commit", "-q", "-m", "out of zone", check=False)
    git(worktree, "reset", "-q", "--hard")
    return proc.returncode != 0 and "may not change" in proc.stderr


def test_a_moved_repository_names_its_stale_hooks_and_wta_hooks_install_points_them_here(tmp_path):
    """A stream worktree's core.hooksPath is an absolute path to wta's hooks. Once the repository and
    its worktrees moved, git ran no hook there (commits went unchecked), `wta status` blamed "something",
    and `wta hooks install` kept wta's old directory as the user's own, for `uninstall` to set back."""
    repo = clone_webapp(tmp_path / "before", example_zones(setup=None))
    wta(repo, "up", "--no-launch", "api", check=0)
    old_hooks = repo / ".git" / "wta" / "hooks"
    shutil.move(str(tmp_path / "before"), str(tmp_path / "after"))
    repo = tmp_path / "after" / "webapp"
    api = worktree_of(repo, "api")
    git(repo, "worktree", "repair", str(api))

    status = wta(repo, "status", check=0).stdout
    assert (f"zone check not installed in api ({api}): its hooks are still wta's at {old_hooks}, from before the "
            "repository moved; `wta hooks install` points it at this repository's") in status
    assert not refuses_out_of_zone_commit(api, "src/components/Button.tsx")
    git(api, "reset", "-q", "--hard", "HEAD~1")
    installed = wta(repo, "hooks", "install", check=0).stdout
    assert "its own core.hooksPath was" not in installed
    assert refuses_out_of_zone_commit(api, "src/components/Button.tsx")
    assert not (repo / ".git" / "wta" / "hooks-path-before").exists()
    wta(repo, "hooks", "uninstall", check=0)
    assert git(api, "config", "--worktree", "--get", "core.hooksPath", check=False).stdout == ""


def test_after_branch_prefix_changes_a_streams_work_is_named_and_renamed_not_skipped(tmp_path):
    """`branch_prefix:` changed after a stream had commits: `wta merge` skipped it ("no branch agent/api")
    and exited 0, and every fix it offered failed (`git switch agent/api`: no such branch). Now the
    stream is refused, naming its branch under the old name and the rename, after which it lands."""
    repo = clone_webapp(tmp_path, example_zones(setup=None))
    wta(repo, "up", "--no-launch", "api", check=0)
    api = worktree_of(repo, "api")
    (api / "src" / "lib" / "cache.ts").write_text("export const cache = 1\n")
    commit_all(api, "a cache")
    zones = (repo / "zones.yaml").read_text().replace("branch_prefix: wta/", "branch_prefix: agent/")
    (repo / "zones.yaml").write_text(zones)
    commit_all(repo, "streams on agent/")

    rename = f"rename it (git -C {api} branch -m wta/api agent/api)"
    merged = wta(repo, "merge", "api", check=1)
    assert rename in merged.stdout + merged.stderr
    assert rename in wta(repo, "up", "--no-launch", "api", check=2).stderr
    assert rename in wta(repo, "diff", "api", check=2).stderr   # (they said `wta up api --no-launch` makes it)
    assert rename in wta(repo, "sync", "api", check=1).stderr
    kept = wta(repo, "down", "api", check=1).stdout   # (it said `wta merge api`, which refuses until renamed)
    assert f"merge the commits (its worktree {api} has branch wta/api checked out" in kept
    assert f"{rename}; then wta merge api)" in kept
    git(api, "branch", "-m", "wta/api", "agent/api")
    wta(repo, "merge", "api", check=0)
    assert git(repo, "show", "main:src/lib/cache.ts").stdout == "export const cache = 1\n"


def test_a_detached_head_with_commits_is_told_how_to_keep_them(tmp_path):
    """`git switch wta/api`, as wta advised for a detached HEAD, left the commits made there in no branch;
    `wta merge` called the stream "nothing to merge" and exited 0."""
    repo = clone_webapp(tmp_path, example_zones(setup=None))
    wta(repo, "up", "--no-launch", "api", check=0)
    api = worktree_of(repo, "api")
    git(api, "checkout", "-q", "--detach")
    (api / "src" / "lib" / "cache.ts").write_text("export const cache = 1\n")
    commit_all(api, "a cache")
    detached = git(api, "rev-parse", "HEAD").stdout.strip()

    fix = f"its worktree {api} has a detached HEAD with commits wta/api lacks; move wta/api there (git -C {api} switch -C wta/api)"
    assert fix in wta(repo, "status", check=0).stdout
    assert fix in wta(repo, "merge", check=1).stderr       # not "nothing to merge", exit 0
    git(api, "switch", "-q", "-C", "wta/api")
    assert git(repo, "rev-parse", "wta/api").stdout.strip() == detached
    assert "detached" not in wta(repo, "status", check=0).stdout


def test_an_interrupted_up_leaves_only_worktrees_held_to_their_zones_and_the_next_run_finishes(tmp_path):
    # Each setup waits for `gate` (at most 60 s), opened once the up is interrupted: a setup of a fixed 5 s could
    # end, on a loaded machine, before the Ctrl-C, and the next stream's setup begin.
    gate = tmp_path / "interrupted"
    repo = clone_webapp(tmp_path, example_zones(
        setup=f'["n=0; while [ ! -f {gate} ] && [ $n -lt 1200 ]; do sleep 0.05; n=$((n + 1)); done"]'))
    proc = subprocess.Popen([sys.executable, "-m", "worktree_agents", "up", "--no-launch"], cwd=repo,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    log = repo / ".git" / "wta" / "logs" / "infra.log"
    deadline = time.monotonic() + 60
    # Ctrl-C during infra's setup, once the other worktrees are made ahead of their turn.
    while time.monotonic() < deadline and not (
            log.exists() and "setup in" in log.read_text()
            and git(repo, "worktree", "list", "--porcelain").stdout.count("worktree ") == 5):
        time.sleep(0.05)
    proc.send_signal(2)
    proc.communicate(timeout=60)
    gate.touch()
    assert proc.returncode != 0
    records = state_of(repo)
    for stream in STREAMS:
        where = worktree_of(repo, stream)
        assert stream_marker(where) == stream
        assert records[stream]["state"] == "failed" and "run wta up again" in records[stream]["reason"]
    assert refuses_out_of_zone_commit(worktree_of(repo, "ui"), "src/lib/db.ts")

    again = wta(repo, "up", "--no-launch", env={**os.environ}, check=0)
    assert [line.split()[1] for line in again.stdout.splitlines()] == ["reused"] * 4
    assert all(r["state"] == "prepared" and r["setup"]["status"] == "ok" for r in state_of(repo).values())


def test_a_copy_that_fails_fails_its_stream_leaves_nothing_half_copied_and_is_retried(tmp_path):
    repo = clone_webapp(tmp_path, example_zones(setup=None).replace("copy: [.env.local]", "copy: [.env*, run]"))
    (repo / "run").mkdir()
    (repo / "run" / "app.conf").write_text("port=1\n")
    os.mkfifo(repo / "run" / "app.sock")  # a named pipe cannot be copied
    done = wta(repo, "up", "--no-launch", "api", check=1)
    assert "failed" in done.stdout and "cannot copy run" in done.stdout and "Traceback" not in done.stderr
    api = worktree_of(repo, "api")
    assert stream_marker(api) == "api" and not (api / "run").exists()
    assert state_of(repo)["api"]["state"] == "failed"
    assert refuses_out_of_zone_commit(api, "src/components/Button.tsx")

    (repo / "run" / "app.sock").unlink()
    again = wta(repo, "up", "--no-launch", "api", check=0)
    assert "reused" in again.stdout
    assert (api / "run" / "app.conf").read_text() == "port=1\n"
    assert (api / ".env.local").read_text() == "SECRET=local\n"  # `.env*` matches dotfiles, as in .gitignore
    assert git(api, "status", "--porcelain", "-uall").stdout == ""


def test_worktrees_placed_inside_the_repository_are_ignored_there(tmp_path):
    repo = clone_webapp(tmp_path, example_zones(setup=None).replace(
        "worktrees: ../{repo}-worktrees/{stream}", "worktrees: .worktrees/{stream}"))
    wta(repo, "up", "--no-launch", "api", "ui", check=0)
    assert (repo / ".worktrees" / "api" / "src" / "lib" / "db.ts").is_file()
    assert git(repo, "status", "--porcelain", "-uall").stdout == ""
    git(repo, "add", "-A")
    assert ".worktrees" not in git(repo, "diff", "--cached", "--name-only").stdout

    # Once removed, their paths are the repository's again: a file a person puts there shows.
    exclude = repo / ".git" / "info" / "exclude"
    heading = "# wta: stream worktrees inside the repository (`worktrees:` in zones.yaml)\n"
    before = exclude.read_text()
    assert heading + "/.worktrees/api\n/.worktrees/ui\n" in before
    exclude.write_text(before + "/.worktrees/mine\n")   # a line of the user's, never wta's to take out
    wta(repo, "down", "api", check=0)
    assert "/.worktrees/api\n" not in exclude.read_text() and "/.worktrees/ui\n" in exclude.read_text()
    wta(repo, "down", "ui", check=0)
    assert exclude.read_text() == before.replace(heading + "/.worktrees/api\n/.worktrees/ui\n", "") + \
        "/.worktrees/mine\n"
    write_files(repo, {".worktrees/ui/new.js": "work\n"})
    assert git(repo, "status", "--porcelain", "-uall").stdout == "?? .worktrees/ui/new.js\n"


def test_up_refuses_a_zones_yaml_that_differs_from_the_one_the_hooks_enforce(tmp_path):
    repo = clone_webapp(tmp_path)
    with (repo / "zones.yaml").open("a") as f:
        f.write("  docs:\n    paths: [docs/guide/**]\n")
    before = footprint(repo)
    done = wta(repo, "up", "--no-launch", check=2)
    assert "differs from the zones.yaml committed on main" in done.stderr and "git commit zones.yaml" in done.stderr
    assert footprint(repo) == before
    commit_all(repo, "a docs stream")
    wta(repo, "up", "--no-launch", "docs", check=0)
    assert stream_marker(worktree_of(repo, "docs")) == "docs"


def test_a_zones_yaml_committed_on_another_branch_than_the_base_is_said_so(tmp_path):
    """`base: develop` while main is checked out, zones.yaml committed on main: wta said to commit it
    (nothing to commit) or restore it (nothing to restore)."""
    repo = clone_webapp(tmp_path)
    git(repo, "branch", "develop", "main")
    text = (repo / "zones.yaml").read_text().replace("base: main", "base: develop")
    (repo / "zones.yaml").write_text(text + "  docs:\n    paths: [docs/guide/**]\n")
    commit_all(repo, "a docs stream, on develop")
    done = wta(repo, "up", "--no-launch", check=2)
    assert ("zones.yaml: committed on main, but the hooks enforce the zones.yaml committed on the base, develop, "
            "which differs; bring the change to develop (git switch develop && git merge main)") in done.stderr
    git(repo, "switch", "-q", "develop")
    git(repo, "merge", "-q", "main")
    git(repo, "switch", "-q", "main")
    wta(repo, "up", "--no-launch", "docs", check=0)


@pytest.mark.parametrize("layout", ["submodule", "separate-git-dir"])
def test_repositories_whose_git_dir_lives_apart_from_the_worktree(tmp_path, layout):
    seed = make_repo(tmp_path / "seed", example_zones(setup=None))
    if layout == "submodule":
        top = make_repo(tmp_path / "super", zones="", files={"README.md": "super\n"})
        git(top, "-c", "protocol.file.allow=always", "submodule", "add", "-q", str(seed), "app")
        repo = top / "app"
    else:
        git(tmp_path, "clone", "-q", "--separate-git-dir", str(tmp_path / "gitdir"), str(seed), "app")
        repo = tmp_path / "app"
    config = git(repo, "config", "--list", "--local").stdout   # a submodule's has core.worktree
    wta(repo, "up", "--no-launch", "api", check=0)
    api = repo.parent / "app-worktrees" / "api"
    assert stream_marker(api) == "api"
    assert refuses_out_of_zone_commit(api, "src/components/Button.tsx")
    shown = json.loads(wta(api, "status", "--json", check=0).stdout)  # from the stream worktree too
    assert shown["repository"] == str(repo)
    assert [s["stream"] for s in shown["streams"] if s["worktree_exists"]] == ["api"]
    assert shown["streams"][1]["zone_check"] is True
    # And it lands: `wta merge` had taken git's name for the main worktree (its git dir) for a worktree
    # whose .git was broken, and refused.
    write_files(api, {"src/lib/db.ts": "export const db = {pool: 2}\n"})
    commit_all(api, "pool")
    merged = wta(repo, "merge", "api", check=0)
    assert merged.returncode == 0, merged.stdout + merged.stderr
    assert (repo / "src" / "lib" / "db.ts").read_text() == "export const db = {pool: 2}\n"   # its files moved too
    wta(repo, "down", "--force", "api", check=0)
    assert git(repo, "config", "--list", "--local").stdout == config


def test_a_locked_worktree_deleted_by_hand_is_named_with_the_fix(tmp_path):
    repo = clone_webapp(tmp_path)
    wta(repo, "up", "--no-launch", "api", "ui", check=0)
    api = worktree_of(repo, "api")
    git(repo, "worktree", "lock", str(api))
    shutil.rmtree(api)
    before = footprint(repo)
    done = wta(repo, "up", "--no-launch", check=2)
    assert "missing but locked" in done.stderr and f"git worktree unlock {api}" in done.stderr
    assert footprint(repo) == before
    down = wta(repo, "down", "api", check=1)
    assert "missing but locked" in down.stdout and "Traceback" not in down.stderr
    git(repo, "worktree", "unlock", str(api))
    wta(repo, "down", "api", check=0)
    assert str(api) not in git(repo, "worktree", "list").stdout


def test_a_stream_branch_deleted_by_hand_under_its_worktree_is_named_with_its_last_tip(tmp_path):
    repo = clone_webapp(tmp_path)
    wta(repo, "up", "--no-launch", "api", "ui", check=0)
    api = worktree_of(repo, "api")
    (api / "src" / "lib" / "db.ts").write_text("api's db\n")
    tip = commit_all(api, "rework the db")
    git(repo, "update-ref", "-d", "refs/heads/wta/api")
    before = footprint(repo)
    done = wta(repo, "up", "--no-launch", check=2)
    assert done.stderr == (f"wta: stream 'api': its branch wta/api was deleted, and its worktree {api} is still "
                           f"there; recreate it at its last tip there (git -C {api} branch wta/api {tip[:12]}), or "
                           f"remove the worktree (git worktree remove {api})\n")
    assert footprint(repo) == before
    git(api, "branch", "wta/api", tip[:12])   # the fix
    wta(repo, "up", "--no-launch", check=0)
    assert git(api, "status", "--porcelain").stdout == ""


def test_a_damaged_state_record_is_one_line_with_the_fix(tmp_path):
    repo = clone_webapp(tmp_path)
    wta(repo, "up", "--no-launch", "api", check=0)
    path = repo / ".git" / "wta" / "state.json"
    data = json.loads(path.read_text())
    data["streams"]["api"]["worktree"] = 7
    path.write_text(json.dumps(data))
    for command in (["status"], ["up", "--no-launch"], ["down"]):
        done = wta(repo, *command, check=2)
        assert done.stderr.strip().splitlines() == [f"wta: {path}: damaged, or not a version 1 wta state file; "
                                                    "delete it and run `wta up` to rebuild it"]


# -- wta down --------------------------------------------------------------------------

def test_down_refuses_unmerged_commits_and_lists_them_until_forced(tmp_path):
    repo = clone_webapp(tmp_path)
    wta(repo, "up", "--no-launch", check=0)
    api = worktree_of(repo, "api")
    (api / "src" / "lib" / "db.ts").write_text("new db\n")
    sha = commit_all(api, "rework the db")
    done = wta(repo, "down", check=1)
    assert f"{sha[:7]} [api] rework the db" in done.stdout
    assert "1 commit(s) not in main" in done.stdout
    assert api.is_dir() and "api" in state_of(repo)
    for stream in ("infra", "ui", "monitor"):  # the others are still removed
        assert not worktree_of(repo, stream).exists()
        assert f"refs/heads/wta/{stream}" in branches(repo)
    assert git(repo, "worktree", "list", "--porcelain").stdout.count("worktree ") == 2

    wta(repo, "down", "--delete-branches", "api", check=1)  # an unmerged branch needs --force too
    assert branches(repo)["refs/heads/wta/api"] == sha and api.is_dir()

    forced = wta(repo, "down", "--force", "api", check=0)
    assert not api.exists() and "branch wta/api kept" in forced.stdout
    assert branches(repo)["refs/heads/wta/api"] == sha
    assert "api" not in state_of(repo)

    wta(repo, "down", "--force", "--delete-branches", check=0)
    assert set(branches(repo)) == {"refs/heads/main"}
    assert git(repo, "worktree", "list", "--porcelain").stdout.count("worktree ") == 1


def test_down_keeps_the_worktree_a_stopped_merge_waits_on_and_names_continue_and_abort(tmp_path):
    """`wta down` kept a stream with unmerged commits saying "merge the commits (wta merge api)", which a
    stopped merge refuses (exit 2); then "wta merge --continue finishes the stopped merge, then wta merge
    api", of the very stream that merge stopped at (the `--continue` lands it), and never `--abort`. The
    stream the stopped merge waits on keeps its worktree in one line naming both."""
    repo = clone_webapp(tmp_path)
    wta(repo, "up", "--no-launch", check=0)
    api = worktree_of(repo, "api")
    write_files(api, {"src/components/Hack.tsx": "not api's\n"})
    git(api, "add", "-A")
    git(api, "commit", "-q", "--no-verify", "-m", "[api] out of the zone")
    assert "1 verification failure(s) in wta/api" in wta(repo, "merge", check=1).stderr
    assert "stopped at api" in wta(repo, "merge", "api", check=2).stderr   # what the old advice ran into

    done = wta(repo, "down", check=1)

    assert ("api          kept       the stopped merge waits on it in this worktree; finish that merge with "
            "`wta merge --continue` or undo it with `wta merge --abort`, or rerun with --force to remove it anyway"
            in done.stdout.splitlines()), done.stdout
    assert api.is_dir() and not worktree_of(repo, "ui").exists()   # (ui: nothing of its own to lose)
    assert "stopped at api" in wta(repo, "status", check=0).stdout
    wta(repo, "down", "--force", "api", check=0)
    assert not api.exists()
    assert "no worktree has wta/api checked out; create one with `wta up api --no-launch`" in \
        wta(repo, "merge", "--continue", check=1).stderr


def test_down_refuses_uncommitted_and_untracked_files_and_names_them(tmp_path):
    repo = clone_webapp(tmp_path)
    wta(repo, "up", "--no-launch", "ui", "monitor", check=0)
    ui = worktree_of(repo, "ui")
    (ui / "src" / "components" / "Card.tsx").write_text("card\n")
    (ui / "tailwind.config.ts").write_text("changed\n")
    done = wta(repo, "down", "ui", check=1)
    assert "src/components/Card.tsx" in done.stdout and "tailwind.config.ts" in done.stdout
    assert ui.is_dir() and worktree_of(repo, "monitor").is_dir()  # only the named stream was considered
    forced = wta(repo, "down", "--force", "ui", check=0)
    assert not ui.exists()
    # Gone with no backup: said in the line that reports the removal (it had said only "removed").
    assert forced.stdout.splitlines() == [f"ui           removed    {ui} (branch wta/ui kept; 2 uncommitted or "
                                          "untracked file(s) discarded: tailwind.config.ts, src/components/Card.tsx)"]


def test_down_quotes_a_kept_file_name_with_control_characters_as_git_does(tmp_path):
    """A file named `<ESC>[2J.tsx` cleared the terminal in down's list of the files it kept the stream for,
    and a newline in a name split the list: each is C-quoted, one path a line."""
    repo = clone_webapp(tmp_path)
    wta(repo, "up", "--no-launch", "ui", check=0)
    ui = worktree_of(repo, "ui")
    (ui / "src" / "components" / "evil\x1b[2J.tsx").write_text("x\n")
    (ui / "src" / "components" / "new\nline.tsx").write_text("x\n")
    done = wta(repo, "down", "ui", check=1)
    assert "\x1b" not in done.stdout
    assert '    "src/components/evil\\033[2J.tsx"' in done.stdout.splitlines()
    assert '    "src/components/new\\nline.tsx"' in done.stdout.splitlines()


def test_down_with_delete_branches_removes_merged_branches_never_the_base(tmp_path):
    repo = clone_webapp(tmp_path)
    wta(repo, "up", "--no-launch", check=0)
    main_before = branches(repo)["refs/heads/main"]
    done = wta(repo, "down", "--delete-branches", check=0)
    assert branches(repo) == {"refs/heads/main": main_before}
    assert done.stdout.count("deleted") == 4
    assert (repo / "zones.yaml").exists() and git(repo, "symbolic-ref", "HEAD").stdout.strip() == "refs/heads/main"
    assert not (repo.parent / "webapp-worktrees").exists()


def test_down_prunes_worktrees_deleted_by_hand(tmp_path):
    repo = clone_webapp(tmp_path)
    wta(repo, "up", "--no-launch", "api", check=0)
    shutil.rmtree(worktree_of(repo, "api"))
    done = wta(repo, "down", "api", check=0)
    assert "pruned" in done.stdout and "already gone" in done.stdout
    assert str(worktree_of(repo, "api")) not in git(repo, "worktree", "list").stdout
    assert state_of(repo) == {}
    assert "refs/heads/wta/api" in branches(repo)


def test_down_never_removes_the_main_worktree(tmp_path):
    repo = clone_webapp(tmp_path)
    git(repo, "switch", "-q", "-c", "wta/api")
    done = wta(repo, "down", "--force", "--delete-branches", "api", check=1)
    assert "main worktree" in done.stdout
    assert (repo / "zones.yaml").exists() and "refs/heads/wta/api" in branches(repo)


def test_down_unknown_stream_is_a_usage_error(tmp_path):
    repo = clone_webapp(tmp_path)
    wta(repo, "up", "--no-launch", "api", check=0)
    done = wta(repo, "down", "nosuch", check=2)
    assert "nosuch" in done.stderr and worktree_of(repo, "api").is_dir()


def test_down_unknown_stream_names_zones_yaml_as_the_other_commands_do(tmp_path):
    """It had said "known streams: ...", unlike every other command's unknown stream."""
    two = "version: 1\nstreams:\n  api: {paths: [src/api/**]}\n  ui: {paths: [src/ui/**]}\n"
    repo = make_repo(tmp_path / "repo", two, {"src/api/a.py": "", "src/ui/u.js": ""})
    wta(repo, "up", "--no-launch", check=0)
    assert wta(repo, "down", "nosuch", check=2).stderr == "wta: unknown stream 'nosuch'; zones.yaml defines: api, ui\n"
    (repo / "zones.yaml").write_text(two.replace("  api: {paths: [src/api/**]}\n", ""))
    commit_all(repo, "api is done")
    done = wta(repo, "down", "nosuch", check=2)
    assert done.stderr == ("wta: unknown stream 'nosuch'; zones.yaml defines: ui; wta still keeps api, taken out of "
                           "zones.yaml\n")
    wta(repo, "down", "api", check=0)   # which it still takes
    assert not worktree_of(repo, "api").exists()



def test_without_the_base_branch_status_says_so_and_down_needs_force(tmp_path):
    repo = clone_webapp(tmp_path)
    wta(repo, "up", "--no-launch", "api", check=0)
    git(repo, "switch", "-q", "-c", "trunk")
    git(repo, "branch", "-q", "-D", "main")
    shown = wta(repo, "status", check=0).stdout
    assert "base main: no such branch" in shown and "None" not in shown
    api_row = next(line for line in shown.splitlines() if line.startswith("api "))
    assert api_row.split()[2] == "-"
    down = wta(repo, "down", "api", check=1)
    assert "base branch 'main' does not exist" in down.stdout and worktree_of(repo, "api").is_dir()
    wta(repo, "down", "--force", "api", check=0)
    assert not worktree_of(repo, "api").exists() and "refs/heads/wta/api" in branches(repo)


def test_a_worktree_left_where_worktrees_pointed_before_is_moved_by_the_command_wta_prints(tmp_path):
    """`worktrees:` changed: the `git worktree move` wta printed failed as written ("No such file or
    directory") when the new place's folder did not exist yet."""
    repo = clone_webapp(tmp_path, example_zones(setup=None))
    wta(repo, "up", "--no-launch", "api", check=0)
    zones = (repo / "zones.yaml").read_text().replace("worktrees: ../{repo}-worktrees/{stream}",
                                                      "worktrees: ../elsewhere/{stream}")
    (repo / "zones.yaml").write_text(zones)
    commit_all(repo, "worktrees elsewhere")

    refused = wta(repo, "up", "--no-launch", "api", check=2).stderr
    fix = re.search(r"move it \((mkdir -p .*? && git worktree move .*?)\) or remove it", refused).group(1)
    subprocess.run(fix, shell=True, cwd=repo, check=True)
    wta(repo, "up", "--no-launch", "api", check=0)
    assert (tmp_path / "elsewhere" / "api" / "src").is_dir()


def test_a_detached_main_worktree_is_told_to_check_out_the_recorded_base_not_main(tmp_path):
    """A repository on master: the fix for a detached HEAD had been `git switch main`, a branch it has not."""
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "master")
    write_files(repo, {"src/api/a.py": "", "src/ui/u.js": "", "README.md": "# r\n",
                       "zones.yaml": "version: 1\nunowned: allow\nstreams:\n  api: {paths: [src/api/**]}\n"
                                     "  ui: {paths: [src/ui/**]}\n"})
    commit_all(repo, "initial")
    git(repo, "checkout", "-q", "--detach")
    first = wta(repo, "up", "--no-launch", "ui", check=2).stderr   # nothing recorded yet: no branch named
    assert "check out the base (git switch <the base branch>)" in first and "git switch main" not in first
    git(repo, "switch", "-q", "master")
    wta(repo, "up", "--no-launch", "api", check=0)
    git(repo, "checkout", "-q", "--detach")
    before = footprint(repo)
    proc = wta(repo, "up", "--no-launch", "ui", check=2)
    assert proc.stderr == (f"wta: {repo}: HEAD is detached, so there is no base branch; check out the base "
                           "(git switch master) or set `base:` in zones.yaml\n")
    assert footprint(repo) == before


def test_a_failed_checkout_names_git_checkout_not_wtas_own_settings(tmp_path):
    """A smudge filter that fails: the reason had begun `git -c core.untrackedCache=true failed:`."""
    repo = make_repo(tmp_path / "repo", "version: 1\nunowned: allow\nstreams:\n  api: {paths: [src/api/**]}\n",
                     {"src/api/a.py": "", ".gitattributes": "src/api/a.py filter=bad\n"})
    git(repo, "config", "filter.bad.smudge", "false")
    git(repo, "config", "filter.bad.required", "true")
    proc = wta(repo, "up", "--no-launch", "api", check=1)
    assert "api          failed      git checkout --quiet failed: " in proc.stdout, proc.stdout
    assert "smudge filter bad failed" in proc.stdout and "core.untrackedCache" not in proc.stdout


def test_a_copy_entry_that_is_a_symbolic_link_is_copied_as_the_link(tmp_path):
    """What docs/security.md says of `copy:`: the link, not the file it points at outside the repository."""
    outside = tmp_path / "secrets.env"
    outside.write_text("KEY=1\n")
    repo = make_repo(tmp_path / "repo", "version: 1\nunowned: allow\ncopy: [.env.local]\nstreams:\n"
                                        "  api: {paths: [src/api/**]}\n", {"src/api/a.py": ""})
    (repo / ".env.local").symlink_to(outside)
    wta(repo, "up", "--no-launch", "api", check=0)
    assert os.readlink(worktree_of(repo, "api") / ".env.local") == str(outside)


def test_nothing_is_copied_through_a_link_out_of_the_worktree(tmp_path):
    """A stream's agent can make a folder of its worktree a link to anywhere (`.hooks`, the folder of a `copy:`
    file): wta's copies into the worktree, made outside the sandbox, had written through it."""
    from worktree_agents.worktrees.copy import copy_files

    repo = make_repo(tmp_path / "repo", "version: 1\nunowned: allow\nstreams:\n  api: {paths: [src/api/**]}\n",
                     {"src/api/a.py": "", ".gitignore": "config/\n"})
    write_files(repo, {".hooks/_/pre-commit": "#!/bin/sh\n", ".hooks/_/.gitignore": "*\n", "config/.env": "K=1\n"})
    git(repo, "config", "core.hooksPath", ".hooks/_")
    wta(repo, "up", "--no-launch", "api", check=0)
    api = worktree_of(repo, "api")
    assert (api / ".hooks" / "_" / "pre-commit").exists()   # the repository's hooks copied, as usual
    outside = tmp_path / "outside"
    outside.mkdir()
    shutil.rmtree(api / ".hooks")
    (api / ".hooks").symlink_to(outside)
    (api / "config").symlink_to(outside)

    installed = wta(repo, "hooks", "install", check=0)
    copied = copy_files(str(repo), str(api), ["config/.env"], str(tmp_path / "exclude"))

    assert list(outside.iterdir()) == []
    assert "repository hooks not found in" in installed.stdout + installed.stderr
    assert copied.failed == f"cannot copy config/.env: a folder on its way in {api} is a link out of the worktree"


def _release_readers(fifo: Path) -> None:
    """A git left blocked opening `fifo` for reading (before the fix) gets an end of file."""
    while True:
        try:
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        except OSError:
            return   # no reader left
        time.sleep(0.1)


def test_a_fifo_in_place_of_a_worktrees_head_is_reported_not_waited_on(webapp):
    """`mkfifo` where git keeps a stream worktree's HEAD: `git worktree list` would block opening it, and
    `wta status` and `wta down` with it, forever. They refuse in one line naming that file, at once."""
    api = add_stream_worktree(webapp, "api")
    head = webapp / ".git" / "worktrees" / api.name / "HEAD"
    head.unlink()
    os.mkfifo(head)
    try:
        for command in (["status"], ["status", "--json"], ["down", "api"]):
            started = time.monotonic()
            proc = wta(webapp, *command, check=2, timeout=30)
            assert time.monotonic() - started < 20
            assert proc.stderr.startswith(f"wta: {head}: a named pipe (FIFO), not the file git keeps the HEAD of "
                                          f"worktree {api} in") and proc.stderr.count("\n") == 1, proc.stderr
    finally:
        _release_readers(head)
    assert api.is_dir()   # `wta down` removed nothing


def test_a_fifo_at_the_ref_a_worktrees_head_names_is_reported_not_waited_on(webapp):
    """HEAD a file, naming a ref of the private git dir (`refs/worktree/x`, which the sandbox writes) that is a
    FIFO: `git worktree list` blocked opening that ref, and `wta status` with it, past the check of HEAD."""
    api = add_stream_worktree(webapp, "api")
    admin = webapp / ".git" / "worktrees" / api.name
    (admin / "refs" / "worktree").mkdir(parents=True)
    ref = admin / "refs" / "worktree" / "x"
    os.mkfifo(ref)
    (admin / "HEAD").write_text("ref: refs/worktree/x\n")
    try:
        started = time.monotonic()
        proc = wta(webapp, "status", check=2, timeout=30)
        assert time.monotonic() - started < 20
        assert proc.stderr.startswith(f"wta: {ref}: a named pipe (FIFO), not the file git keeps the ref "
                                      f"refs/worktree/x (named by its HEAD) of worktree {api} in"), proc.stderr
        assert proc.stderr.count("\n") == 1
    finally:
        _release_readers(ref)


def test_ctrl_c_during_setup_says_which_streams_are_left_and_that_wta_up_finishes_them(tmp_path):
    """Ctrl-C while `setup:` ran: `wta up` exited 130 and printed nothing after ^C."""
    work = clone_webapp(tmp_path, example_zones(setup='["echo started > .setup-ran; sleep 30"]'))
    up = subprocess.Popen([sys.executable, "-m", "worktree_agents", "up", "--no-launch"], cwd=work, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.monotonic() + 60
    while not list(tmp_path.glob("webapp-worktrees/*/.setup-ran")) and time.monotonic() < deadline:
        time.sleep(0.1)
    os.killpg(up.pid, signal.SIGINT)   # as a terminal's Ctrl-C: the whole foreground group
    _, err = up.communicate(timeout=60)

    assert up.returncode == 130
    assert [p.parent.name for p in tmp_path.glob("webapp-worktrees/*/.setup-ran")] == ["infra"]
    assert err.splitlines()[-1] == ("infra, api, ui, monitor: wta up stopped before its copy: and setup: ran; "
                                    "run wta up again")


ODD_BASE = "rel$x'1"   # git allows `$` and `'` in a branch name (git check-ref-format --branch)


def test_commands_suggested_for_a_base_with_a_dollar_and_a_quote_run_as_pasted(tmp_path):
    """`git rebase rel$x'1` pasted into a shell is an unterminated quote (or `$x` expanded): every branch name a
    suggested command holds is shell-quoted, as its paths were."""
    files = {"src/api/a.py": "x = 1\n", "src/ui/page.html": "<p>hi</p>\n"}
    zones_text = (f"version: 1\nbase: \"{ODD_BASE}\"\nstreams:\n  api: {{paths: [src/api/**]}}\n"
                  "  ui: {paths: [src/ui/**]}\n")
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", ODD_BASE)
    write_files(repo, files)
    (repo / "zones.yaml").write_text(zones_text)
    commit_all(repo, "initial")
    wta(repo, "up", "--no-launch", check=0)
    ui = worktree_of(repo, "ui")
    write_files(ui, {"src/ui/page.html": "<p>ui</p>\n"})
    commit_all(ui, "ui edit")
    write_files(repo, {"src/ui/page.html": "<p>base</p>\n"})
    base_tip = commit_all(repo, "base edits the page")

    synced = wta(repo, "sync", "ui", check=1)
    [suggested] = re.findall(r"\(`(git rebase [^`]*)`\)", synced.stderr)
    assert suggested == "git rebase 'rel$x'\"'\"'1'", synced.stderr
    pasted = subprocess.run(["sh", "-c", suggested], cwd=ui, capture_output=True, text=True)
    assert pasted.returncode == 1 and "CONFLICT" in pasted.stdout + pasted.stderr   # git rebased onto that branch
    onto = Path(git(ui, "rev-parse", "--git-path", "rebase-merge/onto").stdout.strip())
    assert (onto if onto.is_absolute() else ui / onto).read_text().strip() == base_tip
    git(ui, "rebase", "--abort")

    # A base that zones.yaml names and that does not exist: the `git branch` that makes it.
    other = tmp_path / "other"
    other.mkdir()
    git(other, "init", "-q", "-b", ODD_BASE)
    write_files(other, files)
    (other / "zones.yaml").write_text(zones_text.replace("rel$x'1", "rel$x'2"))
    commit_all(other, "initial")
    shown = wta(other, "status", check=0).stdout
    [create] = re.findall(r"\(git branch ([^)]*) <commit>\)", shown)
    assert create == "'rel$x'\"'\"'2'", shown
