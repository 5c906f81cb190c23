"""Where wta keeps its files: every path under `<common git dir>/wta/`, and
wta's files in a worktree's private git dir. Nothing of wta's lives in a worktree.

    <common git dir>/wta/
        state.json           the stream records (state.StateStore), with state.json.lock
        lock                 the command lock (state.command_lock)
        zones.cache          the compiled zones in force (zones.in_force)
        main-worktree        where the main worktree is, when git does not record it
        sessions/<s>.json    a stream's session record (sessions.store)
        prompts/<s>.md       the prompt a session was given
        logs/<s>.log         a stream's `setup:` and session output
        logs/coordinator.log the detached coordinator's log
        logs/notify.log      what `wta watch`'s notify commands printed
        coordinator.lock     held by the one coordinator scheduling sessions
        merge.json           the merge under way (merge.state)
        merges/<run>.json    a finished merge's report; merges/<run>/<s>.test.log its tests
        requests/<id>.json   requests between streams (coordination.requests)
        alerts.log           `wta watch`'s alerts; checks/<name>.log each check's last output

    <worktree's private git dir>/wta-stream   the stream this worktree belongs to

Stdlib only: the hooks import it.
"""

from __future__ import annotations

import os

STATE_DIR = "wta"   # under the common git dir


def state_dir(common_dir: str) -> str:
    return os.path.join(common_dir, STATE_DIR)


def common_dir(state_dir: str) -> str:
    """The common git dir that holds `state_dir`."""
    return os.path.dirname(state_dir)


def state_file(state_dir: str) -> str:
    return os.path.join(state_dir, "state.json")


def command_lock(state_dir: str) -> str:
    return os.path.join(state_dir, "lock")


def zones_cache(state_dir: str) -> str:
    return os.path.join(state_dir, "zones.cache")


def main_worktree_file(state_dir: str) -> str:
    return os.path.join(state_dir, "main-worktree")


def session_file(state_dir: str, stream: str) -> str:
    return os.path.join(state_dir, "sessions", f"{stream}.json")


def prompt_file(state_dir: str, stream: str) -> str:
    return os.path.join(state_dir, "prompts", f"{stream}.md")


def logs_dir(state_dir: str) -> str:
    return os.path.join(state_dir, "logs")


def stream_log(state_dir: str, stream: str) -> str:
    return os.path.join(logs_dir(state_dir), f"{stream}.log")


def coordinator_log(state_dir: str) -> str:
    return os.path.join(logs_dir(state_dir), "coordinator.log")


def notify_log(state_dir: str) -> str:
    return os.path.join(logs_dir(state_dir), "notify.log")


def coordinator_lock(state_dir: str) -> str:
    return os.path.join(state_dir, "coordinator.lock")


def merge_state(state_dir: str) -> str:
    return os.path.join(state_dir, "merge.json")


def merge_report(state_dir: str, run_id: str) -> str:
    return os.path.join(state_dir, "merges", f"{run_id}.json")


def merge_test_log(state_dir: str, run_id: str, stream: str) -> str:
    return os.path.join(state_dir, "merges", run_id, f"{stream}.test.log")


def requests_dir(state_dir: str) -> str:
    return os.path.join(state_dir, "requests")


def request_file(state_dir: str, request_id: str) -> str:
    return os.path.join(requests_dir(state_dir), f"{request_id}.json")


def alerts_log(state_dir: str) -> str:
    return os.path.join(state_dir, "alerts.log")


def check_log(state_dir: str, file_name: str) -> str:
    return os.path.join(state_dir, "checks", file_name)


def stream_file(git_dir: str) -> str:
    """In a worktree's private git dir: the stream it belongs to."""
    return os.path.join(git_dir, "wta-stream")
