"""The integration loop: fresh bases, `after` on landed work, `land: auto`, failures handed back.

Real git, real `wta` processes, and agents that are small shell scripts (`runner: command`).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import psutil

from support import commit_all, git, traced, wta, write_files
from sessions_support import (alive, env, no_leftover_processes, record, session_repo, state_dir,  # noqa: F401
                              up, wait_for, worktree)

FILES = {"README.md": "# app\n", "infra/setup.sh": "echo setup\n", "src/api/handler.py": "x = 1\n",
         "src/ui/page.html": "<p>hi</p>\n"}


def loop_repo(tmp_path: Path, script: str, extra: str = "", streams: str | None = None) -> Path:
    """A repository whose streams' agent is `script` (sh, run in the stream's worktree)."""
    agent = tmp_path / "agent.sh"
    agent.write_text(script)
    streams = streams or ("  infra:\n    paths: [infra/**]\n"
                          "  api:\n    paths: [src/api/**]\n    after: [infra]\n")
    text = (f"version: 1\n{extra}agent:\n  runner: command\n  timeout: 60s\n"
            f"  command: \"sh {agent} {{prompt_file}}\"\nstreams:\n{streams}")
    return session_repo(tmp_path, text, FILES)


def read_line_starting(proc: subprocess.Popen, start: str, timeout: float = 30.0) -> str | None:
    """The first line of `proc`'s stdout (read as it comes) that starts with `start`, or None by `timeout`
    (the lines before it are consumed)."""
    import threading

    found: list[str] = []

    def read() -> None:
        for line in proc.stdout:
            if line.startswith(start):
                found.append(line.rstrip("\n"))
                return

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(timeout)
    return found[0] if found else None


def start_up(repo: Path, *args: str) -> subprocess.Popen:
    """`wta up` in the foreground, as a person runs it, without waiting for it."""
    return subprocess.Popen([sys.executable, "-m", "worktree_agents", "up", *args], cwd=repo, env=env(),
                            text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def finish(proc: subprocess.Popen, timeout: float = 120) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


def up_until_a_person_merges(repo: Path, up_args: list[str], merge_args: list[str],
                             ready) -> tuple[int, str, str]:
    """`wta up UP_ARGS` in the foreground; once `ready(proc)` returns, a person's `wta merge MERGE_ARGS`;
    then `wta up`'s exit code and output."""
    proc = start_up(repo, *up_args)
    try:
        ready(proc)
        wta(repo, "merge", *merge_args, check=0)
        return finish(proc)
    finally:
        proc.kill()


def subjects(repo: Path, rev: str) -> list[str]:
    return git(repo, "log", "--format=%s", rev).stdout.splitlines()


# The dependency commits; the dependent records what it sees when it starts.
INFRA_THEN_API = """
case "$WTA_STREAM" in
  infra) echo a > infra/a && git add infra/a && git commit -qm "infra a" ;;
  api) git log --format=%s > "{out}/api-start.log"; echo y > src/api/y.py && git add src/api/y.py && git commit -qm "api y" ;;
esac
"""


def test_auto_the_dependent_starts_from_a_base_with_its_dependencys_work(tmp_path):
    repo = loop_repo(tmp_path, INFRA_THEN_API.format(out=tmp_path), extra="land: auto\n")
    done = up(repo)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "[infra] infra a" in (tmp_path / "api-start.log").read_text().splitlines()
    assert subjects(repo, "main")[:2] == ["[api] api y", "[infra] infra a"]
    assert {record(repo, s)["state"] for s in ("infra", "api")} == {"landed"}
    assert "api: waiting (waiting for infra" in done.stdout and "infra: landed" in done.stdout


def test_manual_the_dependent_waits_for_wta_merge_then_starts_from_it(tmp_path):
    notify_log = tmp_path / "notify.log"
    repo = loop_repo(tmp_path, INFRA_THEN_API.format(out=tmp_path),
                     extra=f"notify: \"echo '{{stream}}|{{state}}|{{message}}' >> {notify_log}\"\n")
    proc = start_up(repo)
    try:
        reason = "waiting for infra to land: wta merge infra"
        wait_for(lambda: record(repo, "api")["reason"] == reason, timeout=60, message="api waiting for the merge")
        assert record(repo, "infra")["state"] == "done"
        status = json.loads(wta(repo, "status", "--json", check=0).stdout)
        api = next(s for s in status["streams"] if s["stream"] == "api")
        assert (api["session"]["state"], api["session"]["reason"]) == ("waiting", reason)
        table = wta(repo, "status", check=0).stdout   # the state, then the reason, which starts with it
        assert f"  {reason}  " in table and "waiting: waiting" not in table
        wait_for(lambda: notify_log.exists() and reason in notify_log.read_text(), timeout=30,
                 message="notify to say what api waits for")
        time.sleep(0.5)
        assert record(repo, "api")["state"] == "waiting"  # nothing lands by itself
        wta(repo, "merge", "infra", check=0)
        code, out, err = finish(proc)
    finally:
        proc.kill()
    assert code == 0, out + err
    assert "[infra] infra a" in (tmp_path / "api-start.log").read_text().splitlines()
    assert record(repo, "api")["state"] == "done"
    assert "[api] api y" not in subjects(repo, "main")  # land: manual


# infra's landing test (code its agent may have written) deletes infra's branch, then waits a while for api to start.
INFRA_TEST_DELETES_ITS_BRANCH = """[ "$WTA_STREAM" = infra ] || exit 0
rm -f "$(git rev-parse --git-common-dir)/refs/heads/wta/infra"
i=0
while [ ! -f "{out}/api-started" ]; do i=$((i + 1)); [ $i -gt 60 ] && exit 0; sleep 0.05; done
"""


def test_auto_a_dependency_whose_branch_its_landings_test_deletes_does_not_start_the_dependent(tmp_path):
    """A branch that does not exist counted as landed (nothing left to land), and api, after infra, started
    while infra's `test:` had deleted infra's branch, on a base without infra's work; the landing then put the
    branch back and refused it (a red-team pass, 2026-12-05). While the schedule lands a stream, its branch
    gone is not landed: the outcome says."""
    (tmp_path / "check.sh").write_text(INFRA_TEST_DELETES_ITS_BRANCH.format(out=tmp_path))
    started = f'api) touch "{tmp_path}/api-started"; git log'
    script = INFRA_THEN_API.format(out=tmp_path).replace("api) git log", started)
    repo = loop_repo(tmp_path, script, extra=f"land: auto\ntest: sh {tmp_path}/check.sh\n")
    done = up(repo)
    assert done.returncode != 0, done.stdout + done.stderr
    assert not (tmp_path / "api-started").exists(), (tmp_path / "api-start.log").read_text()
    infra = record(repo, "infra")
    assert infra["state"] == "blocked" and "was deleted while it landed" in infra["reason"], infra
    assert (record(repo, "api")["state"], record(repo, "api")["reason"]) == ("failed", "dependency infra blocked")
    assert subjects(repo, "main") == ["initial"]


# The dependency commits on a detached HEAD: its branch stays at the base, its work is elsewhere.
INFRA_DETACHED_THEN_API = """
case "$WTA_STREAM" in
  infra) git checkout -q --detach && echo a > infra/a && git add infra/a && git commit -qm "infra a" ;;
  api) git log --format=%s > "{out}/api-start.log" ;;
esac
"""


@pytest.mark.parametrize("land", ["auto", "manual"])
def test_a_dependency_whose_work_is_off_its_branch_never_counts_as_landed(tmp_path, land):
    """Its branch had no commits the base lacked, so it was taken for landed: the dependent started (and
    under `land: auto` landed) from a base without the dependency's work."""
    extra = "land: auto\nland_retries: 0\n" if land == "auto" else ""
    repo = loop_repo(tmp_path, INFRA_DETACHED_THEN_API.format(out=tmp_path), extra=extra)
    proc = start_up(repo)
    try:
        if land == "auto":   # refused at landing, with no follow-up left: blocked, and its dependent never runs
            code, out, err = finish(proc)
            assert code == 1, out + err
            assert record(repo, "infra")["state"] == "blocked"
            assert "detached HEAD with commits wta/infra lacks" in record(repo, "infra")["reason"]
            api = record(repo, "api")
            assert (api["state"], api["reason"]) == ("failed", "dependency infra blocked")
        else:                # waits, saying where the work is and how to bring it back
            reason = wait_for(lambda: (r := record(repo, "api")["reason"] or "").startswith(
                "waiting for infra to land: infra: its worktree ") and r, timeout=60)
            assert "has a detached HEAD with commits wta/infra lacks; move wta/infra there (git -C " in reason
            time.sleep(0.5)
            assert record(repo, "api")["state"] == "waiting"
    finally:
        proc.kill()
        proc.wait()
    assert not (tmp_path / "api-start.log").exists()
    assert subjects(repo, "main") == ["initial"]


def test_a_dependency_this_run_does_not_land_is_waited_for_with_the_merge_that_lands_it(tmp_path):
    """`wta up --land api` with infra done but not landed: the coordinator does not land infra (not in its
    plan), and api had waited without saying what would land it."""
    repo = loop_repo(tmp_path, INFRA_THEN_API.format(out=tmp_path))
    assert up(repo, "infra").returncode == 0 and record(repo, "infra")["state"] == "done"
    code, out, err = up_until_a_person_merges(
        repo, ["--land", "api"], ["infra"],
        lambda _: wait_for(lambda: record(repo, "api")["reason"] == "waiting for infra to land: wta merge infra",
                           timeout=60))
    assert code == 0, out + err
    assert "[infra] infra a" in (tmp_path / "api-start.log").read_text().splitlines()
    assert subjects(repo, "main")[:2] == ["[api] api y", "[infra] infra a"]


def test_a_stream_behind_the_base_starts_from_its_tip_moved_or_rebased(tmp_path):
    script = f'git rev-parse HEAD > "{tmp_path}/$WTA_STREAM-head"; git log --format=%s > "{tmp_path}/$WTA_STREAM-log"'
    repo = loop_repo(tmp_path, script, streams="  infra:\n    paths: [infra/**]\n  api:\n    paths: [src/api/**]\n")
    wta(repo, "up", "--no-launch", check=0)
    api = worktree(repo, "api")
    write_files(api, {"src/api/own.py": "own\n"})
    commit_all(api, "own work")
    old_api = git(repo, "rev-parse", "wta/api").stdout.strip()
    write_files(repo, {"README.md": "# app, moved on\n"})
    main = commit_all(repo, "base moves")
    shown = wta(repo, "up", "--no-launch", check=0).stdout
    assert "up to date" not in shown
    assert "behind" in shown and "1 commit(s) behind main" in shown
    assert "+0/-1" in wta(repo, "status", check=0).stdout
    done = up(repo)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (tmp_path / "infra-head").read_text().strip() == main      # no own commits: moved to the base
    assert subjects(repo, "wta/api")[:2] == ["[api] own work", "base moves"]   # own commits: rebased
    assert (tmp_path / "api-log").read_text().splitlines()[:2] == ["[api] own work", "base moves"]
    backups = git(repo, "for-each-ref", "--format=%(refname) %(objectname)", "refs/wta/backup/").stdout
    assert any(line.endswith("/heads/wta/api " + old_api) for line in backups.splitlines())


def test_wta_sync_moves_rebases_and_stops_cleanly_on_a_conflict(tmp_path):
    repo = loop_repo(tmp_path, "true", streams="  infra:\n    paths: [infra/**]\n  api:\n    paths: [src/api/**]\n"
                                                "  ui:\n    paths: [src/ui/**]\n")
    wta(repo, "up", "--no-launch", check=0)
    write_files(worktree(repo, "api"), {"src/api/handler.py": "x = 2\n"})
    commit_all(worktree(repo, "api"), "api edit")
    write_files(worktree(repo, "ui"), {"src/ui/page.html": "<p>ui</p>\n"})
    commit_all(worktree(repo, "ui"), "ui edit")
    ui_before = git(repo, "rev-parse", "wta/ui").stdout.strip()
    write_files(repo, {"src/ui/page.html": "<p>main</p>\n", "README.md": "# moved\n"})
    main = commit_all(repo, "base edits the page")
    synced = wta(repo, "sync", check=1)
    assert "infra: wta/infra moved to main (1 commit(s) it was behind)" in synced.stdout
    assert "api: wta/api: 1 commit(s) rebased onto main (1 behind before); old tip kept at refs/wta/backup/" \
        in synced.stdout
    conflict = [line for line in synced.stderr.splitlines() if line.startswith("ui:")]
    assert len(conflict) == 1 and "conflicts in src/ui/page.html" in conflict[0] and "unchanged" in conflict[0]
    assert git(repo, "rev-parse", "wta/infra").stdout.strip() == main
    assert git(repo, "rev-parse", "wta/ui").stdout.strip() == ui_before
    # (no backup of a tip the branch still has: each failed sync had added one to `wta backups`)
    assert "heads/wta/ui" not in git(repo, "for-each-ref", "--format=%(refname)", "refs/wta/backup/").stdout
    assert git(worktree(repo, "ui"), "status", "--porcelain").stdout == ""
    assert not (Path(git(worktree(repo, "ui"), "rev-parse", "--git-dir").stdout.strip()) / "rebase-merge").exists()
    assert (worktree(repo, "infra") / "README.md").read_text() == "# moved\n"
    trace = tmp_path / "trace"
    again = wta(repo, "sync", "infra", "api", check=0, env={**os.environ, "GIT_TRACE": str(trace)})
    assert again.stdout.count("already contains main") == 2
    assert traced(trace, "for-each-ref") == 0   # each tip read from the ref files (the coordinator syncs per session)


def test_wta_sync_moves_a_branch_to_the_base_carrying_local_changes_the_move_does_not_touch(tmp_path):
    """A fast-forward to the base had been refused for any uncommitted change in the worktree, even one in a file
    the base never changed: git's `merge --ff-only` and `checkout` carry such changes along."""
    repo = loop_repo(tmp_path, "true", streams="  api:\n    paths: [src/api/**]\n")
    wta(repo, "up", "--no-launch", check=0)
    api = worktree(repo, "api")
    local = {"src/api/handler.py": b"x = 2\r\nno newline at the end", "notes.txt": b"a person's notes\n",
             "src/ui/page.html": b"<p>staged</p>\n"}
    for path, data in local.items():
        (api / path).write_bytes(data)
    git(api, "add", "src/ui/page.html")
    write_files(repo, {"README.md": "# moved\n", "infra/new.sh": "echo new\n"})
    main = commit_all(repo, "base moves")
    synced = wta(repo, "sync", "api", check=0)
    assert synced.stdout == "api: wta/api moved to main (1 commit(s) it was behind)\n", synced.stderr
    assert git(repo, "rev-parse", "wta/api").stdout.strip() == main == git(api, "rev-parse", "HEAD").stdout.strip()
    assert {path: (api / path).read_bytes() for path in local} == local
    assert (api / "README.md").read_text() == "# moved\n" and (api / "infra/new.sh").read_text() == "echo new\n"
    assert git(api, "status", "--porcelain").stdout == " M src/api/handler.py\nM  src/ui/page.html\n?? notes.txt\n"
    # A branch with commits of its own is still rebased only in a clean worktree: the rebase carries nothing along.
    git(api, "restore", "--staged", "--worktree", "src/ui/page.html")
    git(api, "commit", "-qm", "[api] own work", "src/api/handler.py")
    (api / "src/api/handler.py").write_text("x = 3\n")
    write_files(repo, {"README.md": "# moved again\n"})
    commit_all(repo, "base moves again")
    refused = wta(repo, "sync", "api", check=1)
    assert refused.stderr.startswith(f"api: wta/api not synced: uncommitted changes in {api}: src/api/handler.py; "
                                     "commit or stash them there") and len(refused.stderr.splitlines()) == 1


