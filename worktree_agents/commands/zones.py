"""`wta zones [--json]`: each stream's patterns and files, overlaps, unowned files."""

from __future__ import annotations

from worktree_agents.commands.output import emit_json, table
from worktree_agents.project import Project
from worktree_agents.errors import CHECK


def run(as_json: bool = False) -> int:
    project = Project.find()
    config = project.config()
    zones = config.zone_map()
    files = project.tracked_files(project.main)
    counts, unowned = zones.owned_counts(files)
    overlaps = zones.overlaps(files)
    if as_json:
        emit_json({
            "config": project.config_path,
            "base": config.base,
            "unowned_policy": config.unowned,
            "read_only": list(config.read_only),
            "streams": [{"name": name, "paths": list(s.paths), "after": list(s.after),
                         "append_only": s.append_only, "files": counts[name],
                         "branch": config.branch_for(name)} for name, s in config.streams.items()],
            "overlaps": [{"path": p, "streams": list(s)} for p, s in overlaps],
            "unowned": unowned,
        })
        return CHECK if overlaps else 0
    rows = [(name, counts[name], ", ".join(s.paths) + ("  (append-only)" if s.append_only else ""),
             ", ".join(s.after)) for name, s in config.streams.items()]
    print(table(("stream", "files", "patterns", "after"), rows))
    if config.read_only:
        print(f"\nread-only: {', '.join(config.read_only)} (and zones.yaml)")
    if unowned:
        policy = "no stream may change them" if config.unowned == "deny" else "any stream may change them"
        shown = ", ".join(unowned[:10]) + (f" and {len(unowned) - 10} more" if len(unowned) > 10 else "")
        print(f"\nunowned ({len(unowned)}, {policy}): {shown}")
    for path, streams in overlaps:
        print(f"overlap: {path} is claimed by {' and '.join(streams)}; make the zones exclusive in zones.yaml")
    return CHECK if overlaps else 0
