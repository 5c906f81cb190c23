"""SIGHUP and SIGTERM to a command at work, handled as Ctrl-C is.

Python's default for either ends the process on the spot: a `wta up` killed so
while it checked worktrees out left half-written ones that the next `wta up`
took as they were. Raised as `KeyboardInterrupt` instead, they end the command
through the same undo and hand-over as Ctrl-C.
"""

from __future__ import annotations

import os
import signal
from contextlib import contextmanager
from typing import Iterator


class Ended(KeyboardInterrupt):
    """SIGTERM (`wta stop`, `kill`): what Ctrl-C does, then exit 128 + 15; a foreground `wta up` that
    schedules sessions stops scheduling as a detached coordinator does (a landing under way finishes,
    sessions not started are stopped)."""

    exit_code = 128 + signal.SIGTERM


@contextmanager
def like_ctrl_c() -> Iterator[None]:
    """While the block runs: a closed terminal (SIGHUP) raises KeyboardInterrupt, with what the command
    would still print going nowhere (a write to a hung-up terminal fails); SIGTERM raises `Ended`."""

    def hung_up(*_: object) -> None:
        nowhere = os.open(os.devnull, os.O_WRONLY)
        for fd in (1, 2):
            os.dup2(nowhere, fd)
        os.close(nowhere)
        raise KeyboardInterrupt

    def terminated(*_: object) -> None:
        raise Ended

    previous = {sig: signal.signal(sig, handler) for sig, handler in
                ((signal.SIGHUP, hung_up), (signal.SIGTERM, terminated))}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
