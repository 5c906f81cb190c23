"""Text shortened to a width, one `…` saying so: the one rule for the tables and lines wta shows
(commands.output), the session logs as `wta logs` renders them (sessions.transcript) and the values
quoted in a message. The standard library only: every layer may import it.
"""

from __future__ import annotations

ELLIPSIS = "…"


def cut_end(text: str, width: int) -> str:
    """`text` cut at the end to `width`, "…" saying so (a subject, a reason, a list)."""
    return text if len(text) <= width else text[:max(width - 1, 0)] + ELLIPSIS


def cut_path(path: str, width: int) -> str:
    """`path` cut at the start to `width`, "…" saying so: the end names the place (…-worktrees/api)."""
    return path if len(path) <= width else ELLIPSIS + path[len(path) - width + 1:]
