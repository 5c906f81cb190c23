"""The zones in force, and their compiled cache.

The zones in force are the base branch's committed zones.yaml (or, before it
is committed, the main worktree's copy as `wta up` recorded it), never the copy
in a stream's worktree. They are compiled once and cached in
`<common git dir>/wta/zones.cache`, keyed by the blob id of the zones file, so
the hooks load the compiled rules instead of importing yaml, pydantic and
pathspec on every commit. The cache is written with `marshal` (built into the
interpreter: no import, and faster to load than JSON, whose import brings `re`).
It also records the base's tip when it was last found current: while the base
has not moved, the hooks need not ask git for the zones file's blob id.
Beside it, `zones.fast` lists for that tip each stream's own directories
(`ZoneMap.own_directories`), so that the pre-commit hook's shell can let the
commonest commit through without starting Python (hooks/pre-commit-check).
Stdlib only: this module is on the hook path.
"""

from __future__ import annotations

import marshal
import os
import sys
from collections import namedtuple

from worktree_agents import git, layout
from worktree_agents.errors import WtaError, no_zones_yaml
from worktree_agents.repo import Repo, base_branch, main_worktree, stream_branch
from worktree_agents.zones import CONFIG_FILE
from worktree_agents.zones.ownership import ZoneMap

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing
if TYPE_CHECKING:
    from typing import Any

# 3: the compiled rules match paths byte for byte (zones.matcher.bytes_view); a cache
# compiled before would judge non-ASCII paths and bracket expressions the old way.
CACHE_VERSION = 3


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

    def branch_for(self, stream: str) -> str:
        return stream_branch(self.branch_prefix, stream)


_CACHE_KEYS = {"version", "base", "base_commit", "branch_prefix", "source", "blob", "zones"}


def read_cache(repo: Repo) -> dict | None:
    """The cached zones, or None when missing, from another wta version, or damaged."""
    try:
        with open(layout.path(repo.state_dir, layout.ZONES_CACHE), "rb") as f:
            data = marshal.load(f)
    except (FileNotFoundError, EOFError, ValueError, TypeError):
        return None
    if not isinstance(data, dict) or not _CACHE_KEYS <= data.keys() or data["version"] != CACHE_VERSION:
        return None
    return data


def write_cache(repo: Repo, data: dict) -> None:
    """Cache the compiled zones, and the streams' own directories for the base's tip they
    hold (`write_fast`); a failure to write (a full disk) is not an error, the next reader
    compiles the zones again."""
    from worktree_agents.files import write_atomic  # here: a commit with a current cache writes nothing

    try:
        write_atomic(layout.path(repo.state_dir, layout.ZONES_CACHE), marshal.dumps(data))
    except WtaError:
        pass
    write_fast(repo, data)


FAST_HEADER = "wta zones.fast 1"


def write_fast(repo: Repo, data: dict) -> None:
    """`zones.fast`: the header, the base's full refname, the tip whose committed zones.yaml the
    cache compiled, then a line `<stream> <directory>... !<name>...` for each stream that has own
    directories (`ZoneMap.own_directories`). The hook trusts it only while that ref (its loose
    file, else its packed-refs line) holds that very tip, whose zones are the ones compiled;
    without a committed zones.yaml or a known tip there is none."""
    from worktree_agents.files import write_atomic

    path = layout.path(repo.state_dir, layout.ZONES_FAST)
    try:
        if data["blob"] is None or data["base_commit"] is None:
            os.unlink(path)
            return
        zones = ZoneMap.from_dict(data["zones"])
        lines = [FAST_HEADER, f"refs/heads/{data['base']}", data["base_commit"]]
        for stream in zones.zones:
            directories, names = zones.own_directories(stream)
            if directories:
                lines.append(" ".join([stream, *directories, *("!" + name for name in names)]))
        write_atomic(path, "\n".join(lines) + "\n")
    except (OSError, WtaError):
        pass  # no file: every commit goes to Python, which checks it all


def zones_in_force(repo: Repo, moved: tuple[str, str] | None = None) -> ZonesInForce:
    """The zones of the base's committed zones.yaml, from the cache while it is current.

    `moved`: (old, new) when the caller moved the base from `old` to `new` without changing its
    zones.yaml (a landing: no stream may change that file); a cache of `old` then holds for `new`
    without asking git for the file's blob id."""
    data = read_cache(repo)
    if data is not None:
        tip = git.branch_tip(repo.common_dir, data["base"])
        current = tip is not None and tip == data["base_commit"]
        if not current and (moved == (data["base_commit"], tip)
                            or base_zones_blob(repo.common_dir, data["base"]) == data["blob"]):
            current = True
            if tip is not None:  # the base moved but its zones.yaml did not: remember the new tip
                write_cache(repo, {**data, "base_commit": tip})
        if current:
            if not os.path.exists(layout.path(repo.state_dir, layout.ZONES_FAST)):
                write_fast(repo, data)  # removed, or from before wta wrote it
            try:
                return _from_cache(data)
            except (AttributeError, KeyError, TypeError, ValueError):
                pass  # damaged by hand: compile it again
    # First use, or the base's zones.yaml moved on: compile it (the slow path).
    return refresh_cache(repo, base=data["base"] if data else None)


