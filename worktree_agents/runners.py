"""The names of the session runners: the values of zones.yaml's `agent.runner` and of `--runner`, each
a module of worktree_agents.sessions. Here rather than in config so that the session wrapper can look
its runner up without importing pydantic; with them, the placeholders of `agent.command`."""

import re

RUNNERS = ("claude", "api", "command", "manual")

# What the `command` runner fills into `agent.command`, each shell-quoted.
COMMAND_PLACEHOLDER = re.compile(r"\{(prompt|prompt_file|stream|worktree)\}")


def quoted_placeholder(command: str) -> str | None:
    """The first placeholder written inside quotes (`"{prompt}"`), which filled in shell-quoted would be
    quoted twice: the quotes wta adds end up in the text, and the prompt's backticks run as commands.
    Inside a command substitution (`"$(cat {prompt_file})"`) a placeholder stands bare again."""
    contexts: list[str | None] = [None]   # None: bare; "'", '"'; "(" and "`": a command substitution
    i = 0
    while i < len(command):
        inside, char = contexts[-1], command[i]
        if inside == "'":
            if char == "'":
                contexts.pop()
            elif found := COMMAND_PLACEHOLDER.match(command, i):
                return found.group(0)
        elif char == "\\":
            i += 1   # the next character is escaped
        elif command.startswith("$(", i):
            contexts.append("(")
            i += 1
        elif char == "`":
            contexts.pop() if inside == "`" else contexts.append("`")
        elif inside == '"':
            if char == '"':
                contexts.pop()
            elif found := COMMAND_PLACEHOLDER.match(command, i):
                return found.group(0)
        elif char in "'\"":
            contexts.append(char)
        elif char == ")" and inside == "(":
            contexts.pop()
        i += 1
    return None
