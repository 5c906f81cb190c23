"""`wta hooks install|uninstall`: the pre-commit and commit-msg hooks."""

from __future__ import annotations

import os

from worktree_agents.errors import WtaError
from worktree_agents.hooks import install as hooks
from worktree_agents.project import Project
from worktree_agents.repo import Repo, record_stream
from worktree_agents.worktrees import registry
from worktree_agents.zones import check_streams
from worktree_agents.zones.in_force import refresh_cache


def install(stream: str | None = None) -> int:
    project = Project.find()
    zones = refresh_cache(project.repo)
    if stream is not None:
        check_streams([stream], zones.streams)
        if project.toplevel == project.main:
            raise WtaError(f"{project.toplevel}: the main worktree cannot be a stream; run this in the "
                           f"stream's worktree (git worktree add ../{stream} {zones.branch_for(stream)})")
    report = hooks.install(project.toplevel)  # first: it refuses before changing anything
    if stream is not None:
        record_stream(project.repo.git_dir, stream)
        print(f"recorded stream {stream!r} for {project.toplevel}")
    for adopted in registry.adopt_by_branch(project, zones):
        print(f"recorded stream {adopted.stream!r} for {adopted.path} (branch {adopted.branch})")
    reports = [report]
    if report.per_worktree and project.toplevel == project.main:
        # A relative core.hooksPath: every stream worktree has its own hooks directory.
        reports += [hooks.install(path) for path in _other_worktrees(project, streams_only=True)]
    for r in reports:
        for name in r.kept:
            print(f"kept your existing {name} hook as {name}{hooks.ORIGINAL_SUFFIX}; it still runs first")
        done = ", ".join(r.installed) or "none"
        print(f"hooks in {r.directory}: installed {done}" +
              (f"; already current: {', '.join(r.unchanged)}" if r.unchanged else ""))
    return 0


def uninstall() -> int:
    project = Project.find()
    reports = [hooks.uninstall(project.toplevel)]
    if reports[0].per_worktree:
        reports += [hooks.uninstall(path) for path in _other_worktrees(project, streams_only=False)]
    for report in reports:
        if not report.removed:
            print(f"no wta hooks in {report.directory}")
            continue
        print(f"removed wta's {', '.join(report.removed)} hook(s) from {report.directory}")
        for name in report.restored:
            print(f"restored your original {name} hook")
    return 0


def _other_worktrees(project: Project, streams_only: bool) -> list[str]:
    """The repository's other worktrees that exist (with `streams_only`, those recorded as a stream's)."""
    return [wt.path for wt in registry.list_worktrees(project.main)
            if wt.path != project.toplevel and not wt.bare and not wt.prunable and os.path.isdir(wt.path)
            and (not streams_only or Repo(registry.worktree_git_dir(wt.path), project.repo.common_dir).stream())]
