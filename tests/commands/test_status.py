"""`wta status`: the git side of every stream, as a table, as JSON, and live."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest

from support import (EXAMPLE_STREAMS as STREAMS, clone_webapp, commit_all, example_zones, git, make_repo, on_terminal,
                     worktree_of, wta)

FIELDS = {"stream", "branch", "worktree", "worktree_exists", "head", "ahead", "behind", "dirty", "last_commit",
          "violations", "conflicts", "conflict_files", "state", "reason", "created_at", "setup", "record"}


def by_stream(document: dict) -> dict[str, dict]:
    return {s["stream"]: s for s in document["streams"]}


def test_status_json_has_every_field_and_shows_what_each_stream_did(tmp_path):
    repo = clone_webapp(tmp_path, example_zones(setup=None))
    wta(repo, "up", "--no-launch", check=0)
    api, ui = worktree_of(repo, "api"), worktree_of(repo, "ui")
    (api / "src" / "lib" / "db.ts").write_text("api's db\n")
    commit_all(api, "rework the db")
    (api / "src" / "components" / "Button.tsx").write_text("sneaked in\n")
    sneaked = commit_all(api, "sneak past the hook", "--no-verify")
    (repo / "src" / "lib" / "db.ts").write_text("base's db\n")
    commit_all(repo, "base moves on")
    (ui / "src" / "components" / "Card.tsx").write_text("new\n")
    (ui / "tailwind.config.ts").write_text("edited\n")

    document = json.loads(wta(repo, "status", "--json", check=0).stdout)
    assert document["base"] == "main"
    assert document["base_head"] == git(repo, "rev-parse", "main").stdout.strip()
    streams = by_stream(document)
    assert list(streams) == list(example_order())
    for stream, entry in streams.items():
        assert FIELDS <= set(entry)
        assert entry["branch"] == f"wta/{stream}" and entry["worktree"] == str(worktree_of(repo, stream))
        assert entry["worktree_exists"] is True and entry["state"] == "prepared"
        assert entry["head"] == git(repo, "rev-parse", f"wta/{stream}").stdout.strip()
        datetime.fromisoformat(entry["last_commit"])
    assert (streams["api"]["ahead"], streams["api"]["behind"]) == (2, 1)
    assert streams["api"]["violations"] == [
        {"commit": sneaked, "path": "src/components/Button.tsx", "reason": "owned", "owner": "ui", "detail": ""}]
    assert streams["api"]["conflicts"] is True and streams["api"]["conflict_files"] == ["src/lib/db.ts"]
    assert streams["api"]["dirty"] == 0
    assert streams["ui"]["dirty"] == 2 and streams["ui"]["violations"] == [] and streams["ui"]["ahead"] == 0
    assert streams["ui"]["conflicts"] is False
    assert streams["monitor"]["record"]["branch"] == "wta/monitor"
    # status only reads: no ref moved, nothing staged
    assert git(ui, "diff", "--cached", "--name-only").stdout == ""


def example_order():
    return ("infra", "api", "ui", "monitor")  # file order of the example zones


def test_status_reads_the_same_from_anywhere_in_the_repository(tmp_path):
    repo = clone_webapp(tmp_path, example_zones(setup=None))
    wta(repo, "up", "--no-launch", "api", check=0)
    places = [repo, repo / "src" / "lib", worktree_of(repo, "api"), worktree_of(repo, "api") / "src" / "app"]
    documents = [by_stream(json.loads(wta(where, "status", "--json", check=0).stdout)) for where in places]
    assert all(d == documents[0] for d in documents)
    assert documents[0]["api"]["worktree_exists"] is True
    never = documents[0]["ui"]
    assert never["worktree"] is None and never["worktree_exists"] is False and never["head"] is None
    assert never["state"] is None and never["ahead"] is None and never["conflicts"] is None


def test_a_worktree_deleted_by_hand_shows_as_missing(tmp_path):
    repo = clone_webapp(tmp_path, example_zones(setup=None))
    wta(repo, "up", "--no-launch", "ui", check=0)
    shutil.rmtree(worktree_of(repo, "ui"))
    entry = by_stream(json.loads(wta(repo, "status", "--json", check=0).stdout))["ui"]
    assert entry["worktree"] == str(worktree_of(repo, "ui")) and entry["worktree_exists"] is False
    assert entry["dirty"] is None and entry["ahead"] == 0
    assert "(missing)" in wta(repo, "status", check=0).stdout


def test_a_stream_branch_with_no_history_in_common_with_the_base_leaves_the_rest_of_status_as_it_is(tmp_path):
    """Its ref deleted (another stream's agent can, once it moved), ui's next commit made it a root commit:
    `wta status` had exited 2 for every stream ("refusing to merge unrelated histories")."""
    repo = clone_webapp(tmp_path, example_zones(setup=None))
    wta(repo, "up", "--no-launch", "ui", "api", check=0)
    ui = worktree_of(repo, "ui")
    git(repo, "update-ref", "-d", "refs/heads/wta/ui")
    (ui / "src" / "components" / "new.tsx").write_text("x\n")
    git(ui, "add", "-A")
    git(ui, "commit", "-q", "--no-verify", "-m", "[ui] from nothing")   # (every file is new to a root commit)
    (repo / "README.md").write_text((repo / "README.md").read_text() + "more\n")
    commit_all(repo, "the base moves on")
    done = wta(repo, "status", "--json", check=None)
    assert done.returncode in (0, 1), done.stderr
    streams = by_stream(json.loads(done.stdout))
    assert streams["ui"]["conflicts"] is None and streams["api"]["behind"] == 1


def test_a_stream_worktree_switched_off_its_branch_is_named_with_the_fix_everywhere(tmp_path):
    # An agent points its worktree's HEAD at the base (its private HEAD is writable in the sandbox),
    # leaving its work in the files: status, merge, sync and up say so, and the same fix.
    repo = clone_webapp(tmp_path, example_zones(setup=None))
    wta(repo, "up", "--no-launch", "api", check=0)
    api = worktree_of(repo, "api")
    (api / "src" / "lib" / "db.ts").write_text("api's db\n")
    commit_all(api, "rework the db")
    git(api, "symbolic-ref", "HEAD", "refs/heads/main")
    (api / "src" / "lib" / "db.ts").write_text("api's db, more\n")
    fix = (f"its worktree {api} has branch main checked out, not wta/api; switch it back there "
           f"(git -C {api} switch wta/api)")
    assert by_stream(json.loads(wta(repo, "status", "--json", check=0).stdout))["api"]["off_branch"] == fix
    assert f"api: {fix}" in wta(repo, "status", check=0).stdout
    merge = wta(repo, "merge", "api", check=1)
    assert f"api: {fix}" in merge.stderr and fix in merge.stdout   # the problem, and the table's detail
    up = wta(repo, "up", "--no-launch", "api", check=2)
    assert up.stderr == f"wta: stream 'api': {fix}; then run again\n"
    git(repo, "commit", "-q", "--allow-empty", "-m", "base moves on")
    sync = wta(repo, "sync", "api", check=1)
    assert fix in sync.stdout + sync.stderr

    git(api, "switch", "-q", "wta/api")   # the fix: the work is there
    assert by_stream(json.loads(wta(repo, "status", "--json", check=0).stdout))["api"]["off_branch"] is None
    assert git(api, "diff", "--name-only").stdout == "src/lib/db.ts\n"
    wta(repo, "up", "--no-launch", "api", check=0)


def test_status_table_for_people_has_no_colour_codes(tmp_path):
    repo = clone_webapp(tmp_path, example_zones(setup='["false"]'))
    wta(repo, "up", "--no-launch", "ui", check=1)
    out = wta(repo, "status", check=0).stdout
    assert "\x1b" not in out
    lines = out.splitlines()
    assert lines[0].startswith("base main (")
    assert lines[1].split()[:3] == ["stream", "branch", "+ahead/-behind"]
    rows = {line.split()[0]: line for line in lines[3:]}
    assert set(rows) == set(STREAMS)
    assert "+0/-0" in rows["ui"] and "failed: setup command `false` exited 1" in rows["ui"]
    assert "no branch" in rows["api"]


def test_status_on_an_80_column_terminal_fits_it_and_keeps_stream_state_and_commits(tmp_path):
    """Rows were 116 columns wide (193 with long stream names) and wrapped; a failed state's reason longer still."""
    long = [f"payments-reconciliation-worker-{i:02}" for i in range(3)]
    zones = example_zones(setup=None).replace("streams:\n", "streams:\n" + "".join(
        f"  {name}:\n    paths: [services/{name}/**]\n" for name in long), 1)
    repo = clone_webapp(tmp_path, zones)
    wta(repo, "up", "--no-launch", "api", "ui", long[0], check=0)
    state = repo / ".git" / "wta" / "state.json"
    record = json.loads(state.read_text())
    record["streams"]["ui"].update(state="failed", reason="setup command `npm ci --prefer-offline --no-audit` exited 1 "
                                                          "(log: .git/wta/logs/ui/setup.log); fix it, then wta up ui")
    state.write_text(json.dumps(record))
    piped = wta(repo, "status", check=0).stdout

    out = on_terminal(repo, "status")
    lines = out.splitlines()
    assert max(map(len, lines)) <= 80, out
    rows = {line.split()[0]: line for line in lines if line and not line.startswith(" ")}
    for stream in (*STREAMS, *long):
        assert stream in rows, out
    assert "prepared" in rows["api"] and "+0/-0" in rows["api"] and "no branch" in rows["infra"]
    assert "failed" in rows["ui"].split()
    assert "setup command `npm ci --prefer-offline" in out   # the reason, on a line of its own under the row
    # (`dirty` goes too beside 33-character stream names: the state column's header says whose state it is)
    assert lines[1].split()[:2] == ["stream", "+ahead/-behind"] and lines[1].split()[-2:] == ["worktree", "state"]
    # COLUMNS, as for any terminal program, says how wide; off a terminal the output is as it was
    wide = on_terminal(repo, "status", env={**os.environ, "COLUMNS": "400"})
    assert ages_out(wide) == ages_out(piped) and max(map(len, wide.splitlines())) > 300
    narrow = on_terminal(repo, "status", env={**os.environ, "COLUMNS": "60"})
    assert max(map(len, narrow.splitlines())) <= 60 and "ui" in narrow
    assert ages_out(wta(repo, "status", check=0, env={**os.environ, "COLUMNS": "60"}).stdout) == ages_out(piped)
    assert "  failed: setup command `npm ci --prefer-offline --no-audit` exited 1 (log: .git" in piped
    assert max(map(len, piped.splitlines())) > 300


def test_watch_on_an_80_column_terminal_shows_each_streams_state(tmp_path):
    """--watch cut its 116-column rows at the width, in the middle of `last commit`: no state was ever seen."""
    repo = clone_webapp(tmp_path, example_zones(setup=None))
    wta(repo, "up", "--no-launch", "api", check=0)
    env = {key: value for key, value in os.environ.items() if key not in ("COLUMNS", "LINES", "NO_COLOR")}
    out = on_terminal(repo, "status", "--watch", env={**env, "WTA_WATCH_INTERVAL": "0.1"},
                      until=lambda text: text.count("Ctrl-C to stop") >= 2)
    drawings = [d for d in out.split("\x1b[H\x1b[2J") if d]
    assert len(drawings) >= 2
    for drawing in drawings[:2]:
        lines = drawing.splitlines()
        assert max(map(len, lines)) < 80, drawing
        rows = {line.split()[0]: line for line in lines[4:] if line.strip()}
        assert lines[3].split()[:2] == ["stream", "+ahead/-behind"] and lines[3].split()[-1] == "state"
        assert rows["api"].split()[-1] == "prepared" and rows["ui"].split()[-1] == "-"


def ages_out(text: str) -> str:
    """`text` with its ages ('3s ago') made alike: two runs a second apart say the same otherwise. The gaps
    between columns too: an age one character longer ('9s ago', then '10s ago' on a loaded machine) widens
    its column."""
    return re.sub(r"  +", "  ", re.sub(r"\b\d+[smhd] ago\b", "N ago", text))


def test_watch_prints_a_fresh_table_each_interval_until_interrupted(tmp_path):
    repo = clone_webapp(tmp_path, example_zones(setup=None))
    proc = subprocess.Popen([sys.executable, "-m", "worktree_agents", "status", "--watch"], cwd=repo,
                            env={**os.environ, "WTA_WATCH_INTERVAL": "0.1"}, stdout=subprocess.PIPE, text=True)
    try:
        seen: list[str] = []
        prepared = False
        while len(seen) < 5000:
            line = proc.stdout.readline()
            seen.append(line)
            if line.startswith("api ") and not prepared:
                wta(repo, "up", "--no-launch", "api", check=0)  # the next tables must show it
                prepared = True
            elif line.startswith("api ") and "prepared" in line:
                break
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=20)
    finally:
        proc.kill()
    assert proc.returncode == 0
    text = "".join(seen)
    assert "\x1b" not in text
    assert text.count("-- ") >= 2 and text.count("\nstream ") >= 2
    api_rows = [line for line in text.splitlines() if line.startswith("api ")]
    assert "no branch" in api_rows[0] and "prepared" in api_rows[-1]


