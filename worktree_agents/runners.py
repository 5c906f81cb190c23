"""The names of the session runners: the values of zones.yaml's `agent.runner` and of `--runner`, each
a module of worktree_agents.sessions. Here rather than in config so that the session wrapper can look
its runner up without importing pydantic; with them, the placeholders of `agent.command`."""

import re

RUNNERS = ("claude", "api", "command", "manual")

# What the `command` runner fills into `agent.command`, each shell-quoted.
COMMAND_PLACEHOLDER = re.compile(r"\{(prompt|prompt_file|stream|worktree)\}")


def quoted_placeholder(command: str) -> str | None:
    """`{prompt}` written inside quotes (`"{prompt}"`): filled in shell-quoted, it would be quoted twice,
    the quotes wta adds would end up in the text and the prompt's own quotes end the string. Inside
    `$(...)` (`"$(echo {prompt})"`) it stands bare again; inside backticks, whose text the shell reads
    twice, it does not. The other placeholders are names and paths, which shell-quoting leaves as they
    are (`sh -c 'cd {worktree} && ...'` works), and are not refused."""
    from worktree_agents.quoting import BARE, contexts

    for i, quoting, backticks, _ in contexts(command):
        if (quoting is not BARE or backticks) and command.startswith("{prompt}", i):
            return "{prompt}"
    return None
