"""The session wrapper: it records the outcome on its own, ends the whole tree at
`timeout`, commits in-zone leftovers only, and keeps secrets out of the log."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import psutil

from support import git, wta
from sessions_support import (FILES, KEY, alive, env, log_text, marked, no_leftover_processes, record,  # noqa: F401
                              session_repo, state_dir, up, wait_for, wait_state, worktree, zones)
from worktree_agents.fake_anthropic import FakeAnthropic, text, tool_use

ONE = "  api:\n    paths: [src/api/**]\n  ui:\n    paths: [src/ui/**]\n"


def agent(command: str, timeout: str = "60s") -> str:
    return f"  runner: command\n  timeout: {timeout}\n  command: {json.dumps(command)}\n"


def test_past_timeout_the_whole_tree_is_gone_and_the_session_failed(tmp_path):
    # The agent (a shell) starts a child that would outlive it; both carry a mark to be found by.
    mark = tmp_path.name
    command = f"export WTA_TEST_MARK={mark}; exec sh -c 'sleep 1000 & wait'"
    repo = session_repo(tmp_path, zones(agent(command, timeout="2s"), "  api:\n    paths: [src/api/**]\n"))
    done = up(repo, "-d")
    assert done.returncode == 0, done.stderr
    assert wait_for(lambda: len(marked(mark)) == 2)    # the shell and its child
    ended = wait_state(repo, "api", "failed", timeout=20)
    assert ended["reason"] == "timeout after 2s"
    assert marked(mark) == []
    assert wait_for(lambda: not alive(ended["pid"]), timeout=5)  # the wrapper exits right after recording
    assert "timeout: the session ran longer than 2s; ending it" in log_text(repo, "api")


def test_the_exit_status_is_recorded_with_nothing_attached(tmp_path):
    repo = session_repo(tmp_path, zones(agent("echo working; exit 7"), ONE))
    assert up(repo, "-d", "api").returncode == 0
    ended = wait_state(repo, "api", "failed", "done")
    assert (ended["state"], ended["exit_code"], ended["reason"]) == ("failed", 7, "exit status 7")
    assert ended["ended_at"] >= ended["started_at"]
    assert "working" in log_text(repo, "api")


def test_the_wrapper_runs_what_the_coordinator_worked_out_without_validating_zones_yaml_again(tmp_path):
    """The coordinator hands each wrapper its launch (the agent's command, sandbox and timeout): the
    wrapper does not import pydantic (about 0.2 s of CPU per session), nor anything else: it is forked
    from a spawner that imported it once; and the session runs the same."""
    repo = session_repo(tmp_path, zones(agent("echo working on $WTA_STREAM in $WTA_PORT"), ONE))
    done = up(repo, "api", env_=env(PYTHONPROFILEIMPORTTIME="1"))   # each Python's imports, on its stderr
    assert done.returncode == 0, done.stderr
    ended = record(repo, "api")
    assert (ended["state"], ended["runner"]) == ("done", "command") and ended["port"]
    log = log_text(repo, "api")
    assert f"working on api in {ended['port']}" in log
    assert "session of stream 'api' started: runner command, timeout 1m" in log
    # The wrapper is forked from the spawner, which imported it once (sessions/spawner.py): it imports
    # nothing itself (the spawner's own imports: the next test).
    imported = [line for line in log.splitlines() if line.startswith("import time:")]
    assert not imported, imported[-20:]   # (the last lines name what was imported, and from where)
    assert not (state_dir(repo) / "sessions" / "api.launch.json").exists()   # handed over once, then gone


def test_the_spawner_imports_the_wrapper_and_no_pydantic():
    """What every forked wrapper has imported already: the spawner's imports, up to its first request."""
    from worktree_agents import interpreter

    spawner = subprocess.run(interpreter.command("worktree_agents.sessions.spawner", "serve"), stdin=subprocess.DEVNULL,
                             capture_output=True, text=True, timeout=60, env=env(PYTHONPROFILEIMPORTTIME="1"))
    assert spawner.returncode == 0 and spawner.stdout == ""   # no request: it ends at once
    imported = {line.split("|")[-1].strip() for line in spawner.stderr.splitlines() if line.startswith("import time:")}
    assert {"worktree_agents.sessions.wrapper", "worktree_agents.sessions.store", "worktree_agents.sessions.leftovers",
            "worktree_agents.sessions.command"} <= imported
    assert not {name for name in imported if name.split(".")[0] in ("pydantic", "yaml", "typer", "psutil")}


def test_the_wrapper_started_by_hand_works_out_its_launch_itself(tmp_path):
    repo = session_repo(tmp_path, zones(agent("echo working on $WTA_STREAM; exit 3"), ONE))
    assert up(repo, "--no-launch", "api").returncode == 0
    api = worktree(repo, "api")
    by_hand = subprocess.run([sys.executable, "-m", "worktree_agents.sessions.wrapper", "--stream", "api",
                              "--worktree", str(api)], cwd=api, env=env(), text=True, capture_output=True, timeout=60)
    assert by_hand.returncode == 0, by_hand.stderr
    ended = record(repo, "api")
    assert (ended["state"], ended["exit_code"], ended["reason"]) == ("failed", 3, "exit status 3")
    assert "working on api" in log_text(repo, "api")


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


def test_status_shows_only_the_leftovers_outside_the_zone_that_are_still_uncommitted(tmp_path):
    """A session left src/ui/page.html and stray.txt uncommitted; a person restored page.html. The sessions table's
    `uncommitted outside the zone` still named it, from the session's record, while `dirty` said 1."""
    command = "echo sneaky >> src/ui/page.html; echo x > stray.txt"
    repo = session_repo(tmp_path, zones(agent(command), ONE))
    assert up(repo, "api").returncode == 0
    api = worktree(repo, "api")
    assert record(repo, "api")["leftovers_outside_zone"] == ["src/ui/page.html", "stray.txt"]
    git(api, "restore", "src/ui/page.html")

    def shown() -> tuple[str, dict]:
        table = wta(repo, "status", check=0).stdout
        [row] = [line for line in table.split("\nsessions\n")[1].splitlines() if line.startswith("api ")]
        [entry] = [s for s in json.loads(wta(repo, "status", "--json", check=0).stdout)["streams"]
                   if s["stream"] == "api"]
        return row, entry

    row, entry = shown()
    assert row.rstrip().endswith("  stray.txt"), row
    assert "page.html" not in row
    assert entry["dirty"] == 1
    assert entry["session"]["outside_zone_uncommitted"] == ["stray.txt"]
    assert entry["session"]["leftovers_outside_zone"] == ["src/ui/page.html", "stray.txt"]   # the record's
    (api / "stray.txt").unlink()
    row, entry = shown()
    assert row.rstrip().endswith("  -") and "stray.txt" not in row, row
    assert (entry["dirty"], entry["session"]["outside_zone_uncommitted"]) == (0, [])


def test_leftovers_that_git_cannot_commit_give_gits_reason_with_the_file_it_names(tmp_path):
    # A lock left on the branch's ref (by a crashed git, or by another agent): git names it, then
    # explains at length; the record keeps the naming line.
    command = 'echo changed >> src/api/handler.py; touch "$(git rev-parse --git-common-dir)/refs/heads/wta/api.lock"'
    repo = session_repo(tmp_path, zones(agent(command), ONE))
    up(repo, "api")
    ended = record(repo, "api")
    assert ended["state"] == "failed"
    lock = Path(git(repo, "rev-parse", "--absolute-git-dir").stdout.strip()) / "refs/heads/wta/api.lock"
    assert f"leftovers not committed: fatal: cannot lock ref 'HEAD': Unable to create '{lock}': File exists." \
        in ended["reason"], ended["reason"]


def test_an_agent_printing_the_key_leaves_it_out_of_the_log(tmp_path):
    repo = session_repo(tmp_path, zones(agent('echo "key=$ANTHROPIC_API_KEY"; echo "other sk-abcdefghijklmnop1234"'), ONE))
    assert up(repo, "api").returncode == 0
    log = log_text(repo, "api")
    assert KEY not in log and "sk-abcdefghijklmnop1234" not in log
    assert "key=[redacted]" in log and "other [redacted]" in log


# Modules that wta's own processes import once started (the wrapper, the coordinator, the api loop).
SHADOWED = ("json", "shlex", "signal", "subprocess", "threading", "argparse", "dataclasses", "typing", "re",
            "traceback", "selectors", "socket", "tempfile", "fcntl", "datetime", "uuid")


def test_files_named_like_modules_in_the_repository_never_run_in_wta_s_own_processes(tmp_path):
    """The session wrapper and the coordinator run outside the agent's sandbox, the api loop inside it
    with the API key: none may run a `json.py` an agent committed at the top of its worktree (which
    `python -m` would put first on sys.path). Each such file here would record its import and fail."""
    shadows = tmp_path / "shadows-imported"
    shadow = f"open({str(shadows)!r}, 'a').write(__name__ + '\\n')\nraise SystemExit('imported from the repository')\n"
    files = {**FILES, **{f"{name}.py": shadow for name in SHADOWED}}
    streams = ("  api:\n    paths: [src/api/**]\n    prompt: Add a route.\n"
               "  ui:\n    paths: [src/ui/**]\n")
    stream_agents = ("  ui:\n    paths: [src/ui/**]\n    agent:\n      runner: command\n"
                     "      command: \"echo page > src/ui/new.html\"\n")
    repo = session_repo(tmp_path, zones("  runner: api\n  model: claude-sonnet-4-6\n  timeout: 60s\n",
                                        streams.replace("  ui:\n    paths: [src/ui/**]\n", stream_agents)), files)
    script = {"api": [[tool_use("write_file", {"path": "src/api/route.py", "content": "ROUTE = 1\n"})],
                      [tool_use("commit", {"message": "add the route"})], [text("Done.")]]}
    console_script = str(Path(sys.executable).with_name("wta"))   # as a user starts wta: not from the repository
    with FakeAnthropic(script, api_key=KEY) as fake:
        detached = subprocess.run([console_script, "up", "-d", "--land"], cwd=repo, text=True, capture_output=True,
                                  env=env(ANTHROPIC_BASE_URL=fake.base_url), timeout=120)
        assert detached.returncode == 0, detached.stderr
        for stream in ("api", "ui"):
            wait_state(repo, stream, "landed", "failed", "blocked", timeout=60)
    assert not shadows.exists(), shadows.read_text()
    assert [record(repo, s)["state"] for s in ("api", "ui")] == ["landed", "landed"]
    landed = git(repo, "log", "--format=%s", "main").stdout.split("\n")
    assert "[api] add the route" in landed and any(line.startswith("[ui]") for line in landed)


def test_sessions_start_and_end_as_before_when_the_spawner_is_killed(tmp_path):
    """The spawner forks every wrapper; killed while a session runs, the schedule goes on: that session's
    end is still seen, and the next wrapper starts as a process of its own."""
    go_on = tmp_path / "go-on"
    first = f"while [ ! -e {go_on} ]; do sleep 0.05; done; echo first > src/api/first.txt"
    streams = ("  api:\n    paths: [src/api/**]\n    agent:\n      command: " + json.dumps(first) + "\n"
               "  ui:\n    paths: [src/ui/**]\n    after: [api]\n")
    repo = session_repo(tmp_path, zones(agent("echo second > src/ui/second.txt"), streams))
    assert up(repo, "-d", "--land").returncode == 0
    wrapper = psutil.Process(wait_state(repo, "api", "running")["pid"])
    spawner = wrapper.parent()
    assert "worktree_agents.sessions.spawner" in " ".join(spawner.cmdline())   # forked by the spawner
    spawner.kill()
    go_on.write_text("")
    for stream in ("api", "ui"):
        assert wait_state(repo, stream, "landed", "failed", "crashed", timeout=60)["state"] == "landed"
    assert git(repo, "show", "main:src/ui/second.txt").stdout == "second\n"
    assert git(repo, "show", "main:src/api/first.txt").stdout == "first\n"
