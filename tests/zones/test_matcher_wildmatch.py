"""The zone matcher against git's own matching, byte for byte: a differential fuzz test.

Each run draws at least 10,000 pattern × path pairs: patterns with bracket
expressions (ranges, POSIX classes, negation, `]` first, escapes inside),
escapes outside them, `?`, `*` and `**`, and UTF-8 text; paths built from each
pattern (so that many match) and mutated (so that many just miss), with
multi-byte characters where git's `?` and `*` count bytes. For every pattern,
one `git check-ignore --no-index --stdin -z --verbose --non-matching` answers
for all its paths. wta must say what git says, except for the differences
docs/zones.md lists on purpose (none of which the generator produces: `**`
glued to other text, re-including a file under an excluded directory).

The seed is printed with any disagreement; WTA_FUZZ_SEED=<seed> repeats a run.
"""

from __future__ import annotations

import os
import random
import subprocess
from pathlib import Path

import pytest

from support import git
from worktree_agents.config import compile_patterns, load_text
from worktree_agents.zones.matcher import PatternError, bytes_view

PATTERNS = 120
PATHS_PER_PATTERN = 100          # 12,000 pairs per run

LETTERS = "abcxyzAZ019"
ODD = ".-_ !^]$(){}+=,;'~@#%&"
WIDE = ["é", "ü", "日", "€", "ß", "\U0001f600"]   # two, two, three, three, two and four bytes in UTF-8
CLASSES = ["alnum", "alpha", "blank", "cntrl", "digit", "graph", "lower", "print", "punct", "space", "upper", "xdigit"]
PATH_CHARS = LETTERS + ODD + "[*?\\\t\x7f" + "".join(WIDE)


def bracket(rng: random.Random) -> str:
    """A bracket expression git accepts: members, ranges, classes, escapes; maybe negated."""
    parts = []
    if rng.random() < 0.3:
        parts.append(rng.choice("!^"))
    if rng.random() < 0.15:
        parts.append("]")                 # literal when first
    for _ in range(rng.randint(1, 3)):
        kind = rng.random()
        if kind < 0.3:
            parts.append(rng.choice(LETTERS + ".-_ !^$" + "".join(WIDE)))
        elif kind < 0.55:
            low, high = sorted(rng.sample("aceimxzA0259.-", 2))
            parts.append(f"{low}-{high}" if rng.random() < 0.85 else f"{high}-{low}")   # some ranges are empty
        elif kind < 0.8:
            parts.append(f"[:{rng.choice(CLASSES)}:]")
        elif kind < 0.9:
            parts.append("\\" + rng.choice("]\\-^!a["))
        else:
            parts.append(rng.choice(["[", "[:", "-"]))  # a '[' that opens no class, a lone '-'
    text = "".join(parts)
    if text in ("!", "^"):
        text += "a"
    return f"[{text}]"


def segment(rng: random.Random) -> str:
    pieces = []
    for _ in range(rng.randint(1, 4)):
        kind = rng.random()
        if kind < 0.35:
            pieces.append("".join(rng.choice(LETTERS + ".-_") for _ in range(rng.randint(1, 3))))
        elif kind < 0.45:
            pieces.append(rng.choice(WIDE))
        elif kind < 0.6:
            pieces.append("?")
        elif kind < 0.72:
            pieces.append("*")
        elif kind < 0.9:
            pieces.append(bracket(rng))
        else:
            pieces.append("\\" + rng.choice("*?[]\\a! é"))
    text = "".join(pieces)
    while "**" in text:                   # `**` glued to other text: a documented difference
        text = text.replace("**", "*")
    return text


def pattern(rng: random.Random) -> str:
    segments = [segment(rng) for _ in range(rng.randint(1, 3))]
    if len(segments) > 1 and rng.random() < 0.2:
        segments[rng.randrange(len(segments))] = "**"
    text = "/".join(segments)
    if rng.random() < 0.3:
        text = "/" + text
    if rng.random() < 0.15:
        text += "/"
    if text.startswith("#") or text.startswith("!"):
        text = "\\" + text
    return text


