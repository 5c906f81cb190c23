"""`wta init`, `wta zones` and `wta explain`, run as a user runs them."""

from __future__ import annotations

import json
from pathlib import Path

from support import ROOT, commit_all, git, make_repo, wta, write_files
from worktree_agents.config import load

LAYOUT = {
    "README.md": "# app\n",
    "src/api/server.py": "",
    "src/api/routes.py": "",
    "src/ui/App.tsx": "",
    "docs/guide.md": "",
    "scripts/deploy.sh": "",
    "node_modules/left-pad/index.js": "",
}


def plain_repo(path: Path, files: dict[str, str]) -> Path:
    path.mkdir(parents=True)
    git(path, "init", "-q", "-b", "main")
    write_files(path, files)
    commit_all(path, "initial")
    return path


# -- wta init -------------------------------------------------------------------------

def test_init_writes_a_valid_zones_yaml_from_the_layout(tmp_path):
    repo = plain_repo(tmp_path / "app", LAYOUT)
    proc = wta(repo, "init", check=0)
    assert "wrote" in proc.stdout and "zones.yaml" in proc.stdout
    config = load(repo / "zones.yaml", repo_root=repo)
    assert config.base == "main"
    assert {name: s.paths for name, s in config.streams.items()} == {
        # infra owns what is added at the top level (a Makefile), but the markdown docs owns, and what is
        # added under src/ beside api and ui (src/new/, src/main.ts).
        "api": ["/src/api/**"], "ui": ["/src/ui/**"],
        "infra": ["/*", "!/*/", "!/*.md", "/scripts/**", "/src/**", "!/src/api/**", "!/src/ui/**"],
        "docs": ["/docs/**", "/*.md"]}
    assert config.read_only == ["/node_modules/**"]  # vendored: no stream changes it
    # The file it wrote is one `wta zones` accepts, and the zones own the files they were drawn from.
    zones = json.loads(wta(repo, "zones", "--json", check=0).stdout)
    assert {s["name"]: s["files"] for s in zones["streams"]} == {"api": 2, "ui": 1, "infra": 1, "docs": 2}
    assert zones["unowned"] == []


def test_init_refuses_to_overwrite_without_force(tmp_path):
    repo = plain_repo(tmp_path / "app", LAYOUT)
    (repo / "zones.yaml").write_text("# mine\n")
    proc = wta(repo, "init", check=2)
    assert proc.stderr.count("\n") == 1
    assert "zones.yaml: already exists" in proc.stderr and "--force" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert (repo / "zones.yaml").read_text() == "# mine\n"

    wta(repo, "init", "--force", check=0)
    assert (repo / "zones.yaml").read_text().startswith("# zones.yaml:")
    assert "api" in load(repo / "zones.yaml").streams


def test_init_refuses_in_a_stream_worktree(tmp_path):
    repo = plain_repo(tmp_path / "app", LAYOUT)
    worktree = tmp_path / "app-api"
    git(repo, "worktree", "add", "-q", "-b", "wta/api", str(worktree))
    proc = wta(worktree, "init", check=2)
    assert "linked worktree" in proc.stderr and str(repo) in proc.stderr
    assert not (worktree / "zones.yaml").exists()
    assert not (repo / "zones.yaml").exists()


def test_init_names_streams_from_awkward_directories(tmp_path):
    repo = plain_repo(tmp_path / "app", {"#notes/a.md": "", "lib/api/a.py": "", "api/b.py": "",
                                         "My Docs: old/c.md": ""})
    wta(repo, "init", check=0)
    config = load(repo / "zones.yaml", repo_root=repo)
    owners = {path: config.zone_map().owner_of(path).stream
              for path in ("#notes/a.md", "lib/api/a.py", "api/b.py", "My Docs: old/c.md")}
    assert owners == {"#notes/a.md": "notes", "api/b.py": "api", "lib/api/a.py": "api-2",
                      "My Docs: old/c.md": "my-docs-old"}


def test_init_outside_a_repository(tmp_path):
    proc = wta(tmp_path, "init", check=2)
    assert "not a git repository" in proc.stderr
    assert not (tmp_path / "zones.yaml").exists()