def test_wta_sync_refuses_a_move_that_would_overwrite_a_local_change_naming_it_nothing_moved(tmp_path):
    repo = loop_repo(tmp_path, "true", streams="  api:\n    paths: [src/api/**]\n")
    wta(repo, "up", "--no-launch", check=0)
    api = worktree(repo, "api")
    old = git(repo, "rev-parse", "wta/api").stdout.strip()
    write_files(api, {"README.md": "# a person's edit\n", "infra/new.sh": "a person's file\n",
                      "src/api/handler.py": "x = 2\n"})
    write_files(repo, {"README.md": "# moved\n", "infra/new.sh": "echo new\n"})
    commit_all(repo, "base moves")
    refused = wta(repo, "sync", "api", check=1)
    assert refused.stdout == "" and refused.stderr == (
        f"api: wta/api not synced: moving it to the base would overwrite local changes or untracked files in {api}: "
        "README.md, infra/new.sh; commit, stash or move them there, then `wta sync api` (the branch and its files "
        "were not moved)\n")
    assert git(repo, "rev-parse", "wta/api").stdout.strip() == old == git(api, "rev-parse", "HEAD").stdout.strip()
    assert git(api, "diff", "--cached", "--name-only").stdout == ""   # the index still the old commit's
    assert (api / "README.md").read_text() == "# a person's edit\n"
    assert (api / "infra/new.sh").read_text() == "a person's file\n"
    assert git(api, "status", "--porcelain").stdout == " M README.md\n M src/api/handler.py\n?? infra/new.sh\n"
    assert not (state_dir(repo) / "sync" / "api.move").exists()
    (api / "infra/new.sh").unlink()
    git(api, "restore", "README.md")
    assert "moved to main" in wta(repo, "sync", "api", check=0).stdout
    assert (api / "src/api/handler.py").read_text() == "x = 2\n"


def test_up_starts_a_session_from_the_base_with_local_changes_carried_and_refuses_one_they_are_in_the_way_of(
        tmp_path):
    script = (f'git log --format=%s > "{tmp_path}/$WTA_STREAM-log"; cat src/api/handler.py notes.txt '
              f'> "{tmp_path}/$WTA_STREAM-files" 2>&1; touch "{tmp_path}/$WTA_STREAM-ran"')
    repo = loop_repo(tmp_path, script, streams="  api:\n    paths: [src/api/**]\n  ui:\n    paths: [src/ui/**]\n")
    wta(repo, "up", "--no-launch", check=0)
    api, ui = worktree(repo, "api"), worktree(repo, "ui")
    write_files(api, {"src/api/handler.py": "x = 2\n", "notes.txt": "api's notes\n"})
    write_files(ui, {"README.md": "# a person's edit\n"})
    ui_old = git(repo, "rev-parse", "wta/ui").stdout.strip()
    write_files(repo, {"README.md": "# moved\n"})
    main = commit_all(repo, "base moves")
    done = up(repo)
    assert done.returncode == 1, done.stdout + done.stderr
    assert (tmp_path / "api-log").read_text().splitlines()[0] == "base moves"
    assert (tmp_path / "api-files").read_text() == "x = 2\napi's notes\n"
    assert record(repo, "api")["state"] == "done"
    git(repo, "merge-base", "--is-ancestor", main, "wta/api")   # (then the session's leftovers commit)
    assert not (tmp_path / "ui-ran").exists()
    assert record(repo, "ui")["state"] == "failed" and record(repo, "ui")["reason"] == (
        f"not started: wta/ui not synced: moving it to the base would overwrite local changes or untracked files in "
        f"{ui}: README.md; commit, stash or move them there, then `wta sync ui` (the branch and its files were not "
        "moved)")
    assert git(repo, "rev-parse", "wta/ui").stdout.strip() == ui_old == git(ui, "rev-parse", "HEAD").stdout.strip()
    assert (ui / "README.md").read_text() == "# a person's edit\n"


def test_wta_sync_of_every_stream_skips_one_with_no_branch_yet(tmp_path):
    """A stream `wta up` has not made yet has nothing to sync, as `wta merge` skips it: `wta sync` had exited 1
    for it (`wta sync && ...` failed after a partial `wta up`)."""
    repo = loop_repo(tmp_path, "true", streams="  infra:\n    paths: [infra/**]\n  api:\n    paths: [src/api/**]\n")
    wta(repo, "up", "--no-launch", "infra", check=0)
    synced = wta(repo, "sync", check=0)
    assert "api: wta/api not synced: no branch wta/api yet, nothing to sync (`wta up api --no-launch` makes it)" \
        in synced.stdout


# ui's landing test passes only once api's session has started: api must start while the run that
# landed infra goes on to land ui (under the run's lock), not after the run.
INFRA, API, UI = ("  infra:\n    paths: [infra/**]\n", "  api:\n    paths: [src/api/**]\n    after: [infra]\n",
                  "  ui:\n    paths: [src/ui/**]\n")
INFRA_API_UI, UI_INFRA_API = INFRA + API + UI, UI + INFRA + API
UI_TEST_WAITS_FOR_API = """[ "$WTA_STREAM" = ui ] || exit 0
i=0
while [ ! -f "{out}/api-started" ]; do i=$((i + 1)); [ $i -gt 600 ] && exit 1; sleep 0.05; done
"""


# In file order or not, the run lands infra, which api waits for, before ui, which nothing waits for.
@pytest.mark.parametrize("streams", [INFRA_API_UI, UI_INFRA_API], ids=["infra-first-in-file", "ui-first-in-file"])
def test_a_dependent_starts_as_soon_as_its_dependency_lands_while_the_landing_run_goes_on(tmp_path, streams):
    from worktree_agents.state import command_lock

    (tmp_path / "check.sh").write_text(UI_TEST_WAITS_FOR_API.format(out=tmp_path))
    script = f"""
case "$WTA_STREAM" in
  infra) echo done > infra/work && git add infra/work && git commit -qm "infra work"
         while [ ! -f "{tmp_path}/go" ]; do sleep 0.05; done ;;
  ui) echo done > src/ui/work && git add src/ui/work && git commit -qm "ui work"
      while [ ! -f "{tmp_path}/go" ]; do sleep 0.05; done ;;
  api) git log --format=%s > "{tmp_path}/api-start.log"
       git rev-parse refs/heads/main > "{tmp_path}/api-main-tip"
       sed -n 3p "$(git rev-parse --path-format=absolute --git-common-dir)/wta/zones.fast" > "{tmp_path}/api-fast-tip"
       touch "{tmp_path}/api-started" ;;
esac
"""
    repo = loop_repo(tmp_path, script, extra=f"land: auto\ntest: sh {tmp_path}/check.sh\n", streams=streams)
    proc = start_up(repo)
    try:
        wait_for(lambda: record(repo, "infra")["state"] == record(repo, "ui")["state"] == "running", timeout=60)
        # A person's command holds the lock while both end, so that one landing run takes both.
        with command_lock(str(state_dir(repo)), "the test"):
            (tmp_path / "go").write_text("")
            for stream in ("infra", "ui"):
                wait_for(lambda: (record(repo, stream)["reason"] or "").startswith("landing waits"), timeout=60,
                         message=f"{stream}'s landing to wait for the lock")
        code, out, err = finish(proc)
    finally:
        proc.kill()
    assert code == 0, out + err
    assert "[infra] infra work" in (tmp_path / "api-start.log").read_text().splitlines()
    # The hooks' shell path (zones.fast) already knew the base infra's landing made: api's commits need no Python.
    assert (tmp_path / "api-fast-tip").read_text() == (tmp_path / "api-main-tip").read_text()
    infra, api, ui = (record(repo, s) for s in ("infra", "api", "ui"))
    assert (infra["state"], api["state"], ui["state"]) == ("landed", "landed", "landed")
    assert ui["handbacks"] == 0                     # its test saw api started: no failure, no follow-up
    assert api["started_at"] <= ui["landed_at"]     # api started before the run that landed infra had landed ui
    runs = [line for line in out.splitlines() if line.startswith(("infra: landed", "ui: landed", "api: running"))]
    assert [r.split(":")[0] for r in runs] == ["infra", "api", "ui"], out


# infra's landing test passes only once ui's session has started, so that its run still holds the lock then.
INFRA_TEST_WAITS_FOR_UI = """[ "$WTA_STREAM" = infra ] || exit 0
i=0
while [ ! -f "{out}/ui-started" ]; do i=$((i + 1)); [ $i -gt 600 ] && exit 1; sleep 0.05; done
"""


def test_a_landing_run_starts_before_the_launches_of_its_round_whose_sync_goes_on_under_its_lock(tmp_path,
                                                                                                 monkeypatch):
    """One session at a time: when infra's session ends, the next round has infra to land and ui to start.
    The landing run starts first (dependents wait for landings, not for launches), and ui's sync before
    its session goes on under the run's command lock instead of taking the lock before the run may."""
    from contextlib import contextmanager

    from worktree_agents import git as wgit
    from worktree_agents.project import Project
    from worktree_agents.sessions import supervisor

    (tmp_path / "check.sh").write_text(INFRA_TEST_WAITS_FOR_UI.format(out=tmp_path))
    script = f"""
case "$WTA_STREAM" in
  infra) echo done > infra/work && git add infra/work && git commit -qm "infra work" ;;
  ui) touch "{tmp_path}/ui-started"; echo done > src/ui/work && git add src/ui/work && git commit -qm "ui work" ;;
esac
"""
    repo = loop_repo(tmp_path, script, extra=f"land: auto\ntest: sh {tmp_path}/check.sh\n", streams=INFRA + UI)
    made = up(repo, "--no-launch")
    assert made.returncode == 0, made.stdout + made.stderr
    monkeypatch.setattr(wgit, "_OWN_GROUP", [False])   # (the coordinator sets it for this process)
    for name, value in env().items():
        monkeypatch.setenv(name, value)
    project = Project.find(str(repo))
    config = project.main_config()
    plan = supervisor.Schedule(("infra", "ui"), max_parallel=1, land=True)
    supervisor.queue_sessions(project, config, plan)
    coordinator = supervisor.Coordinator(project, config, plan)
    lander, events = coordinator.lander, []
    start, launch, covering = lander.start, coordinator.launch, lander.covering

    def starting(streams, first=()):
        events.append(("land", *streams))
        return start(streams, first)

    def launching(stream):
        events.append(("launch", stream))
        return launch(stream)

    @contextmanager
    def watched(stream):
        with covering(stream) as covered:
            events.append(("under the run's lock" if covered else "under a lock of its own", stream))
            yield covered

    monkeypatch.setattr(lander, "start", starting)
    monkeypatch.setattr(coordinator, "launch", launching)
    monkeypatch.setattr(lander, "covering", watched)
    records = coordinator.run()
    assert {s: r.state for s, r in records.items()} == {"infra": "landed", "ui": "landed"}, records
    assert events[:4] == [("launch", "infra"), ("under a lock of its own", "infra"), ("land", "infra"),
                          ("launch", "ui")], events
    assert events[4] == ("under the run's lock", "ui"), events


# -- failures go back to the agent ------------------------------------------------------

# Each session keeps a copy of its prompt (api-prompt-0.md, -1.md, ...); a follow-up fixes what its prompt names.
KEEP_PROMPT = 'n=$(ls "{out}" | grep -c "^$WTA_STREAM-prompt-"); cp "$1" "{out}/$WTA_STREAM-prompt-$n.md"\n'

TEST_SCRIPT = """git rev-parse HEAD >> "{out}/tested"
if [ -f src/api/fixed ]; then echo "all good"; exit 0; fi
for i in 1 2 3 4 5 6 7 8 9 10; do echo "noise line $i"; done
printf 'bad\000byte \033[31mred\033[0m\n'; head -c 5000 /dev/zero | tr '\\0' x; echo
echo "FAILED test_api: src/api/fixed is missing (marker 42)"
exit 1
"""


def _test_failing_repo(tmp_path: Path, fix: bool, extra: str = "") -> Path:
    (tmp_path / "check.sh").write_text(TEST_SCRIPT.format(out=tmp_path))
    fixing = 'touch src/api/fixed && git add src/api/fixed && git commit -qm "fix the test"' if fix else "true"
    script = KEEP_PROMPT.format(out=tmp_path) + f"""
case "$WTA_STREAM" in
  api) if grep -q "marker 42" "$1"; then {fixing}; else echo w > src/api/w.py && git add src/api/w.py && git commit -qm "api work"; fi ;;
  ui) echo started > "{tmp_path}/ui-started" ;;
esac
"""
    notify_log = tmp_path / "notify.log"
    return loop_repo(tmp_path, script, extra=f"land: auto\ntest: sh {tmp_path}/check.sh\n"
                     f"notify: \"echo '{{stream}}|{{state}}|{{message}}' >> {notify_log}\"\n{extra}",
                     streams="  api:\n    paths: [src/api/**]\n  ui:\n    paths: [src/ui/**]\n    after: [api]\n")


def test_a_failed_test_goes_back_to_the_agent_which_fixes_it_and_the_stream_lands(tmp_path):
    repo = _test_failing_repo(tmp_path, fix=True)
    done = up(repo)
    assert done.returncode == 0, done.stdout + done.stderr
    follow_up = (tmp_path / "api-prompt-1.md").read_text()
    assert "FAILED test_api: src/api/fixed is missing (marker 42)" in follow_up
    assert f"sh {tmp_path}/check.sh" in follow_up and "noise line 10" in follow_up
    assert follow_up.count(f"`sh {tmp_path}/check.sh`") == 1   # (it had named the command twice in a row)
    # What the test printed, fit for a prompt (an argument of the agent's command line): a NUL had
    # made every follow-up fail to start, a 5,000-character line could pass the system's limit.
    assert "badbyte red\n" in follow_up and "\x00" not in follow_up and "\x1b" not in follow_up
    assert "x" * 400 + " [cut]\n" in follow_up and "x" * 401 not in follow_up
    # Off a terminal, the hand-back is a line of its own (the follow-up's start had been the only sign).
    assert "api: handed back to its agent (follow-up 1; `wta prompt api` shows why)" in done.stdout
    assert subjects(repo, "main")[:2] == ["[api] fix the test", "[api] api work"]
    tested = (tmp_path / "tested").read_text().split()
    assert git(repo, "rev-parse", "main").stdout.strip() in tested
    api = record(repo, "api")
    assert (api["state"], api["handbacks"]) == ("landed", 1)
    assert (tmp_path / "ui-started").exists()
    assert not (state_dir(repo) / "handback" / "api.md").exists()


