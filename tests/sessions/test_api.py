"""The `api` runner, driven by the real `anthropic` SDK against the project's fake Messages API."""

from __future__ import annotations

import json

from support import git, wta
from sessions_support import KEY, env, log_text, no_leftover_processes, record, session_repo, up, worktree, zones  # noqa: F401
from worktree_agents.fake_anthropic import FakeAnthropic, malformed, text, tool_use
from worktree_agents.sessions import pricing

MODEL = "claude-sonnet-4-6"
STREAMS = "  api:\n    paths: [src/api/**]\n    prompt: Add a route.\n  ui:\n    paths: [src/ui/**]\n"


def api_agent(max_turns: int = 10) -> str:
    return f"  runner: api\n  model: {MODEL}\n  max_turns: {max_turns}\n  timeout: 60s\n"


def test_in_zone_write_and_commit_land_and_an_out_of_zone_write_is_a_tool_error(tmp_path):
    script = {"api": [
        [text("Adding a route."), tool_use("write_file", {"path": "src/api/route.py", "content": "ROUTE = 1\n"})],
        [tool_use("commit", {"message": "add the route"})],
        [tool_use("write_file", {"path": "src/ui/page.html", "content": "taken over\n"})],
        [text("Route added; the page belongs to ui.")],
    ]}
    repo = session_repo(tmp_path, zones(api_agent(), STREAMS))
    with FakeAnthropic(script, api_key=KEY) as fake:
        done = up(repo, "api", env_=env(ANTHROPIC_BASE_URL=fake.base_url))
    assert done.returncode == 0, done.stdout + done.stderr + log_text(repo, "api")

    api = worktree(repo, "api")
    assert git(repo, "log", "-1", "--format=%s", "wta/api").stdout.strip() == "[api] add the route"
    assert git(repo, "diff", "--name-only", "main", "wta/api").stdout.split() == ["src/api/route.py"]
    assert (api / "src" / "ui" / "page.html").read_text() == "<p>hi</p>\n"
    assert git(api, "status", "--porcelain").stdout == ""

    results = fake.tool_results("api")
    assert [bool(r.get("is_error")) for r in results] == [False, False, True]
    assert "src/ui/page.html is owned by stream 'ui'" in results[2]["content"]
    requests = fake.conversation_requests("api")
    assert len(requests) == 4 and all(r.body["stream"] is True and r.body["model"] == MODEL for r in requests)
    assert "Add a route." in json.dumps(requests[0].body["messages"][0])
    system = requests[0].body["system"]
    assert "# Zone rules of stream `api` (wta)" in system and "`src/api/**`" in system and "`ui`: `src/ui/**`" in system

    session = record(repo, "api")
    assert (session["state"], session["turns"], session["result"]) == ("done", 4, "Route added; the page belongs to ui.")
    assert session["input_tokens"] > 0 and session["output_tokens"] > 0
    assert session["cost_usd"] == pricing.cost_usd(MODEL, session["input_tokens"], session["output_tokens"])
    assert session["permission_denials"] == [
        {"tool_name": "write_file", "tool_use_id": results[2]["tool_use_id"], "file_path": "src/ui/page.html",
         "reason": results[2]["content"]}]
    status = json.loads(wta(repo, "status", "--json", check=0).stdout)
    shown = next(s for s in status["streams"] if s["stream"] == "api")["session"]
    assert (shown["turns"], shown["cost_usd"], shown["permission_denials"]) == (4, session["cost_usd"], 1)
    # The table shows the refused edit too (README: turns, cost and refused edits show in `wta status`).
    table = wta(repo, "status", check=0).stdout.split("\n\nsessions\n")[1].splitlines()
    header, row = table[0], next(line for line in table if line.startswith("api "))
    assert row[header.index("refused"):].split()[0] == "1", table


def test_overloads_are_retried_and_max_turns_ends_the_session_failed(tmp_path):
    script = {"api": [[tool_use("list_files", {"path": "src"})]] * 5}
    repo = session_repo(tmp_path, zones(api_agent(max_turns=2), STREAMS))
    with FakeAnthropic(script, api_key=KEY, fail_first=2) as fake:
        done = up(repo, "api", env_=env(ANTHROPIC_BASE_URL=fake.base_url))
    assert done.returncode == 1
    assert [r.kind for r in fake.requests][:2] == ["rejected", "rejected"]  # 529s, then the SDK retried
    session = record(repo, "api")
    assert (session["state"], session["reason"], session["turns"]) == ("failed", "max turns reached", 2)
    assert "src/api/handler.py" in fake.tool_results("api")[0]["content"]


