"""The zone engine (`zones/ownership.py`): ownership, violations, append-only, the cache format.

Pure: patterns compiled by `config.compile_patterns`, then only paths and
decisions; no repository is needed.
"""

from __future__ import annotations

import marshal

import pytest

from worktree_agents.config import compile_patterns
from worktree_agents.zones.ownership import (AFFECTS, APPEND_ONLY, OVERLAP, OWNED, PROTECTED, READ_ONLY, UNOWNED,
                                             Change, Violation, Zone, ZoneMap, format_violations, normalize)


def zone_map(zones: dict[str, list[str]], read_only: list[str] = (), unowned_allowed: bool = False,
             append_only: set[str] = frozenset()) -> ZoneMap:
    return ZoneMap(zones={name: Zone(name, compile_patterns(list(p)), name in append_only)
                          for name, p in zones.items()},
                   read_only=compile_patterns(list(read_only)), unowned_allowed=unowned_allowed)


WEBAPP = {
    "infra": ["ai-agents/**", "!ai-agents/memory/**", "/package.json", "/tsconfig.json", "/.env.example"],
    "api": ["src/app/api/**", "src/lib/**"],
    "ui": ["src/components/**", "src/app/page.tsx", "src/app/layout.tsx", "tailwind.config.ts"],
    "monitor": ["ai-agents/memory/**"],
}


@pytest.fixture
def webapp_zones() -> ZoneMap:
    return zone_map(WEBAPP, read_only=["docs/specs/**"], append_only={"monitor"})


# -- ownership -------------------------------------------------------------------

@pytest.mark.parametrize("path, stream, pattern", [
    ("src/app/api/health/route.ts", "api", "src/app/api/**"),
    ("src/lib/db.ts", "api", "src/lib/**"),
    ("src/app/page.tsx", "ui", "src/app/page.tsx"),
    ("tailwind.config.ts", "ui", "tailwind.config.ts"),
    ("ai-agents/setup.md", "infra", "ai-agents/**"),
    ("package.json", "infra", "/package.json"),
    ("ai-agents/memory/notes.md", "monitor", "ai-agents/memory/**"),
])
def test_owner_of_names_stream_and_deciding_pattern(webapp_zones, path, stream, pattern):
    o = webapp_zones.owner_of(path)
    assert (o.stream, o.pattern, o.read_only, o.also) == (stream, pattern, False, ())
    assert o.describe() == f"{stream} (pattern {pattern!r})"


def test_negation_takes_a_subtree_out_of_a_zone():
    zones = zone_map({"infra": ["ai-agents/**", "!ai-agents/memory/**"]})
    assert zones.owner_of("ai-agents/setup.md").stream == "infra"
    o = zones.owner_of("ai-agents/memory/notes.md")
    assert (o.stream, o.pattern) == (None, "!ai-agents/memory/**")
    assert o.describe() == "unowned (excluded by '!ai-agents/memory/**' of stream infra)"


def test_negation_then_pattern_reincludes():
    zones = zone_map({"infra": ["ai-agents/**", "!ai-agents/memory/**", "ai-agents/memory/README.md"]})
    o = zones.owner_of("ai-agents/memory/README.md")
    assert (o.stream, o.pattern) == ("infra", "ai-agents/memory/README.md")
    assert zones.owner_of("ai-agents/memory/log.md").stream is None


def test_negated_file_inside_excluded_directory_pattern():
    """Unlike git, a zone can carve one file out of `dir/` (docs/zones.md)."""
    zones = zone_map({"docs": ["docs/", "!docs/private.md"]})
    assert zones.owner_of("docs/guide/intro.md").stream == "docs"
    assert zones.owner_of("docs/private.md").stream is None


def test_anchored_pattern_matches_only_at_the_root():
    zones = zone_map({"infra": ["/package.json"], "web": ["web/**"]})
    assert zones.owner_of("package.json").stream == "infra"
    assert zones.owner_of("web/package.json").stream == "web"
    unanchored = zone_map({"infra": ["package.json"]})
    assert unanchored.owner_of("package.json").stream == "infra"
    assert unanchored.owner_of("web/package.json").stream == "infra"
    assert unanchored.owner_of("a/b/c/package.json").stream == "infra"
    assert unanchored.owner_of("package.json.bak").stream is None


