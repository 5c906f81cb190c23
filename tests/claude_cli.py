"""The pinned, real Claude Code CLI for the tests, installed outside the repository.

``claude_cli_path()`` returns the ``claude`` executable of the pinned version,
installing it first if needed (tests/npm_tools.py: where, and how) into
``${WTA_TEST_CACHE:-~/.cache/wta-test}/claude-code-<version>``. The native
binary comes from the platform's optional-dependency package (e.g.
``@anthropic-ai/claude-code-linux-x64``); the wrapper package's postinstall puts
it in place of ``bin/claude.exe``.

``scripts/install-npm-tools.sh`` (run by CI before the tests) installs it with
the other pinned npm tools.
"""

from __future__ import annotations

import os
import subprocess
import sys
from functools import lru_cache
from pathlib import Path

from npm_tools import cache_root, installed, run

CLAUDE_CODE_VERSION = "2.1.330"
PACKAGE = "@anthropic-ai/claude-code"


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


@lru_cache(maxsize=None)
def claude_cli_path(version: str = CLAUDE_CODE_VERSION) -> str:
    """Path of the pinned ``claude`` executable, installed on first use.

    Raises RuntimeError (with npm's output) if it cannot be installed.
    """
    def complete(prefix: Path) -> bool:
        return _reported_version(_bin(prefix)) == version

    def finish(prefix: Path) -> str:
        # The postinstall that swaps in the native binary did not run (newer npm
        # versions can hold back install scripts): run it.
        return run(["node", "install.cjs"], cwd=prefix / "node_modules" / PACKAGE)

    return str(_bin(installed("claude-code", PACKAGE, version, complete, finish)))


if __name__ == "__main__":
    try:
        print(claude_cli_path())
    except RuntimeError as exc:
        sys.exit(str(exc))
