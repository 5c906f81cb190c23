"""Rendering shared by the commands: JSON documents, tables, colour rules."""

from __future__ import annotations

import json
import os
import shutil
import sys
from contextlib import contextmanager
from typing import Any, Iterator, Sequence


def use_colour(stream=None) -> bool:
    """Colour and live redraw only on a terminal, and never with NO_COLOR set."""
    stream = stream or sys.stdout
    return not os.environ.get("NO_COLOR") and hasattr(stream, "isatty") and stream.isatty()


def emit_json(document: Any) -> None:
    """The one JSON document a `--json` command prints on stdout."""
    json.dump(document, sys.stdout, indent=2, sort_keys=False, default=str)
    sys.stdout.write("\n")


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A plain aligned text table (no colour: safe for pipes and logs)."""
    cells = [[str(h) for h in headers]] + [["" if c is None else str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in cells]
    return "\n".join([lines[0], "  ".join("-" * w for w in widths), *lines[1:]])


# What a shell reports for a command that a closed pipe ended, as for git (128 + SIGPIPE).
STDOUT_CLOSED = 141


def fit_screen(text: str, reserved: int = 0) -> str:
    """`text` cut to the terminal: each line to its width, and to its height less `reserved` rows (the
    last line then says how many were left out). Redrawn in place, a line the terminal wraps, or a
    table taller than the screen, would leave the top of the last drawing behind at every redraw."""
    size = shutil.get_terminal_size()
    width, height = max(size.columns - 1, 20), max(size.lines - 1 - reserved, 3)
    lines = [line if len(line) <= width else line[:width - 1] + "…" for line in text.split("\n")]
    if len(lines) > height:
        lines = lines[:height - 1] + [f"… {len(lines) - height + 1} more lines (make the terminal taller)"]
    return "\n".join(lines)


def stdout_closed() -> int:
    """The reader of stdout has gone (`wta status --json | head -1`): end quietly, as git does.

    stdout then points at /dev/null, so that Python's final flush of what is still
    buffered cannot fail again on the way out; the exit code is the shell's for SIGPIPE.
    """
    _to_devnull(sys.stdout)
    return STDOUT_CLOSED


@contextmanager
def outliving_its_reader() -> Iterator[None]:
    """For a command that changes state (`wta up | head -1`): when the reader of stdout or stderr goes,
    what is written there is discarded and the command carries on to its end, rather than stopping
    half-way with worktrees made and others not; its exit code is the one it would have had."""
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = _Discarding(sys.stdout), _Discarding(sys.stderr)
    try:
        yield
    finally:
        sys.stdout, sys.stderr = saved


class _Discarding:
    """A text stream that, once its reader has gone (EPIPE), writes into /dev/null instead of raising."""

    def __init__(self, stream) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except BrokenPipeError:
            _to_devnull(self._stream)
            return len(text)

    def flush(self) -> None:
        try:
            self._stream.flush()
        except BrokenPipeError:
            _to_devnull(self._stream)

    def __getattr__(self, name: str) -> Any:   # isatty, fileno, encoding: the stream's own
        return getattr(self._stream, name)


def _to_devnull(stream) -> None:
    """Point `stream`'s descriptor at /dev/null (for the processes started from now on too), and flush
    there what its reader will not read."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, stream.fileno())
    finally:
        os.close(devnull)
    stream.flush()


def cost(usd: float | None, simulated: bool = False) -> str:
    """A session's cost as shown in tables: '-' when unknown, marked when a scripted model answered."""
    if usd is None:
        return "-"
    return f"${usd:.4f}" + (" (simulated)" if simulated else "")


def err(message: str) -> None:
    print(message, file=sys.stderr)