# -- wta zones ------------------------------------------------------------------------

def test_zones_table(webapp):
    proc = wta(webapp, "zones", check=0)
    lines = proc.stdout.splitlines()
    assert lines[0].split() == ["stream", "files", "patterns", "after"]
    rows = {line.split()[0]: line for line in lines[2:6]}
    assert rows["infra"].split()[1] == "4"
    assert rows["api"].split()[1] == "2" and rows["api"].rstrip().endswith("infra")
    assert rows["ui"].split()[1] == "4"
    assert rows["monitor"].split()[1] == "1" and "(append-only)" in rows["monitor"]
    assert "read-only: docs/specs/** (and zones.yaml)" in proc.stdout
    assert "unowned (2, no stream may change them): README.md, prompts/api.md" in proc.stdout
    assert "overlap" not in proc.stdout
    assert proc.stderr == ""


def test_zones_json(webapp):
    proc = wta(webapp / "src", "zones", "--json", check=0)
    doc = json.loads(proc.stdout)
    assert Path(doc["config"]).samefile(webapp / "zones.yaml")
    assert doc["base"] == "main"
    assert doc["overlaps"] == [] and doc["unowned"] == ["README.md", "prompts/api.md"]
    assert doc["problems"] == [] and doc["warnings"] == []
    assert [s["name"] for s in doc["streams"]] == ["infra", "api", "ui", "monitor"]
    api = doc["streams"][1]
    assert api == {"name": "api", "paths": ["src/app/api/**", "src/lib/**"], "after": ["infra"],
                   "append_only": False, "files": 2, "branch": "wta/api"}
    assert doc["streams"][3]["append_only"] is True


OVERLAPPING = """version: 1
streams:
  api:
    paths: [src/**]
  db:
    paths: [src/lib/**, migrations/**]
"""


def test_zones_exit_1_on_overlap_naming_path_and_both_streams(tmp_path):
    repo = make_repo(tmp_path / "app", OVERLAPPING, {"src/lib/db.ts": "", "src/app.ts": "", "README.md": ""})
    proc = wta(repo, "zones", check=1)
    assert ("overlap: src/lib/db.ts is claimed by api and db; make the zones exclusive in zones.yaml"
            in proc.stdout.splitlines())
    assert "src/app.ts" not in proc.stdout.split("overlap:", 1)[1]

    doc = json.loads(wta(repo, "zones", "--json", check=1).stdout)
    assert doc["overlaps"] == [{"path": "src/lib/db.ts", "streams": ["api", "db"]}]
    assert {s["name"]: s["files"] for s in doc["streams"]} == {"api": 2, "db": 1}   # db.ts counts for both


def test_zones_counts_a_file_two_zones_claim_for_each_of_them(tmp_path):
    """api/models.py, claimed by api's and tests' patterns, had counted for api (the first) alone: tests' row
    said 1 file while its zone reaches 2. Both rows and --json count it, and the overlap is listed."""
    zones = "version: 1\nstreams:\n  api:\n    paths: [api/**]\n  tests:\n    paths: [tests/**, \"**/models.py\"]\n"
    repo = make_repo(tmp_path / "app", zones, {"api/models.py": "", "api/views.py": "", "tests/test_api.py": ""})
    proc = wta(repo, "zones", check=1)
    rows = {line.split()[0]: line.split()[1] for line in proc.stdout.splitlines()[2:4]}
    assert rows == {"api": "2", "tests": "2"}
    assert "overlap: api/models.py is claimed by api and tests; make the zones exclusive in zones.yaml" in proc.stdout
    doc = json.loads(wta(repo, "zones", "--json", check=1).stdout)
    assert {s["name"]: s["files"] for s in doc["streams"]} == {"api": 2, "tests": 2}
    assert doc["overlaps"] == [{"path": "api/models.py", "streams": ["api", "tests"]}]


