"""Which hooks directory git runs in a worktree: the shared core.hooksPath, and a worktree's own.

Read as git reads it, but without a git process when no config file git reads
could name one (none mentions hooksPath or includes another file): `wta up`,
`wta status` and `wta watch` ask once per stream worktree, often. The hook
scripts decide the same in shell (hook-tmpl's `mentioned`).
"""

from __future__ import annotations

import os
from functools import lru_cache

from worktree_agents import git
from worktree_agents.worktrees.registry import worktree_git_dir


@lru_cache(maxsize=None)
def system_configs() -> list[str]:
    """Where git's system config may be besides /etc/gitconfig: `<prefix>/etc/gitconfig` for a git
    installed under a prefix other than /usr (git's build puts it there)."""
    exec_path = git.exec_path()
    for tail in ("/libexec/git-core", "/lib/git-core"):
        if exec_path.endswith(tail) and exec_path[:-len(tail)] not in ("/usr", ""):
            return [os.path.join(exec_path[:-len(tail)], "etc", "gitconfig")]
    return []


def shared_hooks_path(common_dir: str) -> str | None:
    """core.hooksPath from every scope but a worktree's, as git reads it (`~` expanded).

    As the hooks themselves do: no git process when no config file git reads mentions hooksPath
    or includes another file (a `wta up` asks once per stream worktree, and once per session)."""
    env = git.no_git_env()
    if not _configs_may_name_hooks_path(common_dir, env):
        return None
    values = [v for scope, v in git.config_by_scope("core.hooksPath", common_dir, env) if scope != "worktree"]
    return values[-1] if values and values[-1] else None


def _configs_may_name_hooks_path(common_dir: str, env: dict[str, str]) -> bool:
    """Whether a config file git reads outside the worktree's own (the shared, system and global
    ones) could set core.hooksPath: one that mentions hooksPath or an include, or cannot be read.
    The hook script's `mentioned` (hook-tmpl), for wta's own processes, whose environment
    (`no_git_env`) holds no setting."""
    read = _read_configs(_config_files(common_dir, env))
    return read is None or any(b"hookspath" in text or b"include" in text for _, text, _ in read)


def _read_configs(paths: list[str]) -> list[tuple[str, bytes, os.stat_result | None]] | None:
    """Each config file as (path, its text in lower case, its stat); a missing one as empty with no
    stat; None when one cannot be read (only git can say what it holds)."""
    read = []
    for path in paths:
        try:
            with open(path, "rb") as f:
                read.append((path, f.read().lower(), os.fstat(f.fileno())))
        except (FileNotFoundError, NotADirectoryError):
            read.append((path, b"", None))
        except OSError:
            return None
    return read


def _config_files(common_dir: str, env: dict[str, str]) -> list[str]:
    """The config files git reads besides a worktree's own: the shared one, the system ones and the
    global ones (as the hooks' `mentioned` lists them, hook-tmpl)."""
    home = env.get("HOME", "")
    return [os.path.join(common_dir, "config"), *system_configs(), env.get("GIT_CONFIG_SYSTEM") or "/etc/gitconfig",
            env.get("GIT_CONFIG_GLOBAL") or os.path.join(home, ".gitconfig"),
            os.path.join(env.get("XDG_CONFIG_HOME") or os.path.join(home, ".config"), "git", "config")]


def in_each_worktree(shared: str | None) -> bool:
    """Whether core.hooksPath names a directory below each worktree's top (not the top itself): one
    that is part of each worktree, which wta copies into a stream worktree and its sandbox pins."""
    if not shared or os.path.isabs(os.path.expanduser(shared)):
        return False
    rel = os.path.normpath(shared)
    return rel != "." and rel != ".." and not rel.startswith("../")


def same_dir(value: str, directory: str) -> bool:
    return bool(value) and os.path.realpath(os.path.expanduser(value)) == os.path.realpath(directory)


# core.hooksPath as git last read it in a worktree, by the state of the config files it read it from:
# `wta watch` and `wta up` look every few seconds, and the answer only changes with one of them.
_HOOKS_PATHS: dict[tuple, str] = {}


def hooks_path_in(common_dir: str, worktree: str, env: dict[str, str]) -> str:
    """core.hooksPath as git reads it in `worktree`; git is asked again only when a config file it
    reads there has changed (or one includes another, whose changes would not show)."""
    state = _config_state(common_dir, worktree, env)
    if state is not None and state in _HOOKS_PATHS:
        return _HOOKS_PATHS[state]
    value = git.config_value("core.hooksPath", worktree, env)
    remember_hooks_path(common_dir, worktree, value, env, state)
    return value


def remember_hooks_path(common_dir: str, worktree: str, value: str, env: dict[str, str],
                         state: tuple | None = None) -> None:
    state = state or _config_state(common_dir, worktree, env)
    if state is not None:
        if len(_HOOKS_PATHS) > 256:
            _HOOKS_PATHS.clear()
        _HOOKS_PATHS[state] = value


def _config_state(common_dir: str, worktree: str, env: dict[str, str]) -> tuple | None:
    """Each config file git reads in `worktree` (its own config.worktree, the shared, system and
    global ones) as it is now; None when one includes another file."""
    if any(name in env for name in ("GIT_CONFIG", "GIT_CONFIG_PARAMETERS", "GIT_CONFIG_COUNT")):
        return None   # settings from the environment (wta's own processes have none: no_git_env)
    private = worktree_git_dir(worktree)
    read = _read_configs([os.path.join(private, "config.worktree"), *_config_files(common_dir, env)])
    if read is None or any(b"include" in text for _, text, _ in read):
        return None
    return (worktree, private, env.get("GIT_CONFIG_NOSYSTEM"),
            *((path, st and (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)) for path, _, st in read))
