"""The zones in force, and which stream a worktree belongs to.

The zones in force are the base branch's committed zones.yaml (or, before it
is committed, the main worktree's copy as `wta up` recorded it), never the copy
in a stream's worktree. They are compiled once and cached in
`<common git dir>/wta/zones.cache`, keyed by the blob id of the zones file, so
the hooks load the compiled rules instead of importing yaml, pydantic and
pathspec on every commit. The cache is written with `marshal` (built into the
interpreter: no import, and faster to load than JSON, whose import brings `re`).
It also records the base's tip when it was last found current: while the base
has not moved, the hooks need not ask git for the zones file's blob id.
Stdlib only: this module is on the hook path.
"""

from __future__ import annotations

import marshal
import os
import sys
from collections import namedtuple

from worktree_agents import git
from worktree_agents.errors import WtaError, cannot_write
from worktree_agents.zones import CONFIG_FILE, ZoneMap

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing
if TYPE_CHECKING:
    from typing import Any

STATE_DIR = "wta"            # under the common git dir
SNAPSHOT_FILE = "zones.cache"
STREAM_FILE = "wta-stream"   # in a stream worktree's private git dir
MAIN_WORKTREE_FILE = "main-worktree"   # where it is, when git does not know (a separate git dir)
SNAPSHOT_VERSION = 2


class Repo(namedtuple("Repo", [
    "git_dir",     # this worktree's private git dir
    "common_dir",  # shared by all worktrees
])):
    """Where git keeps this worktree's and the repository's data (a named
    tuple, cheap to define when a hook starts)."""

    __slots__ = ()

    @property
    def state_dir(self) -> str:
        return os.path.join(self.common_dir, STATE_DIR)

    @classmethod
    def here(cls, cwd: str | None = None) -> "Repo":
        """The repository of `cwd`; inside a hook, the one git named in GIT_DIR."""
        git_dir = os.environ.get("GIT_DIR") if cwd is None else None
        if git_dir:
            git_dir = os.path.abspath(git_dir)
            return cls(git_dir, _common_dir_of(git_dir))
        proc = git.run("rev-parse", "--absolute-git-dir", "--git-common-dir", cwd=cwd, check=False)
        if proc.returncode != 0:
            where = cwd or os.getcwd()
            raise WtaError(f"{where}: not inside a git repository; run wta from a repository that has zones.yaml")
        git_dir, common = proc.stdout.decode(errors="surrogateescape").splitlines()
        common = common if os.path.isabs(common) else os.path.join(cwd or os.getcwd(), common)
        return cls(git_dir, os.path.normpath(common))

    def stream(self) -> str | None:
        """The stream recorded for this worktree, or None (main worktree, or not a stream)."""
        try:
            with open(os.path.join(self.git_dir, STREAM_FILE), encoding="utf-8") as f:
                return f.read().strip() or None
        except FileNotFoundError:
            return None

    def merge_heads(self) -> list[str]:
        """The commits a conflicted merge is bringing in (MERGE_HEAD), if one awaits its commit."""
        try:
            with open(os.path.join(self.git_dir, "MERGE_HEAD"), encoding="ascii", errors="replace") as f:
                return f.read().split()
        except FileNotFoundError:
            return []


def _common_dir_of(git_dir: str) -> str:
    # A linked worktree's git dir names the common dir in its `commondir` file.
    try:
        with open(os.path.join(git_dir, "commondir"), encoding="utf-8") as f:
            common = f.read().strip()
    except FileNotFoundError:
        return git_dir
    return os.path.normpath(os.path.join(git_dir, common))


def record_stream(git_dir: str, stream: str | None) -> None:
    """Record (or with None, forget) which stream a worktree belongs to."""
    path = os.path.join(git_dir, STREAM_FILE)
    if stream is None:
        if os.path.exists(path):
            os.unlink(path)
        return
    write_atomic(path, stream + "\n")


def write_atomic(path: str, content: str | bytes) -> None:
    """Write a file so that readers see the old or the new content, never half."""
    tmp = f"{path}.{os.getpid()}.tmp"
    data = content.encode() if isinstance(content, str) else content
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:  # a full disk: the previous version stays, no half-written copy is left
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise cannot_write(path, exc) from None


def exclude(exclude_file: str, paths: list[str], why: str, worktree: str | None = None) -> None:
    """Keep files wta puts into worktrees out of `git status` and `git add -A`.

    Each path (relative to a worktree's top) becomes an anchored, escaped entry
    of `exclude_file` (the repository's `info/exclude`, which every worktree
    reads), added once, under a `# wta: <why>` line. With `worktree`, paths git
    already ignores there (the project's own .gitignore) are left out.
    """
    if worktree is not None and paths:
        proc = git.run("check-ignore", "-z", "--stdin", cwd=worktree, env=git.no_git_env(), check=False,
                       input=b"".join(p.encode(errors="surrogateescape") + b"\0" for p in paths))
        if proc.returncode not in (0, 1):
            raise git.GitError(f"git check-ignore failed in {worktree}: "
                               f"{proc.stderr.decode(errors='replace').strip()}")
        ignored = set(git.zsplit(proc.stdout))
        paths = [p for p in paths if p not in ignored]
    try:
        with open(exclude_file, encoding="utf-8", errors="surrogateescape") as f:
            text = f.read()
    except FileNotFoundError:
        text = ""
    present = set(text.splitlines())
    wanted = list(dict.fromkeys(line for line in ("/" + _escape_pattern(p) for p in paths) if line not in present))
    if not wanted:
        return
    if text and not text.endswith("\n"):
        text += "\n"
    heading = f"# wta: {why}"
    if [line for line in text.splitlines() if line.startswith("# wta: ")][-1:] != [heading]:
        text += heading + "\n"
    write_atomic(exclude_file, text + "".join(w + "\n" for w in wanted))