def test_zones_that_overlap_where_no_file_is_tracked_yet_are_an_error_all_the_same(tmp_path):
    # Every commit of a file there would be refused for both streams: said before any is made.
    repo = make_repo(tmp_path / "app", OVERLAPPING, {"src/app.ts": ""})
    (repo / "src" / "lib").mkdir()
    (repo / "src" / "lib" / "untracked.ts").write_text("")   # claimed by both zones, but not tracked
    report = json.loads(wta(repo, "zones", "--json", check=1).stdout)
    assert report["overlaps"] == []   # tracked files only
    assert {s["name"]: s["files"] for s in report["streams"]} == {"api": 1, "db": 0}
    expected = ("overlap: a path such as src/lib/x (streams.db.paths[0] 'src/lib/**') would be claimed by api and "
                "db; make the zones exclusive in zones.yaml")
    assert expected in wta(repo, "zones", check=1).stdout
    assert wta(repo, "up", "--no-launch", check=2).stderr == f"wta: {expected}\n"
    assert git(repo, "worktree", "list", "--porcelain").stdout.count("worktree ") == 1


def test_an_overlap_through_a_bracket_expression_is_found_where_no_file_is_tracked_yet(tmp_path):
    """`[^x]pi/extra/**` reaches into `api/**`: a pattern with a bracket expression had no made-up path to
    try, and the overlap went unsaid until every commit there was refused."""
    zones = ("version: 1\nstreams:\n  api:\n    paths: [api/**]\n"
             "  ui:\n    paths: [ui/**, \"[^x]pi/extra/**\"]\n")
    repo = make_repo(tmp_path / "app", zones, {"api/a": "a\n", "ui/u": "u\n"})
    expected = ("overlap: a path such as api/extra/x (streams.ui.paths[1] '[^x]pi/extra/**') would be claimed by "
                "api and ui; make the zones exclusive in zones.yaml")
    assert expected in wta(repo, "zones", check=1).stdout
    assert wta(repo, "up", "--no-launch", check=2).stderr == f"wta: {expected}\n"


def test_a_missing_zones_yaml_is_one_message_with_the_fix_whichever_command_finds_it(tmp_path):
    repo = plain_repo(tmp_path / "app", {"README.md": ""})
    expected = f"wta: {repo / 'zones.yaml'}: not found; write a starter with `wta init`, then commit it on the base branch"
    for args in (["zones"], ["status"], ["status", "--json"], ["up", "--no-launch"], ["explain", "README.md"],
                 ["merge", "--dry-run"], ["prompt", "api"]):
        proc = wta(repo, *args, check=2)
        assert proc.stderr.strip() == expected, f"wta {' '.join(args)}"


# -- wta explain ----------------------------------------------------------------------

def test_explain_paths_relative_to_a_subdirectory(webapp):
    proc = wta(webapp / "src" / "app", "explain", "page.tsx", "api/health/route.ts", "../../README.md",
               "../../zones.yaml", "../../docs/specs/api.md", "../../ai-agents/memory/notes.md", "new/file.ts",
               check=0)
    assert proc.stdout.splitlines() == [
        "src/app/page.tsx: ui (pattern 'src/app/page.tsx')",
        "src/app/api/health/route.ts: api (pattern 'src/app/api/**')",
        "README.md: unowned",
        "zones.yaml: read-only (zones.yaml is never writable by a stream)",
        "docs/specs/api.md: read-only (read_only pattern 'docs/specs/**')",
        "ai-agents/memory/notes.md: monitor (pattern 'ai-agents/memory/**')",
        "src/app/new/file.ts: unowned",
    ]


def test_explain_absolute_path_inside_the_repository(webapp):
    proc = wta(webapp, "explain", str(webapp / "src" / "lib" / "db.ts"), check=0)
    assert proc.stdout == "src/lib/db.ts: api (pattern 'src/lib/**')\n"