def test_a_fix_that_never_comes_blocks_the_stream_after_land_retries(tmp_path):
    repo = _test_failing_repo(tmp_path, fix=False)
    main_before = git(repo, "rev-parse", "main").stdout.strip()
    done = up(repo)
    assert done.returncode == 1
    api = record(repo, "api")
    assert (api["state"], api["handbacks"]) == ("blocked", 2)       # land_retries: 2 by default
    assert "test-failed" in api["reason"] and "landing failed 3 time(s)" in api["reason"]
    assert sorted(p.name for p in tmp_path.glob("api-prompt-*.md")) == ["api-prompt-0.md", "api-prompt-1.md",
                                                                         "api-prompt-2.md"]
    assert git(repo, "rev-parse", "main").stdout.strip() == main_before
    # What `wta prompt api` (and a person taking over) shows is the last failure, not the first.
    last = (state_dir(repo) / "handback" / "api.md").read_text()
    newest_log = max((state_dir(repo) / "merges").rglob("*.log"), key=lambda p: p.stat().st_mtime)
    assert "FAILED test_api" in last and f"(log: {newest_log})" in last
    said = (tmp_path / "notify.log").read_text().splitlines()
    blocked = [line for line in said if "|blocked|" in line]
    assert len(blocked) == 1 and blocked[0].startswith("api|blocked|") and "test-failed" in blocked[0]
    # Each of the three sessions ended done, though a follow-up or the block came before a look saw it.
    assert [line for line in said if line.startswith("api|done|")] == ["api|done|session done"] * 3, said
    ui = record(repo, "ui")
    assert (ui["state"], ui["reason"], ui["started_at"]) == ("failed", "dependency api blocked", None)
    assert not (tmp_path / "ui-started").exists()
    # By hand: the same failure, and the base stays where it was.
    by_hand = wta(repo, "merge", "api", check=1)
    assert "api: blocked: landing failed 3 time(s): test-failed" in by_hand.stderr
    assert "test-failed" in by_hand.stdout
    assert git(repo, "rev-parse", "main").stdout.strip() == main_before
    # Fixed and landed by hand: its dependent starts on the next wta up.
    write_files(worktree(repo, "api"), {"src/api/fixed": ""})
    commit_all(worktree(repo, "api"), "fixed by hand")
    wta(repo, "merge", "--continue", check=0)   # the merge by hand above stopped at api's test
    # Landed by hand: no longer blocked, and the old failure no longer heads its prompt.
    api = record(repo, "api")
    assert (api["state"], api["reason"]) == ("landed", f"landed on main at {api['landed_head'][:12]} by `wta merge`")
    assert not (state_dir(repo) / "handback" / "api.md").exists()
    assert "failed" not in wta(repo, "prompt", "api", check=0).stdout.split("\n")[0]
    again = up(repo, "ui")
    assert again.returncode == 0, again.stdout + again.stderr
    assert (tmp_path / "ui-started").exists() and record(repo, "ui")["state"] == "landed"



def test_a_blocked_streams_reason_ends_with_the_next_step_and_that_step_lands_it(tmp_path):
    """`blocked` said what failed but not what a person does next; the landing kept no stopped merge
    (`wta merge --continue` has nothing to finish): `wta merge STREAM` is what lands it."""
    notify_log = tmp_path / "notify.log"
    script = '[ -f src/api/w.py ] || { echo w > src/api/w.py && git add src/api/w.py && git commit -qm w; }\n'
    repo = loop_repo(tmp_path, script, streams="  api:\n    paths: [src/api/**]\n",
                     extra="land: auto\nland_retries: 1\ntest: 'test -f src/api/fixed || { echo no fix; exit 1; }'\n"
                           f"notify: \"echo '{{stream}}|{{state}}|{{message}}' >> {notify_log}\"\n")
    done = up(repo)
    assert done.returncode == 1, done.stdout + done.stderr
    api = record(repo, "api")
    step = (f"; to land it: fix it in {worktree(repo, 'api')} and commit, then `wta merge api` "
            "(`wta prompt api` shows the last hand-back)")
    assert api["state"] == "blocked" and api["reason"].startswith("landing failed 2 time(s): test-failed: ")
    assert api["reason"].endswith(step), api["reason"]
    assert f"api: blocked ({api['reason']})" in done.stdout
    assert any(line.startswith("api|blocked|") and line.endswith(step)
               for line in notify_log.read_text().splitlines()), notify_log.read_text()
    assert api["reason"] in wta(repo, "status", check=0).stdout
    # Each step does what it says: the prompt shows the failure, `--continue` has no merge to finish, the
    # merge lands the fix (and says the stream was blocked, without the advice it follows).
    assert wta(repo, "prompt", "api", check=0).stdout.startswith("# Landing your work on `main` failed")
    assert "no merge in progress" in wta(repo, "merge", "--continue", check=2).stderr
    write_files(worktree(repo, "api"), {"src/api/fixed": ""})
    commit_all(worktree(repo, "api"), "fixed by hand")
    merged = wta(repo, "merge", "api", check=0)
    assert "api: blocked: landing failed 2 time(s): test-failed: " in merged.stderr
    assert "to land it" not in merged.stderr
    assert subjects(repo, "main")[:2] == ["[api] fixed by hand", "[api] w"]
    assert record(repo, "api")["state"] == "landed"


def test_logs_follow_of_a_blocked_stream_ends_on_blocked_with_its_reason_as_status_says(tmp_path):
    """Its follow-ups ended done and each landing failed: the log's last line says "ended: done", and
    `wta logs -f` ended there, exit 0, where `wta status` says blocked."""
    script = '[ -f src/api/w.py ] || { echo w > src/api/w.py && git add src/api/w.py && git commit -qm w; }\n'
    repo = loop_repo(tmp_path, script, streams="  api:\n    paths: [src/api/**]\n",
                     extra="land: auto\nland_retries: 1\ntest: 'echo no fix; exit 1'\n")
    assert up(repo).returncode == 1
    api = record(repo, "api")
    assert api["state"] == "blocked"

    followed = wta(repo, "logs", "-f", "api", check=1)

    assert followed.stdout.rstrip("\n").splitlines()[-1].endswith("ended: done")   # the log, as written
    assert followed.stderr == f"wta: stream 'api' is blocked: {api['reason']}\n"
    assert f"blocked: {api['reason']}" in wta(repo, "status", check=0).stdout
    assert wta(repo, "logs", "api", check=0).stderr == ""   # without -f: the log only


# The first session waits for `go`; the follow-up, given the failed test (marker 42), fixes it.
FOLLOWED = """
if grep -q "marker 42" "$1"; then
  echo "follow-up session starts"; touch src/api/fixed && git add src/api/fixed && git commit -qm "fix the test"
else
  echo "first session starts"; while [ ! -f "{out}/go" ]; do sleep 0.05; done
  echo w > src/api/w.py && git add src/api/w.py && git commit -qm "api work"
fi
"""
FIXED_TEST = "test: 'test -f src/api/fixed || { echo \"FAILED (marker 42)\"; exit 1; }'\n"


def follow_logs(repo: Path, stream: str, out: Path) -> subprocess.Popen:
    """`wta logs -f STREAM`, its stdout into `out` (read as it grows), its stderr piped."""
    with open(out, "wb") as f:
        return subprocess.Popen([sys.executable, "-m", "worktree_agents", "logs", "-f", stream], cwd=repo, env=env(),
                                stdout=f, stderr=subprocess.PIPE, text=True)


@pytest.mark.parametrize("land, args", [("land: auto\n", []), ("", ["-d", "--land"])], ids=["auto", "up-d-land"])
def test_logs_follow_goes_on_through_the_landing_and_the_follow_up_it_hands_back_until_landed(tmp_path, land, args):
    """`wta logs -f` ended with the first session (`done`, `landing` on stderr), exit 0: the landing to come, its
    hand-back and the follow-up session (which writes on in the same log) went unseen. It follows them now, and
    ends on the stream landed, saying so."""
    repo = loop_repo(tmp_path, FOLLOWED.format(out=tmp_path), streams="  api:\n    paths: [src/api/**]\n",
                     extra=land + FIXED_TEST)
    up_proc = start_up(repo, *args)
    try:
        if args:   # detached: `wta up -d` returns at once, followed right after, while api may still be pending
            assert finish(up_proc)[0] == 0
        wait_for(lambda: (state_dir(repo) / "sessions" / "api.json").exists(), message="api's record")
        out = tmp_path / "followed.out"
        follow = follow_logs(repo, "api", out)
        wait_for(lambda: "first session starts" in out.read_text(), timeout=60, message="the first session")
        (tmp_path / "go").write_text("")
        _, err = follow.communicate(timeout=120)
        if not args:
            assert finish(up_proc)[0] == 0
    finally:
        up_proc.kill()
    followed = out.read_text()
    assert "follow-up session starts" in followed, (followed, err)
    assert followed.index("first session starts") < followed.index("follow-up session starts"), followed
    assert follow.returncode == 0, err
    api = record(repo, "api")
    assert (api["state"], api["handbacks"]) == ("landed", 1), api
    assert followed == wta(repo, "logs", "api", check=0).stdout   # the whole log, both sessions
    assert err.splitlines()[-1] == f"wta: stream 'api' is {api['reason']}", err   # landed on main at ...
    assert "no coordinator" not in err   # (detached: followed as the coordinator it handed the lock to started)


def test_logs_follow_of_a_stream_whose_coordinator_is_killed_while_landing_it_ends_saying_none_lands_it(tmp_path):
    """Followed while its landing runs, the stream is left `landing` by a coordinator killed: `wta logs -f`
    ends (nobody lands it now), saying so as `wta status` does, rather than wait for ever."""
    script = 'echo w > src/api/w.py && git add src/api/w.py && git commit -qm w\n'
    repo = loop_repo(tmp_path, script, streams="  api:\n    paths: [src/api/**]\n", extra="land: auto\ntest: 'true'\n")
    started = up(repo, "-d", env_=env(WTA_MERGE_PAUSE_AT="test:api"))
    assert started.returncode == 0, started.stdout + started.stderr
    coordinator = int(re.search(r"a coordinator \(pid (\d+)\)", started.stdout).group(1))
    merge_state = state_dir(repo) / "merge.json"
    wait_for(lambda: (st := json.loads(merge_state.read_text()))["step"] == "test" and st["stream"] == "api",
             timeout=60, message="api's landing to reach its test")
    follow = follow_logs(repo, "api", tmp_path / "followed.out")
    try:
        time.sleep(2)
        assert follow.poll() is None, follow.communicate()   # the landing under way: followed on
        assert record(repo, "api")["state"] == "landing"
        os.kill(coordinator, signal.SIGKILL)
        wait_for(lambda: not alive(coordinator), message="the coordinator to die")
        _, err = follow.communicate(timeout=15)
    finally:
        follow.kill()
    assert follow.returncode == 0, err
    assert err == ("wta: stream 'api' is landing: not landing: no coordinator is landing it (the last one ended "
                   "without finishing the schedule); `wta up --land` resumes the schedule, and lands it\n")
    assert (tmp_path / "followed.out").read_text().rstrip("\n").endswith("ended: done")


def test_logs_follow_of_a_stream_handed_back_whose_coordinator_is_killed_before_its_follow_up_ends(tmp_path):
    """Handed back, api waits `pending` for a slot (ui runs, max_parallel 1) when its coordinator is killed:
    nobody starts its follow-up, and `wta logs -f` waited for it for ever. It ends, saying so as `wta status`
    does."""
    script = f"""case "$WTA_STREAM" in
  api) echo w > src/api/w.py && git add src/api/w.py && git commit -qm w ;;
  ui) while [ ! -f "{tmp_path}/go" ]; do sleep 0.05; done ;;
esac
"""
    repo = loop_repo(tmp_path, script, streams="  api:\n    paths: [src/api/**]\n  ui:\n    paths: [src/ui/**]\n",
                     extra="land: auto\nmax_parallel: 1\ntest: 'test ! -f src/api/w.py || { echo FAILED; exit 1; }'\n")
    started = up(repo, "-d")
    assert started.returncode == 0, started.stdout + started.stderr
    coordinator = int(re.search(r"a coordinator \(pid (\d+)\)", started.stdout).group(1))
    try:
        wait_for(lambda: (r := record(repo, "api"))["state"] == "pending" and r["handbacks"] == 1, timeout=60,
                 message="api handed back")
        assert record(repo, "ui")["state"] == "running"
        follow = follow_logs(repo, "api", tmp_path / "followed.out")
        try:
            time.sleep(1)
            assert follow.poll() is None, follow.communicate()   # its follow-up is to come
            os.kill(coordinator, signal.SIGKILL)
            wait_for(lambda: not alive(coordinator), message="the coordinator to die")
            _, err = follow.communicate(timeout=15)
        finally:
            follow.kill()
    finally:
        (tmp_path / "go").write_text("")
    assert follow.returncode == 0, err
    assert err == ("wta: stream 'api' is pending: not started: no coordinator is scheduling it (the last one ended "
                   "without finishing the schedule); `wta up` resumes the schedule\n")
    wait_for(lambda: record(repo, "ui")["state"] == "done", timeout=60, message="ui's session to end")


def test_logs_follow_ends_with_the_session_when_land_is_manual_though_the_coordinator_runs_on(tmp_path):
    """Under `land: manual` nothing lands a `done` stream by itself (a person's `wta merge` does): `-f` ends
    with its session, exit 0, while the coordinator still runs another stream's."""
    script = f"""case "$WTA_STREAM" in
  api) echo w > src/api/w.py && git add src/api/w.py && git commit -qm w ;;
  ui) while [ ! -f "{tmp_path}/go" ]; do sleep 0.05; done ;;
esac
"""
    repo = loop_repo(tmp_path, script, streams="  api:\n    paths: [src/api/**]\n  ui:\n    paths: [src/ui/**]\n")
    assert up(repo, "-d").returncode == 0
    try:
        wait_for(lambda: record(repo, "api")["state"] == "done", timeout=60, message="api's session to end")
        begun = time.monotonic()
        followed = wta(repo, "logs", "-f", "api", check=0, timeout=30)
        assert time.monotonic() - begun < 10
        assert followed.stderr == "" and followed.stdout.rstrip("\n").endswith("ended: done")
        assert record(repo, "ui")["state"] == "running"   # its coordinator runs on
    finally:
        (tmp_path / "go").write_text("")
    wait_for(lambda: record(repo, "ui")["state"] == "done", timeout=60, message="ui's session to end")


def test_a_change_left_outside_the_zone_is_handed_back_as_one_to_undo_and_the_stream_lands(tmp_path):
    """The hand-back had said "commit or stash them": a path outside the zone cannot be committed, and the
    sandbox has no `git stash`; the agent spent its follow-ups and the stream was blocked."""
    script = KEEP_PROMPT.format(out=tmp_path) + """
if grep -q "Undo the others (\\`git restore --staged --worktree -- PATH\\`)" "$1"; then
  git restore --staged --worktree -- src/ui/page.html
else
  echo w > src/api/w.py && git add src/api/w.py && git commit -qm "api work"
  echo taken > src/ui/page.html
fi
"""
    repo = loop_repo(tmp_path, script, extra="land: auto\nland_retries: 1\n",
                     streams="  api:\n    paths: [src/api/**]\n  ui:\n    paths: [src/ui/**]\n")
    done = up(repo, "api")
    assert done.returncode == 0, done.stdout + done.stderr
    follow_up = (tmp_path / "api-prompt-1.md").read_text()
    assert "Your worktree has uncommitted changes, and only commits land:\n- `src/ui/page.html`\n" in follow_up
    assert "stash" not in follow_up
    assert (record(repo, "api")["state"], record(repo, "api")["handbacks"]) == ("landed", 1)
    assert subjects(repo, "main")[0] == "[api] api work"
    assert git(repo, "show", "main:src/ui/page.html").stdout == "<p>hi</p>\n"


def test_an_untracked_file_the_test_would_read_is_handed_back_and_the_stream_lands_without_it(tmp_path):
    """A file the agent left untracked outside its zone (the leftovers commit takes only the zone's): the landing's
    test ran with it in the worktree and passed, and the base got the commit without it."""
    script = KEEP_PROMPT.format(out=tmp_path) + """
if grep -q "Your worktree has untracked files" "$1"; then
  rm conftest.py
else
  echo w > src/api/w.py && git add src/api/w.py && git commit -qm "api work"
  echo "import pytest" > conftest.py
fi
"""
    repo = loop_repo(tmp_path, script, extra="land: auto\nland_retries: 1\ntest: 'test -f src/api/w.py'\n",
                     streams="  api:\n    paths: [src/api/**]\n")
    done = up(repo, "api")
    assert done.returncode == 0, done.stdout + done.stderr
    follow_up = (tmp_path / "api-prompt-1.md").read_text()
    assert "Your worktree has untracked files (not committed, not ignored) that your branch lacks." in follow_up
    assert "so the landing was not tested:\n- `conftest.py`\n\nDelete those outside your zone" in follow_up
    assert ".gitignore in your zone" not in follow_up    # (none it may change covers conftest.py)
    assert (record(repo, "api")["state"], record(repo, "api")["handbacks"]) == ("landed", 1)
    assert subjects(repo, "main")[0] == "[api] api work"
    assert not (worktree(repo, "api") / "conftest.py").exists()


