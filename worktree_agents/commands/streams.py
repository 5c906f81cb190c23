"""Checking the stream names given on a command line."""

from __future__ import annotations

from worktree_agents.errors import WtaError


def known_stream(config, stream: str) -> str:
    if stream not in config.streams:
        raise WtaError(f"unknown stream {stream!r}; zones.yaml defines: {', '.join(config.streams)}")
    return stream


def known_streams(config, streams: list[str] | None) -> list[str]:
    """The streams named (checked), or every stream in file order."""
    return [known_stream(config, s) for s in streams] if streams else list(config.streams)
