"""Scale and messages: a conflict over 15,000 paths, paths with control characters, git's reasons.

- A conflict over 15,000 long paths (more than the argument list can carry)
  is reported by `wta merge` and `--dry-run`, not crashed on: the paths go to
  git through stdin.
- A path with a newline or a tab is quoted as git quotes it (C-style), so the
  report stays one line per problem.
- When git refuses, the report shows git's reason, not only its last line
  ("Aborting").
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from support import commit_all, git, make_repo, wta, write_files
from merge_support import reachable, repo, sha, subjects, wt  # noqa: F401 (fixture)
from worktree_agents import git as gitmod

CONFLICT_PATHS = 15_000
ZONES = """version: 1
base: main
branch_prefix: wta/
unowned: deny
streams:
  gen:
    paths: [gen/**]
"""


def long_path(i: int) -> str:
    # About 150 bytes each: 15,000 of them are more than the 2 MiB a command line may hold.
    return f"gen/{'directory-with-a-long-name-' * 4}{i % 40:02d}/{'file-with-a-long-name-' * 2}{i:05d}.txt"


@pytest.fixture(scope="module")
def conflicted(tmp_path_factory) -> Path:
    """A repository whose stream `gen` and whose base both changed the same 15,000 files."""
    root = tmp_path_factory.mktemp("big-conflict")
    repo = make_repo(root / "repo", ZONES, {"README.md": "# big\n",
                                            **{long_path(i): "base\n" for i in range(CONFLICT_PATHS)}})
    where = root / "repo-gen"
    git(repo, "worktree", "add", "-q", "-b", "wta/gen", str(where))
    wta(where, "hooks", "install", "--stream", "gen", check=0)
    write_files(where, {long_path(i): "stream\n" for i in range(CONFLICT_PATHS)})
    commit_all(where, "[gen] regenerate everything", "--no-verify")
    write_files(repo, {long_path(i): "base moved\n" for i in range(CONFLICT_PATHS)})
    commit_all(repo, "regenerate on the base", "--no-verify")
    return repo


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_a_conflict_over_fifteen_thousand_paths_is_reported_by_dry_run(conflicted):
    assert len("\0".join(long_path(i) for i in range(CONFLICT_PATHS))) > 2 * 1024 * 1024
    predicted = wta(conflicted, "merge", "--dry-run", "--json", check=1, timeout=600)

    assert "Traceback" not in predicted.stderr and "Argument list too long" not in predicted.stderr
    gen = json.loads(predicted.stdout)["streams"][0]
    assert gen["result"] == "conflict" and len(gen["files"]) == CONFLICT_PATHS
    assert gen["touched_by"][0]["subject"] == "regenerate on the base"
    assert f"and {CONFLICT_PATHS - 5} more" in gen["detail"]


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_a_conflict_over_fifteen_thousand_paths_is_reported_by_merge(conflicted):
    before, base, tip = reachable(conflicted), sha(conflicted, "main"), sha(conflicted, "wta/gen")

    done = wta(conflicted, "merge", check=1, timeout=600)

    assert "Traceback" not in done.stderr and "Argument list too long" not in done.stderr
    first = done.stderr.splitlines()[0]
    assert first.startswith("gen: rebasing wta/gen onto main conflicts in ") and f"and {CONFLICT_PATHS - 5} more" \
        in first, first
    assert "also changed by a commit on main" in done.stderr
    assert (sha(conflicted, "main"), sha(conflicted, "wta/gen")) == (base, tip)
    assert before <= reachable(conflicted)
    assert git(conflicted.parent / "repo-gen", "status", "--porcelain").stdout == ""
    wta(conflicted, "merge", "--abort", check=0)


def test_paths_with_control_characters_are_quoted_one_line_each(repo):
    api = wt(repo, "api")
    write_files(api, {"evil\nname.md": "x\n", "tab\there.md": "y\n"})
    commit_all(api, "[api] odd names", "--no-verify")

    predicted = wta(repo, "merge", "--dry-run", check=1)
    done = wta(repo, "merge", check=1)

    for output in (predicted.stderr, done.stderr):
        assert '"evil\\nname.md": unowned' in output and '"tab\\there.md": unowned' in output, output
        assert not any(line.startswith("name.md") for line in output.splitlines()), output
    assert subjects(repo)[0] == "[infra] add tools"  # stopped at api; the base has only infra


def test_a_refused_fast_forward_shows_gits_reason(repo):
    """An untracked file in the base's worktree that a stream adds is refused up front, naming it;
    where git itself refuses, wta shows git's reason, not its last word ("Aborting")."""
    write_files(repo, {"src/components/Nav.tsx": "an untracked file in the way\n"})  # ui adds this file

    done = wta(repo, "merge", "--no-test", check=1)

    line = next(line for line in done.stderr.splitlines() if line.startswith("ui: "))
    assert "src/components/Nav.tsx" in line and "untracked" in line, line
    assert (repo / "src/components/Nav.tsx").read_text() == "an untracked file in the way\n"
    ui_tip = git(repo, "rev-parse", "refs/heads/wta/ui").stdout.strip()
    refused = subprocess.run(["git", "merge", "--ff-only", "-q", ui_tip], cwd=repo, capture_output=True)
    assert refused.returncode != 0 and refused.stderr.decode().strip().endswith("Aborting")
    reason = gitmod.reason(refused.stderr)
    assert "untracked working tree files would be overwritten" in reason and "src/components/Nav.tsx" in reason
    assert reason.index("untracked working tree files") < reason.index("Aborting"), reason