def test_untracked_files_named_with_a_newline_an_escape_or_bytes_not_utf8_are_handed_back_quoted(tmp_path):
    """Names an agent chose: one of bytes that are not UTF-8 ended its session `failed` (the wrapper's log line
    about leftovers outside the zone), then the landing, then wta up itself, in a UnicodeEncodeError; a newline
    or an escape sequence went into the hand-back as it was. They are named as git quotes them."""
    names = "$(printf 'x\\377.py') \"$(printf 'a\\nb')\" $(printf 'e\\033]0;T\\007.py')"
    script = KEEP_PROMPT.format(out=tmp_path) + f"""
if grep -q "Your worktree has untracked files" "$1"; then
  rm -f {names}
else
  echo w > src/api/w.py && git add src/api/w.py && git commit -qm "api work"
  for f in {names}; do echo 1 > "$f"; done
fi
"""
    repo = loop_repo(tmp_path, script, extra="land: auto\nland_retries: 1\ntest: 'test -f src/api/w.py'\n",
                     streams="  api:\n    paths: [src/api/**]\n")
    done = up(repo, "api")
    assert done.returncode == 0, done.stdout + done.stderr
    follow_up = (tmp_path / "api-prompt-1.md").read_text()
    assert ('so the landing was not tested:\n- `"a\\nb"`\n- `"e\\033]0;T\\a.py"`\n- `"x\\377.py"`\n\n'
            in follow_up), follow_up
    assert (record(repo, "api")["state"], record(repo, "api")["handbacks"]) == ("landed", 1)
    assert subjects(repo, "main")[0] == "[api] api work"


def test_a_conflict_on_landing_goes_back_to_the_agent_and_lands_after_its_fix(tmp_path):
    """Two commits that conflict, resolved one after the other by the agent in its sandbox, as the hand-back
    says (`git rebase --apply`): git 2.39 takes packed-refs.lock in the common git dir, read-only there, to
    delete CHERRY_PICK_HEAD, and a default rebase never got past the first conflict."""
    script = KEEP_PROMPT.format(out=tmp_path) + f"""
if grep -q "conflicts in these paths" "$1"; then
  how=$(grep -o 'git rebase --apply main' "$1" | head -1)
  $how -q 2>/dev/null
  n=0
  while [ -d "$(git rev-parse --git-path rebase-apply)" ] && [ $n -lt 4 ]; do
    n=$((n + 1)); echo "x = 23$n" > src/api/handler.py && git add src/api/handler.py
    GIT_EDITOR=true git rebase --continue 2>/dev/null
  done
else
  echo "x = 2" > src/api/handler.py && git add src/api/handler.py && git commit -qm "api x 2"
  echo "x = 22" > src/api/handler.py && git add src/api/handler.py && git commit -qm "api x 22"
  while [ ! -f "{tmp_path}/go" ]; do sleep 0.05; done
fi
"""
    repo = loop_repo(tmp_path, script, extra="land: auto\n", streams="  api:\n    paths: [src/api/**]\n")
    proc = start_up(repo)
    try:
        wait_for(lambda: "[api] api x 2" in git(repo, "log", "--format=%s", "refs/heads/wta/api", check=False).stdout,
                 timeout=60, message="api's commit")
        write_files(repo, {"src/api/handler.py": "x = 3\n"})
        person = commit_all(repo, "a person changes x on main")
        (tmp_path / "go").write_text("")
        code, out, err = finish(proc)
    finally:
        proc.kill()
    assert code == 0, out + err
    follow_up = (tmp_path / "api-prompt-1.md").read_text()
    assert "`src/api/handler.py`" in follow_up and "a person changes x on main" in follow_up
    assert (repo / "src/api/handler.py").read_text() == "x = 232\n"   # both conflicts resolved in turn
    assert subjects(repo, "main")[:3] == ["[api] api x 22", "[api] api x 2", "a person changes x on main"]
    assert git(repo, "merge-base", "--is-ancestor", person, "main", check=False).returncode == 0
    assert record(repo, "api")["state"] == "landed"


def test_a_commit_outside_the_zone_made_with_no_verify_is_handed_back_never_landed(tmp_path):
    """The follow-up agent does what its prompt says, in its sandbox. (It had said `git rebase -i`, which leaves
    CHERRY_PICK_HEAD there, so that a later commit took another's author; or a revert, which never lands.)"""
    script = KEEP_PROMPT.format(out=tmp_path) + """
if grep -q "wta never lands them" "$1"; then
  fork=$(git merge-base HEAD main)
  grep -qF "git reset --soft \\$(git merge-base HEAD main)" "$1" && git reset -q --soft "$fork"
  grep -qF "git restore --source=\\$(git merge-base HEAD main) --staged --worktree -- src/ui/page.html" "$1" &&
    git restore --source="$fork" --staged --worktree -- src/ui/page.html
  git commit -qm "in my zone, at last"
else
  echo ok > src/api/ok.py && git add src/api/ok.py && git commit -qm "in my zone"
  echo sneaky > src/ui/page.html && git add src/ui/page.html && git commit -q --no-verify -m "[api] sneak into ui"
fi
"""
    repo = loop_repo(tmp_path, script, extra="land: auto\n",
                     streams="  api:\n    paths: [src/api/**]\n  ui:\n    paths: [src/ui/**]\n")
    done = up(repo, "api")
    assert done.returncode == 0, done.stdout + done.stderr
    follow_up = (tmp_path / "api-prompt-1.md").read_text()
    assert "src/ui/page.html" in follow_up and "owned by stream 'ui'" in follow_up
    assert "[api] sneak into ui" not in subjects(repo, "main")
    assert subjects(repo, "main")[0] == "[api] in my zone, at last"
    assert (repo / "src/ui/page.html").read_text() == "<p>hi</p>\n" and (repo / "src/api/ok.py").exists()
    api = worktree(repo, "api")
    private = Path(git(api, "rev-parse", "--absolute-git-dir").stdout.strip())
    assert git(api, "status", "--porcelain").stdout == "" and not (private / "CHERRY_PICK_HEAD").exists()


def _fixing_api_agent(body: dict):
    """An api-runner agent: in its first session some work; in a follow-up that names the failing test
    ("marker 42"), the fix."""
    from worktree_agents.fake_anthropic import text, tool_use

    first = json.dumps(body["messages"][0])
    path = "src/api/fixed" if "marker 42" in first else "src/api/w.py"
    turns = [[tool_use("write_file", {"path": path, "content": "ok\n"})],
             [tool_use("commit", {"message": "fix the test" if "fixed" in path else "api work"})],
             [text("Done.")]]
    turn = len(body["messages"]) // 2
    return turns[turn] if turn < len(turns) else None


def test_the_api_runner_gets_the_failed_test_in_its_follow_up_and_fixes_it(tmp_path):
    from worktree_agents.fake_anthropic import FakeAnthropic
    from sessions_support import KEY

    agent = _fixing_api_agent
    (tmp_path / "check.sh").write_text(TEST_SCRIPT.format(out=tmp_path))
    zones_text = (f"version: 1\nland: auto\ntest: sh {tmp_path}/check.sh\nagent:\n  runner: api\n  max_turns: 10\n"
                  "  timeout: 60s\nstreams:\n  api:\n    paths: [src/api/**]\n    prompt: Add a route.\n")
    repo = session_repo(tmp_path, zones_text, FILES)
    with FakeAnthropic(agent, api_key=KEY) as fake:
        done = up(repo, env_=env(ANTHROPIC_BASE_URL=fake.base_url))
    assert done.returncode == 0, done.stdout + done.stderr
    firsts = [json.dumps(r.body["messages"][0]) for r in fake.conversation_requests() if len(r.body["messages"]) == 1]
    assert len(firsts) == 2 and "marker 42" not in firsts[0] and "marker 42" in firsts[1]
    assert subjects(repo, "main")[:2] == ["[api] fix the test", "[api] api work"]
    assert (record(repo, "api")["state"], record(repo, "api")["handbacks"]) == ("landed", 1)



def test_while_a_follow_up_runs_status_shows_its_turns_not_those_of_the_session_before(tmp_path):
    """The record kept the first session's figures until the follow-up ended: `wta status` showed its 7 turns
    and its cost as the running follow-up's."""
    gate = tmp_path / "go"
    result = '{{"type": "result", "subtype": "success", "num_turns": {turns}, "total_cost_usd": {usd}}}'
    (tmp_path / "check.sh").write_text(TEST_SCRIPT.format(out=tmp_path))   # fails until src/api/fixed
    script = f"""if grep -q "marker 42" "$1"; then
  while [ ! -f {gate} ]; do sleep 0.05; done
  touch src/api/fixed && git add src/api/fixed && git commit -qm "fix the test"
  echo '{result.format(turns=2, usd=0.25)}'
else
  echo w > src/api/w.py && git add src/api/w.py && git commit -qm "api work"
  echo '{result.format(turns=7, usd=0.5)}'
fi
"""
    repo = loop_repo(tmp_path, script, extra=f"land: auto\ntest: sh {tmp_path}/check.sh\n",
                     streams="  api:\n    paths: [src/api/**]\n")
    assert up(repo, "-d").returncode == 0
    wait_for(lambda: record(repo, "api")["handbacks"] == 1 and record(repo, "api")["state"] == "running",
             timeout=60, message="the follow-up to run")

    shown = json.loads(wta(repo, "status", "--json", check=0).stdout)["streams"][0]["session"]
    assert (shown["state"], shown["turns"], shown["cost_usd"]) == ("running", None, None), shown
    assert (shown["total_sessions"], shown["total_turns"], shown["total_cost_usd"]) == (1, 7, 0.5)
    table = wta(repo, "status", check=0, env={**os.environ, "COLUMNS": "250"}).stdout
    row = next(line for line in table.split("\nsessions\n")[1].splitlines() if line.startswith("api "))
    assert " 7 " not in row and "$0.5000 so far" in row, table
    gate.touch()
    wait_for(lambda: record(repo, "api")["state"] == "landed", timeout=60, message="api to land")
    api = record(repo, "api")
    assert (api["turns"], api["total_turns"], api["total_sessions"], api["total_cost_usd"]) == (2, 9, 2, 0.75)


def test_a_streams_cost_counts_every_session_of_its_schedule_not_only_its_follow_up(tmp_path):
    """After a hand-back, the follow-up's figures replaced the first session's: `wta status` showed the
    turns, cost and tokens of the follow-up only, and what the stream cost was under-reported."""
    from worktree_agents.fake_anthropic import FakeAnthropic, _estimate_tokens, _prompt_of
    from worktree_agents.sessions import pricing
    from sessions_support import KEY

    (tmp_path / "check.sh").write_text(TEST_SCRIPT.format(out=tmp_path))   # fails once: until src/api/fixed
    model = "claude-sonnet-4-5"
    zones_text = (f"version: 1\nland: auto\ntest: sh {tmp_path}/check.sh\nagent:\n  runner: api\n  model: {model}\n"
                  "  max_turns: 10\n  timeout: 60s\nstreams:\n  api:\n    paths: [src/api/**]\n"
                  "    prompt: Add a route.\n")
    repo = session_repo(tmp_path, zones_text, FILES)
    with FakeAnthropic(_fixing_api_agent, api_key=KEY) as fake:
        done = up(repo, env_=env(ANTHROPIC_BASE_URL=fake.base_url))
    assert done.returncode == 0, done.stdout + done.stderr
    # The input tokens the fake reported, session by session (a session's first request has one message).
    sessions: list[int] = []
    for request in fake.conversation_requests():
        if len(request.body["messages"]) == 1:
            sessions.append(0)
        sessions[-1] += _estimate_tokens(_prompt_of(request.body))
    assert len(sessions) == 2
    api = record(repo, "api")
    assert (api["state"], api["handbacks"], api["turns"], api["input_tokens"]) == ("landed", 1, 3, sessions[1])
    assert (api["total_sessions"], api["total_turns"], api["total_input_tokens"]) == (2, 6, sum(sessions))
    assert api["total_output_tokens"] > api["output_tokens"] > 0
    assert api["total_cost_usd"] == pytest.approx(
        pricing.cost_usd(model, sum(sessions), api["total_output_tokens"]), abs=2e-6)
    shown = json.loads(wta(repo, "status", "--json", check=0).stdout)["streams"][0]["session"]
    assert {k: shown[k] for k in ("total_sessions", "total_turns", "total_cost_usd", "total_input_tokens",
                                  "total_output_tokens", "cost_usd")} == \
        {k: api[k] for k in ("total_sessions", "total_turns", "total_cost_usd", "total_input_tokens",
                             "total_output_tokens", "cost_usd")}
    # The table's cost column: the two sessions together (a scripted model answered: nothing was billed).
    assert f"${api['total_cost_usd']:.4f} (2 sessions, simulated)" in wta(repo, "status", check=0).stdout

# -- killed while landing ------------------------------------------------------------------

@pytest.mark.parametrize("step", ["verify", "rebase", "test", "fast-forward"])
def test_a_coordinator_killed_while_landing_loses_nothing_and_the_next_wta_up_finishes(tmp_path, step):
    script = f"""
echo 1 > src/api/one.py && git add src/api/one.py && git commit -qm "api one"
echo 2 > src/api/two.py && git add src/api/two.py && git commit -qm "api two"
while [ ! -f "{tmp_path}/go" ]; do sleep 0.05; done
"""
    tested = tmp_path / "tested"
    repo = loop_repo(tmp_path, script, extra=f"land: auto\ntest: git rev-parse HEAD >> {tested}\n",
                     streams="  api:\n    paths: [src/api/**]\n")
    started = up(repo, "-d", env_=env(WTA_MERGE_PAUSE_AT=f"{step}:api"))
    assert started.returncode == 0, started.stdout + started.stderr
    coordinator = int(re.search(r"a coordinator \(pid (\d+)\)", started.stdout).group(1))
    wait_for(lambda: "[api] api two" in git(repo, "log", "--format=%s", "refs/heads/wta/api", check=False).stdout,
             timeout=60, message="api's commits")
    write_files(repo, {"README.md": "# a person moves the base\n"})
    person = commit_all(repo, "a person's commit on main")   # so that landing has to rebase
    (tmp_path / "go").write_text("")
    merge_state = state_dir(repo) / "merge.json"
    wait_for(lambda: (st := json.loads(merge_state.read_text()))["step"] == step and st["stream"] == "api",
             timeout=60, message=f"the landing to reach {step}")
    old_tip = json.loads(merge_state.read_text())["start"]
    os.kill(coordinator, signal.SIGKILL)
    wait_for(lambda: not alive(coordinator), message="the coordinator to die")
    assert git(repo, "rev-parse", "main").stdout.strip() == person      # unmoved: nothing untested on it
    # `wta status` does not go on showing the step the landing was killed at as under way.
    shown = json.loads(wta(repo, "status", "--json", check=0).stdout)
    api = next(s for s in shown["streams"] if s["stream"] == "api")["session"]
    assert (api["state"], api["reason"]) == ("landing", "not landing: no coordinator is landing it (the last one "
                                             "ended without finishing the schedule); `wta up --land` resumes the "
                                             "schedule, and lands it"), api

    again = up(repo)
    assert again.returncode == 0, again.stdout + again.stderr
    main = git(repo, "rev-parse", "main").stdout.strip()
    assert main in tested.read_text().split()
    assert subjects(repo, "main")[:3] == ["[api] api two", "[api] api one", "a person's commit on main"]
    assert record(repo, "api")["state"] == "landed" and not merge_state.exists()
    backups = git(repo, "for-each-ref", "--format=%(objectname)", "refs/wta/backup/").stdout.split()
    assert any(git(repo, "merge-base", "--is-ancestor", old_tip, b, check=False).returncode == 0 for b in backups)


