"""The on-disk merge state (`<common>/wta/merge.json`), the backup refs and the saved reports.

Test aid: with WTA_MERGE_PAUSE_AT=<step> (or <step>:<stream>) the merge sleeps
(WTA_MERGE_PAUSE_SECONDS, default 600) right after recording that step, so a
test can kill it there. Steps: verify, rebase, test, fast-forward, merged.
With WTA_MERGE_PAUSE_UNTIL=<file> as well, the pause ends as soon as that file
exists: a gate the test opens once it has done what it does during the pause,
however slow a loaded machine makes it (a fixed pause can end before).
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

from worktree_agents import layout
from worktree_agents.backups import BACKUP_ROOT
from worktree_agents.errors import WtaError, cannot_write
from worktree_agents.files import write_json
from worktree_agents.merge.report import MergeReport
from worktree_agents.state import lock_holder

PAUSE_ENV = "WTA_MERGE_PAUSE_AT"
PAUSE_SECONDS_ENV = "WTA_MERGE_PAUSE_SECONDS"
PAUSE_UNTIL_ENV = "WTA_MERGE_PAUSE_UNTIL"
STATE_VERSION = 1

# The steps one stream goes through; merge.json names the current one.
VERIFY, REBASE, TEST, FAST_FORWARD, MERGED_STEP = "verify", "rebase", "test", "fast-forward", "merged"
IN_FLIGHT = (VERIFY, REBASE, TEST, FAST_FORWARD)


def state_path(state_dir: str) -> str:
    return layout.path(state_dir, layout.MERGE_STATE)


def read_state(state_dir: str) -> dict[str, Any] | None:
    path = state_path(state_dir)
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise WtaError(f"{path}: unreadable merge state ({exc}); the branches are backed up under "
                       f"{BACKUP_ROOT}/, restore them by hand and delete the file") from None
    if not isinstance(data, dict) or data.get("version") != STATE_VERSION:
        raise WtaError(f"{path}: not a merge state this wta understands; finish it with the wta that started it")
    return data


def write_state(state_dir: str, state: dict[str, Any]) -> None:
    # Without fsync: the state must survive a killed process (which the rename
    # guarantees), and it is written before every step.
    write_json(state_path(state_dir), state, fsync=False)


def merge_status(state_dir: str) -> dict[str, Any] | None:
    """A merge under way, stopped or interrupted, as `wta status --json` shows it; None when there is none.

    `status`: `running` (a `wta merge` process holds the lock), `interrupted`
    (the state says running but its process is gone: killed), `stopped` (at a
    conflict or failed check), or `unreadable`.
    """
    try:
        st = read_state(state_dir)
    except WtaError as exc:
        return {"status": "unreadable", "detail": str(exc)}
    if st is None:
        return None
    status = st.get("status")
    if status in ("running", "aborting"):  # aborting: an --abort under way, or killed (either command finishes it)
        holder = lock_holder(state_dir)
        status = "running" if holder is not None and holder.command.startswith("wta merge") else "interrupted"
    return {"status": status, "run_id": st.get("run_id"), "base": st.get("base"), "stream": st.get("stream"),
            "step": st.get("step"), "started_at": st.get("started_at"),
            "detail": None if status == "running" else f"{describe_state(st)}; run `wta merge --continue` to "
                                                       "finish it or `wta merge --abort` to undo it"}


def describe_state(state: dict[str, Any]) -> str:
    where = f"at {state.get('stream')} ({state.get('step')})" if state.get("stream") else "before its first stream"
    how = {"stopped": "stopped", "aborting": "interrupted while aborting"}.get(state.get("status"), "interrupted")
    return f"merge {state['run_id']} into {state['base']} {how} {where}"


def pause(step: str, stream: str) -> None:
    wanted = os.environ.get(PAUSE_ENV)
    if wanted and wanted in (step, f"{step}:{stream}"):
        deadline = time.monotonic() + float(os.environ.get(PAUSE_SECONDS_ENV, "600"))
        gate = os.environ.get(PAUSE_UNTIL_ENV)
        while time.monotonic() < deadline and not (gate and os.path.exists(gate)):
            time.sleep(min(0.05 if gate else 1.0, max(deadline - time.monotonic(), 0)))


def save_report(state_dir: str, report: MergeReport) -> None:
    path = layout.path(state_dir, layout.MERGE_REPORT, run_id=report.run_id)
    report.saved = path
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        write_json(path, report.to_json(), fsync=False)
    except (OSError, WtaError) as exc:  # the merge itself stands; only its saved copy is missing
        report.saved = None
        report.problems.append(str(exc if isinstance(exc, WtaError) else cannot_write(path, exc)))

