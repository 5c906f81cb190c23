"""What every command does with its output channel: a closed pipe ends it quietly, the
help is readable, and a usage error points at the help of the command that was used."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

from support import ROOT, make_repo, worktree_of, wta

# Every command that writes to stdout, in the forms users pipe into `head`.
PIPED = [
    ["status", "--json"], ["status"], ["status", "--watch"], ["status", "--watch", "--json"],
    ["zones", "--json"], ["zones"], ["merge", "--dry-run", "--json"], ["merge", "--dry-run"],
    ["explain", "src/lib/db.ts", "README.md"], ["prompt", "ui"], ["--help"], ["up", "--help"],
]


@pytest.mark.parametrize("args", PIPED, ids=" ".join)
def test_a_closed_pipe_ends_the_command_quietly_as_git_does(webapp, args):
    """`wta status --json | head -1`: the reader has gone before wta writes; no message, exit 0 or 141."""
    env = {**os.environ, "WTA_WATCH_INTERVAL": "0.05"}
    proc = subprocess.Popen([sys.executable, "-m", "worktree_agents", *args], cwd=webapp, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # the reader is gone before wta has started
    code = proc.wait(timeout=60)
    stderr = proc.stderr.read().decode()
    assert stderr == "", f"wta {' '.join(args)} wrote to stderr: {stderr}"
    assert code in (0, 141), f"wta {' '.join(args)} exited {code}"


def test_a_pipe_closed_after_the_first_line_as_in_the_shell(webapp):
    proc = subprocess.run(f"{sys.executable} -m worktree_agents status --watch | head -1; echo \"${{PIPESTATUS[0]}}\"",
                          shell=True, executable="/bin/bash", cwd=webapp, capture_output=True, text=True,
                          env={**os.environ, "WTA_WATCH_INTERVAL": "0.05"}, timeout=60)
    first, code = proc.stdout.splitlines()
    assert first.startswith("-- ") and code == "141"
    assert proc.stderr == ""


def _helps(tmp_path) -> dict[str, str]:
    top = wta(tmp_path, "--help", check=0).stdout
    commands = re.findall(r"^  ([a-z][a-z-]+)  ", top.split("Commands:", 1)[1], re.M)
    helps = {"wta": top}
    for command in commands:
        helps[command] = wta(tmp_path, command, "--help", check=0).stdout
    helps["hooks install"] = wta(tmp_path, "hooks", "install", "--help", check=0).stdout
    return helps


def test_help_shows_flags_without_a_placeholder_and_plain_usage_lines(tmp_path):
    helps = _helps(tmp_path)
    assert len(helps) > 15
    for command, text in helps.items():
        for bad in ("<bool>", "[[", "{", "<list", "<str>", "<int>", "<float>"):
            assert bad not in text, f"`wta {command} --help` shows {bad!r}:\n{text}"
    usage = {command: text.splitlines()[0] for command, text in helps.items()}
    assert usage["up"] == "Usage: wta up [OPTIONS] [STREAM]..."
    assert usage["explain"] == "Usage: wta explain [OPTIONS] PATH..."
    assert usage["request"] == "Usage: wta request [OPTIONS] [STREAM] TEXT..."
    assert usage["check-zones"] == "Usage: wta check-zones [OPTIONS] [REVISION_RANGE]"
    assert re.search(r"^  --json +One JSON document", helps["zones"], re.M)
    assert re.search(r"^  --runner RUNNER +Run every session", helps["up"], re.M)
    # The command list gives each command's whole first sentence, not a cut one.
    assert not re.search(r"\.\.\.$", helps["wta"].split("Commands:", 1)[1], re.M)


def test_a_value_given_to_a_flag_points_to_that_commands_help(webapp):
    proc = wta(webapp, "zones", "--json=true", check=2)
    assert proc.stderr == "wta: Option '--json' does not take a value. (see `wta zones --help`)\n"
    proc = wta(webapp, "hooks", "install", "--nope", check=2)
    assert "(see `wta hooks install --help`)" in proc.stderr


def test_the_typer_range_in_pyproject_is_the_one_tested():
    """The help above depends on typer's classes: the dependency names the range it was tested with."""
    pyproject = (ROOT / "pyproject.toml").read_text()
    typer_pin = re.search(r'"typer([^"]*)"', pyproject).group(1)
    assert "<" in typer_pin and ">=" in typer_pin, f"typer is not pinned to a tested range: typer{typer_pin}"


def test_logs_into_a_closed_pipe_ends_quietly(webapp):
    log = webapp / ".git" / "wta" / "logs" / "api.log"
    log.parent.mkdir(parents=True)
    log.write_text("a line of the session's log\n" * 20000)  # more than a pipe holds
    proc = subprocess.Popen([sys.executable, "-m", "worktree_agents", "logs", "api"], cwd=webapp,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()
    assert proc.wait(timeout=60) in (0, 141)
    assert proc.stderr.read() == b""


def test_a_command_that_changes_state_finishes_its_work_when_its_reader_goes(tmp_path):
    """`wta up --no-launch | head -1` with 30 streams had made 4 worktrees, two of them `failed` (their
    copy: and setup: never ran), and exited 141: the closed pipe stopped it half-way. Now it finishes,
    discarding its output (stdout and stderr), with its own exit code; `wta down` likewise."""
    names = [f"s{i:02d}" for i in range(12)]
    zones = ("version: 1\nsandbox: off\nsetup: [sleep 0.1]\nstreams:\n"
             + "".join(f"  {name}:\n    paths: [{name}/**]\n" for name in names))
    repo = make_repo(tmp_path / "repo", zones, {f"{name}/file.txt": "x\n" for name in names})
    for args in (["up", "--no-launch"], ["down"]):
        proc = subprocess.Popen([sys.executable, "-m", "worktree_agents", *args], cwd=repo,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        assert proc.stdout.readline().startswith(b"s00 ")   # then the reader goes, as `head -1` does
        proc.stdout.close()
        code = proc.wait(timeout=120)
        if args[0] == "up":
            assert [name for name in names if not worktree_of(repo, name).is_dir()] == []
            streams = json.loads(wta(repo, "status", "--json", check=0).stdout)["streams"]
            assert {s["stream"]: s["state"] for s in streams} == dict.fromkeys(names, "prepared")
        assert code == 0, f"wta {' '.join(args)}"
    assert not any(worktree_of(repo, name).exists() for name in names)
