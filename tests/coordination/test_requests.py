"""`wta request`: filing requests between streams, closing them by commit or by hand,
and what the owner's prompt and the requester's status show."""

from __future__ import annotations

import json
import re
import threading
from pathlib import Path

from support import add_stream_worktree, commit_all, git, write_files, wta
from worktree_agents.coordination import requests

ID = re.compile(r"^r-[0-9a-f]{6}$")


def state_dir(repo: Path) -> str:
    return str(repo / ".git" / "wta")


def open_requests(cwd: Path) -> list[dict]:
    return json.loads(wta(cwd, "request", "--list", "--json", check=0).stdout)


def request_files(repo: Path) -> list[Path]:
    folder = repo / ".git" / "wta" / "requests"
    return sorted(folder.glob("*")) if folder.exists() else []


def test_request_from_ui_is_one_open_request_for_api(webapp):
    ui = add_stream_worktree(webapp, "ui")
    proc = wta(ui, "request", "api", "add GET /api/schedule", check=0)
    request_id = proc.stdout.strip()
    assert ID.match(request_id)
    [found] = open_requests(webapp)
    assert found["id"] == request_id
    assert (found["from_stream"], found["to_stream"], found["text"], found["state"]) == \
        ("ui", "api", "add GET /api/schedule", "open")
    stored = json.loads((webapp / ".git" / "wta" / "requests" / f"{request_id}.json").read_text())
    assert stored["created_at"] and stored["closed_at"] is None and stored["path"] is None


def test_request_shows_in_status_json_for_both_streams(webapp):
    ui = add_stream_worktree(webapp, "ui")
    request_id = wta(ui, "request", "api", "add GET /api/schedule", check=0).stdout.strip()
    streams = {s["stream"]: s for s in json.loads(wta(webapp, "status", "--json", check=0).stdout)["streams"]}
    assert [r["id"] for r in streams["api"]["requests"]["open_to"]] == [request_id]
    assert [r["id"] for r in streams["ui"]["requests"]["opened_by"]] == [request_id]
    assert streams["infra"]["requests"] == {"open_to": [], "opened_by": [], "closed_recently": []}
    table = wta(webapp, "status", check=0).stdout
    assert "requests" in table.splitlines()[1]


def test_owner_prompt_starts_with_its_open_requests(webapp):
    write_files(webapp, {"prompts/api.md": "You are the API agent.\n"})  # the example's prompt_file
    ui = add_stream_worktree(webapp, "ui")
    request_id = wta(ui, "request", "api", "add GET /api/schedule", check=0).stdout.strip()
    section = requests.prompt_section(state_dir(webapp), "api")
    assert request_id in section and "add GET /api/schedule" in section and "Closes-request:" in section
    assert requests.prompt_section(state_dir(webapp), "ui") == ""
    prompt = wta(webapp, "prompt", "api", check=0).stdout
    assert prompt.startswith(section.rstrip("\n"))
    assert "add GET /api/schedule" not in wta(webapp, "prompt", "ui", check=0).stdout


def test_owner_commit_with_trailer_closes_it_and_requester_sees_it(webapp):
    ui = add_stream_worktree(webapp, "ui")
    api = add_stream_worktree(webapp, "api")
    request_id = wta(ui, "request", "api", "add GET /api/schedule", check=0).stdout.strip()
    other_id = wta(ui, "request", "api", "and a POST too", check=0).stdout.strip()
    write_files(api, {"src/app/api/schedule/route.ts": "export const GET = () => null\n"})
    sha = commit_all(api, f"add the schedule route\n\nCloses-request: {request_id}")
    assert [r["id"] for r in open_requests(ui)] == [other_id]
    closed = requests.get(state_dir(webapp), request_id)
    assert (closed.state, closed.closed_by) == ("closed", sha)
    view = requests.status_for(state_dir(webapp), ["ui", "api"])
    assert [r["id"] for r in view["ui"]["closed_recently"]] == [request_id]
    assert [r["id"] for r in view["api"]["open_to"]] == [other_id]
    streams = {s["stream"]: s for s in json.loads(wta(webapp, "status", "--json", check=0).stdout)["streams"]}
    assert [r["id"] for r in streams["ui"]["requests"]["closed_recently"]] == [request_id]
    assert request_id not in requests.prompt_section(state_dir(webapp), "api")


