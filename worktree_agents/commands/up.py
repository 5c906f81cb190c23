"""`wta up [STREAM...] [--runner R] [--no-launch] [-d/--detach] [--max-parallel N] [--land]`.

Prepares every stream (worktrees.prepare.prepare_worktrees) under the state
lock, one progress line per stream, then launches their sessions
(sessions.schedule) unless `--no-launch`.
"""

from __future__ import annotations

import os
import sys
from contextlib import closing
from typing import Sequence

from worktree_agents import git, sandbox
from worktree_agents.commands.hooks import print_report as print_hook_report
from worktree_agents.commands.output import use_colour
from worktree_agents.config import RUNNERS, ConfigError, check_in_repository
from worktree_agents.errors import CHECK, WtaError
from worktree_agents.interrupts import like_ctrl_c
from worktree_agents.hooks import install as hooks
from worktree_agents.project import Project
from worktree_agents.quoting import shell_word
from worktree_agents.repo import base_branch
from worktree_agents.state import StateStore, command_lock
from worktree_agents.worktrees import prepare as worktrees
from worktree_agents.worktrees.plan import StreamPlan, plan_up
from worktree_agents.zones import CONFIG_FILE, check_streams
from worktree_agents.zones.in_force import base_zones_blob, refresh_cache
from worktree_agents.zones.ownership import quote_path


def run(streams: Sequence[str], runner: str | None = None, no_launch: bool = False, detach: bool = False,
        max_parallel: int | None = None, interactive: bool = False, land: bool = False) -> int:
    if runner is not None and runner not in RUNNERS:
        raise WtaError(f"--runner {runner}: unknown runner; use one of {', '.join(RUNNERS)}")
    if max_parallel is not None and max_parallel < 1:
        raise WtaError(f"--max-parallel {max_parallel}: give at least 1")
    if no_launch:
        # Options that only say how sessions run: with --no-launch they would be silently ignored.
        launching = [flag for flag, on in (("--runner", runner is not None), ("--detach", detach),
                                           ("--max-parallel", max_parallel is not None),
                                           ("--interactive", interactive), ("--land", land)) if on]
        if launching:
            raise WtaError(f"--no-launch starts no session, so {' and '.join(launching)} would do nothing; "
                           "drop one or the other")
    project = Project.find()
    wrappers = None
    if not (no_launch or detach):
        # The session spawner's start (a Python importing the wrapper) runs on another core meanwhile.
        from worktree_agents.sessions.spawner import Spawner

        wrappers = Spawner(project.env)
        wrappers.start()
    try:
        with like_ctrl_c():   # killed while it checks worktrees out, it undoes them as on Ctrl-C
            return _up(project, streams, runner, no_launch, detach, max_parallel, interactive, land, wrappers)
    finally:
        if wrappers is not None:
            wrappers.close()   # (the coordinator closed it already, unless none ran)


def _up(project, streams: Sequence[str], runner: str | None, no_launch: bool, detach: bool,
        max_parallel: int | None, interactive: bool, land: bool, wrappers) -> int:
    config = project.main_config()
    check_streams(streams, list(config.streams), f"{project.config_path} defines")
    base = base_branch(project.main, config.base, project.env, last=project.recorded_base())
    checked = check_in_repository(config, project.config_path, project.tracked_files(project.main))
    if checked.problems:  # before anything is made: overlapping zones, a missing prompt_file
        raise ConfigError(checked.problems)
    committed = _refuse_uncommitted_zones(project, base)
    chosen = [s for s in config.order() if not streams or s in streams]
    # `sandbox: required` without bubblewrap: exit 2 before anything is made.
    if sandbox.require(config.sandbox, project.config_path) is None:
        if config.sandbox == "auto":
            print(f"not sandboxed: {sandbox.unavailable_reason()} (sessions and setup: commands can write outside "
                  "their worktree; `sandbox: off` in zones.yaml silences this)")
    elif sandbox.fifo_reason():
        print(f"sandboxed, but not fully: {sandbox.fifo_reason()}")

    if not no_launch:
        from worktree_agents.sessions.supervisor import refuse_while_scheduling

        refuse_while_scheduling(project.repo.state_dir, streams)
    store = StateStore(project.repo.state_dir)
    with command_lock(project.repo.state_dir):
        the_plan = plan_up(project, config, base, chosen, store.streams())
        if not no_launch:  # before any worktree is made, so that a missing `claude` leaves nothing behind
            from worktree_agents import sessions

            sessions.check_can_start(project, config, {sp.stream: sp.path for sp in the_plan.streams}, runner,
                                     interactive)
        refresh_cache(project.repo, base=base, main=project.main, validated=(committed, config))
        hook_report = hooks.install(project.repo.common_dir, [], project.main)
        progress = _Progress(sys.stdout, project, base)
        results = []
        # Closed on the way out of an error or Ctrl-C, so that no further worktree is started.
        with closing(worktrees.prepare_worktrees(project, config, the_plan, store, on_start=progress.start,
                                                 hook_report=hook_report)) as prepared:
            try:
                for result in prepared:
                    progress.done(result)
                    results.append(result)
            except KeyboardInterrupt:   # (Ctrl-C: the shell shows no more than ^C, unless it is said)
                done = {r.stream for r in results}
                left = [sp.stream for sp in the_plan.streams if sp.stream not in done]
                if left:
                    print(f"{', '.join(left)}: {worktrees.STOPPED_BEFORE_SETUP}", file=sys.stderr, flush=True)
                raise
    print_hook_report(hook_report, frozenset(sp.path for sp in the_plan.streams if sp.is_new))
    # Unless wta copied the main worktree's hooks directory in: what that install would have made.
    copied = {worktree for worktree, _ in hook_report.copied}
    for r in results:
        if r.setup and r.setup.shared_config and r.path not in copied:
            print(f"{r.stream}: setup command `{r.setup.shared_config}` could not change the repository's git config, "
                  "which the sandbox keeps read-only (a hook manager's install does nothing there); run it in the "
                  "main worktree, then `wta hooks install`")
    missing = sorted({m for r in results for m in r.missing})
    if missing:
        print(f"copy: not in the main worktree, so not copied: {', '.join(missing)}")
    tracked = sorted({t for r in results for t in r.tracked})
    if tracked:
        print("copy: tracked by git, so not copied (they come with the checkout): "
              + ", ".join(map(quote_path, tracked)))
    failed = [r for r in results if r.outcome == worktrees.FAILED]
    if no_launch:
        return CHECK if failed else 0
    ready = [r for r in results if r.outcome != worktrees.FAILED]
    if not ready:
        return CHECK   # launch() takes no streams for all of them: none of those asked for is ready
    from worktree_agents.commands.live import view_for
    from worktree_agents.sessions.schedule import launch

    code = launch(project, config, [r.stream for r in ready], lambda chosen: view_for(project, config, chosen), print,
                  runner=runner, detach=detach, max_parallel=max_parallel, interactive=interactive, land=land,
                  wrappers=wrappers)
    return max(code, CHECK if failed else 0)


