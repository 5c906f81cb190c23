"""`wta sync [STREAM...]`: bring stream branches up to the base (worktree_agents/sync.py)."""

from __future__ import annotations

from typing import Sequence

from worktree_agents.worktrees import sync
from worktree_agents.commands.output import err
from worktree_agents.errors import CHECK
from worktree_agents.project import Project
from worktree_agents.state import command_lock


def run(streams: Sequence[str]) -> int:
    project = Project.find()
    with command_lock(project.repo.state_dir, "wta sync"):
        base, results = sync.sync_streams(project, streams)
    for r in results:
        (print if r.ok or r.no_branch else err)(f"{r.stream}: {r.line(base)}")
    # A stream with no branch yet has nothing to sync, as `wta merge` skips it: no failure. One refused for local
    # changes in its worktree exits 1, as `wta down` refusing for them does (the line says what to do).
    return 0 if all(r.ok or r.no_branch for r in results) else CHECK