def test_the_watch_help_names_the_interval_it_honours(tmp_path):
    """The help said "every 2 seconds" and nothing of WTA_WATCH_INTERVAL, which the refreshes follow."""
    repo = clone_webapp(tmp_path, example_zones(setup=None))
    shown = wta(repo, "status", "--help", check=0, env={**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}).stdout
    said = " ".join(re.sub(r"[│|]", " ", shown).split())
    assert "Refresh every 2 seconds, or every $WTA_WATCH_INTERVAL seconds when set, until Ctrl-C." in said, shown


@pytest.mark.parametrize("value", ["abc", "-1", "0", "inf"])
def test_a_bad_watch_interval_is_one_line_before_any_refresh(tmp_path, value):
    repo = clone_webapp(tmp_path, example_zones(setup=None))
    done = wta(repo, "status", "--watch", env={**os.environ, "WTA_WATCH_INTERVAL": value}, check=2)
    assert done.stdout == ""
    assert done.stderr == (f"wta: WTA_WATCH_INTERVAL={value!r}: not a number of seconds above 0; set it to one "
                           "(e.g. 2) or unset it\n")


def test_status_starts_without_typer_and_says_what_the_cli_says(tmp_path):
    repo = clone_webapp(tmp_path, example_zones(setup=None))
    wta(repo, "up", "--no-launch", "api", "ui", check=0)
    profiled = {**os.environ, "PYTHONPROFILEIMPORTTIME": "1"}
    fast = wta(repo, "--debug", "status", "--json", check=0, env=profiled)
    imported = {line.rsplit("|", 1)[1].strip() for line in fast.stderr.splitlines() if line.count("|") == 2}
    assert "worktree_agents.status" in imported
    assert not {name for name in imported if name.split(".")[0] in ("typer", "click", "rich", "pydantic")}
    through_typer = subprocess.run(
        [sys.executable, "-c", "import sys; from worktree_agents.cli import app; "
                               "sys.exit(app(args=['status', '--json'], prog_name='wta', standalone_mode=False))"],
        cwd=repo, capture_output=True, text=True, check=True)
    assert json.loads(fast.stdout) == json.loads(through_typer.stdout)
    # Anything else still goes through typer: its help, and its one-line usage errors.
    assert "--watch" in wta(repo, "status", "--help", check=0).stdout
    typo = wta(repo, "status", "--jsn", check=2)
    assert typo.stderr.startswith("wta: No such option: --jsn") and len(typo.stderr.splitlines()) == 1


