"""`wta zones [--json] [--all]`: each stream's patterns and files, overlaps, unowned files,
and what else the repository shows about zones.yaml (the checks `wta up` refuses on)."""

from __future__ import annotations

from worktree_agents.commands.output import emit_json, err, table
from worktree_agents.config import check_in_repository, unmatched_patterns
from worktree_agents.errors import CHECK, WtaError
from worktree_agents.project import Project
from worktree_agents.zones.ownership import quote_path

UNOWNED_SHOWN = 10  # without --all


def run(as_json: bool = False, show_all: bool = False) -> int:
    project = Project.find()
    config = project.main_config()
    zones = config.zone_map()
    files = project.tracked_files(project.main)
    counts, unowned = zones.owned_counts(files)
    checked = check_in_repository(config, project.config_path, files)
    problems = list(checked.problems)
    try:
        project.base(config)
    except WtaError as exc:
        problems.append(str(exc))
    warnings = unmatched_patterns(config, project.config_path, files)
    if as_json:
        emit_json({
            "config": project.config_path,
            "base": config.base,
            "unowned_policy": config.unowned,
            "read_only": list(config.read_only),
            "streams": [{"name": name, "paths": list(s.paths), "after": list(s.after),
                         "append_only": s.append_only, "files": counts[name],
                         "branch": config.branch_for(name)} for name, s in config.streams.items()],
            "overlaps": [{"path": p, "streams": list(s)} for p, s in checked.overlaps],
            "unowned": unowned,
            "problems": problems,
            "warnings": warnings,
        })
        return CHECK if problems else 0
    rows = [(name, counts[name], ", ".join(s.paths) + ("  (append-only)" if s.append_only else ""),
             ", ".join(s.after)) for name, s in config.streams.items()]
    print(table(("stream", "files", "patterns", "after"), rows))
    if config.read_only:
        print(f"\nread-only: {', '.join(config.read_only)} (and zones.yaml)")
    if unowned:
        policy = "no stream may change them" if config.unowned == "deny" else "any stream may change them"
        listed = unowned if show_all else unowned[:UNOWNED_SHOWN]
        more = len(unowned) - len(listed)
        shown = ", ".join(map(quote_path, listed)) + (f" and {more} more (--all lists them)" if more else "")
        print(f"\nunowned ({len(unowned)}, {policy}): {shown}")
    for warning in warnings:
        err(f"wta: warning: {warning}")
    for problem in problems:
        print(problem)
    return CHECK if problems else 0
