"""The zone engine decides common patterns with string methods (`zones.matcher._Glob`),
so the commit hooks need not import `re`; it must answer as the regex would.

The regex here is the engine's own fallback (`zones.matcher._regexes`): pathspec's
regex with `.` matching a newline and `$` only at the very end, because a
path may hold any character but '/' and NUL (`test_newline_*` below show
what pathspec's regex alone would get wrong).
"""

from __future__ import annotations

import subprocess
import sys

from hypothesis import given, settings
from hypothesis import strategies as st

from worktree_agents.config import compile_patterns
from worktree_agents.zones.matcher import PatternList, _Glob, _regexes
from worktree_agents.zones.ownership import Change, ZoneMap

NAMES = ["a", "ab", "a.b", "b a", "é", "a\nb", ".md", "x.md", "generated"]
PIECES = NAMES + ["*", "**", "*.md", "a*", "*b", ".env*"]
ROOT = sys.modules["worktree_agents.zones.ownership"].__file__.rsplit("/worktree_agents/", 1)[0]


@st.composite
def patterns(draw) -> str:
    text = "/".join(draw(st.lists(st.sampled_from(PIECES), min_size=1, max_size=3)))
    if draw(st.booleans()):
        text = "/" + text
    if draw(st.booleans()):
        text += "/"
    return text


entries = st.lists(st.sampled_from(NAMES + ["", "\n"]), min_size=1, max_size=5).map("/".join)


@settings(max_examples=400, deadline=None)
@given(st.lists(patterns(), min_size=1, max_size=3), st.lists(entries, min_size=1, max_size=12))
def test_string_matcher_answers_as_the_regex(pattern_list, candidates):
    for rule in compile_patterns(pattern_list).rules:
        globs = _Glob.both(rule.regex)
        if globs is None:
            continue  # a shape left to the regex
        itself, anywhere = _regexes(rule.regex)
        for entry in candidates:
            for text in (entry, entry + "/"):
                assert globs[0].search(text) == bool(itself.search(text)), (rule.pattern, text)
                assert globs[1].search(text) == bool(anywhere.search(text)), (rule.pattern, text)


def test_the_common_shapes_take_the_string_path_and_others_the_regex():
    common = ["s03/**", "!s03/generated/**", "/config/s03.toml", "docs/s03/*.md", "vendor/**",
              "**/generated/**", "*.md", "build/", ".env*", "docs/*"]
    assert all(_Glob.both(r.regex) is not None for r in compile_patterns(common).rules)
    rare = ["a/**/b", "x?y", "[ab]c", "src/**/*.ts"]
    assert all(_Glob.both(r.regex) is None for r in compile_patterns(rare).rules)
    # and the engine decides both kinds
    rules = compile_patterns(["src/**/*.ts", "docs/*.md"])
    assert rules.matches("src/a/b.ts") and rules.matches("docs/x.md") and not rules.matches("docs/a/x.md")


def test_newline_in_a_parent_directory_does_not_hide_a_read_only_path():
    zones = ZoneMap({}, read_only=compile_patterns(["**/generated/**"]))
    assert zones.owner_of("a\nb/generated/f.py").read_only
    assert PatternList(compile_patterns(["a/**/b"]).rules).matches("a/x\ny/b")  # the regex fallback too


def test_a_trailing_newline_makes_another_file():
    rules = compile_patterns(["/config/s03.toml"])
    assert rules.matches("config/s03.toml") and not rules.matches("config/s03.toml\n")
    assert not compile_patterns(["x?y"]).matches("xay\n")  # the regex fallback too


def test_the_hooks_zone_check_runs_without_importing_re():
    # As the commit hook runs it: `python -S`, the compiled zones loaded from their cache form.
    zones = ZoneMap({"s03": None}).__class__  # the class, for its from_dict below
    rules = compile_patterns(["s03/**", "!s03/generated/**", "/config/s03.toml", "docs/s03/*.md"]).rules
    read_only = compile_patterns(["vendor/**", "**/generated/**"]).rules
    data = {"config_file": "zones.yaml", "unowned_allowed": False,
            "read_only": [r._asdict() for r in read_only],
            "zones": {"s03": {"append_only": False, "rules": [r._asdict() for r in rules]}}}
    script = (f"import sys; sys.path.append({ROOT!r}); from worktree_agents.zones.ownership import ZoneMap, Change; "
              f"zones = ZoneMap.from_dict({data!r}); "
              "found = zones.violations('s03', [Change('M', p) for p in "
              "['s03/a/b.py', 's03/generated/x.py', 'config/s03.toml', 'docs/s03/a.md', 'docs/s03/a/b.md']]); "
              "print(sorted((v.path, v.reason) for v in found)); print('re' in sys.modules)")
    proc = subprocess.run([sys.executable, "-S", "-c", script], capture_output=True, text=True, check=True)
    decided, re_imported = proc.stdout.splitlines()
    assert decided == str([("docs/s03/a/b.md", "unowned"), ("s03/generated/x.py", "read-only")])
    assert re_imported == "False"
    assert zones.from_dict(data).violations("s03", [Change("M", "s03/a/b.py")]) == []
