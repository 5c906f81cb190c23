"""Reading zones.yaml: a valid file as a model.Config, or every problem as one `file:line:column` line.

Validation (validation.py) imports yaml and pydantic, about 0.15 s of the start
of every command that reads the file. A caller that names a cache file (the
repository's `<common>/wta/config.cache`, where no sandboxed agent can write)
gets the values validated before for the very same text, schema and repository
without either: the cache holds one entry, keyed by a hash of all of them.
"""

from __future__ import annotations

import hashlib
import marshal
import os
from pathlib import Path

from worktree_agents.config.model import Config
from worktree_agents.errors import WtaError, no_zones_yaml
from worktree_agents.zones import CONFIG_FILE

# The files whose code decides what a text validates to (the schema, its checks, what it is built
# into, the pattern syntax, the runners' names): a cache from other code is not used.
_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_VALIDATING = [os.path.join(_PACKAGE, *name.split("/")) for name in (
    "config/schema.py", "config/validation.py", "config/model.py", "zones/matcher.py", "runners.py")]
CACHE_VERSION = 1


def load_text(text: str, filename: str = CONFIG_FILE, repo_root: str | Path | None = None,
              cache: str | None = None) -> Config:
    """Parse and validate zones.yaml text; raise config.problems.ConfigError with every problem.

    `cache`: a file holding the values of the text last validated (written after a valid one, once the
    command has succeeded: `save_validated`); an invalid text is validated, and reported, every time."""
    root = str(repo_root) if repo_root else None
    key = _cache_key(text, root) if cache else None
    if key is not None:
        cached = _read_cache(cache, key)
        if cached is not None:
            try:
                return Config.from_dict(cached)
            except (KeyError, TypeError, ValueError, AttributeError):
                pass   # damaged: validate again
    from worktree_agents.config.validation import validate

    values = validate(text, filename, root)
    if key is not None:
        _write_cache(cache, key, values)
    return Config.from_dict(values)


def load(path: str | Path, repo_root: str | Path | None = None, cache: str | None = None) -> Config:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise no_zones_yaml(str(path)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise WtaError(f"{path}: cannot read it ({exc}); fix the file's permissions or encoding") from None
    return load_text(text, str(path), repo_root, cache)


def places(path: str | Path, locs: list[tuple]) -> list[str]:
    """`zones.yaml:line:column` of each key path in the (valid) file; read only when there is one to place."""
    if not locs:
        return []
    from worktree_agents.config.validation import load_yaml

    locator = load_yaml(Path(path).read_text(encoding="utf-8"), str(path))[1]
    assert locator is not None  # the file was loaded and validated before
    return [f"{path}:{mark.line}:{mark.column}" for mark in (locator.where(loc) for loc in locs)]


# -- the cache ------------------------------------------------------------------------

def _cache_key(text: str, repo_root: str | None) -> str | None:
    digest = hashlib.sha256(f"{CACHE_VERSION}\0{repo_root}\0".encode())
    try:
        for path in _VALIDATING:
            with open(path, "rb") as f:
                digest.update(f.read())
    except OSError:
        return None   # cannot tell which code validated it: no cache
    digest.update(text.encode("utf-8", "surrogateescape"))
    return digest.hexdigest()


def _read_cache(path: str, key: str) -> dict | None:
    try:
        with open(path, "rb") as f:
            entry = marshal.load(f)
    except (OSError, EOFError, ValueError, TypeError):
        return None
    if isinstance(entry, dict) and entry.get("key") == key and isinstance(entry.get("values"), dict):
        return entry["values"]
    return None


# Written once the command has succeeded (`save_validated`): one that fails leaves no trace.
_UNSAVED: dict[str, tuple[str, dict]] = {}


def _write_cache(path: str, key: str, values: dict) -> None:
    _UNSAVED[path] = (key, values)


def save_validated() -> None:
    """Cache what this process validated (the CLI calls it when the command has succeeded): only into
    wta's state dir where there is one already, a command never makes it for a cache."""
    from worktree_agents.files import write_atomic

    while _UNSAVED:
        path, (key, values) = _UNSAVED.popitem()
        if os.path.isdir(os.path.dirname(path)):
            try:
                write_atomic(path, marshal.dumps({"key": key, "values": values}), fsync=False)
            except (WtaError, OSError, ValueError):
                pass   # only a cache: the next command validates the file again
