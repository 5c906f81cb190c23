"""What a sparse stream worktree checks out: its zone, the read_only paths and top-level files."""

from __future__ import annotations

from dataclasses import dataclass

from worktree_agents.zones.matcher import GLOB_CHARS


@dataclass(frozen=True)
class SparseSpec:
    """What a sparse stream worktree checks out: its zone, the read_only paths and top-level files."""

    cone: bool
    entries: tuple[str, ...]   # directories (cone mode) or gitignore-style patterns

    @property
    def kind(self) -> str:
        return "cone" if self.cone else "patterns"

    def arguments(self) -> list[str]:
        if self.cone:
            # --skip-checks: a top-level name may be a file, which cone mode includes anyway.
            return ["--cone", "--sparse-index", "--skip-checks", "--", *self.entries]
        return ["--no-cone", "--stdin"]


def sparse_spec(config, stream: str) -> SparseSpec:
    """Cone mode (with a sparse index) when every pattern names a whole directory, patterns otherwise.

    Cone mode also checks out the files directly inside each parent directory
    of a zone directory (git's cone rules); pattern mode is exact but slower.
    """
    patterns = [*config.streams[stream].paths, *config.read_only]
    dirs = [_cone_dir(p) for p in patterns]
    if all(d is not None for d in dirs):
        return SparseSpec(True, tuple(dict.fromkeys(d for d in dirs if d)))
    # Top-level files, then the zone and read-only patterns, read like a .gitignore. Every pattern
    # names files, none only directories: git resolves a directory-only pattern (`name/`) for each
    # of the index's entries, which doubled the checkout of a 20,000-file tree (docs/performance.md).
    return SparseSpec(False, ("/*", "!/*/**", *(_file_form(p) for p in patterns)))


def _file_form(pattern: str) -> str:
    """A directory pattern as the files below it (`name/` as `**/name/**`, `/a/b/` as `/a/b/**`),
    which is also how the zones read it; any other pattern as it is."""
    negated = pattern.startswith("!")
    body = pattern[1:] if negated else pattern
    if not body.endswith("/") or not body.strip("/"):
        return pattern
    body = body.rstrip("/")
    if "/" not in body:  # gitignore: a directory name without a slash matches at any depth
        body = f"**/{body}"
    return f"{'!' if negated else ''}{body}/**"


def _cone_dir(pattern: str) -> str | None:
    """The directory a pattern names in whole (`src/lib/**`, `/src/lib/`, `/name`), else None."""
    if pattern.startswith("!"):
        return None
    anchored = pattern.startswith("/")
    body = pattern[1:] if anchored else pattern
    if body.endswith("/**"):
        body = body[:-3]
    elif body.endswith("/"):
        body = body[:-1]
    elif not (anchored and "/" not in body):
        return None  # a file or glob below the top level
    # gitignore: a slash before the end anchors the pattern at the root
    anchored = anchored or "/" in pattern.rstrip("/")
    if not body or not anchored or GLOB_CHARS & set(body):
        return None
    return body