def _refuse_uncommitted_zones(project, base: str) -> str | None:
    """The streams are made from the main worktree's zones.yaml, the hooks enforce the base's: they must
    agree. The base's zones.yaml blob id (None: never committed)."""
    committed = base_zones_blob(project.repo.common_dir, base, project.env)
    if committed is None:
        return None  # never committed: the main worktree's copy is the one in force (zones/in_force.py)
    here = git.hash_file(CONFIG_FILE, project.main, project.env)
    current = git.current_branch(project.main, project.env)
    if here != committed and current not in (None, base) and \
            git.rev_parse(f"HEAD:{CONFIG_FILE}", project.main, project.env) == here:
        # Committed, on the branch checked out here, which is not the base: neither `git commit` nor
        # `git restore` changes anything.
        raise WtaError(f"{project.config_path}: committed on {current}, but the hooks enforce the {CONFIG_FILE} "
                       f"committed on the base, {base}, which differs; bring the change to {base} (git switch "
                       f"{shell_word(base)} && git merge {shell_word(current)}), or switch to {base} and commit it "
                       "there, then run wta up")
    if here != committed:
        raise WtaError(f"{project.config_path}: differs from the {CONFIG_FILE} committed on {base}, which is the one "
                       f"the hooks enforce; commit it on {base} (git commit {CONFIG_FILE}) or undo the change "
                       f"(git restore {CONFIG_FILE}), then run wta up")
    return committed


class _Progress:
    """One line per stream; on a terminal a transient 'preparing' line first, and colour."""

    def __init__(self, stream, project, base: str) -> None:
        self.out = stream
        self.project, self.base = project, base
        self.live = use_colour(stream)
        self.cwd = os.getcwd()

    def start(self, plan: StreamPlan) -> None:
        if self.live:
            self.out.write(f"{plan.stream:<12} preparing {self._where(plan.path)} ...")
            self.out.flush()

    def done(self, r: worktrees.Prepared) -> None:
        word, colour = {
            worktrees.CREATED: ("created", "32"), worktrees.REUSED: ("reused", "32"),
            worktrees.UNCHANGED: ("up to date", "2"), worktrees.FAILED: ("failed", "31"),
        }[r.outcome]
        behind = self._behind(r)
        if r.outcome == worktrees.FAILED:
            detail = r.reason or ""
        elif behind:
            # Never "up to date": its session starts from the base as it is then (wta sync).
            word, colour = "behind", "33"
            detail = (f"{r.branch}  {self._where(r.path)}  ({behind} commit(s) behind {self.base}: brought up to it "
                      f"before its session starts, or now with `wta sync {r.stream}`)")
        elif r.outcome == worktrees.UNCHANGED:
            detail = f"{r.branch}  {self._where(r.path)}  (nothing to do)"
        else:
            parts = [f"{r.branch}{' (new branch)' if r.new_branch else ''}", self._where(r.path)]
            if r.sparse:
                parts.append(f"sparse ({r.sparse})")
            if r.copied:
                parts.append(f"copied {', '.join(r.copied)}")
            if r.setup and r.setup.status == "ok":
                parts.append("setup ok")
            detail = "  ".join(parts)
        if r.not_wtas_sparse and r.outcome != worktrees.FAILED:
            detail += ("  (sparse, though sparse: false; not by wta, so left so: `git sparse-checkout disable` "
                       "in it checks out every file)")
        if self.live:
            self.out.write(f"\r\x1b[K{r.stream:<12} \x1b[{colour}m{word:<11}\x1b[0m {detail}\n")
        else:
            self.out.write(f"{r.stream:<12} {word:<11} {detail}\n")
        self.out.flush()

    def _behind(self, r: worktrees.Prepared) -> int:
        """How far an existing stream branch is behind the base (a new one starts at it)."""
        if r.outcome == worktrees.FAILED or r.outcome == worktrees.CREATED and r.new_branch:
            return 0
        return git.count_commits(f"refs/heads/{r.branch}", f"refs/heads/{self.base}", cwd=self.project.main,
                                 env=self.project.env)

    def _where(self, path: str) -> str:
        rel = os.path.relpath(path, self.cwd)
        return rel if len(rel) < len(path) else path
