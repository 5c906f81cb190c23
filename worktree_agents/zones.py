"""The zone engine: who owns a path, and which changes leave a stream's zone.

Pure: paths and compiled patterns in, decisions out; no git, no I/O, stdlib
only, because it runs inside the pre-commit hook. Patterns arrive compiled to
regular expressions (by `config.compile_patterns`, which uses pathspec); this
module applies them with the precedence of pathspec's `GitIgnoreSpec`, so a
zone reads exactly like a `.gitignore`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable, Iterable, Mapping, Sequence

CONFIG_FILE = "zones.yaml"

OWNED = "owned"            # inside another stream's zone
UNOWNED = "unowned"        # no zone claims it and `unowned: deny`
READ_ONLY = "read-only"    # matched by `read_only`
PROTECTED = "protected"    # zones.yaml itself
APPEND_ONLY = "append-only"  # an append-only file changed other than at its end
OVERLAP = "overlap"        # two zones claim it (a configuration error)


@dataclass(frozen=True)
class Rule:
    """One gitignore-style pattern, as written and as pathspec compiles it."""

    pattern: str
    regex: str
    include: bool


class PatternList:
    """Ordered rules, matched like one `.gitignore` file (last match wins,
    except that a file pattern outranks a directory pattern, as in pathspec's
    GitIgnoreSpec)."""

    __slots__ = ("rules", "_compiled")

    def __init__(self, rules: Sequence[Rule]) -> None:
        self.rules = tuple(rules)
        self._compiled = [(re.compile(r.regex), r) for r in self.rules]

    def decide(self, path: str) -> tuple[bool, Rule | None]:
        """Whether `path` is matched, and the rule that decided it."""
        decided: Rule | None = None
        included = False
        best = 0
        for regex, rule in self._compiled:
            m = regex.match(path)
            if m is None:
                continue
            dir_mark = m.groupdict().get("ps_d")
            priority = 1 if dir_mark else 2
            if (rule.include and dir_mark) or priority >= best:
                decided, included, best = rule, rule.include, priority
        return included, decided

    def matches(self, path: str) -> bool:
        return self.decide(path)[0]


@dataclass(frozen=True)
class Zone:
    stream: str
    patterns: PatternList
    append_only: bool = False


@dataclass(frozen=True)
class Ownership:
    """What `wta explain` says of one path."""

    path: str
    stream: str | None            # the owning stream, None when unowned
    pattern: str | None           # the pattern that decided it
    read_only: bool = False       # `read_only` or zones.yaml: no stream may change it
    protected: bool = False       # it is zones.yaml
    also: tuple[str, ...] = ()    # further streams that claim it (an overlap)

    def describe(self) -> str:
        if self.protected:
            return "read-only (zones.yaml is never writable by a stream)"
        if self.read_only:
            return f"read-only (read_only pattern {self.pattern!r})"
        if self.also:
            return f"claimed by {', '.join((self.stream or '',) + self.also)} (overlap: fix zones.yaml)"
        if self.stream is None:
            return "unowned" if self.pattern is None else f"unowned (excluded by {self.pattern!r})"
        return f"{self.stream} (pattern {self.pattern!r})"


@dataclass(frozen=True)
class Change:
    """One path touched by a change set; renames arrive as delete + add."""

    status: str                 # A, M, D, T
    path: str
    old_mode: str = ""
    new_mode: str = ""
    old_blob: str = ""
    new_blob: str = ""


@dataclass(frozen=True)
class Violation:
    path: str
    reason: str                 # OWNED, UNOWNED, READ_ONLY, PROTECTED, APPEND_ONLY, OVERLAP
    owner: str | None = None
    commit: str | None = None
    detail: str = ""

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
        return f"claimed by several streams ({self.detail}): fix the overlap in zones.yaml"


BlobReader = Callable[[str], "bytes | None"]


@dataclass
class ZoneMap:
    """All streams' zones and the repository-wide rules."""

    zones: dict[str, Zone]
    read_only: PatternList = field(default_factory=lambda: PatternList(()))
    unowned_allowed: bool = False
    config_file: str = CONFIG_FILE

    # -- ownership ---------------------------------------------------------

    def owner_of(self, path: str) -> Ownership:
        path = normalize(path)
        if path == self.config_file:
            return Ownership(path, None, None, read_only=True, protected=True)
        included, rule = self.read_only.decide(path)
        if included:
            return Ownership(path, None, rule.pattern if rule else None, read_only=True)
        owners: list[tuple[str, str]] = []
        excluded_by: str | None = None
        for zone in self.zones.values():
            included, rule = zone.patterns.decide(path)
            if included and rule is not None:
                owners.append((zone.stream, rule.pattern))
            elif rule is not None and excluded_by is None:
                excluded_by = rule.pattern
        if not owners:
            return Ownership(path, None, excluded_by)
        (stream, pattern), *rest = owners
        return Ownership(path, stream, pattern, also=tuple(s for s, _ in rest))

    def overlaps(self, paths: Iterable[str]) -> list[tuple[str, tuple[str, ...]]]:
        """Paths that more than one zone claims, with the claiming streams."""
        found = []
        for path in paths:
            claims = tuple(z.stream for z in self.zones.values() if z.patterns.matches(path))
            if len(claims) > 1:
                found.append((path, claims))
        return found

    def owned_counts(self, paths: Iterable[str]) -> tuple[dict[str, int], list[str]]:
        """How many of `paths` each stream owns, and the unowned ones."""
        counts = {stream: 0 for stream in self.zones}
        unowned = []
        for path in paths:
            o = self.owner_of(path)
            if o.stream is not None:
                counts[o.stream] += 1
            elif not o.read_only:
                unowned.append(path)
        return counts, unowned

    # -- enforcement ---------------------------------------------------------

    def violations(self, stream: str, changes: Iterable[Change],
                   read_blob: BlobReader | None = None, commit: str | None = None) -> list[Violation]:
        """The changes that `stream` may not make.

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
            if reason:
                found.append(Violation(change.path, reason, owner, commit, detail))
        return found

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
    return ""


def normalize(path: str) -> str:
    """A repository-relative path with forward slashes and no leading './'."""
    path = path.replace("\\", "/")
    while path.startswith("./"):
        path = path[2:]
    return path.lstrip("/")


def format_violations(stream: str, violations: Sequence[Violation]) -> str:
    """The rejection text: one line per offending path, then what to do."""
    lines = []
    for v in violations:
        where = f"{v.commit[:12]} " if v.commit else ""
        lines.append(f"  {where}{v.path}: {v.describe()}")
    head = f"wta: stream {stream!r} may not change {len(violations)} path(s) outside its zone:"
    return "\n".join([head, *lines])
