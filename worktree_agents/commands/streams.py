"""Checking the stream names given on a command line."""

from __future__ import annotations

from worktree_agents.zones import check_streams


def known_stream(config, stream: str) -> str:
    check_streams([stream], list(config.streams))
    return stream


def known_streams(config, streams: list[str] | None) -> list[str]:
    """The streams named (checked), or every stream in file order."""
    return [known_stream(config, s) for s in streams] if streams else list(config.streams)
