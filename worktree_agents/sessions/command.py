"""The `command` runner: any agent CLI from `agent.command`, run by the shell in the worktree.

`{prompt}`, `{prompt_file}`, `{stream}` and `{worktree}` are filled in, each
shell-quoted; any other braces are left alone for the shell (`${HOME}`, awk).
"""

from __future__ import annotations

import shlex

from worktree_agents.errors import WtaError
from worktree_agents.files import write_atomic
from worktree_agents.runners import COMMAND_PLACEHOLDER
from worktree_agents.sessions import AgentCommand, Runner, SessionContext
from worktree_agents.zones import CONFIG_FILE

def fill(template: str, values: dict[str, str]) -> str:
    return COMMAND_PLACEHOLDER.sub(lambda m: shlex.quote(values[m.group(1)]), template)


class CommandRunner(Runner):
    name = "command"

    def check(self, ctx: SessionContext) -> None:
        if not ctx.agent.command:
            raise WtaError(f"{CONFIG_FILE}: streams.{ctx.stream}: runner `command` needs `agent.command`; set it, "
                           "e.g. command: \"aider --yes --message-file {prompt_file}\"")
        if ctx.interactive:
            from worktree_agents.sessions import tmux

            tmux.require()

    def command(self, ctx: SessionContext) -> AgentCommand:
        prompt = ctx.full_prompt()
        write_atomic(ctx.prompt_file, prompt)
        line = fill(ctx.agent.command, {"prompt": prompt, "prompt_file": ctx.prompt_file,
                                        "stream": ctx.stream, "worktree": ctx.worktree})
        return AgentCommand(["/bin/sh", "-c", line], interactive=ctx.interactive)


RUNNER = CommandRunner()
