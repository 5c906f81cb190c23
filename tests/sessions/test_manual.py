"""The `manual` runner: no process; zone rule files for editors, ignored by git; the session `open`
until its stream is merged or stopped; the prompt written to a file, not printed."""

from __future__ import annotations

import json
import re

from support import commit_all, git, wta, write_files
from sessions_support import no_leftover_processes, record, session_repo, up, worktree, zones  # noqa: F401

STREAMS = "  api:\n    paths: [src/api/**]\n    prompt: Build the API.\n  ui:\n    paths: [src/ui/**]\n    after: [api]\n"


def test_manual_writes_both_rule_files_ignored_by_git_and_the_prompt_to_a_file(tmp_path):
    repo = session_repo(tmp_path, zones("  runner: claude\n", STREAMS))
    done = up(repo, "--runner", "manual")
    assert done.returncode == 0, done.stdout + done.stderr
    api = worktree(repo, "api")
    assert f"api: open (a person works in {api})" in done.stdout.splitlines()
    assert "Build the API." not in done.stdout  # the prompt is in a file, and `wta prompt api` prints it
    prompt_file = repo / ".git" / "wta" / "prompts" / "api.md"
    assert prompt_file.read_text() == wta(repo, "prompt", "api", check=0).stdout
    assert prompt_file.read_text().startswith("Build the API.\n\n# Zone rules of stream `api` (wta)")

    rule = (api / ".cursor" / "rules" / "wta-zone.mdc").read_text()
    assert rule.startswith("---\ndescription: wta zone rules of stream api") and "\nalwaysApply: true\n---\n" in rule
    assert "- `src/api/**`" in rule and "Build the API." in rule
    assert "- `src/api/**`" in (api / "CLAUDE.local.md").read_text()
    assert git(api, "status", "--porcelain", "--untracked-files=all").stdout == ""
    assert git(api, "check-ignore", ".cursor/rules/wta-zone.mdc", "CLAUDE.local.md").stdout.split() == \
        [".cursor/rules/wta-zone.mdc", "CLAUDE.local.md"]
    exclude = (repo / ".git" / "info" / "exclude").read_text()
    assert exclude.count("/CLAUDE.local.md") == 1

    session = record(repo, "api")
    assert (session["state"], session["reason"], session["pid"]) == ("open", f"a person works in {api}", None)
    assert record(repo, "ui")["state"] == "open"  # its `after` was satisfied by the manual api session
    assert up(repo, "--runner", "manual").returncode == 0  # again: nothing duplicated
    assert (repo / ".git" / "info" / "exclude").read_text() == exclude


def test_four_manual_streams_are_a_handful_of_lines_with_no_done_and_stay_open(tmp_path):
    streams = "".join(f"  {name}:\n    paths: [src/{name}/**]\n    prompt: Work on {name}.\n"
                      for name in ("api", "ui", "db", "docs"))
    repo = session_repo(tmp_path, zones("  runner: claude\n", streams),
                        {f"src/{name}/a.txt": "a\n" for name in ("api", "ui", "db", "docs")})
    done = up(repo, "--runner", "manual")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) <= 12, done.stdout  # was about 130: every full prompt, and each stream "done" three times
    assert "done" not in done.stdout and "alert" not in done.stdout
    assert [line for line in lines if line.startswith("api:")] == [f"api: open (a person works in {worktree(repo, 'api')})"]
    assert "stream   runner" not in done.stdout  # the live table is for a terminal

    status = {s["stream"]: s for s in json.loads(wta(repo, "status", "--json", check=0).stdout)["streams"]}
    assert all(status[n]["session"]["state"] == "open" and status[n]["session"]["log"] is None for n in status)
    logs = wta(repo, "logs", "api", check=2)
    assert logs.stderr == ("wta: stream 'api' has no log: a person drives it (a manual session); open its worktree "
                           "with `wta open api`\n")

    # Open until merged or stopped.
    write_files(worktree(repo, "api"), {"src/api/b.txt": "b\n"})
    commit_all(worktree(repo, "api"), "b")
    wta(repo, "merge", "api", check=0)
    assert (record(repo, "api")["state"], record(repo, "api")["reason"]) == ("done", "merged into main")
    assert wta(repo, "stop", "ui", check=0).stdout == "ui: manual session stopped\n"
    assert record(repo, "ui")["state"] == "stopped" and record(repo, "db")["state"] == "open"


def test_a_manual_session_ends_when_wta_down_removes_its_worktree(tmp_path):
    """`wta status` had gone on saying "a person works in <path>" of a folder `wta down` had removed."""
    repo = session_repo(tmp_path, zones("  runner: claude\n", STREAMS))
    assert up(repo, "--runner", "manual", "api").returncode == 0
    assert record(repo, "api")["state"] == "open"
    assert "removed" in wta(repo, "down", "api", check=0).stdout
    session = record(repo, "api")
    assert (session["state"], session["reason"]) == ("stopped", "its worktree was removed by `wta down`")
    assert session["ended_at"] is not None


def test_a_request_to_a_manual_stream_says_where_its_person_sees_it_not_its_next_session(tmp_path):
    """`wta request api ...` to a stream a person works by hand had said "its next session starts with it":
    no session of it ever starts."""
    repo = session_repo(tmp_path, zones("  runner: claude\n", STREAMS))
    assert up(repo, "--runner", "manual", "api").returncode == 0
    asked = wta(repo, "request", "api", "add GET /api/schedule", check=0)
    request_id = asked.stdout.strip()
    assert asked.stderr == (f"request {request_id} to api: api is worked by hand (runner manual): `wta status` shows "
                            f"it, `wta prompt api` starts with it; a commit of api with `Closes-request: {request_id}` "
                            "closes it\n")
    assert request_id in wta(repo, "prompt", "api", check=0).stdout
    other = wta(repo, "request", "ui", "a schedule page", check=0)   # ui: a claude session, not run yet
    assert "ui: its next session starts with it;" in other.stderr


