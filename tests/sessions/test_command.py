"""The `command` runner: placeholders, the session environment, leftovers, `after` order and `max_parallel`."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from datetime import datetime

import psutil
import pytest

from support import git, wta
from worktree_agents.sessions.prompt import SANDBOX_NOTE
from sessions_support import (alive, env, marked, no_leftover_processes, record, session_repo,  # noqa: F401
                              state_dir, up, wait_for, wait_state, worktree, zones)

PROMPT = """It's "quoted", $HOME stays literal; `backticks` too."""


def agent(command: str, timeout: str = "60s") -> str:
    return f"  runner: command\n  timeout: {timeout}\n  command: {json.dumps(command)}\n"


def times(repo, stream):
    r = record(repo, stream)
    return datetime.fromisoformat(r["started_at"]), datetime.fromisoformat(r["ended_at"])


def test_placeholders_are_filled_in_shell_quoted(tmp_path):
    command = ("printf '%s\\n' {stream} {worktree} {prompt_file} > src/{stream}/args.txt; "
               "printf '%s' {prompt} > src/{stream}/prompt.txt")
    streams = f"  api:\n    paths: [src/api/**]\n    prompt: {json.dumps(PROMPT)}\n"
    repo = session_repo(tmp_path, zones(agent(command), streams))
    done = up(repo)
    assert done.returncode == 0, done.stdout + done.stderr
    api = worktree(repo, "api")
    prompt_file = state_dir(repo) / "prompts" / "api.md"
    assert git(api, "show", "wta/api:src/api/args.txt").stdout.splitlines() == ["api", str(api), str(prompt_file)]
    printed = wta(repo, "prompt", "api", check=0).stdout
    # The session's prompt is `wta prompt`'s, plus the sandbox's note (a person in an editor has no sandbox).
    session_prompt = git(api, "show", "wta/api:src/api/prompt.txt").stdout
    assert (SANDBOX_NOTE in session_prompt) == (record(repo, "api")["sandbox"] is not None)
    assert session_prompt.replace(SANDBOX_NOTE, "") == printed
    assert prompt_file.read_text() == session_prompt and printed.startswith(PROMPT)
    assert git(api, "log", "-1", "--format=%s", "wta/api").stdout.strip() == \
        "[api] wta: commit leftovers of the session"
    assert git(api, "status", "--porcelain").stdout == ""


def test_the_leftovers_commit_takes_the_streams_own_zone_not_what_unowned_allow_lets_it_change(tmp_path):
    """With `unowned: allow`, what `setup:` wrote (a file no zone claims) went into the leftovers commit,
    landed, and then stood in the way of every other worktree's copy: `wta sync ui` failed, every time,
    advising to run it again."""
    repo = session_repo(tmp_path, zones(agent("echo work > src/api/x.txt"),
                                        "  api:\n    paths: [src/api/**]\n  ui:\n    paths: [src/ui/**]\n",
                                        extra="unowned: allow\nsetup: ['echo built > setup.out']\n"))
    assert up(repo, "api").returncode == 0
    api = worktree(repo, "api")
    assert git(api, "show", "--format=", "--name-only", "wta/api").stdout.split() == ["src/api/x.txt"]
    assert record(repo, "api")["leftovers_outside_zone"] == ["setup.out"]
    assert (api / "setup.out").read_text() == "built\n"   # left where it was, untracked
    # Had it landed, this is what the next sync of another stream met, and what it now says.
    wta(repo, "up", "--no-launch", "ui", check=0)
    git(api, "add", "setup.out")
    git(api, "commit", "-q", "-m", "[api] a file ui's worktree has too")
    assert wta(repo, "merge", "api", check=0).returncode == 0
    refused = wta(repo, "sync", "ui", check=1)
    assert "would overwrite local changes or untracked files in" in refused.stderr
    assert ": setup.out; commit, stash or move them there, then `wta sync ui`" in refused.stderr