def streams_in_force(repo: Repo) -> list[str]:
    """The names of the streams in force, from the cache without asking git whether it is current.

    For the commit-msg hook, which needs only the names and runs right after
    the pre-commit hook of the same commit brought the cache up to date; this
    spares it a git process and compiling every zone.
    """
    data = read_cache(repo)
    zones = data["zones"].get("zones") if data and isinstance(data["zones"], dict) else None
    return list(zones) if isinstance(zones, dict) else zones_in_force(repo).streams


def base_zones_blob(common_dir: str, base: str, env: dict[str, str] | None = None) -> str | None:
    """The blob id of zones.yaml as committed on the base branch; None when it has none."""
    return git.blob_id(f"refs/heads/{base}", CONFIG_FILE, common_dir, env)


def _from_cache(data: dict) -> ZonesInForce:
    return ZonesInForce(ZoneMap.from_dict(data["zones"]), data["base"], data["branch_prefix"],
                        data["source"], data["blob"])


def refresh_cache(repo: Repo, base: str | None = None, main: str | None = None,
                  validated: tuple[str | None, Any] | None = None) -> ZonesInForce:
    """Compile the zones in force (`compile_zones_in_force`) and cache them."""
    data = _compile(repo, base, main, validated)
    if read_cache(repo) != data:  # an unchanged cache stays as it is: a refused command changes no file
        write_cache(repo, data)   # only a cache: a full disk must not stop a commit
    return _from_cache(data)


def compile_zones_in_force(repo: Repo, base: str | None = None, main: str | None = None,
                           validated: tuple[str | None, Any] | None = None) -> ZonesInForce:
    """Load, validate and compile the base's committed zones.yaml (before it is
    committed: the main worktree's file), without touching the cache.

    `main`: the main worktree, if the caller knows it. `validated`: the main
    worktree's zones.yaml as the caller has validated it already (the base's
    blob id it matched, None if not committed; its config.Config), compiled as
    it is if the base still holds that blob.
    """
    return _from_cache(_compile(repo, base, main, validated))


# Each committed zones.yaml this process has validated, by blob id (its content) and main worktree: a
# coordinator lands stream after stream against the same file, and would read and validate it each time.
_VALIDATED: dict[tuple[str, str | None], Any] = {}


def _compile(repo: Repo, base: str | None, main: str | None, validated: tuple[str | None, Any] | None) -> dict:
    env = git.no_git_env()
    if main is None:
        main = main_worktree(repo.common_dir)
    if base is None:
        base = _base_of(main, env)
    tip = git.branch_tip(repo.common_dir, base)  # before the blob: a tip recorded must not be newer than it
    blob = base_zones_blob(repo.common_dir, base, env)
    source = f"{base}:{CONFIG_FILE}" if blob is not None else os.path.join(main or "", CONFIG_FILE)
    if validated is not None and blob == validated[0]:
        cfg = validated[1]
    elif blob is not None and (blob, main) in _VALIDATED:
        cfg = _VALIDATED[blob, main]
    else:
        if blob is not None:
            pinned = git.git_dir_env(repo.common_dir, env)
            text = git.read_blob(blob, repo.common_dir, pinned).decode("utf-8", "replace")
        elif main is None or not os.path.exists(source):
            raise no_zones_yaml(source)
        else:
            with open(source, encoding="utf-8") as f:
                text = f.read()
        cfg = _config_module().load_text(text, source, repo_root=main)
        if blob is not None:
            _VALIDATED[blob, main] = cfg
    if cfg.base and cfg.base != base and blob is None:
        base, tip = cfg.base, None
    return {
        "version": CACHE_VERSION, "base": base, "base_commit": tip,
        "branch_prefix": cfg.branch_prefix, "source": source, "blob": blob, "zones": cfg.zone_map().to_dict(),
    }


def _base_of(main: str | None, env: dict[str, str]) -> str:
    """The base branch, as the main worktree's zones.yaml names it (before any is committed)."""
    if main is None:
        raise WtaError("this repository has no main worktree (bare); run wta from a non-bare clone")
    path = os.path.join(main, CONFIG_FILE)
    configured = _config_module().load(path, repo_root=main).base if os.path.exists(path) else None
    return base_branch(main, configured, env, must_exist=False)


def _config_module():
    """worktree_agents.config: slow imports (yaml, pydantic, pathspec), off the fast path.

    The git hooks run Python with -S (no site-packages, see hooks/install.py); the
    slow path turns site-packages on before it needs them.
    """
    if sys.flags.no_site and "site" not in sys.modules:
        import site
        site.main()
    from worktree_agents import config
    return config
