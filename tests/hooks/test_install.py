"""`wta hooks install|uninstall`: where the hooks go, how they chain with the
user's own hooks, and that they stay silent outside stream worktrees."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from support import EXAMPLE_ZONES, WEBAPP_FILES, add_stream_worktree, git, make_repo, write_files, wta

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


def wta_hooks(repo: Path) -> Path:
    return repo / ".git" / "wta" / "hooks"


@pytest.mark.parametrize("hooks_path", ["absolute", "relative"])
def test_the_check_runs_wherever_core_hooks_path_points_and_writes_nothing_there(tmp_path, hooks_path):
    repo = make_repo(tmp_path / "webapp")
    custom = tmp_path / "custom-hooks" if hooks_path == "absolute" else Path(".githooks")
    git(repo, "config", "core.hooksPath", str(custom))
    api = add_stream_worktree(repo, "api")
    # git resolves a relative hooksPath against the worktree it runs in
    for where in {custom if custom.is_absolute() else wt / custom for wt in (repo, api)}:
        assert not where.exists()
    assert not (default_hooks(repo) / "pre-commit").exists()
    assert git(api, "config", "core.hooksPath").stdout.strip() == str(wta_hooks(repo))
    assert git(repo, "config", "core.hooksPath").stdout.strip() == str(custom)   # the main worktree's: as set
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


def test_the_users_hook_stays_where_it_is_and_runs_after_the_check(tmp_path):
    repo = make_repo(tmp_path / "webapp")
    marker = tmp_path / "user-hook-ran"
    user_hook = default_hooks(repo) / "pre-commit"
    write_hook(user_hook, USER_PRE_COMMIT.format(marker=marker))
    api = tmp_path / "webapp-api"
    git(repo, "worktree", "add", "-q", "-b", "wta/api", str(api))
    proc = wta(api, "hooks", "install", "--stream", "api", check=0)
    assert "kept" not in proc.stdout
    assert user_hook.read_text() == USER_PRE_COMMIT.format(marker=marker)
    assert sorted(p.name for p in default_hooks(repo).iterdir() if not p.name.endswith(".sample")) == ["pre-commit"]

    stage(api, {"src/lib/a.ts": "a\n"})
    git(api, "commit", "-q", "-m", "in zone")
    assert marker.read_text() == f"ran in {api}\n"
    assert subject(api) == "[api] in zone"

    # Refused by wta: the user's hook does not run (the commit is over).
    stage(api, {"src/components/x.tsx": "x\n"})
    assert git(api, "commit", "-q", "-m", "out of zone", check=False).returncode == 1
    assert marker.read_text() == f"ran in {api}\n"
    git(api, "rm", "-q", "--cached", "src/components/x.tsx")
    (api / "src/components/x.tsx").unlink()

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


def test_the_repositorys_other_hooks_run_in_stream_worktrees_even_when_added_later(tmp_path):
    repo = make_repo(tmp_path / "webapp")
    marker = tmp_path / "hooks-ran"
    write_hook(default_hooks(repo) / "post-commit", f'#!/bin/sh\necho "post-commit $PWD" >> {marker}\n')
    api = add_stream_worktree(repo, "api")
    assert os.readlink(wta_hooks(repo) / "post-commit") == "forward"
    assert os.readlink(wta_hooks(repo) / "pre-push") == "forward"
    # Run on every commit, so linked only once the repository has one: a commit pays nothing for it.
    assert not (wta_hooks(repo) / "prepare-commit-msg").exists()
    # A manager installed now: wta's pre-commit links it, and git runs it at the same commit.
    write_hook(default_hooks(repo) / "prepare-commit-msg", f'#!/bin/sh\necho "prepare-commit-msg $PWD" >> {marker}\n')
    stage(api, {"src/lib/a.ts": "a\n"})
    git(api, "commit", "-q", "-m", "in zone")
    assert marker.read_text().splitlines() == [f"prepare-commit-msg {api}", f"post-commit {api}"]
    assert subject(api) == "[api] in zone"


def hooks_path_from(where: str, repo: Path, hooks: Path) -> None:
    """core.hooksPath set to `hooks` in the global config, or in a file the repository's config includes."""
    if where == "global":
        with open(Path(os.environ["HOME"]) / ".gitconfig", "a") as f:
            f.write(f"[core]\n\thooksPath = {hooks}\n")
    else:
        included = repo.parent / "more.gitconfig"
        included.write_text(f"[core]\n\thooksPath = {hooks}\n")
        git(repo, "config", "include.path", str(included))