def _killed_at_a_landings_test(tmp_path: Path, stream: str, land: str, *args: str) -> Path:
    """infra and api (after it), each committing once; a detached `wta up ARGS` killed while landing
    `stream` is at its test. The repository."""
    script = f"""echo "$WTA_STREAM" >> {tmp_path}/sessions.log
case "$WTA_STREAM" in
  infra) echo a > infra/a && git add infra/a && git commit -qm "infra a" ;;
  api) echo y > src/api/y.py && git add src/api/y.py && git commit -qm "api y" ;;
esac
"""
    repo = loop_repo(tmp_path, script, extra=f"{land}test: 'true'\n")
    started = up(repo, "-d", *args, env_=env(WTA_MERGE_PAUSE_AT=f"test:{stream}"))
    assert started.returncode == 0, started.stdout + started.stderr
    coordinator = int(re.search(r"a coordinator \(pid (\d+)\)", started.stdout).group(1))
    merge_state = state_dir(repo) / "merge.json"
    wait_for(lambda: (st := json.loads(merge_state.read_text()))["step"] == "test" and st["stream"] == stream,
             timeout=60, message=f"{stream}'s landing to reach its test")
    os.kill(coordinator, signal.SIGKILL)
    wait_for(lambda: not alive(coordinator), message="the coordinator to die")
    return repo


@pytest.mark.parametrize("then", ["up --land", "merge --continue", "merge --abort"])
def test_after_a_coordinator_killed_while_landing_no_stream_that_ended_is_run_again(tmp_path, then):
    repo = _killed_at_a_landings_test(tmp_path, "api", "land: auto\n")
    assert (record(repo, "infra")["state"], record(repo, "api")["state"]) == ("landed", "landing")

    if then == "up --land":
        again = up(repo, "--land")
        assert again.returncode == 0, again.stdout + again.stderr
        assert "infra: landed in the interrupted schedule; left as it is" in again.stdout
    else:
        wta(repo, *then.split(), check=0)
        expected = "landed" if then == "merge --continue" else "done"
        assert record(repo, "api")["state"] == expected, record(repo, "api")
        if then == "merge --abort":   # api lands without a session (one once every stream landed: new work)
            again = up(repo, "--land")
            assert again.returncode == 0, again.stdout + again.stderr
    assert (tmp_path / "sessions.log").read_text().split() == ["infra", "api"]
    assert subjects(repo, "main")[:2] == ["[api] api y", "[infra] infra a"]
    assert (record(repo, "infra")["state"], record(repo, "api")["state"]) == ("landed", "landed")


def test_a_plain_wta_up_after_a_killed_landing_of_its_only_stream_runs_no_session_again(tmp_path):
    """With no other stream left waiting, the plain `wta up` had not taken the schedule for an interrupted
    one, and ran the session again: a second commit of the same work."""
    repo = _killed_at_a_landings_test(tmp_path, "infra", "", "--land", "infra")
    again = up(repo, "infra")
    assert again.returncode == 1, again.stdout + again.stderr   # (infra is not landed: attention needed)
    assert "infra: landing when the schedule was interrupted" in again.stdout
    assert (tmp_path / "sessions.log").read_text().split() == ["infra"]
    wta(repo, "merge", "--continue", check=0)
    assert subjects(repo, "main")[0] == "[infra] infra a" and subjects(repo, "wta/infra").count("[infra] infra a") == 1


def test_a_stream_left_landing_whose_branch_wta_down_deletes_runs_anew(tmp_path):
    """Left `landing` by a killed run, its merge undone, its branch deleted by `wta down --delete-branches`:
    the next `wta up` had called a new branch with no work "done in an earlier run" and landed nothing."""
    repo = _killed_at_a_landings_test(tmp_path, "infra", "", "--land", "infra")
    wta(repo, "merge", "--abort", check=0)
    wta(repo, "down", "--force", "--delete-branches", "infra", check=0)
    assert record(repo, "infra")["state"] == "stopped"
    again = up(repo, "--land", "infra")
    assert again.returncode == 0, again.stdout + again.stderr
    assert (tmp_path / "sessions.log").read_text().split() == ["infra", "infra"]
    assert subjects(repo, "main")[0] == "[infra] infra a" and record(repo, "infra")["state"] == "landed"


def test_a_plain_wta_up_after_a_killed_landing_of_wta_up_land_runs_no_ended_session_again(tmp_path):
    """`land: manual`, `wta up --land` killed during infra's landing, then `wta up`: infra's session had
    run again (a second commit of the same work) while its interrupted landing was still recorded."""
    repo = _killed_at_a_landings_test(tmp_path, "infra", "", "--land")   # land: manual
    def ready(proc: subprocess.Popen) -> None:
        said = read_line_starting(proc, "infra: ")
        assert said == ("infra: landing when the schedule was interrupted (`wta merge --continue` or `wta up --land` "
                        "finishes it); left as it is")
        wait_for(lambda: record(repo, "api")["state"] == "waiting", timeout=60)

    code, out, err = up_until_a_person_merges(repo, [], ["--continue"], ready)
    assert code == 0, out + err
    assert (tmp_path / "sessions.log").read_text().split() == ["infra", "api"]
    assert subjects(repo, "main")[0] == "[infra] infra a" and subjects(repo, "wta/infra").count("[infra] infra a") == 1


# -- a person's wta merge and an automatic landing share the command lock ---------------------------

LANDING_GOES_ON = "landing-goes-on"   # the gate (WTA_MERGE_PAUSE_UNTIL) a held landing waits for


def _two_streams(tmp_path: Path) -> Path:
    script = f"""
echo 1 > src/api/one.py && git add src/api/one.py && git commit -qm "api one"
while [ ! -f "{tmp_path}/go" ]; do sleep 0.05; done
"""
    repo = loop_repo(tmp_path, script, extra="land: auto\ntest: 'true'\n",
                     streams="  api:\n    paths: [src/api/**]\n  ui:\n    paths: [src/ui/**]\n")
    wta(repo, "up", "--no-launch", check=0)
    write_files(worktree(repo, "ui"), {"src/ui/page.html": "<p>by hand</p>\n"})
    commit_all(worktree(repo, "ui"), "ui by hand")
    return repo


def _landing_api_at_its_test(tmp_path: Path) -> Path:
    """`_two_streams`, api landed by a detached `wta up api` that holds at api's test until the test touches
    `tmp_path / "landing-goes-on"` (LANDING_GOES_ON); returns once the landing is there."""
    repo = _two_streams(tmp_path)
    (tmp_path / "go").write_text("")
    started = up(repo, "api", "-d", env_=env(WTA_MERGE_PAUSE_AT="test:api",
                                             WTA_MERGE_PAUSE_UNTIL=str(tmp_path / LANDING_GOES_ON)))
    assert started.returncode == 0, started.stdout + started.stderr
    wait_for(lambda: json.loads((state_dir(repo) / "merge.json").read_text())["step"] == "test", timeout=60,
             message="the landing of api to reach its test")
    return repo


def test_a_persons_merge_waits_for_an_automatic_landing_and_says_so(tmp_path):
    repo = _landing_api_at_its_test(tmp_path)
    said = tmp_path / "merge-ui.err"
    with open(said, "w") as err:
        by_hand = subprocess.Popen([sys.executable, "-m", "worktree_agents", "merge", "ui"], cwd=repo, env=env(),
                                   stdout=subprocess.DEVNULL, stderr=err)
    try:
        wait_for(lambda: "waiting for `wta merge (landing api for wta up)`" in said.read_text(), timeout=60,
                 message="the person's merge to say it waits")
        (tmp_path / LANDING_GOES_ON).touch()
        assert by_hand.wait(timeout=120) == 0, said.read_text()
    finally:
        by_hand.kill()
    wait_for(lambda: record(repo, "api")["state"] == "landed", timeout=60)
    assert set(subjects(repo, "main")[:2]) == {"[api] api one", "[ui] ui by hand"}


def test_a_persons_commit_on_the_stream_branch_while_it_lands_is_landed_on_the_next_try_not_handed_back(tmp_path):
    """A person's commit in the stream's worktree during its landing's test: the stream had been handed
    back to its agent (or blocked), with advice to `wta merge --continue` a run that kept nothing."""
    repo = _landing_api_at_its_test(tmp_path)
    write_files(worktree(repo, "api"), {"src/api/two.py": "2\n"})
    commit_all(worktree(repo, "api"), "api two by hand")
    (tmp_path / LANDING_GOES_ON).touch()
    landed = wait_for(lambda: (r := record(repo, "api"))["state"] in ("landed", "blocked", "pending") and r,
                      timeout=60)
    assert (landed["state"], landed["handbacks"]) == ("landed", 0), landed["reason"]
    assert subjects(repo, "main")[:2] == ["[api] api two by hand", "[api] api one"]
    # The first try saw the branch move and stopped (its report says so; the record's "landing waits: wta/api got
    # new commits ..." lasts a moment only, until the next try), the second landed it.
    reports = [json.loads(p.read_text()) for p in (state_dir(repo) / "merges").glob("*.json")]
    api = [s for r in reports for s in r["streams"] if s["stream"] == "api"]
    assert sorted((a["commits"], a["result"], a["branch_moved"]) for a in api) == [(1, "refused", True),
                                                                                   (2, "merged", False)], api


