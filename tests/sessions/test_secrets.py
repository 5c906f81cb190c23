"""The API key reaches every session through the environment and is written nowhere:
not in logs, session records, prompts, state, the worktrees, nor any commit."""

from __future__ import annotations

from pathlib import Path

from support import git, wta
from sessions_support import (KEY, claude_env, env, no_leftover_processes, record, session_repo,  # noqa: F401
                              state_dir, up, wait_for, worktree)
from worktree_agents.fake_anthropic import FakeAnthropic, text, tool_use

ZONES = """version: 1
agent:
  model: claude-sonnet-4-6
  timeout: 120s
streams:
  api:
    paths: [src/api/**]
    agent: {runner: api}
  ui:
    paths: [src/ui/**]
    agent: {runner: claude}
  infra:
    paths: [infra/**]
    agent:
      runner: command
      command: "echo key=$ANTHROPIC_API_KEY; env | grep ANTHROPIC; echo setup >> infra/setup.sh"
"""


def files_under(*roots: Path) -> list[Path]:
    return [p for root in roots for p in root.rglob("*") if p.is_file() and not p.is_symlink()]


def test_the_key_is_used_but_never_written_down(tmp_path, claude):
    repo = session_repo(tmp_path, ZONES)
    script = {
        "api": [[tool_use("write_file", {"path": "src/api/new.py", "content": "NEW = 1\n"})], [text("api done")]],
        "ui": [[tool_use("Write", {"file_path": str(worktree(repo, "ui") / "src/ui/new.html"), "content": "<b/>\n"})],
               [text("ui done")]],
    }
    with FakeAnthropic(script, api_key=KEY) as fake:  # refuses any other key: proves the key got through
        assert up(repo, "-d", env_=claude_env(claude, fake)).returncode == 0
        wait_for(lambda: all(record(repo, s)["state"] == "done" for s in ("api", "ui", "infra")), timeout=60)
        wait_for(lambda: "every session has ended" in (state_dir(repo) / "logs" / "coordinator.log").read_text())
    assert not [r for r in fake.requests if r.kind == "rejected"]
    assert fake.conversation_requests("api") and fake.conversation_requests("ui")
    assert "key=[redacted]" in (state_dir(repo) / "logs" / "infra.log").read_text()
    wta(repo, "status", "--json", check=0, env=env())  # a reader records what it notices, too

    written = files_under(state_dir(repo), *(worktree(repo, s) for s in ("api", "ui", "infra")))
    assert {p.name for p in written} >= {"api.log", "ui.log", "infra.log", "coordinator.log", "api.json", "ui.json"}
    leaks = [str(p) for p in written if KEY.encode() in p.read_bytes()]
    assert leaks == []
    history = git(repo, "log", "-p", "--all").stdout
    assert "[infra] wta: commit leftovers of the session" in history and KEY not in history