@pytest.mark.parametrize("where", ["global", "included", "system"])
def test_a_hooks_path_from_any_config_git_reads_is_followed(tmp_path, where):
    """wta's hooks read config files themselves to spare a git process when none names a hooks
    path; a hooks path from the global config, an included file or the system config still counts."""
    repo = make_repo(tmp_path / "webapp")
    marker = tmp_path / "user-hook-ran"
    custom = tmp_path / "custom-hooks"
    write_hook(custom / "pre-commit", f'#!/bin/sh\necho "$PWD" >> {marker}\n')
    env = dict(os.environ)
    if where in ("global", "included"):
        hooks_path_from(where, repo, custom)
    else:
        (tmp_path / "system.gitconfig").write_text(f"[core]\n\thooksPath = {custom}\n")
        env.pop("GIT_CONFIG_NOSYSTEM")
        env["GIT_CONFIG_SYSTEM"] = str(tmp_path / "system.gitconfig")
    api = add_stream_worktree(repo, "api")
    stage(api, {"src/lib/a.ts": "a\n"})
    git(api, "commit", "-q", "-m", "in zone", env=env)
    assert subject(api) == "[api] in zone"
    assert marker.read_text() == f"{api}\n"


@pytest.mark.parametrize("where", ["none", "local", "global", "included", "unreadable"])
def test_wta_asks_git_for_the_shared_hooks_path_only_when_a_config_file_could_name_one(tmp_path, monkeypatch,
                                                                                      where):
    """`wta up` asks for the hooks path once per stream worktree and per session; like the hooks, it
    reads the config files first and starts no git process when none could name one."""
    from worktree_agents.hooks import hooks_path

    repo = make_repo(tmp_path / "webapp")
    custom = tmp_path / "custom-hooks"
    expected = str(custom)
    if where == "local":
        git(repo, "config", "core.hooksPath", str(custom))
    elif where in ("global", "included"):
        hooks_path_from(where, repo, custom)
    elif where == "unreadable":   # a directory where the global config would be: git's answer, whatever it is
        expected = None
        monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(tmp_path))
    else:
        expected = None
    hooks_path.system_configs()   # what git's prefix is: asked once per process, before the trace starts
    trace = tmp_path / "git-trace"
    monkeypatch.setenv("GIT_TRACE", str(trace))
    assert hooks_path.shared_hooks_path(str(repo / ".git")) == expected
    asked = trace.exists() and "config --show-scope" in trace.read_text()
    assert asked == (where != "none")


def test_settings_from_the_environment_are_asked_about_only_when_they_could_name_a_hooks_path(tmp_path):
    """The sandbox gives git two settings through GIT_CONFIG_COUNT (gc.auto, maintenance.auto): wta's hooks
    read their names and start no git process to find the repository's hooks, which still run; a setting
    that could name a hooks path (an include) makes them ask git."""
    repo = make_repo(tmp_path / "webapp")
    marker = tmp_path / "user-hook-ran"
    write_hook(default_hooks(repo) / "pre-commit", f'#!/bin/sh\necho "$PWD" >> {marker}\n')
    api = add_stream_worktree(repo, "api")
    trace = tmp_path / "git-trace"   # every git process started, the hooks' included
    env = {**os.environ, "GIT_TRACE": str(trace), "GIT_CONFIG_COUNT": "2",
           "GIT_CONFIG_KEY_0": "gc.auto", "GIT_CONFIG_VALUE_0": "0",
           "GIT_CONFIG_KEY_1": "maintenance.auto", "GIT_CONFIG_VALUE_1": "false"}
    stage(api, {"src/lib/a.ts": "a\n"})
    git(api, "commit", "-q", "-m", "in zone", env=env)
    assert subject(api) == "[api] in zone" and marker.read_text() == f"{api}\n"
    assert "git config" not in trace.read_text()

    (tmp_path / "more.gitconfig").write_text("[user]\n\tname = Someone\n")
    env["GIT_CONFIG_KEY_1"], env["GIT_CONFIG_VALUE_1"] = "include.path", str(tmp_path / "more.gitconfig")
    stage(api, {"src/lib/b.ts": "b\n"})
    git(api, "commit", "-q", "-m", "in zone again", env=env)
    assert subject(api) == "[api] in zone again" and marker.read_text() == f"{api}\n{api}\n"
    assert "git config --show-scope --type=path --get-all core.hooksPath" in trace.read_text()


def test_installing_twice_changes_nothing(tmp_path):
    repo = make_repo(tmp_path / "webapp")
    api = add_stream_worktree(repo, "api")
    config_worktree = Path(git(api, "rev-parse", "--git-dir").stdout.strip()) / "config.worktree"
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in
              [*wta_hooks(repo).iterdir(), config_worktree, repo / ".git" / "config"]}
    again = wta(repo, "hooks", "install", check=0)
    assert again.stdout == "wta's hooks are already installed in 1 stream worktree(s); nothing to do\n"
    after = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in
             [*wta_hooks(repo).iterdir(), config_worktree, repo / ".git" / "config"]}
    assert after == before


