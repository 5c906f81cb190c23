"""`wta merge [STREAM...] [--dry-run] [--continue] [--abort] [--no-test] [--json]`.

Progress lines while it runs, then a table (or one JSON document); what went
wrong and what to do on stderr. Exit 1 when a stream stopped (or would stop).
"""

from __future__ import annotations

from typing import Sequence

from worktree_agents.backups import BACKUP_ROOT
from worktree_agents.commands.output import emit_json, err, table
from worktree_agents.errors import CHECK, WtaError
from worktree_agents.merge import report as merge
from worktree_agents.merge.dry_run import predict_merge
from worktree_agents.merge.run import abort_merge, continue_merge, merge_streams
from worktree_agents.project import Project


def run(streams: Sequence[str], dry_run: bool, cont: bool, abort: bool, no_test: bool, as_json: bool) -> int:
    modes = [flag for flag, on in (("--dry-run", dry_run), ("--continue", cont), ("--abort", abort)) if on]
    if len(modes) > 1:
        raise WtaError(f"{' and '.join(modes)} cannot be combined; use one of them")
    if (cont or abort) and streams:
        raise WtaError(f"{modes[0]} takes no stream names: it finishes or undoes the merge that stopped, "
                       "with the streams it started with")
    project = Project.find()
    progress = merge.quiet if as_json else _print_progress
    if dry_run:
        report = predict_merge(project, streams)
    elif cont:
        report = continue_merge(project, no_test, progress)
    elif abort:
        report = abort_merge(project)
    else:
        report = merge_streams(project, streams, no_test, progress)
    if as_json:
        emit_json(report.to_json())
    else:
        _render(report)
    for line in report.problems:
        err(line)
    for line in report.advice:
        err(line)
    return 0 if report.ok else CHECK


def _print_progress(stream: str, text: str) -> None:
    print(f"{stream}: {text}", flush=True)


def _render(report: merge.MergeReport) -> None:
    if report.status == "aborted":
        for ref in report.restored:
            print(f"restored {ref['ref']} to {ref['to'][:12]}" + (f" (was {ref['from'][:12]})" if ref["from"] else ""))
        for ref in report.kept:
            print(f"kept {ref['ref']}'s later commits at {ref['backup']} ({ref['sha'][:12]})")
        if not report.restored:
            print("every branch was already where it was before the merge")
        print(f"merge {report.run_id} aborted; backups stay under {BACKUP_ROOT}/{report.run_id}/")
        return
    rows = [(r.stream, r.result, r.commits or "", f"{r.seconds:.1f}s" if r.seconds else "",
             r.test if r.result not in (merge.SKIPPED, merge.NOT_REACHED) else "",
             "" if r.result in (merge.MERGED, merge.WOULD_MERGE) else r.detail)
            for r in report.streams]
    print(table(("stream", "result", "commits", "time", "test", "detail"), rows))
    if report.dry_run:
        print(f"dry run: nothing was changed; {report.base} is at {report.base_before[:12]}")
        return
    moved = (f"{report.base}: {report.base_before[:12]} -> {report.base_after[:12]}"
             if report.base_after != report.base_before else f"{report.base} unchanged at {report.base_before[:12]}")
    saved = f" (report {report.saved})" if report.saved else ""
    print(moved + saved)
