"""The zone engine: who owns a path, and which changes leave a stream's zone.

Pure: paths and compiled patterns in, decisions out; no git, no I/O, stdlib
only, because it runs inside the pre-commit hook. Patterns arrive compiled to
regular expressions (by `config.compile_patterns`, which uses pathspec); this
module applies them with git's precedence (see `PatternList`), so a zone reads
like a `.gitignore` (two deliberate differences: docs/zones.md). Its value
types are plain named tuples: `dataclasses` and `typing.NamedTuple` generate
code (or import `typing`) when the module loads, which would cost every hook
start-up time (docs/performance.md).
"""

from __future__ import annotations

from collections import namedtuple

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing
if TYPE_CHECKING:
    import re
    from collections.abc import Callable, Iterable, Mapping, Sequence

CONFIG_FILE = "zones.yaml"

OWNED = "owned"            # inside another stream's zone
UNOWNED = "unowned"        # no zone claims it and `unowned: deny`
READ_ONLY = "read-only"    # matched by `read_only`
PROTECTED = "protected"    # zones.yaml itself
APPEND_ONLY = "append-only"  # an append-only file changed other than at its end
OVERLAP = "overlap"        # two zones claim it (a configuration error)


_DIR_MARK = "(?P<ps_d>/)"
_DIR_MARK_AT_END = r"(?P<ps_d>/\Z)"
_ITSELF_OR_UNDER = "(?:(?P<ps_d>/)|$)"          # pathspec's end of a pattern that may name a file
_ITSELF_OR_UNDER_EXACT = r"(?:(?P<ps_d>/)|\Z)"  # `$` would also match before a final newline


class Rule(namedtuple("Rule", ["pattern", "regex", "include"])):
    """One gitignore-style pattern: as written, as pathspec compiles it (a regex
    string), and whether it adds paths (False for a `!` pattern)."""

    __slots__ = ()


class PatternList:
    """Ordered rules, matched like one `.gitignore` file.

    As in git, each entry on the way to a file (every parent directory, then
    the file) is decided by the last rule that matches that entry itself, and
    directory-only rules (`build/`) match directories only. Unlike git, the
    deepest decided entry wins: `!dir/file` carves a file out of an excluded
    `dir/` (git never looks inside an excluded directory). docs/zones.md.
    """

    __slots__ = ("rules", "_top_dirs", "_pinned", "_compiled", "_by_top_dir")

    def __init__(self, rules: Sequence[Rule]) -> None:
        self.rules = tuple(rules)
        # Speed on many paths: a path is tried only against the rules that can
        # match under its top directory, a regex runs only on entries holding
        # the text every match contains, and it is compiled on first use.
        self._top_dirs = [_pinned_top_dir(r.regex) for r in self.rules]
        self._pinned = frozenset(self._top_dirs)
        self._compiled: list[_Compiled | None] = [None] * len(self.rules)
        self._by_top_dir: dict[str | None, list[_Compiled]] = {}

    def _compile(self, index: int) -> _Compiled:
        compiled = self._compiled[index]
        if compiled is None:
            r = self.rules[index]
            itself, anywhere = _Glob.both(r.regex) or _regexes(r.regex)
            compiled = self._compiled[index] = (itself, anywhere, r, _required_text(r.regex))
        return compiled

    def _candidates(self, top: str | None) -> list[_Compiled]:
        """The rules, in order, that can match something under top directory `top`."""
        if top not in self._pinned:
            top = None
        found = self._by_top_dir.get(top)
        if found is None:
            found = self._by_top_dir[top] = [self._compile(i) for i, pinned in enumerate(self._top_dirs)
                                              if pinned is None or pinned == top]
        return found

    def can_match_under(self, top: str | None) -> bool:
        """Whether some rule can match a path under top directory `top` (None: a top-level file)."""
        return any(pinned is None or pinned == top for pinned in self._top_dirs)

    def decide(self, path: str) -> tuple[bool, Rule | None]:
        """Whether `path` is matched, and the rule that decided it."""
        return self._decide(path, _top_dir(path))

    def _decide(self, path: str, top: str | None) -> tuple[bool, Rule | None]:
        candidates = self._candidates(top)  # the path's parent directories share its top directory
        if not candidates:
            return False, None
        rule = self._last_match(path, candidates)
        if rule is None and any(text in path and anywhere.search(path) for _, anywhere, _, text in candidates):
            parts = path.split("/")
            for depth in range(len(parts) - 1, 0, -1):  # the nearest decided parent directory
                rule = self._last_match("/".join(parts[:depth]) + "/", candidates)
                if rule is not None:
                    break
        return (rule.include if rule else False), rule

    def _last_match(self, entry: str, candidates: list[_Compiled]) -> Rule | None:
        """The last rule that matches `entry` itself (a directory ends in '/')."""
        found = None
        for itself, _, rule, text in candidates:
            if text in entry and itself.search(entry):
                found = rule
        return found

    def matches(self, path: str) -> bool:
        return self.decide(path)[0]


