"""wta beside the real hook managers: pre-commit (PyPI), husky and lefthook (npm,
tests/npm_tools.py), and a committed `.githooks/` with core.hooksPath.

Each manager in both orders (the manager first, then `wta up`; `wta up` first,
then the manager), in one repository per case. Every manager hook leaves a line
"<hook> <worktree>" in a trace file, so each check sees whose hooks ran where:

- in the stream worktree an in-zone commit gets the `[api]` prefix and the
  manager's pre-commit and commit-msg hooks ran; an out-of-zone commit is refused;
- in the main worktree the manager's hooks run and wta checks nothing;
- all of that again after the manager's own install and uninstall commands are
  run in the main worktree and in the stream worktree (what can still take the
  check away is shown by `wta status` and put back by `wta hooks install`);
- after `wta hooks uninstall`, and after `wta down`, no wta file or config is
  left and the manager's hooks run as they did without wta.

husky installed by a sandboxed `setup: [npm install]` (the default `sandbox:
auto`), whose install cannot set the shared core.hooksPath, in both orders; and
the rules for copying a generated hooks directory from the main worktree.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from support import git, make_repo, wta
from npm_tools import husky_package, lefthook_binary
from worktree_agents import sandbox

ZONES = """version: 1
base: main
{setup}streams:
  api:
    paths: [src/lib/**]
  ui:
    paths: [src/components/**, /README.md, /.gitignore, /zones.yaml, /package.json, /lefthook.yml,
            /.pre-commit-config.yaml, .husky/**, .githooks/**]
"""
FILES = {"src/lib/a.ts": "a\n", "src/components/b.tsx": "b\n", "README.md": "readme\n",
         ".gitignore": "node_modules/\npackage-lock.json\n"}
NPM_INSTALL = "npm install --offline --no-audit --no-fund --loglevel=error"
MISSING = "zone check not installed in api"


def trace_line(trace: Path) -> str:
    return f'echo "$(basename "$0") $(pwd)" >> {trace}'


def run(cwd: Path, *cmd: str, check: int | None = 0) -> subprocess.CompletedProcess:
    proc = subprocess.run(list(cmd), cwd=cwd, text=True, capture_output=True, timeout=120)
    if check is not None and proc.returncode != check:
        raise AssertionError(f"{' '.join(cmd)} exited {proc.returncode}, expected {check}:\n{proc.stdout}{proc.stderr}")
    return proc


class Manager:
    """One hook manager: the files a project commits for it, and its own commands."""

    name = ""
    setup = ""          # zones.yaml's setup: for the stream worktree

    def __init__(self, trace: Path) -> None:
        self.trace = trace

    def files(self) -> dict[str, str]:
        raise NotImplementedError

    def install(self, wt: Path) -> None:
        raise NotImplementedError

    def again(self, main: Path, stream: Path) -> list[str]:
        """The manager's own install and uninstall commands, run again in both worktrees; the
        worktrees where wta's check can have been taken away (and must be shown)."""
        raise NotImplementedError

    given_back: str | None = None   # the stream worktree's own core.hooksPath `again` set, given back by uninstall


class PreCommit(Manager):
    name = "pre-commit"
    TYPES = ("-t", "pre-commit", "-t", "commit-msg")

    def files(self):
        hooks = "".join(f"""      - id: trace-{stage}
        name: trace {stage}
        entry: sh -c 'echo "{stage} $(pwd)" >> {self.trace}'
        language: system
        always_run: true
        pass_filenames: false
        stages: [{stage}]
""" for stage in ("pre-commit", "commit-msg"))
        return {".pre-commit-config.yaml": f"repos:\n  - repo: local\n    hooks:\n{hooks}"}

    def precommit(self, wt: Path, *args: str, check: int | None = 0) -> subprocess.CompletedProcess:
        return run(wt, sys.executable, "-m", "pre_commit", *args, check=check)

    def install(self, wt):
        self.precommit(wt, "install", *self.TYPES)

    def again(self, main, stream):
        # In a stream worktree the framework refuses, as it does wherever core.hooksPath is set.
        refused = self.precommit(stream, "install", *self.TYPES, check=1)
        assert "Cowardly refusing to install hooks with `core.hooksPath` set" in refused.stdout + refused.stderr
        self.precommit(stream, "uninstall", *self.TYPES)   # removes the shared hooks, as without wta
        self.precommit(main, "install", "-f", *self.TYPES)
        self.precommit(main, "uninstall", *self.TYPES)
        self.precommit(main, "install", *self.TYPES)
        return []


class Husky(Manager):
    name = "husky"

    @property
    def setup(self):
        # Installs husky in the stream worktree during wta up, unsandboxed: husky's prepare script
        # writes the shared core.hooksPath and `.husky/_/` there itself. Sandboxed (the default):
        # HuskyInTheSandbox below.
        return f"setup: [{NPM_INSTALL}]\nsandbox: off\n"

    def files(self):
        package = {"name": "project", "private": True, "scripts": {"prepare": "husky"},
                   "devDependencies": {"husky": f"file:{husky_package()}"}}
        hook = f"{trace_line(self.trace)}\n"
        return {"package.json": json.dumps(package, indent=2) + "\n", ".husky/pre-commit": hook,
                ".husky/commit-msg": hook}

    def install(self, wt):
        run(wt, *NPM_INSTALL.split())   # its prepare script runs husky: core.hooksPath=.husky/_
        assert (wt / ".husky/_/h").is_file()

    def again(self, main, stream):
        run(stream, *NPM_INSTALL.split())
        run(stream, "npx", "--offline", "husky")
        git(main, "config", "--unset", "core.hooksPath")   # husky 9's uninstall
        run(main, "npx", "--offline", "husky")
        return []


class Lefthook(Manager):
    name = "lefthook"

    def files(self):
        commands = "".join(f"{hook}:\n  commands:\n    trace:\n      run: echo \"{hook} $(pwd)\" >> {self.trace}\n"
                           for hook in ("pre-commit", "commit-msg"))
        return {"lefthook.yml": commands}

    def lefthook(self, wt: Path, *args: str) -> None:
        run(wt, str(lefthook_binary()), *args)

    def install(self, wt):
        self.lefthook(wt, "install")

    def again(self, main, stream):
        self.lefthook(main, "uninstall")
        self.lefthook(main, "install")
        self.lefthook(stream, "uninstall")   # nothing of lefthook's in wta's directory: leaves it alone
        # In a stream worktree lefthook writes where git says that worktree's hooks are: wta's own
        # directory, renaming wta's hooks to `.old`. That takes the check away: shown, then put back.
        self.lefthook(stream, "install")
        return [stream]


class GitHooks(Manager):
    """A committed .githooks/ and core.hooksPath=.githooks (set before or after `wta up`)."""

    name = "githooks"

    def files(self):
        hook = f"#!/bin/sh\n{trace_line(self.trace)}\n"
        return {".githooks/pre-commit": hook, ".githooks/commit-msg": hook}

    def install(self, wt):
        git(wt, "config", "core.hooksPath", ".githooks")

    def again(self, main, stream):
        git(main, "config", "--unset", "core.hooksPath")
        git(main, "config", "core.hooksPath", ".githooks")
        git(stream, "config", "core.hooksPath", ".githooks")   # the shared config, as from main
        # This worktree's own config: it replaces wta's hooks there. Shown, then put back; and
        # `wta hooks uninstall` gives it back.
        git(stream, "config", "--worktree", "core.hooksPath", ".githooks")
        self.given_back = ".githooks"
        return [stream]


class HuskyInTheSandbox(Husky):
    """husky installed by `setup: [npm install]` under `sandbox: auto` (the default): its prepare script
    cannot write the shared git config (core.hooksPath) from inside the sandbox, and then makes no
    `.husky/_/` in the stream worktree."""

    name = "husky-sandboxed"
    # --install-links: the husky package here is a directory (tests/npm_tools.py), which npm would link
    # to and chmod outside the worktree; a package from the registry is unpacked into node_modules, as so.
    setup = f"setup: [{NPM_INSTALL} --install-links]\n"


MANAGERS = {m.name: m for m in (PreCommit, Husky, Lefthook, GitHooks)}


def make_project(tmp_path: Path, manager_class: type[Manager]) -> tuple[Path, Manager]:
    manager = manager_class(tmp_path / "trace")
    repo = make_repo(tmp_path / "project", zones=ZONES.format(setup=manager.setup), files=FILES)
    for rel, text in manager.files().items():
        path = repo / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        if rel.startswith((".githooks/", ".husky/")):
            path.chmod(0o755)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", f"use {manager.name}")
    return repo, manager


def ran(manager: Manager, since: int) -> list[str]:
    """The hooks the manager ran since the trace had `since` lines: "<hook> <worktree>"."""
    lines = manager.trace.read_text().splitlines() if manager.trace.exists() else []
    return lines[since:]


def mark(manager: Manager) -> int:
    return len(ran(manager, 0))


def commit(wt: Path, path: str, message: str, check: bool = True) -> subprocess.CompletedProcess:
    file = wt / path
    file.write_text(file.read_text() + "more\n")
    git(wt, "add", path)
    proc = git(wt, "commit", "-m", message, check=False)
    if check:
        assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def subject(wt: Path) -> str:
    return git(wt, "log", "-1", "--format=%s").stdout.strip()


def assert_enforced(main: Path, stream: Path, manager: Manager) -> None:
    """wta's check and prefix in the stream worktree, the manager's hooks in both, nothing of wta in main."""
    start = mark(manager)
    commit(stream, "src/lib/a.ts", "in zone")
    assert subject(stream) == "[api] in zone"
    assert ran(manager, start) == [f"pre-commit {stream}", f"commit-msg {stream}"]

    head = git(stream, "rev-parse", "HEAD").stdout
    refused = commit(stream, "src/components/b.tsx", "out of zone", check=False)
    assert refused.returncode == 1 and "src/components/b.tsx: owned by stream 'ui'" in refused.stderr
    assert git(stream, "rev-parse", "HEAD").stdout == head
    git(stream, "reset", "-q", "--hard")

    start = mark(manager)
    commit(main, "src/lib/a.ts", "main commits anywhere")
    assert subject(main) == "main commits anywhere"
    assert ran(manager, start) == [f"pre-commit {main}", f"commit-msg {main}"]
    assert MISSING not in wta(main, "status", check=None).stdout


def assert_no_wta(main: Path, manager: Manager, stream: Path | None, given_back: str | None = None) -> None:
    """No wta file or config left, and the manager's hooks run as git runs them without wta.
    `given_back`: the stream worktree's own core.hooksPath, which wta had replaced and uninstall set
    again; per-worktree config stays on for it (wta turns it off once nothing needs it)."""
    common = main / ".git"
    assert not (common / "wta" / "hooks").exists() and not (common / "wta" / "copied-hooks").exists()
    assert not (common / "wta" / "hooks-path-before").exists()
    if given_back:
        assert stream and git(stream, "config", "--worktree", "--get-all", "core.hooksPath").stdout == f"{given_back}\n"
    else:
        assert not (common / "wta" / "worktree-config-on").exists()
        assert "extensions.worktreeconfig" not in git(main, "config", "--list").stdout
        assert not list(common.glob("worktrees/*/config.worktree"))
    assert not (common / "config.worktree").exists()
    assert [p.name for p in (common / "hooks").iterdir() if not p.name.endswith(".sample")
            and ("wta" in p.name or "wta-managed-hook" in p.read_text(errors="replace"))] == []
    for wt in [main] + ([stream] if stream else []):
        assert git(wt, "status", "--porcelain", "--untracked-files=no").stdout == ""
        start = mark(manager)
        commit(wt, "src/components/b.tsx", "no zones without wta")
        assert subject(wt) == "no zones without wta"
        assert ran(manager, start) == [f"pre-commit {wt}", f"commit-msg {wt}"]


def stream_worktree(main: Path) -> Path:
    return main.parent / "project-worktrees" / "api"


# Each manager in both orders, each the whole story: commits, the manager's own commands again,
# uninstall, up again, down.
CASES = [pytest.param(name, order, id=f"{name}-{order}") for name in MANAGERS
         for order in ("manager-first", "wta-first")]


@pytest.mark.parametrize("name, order", CASES)
def test_hooks_live_beside_the_manager(tmp_path, name, order):
    main, manager = make_project(tmp_path, MANAGERS[name])
    if order == "manager-first":
        manager.install(main)
    config = sorted(git(main, "config", "--list", "--local").stdout.splitlines())
    wta(main, "up", "--no-launch", "api", check=0)
    stream = stream_worktree(main)
    if order == "wta-first":
        manager.install(main)
    assert git(main, "status", "--porcelain", "--untracked-files=no").stdout == ""   # no tracked file changed
    assert_enforced(main, stream, manager)

    taken = manager.again(main, stream)
    status = wta(main, "status", check=None).stdout
    assert (MISSING in status) == bool(taken), status
    if taken:
        fixed = wta(main, "hooks", "install", check=0)
        assert "zone check installed in" in fixed.stdout or "zone check put back" in fixed.stdout
        assert "by hand" not in fixed.stdout + fixed.stderr
    assert_enforced(main, stream, manager)
    assert "nothing to do" in wta(main, "hooks", "install", check=0).stdout

    wta(main, "hooks", "uninstall", check=0)
    assert_no_wta(main, manager, stream, manager.given_back)
    if order == "manager-first" and not manager.given_back:   # the manager's commands above set back what they unset
        assert sorted(git(main, "config", "--list", "--local").stdout.splitlines()) == config

    wta(main, "up", "--no-launch", "api", check=0)
    assert_enforced(main, stream, manager)
    wta(main, "down", "--force", "api", check=0)
    assert_no_wta(main, manager, None)
    if order == "manager-first":
        assert sorted(git(main, "config", "--list", "--local").stdout.splitlines()) == config


needs_bwrap = pytest.mark.skipif(shutil.which("bwrap") is None,
                                 reason="needs bubblewrap: .ci/run installs it (apt-get install bubblewrap)")
REFUSED_CONFIG = "could not change the repository's git config"
NOT_FOUND = "repository hooks not found in"


def tree(directory: Path) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


def inside_sandbox(main: Path, stream: Path, command: str) -> subprocess.CompletedProcess:
    """`command` in api's sandbox as its session gets it."""
    box = sandbox.for_stream(sandbox.bwrap(), str(main / ".git"), "api", str(stream), "wta/api")
    return subprocess.run(box.wrap(["/bin/sh", "-c", command]), cwd=stream, env=box.env(dict(os.environ)),
                          capture_output=True, text=True, timeout=60)


@needs_bwrap
def test_husky_installed_in_main_runs_in_a_stream_whose_setup_ran_in_the_sandbox(tmp_path):
    """husky installed in the main worktree first; `setup: [npm install]` in the sandbox cannot install it
    in the stream worktree, so wta copies the main worktree's generated `.husky/_/` there (after setup:,
    outside the sandbox), and husky's real helper runs the stream's own `.husky/<hook>`."""
    main, manager = make_project(tmp_path, HuskyInTheSandbox)
    manager.install(main)
    config = sorted(git(main, "config", "--list", "--local").stdout.splitlines())
    up = wta(main, "up", "--no-launch", "api", check=0)
    stream = stream_worktree(main)
    log = (main / ".git" / "wta" / "logs" / "api.log").read_text()
    assert "could not lock config file" in log and (stream / "node_modules" / "husky" / "package.json").is_file()
    assert REFUSED_CONFIG not in up.stdout and NOT_FOUND not in up.stdout   # nothing lost: wta copied it
    assert tree(stream / ".husky" / "_") == tree(main / ".husky" / "_") and "h" in tree(stream / ".husky" / "_")
    assert git(stream, "status", "--porcelain").stdout == ""   # husky's own .gitignore: nothing to commit
    assert_enforced(main, stream, manager)
    assert NOT_FOUND not in wta(main, "status", check=0).stdout

    # The session's sandbox keeps it as wta put it: what wta's own commits outside the sandbox run.
    copied = tree(stream / ".husky" / "_")
    for attempt in ("echo 'touch /tmp/pwned' >> .husky/_/h", "echo 'exit 0' > .husky/_/post-rewrite",
                    "rm -rf .husky/_", "mv .husky/_ .husky/old"):
        assert inside_sandbox(main, stream, attempt).returncode != 0, attempt
    assert tree(stream / ".husky" / "_") == copied
    assert "nothing to do" in wta(main, "hooks", "install", check=0).stdout

    # husky upgraded in the main worktree: wta's copy follows; a copy changed in the stream is left alone.
    helper = main / ".husky" / "_" / "h"
    helper.write_text(helper.read_text() + "# upgraded\n")
    again = wta(main, "hooks", "install", check=0).stdout
    assert f"{stream}: copied the repository's hooks (.husky/_) from the main worktree" in again
    assert tree(stream / ".husky" / "_") == tree(main / ".husky" / "_")
    (stream / ".husky" / "_" / "h").write_text(helper.read_text() + "# the stream's own\n")
    helper.write_text(helper.read_text() + "# upgraded again\n")
    assert "nothing to do" in wta(main, "hooks", "install", check=0).stdout
    assert (stream / ".husky" / "_" / "h").read_text().endswith("# the stream's own\n")
    assert_enforced(main, stream, manager)

    # Uninstalled: wta's hooks, config and records go; the copy is husky's, so husky still runs there.
    wta(main, "hooks", "uninstall", check=0)
    assert_no_wta(main, manager, stream)
    assert sorted(git(main, "config", "--list", "--local").stdout.splitlines()) == config
    wta(main, "up", "--no-launch", "api", check=0)
    assert_enforced(main, stream, manager)
    wta(main, "down", "--force", "api", check=0)
    assert not stream.exists()
    assert_no_wta(main, manager, None)
    assert sorted(git(main, "config", "--list", "--local").stdout.splitlines()) == config


@needs_bwrap
def test_husky_first_installed_by_a_sandboxed_setup_is_installed_nowhere_and_wta_says_so(tmp_path):
    """wta first, husky never installed in the main worktree: `setup: [npm install]` runs husky's install
    in the sandbox, which cannot set the shared core.hooksPath (by design), so husky is installed nowhere;
    `wta up` says so in one line. Installing husky in the main worktree then, `wta status` says the
    stream lacks its hooks, and `wta hooks install` brings them."""
    main, manager = make_project(tmp_path, HuskyInTheSandbox)
    config = sorted(git(main, "config", "--list", "--local").stdout.splitlines())
    up = wta(main, "up", "--no-launch", "api", check=0)
    stream = stream_worktree(main)
    said = [line for line in up.stdout.splitlines() if REFUSED_CONFIG in line]
    assert said == [f"api: setup command `{NPM_INSTALL} --install-links` could not change the repository's git "
                    "config, which the sandbox keeps read-only (a hook manager's install does nothing there); run it "
                    "in the main worktree, then `wta hooks install`"], up.stdout
    assert "core.hookspath" not in git(main, "config", "--list").stdout.lower()
    assert not (stream / ".husky" / "_").exists() and not (main / ".husky" / "_").exists()
    assert (stream / "node_modules" / "husky" / "package.json").is_file()

    # wta's check holds; husky's hooks run nowhere, as in the main worktree.
    start = mark(manager)
    commit(stream, "src/lib/a.ts", "in zone")
    assert subject(stream) == "[api] in zone"
    assert commit(stream, "src/components/b.tsx", "out of zone", check=False).returncode == 1
    git(stream, "reset", "-q", "--hard")
    commit(main, "src/lib/a.ts", "main")
    assert ran(manager, start) == []

    manager.install(main)   # what the line says: husky's install in the main worktree
    status = wta(main, "status", check=0).stdout
    assert [line for line in status.splitlines() if NOT_FOUND in line] == [
        f"{NOT_FOUND} api ({stream}): core.hooksPath .husky/_ is not in that worktree, so its commits run only "
        "wta's check; install the hook manager in the main worktree, and `wta hooks install` copies what it "
        "generates there"], status
    fixed = wta(main, "hooks", "install", check=0).stdout
    assert f"{stream}: copied the repository's hooks (.husky/_) from the main worktree" in fixed
    assert NOT_FOUND not in wta(main, "status", check=0).stdout
    assert_enforced(main, stream, manager)

    wta(main, "hooks", "uninstall", check=0)
    assert_no_wta(main, manager, stream)
    wta(main, "down", "--force", "api", check=0)
    assert_no_wta(main, manager, None)
    git(main, "config", "--unset", "core.hooksPath")   # husky 9's uninstall: back to the config before
    assert sorted(git(main, "config", "--list", "--local").stdout.splitlines()) == config


def test_a_generated_hooks_directory_is_copied_and_nothing_else(tmp_path):
    """A relative core.hooksPath: what the main worktree has there is copied into a stream worktree only
    when git ignores all of it (generated), never over files the stream's branch tracks; when it cannot
    be found, `wta up` and `wta status` say so in one line."""
    trace = tmp_path / "trace"
    main = make_repo(tmp_path / "project", zones=ZONES.format(setup=""), files=FILES)
    git(main, "config", "core.hooksPath", ".hooks")
    stream = stream_worktree(main)
    line = f"{NOT_FOUND} {stream}: core.hooksPath .hooks is not in that worktree"
    up = wta(main, "up", "--no-launch", "api", check=0).stdout
    said = [x for x in up.splitlines() if NOT_FOUND in x]
    assert len(said) == 1 and said[0].startswith(line), up
    assert f"{NOT_FOUND} api ({stream}): core.hooksPath .hooks" in wta(main, "status", check=0).stdout

    hook = main / ".hooks" / "pre-commit"
    hook.parent.mkdir()
    hook.write_text(f"#!/bin/sh\n{trace_line(trace)}\n")
    hook.chmod(0o755)
    assert line in wta(main, "hooks", "install", check=0).stdout   # untracked but not ignored: not generated
    assert not (stream / ".hooks").exists()
    (main / ".hooks" / ".gitignore").write_text("*\n")
    assert f"{stream}: copied the repository's hooks (.hooks)" in wta(main, "hooks", "install", check=0).stdout
    commit(stream, "src/lib/a.ts", "in zone")
    assert subject(stream) == "[api] in zone" and trace.read_text() == f"pre-commit {stream}\n"

    # Files the stream's branch tracks there are never written over, even when missing from its worktree.
    shutil.rmtree(stream / ".hooks")
    (stream / ".hooks").mkdir()
    (stream / ".hooks" / "tracked").write_text("the stream's\n")
    git(stream, "add", "-f", ".hooks/tracked")
    git(stream, "commit", "-q", "--no-verify", "-m", "[api] a tracked file in .hooks")
    (stream / ".hooks" / "tracked").unlink()
    assert line in wta(main, "hooks", "install", check=0).stdout
    assert list((stream / ".hooks").iterdir()) == []


def test_a_setup_that_installs_lefthook_in_the_stream_worktree_leaves_the_zone_check_in_place(tmp_path):
    """`setup: [lefthook install]` with `sandbox: off`: lefthook, run in the new stream worktree, writes into
    wta's hooks directory (where git says that worktree's hooks are), renaming wta's hooks to `.old`. `wta up`
    said `setup ok`, exit 0, and the sessions it started could commit anywhere. wta now looks after each
    setup and puts its hooks back before any session starts; lefthook's hook goes where its install would have
    put it without wta, and runs after the check."""
    class LefthookInSetup(Lefthook):
        setup = f"setup: [{lefthook_binary()} install]\nsandbox: off\n"

    main, manager = make_project(tmp_path, LefthookInSetup)

    up = wta(main, "up", "--no-launch", "api", check=0)

    assert "zone check put back: wta's pre-commit" in up.stdout, up.stdout
    assert MISSING not in wta(main, "status", check=None).stdout
    stream = stream_worktree(main)
    start = mark(manager)
    commit(stream, "src/lib/a.ts", "in zone")
    assert subject(stream) == "[api] in zone"
    assert ran(manager, start) == [f"pre-commit {stream}", f"commit-msg {stream}"]   # lefthook's, after wta's
    refused = commit(stream, "src/components/b.tsx", "out of zone", check=False)
    assert refused.returncode == 1 and "src/components/b.tsx: owned by stream 'ui'" in refused.stderr
