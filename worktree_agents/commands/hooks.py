"""`wta hooks install|uninstall`: the pre-commit and commit-msg hooks."""

from __future__ import annotations

from worktree_agents import hooks, worktrees
from worktree_agents.errors import WtaError
from worktree_agents.project import Project
from worktree_agents.snapshot import record_stream, refresh_snapshot


def install(stream: str | None = None) -> int:
    project = Project.find()
    zones = refresh_snapshot(project.repo)
    if stream is not None:
        if stream not in zones.streams:
            raise WtaError(f"unknown stream {stream!r}; zones.yaml defines: {', '.join(zones.streams)}")
        if project.toplevel == project.main:
            raise WtaError(f"{project.toplevel}: the main worktree cannot be a stream; run this in the "
                           f"stream's worktree (git worktree add ../{stream} {zones.branch_prefix}{stream})")
    report = hooks.install(project.toplevel)  # first: it refuses before changing anything
    if stream is not None:
        record_stream(project.repo.git_dir, stream)
        print(f"recorded stream {stream!r} for {project.toplevel}")
    for adopted in worktrees.adopt_by_branch(project, zones):
        print(f"recorded stream {adopted.stream!r} for {adopted.path} (branch {adopted.branch})")
    for name in report.kept:
        print(f"kept your existing {name} hook as {name}{hooks.ORIGINAL_SUFFIX}; it still runs first")
    done = ", ".join(report.installed) or "none"
    print(f"hooks in {report.directory}: installed {done}" +
          (f"; already current: {', '.join(report.unchanged)}" if report.unchanged else ""))
    return 0


def uninstall() -> int:
    project = Project.find()
    report = hooks.uninstall(project.toplevel)
    if not report.removed:
        print(f"no wta hooks in {report.directory}")
        return 0
    print(f"removed wta's {', '.join(report.removed)} hook(s) from {report.directory}")
    for name in report.restored:
        print(f"restored your original {name} hook")
    return 0
