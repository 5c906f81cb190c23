"""Whether a recorded process still runs (`process.is_alive`): read from /proc, as psutil reads it."""

from __future__ import annotations

import os
import subprocess
import time

import psutil

from worktree_agents.sessions import process


def test_a_process_is_alive_only_as_the_one_that_started_at_the_recorded_time():
    child = subprocess.Popen(["sleep", "30"])
    try:
        started = psutil.Process(child.pid).create_time()
        assert process.create_time(child.pid) == started
        assert process.is_alive(child.pid, started) and process.is_alive(child.pid, None)
        assert not process.is_alive(child.pid, started - 1.0)      # the pid now names another process
        child.kill()
        deadline = time.monotonic() + 5
        while psutil.Process(child.pid).status() != psutil.STATUS_ZOMBIE and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not process.is_alive(child.pid, started)            # ended, not yet reaped
        assert process.find(child.pid, started) is None            # as psutil's view says
    finally:
        child.kill()
        child.wait()
    assert not process.is_alive(child.pid, started) and not process.is_alive(None, None)


def test_a_crashed_sessions_reused_pid_is_not_taken_for_its_process_group(tmp_path):
    """A crashed session's wrapper pid, given to another group leader since (another stream's wrapper,
    anything after a reboot): `wta status` had ended that process and its group as the session's
    leftovers, because they started after the crashed wrapper."""
    from worktree_agents.sessions.liveness import observe
    from worktree_agents.sessions.store import CRASHED, SessionStore

    other = subprocess.Popen(["sleep", "30"], start_new_session=True)   # the pid's new owner, a group leader
    try:
        started = psutil.Process(other.pid).create_time()
        crashed_start = started - 60.0
        assert [p.pid for p in process.group_members(other.pid, started)] == [other.pid]
        assert process.group_members(other.pid, crashed_start) == []
        store = SessionStore(str(tmp_path))
        store.update("api", state="running", pid=other.pid, pid_create_time=crashed_start)
        seen = observe(store, store.read("api"))
        assert seen.state == CRASHED
        time.sleep(0.2)
        assert other.poll() is None   # still running: not the session's
    finally:
        other.kill()
        other.wait()


def test_what_has_ended_or_ends_within_the_settling_time_is_no_leftover(tmp_path):
    """A session's leftovers: a zombie in its process group is none (it has ended), nor is a process that
    ends within the wrapper's settling time (a sandbox's pid-namespace init, caught exiting after its
    bwrap; a CI run under load took it for a leftover and imported psutil to end it)."""
    mark = {"WTA_TEST_MARK": str(tmp_path)}
    # The leader becomes a `sleep` that reaps no child: `true` stays a zombie, `cat` becomes one once the test
    # closes the pipe it reads (a `sleep 0.3` had ended, on a loaded machine, before the test looked).
    read, write = os.pipe()
    feed = os.fdopen(write, "wb")
    leader = subprocess.Popen(["sh", "-c", "exec 3<&0; true & cat <&3 >/dev/null & exec sleep 30"], stdin=read,
                              start_new_session=True, env={**os.environ, **mark})
    os.close(read)
    try:
        assert wait(lambda: [c.status() for c in psutil.Process(leader.pid).children()].count("zombie") == 1)
        (dead,) = [c.pid for c in psutil.Process(leader.pid).children() if c.status() == "zombie"]
        members = {p.pid for p in process.group_members(leader.pid)}
        assert leader.pid in members and dead not in members and len(members) == 2   # the sleep and the cat
        assert {p.pid for p in process.marked(mark)} == members
        feed.close()
        assert [p.pid for p in process.marked(mark, settle=1.0)] == [leader.pid]   # the cat ends meanwhile
        assert {p.pid for p in process.group_members(leader.pid)} == {leader.pid}
        assert process.group_has_others(leader.pid)
    finally:
        leader.kill()
        leader.wait()
        feed.close()
    assert not process.group_has_others(leader.pid, settle=2.0)   # the zombies go to pid 1, which reaps them
    assert process.group_members(leader.pid) == [] and process.marked(mark) == []


def wait(what, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while not what() and time.monotonic() < deadline:
        time.sleep(0.01)
    return bool(what())
