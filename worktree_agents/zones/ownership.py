"""The ownership policy: who owns a path, and which changes leave a stream's zone.

Pure: paths and compiled patterns in, decisions out; no git, no I/O, stdlib
only, because it runs inside the pre-commit hook. Which pattern decides a path
is the matcher's (`zones.matcher`). Its value types are plain named tuples:
`dataclasses` and `typing.NamedTuple` generate code (or import `typing`) when
the module loads, which hook start-up would pay for.
"""

from __future__ import annotations

from collections import namedtuple

from worktree_agents.zones import CONFIG_FILE
from worktree_agents.zones.matcher import PatternList, Rule, bytes_view, segment_matches, top_dir

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing
if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

OWNED = "owned"            # inside another stream's zone
UNOWNED = "unowned"        # no zone claims it and `unowned: deny`
READ_ONLY = "read-only"    # matched by `read_only`
PROTECTED = "protected"    # zones.yaml itself
APPEND_ONLY = "append-only"  # an append-only file changed other than at its end
OVERLAP = "overlap"        # two zones claim it (a configuration error)
AFFECTS = "affects"        # an attributes or ignore file whose rules reach paths outside the zone

# Files whose rules apply to every path under their directory: changing one
# touches every path it can affect (git re-encodes, filters, merges or hides them).
RULE_FILES = (".gitattributes", ".gitignore")


class Zone(namedtuple("Zone", ["stream", "patterns", "append_only"], defaults=[False])):
    """A stream's zone: its PatternList, and whether it may only append."""

    __slots__ = ()


class Ownership(namedtuple("Ownership", [
    "path",
    "stream",      # the owning stream, None when unowned
    "pattern",     # the pattern that decided it
    "read_only",   # `read_only` or zones.yaml: no stream may change it
    "protected",   # it is zones.yaml
    "also",        # further streams that claim it (an overlap), a tuple
    "excluded_in",  # unowned: the stream whose `pattern` (a `!` one) excluded it
], defaults=[False, False, (), None])):
    """What `wta explain` says of one path."""

    __slots__ = ()

    @property
    def overlap(self) -> bool:
        """Two zones or more claim it: a configuration error (`wta zones` exits 1 on it)."""
        return bool(self.also)

    def describe(self) -> str:
        if self.protected:
            return "read-only (zones.yaml is never writable by a stream)"
        if self.read_only:
            return f"read-only (read_only pattern {self.pattern!r})"
        if self.also:
            return f"claimed by {', '.join((self.stream or '',) + self.also)} (overlap: fix zones.yaml)"
        if self.stream is None:
            if self.pattern is None:
                return "unowned"
            whose = f" of stream {self.excluded_in}" if self.excluded_in else ""
            return f"unowned (excluded by {self.pattern!r}{whose})"
        return f"{self.stream} (pattern {self.pattern!r})"


class Change(namedtuple("Change", [
    "status",      # A, M, D, T
    "path",
    "old_mode", "new_mode", "old_blob", "new_blob",
], defaults=["", "", "", ""])):
    """One path touched by a change set; renames arrive as delete + add."""

    __slots__ = ()


class Violation(namedtuple("Violation", [
    "path",
    "reason",      # OWNED, UNOWNED, READ_ONLY, PROTECTED, APPEND_ONLY, OVERLAP, AFFECTS
    "owner", "commit", "detail",
], defaults=[None, None, ""])):
    """A path that a stream may not change, and why."""

    __slots__ = ()

    def describe(self) -> str:
        """The owner or rule, and what to do instead."""
        if self.reason == OWNED:
            return (f"owned by stream {self.owner!r}: leave it to that stream, "
                    f"or ask it with `wta request {self.owner} \"...\"`")
        if self.reason == UNOWNED:
            return "unowned (no zone claims it and unowned: deny): add it to a zone in zones.yaml on the base branch"
        if self.reason == READ_ONLY:
            return "read-only: no stream may change it; change it on the base branch by hand"
        if self.reason == PROTECTED:
            return "read-only: zones.yaml is changed on the base branch, never by a stream"
        if self.reason == APPEND_ONLY:
            return f"append-only zone: {self.detail}; only add lines at the end of existing files"
        if self.reason == AFFECTS:
            return (f"its rules apply to every path below it, and {self.detail}: put the rules in a "
                    "directory the zone owns entirely, or ask the base branch's owner to change it")
        return f"claimed by several streams ({self.detail}): fix the overlap in zones.yaml"


