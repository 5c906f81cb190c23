"""`wta logs STREAM [-f]` and interactive sessions that end on their own."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading

from support import on_terminal, wta
from sessions_support import (env, log_text, no_leftover_processes, record, session_repo, up,  # noqa: F401
                              wait_for, wait_state, zones)

STREAMS = "  api:\n    paths: [src/api/**]\n"


def agent(command: str) -> str:
    return f"  runner: command\n  timeout: 60s\n  command: {json.dumps(command)}\n"


def test_logs_follow_prints_until_the_session_ends(tmp_path):
    gate = tmp_path / "gate-open"
    repo = session_repo(tmp_path, zones(agent(f"echo first; while [ ! -f {gate} ]; do sleep 0.05; done; echo second"),
                                        STREAMS))
    assert up(repo, "-d").returncode == 0
    wait_for(lambda: "first" in log_text(repo, "api"))
    follow = subprocess.Popen([sys.executable, "-m", "worktree_agents", "logs", "api", "-f"], cwd=repo,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env())
    deadline = threading.Timer(30, follow.kill)  # bounds the reads below
    deadline.start()
    try:
        seen = [follow.stdout.readline(), follow.stdout.readline()]
        assert seen[0].startswith("wta: session of stream 'api' started") and seen[1] == "first\n"
        gate.touch()
        seen.append(follow.stdout.read())  # to the end: `-f` returns once the session has ended
    finally:
        deadline.cancel()
        follow.kill()
    assert follow.wait() == 0
    assert seen[2] == "second\nwta: session of stream 'api' ended: done\n"
    assert wta(repo, "logs", "api", check=0, env=env()).stdout == "".join(seen)


def test_logs_follow_exits_1_when_the_session_fails(tmp_path):
    repo = session_repo(tmp_path, zones(agent("echo trying; exit 3"), STREAMS))
    assert up(repo, "-d").returncode == 0

    followed = wta(repo, "logs", "-f", "api", check=1, env=env())

    assert followed.stdout.endswith("wta: session of stream 'api' ended: failed (exit status 3)\n"), followed.stdout


def test_logs_follow_says_so_when_the_session_crashed(tmp_path):
    """A wrapper killed with SIGKILL writes no end into the log: `-f` had stopped following, exit 0, silent."""
    gate = tmp_path / "never"
    repo = session_repo(tmp_path, zones(agent(f"echo up; while [ ! -f {gate} ]; do sleep 0.05; done"), STREAMS))
    assert up(repo, "-d").returncode == 0
    wait_for(lambda: "up" in log_text(repo, "api"))
    follow = subprocess.Popen([sys.executable, "-m", "worktree_agents", "logs", "api", "-f"], cwd=repo,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env())
    os.kill(record(repo, "api")["pid"], signal.SIGKILL)
    try:
        out, err = follow.communicate(timeout=30)
    finally:
        follow.kill()

    assert follow.returncode == 1, (out, err)
    assert out.endswith("up\n")
    assert err == ("wta: session of stream 'api' crashed: the session's process ended without recording an exit "
                   "(killed, or the machine restarted)\n")
    assert record(repo, "api")["state"] == "crashed"


def test_logs_on_a_terminal_keep_the_agents_colours_and_drop_its_other_escapes(tmp_path):
    """What an agent printed went to the terminal raw: a window title, erased lines, OSC 52 (the clipboard)."""
    printed = r"printf 'before\033]0;TITLE\007\033]52;c;ZXZpbA==\007\033[2J\033[31mred\033[0m\rbar\n'"
    repo = session_repo(tmp_path, zones(agent(printed), STREAMS))
    assert up(repo).returncode == 0

    shown = on_terminal(repo, "logs", "api")

    assert "before\x1b[31mred\x1b[0m\rbar\n" in shown, repr(shown)
    assert "TITLE" not in shown and "ZXZpbA" not in shown and "\x1b[2J" not in shown
    assert "\x1b]0;TITLE\x07" in wta(repo, "logs", "api", check=0, env=env()).stdout   # piped: as written


def test_logs_of_a_stream_that_never_ran_is_exit_2(tmp_path):
    repo = session_repo(tmp_path, zones(agent("true"), STREAMS))
    missing = wta(repo, "logs", "api", check=2, env=env())
    assert "stream 'api' has no log yet; start its session with `wta up api`" in missing.stderr
    # -f has nothing to wait for either (it had printed nothing and exited 0).
    followed = wta(repo, "logs", "-f", "api", check=2, env=env())
    assert "stream 'api' has no log yet; start its session with `wta up api`" in followed.stderr


def test_an_interactive_session_records_how_its_agent_exited(tmp_path):
    repo = session_repo(tmp_path, zones(agent("echo in-tmux; exit 3"), STREAMS))
    assert up(repo, "-d", "--interactive").returncode == 0
    ended = wait_state(repo, "api", "failed", "done")
    assert (ended["state"], ended["exit_code"], ended["reason"]) == ("failed", 3, "exit status 3")
    assert ended["tmux"]["session"] == "wta-repo-api" and "in-tmux" in log_text(repo, "api")
    gone = subprocess.run(["tmux", "-L", ended["tmux"]["socket"], "has-session"], capture_output=True)
    assert gone.returncode != 0  # its tmux server ended with it


def test_logs_of_a_stream_taken_out_of_zones_yaml_does_not_suggest_wta_up(tmp_path):
    """The fix had been `wta up api`, which then refused the stream zones.yaml no longer defines."""
    from support import commit_all, make_repo

    two = "version: 1\nunowned: allow\nstreams:\n  api: {paths: [src/api/**]}\n  ui: {paths: [src/ui/**]}\n"
    repo = make_repo(tmp_path / "repo", two, {"src/api/a.py": "", "src/ui/u.js": ""})
    wta(repo, "up", "--no-launch", check=0)
    (repo / "zones.yaml").write_text(two.replace("  api: {paths: [src/api/**]}\n", ""))
    commit_all(repo, "api is done")
    proc = wta(repo, "logs", "api", check=2)
    assert proc.stderr.endswith(": stream 'api' has no log, and zones.yaml no longer defines it; add it back to "
                                "streams: in zones.yaml to start a session, or remove its worktree (wta down api)\n")


def test_logs_of_a_stream_waiting_for_another_points_to_follow_not_to_wta_up(tmp_path):
    """The fix had been `wta up api`, which refused: the coordinator running the schedule starts it."""
    gate = tmp_path / "gate-open"
    streams = "  ui:\n    paths: [src/ui/**]\n  api:\n    paths: [src/api/**]\n    after: [ui]\n"
    command = f"if [ \"$WTA_STREAM\" = ui ]; then while [ ! -f {gate} ]; do sleep 0.05; done; fi; echo $WTA_STREAM here"
    repo = session_repo(tmp_path, zones(agent(command), streams))
    assert up(repo, "-d").returncode == 0
    wait_state(repo, "api", "waiting")

    missing = wta(repo, "logs", "api", check=2, env=env())
    assert missing.stderr.endswith(": stream 'api' has no log yet: its session is waiting for ui; "
                                   "`wta logs -f api` waits for it and follows it\n"), missing.stderr
    follow = subprocess.Popen([sys.executable, "-m", "worktree_agents", "logs", "-f", "api"], cwd=repo,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env())
    try:
        said = follow.stderr.readline()
        gate.touch()
        out, _ = follow.communicate(timeout=60)
    finally:
        follow.kill()
    assert said == ("wta: stream 'api' has no log yet: its session is waiting for ui; it is followed once the "
                    "session starts (Ctrl-C stops)\n")
    assert follow.returncode == 0 and "api here\n" in out and out.endswith("ended: done\n"), out


def test_logs_render_stream_json_lines_and_follow_renders_a_line_only_once_it_is_whole(tmp_path):
    """A stream-json line is rendered once whole: `-f` reads while the agent is still writing one (a line past
    1 MiB reaches the log in pieces: a Write of a big file). Lines of another shape (a runner's own output,
    JSON that is no stream-json message) print as they are."""
    gate = tmp_path / "gate-open"
    use = {"type": "assistant", "message": {"role": "assistant", "content": [
        {"type": "text", "text": "Writing."},
        {"type": "tool_use", "id": "toolu_1", "name": "Write",
         "input": {"file_path": "src/api/big.py", "content": "x" * (1 << 20) + "\n"}}]}}
    line = (tmp_path / "line.json")
    line.write_text(json.dumps(use) + "\n")
    cut = (1 << 20) + 10
    script = tmp_path / "agent.sh"
    script.write_text(f"echo 'plain output'\necho '{{\"level\": \"info\"}}'\nhead -c {cut} {line}\n"
                      f"while [ ! -f {gate} ]; do sleep 0.05; done\ntail -c +{cut + 1} {line}\n")
    repo = session_repo(tmp_path, zones(agent(f"sh {script}"), STREAMS))
    assert up(repo, "-d").returncode == 0
    wait_for(lambda: len(log_text(repo, "api")) > cut)
    follow = subprocess.Popen([sys.executable, "-m", "worktree_agents", "logs", "api", "-f"], cwd=repo,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env())
    deadline = threading.Timer(30, follow.kill)
    deadline.start()
    try:
        seen = [follow.stdout.readline(), follow.stdout.readline(), follow.stdout.readline()]
        gate.touch()
        seen.append(follow.stdout.read())
    finally:
        deadline.cancel()
        follow.kill()
    assert follow.wait() == 0
    assert seen[1:] == ["plain output\n", '{"level": "info"}\n',
                        "Writing.\n[tool] Write src/api/big.py\nwta: session of stream 'api' ended: done\n"], seen
    assert wta(repo, "logs", "api", check=0, env=env()).stdout == "".join(seen)
    assert line.read_text() in wta(repo, "logs", "--raw", "api", check=0, env=env()).stdout


def test_logs_render_no_escape_sequence_a_stream_json_line_holds_as_json_escapes_and_any_shape_of_content(tmp_path):
    """In the log an agent's `\\u001b` is six harmless characters; rendered, it became an escape sequence that
    `wta logs api | tail` sent to the terminal (a window title, the clipboard: OSC 52). A content block whose
    text is not a string (JSON of another shape) ended `wta logs` in a TypeError."""
    lines = [{"type": "assistant", "message": {"content": [
                 {"type": "text", "text": "hi\u001b]0;TITLE\u0007 \u001b]52;c;ZXZpbA==\u0007\u009b2Jthere"},
                 {"type": "tool_use", "name": "Bash", "input": {"command": "echo \u001b[2J"}}]}},
             {"type": "user", "message": {"content": [
                 {"type": "tool_result", "content": [{"type": "text", "text": "out\u001b]0;T2\u0007put"}]},
                 {"type": "tool_result", "content": [{"type": "text", "text": 5}]}]}}]
    (tmp_path / "lines.json").write_text("".join(json.dumps(line) + "\n" for line in lines))
    repo = session_repo(tmp_path, zones(agent(f"cat {tmp_path / 'lines.json'}"), STREAMS))
    assert up(repo).returncode == 0

    shown = wta(repo, "logs", "api", check=0, env=env()).stdout

    assert "\x1b" not in shown and "\x9b" not in shown, repr(shown)
    assert "hi 2Jthere\n[tool] Bash echo \n[tool result] output\n[tool result] 5\n" in shown, repr(shown)
    assert "\\u001b]0;TITLE\\u0007" in wta(repo, "logs", "--raw", "api", check=0, env=env()).stdout   # as written


def test_logs_cut_a_long_tool_call_and_result_as_every_table_of_wta_cuts_a_cell(tmp_path):
    """The rendered log cut with its own rule, ending in "...", where `wta status` and the other tables end a cut
    cell in "…": one rule (shortening.cut_end) now cuts both, a line to the width it is given, "…" included."""
    command, said = "echo " + "c" * 200 + "\necho next", "r" * 300
    lines = [{"type": "assistant", "message": {"content": [{"type": "tool_use", "name": "Bash",
                                                            "input": {"command": command}}]}},
             {"type": "user", "message": {"content": [{"type": "tool_result", "content": said + "\nsecond"}]}}]
    (tmp_path / "lines.json").write_text("".join(json.dumps(line) + "\n" for line in lines))
    repo = session_repo(tmp_path, zones(agent(f"cat {tmp_path / 'lines.json'}"), STREAMS))
    assert up(repo).returncode == 0

    shown = wta(repo, "logs", "api", check=0, env=env()).stdout.splitlines()

    assert f"[tool] Bash {command[:119]}… …" in shown, shown   # (the second "…": lines left out)
    assert f"[tool result] {said[:159]}… (+1 lines)" in shown, shown


def test_a_session_reason_from_the_agents_result_line_reaches_no_terminal_with_its_escape_sequences(tmp_path):
    """A failed session's reason is the error its agent's result line gives (what its process printed): with an
    escape sequence in it, `wta status` (and `wta up`'s lines, notify) sent it to the terminal as it was."""
    line = json.dumps({"type": "result", "is_error": True, "subtype": "error_during_execution",
                       "result": "bad\u001b]0;TITLE\u0007\u001b[2J\u009b2Jend"})
    (tmp_path / "result.json").write_text(line + "\n")
    repo = session_repo(tmp_path, zones(agent(f"cat {tmp_path / 'result.json'}; exit 1"), STREAMS))
    up(repo)
    assert record(repo, "api")["state"] == "failed"

    assert record(repo, "api")["reason"] == "error_during_execution: bad2Jend"
    shown = on_terminal(repo, "status", columns=200)
    assert "error_during_execution: bad2Jend" in shown and "TITLE" not in shown and "\x1b[2J" not in shown, shown