def test_directory_pattern_matches_contents_not_a_file_of_that_name():
    zones = zone_map({"app": ["src/"]})
    assert zones.owner_of("src/main.py").stream == "app"
    assert zones.owner_of("src/deep/er/x.py").stream == "app"
    assert zones.owner_of("lib/src/x.py").stream == "app"   # no '/' inside: any depth, like .gitignore
    assert zones.owner_of("src").stream is None              # a file called src is not the directory
    assert zones.owner_of("srcs/x.py").stream is None


def test_single_star_stays_in_its_directory():
    zones = zone_map({"cfg": ["/*.toml"], "tests": ["tests/*.py"]})
    assert zones.owner_of("pyproject.toml").stream == "cfg"
    assert zones.owner_of("sub/pyproject.toml").stream is None
    assert zones.owner_of("tests/test_a.py").stream == "tests"
    assert zones.owner_of("tests/unit/test_a.py").stream is None


def test_double_star_in_the_middle_matches_any_depth():
    zones = zone_map({"t": ["src/**/test_*.py"]})
    assert zones.owner_of("src/test_a.py").stream == "t"
    assert zones.owner_of("src/a/b/test_a.py").stream == "t"
    assert zones.owner_of("src/a/b/a_test.py").stream is None


def test_read_only_beats_every_zone():
    zones = zone_map({"docs": ["docs/**"]}, read_only=["docs/specs/**"])
    o = zones.owner_of("docs/specs/api.md")
    assert (o.stream, o.read_only, o.pattern) == (None, True, "docs/specs/**")
    assert o.describe() == "read-only (read_only pattern 'docs/specs/**')"
    assert zones.owner_of("docs/guide.md").stream == "docs"
    assert [v.reason for v in zones.violations("docs", [Change("M", "docs/specs/api.md")])] == [READ_ONLY]


def test_zones_yaml_is_always_protected():
    zones = zone_map({"all": ["*"]}, unowned_allowed=True)
    o = zones.owner_of("zones.yaml")
    assert (o.stream, o.read_only, o.protected) == (None, True, True)
    assert "never writable" in o.describe()
    assert zones.owner_of("sub/zones.yaml").stream == "all"   # only the root file is the configuration
    found = zones.violations("all", [Change("M", "zones.yaml"), Change("M", "README.md")])
    assert [(v.path, v.reason) for v in found] == [("zones.yaml", PROTECTED)]


def test_paths_are_normalized():
    zones = zone_map({"api": ["/src/api/**"]})
    assert normalize("./src/api/x.py") == "src/api/x.py"
    assert normalize("src\\api\\x.py") == "src\\api\\x.py"              # one file at the root, not in src/api
    assert zones.owner_of("src\\api\\x.py").stream is None
    assert zones.owner_of("./src/api/x.py").path == "src/api/x.py"
    assert zones.owner_of("./src/api/x.py").stream == "api"
    assert zones.owner_of("/src/api/x.py").stream == "api"


def test_unowned_deny_and_allow():
    changes = [Change("A", "NOTES.md")]
    deny = zone_map({"api": ["src/**"]})
    allow = zone_map({"api": ["src/**"]}, unowned_allowed=True)
    found = deny.violations("api", changes)
    assert [(v.path, v.reason, v.owner) for v in found] == [("NOTES.md", UNOWNED, None)]
    assert "unowned: deny" in found[0].describe()
    assert allow.violations("api", changes) == []


def test_overlaps_name_path_and_every_claiming_stream():
    zones = zone_map({"api": ["src/**"], "ui": ["src/ui/**"], "lib": ["*.ts"]})
    assert zones.overlaps(["src/ui/a.tsx", "src/api.py", "README.md", "src/ui/b.ts"]) == [
        ("src/ui/a.tsx", ("api", "ui")), ("src/ui/b.ts", ("api", "ui", "lib"))]
    o = zones.owner_of("src/ui/b.ts")
    assert (o.stream, o.also) == ("api", ("ui", "lib"))
    assert o.describe() == "claimed by api, ui, lib (overlap: fix zones.yaml)"
    found = zones.violations("api", [Change("M", "src/ui/a.tsx")])
    assert [(v.reason, v.detail) for v in found] == [(OVERLAP, "api, ui")]


def test_owned_counts_skip_read_only_and_list_unowned(webapp_zones):
    files = ["src/lib/db.ts", "src/app/page.tsx", "README.md", "docs/specs/api.md", "zones.yaml",
             "ai-agents/memory/notes.md", "package.json"]
    counts, unowned = webapp_zones.owned_counts(files)
    assert counts == {"infra": 1, "api": 1, "ui": 1, "monitor": 1}
    assert unowned == ["README.md"]


