"""Supervision: crashes, stalls, `wta stop`, the detached coordinator (`-d` and
Ctrl-C), and what `wta status` shows of running sessions."""

from __future__ import annotations

import fcntl
import json
import os
import re
import signal
import subprocess
import sys
import time
from datetime import datetime

import pytest

from support import add_stream_worktree, commit_all, git, traced, write_files, wta
from sessions_support import (alive, env, marked, no_leftover_processes, record, session_repo,  # noqa: F401
                              state_dir, up, wait_for, wait_state, worktree, zones)

from worktree_agents.project import Project
from worktree_agents.sessions import process
from worktree_agents.sessions.dependencies import Dependencies
from worktree_agents.sessions.liveness import observe
from worktree_agents.sessions.store import SessionRecord, SessionStore, iso

STREAMS = "  infra:\n    paths: [infra/**]\n  api:\n    paths: [src/api/**]\n    after: [infra]\n"


def agent(command: str, timeout: str = "60s") -> str:
    return f"  runner: command\n  timeout: {timeout}\n  command: {json.dumps(command)}\n"


def status_of(repo, stream: str) -> dict:
    document = json.loads(wta(repo, "status", "--json", check=0, env=env()).stdout)
    return next(s for s in document["streams"] if s["stream"] == stream)["session"]


def test_a_session_killed_with_sigkill_shows_crashed(tmp_path):
    repo = session_repo(tmp_path, zones(agent("sleep 60"), STREAMS))
    assert up(repo, "-d", "infra").returncode == 0
    running = wait_state(repo, "infra", "running")
    agent_pid = wait_for(lambda: record(repo, "infra")["agent_pid"])
    os.kill(running["pid"], signal.SIGKILL)
    wait_for(lambda: not alive(running["pid"]))
    session = status_of(repo, "infra")
    assert session["state"] == "crashed" and session["pid"] is None
    assert record(repo, "infra")["state"] == "crashed" and record(repo, "infra")["ended_at"] is None
    assert wait_for(lambda: not alive(agent_pid), timeout=10)  # nothing of it keeps running


def test_a_dependent_of_a_crashed_session_fails(tmp_path):
    repo = session_repo(tmp_path, zones(agent('test "$WTA_STREAM" = api || sleep 60'), STREAMS))
    assert up(repo, "-d").returncode == 0
    running = wait_state(repo, "infra", "running")
    assert wait_state(repo, "api", "waiting")["reason"] == "waiting for infra"
    os.kill(running["pid"], signal.SIGKILL)
    failed = wait_state(repo, "api", "failed")
    assert failed["reason"] == "dependency infra crashed" and failed["started_at"] is None


def test_wta_stop_leaves_no_process_of_the_session(tmp_path):
    mark = tmp_path.name   # the agent's processes carry it, to be found by from here
    command = f"export WTA_TEST_MARK={mark}; exec sh -c 'sleep 1000 & (sleep 1000 & wait) & wait'"
    repo = session_repo(tmp_path, zones(agent(command), STREAMS))
    assert up(repo, "-d").returncode == 0
    running = wait_state(repo, "infra", "running")
    children = wait_for(lambda: len(marked(mark)) == 4 and marked(mark))   # two shells, two sleeps
    tree = [running["pid"], wait_for(lambda: record(repo, "infra")["agent_pid"]), *children]
    assert all(alive(p) for p in tree)
    started = time.monotonic()
    stopped = wta(repo, "stop", check=0, env=env())
    assert time.monotonic() - started < 15
    assert "infra: stopped" in stopped.stdout
    assert not [p for p in tree if alive(p)]
    assert record(repo, "infra")["state"] == "stopped"
    # (`wta stop`'s words, not those of a SIGTERM's end: the next `wta up` runs everything anew.)
    assert (record(repo, "api")["state"], record(repo, "api")["reason"]) == ("stopped", "stopped before it started")
    # The coordinator ended too: nothing starts api later.
    time.sleep(0.5)
    assert record(repo, "api")["started_at"] is None