BlobReader = "Callable[[str], bytes | None]"  # a string: only type checkers read it


class ZoneMap:
    """All streams' zones and the repository-wide rules."""

    __slots__ = ("zones", "read_only", "unowned_allowed", "config_file", "_zones_by_top_dir")

    def __init__(self, zones: dict[str, Zone], read_only: PatternList | None = None,
                 unowned_allowed: bool = False, config_file: str = CONFIG_FILE) -> None:
        self.zones = zones
        self.read_only = PatternList(()) if read_only is None else read_only
        self.unowned_allowed = unowned_allowed
        self.config_file = config_file
        self._zones_by_top_dir: dict[str | None, list[Zone]] = {}

    def __repr__(self) -> str:
        return (f"ZoneMap(zones={self.zones!r}, read_only={self.read_only!r}, "
                f"unowned_allowed={self.unowned_allowed!r}, config_file={self.config_file!r})")

    # -- ownership ---------------------------------------------------------

    def owner_of(self, path: str) -> Ownership:
        # Positional arguments throughout: a commit hook may ask this for tens of thousands of paths.
        path = normalize(path)
        if path == self.config_file:
            return Ownership(path, None, None, True, True, ())
        view = path if path.isascii() else bytes_view(path)  # what git matches: bytes
        top = top_dir(view)
        included, rule = self.read_only._decide(view, top)
        if included:
            return Ownership(path, None, rule.pattern if rule else None, True, False, ())
        owners: list[tuple[str, str]] = []
        excluded_by: str | None = None
        excluded_in: str | None = None
        for zone in self._zones_under(top):
            included, rule = zone.patterns._decide(view, top)
            if included and rule is not None:
                owners.append((zone.stream, rule.pattern))
            elif rule is not None and excluded_by is None:
                excluded_by, excluded_in = rule.pattern, zone.stream
        if not owners:
            return Ownership(path, None, excluded_by, False, False, (), excluded_in)
        (stream, pattern), *rest = owners
        return Ownership(path, stream, pattern, False, False, tuple(s for s, _ in rest))

    def _zones_under(self, top: str | None) -> list[Zone]:
        """The zones that can claim a path under top directory `top` (the others cannot match it)."""
        zones = self._zones_by_top_dir.get(top)
        if zones is None:
            zones = self._zones_by_top_dir[top] = [z for z in self.zones.values() if z.patterns.can_match_under(top)]
        return zones

    def overlaps(self, paths: Iterable[str]) -> list[tuple[str, tuple[str, ...]]]:
        """Paths that more than one zone claims, with the claiming streams."""
        found = []
        for path in paths:
            path = normalize(path)
            top = top_dir(path)
            candidates = self._zones_under(top)  # the zones that can claim anything under its top directory
            if len(candidates) < 2:
                continue  # the common case (zones in different folders): nothing to match
            claims = tuple(z.stream for z in candidates if z.patterns._decide(path, top)[0])
            if len(claims) > 1:
                found.append((path, claims))
        return found

    def owned_counts(self, paths: Iterable[str]) -> tuple[dict[str, int], list[str]]:
        """How many of `paths` each stream's zone claims, and the unowned ones. A path two zones claim (an
        overlap) counts for each: neither zone may change it, yet both reach it, and a count for the first
        alone had shown the other zone as if it matched less than it does."""
        counts = {stream: 0 for stream in self.zones}
        unowned = []
        for path in paths:
            o = self.owner_of(path)
            if o.stream is not None:
                for stream in (o.stream, *o.also):
                    counts[stream] += 1
            elif not o.read_only:
                unowned.append(path)
        return counts, unowned

    # -- enforcement ---------------------------------------------------------

    def violations(self, stream: str, changes: Iterable[Change],
                   read_blob: BlobReader | None = None, commit: str | None = None) -> list[Violation]:
        """The changes that `stream` may not make.

        `changes`: `Change`s, or any tuples with its fields (git.RawChange, as
        git's output is parsed: a commit hook may check tens of thousands).
        `read_blob(sha)` is asked for old and new contents only for modified
        files of an append-only zone.
        """
        if stream not in self.zones:
            raise KeyError(stream)
        zone = self.zones[stream]
        found: list[Violation] = []
        for change in changes:
            o = self.owner_of(change.path)
            reason, owner, detail = None, None, ""
            if o.protected:
                reason = PROTECTED
            elif o.read_only:
                reason = READ_ONLY
            elif o.also:
                reason, detail = OVERLAP, ", ".join((o.stream or "",) + o.also)
            elif o.stream is None:
                reason = None if self.unowned_allowed else UNOWNED
            elif o.stream != stream:
                reason, owner = OWNED, o.stream
            elif zone.append_only:
                detail = append_only_problem(change, read_blob)
                reason = APPEND_ONLY if detail else None
            if reason is None and change.path.rpartition("/")[2] in RULE_FILES:
                owner, detail = self.reach_beyond(stream, change.path.rpartition("/")[0])
                reason = AFFECTS if detail else None
            if reason:
                found.append(Violation(change.path, reason, owner, commit, detail))
        return found

    def reach_beyond(self, stream: str, directory: str) -> tuple[str | None, str]:
        """Whose a path below `directory` ('' for the root) can be other than `stream`'s: (a stream or None,
        what it is); (None, "") when every path there can only be `stream`'s."""
        rule = reaching_rule(self.read_only.rules, directory)
        if rule:
            return None, f"paths there can be read-only (read_only pattern {rule.pattern!r})"
        if reaches_under("/" + self.config_file, directory):
            return None, f"{self.config_file} is there"
        if covering_rule(self.zones[stream].patterns.rules, directory):
            return None, ""  # all of it is the zone's: another zone matching there would be an overlap
        for other in self.zones.values():
            rule = reaching_rule(other.patterns.rules, directory) if other.stream != stream else None
            if rule:
                return other.stream, f"paths there can belong to stream {other.stream!r} (pattern {rule.pattern!r})"
        if not self.unowned_allowed:
            return None, "paths there can be outside every zone (unowned)"
        return None, ""

    def own_directories(self, stream: str) -> tuple[list[str], list[str]]:
        """Directories below which `stream` may change any path, and the names that take a path
        there out of that (another zone's or `read_only`'s `tailwind.config.ts` claims a file or
        directory of that name at any depth; `*.md` every one so named). The pre-commit hook lets
        a commit through without starting Python when each path lies below one of the directories
        and none of its parts is one of the names (zones.fast); anything else, `.gitignore` and
        `.gitattributes` included, goes to `violations`.

        Found from the zone's plain include patterns of directories (`dir/**`, `/dir/`: letters,
        digits, `.`, `_`, `-`), then checked the way `reach_beyond` checks them, leaning towards
        none: a pattern that can reach below a directory, in any order (each `!` of the stream's
        own, each pattern of another zone or of `read_only`, zones.yaml), takes the directory out,
        unless it claims a name at any depth (`_plain_name`), which joins the names. An
        append-only zone has none (each change's contents must be checked)."""
        zone = self.zones[stream]
        if zone.append_only:
            return [], []
        reaching = [r.pattern for r in zone.patterns.rules if not r.include]
        reaching += [r.pattern for other in self.zones.values() if other.stream != stream
                     for r in other.patterns.rules if r.include]
        reaching += [r.pattern for r in self.read_only.rules if r.include]
        reaching.append("/" + self.config_file)
        directories: list[str] = []
        names: list[str] = []
        for rule in zone.patterns.rules:
            directory = _plain_directory(rule.pattern) if rule.include else None
            if directory is None or directory in directories:
                continue
            found = [_plain_name(pattern) for pattern in reaching if reaches_under(pattern, directory)]
            if None not in found:
                directories.append(directory)
                names += [name for name in dict.fromkeys(found) if name not in names]
        return directories, names

    # -- serialisation (the compiled-zones cache read by the hooks) ----------

    def to_dict(self) -> dict:
        return {
            "config_file": self.config_file,
            "unowned_allowed": self.unowned_allowed,
            "read_only": [_rule_dict(r) for r in self.read_only.rules],
            "zones": {s: {"append_only": z.append_only, "rules": [_rule_dict(r) for r in z.patterns.rules]}
                      for s, z in self.zones.items()},
        }

    @classmethod
    def from_dict(cls, data: Mapping) -> "ZoneMap":
        return cls(
            zones={s: Zone(s, PatternList([Rule(**r) for r in z["rules"]]), z["append_only"])
                   for s, z in data["zones"].items()},
            read_only=PatternList([Rule(**r) for r in data["read_only"]]),
            unowned_allowed=data["unowned_allowed"],
            config_file=data["config_file"],
        )