def instance(rng: random.Random, pat: str) -> str:
    """A path the pattern is likely to match (wildcards filled in), sometimes mutated."""
    out, i = [], 0
    body = pat.strip("/")
    while i < len(body):
        ch = body[i]
        if ch == "\\" and i + 1 < len(body):
            out.append(body[i + 1])
            i += 2
        elif ch == "[":
            end = _bracket_end(body, i)
            out.append(rng.choice(PATH_CHARS.replace("/", "")))
            i = end
        elif ch == "*":
            if body.startswith("**", i):
                out.append("/".join(rng.choice(["a", "b", "é"]) for _ in range(rng.randint(1, 2))))
                i += 2
            else:
                out.append("".join(rng.choice(PATH_CHARS) for _ in range(rng.randint(0, 3))))
                i += 1
        elif ch == "?":
            out.append(rng.choice(PATH_CHARS))
            i += 1
        else:
            out.append(ch)
            i += 1
    path = "".join(out)
    if rng.random() < 0.3:
        path = rng.choice(["a/", "x/y/", "é/"]) + path
    if rng.random() < 0.3:
        path += rng.choice(["/f", "/é", "x"])
    if rng.random() < 0.3 and path:
        j = rng.randrange(len(path))
        path = path[:j] + rng.choice(PATH_CHARS) + path[j + 1:]
    return _clean(path)


def _bracket_end(text: str, i: int) -> int:
    """The index after the bracket expression at text[i] (as generated: always closed)."""
    j = i + 1
    if text[j:j + 1] in ("!", "^"):
        j += 1
    if text[j:j + 1] == "]":
        j += 1
    while j < len(text) and text[j] != "]":
        if text[j] == "\\":
            j += 1
        elif text.startswith("[:", j):
            end = text.find(":]", j + 2)
            j = end + 1 if end >= 0 and "]" not in text[j + 2:end] else j
        j += 1
    return j + 1


def _clean(path: str) -> str:
    """A path git can name: no empty segment, none that is `.` or `..`, not starting with '/'."""
    parts = [p for p in path.split("/") if p not in ("", ".", "..")]
    return "/".join(parts) or "a"


def git_verdicts(repo: Path, pat: str, paths: list[str]) -> dict[str, bool]:
    """git's verdict for each path: ignored by `pat` (in info/exclude) or not. One git process."""
    (repo / ".git" / "info" / "exclude").write_bytes(pat.encode("utf-8", "surrogateescape") + b"\n")
    data = b"".join(p.encode("utf-8", "surrogateescape") + b"\0" for p in paths)
    proc = subprocess.run(["git", "-c", "core.ignorecase=false", "check-ignore", "--no-index", "--stdin", "-z",
                           "--verbose", "--non-matching"], cwd=repo, input=data, capture_output=True, timeout=60)
    assert proc.returncode in (0, 1), proc.stderr
    fields = proc.stdout.split(b"\0")
    verdicts = {}
    for i in range(0, len(fields) - 1, 4):
        source, _line, _pattern, path = fields[i:i + 4]
        verdicts[path.decode("utf-8", "surrogateescape")] = bool(source)
    assert set(verdicts) == set(paths), (pat, sorted(set(paths) - set(verdicts))[:5])
    return verdicts


@pytest.fixture
def seed() -> int:
    return int(os.environ.get("WTA_FUZZ_SEED") or random.SystemRandom().randrange(2 ** 32))