def test_uninstall_leaves_no_wta_file_or_config_and_the_users_hook_as_it_was(tmp_path):
    repo = make_repo(tmp_path / "webapp")
    user_hook = default_hooks(repo) / "pre-commit"
    write_hook(user_hook, USER_PRE_COMMIT.format(marker=tmp_path / "marker"), mode=0o750)
    config = (repo / ".git" / "config").read_text()
    api = add_stream_worktree(repo, "api")
    assert "worktreeConfig = true" in (repo / ".git" / "config").read_text()

    proc = wta(repo, "hooks", "uninstall", check=0)
    assert "removed wta's hooks from 1 stream worktree(s)" in proc.stdout
    assert (repo / ".git" / "config").read_text() == config
    assert not wta_hooks(repo).exists()
    assert not list((repo / ".git").glob("**/config.worktree"))
    assert git(api, "config", "core.hooksPath", check=False).stdout == ""
    assert user_hook.read_text() == USER_PRE_COMMIT.format(marker=tmp_path / "marker")
    assert stat.S_IMODE(user_hook.stat().st_mode) == 0o750
    assert wta(repo, "hooks", "uninstall", check=0).stdout == "no wta hooks\n"


def test_uninstall_gives_a_worktree_its_own_hooks_path_back(tmp_path):
    repo = make_repo(tmp_path / "webapp")
    git(repo, "config", "extensions.worktreeConfig", "true")
    api = tmp_path / "webapp-api"
    git(repo, "worktree", "add", "-q", "-b", "wta/api", str(api))
    mine = tmp_path / "my hooks"
    git(api, "config", "--worktree", "core.hooksPath", str(mine))
    config = (repo / ".git" / "config").read_text()

    installed = wta(api, "hooks", "install", "--stream", "api", check=0)
    assert f"its own core.hooksPath was {mine}" in installed.stdout and "gives it back" in installed.stdout
    assert git(api, "config", "core.hooksPath").stdout.strip() == str(wta_hooks(repo))
    wta(repo, "hooks", "install", check=0)   # again: nothing to replace, and the record stays

    proc = wta(repo, "hooks", "uninstall", check=0)
    assert f"its own core.hooksPath is {mine} again" in proc.stdout
    assert git(api, "config", "--worktree", "--get-all", "core.hooksPath").stdout == f"{mine}\n"
    assert (repo / ".git" / "config").read_text() == config
    assert not wta_hooks(repo).exists() and not (repo / ".git" / "wta" / "hooks-path-before").exists()


def test_an_earlier_wtas_hooks_are_taken_out_and_the_originals_put_back(tmp_path):
    """wta used to write its hooks into the repository's hooks directory, keeping the user's as
    `<name>.wta-orig` (which husky's helper could then no longer find)."""
    repo = make_repo(tmp_path / "webapp")
    user_hook = USER_PRE_COMMIT.format(marker=tmp_path / "marker")
    write_hook(default_hooks(repo) / "pre-commit.wta-orig", user_hook)
    write_hook(default_hooks(repo) / "pre-commit", "#!/bin/sh\n# wta-managed-hook (pre-commit): old\nexit 0\n")
    write_hook(default_hooks(repo) / "commit-msg", "#!/bin/sh\n# wta-managed-hook (commit-msg): old\nexit 0\n")
    proc = wta(repo, "hooks", "install", check=0)
    assert f"restored {default_hooks(repo) / 'pre-commit'}, which an earlier wta had moved aside" in proc.stdout
    assert (default_hooks(repo) / "pre-commit").read_text() == user_hook
    assert sorted(p.name for p in default_hooks(repo).iterdir() if not p.name.endswith(".sample")) == ["pre-commit"]


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


STAMPING_PRE_COMMIT = """#!/bin/sh
# the user's own hook: stamps a file and stages it, as build-info and code-generating hooks do
echo stamped > "$STAMP"
git add "$STAMP"
"""


