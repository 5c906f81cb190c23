"""shell.Background: a shell command of wta's own (a `wta watch` check) in its own process group."""

from __future__ import annotations

import os
import threading
import time

import pytest

from worktree_agents import shell


def marked(mark: str) -> list[int]:
    """The pids of the processes whose environment holds WTA_TEST_MARK=mark."""
    found = []
    for pid in (int(name) for name in os.listdir("/proc") if name.isdigit()):
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                if f"WTA_TEST_MARK={mark}".encode() in f.read().split(b"\0"):
                    found.append(pid)
        except OSError:
            continue
    return found


def test_a_command_interrupted_as_it_starts_is_ended_not_left_running(tmp_path, monkeypatch):
    """Ctrl-C while Background starts the thread that copies its output (Thread.start waits for it, and
    takes the KeyboardInterrupt there): the command ran on with no one left to end it; a CI run under
    load found a `wta watch` check's `sleep 30` still there after the watch had ended."""
    start = threading.Thread.start

    def interrupted(thread):
        start(thread)
        if getattr(thread, "_target", None) is shell._copy:   # (no other thread of this process's)
            raise KeyboardInterrupt

    monkeypatch.setattr(threading.Thread, "start", interrupted)
    mark = str(tmp_path)
    with open(tmp_path / "log", "wb") as log, pytest.raises(KeyboardInterrupt):
        shell.Background("sleep 30; true", str(tmp_path), {**os.environ, "WTA_TEST_MARK": mark}, log, 60,
                         redact=lambda piece: piece)
    monkeypatch.undo()
    assert marked(mark) == []


def test_a_command_that_started_is_ended_with_its_whole_group(tmp_path):
    mark = str(tmp_path)
    with open(tmp_path / "log", "wb") as log:
        running = shell.Background("sleep 30 & sleep 30; true", str(tmp_path), {**os.environ, "WTA_TEST_MARK": mark},
                                   log, 60, redact=lambda piece: piece)
    deadline = time.monotonic() + 10
    while len(marked(mark)) < 3 and time.monotonic() < deadline:   # the shell and its two sleeps
        time.sleep(0.01)
    assert len(marked(mark)) == 3 and running.finished() is None
    running.kill()
    assert marked(mark) == []
