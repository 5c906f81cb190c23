"""Where wta finds the programs it runs outside any sandbox (git, bwrap, tmux): the first on PATH that lies
in no directory a sandbox may write. Those are the temp dirs and the caches in the home folder that every
sandbox gets (a pnpm or yarn `bin` folder on PATH is one of them): an agent that put its own `git` there,
first on PATH, had wta's next git command (a session's end, `wta status`) run it outside the sandbox.
`WTA_GIT` names git outright. The standard library only: the commit hooks import it (through git.py)."""

from __future__ import annotations

import os

# Under $HOME, the agent's own config and cache (Claude Code's, package managers'): writable in every sandbox.
SANDBOX_WRITABLE_IN_HOME = (".claude", ".claude.json", ".claude.json.backup", ".cache", ".npm", ".yarn",
                            ".local/share/pnpm", ".cargo/registry", ".m2", ".gradle", ".config/claude")
TEMP_DIRS = ("/tmp", "/var/tmp")


def temp_dirs() -> list[str]:
    """The temp dirs (real paths): `$TMPDIR` (or `$TEMP`, `$TMP`), /tmp and /var/tmp."""
    return sorted({os.path.realpath(p) for p in (*TEMP_DIRS, *(os.environ.get(name) or "/tmp"
                                                                for name in ("TMPDIR", "TEMP", "TMP")))})


def sandbox_writable() -> list[str]:
    """The places every sandbox may write, besides its worktree (real paths; zones.yaml's `sandbox_write:`
    adds what a project asks for)."""
    places = set(temp_dirs())
    home = os.path.expanduser("~")
    if home and home != "/":
        places.update(os.path.realpath(os.path.join(home, name)) for name in SANDBOX_WRITABLE_IN_HOME)
    return sorted(places)


def find(name: str) -> str | None:
    """The first `name` on PATH outside every place a sandbox may write, or None."""
    untrusted = [p.rstrip("/") + "/" for p in sandbox_writable()]
    for directory in os.environ.get("PATH", os.defpath).split(os.pathsep):
        real = os.path.realpath(directory or ".") + "/"
        if any(real.startswith(place) for place in untrusted):
            continue
        candidate = os.path.join(directory or ".", name)
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None


_git: list[str] = []


def git() -> str:
    """The git wta runs: `WTA_GIT`, else the first outside the sandbox's reach (`find`), else plain `git`
    (looked up on PATH as before: one that lies only where a sandbox may write)."""
    if not _git:
        _git.append(os.environ.get("WTA_GIT") or find("git") or "git")
    return _git[0]