def test_an_automatic_landing_waits_for_a_persons_merge_and_says_so(tmp_path):
    repo = _two_streams(tmp_path)
    proc = start_up(repo, "api")
    try:
        wait_for(lambda: record(repo, "api")["state"] == "running", timeout=60)
        # The person's merge holds the lock at its test until api's landing has found the lock taken (a
        # fixed 4 s, then 20 s, was a bet on how slow a loaded machine is).
        by_hand = subprocess.Popen([sys.executable, "-m", "worktree_agents", "merge", "ui"], cwd=repo, text=True,
                                   env=env(WTA_MERGE_PAUSE_AT="test:ui",
                                           WTA_MERGE_PAUSE_UNTIL=str(tmp_path / LANDING_GOES_ON)),
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        wait_for(lambda: json.loads((state_dir(repo) / "merge.json").read_text())["stream"] == "ui", timeout=60)
        (tmp_path / "go").write_text("")
        waits = wait_for(lambda: (r := record(repo, "api"))["reason"] and r["reason"].startswith("landing waits")
                         and r["reason"], timeout=60, message="the landing to say it waits")
        (tmp_path / LANDING_GOES_ON).touch()
        assert waits.startswith("landing waits for `wta merge` (pid ") and waits.endswith("to finish")
        assert by_hand.wait(timeout=60) == 0
        code, out, err = finish(proc)
    finally:
        proc.kill()
    assert code == 0, out + err
    assert subjects(repo, "main")[:2] == ["[api] api one", "[ui] ui by hand"]
    # One line for the wait (off a terminal, a line a change): its reason had said "(3s ago)", new each second.
    assert len([line for line in out.splitlines() if "waits for `wta merge` (pid " in line]) == 1, out


def test_after_the_persons_stopped_merge_is_aborted_the_landing_no_longer_says_it_waits_for_it(tmp_path):
    """The landing waited for a person's stopped `wta merge ui` ("... run `wta merge --continue` ..."); after
    `wta merge --abort` its reason still said so, also while the landing tried again went on."""
    repo = _two_streams(tmp_path)
    write_files(repo, {"src/ui/page.html": "<p>on main</p>\n"})
    commit_all(repo, "a person's change to the page")
    assert "conflicts in src/ui/page.html" in wta(repo, "merge", "ui", check=1).stdout   # stopped, kept
    # The landing that goes through once the merge is aborted holds at api's verification until it is seen.
    proc = subprocess.Popen([sys.executable, "-m", "worktree_agents", "up", "api", "--land"], cwd=repo, text=True,
                            env=env(WTA_MERGE_PAUSE_AT="verify:api",
                                    WTA_MERGE_PAUSE_UNTIL=str(tmp_path / LANDING_GOES_ON)),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        (tmp_path / "go").write_text("")
        waits = landing_waits(repo)
        assert "stopped at ui" in waits and "wta merge --continue" in waits, waits
        wta(repo, "merge", "--abort", check=0)
        wait_for(lambda: (m := state_dir(repo) / "merge.json").exists() and json.loads(m.read_text())["step"]
                 == "verify", timeout=30, message="the landing's run to reach api's verification")
        streams = json.loads(wta(repo, "status", "--json", check=0).stdout)["streams"]
        reason = next(s for s in streams if s["stream"] == "api")["session"]["reason"]
        (tmp_path / LANDING_GOES_ON).touch()
        assert reason == "landing: under way on main", reason
        code, out, err = finish(proc)
    finally:
        proc.kill()
    assert code == 0, out + err
    assert record(repo, "api")["state"] == "landed" and subjects(repo, "main")[0] == "[api] api one"


def landing_waits(repo: Path) -> str:
    """The reason api's record gives once its landing waits (for something a person must clear)."""
    return wait_for(lambda: (r := record(repo, "api"))["reason"] and r["reason"].startswith("landing waits")
                    and r["reason"], timeout=60, message="the landing to say it waits")


def landed_after_the_wait(repo: Path, proc: subprocess.Popen) -> None:
    """`wta up` ends once api has landed, with no follow-up session given the wait."""
    code, out, err = finish(proc)
    assert code == 0, out + err
    assert subjects(repo, "main")[0] == "[api] api one" and record(repo, "api")["state"] == "landed"
    assert not (state_dir(repo) / "handback" / "api.md").exists()


def test_a_persons_uncommitted_change_in_the_base_worktree_makes_the_landing_wait_not_the_agent_retry(tmp_path):
    repo = _two_streams(tmp_path)
    (repo / "README.md").write_text("# a person's edit, not committed yet\n")
    (tmp_path / "go").write_text("")
    proc = start_up(repo, "api")
    try:
        waits = landing_waits(repo)
        assert waits == (f"landing waits: the base branch main is checked out in {repo} with uncommitted changes: "
                         "README.md; commit or stash them there first")
        # Said off a terminal too, one line (the state stays `landing`: it had printed nothing more).
        assert read_line_starting(proc, "api: landing (landing waits") == f"api: landing ({waits})"
        assert record(repo, "api")["handbacks"] == 0   # no follow-up session: the agent cannot fix it
        table = wta(repo, "status", check=0).stdout
        assert "landing waits: the base branch main" in table and "landing: landing" not in table
        git(repo, "stash", "-q")
        landed_after_the_wait(repo, proc)
    finally:
        proc.kill()


def test_a_stale_lock_in_the_base_worktree_makes_the_landing_wait_not_the_agent_retry(tmp_path):
    """A lock left in the base's worktree (a person's git killed there) stops the fast-forward: it had
    been handed back to the agent, twice, then the stream was `blocked` for what only a person can clear."""
    repo = _two_streams(tmp_path)
    lock = repo / ".git" / "index.lock"
    lock.write_text("")
    (tmp_path / "go").write_text("")
    proc = start_up(repo, "api")
    try:
        waits = landing_waits(repo)
        assert waits.startswith(f"landing waits: cannot fast-forward main in {repo}: ") and "index.lock" in waits
        assert record(repo, "api")["handbacks"] == 0
        lock.unlink()
        landed_after_the_wait(repo, proc)
    finally:
        proc.kill()


def test_a_session_whose_branch_conflicts_with_the_base_does_not_start_and_says_why(tmp_path):
    repo = loop_repo(tmp_path, f'touch "{tmp_path}/$WTA_STREAM-ran"', streams="  api:\n    paths: [src/api/**]\n")
    wta(repo, "up", "--no-launch", check=0)
    write_files(worktree(repo, "api"), {"src/api/handler.py": "x = 2\n"})
    own = commit_all(worktree(repo, "api"), "api edit")
    write_files(repo, {"src/api/handler.py": "x = 3\n"})
    commit_all(repo, "a person edits the same line")
    done = up(repo)
    assert done.returncode == 1
    api = record(repo, "api")
    assert api["state"] == "failed" and api["started_at"] is None
    assert api["reason"].startswith("not started: wta/api not synced: rebasing onto main conflicts in "
                                    "src/api/handler.py")
    assert not (tmp_path / "api-ran").exists()
    assert git(repo, "rev-parse", "wta/api").stdout.strip() == own
    assert git(worktree(repo, "api"), "status", "--porcelain").stdout == ""


def test_wta_sync_never_touches_a_branch_whose_session_runs(tmp_path):
    repo = loop_repo(tmp_path, f'while [ ! -f "{tmp_path}/go" ]; do sleep 0.05; done',
                     streams="  api:\n    paths: [src/api/**]\n")
    assert up(repo, "-d").returncode == 0
    wait_for(lambda: record(repo, "api")["state"] == "running", timeout=60)
    before = git(repo, "rev-parse", "wta/api").stdout
    write_files(repo, {"README.md": "# moved\n"})
    commit_all(repo, "base moves")
    refused = wta(repo, "sync", "api", check=1)
    assert "api: wta/api not synced: its session is running (pid " in refused.stderr
    assert git(repo, "rev-parse", "wta/api").stdout == before
    (tmp_path / "go").write_text("")
    wait_for(lambda: record(repo, "api")["state"] == "done", timeout=60)
    assert "moved to main" in wta(repo, "sync", "api", check=0).stdout


def test_ctrl_c_at_a_terminal_reaches_wta_not_the_landings_test(tmp_path):
    """A terminal sends Ctrl-C to its whole foreground process group: the landing's `test:` ran in
    wta's and died with it, and its death was handed back to the agent as a failed test."""
    # The test runs until the Ctrl-C has been sent (a `sleep 2` had ended, and the landing with it, before a
    # test process slowed by load sent it: no landing was left to wait for).
    started, go = tmp_path / "test-started", tmp_path / "go"
    repo = loop_repo(tmp_path, 'echo 1 > src/api/one.py && git add src/api/one.py && git commit -qm "api one"',
                     extra=f"land: auto\nsandbox: off\n"
                           f"test: 'touch {started}; while [ ! -f {go} ]; do sleep 0.05; done'\n",
                     streams="  api:\n    paths: [src/api/**]\n")
    proc = subprocess.Popen([sys.executable, "-m", "worktree_agents", "up"], cwd=repo, text=True, env=env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        wait_for(started.exists, timeout=60)
        os.killpg(proc.pid, signal.SIGINT)   # what the terminal does (sent: a test in wta's group dies of it)
        go.touch()
        code, out, err = finish(proc)
    finally:
        proc.kill()
    assert code == 0, out + err
    assert "waiting for the landing under way to finish" in out
    assert record(repo, "api")["state"] == "landed" and record(repo, "api").get("handbacks", 0) == 0
    assert subjects(repo, "main")[0] == "[api] api one"


def test_ctrl_c_while_landings_wait_blocks_nothing(tmp_path):
    """A terminal's Ctrl-C (and `timeout`'s SIGTERM) goes to wta's whole process group: the git that a landing
    waiting for a person's change was running died with it, and its death was taken for the landing's
    failure. Every waiting stream was `blocked` at once ("git status failed: exit -2"), no follow-up, and the
    next `wta up --land` ran their agents again. (A git that takes its time, WTA_GIT, keeps one running.)"""
    shim = tmp_path / "bin" / "git"
    shim.parent.mkdir()
    shim.write_text(f"#!/bin/sh\nsleep 0.05\nexec {shutil.which('git')} \"$@\"\n")
    shim.chmod(0o755)
    streams = "".join(f"  {s}:\n    paths: [{s}/**]\n" for s in ("a", "b", "c"))
    repo = loop_repo(tmp_path, 'mkdir -p "$WTA_STREAM" && echo w > "$WTA_STREAM/w" && git add -A && git commit -qm w',
                     extra="land: auto\n", streams=streams)
    write_files(repo, {"README.md": "# a person's change\n"})
    git(repo, "add", "README.md")   # the landings wait for it
    proc = subprocess.Popen([sys.executable, "-m", "worktree_agents", "up"], cwd=repo, text=True,
                            env=env(WTA_GIT=str(shim)), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True)
    try:
        wait_for(lambda: all("uncommitted" in (record(repo, s).get("reason") or "") for s in "abc"), timeout=60)
        os.killpg(proc.pid, signal.SIGINT)   # what the terminal does
        code, out, err = finish(proc)
    finally:
        proc.kill()
    assert code == 0, out + err
    assert {s: record(repo, s)["state"] for s in "abc"} == dict.fromkeys("abc", "landing"), out + err
    git(repo, "reset", "-q", "--hard")   # the person's change is gone: the detached coordinator lands them
    for s in "abc":
        wait_for(lambda: record(repo, s)["state"] == "landed", timeout=60)
        assert record(repo, s).get("handbacks", 0) == 0
    landed = subjects(repo, "main")
    assert sorted(landed[:3]) == ["[a] w", "[b] w", "[c] w"] and len(landed) == 4   # each once, on the first
    wta(repo, "stop", check=0, env=env())


def test_a_landings_git_ended_by_a_terminals_signal_is_tried_again_not_blocked(tmp_path):
    """A Ctrl-C to wta's process group can still reach a git that is being started (before it is in a group of
    its own): one of test_ctrl_c_while_landings_wait_blocks_nothing's runs in fourteen at load. Its death, "git
    status failed: exit -2", was taken for an error trying again cannot clear: every waiting stream `blocked`."""
    # The git status that dies makes `hold` first: the landing's looks at the base's worktree after it wait
    # until the test takes it away, and the streams' reasons stay to be read. (Made by the test after it touched
    # `ctrl-c`, a git status that had looked for `ctrl-c` just before could wait for ever, `ctrl-c` left there.)
    ctrl_c, hold = tmp_path / "ctrl-c", tmp_path / "hold"
    shim = tmp_path / "bin" / "git"
    shim.parent.mkdir()
    shim.write_text(f'#!/bin/sh\ncase "$*" in *" status "*"--untracked-files=no"*)\n'
                    f'  if rm "{ctrl_c}" 2>/dev/null; then touch "{hold}"; kill -INT $$; fi\n'
                    f'  while [ -f "{hold}" ]; do sleep 0.05; done ;;\nesac\n'
                    f'exec {shutil.which("git")} "$@"\n')
    shim.chmod(0o755)
    streams = "".join(f"  {s}:\n    paths: [{s}/**]\n" for s in ("a", "b"))
    repo = loop_repo(tmp_path, 'mkdir -p "$WTA_STREAM" && echo w > "$WTA_STREAM/w" && git add -A && git commit -qm w',
                     extra="land: auto\n", streams=streams)
    write_files(repo, {"README.md": "# a person's change\n"})
    git(repo, "add", "README.md")   # the landings wait for it
    proc = subprocess.Popen([sys.executable, "-m", "worktree_agents", "up"], cwd=repo, text=True,
                            env=env(WTA_GIT=str(shim)), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_for(lambda: all("uncommitted" in (record(repo, s).get("reason") or "") for s in "ab"), timeout=120)
        ctrl_c.touch()   # the landing's next git status dies of a Ctrl-C
        wait_for(lambda: not ctrl_c.exists(), timeout=120)
        wait_for(lambda: all(record(repo, s)["state"] == "blocked" or "interrupted" in record(repo, s)["reason"]
                             for s in "ab"), timeout=120)
        assert {s: record(repo, s)["state"] for s in "ab"} == dict.fromkeys("ab", "landing")
        assert {s: record(repo, s)["reason"] for s in "ab"} == dict.fromkeys(
            "ab", "landing waits: git --no-optional-locks status failed: exit -2 (interrupted; tried again)")
        git(repo, "reset", "-q", "--hard")   # the person's change is gone: they land
        hold.unlink()
        code, out, err = finish(proc)
    finally:
        proc.kill()
    assert code == 0, out + err
    assert {s: record(repo, s)["state"] for s in "ab"} == dict.fromkeys("ab", "landed"), out + err
    assert all(record(repo, s).get("handbacks", 0) == 0 for s in "ab")
    assert sorted(subjects(repo, "main")[:2]) == ["[a] w", "[b] w"]


def test_a_detached_coordinator_ended_twice_during_a_landings_test_leaves_it_to_the_next_one(tmp_path):
    """`wta stop` signals a coordinator that is still waiting for a landing's long test again (after 10 s):
    that second SIGTERM had ended it with a Python traceback in coordinator.log, and left the test running."""
    started = tmp_path / "test-started"
    repo = loop_repo(tmp_path, 'echo 1 > src/api/one.py && git add src/api/one.py && git commit -qm "api one"',
                     extra=f"land: auto\nsandbox: off\ntest: 'touch {started}; sleep 60'\n",
                     streams="  api:\n    paths: [src/api/**]\n")
    assert up(repo, "-d").returncode == 0
    wait_for(started.exists, timeout=60)
    log = state_dir(repo) / "logs" / "coordinator.log"
    pid = int(re.search(r"coordinator (\d+): scheduling", log.read_text()).group(1))
    os.kill(pid, signal.SIGTERM)
    wait_for(lambda: "waiting for the landing under way to finish" in log.read_text(), timeout=30)
    os.kill(pid, signal.SIGTERM)
    wait_for(lambda: not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE,
             timeout=30)
    text = log.read_text()
    assert "Traceback" not in text and "ending now: the landing under way is finished or undone by the next" in text
    landing = json.loads((state_dir(repo) / "merge.json").read_text())
    assert landing["step"] == "test" and alive(landing["test_pid"])   # its own group: the coordinator's end left it
    wta(repo, "stop", check=0, env=env())
    assert not alive(landing["test_pid"])


def test_ctrl_c_during_a_landing_lets_it_finish_before_handing_over(tmp_path):
    repo = loop_repo(tmp_path, 'echo 1 > src/api/one.py && git add src/api/one.py && git commit -qm "api one"',
                     extra="land: auto\ntest: 'true'\n", streams="  api:\n    paths: [src/api/**]\n")
    # The landing holds at its test until `wta up` has said it waits for it (a fixed 2 s could end first).
    proc = subprocess.Popen([sys.executable, "-m", "worktree_agents", "up"], cwd=repo, text=True,
                            env=env(WTA_MERGE_PAUSE_AT="test:api", WTA_MERGE_PAUSE_UNTIL=str(tmp_path / "go-on")),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: [lines.append(line) for line in proc.stdout], daemon=True)
    reader.start()
    try:
        wait_for(lambda: json.loads((state_dir(repo) / "merge.json").read_text())["step"] == "test", timeout=60)
        proc.send_signal(signal.SIGINT)
        wait_for(lambda: any("waiting for the landing under way to finish" in line for line in lines), timeout=60,
                 message="wta up to say it waits for the landing")
        (tmp_path / "go-on").touch()
        code, err = proc.wait(timeout=120), proc.stderr.read()
        reader.join(timeout=30)
        out = "".join(lines)
    finally:
        proc.kill()
    assert code == 0, out + err
    assert "waiting for the landing under way to finish" in out and "nothing left to schedule" in out
    assert record(repo, "api")["state"] == "landed" and subjects(repo, "main")[0] == "[api] api one"
    assert not (state_dir(repo) / "merge.json").exists()


def test_a_landing_that_fails_for_good_blocks_the_stream_once_instead_of_waiting_forever(tmp_path):
    """A git error that trying again cannot clear (here: no backup ref can be made, a file stands where
    their folder goes) was taken for a wait: the stream stayed `landing`, a new line every round, and
    `wta up` never ended."""
    notify_log = tmp_path / "notify.log"
    repo = loop_repo(tmp_path, INFRA_THEN_API.format(out=tmp_path),
                     extra=f"land: auto\nnotify: \"echo '{{stream}}|{{state}}' >> {notify_log}\"\n")
    (repo / ".git" / "refs" / "wta").mkdir(parents=True)
    (repo / ".git" / "refs" / "wta" / "backup").write_text("in the way\n")

    done = up(repo, timeout=60)

    infra = record(repo, "infra")
    assert infra["state"] == "blocked", infra
    assert infra["reason"].startswith("landing failed 1 time(s): landing failed: ")
    assert notify_log.read_text().count("infra|blocked") == 1
    assert record(repo, "api")["state"] != "running" and not (tmp_path / "api-start.log").exists()
    assert done.stdout.count("infra: landing") <= 2


def test_api_keys_printed_by_setup_and_the_landings_test_are_written_nowhere(tmp_path):
    """`setup:` and `test:` get the environment the agents get, keys included: a test that prints its
    environment had put the key in the stream's log, the test's log and the follow-up's prompt."""
    from hardening.test_secrets import new_key, search_for_key

    key = new_key()
    script = KEEP_PROMPT.format(out=tmp_path) + \
        '[ -f src/api/w.py ] || { echo w > src/api/w.py && git add src/api/w.py && git commit -qm w; }\n'
    repo = loop_repo(tmp_path, script, streams="  api:\n    paths: [src/api/**]\n",
                     extra="land: auto\nland_retries: 1\nsetup: 'env | grep ANTHROPIC_API_KEY'\n"
                           "test: 'echo the test sees $(env | grep ANTHROPIC_API_KEY); exit 1'\n")
    done = up(repo, env_={**env(), "ANTHROPIC_API_KEY": key})
    assert done.returncode == 1 and record(repo, "api")["state"] == "blocked"
    assert "the test sees ANTHROPIC_API_KEY=[redacted]" in (tmp_path / "api-prompt-1.md").read_text()
    assert "ANTHROPIC_API_KEY=[redacted]" in (state_dir(repo) / "logs" / "api.log").read_text()
    found = search_for_key(key, [tmp_path], repo, {"wta up": done.stdout + done.stderr}).found
    assert found == [], found


def test_a_test_that_commits_at_every_landing_blocks_the_stream_instead_of_looping(tmp_path):
    """Its commits moved the branch during every landing, each taken for a person's: `wta up --land` tried
    again for ever, a commit more each time, the base never moving."""
    script = "echo w > src/api/w.py && git add src/api/w.py && git commit -qm w\n"
    repo = loop_repo(tmp_path, script, streams="  api:\n    paths: [src/api/**]\n",
                     extra="land: auto\ntest: 'date +%s%N > src/api/stamp && git add src/api/stamp && git commit -qm "
                           "stamp'\n")
    main_before = git(repo, "rev-parse", "main").stdout
    done = up(repo, timeout=120)
    assert done.returncode == 1, done.stdout + done.stderr
    api = record(repo, "api")
    assert api["state"] == "blocked" and "its branch got new commits during each of its last 3 landings (does " \
        "`test:` commit?)" in api["reason"], api["reason"]
    assert git(repo, "rev-parse", "main").stdout == main_before


def test_a_stream_removed_by_wta_down_during_wta_up_is_no_internal_error_at_its_end(tmp_path):
    """`wta down c` once c had landed, while a still ran: every stream landed, and `wta up` ended with
    "internal error: KeyError: 'c'" and exit 1."""
    script = f'while [ ! -f "{tmp_path}/go-$WTA_STREAM" ]; do sleep 0.05; done\n' \
             'echo w > "src/$WTA_STREAM/w" && git add src && git commit -qm w\n'
    repo = loop_repo(tmp_path, script, extra="land: auto\n",
                     streams="  api:\n    paths: [src/api/**]\n  ui:\n    paths: [src/ui/**]\n")
    proc = start_up(repo)
    try:
        (tmp_path / "go-ui").write_text("")
        wait_for(lambda: record(repo, "ui")["state"] == "landed", timeout=60)
        assert "removed" in wta(repo, "down", "ui", check=0).stdout
        (tmp_path / "go-api").write_text("")
        code, out, err = finish(proc)
    finally:
        proc.kill()
    assert code == 0 and "internal error" not in err, out + err
    assert record(repo, "api")["state"] == "landed"


def test_wta_stop_during_a_landing_starts_no_follow_up(tmp_path):
    """`wta stop api` while its landing's test ran said "not running (landing)"; the test failed and a
    follow-up session of the stopped stream started anyway."""
    script = KEEP_PROMPT.format(out=tmp_path) + \
        '[ -f src/api/w.py ] || { echo w > src/api/w.py && git add src/api/w.py && git commit -qm w; }\n'
    repo = loop_repo(tmp_path, script, streams="  api:\n    paths: [src/api/**]\n",
                     extra="land: auto\ntest: 'exit 1'\n")
    gate = tmp_path / "landing-goes-on"   # the landing holds at its test until the stop is done
    started = up(repo, "-d", env_=env(WTA_MERGE_PAUSE_AT="test:api", WTA_MERGE_PAUSE_UNTIL=str(gate)))
    assert started.returncode == 0, started.stdout + started.stderr
    wait_for(lambda: json.loads((state_dir(repo) / "merge.json").read_text())["step"] == "test", timeout=60)
    stopped = wta(repo, "stop", "api", check=0)
    gate.touch()
    assert stopped.stdout == "api: stopped: a landing under way finishes; not tried again, no follow-up\n"
    coordinator = json.loads((state_dir(repo) / "coordinator.lock").read_text())["pid"]
    wait_for(lambda: not alive(coordinator), timeout=60, message="the coordinator to end")
    api = record(repo, "api")
    assert (api["state"], api["handbacks"]) == ("stopped", 0), api
    assert sorted(p.name for p in tmp_path.glob("api-prompt-*.md")) == ["api-prompt-0.md"]


def test_wta_stop_of_a_stream_whose_landing_is_under_way_lets_its_dependents_start_once_it_lands(tmp_path):
    """The landing under way finishes, and the stream is `landed`: its dependent had been failed at once
    ("dependency infra stopped"), on the `stopped` that the landing then replaced."""
    repo = loop_repo(tmp_path, INFRA_THEN_API.format(out=tmp_path), extra="land: auto\n")
    gate = tmp_path / "landing-goes-on"   # the landing holds at its test until the stop is done
    started = up(repo, "-d", env_=env(WTA_MERGE_PAUSE_AT="test:infra", WTA_MERGE_PAUSE_UNTIL=str(gate)))
    assert started.returncode == 0, started.stdout + started.stderr
    wait_for(lambda: json.loads((state_dir(repo) / "merge.json").read_text())["step"] == "test", timeout=60)
    stopped = wta(repo, "stop", "infra", check=0)
    gate.touch()
    assert stopped.stdout == "infra: stopped: a landing under way finishes; not tried again, no follow-up\n"
    wait_for(lambda: record(repo, "api")["state"] in ("landed", "failed", "blocked"), timeout=60)
    assert record(repo, "infra")["state"] == "landed"
    assert record(repo, "api")["state"] == "landed", record(repo, "api")
    assert "[infra] infra a" in (tmp_path / "api-start.log").read_text().splitlines()
    assert subjects(repo, "main")[:2] == ["[api] api y", "[infra] infra a"]


def test_a_stopped_stream_that_a_person_lands_is_landed_and_its_dependents_start(tmp_path):
    """`wta stop` during a hand-back's follow-up, then the fix and `wta merge` by hand: the stream stayed
    `stopped`, its dependent failed on it, and its next session's prompt began with the failure fixed since."""
    (tmp_path / "check.sh").write_text('[ ! -f src/api/bad ]\n')
    script = KEEP_PROMPT.format(out=tmp_path) + f"""
case "$WTA_STREAM" in
  api) if grep -q "Landing your work" "$1"; then touch "{tmp_path}/follow-up"; sleep 60; fi
       echo bad > src/api/bad && git add src/api && git commit -qm "api bad" ;;
  ui) git log --format=%s > "{tmp_path}/ui-start.log" ;;
esac
"""
    repo = loop_repo(tmp_path, script, extra=f"land: auto\ntest: sh {tmp_path}/check.sh\n",
                     streams="  api:\n    paths: [src/api/**]\n  ui:\n    paths: [src/ui/**]\n    after: [api]\n")
    assert up(repo, "-d").returncode == 0
    wait_for(lambda: (tmp_path / "follow-up").exists(), timeout=60, message="api's follow-up session")
    assert "api: stopped\n" in wta(repo, "stop", check=0).stdout
    api = worktree(repo, "api")
    git(api, "rm", "-q", "src/api/bad")
    git(api, "commit", "-q", "-m", "[api] fix")
    wta(repo, "merge", "api", check=0)
    landed = record(repo, "api")
    assert landed["state"] == "landed" and "by `wta merge`" in landed["reason"], landed
    assert not (state_dir(repo) / "handback" / "api.md").exists()
    assert "Landing your work" not in wta(repo, "prompt", "api", check=0).stdout
    prompts = sorted(p.name for p in tmp_path.glob("api-prompt-*.md"))
    done = up(repo, "ui")   # (a plain `wta up` would run api's session anew too: a new round of work)
    assert done.returncode == 0, done.stdout
    assert sorted(p.name for p in tmp_path.glob("api-prompt-*.md")) == prompts   # api is not run again
    assert record(repo, "ui")["state"] == "landed"
    assert "[api] fix" in (tmp_path / "ui-start.log").read_text().splitlines()


def test_wta_stop_says_when_it_cut_a_landing_short_and_what_finishes_it(tmp_path):
    """A landing's test that outlasts the coordinator's 10 s to end: `wta stop` killed it, while saying the
    landing under way finishes."""
    repo = _landing_api_at_its_test(tmp_path)
    stopped = wta(repo, "stop", check=0)
    assert "its landing did not end within 10 s and was cut short: merge " in stopped.stdout
    assert "interrupted at api (test); `wta merge --continue` finishes it, `wta merge --abort` undoes it" \
        in stopped.stdout, stopped.stdout
    wta(repo, "merge", "--continue", check=0)
    assert subjects(repo, "main")[0] == "[api] api one"
    assert record(repo, "api")["state"] == "landed"   # (it had stayed `stopped while landing`)


def test_wta_stop_that_cuts_a_landing_short_names_only_wta_merge_continue_for_its_stream(tmp_path):
    """The stop line said "a landing under way finishes" and the stream's reason "`wta merge api` lands it",
    next to the line saying it was cut short; `wta merge api` then refused: only `--continue` finishes it."""
    repo = _landing_api_at_its_test(tmp_path)
    stopped = wta(repo, "stop", check=0)
    assert "a landing under way finishes" not in stopped.stdout, stopped.stdout
    assert "api: stopped: its landing was cut short, `wta merge --continue` finishes it; not tried again, " \
           "no follow-up\n" in stopped.stdout, stopped.stdout
    api = record(repo, "api")
    assert api["state"] == "stopped" and "`wta merge --continue` lands it" in api["reason"], api
    assert "`wta merge api` lands it" not in api["reason"], api
    assert "run `wta merge --continue`" in wta(repo, "merge", "api", check=2).stderr   # as the reason says
    wta(repo, "merge", "--continue", check=0)
    assert subjects(repo, "main")[0] == "[api] api one"
    assert record(repo, "api")["state"] == "landed"


def test_under_land_auto_notify_says_each_session_ended_done_then_landed_once(tmp_path):
    """A session's `done` lasts milliseconds under `land: auto` (it is `landing` at once), and the watcher
    looks once a second: notify had never said a session ended, which it promises "done included"."""
    notify_log = tmp_path / "notify.log"
    repo = loop_repo(tmp_path, INFRA_THEN_API.format(out=tmp_path),
                     extra=f"land: auto\nnotify: \"echo '{{stream}}|{{state}}' >> {notify_log}\"\n")
    done = up(repo)
    assert done.returncode == 0, done.stdout + done.stderr
    said = notify_log.read_text().splitlines()
    for stream in ("infra", "api"):
        mine = [line for line in said if line.startswith(f"{stream}|")]
        assert mine == [f"{stream}|done", f"{stream}|landed"], said


def test_notify_says_landed_when_the_next_coordinator_finishes_a_killed_landing(tmp_path):
    """A coordinator killed during infra's landing, the next `wta up --land` finishing it: its watcher took
    the `landed` for history (it dated it by the session's end, before the watcher started) and notify never
    said that infra landed."""
    notify_log = tmp_path / "notify.log"
    repo = _killed_at_a_landings_test(tmp_path, "infra", f"notify: \"echo '{{stream}}|{{state}}' >> {notify_log}\"\n",
                                      "--land")
    again = up(repo, "--land")
    assert again.returncode == 0, again.stdout + again.stderr
    assert record(repo, "infra")["state"] == "landed"
    said = notify_log.read_text().splitlines()
    assert said.count("infra|landed") == 1 and said.count("api|landed") == 1, said


def test_a_landing_killed_while_it_waited_is_left_with_advice_that_works(tmp_path):
    """`land: manual`; `wta up --land` killed while infra's landing waited for a person's change in the base
    worktree (no merge under way). `wta status` said "`wta up` resumes the schedule, and lands it" (a plain
    `wta up` lands nothing under `land: manual`); that `wta up` said "`wta merge --continue` ... finishes it"
    ("no merge in progress", exit 2) and went on showing the landing's old reason ("commit or stash them")."""
    repo = loop_repo(tmp_path, INFRA_THEN_API.format(out=tmp_path), extra="test: 'true'\n")
    write_files(repo, {"README.md": "# a person's change\n"})
    git(repo, "add", "README.md")   # the landing waits for it
    started = up(repo, "-d", "--land")
    assert started.returncode == 0, started.stdout + started.stderr
    coordinator = int(re.search(r"a coordinator \(pid (\d+)\)", started.stdout).group(1))
    wait_for(lambda: "uncommitted" in (record(repo, "infra").get("reason") or ""), timeout=60)
    os.kill(coordinator, signal.SIGKILL)
    wait_for(lambda: not alive(coordinator), message="the coordinator to die")
    git(repo, "reset", "-q", "--hard")
    shown = json.loads(wta(repo, "status", "--json", check=0).stdout)
    infra = next(s for s in shown["streams"] if s["stream"] == "infra")["session"]
    assert infra["state"] == "landing" and "`wta up --land` resumes the schedule" in infra["reason"], infra
    # api waits for infra to land: a plain `wta up` (which it had named) resumes the schedule and waits for a merge.
    api = next(s for s in shown["streams"] if s["stream"] == "api")["session"]
    assert (api["state"], api["reason"]) == ("waiting", "not started: no coordinator is scheduling it (the last one "
                                             "ended without finishing the schedule), and it starts once infra has "
                                             "landed; `wta up --land` resumes the schedule and lands them (a plain "
                                             "`wta up` waits for `wta merge infra`, as `land: manual` says)"), api

    def ready(proc: subprocess.Popen) -> None:
        said = read_line_starting(proc, "infra: ")
        assert said == ("infra: its landing was interrupted before it landed (`wta merge infra` or `wta up --land` "
                        "lands it); left as it is"), said
        wait_for(lambda: record(repo, "api")["state"] == "waiting", timeout=60)
        assert record(repo, "infra")["state"] == "done" and "uncommitted" not in record(repo, "infra")["reason"]

    code, out, err = up_until_a_person_merges(repo, [], ["infra"], ready)
    assert code == 0, out + err
    assert subjects(repo, "main")[0] == "[infra] infra a" and record(repo, "api")["state"] == "done"
    assert (tmp_path / "api-start.log").exists()   # api started once infra had landed


def _a_follow_up_waiting_for_a_slot(tmp_path: Path) -> tuple[Path, int]:
    """infra handed back (follow-up 1 of land_retries 1; its test fails on its own file), its follow-up
    `pending` behind api's session (max_parallel 1, api waiting for `tmp_path/go`), under a detached
    coordinator: the repository and that coordinator's pid."""
    script = f"""echo "$WTA_STREAM" >> {tmp_path}/sessions.log
case "$WTA_STREAM" in
  infra) echo a >> infra/a && git add infra/a && git commit -qm "infra a" ;;
  api) while [ ! -f "{tmp_path}/go" ]; do sleep 0.05; done
       echo y > src/api/y.py && git add src/api/y.py && git commit -qm "api y" ;;
esac
"""
    repo = loop_repo(tmp_path, script, extra="land_retries: 1\ntest: 'test ! -f infra/a'\n",
                     streams="  infra:\n    paths: [infra/**]\n  api:\n    paths: [src/api/**]\n")
    started = up(repo, "-d", "--land", "--max-parallel", "1")
    assert started.returncode == 0, started.stdout + started.stderr
    coordinator = int(re.search(r"a coordinator \(pid (\d+)\)", started.stdout).group(1))
    wait_for(lambda: (record(repo, "infra")["state"], record(repo, "infra")["handbacks"]) == ("pending", 1),
             timeout=60, message="infra handed back, its follow-up waiting for api's slot")
    return repo, coordinator


@pytest.mark.parametrize("ending", [signal.SIGKILL, signal.SIGTERM], ids=["killed", "sigterm"])
def test_a_follow_up_its_coordinator_left_pending_keeps_its_count_of_hand_backs(tmp_path, ending):
    """A landing handed back (follow-up 1 of land_retries 1), the follow-up waiting for a free slot, the
    coordinator killed (or ended by SIGTERM, which stops the follow-up before it started): the next `wta up
    --land` started the record anew, and the stream got another follow-up beyond land_retries (each a paid
    agent session) before it was blocked."""
    repo, coordinator = _a_follow_up_waiting_for_a_slot(tmp_path)
    os.kill(coordinator, ending)
    wait_for(lambda: not alive(coordinator), message="the coordinator to end")
    assert record(repo, "infra")["state"] == ("pending" if ending == signal.SIGKILL else "stopped")
    (tmp_path / "go").write_text("")
    again = up(repo, "--land", "--max-parallel", "1")
    assert again.returncode == 1, again.stdout + again.stderr
    assert (tmp_path / "sessions.log").read_text().split() == ["infra", "api", "infra"]   # one follow-up
    assert record(repo, "infra")["state"] == "blocked" and record(repo, "infra")["handbacks"] == 1
    assert "landing failed 2 time(s)" in record(repo, "infra")["reason"]


def test_after_sigterm_ended_the_schedule_wta_up_runs_no_session_that_ended_done_again(tmp_path):
    """`wta up` ended by SIGTERM says "the sessions that had not started are stopped (`wta up` schedules them
    again)"; under `land: manual` that `wta up` ran infra's session again too (it had ended `done`, its work
    committed): a second agent session for the same work."""
    script = f"""echo "$WTA_STREAM" >> {tmp_path}/sessions.log
case "$WTA_STREAM" in
  infra) while [ ! -f "{tmp_path}/go" ]; do sleep 0.05; done
         echo a > infra/a && git add infra/a && git commit -qm "infra a" ;;
  api) echo y > src/api/y.py && git add src/api/y.py && git commit -qm "api y" ;;
esac
"""
    repo = loop_repo(tmp_path, script, extra="test: 'true'\n")
    proc = start_up(repo)
    try:
        wait_for(lambda: record(repo, "api")["state"] == "waiting", timeout=60)
        proc.terminate()
        code, out, err = finish(proc)
    finally:
        proc.kill()
    assert code == 143 and "`wta up` schedules them again" in out, out + err
    assert record(repo, "api")["state"] == "stopped"
    (tmp_path / "go").write_text("")
    wait_for(lambda: record(repo, "infra")["state"] == "done", timeout=60)

    def ready(proc: subprocess.Popen) -> None:
        assert read_line_starting(proc, "infra: ") == "infra: done in the interrupted schedule; left as it is"
        wait_for(lambda: record(repo, "api")["state"] == "waiting", timeout=60)

    code, out, err = up_until_a_person_merges(repo, [], ["infra"], ready)
    assert code == 0, out + err
    assert (tmp_path / "sessions.log").read_text().split() == ["infra", "api"]
    assert subjects(repo, "main")[0] == "[infra] infra a"


# -- what notify says once, across coordinators ------------------------------------------------

def _notified(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def test_after_ctrl_c_the_detached_coordinator_does_not_say_again_that_a_stream_waits(tmp_path):
    """`land: manual`: api waits for infra to land; Ctrl-C of `wta up` hands the schedule to a detached
    coordinator, whose watcher said the wait through notify a second time (docs: once)."""
    notify_log = tmp_path / "notify.log"
    repo = loop_repo(tmp_path, INFRA_THEN_API.format(out=tmp_path),
                     extra=f"notify: \"echo '{{stream}}|{{state}}' >> {notify_log}\"\n")
    proc = start_up(repo)
    try:
        wait_for(lambda: "api|waiting" in _notified(notify_log), timeout=60, message="notify: api waits")
        proc.send_signal(signal.SIGINT)
        code, out, err = finish(proc)
    finally:
        proc.kill()
    assert code == 0 and "detached: a coordinator (pid" in out, out + err
    coordinator = int(re.search(r"a coordinator \(pid (\d+)\)", out).group(1))
    log = state_dir(repo) / "logs" / "coordinator.log"
    wait_for(lambda: f"coordinator {coordinator}: scheduling" in log.read_text(), timeout=30)
    time.sleep(3)   # its watcher looks every second
    wta(repo, "merge", "infra", check=0)
    wait_for(lambda: not alive(coordinator), timeout=60, message="the detached coordinator to finish")
    said = _notified(notify_log)
    assert said.count("api|waiting") == 1 and said.count("api|started") == 1, said
    assert said.count("infra|done") == 1 and said.count("api|done") == 1, said


def test_a_session_that_ends_while_no_coordinator_runs_is_announced_once_by_the_next_watcher(tmp_path):
    """The coordinator SIGKILLed, the session wrapper goes on and the session ends `done`: no watcher said so,
    and the next one took it for history. It is said once, by the next watcher, and not at every start."""
    notify_log = tmp_path / "notify.log"
    script = f'while [ ! -f "{tmp_path}/go" ]; do sleep 0.05; done\necho y > src/api/y.py && git add -A && ' \
             'git commit -qm "api y"\n'
    repo = loop_repo(tmp_path, script, extra=f"notify: \"echo '{{stream}}|{{state}}' >> {notify_log}\"\n",
                     streams="  api:\n    paths: [src/api/**]\n")
    started = up(repo, "-d")
    assert started.returncode == 0, started.stdout + started.stderr
    coordinator = int(re.search(r"a coordinator \(pid (\d+)\)", started.stdout).group(1))
    wait_for(lambda: record(repo, "api")["state"] == "running", timeout=60)
    os.kill(coordinator, signal.SIGKILL)
    wait_for(lambda: not alive(coordinator), message="the coordinator to die")
    (tmp_path / "go").write_text("")
    wait_for(lambda: record(repo, "api")["state"] == "done", timeout=60)
    first = wta(repo, "watch", "--for", "3s", check=0)
    assert "api done: session done" in first.stdout, first.stdout + first.stderr
    wait_for(lambda: "api|done" in _notified(notify_log), timeout=15)
    again = wta(repo, "watch", "--for", "3s", check=0)
    assert "api done" not in again.stdout, again.stdout
    assert _notified(notify_log).count("api|done") == 1, _notified(notify_log)


# -- an `api` session without a shell (`sandbox: off`: no `run` tool) ---------------------------

def _api_without_shell(tmp_path: Path, agent, extra: str = "") -> tuple[Path, list[str], subprocess.CompletedProcess]:
    """`land: auto`, the api runner unsandboxed; the first message of each of its sessions, and `wta up`."""
    from worktree_agents.fake_anthropic import FakeAnthropic
    from sessions_support import KEY

    zones_text = (f"version: 1\nland: auto\nsandbox: off\n{extra}agent:\n  runner: api\n  max_turns: 10\n"
                  "  timeout: 60s\nstreams:\n  api:\n    paths: [src/api/**]\n    prompt: Add a route.\n")
    repo = session_repo(tmp_path, zones_text, FILES)
    with FakeAnthropic(agent, api_key=KEY) as fake:
        done = up(repo, env_=env(ANTHROPIC_BASE_URL=fake.base_url))
    firsts = [json.dumps(r.body["messages"][0]) for r in fake.conversation_requests() if len(r.body["messages"]) == 1]
    return repo, firsts, done


def test_an_api_session_without_a_shell_is_not_told_to_run_commands_to_reproduce_a_failed_test(tmp_path):
    """Its follow-up was told "Reproduce it: rebase your branch, `git rebase --apply main` ..., then run the
    command", which it cannot: it has no `run` tool."""
    (tmp_path / "check.sh").write_text(TEST_SCRIPT.format(out=tmp_path))
    repo, firsts, done = _api_without_shell(tmp_path, _fixing_api_agent, extra=f"test: sh {tmp_path}/check.sh\n")
    assert done.returncode == 0, done.stdout + done.stderr
    assert len(firsts) == 2 and "marker 42" in firsts[1]
    assert "git rebase" not in firsts[1] and "then run the command" not in firsts[1], firsts[1]
    assert "no `run` tool" in firsts[1] and "the `commit` tool" in firsts[1]
    assert (record(repo, "api")["state"], record(repo, "api")["handbacks"]) == ("landed", 1)


def test_a_conflict_of_an_api_session_without_a_shell_goes_to_a_person_not_to_a_follow_up(tmp_path):
    """Its follow-up was told to rebase (`git rebase --apply main`) and resolve: with no `run` tool it could
    not, and each follow-up (a paid session) ended with the conflict still there."""
    from worktree_agents.fake_anthropic import text, tool_use

    def agent(body: dict):
        turns = [[tool_use("write_file", {"path": "src/api/handler.py", "content": "x = 2\n"})],
                 [tool_use("commit", {"message": "api x 2"})], [text("Done.")]]
        turn = len(body["messages"]) // 2
        return turns[turn] if turn < len(turns) else None

    from worktree_agents.fake_anthropic import FakeAnthropic
    from sessions_support import KEY

    zones_text = ("version: 1\nland: auto\nsandbox: off\nagent:\n  runner: api\n  max_turns: 10\n  timeout: 60s\n"
                  "streams:\n  api:\n    paths: [src/api/**]\n    prompt: Add a route.\n")
    repo = session_repo(tmp_path, zones_text, FILES)
    go = tmp_path / "go"

    def slow_agent(body: dict):
        if len(body["messages"]) // 2 == 2:   # its commit is made: wait for the person's commit on main
            wait_for(go.exists, timeout=60)
        return agent(body)

    with FakeAnthropic(slow_agent, api_key=KEY) as fake:
        proc = subprocess.Popen([sys.executable, "-m", "worktree_agents", "up"], cwd=repo, text=True,
                                env=env(ANTHROPIC_BASE_URL=fake.base_url), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
        try:
            wait_for(lambda: "[api] api x 2" in git(repo, "log", "--format=%s", "refs/heads/wta/api",
                                                    check=False).stdout, timeout=60, message="api's commit")
            write_files(repo, {"src/api/handler.py": "x = 3\n"})
            commit_all(repo, "a person changes x on main")
            go.write_text("")
            code, out, err = finish(proc)
        finally:
            proc.kill()
        firsts = [r for r in fake.conversation_requests() if len(r.body["messages"]) == 1]
    assert code == 1, out + err
    assert len(firsts) == 1   # no follow-up
    api = record(repo, "api")
    assert api["state"] == "blocked" and api["handbacks"] == 0, api
    assert "no follow-up" in api["reason"] and "git rebase main" in api["reason"], api["reason"]


@pytest.mark.parametrize("setup, path, fix", [
    ("echo x > setup.log", "setup.log", "delete them yourself"),
    ("echo more >> README.md", "README.md", "commit or undo them yourself"),
], ids=["untracked", "uncommitted"])
def test_files_outside_its_zone_left_in_the_worktree_of_an_api_session_without_a_shell_go_to_a_person(
        tmp_path, setup, path, fix):
    """`setup:` left a file outside the zone (untracked, or a tracked one changed). Its follow-ups were told to
    delete it or `git restore` it: with no `run` tool and no way to write outside its zone they could not, and
    two paid follow-ups ended where they began before the stream was blocked."""
    (tmp_path / "check.sh").write_text("exit 0\n")
    repo, firsts, done = _api_without_shell(tmp_path, _fixing_api_agent,
                                            extra=f"setup: ['{setup}']\ntest: sh {tmp_path}/check.sh\n")
    assert done.returncode == 1, done.stdout + done.stderr
    assert len(firsts) == 1, firsts   # no follow-up
    api = record(repo, "api")
    assert api["state"] == "blocked" and api["handbacks"] == 0, api
    assert "no follow-up" in api["reason"] and path in api["reason"] and fix in api["reason"], api["reason"]
    assert "wta merge api" in api["reason"], api["reason"]


def test_untracked_files_of_its_zone_are_handed_to_an_api_session_without_a_shell_in_terms_of_its_tools(tmp_path):
    """A file of its zone left untracked (a person's, after its session) was handed back with "Delete the others",
    which its tools cannot. Its follow-up is told to commit them with its `commit` tool; it does, and it lands."""
    from worktree_agents.fake_anthropic import FakeAnthropic, text, tool_use
    from sessions_support import KEY

    def agent(body: dict):
        first = json.dumps(body["messages"][0])
        turns = ([[tool_use("commit", {"message": "commit the notes"})], [text("Done.")]] if "untracked" in first
                 else [[tool_use("write_file", {"path": "src/api/w.py", "content": "ok\n"})],
                       [tool_use("commit", {"message": "api work"})], [text("Done.")]])
        turn = len(body["messages"]) // 2
        return turns[turn] if turn < len(turns) else None

    (tmp_path / "check.sh").write_text("exit 0\n")
    zones_text = (f"version: 1\nsandbox: off\ntest: sh {tmp_path}/check.sh\nagent:\n  runner: api\n  max_turns: 10\n"
                  "  timeout: 60s\nstreams:\n  api:\n    paths: [src/api/**]\n    prompt: Add a route.\n")
    repo = session_repo(tmp_path, zones_text, FILES)
    with FakeAnthropic(agent, api_key=KEY) as fake:
        first = up(repo, env_=env(ANTHROPIC_BASE_URL=fake.base_url))
        assert first.returncode == 0, first.stdout + first.stderr
        write_files(worktree(repo, "api"), {"src/api/notes/todo.md": "later\n"})
        landed = up(repo, "--land", env_=env(ANTHROPIC_BASE_URL=fake.base_url))
        firsts = [json.dumps(r.body["messages"][0]) for r in fake.conversation_requests()
                  if len(r.body["messages"]) == 1]
    assert landed.returncode == 0, landed.stdout + landed.stderr
    assert len(firsts) == 2 and "src/api/notes/" in firsts[1], firsts
    assert "the `commit` tool" in firsts[1] and "no `run` tool" in firsts[1], firsts[1]
    assert "Delete the others" not in firsts[1] and "git " not in firsts[1], firsts[1]
    assert (record(repo, "api")["state"], record(repo, "api")["handbacks"]) == ("landed", 1)
    assert git(repo, "show", "main:src/api/notes/todo.md").stdout == "later\n"


def test_a_detached_head_in_the_worktree_of_an_api_session_without_a_shell_goes_to_a_person(tmp_path):
    """Its worktree's HEAD detached (by a person) before it committed: its follow-ups were handed the advice for a
    person (`git switch -C`, `git cherry-pick`), which its tools cannot run."""
    from worktree_agents.fake_anthropic import text, tool_use

    def agent(body: dict):
        turn = len(body["messages"]) // 2
        if turn == 0 and len(body["messages"]) == 1:
            git(worktree(Path(body_repo[0]), "api"), "checkout", "-q", "--detach")
        turns = [[tool_use("write_file", {"path": "src/api/w.py", "content": "ok\n"})],
                 [tool_use("commit", {"message": "api work"})], [text("Done.")]]
        return turns[turn] if turn < len(turns) else None

    body_repo = [str(tmp_path / "repo")]
    repo, firsts, done = _api_without_shell(tmp_path, agent)
    assert done.returncode == 1, done.stdout + done.stderr
    assert len(firsts) == 1, firsts   # no follow-up
    api = record(repo, "api")
    assert api["state"] == "blocked" and api["handbacks"] == 0, api
    assert "detached HEAD" in api["reason"] and "no follow-up" in api["reason"], api["reason"]
    assert f"git -C {worktree(repo, 'api')} switch -C wta/api" in api["reason"], api["reason"]   # a person's fix
    assert "fix it yourself, then `wta merge api`" in api["reason"], api["reason"]


def test_ctrl_c_while_the_landing_thread_is_being_started_waits_for_it_without_a_traceback(tmp_path):
    """A Ctrl-C that came while `Thread.start` was starting the landing's thread was raised inside it: a thread
    that might or might not run, which `join` then refused ("cannot join thread before it is started"): a Python
    traceback, and no word of the landing. (A `sitecustomize` on the coordinator's path holds the start open until
    the test has sent the Ctrl-C: the moment is a few microseconds wide otherwise.)"""
    starting, sent = tmp_path / "starting", tmp_path / "sent"
    custom = tmp_path / "custom"
    custom.mkdir()
    (custom / "sitecustomize.py").write_text(
        "import os, threading, time\n_start = threading.Thread.start\n"
        "def start(self):\n"
        "    if self.name == 'landing':\n"
        f"        open({str(starting)!r}, 'w').close()\n"
        f"        while not os.path.exists({str(sent)!r}):\n"
        "            time.sleep(0.01)\n"
        "    return _start(self)\n"
        "threading.Thread.start = start\n")
    repo = loop_repo(tmp_path, 'echo 1 > src/api/one.py && git add src/api/one.py && git commit -qm "api one"',
                     extra="land: auto\n", streams="  api:\n    paths: [src/api/**]\n")
    path = os.pathsep.join(filter(None, [str(custom), os.environ.get("PYTHONPATH")]))
    proc = subprocess.Popen([sys.executable, "-m", "worktree_agents", "up"], cwd=repo, text=True,
                            env=env(PYTHONPATH=path), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    try:
        wait_for(starting.exists, timeout=60)
        os.killpg(proc.pid, signal.SIGINT)   # what the terminal does
        sent.touch()
        code, out, err = finish(proc)
    finally:
        proc.kill()
    assert "Traceback" not in err and "cannot join thread" not in err, err
    assert "waiting for the landing under way to finish" in out + err, out + err
    assert record(repo, "api")["state"] == "landed", out + err
    assert subjects(repo, "main")[0] == "[api] api one"
