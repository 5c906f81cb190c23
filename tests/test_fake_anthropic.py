"""The fake Anthropic Messages API, driven by the real SDK and the real Claude Code CLI."""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path

import anthropic
import pytest

from worktree_agents.fake_anthropic import FakeAnthropic, text, tool_use

# A current model: the SDK warns about deprecated ones, which would add noise to these tests.
MODEL = "claude-sonnet-4-6"
KEY = "sk-test-0123456789"
WEATHER_TOOL = {
    "name": "get_weather",
    "description": "Current weather for a city.",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}
ID_RE = re.compile(r"^msg_[0-9a-f]{32}$")
TOOLU_RE = re.compile(r"^toolu_[0-9a-f]{32}$")
CLI_TIMEOUT = 120


@pytest.fixture(autouse=True)
def no_ambient_credentials(monkeypatch):
    # The SDK falls back to these; the tests say explicitly which key goes where.
    for name in ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_BASE_URL"):
        monkeypatch.delenv(name, raising=False)


def client(fake: FakeAnthropic, **kwargs) -> anthropic.Anthropic:
    kwargs.setdefault("api_key", KEY)
    kwargs.setdefault("max_retries", 0)
    return anthropic.Anthropic(base_url=fake.base_url, timeout=30, **kwargs)


def ask(c: anthropic.Anthropic, content: str = "hi", **kwargs):
    kwargs = {"model": MODEL, "max_tokens": 256, "tools": [WEATHER_TOOL], **kwargs}
    return c.messages.create(messages=[{"role": "user", "content": content}], **kwargs)


def blocks(message) -> list[dict]:
    return [b.model_dump(exclude_none=True) for b in message.content]


