"""Installing and removing wta's git hooks.

The hooks go where git looks for them (`git rev-parse --git-path hooks`, so
`core.hooksPath` is honoured), which is one directory shared by every worktree,
unless core.hooksPath is a relative path: git resolves that against the top of
the worktree it runs in, so each worktree has its own hooks directory among its
files (husky's `.husky/_`, a committed `.githooks/`), and wta installs into each
one and keeps its hook files out of `git status`. A hook that was there before
is moved aside to `<name>.wta-orig` and still runs first; our own hook is
recognised by its marker line, and uninstall puts the original back.
"""

from __future__ import annotations

import json
import os
import shlex
import sys
from dataclasses import dataclass, field

from worktree_agents import git
from worktree_agents.errors import WtaError
from worktree_agents.files import write_atomic
from worktree_agents.repo import exclude

HOOK_NAMES = ("pre-commit", "commit-msg")
MARKER = "# wta-managed-hook"
ORIGINAL_SUFFIX = ".wta-orig"

# The hook script: a shell template (`str.format` fields, `{{` for a brace), packaged beside this module.
TEMPLATE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "hook-tmpl")
# The directory that holds the worktree_agents package: the hook puts it on sys.path.
PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# The hook's Python: wta's directory after the standard library, and not the
# worktree (the current directory), so that nothing in the repository shadows a
# module. A hook lives for a moment: the cyclic garbage collector would only
# slow down parsing a large commit.
_LAUNCHER = ("import gc, sys; gc.disable(); sys.path = [p for p in sys.path if p] + [{package_dir}]; "
             "from worktree_agents.hooks.runtime import main; sys.exit(main())")


def relative_hooks_path(cwd: str | None = None) -> str | None:
    """core.hooksPath when it is a relative path (each worktree then has its own
    hooks directory); None when every worktree shares one: the default
    `<common git dir>/hooks`, or an absolute core.hooksPath."""
    value = git.config_value("core.hooksPath", cwd, git.no_git_env())
    if not value or os.path.isabs(os.path.expanduser(value)):
        return None
    return os.path.normpath(value)


def hooks_dir(cwd: str | None = None) -> str:
    """The directory git runs hooks from, made absolute."""
    path = git.git_path("hooks", cwd, git.no_git_env())
    # A relative answer is relative to where git ran (not to the worktree's top).
    return os.path.normpath(os.path.join(os.path.abspath(cwd or os.getcwd()), path))


# The commonest commit-msg case without starting Python: `-m`/`-F` (git ran no
# editor, so no comment stripping) and a plain first line, or one that already
# has this stream's prefix. Exactly what zones.enforce.prefix_message does for such a
# message; anything else (blank, `[`, fixup!/squash!/amend!) goes to Python.
COMMIT_MSG_FAST_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "commit-msg-fast-path")


def hook_script(name: str, python: str = sys.executable) -> str:
    args = "pre-commit" if name == "pre-commit" else 'commit-msg "$1"'
    fast_path = _read(COMMIT_MSG_FAST_PATH) if name == "commit-msg" else ""
    return _read(TEMPLATE).format(marker=MARKER, name=name, suffix=ORIGINAL_SUFFIX, python=shlex.quote(python),
                                  fast_path=fast_path, package_dir=shlex.quote(PACKAGE_DIR),
                                  launcher=shlex.quote(_LAUNCHER.format(package_dir=json.dumps(PACKAGE_DIR))), args=args)


def guard_command(stream: str, python: str = sys.executable) -> str:
    """The shell command to register as Claude Code's PreToolUse hook: `wta guard`
    started like the git hooks, so files in the worktree cannot shadow its modules
    (`python -m` would put the worktree first on sys.path)."""
    return shlex.join([python, "-S", "-c", _LAUNCHER.format(package_dir=json.dumps(PACKAGE_DIR)),
                       "guard", "--stream", stream])


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
    per_worktree: bool = False   # a relative core.hooksPath: each worktree has its own directory


def install(cwd: str | None = None) -> HookReport:
    """Install the hooks where git runs them for the worktree at `cwd` (its top)."""
    directory = hooks_dir(cwd)
    relative = relative_hooks_path(cwd)
    report = HookReport(directory, per_worktree=relative is not None)
    foreign = [os.path.join(directory, name) for name in HOOK_NAMES
               if os.path.lexists(os.path.join(directory, name)) and not is_ours(os.path.join(directory, name))]
    for path in foreign:  # check everything before changing anything
        if os.path.lexists(path + ORIGINAL_SUFFIX):
            raise WtaError(f"{path}: a hook is in the way and {path}{ORIGINAL_SUFFIX} exists too; "
                           "merge them by hand, then run `wta hooks install` again")
        if _tracked(path):
            raise WtaError(f"{path}: this hook is tracked by git (core.hooksPath points into a repository), so wta "
                           f"will not move it; call `wta-hook {os.path.basename(path)}` from it yourself, "
                           "or point core.hooksPath elsewhere")
    os.makedirs(directory, exist_ok=True)
    for name in HOOK_NAMES:
        path = os.path.join(directory, name)
        script = hook_script(name)
        if path in foreign:
            os.replace(path, path + ORIGINAL_SUFFIX)
            report.kept.append(name)
        if os.path.exists(path) and _read(path) == script:
            report.unchanged.append(name)
            continue
        write_atomic(path, script, executable=True)
        report.installed.append(name)
    if relative is not None and relative != os.pardir and not relative.startswith(os.pardir + os.sep):
        # Among the worktree's files: never listed as untracked, never committed by `git add -A`.
        exclude(git.git_path("info/exclude", cwd, git.no_git_env()),
                [os.path.normpath(os.path.join(relative, name)) for name in HOOK_NAMES],
                "wta's hooks, in the hooks directory core.hooksPath gives each worktree", worktree=cwd)
    return report


def _tracked(path: str) -> bool:
    """Whether a file is committed in the repository (if any) that holds it."""
    return git.is_tracked(os.path.basename(path), os.path.dirname(path), git.no_git_env())


def uninstall(cwd: str | None = None) -> HookReport:
    directory = hooks_dir(cwd)
    report = HookReport(directory, per_worktree=relative_hooks_path(cwd) is not None)
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
