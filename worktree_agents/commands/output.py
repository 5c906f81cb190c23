"""Rendering shared by the commands: JSON documents, tables, colour rules."""

from __future__ import annotations

import json
import os
import shutil
import sys
import textwrap
from contextlib import contextmanager
from typing import Any, Callable, Iterator, Mapping, Sequence

from worktree_agents.shortening import cut_end


def use_colour(stream=None) -> bool:
    """Colour and live redraw only on a terminal, and never with NO_COLOR set."""
    stream = stream or sys.stdout
    return not os.environ.get("NO_COLOR") and hasattr(stream, "isatty") and stream.isatty()


def emit_json(document: Any) -> None:
    """The one JSON document a `--json` command prints on stdout."""
    json.dump(document, sys.stdout, indent=2, sort_keys=False, default=str)
    sys.stdout.write("\n")


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], width: int | None = None, *,
          shorten: Mapping[str, Callable[[str, int], str]] | None = None, drop: Sequence[str] = (),
          notes: Sequence[str | None] = ()) -> str:
    """A plain aligned text table (no colour: safe for pipes and logs), each row followed by its note, if any.

    With `width` (a terminal's, `terminal_width`) every line fits it: the columns in `shorten` are cut by their
    function (`shortening.cut_end`, `cut_path`) down to CUT_MIN, then the columns in `drop` are left out, first named
    first, until the rest fits (and any of them that fits after all comes back); a last line names those left
    out. Notes are wrapped to the width. Without a width the table is as wide as its widest cells."""
    cells = [[str(h) for h in headers]] + [["" if c is None else str(c) for c in row] for row in rows]
    natural = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    shown, widths, left_out = list(range(len(headers))), natural, []
    if width is not None:
        shorten = shorten or {}
        floors = [min(n, max(len(h), CUT_MIN)) if h in shorten else n for h, n in zip(headers, natural)]
        for name in drop:
            if _fitted(shown, natural, floors, width):
                break
            shown.remove(headers.index(name))
            left_out.append(name)
        if _fitted(shown, natural, floors, width):
            for name in reversed(list(left_out)):   # the most important first
                again = sorted(shown + [headers.index(name)])
                if _fitted(again, natural, floors, width):
                    shown = again
                    left_out.remove(name)
        widths = _fitted(shown, natural, floors, width) or floors
        cells = [[shorten[h](c, w) if h in shorten and len(c) > w else c for h, c, w in zip(headers, r, widths)]
                 for r in cells]
    notes = [*notes, *[None] * (len(rows) - len(notes))]
    lines = ["  ".join(r[i].ljust(widths[i]) for i in shown).rstrip() for r in cells]
    lines = [lines[0], "  ".join("-" * widths[i] for i in shown),
             *(line for row, note in zip(lines[1:], notes) for line in (row, *_note(note, width)))]
    if left_out:
        lines.append(f"(not shown, to fit the terminal: {', '.join(left_out)})")
    return "\n".join(lines if width is None else (cut_end(line, width) for line in lines))


# The narrowest a shortened column gets (its header stays whole).
CUT_MIN = 12


def _fitted(shown: list[int], natural: list[int], floors: list[int], width: int) -> list[int] | None:
    """The column widths that fit `width`: each shortened column as wide as it needs when there is room, the
    room shared out narrowest first; None when even the floors do not fit."""
    spare = width - 2 * (len(shown) - 1) - sum(floors[i] for i in shown)
    if spare < 0:
        return None
    widths = list(floors)
    short = sorted((i for i in shown if floors[i] < natural[i]), key=lambda i: natural[i] - floors[i])
    for k, i in enumerate(short):
        extra = min(natural[i] - floors[i], spare // (len(short) - k))
        widths[i] += extra
        spare -= extra
    return widths


def _note(note: str | None, width: int | None) -> list[str]:
    """A row's note: the lines under it, indented, wrapped to `width` when there is one."""
    if not note:
        return []
    if width is None:
        return [f"  {note}"]
    return textwrap.wrap(note, max(width, 20), initial_indent="  ", subsequent_indent="    ",
                         break_on_hyphens=False)


def wrap(text: str, width: int | None) -> str:
    """Lines of free text (a problem and its fix) wrapped to `width`, when there is one."""
    if width is None:
        return text
    return "\n".join(line if len(line) <= width else
                     "\n".join(textwrap.wrap(line, max(width, 20), subsequent_indent="  ", break_on_hyphens=False))
                     for line in text.split("\n"))


def terminal_width(stream=None) -> int | None:
    """The width a table must fit: the terminal's (or COLUMNS) when `stream` is a terminal, else None (a pipe
    or a file gets whole lines, for scripts)."""
    stream = stream or sys.stdout
    if not (hasattr(stream, "isatty") and stream.isatty()):
        return None
    return shutil.get_terminal_size().columns


# What a shell reports for a command that a closed pipe ended, as for git (128 + SIGPIPE).
STDOUT_CLOSED = 141


def fit_screen(text: str, reserved: int = 0) -> str:
    """`text` cut to the terminal: each line to its width, and to its height less `reserved` rows (the
    last line then says how many were left out). Redrawn in place, a line the terminal wraps, or a
    table taller than the screen, would leave the top of the last drawing behind at every redraw."""
    size = shutil.get_terminal_size()
    width, height = max(size.columns - 1, 20), max(size.lines - 1 - reserved, 3)
    lines = [cut_end(line, width) for line in text.split("\n")]
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


def spent(usd: float | None, simulated: bool, total_usd: float | None, sessions: int) -> str:
    """A stream's cost as shown in tables: with follow-ups after failed landings, what its sessions of this
    schedule cost together (`$0.1200 (3 sessions)`, marked as `cost` marks it), else its session's; while a
    follow-up runs (its own cost unknown until it ends), what the sessions before it cost (`$0.0400 so far`)."""
    if sessions > 1 and total_usd is not None:
        return f"${total_usd:.4f} ({sessions} sessions" + (", simulated)" if simulated else ")")
    if usd is None and sessions and total_usd is not None:
        return f"${total_usd:.4f} so far"
    return cost(usd, simulated)


def err(message: str) -> None:
    print(message, file=sys.stderr)