def test_without_an_api_key_nothing_starts(tmp_path):
    repo = session_repo(tmp_path, zones(api_agent(), STREAMS))
    bare = {k: v for k, v in env().items() if k != "ANTHROPIC_API_KEY"}
    done = up(repo, env_=bare)
    assert done.returncode == 2 and "ANTHROPIC_API_KEY is not set" in done.stderr
    assert not (repo / ".git" / "wta" / "sessions").exists()
    # Checked before any worktree was made: nothing to clean up after fixing the environment.
    assert git(repo, "worktree", "list", "--porcelain").stdout.count("worktree ") == 1
    assert git(repo, "branch", "--list", "wta/*").stdout == ""


def test_the_default_model_is_not_one_the_sdk_lists_as_retiring():
    from anthropic.resources.messages.messages import DEPRECATED_MODELS

    from worktree_agents.config.schema import AgentSchema
    assert AgentSchema().model not in DEPRECATED_MODELS


def test_a_retiring_model_is_named_in_the_session_log(tmp_path):
    from anthropic.resources.messages.messages import DEPRECATED_MODELS

    # Whichever model the installed SDK warns about: its list changes from release to release
    # (claude-sonnet-4-5 left it once it had retired).
    assert DEPRECATED_MODELS, "the anthropic SDK names no deprecated model any more: nothing to warn about"
    retiring = sorted(DEPRECATED_MODELS)[0]
    script = {"api": [[text("Nothing to do.")]]}
    agent = api_agent().replace(MODEL, retiring)
    repo = session_repo(tmp_path, zones(agent, STREAMS))
    with FakeAnthropic(script, api_key=KEY) as fake:
        done = up(repo, "api", env_=env(ANTHROPIC_BASE_URL=fake.base_url))
    assert done.returncode == 0, done.stdout + done.stderr + log_text(repo, "api")
    assert [r.body["model"] for r in fake.conversation_requests("api")] == [retiring]
    lines = [line for line in log_text(repo, "api").splitlines() if line.startswith("warning: ")]
    assert len(lines) == 1 and f"'{retiring}' is deprecated" in lines[0], log_text(repo, "api")


def test_a_session_stopped_or_timed_out_still_records_what_it_spent(tmp_path):
    """The api runner ended by SIGTERM (its `timeout`, `wta stop`) printed no result line: the record had
    no turns, cost or tokens for two turns that were paid for."""
    import threading

    answered, third, released = [], threading.Event(), threading.Event()

    def script(body: dict):
        answered.append(body)
        if len(answered) <= 2:
            return [tool_use("list_files", {"path": "src"})]
        third.set()
        released.wait(60)   # the third turn never comes back: the session is stopped meanwhile
        return [text("too late")]

    # Stopped once the third turn is asked for: an 8 s `timeout` had come first on a loaded machine, before the
    # runner's start and two turns (the timeout and `wta stop` end the runner alike, by SIGTERM).
    repo = session_repo(tmp_path, zones(api_agent(), STREAMS))
    with FakeAnthropic(script, api_key=KEY) as fake:
        try:
            started = up(repo, "api", "-d", env_=env(ANTHROPIC_BASE_URL=fake.base_url))
            assert started.returncode == 0, started.stdout + started.stderr
            assert third.wait(60), "the third turn was never asked for"
            assert wta(repo, "stop", "api", check=0).stdout == "api: stopped\n"
        finally:
            released.set()
    session = record(repo, "api")
    assert len(answered) == 3
    assert (session["state"], session["reason"]) == ("stopped", "stopped by `wta stop`")
    assert session["turns"] == 2 and session["input_tokens"] > 0 and session["output_tokens"] > 0
    assert session["cost_usd"] == pricing.cost_usd(MODEL, session["input_tokens"], session["output_tokens"])


def test_an_answer_that_cannot_be_read_ends_the_session_failed_with_what_it_spent(tmp_path):
    """An event stream that breaks off in bad JSON (a broken proxy) had ended the runner in a traceback,
    with no result line: the record had a bare "exit status 1" and none of the turns paid for."""
    script = {"api": [[tool_use("list_files", {"path": "src"})], [tool_use("list_files", {"path": "src"})],
                      [malformed()]]}
    repo = session_repo(tmp_path, zones(api_agent(), STREAMS))
    with FakeAnthropic(script, api_key=KEY) as fake:
        done = up(repo, "api", env_=env(ANTHROPIC_BASE_URL=fake.base_url))
    session = record(repo, "api")
    assert done.returncode == 1 and session["state"] == "failed"
    assert "the API's answer could not be read: " in session["reason"], session["reason"]
    assert session["turns"] == 2 and session["input_tokens"] > 0 and session["output_tokens"] > 0
    assert "Traceback" not in log_text(repo, "api")