def _regexes(regex: str) -> tuple[re.Pattern[str], re.Pattern[str]]:
    """`regex` compiled twice: for an entry itself, and as pathspec wrote it (a match
    anywhere on the way down), both with `.` matching a newline and `$` only at the end:
    a path may hold any character but '/' and NUL."""
    import re  # here: the patterns `_Glob` reads spare the commit hooks importing it

    regex = regex.replace(_ITSELF_OR_UNDER, _ITSELF_OR_UNDER_EXACT)
    # pathspec marks a match that stops at the '/' after a directory with the
    # group `ps_d`; pinned to the end, that group matches the directory itself.
    return (re.compile(regex.replace(_DIR_MARK, _DIR_MARK_AT_END), re.DOTALL),
            re.compile(regex, re.DOTALL))


class _Glob:
    """A pattern matched with string methods instead of a regex, for the shapes
    pathspec gives the common patterns (`src/**`, `/config/app.toml`,
    `docs/*.md`, `**/generated/**`, `build/`, `*.md`): `^`, optionally
    `(?:.+/)?` (any parent directories), then segments of literal characters
    with at most one `[^/]*` or `[^/]+` each, then how it ends: `/` (anything
    under it), `(?:(?P<ps_d>/)|$)` (itself, or anything under it) or
    `(?P<ps_d>/)` (only under it: a directory). Other shapes stay regexes.

    Importing `re` costs each commit hook ~5 ms (docs/performance.md); these
    shapes cover the patterns zones are made of. `search(entry)` answers as the
    (fixed, see `_regexes`) regex's `search` would, as a bool; the tests compare
    the two on generated patterns and paths.
    """

    __slots__ = ("segments", "any_parent", "end", "itself", "literal")

    UNDER, EITHER, DIRECTORY = "/", _ITSELF_OR_UNDER, _DIR_MARK
    _ENDS = (EITHER, DIRECTORY, UNDER)  # EITHER and DIRECTORY end in '/' too: tried first
    _STARS = {"[^/]*": 0, "[^/]+": 1}   # pathspec's `*`, and a lone `*` segment; the least they match

    def __init__(self, segments: list[tuple[str, str, int | None]], any_parent: bool, end: str, itself: bool) -> None:
        self.segments = segments  # (text before the star, text after it, the star's least length or None)
        self.any_parent = any_parent
        self.end = end
        self.itself = itself      # match the entry itself (else also anything under it)
        # Without a star the pattern is one literal path: decided with startswith/endswith alone.
        self.literal = "/".join(head for head, _, _ in segments) if all(s[2] is None for s in segments) else None

    @classmethod
    def both(cls, regex: str) -> tuple[_Glob, _Glob] | None:
        """Matchers for `regex` itself and anywhere (see `PatternList`), or None for another shape."""
        if not regex.startswith("^"):
            return None
        body = regex[1:]
        any_parent = body.startswith("(?:.+/)?")
        if any_parent:
            body = body[len("(?:.+/)?"):]
        end = next((e for e in cls._ENDS if body.endswith(e)), None)
        segments = cls._segments(body[:-len(end)]) if end else None
        if segments is None:
            return None
        return cls(segments, any_parent, end, True), cls(segments, any_parent, end, False)

    @classmethod
    def _segments(cls, body: str) -> list[tuple[str, str, int | None]] | None:
        segments: list[tuple[str, str, int | None]] = []
        for text in _split_unescaped(body):
            if text is None:
                return None
            head, tail, star, i = [], [], None, 0
            while i < len(text):
                ch = text[i]
                if text.startswith(tuple(cls._STARS), i) and star is None:
                    star = cls._STARS[text[i:i + 5]]
                    i += 5
                    continue
                if ch == "\\" and i + 1 < len(text) and not text[i + 1].isalnum():
                    ch, i = text[i + 1], i + 1
                elif ch in ".^$*+?{}[]()|\\":
                    return None
                (head if star is None else tail).append(ch)
                i += 1
            if not head and not tail and star is None:
                return None  # an empty segment: not a shape pathspec gives
            segments.append(("".join(head), "".join(tail), star))
        return segments or None

    def search(self, entry: str) -> bool:
        literal = self.literal
        if literal is not None and not self.any_parent:
            if self.end == self.UNDER or (self.end == self.DIRECTORY and not self.itself):
                return entry.startswith(literal + "/")
            if self.end == self.DIRECTORY:
                return entry == literal + "/"
            if self.itself:
                return entry == literal or entry == literal + "/"
            return entry == literal or entry.startswith(literal + "/")
        if literal is not None and self.end == self.UNDER:  # `**/name/**`
            return entry.startswith(literal + "/") or entry.find("/" + literal + "/", 1) != -1
        return self._search_parts(entry.split("/"))

    def _search_parts(self, parts: list[str]) -> bool:
        k = len(self.segments)
        starts = range(len(parts) - k + 1) if self.any_parent else range(1 if len(parts) >= k else 0)
        for j in starts:
            if j and not "/".join(parts[:j]):
                continue  # `(?:.+/)?` needs at least one character before its '/'
            rest = parts[j + k:]
            if self.end == self.UNDER or (self.end == self.DIRECTORY and not self.itself):
                ends = len(rest) >= 1
            elif self.end == self.DIRECTORY:
                ends = rest == [""]
            elif self.itself:
                ends = rest in ([], [""])
            else:
                ends = True
            if ends and all(_segment_matches(seg, part) for seg, part in zip(self.segments, parts[j:j + k])):
                return True
        return False


