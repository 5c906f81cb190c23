"""Submodules follow the commits wta moves a worktree to (worktrees/submodules.py).

A submodule checked out in a worktree stayed at its old commit when wta moved the worktree's
files (sync, a landing's rebase, the base's fast-forward): it then showed as changed, a
session's leftovers commit recorded the old pointer again, and landing that silently undid the
base's bump; the base's worktree showed it as an uncommitted change that stopped the next merge.
"""

from __future__ import annotations

from pathlib import Path

from support import commit_all, git, make_repo, write_files, wta

ZONES = ("version: 1\nagent: {runner: manual}\n"
         "streams:\n  api: {paths: [api/**, vendor/**]}\n  ui: {paths: [ui/**]}\n")


def file_git(cwd: Path, *args: str):
    return git(cwd, "-c", "protocol.file.allow=always", *args)


def bump(sub: Path, text: str) -> str:
    write_files(sub, {"s": text})
    commit_all(sub, text.strip())
    return git(sub, "rev-parse", "HEAD").stdout.strip()


def head(path: Path) -> str:
    return git(path, "rev-parse", "HEAD").stdout.strip()


def setup(tmp_path: Path) -> tuple[Path, Path, dict[str, Path]]:
    sub = make_repo(tmp_path / "sub", "", files={"s": "1\n"})
    repo = make_repo(tmp_path / "r", ZONES, files={"api/a": "a\n", "ui/u": "u\n"})
    file_git(repo, "submodule", "add", "-q", str(sub), "vendor/lib")
    commit_all(repo, "add lib")
    wta(repo, "up", "--no-launch", check=0)
    worktrees = {s: repo.parent / "r-worktrees" / s for s in ("api", "ui")}
    for where in worktrees.values():
        file_git(where, "submodule", "update", "--init", "-q")
    return sub, repo, worktrees


def test_sync_brings_a_checked_out_submodule_to_the_bases_pointer(tmp_path):
    sub, repo, wts = setup(tmp_path)
    write_files(wts["ui"], {"ui/u": "u\nmore\n"})
    commit_all(wts["ui"], "ui work")
    bumped = bump(sub, "2\n")
    file_git(repo / "vendor/lib", "pull", "-q", "origin", "HEAD")
    commit_all(repo, "bump lib on main")
    file_git(wts["ui"] / "vendor/lib", "fetch", "-q", "origin")   # the new commit is there (not checked out)

    synced = wta(repo, "sync", "ui", check=0)

    assert "submodule" not in synced.stdout, synced.stdout
    assert head(wts["ui"] / "vendor/lib") == bumped
    assert git(wts["ui"], "status", "--porcelain").stdout == ""


def test_a_submodule_that_cannot_follow_is_named_and_no_leftovers_commit_records_its_old_pointer(tmp_path):
    """The new commit is not in the worktree's clone of the submodule (wta fetches nothing): sync says so
    and how to fix it, and a session's leftovers commit leaves the stale pointer out (it had recorded
    it, and landing that undid the base's bump)."""
    sub, repo, wts = setup(tmp_path)
    write_files(repo, {"zones.yaml": ZONES.replace("runner: manual", 'runner: command, command: "sh -c \'echo more >> ui/u\'"')})
    commit_all(repo, "ui's agent appends")
    bumped = bump(sub, "2\n")
    file_git(repo / "vendor/lib", "pull", "-q", "origin", "HEAD")
    commit_all(repo, "bump lib on main")

    synced = wta(repo, "sync", "ui", check=0)
    assert "submodule(s) vendor/lib left at their old commit" in synced.stdout
    assert "`git submodule update` in" in synced.stdout
    assert wta(repo, "up", "ui", check=0).returncode == 0   # the session: its leftovers commit

    assert git(wts["ui"], "show", "--stat", "--format=%s", "wta/ui").stdout.split("\n")[0] == \
        "[ui] wta: commit leftovers of the session"
    assert "vendor/lib" not in git(wts["ui"], "show", "--stat", "--format=", "wta/ui").stdout
    assert wta(repo, "merge", "ui", check=0).returncode == 0
    assert git(repo, "rev-parse", "main:vendor/lib").stdout.strip() == bumped
    assert git(repo, "show", "main:ui/u").stdout == "u\nmore\n"