def test_closing_trailer_of_another_stream_or_in_the_body_does_not_close(webapp):
    ui = add_stream_worktree(webapp, "ui")
    api = add_stream_worktree(webapp, "api")
    request_id = wta(ui, "request", "api", "add GET /api/schedule", check=0).stdout.strip()
    write_files(ui, {"src/components/Schedule.tsx": "export const S = () => null\n"})
    commit_all(ui, f"schedule view\n\nCloses-request: {request_id}")
    write_files(api, {"src/lib/schedule.ts": "export const s = 1\n"})
    commit_all(api, f"groundwork\n\nCloses-request: {request_id} is what comes next,\nonce this is in\n\n"
               "Signed-off-by: x <x@y>")
    assert [r["id"] for r in open_requests(webapp)] == [request_id]


def test_closure_still_counts_after_the_branch_is_merged_and_deleted(webapp):
    ui = add_stream_worktree(webapp, "ui")
    api = add_stream_worktree(webapp, "api")
    request_id = wta(ui, "request", "api", "add GET /api/schedule", check=0).stdout.strip()
    write_files(api, {"src/app/api/schedule/route.ts": "x\n"})
    commit_all(api, f"schedule\n\nCloses-request: {request_id}")
    git(webapp, "merge", "-q", "--ff-only", "wta/api")
    git(webapp, "worktree", "remove", str(api))
    git(webapp, "branch", "-q", "-D", "wta/api")
    assert open_requests(webapp) == []


def test_request_by_path_names_the_owner(webapp):
    ui = add_stream_worktree(webapp, "ui")
    request_id = wta(ui, "request", "--path", "src/lib/redis.ts", "add a redis client", check=0).stdout.strip()
    [found] = open_requests(ui)
    assert (found["id"], found["to_stream"], found["path"]) == (request_id, "api", "src/lib/redis.ts")


def test_bad_requests_exit_2_with_one_line_and_store_nothing(webapp):
    ui = add_stream_worktree(webapp, "ui")
    cases = [
        (("request", "nope", "x"), "stream 'nope' is not in"),
        (("request", "ui", "x"), "request to yourself"),
        (("request", "--path", "docs/specs/api.md", "x"), "read-only"),
        (("request", "--path", "README.md", "x"), "unowned"),
        (("request", "--path", "zones.yaml", "x"), "zones.yaml"),
        (("request", "--path", "src/components/Button.tsx", "x"), "your own zone"),
        (("request", "api", "   "), "empty"),
        (("request", "api"), "name the stream"),
        (("request", "--close", "r-zzz"), "not a request id"),
        (("request", "--close", "r-000000"), "not found"),
    ]
    for args, expected in cases:
        proc = wta(ui, *args, check=2)
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and expected in lines[0], (args, proc.stderr)
        assert proc.stdout == ""
    assert request_files(webapp) == []


def test_request_from_the_main_worktree_comes_from_a_person(webapp):
    request_id = wta(webapp, "request", "infra", "pin node 20", check=0).stdout.strip()
    [found] = open_requests(webapp)
    assert (found["id"], found["from_stream"], found["to_stream"]) == (request_id, None, "infra")
    assert "a person" in requests.prompt_section(state_dir(webapp), "infra")


def test_close_by_hand(webapp):
    request_id = wta(webapp, "request", "infra", "pin node 20", check=0).stdout.strip()
    assert wta(webapp, "request", "--close", request_id, check=0).stdout.strip() == f"{request_id} closed"
    assert open_requests(webapp) == []
    stored = requests.get(state_dir(webapp), request_id)
    assert (stored.state, stored.closed_by) == ("closed", "manual") and stored.closed_at
    assert "already closed" in wta(webapp, "request", "--close", request_id, check=0).stdout