def test_matcher_agrees_with_git_byte_for_byte(tmp_path, seed):
    rng = random.Random(seed)
    git(tmp_path, "init", "-q")
    disagreements, pairs, matched, refused = [], 0, 0, 0
    for _ in range(PATTERNS):
        pat = pattern(rng)
        paths = list(dict.fromkeys(instance(rng, pat) for _ in range(PATHS_PER_PATTERN)))
        while len(paths) < PATHS_PER_PATTERN:
            paths.append(_clean("".join(rng.choice(PATH_CHARS + "/") for _ in range(rng.randint(1, 8)))))
            paths = list(dict.fromkeys(paths))
        verdicts = git_verdicts(tmp_path, pat, paths)
        try:
            zone = compile_patterns([pat])
        except PatternError:  # refused at load: only where git never matches either
            zone = compile_patterns([])
            refused += 1
        for path in paths:
            pairs += 1
            matched += verdicts[path]
            if zone.matches(path) != verdicts[path]:
                disagreements.append((pat, path, verdicts[path]))
    assert pairs >= 10_000 and matched > pairs // 10 and refused < PATTERNS // 4, (pairs, matched, refused)  # enough of both answers to mean something
    assert not disagreements, (f"seed {seed}: {len(disagreements)} of {pairs} disagree, e.g. "
                               + "; ".join(f"{p!r} vs {q!r}: git says {'ignored' if g else 'not ignored'}"
                                           for p, q, g in disagreements[:8]))


@pytest.mark.parametrize("pat, matched, unmatched", [
    ("[[:digit:]]*.log", ["1.log", "x/9a.log"], ["a1.log"]),
    ("[![:alpha:]]", ["1", "-", "é" * 0 + "_"], ["a", "Z"]),
    ("?.md", ["a.md"], ["é.md"]),                  # `?` is one byte; é is two
    ("??.md", ["é.md", "ab.md"], ["a.md"]),
    ("*é", ["café"], ["cafe"]),
    ("[é]x", [], ["éx"]),                          # one of é's two bytes, then x: never é itself
    ("[]a]", ["]", "a"], ["b"]),                   # ']' first is literal
    ("[\\]]", ["]"], ["\\"]),
    ("[a-c-e]", ["a", "b", "-", "e"], ["d"]),
    ("[^a]", ["b"], ["a"]),
    ("a[/b]c", ["abc"], ["x/abc"]),                # a '/' in the pattern anchors it, as in git
    ("\\[x]", ["[x]"], ["x"]),
])
def test_pinned_cases_agree_with_git(tmp_path, pat, matched, unmatched):
    git(tmp_path, "init", "-q")
    verdicts = git_verdicts(tmp_path, pat, matched + unmatched)
    zone = compile_patterns([pat])
    assert {p: zone.matches(p) for p in matched + unmatched} == verdicts
    assert all(verdicts[p] for p in matched) and not any(verdicts[p] for p in unmatched)


@pytest.mark.parametrize("pat, reason", [
    ("src/[abc", "an unclosed ["),
    ("src/[[:digit:]", "an unclosed ["),
    ("src/[[:word:]]", "an unknown character class [:word:]"),
    ("src/x\\", "a \\ at its end"),
    ("src\\/x", "an escaped /"),
])
def test_patterns_git_never_matches_are_refused_at_load(tmp_path, pat, reason):
    """git accepts these and matches nothing with them (but for `\\/`, which wta need not read);
    wta refuses them, naming zones.yaml and the line."""
    git(tmp_path, "init", "-q")
    if "\\/" not in pat:
        assert not any(git_verdicts(tmp_path, pat, ["src/a", "src/x", "src/[abc", "src/x\\"]).values())
    text = f"version: 1\nstreams:\n  api:\n    paths:\n      - src/ok/**\n      - '{pat}'\n"
    with pytest.raises(Exception) as caught:
        load_text(text, "zones.yaml", str(tmp_path))
    message = str(caught.value)
    assert "zones.yaml:6" in message and reason in message, message
    assert len(message.strip().splitlines()) == 1, message


def test_byte_view_keeps_ascii_and_spells_out_utf8():
    assert bytes_view("src/a.ts") == "src/a.ts"
    assert bytes_view("é") == "\xc3\xa9"
    assert bytes_view("a\udcff") == "a\xff"   # an undecodable byte, as git has it
