"""Checking the stream names given on a command line."""

from __future__ import annotations

from worktree_agents.state import StateStore
from worktree_agents.zones import check_streams


def known_stream(config, stream: str, project=None) -> str:
    """`stream`, checked against zones.yaml; with `project`, a stream wta keeps records of is known too
    (one taken out of zones.yaml may still have a worktree, a log and a running session)."""
    if project is None or stream not in StateStore(project.repo.state_dir).streams():
        check_streams([stream], list(config.streams))
    return stream


def known_streams(config, streams: list[str] | None, project=None) -> list[str]:
    """The streams named (checked), or every stream: zones.yaml's in file order, then, with `project`,
    any other that wta keeps records of."""
    if streams:
        return [known_stream(config, s, project) for s in streams]
    recorded = StateStore(project.repo.state_dir).streams() if project is not None else {}
    return list(config.streams) + [s for s in recorded if s not in config.streams]