def test_concurrent_requests_get_distinct_ids(tmp_path):
    folder = str(tmp_path / "wta")
    made: list[str] = []

    def file_some() -> None:
        for _ in range(10):
            made.append(requests.create(folder, "ui", "api", "x").id)

    threads = [threading.Thread(target=file_some) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(made)) == 80
    assert sorted(r.id for r in requests.load_all(folder)) == sorted(made)


def test_a_taken_id_is_never_reused(tmp_path, monkeypatch):
    folder = str(tmp_path / "wta")
    first = requests.create(folder, "ui", "api", "first")
    draws = iter([first.id[2:], first.id[2:], "abcdef" if first.id != "r-abcdef" else "fedcba"])
    monkeypatch.setattr("secrets.token_hex", lambda n: next(draws))
    second = requests.create(folder, "ui", "api", "second")
    assert second.id != first.id
    assert requests.get(folder, first.id).text == "first"


def test_api_runner_request_tool_files_a_request(webapp):
    from worktree_agents.sessions import api
    from worktree_agents.sessions.workspace import Workspace

    ui = add_stream_worktree(webapp, "ui")
    tools = {t["name"] for t in api.TOOLS}
    assert "request" in tools
    workspace = Workspace(str(ui), "ui")
    text, is_error = api.call_tool(workspace, "request", {"path": "src/lib/redis.ts", "text": "a redis client"})
    assert not is_error, text
    [found] = open_requests(webapp)
    assert (found["from_stream"], found["to_stream"], found["text"]) == ("ui", "api", "a redis client")
    assert found["id"] in text
    text, is_error = api.call_tool(workspace, "request", {"stream": "ui", "text": "x"})
    assert is_error and "yourself" in text
    assert len(open_requests(webapp)) == 1


def test_a_fifo_or_a_link_among_the_requests_is_passed_over_never_waited_on(webapp, tmp_path):
    """The sandboxes may write requests/: a FIFO named like a request had every `wta status`, `wta request
    --list` and the coordinator's prompts wait for a writer for ever; a link to /dev/zero, read for ever."""
    import os
    import subprocess
    import sys

    ui = add_stream_worktree(webapp, "ui")
    request_id = wta(ui, "request", "api", "add GET /api/schedule", check=0).stdout.strip()
    folder = webapp / ".git" / "wta" / "requests"
    os.mkfifo(folder / "r-222222.json")
    (folder / "r-333333.json").symlink_to("/dev/zero")
    listed = subprocess.run([sys.executable, "-m", "worktree_agents", "request", "--list", "--json"], cwd=webapp,
                            capture_output=True, text=True, timeout=30)
    assert listed.returncode == 0 and [r["id"] for r in json.loads(listed.stdout)] == [request_id]
    status = subprocess.run([sys.executable, "-m", "worktree_agents", "status", "--json"], cwd=webapp,
                            capture_output=True, text=True, timeout=30)
    assert status.returncode == 0, status.stderr


def test_terminal_escapes_in_a_requests_text_never_reach_the_terminal(webapp, tmp_path):
    """A request an agent wrote with OSC and CSI sequences (a window title, the clipboard through OSC 52,
    lines erased) was printed raw by `wta request --list` and in `wta watch`'s alerts."""
    import subprocess
    import sys

    ui = add_stream_worktree(webapp, "ui")
    evil = "add x \x1b]0;TITLE\x07\x1b]52;c;cHduZWQ=\x07\x1b[1A\x1b[2K done"
    request_id = wta(ui, "request", "api", evil, check=0).stdout.strip()
    listed = wta(webapp, "request", "--list", check=0).stdout
    assert request_id in listed and "\x1b" not in listed and "\x07" not in listed
    watch = subprocess.run([sys.executable, "-m", "worktree_agents", "watch", "--for", "1s", "--interval", "0.2"],
                           cwd=webapp, capture_output=True, text=True, timeout=60)
    assert request_id in watch.stdout and "\x1b" not in watch.stdout and "\x07" not in watch.stdout
    assert json.loads(wta(webapp, "request", "--list", "--json", check=0).stdout)[0]["text"] == evil   # data as is
