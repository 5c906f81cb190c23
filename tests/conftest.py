"""Shared fixtures: real git repositories in tmp_path and the real `wta` process.

Every test runs with an isolated HOME and git identity so nothing from the
machine's git config leaks in, and runs `wta` as a subprocess the way a user
or a git hook does.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from support import make_repo


def pytest_configure(config):
    """Ctrl-C for the processes the tests start, as from a terminal: a shell's background job (`.ci/run &`)
    ignores SIGINT, its children inherit that, and a test that interrupts `wta watch` waited for it forever."""
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(autouse=True)
def isolated_env(tmp_path_factory, monkeypatch):
    """A private HOME and git identity; no GIT_* variables from outside."""
    home = tmp_path_factory.mktemp("home")
    for name in list(os.environ):
        if name.startswith("GIT_") and name != "GIT_SSL_CAINFO":
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_AUTHOR_NAME", "Test Author")
    monkeypatch.setenv("GIT_AUTHOR_EMAIL", "author@example.com")
    monkeypatch.setenv("GIT_COMMITTER_NAME", "Test Committer")
    monkeypatch.setenv("GIT_COMMITTER_EMAIL", "committer@example.com")
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.delenv("WTA_STREAM", raising=False)
    monkeypatch.delenv("WTA_WORKTREE", raising=False)
    (home / ".gitconfig").write_text("[init]\n\tdefaultBranch = main\n[advice]\n\tdetachedHead = false\n")
    yield


@pytest.fixture
def webapp(tmp_path) -> Path:
    """A repository with the four-stream example zones committed on main."""
    return make_repo(tmp_path / "webapp")


@pytest.fixture(scope="session")
def claude() -> str:
    """The pinned Claude Code CLI, installed outside the repository on first use.

    Never a skip: without the CLI the tests that need it fail, with npm's output.
    """
    from claude_cli import CLAUDE_CODE_VERSION, claude_cli_path

    try:
        return claude_cli_path()
    except RuntimeError as exc:
        problem = str(exc)
    pytest.fail(f"could not install Claude Code {CLAUDE_CODE_VERSION}:\n{problem}", pytrace=False)
