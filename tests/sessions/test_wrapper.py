"""The session wrapper: it records the outcome on its own, ends the whole tree at
`timeout`, commits in-zone leftovers only, and keeps secrets out of the log."""

from __future__ import annotations

import json

from support import git, wta
from sessions_support import (KEY, alive, log_text, no_leftover_processes, record, session_repo,  # noqa: F401
                              up, wait_for, wait_state, worktree, zones)

ONE = "  api:\n    paths: [src/api/**]\n  ui:\n    paths: [src/ui/**]\n"


def agent(command: str, timeout: str = "60s") -> str:
    return f"  runner: command\n  timeout: {timeout}\n  command: {json.dumps(command)}\n"


def test_past_timeout_the_whole_tree_is_gone_and_the_session_failed(tmp_path):
    pids = tmp_path / "pids"
    # The agent (a shell) starts a child that would outlive it, and records both pids.
    command = f"sleep 1000 & echo $! > {pids}; echo $$ >> {pids}; wait"
    repo = session_repo(tmp_path, zones(agent(command, timeout="2s"), "  api:\n    paths: [src/api/**]\n"))
    done = up(repo, "-d")
    assert done.returncode == 0, done.stderr
    child, shell = (int(p) for p in wait_for(lambda: len(pids.read_text().split()) == 2 and pids.read_text().split()))
    assert alive(child) and alive(shell)
    ended = wait_state(repo, "api", "failed", timeout=20)
    assert ended["reason"] == "timeout after 2s"
    assert not alive(child) and not alive(shell)
    assert wait_for(lambda: not alive(ended["pid"]), timeout=5)  # the wrapper exits right after recording
    assert "timeout: the session ran longer than 2s; ending it" in log_text(repo, "api")


def test_the_exit_status_is_recorded_with_nothing_attached(tmp_path):
    repo = session_repo(tmp_path, zones(agent("echo working; exit 7"), ONE))
    assert up(repo, "-d", "api").returncode == 0
    ended = wait_state(repo, "api", "failed", "done")
    assert (ended["state"], ended["exit_code"], ended["reason"]) == ("failed", 7, "exit status 7")
    assert ended["ended_at"] >= ended["started_at"]
    assert "working" in log_text(repo, "api")


def test_leftovers_in_the_zone_are_committed_and_the_others_only_reported(tmp_path):
    command = "echo new > src/api/new.py; echo changed >> src/api/handler.py; echo sneaky >> src/ui/page.html; echo x > stray.txt"
    repo = session_repo(tmp_path, zones(agent(command), ONE))
    assert up(repo, "api").returncode == 0
    api = worktree(repo, "api")
    ended = record(repo, "api")
    assert ended["state"] == "done"
    assert ended["leftovers_committed"] == ["src/api/handler.py", "src/api/new.py"]
    assert ended["leftovers_outside_zone"] == ["src/ui/page.html", "stray.txt"]
    assert git(api, "log", "-1", "--format=%s").stdout.strip() == "[api] wta: commit leftovers of the session"
    assert git(api, "diff", "--name-only", "main", "wta/api").stdout.split() == ["src/api/handler.py", "src/api/new.py"]
    assert sorted(git(api, "status", "--porcelain").stdout.splitlines()) == [" M src/ui/page.html", "?? stray.txt"]
    status = json.loads(wta(repo, "status", "--json", check=0).stdout)
    [entry] = [s for s in status["streams"] if s["stream"] == "api"]
    assert entry["session"]["leftovers_outside_zone"] == ["src/ui/page.html", "stray.txt"]


def test_an_agent_printing_the_key_leaves_it_out_of_the_log(tmp_path):
    repo = session_repo(tmp_path, zones(agent('echo "key=$ANTHROPIC_API_KEY"; echo "other sk-abcdefghijklmnop1234"'), ONE))
    assert up(repo, "api").returncode == 0
    log = log_text(repo, "api")
    assert KEY not in log and "sk-abcdefghijklmnop1234" not in log
    assert "key=[redacted]" in log and "other [redacted]" in log
