"""A scripted fake of the Anthropic Messages API, for tests and the offline demo.

It speaks enough of the real wire protocol (JSON and server-sent events, the
error envelope, auth headers) that the real ``anthropic`` SDK and the real
Claude Code CLI talk to it unmodified::

    from worktree_agents.fake_anthropic import FakeAnthropic, text, tool_use

    script = [
        [tool_use("Write", {"file_path": "hello.txt", "content": "hi\\n"})],
        [text("Wrote hello.txt.")],
    ]
    with FakeAnthropic(script) as fake:
        # point a client at fake.base_url ...
        fake.requests       # every request received, auth redacted

Scripts
-------
A *turn* is the assistant's reply to one request: a list of content blocks
built with :func:`text` and :func:`tool_use` (a bare string is short for one
text block). Its ``stop_reason`` is ``tool_use`` if it has a tool_use block,
else ``end_turn``. ``script`` is one of:

* a list of turns, played in order across all conversation requests;
* a dict ``{key: [turns]}``, one list per conversation. A request belongs to
  key ``k`` if its system prompt (a string or a list of text blocks) contains
  ``wta-stream: k`` followed by the end of the text or by a character that
  cannot be part of a key (anything but letters, digits, ``_ . / -``), so key
  ``api`` does not claim ``wta-stream: api-v2``. If several keys match, the
  one appearing first wins;
* a callable ``script(request_json) -> turn`` (``None`` means "done.").

An exhausted script (or a dict request that names no key) answers "done."
with ``end_turn``, so an agent that loops past its script stops.

Side requests
-------------
Besides the agent conversation, the Claude Code CLI sends helper requests of
its own (see :func:`is_side_request`). They get a harmless text reply and never
consume a scripted turn. ``POST /v1/messages/count_tokens`` is answered with
an estimate. Anything else is a 404 in the API's error shape.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Mapping, Sequence, Union

__all__ = [
    "FakeAnthropic",
    "RecordedRequest",
    "STREAM_MARKER",
    "is_side_request",
    "text",
    "tool_use",
]

Block = dict[str, Any]
Turn = list[Block]
Script = Union[Sequence[Any], Mapping[str, Sequence[Any]], Callable[[dict], Any], None]

#: The system-prompt marker that routes a request to a per-key script.
STREAM_MARKER = "wta-stream: "
_KEY_CHAR = r"[A-Za-z0-9_./-]"
DONE_TEXT = "done."
SIDE_TEXT = "ok"


def text(s: str) -> Block:
    """A text content block."""
    return {"type": "text", "text": s}


def tool_use(name: str, input: Mapping[str, Any] | None = None) -> Block:
    """A tool_use content block; the server gives it a fresh ``toolu_`` id."""
    return {"type": "tool_use", "name": name, "input": dict(input or {})}


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the server saw it. ``kind`` is how it was classified:
    ``conversation``, ``side``, ``count_tokens``, ``rejected`` (auth or
    injected fault) or ``unknown`` (404)."""

    method: str
    path: str
    headers: dict[str, str]  # lower-cased names; credentials replaced by "<redacted>"
    body: Any  # parsed JSON, or None
    kind: str
    key: str | None = None  # the script key a conversation request was routed to


def system_text(body: Mapping[str, Any]) -> str:
    """The request's system prompt flattened to one string."""
    system = body.get("system")
    if isinstance(system, str):
        return system
    if isinstance(system, list):
        return "\n".join(
            b.get("text", "") for b in system if isinstance(b, dict) and isinstance(b.get("text"), str)
        )
    return ""


def is_side_request(body: Mapping[str, Any]) -> bool:
    """Whether a /v1/messages request is a client's helper call rather than a
    turn of the agent conversation.

    The rule: a request is a side request if it offers no tools at all (an
    absent or empty ``tools`` list) and is not streamed, or if ``max_tokens``
    is at most 1 (a probe). The Claude Code CLI's own helpers (session title,
    quota probe, ...) are non-streamed and tool-less, while every agent turn is
    streamed with its full tool list. A plain SDK conversation without tools
    is still a conversation as long as it streams -- or use a dict script, where
    a request that names no key is treated as a side request anyway.
    """
    if int(body.get("max_tokens") or 0) <= 1:
        return True
    return not body.get("tools") and not body.get("stream")


