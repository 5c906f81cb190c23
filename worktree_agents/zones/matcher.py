"""The gitignore pattern matcher: which of a list of patterns decides a path.

Pure: compiled patterns (regex strings, by `config.compile_patterns`, which
uses pathspec) in, decisions out; no git, no I/O, stdlib only, because it runs
inside the pre-commit hook. Patterns apply with git's precedence (see
`PatternList`), so a zone reads like a `.gitignore` (two deliberate
differences: docs/zones.md).
"""

from __future__ import annotations

from collections import namedtuple

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing
if TYPE_CHECKING:
    import re
    from collections.abc import Sequence

GLOB_CHARS = frozenset("*?[]\\")   # special in gitignore patterns and in globs

_DIR_MARK = "(?P<ps_d>/)"
_DIR_MARK_AT_END = r"(?P<ps_d>/\Z)"
_ITSELF_OR_UNDER = "(?:(?P<ps_d>/)|$)"          # pathspec's end of a pattern that may name a file
_ITSELF_OR_UNDER_EXACT = r"(?:(?P<ps_d>/)|\Z)"  # `$` would also match before a final newline


# -- git's wildmatch, byte for byte ---------------------------------------------
#
# git matches a path's bytes: `?` is one byte of a UTF-8 character, `[é]` two
# one-byte choices. Paths and patterns are therefore matched in their *byte
# view*: each byte of the UTF-8 text as the character of that code (Latin-1),
# so that a regex character is one byte. Bracket expressions follow git's
# wildmatch.c (pathspec's differ): POSIX classes, `\` escapes and ranges
# inside, `]` first is literal, `[^` negates, and never a '/'.


def bytes_view(text: str) -> str:
    """`text` with one character per UTF-8 byte (undecodable bytes kept): what git matches."""
    return text if text.isascii() else text.encode("utf-8", "surrogateescape").decode("latin-1")


# git's character classes (its own ctype: ASCII only), as sets of byte values.
_POSIX_CLASSES = {
    "alnum": b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
    "alpha": b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
    "blank": b" \t",
    "cntrl": bytes(range(0x20)) + b"\x7f",
    "digit": b"0123456789",
    "graph": bytes(range(0x21, 0x7f)),
    "lower": b"abcdefghijklmnopqrstuvwxyz",
    "print": bytes(range(0x20, 0x7f)),
    "punct": b"!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~",
    "space": b" \t\n\r",
    "upper": b"ABCDEFGHIJKLMNOPQRSTUVWXYZ",
    "xdigit": b"0123456789ABCDEFabcdef",
}
_PLACEHOLDERS = 0xE000  # private-use characters stand for bracket expressions while pathspec compiles


class PatternError(ValueError):
    """A pattern git would accept but never match with (so wta refuses it)."""


def _bracket(view: str, i: int) -> tuple[frozenset[int], int]:
    """The bytes the bracket expression starting at `view[i]` ('[') matches, and the index after it."""
    n = len(view)
    i += 1
    negated = view[i:i + 1] in ("!", "^")
    if negated:
        i += 1
    members: set[int] = set()
    previous: int | None = None   # the last single byte, which a '-' may extend into a range
    first = True
    while True:
        if i >= n:
            raise PatternError("an unclosed [ (git never matches such a pattern; write \\[ for a literal [)")
        ch = view[i]
        if ch == "]" and not first:
            break
        first = False
        if ch == "\\":
            i += 1
            if i >= n:
                raise PatternError("a \\ at the end of a bracket expression")
            previous = ord(view[i])
            members.add(previous)
        elif ch == "-" and previous is not None and i + 1 < n and view[i + 1] != "]":
            i += 1
            if view[i] == "\\":
                i += 1
                if i >= n:
                    raise PatternError("a \\ at the end of a bracket expression")
            members.update(range(previous, ord(view[i]) + 1))
            previous = None
        elif ch == "[" and view[i + 1:i + 2] == ":":
            end = view.find("]", i + 2)
            if end < 0:
                raise PatternError("an unclosed [ (git never matches such a pattern; write \\[ for a literal [)")
            if end - 1 > i + 1 and view[end - 1] == ":":
                name = view[i + 2:end - 1]
                if name not in _POSIX_CLASSES:
                    raise PatternError(f"an unknown character class [:{name}:] (git knows "
                                       f"{', '.join(_POSIX_CLASSES)})")
                members.update(_POSIX_CLASSES[name])
                previous, i = None, end
            else:  # no ':]': an ordinary '['
                previous = ord(ch)
                members.add(previous)
        else:
            previous = ord(ch)
            members.add(previous)
        i += 1
    chosen = (set(range(256)) - members) if negated else members
    chosen.discard(ord("/"))
    return frozenset(chosen), i + 1


