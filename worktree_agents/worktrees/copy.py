"""`copy:`: untracked files from the main worktree into a stream worktree."""

from __future__ import annotations

import glob
import os
import shutil
from dataclasses import dataclass, field
from typing import Sequence

from worktree_agents import git
from worktree_agents.files import resolves_inside
from worktree_agents.repo import exclude
from worktree_agents.zones.matcher import GLOB_CHARS


@dataclass
class CopyResult:
    copied: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    tracked: list[str] = field(default_factory=list)
    failed: str | None = None       # the first copy that failed, and why


def copy_files(main: str, worktree: str, entries: Sequence[str], exclude_file: str) -> CopyResult:
    """Copy untracked files (or directories, or globs) from the main worktree into a stream worktree.

    What is not already ignored is added to `info/exclude` (shared by every
    worktree), so the copies are never committed. Existing files are kept.
    """
    result = CopyResult()
    if not entries:
        return result
    env = git.no_git_env()
    found: list[str] = []
    for entry in entries:
        rel = entry.strip().lstrip("/")
        if GLOB_CHARS & set(rel):
            # include_hidden: `.env*` matches dotfiles, as the same glob does in a .gitignore
            matches = sorted(m for m in glob.glob(rel, root_dir=main, recursive=True, include_hidden=True)
                             if ".git" not in m.split(os.sep))   # git's own files (`**` reaches them)
            if not matches:
                result.missing.append(entry)
            found.extend(m for m in matches if m not in found)
        elif os.path.lexists(os.path.join(main, rel)):
            if rel not in found:
                found.append(rel)
        else:
            result.missing.append(entry)
    if not found:
        return result
    listed = git.tracked_files(worktree, env, paths=found)
    for rel in found:
        if any(path == rel or path.startswith(rel.rstrip("/") + "/") for path in listed):
            result.tracked.append(rel)
            continue
        source, target = os.path.join(main, rel), os.path.join(worktree, rel)
        if os.path.lexists(target):
            continue
        if not resolves_inside(worktree, target):
            result.failed = f"cannot copy {rel}: a folder on its way in {worktree} is a link out of the worktree"
            break
        try:
            os.makedirs(os.path.dirname(target), exist_ok=True)
            if os.path.isdir(source) and not os.path.islink(source):
                shutil.copytree(source, target, symlinks=True)
            else:
                shutil.copy2(source, target, follow_symlinks=False)
        except (OSError, shutil.Error) as exc:  # a named pipe, a socket, an unreadable file, a full disk
            detail = exc.args[0][0][2] if isinstance(exc, shutil.Error) and exc.args and exc.args[0] else exc
            result.failed = f"cannot copy {rel}: {getattr(detail, 'strerror', None) or detail}"
            _remove_partial(target)  # the next `wta up` copies it whole
            break
        result.copied.append(rel)
    if result.copied:
        exclude(exclude_file, result.copied, "files copied into stream worktrees (`copy:` in zones.yaml)", worktree)
    return result


def _remove_partial(path: str) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    elif os.path.lexists(path):
        os.unlink(path)