def test_an_untracked_directory_counts_once_and_is_read_through_gits_untracked_cache(tmp_path):
    repo = clone_webapp(tmp_path, example_zones(setup=None))
    wta(repo, "up", "--no-launch", "ui", check=0)
    ui = worktree_of(repo, "ui")
    index = git(ui, "rev-parse", "--git-path", "index").stdout.strip()
    assert b"UNTR" in (ui / index).read_bytes()  # wta up turned on git's untracked cache in the new index
    (ui / "src" / "components" / "new").mkdir()
    for name in ("A.tsx", "B.tsx", "C.tsx"):
        (ui / "src" / "components" / "new" / name).write_text("new\n")
    (ui / "src" / "components" / "Button.tsx").write_text("changed\n")
    past = time.time() - 10  # git trusts no directory changed in the same second as its index
    for directory, _, _ in os.walk(ui):
        os.utime(directory, (past, past))
    git(ui, "status", "--porcelain")  # the agent's own `git status` fills the cache and writes the index
    trace = tmp_path / "trace"
    env = {**os.environ, "GIT_TRACE2_PERF": str(trace)}
    entry = by_stream(json.loads(wta(repo, "status", "--json", check=0, env=env).stdout))["ui"]
    assert entry["dirty"] == 2  # Button.tsx, and the new directory once (as `git status` lists it)
    visited = [line for line in trace.read_text().splitlines() if "read_directo" in line and "opendir:" in line]
    assert visited and all(line.rstrip().endswith("opendir:0") for line in visited)  # no directory was read again