def raw_request(fake: FakeAnthropic, path: str, body: dict | None = None, method: str = "POST",
                headers: dict | None = None) -> tuple[int, dict]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(fake.base_url + path, data=data, method=method,
                                 headers={"content-type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


# -- the real SDK ----------------------------------------------------------


def test_sdk_non_streaming_plays_the_script_in_order():
    script = [
        [text("Let me check."), tool_use("get_weather", {"city": "Paris"})],
        [text("It is sunny in Paris.")],
    ]
    with FakeAnthropic(script) as fake:
        c = client(fake)
        first = ask(c, "weather in Paris?")
        second = ask(c, "and now?")
        third = ask(c, "anything else?")

    assert first.model == MODEL
    assert first.stop_reason == "tool_use"
    assert [b["type"] for b in blocks(first)] == ["text", "tool_use"]
    assert first.content[0].text == "Let me check."
    call = first.content[1]
    assert (call.name, call.input) == ("get_weather", {"city": "Paris"})
    assert TOOLU_RE.match(call.id)

    assert second.stop_reason == "end_turn"
    assert blocks(second) == [{"type": "text", "text": "It is sunny in Paris."}]
    # Past the end of the script: a plain "done." so agents stop.
    assert blocks(third) == [{"type": "text", "text": "done."}]
    assert third.stop_reason == "end_turn"

    ids = [m.id for m in (first, second, third)]
    assert all(ID_RE.match(i) for i in ids) and len(set(ids)) == 3
    for m in (first, second, third):
        assert m.usage.input_tokens > 0 and m.usage.output_tokens > 0

    recorded = fake.requests
    assert [r.kind for r in recorded] == ["conversation"] * 3
    assert recorded[0].path == "/v1/messages"
    assert recorded[0].body["messages"] == [{"role": "user", "content": "weather in Paris?"}]
    assert recorded[0].headers["authorization"] == "<redacted>"
    assert KEY not in json.dumps([r.headers for r in recorded])


def test_sdk_model_is_echoed_and_tool_ids_are_unique():
    script = [[tool_use("get_weather", {"city": "A"}), tool_use("get_weather", {"city": "B"})]] * 2
    with FakeAnthropic(script) as fake:
        c = client(fake)
        replies = [ask(c, model="claude-haiku-4-5"), ask(c, model="claude-opus-4-1")]
    assert [r.model for r in replies] == ["claude-haiku-4-5", "claude-opus-4-1"]
    tool_ids = [b.id for r in replies for b in r.content]
    assert len(set(tool_ids)) == 4 and all(TOOLU_RE.match(i) for i in tool_ids)


def test_sdk_streaming_final_message_equals_the_script():
    turn = [text("Checking the weather now."),
            tool_use("get_weather", {"city": "Zürich", "units": {"temp": "C"}, "days": [1, 2]})]
    with FakeAnthropic([turn, [text("Done streaming.")]]) as fake:
        c = client(fake)
        with c.messages.stream(model=MODEL, max_tokens=256, tools=[WEATHER_TOOL],
                               messages=[{"role": "user", "content": "weather?"}]) as stream:
            event_types = [event.type for event in stream]
            final = stream.get_final_message()
        with c.messages.stream(model=MODEL, max_tokens=256, tools=[WEATHER_TOOL],
                               messages=[{"role": "user", "content": "more"}]) as stream:
            streamed_text = "".join(stream.text_stream)
            second = stream.get_final_message()

    got = blocks(final)
    assert got[0] == {"type": "text", "text": "Checking the weather now."}
    assert {k: got[1][k] for k in ("type", "name", "input")} == {k: turn[1][k] for k in ("type", "name", "input")}
    assert TOOLU_RE.match(got[1]["id"])
    assert final.stop_reason == "tool_use"
    assert ID_RE.match(final.id) and final.model == MODEL
    assert final.usage.output_tokens > 1  # the count from message_delta, not message_start's 1
    assert {"message_start", "content_block_start", "content_block_delta", "content_block_stop",
            "message_delta", "message_stop"} <= set(event_types)
    assert fake.requests[0].body["stream"] is True

    assert streamed_text == "Done streaming."
    assert second.stop_reason == "end_turn" and second.id != final.id


def test_both_auth_header_styles_are_accepted_and_a_wrong_key_is_refused():
    with FakeAnthropic([[text("bearer")], [text("x-api-key")]], api_key=KEY) as fake:
        # This SDK sends api_key as "Authorization: Bearer".
        assert ask(client(fake)).content[0].text == "bearer"
        # With no api_key the SDK sends only what default_headers carry.
        c = client(fake, api_key=None, default_headers={"x-api-key": KEY})
        assert ask(c).content[0].text == "x-api-key"

        with pytest.raises(anthropic.AuthenticationError) as bearer_err:
            ask(client(fake, api_key="sk-wrong"))
        with pytest.raises(anthropic.AuthenticationError):
            ask(client(fake, api_key=None, default_headers={"x-api-key": "sk-wrong"}))
        status, body = raw_request(fake, "/v1/messages", {"model": MODEL, "max_tokens": 5, "messages": []})

    assert bearer_err.value.status_code == 401
    assert bearer_err.value.body["error"]["type"] == "authentication_error"
    assert (status, body["type"], body["error"]["type"]) == (401, "error", "authentication_error")
    sent = [(sorted(k for k in r.headers if k in ("authorization", "x-api-key")), r.kind) for r in fake.requests]
    assert sent == [
        (["authorization"], "conversation"),
        (["x-api-key"], "conversation"),
        (["authorization"], "rejected"),
        (["x-api-key"], "rejected"),
        ([], "rejected"),
    ]


def test_any_non_empty_key_is_accepted_when_none_is_configured():
    with FakeAnthropic([[text("one")], [text("two")]]) as fake:
        assert ask(client(fake, api_key="anything")).content[0].text == "one"
        assert ask(client(fake, api_key="something-else")).content[0].text == "two"


def test_sdk_retries_through_injected_overloads():
    with FakeAnthropic([[text("made it")]], fail_first=2) as fake:
        reply = ask(client(fake, max_retries=3))
    assert reply.content[0].text == "made it"
    assert [r.kind for r in fake.requests] == ["rejected", "rejected", "conversation"]
    # The SDK numbers its retries; the fake saw all three attempts.
    assert [r.headers.get("x-stainless-retry-count") for r in fake.requests] == ["0", "1", "2"]


def test_overload_beyond_the_retry_budget_surfaces_as_529():
    with FakeAnthropic([[text("never")]], fail_first=5) as fake:
        with pytest.raises(anthropic.InternalServerError) as err:
            ask(client(fake, max_retries=1))
    assert err.value.status_code == 529
    assert err.value.body["error"]["type"] == "overloaded_error"
    assert len(fake.requests) == 2


def test_side_requests_do_not_consume_the_script():
    with FakeAnthropic([[text("scripted")]]) as fake:
        c = client(fake)
        # No tools: a helper request (the CLI's title generation looks like this).
        plain = c.messages.create(
            model=MODEL, max_tokens=64, messages=[{"role": "user", "content": "title?"}])
        probe = ask(c, max_tokens=1)
        titled = c.messages.create(
            model=MODEL, max_tokens=64, tools=[], stream=False,
            messages=[{"role": "user", "content": "name this session"}],
            extra_body={"output_config": {"format": {"type": "json_schema", "schema": {
                "type": "object", "properties": {"title": {"type": "string"}},
                "required": ["title"], "additionalProperties": False}}}},
        )
        counted = c.messages.count_tokens(model=MODEL, messages=[{"role": "user", "content": "x" * 400}])
        scripted = ask(c)

    assert plain.content[0].text == "ok" and plain.stop_reason == "end_turn"
    assert probe.content[0].text == "ok"
    assert json.loads(titled.content[0].text) == {"title": "ok"}
    assert counted.input_tokens >= 100
    assert scripted.content[0].text == "scripted"
    assert [r.kind for r in fake.requests] == ["side", "side", "side", "count_tokens", "conversation"]


def test_unknown_endpoints_and_bad_bodies_get_api_shaped_errors():
    with FakeAnthropic() as fake:
        auth = {"x-api-key": KEY}
        assert raw_request(fake, "/v1/complete", {"prompt": "x"}, headers=auth)[0] == 404
        status, body = raw_request(fake, "/v1/models", method="GET", headers=auth)
        bad = urllib.request.Request(fake.base_url + "/v1/messages", data=b"{nope", method="POST", headers=auth)
        with pytest.raises(urllib.error.HTTPError) as bad_err:
            urllib.request.urlopen(bad, timeout=10)
        bad_body = json.loads(bad_err.value.read())
    assert (status, body["type"], body["error"]["type"]) == (404, "error", "not_found_error")
    assert bad_err.value.code == 400 and bad_body["error"]["type"] == "invalid_request_error"
    assert [r.kind for r in fake.requests] == ["unknown", "unknown", "rejected"]


def test_callable_script_sees_each_request():
    def script(body):
        last = body["messages"][-1]["content"]
        return None if last == "stop" else [text(f"echo: {last}")]

    with FakeAnthropic(script) as fake:
        c = client(fake)
        assert ask(c, "one").content[0].text == "echo: one"
        assert ask(c, "stop").content[0].text == "done."


def test_a_failing_script_is_a_500_not_a_hang():
    def script(body):
        raise ValueError("boom")

    with FakeAnthropic(script) as fake:
        with pytest.raises(anthropic.InternalServerError) as err:
            ask(client(fake, max_retries=2))
    assert err.value.status_code == 500
    assert len(fake.requests) == 1  # x-should-retry: false stops the SDK retrying
    assert [type(e) for e in fake.errors] == [ValueError]


# -- routing by stream marker ----------------------------------------------


def test_concurrent_clients_are_routed_by_the_stream_marker():
    script = {
        "api": [[tool_use("get_weather", {"city": "api-1"})], [text("api done")]],
        "web": [[tool_use("get_weather", {"city": "web-1"})], [text("web done")]],
        # A key that is a prefix of another must not steal its requests.
        "api-v2": [[text("v2 only")]],
    }
    barrier = threading.Barrier(2, timeout=10)
    results: dict[str, list] = {}
    errors: list[BaseException] = []

    def conversation(stream: str, system):
        try:
            c = client(fake)
            got = []
            for prompt in ("start", "continue"):
                barrier.wait()  # interleave the two conversations turn by turn
                reply = c.messages.create(model=MODEL, max_tokens=256, system=system, tools=[WEATHER_TOOL],
                                          messages=[{"role": "user", "content": prompt}])
                got.append(blocks(reply))
            results[stream] = got
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    with FakeAnthropic(script) as fake:
        threads = [
            threading.Thread(target=conversation, args=("api", "You are an agent.\n# Zone rules of stream `api` (wta)\nBe brief.")),
            # System prompts may also be lists of text blocks.
            threading.Thread(target=conversation, args=("web", [
                {"type": "text", "text": "You are an agent."}, {"type": "text", "text": "# Zone rules of stream `web` (wta)"}])),
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
        c = client(fake)
        v2 = ask(c, system="# Zone rules of stream `api-v2` (wta)")
        unmarked = ask(c, system="no marker here")

    assert not errors, errors
    for stream in ("api", "web"):
        first, second = results[stream]
        assert first[0]["input"] == {"city": f"{stream}-1"}
        assert second == [{"type": "text", "text": f"{stream} done"}]
    assert v2.content[0].text == "v2 only"
    assert unmarked.content[0].text == "ok"  # names no key: a side request
    assert [r.kind for r in fake.requests].count("side") == 1
    assert {r.key for r in fake.conversation_requests()} == {"api", "web", "api-v2"}
    assert len(fake.conversation_requests("api")) == 2


# -- the real Claude Code CLI ----------------------------------------------




def run_claude(claude: str, fake: FakeAnthropic, cwd: Path, home: Path, prompt: str,
               settings: dict | None = None, extra_args: tuple[str, ...] = ()) -> tuple[list[dict], str]:
    """Run `claude -p` headless against the fake; returns (stream-json lines, stderr)."""
    home.mkdir(parents=True, exist_ok=True)
    args = [claude, "-p", prompt, "--output-format", "stream-json", "--verbose",
            "--model", MODEL, "--max-turns", "5", "--permission-mode", "bypassPermissions", *extra_args]
    if settings is not None:
        args += ["--settings", json.dumps(settings)]
    env = {
        # A clean environment: nothing from the machine's own Claude setup leaks in.
        "PATH": os.environ["PATH"],
        "HOME": str(home),
        "ANTHROPIC_BASE_URL": fake.base_url,
        "ANTHROPIC_API_KEY": KEY,
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "IS_SANDBOX": "1",  # bypassPermissions refuses to run as root without it
    }
    proc = subprocess.Popen(args, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        stdout, stderr = proc.communicate(timeout=CLI_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # the CLI and any hook or shell it started
        stdout, stderr = proc.communicate()
        pytest.fail(f"claude timed out after {CLI_TIMEOUT}s\n--- stdout\n{stdout[-4000:]}\n--- stderr\n{stderr[-4000:]}")
    assert proc.returncode == 0, f"claude exited {proc.returncode}\n--- stdout\n{stdout[-4000:]}\n--- stderr\n{stderr[-4000:]}"
    lines = [json.loads(line) for line in stdout.splitlines() if line.strip()]
    return lines, stderr


def result_line(lines: list[dict]) -> dict:
    assert lines and lines[-1]["type"] == "result", lines[-1:]
    assert [line["type"] for line in lines].count("result") == 1
    return lines[-1]


def tool_uses(lines: list[dict]) -> list[dict]:
    return [b for line in lines if line["type"] == "assistant"
            for b in line["message"]["content"] if b["type"] == "tool_use"]


def test_claude_cli_writes_a_file_through_the_fake(claude, tmp_path):
    cwd = tmp_path / "work"
    cwd.mkdir()
    script = [
        [text("I'll create the file."), tool_use("Write", {"file_path": "hello.txt", "content": "hello from the fake\n"})],
        [text("Created hello.txt.")],
    ]
    with FakeAnthropic(script, api_key=KEY) as fake:
        lines, stderr = run_claude(claude, fake, cwd, tmp_path / "home", "Create hello.txt")

    assert (cwd / "hello.txt").read_text() == "hello from the fake\n"

    init = lines[0]
    assert (init["type"], init["subtype"]) == ("system", "init")
    assert init["cwd"] == str(cwd) and init["model"] == MODEL
    assert init["permissionMode"] == "bypassPermissions" and "Write" in init["tools"]
    assert [u["name"] for u in tool_uses(lines)] == ["Write"]
    results = [b for line in lines if line["type"] == "user" for b in line["message"]["content"]
               if b["type"] == "tool_result"]
    assert len(results) == 1 and not results[0].get("is_error")

    result = result_line(lines)
    assert result["subtype"] == "success" and result["is_error"] is False
    assert result["result"] == "Created hello.txt."
    assert result["num_turns"] == 2
    assert result["permission_denials"] == []
    assert result["total_cost_usd"] > 0  # priced from the fake's usage
    assert result["session_id"] == init["session_id"]

    # The CLI's side of the conversation, as the fake saw it.
    conv = fake.conversation_requests()
    assert len(conv) == 2 and all(r.kind == "conversation" for r in fake.requests if r.path.startswith("/v1/messages"))
    assert conv[0].headers["x-api-key"] == "<redacted>"
    assert conv[0].body["model"] == MODEL and conv[0].body["stream"] is True
    assert "Write" in {t["name"] for t in conv[0].body["tools"]}
    [tool_result] = fake.tool_results()
    assert tool_result["tool_use_id"] == tool_uses(lines)[0]["id"] and not tool_result.get("is_error")


DENY_REASON = "hello.txt is outside this stream's zone"


def json_deny_hook(tmp_path: Path) -> str:
    """A PreToolUse hook that records its input and denies with JSON on stdout."""
    hook = tmp_path / "deny_hook.py"
    hook.write_text(
        "import json, sys\n"
        f"open({str(tmp_path / 'hook-input.json')!r}, 'w').write(sys.stdin.read())\n"
        "print(json.dumps({'hookSpecificOutput': {'hookEventName': 'PreToolUse',\n"
        f"    'permissionDecision': 'deny', 'permissionDecisionReason': {DENY_REASON!r}}}}}))\n"
    )
    return shlex.join([sys.executable, str(hook)])


def exit2_deny_hook(tmp_path: Path) -> str:
    """A PreToolUse hook that records its input and blocks with exit status 2."""
    record = shlex.quote(str(tmp_path / "hook-input.json"))
    return f"cat > {record}; echo {shlex.quote(DENY_REASON)} >&2; exit 2"


@pytest.mark.parametrize("make_hook", [json_deny_hook, exit2_deny_hook], ids=["json", "exit2"])
def test_claude_cli_pretooluse_hook_denial(claude, tmp_path, make_hook):
    cwd = tmp_path / "work"
    cwd.mkdir()
    settings = {"hooks": {"PreToolUse": [
        {"matcher": "Edit|Write|NotebookEdit", "hooks": [{"type": "command", "command": make_hook(tmp_path)}]},
    ]}}
    script = [
        [tool_use("Write", {"file_path": "hello.txt", "content": "should not land\n"})],
        [text("The write was denied.")],
    ]
    with FakeAnthropic(script) as fake:
        lines, _ = run_claude(claude, fake, cwd, tmp_path / "home", "Create hello.txt", settings=settings)

    assert not (cwd / "hello.txt").exists()
    hook_input = json.loads((tmp_path / "hook-input.json").read_text())
    assert (hook_input["hook_event_name"], hook_input["tool_name"]) == ("PreToolUse", "Write")

    result = result_line(lines)
    assert result["subtype"] == "success" and result["result"] == "The write was denied."
    [denial] = result["permission_denials"]
    assert denial["tool_name"] == "Write"
    assert denial["tool_use_id"] == tool_uses(lines)[0]["id"]
    assert denial["tool_input"]["file_path"] == str(cwd / "hello.txt")

    [tool_result] = fake.tool_results()
    assert tool_result["is_error"] is True
    assert tool_result["tool_use_id"] == denial["tool_use_id"]
    assert DENY_REASON in str(tool_result["content"])


def test_concurrent_claude_clis_are_routed_by_their_system_prompt_marker(claude, tmp_path):
    streams = ("api", "web")
    script = {
        s: [[tool_use("Write", {"file_path": f"{s}.txt", "content": f"written by {s}\n"})], [text(f"{s} finished")]]
        for s in streams
    }
    outcomes: dict[str, list[dict]] = {}
    errors: list[BaseException] = []

    def run(stream: str) -> None:
        try:
            cwd = tmp_path / stream
            cwd.mkdir()
            outcomes[stream], _ = run_claude(claude, fake, cwd, tmp_path / f"home-{stream}", "Do your part",
                                             extra_args=("--append-system-prompt", f"# Zone rules of stream `{stream}` (wta)"))
        except BaseException as exc:  # pytest.fail raises a BaseException subclass
            errors.append(exc)

    with FakeAnthropic(script) as fake:
        threads = [threading.Thread(target=run, args=(s,)) for s in streams]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=CLI_TIMEOUT + 30)

    assert not errors, errors
    for stream in streams:
        assert (tmp_path / stream / f"{stream}.txt").read_text() == f"written by {stream}\n"
        assert not (tmp_path / stream / f"{'web' if stream == 'api' else 'api'}.txt").exists()
        assert result_line(outcomes[stream])["result"] == f"{stream} finished"
        assert len(fake.conversation_requests(stream)) == 2
