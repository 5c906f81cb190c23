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
        ...                 # point a client at fake.base_url
        fake.requests       # every request received, credentials redacted

Scripts
-------
A *turn* is the assistant's reply to one request: a list of content blocks
built with :func:`text` and :func:`tool_use` (a bare string is short for one
text block). Its ``stop_reason`` is ``tool_use`` if it has a tool_use block,
else ``end_turn``. ``script`` is one of:

* a list of turns, played in order across all conversation requests;
* a dict ``{key: [turns]}``, one list per conversation. A request belongs to
  key ``k`` if its system prompt (a string or a list of text blocks) contains
  ``Zone rules of stream `k``` followed by the end of the text or by a character that
  cannot be part of a key (anything but letters, digits and ``_ . / -``), so
  key ``api`` does not claim ``Zone rules of stream `api-v2```. If several keys match,
  the one appearing first in the prompt wins. (The Claude Code CLI gets the
  marker into its system prompt with ``--append-system-prompt``);
* a callable ``script(request_json) -> turn``; returning ``None`` means "done.".

An exhausted script answers the text turn "done." with ``end_turn``, so an
agent that runs past its script stops.

Side requests
-------------
Clients send requests that are not turns of the agent conversation, e.g. the
Claude Code CLI's session-title request. Those are picked out by
:func:`is_side_request` -- and, with a dict script, by naming no key -- and get
a harmless reply without consuming a scripted turn. ``POST
/v1/messages/count_tokens`` gets ``{"input_tokens": N}``. Any other endpoint
(e.g. the CLI's ``HEAD /api/hello`` connectivity probe) is a 404 in the API's
error shape.
"""

from __future__ import annotations

import json
import re
import socket
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
    "malformed",
    "system_text",
    "text",
    "tool_use",
]

Block = dict[str, Any]
Turn = list[Block]
Script = Union[Sequence[Any], Mapping[str, Sequence[Any]], Callable[[dict], Any], None]

#: The system-prompt marker that routes a request to a per-key script: the heading of a wta
#: stream's zone rules (sessions.prompt.STREAM_MARKER), "# Zone rules of stream `api` (wta)".
STREAM_MARKER = "Zone rules of stream `"
_KEY_CHARS = r"[A-Za-z0-9_./-]"
#: A response header saying that a scripted model answered: what the agent was "billed" is simulated.
SIMULATED_HEADER = "x-wta-simulated"
DONE_TEXT = "done."
SIDE_TEXT = "ok"


def text(s: str) -> Block:
    """A text content block."""
    return {"type": "text", "text": s}


def tool_use(name: str, input: Mapping[str, Any] | None = None) -> Block:  # noqa: A002 - the API's name
    """A tool_use content block; the server gives it a fresh ``toolu_`` id."""
    return {"type": "tool_use", "name": name, "input": dict(input or {})}


#: The block type of a turn answered with an event stream that breaks off in bad JSON (`malformed`).
MALFORMED = "malformed"


def malformed() -> Block:
    """A turn that the server answers with an event stream whose data turns into bad JSON after the
    message has started: what a broken proxy or a cut connection sends."""
    return {"type": MALFORMED}


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the server saw it.

    ``kind`` is how it was handled: ``conversation`` (answered from the
    script), ``side``, ``count_tokens``, ``rejected`` (bad credentials, bad
    body or an injected 529) or ``unknown`` (404).
    """

    method: str
    path: str  # as sent, query string included
    headers: dict[str, str]  # lower-cased names; credentials replaced by "<redacted>"
    body: Any  # parsed JSON, or None
    kind: str
    key: str | None = None  # the dict-script key a conversation request was routed to


def system_text(body: Mapping[str, Any]) -> str:
    """The request's system prompt as one string (text blocks joined by newlines)."""
    system = body.get("system")
    if isinstance(system, str):
        return system
    if isinstance(system, list):
        return "\n".join(
            b["text"] for b in system if isinstance(b, dict) and isinstance(b.get("text"), str)
        )
    return ""


def is_side_request(body: Mapping[str, Any]) -> bool:
    """Whether a /v1/messages request is a client's helper call rather than a
    turn of the agent conversation.

    The rule: a side request offers no tools (``tools`` absent or empty) or
    asks for at most one output token (a probe). Every agent turn of the
    Claude Code CLI carries its tool list and its helpers do not -- e.g. the
    interactive CLI's session-title request is streamed, has ``tools: []`` and
    a JSON-schema ``output_config``. So an SDK client that wants scripted
    replies must pass some ``tools``, or build the fake with
    ``side_request=lambda body: False``.
    """
    max_tokens = body.get("max_tokens")
    if isinstance(max_tokens, int) and max_tokens <= 1:
        return True
    return not body.get("tools")


class FakeAnthropic:
    """A scripted Anthropic Messages API on loopback, served from a daemon thread.

    ``api_key``: if given, every credential presented (``x-api-key`` and/or
    ``Authorization: Bearer``) must equal it; otherwise any non-empty key is
    accepted. A request with no credential at all is always a 401.

    ``fail_first``: answer the first N ``POST /v1/messages`` requests with
    HTTP 529 ``overloaded_error``, carrying ``retry-after-ms: retry_after_ms``
    so that the SDK's retries are quick.

    ``side_request``: the predicate that picks out side requests from a parsed
    request body (default :func:`is_side_request`).
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
        if host not in ("127.0.0.1", "localhost"):
            raise ValueError(f"FakeAnthropic binds 127.0.0.1 only, not {host!r}")
        self._address = ("127.0.0.1", port)
        self.api_key = api_key
        self.retry_after_ms = retry_after_ms
        self.side_request = side_request
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._failures_left = fail_first
        self._connections: set[socket.socket] = set()
        #: Exceptions raised while answering (e.g. by a script callable); each
        #: was answered with HTTP 500.
        self.errors: list[BaseException] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._load_script(script)

    # -- lifecycle ---------------------------------------------------------

    def start(self) -> FakeAnthropic:
        if self._server is not None:
            return self
        handler = type("_BoundHandler", (_Handler,), {"fake": self})
        server = _Server(self._address, handler)
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
        # Clients keep connections alive; without this their handler threads
        # would go on serving (from a closed fake) until the client hangs up.
        with self._lock:
            connections, self._connections = self._connections, set()
        for conn in connections:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FakeAnthropic:
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
        return f"http://127.0.0.1:{self.port}"

    # -- inspection --------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot of every request received so far, in arrival order."""
        with self._lock:
            return list(self._requests)

    def conversation_requests(self, key: str | None = None) -> list[RecordedRequest]:
        """The requests answered from the script (for ``key`` only, if given)."""
        return [
            r for r in self.requests
            if r.kind == "conversation" and (key is None or r.key == key)
        ]

    def tool_results(self, key: str | None = None) -> list[Block]:
        """Every tool_result block that clients sent back, once each, in order.

        Clients resend the whole history on every turn, so blocks are
        deduplicated by ``tool_use_id`` (the first copy is kept).
        """
        seen: dict[str, Block] = {}
        for req in self.conversation_requests(key):
            for message in req.body.get("messages", []):
                content = message.get("content")
                if message.get("role") != "user" or not isinstance(content, list):
                    continue
                for block in content:
                    if isinstance(block, dict) and block.get("type") == "tool_result":
                        seen.setdefault(str(block.get("tool_use_id")), block)
        return list(seen.values())

    # -- scripting ---------------------------------------------------------

    def _load_script(self, script: Script) -> None:
        self._script_fn: Callable[[dict], Any] | None = None
        self._queues: dict[str | None, list[Turn]] = {}
        self._key_patterns: dict[str, re.Pattern[str]] = {}
        self.routed = isinstance(script, Mapping)  # a dict script, routed by marker
        if isinstance(script, (str, bytes)):
            raise TypeError("script must be a list of turns, a dict of them or a callable")
        if script is None:
            self._queues[None] = []
        elif callable(script):
            self._script_fn = script
        elif isinstance(script, Mapping):
            for key, turns in script.items():
                if not isinstance(key, str) or not re.fullmatch(f"{_KEY_CHARS}+", key):
                    raise ValueError(f"script key {key!r} must be made of {_KEY_CHARS}")
                self._queues[key] = [_normalize_turn(t) for t in turns]
                self._key_patterns[key] = re.compile(
                    re.escape(STREAM_MARKER + key) + f"(?!{_KEY_CHARS})"
                )
        else:
            self._queues[None] = [_normalize_turn(t) for t in script]

    def route(self, body: Mapping[str, Any]) -> str | None:
        """The dict-script key that a request's system prompt names, if any."""
        system = system_text(body)
        hits = [(m.start(), key) for key, pattern in self._key_patterns.items()
                if (m := pattern.search(system))]
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

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(request)

    def _track(self, conn: socket.socket, open_: bool) -> None:
        with self._lock:
            (self._connections.add if open_ else self._connections.discard)(conn)

    def check_credentials(self, headers: Mapping[str, str]) -> str | None:
        """None if the (lower-cased) headers carry acceptable credentials, else
        the reason to refuse them."""
        presented = []
        if "x-api-key" in headers:
            presented.append(headers["x-api-key"].strip())
        if "authorization" in headers:
            scheme, _, token = headers["authorization"].strip().partition(" ")
            if scheme.lower() != "bearer":
                return "invalid authorization header: expected 'Bearer <key>'"
            presented.append(token.strip())
        if not presented or not all(presented):
            return "x-api-key header or Authorization: Bearer is required"
        if self.api_key is not None and any(k != self.api_key for k in presented):
            return "invalid x-api-key"
        return None


def _normalize_turn(turn: Any) -> Turn:
    if isinstance(turn, (str, dict)):
        turn = [turn]
    blocks = []
    for block in turn:
        if isinstance(block, str):
            block = text(block)
        if block.get("type") == "text":
            blocks.append({"type": "text", "text": str(block["text"])})
        elif block.get("type") == "tool_use":
            blocks.append({"type": "tool_use", "id": block.get("id"),
                           "name": block["name"], "input": dict(block.get("input") or {})})
        elif block.get("type") == MALFORMED:
            blocks.append({"type": MALFORMED})
        else:
            raise ValueError(f"unsupported content block type {block.get('type')!r}")
    if not blocks:
        raise ValueError("a turn needs at least one content block")
    return blocks


def _estimate_tokens(obj: Any) -> int:
    # About four characters a token; it only has to be plausible and positive.
    return max(1, len(json.dumps(obj, separators=(",", ":"))) // 4)


def _prompt_of(body: Mapping[str, Any]) -> dict:
    return {k: body.get(k) for k in ("system", "messages", "tools")}


def _schema_instance(schema: Any) -> Any:
    """A small value that satisfies a (simple) JSON schema, for helper requests
    that demand structured output, like the CLI's ``{"title": ...}``."""
    if not isinstance(schema, dict):
        return SIDE_TEXT
    if schema.get("enum"):
        return schema["enum"][0]
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object":
        props = schema.get("properties") or {}
        required = schema.get("required") or list(props)
        return {name: _schema_instance(props.get(name)) for name in required}
    if kind == "array":
        return []
    if kind in ("integer", "number"):
        return 0
    if kind == "boolean":
        return False
    if kind == "null":
        return None
    return SIDE_TEXT


def _side_turn(body: Mapping[str, Any]) -> Turn:
    fmt = (body.get("output_config") or {}).get("format") or body.get("output_format") or {}
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
        return [text(json.dumps(_schema_instance(fmt.get("schema"))))]
    return [text(SIDE_TEXT)]


def _error_body(kind: str, message: str) -> dict:
    return {
        "type": "error",
        "error": {"type": kind, "message": message},
        "request_id": f"req_{uuid.uuid4().hex}",
    }


def _pieces(s: str, n: int = 3) -> list[str]:
    """``s`` cut into at most ``n`` pieces, as a stream would deliver it."""
    if not s:
        return [""]
    size = -(-len(s) // n)
    return [s[i:i + size] for i in range(0, len(s), size)]


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a dropped connection is not worth a traceback on stderr


_CREDENTIAL_HEADERS = {"x-api-key", "authorization"}
_ENDPOINTS = ("/v1/messages", "/v1/messages/count_tokens")


class _Handler(BaseHTTPRequestHandler):
    fake: FakeAnthropic  # set on the per-server subclass
    # HTTP/1.1 so that clients can keep connections alive; every response
    # therefore carries a Content-Length or is chunked.
    protocol_version = "HTTP/1.1"
    server_version = "FakeAnthropic/1"

    def setup(self) -> None:
        super().setup()
        self.fake._track(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.fake._track(self.connection, False)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib's name
        pass  # no per-request line on stderr

    def do_GET(self) -> None:
        self._handle()

    def do_HEAD(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def _handle(self) -> None:
        try:
            self._respond()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client went away mid-reply
        except Exception as exc:  # e.g. a script callable raised: tell the client, not stderr
            self.fake.errors.append(exc)
            self.close_connection = True
            try:
                self._send_error(500, "api_error", f"fake script failed: {exc!r}",
                                 {"x-should-retry": "false"})
            except OSError:
                pass

    def _respond(self) -> None:
        fake = self.fake
        method, path = self.command, self.path.split("?", 1)[0]
        headers = {k.lower(): v for k, v in self.headers.items()}
        raw = self._read_body()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        redacted = {k: ("<redacted>" if k in _CREDENTIAL_HEADERS else v) for k, v in headers.items()}

        def record(kind: str, key: str | None = None) -> None:
            fake._record(RecordedRequest(method, self.path, redacted, body, kind, key))

        if method != "POST" or path not in _ENDPOINTS:
            record("unknown")
            return self._send_error(404, "not_found_error", f"{method} {path} not found")
        problem = fake.check_credentials(headers)
        if problem is not None:
            record("rejected")
            return self._send_error(401, "authentication_error", problem)
        if not isinstance(body, dict):
            record("rejected")
            return self._send_error(400, "invalid_request_error", "the body must be a JSON object")

        if path == "/v1/messages/count_tokens":
            record("count_tokens")
            return self._send_json(200, {"input_tokens": _estimate_tokens(_prompt_of(body))})

        if fake._take_failure():
            record("rejected")
            return self._send_error(529, "overloaded_error", "Overloaded",
                                    {"retry-after-ms": str(fake.retry_after_ms)})
        if not body.get("model") or not isinstance(body.get("messages"), list):
            record("rejected")
            return self._send_error(400, "invalid_request_error", "model and messages are required")

        key = fake.route(body)
        if fake.side_request(body) or (fake.routed and key is None):
            record("side")
            turn = _side_turn(body)
        else:
            record("conversation", key)
            turn = fake._next_turn(body, key)
        message = self._message(body, turn)
        if body.get("stream"):
            self._send_stream(message)
        else:
            self._send_json(200, message)

    # -- responses ---------------------------------------------------------

    @staticmethod
    def _message(body: Mapping[str, Any], turn: Turn) -> dict:
        content = [
            dict(block, id=block["id"] or f"toolu_{uuid.uuid4().hex}")
            if block["type"] == "tool_use" else dict(block)
            for block in turn
        ]
        has_tool_use = any(block["type"] == "tool_use" for block in content)
        return {
            "id": f"msg_{uuid.uuid4().hex}",
            "type": "message",
            "role": "assistant",
            "model": body.get("model"),
            "content": content,
            "stop_reason": "tool_use" if has_tool_use else "end_turn",
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
        """``message`` as the API's server-sent event sequence, chunk-encoded."""
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("request-id", f"req_{uuid.uuid4().hex}")
        self.send_header(SIMULATED_HEADER, "true")
        self.end_headers()

        usage = message["usage"]
        # message_start carries the envelope with no content yet; the final
        # output token count comes in message_delta, as from the real API.
        start = dict(message, content=[], stop_reason=None, usage=dict(usage, output_tokens=1))
        self._event("message_start", {"type": "message_start", "message": start})
        self._event("ping", {"type": "ping"})
        for index, block in enumerate(message["content"]):
            if block["type"] == MALFORMED:
                self._chunk(b'event: content_block_start\ndata: {"type": "content_block_start", "ind\n\n')
                self._chunk(b"")
                return
            if block["type"] == "text":
                opening = {"type": "text", "text": ""}
                deltas = [{"type": "text_delta", "text": p} for p in _pieces(block["text"])]
            else:
                opening = {"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}
                # The real API opens tool input with an empty partial_json.
                deltas = [{"type": "input_json_delta", "partial_json": p}
                          for p in ["", *_pieces(json.dumps(block["input"]))]]
            self._event("content_block_start",
                        {"type": "content_block_start", "index": index, "content_block": opening})
            for delta in deltas:
                self._event("content_block_delta",
                            {"type": "content_block_delta", "index": index, "delta": delta})
            self._event("content_block_stop", {"type": "content_block_stop", "index": index})
        self._event("message_delta", {
            "type": "message_delta",
            "delta": {"stop_reason": message["stop_reason"], "stop_sequence": None},
            "usage": {"output_tokens": usage["output_tokens"]},
        })
        self._event("message_stop", {"type": "message_stop"})
        self._chunk(b"")  # the zero-length chunk ends the body

    def _event(self, name: str, data: dict) -> None:
        self._chunk(f"event: {name}\ndata: {json.dumps(data)}\n\n".encode())

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def _send_json(self, status: int, obj: dict, extra_headers: Mapping[str, str] | None = None) -> None:
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
        if self.headers.get("Transfer-Encoding", "").lower() != "chunked":
            return b""
        parts = []
        while True:
            size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline().strip():  # optional trailers, then a blank line
                    pass
                return b"".join(parts)
            parts.append(self.rfile.read(size))
            self.rfile.readline()  # the CRLF after each chunk
