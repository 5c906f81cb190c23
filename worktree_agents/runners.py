"""The names of the session runners: the values of zones.yaml's `agent.runner` and of `--runner`, each
a module of worktree_agents.sessions. Here rather than in config so that the session wrapper can look
its runner up without importing pydantic; with them, the placeholders of `agent.command`."""

import re

RUNNERS = ("claude", "api", "command", "manual")

# What the `command` runner fills into `agent.command`, each shell-quoted.
COMMAND_PLACEHOLDER = re.compile(r"\{(prompt|prompt_file|stream|worktree)\}")


def quoted_placeholder(command: str) -> str | None:
    """A placeholder whose value may hold anything the shell reads written inside quotes (`"{prompt}"`,
    `sh -c 'cd {worktree} && ...'`): filled in shell-quoted, it would be quoted twice, the quotes wta
    adds would end up in the text, and a quote or a space of the value (a repository path with a space)
    would end or split the string; inside `sh -c '...'` its text would be read again as code. Inside
    `$(...)` (`"$(echo {prompt})"`) it stands bare again; inside backticks, whose text the shell reads
    twice, it does not. `{stream}` is a name of letters, digits, `-` and `_`: not refused."""
    from worktree_agents.quoting import BARE, contexts

    for i, quoting, backticks, _ in contexts(command):
        if quoting is not BARE or backticks:
            for placeholder in ("{prompt}", "{prompt_file}", "{worktree}"):
                if command.startswith(placeholder, i):
                    return placeholder
    return None