def test_an_index_lock_a_killed_session_left_is_cleared_before_the_next_one_starts(tmp_path):
    """A session killed in its leftovers commit (the OOM killer, a reboot) left the worktree's index.lock:
    every later session of the stream failed, "leftovers not committed ... index.lock: File exists"."""
    repo = session_repo(tmp_path, zones(agent("echo work > src/api/x.txt && git add src/api/x.txt && "
                                              "git commit -qm work"), "  api:\n    paths: [src/api/**]\n"))
    wta(repo, "up", "--no-launch", "api", check=0)
    lock = repo / ".git" / "worktrees" / "api" / "index.lock"
    lock.write_text("")
    os.utime(lock, (time.time() - 60, time.time() - 60))
    done = up(repo, "api")
    assert done.returncode == 0, done.stdout + done.stderr
    assert record(repo, "api")["state"] == "done" and not lock.exists()
    assert git(worktree(repo, "api"), "log", "-1", "--format=%s").stdout.strip() == "[api] work"

    # One a live process holds is named, and nothing starts.
    lock.write_text("")
    os.utime(lock, (time.time() - 60, time.time() - 60))
    with open(lock) as held:
        holder = subprocess.Popen(["sleep", "30"], stdin=held)
        try:
            refused = up(repo, "api")
        finally:
            holder.kill()
            holder.wait()
    assert refused.returncode == 1
    assert "index.lock is held by a running process (pid " in record(repo, "api")["reason"]
    assert lock.exists()


def test_each_session_gets_its_stream_worktree_and_a_distinct_port(tmp_path):
    repo = session_repo(tmp_path, zones(agent('echo "$WTA_STREAM $WTA_WORKTREE $WTA_PORT" > src/$WTA_STREAM/env.txt'),
                                        "  api:\n    paths: [src/api/**]\n  ui:\n    paths: [src/ui/**]\n",
                                        extra="base_port: 5000\n"))
    assert up(repo).returncode == 0
    seen = {s: git(repo, "show", f"wta/{s}:src/{s}/env.txt").stdout.split() for s in ("api", "ui")}
    assert seen == {"api": ["api", str(worktree(repo, "api")), "5000"], "ui": ["ui", str(worktree(repo, "ui")), "5001"]}
    assert (record(repo, "api")["port"], record(repo, "ui")["port"]) == (5000, 5001)


def test_a_dependent_starts_only_after_its_dependency_ended(tmp_path):
    repo = session_repo(tmp_path, zones(agent("sleep 1; echo done-$WTA_STREAM")))
    done = up(repo)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "api: waiting (waiting for infra)" in done.stdout
    infra_start, infra_end = times(repo, "infra")
    api_start, _ = times(repo, "api")
    ui_start, ui_end = times(repo, "ui")
    assert api_start >= infra_end
    assert ui_start < infra_end  # no `after`: ui ran alongside infra
    assert {record(repo, s)["state"] for s in ("infra", "api", "ui")} == {"done"}


def test_max_parallel_1_runs_one_session_at_a_time(tmp_path):
    repo = session_repo(tmp_path, zones(agent("sleep 0.5")))
    done = up(repo, "--max-parallel", "1")
    assert done.returncode == 0, done.stdout + done.stderr
    spans = sorted(times(repo, s) for s in ("infra", "api", "ui"))
    for (_, end), (start, _) in zip(spans, spans[1:]):
        assert start >= end


def test_a_failed_dependency_fails_its_dependents_without_starting_them(tmp_path):
    repo = session_repo(tmp_path, zones(agent('test "$WTA_STREAM" != infra || exit 3')))
    done = up(repo)
    assert done.returncode == 1
    infra, api, ui = (record(repo, s) for s in ("infra", "api", "ui"))
    assert (infra["state"], infra["reason"], infra["exit_code"]) == ("failed", "exit status 3", 3)
    assert (api["state"], api["reason"], api["started_at"], api["pid"]) == ("failed", "dependency infra failed", None, None)
    assert ui["state"] == "done"
    assert "api: failed (dependency infra failed)" in done.stdout


def test_a_dependency_outside_the_named_streams_must_have_run(tmp_path):
    repo = session_repo(tmp_path, zones(agent("true")))
    done = up(repo, "api")
    assert done.returncode == 1
    assert record(repo, "api")["reason"] == "dependency infra has not run; start it too (`wta up infra`)"
    assert up(repo, "infra").returncode == 0
    assert up(repo, "api").returncode == 0  # infra's recorded `done` now counts
    assert record(repo, "api")["state"] == "done"


