"""zones.yaml (`config.py`): defaults, derived views, and every configuration error.

`tests/bad_zones/NN-name.yaml` is a corpus of broken files; each starts with
`# expect: <text>`, a text the error must contain. Every one goes through the
real `wta zones` in a fresh repository: exit 2, no traceback, one
`file:line:column:` line per problem, nothing created.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from support import git, wta
from worktree_agents.config import Agent, Config, ConfigError, format_duration, load, load_text
from worktree_agents.errors import USAGE, WtaError

CORPUS = sorted((Path(__file__).resolve().parent.parent / "bad_zones").glob("*.yaml"))
LOCATED = re.compile(r"^wta: (?P<path>.+?):(?P<line>\d+):(?P<col>\d+): (?P<text>.+)$")

# The exact line of the (first) problem, for a representative part of the corpus
# (line 1 is the `# expect:` comment).
EXACT_LINES = {
    "01-bad-indentation.yaml": 6,
    "03-unclosed-quote.yaml": 5,       # the opening quote, not the end of the file
    "04-tab-indentation.yaml": 4,
    "05-duplicate-top-key.yaml": 4,    # the second `base:`
    "06-duplicate-stream.yaml": 6,
    "08-list-not-mapping.yaml": 2,
    "13-version-2.yaml": 2,
    "18-unknown-key-brnach-prefix.yaml": 3,
    "20-unknown-stream-key-pahts.yaml": 6,
    "21-unknown-agent-key.yaml": 5,
    "23-paths-string.yaml": 5,
    "30-max-turns-bool.yaml": 4,
    "40-empty-zone.yaml": 5,
    "41-only-negations.yaml": 5,
    "45-dotdot-segment.yaml": 5,
    "48-stream-uppercase.yaml": 4,
    "53-after-unknown.yaml": 6,
    "56-after-cycle-3.yaml": 6,
    "60-duration-fraction.yaml": 4,
    "66-base-port-too-big.yaml": 3,
    "71-prompt-and-prompt-file.yaml": 7,
    "72-check-without-run.yaml": 4,
}


def expectation(path: Path) -> str:
    first = path.read_text().splitlines()[0]
    assert first.startswith("# expect: "), f"{path.name}: first line must be `# expect: <text>`"
    return first[len("# expect: "):]


def test_corpus_is_complete():
    assert len(CORPUS) >= 45
    assert len({p.name[:2] for p in CORPUS}) == len(CORPUS)
    assert set(EXACT_LINES) <= {p.name for p in CORPUS}


@pytest.mark.parametrize("bad", CORPUS, ids=[p.stem for p in CORPUS])
def test_bad_zones_file_is_reported_by_wta_zones(tmp_path, bad):
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    text = bad.read_text()
    (repo / "zones.yaml").write_text(text)
    (repo / "README.md").write_text("hello\n")
    before = git(repo, "status", "--porcelain", "--untracked-files=all").stdout

    proc = wta(repo, "zones")

    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == ""
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr
    assert expectation(bad) in proc.stderr
    lines = proc.stderr.splitlines()
    assert lines
    n_lines = len(text.splitlines())
    for line in lines:
        m = LOCATED.match(line)
        assert m, f"not a `file:line:col:` line: {line!r}"
        assert os.path.samefile(m["path"], repo / "zones.yaml")
        assert 1 <= int(m["line"]) <= max(n_lines, 1) + 1, line
        assert int(m["col"]) >= 1
    found = [int(LOCATED.match(line)["line"]) for line in lines]
    assert found == sorted(found)
    if bad.name in EXACT_LINES:
        assert found[0] == EXACT_LINES[bad.name], lines
    assert not (repo / ".git" / "wta").exists()
    assert git(repo, "status", "--porcelain", "--untracked-files=all").stdout == before


def test_absolute_repository_path_is_rejected_with_the_relative_fix(tmp_path):
    root = tmp_path / "repo"
    text = f"version: 1\nstreams:\n  api:\n    paths: [src/**, '{root}/lib/**']\nread_only: ['{root}']\n"
    with pytest.raises(ConfigError) as caught:
        load_text(text, "zones.yaml", repo_root=root)
    assert caught.value.problems == [
        f"zones.yaml:4:21: streams.api.paths[1]: pattern '{root}/lib/**' spells out the repository's absolute "
        "location; write it relative to the repository root (lib/**)",
        f"zones.yaml:5:13: read_only[0]: pattern '{root}' spells out the repository's absolute location; "
        "write it relative to the repository root (**)",
    ]
    # Without the repository's location, a leading '/' is just gitignore's root anchor.
    assert load_text(text, "zones.yaml").streams["api"].paths[1] == f"{root}/lib/**"


def test_absolute_copy_entry_inside_the_repository_is_rejected_with_the_relative_fix(tmp_path):
    """`copy: [<repo>/.env.local]` had passed, and wta up then said it was not in the main worktree."""
    root = tmp_path / "repo"
    text = f"version: 1\ncopy: ['{root}/.env.local']\nstreams:\n  api:\n    paths: [src/**]\n"
    with pytest.raises(ConfigError) as caught:
        load_text(text, "zones.yaml", repo_root=root)
    assert caught.value.problems == [f"zones.yaml:2:8: copy[0]: '{root}/.env.local' is an absolute path; write it "
                                     "relative to the repository root (.env.local)"]
    # A leading `/` alone is the repository's top, as in a pattern: kept as it was read before.
    anchored = "version: 1\ncopy: [/.env.local]\nstreams:\n  api:\n    paths: [src/**]\n"
    assert load_text(anchored, "zones.yaml", repo_root=root).copy_ == ["/.env.local"]


def test_absolute_path_through_a_symlink_is_rejected(tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "link").symlink_to(real)
    text = f"version: 1\nstreams:\n  api:\n    paths: ['{real}/src/**']\n"
    with pytest.raises(ConfigError, match="absolute location"):
        load_text(text, "zones.yaml", repo_root=tmp_path / "link")


def test_all_problems_at_once_one_line_each_sorted_by_line():
    text = (
        "version: 1\n"
        "max_parallel: 0\n"             # 2
        "streams:\n"
        "  api:\n"
        "    paths: [src/**]\n"
        "    after: [nobody]\n"          # 6
        "  UI:\n"                        # 7
        "    paths: [ui/**]\n"
        "  docs:\n"
        "    paths: []\n"                # 10
        "stall_after: 30\n"              # 11
    )
    with pytest.raises(ConfigError) as caught:
        load_text(text, "z.yaml")
    problems = caught.value.problems
    assert [p.split(":")[1] for p in problems] == ["2", "6", "7", "10", "11"]
    assert [p.split(": ", 2)[1] for p in problems] == [
        "max_parallel", "streams.api.after[0]", "streams.UI", "streams.docs.paths", "stall_after"]
    assert str(caught.value) == "\n".join(problems)
    assert caught.value.exit_code == USAGE and isinstance(caught.value, WtaError)


def test_a_misspelt_required_key_is_one_line_the_unknown_key_with_its_fix_not_also_missing(tmp_path):
    """`path:` for `paths:` gave two lines per stream, the first telling to add `paths:` as if the stream had
    none; `versoin:` gave `version: missing` besides. Each is now the one line that names the typo."""
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "zones.yaml").write_text("versoin: 1\nstreams:\n  api:\n    path: [src/**]\n"
                                     "  ui:\n    paths: [ui/**]\n  web:\n    agent: {}\n")

    proc = wta(repo, "zones", check=2)

    zones = repo / "zones.yaml"
    assert proc.stderr.splitlines() == [
        f"wta: {zones}:1:1: versoin: unknown key `versoin`; did you mean `version`?",
        f"wta: {zones}:4:5: streams.api.path: unknown key `path`; did you mean `paths`?",
        f"wta: {zones}:8:5: streams.web.paths: missing; give the stream a zone, e.g. `paths: [src/web/**]`",
    ], proc.stderr
    assert not (repo / ".git" / "wta").exists()


def test_truly_empty_file():
    for text in ("", "\n\n", "# only a comment\n"):
        with pytest.raises(ConfigError) as caught:
            load_text(text, "zones.yaml")
        assert caught.value.problems == ["zones.yaml:1:1: the file is empty; write `version: 1` and `streams:` "
                                         "(`wta init --force` writes a starter file)"]


MINIMAL = "version: 1\nstreams:\n  api:\n    paths: [src/**]\n"


def test_every_default():
    c = load_text(MINIMAL)
    assert c.version == 1
    assert c.base is None
    assert c.branch_prefix == "wta/"
    assert c.worktrees == "../{repo}-worktrees/{stream}"
    assert c.unowned == "deny"
    assert c.read_only == []
    assert c.copy_ == []
    assert c.setup == []
    assert c.test is None
    assert c.max_parallel == 4
    assert c.sparse is False
    assert c.base_port == 4100
    assert c.stall_after == 30 * 60
    assert c.checks == []
    assert c.notify is None
    assert (c.agent.runner, c.agent.model, c.agent.max_turns, c.agent.timeout, c.agent.command) == (
        "claude", "claude-sonnet-4-6", 60, 2 * 3600, None)
    s = c.streams["api"]
    assert (s.paths, s.after, s.prompt, s.prompt_file, s.agent, s.append_only) == (
        ["src/**"], [], None, None, None, False)


def test_the_spec_example_loads_with_every_key():
    c = load(Path(__file__).resolve().parent.parent.parent / "examples" / "webapp" / "zones.yaml")
    assert list(c.streams) == ["infra", "api", "ui", "monitor"]
    assert c.copy_ == [".env.local"] and c.setup == ["npm ci"] and c.test == "npm test"
    assert (c.checks[0].name, c.checks[0].every, c.checks[0].timeout) == ("dev-server", 120, 30)
    assert c.streams["monitor"].append_only is True
    assert c.streams["api"].prompt_file == "prompts/api.md"


def test_durations_and_single_strings():
    c = load_text("version: 1\nstall_after: 90s\nread_only: docs/**\nsetup: npm ci\ncopy: .env\n"
                  "agent: {timeout: 45m}\nstreams:\n  api:\n    paths: [src/**]\n")
    assert (c.stall_after, c.agent.timeout) == (90, 45 * 60)
    assert (c.read_only, c.setup, c.copy_) == (["docs/**"], ["npm ci"], [".env"])
    assert [format_duration(s) for s in (90, 1800, 7200, 3601)] == ["90s", "30m", "2h", "3601s"]


def test_stream_names_yaml_would_turn_into_booleans_or_numbers_stay_names():
    c = load_text("version: 1\nstreams:\n  on:\n    paths: [a/**]\n  2024:\n    paths: [b/**]\n"
                  "  no:\n    paths: [c/**]\n    after: ['on', '2024']\n")
    assert list(c.streams) == ["on", "2024", "no"]
    assert c.order() == ["on", "2024", "no"]
    assert c.branch_for("2024") == "wta/2024"
    with pytest.raises(ConfigError) as caught:
        load_text("version: 1\nstreams:\n  on:\n    paths: [a/**]\n  b:\n    paths: [b/**]\n    after: [on]\n")
    assert caught.value.problems == [
        "zones.yaml:7:13: streams.b.after[0]: expected a string, got bool (True); put it in quotes "
        "(YAML reads bare yes/no/on/off/true/false and numbers as non-strings)"]


def test_version_must_be_the_integer_one():
    for value in ("true", "1.0", "'1'", "2"):
        with pytest.raises(ConfigError, match="version"):
            load_text(f"version: {value}\nstreams:\n  api:\n    paths: [src/**]\n")


def test_order_puts_after_dependencies_first_then_file_order():
    c = load_text("version: 1\nstreams:\n"
                  "  ui:\n    paths: [ui/**]\n    after: [api]\n"
                  "  docs:\n    paths: [docs/**]\n"
                  "  api:\n    paths: [api/**]\n    after: [infra]\n"
                  "  infra:\n    paths: [infra/**]\n"
                  "  e2e:\n    paths: [e2e/**]\n    after: [ui, docs]\n")
    order = c.order()
    assert order == ["docs", "infra", "api", "ui", "e2e"]
    for name, stream in c.streams.items():
        assert all(order.index(dep) < order.index(name) for dep in stream.after)
    assert load_text(MINIMAL.replace("api", "b") + "  a:\n    paths: [x/**]\n").order() == ["b", "a"]


def test_agent_for_merges_stream_overrides_over_defaults():
    c = load_text("version: 1\nagent:\n  runner: api\n  model: claude-opus-4\n  timeout: 1h\n"
                  "streams:\n"
                  "  api:\n    paths: [api/**]\n"
                  "  ui:\n    paths: [ui/**]\n    agent: {model: claude-haiku-4-5, max_turns: 10}\n"
                  "  ops:\n    paths: [ops/**]\n    agent: {runner: command, command: 'aider {prompt_file}'}\n")
    api, ui, ops = c.agent_for("api"), c.agent_for("ui"), c.agent_for("ops")
    assert isinstance(api, Agent)
    assert (api.runner, api.model, api.max_turns, api.timeout) == ("api", "claude-opus-4", 60, 3600)
    assert (ui.runner, ui.model, ui.max_turns, ui.timeout) == ("api", "claude-haiku-4-5", 10, 3600)
    assert (ops.runner, ops.command, ops.model) == ("command", "aider {prompt_file}", "claude-opus-4")
    assert c.agent.model == "claude-opus-4"     # the defaults themselves are untouched


def test_branch_for_and_zone_map():
    c = load_text("version: 1\nbranch_prefix: agents/\nread_only: [docs/**]\nunowned: allow\nstreams:\n"
                  "  api:\n    paths: [src/**, '!src/ui/**']\n  ui:\n    paths: [src/ui/**]\n    append_only: true\n")
    assert c.branch_for("api") == "agents/api"
    zones = c.zone_map()
    assert zones.owner_of("src/x.py").stream == "api"
    assert zones.owner_of("src/ui/a.tsx").stream == "ui"
    assert zones.owner_of("docs/a.md").read_only is True
    assert zones.unowned_allowed is True and zones.zones["ui"].append_only is True


def test_config_is_frozen():
    c = load_text(MINIMAL)
    with pytest.raises(Exception):
        c.max_parallel = 8  # type: ignore[misc]
    assert isinstance(c, Config) and c.max_parallel == 4


def test_load_missing_and_unreadable_files(tmp_path):
    with pytest.raises(WtaError) as caught:
        load(tmp_path / "zones.yaml")
    assert str(caught.value) == (f"{tmp_path / 'zones.yaml'}: not found; write a starter with `wta init`, "
                                 "then commit it on the base branch")
    (tmp_path / "zones.yaml").write_bytes(b"version: 1\nstreams: \xff\n")
    with pytest.raises(WtaError, match="cannot read it"):
        load(tmp_path / "zones.yaml")


def test_load_reports_the_path_it_was_given(tmp_path):
    path = tmp_path / "zones.yaml"
    path.write_text("version: 1\nstremas: {}\n")
    with pytest.raises(ConfigError) as caught:
        load(path)
    assert all(p.startswith(f"{path}:") for p in caught.value.problems)


def test_the_model_holds_exactly_the_schema_s_keys():
    """model.py's objects are built from the schema's validated values: the same fields, each class."""
    import dataclasses

    from worktree_agents.config import model, schema
    for plain, validating in ((model.Config, schema.ConfigSchema), (model.Stream, schema.StreamSchema),
                              (model.Agent, schema.AgentSchema), (model.AgentSettings, schema.AgentSettingsSchema),
                              (model.Check, schema.CheckSchema)):
        assert [f.name for f in dataclasses.fields(plain)] == list(validating.model_fields), plain.__name__


# What a process that loads zones.yaml through the cache imported, and what it read.
LOAD_THROUGH_CACHE = """
import json, sys
from worktree_agents.config import ConfigError, load
from worktree_agents.config.loading import save_validated
try:
    c = load(sys.argv[1], cache=sys.argv[2])
    save_validated()
    read = {"max_parallel": c.max_parallel, "paths": c.streams["api"].paths, "timeout": c.agent_for("api").timeout}
