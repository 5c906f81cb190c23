"""The `claude` runner, driven by the real (pinned) Claude Code CLI against the fake Messages API."""

from __future__ import annotations

import json
import os
import re
import stat
import sys

from support import git, wta
from sessions_support import (KEY, claude_env, env, log_text, no_leftover_processes, record,  # noqa: F401
                              session_repo, up, wait_for, worktree, zones)
from worktree_agents.fake_anthropic import FakeAnthropic, text, tool_use

MODEL = "claude-sonnet-4-6"
# The task starts with `-`, as a Markdown list does: the CLI must take it for the task, not an option.
STREAMS = "  api:\n    paths: [src/api/**]\n    prompt: '- Say hello.'\n  ui:\n    paths: [src/ui/**]\n"
AGENT = f"  runner: claude\n  model: {MODEL}\n  max_turns: 8\n  timeout: 120s\n"


def test_the_guard_denies_an_out_of_zone_write_while_an_in_zone_write_and_a_commit_land(tmp_path, claude):
    repo = session_repo(tmp_path, zones(AGENT, STREAMS))
    api = worktree(repo, "api")
    script = {"api": [
        [text("Taking the page first."), tool_use("Write", {"file_path": str(api / "src/ui/page.html"),
                                                             "content": "taken over\n"})],
        [tool_use("Write", {"file_path": str(api / "src/api/hello.py"), "content": "HELLO = 1\n"})],
        [tool_use("Bash", {"command": "git add -A && git commit -q -m 'say hello'", "description": "Commit"})],
        [text("Hello is committed.")],
    ]}
    with FakeAnthropic(script, api_key=KEY) as fake:
        done = up(repo, "api", env_=claude_env(claude, fake))
    assert done.returncode == 0, done.stdout + done.stderr + log_text(repo, "api")[-3000:]

    session = record(repo, "api")
    assert (session["state"], session["turns"], session["result"]) == ("done", 4, "Hello is committed.")
    assert session["cost_usd"] > 0 and session["input_tokens"] > 0 and session["output_tokens"] > 0
    [denial] = session["permission_denials"]
    assert (denial["tool_name"], denial["file_path"]) == ("Write", str(api / "src/ui/page.html"))
    results = fake.tool_results("api")
    assert results[0]["is_error"] is True and "owned by stream 'ui'" in str(results[0]["content"])
    assert (api / "src/ui/page.html").read_text() == "<p>hi</p>\n"

    assert git(repo, "log", "-1", "--format=%s", "wta/api").stdout.strip() == "[api] say hello"
    assert git(repo, "diff", "--name-only", "main", "wta/api").stdout.split() == ["src/api/hello.py"]
    assert session["leftovers_committed"] == [] and git(api, "status", "--porcelain").stdout == ""

    first = fake.conversation_requests("api")[0].body
    system = "\n".join(b["text"] for b in first["system"]) if isinstance(first["system"], list) else first["system"]
    assert "# Zone rules of stream `api` (wta)" in system
    assert first["model"] == MODEL and "- Say hello." in json.dumps(first["messages"])
    assert not any(p.name in (".claude", "CLAUDE.md") for p in api.iterdir())  # nothing written into the worktree


def test_interactive_runs_claude_in_tmux_without_p_and_wta_attach_finds_it(tmp_path):
    fake_cli = tmp_path / "fake-claude"
    # Written outside the repository's places (the sandbox keeps the worktrees' directory read-only).
    fake_cli.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > {tmp_path}/claude-args\necho interactive-ready\nsleep 60\n')
    fake_cli.chmod(fake_cli.stat().st_mode | stat.S_IXUSR)
    repo = session_repo(tmp_path, zones(AGENT, STREAMS))
    try:
        done = up(repo, "--interactive", "-d", "api", env_=env(WTA_CLAUDE=str(fake_cli)))
        assert done.returncode == 0, done.stderr
        session = wait_for(lambda: (r := record(repo, "api"))["tmux"] and r["agent_pid"] and r)
        assert session["tmux"]["session"] == "wta-repo-api"
        args = wait_for(lambda: (tmp_path / "claude-args").read_text().splitlines())
        assert "-p" not in args and args[-2:] == ["--", "- Say hello."]
        hook = json.loads(args[args.index("--settings") + 1])["hooks"]["PreToolUse"][0]
        assert hook["matcher"] == "Edit|Write|NotebookEdit|MultiEdit" and "guard --stream api" in hook["hooks"][0]["command"]
        wait_for(lambda: "interactive-ready" in log_text(repo, "api"))
        missing = wta(repo, "attach", "ui", check=2, env=env())
        assert "stream 'ui' has no interactive session running" in missing.stderr
        assert wta(repo, "stop", "api", check=0, env=env()).stdout == "api: stopped\n"
        assert record(repo, "api")["state"] == "stopped"
        socket = session["tmux"]["socket"]
        assert os.system(f"tmux -L {socket} has-session -t wta-repo-api 2>/dev/null") != 0
    finally:
        os.system(f"tmux -L {record(repo, 'api')['tmux']['socket']} kill-server 2>/dev/null")


def test_max_turns_reached_is_a_failed_session(tmp_path, claude):
    repo = session_repo(tmp_path, zones(AGENT.replace("max_turns: 8", "max_turns: 1"), STREAMS))
    script = {"api": [[tool_use("Bash", {"command": "true", "description": "Nothing"})]] * 3}
    with FakeAnthropic(script, api_key=KEY) as fake:
        done = up(repo, "api", env_=claude_env(claude, fake))
    assert done.returncode == 1
    session = record(repo, "api")
    assert (session["state"], session["reason"]) == ("failed", "max turns reached"), log_text(repo, "api")[-2000:]


