"""Whether a recorded process still runs (`process.is_alive`): read from /proc, as psutil reads it."""

from __future__ import annotations

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