except ConfigError as exc:
    read = {"error": str(exc)}
print(json.dumps({"read": read, "imported": sorted({m.split(".")[0] for m in sys.modules} & {"pydantic", "yaml"})}))
"""


def test_a_zones_yaml_validated_before_is_read_back_without_yaml_or_pydantic(tmp_path):
    import json
    import subprocess
    import sys

    path, cache = tmp_path / "zones.yaml", tmp_path / "config.cache"

    def read(text: str | None = None) -> dict:
        if text is not None:
            path.write_text(text)
        proc = subprocess.run([sys.executable, "-c", LOAD_THROUGH_CACHE, str(path), str(cache)],
                              capture_output=True, text=True, timeout=60, cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout)

    first = read(MINIMAL + "max_parallel: 3\n")
    assert first == {"read": {"max_parallel": 3, "paths": ["src/**"], "timeout": 7200},
                     "imported": ["pydantic", "yaml"]}
    assert cache.exists()
    assert read() == {**first, "imported": []}                       # the same text: from the cache
    changed = read(MINIMAL + "max_parallel: 5\nagent:\n  timeout: 30m\n")
    assert changed["read"]["max_parallel"] == 5 and changed["read"]["timeout"] == 1800
    assert changed["imported"] == ["pydantic", "yaml"]                # another text: validated again
    broken = read(MINIMAL + "max_parallel: 0\n")                      # never from a cache, never cached
    assert broken["read"]["error"].startswith(f"{path}:5:")
    assert read()["read"]["error"] == broken["read"]["error"]
    cache.write_bytes(b"not marshal at all")                          # damaged: validated again
    assert read(MINIMAL)["read"]["max_parallel"] == 4
    assert read()["imported"] == []


def test_a_branch_prefix_without_a_folder_is_allowed_where_nothing_is_sandboxed():
    """Refused with a sandbox (a sandboxed agent may write its branch's folder of ref files, which would
    hold the base: tests/bad_zones/81); without one, nothing writes there but git."""
    c = load_text("version: 1\nsandbox: off\nbranch_prefix: agent-\nstreams:\n  api:\n    paths: [src/api/**]\n")
    assert c.branch_for("api") == "agent-api"