def test_a_session_left_file_name_with_control_characters_is_quoted_as_git_does(tmp_path):
    """A file outside the zone that a session left, named `<ESC>[2J` or with a newline, cleared the terminal or
    split the sessions table: it is C-quoted there; JSON keeps the real name."""
    from worktree_agents.sessions.store import SessionStore

    repo = clone_webapp(tmp_path)
    wta(repo, "up", "--no-launch", "ui", check=0)
    left = ["evil\x1b[2J.txt", "new\nline.txt"]
    for name in left:   # (still there, uncommitted)
        (worktree_of(repo, "ui") / name).write_text("left\n")
    SessionStore(str(repo / ".git" / "wta")).update("ui", runner="command", state="done",
                                                     leftovers_outside_zone=left)
    out = wta(repo, "status", check=0).stdout
    assert "\x1b" not in out
    assert out.rstrip("\n").endswith('"evil\\033[2J.txt", "new\\nline.txt"')
    session = by_stream(json.loads(wta(repo, "status", "--json", check=0).stdout))["ui"]["session"]
    assert session["leftovers_outside_zone"] == session["outside_zone_uncommitted"] == left


def test_a_renamed_base_that_zones_yaml_does_not_name_is_not_told_to_fix_base(tmp_path):
    """`git branch -m main trunk`: status and sync had said "fix `base:` in zones.yaml", a key it has not."""
    repo = make_repo(tmp_path / "repo", "version: 1\nunowned: allow\nstreams:\n  api: {paths: [src/api/**]}\n",
                     {"src/api/a.py": ""})
    wta(repo, "up", "--no-launch", check=0)
    git(repo, "branch", "-m", "main", "trunk")
    first = wta(repo, "status", check=0).stdout.splitlines()[0]
    assert first == ("base main: no such branch; create it (git branch main <commit>), run wta up with the base "
                     "checked out, or set `base:` in zones.yaml")
    assert wta(repo, "sync", check=2).stderr == (
        "wta: base branch 'main' (the branch checked out at `wta up`, as zones.yaml names no `base:`) does not exist; "
        "create it (git branch main), run wta up with the base checked out, or set `base:` in zones.yaml\n")
    wta(repo, "up", "--no-launch", check=0)
    assert wta(repo, "status", check=0).stdout.startswith("base trunk (")