def _segment_matches(segment: tuple[str, str, int | None], part: str) -> bool:
    head, tail, star = segment
    if star is None:
        return part == head
    return len(part) >= len(head) + len(tail) + star and part.startswith(head) and part.endswith(tail)


def _split_unescaped(body: str) -> list[str | None]:
    """`body` split at each '/' that is not escaped; None for a part holding a
    character class other than the stars `_Glob` knows (a '/' may hide in one)."""
    parts, current, i = [], [], 0
    while i < len(body):
        ch = body[i]
        if ch == "\\":
            current.append(body[i:i + 2])
            i += 2
        elif ch == "[":
            star = body[i:i + 5]
            if star not in _Glob._STARS:
                return [None]
            current.append(star)
            i += 5
        elif ch == "/":
            parts.append("".join(current))
            current = []
            i += 1
        else:
            current.append(ch)
            i += 1
    parts.append("".join(current))
    return parts


def _top_dir(path: str) -> str | None:
    """The first directory of a repository path, None for a file at the top."""
    top, slash, _ = path.partition("/")
    return top if slash else None


# A rule as the engine runs it: its regex for an entry itself, its regex as
# pathspec wrote it, the rule, and a text that every match contains.
_Compiled = tuple["_Glob | re.Pattern[str]", "_Glob | re.Pattern[str]", Rule, str]


def _pinned_top_dir(regex: str) -> str | None:
    """The top directory that every string `regex` matches starts in, if the
    regex spells it out (pathspec's `^src/...`); None if it may match anywhere."""
    items = _top_level_items(regex[1:]) if regex.startswith("^") else None
    literal: list[str] = []
    for item in items or ():
        if item is None:
            break
        if item == "/":
            return "".join(literal) or None
        literal.append(item)
    return None


def _required_text(regex: str) -> str:
    """The longest text that every string `regex` matches contains ('' if none is known)."""
    best, run = "", ""
    for item in (_top_level_items(regex) or []) + [None]:
        if item is None:
            best, run = max(best, run, key=len), ""
        else:
            run += item
    return best


_FLAGS = set("aiLmsux-")


