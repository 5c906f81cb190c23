"""Files that change other zones' files: `.gitattributes` and `.gitignore`.

The rule (docs/zones.md): changing an attributes or ignore file touches every
path it can affect, that is every path below its directory. A stream may change
one only where every path below it can only be its own; otherwise the change
is refused at commit (the pre-commit hook) and at merge (verification), naming
the file and whose paths it reaches.

The attack shapes: an outer zone (`src/**` minus `src/api/**`) puts a
`.gitattributes` in `src/` that re-encodes the inner zone's files at checkout
and in `git archive`, or a `.gitignore` that hides the inner zone's new files
(which `wta down` then deleted as if there were no work). `wta down` now
names ignored files in a zone that an ignore file the stream does not own
hides, and keeps the worktree unless --force.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from support import add_stream_worktree, commit_all, git, make_repo, wta, write_files

ZONES = """version: 1
base: main
branch_prefix: wta/
unowned: deny
streams:
  web:
    paths: [src/**, "!src/api/**"]
  api:
    paths: [src/api/**]
"""
FILES = {"README.md": "# rules\n", "src/app.py": "app = 1\n", "src/api/handler.py": "def handle():\n    return 1\n"}
ATTACKS = {
    "gitattributes": ("src/.gitattributes", "api/** working-tree-encoding=UTF-16\n"),
    "gitignore": ("src/.gitignore", "api/new/\n"),
}


@pytest.fixture
def rules_repo(tmp_path) -> Path:
    repo = make_repo(tmp_path / "repo", ZONES, FILES)
    for stream in ("web", "api"):
        add_stream_worktree(repo, stream)
    return repo


def worktree(repo: Path, stream: str) -> Path:
    return repo.parent / f"repo-{stream}"


def head(where: Path, rev: str = "HEAD") -> str:
    return git(where, "rev-parse", rev).stdout.strip()


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_an_outer_zone_rule_file_is_refused_at_commit(rules_repo, attack):
    web = worktree(rules_repo, "web")
    path, text = ATTACKS[attack]
    write_files(web, {path: text})
    before = head(web)

    git(web, "add", path)
    proc = git(web, "commit", "-q", "-m", f"add {path}", check=False)

    assert proc.returncode != 0
    assert path in proc.stderr and "its rules apply to every path below it" in proc.stderr, proc.stderr
    assert head(web) == before


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_an_outer_zone_rule_file_is_refused_at_merge(rules_repo, attack):
    web = worktree(rules_repo, "web")
    path, text = ATTACKS[attack]
    write_files(web, {path: text, "src/app.py": "app = 2\n"})
    git(web, "add", path, "src/app.py")  # not `add -A`: the attributes would re-encode api's files in the index
    git(web, "commit", "-q", "--no-verify", "-m", f"[web] add {path}")
    bad = head(web)
    base, reachable = head(rules_repo, "main"), set(git(rules_repo, "rev-list", "--all").stdout.split())

    predicted = json.loads(wta(rules_repo, "merge", "--dry-run", "--json", check=1).stdout)
    done = wta(rules_repo, "merge", check=1)

    web_result = next(s for s in predicted["streams"] if s["stream"] == "web")
    assert web_result["result"] == "verification-failed" and path in web_result["files"]
    line = next(line for line in done.stderr.splitlines() if path in line)
    assert line.strip().startswith(f"{bad[:12]} {path}: its rules apply to every path below it"), line
    assert head(rules_repo, "main") == base
    assert reachable <= set(git(rules_repo, "rev-list", "--all").stdout.split())
    wta(rules_repo, "merge", "--abort", check=0)


def test_a_rule_file_the_zone_owns_entirely_is_accepted(rules_repo):
    api = worktree(rules_repo, "api")
    write_files(api, {"src/api/.gitattributes": "*.py text eol=lf\n", "src/api/.gitignore": "__pycache__/\n"})
    commit_all(api, "rules for its own files")  # through the hooks

    wta(rules_repo, "merge", "--no-test", check=0)

    assert git(rules_repo, "log", "-1", "--format=%s", "main").stdout.strip() == "[api] rules for its own files"


def test_down_keeps_work_another_zones_ignore_file_hides(tmp_path):
    repo = make_repo(tmp_path / "repo", ZONES, {**FILES, "src/.gitignore": "api/new/\n", ".gitignore": "build/\n"})
    api = add_stream_worktree(repo, "api")
    write_files(api, {"src/api/new/work.py": "precious = True\n", "src/api/build/out.o": "rebuilt\n"})
    assert git(api, "status", "--porcelain").stdout == ""  # git shows nothing: the new file is ignored

    kept = wta(repo, "down", "api", check=1)

    assert "src/api/new/ (ignored)" in kept.stdout and "src/api/build" not in kept.stdout, kept.stdout
    assert (api / "src/api/new/work.py").read_text() == "precious = True\n"

    wta(repo, "down", "api", "--force", check=0)
    assert not api.exists()


def test_down_removes_a_worktree_whose_ignored_files_are_build_output(tmp_path):
    repo = make_repo(tmp_path / "repo", ZONES, {**FILES, ".gitignore": "build/\n"})
    api = add_stream_worktree(repo, "api")
    write_files(api, {"src/api/build/out.o": "rebuilt\n"})

    wta(repo, "down", "api", check=0)

    assert not api.exists()