# -- violations ---------------------------------------------------------------------

@pytest.mark.parametrize("status", ["A", "M", "D", "T"])
def test_every_kind_of_change_outside_the_zone_is_a_violation(webapp_zones, status):
    changes = [Change(status, "src/lib/db.ts"), Change(status, "src/components/Button.tsx")]
    found = webapp_zones.violations("ui", changes, commit="0123456789abcdef")
    assert found == [Violation("src/lib/db.ts", OWNED, "api", "0123456789abcdef", "")]


def test_rename_arrives_as_delete_and_add_and_both_ends_count(webapp_zones):
    # ui moves a file from api's zone into its own: the deleted old path is api's.
    changes = [Change("D", "src/lib/db.ts"), Change("A", "src/components/db.ts")]
    assert [(v.path, v.owner) for v in webapp_zones.violations("ui", changes)] == [("src/lib/db.ts", "api")]
    # and the other way round, the new path is api's.
    changes = [Change("D", "src/components/Button.tsx"), Change("A", "src/lib/Button.tsx")]
    assert [(v.path, v.owner) for v in webapp_zones.violations("ui", changes)] == [("src/lib/Button.tsx", "api")]


def test_changes_inside_the_zone_pass(webapp_zones):
    changes = [Change("A", "src/app/api/new/route.ts"), Change("M", "src/lib/db.ts"), Change("D", "src/lib/x.ts")]
    assert webapp_zones.violations("api", changes) == []


def test_unknown_stream_raises_key_error(webapp_zones):
    with pytest.raises(KeyError):
        webapp_zones.violations("nope", [])


def test_violation_describe_names_the_owner_and_what_to_do():
    owned = Violation("src/lib/db.ts", OWNED, "api")
    assert owned.describe() == ("owned by stream 'api': leave it to that stream, "
                                "or ask it with `wta request api \"...\"`")
    assert "base branch" in Violation("docs/specs/a.md", READ_ONLY).describe()
    assert "zones.yaml" in Violation("zones.yaml", PROTECTED).describe()
    assert "changed before its end" in Violation("log.md", APPEND_ONLY, detail="changed before its end").describe()
    assert "api, ui" in Violation("x", OVERLAP, detail="api, ui").describe()


def test_format_violations_lists_each_path_with_commit_and_owner():
    text = format_violations("ui", [Violation("src/lib/db.ts", OWNED, "api", "0123456789abcdef0123"),
                                    Violation("NOTES.md", UNOWNED)])
    lines = text.splitlines()
    assert lines[0] == "wta: stream 'ui' may not change 2 path(s) outside its zone:"
    assert lines[1].startswith("  0123456789ab src/lib/db.ts: owned by stream 'api'")
    assert lines[2].startswith("  NOTES.md: unowned")


# -- append-only ------------------------------------------------------------------------

BLOBS = {
    "old": b"first note\nsecond note\n",
    "appended": b"first note\nsecond note\nthird note\n",
    "edited": b"first note\nSECOND note\nthird note\n",
    "truncated": b"first note\n",
    "unterminated": b"first note\nsecond",
    "extended": b"first note\nsecond note too\n",
    "newline-then-more": b"first note\nsecond\nthird\n",
}


def append_only_zones() -> ZoneMap:
    return zone_map({"monitor": ["memory/**"], "api": ["src/**"]}, append_only={"monitor"})


def modify(old: str, new: str, mode: str = "100644", new_mode: str = "100644") -> Change:
    return Change("M", "memory/notes.md", mode, new_mode, old, new)


def test_append_only_allows_appending_lines_and_new_files():
    zones = append_only_zones()
    changes = [modify("old", "appended"), Change("A", "memory/new.md", "", "100644", "", "x"),
               modify("unterminated", "newline-then-more")]
    assert zones.violations("monitor", changes, BLOBS.get) == []