def _class_regex(members: frozenset[int]) -> str:
    """A regex matching one character of the byte view that is one of `members`."""
    if not members:
        return "(?!)"
    runs: list[list[int]] = []
    for b in sorted(members):
        if runs and runs[-1][1] == b - 1:
            runs[-1][1] = b
        else:
            runs.append([b, b])
    # Every member as a \xHH escape: no character of the class can read as class syntax.
    return "[" + "".join(f"\\x{lo:02x}" + (f"-\\x{hi:02x}" if hi > lo else "") for lo, hi in runs) + "]"


def git_glob(pattern: str) -> tuple[str, dict[str, str], bool]:
    """`pattern` in its byte view with each bracket expression replaced by a placeholder character;
    the regex for each placeholder; and whether a bracket held a '/' (git then anchors the
    pattern, as any pattern with a '/' in it). Raises PatternError for what git never matches."""
    view = bytes_view(pattern)
    out: list[str] = []
    classes: dict[str, str] = {}
    slash = False
    i, n = 0, len(view)
    if view.startswith("!"):
        out.append("!")
        i = 1
    while i < n:
        ch = view[i]
        if ch == "\\":
            if i + 1 >= n:
                raise PatternError("a \\ at its end (git never matches such a pattern)")
            if view[i + 1] == "/":
                raise PatternError("an escaped / (write / without the backslash)")
            out.append(view[i:i + 2])
            i += 2
        elif ch == "[":
            end_of = i
            members, i = _bracket(view, i)
            slash = slash or "/" in view[end_of:i]
            placeholder = chr(_PLACEHOLDERS + len(classes))
            classes[placeholder] = _class_regex(members)
            out.append(placeholder)
        else:
            out.append(ch)
            i += 1
    return "".join(out), classes, slash


def segment_matches(segment: str, part: str) -> bool | None:
    """Whether one segment of a path (`part`, no '/') matches one segment of a pattern (no '/'), as git's
    wildmatch reads it: `*`, `?`, escapes and bracket expressions (`[^x]` negates, POSIX classes); None
    for a segment that is no pattern on its own (a bracket cut at a '/')."""
    import re   # off the commit hooks' path: for attribute and ignore files, and zones.fast

    try:
        text, classes, _ = git_glob(segment)
    except PatternError:
        return None
    out, i = [], 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            out.append(re.escape(text[i + 1]))
            i += 1
        elif ch in classes:
            out.append(classes[ch])
        else:
            out.append({"*": "[^/]*", "?": "[^/]"}.get(ch) or re.escape(ch))
        i += 1
    return re.fullmatch("".join(out), bytes_view(part), re.DOTALL) is not None


def example_path(pattern: str) -> str | None:
    """A path the gitignore-style `pattern` matches, made up (`lib/**` -> lib/x, `src/**/*.ts` -> src/x/x.ts,
    `[^x]pi/**` -> api/x); None for a negation, or a bracket expression it finds no plain character for."""
    if pattern.startswith("!"):
        return None
    if "[" in pattern:
        pattern = _brackets_filled(pattern)
        if pattern is None:
            return None
    body = pattern.lstrip("/")
    if body.endswith("/"):
        body += "x"
    parts = []
    for segment in body.split("/"):
        if segment == "**":
            parts.append("x")
            continue
        out, escaped = [], False
        for c in segment:
            out.append(c if escaped or c not in "*?\\" else ("" if c == "\\" else "x"))
            escaped = c == "\\" and not escaped
        parts.append("".join(out) or "x")
    return "/".join(parts) or None


def _brackets_filled(pattern: str) -> str | None:
    """`pattern` with each bracket expression replaced by a plain character it matches, or None."""
    import re

    if not pattern.isascii():
        return None   # (git_glob's text is the byte view)
    try:
        text, classes, slash = git_glob(pattern)
    except PatternError:
        return None
    if slash:
        return None
    for placeholder, regex in classes.items():
        plain = next((c for c in "xa0_-XA" if re.fullmatch(regex, c)), None)
        if plain is None:
            return None
        text = text.replace(placeholder, plain)
    return text


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
        """Whether some rule can match a path under top directory `top` (None: a top-level file;
        in its byte view, as `_decide` takes paths)."""
        return any(pinned is None or pinned == top for pinned in self._top_dirs)

    def decide(self, path: str) -> tuple[bool, Rule | None]:
        """Whether `path` is matched, and the rule that decided it."""
        path = bytes_view(path)
        return self._decide(path, top_dir(path))

    def _decide(self, path: str, top: str | None) -> tuple[bool, Rule | None]:
        # `path` in its byte view (`bytes_view`), as the rules' regexes are.
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

    Importing `re` would slow every commit hook (docs/performance.md); these
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


def top_dir(path: str) -> str | None:
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