def _rule_dict(rule: Rule) -> dict:
    return {"pattern": rule.pattern, "regex": rule.regex, "include": rule.include}


_PLAIN = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-/")


def _directory_part(pattern: str) -> tuple[str, bool]:
    """`pattern` without a trailing `/**` or `/`, and whether it had one (it then names a directory)."""
    for suffix in ("/**", "/"):
        if pattern.endswith(suffix):
            return pattern[:-len(suffix)], True
    return pattern, False


def _plain_directory(pattern: str) -> str | None:
    """The directory a plain include pattern claims all of (`src/api/**`, `/src/api/`, `docs/`: at
    the top for a pattern without another slash), or None for any other pattern. Letters, digits,
    `.`, `_`, `-` only: the hook's shell compares these byte for byte."""
    body, directory = _directory_part(pattern.removeprefix("/"))
    if not directory or not _PLAIN.issuperset(body) or any(s in ("", ".", "..") for s in body.split("/")):
        return None
    return body


def _plain_name(pattern: str) -> str | None:
    """The name a pattern claims at any depth, as a file or a directory or what is below one
    (`name`, `name/`, `**/name`, `**/name/**`, a `!` before any), or the glob `*<suffix>` for
    names ending so (`*.md`, `**/*.lock`); None for any other pattern. The hook's shell compares
    each part of a path with it (a shell `case` pattern: only `*` is special in these)."""
    name, _ = _directory_part(pattern.removeprefix("!").removeprefix("**/"))
    plain = name[1:] if name.startswith("*") else name
    if not name or "/" in name or not _PLAIN.issuperset(plain) or name in (".", ".."):
        return None
    return name


