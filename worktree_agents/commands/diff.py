"""`wta diff STREAM [-p] [--json]`: what landing the stream would bring (`base...wta/STREAM`)."""

from __future__ import annotations

import sys

from worktree_agents import git
from worktree_agents.merge import review
from worktree_agents.commands.output import emit_json, use_colour
from worktree_agents.project import Project
from worktree_agents.zones.ownership import quote_path


def run(stream: str, patch: bool = False, as_json: bool = False) -> int:
    project = Project.find()
    found = review.stream_diff(project, stream)
    if as_json:
        emit_json(found.to_json())
        return 0
    behind = f", {found.behind} behind {found.base}" if found.behind else ""
    print(f"{found.branch}: {found.commits} commit(s) to land on {found.base}{behind}", flush=True)
    for v in found.outside_zone:   # (what `wta status` counts as violations, and `wta merge` refuses)
        print(f"outside the {stream} zone: {quote_path(v['path'])} ({(v['commit'] or '')[:12]}): {v['detail']}")
    if not found.files:
        print(f"nothing to land: {found.branch} changes no file beyond {found.base}")
        return 0
    sys.stdout.buffer.write(git.diff_text(found.base_head, found.head, patch, use_colour(), cwd=project.main,
                                          env=project.env))
    sys.stdout.flush()
    return 0
