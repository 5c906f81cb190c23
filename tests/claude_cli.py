"""The pinned, real Claude Code CLI for the tests, installed outside the repository.

``claude_cli_path()`` returns the ``claude`` executable of the pinned version,
installing it first if needed into
``${WTA_TEST_CACHE:-~/.cache/wta-test}/claude-code-<version>`` with
``npm install --no-save --prefix``. The native binary comes from the
platform's optional-dependency package (e.g. ``@anthropic-ai/claude-code-linux-x64``);
the wrapper package's postinstall puts it in place of ``bin/claude.exe``.

This file is the single source of truth for the version and the install:
``scripts/install-claude-cli.sh`` (run by CI before the tests) runs it as a
script, which installs and prints the path.
"""

from __future__ import annotations

import fcntl
import os
import pwd
import shutil
import subprocess
import sys
from functools import lru_cache
from pathlib import Path

CLAUDE_CODE_VERSION = "2.1.330"
PACKAGE = "@anthropic-ai/claude-code"
NPM_TIMEOUT = 900


def cache_root() -> Path:
    """``$WTA_TEST_CACHE``, else ``~/.cache/wta-test``.

    ``~`` is the user's home from the password database rather than ``$HOME``:
    the test fixtures point HOME at a fresh temporary directory, and the
    ~380 MB install must survive across tests and runs.
    """
    explicit = os.environ.get("WTA_TEST_CACHE")
    if explicit:
        return Path(explicit).expanduser()
    return Path(pwd.getpwuid(os.getuid()).pw_dir) / ".cache" / "wta-test"


def install_dir(version: str = CLAUDE_CODE_VERSION) -> Path:
    return cache_root() / f"claude-code-{version}"


def _bin(prefix: Path) -> Path:
    return prefix / "node_modules" / ".bin" / "claude"


def _reported_version(claude: Path) -> str | None:
    """What ``claude --version`` says, or None if it does not run.

    A half-done install leaves a placeholder ``claude.exe`` that does not
    report the version, so this doubles as the "is it complete" check.
    """
    if not os.access(claude, os.X_OK):
        return None
    try:
        proc = subprocess.run([str(claude), "--version"], capture_output=True, text=True,
                              timeout=60, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired):
        return None
    words = proc.stdout.split()
    return words[0] if proc.returncode == 0 and words else None


def _run(cmd: list[str], cwd: Path | None = None) -> str:
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=NPM_TIMEOUT,
                          stdin=subprocess.DEVNULL)
    output = f"$ {' '.join(cmd)}\n{proc.stdout}{proc.stderr}"
    if proc.returncode != 0:
        raise RuntimeError(f"exit status {proc.returncode}\n{output}")
    return output


def _install(version: str, target: Path) -> None:
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("npm is not on PATH; the Claude Code CLI tests need Node.js and npm")
    # Install into a staging directory and rename it into place, so a failed or
    # interrupted install never leaves a half-filled `target` behind. npm's .bin
    # links are relative, so the rename keeps them valid.
    staging = target.with_name(f".{target.name}.staging-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    log = []
    try:
        log.append(_run([npm, "install", "--no-save", "--no-audit", "--no-fund",
                         "--prefix", str(staging), f"{PACKAGE}@{version}"]))
        if _reported_version(_bin(staging)) != version:
            # The postinstall that swaps in the native binary did not run
            # (newer npm versions can hold back install scripts): run it.
            package_dir = staging / "node_modules" / PACKAGE
            log.append(_run(["node", "install.cjs"], cwd=package_dir))
        got = _reported_version(_bin(staging))
        if got != version:
            raise RuntimeError(f"installed claude reports version {got!r}, expected {version!r}")
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)
    except Exception as exc:
        raise RuntimeError(
            f"installing {PACKAGE}@{version} into {target} failed: {exc}\n" + "\n".join(log)
        ) from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)


@lru_cache(maxsize=None)
def claude_cli_path(version: str = CLAUDE_CODE_VERSION) -> str:
    """Path of the pinned ``claude`` executable, installed on first use.

    Raises RuntimeError (with npm's output) if it cannot be installed.
    """
    target = install_dir(version)
    claude = _bin(target)
    if _reported_version(claude) == version:
        return str(claude)
    target.parent.mkdir(parents=True, exist_ok=True)
    # One installer at a time (pytest-xdist workers, CI script); whoever waited
    # finds the install done.
    with open(target.with_name(f"{target.name}.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _reported_version(claude) != version:
            _install(version, target)
    return str(claude)


if __name__ == "__main__":
    try:
        print(claude_cli_path())
    except RuntimeError as exc:
        sys.exit(str(exc))
