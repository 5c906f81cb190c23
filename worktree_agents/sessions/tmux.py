"""tmux behind a small interface: the interactive sessions that `wta attach` joins.

Each interactive session gets its own tmux server (`tmux -L <socket>`), started
by the session wrapper, so the agent inherits exactly the session's environment
(API key included) without it ever appearing on a command line, and killing the
session cannot touch the user's own tmux sessions.
"""

from __future__ import annotations

import hashlib
import os
import re
import shlex
import subprocess
from dataclasses import dataclass

from worktree_agents import programs
from worktree_agents.errors import WtaError


def require() -> str:
    found = programs.find("tmux")   # (outside every sandbox's reach: its server runs outside any)
    if found is None:
        raise WtaError("tmux is not installed; install it (e.g. apt install tmux) or run without --interactive")
    return found


def _tmux() -> str:
    return programs.find("tmux") or "tmux"


@dataclass(frozen=True)
class TmuxSession:
    socket: str    # the server's name for `tmux -L`
    name: str      # the session's name: wta-<repo>-<stream>

    @classmethod
    def for_stream(cls, repo_root: str, common_dir: str, stream: str) -> "TmuxSession":
        repo = re.sub(r"[^A-Za-z0-9_-]+", "-", os.path.basename(os.path.normpath(repo_root))).strip("-") or "repo"
        digest = hashlib.sha1(os.path.realpath(common_dir).encode()).hexdigest()[:8]
        return cls(f"wta-{digest}-{stream}", f"wta-{repo}-{stream}")

    @classmethod
    def from_dict(cls, data: dict) -> "TmuxSession":
        return cls(data["socket"], data["session"])

    def to_dict(self) -> dict:
        return {"socket": self.socket, "session": self.name}

    def _run(self, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run([_tmux(), "-L", self.socket, *args], env=env, text=True, capture_output=True,
                              stdin=subprocess.DEVNULL, timeout=30)

    def start(self, argv: list[str], cwd: str, env: dict[str, str], output: str) -> None:
        """Start the session detached, everything the pane prints going to the `output` command's
        stdin; the pane stays after the agent exits, to read the exit status."""
        self.kill()  # a server left by an earlier session of this stream
        # One tmux invocation, so that the option and the pipe are in place before the agent can exit or print.
        proc = self._run("start-server", ";", "set-option", "-g", "remain-on-exit", "on",
                         ";", "new-session", "-d", "-s", self.name, "-c", cwd, "-x", "200", "-y", "50", shlex.join(argv),
                         ";", "pipe-pane", "-t", self.name, output, env=env)
        if proc.returncode != 0:
            raise WtaError(f"tmux could not start session {self.name}: {proc.stderr.strip()}")

    def pane(self) -> tuple[int | None, bool, int | None] | None:
        """(pid of the pane's process, whether it has exited, its exit status once tmux has it),
        or None when tmux could not say (no server, or no such session)."""
        proc = self._run("display-message", "-p", "-t", self.name,
                         "#{pane_pid}:#{pane_dead}:#{pane_dead_status}:#{pane_dead_signal}")
        if proc.returncode != 0:
            return None
        parts = proc.stdout.strip().split(":")
        pid = int(parts[0]) if parts and parts[0].isdigit() else None
        dead = len(parts) > 1 and parts[1] == "1"
        status = None
        if dead and len(parts) > 3 and parts[2].isdigit():
            status = int(parts[2])
        elif dead and len(parts) > 3 and parts[3].isdigit():
            status = -int(parts[3])  # killed by a signal, as subprocess says it
        return pid, dead, status

    def alive(self) -> bool:
        return self._run("has-session", "-t", self.name).returncode == 0

    def kill(self) -> None:
        self._run("kill-server")

    def attach_argv(self) -> list[str]:
        return [_tmux(), "-L", self.socket, "attach-session", "-t", self.name]