@pytest.mark.parametrize("change, detail", [
    (modify("old", "edited"), "changed before its end"),
    (modify("old", "truncated"), "changed before its end"),
    (Change("D", "memory/notes.md", "100644", "", "old", ""), "deleted (or renamed away)"),
    (Change("M", "memory/notes.md", "100644", "100755", "old", "old"), "file mode or type changed"),
    (Change("T", "memory/notes.md", "100644", "120000", "old", "appended"), "file mode or type changed"),
    (modify("unterminated", "extended"), "its last line (which had no newline) was extended"),
])
def test_append_only_rejects_anything_but_an_append(change, detail):
    found = append_only_zones().violations("monitor", [change], BLOBS.get)
    assert len(found) == 1 and found[0].reason == APPEND_ONLY and found[0].path == "memory/notes.md"
    assert detail in found[0].detail
    assert found[0].describe().startswith("append-only zone: ")


def test_append_only_modification_needs_a_blob_reader():
    with pytest.raises(ValueError, match="read_blob"):
        append_only_zones().violations("monitor", [modify("old", "appended")])


def test_append_only_reader_is_not_asked_for_other_zones():
    asked = []
    zones = append_only_zones()
    assert zones.violations("api", [Change("M", "src/a.py", "100644", "100644", "o", "n")],
                            lambda sha: asked.append(sha) or b"") == []
    assert asked == []


def test_unreadable_blob_is_a_violation():
    found = append_only_zones().violations("monitor", [modify("old", "missing")], BLOBS.get)
    assert [v.detail for v in found] == ["contents could not be read"]


# -- the compiled-zones cache ------------------------------------------------------------

def test_to_dict_from_dict_round_trip_keeps_every_decision(webapp_zones):
    data = marshal.loads(marshal.dumps(webapp_zones.to_dict()))   # as the hooks read it from zones.cache
    restored = ZoneMap.from_dict(data)
    assert restored.to_dict() == webapp_zones.to_dict()
    paths = ["src/lib/db.ts", "src/app/page.tsx", "src/app/other.tsx", "README.md", "zones.yaml",
             "docs/specs/api.md", "ai-agents/setup.md", "ai-agents/memory/notes.md", "package.json",
             "web/package.json", "tailwind.config.ts", ".env.example"]
    for path in paths:
        assert restored.owner_of(path) == webapp_zones.owner_of(path), path
    changes = [Change("M", p, "100644", "100644", "old", "appended") for p in paths]
    for stream in WEBAPP:
        assert (restored.violations(stream, changes, BLOBS.get)
                == webapp_zones.violations(stream, changes, BLOBS.get))
    assert {s: z.append_only for s, z in restored.zones.items()} == {
        "infra": False, "api": False, "ui": False, "monitor": True}


# -- attribute and ignore files touch every path below them ----------------------------------

RULE_ZONES = {"web": ["src/**", "!src/api/**", "!src/lib/**"], "api": ["src/api/**", "src/lib/**"], "ui": ["tailwind.config.ts"]}


@pytest.mark.parametrize("stream, path, reaches", [
    ("web", "src/.gitattributes", "api"),          # an outer zone over an inner one
    ("web", "src/.gitignore", "api"),
    ("web", "src/app/.gitattributes", None),       # nothing of api's can be below src/app
    ("api", "src/api/.gitattributes", None),       # a zone that covers the directory
    ("api", "src/lib/.gitignore", None),           # ui's `tailwind.config.ts` there would be an overlap
    ("web", "src/api/.gitattributes", "owned"),    # not its file at all
])
def test_a_rule_file_may_change_only_a_directory_the_zone_owns_entirely(stream, path, reaches):
    zones = zone_map(RULE_ZONES, unowned_allowed=True)
    found = zones.violations(stream, [Change("A", path)])
    if reaches is None:
        assert found == []
    elif reaches == "owned":
        assert [v.reason for v in found] == [OWNED]
    else:
        assert [(v.reason, v.owner) for v in found] == [(AFFECTS, reaches)]
        assert "paths there can belong to stream 'api' (pattern 'src/lib/**')" in found[0].describe()


def test_a_rule_file_over_read_only_or_unowned_paths_is_refused():
    read_only = zone_map({"docs": ["docs/**"]}, read_only=["docs/specs/**"])
    assert [v.reason for v in read_only.violations("docs", [Change("M", "docs/.gitattributes")])] == [AFFECTS]
    carved = zone_map({"web": ["src/**", "!src/gen/**"]})  # unowned: deny, and src/gen is no one's
    found = carved.violations("web", [Change("A", "src/.gitignore")])
    assert [v.reason for v in found] == [AFFECTS] and "unowned" in found[0].describe()
    assert zone_map({"web": ["src/**", "!src/gen/**"]}, unowned_allowed=True).violations(
        "web", [Change("A", "src/.gitignore")]) == []