def test_a_missing_command_is_a_usage_error_before_anything_starts(tmp_path):
    repo = session_repo(tmp_path, zones("  runner: command\n"))
    done = up(repo)
    assert done.returncode == 2
    assert "runner `command` needs `agent.command`" in done.stderr
    assert not (state_dir(repo) / "sessions").exists()


def test_when_no_stream_asked_for_could_be_prepared_no_session_starts(tmp_path):
    # ui's setup fails in ui's worktree only; api's worktree is ready from an earlier `wta up`.
    setup = "setup: ['case $WTA_STREAM in ui) exit 7;; esac']\n"
    streams = "  api:\n    paths: [src/api/**]\n  ui:\n    paths: [src/ui/**]\n"
    repo = session_repo(tmp_path, zones(agent("echo ran > src/$WTA_STREAM/ran.txt"), streams, extra=setup))
    assert up(repo, "--no-launch", "api").returncode == 0
    started = up(repo, "ui")
    assert started.returncode == 1, started.stdout + started.stderr
    assert "setup command" in started.stdout and "exited 7" in started.stdout
    # Neither ui (not prepared) nor api (not asked for) had a session.
    assert not (state_dir(repo) / "sessions" / "api.json").exists()
    assert not (state_dir(repo) / "sessions" / "ui.json").exists()
    assert git(repo, "rev-parse", "wta/api").stdout == git(repo, "rev-parse", "main").stdout


def test_down_keeps_a_worktree_whose_session_runs_until_forced_which_stops_it(tmp_path):
    streams = "  api:\n    paths: [src/api/**]\n"
    repo = session_repo(tmp_path, zones(agent("sleep 60; echo late > src/api/late.txt"), streams))
    assert up(repo, "-d").returncode == 0
    pid = wait_state(repo, "api", "running")["pid"]
    kept = wta(repo, "down", "api", check=1)
    assert f"its session is running (pid {pid}); stop it first (wta stop api), or rerun with --force" in kept.stdout
    assert worktree(repo, "api").is_dir() and alive(pid)
    forced = wta(repo, "down", "--force", "api", check=0)
    assert "api          session stopped" in forced.stdout and "removed" in forced.stdout
    assert not worktree(repo, "api").exists() and not alive(pid)
    assert record(repo, "api")["state"] == "stopped"
    assert record(repo, "api")["reason"] == "stopped by `wta down --force`"   # had been `wta stop`, not run


@pytest.mark.parametrize("earlier", [False, True], ids=["no-commit-before", "a-commit-before"])
def test_down_force_delete_branches_keeps_the_leftovers_commit_that_stopping_the_session_makes(tmp_path, earlier):
    """Stopping the session commits its leftovers in the zone; `wta down` had looked at the branch before
    that, so it backed up the tip before it (or nothing) and deleted the branch with the new commit."""
    streams = "  api:\n    paths: [src/api/**]\n"
    before = 'echo one > src/api/one.txt && git add src/api/one.txt && git commit -qm one; ' if earlier else ""
    repo = session_repo(tmp_path, zones(agent(f"{before}echo important > src/api/work.txt; sleep 60"), streams))
    assert up(repo, "-d").returncode == 0
    wait_for(lambda: (worktree(repo, "api") / "src/api/work.txt").exists(), timeout=30)
    forced = wta(repo, "down", "--force", "--delete-branches", "api", check=0)
    assert "branch wta/api deleted" in forced.stdout, forced.stdout
    backups = git(repo, "for-each-ref", "--format=%(objectname)", "refs/wta/backup/").stdout.split()
    assert len(backups) == 1, forced.stdout
    kept = git(repo, "show", f"{backups[0]}:src/api/work.txt", check=False)
    assert kept.returncode == 0 and kept.stdout == "important\n", forced.stdout
    assert backups[0][:12] in forced.stdout


