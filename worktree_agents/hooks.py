"""Installing and removing wta's git hooks.

The hooks go where git looks for them (`git rev-parse --git-path hooks`, so
`core.hooksPath` is honoured) and are shared by every worktree. A hook that was
there before is moved aside to `<name>.wta-orig` and still runs first; our own
hook is recognised by its marker line, and uninstall puts the original back.
"""

from __future__ import annotations

import os
import shlex
import stat
import sys
from dataclasses import dataclass, field

from worktree_agents import git
from worktree_agents.errors import WtaError

HOOK_NAMES = ("pre-commit", "commit-msg")
MARKER = "# wta-managed-hook"
ORIGINAL_SUFFIX = ".wta-orig"

_TEMPLATE = """#!/bin/sh
{marker} ({name}): `wta hooks uninstall` removes it and restores any hook it replaced.
hooks_dir=$(dirname "$0")
if [ -x "$hooks_dir/{name}{suffix}" ]; then
    "$hooks_dir/{name}{suffix}" "$@" || exit $?
fi
# Only stream worktrees are checked; the main worktree commits freely.
git_dir=${{GIT_DIR:-$(git rev-parse --git-dir)}}
[ -f "$git_dir/wta-stream" ] || exit 0
if [ -x {python} ]; then
    exec {python} -m worktree_agents.hook {args}
fi
exec wta-hook {args}
"""


def hooks_dir(cwd: str | None = None) -> str:
    """The directory git runs hooks from, made absolute."""
    env = git.no_git_env()
    path = git.out("rev-parse", "--git-path", "hooks", cwd=cwd, env=env)
    if not os.path.isabs(path):
        top = git.out("rev-parse", "--show-toplevel", cwd=cwd, env=env) if not _is_bare(cwd, env) else cwd
        path = os.path.join(top or os.getcwd(), path)
    return os.path.normpath(path)


def _is_bare(cwd: str | None, env: dict[str, str]) -> bool:
    return git.out("rev-parse", "--is-bare-repository", cwd=cwd, env=env) == "true"


def hook_script(name: str, python: str = sys.executable) -> str:
    args = "pre-commit" if name == "pre-commit" else 'commit-msg "$1"'
    return _TEMPLATE.format(marker=MARKER, name=name, suffix=ORIGINAL_SUFFIX,
                            python=shlex.quote(python), args=args)


def is_ours(path: str) -> bool:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return MARKER in f.read(4096)
    except (FileNotFoundError, IsADirectoryError):
        return False


@dataclass
class HookReport:
    directory: str
    installed: list[str] = field(default_factory=list)   # newly written or updated
    unchanged: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)        # existing hooks moved aside, still run
    restored: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)


def install(cwd: str | None = None) -> HookReport:
    directory = hooks_dir(cwd)
    report = HookReport(directory)
    os.makedirs(directory, exist_ok=True)
    for name in HOOK_NAMES:
        path = os.path.join(directory, name)
        script = hook_script(name)
        if os.path.lexists(path) and not is_ours(path):
            original = path + ORIGINAL_SUFFIX
            if os.path.lexists(original):
                raise WtaError(f"{path}: a hook is in the way and {original} exists too; "
                               "merge them by hand, then run `wta hooks install` again")
            os.replace(path, original)
            report.kept.append(name)
        if os.path.exists(path) and _read(path) == script:
            report.unchanged.append(name)
            continue
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(script)
        os.chmod(tmp, os.stat(tmp).st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        os.replace(tmp, path)
        report.installed.append(name)
    return report


def uninstall(cwd: str | None = None) -> HookReport:
    directory = hooks_dir(cwd)
    report = HookReport(directory)
    for name in HOOK_NAMES:
        path = os.path.join(directory, name)
        if not is_ours(path):
            continue
        os.unlink(path)
        report.removed.append(name)
        original = path + ORIGINAL_SUFFIX
        if os.path.lexists(original):
            os.replace(original, path)
            report.restored.append(name)
    return report


def _read(path: str) -> str:
    with open(path, encoding="utf-8", errors="replace") as f:
        return f.read()