def test_the_worktree_state_and_the_session_state_are_told_apart_in_the_table(tmp_path):
    """A stream with a running session showed `prepared` under `state` beside `running` under `state`: each
    header now says whose state it is, piped and fitted to a terminal; JSON keeps `state` and `session.state`."""
    import psutil

    from worktree_agents.sessions.store import SessionStore

    repo = clone_webapp(tmp_path, example_zones(setup=None))
    wta(repo, "up", "--no-launch", "api", check=0)
    alive = subprocess.Popen(["sleep", "60"])
    try:
        SessionStore(str(repo / ".git" / "wta")).update("api", runner="command", state="running", pid=alive.pid,
                                                         pid_create_time=psutil.Process(alive.pid).create_time())
        piped = wta(repo, "status", check=0).stdout
        narrow = on_terminal(repo, "status", env={**os.environ, "COLUMNS": "80"})
        document = by_stream(json.loads(wta(repo, "status", "--json", check=0).stdout))["api"]
    finally:
        alive.kill()
        alive.wait()
    for out in (piped, narrow):
        lines = out.splitlines()
        streams_head = next(line for line in lines if line.startswith("stream "))
        sessions_head = lines[lines.index("sessions") + 1]
        assert streams_head.rstrip().endswith("  worktree state") and "  state" not in streams_head.replace(
            "worktree state", ""), out
        assert "  session state  " in sessions_head and " state" not in sessions_head.replace("session state", ""), out
        at = streams_head.index("worktree state")
        assert next(line for line in lines if line.startswith("api "))[at:].strip() == "prepared"
        session_row = lines[lines.index("sessions") + 3]
        assert session_row[sessions_head.index("session state"):].split()[0] == "running"
        assert max(map(len, lines)) <= (80 if out is narrow else 1000)
    assert document["state"] == "prepared" and document["session"]["state"] == "running"