# -- own directories (zones.fast: the pre-commit hook's shell path) ----------------

def test_own_directories_of_the_example_zones(webapp_zones):
    assert webapp_zones.own_directories("api") == (["src/app/api", "src/lib"], ["tailwind.config.ts"])
    assert webapp_zones.own_directories("ui") == (["src/components"], [])
    assert webapp_zones.own_directories("infra") == ([], [])     # its own `!ai-agents/memory/**` reaches in
    assert webapp_zones.own_directories("monitor") == ([], [])   # append-only: each change is read


OWN_DIRECTORY_CASES = {
    "webapp": (WEBAPP, ["docs/specs/**"]),
    "names": ({"a": ["src/**", "!generated"], "b": ["generated/", "Makefile"], "c": ["/docs/"]}, ["LICENSE"]),
    "nested": ({"a": ["/pkg/a/**"], "b": ["/pkg/**", "!/pkg/a/**"], "c": ["pkg/c/", "tools/**"]}, []),
    "globs": ({"a": ["lib/**"], "b": ["**/*.md"], "c": ["/bin/", "!bin/x*"]}, ["bin/keep"]),
    "plain": ({"a": ["/a/", "a/b/**"], "b": ["b/**"], "c": ["c/d/**", "e"]}, []),
    "name globs": ({"a": ["src/**", "!*.gen"], "b": ["docs/", "**/*.md"], "c": ["/tools/", "**/vendor/**"]},
                   ["**/*.lock", "**/generated/"]),
}


@pytest.mark.parametrize("case", sorted(OWN_DIRECTORY_CASES))
def test_every_path_below_an_own_directory_and_clear_of_its_names_is_the_streams(case):
    """The shell lets such a path through unchecked: for every stream, every path made of the
    patterns' own words below each own directory must be one `violations` has nothing against."""
    zones, read_only = OWN_DIRECTORY_CASES[case]
    zm = zone_map(zones, read_only=read_only)
    from fnmatch import fnmatchcase

    words = {w.replace("*", "x") for patterns in (*zones.values(), read_only) for p in patterns
             for w in p.lstrip("!/").split("/") if w and w != "**"} | {"x", "y.ts", "zones.yaml"}
    checked = 0
    for stream in zones:
        directories, names = zm.own_directories(stream)
        for directory in directories:
            tails = [[w] for w in words] + [[w, v] for w in words for v in words]
            tails += [[w, v, "z"] for w in words for v in words]
            for tail in tails:
                named = any(fnmatchcase(part, name) for part in tail for name in names)
                if named or tail[-1] in (".gitignore", ".gitattributes"):
                    continue
                path = "/".join([directory, *tail])
                assert zm.violations(stream, [Change("A", path)]) == [], (stream, path)
                checked += 1
    assert checked > 0 or case in ("nested", "globs")   # where no directory is anybody's alone


def test_own_directories_lean_towards_none():
    zm = zone_map({"a": ["src/**", "!generated"], "b": ["generated/", "Makefile"], "c": ["/docs/"]},
                  read_only=["LICENSE"])
    assert zm.own_directories("a") == (["src"], ["generated", "Makefile", "LICENSE"])
    assert zm.own_directories("b") == (["generated"], ["LICENSE"])   # its own `Makefile` is no other's
    assert zm.own_directories("c") == (["docs"], ["generated", "Makefile", "LICENSE"])
    zm = zone_map({"a": ["lib/**", "src/*.py", "/x/", "x//**"], "b": ["**/*.md"]})
    assert zm.own_directories("a") == (["lib", "x"], ["*.md"])   # b's glob claims .md files anywhere
    zm = zone_map({"a": ["lib/**"], "b": ["**/*.md", "**/gen*/"]}, read_only=["**/generated/**"])
    assert zm.own_directories("a") == ([], [])   # `gen*` is no name the shell compares
    zm = zone_map({"a": ["lib/**"], "b": ["*.md"]}, read_only=["**/generated/**", "*.lock"])
    assert zm.own_directories("a") == (["lib"], ["*.md", "generated", "*.lock"])
    zm = zone_map({"a": ["/pkg/a/**"], "b": ["/pkg/**", "!/pkg/a/**"]})
    assert zm.own_directories("a") == ([], []) and zm.own_directories("b") == ([], [])
