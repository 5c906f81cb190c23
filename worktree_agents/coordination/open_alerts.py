"""The alerts a running watcher holds open, for `wta status`.

Each watcher (`wta watch`, the one under `wta up`) writes the conditions that
hold now and clear by themselves (a failing check, a stalled or failed
session, a violation, a conflict, an open request) to
`<common>/wta/alerts/<pid>.json` whenever they change, and removes the file
when it stops. `wta status` shows those of the watchers still running: one
killed or ended holds none, and a condition two watchers see is shown once.

    {"pid": 4242, "process_start": 1796412657.95, "at": "2026-12-04T19:30:58+00:00",
     "alerts": [{"key": "check:db", "stream": "check:db", "state": "failed", "message": "...",
                 "clears_as": "recovered", "clear_message": "check db passes again"}]}

When `wta up` hands its schedule to a detached coordinator (Ctrl-C), its file is
handed over (`alerts/handed-over-<pid>.json`) and the new coordinator's watcher
takes it: what the first announced it does not announce again, and it says when
those clear.
"""

from __future__ import annotations

import json
import os
from typing import Callable

from worktree_agents import layout
from worktree_agents.errors import WtaError


def write(state_dir: str, held: list[dict[str, str]], at: str, redact: Callable[[bytes], bytes],
          first: bool = False) -> bool:
    """Replace this process's file with `held`; whether it was written (a full disk: no alerts shown).
    `first`: also remove the files of watchers that were killed (each left its own)."""
    from worktree_agents.files import write_atomic
    from worktree_agents.sessions.process import create_time

    if first:
        for path, document in _documents(state_dir):
            if not _running(document):
                try:
                    os.unlink(path)
                except OSError:
                    pass
    document = {"pid": os.getpid(), "process_start": create_time(os.getpid()), "at": at, "alerts": held}
    path = layout.path(state_dir, layout.ALERTS_OPEN, pid=os.getpid())
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        write_atomic(path, redact(json.dumps(document).encode()), fsync=False)
    except (OSError, WtaError):
        return False
    return True


def hand_over(state_dir: str) -> None:
    """This watcher ends and another takes over its alerts (`take_over(state_dir, <this pid>)`)."""
    try:
        os.replace(layout.path(state_dir, layout.ALERTS_OPEN, pid=os.getpid()),
                   layout.path(state_dir, layout.ALERTS_HANDED_OVER, pid=os.getpid()))
    except OSError:
        pass


def take_over(state_dir: str, pid: int) -> list[dict[str, str]]:
    """The alerts that the watcher of process `pid` held open when it handed them over (each as written:
    key, stream, state, message, clears_as, clear_message); the file goes."""
    path = layout.path(state_dir, layout.ALERTS_HANDED_OVER, pid=pid)
    try:
        with open(path, encoding="utf-8") as f:
            document = json.load(f)
        os.unlink(path)
    except (OSError, ValueError):
        return []
    alerts = document.get("alerts") if isinstance(document, dict) else None
    return [a for a in alerts if isinstance(a, dict) and all(isinstance(a.get(k), str) for k in _HELD)] \
        if isinstance(alerts, list) else []


_HELD = ("key", "stream", "state", "message", "clears_as", "clear_message")


def drop_handed_over(state_dir: str, pid: int) -> None:
    """Nobody took them over (nothing was left to schedule)."""
    try:
        os.unlink(layout.path(state_dir, layout.ALERTS_HANDED_OVER, pid=pid))
    except OSError:
        pass


def forget(state_dir: str) -> None:
    try:
        os.unlink(layout.path(state_dir, layout.ALERTS_OPEN, pid=os.getpid()))
    except OSError:
        pass


def read(state_dir: str) -> list[dict[str, str]]:
    """The open alerts of the watchers running now: stream, state and message each."""
    found: dict[str, dict[str, str]] = {}
    for _, document in _documents(state_dir):
        if not _running(document):
            continue
        try:
            for alert in document["alerts"]:
                found.setdefault(alert["key"], {k: str(alert[k]) for k in ("stream", "state", "message")})
        except (KeyError, TypeError):
            continue   # damaged
    return list(found.values())


def _documents(state_dir: str) -> list[tuple[str, dict]]:
    directory = os.path.dirname(layout.path(state_dir, layout.ALERTS_OPEN, pid=0))
    try:
        names = sorted(os.listdir(directory))
    except OSError:
        return []
    found = []
    for name in names:
        if name.startswith("handed-over-"):
            continue   # a coordinator's to take over, not a running watcher's
        path = os.path.join(directory, name)
        try:
            with open(path, encoding="utf-8") as f:
                document = json.load(f)
        except (OSError, ValueError):
            continue   # being replaced, or damaged: the next look
        if isinstance(document, dict):
            found.append((path, document))
    return found


def _running(document: dict) -> bool:
    from worktree_agents.sessions.process import is_alive

    try:
        return is_alive(int(document["pid"]), document.get("process_start"))
    except (KeyError, TypeError, ValueError):
        return False