def test_explain_reports_each_path_outside_the_repository_and_explains_the_others(webapp, tmp_path):
    outside, elsewhere = tmp_path / "elsewhere.txt", tmp_path / "other" / "x.md"
    proc = wta(webapp / "src", "explain", str(outside), "lib/db.ts", str(elsewhere), "app/page.tsx", check=2)
    assert proc.stdout.splitlines() == ["src/lib/db.ts: api (pattern 'src/lib/**')",
                                        "src/app/page.tsx: ui (pattern 'src/app/page.tsx')"]
    assert proc.stderr.splitlines() == [
        f"wta: {outside}: outside the repository ({webapp}); give a path inside it",
        f"wta: {elsewhere}: outside the repository ({webapp}); give a path inside it"]
    proc = wta(webapp, "explain", "--json", "src/lib/db.ts", str(outside), check=2)
    assert [answer["path"] for answer in json.loads(proc.stdout)] == ["src/lib/db.ts"]
    assert proc.stderr == f"wta: {outside}: outside the repository ({webapp}); give a path inside it\n"
    proc = wta(webapp, "explain", "../elsewhere.txt", check=2)
    assert len(proc.stderr.splitlines()) == 1 and "../elsewhere.txt: outside the repository" in proc.stderr


def test_explain_json(webapp):
    proc = wta(webapp / "ai-agents", "explain", "--json", "memory/notes.md", "../zones.yaml", "setup.md", check=0)
    assert json.loads(proc.stdout) == [
        {"path": "ai-agents/memory/notes.md", "stream": "monitor", "pattern": "ai-agents/memory/**",
         "read_only": False, "protected": False, "also": []},
        {"path": "zones.yaml", "stream": None, "pattern": None, "read_only": True, "protected": True, "also": []},
        {"path": "ai-agents/setup.md", "stream": "infra", "pattern": "ai-agents/**",
         "read_only": False, "protected": False, "also": []},
    ]


def test_explain_a_directory_counts_its_tracked_files_by_owner(webapp):
    """A directory had been answered `unowned` (its path matched no pattern), though every file in it is a
    stream's: `src/lib` is api's."""
    proc = wta(webapp / "src", "explain", "lib", "app/", "../docs/specs", ".", check=0)
    assert proc.stdout.splitlines() == [
        "src/lib/: a directory of 1 tracked file(s): api 1",
        "src/app/: a directory of 3 tracked file(s): ui 2, api 1",
        "docs/specs/: a directory of 1 tracked file(s): (read-only) 1",
        "src/: a directory of 5 tracked file(s): ui 3, api 2"]
    (webapp / "src" / "empty").mkdir()
    assert wta(webapp, "explain", "src/empty", check=0).stdout == \
        "src/empty/: a directory, with no tracked file in it (each file is explained by its own path)\n"
    answers = json.loads(wta(webapp, "explain", "--json", "src/lib", "docs/specs/", check=0).stdout)
    assert answers == [
        {"path": "src/lib/", "stream": "api", "pattern": None, "read_only": False, "protected": False, "also": [],
         "files": {"api": 1}},
        {"path": "docs/specs/", "stream": None, "pattern": None, "read_only": True, "protected": False, "also": [],
         "files": {"(read-only)": 1}}]


def test_explain_shows_an_overlap_and_exits_1_as_wta_zones_does(tmp_path):
    """A path two zones claim had been answered with exit 0 while `wta zones` exits 1 on the same overlap: a
    script asking `wta explain PATH` saw no problem. Exit 1 for it (a file, or a directory holding one); 0 for
    an owned or an unowned path (unowned files are no problem for `wta zones` either); 2 for a bad path."""
    repo = make_repo(tmp_path / "app", OVERLAPPING, {"src/lib/db.ts": "", "src/app.ts": "", "README.md": ""})
    proc = wta(repo, "explain", "src/lib/db.ts", check=1)
    assert proc.stdout == "src/lib/db.ts: claimed by api, db (overlap: fix zones.yaml)\n"
    assert proc.stderr == ""
    assert json.loads(wta(repo, "explain", "--json", "src/app.ts", "src/lib/db.ts", check=1).stdout)[1]["also"] \
        == ["db"]
    assert wta(repo, "explain", "src/lib", check=1).stdout == \
        "src/lib/: a directory of 1 tracked file(s): (claimed by several streams) 1\n"
    assert wta(repo, "explain", "src/app.ts", "README.md", "migrations/new.sql", check=0).stdout.splitlines() == \
        ["src/app.ts: api (pattern 'src/**')", "README.md: unowned", "migrations/new.sql: db (pattern 'migrations/**')"]
    wta(repo, "explain", "src/lib/db.ts", "../elsewhere", check=2)