def test_what_the_users_hooks_stage_or_rewrite_is_checked_after_them(tmp_path):
    repo = make_repo(tmp_path / "webapp")
    write_hook(default_hooks(repo) / "pre-commit", STAMPING_PRE_COMMIT)
    # a commit-msg hook that puts a ticket in front of the subject, over wta's prefix
    write_hook(default_hooks(repo) / "commit-msg", '#!/bin/sh\nsed -i "1s/^/PROJ-1 /" "$1"\n')
    api = add_stream_worktree(repo, "api")

    # The hook stages a file outside the zone: the commit is refused, as if the agent had staged it.
    before = head(api)
    stage(api, {"src/lib/a.ts": "a\n"})
    refused = git(api, "commit", "-q", "-m", "stamped outside", check=False,
                  env={**os.environ, "STAMP": "BUILD_INFO"})
    assert refused.returncode == 1 and "BUILD_INFO" in refused.stderr
    assert head(api) == before
    git(api, "rm", "-q", "--cached", "BUILD_INFO")   # the hook staged it in the index, which stays
    (api / "BUILD_INFO").unlink()

    # Inside the zone it lands in the commit, and the subject starts with the prefix again.
    git(api, "commit", "-q", "-m", "stamped inside", env={**os.environ, "STAMP": "src/lib/BUILD_INFO"})
    assert git(api, "show", "--format=", "--name-only", "HEAD").stdout.split() == ["src/lib/BUILD_INFO",
                                                                                    "src/lib/a.ts"]
    assert subject(api) == "[api] PROJ-1 [api] stamped inside"
    assert wta(repo, "merge", "--dry-run", "api").returncode == 0


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


def test_a_committed_hooks_directory_is_used_as_it_is(tmp_path):
    """Everyday use, item 2: `core.hooksPath=.githooks` with a tracked hook. wta changes no tracked
    file, the stream worktree runs the check and then that hook, and `wta down` restores the config."""
    marker = tmp_path / "project-hook-ran"
    repo = make_repo(tmp_path / "webapp", zones=EXAMPLE_ZONES.read_text().replace("setup: [npm ci]", "setup: []"),
                     files={**WEBAPP_FILES, ".githooks/pre-commit": f'#!/bin/sh\necho "$PWD" >> {marker}\n'})
    (repo / ".githooks/pre-commit").chmod(0o755)
    git(repo, "commit", "-q", "-am", "executable")
    git(repo, "config", "core.hooksPath", ".githooks")
    config = git(repo, "config", "--list", "--show-scope").stdout
    wta(repo, "up", "--no-launch", "api", check=0)
    api = repo.parent / "webapp-worktrees" / "api"
    assert git(repo, "status", "--porcelain", "-uall").stdout == ""
    assert git(api, "status", "--porcelain", "-uall").stdout == ""
    assert sorted(p.name for p in (api / ".githooks").iterdir()) == ["pre-commit"]
    stage(api, {"src/components/x.tsx": "x\n"})
    refused = git(api, "commit", "-q", "-m", "out of zone", check=False)
    assert refused.returncode == 1 and "src/components/x.tsx" in refused.stderr
    git(api, "rm", "-q", "--cached", "src/components/x.tsx")
    (api / "src/components/x.tsx").unlink()
    stage(api, {"src/lib/a.ts": "a\n"})
    git(api, "commit", "-q", "-m", "in zone")
    stage(repo, {"src/components/x.tsx": "x\n"})
    git(repo, "commit", "-q", "-m", "main")
    assert marker.read_text().splitlines() == [str(api), str(repo)]
    wta(repo, "down", "--force", "api", check=0)
    assert git(repo, "config", "--list", "--show-scope").stdout == config
    assert not (repo / ".git" / "wta" / "hooks").exists()


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


def test_hooks_install_with_no_stream_worktree_says_so(tmp_path):
    """It had printed nothing (exit 0), and the second time that its hooks were installed in 0 worktrees."""
    repo = make_repo(tmp_path / "repo", "version: 1\nunowned: allow\nstreams:\n  api: {paths: [src/api/**]}\n",
                     {"src/api/a.py": ""})
    for _ in range(2):
        assert wta(repo, "hooks", "install", check=0).stdout == \
            "no stream worktrees yet: `wta up` makes them, with wta's hooks installed\n"


def test_status_after_hooks_uninstall_says_wta_hooks_were_uninstalled(tmp_path):
    """`wta hooks uninstall`, then `wta status`: it had said "something set its hooks elsewhere"."""
    repo = make_repo(tmp_path / "repo", "version: 1\nunowned: allow\nstreams:\n  api: {paths: [src/api/**]}\n",
                     {"src/api/a.py": ""})
    wta(repo, "up", "--no-launch", check=0)
    wta(repo, "hooks", "uninstall", check=0)
    api = repo.parent / "repo-worktrees" / "api"
    assert wta(repo, "status", check=0).stdout.splitlines()[-1] == (
        f"zone check not installed in api ({api}): wta's hooks were uninstalled (wta hooks uninstall); "
        "`wta hooks install` or `wta up` puts them back")
    wta(repo, "hooks", "install", check=0)
    assert "zone check not installed" not in wta(repo, "status", check=0).stdout
