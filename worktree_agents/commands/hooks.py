"""`wta hooks install|uninstall`: wta's hooks in every stream worktree (hooks/install.py)."""

from __future__ import annotations

import os

from worktree_agents.errors import WtaError
from worktree_agents.hooks import install as hooks
from worktree_agents.project import Project
from worktree_agents.quoting import shell_word
from worktree_agents.repo import record_stream
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
                           f"stream's worktree (git worktree add ../{stream} {shell_word(zones.branch_for(stream))})")
        record_stream(project.repo.git_dir, stream)
        print(f"recorded stream {stream!r} for {project.toplevel}")
    for adopted in registry.adopt_by_branch(project, zones):
        print(f"recorded stream {adopted.stream!r} for {adopted.path} (branch {adopted.branch})")
    streams = stream_worktrees(project)
    report = hooks.install(project.repo.common_dir, streams, project.main)
    print_report(report)
    if not streams:
        print("no stream worktrees yet: `wta up` makes them, with wta's hooks installed")
    elif not report.changed:
        print(f"wta's hooks are already installed in {len(streams)} stream worktree(s); nothing to do")
    return 0


def print_report(report: hooks.HookReport, new_worktrees: frozenset[str] = frozenset()) -> None:
    """What `hooks.install` changed, one line each (`wta up` prints it too, but says nothing of the
    worktrees it has just made)."""
    for path in report.restored:
        print(f"restored {path}, which an earlier wta had moved aside")
    for name, target in report.moved:
        print(f"a hook manager run in a stream worktree had written its {name} hook into wta's hooks directory; "
              f"moved to {target}, where it runs after wta's check")
    for name, kept in report.dropped:
        print(f"a hook manager run in a stream worktree had written its {name} hook into wta's hooks directory; "
              "removed it: " + (f"{kept} runs after wta's check" if kept else
                                "install that manager in the main worktree, and its hooks run after wta's check"))
    if report.put_back:
        print(f"zone check put back: wta's {', '.join(report.put_back)} hook(s) in {report.directory}")
    for worktree, before in report.replaced:
        print(f"{worktree}: its own core.hooksPath was {before}; wta's hooks run the repository's hooks after "
              "the zone check instead (`wta hooks uninstall` gives it back)")
    for worktree in report.attached:
        if worktree not in new_worktrees:
            print(f"zone check installed in {worktree}")
    for worktree, directory in report.copied:
        if worktree not in new_worktrees:
            print(f"{worktree}: copied the repository's hooks ({directory}) from the main worktree")
    for worktree, directory in report.missing:
        print(hooks.hooks_missing(worktree, directory))


def uninstall() -> int:
    project = Project.find()
    everywhere = [wt.path for wt in registry.list_worktrees(project.main)
                  if not wt.bare and not wt.prunable and os.path.isdir(wt.path)]
    report = hooks.uninstall(project.repo.common_dir, everywhere)
    if not report.changed:
        print("no wta hooks")
        return 0
    for path in report.restored:
        print(f"restored {path}, which an earlier wta had moved aside")
    for git_dir, before in report.given_back:
        print(f"{git_dir}: its own core.hooksPath is {before} again")
    print(f"removed wta's hooks from {len(report.detached)} stream worktree(s); "
          "the repository's own hooks run there as before")
    return 0


def stream_worktrees(project: Project) -> list[str]:
    """The worktrees that exist and are recorded as a stream's (never the main worktree)."""
    return [path for _, path in registry.stream_worktrees(project.main, project.repo.common_dir)]
