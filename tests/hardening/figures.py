"""The figures the hardening suites record while they run, for bench/reliability.py.

A test records what it did — a fault injected and the commits it cost, a load
run's times and memory, a search for secrets — through the `figures` fixture
(tests/hardening/conftest.py). Each record is one JSON line appended to the file
named by $WTA_FIGURES; without it nothing is written, so a plain pytest run
leaves no trace. One short line per append keeps the pytest-xdist workers'
lines whole in the shared file.

Pass and fail come from pytest itself (bench/reliability.py reads a JUnit XML
report): a fault is *survived* when the test that injected it passed.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

FIGURES_ENV = "WTA_FIGURES"

FAULT, LOAD, SECRETS, KILLS = "fault", "load", "secrets", "kills"


class Recorder:
    """Records for one test (its pytest node id)."""

    def __init__(self, test: str) -> None:
        self.test = test

    def fault(self, name: str, recovery: str, commits_before: int, commits_lost: int) -> None:
        """A fault injected, what recovered from it; `commits_lost`: reachable before it and not after."""
        self._write(FAULT, name=name, recovery=recovery, commits_before=commits_before, commits_lost=commits_lost)

    def kills(self, **figures: Any) -> None:
        """A run of random SIGKILLs: how many, where they landed, the runs that failed, the commits lost."""
        self._write(KILLS, **figures)

    def load(self, **figures: Any) -> None:
        self._write(LOAD, **figures)

    def secrets(self, found: int, files: int, bytes_searched: int, objects: int) -> None:
        self._write(SECRETS, found=found, files=files, bytes_searched=bytes_searched, objects=objects)

    def _write(self, kind: str, **values: Any) -> None:
        target = os.environ.get(FIGURES_ENV)
        if not target:
            return
        line = json.dumps({"kind": kind, "test": self.test, **values}, sort_keys=True) + "\n"
        fd = os.open(target, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line.encode())
        finally:
            os.close(fd)


def read(path: str | Path) -> list[dict[str, Any]]:
    """Every record in a figures file (none when it does not exist)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    return [json.loads(line) for line in text.splitlines() if line.strip()]
