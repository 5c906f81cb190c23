"""wta as a hook repository of the real pre-commit framework.

The framework clones this project (as committed in a scratch copy), builds its
own virtualenv with `pip install .`, and runs `wta-hook` from it: the same
path a user takes who lists `wta-check-zones` in `.pre-commit-config.yaml`.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
from pathlib import Path

from support import ROOT, add_stream_worktree, git, wta

HOOK_REPO_FILES = ("pyproject.toml", "README.md", ".pre-commit-hooks.yaml", "worktree_agents")


def _hook_repo(tmp_path: Path) -> tuple[Path, str]:
    """A git repository holding this project, as pre-commit wants to clone it."""
    repo = tmp_path / "wta-hook-repo"
    repo.mkdir()
    for name in HOOK_REPO_FILES:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, repo / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            shutil.copy2(source, repo / name)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "wta")
    return repo, git(repo, "rev-parse", "HEAD").stdout.strip()


def _precommit(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    # The framework's pip may reuse the real user's download cache (HOME is a
    # scratch dir in tests); everything it installs stays in PRE_COMMIT_HOME.
    env = {**os.environ, "PIP_CACHE_DIR": os.path.join(pwd.getpwuid(os.getuid()).pw_dir, ".cache", "pip")}
    # The framework of the Python that runs the tests, whether or not its bin directory is on PATH.
    proc = subprocess.run([sys.executable, "-m", "pre_commit", *args], cwd=cwd, text=True, capture_output=True, env=env, timeout=600)
    assert proc.returncode == 0, f"pre-commit {' '.join(args)}:\n{proc.stdout}{proc.stderr}"
    return proc


def test_precommit_framework_refuses_out_of_zone_commit(webapp, tmp_path):
    hook_repo, rev = _hook_repo(tmp_path)
    (webapp / ".pre-commit-config.yaml").write_text(
        "repos:\n"
        f"  - repo: {hook_repo}\n"
        f"    rev: {rev}\n"
        "    hooks:\n"
        "      - id: wta-check-zones\n"
        "      - id: wta-commit-msg\n"
    )
    git(webapp, "add", ".pre-commit-config.yaml")
    git(webapp, "commit", "-q", "-m", "use pre-commit")

    api = add_stream_worktree(webapp, "api")
    # Leave the stream recorded but hand the hooks over to the framework.
    wta(webapp, "hooks", "uninstall", check=0)
    hooks_dir = Path(git(webapp, "rev-parse", "--git-path", "hooks").stdout.strip())
    hooks_dir = hooks_dir if hooks_dir.is_absolute() else webapp / hooks_dir
    assert not (hooks_dir / "pre-commit").exists()

    _precommit(webapp, "install")
    _precommit(webapp, "install", "--hook-type", "commit-msg")
    _precommit(webapp, "install-hooks")
    assert "pre-commit" in (hooks_dir / "pre-commit").read_text()

    head = git(api, "rev-parse", "HEAD").stdout.strip()
    (api / "src" / "components" / "Stolen.tsx").write_text("export const Stolen = 1\n")
    git(api, "add", "-A")
    refused = git(api, "commit", "-m", "take a ui file", check=False)
    assert refused.returncode != 0
    output = refused.stdout + refused.stderr
    assert "src/components/Stolen.tsx" in output and "'ui'" in output
    assert git(api, "rev-parse", "HEAD").stdout.strip() == head

    git(api, "reset", "-q", "--hard")
    git(api, "clean", "-qfd")
    (api / "src" / "lib" / "cache.ts").write_text("export const cache = new Map()\n")
    git(api, "add", "-A")
    git(api, "commit", "-q", "-m", "add a cache")
    assert git(api, "log", "-1", "--format=%s").stdout.strip() == "[api] add a cache"

    # With wta's own hooks back as well, the framework's wta-check-zones does not check again: wta's
    # hook checks, starts the framework's (whose wta entry sees that and passes), then checks what it
    # left.
    wta(webapp, "hooks", "install", check=0)
    trace = tmp_path / "git-trace"
    (api / "src" / "lib" / "more.ts").write_text("export const more = 1\n")
    git(api, "add", "-A")
    git(api, "commit", "-q", "-m", "more", env={**os.environ, "GIT_TRACE": str(trace)})
    assert git(api, "log", "-1", "--format=%s").stdout.strip() == "[api] more"
    # wta's check lists the staged paths before and after the framework (its shell path, --name-only;
    # Python's, which the framework's wta entry would start, is --name-status)
    lines = trace.read_text().splitlines()
    listings = [i for i, line in enumerate(lines) if "diff --cached --name-" in line]
    assert len(listings) == 2 and all("--name-only" in lines[i] for i in listings), listings
    # the framework lists the staged files for its hooks: it ran, between wta's two looks
    framework = [i for i, line in enumerate(lines) if "diff --staged --name-only" in line]
    assert framework and listings[0] < framework[0] < listings[1]