def reaching_rule(rules: Sequence[Rule], directory: str) -> Rule | None:
    """The include rule through which `rules` can match a path below `directory`, unless a later
    exclusion takes back all of `directory`; None when they cannot match there."""
    found = None
    for rule in rules:
        if rule.include and reaches_under(rule.pattern, directory):
            found = rule
        elif not rule.include and found is not None and covers(rule.pattern, directory):
            found = None
    return found


def covering_rule(rules: Sequence[Rule], directory: str) -> Rule | None:
    """The include rule that matches all of `directory` and is not cut into by a later exclusion, or None."""
    found = None
    for rule in rules:
        if rule.include and covers(rule.pattern, directory):
            found = rule
        elif not rule.include and reaches_under(rule.pattern, directory):
            found = None
    return found


def covers(pattern: str, directory: str) -> bool:
    """Whether a pattern matches `directory` or one of its parents, and so every path below it (a
    pattern without a slash: a directory of that name at any depth). Errs towards no."""
    body = pattern[1:] if pattern.startswith("!") else pattern
    for suffix in ("/**", "/"):
        body = body.removesuffix(suffix)
    if not directory or not body or "\\" in body:
        return False
    parts = directory.split("/")
    if "/" not in body:  # a directory of that name at any depth
        return any(segment_matches(body, part) for part in parts)
    segments = body.lstrip("/").split("/")
    return (len(segments) <= len(parts) and "**" not in segments
            and all(segment_matches(s, p) for s, p in zip(segments, parts)))