def test_explain_with_a_broken_zones_yaml(webapp):
    (webapp / "zones.yaml").write_text("version: 1\nstreams:\n  api:\n    pahts: [src/**]\n")
    proc = wta(webapp, "explain", "src/lib/db.ts", check=2)
    assert proc.stdout == ""
    assert all(line.startswith(f"wta: {webapp / 'zones.yaml'}:") for line in proc.stderr.splitlines())
    assert "did you mean `paths`?" in proc.stderr


def test_this_repository_is_split_into_streams_by_its_own_zones_yaml(tmp_path):
    # A clone, so that only what is committed counts (not this checkout's untracked files).
    git(tmp_path, "clone", "-q", str(ROOT), "wta")
    git(tmp_path / "wta", "checkout", "-q", "-B", "main")  # the base of zones.yaml, whichever branch was cloned
    doc = json.loads(wta(tmp_path / "wta", "zones", "--json", check=0).stdout)
    assert doc["overlaps"] == [] and doc["unowned"] == []  # every tracked file has exactly one owner
    files = {s["name"]: s["files"] for s in doc["streams"]}
    assert set(files) == {"zones", "worktrees", "sessions", "merge", "hardening", "core"} and all(files.values())
    assert doc["read_only"] == ["docs/SPEC.md"]


# -- wta zones: what the repository shows about zones.yaml ------------------------------

def test_zones_names_a_base_branch_that_does_not_exist_with_the_nearest_one(tmp_path):
    repo = tmp_path / "app"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "master")
    write_files(repo, {"src/a.py": "", "zones.yaml": "version: 1\nbase: mastr\nstreams:\n  api:\n    paths: [src/**]\n"})
    commit_all(repo, "initial")
    proc = wta(repo, "zones", check=1)
    assert ("base branch 'mastr' (`base: mastr` in zones.yaml) does not exist; did you mean 'master'? "
            "fix `base:` in zones.yaml") in proc.stdout.splitlines()
    assert json.loads(wta(repo, "zones", "--json", check=1).stdout)["problems"] == [
        "base branch 'mastr' (`base: mastr` in zones.yaml) does not exist; did you mean 'master'? "
        "fix `base:` in zones.yaml"]


def test_zones_warns_of_a_pattern_that_matches_no_tracked_file(tmp_path):
    zones = "version: 1\nstreams:\n  api:\n    paths: [src/**, scr/lib/**, '!src/gen/**']\n  ui:\n    paths: [web/**]\n"
    repo = make_repo(tmp_path / "app", zones, {"src/a.py": "", "web/index.html": ""})
    proc = wta(repo, "zones", check=0)  # a warning, not an error
    assert proc.stderr.splitlines() == [
        f"wta: warning: {repo / 'zones.yaml'}:4:21: streams.api.paths[1]: 'scr/lib/**' matches no tracked file; "
        "check it for a typo (fine if the stream is to create them)"]
    assert json.loads(wta(repo, "zones", "--json", check=0).stdout)["warnings"] == [proc.stderr[len("wta: warning: "):].strip()]


def test_zones_warns_of_a_stream_whose_zone_owns_no_tracked_file(tmp_path):
    """Every pattern of infra's matched a tracked file (`/*` matches the folder packages/ they lie in), and
    `wta zones` said nothing of a stream counting 0 files, whose session `wta up` then started all the same:
    each file was another's (`!`), read-only, or zones.yaml."""
    zones = ("version: 1\nread_only: [vendor/**]\nstreams:\n  a:\n    paths: [/packages/a/**]\n"
             "  infra:\n    paths: ['/*', '!/*/', /packages/**, '!/packages/a/**']\n"
             "  vendored:\n    paths: [vendor/**]\n  new:\n    paths: [new/**]\n")
    repo = make_repo(tmp_path / "app", zones, {"packages/a/index.ts": "", "vendor/lib.js": ""})
    proc = wta(repo, "zones", check=0)  # warnings, not errors
    config = repo / "zones.yaml"
    empty = (": its zone owns no tracked file (each one its patterns match is excluded, read-only or zones.yaml): "
             "`wta up` would start its session with nothing to work on; remove the stream (fine if it is to create "
             "files)")
    assert proc.stderr.splitlines() == [   # new/**: the pattern's own warning, which says it all
        f"wta: warning: {config}:11:13: streams.new.paths[0]: 'new/**' matches no tracked file; check it for a typo "
        "(fine if the stream is to create them)",
        f"wta: warning: {config}:7:5: streams.infra{empty}",
        f"wta: warning: {config}:9:5: streams.vendored{empty}"]
    assert json.loads(wta(repo, "zones", "--json", check=0).stdout)["warnings"] == [
        line[len("wta: warning: "):] for line in proc.stderr.splitlines()]