def _top_level_items(regex: str) -> list[str | None] | None:
    """The items of `regex` outside any group: a literal character, or None for
    anything else (anchor, class, group, escape sequence, repeated item).

    None when the regex has a top-level `|` or inline flags, where its
    literals prove nothing. Conservative: syntax it does not follow becomes a
    None item, which only costs speed, never a wrong decision.
    """
    items: list[str | None] = []
    i, n = 0, len(regex)
    while i < n:
        ch = regex[i]
        item: str | None = None
        if ch == "\\":
            escaped = regex[i + 1:i + 2]
            item = escaped if escaped and not escaped.isalnum() else None  # \d, \Z, \1 ... are not literals
            i += 2
        elif ch == "[":
            i = _after_class(regex, i)
        elif ch == "(":
            if regex[i + 1:i + 2] == "?" and regex[i + 2:i + 3] in _FLAGS:
                return None
            i = _after_group(regex, i)
        elif ch == "|":
            return None
        elif ch in "*+?{":  # the item before may be missing or repeated
            if items:
                items[-1] = None
            i = (regex.find("}", i) + 1 or n) if ch == "{" else i + 1
            if regex[i:i + 1] in ("?", "+"):  # lazy or possessive
                i += 1
            continue
        elif ch in ".^$":
            i += 1
        else:
            item = ch
            i += 1
        items.append(item)
    return items


def _after_class(regex: str, i: int) -> int:
    """The index after the character class that starts at `regex[i]` ('[')."""
    i += 1
    if regex[i:i + 1] == "^":
        i += 1
    if regex[i:i + 1] == "]":  # a ']' first in a class is literal
        i += 1
    while i < len(regex) and regex[i] != "]":
        i += 2 if regex[i] == "\\" else 1
    return i + 1


def _after_group(regex: str, i: int) -> int:
    """The index after the group that starts at `regex[i]` ('(')."""
    depth = 0
    while i < len(regex):
        ch = regex[i]
        if ch == "\\":
            i += 2
            continue
        if ch == "[":
            i = _after_class(regex, i)
            continue
        depth += (ch == "(") - (ch == ")")
        i += 1
        if depth == 0:
            break
    return i


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
], defaults=[False, False, ()])):
    """What `wta explain` says of one path."""

    __slots__ = ()

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


class Change(namedtuple("Change", [
    "status",      # A, M, D, T
    "path",
    "old_mode", "new_mode", "old_blob", "new_blob",
], defaults=["", "", "", ""])):
    """One path touched by a change set; renames arrive as delete + add."""

    __slots__ = ()


class Violation(namedtuple("Violation", [
    "path",
    "reason",      # OWNED, UNOWNED, READ_ONLY, PROTECTED, APPEND_ONLY, OVERLAP
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
        top = _top_dir(path)
        included, rule = self.read_only._decide(path, top)
        if included:
            return Ownership(path, None, rule.pattern if rule else None, True, False, ())
        owners: list[tuple[str, str]] = []
        excluded_by: str | None = None
        for zone in self._zones_under(top):
            included, rule = zone.patterns._decide(path, top)
            if included and rule is not None:
                owners.append((zone.stream, rule.pattern))
            elif rule is not None and excluded_by is None:
                excluded_by = rule.pattern
        if not owners:
            return Ownership(path, None, excluded_by, False, False, ())
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


def quote_path(path: str) -> str:
    """The path as git prints it when it holds control characters, quotes or
    backslashes (C-quoted), so one path stays on one line; otherwise as is."""
    if not any(ch < " " or ch == "\x7f" or ch in '"\\' for ch in path):
        return path
    return '"' + "".join(_C_ESCAPES.get(ch) or (f"\\{ord(ch):03o}" if ch < " " or ch == "\x7f" else ch)
                         for ch in path) + '"'


def format_violations(stream: str, violations: Sequence[Violation]) -> str:
    """The rejection text: one line per offending path, then what to do."""
    lines = []
    for v in violations:
        where = f"{v.commit[:12]} " if v.commit else ""
        lines.append(f"  {where}{quote_path(v.path)}: {v.describe()}")
    head = f"wta: stream {stream!r} may not change {len(violations)} path(s) outside its zone:"
    return "\n".join([head, *lines])
