"""`wta down [STREAM...] [--force] [--delete-branches]`: remove stream worktrees.

Each stream is decided on its own: one that would lose commits or files is
kept (and listed) while the others are removed; the exit code is then 1.
"""

from __future__ import annotations

from typing import Sequence

from worktree_agents.errors import CHECK
from worktree_agents.hooks import install as hooks
from worktree_agents.project import Project
from worktree_agents.repo import stream_branch
from worktree_agents.state import StateStore, command_lock
from worktree_agents.worktrees import registry, remove
from worktree_agents.zones import check_streams
from worktree_agents.zones.ownership import quote_path

SHOWN = 20  # commits or files listed per refused stream


def run(streams: Sequence[str], force: bool = False, delete_branches: bool = False) -> int:
    project = Project.find()
    zones = project.base_zones()
    store = StateStore(project.repo.state_dir)
    kept = [s for s in store.streams() if s not in zones.streams]   # taken out of zones.yaml, still wta's
    check_streams(streams, list(zones.streams), also=kept)
    known = list(zones.streams) + kept
    chosen = [s for s in known if not streams or s in streams]
    with command_lock(project.repo.state_dir):
        stale = registry.prunable_worktrees(project)
        if stale:
            registry.prune(project)
            cut_short = remove.removals_cut_short(project.repo.state_dir)   # not by hand: finished below
            stale = [w for w in stale if w.path not in cut_short]
        removals = remove.plan_removal(project, zones.base, zones.branch_prefix, chosen, store.streams(), zones.zones)
        waits_on = _stream_a_stopped_merge_waits_on(project)
        results = [_remove(project, zones, r, store, force, delete_branches, waits_on) for r in removals]
        hooks.tidy(project.repo.common_dir)  # the last stream worktree gone: wta's hooks and config go too
    if stale:
        print(f"pruned git's records of {len(stale)} worktree(s) deleted by hand: "
              f"{', '.join(w.path for w in stale)}")
    for done in results:
        print(_describe(done, zones.streams, zones.branch_prefix, _stopped_merge(project)))
    refused = [d for d in results if d.refused]
    if refused:
        print(f"kept {len(refused)} stream(s): {', '.join(d.stream for d in refused)}; "
              "nothing of theirs was removed")
    return CHECK if refused else 0


def _remove(project, zones, removal: remove.Removal, store: StateStore, force: bool,
            delete_branches: bool, waits_on: str | None = None) -> remove.Removed:
    """One stream; a session still running in its worktree is kept, or with --force stopped first
    (removed under it, the agent would go on writing and committing into nothing), and the stream
    then looked at again: stopping a session commits its leftovers in the zone. The stream a stopped
    merge `waits_on` keeps its worktree without --force: its conflict is resolved there, and
    `wta merge --continue` lands it from there."""
    from worktree_agents.sessions.liveness import running_pid
    from worktree_agents.sessions.stop import stop
    from worktree_agents.sessions.store import DONE, LANDING, OPEN, STOPPED, SessionStore, now

    if removal.stream == waits_on and removal.worktree is not None and not force:
        return remove.Removed(removal.stream, removal.branch, removal=removal,
                              refused="the stopped merge waits on it in this worktree; finish that merge with "
                                      "`wta merge --continue` or undo it with `wta merge --abort`, or rerun with "
                                      "--force to remove it anyway")
    sessions = SessionStore(project.repo.state_dir)
    pid = running_pid(project.repo.state_dir, removal.stream) if removal.worktree is not None else None
    scheduled = _scheduled(project, sessions, removal.stream) if removal.worktree is not None and not pid else None
    if (pid or scheduled) and not force:
        what = f"its session is running (pid {pid})" if pid else scheduled
        return remove.Removed(removal.stream, removal.branch, removal=removal,
                              refused=f"{what}; stop it first (wta stop {removal.stream}), or rerun with --force, "
                                      "which stops it")
    if pid or scheduled:
        print(f"{removal.stream:<12} session {stop(sessions, removal.stream, by='wta down --force')}")
        removal, = remove.plan_removal(project, zones.base, zones.branch_prefix, [removal.stream], store.streams(),
                                       zones.zones)
    done = remove.remove_stream(project, zones.base, removal, store, force, delete_branches)
    record = sessions.read(removal.stream)
    if done.worktree is not None and not done.refused and record is not None and record.state == OPEN:
        # A person's session there is over: status no longer says one works in a folder that is gone.
        sessions.update(removal.stream, state=STOPPED, reason="its worktree was removed by `wta down`", ended_at=now())
    elif done.branch_deleted and record is not None and record.state in (DONE, LANDING):
        # Its branch is gone: nothing is left to land, and the next `wta up` runs its session anew. Its work
        # is kept under refs/wta/backup/ when the base lacks it (`backup`), else the base holds it (a
        # `wta merge` under `land: manual` leaves the session `done`).
        when = "before it landed" if done.backup else f"after its work landed on {zones.base}"
        sessions.update(removal.stream, state=STOPPED, ended_at=now(),
                        reason=f"its branch was deleted by `wta down --delete-branches` {when}")
    return done