def test_no_output_and_no_commit_for_stall_after_is_stalled(tmp_path):
    repo = session_repo(tmp_path, zones(agent("echo started; sleep 60"), STREAMS, extra="stall_after: 1s\n"))
    assert up(repo, "-d", "infra").returncode == 0
    wait_state(repo, "infra", "running")
    # (Until it says so: a fixed 1.5 s after `running` was not 1 s after its output on a loaded machine.)
    session = wait_for(lambda: (s := status_of(repo, "infra"))["state"] == "stalled" and s, timeout=30,
                       message="infra to be stalled")
    assert session["reason"] == "no output and no commit for 1s"
    assert record(repo, "infra")["state"] == "stalled"
    assert wta(repo, "stop", "infra", check=0, env=env()).stdout == "infra: stopped\n"


def test_status_json_carries_each_running_session(tmp_path):
    repo = session_repo(tmp_path, zones(agent("sleep 1000 & sleep 1000"), STREAMS))
    assert up(repo, "-d", "infra").returncode == 0
    running = wait_state(repo, "infra", "running")
    wait_for(lambda: record(repo, "infra")["agent_pid"])
    session = status_of(repo, "infra")
    assert session["state"] == "running" and session["pid"] == running["pid"]
    assert isinstance(session["cpu_percent"], float) and session["memory_bytes"] > 1_000_000
    assert session["children"] >= 3  # the shell and its two sleeps
    datetime.fromisoformat(session["last_activity"])
    assert {"turns", "cost_usd", "input_tokens", "output_tokens", "leftovers_outside_zone"} <= set(session)
    text = wta(repo, "status", check=0, env=env()).stdout
    assert re.search(rf"\ninfra +command +running +{running['pid']} ", text), text


def gate(tmp_path) -> tuple[str, object]:
    """A command that waits until the test opens the gate (creates the file)."""
    opened = tmp_path / "gate-open"
    return f"while [ ! -f {opened} ]; do sleep 0.05; done", opened.touch


def test_detach_returns_at_once_and_the_coordinator_keeps_the_order(tmp_path):
    command, open_gate = gate(tmp_path)
    repo = session_repo(tmp_path, zones(agent(command), STREAMS))
    done = up(repo, "-d")
    assert done.returncode == 0 and "detached: a coordinator" in done.stdout
    # Returned while infra cannot have ended (it waits for the gate) and api waits for it.
    assert wait_state(repo, "infra", "running")["ended_at"] is None
    assert wait_state(repo, "api", "waiting")["started_at"] is None
    open_gate()
    api = wait_state(repo, "api", "done", timeout=30)
    infra = record(repo, "infra")
    assert datetime.fromisoformat(api["started_at"]) >= datetime.fromisoformat(infra["ended_at"])
    coordinator_log = state_dir(repo) / "logs" / "coordinator.log"
    log = wait_for(lambda: "every session has ended" in (text := coordinator_log.read_text()) and text)
    assert "infra: running" in log and "api: done" in log