def test_a_session_that_times_out_still_counts_the_edits_the_guard_refused(tmp_path, claude):
    # Claude Code lists the refused edits in its closing result line, which a session ended by its timeout
    # (or by `wta stop`) never writes: the record and `wta status` read them from the transcript then.
    repo = session_repo(tmp_path, zones(AGENT.replace("timeout: 120s", "timeout: 10s"), STREAMS))
    api = worktree(repo, "api")
    script = {"api": [
        [tool_use("Edit", {"file_path": str(api / "src/ui/page.html"), "old_string": "hi", "new_string": "mine"})],
        [tool_use("Write", {"file_path": "src/ui/new.html", "content": "mine\n"})],   # the CLI words this one apart
        [tool_use("Bash", {"command": "python3 -c 'import time; time.sleep(60)'", "description": "Think"})],
    ]}
    with FakeAnthropic(script, api_key=KEY) as fake:
        done = up(repo, "api", env_=claude_env(claude, fake))
    assert done.returncode == 1, done.stdout + done.stderr
    session = record(repo, "api")
    assert (session["state"], session["reason"]) == ("failed", "timeout after 10s"), log_text(repo, "api")[-2000:]
    assert [(d["tool_name"], d["file_path"]) for d in session["permission_denials"]] == [
        ("Edit", str(api / "src/ui/page.html")), ("Write", "src/ui/new.html")]
    assert (api / "src/ui/page.html").read_text() == "<p>hi</p>\n" and not (api / "src/ui/new.html").exists()
    shown = {s["stream"]: s for s in json.loads(wta(repo, "status", "--json", check=0, env=env()).stdout)["streams"]}
    assert shown["api"]["session"]["permission_denials"] == 2


def test_wta_status_run_by_the_agent_in_its_sandbox_shows_its_session_running(tmp_path, claude):
    # The session runs in a pid namespace of its own, where no session's process is seen: `wta status` took the
    # running session for crashed, went to record it in wta's read-only state and failed (exit 2); and it
    # took a stream waiting for it for one that no coordinator schedules.
    ui_after_api = STREAMS.replace("paths: [src/ui/**]", "paths: [src/ui/**]\n    after: [api]")
    repo = session_repo(tmp_path, zones(AGENT, ui_after_api))
    seen = tmp_path / "status.json"
    status = f"{sys.executable} -m worktree_agents status"
    script = {"api": [
        [tool_use("Bash", {"command": f"{status} --json > {seen}; {status} >/dev/null; echo rc=$?",
                           "description": "Status"})],
        [text("Looked.")],
    ]}
    with FakeAnthropic(script, api_key=KEY) as fake:
        done = up(repo, env_=claude_env(claude, fake))
    assert done.returncode == 0, done.stdout + done.stderr
    assert record(repo, "api")["sandbox"] == "bwrap"
    [result] = fake.tool_results("api")
    assert str(result["content"]).startswith("rc=0\n"), result   # (the CLI may add a reminder after it)
    shown = {s["stream"]: s["session"] for s in json.loads(seen.read_text())["streams"]}
    assert (shown["api"]["state"], shown["api"]["reason"]) == ("running", None)
    assert shown["ui"]["state"] == "waiting" and "no coordinator" not in shown["ui"]["reason"], shown["ui"]


def test_wta_logs_renders_the_clis_stream_json_and_raw_keeps_it_as_written(tmp_path, claude):
    """`wta logs` had printed Claude Code's transcript as its raw JSON lines, each a few kilobytes."""
    repo = session_repo(tmp_path, zones(AGENT, STREAMS))
    api = worktree(repo, "api")
    script = {"api": [
        [text("Writing it."),
         tool_use("Write", {"file_path": str(api / "src/api/hello.py"), "content": "HELLO = 1\n"})],
        [tool_use("Bash", {"command": "printf 'one\\ntwo\\nthree\\n'", "description": "Print"})],
        [text("Done.")],
    ]}
    with FakeAnthropic(script, api_key=KEY) as fake:
        done = up(repo, "api", env_=claude_env(claude, fake))
    assert done.returncode == 0, done.stdout + done.stderr + log_text(repo, "api")[-3000:]
    written = log_text(repo, "api")

    shown = wta(repo, "logs", "api", check=0, env=env()).stdout.splitlines()
    assert shown[0].startswith("wta: session of stream 'api' started: runner claude")
    assert shown[1].startswith(f"[session] model {MODEL}, permission mode ") and shown[1].endswith(f", in {api}")
    assert shown[4].startswith(f"[tool result] File created successfully at: {api / 'src/api/hello.py'}")
    assert shown[2:4] + shown[5:8] == ["Writing it.", "[tool] Write src/api/hello.py",
                                       "[tool] Bash printf 'one\\ntwo\\nthree\\n'", "[tool result] one (+2 lines)",
                                       "Done."], shown
    assert re.fullmatch(r"\[result\] success, 3 turn\(s\), \$\d+\.\d{4}, \d+\.\ds", shown[8]), shown[8]
    assert shown[-1] == "wta: session of stream 'api' ended: done" and not any(s.startswith("{") for s in shown)
    assert wta(repo, "logs", "--raw", "api", check=0, env=env()).stdout == written   # as written
    assert wta(repo, "logs", "-f", "api", check=0, env=env()).stdout.splitlines() == shown   # -f: the same
