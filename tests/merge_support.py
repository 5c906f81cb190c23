"""What the merge tests share: one four-stream repository (the example zones, worktrees made
with `git worktree add` + `wta hooks install --stream`, commits made through the real hooks),
built once per test process and copied for each test; and the ways to hold a merge at a step.

Import it as `from merge_support import ...`; `repo` is a fixture (import it with the test's other names).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from pathlib import Path

import pytest

from support import EXAMPLE_ZONES, add_stream_worktree, commit_all, git, make_repo, wta, write_files

STREAMS = ("infra", "api", "ui", "monitor")
# `test:` runs $HOME/merge-test.sh when a test writes one (HOME is private to each test).
TEST_COMMAND = """test: 'if [ -f "$HOME/merge-test.sh" ]; then sh "$HOME/merge-test.sh"; fi'"""
ZONES = EXAMPLE_ZONES.read_text().replace("test: npm test", TEST_COMMAND)

# Each stream's commits in the template: (files, message).
WORK = {
    "infra": [({"ai-agents/tools.md": "# tools\n"}, "add tools")],
    "api": [({"src/lib/db.ts": "export const db = {pool: 4}\n"}, "pool the db"),
            ({"src/app/api/users/route.ts": "export const GET = () => []\n"}, "users route")],
    "ui": [({"src/components/Nav.tsx": "export const Nav = () => null\n"}, "nav")],
    "monitor": [({"ai-agents/memory/notes.md": "first note\nsecond note\nthird note\n"}, "note")],
}

_templates: dict[str, Path] = {}


def _build(root: Path) -> Path:
    repo = make_repo(root / "webapp", ZONES)
    for stream in STREAMS:
        where = add_stream_worktree(repo, stream)
        for files, message in WORK[stream]:
            write_files(where, files)
            commit_all(where, message)
    return root


def _copy(template: Path, dest: Path) -> Path:
    """The template repository and its worktrees, copied and re-linked (git worktree repair), their
    hooks too (their core.hooksPath still names the template's)."""
    shutil.copytree(template, dest, symlinks=True)
    repo = dest / "webapp"
    for stream in STREAMS:
        (dest / f"webapp-{stream}" / ".git").write_text(f"gitdir: {repo}/.git/worktrees/webapp-{stream}\n")
    git(repo, "worktree", "repair", *(str(dest / f"webapp-{s}") for s in STREAMS))
    wta(repo, "hooks", "install", check=0)
    return repo


@pytest.fixture
def repo(tmp_path, tmp_path_factory) -> Path:
    """A copy of the four-stream repository: main plus worktrees webapp-<stream>."""
    if "four" not in _templates:
        _templates["four"] = _build(tmp_path_factory.mktemp("merge-template"))
    return _copy(_templates["four"], tmp_path / "copy")


def wt(repo: Path, stream: str) -> Path:
    return repo.parent / f"webapp-{stream}"


def sha(repo: Path, rev: str) -> str:
    return git(repo, "rev-parse", rev).stdout.strip()


def branch_refs(repo: Path) -> dict[str, str]:
    """Every ref except wta's backups."""
    lines = git(repo, "for-each-ref", "--format=%(refname) %(objectname)").stdout.splitlines()
    return dict(line.split(" ") for line in lines if not line.startswith("refs/wta/"))


def reachable(repo: Path) -> set[str]:
    return set(git(repo, "rev-list", "--all").stdout.split())


def subjects(repo: Path, rev: str = "main") -> list[str]:
    return git(repo, "log", "--format=%s", rev).stdout.splitlines()


def set_test(script: str) -> None:
    """Make the repository's `test:` run this shell script (in the stream's worktree)."""
    (Path(os.environ["HOME"]) / "merge-test.sh").write_text(script)


def state_dir(repo: Path) -> Path:
    return repo / ".git" / "wta"


def snapshot(repo: Path) -> dict:
    """Refs, every worktree's HEAD, status and files, and wta's state dir: what must not change."""
    def files(root: Path) -> dict[str, str]:
        return {str(p.relative_to(root)): hashlib.sha1(p.read_bytes()).hexdigest()
                for p in sorted(root.rglob("*")) if p.is_file() and ".git" not in p.relative_to(root).parts}
    trees = {}
    for where in [repo] + [wt(repo, s) for s in STREAMS]:
        trees[str(where)] = (git(where, "symbolic-ref", "-q", "HEAD", check=False).stdout,
                             git(where, "status", "--porcelain=v1").stdout, files(where))
    # (config.cache: zones.yaml as last validated, which any command that reads the file may write.)
    state = {str(p.relative_to(state_dir(repo))): p.read_bytes() for p in sorted(state_dir(repo).rglob("*"))
             if p.is_file() and p.name != "config.cache"}
    return {"refs": git(repo, "for-each-ref").stdout, "trees": trees, "state": state}


def assert_contained(repo: Path, streams=STREAMS) -> None:
    for stream in streams:
        assert git(repo, "merge-base", "--is-ancestor", f"wta/{stream}", "main", check=False).returncode == 0, stream


# -- holding a merge at a step --------------------------------------------------------

BLOCK = """if [ -f "$HOME/block" ]; then touch "$HOME/blocked"; while [ -f "$HOME/block" ]; do sleep 0.02; done; fi\n"""
MERGED_ORDER = ["[monitor] note", "[ui] nav", "[api] users route", "[api] pool the db", "[infra] add tools"]


def git_shim(body: str) -> dict[str, str]:
    """The environment of a `wta merge` whose `git` is this shell script (`$REAL` runs the real
    git), named by WTA_GIT (a `git` first on PATH is not taken from a place a sandbox may write, such
    as the temp dir): wta's own git runs no hooks, so a test holds git this way."""
    shim = Path(os.environ["HOME"]) / "git-shim"
    shim.mkdir(exist_ok=True)
    script = shim / "git"
    script.write_text(f"#!/bin/sh\nREAL={shutil.which('git')}\n{body}")
    script.chmod(0o755)
    return {"WTA_GIT": str(script)}


def block_in_rebase() -> dict[str, str]:
    """Hold git's rebase of api in its post-checkout hook (once it has checked out the base):
    the shim gives `git rebase` a hooks directory, after wta's own `-c core.hooksPath`."""
    hooks = Path(os.environ["HOME"]) / "rebase-hooks"
    hooks.mkdir(exist_ok=True)
    (hooks / "post-checkout").write_text("#!/bin/sh\n" + BLOCK)
    (hooks / "post-checkout").chmod(0o755)
    return git_shim('case " $* " in *" rebase "*)\n'
                     '  for a do shift; if [ "$a" = rebase ]; then set -- "$@" -c "core.hooksPath='
                     f'{hooks}" rebase; else set -- "$@" "$a"; fi; done;;\nesac\nexec "$REAL" "$@"\n')


def _block_after(words: str) -> dict[str, str]:
    """Hold a `git` whose command line holds `words` once the real git has run (the shim waits after it)."""
    return git_shim(f'"$REAL" "$@"\nrc=$?\ncase " $* " in *" {words} "*) {BLOCK.strip()} ;; esac\nexit $rc\n')


def _block_before(words: str) -> dict[str, str]:
    """Hold a `git` whose command line holds `words` before the real git runs."""
    return git_shim(f'case " $* " in *" {words} "*) {BLOCK.strip()} ;; esac\nexec "$REAL" "$@"\n')


def block_in_replay() -> dict[str, str]:
    """Hold a stream's landing once its copied commits are in its worktree's index and files, before
    its branch moves (before the `git update-ref` that moves it)."""
    return _block_before("wta merge: rebase onto")


def needs_git_rebase(repo: Path) -> str:
    """A person's commit on main that deletes a file no stream has: the landings after it go through
    `git rebase` (worktrees/replay.py leaves a base that deleted a path to git)."""
    git(repo, "rm", "-q", "docs/specs/api.md")
    git(repo, "commit", "-q", "-m", "drop the api spec")
    return git(repo, "rev-parse", "HEAD").stdout.strip()


def block_before_the_first_checkout() -> dict[str, str]:
    """Hold the first `git read-tree -m -u` before it runs: the base worktree's files at the first
    stream's fast-forward, when that stream needs no rebase."""
    return _block_before("read-tree -m -u")


def block_after_fast_forward() -> dict[str, str]:
    """Hold the fast-forward once it has moved the base (the shim waits after the real `git update-ref`)."""
    return _block_after("wta merge: fast-forward")


def wait_for(condition, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def merge_state(repo: Path) -> dict:
    try:
        return json.loads((state_dir(repo) / "merge.json").read_text())
    except (FileNotFoundError, ValueError):
        return {}


def at_step(repo: Path, step: str, stream: str):
    return lambda: merge_state(repo).get("step") == step and merge_state(repo).get("stream") == stream
