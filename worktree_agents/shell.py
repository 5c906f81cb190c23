"""Running the project's shell commands: `setup:` in a new worktree, the merge's
`test:`, `wta watch`'s checks and notify command. The one place wta starts a
shell command from zones.yaml, with its output in a log (and, in the
background, a deadline), in the stream's sandbox when it runs for a stream;
and the environment a stream's commands get.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from typing import IO, TYPE_CHECKING

from worktree_agents import git

if TYPE_CHECKING:
    from worktree_agents.sandbox import Sandbox


def stream_env(config, stream: str, worktree: str, base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of everything wta runs for a stream (setup, session, merge test):
    `base` (default: this process's, without git's repository variables) plus the
    stream's coordinates WTA_STREAM, WTA_WORKTREE and WTA_PORT."""
    return stream_env_at(config.port_for(stream), stream, worktree, base)


def stream_env_at(port: int, stream: str, worktree: str, base: dict[str, str] | None = None) -> dict[str, str]:
    """`stream_env` with the stream's port already known (the session wrapper has no config)."""
    env = git.no_git_env() if base is None else dict(base)
    env.update(WTA_STREAM=stream, WTA_WORKTREE=worktree, WTA_PORT=str(port))
    return env


def run(command: str, cwd: str, env: dict[str, str], log: IO[bytes], jail: Sandbox | None = None) -> int:
    """Run `command` in a shell in `cwd` (no stdin), its output into `log`; its exit code.

    `jail`: the stream's sandbox (sandbox.for_config) that the shell and all it starts run in.
    """
    from worktree_agents import sandbox

    if jail is not None:
        env = jail.env(env)
    return subprocess.run(sandbox.shell(jail, command), cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                          stdout=log, stderr=subprocess.STDOUT).returncode


class Background:
    """A shell command running in its own process group, its output into a log, with a deadline."""

    def __init__(self, command: str, cwd: str, env: dict[str, str], log: IO[bytes], timeout: float) -> None:
        self.started = time.monotonic()
        self.deadline = self.started + timeout
        self.proc = subprocess.Popen(command, shell=True, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                                     stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def finished(self) -> int | None:
        """The exit code once it ended (its leftover children are ended too), else None."""
        code = self.proc.poll()
        if code is not None:
            self.kill()  # anything it left running in its group
        return code

    def overdue(self) -> bool:
        return time.monotonic() >= self.deadline

    def kill(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