def test_down_delete_branches_of_a_landed_stream_does_not_say_it_was_deleted_before_it_landed(tmp_path):
    """Under `land: manual` a stream `wta merge` landed stays `done`; `wta down --delete-branches` then
    recorded it `stopped: its branch was deleted ... before it landed`, and `wta status` said so, as if its
    work were lost, while main held every commit of it."""
    streams = "  api:\n    paths: [src/api/**]\n"
    command = "echo done > src/api/done.txt && git add src/api/done.txt && git commit -qm done"
    repo = session_repo(tmp_path, zones(agent(command), streams))
    assert up(repo).returncode == 0
    assert "api: merged 1 commit(s)" in wta(repo, "merge", check=0).stdout
    assert record(repo, "api")["state"] == "done"

    down = wta(repo, "down", "--delete-branches", "api", check=0)

    assert "branch wta/api deleted" in down.stdout and "backup" not in down.stdout, down.stdout
    reason = record(repo, "api")["reason"]
    assert "before it landed" not in reason and "main" in reason, reason
    assert "before it landed" not in wta(repo, "status", check=0).stdout


def test_down_keeps_a_worktree_whose_session_a_coordinator_will_start_until_forced(tmp_path):
    """A stream waiting for its dependency: removed under the coordinator, its session had later failed
    with "not inside a git repository", nothing saying the worktree had been taken away."""
    gate = tmp_path / "gate"
    streams = "  infra:\n    paths: [src/infra/**]\n  api:\n    paths: [src/api/**]\n    after: [infra]\n"
    repo = session_repo(tmp_path, zones(agent(f"while [ ! -f {gate} ]; do sleep 0.05; done"), streams))
    assert up(repo, "-d").returncode == 0
    wait_state(repo, "api", "waiting")
    kept = wta(repo, "down", "api", check=1)
    assert "api" in kept.stdout and "a coordinator (pid " in kept.stdout and \
        "will start its session (waiting: waiting for infra); stop it first (wta stop api), or rerun with " \
        "--force, which stops it" in kept.stdout, kept.stdout
    assert worktree(repo, "api").is_dir()
    forced = wta(repo, "down", "--force", "api", check=0)
    assert "api          session stopped before it started" in forced.stdout and "removed" in forced.stdout
    assert not worktree(repo, "api").exists()
    gate.touch()
    assert wait_state(repo, "infra", "done")["state"] == "done"
    time.sleep(0.5)   # a round of the coordinator: it does not start api
    assert record(repo, "api")["state"] == "stopped" and record(repo, "api")["started_at"] is None


def test_progress_written_with_carriage_returns_is_output_as_it_comes_never_a_stall(tmp_path):
    # A progress bar (npm's, pip's): `\r` and no newline for longer than stall_after and a stall check (5 s).
    script = tmp_path / "progress.sh"
    script.write_text("echo starting\nfor i in $(seq 1 14); do printf '\\rprogress %d' $i; sleep 0.5; done\n"
                      "echo; echo finished\n")
    streams = "  api:\n    paths: [src/api/**]\n"
    repo = session_repo(tmp_path, zones(agent(f"sh {script}"), streams, extra="stall_after: 1s\n"))
    log = state_dir(repo) / "logs" / "api.log"
    started = subprocess.Popen([sys.executable, "-m", "worktree_agents", "up"], cwd=repo, env=env(), text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: b"\rprogress 3" in log.read_bytes(), timeout=30, message="the progress in the log")
        assert record(repo, "api")["state"] == "running"   # as it comes, not at the session's next newline
        out, _ = started.communicate(timeout=60)
    finally:
        started.kill()
    assert started.returncode == 0, out
    assert "stalled" not in out and record(repo, "api")["state"] == "done"
    assert b"\rprogress 13\rprogress 14\nfinished" in log.read_bytes()


def test_a_stalled_session_stays_stalled_through_wtas_own_timeout_line(tmp_path):
    """wta's own line in the log at a timeout ("timeout: the session ran longer than ...") counted as the
    agent's output: a stalled session was `running` again through the kill's grace, then failed."""
    streams = "  api:\n    paths: [src/api/**]\n"
    repo = session_repo(tmp_path, zones(agent("trap '' TERM; echo hi; sleep 100", timeout="8s"), streams,
                                        extra="stall_after: 3s\n"))
    done = up(repo)   # stall checks every 5 s: stalled at 5 s, the timeout at 8 s, a check at 10 s in the grace
    lines = [line for line in done.stdout.splitlines() if line.startswith("api: ")]
    assert [line.split(" (")[0] for line in lines] == ["api: running", "api: stalled", "api: failed"], done.stdout
    assert record(repo, "api")["reason"] == "timeout after 8s"


