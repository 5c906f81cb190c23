"""`wta guard` / `python -m worktree_agents.hooks.runtime guard`: the Claude Code
PreToolUse hook, fed the JSON Claude Code sends on stdin."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from support import add_stream_worktree, git, write_files

ENTRY_POINTS = {
    "wta": [sys.executable, "-m", "worktree_agents", "guard"],
    "hook": [sys.executable, "-m", "worktree_agents.hooks.runtime", "guard"],
}


def event(cwd: Path, tool: str, tool_input: dict) -> str:
    return json.dumps({"session_id": "s", "transcript_path": "/dev/null", "cwd": str(cwd),
                       "hook_event_name": "PreToolUse", "tool_name": tool, "tool_input": tool_input})


def run_guard(cwd: Path, tool: str, tool_input: dict, entry: str = "hook", args: tuple[str, ...] = (),
              env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([*ENTRY_POINTS[entry], *args], cwd=cwd, input=event(cwd, tool, tool_input), text=True,
                          capture_output=True, env=env, timeout=60)


def write(path: Path, content: str = "x") -> dict:
    return {"file_path": str(path), "content": content}


def denial(proc: subprocess.CompletedProcess) -> str:
    """The reason of a deny decision (fails unless the guard denied)."""
    assert proc.returncode == 0, proc.stderr
    decision = json.loads(proc.stdout)["hookSpecificOutput"]
    assert decision["hookEventName"] == "PreToolUse"
    assert decision["permissionDecision"] == "deny"
    return decision["permissionDecisionReason"]


def assert_allowed(proc: subprocess.CompletedProcess) -> None:
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", "")


@pytest.fixture
def api(webapp) -> Path:
    return add_stream_worktree(webapp, "api")


@pytest.mark.parametrize("entry", ["wta", "hook"])
@pytest.mark.parametrize("how", ["recorded", "WTA_STREAM", "--stream"])
def test_write_outside_the_zone_is_denied_and_inside_allowed(webapp, entry, how):
    # The worktree is recorded as `api` only in the "recorded" case.
    wt = webapp.parent / "agent-wt"
    git(webapp, "worktree", "add", "-q", "-b", "agent", str(wt))
    args: tuple[str, ...] = ()
    env = dict(os.environ)
    if how == "recorded":
        wta_install = [sys.executable, "-m", "worktree_agents", "hooks", "install", "--stream", "api"]
        subprocess.run(wta_install, cwd=wt, check=True, capture_output=True, timeout=60)
    elif how == "WTA_STREAM":
        env["WTA_STREAM"] = "api"
    else:
        args = ("--stream", "api")
    reason = denial(run_guard(wt, "Write", write(wt / "src/components/x.tsx"), entry, args, env))
    assert "src/components/x.tsx is owned by stream 'ui'" in reason and "'api'" in reason
    assert_allowed(run_guard(wt, "Write", write(wt / "src/lib/x.ts"), entry, args, env))


def test_relative_path_from_a_subdirectory(webapp, api):
    reason = denial(run_guard(api / "src/lib", "Write", write(Path("../components/x.tsx"))))
    assert "src/components/x.tsx" in reason and "'ui'" in reason
    assert_allowed(run_guard(api / "src/lib", "Write", write(Path("sub/new.ts"))))


def test_path_outside_the_worktree_is_denied(webapp, api):
    # The main worktree's copy of a file in api's own zone is still another worktree.
    reason = denial(run_guard(api, "Write", write(webapp / "src/lib/db.ts")))
    assert "outside this worktree" in reason
    reason = denial(run_guard(api, "Write", write(Path("../webapp/src/lib/db.ts"))))
    assert "outside this worktree" in reason


def test_symlink_leading_outside_the_worktree_is_denied(webapp, api, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    os.symlink(elsewhere, api / "src/lib/out")
    reason = denial(run_guard(api, "Write", write(api / "src/lib/out/x.ts")))
    assert "symlink" in reason and str(elsewhere) in reason


def test_symlink_in_the_zone_to_another_zones_file_is_denied(webapp, api):
    os.symlink("../components/Button.tsx", api / "src/lib/button.tsx")
    reason = denial(run_guard(api, "Write", write(api / "src/lib/button.tsx")))
    assert "src/components/Button.tsx (where" in reason and "'ui'" in reason
    # A link to a new file in another zone, too.
    os.symlink("../components/New.tsx", api / "src/lib/new.tsx")
    assert "'ui'" in denial(run_guard(api, "Write", write(api / "src/lib/new.tsx")))


def test_git_paths_are_denied(webapp, api):
    for path in (api / ".git", api / ".git/hooks/pre-commit", webapp / ".git/hooks/pre-commit"):
        denial(run_guard(api, "Write", write(path)))
    assert "git's own data" in denial(run_guard(api, "Write", write(api / "src/lib/.git/config")))


def test_edit_and_notebook_edit_outside_the_zone_are_denied(webapp, api):
    edit = {"file_path": str(api / "src/components/Button.tsx"), "old_string": "null", "new_string": "1"}
    assert "'ui'" in denial(run_guard(api, "Edit", edit))
    multi = {"file_path": str(api / "src/app/page.tsx"), "edits": [{"old_string": "null", "new_string": "1"}]}
    assert "'ui'" in denial(run_guard(api, "MultiEdit", multi))
    notebook = {"notebook_path": str(api / "docs/specs/analysis.ipynb"), "new_source": "x", "cell_id": "a"}
    assert "read-only" in denial(run_guard(api, "NotebookEdit", notebook))
    in_zone = {"notebook_path": str(api / "src/lib/analysis.ipynb"), "new_source": "x", "cell_id": "a"}
    assert_allowed(run_guard(api, "NotebookEdit", in_zone))


def test_zones_yaml_is_denied(webapp, api):
    assert "zones.yaml" in denial(run_guard(api, "Write", write(api / "zones.yaml")))


def test_append_only_zone_allows_extending_and_denies_rewriting(webapp):
    monitor = add_stream_worktree(webapp, "monitor")
    notes = monitor / "ai-agents/memory/notes.md"
    assert_allowed(run_guard(monitor, "Write", write(notes, "first note\nsecond note\nthird note\n")))
    reason = denial(run_guard(monitor, "Write", write(notes, "first note\nEDITED\nthird note\n")))
    assert "append-only" in reason and "ai-agents/memory/notes.md" in reason
    append = {"file_path": str(notes), "old_string": "second note\n", "new_string": "second note\nthird\n"}
    assert_allowed(run_guard(monitor, "Edit", append))
    rewrite = {"file_path": str(notes), "old_string": "first", "new_string": "1st"}
    assert "append-only" in denial(run_guard(monitor, "Edit", rewrite))
    assert_allowed(run_guard(monitor, "Write", write(monitor / "ai-agents/memory/new.md", "anything")))


def test_non_edit_tools_pass(webapp, api):
    for tool, tool_input in (("Bash", {"command": "echo x > src/components/x.tsx"}),
                             ("Read", {"file_path": str(api / "src/components/Button.tsx")})):
        assert_allowed(run_guard(api, tool, tool_input))


def test_no_stream_no_guard(webapp, api):
    assert_allowed(run_guard(webapp, "Write", write(webapp / "src/components/x.tsx")))


def test_stream_unknown_to_zones_is_denied(webapp, api):
    env = {**os.environ, "WTA_STREAM": "ghost"}
    reason = denial(run_guard(api, "Write", write(api / "src/lib/x.ts"), env=env))
    assert "'ghost'" in reason and "main:zones.yaml" in reason
    assert_allowed(run_guard(api, "Bash", {"command": "ls"}, env=env))


@pytest.mark.parametrize("entry", ["wta", "hook"])
def test_bad_input_blocks_with_one_line(webapp, api, entry):
    proc = subprocess.run(ENTRY_POINTS[entry], cwd=api, input="not json", text=True, capture_output=True,
                          timeout=60)
    assert proc.returncode == 2 and proc.stdout == ""
    assert len(proc.stderr.strip().splitlines()) == 1 and "PreToolUse" in proc.stderr


def test_written_file_is_judged_where_it_lands_not_where_the_agent_stands(webapp, api):
    write_files(api, {"src/components/sub/keep.tsx": "k\n"})
    reason = denial(run_guard(api / "src/components/sub", "Write", write(Path("../../lib/../components/y.tsx"))))
    assert "src/components/y.tsx" in reason


def test_guard_command_is_not_shadowed_by_files_in_the_worktree(webapp, api):
    from worktree_agents.hooks.install import guard_command

    write_files(api, {"json.py": "raise SystemExit(0)\n", "worktree_agents/__init__.py": "raise SystemExit(0)\n"})
    proc = subprocess.run(guard_command("api"), shell=True, cwd=api, text=True, capture_output=True, timeout=60,
                          input=event(api, "Write", write(api / "src/components/x.tsx")))
    assert "'ui'" in denial(proc)
