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


def test_a_command_whose_start_is_recorded_waits_until_it_is(tmp_path):
    """The merge records its `test:`'s pid as it starts (`started`), so that a wta killed during the test leaves
    nothing running that nothing knows of; the test had started at once, and a wta killed before its record
    (a moment, longer on a loaded machine) left it running beside the next run's, in the same worktree."""
    ran = tmp_path / "ran"
    seen = []

    def started(pid: int) -> None:
        # However long the record takes (here up to 2 s of looking), the command has not started meanwhile.
        deadline = time.monotonic() + 2
        while not ran.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        seen.append((pid, ran.exists()))

    with open(tmp_path / "log", "wb") as log:
        code = shell.run(f"echo $$ > {ran}; read line || echo stdin is empty", str(tmp_path), dict(os.environ), log,
                         started=started)
    assert code == 0 and seen == [(int(ran.read_text()), False)]   # the recorded pid is the command's shell's
    assert (tmp_path / "log").read_text() == "stdin is empty\n"


def test_a_command_whose_starter_is_gone_before_it_recorded_it_never_starts(tmp_path):
    """wta killed between starting the command and recording it: the command does not run at all."""
    ran = tmp_path / "ran"
    script = ("import os, sys\nfrom worktree_agents import shell\n"
              f"shell.run('touch {ran}', {str(tmp_path)!r}, dict(os.environ), open(os.devnull, 'wb'),\n"
              "          started=lambda pid: (print(pid, flush=True), os._exit(9)))\n")
    import subprocess
    import sys
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 9, proc.stderr
    pid = int(proc.stdout)
    deadline = time.monotonic() + 30
    while os.path.exists(f"/proc/{pid}") and time.monotonic() < deadline:   # its gate shell reads the pipe's end
        time.sleep(0.02)
    assert not os.path.exists(f"/proc/{pid}") and not ran.exists()
