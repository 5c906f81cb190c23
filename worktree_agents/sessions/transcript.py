"""A session log as `wta logs` shows it to people (`--raw`: as written).

The `claude` runner's log holds Claude Code's stream-json transcript (`claude -p
--output-format stream-json --verbose`): one JSON object a line, each a whole
message. Rendered, the assistant's text stands as it is, each tool call is one
line with the tool's name and what it is about (the file, the command), each
tool result is its first line, cut, and the closing result line gives the
turns and the cost. The `api` runner's closing line has the same shape. Any
other line (wta's own, another runner's output, JSON of another shape) is kept
as it is.
"""

from __future__ import annotations

import json
import os
from typing import Any

from worktree_agents.redaction import printable
from worktree_agents.shortening import ELLIPSIS, cut_end

RESULT_SHOWN = 160   # characters of a tool result's first line
ARGUMENT_SHOWN = 120  # of a tool call's argument
# What a tool call is about, by the name of its input's field, in this order.
MAIN_ARGUMENT = ("file_path", "notebook_path", "path", "command", "pattern", "url", "query", "description",
                 "prompt", "skill")
PATHS = ("file_path", "notebook_path", "path")


class Transcript:
    """Renders a log line by line; it keeps the session's folder (from its init line) to shorten paths."""

    def __init__(self) -> None:
        self.cwd: str | None = None

    def render(self, text: str) -> str:
        """`text` (whole lines) as shown: each stream-json line rendered, every other line as it is."""
        return "".join(self.line(line) for line in text.splitlines(keepends=True))

    def line(self, line: str) -> str:
        event = _event(line)
        if event is None:
            return line
        # What JSON escapes hold (`\u001b`: six harmless characters in the log) is text once decoded: without
        # control characters, or `wta logs | tail` sent an agent's escape sequences to the terminal.
        return printable(self._event(event, line))

    def _event(self, event: dict, line: str) -> str:
        kind = event.get("type")
        message = event.get("message") if isinstance(event.get("message"), dict) else {}
        content = message.get("content")
        if kind == "system":
            return self._system(event)
        if kind == "assistant" and isinstance(content, list):
            return "".join(self._assistant(block) for block in content if isinstance(block, dict))
        if kind == "user" and isinstance(content, (list, str)):
            blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content
            return "".join(self._user(block) for block in blocks if isinstance(block, dict))
        if kind == "result":
            return _result(event)
        return line

    def _system(self, event: dict) -> str:
        if event.get("subtype") == "init":
            self.cwd = event.get("cwd") if isinstance(event.get("cwd"), str) else None
            said = [f"{name} {event[key]}" for key, name in (("model", "model"), ("permissionMode", "permission mode"))
                    if isinstance(event.get(key), str)] + ([f"in {self.cwd}"] if self.cwd else [])
            return f"[session] {', '.join(said) or 'started'}\n"
        return f"[system] {event.get('subtype') or 'event'}\n"

    def _assistant(self, block: dict) -> str:
        if block.get("type") == "text" and isinstance(block.get("text"), str) and block["text"].strip():
            return block["text"].rstrip("\n") + "\n"
        if block.get("type") == "tool_use":
            argument = self._argument(block.get("input"))
            return f"[tool] {block.get('name') or '?'}" + (f" {argument}" if argument else "") + "\n"
        return ""   # thinking, and blocks of kinds to come

    def _user(self, block: dict) -> str:
        if block.get("type") == "tool_result":
            said = _text_of(block.get("content"))
            lines = said.strip("\n").splitlines() or [""]
            first = cut_end(lines[0].strip(), RESULT_SHOWN)
            more = f" (+{len(lines) - 1} lines)" if len(lines) > 1 else ""
            return f"[tool {'error' if block.get('is_error') else 'result'}] {first}{more}".rstrip() + "\n"
        if block.get("type") == "text" and isinstance(block.get("text"), str) and block["text"].strip():
            return f"[user] {block['text'].rstrip()}\n"
        return ""

    def _argument(self, tool_input: Any) -> str:
        """What a tool call is about: its file (relative to the session's folder), command, pattern..."""
        if not isinstance(tool_input, dict):
            return ""
        for key in MAIN_ARGUMENT:
            value = tool_input.get(key)
            if isinstance(value, str) and value.strip():
                if key in PATHS and self.cwd and os.path.isabs(value):
                    relative = os.path.relpath(value, self.cwd)
                    value = value if relative.startswith("..") else relative
                first = value.strip().splitlines()[0]
                return cut_end(first, ARGUMENT_SHOWN) + (f" {ELLIPSIS}" if first != value.strip() else "")
        return ""


def _event(line: str) -> dict | None:
    """The stream-json message a line holds, or None (not JSON, or JSON without a message type)."""
    if not line.startswith("{"):
        return None
    try:
        event = json.loads(line)
    except ValueError:
        return None
    return event if isinstance(event, dict) and isinstance(event.get("type"), str) else None


def _result(event: dict) -> str:
    """The closing line: how the session ended, its turns, its cost and how long it took."""
    parts = [str(event.get("subtype") or ("error" if event.get("is_error") else "done"))]
    if isinstance(event.get("num_turns"), int):
        parts.append(f"{event['num_turns']} turn(s)")
    if isinstance(event.get("total_cost_usd"), (int, float)):
        parts.append(f"${event['total_cost_usd']:.4f}" + (" (simulated)" if event.get("cost_simulated") else ""))
    if isinstance(event.get("duration_ms"), (int, float)):
        parts.append(f"{event['duration_ms'] / 1000:.1f}s")
    denials = event.get("permission_denials")
    if isinstance(denials, list) and denials:
        parts.append(f"{len(denials)} edit(s) refused")
    said = event.get("result") if event.get("is_error") and isinstance(event.get("result"), str) else ""
    return "[result] " + ", ".join(parts) + (f": {cut_end(said.strip(), RESULT_SHOWN)}" if said.strip() else "") + "\n"


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(str(b.get("text", "")) if b.get("type") == "text" else f"[{b.get('type')}]"
                         for b in content if isinstance(b, dict))
    return ""