def test_status_says_in_a_line_that_zones_yaml_has_the_problems_wta_zones_reports(tmp_path):
    """Overlapping zones in the committed zones.yaml: `wta zones` exited 1 naming the overlap, `wta status` said
    nothing of it (its exit code stays 0)."""
    overlapping = example_zones().replace("paths: [src/app/api/**, src/lib/**]",
                                          "paths: [src/app/api/**, src/lib/**, src/components/Button.tsx]")
    repo = make_repo(tmp_path / "webapp", overlapping)
    problem = "overlap: src/components/Button.tsx is claimed by api and ui; make the zones exclusive in zones.yaml"
    assert problem in wta(repo, "zones", check=1).stdout.splitlines()

    shown = wta(repo, "status", check=0).stdout.splitlines()

    assert f"zones.yaml has 1 problem(s): {problem}; `wta zones` lists them" in shown
    (repo / "zones.yaml").write_text(example_zones())
    commit_all(repo, "exclusive zones")
    assert not [line for line in wta(repo, "status", check=0).stdout.splitlines() if "problem" in line]


def git_logged(tmp_path) -> tuple[dict[str, str], Path]:
    """The environment of a wta whose every git command line is appended to the returned file (WTA_GIT)."""
    shim, log = tmp_path / "git-shim", tmp_path / "git.log"
    shim.write_text(f'#!/bin/sh\necho "$*" >> {log}\nexec {shutil.which("git")} "$@"\n')
    shim.chmod(0o755)
    return {**os.environ, "WTA_GIT": str(shim)}, log