def test_a_landed_bump_moves_the_base_worktrees_submodule_and_the_next_merge_goes_on(tmp_path):
    sub, repo, wts = setup(tmp_path)
    file_git(repo, "submodule", "update", "--init", "-q")
    bumped = bump(sub, "2\n")
    file_git(wts["api"] / "vendor/lib", "pull", "-q", "origin", "HEAD")
    commit_all(wts["api"], "bump lib")
    file_git(repo / "vendor/lib", "fetch", "-q", "origin")
    write_files(wts["ui"], {"ui/u": "u\nmore\n"})
    commit_all(wts["ui"], "ui work")

    merged = wta(repo, "merge", "api", check=0)

    assert merged.returncode == 0, merged.stdout + merged.stderr
    assert git(repo, "rev-parse", "main:vendor/lib").stdout.strip() == bumped
    assert head(repo / "vendor/lib") == bumped
    assert git(repo, "status", "--porcelain").stdout == ""
    # ui's clone lacks the commit: its checkout stays behind, which stops nothing (git leaves it).
    assert wta(repo, "merge", "ui", check=0).returncode == 0
    assert git(repo, "rev-parse", "main:vendor/lib").stdout.strip() == bumped


def test_a_submodule_someone_moved_stays_where_they_put_it(tmp_path):
    sub, repo, wts = setup(tmp_path)
    first = head(wts["ui"] / "vendor/lib")
    mine = bump(sub, "mine\n")
    file_git(wts["ui"] / "vendor/lib", "fetch", "-q", "origin")
    git(wts["ui"] / "vendor/lib", "checkout", "-q", "--detach", mine)   # theirs, not committed
    git(wts["ui"], "commit", "-q", "--allow-empty", "-m", "ui work")
    bump(sub, "3\n")
    file_git(repo / "vendor/lib", "pull", "-q", "origin", "HEAD")
    commit_all(repo, "bump lib on main")

    assert wta(repo, "sync", "ui", check=0).returncode == 0
    assert head(wts["ui"] / "vendor/lib") == mine != first


def test_down_names_a_worktrees_submodules_and_the_fix(tmp_path):
    _, repo, wts = setup(tmp_path)
    refused = wta(repo, "down", "ui", check=1)
    assert "its worktree has submodules checked out" in refused.stdout + refused.stderr
    assert "`wta down ui --force`" in refused.stdout + refused.stderr
    assert wts["ui"].is_dir()
    wta(repo, "down", "ui", "--force", check=0)
    assert not wts["ui"].exists()


def test_up_makes_worktrees_when_the_user_set_submodule_recurse(tmp_path):
    """`submodule.recurse = true` (git's advice for submodule users) made every stream's worktree fail:
    wta's checkout of a new worktree tried to reset submodules never cloned there."""
    sub = make_repo(tmp_path / "sub", "", files={"s": "1\n"})
    repo = make_repo(tmp_path / "r", ZONES, files={"api/a": "a\n", "ui/u": "u\n"})
    file_git(repo, "submodule", "add", "-q", str(sub), "vendor/lib")
    commit_all(repo, "add lib")
    git(repo, "config", "submodule.recurse", "true")

    wta(repo, "up", "--no-launch", check=0)

    api = repo.parent / "r-worktrees" / "api"
    assert (api / "api" / "a").read_text() == "a\n"
    assert git(api, "status", "--porcelain").stdout == ""


def test_a_repository_an_agent_nests_in_its_zone_runs_nothing_outside_its_sandbox(tmp_path):
    """A sandboxed agent made a repository inside its zone, gave it a clean filter in its own config and
    committed it as a gitlink: every `git status` wta ran in the worktree outside the sandbox (the
    leftovers, `wta status`, the merge's checks) went into it and ran the filter with the user's rights."""
    import json as _json
    import subprocess as _sp
    import sys as _sys

    main_marker = tmp_path / "r" / "PWNED"
    payload = tmp_path / "payload.sh"
    payload.write_text(f'echo ran > "{main_marker}"\ncat\n')
    agent = tmp_path / "agent.sh"
    agent.write_text(
        "set -e\n"
        "git init -q api/vendor\n"
        "cd api/vendor && echo hello > f && git add f && git -c core.hooksPath=/dev/null commit -qm x\n"
        f"git config filter.evil.clean 'sh {payload}'\n"
        "echo '* filter=evil' > .git/info/attributes\n"
        "cd ../..\n"
        "git add api/vendor && git commit -qm 'vendor lib'\n"
        "touch -d 2001-01-01 api/vendor/f\n")
    zones = ZONES.replace("agent: {runner: manual}",
                          f"sandbox: required\nagent: {{runner: command, command: \"sh {agent}\"}}")
    repo = make_repo(tmp_path / "r", zones, files={"api/a": "a\n", "ui/u": "u\n"})

    proc = _sp.run([_sys.executable, "-m", "worktree_agents", "up", "api"], cwd=repo, capture_output=True, text=True,
                   timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    shown = _json.loads(wta(repo, "status", "--json", check=0).stdout)
    wta(repo, "merge", "--dry-run", check=None)

    assert git(repo, "log", "-1", "--format=%s", "wta/api").stdout.strip() == "[api] vendor lib"
    assert [s["session"]["state"] for s in shown["streams"] if s["stream"] == "api"] == ["done"]
    assert not main_marker.exists()
