"""`wta merge [STREAM...] [--dry-run] [--continue] [--abort] [--no-test] [--json]`.

Progress lines while it runs, then a table (or one JSON document); what went
wrong and what to do on stderr. Exit 1 when a stream stopped (or would stop).
"""

from __future__ import annotations

from typing import Sequence

from worktree_agents import git
from worktree_agents.backups import BACKUP_ROOT
from worktree_agents.commands.output import emit_json, err, table
from worktree_agents.errors import CHECK, WtaError
from worktree_agents.merge import report as merge
from worktree_agents.merge.dry_run import predict_merge
from worktree_agents.merge.abort import abort_merge
from worktree_agents.merge.run import continue_merge, merge_streams
from worktree_agents.project import Project
from worktree_agents.quoting import shell_word
from worktree_agents.sessions import landing
from worktree_agents.sessions.store import BLOCKED, SessionStore
from worktree_agents.state import lock_holder

LANDING_WAIT = 3600.0   # seconds: a landing runs the `test:` command, which may be slow
TEST_TAIL_LINES = 10    # of a failed test's output, under the table (its log holds all of it)


def run(streams: Sequence[str], dry_run: bool, cont: bool, abort: bool, no_test: bool, as_json: bool) -> int:
    modes = [flag for flag, on in (("--dry-run", dry_run), ("--continue", cont), ("--abort", abort)) if on]
    if len(modes) > 1:
        raise WtaError(f"{' and '.join(modes)} cannot be combined; use one of them")
    if (cont or abort) and streams:
        raise WtaError(f"{modes[0]} takes no stream names: it finishes or undoes the merge that stopped, "
                       "with the streams it started with")
    project = Project.find()
    progress = merge.quiet if as_json else _print_progress
    wait = None if dry_run else _wait_for_landing(project.repo.state_dir)
    if streams and not (cont or abort):
        _say_unlanded_dependencies(project, streams)
    if dry_run:
        report = predict_merge(project, streams, no_test)
    elif cont:
        report = continue_merge(project, no_test, progress, lock_wait=wait)
    elif abort:
        report = abort_merge(project)
    else:
        _say_blocked(project, streams)
        report = merge_streams(project, streams, no_test, progress, lock_wait=wait)
    if as_json:
        emit_json(report.to_json())
    else:
        _render(report)
    for line in report.problems:
        err(line)
    for line in report.advice:
        err(line)
    return 0 if report.ok else CHECK


def _wait_for_landing(state_dir: str) -> float | None:
    """How long to wait for the command lock: as long as an automatic landing takes, saying so."""
    holder = lock_holder(state_dir)
    if holder is None or not landing.is_landing_command(holder.command):
        return None
    err(f"waiting for {holder.describe()} to finish")
    return LANDING_WAIT


def _say_blocked(project, streams: Sequence[str]) -> None:
    """A stream the automatic landing gave up on: its last failure, before this merge tries again."""
    store = SessionStore(project.repo.state_dir)
    for stream in streams or project.main_config().streams:
        record = store.read(stream)
        if record is not None and record.state == BLOCKED:   # (without what to do next: this merge is it)
            err(f"{stream}: blocked: {(record.reason or '').rpartition(landing.NEXT_STEP)[0] or record.reason}")


def _say_unlanded_dependencies(project, streams: Sequence[str]) -> None:
    """A stream named without a dependency (`after:`) that has not landed: merged as asked (the person's
    call: the dependency may be the one that is stuck), but not silently before the work it builds on."""
    config = project.main_config()
    env = project.env
    base = project.base(config)
    base_tip = git.tip_of(project.repo.common_dir, base, project.main, env)
    seen: set[str] = set()
    for stream in streams:
        if stream not in config.streams:
            continue   # (the merge names it, with the fix)
        for dependency in config.streams[stream].after:
            if dependency in streams or dependency in seen:
                continue
            seen.add(dependency)
            branch = config.branch_for(dependency)
            tip = git.tip_of(project.repo.common_dir, branch, project.main, env)
            if tip and base_tip and not git.is_ancestor(tip, base_tip, cwd=project.main, env=env):
                err(f"{stream} comes after {dependency}, which has not landed ({branch} has commits {base} lacks); "
                    f"merging {stream} as asked: `wta merge {dependency} {stream}` lands both in order")


def _print_progress(stream: str, text: str) -> None:
    print(f"{stream}: {text}", flush=True)


def _on_conflict(ref: dict[str, str]) -> str:
    """Where a take-back's cherry-pick that stops on a conflict leaves it, and what ends it once it is resolved
    there (as a stopped merge's conflict is said: where, `git add`, then the command)."""
    if "resolve_in" not in ref:
        return ""
    at = shell_word(ref["resolve_in"])
    if ref.get("made"):
        return (f"; it works in a worktree it makes for the branch at {at} and removes after; if its cherry-pick stops "
                f"on a conflict, the worktree stays at {at}: resolve the conflict there (`git add` the files), then "
                f"`{ref['then']}`")
    return (f"; if its cherry-pick stops on a conflict, resolve it in {at} (`git add` the files), then "
            f"`{ref['then']}`")


def _render(report: merge.MergeReport) -> None:
    if report.status == "aborted":
        for ref in report.restored:
            print(f"restored {ref['ref']} to {ref['to'][:12]}" + (f" (was {ref['from'][:12]})" if ref["from"] else ""))
        for ref in report.kept:
            print(f"kept {ref['ref']}'s commits made while the merge was stopped at {ref['backup']} "
                  f"({ref['sha'][:12]}), off the branch now; to take them back: `{ref['take_back']}`"
                  + _on_conflict(ref))
        if not report.restored:
            print("every branch was already where it was before the merge")
        print(f"merge {report.run_id} aborted; backups stay under {BACKUP_ROOT}/{report.run_id}/")
        return
    rows = [(r.stream, r.result, r.commits or "", f"{r.seconds:.1f}s" if r.seconds else "",
             r.test if r.result not in (merge.SKIPPED, merge.NOT_REACHED) else "",
             r.detail)   # (a merged stream's, when some of its commits were on the base already)
            for r in report.streams]
    print(table(("stream", "result", "commits", "time", "test", "detail"), rows))
    for r in report.streams:
        if r.result == merge.TEST_FAILED and r.test_log:
            tail = merge.output_tail(r.test_log, TEST_TAIL_LINES)
            print(f"{r.stream}: the last lines of its test's output (all of it in {r.test_log}):\n"
                  + "\n".join(f"    {line}" for line in tail.splitlines()))
    if report.dry_run:
        print(f"dry run: nothing was changed; {report.base} is at {report.base_before[:12]}")
        return
    moved = (f"{report.base}: {report.base_before[:12]} -> {report.base_after[:12]}"
             if report.base_after != report.base_before else
             f"{report.base} not moved by this merge (at {report.base_before[:12]} when it began)")
    saved = f" (report {report.saved})" if report.saved else ""
    print(moved + saved)
