"""What is wrong with a zones.yaml: the error that carries one line per problem, and how a
problem names the key it is about (`streams.api.paths[0]`)."""

from __future__ import annotations

from worktree_agents.errors import WtaError


class ConfigError(WtaError):
    """zones.yaml is invalid; the message holds one line per problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def dotted(loc: tuple) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"