def test_ctrl_c_detaches_and_the_sessions_carry_on(tmp_path):
    command, open_gate = gate(tmp_path)
    repo = session_repo(tmp_path, zones(agent(command), STREAMS))
    foreground = subprocess.Popen([sys.executable, "-m", "worktree_agents", "up"], cwd=repo, env=env(),
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        running = wait_state(repo, "infra", "running")
        foreground.send_signal(signal.SIGINT)
        out, err = foreground.communicate(timeout=20)
    finally:
        foreground.kill()
    assert foreground.returncode == 0, err
    assert "detached: a coordinator" in out and "the rest of the schedule" in out
    assert alive(running["pid"])
    # The detached coordinator takes the schedule over and keeps api waiting on infra.
    assert wait_state(repo, "api", "waiting", timeout=15)["state"] == "waiting"
    open_gate()
    api = wait_state(repo, "api", "done", timeout=30)
    assert datetime.fromisoformat(api["started_at"]) >= datetime.fromisoformat(record(repo, "infra")["ended_at"])


def signalled_up(tmp_path, sig: int, *args: str):
    """A foreground `wta up` (infra running at the gate, api waiting on it) sent `sig`: (repo, infra's
    running record, exit code, stdout, stderr, the gate's opener)."""
    command, open_gate = gate(tmp_path)
    repo = session_repo(tmp_path, zones(agent(command), STREAMS))
    foreground = subprocess.Popen([sys.executable, "-m", "worktree_agents", "up", *args], cwd=repo, env=env(),
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        running = wait_state(repo, "infra", "running")
        wait_state(repo, "api", "waiting")
        foreground.send_signal(sig)
        out, err = foreground.communicate(timeout=20)
    finally:
        foreground.kill()
    return repo, running, foreground.returncode, out, err, open_gate


def test_a_closed_terminal_detaches_like_ctrl_c_and_the_schedule_goes_on(tmp_path):
    """SIGHUP (the terminal closed) had killed the foreground `wta up` on the spot: api, waiting on
    infra, never started. Now the rest of the schedule is handed over, as after Ctrl-C."""
    repo, running, code, out, err, open_gate = signalled_up(tmp_path, signal.SIGHUP)
    assert code == 0, err
    assert "detached" not in out and not err   # said to a terminal that is gone: nowhere
    assert alive(running["pid"])
    coordinator_log = state_dir(repo) / "logs" / "coordinator.log"
    wait_for(lambda: "scheduling infra, api" in coordinator_log.read_text(), timeout=15)
    open_gate()
    api = wait_state(repo, "api", "done", timeout=30)
    assert datetime.fromisoformat(api["started_at"]) >= datetime.fromisoformat(record(repo, "infra")["ended_at"])


def test_sigterm_ends_a_foreground_up_as_it_ends_a_detached_coordinator(tmp_path):
    """SIGTERM (`wta stop`, `kill`) had killed the foreground `wta up` without a word ("Terminated"
    from the shell), api left `waiting` for a coordinator that was gone. (`--max-parallel` takes the
    CLI's full path, where click turns the interrupt into its own exception.)"""
    repo, running, code, out, err, open_gate = signalled_up(tmp_path, signal.SIGTERM, "--max-parallel", "2")
    assert code == 128 + signal.SIGTERM, err
    assert "ended by SIGTERM: the sessions that had not started are stopped" in out
    assert (record(repo, "api")["state"], record(repo, "api")["reason"]) == \
        ("stopped", "stopped before it started: the coordinator was ended")
    assert alive(running["pid"])   # left to `wta stop`, as a detached coordinator leaves it
    open_gate()
    assert wait_state(repo, "infra", "done", timeout=30)["state"] == "done"
    time.sleep(0.5)
    assert record(repo, "api")["started_at"] is None


def test_a_second_up_while_a_coordinator_schedules_is_refused(tmp_path):
    command, _ = gate(tmp_path)
    repo = session_repo(tmp_path, zones(agent(command), STREAMS))
    assert up(repo, "-d").returncode == 0
    wait_state(repo, "infra", "running")
    again = up(repo)
    assert again.returncode == 1
    assert "is already scheduling this repository's sessions" in again.stderr
    assert wta(repo, "stop", check=0, env=env()).returncode == 0


def test_a_detached_coordinator_holds_the_lock_from_the_moment_wta_up_returns(tmp_path):
    """`wta up -d` hands its lock to the coordinator it starts: a second `wta up -d` right after it is
    refused, rather than queueing a stream that neither coordinator then starts (the second one lost
    the race for the lock and ended, its stream left `pending`)."""
    command, open_gate = gate(tmp_path)
    two = "  infra:\n    paths: [infra/**]\n  api:\n    paths: [src/api/**]\n"
    repo = session_repo(tmp_path, zones(agent(command), two))
    assert up(repo, "-d", "infra").returncode == 0
    with open(state_dir(repo) / "coordinator.lock", "rb") as lock:   # held already, by the coordinator
        with pytest.raises(BlockingIOError):
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    again = up(repo, "-d", "api")
    assert again.returncode == 1, again.stdout
    assert "is already scheduling this repository's sessions" in again.stderr
    # Refused before it made anything (it had made api's worktree first), saying what to do about api.
    assert "run `wta up -d api` again once it has ended (`wta up --no-launch api` makes the worktrees now)" \
        in again.stderr
    assert not worktree(repo, "api").exists() and "created" not in again.stdout
    assert wait_state(repo, "infra", "running")["state"] == "running"
    assert not (state_dir(repo) / "sessions" / "api.json").exists()   # never queued
    coordinator = json.loads((state_dir(repo) / "coordinator.lock").read_text())["pid"]
    open_gate()
    assert wait_state(repo, "infra", "done")["state"] == "done"
    assert wait_for(lambda: not alive(coordinator))
    assert up(repo, "api").returncode == 0 and record(repo, "api")["state"] == "done"


def test_the_after_rule_asks_git_only_whether_a_finished_dependency_landed(tmp_path, monkeypatch):
    """The coordinator asks at every round while a dependent waits: the branch tips come from the ref
    files, and git is started once per (dependency tip, base tip) to ask whether the base contains it."""
    repo = session_repo(tmp_path, zones(agent("true"), STREAMS))
    infra = add_stream_worktree(repo, "infra")
    trace = tmp_path / "trace"
    monkeypatch.setenv("GIT_TRACE", str(trace))
    project = Project.find(str(repo))
    after = Dependencies(project, project.main_config(), ("infra", "api"), "main", land=True)
    working = {"infra": SessionRecord("infra", state="running"), "api": None}
    done = {"infra": SessionRecord("infra", state="done"), "api": None}
    trace.unlink(missing_ok=True)

    def git_processes() -> int:
        return traced(trace, "trace: built-in: git")

    assert after.waiting_for("api", working) == ("waiting for infra", [])
    assert after.waiting_for("api", done) == (None, [])          # its branch is the base's tip
    assert git_processes() == 0
    write_files(infra, {"infra/main.tf": "x\n"})
    commit_all(infra, "[infra] its own work")
    git_processes()
    for _ in range(3):
        assert after.waiting_for("api", done) == ("waiting for infra to land", [])
    assert git_processes() == 1                                   # one merge-base, remembered
    git(repo, "merge", "-q", "--ff-only", "wta/infra")            # a person lands it
    git_processes()
    assert after.waiting_for("api", done) == (None, [])
    assert after.problem("api", {"infra": SessionRecord("infra", state="blocked"), "api": None}) is None
    assert git_processes() == 0                                   # both tips equal now


def test_a_session_younger_than_stall_after_is_not_looked_at_for_a_stall(tmp_path, monkeypatch):
    """A session cannot have been quiet for longer than it has run: its first `stall_after` costs no
    `git log` (the coordinator and the watcher look at every live session), later ones do."""
    repo = session_repo(tmp_path, zones(agent("true"), STREAMS))
    worktree = add_stream_worktree(repo, "infra")
    trace = tmp_path / "trace"
    monkeypatch.setenv("GIT_TRACE", str(trace))
    store = SessionStore(str(state_dir(repo)))
    me = os.getpid()   # a live process stands in for the session's wrapper

    def looked(started: float) -> tuple[str, int]:
        store.reset("infra", state="running", pid=me, pid_create_time=process.create_time(me),
                    started_at=iso(started), stall_after=60, worktree=str(worktree))
        trace.unlink(missing_ok=True)
        seen = observe(store, store.read("infra"))
        return seen.state, traced(trace, "trace: built-in: git")

    assert looked(time.time() - 5) == ("running", 0)
    assert looked(time.time() - 120) == ("running", 1)   # looked at: its worktree's last commit is new
