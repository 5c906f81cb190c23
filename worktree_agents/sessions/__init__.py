"""Agent sessions: one runner per way of running an agent, behind one interface.

A runner turns a stream's session context into what the session wrapper runs
(`Runner.command`), says beforehand whether it can run at all (`check`), may
prepare files (`prepare`), and reads the agent's output afterwards (`report`).
The modules: `claude` (Claude Code CLI), `api` (the Anthropic API tool-use
loop), `command` (any agent CLI), `manual` (a person in an editor). Scheduling
is in `supervisor`, the per-session process in `wrapper`, records in `store`.
"""

from __future__ import annotations

import importlib
import json
import os
from dataclasses import dataclass

from worktree_agents import git, shell
from worktree_agents.runners import RUNNERS
from worktree_agents.sessions import prompt as prompts
from worktree_agents.sessions.store import AgentFigures, SessionStore



@dataclass(frozen=True)
class SessionContext:
    """Everything a runner needs to know about one stream's session."""

    stream: str
    runner: str
    config: object          # config.Config
    agent: object           # config.Agent, the stream's merged agent settings
    repo_root: str          # the main worktree
    worktree: str
    state_dir: str          # <common git dir>/wta
    log: str
    prompt_file: str        # <state dir>/prompts/<stream>.md
    port: int
    interactive: bool = False
    sandboxed: bool = False  # its processes run in the stream's sandbox

    def task(self) -> str:
        """The session's task (a hand-back and the requests first), an API key anywhere in it blanked out: the
        claude runner passes it on its command line, the api runner sends it to the API."""
        from worktree_agents.redaction import redact_text

        return redact_text(prompts.task(self.config, self.stream, self.repo_root, self.state_dir))

    def rules(self) -> str:
        return prompts.zone_rules(self.config, self.stream, self.worktree, self.sandboxed)

    def full_prompt(self) -> str:
        """The session's prompt, an API key anywhere in it (a request's text, a hand-back's test output, the
        task itself) blanked out: it is written to a file and passed on command lines."""
        from worktree_agents.redaction import redact_text

        return redact_text(prompts.full_prompt(self.config, self.stream, self.repo_root, self.worktree,
                                               self.state_dir, self.sandboxed))

    def env(self, base: dict[str, str] | None = None) -> dict[str, str]:
        """The session's environment: the caller's (API keys pass through, git's locals
        dropped) plus the stream's coordinates."""
        return shell.stream_env(self.config, self.stream, self.worktree, git.no_git_env(base))


@dataclass(frozen=True)
class AgentCommand:
    """What the wrapper starts: an argv, in the worktree, with the session's environment."""

    argv: list[str]
    interactive: bool = False  # inside tmux, for `wta attach`


@dataclass(kw_only=True)
class AgentReport(AgentFigures):
    """What the agent's output says about the session: the record's figures, and whether it failed."""

    error: str | None = None   # why the agent says it failed (e.g. max turns reached)


class Runner:
    """The interface; the defaults suit a runner that starts one process."""

    name = ""
    starts_process = True   # False: the session is a person, not a process (manual)

    def check(self, ctx: SessionContext) -> None:
        """Raise WtaError, before anything starts, if this session cannot run."""

    def prepare_files(self, ctx: SessionContext) -> None:
        """Write what the session needs outside its process (run by the coordinator)."""

    def command(self, ctx: SessionContext) -> AgentCommand | None:
        """The process to start, or None when the session has none (manual)."""
        raise NotImplementedError

    def report(self, output: str) -> AgentReport:
        return report_from_result_line(output)


def runner(name: str) -> Runner:
    if name not in RUNNERS:
        raise ValueError(f"unknown runner {name!r}")
    return importlib.import_module(f"worktree_agents.sessions.{name}").RUNNER


def runner_of(record, config, stream: str) -> str | None:
    """The runner of a stream's session: as its last `wta up` ran it (`--runner` too, in its `record`), else
    as zones.yaml (`config`) says; None for a stream zones.yaml no longer defines that never ran."""
    if record is not None and record.runner:
        return record.runner
    return config.agent_for(stream).runner if stream in config.streams else None


def by_hand(runner_name: str | None) -> bool:
    """Whether a session of that runner is a person in an editor (`manual`): no process, no log."""
    return runner_name is not None and not runner(runner_name).starts_process


def context(project, config, stream: str, worktree: str, runner_name: str | None = None,
            interactive: bool = False) -> SessionContext:
    agent = config.agent_for(stream)
    store = SessionStore(project.repo.state_dir)
    return SessionContext(
        stream=stream, runner=runner_name or agent.runner, config=config, agent=agent,
        repo_root=project.main, worktree=worktree, state_dir=project.repo.state_dir,
        log=store.log_path(stream), prompt_file=store.prompt_path(stream),
        port=config.port_for(stream), interactive=interactive,
    )


def check_can_start(project, config, worktrees: dict[str, str], runner_name: str | None = None,
                    interactive: bool = False) -> dict[str, SessionContext]:
    """The context of each stream's session (stream -> worktree), once every runner's check
    passed (its CLI installed, its API key set, tmux for --interactive); else WtaError."""
    contexts = {s: context(project, config, s, path, runner_name, interactive) for s, path in worktrees.items()}
    for ctx in contexts.values():
        runner(ctx.runner).check(ctx)
    return contexts


def report_from_result_line(output: str) -> AgentReport:
    """Read the last `{"type": "result", ...}` line: Claude Code's stream-json summary,
    which the api runner prints in the same shape."""
    result = None
    for line in output.splitlines():
        if line.startswith("{") and '"result"' in line:
            try:
                data = json.loads(line)
            except ValueError:
                continue
            if isinstance(data, dict) and data.get("type") == "result":
                result = data
    if result is None:
        return AgentReport()
    usage = result.get("usage") or {}
    tokens_in = sum(int(usage.get(k) or 0) for k in
                    ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens"))
    denials = []
    for d in result.get("permission_denials") or []:
        tool_input = d.get("tool_input") or {}
        denials.append({"tool_name": d.get("tool_name"), "tool_use_id": d.get("tool_use_id"),
                        "file_path": tool_input.get("file_path") or tool_input.get("notebook_path")
                        or tool_input.get("path"), **({"reason": d["reason"]} if d.get("reason") else {})})
    error = None
    if result.get("is_error") or (result.get("subtype") not in (None, "success")):
        error = _describe_error(result)
    text = result.get("result")
    return AgentReport(
        turns=result.get("num_turns"), cost_usd=result.get("total_cost_usd"),
        cost_simulated=result.get("cost_simulated") is True,
        input_tokens=tokens_in if usage else None,
        output_tokens=int(usage.get("output_tokens") or 0) if usage else None,
        permission_denials=denials,
        result=text[:2000] if isinstance(text, str) else None, error=error,
    )


def _describe_error(result: dict) -> str:
    subtype = str(result.get("subtype") or "error")
    if subtype == "error_max_turns":
        return "max turns reached"
    detail = result.get("result") if isinstance(result.get("result"), str) else ""
    return f"{subtype}: {detail}".strip(": ")[:300] if detail else subtype


def read_output(log: str, offset: int) -> str:
    """The log from `offset` on: what one session wrote."""
    try:
        with open(log, "rb") as f:
            f.seek(offset)
            return f.read().decode("utf-8", errors="replace")
    except FileNotFoundError:
        return ""


def log_size(log: str) -> int:
    try:
        return os.path.getsize(log)
    except OSError:
        return 0
