"""The api runner's file tools: confined to the worktree, writes confined to the zone."""

from __future__ import annotations

import os

import pytest

from support import add_stream_worktree, commit_all, git, make_repo
from worktree_agents.sessions.workspace import ToolError, Workspace

ZONES = "version: 1\nstreams:\n  api:\n    paths: [src/api/**]\n  ui:\n    paths: [src/ui/**]\n"
FILES = {"README.md": "# app\n", "src/api/handler.py": "def handle():\n    return 'ok'\n",
         "src/ui/page.html": "<p>hi</p>\n"}


@pytest.fixture
def workspace(tmp_path) -> Workspace:
    repo = make_repo(tmp_path / "repo", ZONES, FILES)
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "secret.txt").write_text("not yours\n")
    worktree = add_stream_worktree(repo, "api")
    os.symlink(tmp_path / "outside", worktree / "src" / "api" / "escape")
    commit_all(worktree, "a symlink that leads out of the worktree")
    return Workspace(str(worktree), "api")


@pytest.mark.parametrize("path, why", [
    ("/etc/passwd", "absolute paths are refused"),
    ("src/../../outside/secret.txt", "'..' is refused"),
    ("src/api/escape/secret.txt", "leads out of the worktree through a symlink"),
    (".git/config", "git's own data"),
])
def test_paths_leading_out_are_refused_for_reading_and_writing(workspace, tmp_path, path, why):
    with pytest.raises(ToolError, match=why):
        workspace.read_file(path)
    with pytest.raises(ToolError, match=why):
        workspace.write_file(path, "x")
    assert (tmp_path / "outside" / "secret.txt").read_text() == "not yours\n"
    assert git(workspace.root, "status", "--porcelain").stdout == ""


def test_a_write_outside_the_zone_names_the_owner_and_changes_nothing(workspace):
    with pytest.raises(ToolError, match="src/ui/page.html is owned by stream 'ui'"):
        workspace.write_file("src/ui/page.html", "mine now\n")
    with pytest.raises(ToolError, match="unowned"):
        workspace.edit_file("README.md", "# app", "# mine")
    assert git(workspace.root, "status", "--porcelain").stdout == ""


def test_read_list_search_write_and_edit_inside_the_zone(workspace):
    assert "src/api/handler.py" in workspace.list_files("src").splitlines()
    assert ".git" not in workspace.list_files()
    assert workspace.search("return", "src") == "src/api/handler.py:2:     return 'ok'"
    assert workspace.search("(unbalanced") == "(no matches)"  # not a regex: searched literally
    workspace.write_file("src/api/new/route.py", "ROUTE = 1\n")
    assert workspace.read_file("src/api/new/route.py") == "ROUTE = 1\n"
    workspace.edit_file("src/api/handler.py", "'ok'", "'fine'")
    assert "'fine'" in workspace.read_file("src/api/handler.py")
    with pytest.raises(ToolError, match="old_string not found"):
        workspace.edit_file("src/api/handler.py", "'ok'", "'x'")


def test_commit_takes_the_zone_prefixes_the_message_and_runs_the_hooks(workspace):
    workspace.write_file("src/api/a.py", "A = 1\n")
    (open(os.path.join(workspace.root, "src/ui/page.html"), "a")).write("edited by hand\n")
    answer = workspace.commit("add a")
    assert answer.startswith("committed 1 path(s) as ") and answer.endswith("(outside your zone): src/ui/page.html")
    assert git(workspace.root, "log", "-1", "--format=%s").stdout.strip() == "[api] add a"
    assert git(workspace.root, "show", "--name-only", "--format=", "HEAD").stdout.split() == ["src/api/a.py"]
    assert workspace.commit("again") == "nothing to commit; not committed (outside your zone): src/ui/page.html"
    workspace.write_file("src/api/b.py", "B = 1\n")
    with pytest.raises(ToolError, match=r"starts with \[ui\]"):
        workspace.commit("[ui] not mine")


def test_an_api_key_in_a_commit_message_stays_out_of_history(workspace):
    """The api runner's `commit` tool: a key the model put in the message had reached the commit and the
    reflog, which SPEC promises keys never reach."""
    key = "sk-ant-api03-wtaTEST-commit-0123456789abcdef"
    workspace.write_file("src/api/handler.py", "def handle():\n    return 'rotated'\n")
    workspace.commit(f"rotate {key}")
    message = git(workspace.root, "log", "-1", "--format=%B").stdout
    assert message.startswith("[api] rotate [redacted]") and key not in message
    assert key not in git(workspace.root, "reflog", "-1").stdout