class FakeAnthropic:
    """A scripted Anthropic Messages API on 127.0.0.1, in a daemon thread.

    ``api_key``: if given, every credential presented (``x-api-key`` and/or
    ``Authorization: Bearer``) must equal it; otherwise any non-empty key is
    accepted. A request with no credential at all is always a 401.

    ``fail_first``: answer the first N ``/v1/messages`` requests with HTTP 529
    ``overloaded_error`` (with ``retry-after-ms``, so SDK retries are quick).

    ``side_request``: the predicate that picks out side requests (default
    :func:`is_side_request`); it sees the parsed request body.
    """

    def __init__(
        self,
        script: Script = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        api_key: str | None = None,
        fail_first: int = 0,
        retry_after_ms: int = 10,
        side_request: Callable[[Mapping[str, Any]], bool] = is_side_request,
    ) -> None:
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError(f"FakeAnthropic binds loopback only, not {host!r}")
        self._host = host
        self._port = port
        self.api_key = api_key
        self.retry_after_ms = retry_after_ms
        self.side_request = side_request
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._failures_left = fail_first
        self._ids = itertools.count(1)
        self._set_script(script)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------

    def start(self) -> "FakeAnthropic":
        if self._server is not None:
            return self
        handler = type("_BoundHandler", (_Handler,), {"fake": self})
        server = ThreadingHTTPServer((self._host, self._port), handler)
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05},
            name="fake-anthropic", daemon=True,
        )
        self._thread.start()
        return self

    def close(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> "FakeAnthropic":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("FakeAnthropic is not started")
        return self._server.server_address[1]

    @property
    def base_url(self) -> str:
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{self.port}"

    # -- inspection --------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot of every request received so far, in arrival order."""
        with self._lock:
            return list(self._requests)

    def conversation_requests(self, key: str | None = None) -> list[RecordedRequest]:
        return [
            r for r in self.requests
            if r.kind == "conversation" and (key is None or r.key == key)
        ]

    def tool_results(self, key: str | None = None) -> list[Block]:
        """Every distinct tool_result block clients sent back, in order."""
        seen: dict[str, Block] = {}
        for req in self.conversation_requests(key):
            for message in req.body.get("messages", []):
                content = message.get("content")
                if message.get("role") != "user" or not isinstance(content, list):
                    continue
                for block in content:
                    if isinstance(block, dict) and block.get("type") == "tool_result":
                        seen.setdefault(block.get("tool_use_id", f"?{len(seen)}"), block)
        return list(seen.values())

    # -- scripting ---------------------------------------------------------

    def _set_script(self, script: Script) -> None:
        self._script_fn: Callable[[dict], Any] | None = None
        self._queues: dict[str | None, list[Turn]] = {}
        if script is None:
            self._queues[None] = []
        elif callable(script):
            self._script_fn = script
        elif isinstance(script, Mapping):
            for key, turns in script.items():
                if not isinstance(key, str) or not re.fullmatch(f"{_KEY_CHAR}+", key):
                    raise ValueError(f"script key {key!r} must match {_KEY_CHAR}+")
                self._queues[key] = [_normalize_turn(t) for t in turns]
            # Earliest marker in the prompt wins; one pattern per key.
            self._key_patterns = {
                key: re.compile(re.escape(STREAM_MARKER + key) + f"(?!{_KEY_CHAR})")
                for key in self._queues
            }
        else:
            self._queues[None] = [_normalize_turn(t) for t in script]

    @property
    def _routed(self) -> bool:
        return self._script_fn is None and None not in self._queues

    def route(self, body: Mapping[str, Any]) -> str | None:
        """The dict-script key that a request's system prompt names, if any."""
        if not self._routed:
            return None
        system = system_text(body)
        hits = [(m.start(), key) for key, pat in self._key_patterns.items() if (m := pat.search(system))]
        return min(hits)[1] if hits else None

    def _next_turn(self, body: dict, key: str | None) -> Turn:
        if self._script_fn is not None:
            turn = self._script_fn(body)
            return _normalize_turn(turn) if turn is not None else [text(DONE_TEXT)]
        with self._lock:
            queue = self._queues.get(key)
            if queue:
                return queue.pop(0)
        return [text(DONE_TEXT)]

    def _take_failure(self) -> bool:
        with self._lock:
            if self._failures_left > 0:
                self._failures_left -= 1
                return True
            return False

    def _record(self, req: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(req)

    def _new_id(self, prefix: str) -> str:
        # uuid for global uniqueness; the counter only makes ids sort by issue order.
        return f"{prefix}{next(self._ids):04d}{uuid.uuid4().hex}"

    def check_key(self, headers: Mapping[str, str]) -> str | None:
        """None if the request's credentials are acceptable, else the error message."""
        presented = []
        if "x-api-key" in headers:
            presented.append(headers["x-api-key"].strip())
        auth = headers.get("authorization")
        if auth is not None:
            scheme, _, token = auth.strip().partition(" ")
            if scheme.lower() != "bearer":
                return "invalid authorization header: expected 'Bearer <key>'"
            presented.append(token.strip())
        if not presented or not all(presented):
            return "x-api-key header or Authorization: Bearer is required"
        if self.api_key is not None and any(k != self.api_key for k in presented):
            return "invalid x-api-key"
        return None


def _normalize_turn(turn: Any) -> Turn:
    if isinstance(turn, str):
        return [text(turn)]
    if isinstance(turn, dict):
        turn = [turn]
    blocks = []
    for block in turn:
        if isinstance(block, str):
            block = text(block)
        kind = block.get("type")
        if kind not in ("text", "tool_use"):
            raise ValueError(f"unsupported content block type {kind!r}")
        blocks.append(dict(block))
    if not blocks:
        raise ValueError("a turn needs at least one content block")
    return blocks


def _estimate_tokens(obj: Any) -> int:
    # About four characters a token, as for English text; only needs to be plausible.
    return max(1, len(json.dumps(obj, separators=(",", ":"))) // 4)


def _error_body(kind: str, message: str) -> dict:
    return {
        "type": "error",
        "error": {"type": kind, "message": message},
        "request_id": f"req_{uuid.uuid4().hex}",
    }


_REDACT = {"x-api-key", "authorization"}


class _Handler(BaseHTTPRequestHandler):
    fake: FakeAnthropic  # set on the per-server subclass
    # HTTP/1.1 so clients keep connections alive; every response therefore
    # carries Content-Length or is chunked.
    protocol_version = "HTTP/1.1"
    server_version = "FakeAnthropic/1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib name
        pass  # silence http.server's per-request stderr line

    # -- dispatch ----------------------------------------------------------

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_HEAD(self) -> None:
        self._dispatch("HEAD")

    def _dispatch(self, method: str) -> None:
        fake = self.fake
        path = self.path.split("?", 1)[0]
        headers = {k.lower(): v for k, v in self.headers.items()}
        raw = self._read_body()
        body: Any = None
        bad_json = False
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                bad_json = True
        redacted = {k: ("<redacted>" if k in _REDACT else v) for k, v in headers.items()}

        def record(kind: str, key: str | None = None) -> None:
            fake._record(RecordedRequest(method, self.path, redacted, body, kind, key))

        if method != "POST" or path not in ("/v1/messages", "/v1/messages/count_tokens"):
            record("unknown")
            return self._send_error(404, "not_found_error", f"{method} {path} not found")

        problem = fake.check_key(headers)
        if problem is not None:
            record("rejected")
            return self._send_error(401, "authentication_error", problem)
        if bad_json or not isinstance(body, dict):
            record("rejected")
            return self._send_error(400, "invalid_request_error", "request body must be a JSON object")

        if path == "/v1/messages/count_tokens":
            record("count_tokens")
            return self._send_json(200, {"input_tokens": _estimate_tokens(_prompt_of(body))})

        if fake._take_failure():
            record("rejected")
            return self._send_error(
                529, "overloaded_error", "Overloaded",
                extra_headers={"retry-after-ms": str(fake.retry_after_ms)},
            )

        if "model" not in body or "messages" not in body:
            record("rejected")
            return self._send_error(400, "invalid_request_error", "model and messages are required")

        key = fake.route(body)
        if fake.side_request(body) or (fake._routed and key is None):
            record("side")
            turn = [text(SIDE_TEXT)]
        else:
            record("conversation", key)
            turn = fake._next_turn(body, key)
        message = self._message(body, turn)
        if body.get("stream"):
            self._send_stream(message)
        else:
            self._send_json(200, message)

    # -- response building -------------------------------------------------

    def _message(self, body: dict, turn: Turn) -> dict:
        fake = self.fake
        content = []
        for block in turn:
            block = dict(block)
            if block["type"] == "tool_use":
                block = {"type": "tool_use", "id": block.get("id") or fake._new_id("toolu_"),
                         "name": block["name"], "input": block.get("input", {})}
            else:
                block = {"type": "text", "text": block["text"]}
            content.append(block)
        has_tool = any(b["type"] == "tool_use" for b in content)
        return {
            "id": fake._new_id("msg_"),
            "type": "message",
            "role": "assistant",
            "model": body.get("model"),
            "content": content,
            "stop_reason": "tool_use" if has_tool else "end_turn",
            "stop_sequence": None,
            "usage": {
                "input_tokens": _estimate_tokens(_prompt_of(body)),
                "output_tokens": _estimate_tokens(content),
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 0,
                "service_tier": "standard",
            },
        }

    def _send_stream(self, message: dict) -> None:
        """Send ``message`` as the API's SSE event sequence, chunk-encoded."""
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("request-id", f"req_{uuid.uuid4().hex}")
        self.end_headers()

        usage = message["usage"]
        start = dict(message, content=[], stop_reason=None,
                     usage=dict(usage, output_tokens=1))
        self._event("message_start", {"type": "message_start", "message": start})
        self._event("ping", {"type": "ping"})
        for index, block in enumerate(message["content"]):
            if block["type"] == "text":
                self._event("content_block_start", {
                    "type": "content_block_start", "index": index,
                    "content_block": {"type": "text", "text": ""}})
                for piece in _pieces(block["text"]):
                    self._event("content_block_delta", {
                        "type": "content_block_delta", "index": index,
                        "delta": {"type": "text_delta", "text": piece}})
            else:
                self._event("content_block_start", {
                    "type": "content_block_start", "index": index,
                    "content_block": {"type": "tool_use", "id": block["id"],
                                      "name": block["name"], "input": {}}})
                # Like the real API: an empty first delta, then the JSON in pieces.
                for piece in ["", *_pieces(json.dumps(block["input"]))]:
                    self._event("content_block_delta", {
                        "type": "content_block_delta", "index": index,
                        "delta": {"type": "input_json_delta", "partial_json": piece}})
            self._event("content_block_stop", {"type": "content_block_stop", "index": index})
        self._event("message_delta", {
            "type": "message_delta",
            "delta": {"stop_reason": message["stop_reason"], "stop_sequence": None},
            "usage": {"output_tokens": usage["output_tokens"]}})
        self._event("message_stop", {"type": "message_stop"})
        self._chunk(b"")  # the zero-length chunk ends the body

    def _event(self, name: str, data: dict) -> None:
        self._chunk(f"event: {name}\ndata: {json.dumps(data)}\n\n".encode())

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def _send_json(self, status: int, obj: Any, extra_headers: Mapping[str, str] | None = None) -> None:
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("request-id", obj.get("request_id") or f"req_{uuid.uuid4().hex}")
        for name, value in (extra_headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _send_error(self, status: int, kind: str, message: str,
                    extra_headers: Mapping[str, str] | None = None) -> None:
        self._send_json(status, _error_body(kind, message), extra_headers)

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            return self.rfile.read(length)
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            parts = []
            while True:
                size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    # Drain optional trailers up to the blank line.
                    while self.rfile.readline().strip():
                        pass
                    break
                parts.append(self.rfile.read(size))
                self.rfile.readline()  # CRLF after each chunk
            return b"".join(parts)
        return b""


def _prompt_of(body: Mapping[str, Any]) -> dict:
    return {k: body.get(k) for k in ("system", "messages", "tools")}


def _pieces(s: str, n: int = 3) -> list[str]:
    """Split ``s`` into up to ``n`` non-empty pieces, as a stream would."""
    if not s:
        return [""]
    size = max(1, -(-len(s) // n))
    return [s[i:i + size] for i in range(0, len(s), size)]
