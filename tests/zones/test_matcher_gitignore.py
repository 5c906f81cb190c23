"""Zone patterns read like a `.gitignore`: ownership agrees with git's own matching.

For random pattern lists and file trees, `PatternList.matches(path)` must say
what `git check-ignore` says of the same patterns and paths ("owned" in wta is
"ignored" in git), with one deliberate exception:

git cannot re-include a file once a parent directory of it is excluded
(`dir/` or `dir`, then `!dir/file`): git never looks inside an excluded
directory. wta matches every file individually (pathspec's `GitIgnoreSpec`),
so `!dir/file` does carve that file out of the zone. The property therefore
compares only paths none of whose parent directories git excludes, and for the
others checks the one thing that may differ: wta leaves such a file out of the
zone only because a `!` pattern says so. `test_negation_reincludes_file_under_excluded_dir`
shows the difference explicitly.

Bracket expressions (POSIX classes, ranges, escapes) and multi-byte paths are
among the generated ones: wta matches bytes, as git does (tests/zones/test_matcher_wildmatch.py
fuzzes that part alone, at 10,000 pairs a run).

A second deliberate difference keeps `**` glued to other characters (`a**`,
`b**/x`) out of the generated patterns: wta reads it as one `*`, as the
gitignore documentation says, while git's matcher lets it match across `/`
or match nothing after a literal prefix (git's `b**/a/` matches the directory
`ba`). `test_glued_double_star_is_one_star` pins wta's reading. docs/zones.md
("Where wta's matching differs from git's") lists both for users.
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from support import git
from worktree_agents.config import compile_patterns

NAMES = ["a", "b", "ab", "ba", "a.b", "c", "1", "é", "aé", "[a]"]
# Glob pieces for one segment of a pattern: literals, wildcards, classes (POSIX ones, ranges,
# escapes inside and out), and `?`/`*` next to multi-byte characters (git counts bytes).
SEGMENT_GLOBS = NAMES + ["*", "**", "?", "a*", "*b", "?b", "*.b", "[ab]", "[!a]", "[a-b]", "[^b]*",
                         "[[:digit:]]", "[[:alpha:]]*", "[![:alnum:]]", "?é", "??", "a?", "*é", "[é]*",
                         "[]a]", "[a-c-]", "[\\]a]", "\\[a]", "\\*", "[[:lower:][:digit:]]"]


@st.composite
def patterns(draw) -> str:
    segments = draw(st.lists(st.sampled_from(SEGMENT_GLOBS), min_size=1, max_size=3))
    text = "/".join(segments)
    if draw(st.booleans()):
        text = "/" + text
    if draw(st.booleans()):
        text += "/"
    if draw(st.integers(0, 3)) == 0:
        text = "!" + text
    return text


paths = st.lists(st.sampled_from(NAMES), min_size=1, max_size=4).map("/".join)


def file_tree(candidates: list[str]) -> list[str]:
    """The candidates that can all be files at once (no file is another's parent)."""
    files: list[str] = []
    for path in sorted(set(candidates), key=lambda p: (p.count("/"), p)):
        if not any(path.startswith(f + "/") for f in files):
            files.append(path)
    return files


def parents(path: str) -> list[str]:
    parts = path.split("/")
    return ["/".join(parts[:i]) for i in range(1, len(parts))]


def git_ignored(patterns_: list[str], files: list[str]) -> dict[str, bool]:
    """git's verdict for every file and every directory above one: ignored or not."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        git(root, "init", "-q")
        (root / ".git" / "info" / "exclude").write_text("\n".join(patterns_) + "\n")
        for f in files:
            (root / f).parent.mkdir(parents=True, exist_ok=True)
            (root / f).write_text("")
        asked = sorted(set(files) | {d for f in files for d in parents(f)})
        proc = subprocess.run(["git", "check-ignore", "--no-index", "-v", "-n", "-z", "--stdin"], cwd=root,
                              input="\0".join(asked) + "\0", capture_output=True, text=True, timeout=30)
        assert proc.returncode in (0, 1), proc.stderr
        fields = proc.stdout.split("\0")
        verdicts = {}
        for i in range(0, len(fields) - 1, 4):
            source, _line, pattern, path = fields[i:i + 4]
            verdicts[path] = bool(source) and not pattern.startswith("!")
        assert set(verdicts) == set(asked)
        return verdicts


@settings(max_examples=150, deadline=None, database=None)
@given(st.lists(patterns(), min_size=1, max_size=5), st.lists(paths, min_size=1, max_size=12))
def test_ownership_agrees_with_git_check_ignore(pattern_list, candidates):
    files = file_tree(candidates)
    ignored = git_ignored(pattern_list, files)
    zone = compile_patterns(pattern_list)
    for path in files:
        owned, rule = zone.matches(path), zone.decide(path)[1]
        if not any(ignored[d] for d in parents(path)):
            assert owned == ignored[path], (pattern_list, path, rule)
        elif not owned:
            # The deliberate difference: only a negation may carve a file out of an excluded directory.
            assert rule is not None and not rule.include, (pattern_list, path, rule)


def test_negation_reincludes_file_under_excluded_dir():
    """git cannot re-include `dir/file` after excluding `dir/` (or `dir`); a wta zone can."""
    for excluded in ("dir/", "dir"):
        pattern_list = [excluded, "!dir/file"]
        files = ["dir/file", "dir/other"]
        ignored = git_ignored(pattern_list, files)
        zone = compile_patterns(pattern_list)
        assert ignored["dir/file"] is True and ignored["dir/other"] is True
        assert zone.matches("dir/other") is True
        assert zone.matches("dir/file") is False
        assert zone.decide("dir/file")[1].pattern == "!dir/file"


def test_glued_double_star_is_one_star():
    """`a**` is `a*`: it stays inside one path segment (git's matcher differs, see the module docstring)."""
    zone = compile_patterns(["b**/a/", "/a**b"])
    assert zone.matches("ba/a/x") is True        # `b**` is `b*`: the directory ba, then a/
    assert zone.matches("ba/x") is False         # git's quirk would take `ba` itself as `b` + `a/`
    assert zone.matches("axyb") is True
    assert zone.matches("a/b") is False          # `/a**b` is `/a*b`: no '/' inside


def test_double_star_directory_pattern_matches_subdirectories_only():
    """`src/**/` is what git makes of it: the directories inside src, not src's own files."""
    pattern_list = ["src/**/"]
    files = ["src/top.ts", "src/lib/db.ts", "src/lib/deep/x.ts"]
    ignored = git_ignored(pattern_list, files)
    zone = compile_patterns(pattern_list)
    assert {f: zone.matches(f) for f in files} == {f: ignored[f] for f in files} == {
        "src/top.ts": False, "src/lib/db.ts": True, "src/lib/deep/x.ts": True}
