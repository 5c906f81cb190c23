"""How wta starts Python processes of its own: the git hooks, Claude Code's guard, the session
wrappers, the detached coordinator. The one place that builds their command lines.

Never `python -m`: it puts the current directory, a worktree whose files an agent
writes, first on sys.path, so that a `json.py` or `shlex.py` committed there
would run in place of the standard library's, outside the agent's sandbox. Always
`python -S -c CODE`: no current directory on sys.path, and no site-packages
processing (its `.pth` files, an editable install's finder: 5-20 ms of each
start). CODE puts wta's own directory after the standard library and, for the
processes that may import a third-party module (psutil, pydantic, yaml), the
directories this process imports them from. Stdlib only: the hooks import it.
"""

from __future__ import annotations

import json
import os
import sys

# The directory that holds the worktree_agents package.
PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def code(module: str, function: str, *, libraries: bool = True, collect: bool = True) -> str:
    """The `-c` program that runs `module.function()` and exits with what it returns.

    `libraries`: with this process's directories of third-party modules on sys.path (`import_dirs`);
    without, the program imports the standard library and wta only (the hooks, which turn
    site-packages on with `site.main()` in the rare case they need them). `collect=False` turns the
    cyclic garbage collector off: a process that lives for a moment only pays for it."""
    dirs = [PACKAGE_DIR] + (import_dirs() if libraries else [])
    return ("import sys; " + ("" if collect else "import gc; gc.disable(); ")
            + f"sys.path = [p for p in sys.path if p] + {json.dumps(dirs)}; "
            + f"from {module} import {function}; sys.exit({function}())")


def command(module: str, function: str, *args: str, python: str = sys.executable) -> list[str]:
    """The argv that runs `module.function()` with `args` as its sys.argv[1:] (`code`)."""
    return [python, "-S", "-c", code(module, function), *args]


def import_dirs() -> list[str]:
    """The directories this process imports from besides the standard library: site-packages and
    what its `.pth` files added. Not sys.path[0] (the script's directory, or the current one under
    `python -m`), nor a relative entry (relative to a directory the new process does not share)."""
    first = 0 if sys.flags.safe_path else 1
    stdlib = {os.path.dirname(os.__file__), os.path.join(os.path.dirname(os.__file__), "lib-dynload")}
    found: list[str] = []
    for entry in sys.path[first:]:
        if os.path.isabs(entry) and entry not in stdlib and not entry.endswith(".zip") \
                and entry != PACKAGE_DIR and entry not in found:
            found.append(entry)
    return found
