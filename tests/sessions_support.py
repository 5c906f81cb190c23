"""Helpers shared by the session tests: a small repository with two or three
streams, the session records, waiting for a state, and leaving no process behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from support import make_repo

# The key every session test hands to `wta`; it must never be written anywhere.
KEY = "sk-ant-api03-wtaTEST0123456789abcdefSECRET"

FILES = {
    "README.md": "# app\n",
    "src/api/handler.py": "def handle():\n    return 'ok'\n",
    "src/ui/page.html": "<p>hi</p>\n",
    "infra/setup.sh": "echo setup\n",
}


def zones(agent: str, streams: str | None = None, extra: str = "") -> str:
    """zones.yaml text with an `agent:` block (indented YAML lines) and streams."""
    streams = streams or (
        "  infra:\n    paths: [infra/**]\n"
        "  api:\n    paths: [src/api/**]\n    after: [infra]\n"
        "  ui:\n    paths: [src/ui/**]\n"
    )
    return f"version: 1\n{extra}agent:\n{agent}streams:\n{streams}"


def session_repo(tmp_path: Path, zones_text: str, files: dict[str, str] | None = None) -> Path:
    return make_repo(tmp_path / "repo", zones_text, files or FILES)


def worktree(repo: Path, stream: str) -> Path:
    return repo.parent / f"{repo.name}-worktrees" / stream


def state_dir(repo: Path) -> Path:
    return repo / ".git" / "wta"


def record(repo: Path, stream: str) -> dict:
    return json.loads((state_dir(repo) / "sessions" / f"{stream}.json").read_text())


def log_text(repo: Path, stream: str) -> str:
    return (state_dir(repo) / "logs" / f"{stream}.log").read_text(errors="replace")


def env(**extra: str) -> dict[str, str]:
    """The test's environment plus an API key, as a user's shell would pass it."""
    found = {k: v for k, v in os.environ.items() if not k.startswith("ANTHROPIC_")}
    found.update(ANTHROPIC_API_KEY=KEY, WTA_KILL_GRACE="2", **extra)
    return found


def wait_for(what, timeout: float = 30.0, interval: float = 0.05, message: str = ""):
    """Poll `what()` until it returns something true; that value."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = what()
        except (FileNotFoundError, ValueError, KeyError):
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting: {message or what}")
        time.sleep(interval)


def wait_state(repo: Path, stream: str, *states: str, timeout: float = 30.0) -> dict:
    return wait_for(lambda: (r := record(repo, stream))["state"] in states and r, timeout,
                    message=f"{stream} to become {'/'.join(states)}")


def alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def marked(mark: str) -> list[int]:
    """The living processes whose environment holds WTA_TEST_MARK=<mark>: what an agent started, found as
    this test sees it (inside its sandbox's pid namespace, `$!` and `$$` are other numbers)."""
    found = []
    for proc in psutil.process_iter(["environ", "status"]):
        try:
            if (proc.info["environ"] or {}).get("WTA_TEST_MARK") == mark and proc.info["status"] != psutil.STATUS_ZOMBIE:
                found.append(proc.pid)
        except psutil.Error:
            continue
    return found


def up(repo: Path, *args: str, env_: dict | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "worktree_agents", "up", *args], cwd=repo, env=env_ or env(),
                          text=True, capture_output=True, timeout=timeout)


def kill_everything(repo: Path) -> None:
    """Teardown: end whatever a test's sessions left running (a failed test must not leak processes)."""
    root = str(repo.parent)
    for proc in psutil.process_iter(["pid", "environ", "cwd"]):
        try:
            environ = proc.info.get("environ") or {}
            cwd = proc.info.get("cwd") or ""
        except psutil.Error:
            continue
        if proc.pid != os.getpid() and (environ.get("WTA_WORKTREE", "").startswith(root) or cwd.startswith(root)):
            try:
                proc.send_signal(signal.SIGKILL)
            except psutil.Error:
                pass


@pytest.fixture(autouse=True)
def no_leftover_processes(tmp_path):
    yield
    kill_everything(tmp_path / "repo")




def claude_env(claude: str, fake) -> dict[str, str]:
    """The environment for `claude` sessions against the fake API."""
    return env(WTA_CLAUDE=claude, ANTHROPIC_BASE_URL=fake.base_url, CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC="1",
               IS_SANDBOX="1")  # bypassPermissions refuses to run as root without it