def _scheduled(project, sessions, stream: str) -> str | None:
    """Why a running coordinator will start this stream's session (it is pending or waiting), or None.
    Removed under it, the session would fail to start, with no word of the worktree taken away."""
    from worktree_agents.sessions.store import PENDING, WAITING
    from worktree_agents.sessions.supervisor import coordinator_pid

    record = sessions.read(stream)
    if record is None or record.state not in (PENDING, WAITING):
        return None
    coordinator = coordinator_pid(project.repo.state_dir)
    if coordinator is None:
        return None   # left from a schedule that has ended: nobody will start it
    return (f"a coordinator (pid {coordinator}) will start its session ({record.state}"
            f"{': ' + record.reason if record.reason else ''})")


def _stream_a_stopped_merge_waits_on(project) -> str | None:
    """The stream a stopped or interrupted merge stopped at (its worktree is where it is resolved), or None."""
    from worktree_agents.merge.state import merge_status

    pending = merge_status(project.repo.state_dir)
    return pending["stream"] if pending is not None and pending["status"] in ("stopped", "interrupted") else None


def _stopped_merge(project) -> str | None:
    """`wta merge --continue`, when a merge stopped or interrupted refuses every other `wta merge` until it is
    finished (or aborted); None otherwise."""
    from worktree_agents.merge.state import merge_status

    pending = merge_status(project.repo.state_dir)
    return "wta merge --continue" if pending is not None and pending["status"] != "running" else None


def _describe(done: remove.Removed, streams, prefix: str, stopped_merge: str | None = None) -> str:
    """`streams`: those of the zones in force (a stream taken out of them cannot be merged); `prefix`:
    their branch prefix (its branch under an earlier one is renamed before it can be merged);
    `stopped_merge`: the command that finishes a stopped merge, which `wta merge STREAM` waits for."""
    removal = done.removal
    name = f"{done.stream:<12}"
    if done.refused and not done.work_at_risk:
        return f"{name} kept       {done.refused}"
    if done.refused and removal is not None:
        off = (registry.off_branch(removal.worktree, stream_branch(prefix, done.stream))
               if removal.worktree is not None else None)
        merge_it = (f"{stopped_merge} finishes the stopped merge, then wta merge {done.stream}" if stopped_merge
                    else f"wta merge {done.stream}")
        merge = (f"merge the commits ({off}; then {merge_it})" if done.stream in streams and off else
                 f"merge the commits ({merge_it})" if done.stream in streams else
                 f"put {done.stream} back in zones.yaml to merge the commits (it is no longer there), or keep "
                 "them under refs/wta/backup/ with --force --delete-branches")
        fixes = ([f"finish the {removal.stopped} there"] if removal.stopped else []) + \
                ([merge] if removal.commits else []) + \
                (["commit or delete the files"] if (removal.changes or removal.hidden) and not removal.stopped else [])
        fixes = fixes or ["fix that"]
        lines = [f"{name} kept       {done.refused}; {' and '.join(fixes)}, or rerun with --force to remove it "
                 "anyway:"]
        lines += [f"    {sha} {subject}" for sha, subject in removal.commits[:SHOWN]]
        lines += [f"    {quote_path(path)}" for path in removal.changes[:SHOWN]]
        lines += [f"    {quote_path(path)} (ignored)" for path in removal.hidden[:SHOWN]]
        extra = (max(len(removal.commits) - SHOWN, 0) + max(len(removal.changes) - SHOWN, 0)
                 + max(len(removal.hidden) - SHOWN, 0))
        if extra:
            lines.append(f"    ... and {extra} more")
        return "\n".join(lines)
    if done.branch_deleted and done.backup and removal is not None and removal.tip:
        branch = f"branch {done.branch} deleted; its tip {removal.tip[:12]} is kept as {done.backup}"
    elif done.branch_deleted:
        branch = f"branch {done.branch} deleted"
    elif removal is not None and removal.branch_exists:
        branch = f"branch {done.branch} kept"
    else:
        branch = "no branch"
    if done.worktree:
        lost = [*removal.changes, *removal.hidden] if removal is not None else []
        if lost:   # (--force: gone with the worktree, no backup of them; said, not silently)
            shown = ", ".join(quote_path(path) for path in lost[:5]) + (", ..." if len(lost) > 5 else "")
            branch += f"; {len(lost)} uncommitted or untracked file(s) discarded: {shown}"
        return f"{name} removed    {done.worktree} ({branch})"
    if done.forgotten:
        return f"{name} forgotten  its worktree was already gone ({branch})"
    return f"{name} no worktree ({branch})"