def reaches_under(pattern: str, directory: str) -> bool:
    """Whether a gitignore pattern can match some path below `directory` ('' for the root).

    Errs towards yes: a pattern without a slash matches at any depth; an
    anchored one reaches below `directory` unless one of its leading segments
    cannot match the directory's segment at the same depth.
    """
    body = pattern[1:] if pattern.startswith("!") else pattern
    body = body.rstrip("/")
    if "/" not in body:
        return True
    for segment, part in zip(body.lstrip("/").split("/"), directory.split("/") if directory else []):
        if segment == "**" or "\\" in segment:
            return True
        if segment_matches(segment, part) is False:   # (None, a bracket cut at a '/': it may)
            return False
    return True


def append_only_problem(change: Change, read_blob: BlobReader | None) -> str:
    """Why a change to an append-only file is not a pure append ('' if it is)."""
    if change.status == "A":
        return ""
    if change.status == "D":
        return "deleted (or renamed away)"
    if change.status == "T" or change.old_mode != change.new_mode:
        return "file mode or type changed"
    if read_blob is None:
        raise ValueError("read_blob is needed to check an append-only modification")
    old, new = read_blob(change.old_blob), read_blob(change.new_blob)
    if old is None or new is None:
        return "contents could not be read"
    if not new.startswith(old):
        return "changed before its end"
    if old and not old.endswith(b"\n") and new[len(old):len(old) + 1] not in (b"", b"\n"):
        return "its last line (which had no newline) was extended; start a new line first"
    return ""


def normalize(path: str) -> str:
    """A repository-relative path without a leading './' or '/'.

    A backslash stays: in a git path it is an ordinary character, so a root
    file named `src\\lib\\x.ts` is not `src/lib/x.ts` (treating it as one let it
    into the zone that owns `src/lib/`).
    """
    while path.startswith("./"):
        path = path[2:]
    return path.lstrip("/")


_C_ESCAPES = {"\a": "\\a", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\v": "\\v", "\f": "\\f",
              "\r": "\\r", '"': '\\"', "\\": "\\\\"}


def _unprintable(ch: str) -> bool:
    """A control character (C0, DEL, C1), or a byte that is not UTF-8 (decoded with surrogateescape)."""
    return ch < " " or "\x7f" <= ch <= "\x9f" or "\udc80" <= ch <= "\udcff"


def _escaped(ch: str) -> str:
    """An unprintable character as git C-quotes it: each of its bytes in octal."""
    return "".join(f"\\{b:03o}" for b in ch.encode(errors="surrogateescape"))


def quote_path(path: str) -> str:
    """The path as git prints it when it holds control characters, quotes, backslashes or bytes that are not
    UTF-8 (C-quoted), so one path stays on one line, sends a terminal no control sequence, and can be written
    as UTF-8; otherwise as is."""
    if not any(_unprintable(ch) or ch in '"\\' for ch in path):
        return path
    return '"' + "".join(_C_ESCAPES.get(ch) or (_escaped(ch) if _unprintable(ch) else ch) for ch in path) + '"'


def format_violations(stream: str, violations: Sequence[Violation]) -> str:
    """The rejection text: one line per offending path, then what to do."""
    lines = []
    for v in violations:
        where = f"{v.commit[:12]} " if v.commit else ""
        lines.append(f"  {where}{quote_path(v.path)}: {v.describe()}")
    head = f"wta: stream {stream!r} may not change {len(violations)} path(s) outside its zone:"
    return "\n".join([head, *lines])
