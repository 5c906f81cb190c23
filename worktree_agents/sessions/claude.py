"""The `claude` runner: the Claude Code CLI in the stream's worktree.

Headless (`-p`, stream-json output) by default, or interactive inside tmux.
The zone guard is wired in as a PreToolUse hook through `--settings`, and the
zone rules are appended to the system prompt, so nothing is written into the
worktree. The stream-json log ends with a result line: turns, cost, denials.
"""

from __future__ import annotations

import json
import os
import re
import shutil

from worktree_agents.errors import WtaError
from worktree_agents.hooks.install import guard_command
from worktree_agents.sessions import AgentCommand, AgentReport, Runner, SessionContext, report_from_result_line
from worktree_agents.zones.enforce import EDIT_TOOLS

CLI_ENV = "WTA_CLAUDE"   # the claude executable to run, when not the one on PATH


def cli() -> str:
    explicit = os.environ.get(CLI_ENV)
    if explicit:
        if not os.access(explicit, os.X_OK):
            raise WtaError(f"{CLI_ENV}={explicit}: not an executable; point it at the claude CLI or unset it")
        return explicit
    found = shutil.which("claude")
    if found is None:
        raise WtaError("claude (the Claude Code CLI) is not on PATH; install it (npm install -g "
                       f"@anthropic-ai/claude-code), set {CLI_ENV} to its path, or pick another --runner")
    return found


def settings(stream: str) -> dict:
    """Claude Code settings that run `wta guard` before every edit tool."""
    # Started like the git hooks: `python -m` would put the worktree first on
    # sys.path, and an agent's `json.py` there could switch the guard off.
    guard = guard_command(stream)
    return {"hooks": {"PreToolUse": [
        {"matcher": "|".join(EDIT_TOOLS), "hooks": [{"type": "command", "command": guard}]},
    ]}}


class ClaudeRunner(Runner):
    name = "claude"

    def check(self, ctx: SessionContext) -> None:
        cli()
        if ctx.interactive:
            from worktree_agents.sessions import tmux

            tmux.require()

    def command(self, ctx: SessionContext) -> AgentCommand:
        agent = ctx.agent
        argv = [cli()]
        if not ctx.interactive:
            argv += ["-p", "--output-format", "stream-json", "--verbose", "--max-turns", str(agent.max_turns)]
        argv += ["--model", agent.model, "--permission-mode", agent.permission_mode,
                 "--settings", json.dumps(settings(ctx.stream)), "--append-system-prompt", ctx.rules()]
        # The task last, after `--`: a prompt that starts with `-` (a Markdown list, `---` front matter)
        # is the task, not an option the CLI refuses.
        argv += ["--", ctx.task()]
        return AgentCommand(argv, interactive=ctx.interactive)

    def report(self, output: str) -> AgentReport:
        report = report_from_result_line(output)
        if not report.permission_denials:   # no result line: stopped, timed out, killed
            report.permission_denials = refused_edits(output)
        return report


# A tool_result of an edit that `wta guard` refused: its reason, which the CLI words either as it is or
# after "PreToolUse:Write hook error: ".
GUARD_REFUSAL = re.compile(r"(PreToolUse:\w+ hook error: )?wta: ")


def refused_edits(output: str) -> list[dict]:
    """The edits the guard refused, read from the stream-json transcript: the `permission_denials` of the
    result line, for a session that ended without one (`wta stop`, its timeout, a kill)."""
    edits: dict[str, dict] = {}
    refused: list[dict] = []
    for line in output.splitlines():
        if not line.startswith("{"):
            continue
        try:
            event = json.loads(line)
        except ValueError:
            continue
        message = event.get("message") if isinstance(event, dict) else None
        content = message.get("content") if isinstance(message, dict) else None
        for block in content if isinstance(content, list) else []:
            if not isinstance(block, dict):
                continue
            if block.get("type") == "tool_use" and block.get("name") in EDIT_TOOLS:
                edits[block.get("id")] = block
            elif block.get("type") == "tool_result" and block.get("is_error") and block.get("tool_use_id") in edits:
                said = block.get("content")
                if isinstance(said, list):
                    said = "".join(b.get("text", "") for b in said if isinstance(b, dict))
                if isinstance(said, str) and GUARD_REFUSAL.match(said):
                    use = edits.pop(block["tool_use_id"])
                    tool_input = use.get("input") if isinstance(use.get("input"), dict) else {}
                    refused.append({"tool_name": use.get("name"), "tool_use_id": use.get("id"),
                                    "file_path": tool_input.get("file_path") or tool_input.get("notebook_path")})
    return refused


RUNNER = ClaudeRunner()