def test_zones_reports_a_prompt_file_that_does_not_exist_at_its_line(tmp_path):
    zones = "version: 1\nstreams:\n  api:\n    paths: [src/**]\n    prompt_file: prompts/api.md\n"
    repo = make_repo(tmp_path / "app", zones, {"src/a.py": ""})
    proc = wta(repo, "zones", check=1)
    assert (f"{repo / 'zones.yaml'}:5:18: streams.api.prompt_file: prompts/api.md does not exist; create it or fix "
            "the path (relative to the repository root)") in proc.stdout.splitlines()
    write_files(repo, {"prompts/api.md": "Build the API.\n"})
    wta(repo, "zones", check=0)


def test_zones_reports_a_command_runner_without_a_command_that_wta_up_would_refuse(tmp_path):
    """`wta zones` said nothing (exit 0) of `runner: command` with no `agent.command`; committed so, the
    zones then stopped `wta up` (exit 2), and fixing them took another commit on the base."""
    zones = ("version: 1\nagent:\n  runner: command\nstreams:\n  api:\n    paths: [src/**]\n"
             "  ui:\n    paths: [ui/**]\n    agent: {runner: manual}\n")
    repo = make_repo(tmp_path / "app", zones, {"src/a.py": "", "ui/a.html": ""})
    proc = wta(repo, "zones", check=1)
    assert (f"{repo / 'zones.yaml'}:3:11: streams.api: runner `command` needs `agent.command`; set it, e.g. "
            'command: "aider --yes --message-file {prompt_file}"') in proc.stdout.splitlines()
    assert "streams.ui" not in proc.stdout
    fixed = zones.replace("  runner: command\n", "  runner: command\n  command: 'true'\n")
    write_files(repo, {"zones.yaml": fixed})
    wta(repo, "zones", check=0)


def test_zones_all_lists_every_unowned_file(tmp_path):
    files = {f"img/{i:02}.png": "" for i in range(14)} | {"src/a.py": ""}
    repo = make_repo(tmp_path / "app", "version: 1\nstreams:\n  api:\n    paths: [src/**]\n", files)
    short = wta(repo, "zones", check=0).stdout
    assert "unowned (14, no stream may change them): img/00.png" in short
    assert "and 4 more (--all lists them)" in short and "img/13.png" not in short
    every = wta(repo, "zones", "--all", check=0).stdout
    unowned = every.split("unowned (14, no stream may change them): ", 1)[1].strip()
    assert unowned.split(", ") == [f"img/{i:02}.png" for i in range(14)]