def test_up_detached_says_which_streams_are_a_persons_and_where_they_work_not_a_log_to_follow(tmp_path):
    """`wta up -d` had said "a coordinator runs the sessions (api, ui)" of a manual ui too, with `wta logs STREAM -f`
    to follow (exit 2 for a manual stream: no log), and never where its person works."""
    streams = "  api:\n    paths: [src/api/**]\n  ui:\n    paths: [src/ui/**]\n    agent: {runner: manual}\n"
    repo = session_repo(tmp_path / "mixed", zones("  runner: command\n  command: \"true\"\n", streams))
    done = up(repo, "-d")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert re.fullmatch(r"detached: a coordinator \(pid \d+\) runs the sessions \(api\) and opens ui for a person; "
                        r"follow with `wta status`, `wta logs STREAM -f`; end with `wta stop`", lines[-3]), done.stdout
    assert lines[-2] == f"ui: a person works in {worktree(repo, 'ui')}"

    alone = session_repo(tmp_path / "manual", zones("  runner: claude\n", STREAMS))
    done = up(alone, "-d", "--runner", "manual")
    assert done.returncode == 0, done.stderr
    assert re.search(r"^detached: a coordinator \(pid \d+\) opens api, ui for a person; follow with `wta status`; "
                     r"end with `wta stop`$", done.stdout, re.M), done.stdout
    assert "wta logs" not in done.stdout
    assert f"api: a person works in {worktree(alone, 'api')}\nui: a person works in {worktree(alone, 'ui')}\n" \
        in done.stdout


def test_attach_to_a_manual_stream_says_a_person_drives_it_not_to_follow_its_log(tmp_path):
    """`wta attach api` of a manual stream had pointed at `wta logs api -f`, which says it has no log (exit 2)."""
    repo = session_repo(tmp_path, zones("  runner: claude\n", STREAMS))
    assert up(repo, "--runner", "manual", "api").returncode == 0
    proc = wta(repo, "attach", "api", check=2)
    assert proc.stderr == ("wta: stream 'api' has no session to attach to: a person drives it (a manual session); "
                           "open its worktree with `wta open api`\n")
    assert "wta logs" not in proc.stderr and proc.stdout == ""


def test_the_rule_files_are_never_written_through_a_folder_link_out_of_the_worktree(tmp_path):
    """`.cursor` made a link to a folder outside the worktree (by an agent of the stream): wta, outside any
    sandbox, had written the rule file (with text other streams' requests put in it) there."""
    repo = session_repo(tmp_path, zones("  runner: claude\n", STREAMS))
    assert up(repo, "--no-launch", "api").returncode == 0
    elsewhere = tmp_path / "home-config"
    elsewhere.mkdir()
    (worktree(repo, "api") / ".cursor").symlink_to(elsewhere)
    assert up(repo, "--runner", "manual", "api").returncode == 0
    assert list(elsewhere.iterdir()) == []
    assert (worktree(repo, "api") / "CLAUDE.local.md").is_file()


def test_logs_of_a_stream_re_run_as_manual_shows_its_earlier_sessions_log_saying_so(tmp_path):
    """`wta up ui --runner manual` after command sessions: `wta logs ui` had said "no log: a person drives it"
    (exit 2) with ui.log still there. It shows that log (-f too: nothing writes to it now), naming it earlier."""
    repo = session_repo(tmp_path, zones("  runner: command\n  timeout: 60s\n  command: \"echo agent-was-here\"\n",
                                        "  ui:\n    paths: [src/ui/**]\n"))
    assert up(repo, "ui").returncode == 0
    earlier = wta(repo, "logs", "ui", check=0).stdout
    assert "agent-was-here\n" in earlier and "ended: done" in earlier
    assert up(repo, "ui", "--runner", "manual").returncode == 0
    assert record(repo, "ui")["state"] == "open"
    for args in (["logs", "ui"], ["logs", "-f", "ui"]):
        shown = wta(repo, *args, check=0)
        assert shown.stdout == earlier
        log = repo / ".git" / "wta" / "logs" / "ui.log"
        assert shown.stderr == ("wta: stream 'ui' is driven by a person now (a manual session, which writes no log); "
                                f"below is the log of an earlier session ({log})\n")


def test_status_json_names_the_earlier_log_wta_logs_shows_of_a_stream_re_run_as_manual(tmp_path):
    """`wta status --json` said `log: null` for ui, re-run with `--runner manual` after a command session, while
    `wta logs ui` showed that session's log: status names the file `wta logs` shows (null with no log at all)."""
    repo = session_repo(tmp_path, zones("  runner: command\n  timeout: 60s\n  command: \"echo agent-was-here\"\n",
                                        "  ui:\n    paths: [src/ui/**]\n  api:\n    paths: [src/api/**]\n"))
    assert up(repo, "ui").returncode == 0
    assert up(repo, "--runner", "manual").returncode == 0   # ui again, and api for the first time
    status = {s["stream"]: s["session"] for s in json.loads(wta(repo, "status", "--json", check=0).stdout)["streams"]}
    assert (status["ui"]["state"], status["api"]["state"]) == ("open", "open")
    shown = wta(repo, "logs", "ui", check=0)
    log = repo / ".git" / "wta" / "logs" / "ui.log"
    assert "agent-was-here\n" in shown.stdout and f"({log})" in shown.stderr
    assert status["ui"]["log"] == str(log)
    assert status["api"]["log"] is None   # never ran a process: no log, and `wta logs api` says so
    assert "has no log" in wta(repo, "logs", "api", check=2).stderr