@pytest.mark.skipif(shutil.which("tmux") is None or shutil.which("script") is None,
                    reason="needs tmux and script (util-linux): .ci/run installs tmux")
def test_attach_ends_well_when_the_session_ends_and_needs_a_terminal(tmp_path):
    # The session ends once the test opens its gate, with `wta attach` attached (a fixed "sleep 2" had
    # ended it before the attach on a loaded machine).
    gate = tmp_path / "end-the-session"
    streams = "  api:\n    paths: [src/api/**]\n"
    repo = session_repo(tmp_path, zones(agent(f"while [ ! -f {gate} ]; do sleep 0.05; done; echo bye"), streams))
    try:
        assert up(repo, "--interactive", "-d").returncode == 0
        server = wait_for(lambda: record(repo, "api")["tmux"], message="the tmux session")
        no_terminal = wta(repo, "attach", "api", check=2, input="")
        assert "wta attach needs a terminal" in no_terminal.stderr
        command = f"{sys.executable} -m worktree_agents attach api"
        attach = subprocess.Popen(["script", "-qec", command, "/dev/null"], cwd=repo, env=env(),
                                  stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            wait_for(lambda: subprocess.run(["tmux", "-L", server["socket"], "list-clients"], capture_output=True,
                                            text=True).stdout.strip(), timeout=60, message="wta attach's client")
            gate.touch()
            out, _ = attach.communicate(timeout=60)
        finally:
            attach.kill()
        assert attach.returncode == 0, out[-500:]
        assert wait_state(repo, "api", "done")
    finally:
        os.system(f"tmux -L {record(repo, 'api')['tmux']['socket']} kill-server 2>/dev/null")


def test_a_prompt_too_long_for_the_command_line_says_to_use_the_prompt_file(tmp_path):
    streams = f"  api:\n    paths: [src/api/**]\n    prompt: {json.dumps('x' * 200_000)}\n"
    repo = session_repo(tmp_path, zones(agent("echo {prompt} > /dev/null"), streams))
    assert up(repo).returncode == 1
    reason = record(repo, "api")["reason"]
    assert "its command line is longer than the system allows" in reason, reason
    assert "`{prompt_file}` in `command:`" in reason


@pytest.mark.parametrize("environment", ["kept", pytest.param("cleared", marks=pytest.mark.skipif(
    shutil.which("bwrap") is None, reason="a process that clears its environment is ended by its sandbox"))])
def test_what_a_session_left_running_outside_its_process_group_ends_with_it(tmp_path, environment):
    # `setsid`: a new session and process group, as a daemon's double fork makes; with `env -i` it also
    # drops the environment by which wta finds a session's processes. It had outlived the session and
    # `wta stop`, writing in the worktree while wta's own git worked there; sandboxed sessions now run
    # in a pid namespace of their own, which ends with them.
    marker = f"wta-test-{tmp_path.name}"
    late = "src/api/late.txt"
    clear = "env -i " if environment == "cleared" else ""
    command = (f"{clear}setsid /bin/sh -c 'sleep 2; echo late > {late}; exec sleep 300 {marker}' > /dev/null 2>&1 & "
               "echo started")
    streams = "  api:\n    paths: [src/api/**]\n"
    repo = session_repo(tmp_path, zones(agent(command), streams))
    assert up(repo).returncode == 0
    assert record(repo, "api")["state"] == "done"
    time.sleep(3)
    assert not (worktree(repo, "api") / late).exists()
    left = [p for p in psutil.process_iter(["cmdline"]) if marker in " ".join(p.info["cmdline"] or [])]
    assert left == []


def test_a_stream_taken_out_of_zones_yaml_while_its_session_runs_can_still_be_stopped(tmp_path):
    """`wta status` listed the session as running, but `wta stop`, `wta logs` and `wta path` refused the
    stream as unknown, and `wta down` advised a `wta merge` that refuses it too."""
    streams = ("  api:\n    paths: [src/api/**]\n"
               "  ui:\n    paths: [src/ui/**]\n")
    command = "echo ui > src/ui/work.txt; git add src/ui/work.txt; git commit -qm work; sleep 60"
    repo = session_repo(tmp_path, zones(agent(command), streams))
    assert up(repo, "-d", "ui").returncode == 0
    wait_for(lambda: "[ui] work" in git(worktree(repo, "ui"), "log", "-1", "--format=%s").stdout)
    (repo / "zones.yaml").write_text(zones(agent(command), "  api:\n    paths: [src/api/**]\n"))
    git(repo, "commit", "-qam", "ui is done with")

    assert wta(repo, "path", "ui", check=0).stdout.strip() == str(worktree(repo, "ui"))
    assert "ui" in wta(repo, "logs", "ui", check=0).stdout
    assert wta(repo, "stop", "ui", check=0).stdout.startswith("ui: stopped")
    assert record(repo, "ui")["state"] == "stopped"
    kept = wta(repo, "down", "ui", check=1).stdout
    assert "put ui back in zones.yaml to merge the commits (it is no longer there)" in kept
    assert "unknown stream 'nope'" in wta(repo, "stop", "nope", check=2).stderr


@pytest.mark.skipif(shutil.which("tmux") is None or shutil.which("bwrap") is None,
                    reason="an interactive session runs in tmux; the namespace is its sandbox's")
def test_what_an_interactive_session_leaves_running_ends_with_it(tmp_path):
    """tmux ends its pane's processes with a HUP, which the first process of the sandbox's pid namespace
    takes no notice of: a daemon an interactive agent left (out of its group, its environment cleared)
    went on writing in the worktree after the session was done."""
    mark = tmp_path.name
    command = (f"env -i WTA_TEST_MARK={mark} setsid /bin/sh -c 'while :; do date >> src/api/beat.txt; sleep 0.2; done' "
               "> /dev/null 2>&1 & sleep 1; echo bye")
    repo = session_repo(tmp_path, zones(agent(command), "  api:\n    paths: [src/api/**]\n"))
    try:
        assert up(repo, "--interactive", "-d").returncode == 0
        wait_state(repo, "api", "done", timeout=30)
        assert (worktree(repo, "api") / "src" / "api" / "beat.txt").exists()   # it ran
        assert wait_for(lambda: marked(mark) == [], timeout=10, message="the daemon to end with the session")
    finally:
        os.system(f"tmux -L {record(repo, 'api')['tmux']['socket']} kill-server 2>/dev/null")


def test_wta_stop_while_wta_up_runs_setup_keeps_the_session_from_starting(tmp_path):
    """`wta stop api` from another terminal while `wta up` ran `setup:` said "api: no session", exit 0, and
    `wta up` then started api's session all the same."""
    gate, ran = tmp_path / "go", tmp_path / "agent-ran"
    streams = "  api:\n    paths: [src/api/**]\n  ui:\n    paths: [src/ui/**]\n"
    setup = f"setup: ['touch {tmp_path}/in-setup-$WTA_STREAM; while [ ! -f {gate} ]; do sleep 0.05; done']\n"
    repo = session_repo(tmp_path, zones(agent(f"echo $WTA_STREAM >> {ran}"), streams, extra=setup))
    proc = subprocess.Popen([sys.executable, "-m", "worktree_agents", "up"], cwd=repo, env=env(), text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_for(lambda: (tmp_path / "in-setup-api").exists(), timeout=60)
        stopped = wta(repo, "stop", "api", check=0, env=env())
        gate.write_text("")
        out, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert f"api: stopped before it started (`wta up`, pid {proc.pid}, prepares it" in stopped.stdout, stopped.stdout
    assert "api: stopped by `wta stop` before it started; left as it is" in out, out + err
    assert ran.read_text() == "ui\n"   # ui's session ran; api's never started
    assert (record(repo, "api")["state"], record(repo, "api")["reason"]) == \
        ("stopped", "stopped by `wta stop` before it started")
    assert not list((state_dir(repo) / "sessions").glob("*.stop"))