GLOB_CHARS = frozenset("*?[]\\")   # special in gitignore patterns and in globs


def _escape_pattern(path: str) -> str:
    """`path` as a gitignore pattern that matches it literally."""
    escaped = "".join("\\" + c if c in GLOB_CHARS else c for c in path)
    return "\\" + escaped if escaped[:1] in ("#", "!") else escaped


class ZonesInForce(namedtuple("ZonesInForce", [
    "zones",          # the ZoneMap
    "base", "branch_prefix",
    "source",         # "<base>:zones.yaml" or the path of an uncommitted zones.yaml
    "blob",           # blob id of the committed zones.yaml, None when uncommitted
])):
    """The compiled zones of the base branch, and where they come from."""

    __slots__ = ()

    @property
    def streams(self) -> list[str]:
        return list(self.zones.zones)


_SNAPSHOT_KEYS = {"version", "base", "base_commit", "branch_prefix", "source", "blob", "zones"}


def read_snapshot(repo: Repo) -> dict | None:
    """The cached snapshot, or None when missing, from another wta version, or damaged."""
    try:
        with open(os.path.join(repo.state_dir, SNAPSHOT_FILE), "rb") as f:
            data = marshal.load(f)
    except (FileNotFoundError, EOFError, ValueError, TypeError):
        return None
    if not isinstance(data, dict) or not _SNAPSHOT_KEYS <= data.keys() or data["version"] != SNAPSHOT_VERSION:
        return None
    return data


def write_snapshot(repo: Repo, data: dict) -> None:
    """Cache a snapshot; a failure to write (a full disk) is not an error, the
    next reader compiles the zones again."""
    try:
        write_atomic(os.path.join(repo.state_dir, SNAPSHOT_FILE), marshal.dumps(data))
    except WtaError:
        pass


def zones_in_force(repo: Repo, cwd: str | None = None) -> ZonesInForce:
    """The compiled zones of the base branch, refreshed when its zones.yaml changed."""
    data = read_snapshot(repo)
    if data is not None:
        tip = git.branch_tip(repo.common_dir, data["base"])
        current = tip is not None and tip == data["base_commit"]
        if not current and committed_blob(data["base"], cwd) == data["blob"]:
            current = True
            if tip is not None:  # the base moved but its zones.yaml did not: remember the new tip
                write_snapshot(repo, {**data, "base_commit": tip})
        if current:
            try:
                return _from_snapshot(data)
            except (AttributeError, KeyError, TypeError, ValueError):
                pass  # damaged by hand: compile it again
    # First use, or the base's zones.yaml moved on: compile it (the slow path).
    return refresh_snapshot(repo, base=data["base"] if data else None)


def streams_in_force(repo: Repo) -> list[str]:
    """The names of the streams in force, from the cache without asking git whether it is current.

    For the commit-msg hook, which needs only the names and runs right after
    the pre-commit hook of the same commit brought the cache up to date; this
    spares it a git process and compiling every zone.
    """
    data = read_snapshot(repo)
    zones = data["zones"].get("zones") if data and isinstance(data["zones"], dict) else None
    return list(zones) if isinstance(zones, dict) else zones_in_force(repo).streams


def committed_blob(base: str, cwd: str | None = None) -> str | None:
    proc = git.run("rev-parse", "-q", "--verify", f"refs/heads/{base}:{CONFIG_FILE}", cwd=cwd, check=False)
    return (proc.stdout.decode().strip() or None) if proc.returncode == 0 else None


def _from_snapshot(data: dict) -> ZonesInForce:
    return ZonesInForce(ZoneMap.from_dict(data["zones"]), data["base"], data["branch_prefix"],
                        data["source"], data["blob"])