def test_status_lists_the_branches_once_and_its_zones_yaml_line_still_follows_what_it_reads(tmp_path):
    """Its line of zones.yaml's problems was remembered by the branches too, listed by a second
    `git for-each-ref` after status.collect's: no problem of that line reads a branch (the base's is the first line)."""
    overlapping = example_zones().replace("paths: [src/app/api/**, src/lib/**]",
                                          "paths: [src/app/api/**, src/lib/**, src/components/Button.tsx]")
    repo = make_repo(tmp_path / "webapp", overlapping)
    env, log = git_logged(tmp_path)
    line = "zones.yaml has 1 problem(s): overlap: src/components/Button.tsx is claimed by api and ui"

    assert line in wta(repo, "status", check=0, env=env).stdout
    listings = [c for c in log.read_text().splitlines() if " for-each-ref " in c]
    assert len(listings) == 1, listings

    git(repo, "branch", "wta/api")   # a branch more: the line stands
    assert line in wta(repo, "status", check=0, env=env).stdout
    (repo / "zones.yaml").write_text(example_zones())
    commit_all(repo, "exclusive zones")
    assert "problem" not in wta(repo, "status", check=0, env=env).stdout


def test_status_of_an_unborn_base_says_what_every_other_command_says(tmp_path):
    """In a new repository status said "no such branch; create it (git branch main <commit>)", where `wta merge`,
    `wta zones` and `wta up` say it has no commits yet (unborn)."""
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "zones.yaml").write_text("version: 1\nstreams:\n  api: {paths: [src/api/**]}\n")
    said = "branch 'main' has no commits yet (unborn); commit zones.yaml and the code on it, then run wta up"
    assert wta(repo, "merge", check=2).stderr == f"wta: {said}\n"

    shown = wta(repo, "status", check=0).stdout.splitlines()

    assert shown[0] == f"base main: {said}"
    assert json.loads(wta(repo, "status", "--json", check=0).stdout)["base_unborn"] == said


def test_status_line_of_zones_yaml_problems_follows_a_prompt_file_made_or_removed_untracked(tmp_path):
    """The line was remembered by zones.yaml, the tracked files and the branches: a prompt_file made (untracked,
    as a person writes it first) left `wta status` naming it missing while `wta zones` said nothing, and one
    removed went unsaid."""
    repo = make_repo(tmp_path / "webapp")   # (its zones.yaml gives api `prompt_file: prompts/api.md`)
    git(repo, "rm", "-q", "prompts/api.md")
    commit_all(repo, "no prompt yet")
    missing = "streams.api.prompt_file: prompts/api.md does not exist"
    assert missing in wta(repo, "status", check=0).stdout

    (repo / "prompts").mkdir()
    (repo / "prompts/api.md").write_text("Build the API.\n")
    assert missing not in wta(repo, "zones", check=0).stdout
    assert missing not in wta(repo, "status", check=0).stdout

    (repo / "prompts/api.md").unlink()
    assert missing in wta(repo, "status", check=0).stdout


def test_status_lists_the_worktrees_once_and_a_watch_refresh_lists_them_again(tmp_path):
    """Finding the main worktree listed them (`git worktree list`) and status.collect listed them a second
    time: the first listing is handed over; each refresh of `wta status --watch` still reads them afresh."""
    repo = clone_webapp(tmp_path, example_zones(setup=None))
    wta(repo, "up", "--no-launch", check=0)
    env, log = git_logged(tmp_path)

    document = json.loads(wta(worktree_of(repo, "api"), "status", "--json", check=0, env=env).stdout)
    assert by_stream(document)["ui"]["worktree"] == str(worktree_of(repo, "ui"))
    listings = [c for c in log.read_text().splitlines() if " worktree list " in c]
    assert len(listings) == 1, listings

    log.unlink()
    watch = subprocess.Popen([sys.executable, "-m", "worktree_agents", "status", "--watch", "--json"], cwd=repo,
                             env={**env, "WTA_WATCH_INTERVAL": "0.1"}, stdout=subprocess.PIPE, text=True)
    try:
        refreshes = [json.loads(watch.stdout.readline()) for _ in range(3)]
    finally:
        watch.send_signal(signal.SIGINT)
        watch.communicate(timeout=20)
    assert all(by_stream(r)["ui"]["worktree_exists"] for r in refreshes)
    listings = [c for c in log.read_text().splitlines() if " worktree list " in c]
    assert len(listings) >= 3, listings   # the first refresh took find's listing; each later one its own