def test_zones_and_explain_quote_a_file_name_with_control_characters_as_git_does(tmp_path):
    """A tracked `docs/evil<ESC>[2J.md` cleared the terminal in `wta zones`'s unowned list and in `wta explain`,
    and a name with a newline split the list: each is C-quoted as `git` and `wta check-zones` quote it."""
    evil, newline = "docs/evil\x1b[2J\x1b[31m.md", "docs/new\nline.md"
    zones = "version: 1\nunowned: allow\nstreams:\n  api: {paths: [src/api/**]}\n  ui: {paths: [src/ui/**, docs/**]}\n"
    repo = make_repo(tmp_path / "app", zones.replace(", docs/**", ""),
                     {"src/api/a.py": "", "src/ui/u.js": "", "docs/x.md": "", evil: "q", newline: "q"})
    shown = wta(repo, "zones", check=0).stdout
    assert "\x1b" not in shown and "docs/new\n" not in shown
    assert ('unowned (3, any stream may change them): "docs/evil\\033[2J\\033[31m.md", "docs/new\\nline.md", '
            "docs/x.md\n") in shown
    assert json.loads(wta(repo, "zones", "--json", check=0).stdout)["unowned"] == [evil, newline, "docs/x.md"]

    explained = wta(repo, "explain", "docs", evil, newline, check=0).stdout
    assert explained.splitlines() == ["docs/: a directory of 3 tracked file(s): (unowned) 3",
                                      '"docs/evil\\033[2J\\033[31m.md": unowned', '"docs/new\\nline.md": unowned']
    assert [a["path"] for a in json.loads(wta(repo, "explain", "--json", evil, newline, check=0).stdout)] == \
        [evil, newline]

    (repo / "zones.yaml").write_text(zones + "  docs: {paths: [docs/new*]}\n")
    commit_all(repo, "overlap")
    assert ('overlap: "docs/new\\nline.md" is claimed by ui and docs; make the zones exclusive in zones.yaml'
            in wta(repo, "zones", check=1).stdout.splitlines())


def test_explain_answers_a_submodule_as_the_tracked_path_the_zone_check_owns(tmp_path):
    """`lib/child`, a submodule, was answered as a directory with no tracked file in it, while the zone check
    refuses another stream's commit of it as lib's: it is one tracked path, owned by the pattern that matches it."""
    child = make_repo(tmp_path / "child", "", {"c": "1\n"})
    repo = make_repo(tmp_path / "app", "version: 1\nunowned: allow\nstreams:\n  api: {paths: [src/api/**]}\n"
                     "  lib: {paths: [lib/**]}\n", {"src/api/a.py": ""})
    git(repo, "-c", "protocol.file.allow=always", "submodule", "add", "-q", str(child), "lib/child")
    commit_all(repo, "add a submodule")
    said = "lib/child: lib (pattern 'lib/**'); a submodule (tracked as one path: the commit checked out there)"
    assert wta(repo, "explain", "lib/child", "lib/child/", check=0).stdout.splitlines() == [said, said]
    assert wta(repo / "lib", "explain", "child", ".", check=0).stdout.splitlines() == [
        said, "lib/: a directory of 1 tracked file(s): lib 1"]
    assert json.loads(wta(repo, "explain", "--json", "lib/child", check=0).stdout) == [
        {"path": "lib/child", "stream": "lib", "pattern": "lib/**", "read_only": False, "protected": False,
         "also": [], "submodule": True}]

    write_files(repo / "lib" / "child", {"c": "2\n"})
    commit_all(repo / "lib" / "child", "bump")
    git(repo, "add", "lib/child")
    assert "lib/child: owned by stream 'lib'" in wta(repo, "check-zones", "--stream", "api", check=1).stderr


def test_explain_refuses_an_empty_path_and_gits_own_directory(webapp):
    """`wta explain ""` had explained the repository's root, and `wta explain .git/config` said unowned."""
    proc = wta(webapp, "explain", "", ".git/config", ".git", "README.md", check=2)
    assert proc.stdout == "README.md: unowned\n"
    assert proc.stderr.splitlines() == [
        "wta: '': an empty path; give a path in the working tree (. for all of it)",
        "wta: .git/config: git's own directory, not a path in the working tree; no stream can own it",
        "wta: .git: git's own directory, not a path in the working tree; no stream can own it"]


def test_explain_names_the_stream_whose_pattern_excluded_an_unowned_path(tmp_path):
    """`wta explain nope/x` said "unowned (excluded by '!/*/')" without saying whose pattern that is."""
    repo = make_repo(tmp_path / "repo", "version: 1\nstreams:\n  api:\n    paths: [api/**]\n"
                                        "  top:\n    paths: [\"/*/\", \"!/*/\"]\n", files={"api/a": "a\n"})
    assert wta(repo, "explain", "nope/x", check=0).stdout == "nope/x: unowned (excluded by '!/*/' of stream top)\n"