def refresh_snapshot(repo: Repo, base: str | None = None, main: str | None = None,
                     validated: tuple[str | None, Any] | None = None) -> ZonesInForce:
    """Load, validate and compile the zones in force and cache them.

    `main`: the main worktree, if the caller knows it. `validated`: the main
    worktree's zones.yaml as the caller has validated it already (the base's
    blob id it matched, None if not committed; its config.Config), compiled as
    it is if the base still holds that blob.
    """
    env = git.no_git_env()
    if main is None:
        main = main_worktree(repo.common_dir)
    if base is None:
        base = _base_from_worktree(main, env)
    tip = git.branch_tip(repo.common_dir, base)  # before the blob: a tip recorded must not be newer than it
    blob = committed_blob_at(repo.common_dir, base, env)
    source = f"{base}:{CONFIG_FILE}" if blob is not None else os.path.join(main or "", CONFIG_FILE)
    if validated is not None and blob == validated[0]:
        cfg = validated[1]
    else:
        if blob is not None:
            text = git.run("cat-file", "blob", blob, cwd=repo.common_dir, env=env).stdout.decode("utf-8", "replace")
        elif main is None or not os.path.exists(source):
            raise WtaError(f"{CONFIG_FILE}: not found on branch {base!r} nor in the main worktree; "
                           "create it with `wta init` and commit it on the base branch")
        else:
            with open(source, encoding="utf-8") as f:
                text = f.read()
        cfg = _config_module().load_text(text, source, repo_root=main)
    if cfg.base and cfg.base != base and blob is None:
        base, tip = cfg.base, None
    data = {
        "version": SNAPSHOT_VERSION, "base": base, "base_commit": tip,
        "branch_prefix": cfg.branch_prefix, "source": source, "blob": blob, "zones": cfg.zone_map().to_dict(),
    }
    write_snapshot(repo, data)  # only a cache: a full disk must not stop a commit
    return _from_snapshot(data)


def _config_module():
    """worktree_agents.config: slow imports (yaml, pydantic, pathspec), off the fast path.

    The git hooks run Python with -S (no site-packages, see hooks.py); the
    slow path turns site-packages on before it needs them.
    """
    if sys.flags.no_site and "site" not in sys.modules:
        import site
        site.main()
    from worktree_agents import config
    return config


def committed_blob_at(common_dir: str, base: str, env: dict[str, str]) -> str | None:
    proc = git.run("rev-parse", "-q", "--verify", f"refs/heads/{base}:{CONFIG_FILE}",
                   cwd=common_dir, env={**env, "GIT_DIR": common_dir}, check=False)
    return (proc.stdout.decode().strip() or None) if proc.returncode == 0 else None


def main_worktree(common_dir: str) -> str | None:
    """The main worktree's path, or None for a bare repository."""
    env = {**git.no_git_env(), "GIT_DIR": common_dir}
    fields = git.zsplit(git.run("worktree", "list", "--porcelain", "-z", cwd=common_dir, env=env).stdout)
    if not fields or not fields[0].startswith("worktree "):
        return None
    if "bare" in fields[:4]:
        return None
    path = fields[0][len("worktree "):]
    if os.path.normpath(path) == os.path.normpath(common_dir):
        return _worktree_of_separate_git_dir(common_dir, env)
    return path


def _worktree_of_separate_git_dir(common_dir: str, env: dict[str, str]) -> str | None:
    """The main worktree of a git dir kept apart from it (a submodule, `git init --separate-git-dir`),
    which git 2.39's `worktree list` names by the git dir itself."""
    proc = git.run("config", "--get", "core.worktree", cwd=common_dir, env=env, check=False)
    configured = proc.stdout.decode(errors="surrogateescape").strip()
    if configured:  # submodules: relative to the git dir
        return os.path.normpath(os.path.join(common_dir, configured))
    # git keeps no record of it: only a command run inside that worktree can tell, and wta keeps what it told.
    remembered = os.path.join(common_dir, STATE_DIR, MAIN_WORKTREE_FILE)
    here = git.run("rev-parse", "--absolute-git-dir", "--show-toplevel", env=git.no_git_env(), check=False)
    lines = here.stdout.decode(errors="surrogateescape").splitlines()
    if here.returncode == 0 and len(lines) == 2 and os.path.normpath(lines[0]) == os.path.normpath(common_dir):
        try:
            with open(remembered, encoding="utf-8", errors="surrogateescape") as f:
                known = f.read().rstrip("\n")
        except FileNotFoundError:
            known = None
        if known != lines[1]:
            write_atomic(remembered, lines[1] + "\n")
        return lines[1]
    try:
        with open(remembered, encoding="utf-8", errors="surrogateescape") as f:
            known = f.read().rstrip("\n")
        if os.path.isdir(known):
            return known
    except FileNotFoundError:
        pass
    raise WtaError(f"{common_dir}: this repository's git dir is kept apart from its main worktree, which git does "
                   "not record; run wta from the main worktree")


def _base_from_worktree(main: str | None, env: dict[str, str]) -> str:
    """The base named in the main worktree's zones.yaml, else its checked-out branch."""
    if main is None:
        raise WtaError("this repository has no main worktree (bare); run wta from a non-bare clone")
    config_mod = _config_module()
    path = os.path.join(main, CONFIG_FILE)
    if os.path.exists(path):
        cfg = config_mod.load(path, repo_root=main)
        if cfg.base:
            return cfg.base
    proc = git.run("symbolic-ref", "-q", "--short", "HEAD", cwd=main, env=env, check=False)
    branch = proc.stdout.decode().strip()
    if proc.returncode != 0 or not branch:
        raise WtaError(f"{main}: HEAD is detached; check out the base branch or set `base:` in {CONFIG_FILE}")
    return branch
