"""The `api` runner: a tool-use loop on the Anthropic Messages API, in its own process.

`python -m worktree_agents.sessions.api --stream S --worktree W` runs the loop;
the session wrapper starts it like any agent CLI. The `anthropic` SDK reads
ANTHROPIC_API_KEY and ANTHROPIC_BASE_URL from the environment and retries
overloads itself. Tools work through `Workspace` (confined to the worktree and
the zone). Progress lines go to stdout, which is the session log, and the last
line is a result summary in the shape of Claude Code's stream-json result
(turns, usage, cost, denials), so both runners report the same way.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import signal
import sys
import warnings
from typing import Any, Callable

from worktree_agents import interpreter
from worktree_agents.errors import WtaError
from worktree_agents.fake_anthropic import SIMULATED_HEADER
from worktree_agents.sessions import AgentCommand, Runner, SessionContext, pricing

MAX_TOKENS = 8192
MAX_RETRIES = 4

_PATH = {"type": "string", "description": "Path relative to the worktree root."}
TOOLS: list[dict[str, Any]] = [
    {"name": "list_files", "description": "List the files under a directory of the worktree (recursively).",
     "input_schema": {"type": "object", "properties": {"path": {**_PATH, "default": "."}}}},
    {"name": "read_file", "description": "Read a text file of the worktree.",
     "input_schema": {"type": "object", "properties": {"path": _PATH}, "required": ["path"]}},
    {"name": "search", "description": "Search the worktree's files for lines matching a regular expression.",
     "input_schema": {"type": "object", "properties": {"pattern": {"type": "string"}, "path": {**_PATH, "default": "."}},
                      "required": ["pattern"]}},
    {"name": "write_file", "description": "Create or overwrite a file (only inside your zone).",
     "input_schema": {"type": "object", "properties": {"path": _PATH, "content": {"type": "string"}},
                      "required": ["path", "content"]}},
    {"name": "edit_file", "description": "Replace an exact string in a file (only inside your zone); "
                                         "old_string must occur once unless replace_all is true.",
     "input_schema": {"type": "object", "properties": {"path": _PATH, "old_string": {"type": "string"},
                                                       "new_string": {"type": "string"},
                                                       "replace_all": {"type": "boolean", "default": False}},
                      "required": ["path", "old_string", "new_string"]}},
    {"name": "commit", "description": "Commit every change inside your zone on your branch; the message "
                                      "gets your stream's prefix.",
     "input_schema": {"type": "object", "properties": {"message": {"type": "string"}}, "required": ["message"]}},
    {"name": "request", "description": "Ask another stream for a change you may not make yourself (like "
                                       "`wta request`): name the stream, or a path and its owner is asked. "
                                       "The owner's next session starts with it; carry on with your own part.",
     "input_schema": {"type": "object", "properties": {"text": {"type": "string", "description": "What you need and why."},
                                                       "stream": {"type": "string", "description": "The stream to ask."},
                                                       "path": {**_PATH, "description": "Or: a path whose owner to ask."}},
                      "required": ["text"]}},
]
WRITE_TOOLS = {"write_file", "edit_file"}
# Offered only inside the sandbox, which keeps a command's writes in the worktree and on the stream's branch.
RUN_TOOL: dict[str, Any] = {
    "name": "run", "description": "Run a shell command in the worktree and get its exit status and output. "
                                  "It runs sandboxed: writes outside your worktree, your branch, the temp dir "
                                  "and your caches fail with 'Read-only file system'.",
    "input_schema": {"type": "object", "properties": {"command": {"type": "string"},
                                                      "timeout": {"type": "integer", "default": 300,
                                                                  "description": "seconds"}},
                     "required": ["command"]}}
RUN_OUTPUT_LIMIT = 30000


def tools() -> list[dict[str, Any]]:
    """The tools of this session: the shell only when the session is sandboxed."""
    from worktree_agents import sandbox

    return TOOLS + [RUN_TOOL] if sandbox.inside() else TOOLS


class ApiRunner(Runner):
    name = "api"

    def check(self, ctx: SessionContext) -> None:
        if not (os.environ.get("ANTHROPIC_API_KEY") or os.environ.get("ANTHROPIC_AUTH_TOKEN")):
            raise WtaError("ANTHROPIC_API_KEY is not set; export it for the `api` runner (it is passed to "
                           "the session through the environment, never written down)")
        if ctx.interactive:
            from worktree_agents.sessions import tmux

            tmux.require()

    def command(self, ctx: SessionContext) -> AgentCommand:
        # Not `python -m` in the worktree, where a file named like a module the loop imports would replace it.
        return AgentCommand(interpreter.command("worktree_agents.sessions.api", "main", "--stream", ctx.stream,
                                                "--worktree", ctx.worktree), interactive=ctx.interactive)


RUNNER = ApiRunner()


# -- the loop (runs in the session's process) -------------------------------------

def _handlers(workspace) -> dict[str, Callable[..., str]]:
    handlers = {"list_files": workspace.list_files, "read_file": workspace.read_file, "search": workspace.search,
                "write_file": workspace.write_file, "edit_file": workspace.edit_file, "commit": workspace.commit,
                "request": lambda text, stream=None, path=None: _request(workspace, text, stream, path)}
    if RUN_TOOL in tools():
        handlers["run"] = lambda command, timeout=300: _run(workspace, command, timeout)
    return handlers


def _run(workspace, command: str, timeout: int = 300) -> str:
    """The `run` tool: a shell command in the worktree; a non-zero exit is a tool error the agent reads."""
    import subprocess

    from worktree_agents.sessions.workspace import ToolError

    proc = subprocess.Popen(["/bin/sh", "-c", str(command)], cwd=workspace.root, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        out, _ = proc.communicate(timeout=max(int(timeout), 1))
    except subprocess.TimeoutExpired:
        from worktree_agents.sessions import process

        root = process.find(proc.pid, None)
        process.terminate(process.tree(root) if root else [], grace=1.0)  # and what it started
        out, _ = proc.communicate()
        raise ToolError(f"timed out after {timeout}s; output so far:\n"
                        f"{out.decode('utf-8', 'replace')[-RUN_OUTPUT_LIMIT:]}") from None
    output = out.decode("utf-8", "replace")[-RUN_OUTPUT_LIMIT:]
    text = f"exit {proc.returncode}\n{output}"
    if proc.returncode != 0:
        raise ToolError(text)
    return text


def _request(workspace, text: str, stream: str | None = None, path: str | None = None) -> str:
    """The `request` tool: file a request from this stream (docs/coordination.md)."""
    from worktree_agents.coordination import requests
    from worktree_agents.sessions.workspace import ToolError

    try:
        filed = requests.file_from_worktree(workspace.root, workspace.stream, str(text), stream, path)
    except WtaError as exc:
        raise ToolError(str(exc)) from None
    return (f"request {filed.id} filed for stream {filed.to_stream}; its next session starts with it, and its "
            f"commit with `{requests.TRAILER}: {filed.id}` closes it")


def call_tool(workspace, name: str, tool_input: Any) -> tuple[str, bool]:
    """(text, is_error) of one tool call."""
    from worktree_agents.sessions.workspace import ToolError

    handler = _handlers(workspace).get(name)
    if handler is None:
        return f"unknown tool {name!r}; use one of: {', '.join(t['name'] for t in tools())}", True
    if not isinstance(tool_input, dict):
        return "the tool input must be an object", True
    try:
        return handler(**tool_input), False
    except ToolError as exc:
        return str(exc), True
    except TypeError as exc:
        return f"bad arguments for {name}: {exc}", True
    except OSError as exc:
        return f"{name} failed: {exc.strerror or exc}", True


def _argument(tool_input: Any) -> str:
    """The argument that says what a tool call is about, for the log."""
    if isinstance(tool_input, dict):
        for key in ("path", "pattern", "message", "command"):
            if isinstance(tool_input.get(key), str):
                return json.dumps(tool_input[key][:100])
    return ""


def _content(block: Any) -> dict:
    """An assistant content block as it goes back into the conversation."""
    if block.type == "text":
        return {"type": "text", "text": block.text}
    if block.type == "tool_use":
        return {"type": "tool_use", "id": block.id, "name": block.name, "input": block.input}
    return block.model_dump(exclude_none=True)


class _Stopped(BaseException):
    """SIGTERM during the conversation (not an Exception: the SDK would take one raised inside a request
    for a failed connection, and retry)."""


def run_loop(ctx: SessionContext, out=None) -> int:
    """Run the conversation to its end or to max turns; print progress and the result line."""
    import anthropic

    from worktree_agents.sessions.workspace import Workspace

    out = out or sys.stdout
    say = lambda text: (out.write(text.rstrip("\n") + "\n"), out.flush())  # noqa: E731
    model, max_turns = ctx.agent.model, ctx.agent.max_turns
    workspace = Workspace(ctx.worktree, ctx.stream)
    client = anthropic.Anthropic(max_retries=MAX_RETRIES)
    messages: list[dict] = [{"role": "user", "content": ctx.task()}]
    usage = {"input_tokens": 0, "output_tokens": 0, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}
    denials: list[dict] = []
    turns, final_text, subtype = 0, "", "success"
    simulated = False  # a scripted model answered (the offline demo): the cost is priced, not billed
    warned: set[str] = set()

    def stopped(*_: object) -> None:
        raise _Stopped

    # SIGTERM (`wta stop`, the session's timeout) ends the conversation where it is; what it spent is still
    # reported, in the result line (the record's turns, cost and tokens).
    previous = signal.signal(signal.SIGTERM, stopped)
    try:
        while True:
            if turns >= max_turns:
                subtype = "error_max_turns"
                break
            try:
                with warnings.catch_warnings(record=True) as caught:
                    # The SDK warns that a model retires; Python would hide that, the log must not.
                    warnings.simplefilter("always", DeprecationWarning)
                    with client.messages.stream(model=model, max_tokens=MAX_TOKENS, system=ctx.rules(),
                                                tools=tools(), messages=messages) as stream:
                        message = stream.get_final_message()
                        simulated = simulated or stream.response.headers.get(SIMULATED_HEADER) == "true"
                for warning in caught:
                    if str(warning.message) not in warned:
                        warned.add(str(warning.message))
                        say("warning: " + " ".join(str(warning.message).split()))
            except anthropic.APIError as exc:
                say(f"api error: {type(exc).__name__}: {getattr(exc, 'message', exc)}")
                subtype, final_text = "error_during_execution", str(getattr(exc, "message", exc))
                break
            except Exception as exc:  # an answer the SDK could not read (bad JSON from a broken proxy, a cut stream)
                final_text = f"the API's answer could not be read: {type(exc).__name__}: {exc}"[:300]
                say(f"api error: {final_text}")
                subtype = "error_during_execution"
                break
            turns += 1
            for name in usage:
                usage[name] += int(getattr(message.usage, name, 0) or 0)
            messages.append({"role": "assistant", "content": [_content(b) for b in message.content]})
            texts = [b.text for b in message.content if b.type == "text"]
            if texts:
                final_text = "\n".join(texts)
                say(f"[turn {turns}] {final_text}")
            tool_uses = [b for b in message.content if b.type == "tool_use"]
            if not tool_uses:
                break
            results = []
            for use in tool_uses:
                text, is_error = call_tool(workspace, use.name, use.input)
                say(f"[turn {turns}] {use.name}({_argument(use.input)}) -> {'error: ' if is_error else ''}"
                    f"{text.splitlines()[0] if text else ''}")
                if is_error and use.name in WRITE_TOOLS:
                    path = use.input.get("path") if isinstance(use.input, dict) else None
                    denials.append({"tool_name": use.name, "tool_use_id": use.id, "reason": text,
                                    "tool_input": {"path": path}})
                results.append({"type": "tool_result", "tool_use_id": use.id, "content": text, "is_error": is_error})
            messages.append({"role": "user", "content": results})
    except _Stopped:
        subtype, final_text = "error_during_execution", "stopped (SIGTERM)"
    finally:
        signal.signal(signal.SIGTERM, previous)
    cost = pricing.cost_usd(model, usage["input_tokens"], usage["output_tokens"],
                            usage["cache_creation_input_tokens"], usage["cache_read_input_tokens"])
    say(json.dumps({"type": "result", "subtype": subtype, "is_error": subtype != "success", "num_turns": turns,
                    "total_cost_usd": cost, "cost_simulated": simulated, "usage": usage, "permission_denials": denials,
                    "result": final_text, "model": model}))
    return 0 if subtype == "success" else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m worktree_agents.sessions.api")
    parser.add_argument("--stream", required=True)
    parser.add_argument("--worktree", required=True)
    args = parser.parse_args(argv)
    from worktree_agents.project import Project
    from worktree_agents.sessions import context

    try:
        project = Project.find(args.worktree)
        ctx = context(project, project.main_config(), args.stream, project.toplevel, "api")
        ctx = dataclasses.replace(ctx, sandboxed=RUN_TOOL in tools())
        return run_loop(ctx)
    except WtaError as exc:
        print(f"wta: {exc}", file=sys.stderr)
        return exc.exit_code


if __name__ == "__main__":
    sys.exit(main())
