"""The pre-commit hook's shell path (hooks/pre-commit-check): a commit whose every path lies
below one of its stream's own directories (zones.fast) goes through without Python; anything
else is decided by Python, exactly as without that path.

Which path a commit took is read from PYTHONPROFILEIMPORTTIME=1: every Python started under it
(here: the hooks git runs) lists its imports on stderr.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from support import add_stream_worktree, commit_all, git, make_repo, write_files, wta

PROFILED = {**os.environ, "PYTHONPROFILEIMPORTTIME": "1"}


def commit(worktree, files: dict[str, str], message: str = "change") -> subprocess.CompletedProcess:
    write_files(worktree, files)
    git(worktree, "add", "-A")
    return git(worktree, "commit", "-q", "-m", message, check=False, env=PROFILED)


def started_python(proc: subprocess.CompletedProcess) -> bool:
    return "import time:" in proc.stderr


def fast_file(repo) -> str:
    return (repo / ".git" / "wta" / "zones.fast").read_text()


def test_a_commit_below_the_streams_own_directories_starts_no_python(webapp):
    api = add_stream_worktree(webapp, "api")
    head = git(api, "rev-parse", "HEAD").stdout.strip()
    assert "api src/app/api src/lib !tailwind.config.ts\n" in fast_file(webapp)
    proc = commit(api, {"src/lib/cache.ts": "c\n", "src/app/api/v1/users/route.ts": "r\n", "src/lib/a b.ts": "s\n",
                        "src/lib/*.ts": "glob characters stay as they are\n", "src/lib/[x]?.ts": "g\n"}, "add a cache")
    assert proc.returncode == 0, proc.stderr
    assert not started_python(proc)
    assert git(api, "log", "-1", "--format=%s").stdout.strip() == "[api] add a cache"
    assert git(api, "rev-parse", "HEAD~1").stdout.strip() == head


@pytest.mark.parametrize("stream, files, allowed", [
    ("api", {"src/components/Stolen.tsx": "x\n"}, False),            # another zone's
    ("api", {"src/lib/x.ts": "x\n", "src/components/Stolen.tsx": "x\n"}, False),   # one of them
    ("api", {"src/lib/tailwind.config.ts": "x\n"}, False),           # ui's name, at any depth: an overlap
    ("api", {"src/lib/tailwind.config.ts/x.ts": "x\n"}, False),      # a directory of that name
    ("api", {"src/lib/.gitignore": "x\n"}, True),                    # whose rules reach, Python works out
    ("api", {"src/lib/\u00e9.ts": "x\n"}, True),                     # non-ASCII: git quotes it
    ("api", {"src/lib/tab\there.ts": "x\n"}, True),                  # a tab: quoted too
    ("api", {"zones.yaml": "version: 1\n"}, False),
    ("api", {"docs/specs/new.md": "x\n"}, False),                    # read_only
    ("api", {"src/libx/a.ts": "x\n"}, False),                        # a directory that only starts alike
    ("infra", {"ai-agents/tool.md": "x\n"}, True),                   # infra's own `!`: no own directory
    ("infra", {"ai-agents/memory/x.md": "x\n"}, False),
])
def test_every_other_commit_is_decided_by_python(webapp, stream, files, allowed):
    worktree = add_stream_worktree(webapp, stream)
    head = git(worktree, "rev-parse", "HEAD").stdout.strip()
    proc = commit(worktree, files)
    assert started_python(proc)
    assert (proc.returncode == 0) == allowed, proc.stderr
    moved = git(worktree, "rev-parse", "HEAD").stdout.strip() != head
    assert moved == allowed
    if not allowed:
        assert "outside its zone" in proc.stderr


GLOB_ZONES = """version: 1
base: main
read_only: ["**/generated/**"]
streams:
  api:
    paths: [src/api/**]
  docs:
    paths: ["**/*.md"]
"""


@pytest.mark.parametrize("path, shell, allowed", [
    ("src/api/routes.ts", True, True),
    ("src/api/notes.mdx", True, True),             # not `*.md`
    ("src/api/README.md", False, False),           # docs' too: an overlap
    ("src/api/old.md/x.ts", False, False),         # a directory so named is docs' too
    ("src/api/generated/x.ts", False, False),      # read_only
])
def test_names_other_zones_claim_anywhere_go_to_python(tmp_path, path, shell, allowed):
    repo = make_repo(tmp_path / "repo", GLOB_ZONES, {"src/api/a.ts": "a\n", "README.md": "r\n"})
    api = add_stream_worktree(repo, "api")
    assert "api src/api !*.md !generated\n" in fast_file(repo)
    proc = commit(api, {path: "x\n"})
    assert started_python(proc) != shell
    assert (proc.returncode == 0) == allowed, proc.stderr


BRACKET_ZONES = """version: 1
read_only: ["[^x]pi/secret/**", "[[:alpha:]]pi/priv/**"]
streams:
  api:
    paths: [api/**]
  ui:
    paths: [ui/**, "[^x]pi/extra/**"]
"""


@pytest.mark.parametrize("path", ["api/secret/k", "api/priv/k", "api/extra/f", "api/.gitignore"])
def test_bracket_expressions_read_as_git_reads_them_keep_paths_from_the_shell_path(tmp_path, path):
    """`[^x]` negates and `[[:alpha:]]` is a class, for git and wta's matcher; the shell path's
    directories (and the rule for .gitignore files) had been worked out with fnmatch, which reads
    neither: those commits went through the shell path, which Python (and the landing) refuses."""
    repo = make_repo(tmp_path / "repo", BRACKET_ZONES, {"api/a": "a\n", "ui/u": "u\n"})
    api = add_stream_worktree(repo, "api")
    assert "api api\n" not in fast_file(repo)
    proc = commit(api, {path: "*.log\n"})
    assert proc.returncode != 0, proc.stderr


def test_after_the_base_moves_python_checks_once_then_the_shell_again(webapp):
    api = add_stream_worktree(webapp, "api")
    assert not started_python(commit(api, {"src/lib/one.ts": "1\n"}))
    (webapp / "README.md").write_text("# webapp, moved on\n")
    tip = commit_all(webapp, "a person commits on main")
    proc = commit(api, {"src/lib/two.ts": "2\n"})
    assert proc.returncode == 0 and started_python(proc)   # zones.fast was for the old tip
    assert fast_file(webapp).splitlines()[1:3] == ["refs/heads/main", tip]
    proc = commit(api, {"src/lib/three.ts": "3\n"})
    assert proc.returncode == 0 and not started_python(proc)
    assert git(api, "log", "--format=%s", "-3").stdout.split("\n")[:3] == ["[api] change"] * 3


def test_a_landing_brings_zones_fast_to_the_new_base_at_once(webapp):
    """`wta merge` rewrites it for the base it moved: sandboxed sessions, which cannot, and every
    other stream's next commit find it current."""
    api = add_stream_worktree(webapp, "api")
    ui = add_stream_worktree(webapp, "ui")
    assert commit(api, {"src/lib/landed.ts": "l\n"}).returncode == 0
    wta(webapp, "merge", "--no-test", "api", check=0)
    tip = git(webapp, "rev-parse", "refs/heads/main").stdout.strip()
    assert git(webapp, "rev-parse", "refs/heads/wta/api").stdout.strip() == tip
    assert fast_file(webapp).splitlines()[1:3] == ["refs/heads/main", tip]
    proc = commit(ui, {"src/components/Card.tsx": "c\n"})
    assert proc.returncode == 0 and not started_python(proc)


def test_a_base_in_packed_refs_is_read_from_there(webapp):
    """A fresh clone, or a repository after `git gc`, has its branches in packed-refs only."""
    api = add_stream_worktree(webapp, "api")
    git(webapp, "pack-refs", "--all")
    assert not (webapp / ".git" / "refs" / "heads" / "main").exists()
    proc = commit(api, {"src/lib/packed.ts": "p\n"})
    assert proc.returncode == 0 and not started_python(proc)
    proc = commit(api, {"src/components/Stolen.tsx": "x\n"})
    assert proc.returncode == 1 and started_python(proc) and "src/components/Stolen.tsx" in proc.stderr
    git(api, "reset", "-q", "--hard")
    (webapp / "README.md").write_text("# webapp, moved on\n")
    commit_all(webapp, "a person commits on main")
    git(webapp, "pack-refs", "--all")           # packed again, at another tip than zones.fast's
    proc = commit(api, {"src/lib/again.ts": "a\n"})
    assert proc.returncode == 0 and started_python(proc)


@pytest.mark.parametrize("damage", ["missing", "header", "tip", "no line"])
def test_a_zones_fast_that_does_not_hold_goes_to_python(webapp, damage):
    api = add_stream_worktree(webapp, "api")
    path = webapp / ".git" / "wta" / "zones.fast"
    lines = path.read_text().splitlines()
    if damage == "missing":
        path.unlink()
    elif damage == "header":
        path.write_text("\n".join(["wta zones.fast 0", *lines[1:]]) + "\n")
    elif damage == "tip":
        path.write_text("\n".join([*lines[:2], "0" * 40, *lines[3:]]) + "\n")
    else:
        path.write_text("\n".join(line for line in lines if not line.startswith("api ")) + "\n")
    proc = commit(api, {"src/lib/x.ts": "x\n"})
    assert proc.returncode == 0 and started_python(proc)
    if damage == "missing":  # Python writes it again, and the next commit needs no Python
        assert not started_python(commit(api, {"src/lib/y.ts": "y\n"}))


def test_a_merge_under_way_goes_to_python(webapp):
    """Even when every path is the stream's own: a merge's changes are worked out by Python."""
    api = add_stream_worktree(webapp, "api")
    git(webapp, "checkout", "-q", "-b", "side")
    write_files(webapp, {"src/lib/side.ts": "s\n"})
    commit_all(webapp, "an api change on another branch")
    git(webapp, "checkout", "-q", "main")
    git(api, "merge", "-q", "--no-commit", "--no-ff", "side")
    assert (webapp / ".git" / "worktrees" / "webapp-api" / "MERGE_HEAD").exists()
    proc = git(api, "commit", "-q", "-m", "merge side", check=False, env=PROFILED)
    assert proc.returncode == 0 and started_python(proc)
    assert git(api, "rev-list", "--count", "--merges", "HEAD").stdout.strip() == "1"


def test_the_shell_and_python_agree_on_the_same_index(webapp):
    """The same staged changes, judged by the whole hook and by Python alone, get the same answer."""
    api = add_stream_worktree(webapp, "api")
    hook = git(api, "rev-parse", "--git-path", "hooks/pre-commit").stdout.strip()
    cases = [{"src/lib/ok.ts": "1\n"}, {"src/app/api/deep/er/x.ts": "1\n"}, {"src/components/x.tsx": "1\n"},
             {"README.md": "changed\n"}, {"src/lib/generated/tailwind.config.ts": "1\n"}, {"src/lib/db.ts": ""},
             {"src/lib/*": "1\n", "src/*/x": "1\n"}, {" src/lib/x.ts": "1\n"}]
    for files in cases:
        write_files(api, files)
        git(api, "add", "-A")
        whole = subprocess.run(["sh", hook], cwd=api, capture_output=True, text=True, timeout=60,
                               env={**PROFILED, "GIT_DIR": git(api, "rev-parse", "--absolute-git-dir").stdout.strip()})
        alone = subprocess.run([sys.executable, "-m", "worktree_agents.hooks.runtime", "pre-commit"], cwd=api,
                               capture_output=True, text=True, timeout=60)
        assert whole.returncode == alone.returncode, (files, whole.stderr, alone.stderr)
        # Of these, the shell passes each in-zone one itself and leaves each other one to Python, which refuses it.
        assert started_python(whole) == (whole.returncode != 0), files
        git(api, "reset", "-q", "--hard")
        git(api, "clean", "-qfd")
