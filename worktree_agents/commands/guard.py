"""`wta guard`: the Claude Code PreToolUse hook (same code as the fast entry)."""

from __future__ import annotations


def run(stream: str | None) -> int:
    from worktree_agents.hooks.runtime import guard

    return guard(stream)
