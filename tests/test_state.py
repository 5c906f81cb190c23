"""The state store: stream records that keep unknown fields, atomic replacement,
and the command lock (waiting, naming its holder, taking over from the dead)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from support import make_repo, wta
from worktree_agents import layout
from worktree_agents.errors import WtaError
from worktree_agents.state import StateStore, command_lock

# A process that takes the lock the way wta does and holds it until killed.
HOLDER = """
import sys, time
from worktree_agents.state import command_lock
with command_lock(sys.argv[1], "wta down --force"):
    print("locked", flush=True)
    time.sleep(60)
"""

# A process that holds the lock file's flock under metadata naming someone else:
# what a leaked descriptor in an orphaned child looks like.
LEAKED = """
import fcntl, json, os, sys, time
path, pid, start = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
os.makedirs(os.path.dirname(path), exist_ok=True)
fd = os.open(path, os.O_RDWR | os.O_CREAT)
fcntl.flock(fd, fcntl.LOCK_EX)
import socket
os.write(fd, json.dumps({"pid": pid, "command": "wta up", "started_at": "2025-01-01T00:00:00+00:00",
                         "process_start": start, "host": socket.gethostname()}).encode())
print("locked", flush=True)
time.sleep(60)
"""


def start(script: str, *args: str) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", script, *args], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "locked"
    return proc


def stop(proc: subprocess.Popen) -> None:
    proc.kill()
    proc.wait(timeout=10)


def test_update_stream_merges_fields_and_keeps_unknown_ones(tmp_path):
    store = StateStore(str(tmp_path / "wta"))
    (tmp_path / "wta").mkdir()
    (tmp_path / "wta" / "state.json").write_text(json.dumps(
        {"version": 1, "streams": {"api": {"branch": "wta/api", "turns": 7, "session": {"pid": 1}}},
         "future": True}))
    store.update_stream("api", state="prepared", reason=None)
    data = json.loads((tmp_path / "wta" / "state.json").read_text())
    assert data["future"] is True
    assert data["streams"]["api"]["turns"] == 7 and data["streams"]["api"]["session"] == {"pid": 1}
    assert data["streams"]["api"]["state"] == "prepared" and "updated_at" in data["streams"]["api"]
    assert store.remove_stream("api") and store.streams() == {}
    assert not list((tmp_path / "wta").glob("*.tmp"))  # written through a temporary file, then renamed


def test_a_state_file_that_is_not_ours_is_one_clear_error(tmp_path):
    (tmp_path / "state.json").write_text("{not json")
    with pytest.raises(WtaError, match="state.json: unreadable.*delete it"):
        StateStore(str(tmp_path)).streams()


def test_missing_state_reads_as_no_streams(tmp_path):
    assert StateStore(str(tmp_path / "nowhere")).streams() == {}


def test_the_lock_records_its_holder_and_leaves_nothing_behind(tmp_path):
    state_dir = tmp_path / "wta"
    with command_lock(str(state_dir), "wta up --no-launch") as holder:
        recorded = json.loads((state_dir / layout.COMMAND_LOCK).read_text())
        assert recorded["pid"] == os.getpid() and recorded["command"] == "wta up --no-launch"
        assert recorded["started_at"] == holder.started_at and recorded["process_start"] > 0
    assert not state_dir.exists()


def test_a_held_lock_makes_the_second_command_wait_then_name_the_holder(tmp_path):
    repo = make_repo(tmp_path / "repo")
    holder = start(HOLDER, str(repo / ".git" / "wta"))
    try:
        began = time.monotonic()
        done = wta(repo, "up", "--no-launch", env={**os.environ, "WTA_LOCK_TIMEOUT": "0.5"}, check=1)
        assert time.monotonic() - began >= 0.5
        line, = done.stderr.strip().splitlines()
        assert f"`wta down --force` (pid {holder.pid}) since " in line and "WTA_LOCK_TIMEOUT" in line
        assert not (tmp_path / "repo-worktrees").exists()
    finally:
        stop(holder)


def test_the_waiting_command_goes_on_when_the_holder_finishes(tmp_path):
    state_dir = str(tmp_path / "wta")
    holder = start(HOLDER, state_dir)
    waited = time.monotonic()
    try:
        subprocess.Popen(["sh", "-c", f"sleep 0.3; kill {holder.pid}"])
        with command_lock(state_dir, "wta down", timeout=10):
            assert time.monotonic() - waited >= 0.2
    finally:
        stop(holder)


def test_a_lock_left_by_a_killed_process_is_taken_over(tmp_path):
    state_dir = tmp_path / "wta"
    holder = start(HOLDER, str(state_dir))
    stop(holder)  # SIGKILL: no cleanup, the lock file and its metadata stay
    assert json.loads((state_dir / layout.COMMAND_LOCK).read_text())["pid"] == holder.pid
    with command_lock(str(state_dir), "wta up", timeout=0) as mine:
        assert json.loads((state_dir / layout.COMMAND_LOCK).read_text())["pid"] == mine.pid == os.getpid()


def test_a_lock_still_held_under_a_dead_holders_name_is_taken_over(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    path = tmp_path / "wta" / layout.COMMAND_LOCK
    leak = start(LEAKED, str(path), str(dead.pid), "1.0")
    try:
        with command_lock(str(tmp_path / "wta"), "wta up", timeout=0):
            assert json.loads(path.read_text())["pid"] == os.getpid()
    finally:
        stop(leak)


def test_a_reused_pid_does_not_keep_the_lock(tmp_path):
    import psutil

    path = tmp_path / "wta" / layout.COMMAND_LOCK
    me = psutil.Process(os.getpid())
    # The recorded pid is alive (it is this process) but started at another time.
    leak = start(LEAKED, str(path), str(me.pid), str(me.create_time() - 3600))
    try:
        with command_lock(str(tmp_path / "wta"), "wta up", timeout=0):
            assert json.loads(path.read_text())["command"] == "wta up"
    finally:
        stop(leak)


def test_a_live_holder_is_never_taken_over(tmp_path):
    import psutil

    path = tmp_path / "wta" / layout.COMMAND_LOCK
    parent = psutil.Process(os.getpid())
    leak = start(LEAKED, str(path), str(parent.pid), str(parent.create_time()))
    try:
        with pytest.raises(WtaError, match=f"pid {parent.pid}"):
            with command_lock(str(tmp_path / "wta"), "wta up", timeout=0.2):
                pass
        assert Path(path).exists()
    finally:
        stop(leak)


def test_an_atomic_write_never_writes_through_a_link_at_its_temporary_name(tmp_path):
    """A sandboxed agent can write some of wta's folders (`requests/`, its worktree): links it put at
    `<file>.<pid>.tmp` for every pid had wta, outside the sandbox, write a request into ~/.bashrc."""
    from worktree_agents.files import write_atomic

    target = tmp_path / "bashrc"
    target.write_text("# mine\n")
    folder = tmp_path / "requests"
    folder.mkdir()
    for pid in {os.getpid(), *range(1, 200)}:
        (folder / f"r-1.json.{pid}.tmp").symlink_to(target)
    (folder / "r-2.json").symlink_to(target)   # the file itself a link: replaced, not written through
    write_atomic(str(folder / "r-1.json"), '{"text": "$(touch pwned)"}\n')
    write_atomic(str(folder / "r-2.json"), "two\n", executable=True)
    assert target.read_text() == "# mine\n"
    assert (folder / "r-1.json").read_text() == '{"text": "$(touch pwned)"}\n'
    assert not (folder / "r-2.json").is_symlink() and (folder / "r-2.json").read_text() == "two\n"
    assert os.access(folder / "r-2.json", os.X_OK)
    assert not [p for p in folder.iterdir() if p.name.endswith(".tmp") and not p.is_symlink()]
