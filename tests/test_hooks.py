"""`wta hooks install|uninstall`: where the hooks go, how they chain with the
user's own hooks, and that they stay silent outside stream worktrees."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from support import add_stream_worktree, git, make_repo, write_files, wta

USER_PRE_COMMIT = """#!/bin/sh
# the user's own hook: leaves a mark, and fails when asked to
echo "ran in $(pwd)" >> "{marker}"
exit ${{USER_HOOK_EXIT:-0}}
"""


def head(wt: Path) -> str:
    return git(wt, "rev-parse", "HEAD").stdout.strip()


def subject(wt: Path) -> str:
    return git(wt, "log", "-1", "--format=%s").stdout.strip()


def default_hooks(repo: Path) -> Path:
    return repo / ".git" / "hooks"


def write_hook(path: Path, text: str, mode: int = 0o755) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)


def stage(wt: Path, files: dict[str, str]) -> None:
    write_files(wt, files)
    git(wt, "add", "-A")


@pytest.mark.parametrize("hooks_path", ["absolute", "relative"])
def test_hooks_go_where_core_hooks_path_points_and_fire(tmp_path, hooks_path):
    repo = make_repo(tmp_path / "webapp")
    custom = tmp_path / "custom-hooks" if hooks_path == "absolute" else Path(".githooks")
    git(repo, "config", "core.hooksPath", str(custom))
    api = add_stream_worktree(repo, "api")
    # git resolves a relative hooksPath against the worktree it runs in
    where = custom if custom.is_absolute() else api / custom
    assert (where / "pre-commit").is_file() and (where / "commit-msg").is_file()
    assert not (default_hooks(repo) / "pre-commit").exists()
    before = head(api)
    write_files(api, {"src/components/x.tsx": "x\n"})
    git(api, "add", "src/components/x.tsx")
    proc = git(api, "commit", "-m", "outside", check=False)
    assert proc.returncode == 1 and "src/components/x.tsx" in proc.stderr
    assert head(api) == before
    git(api, "rm", "-q", "--cached", "src/components/x.tsx")
    write_files(api, {"src/lib/x.ts": "x\n"})
    git(api, "add", "src/lib/x.ts")
    git(api, "commit", "-q", "-m", "inside")
    assert subject(api) == "[api] inside"


def test_existing_pre_commit_hook_is_kept_and_still_runs(tmp_path):
    repo = make_repo(tmp_path / "webapp")
    marker = tmp_path / "user-hook-ran"
    write_hook(default_hooks(repo) / "pre-commit", USER_PRE_COMMIT.format(marker=marker))
    api = tmp_path / "webapp-api"
    git(repo, "worktree", "add", "-q", "-b", "wta/api", str(api))
    proc = wta(api, "hooks", "install", "--stream", "api", check=0)
    assert "kept your existing pre-commit hook as pre-commit.wta-orig" in proc.stdout
    assert (default_hooks(repo) / "pre-commit.wta-orig").read_text() == USER_PRE_COMMIT.format(marker=marker)

    stage(api, {"src/lib/a.ts": "a\n"})
    git(api, "commit", "-q", "-m", "in zone")
    assert marker.read_text() == f"ran in {api}\n"
    assert subject(api) == "[api] in zone"

    # The user's hook still decides: when it fails, so does the commit, in any worktree.
    before = head(api)
    stage(api, {"src/lib/b.ts": "b\n"})
    failing = {**os.environ, "USER_HOOK_EXIT": "1"}
    assert git(api, "commit", "-q", "-m", "user says no", check=False, env=failing).returncode == 1
    assert head(api) == before
    main_before = head(repo)
    stage(repo, {"README.md": "changed\n"})
    assert git(repo, "commit", "-q", "-m", "user says no", check=False, env=failing).returncode == 1
    assert head(repo) == main_before
    assert marker.read_text().splitlines() == [f"ran in {api}", f"ran in {api}", f"ran in {repo}"]


def test_installing_twice_reports_unchanged_and_keeps_the_original_aside(tmp_path):
    repo = make_repo(tmp_path / "webapp")
    user_hook = USER_PRE_COMMIT.format(marker=tmp_path / "marker")
    write_hook(default_hooks(repo) / "pre-commit", user_hook)
    first = wta(repo, "hooks", "install", check=0)
    assert "installed pre-commit, commit-msg" in first.stdout
    ours = (default_hooks(repo) / "pre-commit").read_text()
    assert "# wta-managed-hook" in ours

    again = wta(repo, "hooks", "install", check=0)
    assert "installed none; already current: pre-commit, commit-msg" in again.stdout
    assert "kept" not in again.stdout
    assert (default_hooks(repo) / "pre-commit").read_text() == ours
    assert (default_hooks(repo) / "pre-commit.wta-orig").read_text() == user_hook
    assert not (default_hooks(repo) / "commit-msg.wta-orig").exists()


def test_uninstall_restores_the_original_hook_exactly(tmp_path):
    repo = make_repo(tmp_path / "webapp")
    original = default_hooks(repo) / "pre-commit"
    user_hook = USER_PRE_COMMIT.format(marker=tmp_path / "marker")
    write_hook(original, user_hook, mode=0o750)
    wta(repo, "hooks", "install", check=0)
    wta(repo, "hooks", "install", check=0)

    proc = wta(repo, "hooks", "uninstall", check=0)
    assert "removed wta's pre-commit, commit-msg hook(s)" in proc.stdout
    assert "restored your original pre-commit hook" in proc.stdout
    assert original.read_text() == user_hook
    assert stat.S_IMODE(original.stat().st_mode) == 0o750
    assert not (default_hooks(repo) / "pre-commit.wta-orig").exists()
    assert not (default_hooks(repo) / "commit-msg").exists()
    assert "no wta hooks" in wta(repo, "hooks", "uninstall", check=0).stdout
    assert original.read_text() == user_hook


def test_existing_commit_msg_hook_is_chained_with_the_message_file(tmp_path):
    repo = make_repo(tmp_path / "webapp")
    write_hook(default_hooks(repo) / "commit-msg",
               '#!/bin/sh\nprintf "\\nReviewed-by: the user hook\\n" >> "$1"\n')
    api = add_stream_worktree(repo, "api")
    stage(api, {"src/lib/a.ts": "a\n"})
    git(api, "commit", "-q", "-m", "chained")
    message = git(api, "log", "-1", "--format=%B").stdout
    assert message.startswith("[api] chained\n")
    assert "Reviewed-by: the user hook" in message


def test_hooks_are_silent_in_the_main_worktree(webapp):
    add_stream_worktree(webapp, "api")
    stage(webapp, {"src/components/x.tsx": "x\n", "src/lib/y.ts": "y\n", "zones.yaml": "changed: 1\n"})
    proc = git(webapp, "commit", "-q", "-m", "anything goes here", check=False)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", "")
    assert subject(webapp) == "anything goes here"


def test_hooks_are_silent_in_a_worktree_without_a_stream(webapp):
    feature = webapp.parent / "feature"
    git(webapp, "worktree", "add", "-q", "-b", "feature", str(feature))
    wta(webapp, "hooks", "install", check=0)
    assert not (webapp / ".git/worktrees/feature/wta-stream").exists()
    stage(feature, {"src/components/x.tsx": "x\n", "docs/specs/api.md": "x\n"})
    proc = git(feature, "commit", "-q", "-m", "[ui] any prefix", check=False)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", "")
    assert subject(feature) == "[ui] any prefix"


def test_install_adopts_worktrees_on_stream_branches(webapp):
    ui = webapp.parent / "ui-by-hand"
    git(webapp, "worktree", "add", "-q", "-b", "wta/ui", str(ui))
    proc = wta(webapp, "hooks", "install", check=0)
    assert f"recorded stream 'ui' for {ui} (branch wta/ui)" in proc.stdout
    stage(ui, {"src/lib/db.ts": "mine now\n"})
    assert git(ui, "commit", "-m", "x", check=False).returncode == 1


def test_install_refuses_unknown_stream_and_the_main_worktree(webapp):
    proc = wta(webapp, "hooks", "install", "--stream", "api", check=2)
    assert "main worktree cannot be a stream" in proc.stderr
    other = webapp.parent / "other"
    git(webapp, "worktree", "add", "-q", "-b", "other", str(other))
    proc = wta(other, "hooks", "install", "--stream", "nope", check=2)
    assert "unknown stream 'nope'" in proc.stderr and "api" in proc.stderr
    assert not (webapp / ".git/worktrees/other/wta-stream").exists()
    assert not (default_hooks(webapp) / "pre-commit").exists()


def test_a_tracked_hook_is_never_moved(tmp_path):
    repo = make_repo(tmp_path / "webapp")
    write_hook(repo / ".githooks/commit-msg", "#!/bin/sh\nexit 0\n")
    git(repo, "add", ".githooks/commit-msg")
    git(repo, "commit", "-q", "-m", "project hooks")
    git(repo, "config", "core.hooksPath", ".githooks")
    proc = wta(repo, "hooks", "install", check=2)
    assert f"{repo}/.githooks/commit-msg: this hook is tracked" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert sorted(p.name for p in (repo / ".githooks").iterdir()) == ["commit-msg"]
    assert git(repo, "status", "--porcelain").stdout == ""


def test_python_files_in_the_worktree_cannot_switch_the_hooks_off(webapp):
    # The hook's Python runs in the worktree; a module there must not shadow what the hook imports.
    api = add_stream_worktree(webapp, "api")
    for module in ("json", "dataclasses", "subprocess", "worktree_agents"):
        write_files(api, {f"{module}.py": "raise SystemExit(0)\n"})
    write_files(api, {"worktree_agents/__init__.py": "raise SystemExit(0)\n"})
    before = head(api)
    write_files(api, {"src/components/x.tsx": "x\n"})
    git(api, "add", "src/components/x.tsx")
    proc = git(api, "commit", "-m", "sneak", check=False)
    assert proc.returncode == 1 and "src/components/x.tsx" in proc.stderr
    assert head(api) == before
