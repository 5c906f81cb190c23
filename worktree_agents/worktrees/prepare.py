"""Making the planned stream worktrees: branch, worktree, sparse checkout,
`copy:`, `setup:` and hooks, one stream's failure stopping no other."""

from __future__ import annotations

import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Sequence

from worktree_agents import git, layout, sandbox, shell
from worktree_agents.errors import WtaError
from worktree_agents.files import UnderWay
from worktree_agents.hooks import install as hooks
from worktree_agents.repo import WORKTREES_INSIDE, Repo, exclude, record_stream
from worktree_agents.state import StateStore, now
from worktree_agents.worktrees.copy import copy_files
from worktree_agents.worktrees.plan import StreamPlan, UpPlan
from worktree_agents.worktrees.registry import remember_branches, worktree_git_dir
from worktree_agents.worktrees.sparse import SparseSpec, sparse_spec

# Stream states written by `wta up`; sessions add their own.
PREPARED = "prepared"
FAILED = "failed"

# Worktrees checked out at once by `wta up` (at most one per core).
CHECKOUTS_AT_ONCE = 4


def checkouts_at_once(new: int) -> int:
    """How many of `new` worktrees `wta up` checks out side by side."""
    return max(1, min(new, os.cpu_count() or 1, CHECKOUTS_AT_ONCE))

# The first `git sparse-checkout set` of a repository writes its shared config
# (extensions.worktreeConfig); two at once would fail on git's config lock.
_SHARED_CONFIG = threading.Lock()

# `git worktree add` reads every registered worktree's files under .git/worktrees/
# (is the branch checked out elsewhere?); one registering at the same moment is
# still half-written there ("failed to read .git/worktrees/api/commondir"). So
# worktrees are registered one at a time, and checked out side by side after.
_REGISTER = threading.Lock()

# What `prepare_worktrees` did to a stream.
CREATED = "created"        # new worktree (and maybe new branch)
REUSED = "reused"          # existing worktree, brought up to date (recorded, copied, set up)
UNCHANGED = "unchanged"    # nothing to do


@dataclass(frozen=True)
class SetupResult:
    status: str                  # "ok" | "failed" | "none"
    command: str | None = None   # the command that failed
    exit_code: int | None = None
    log: str | None = None
    shared_config: str | None = None   # a command that could not write the repository's shared git config
    #                                    (read-only in the sandbox): a hook manager's install, which did nothing

    def as_record(self) -> dict[str, Any]:
        return {"status": self.status, "command": self.command, "exit_code": self.exit_code,
                "finished_at": now(), "log": self.log}


# A stream `wta up` left unprepared when it was stopped (Ctrl-C): its record's reason, and what `wta up` says.
STOPPED_BEFORE_SETUP = "wta up stopped before its copy: and setup: ran; run wta up again"


@dataclass
class Prepared:
    """What `prepare_worktrees` did for one stream."""

    stream: str
    branch: str
    path: str
    outcome: str                         # CREATED, REUSED, UNCHANGED, or FAILED
    new_branch: bool = False
    sparse: str | None = None            # "cone" or "patterns" when the worktree is sparse
    copied: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)    # `copy:` entries absent from the main worktree
    tracked: list[str] = field(default_factory=list)    # `copy:` entries git tracks, so not copied
    setup: SetupResult | None = None
    reason: str | None = None            # why it failed
    not_wtas_sparse: bool = False        # sparse though `sparse:` is false, and not made so by wta: left so


def prepare_worktrees(project, config, the_plan: UpPlan, store: StateStore,
                      on_start: Callable[[StreamPlan], None] | None = None,
                      hook_report: hooks.HookReport | None = None) -> Iterator[Prepared]:
    """Prepare each planned stream in turn; a failing stream does not stop the others.

    Each stream worktree gets wta's hooks (`hooks.attach`: `hooks.install` has
    written them) and, after `setup:`, the repository's hooks directory when it
    lacks it (`hooks.copy_repository_hooks`); what that changed goes into `hook_report`.

    The new worktrees are made a few at a time, ahead of the stream being
    prepared: their checkouts are most of the time and run in git processes,
    which overlap on several cores (docs/performance.md). All the rest, `copy:`
    and `setup:` included, runs one stream at a time, in order; with a `setup:`,
    only once every new worktree (and so its branch) is made, so that the setup's
    sandbox pins every other stream's branch. Close the generator early and the
    worktrees not yet started are not made.
    """
    env = project.env
    if the_plan.prune:
        git.prune_worktrees(project.main, env)
    exclude_file = os.path.join(project.repo.common_dir, "info", "exclude")
    new = [sp for sp in the_plan.streams if sp.is_new]
    remember_branches(project.repo.state_dir,
                      add=[*the_plan.earlier, *(sp.branch for sp in the_plan.streams if not sp.is_new)])
    specs = {sp.stream: sparse_spec(config, sp.stream) if config.sparse else None for sp in new}
    inside = [os.path.relpath(sp.path, project.main) for sp in new if _inside(sp.path, project.main)]
    if inside:  # worktrees placed in the repository: never `git add`ed as embedded repositories
        exclude(exclude_file, inside, WORKTREES_INSIDE)
    pool = ThreadPoolExecutor(max_workers=checkouts_at_once(len(new)))
    made: dict[str, Future[None]] = {}
    prepared: set[str] = set()
    hook_report = hook_report or hooks.HookReport(hooks.hooks_dir(project.repo.common_dir))
    try:
        made = {sp.stream: pool.submit(_create, project, the_plan.base, sp, specs[sp.stream], hook_report)
                for sp in new}
        if config.setup:
            # A stream's `setup:` runs sandboxed, with every other stream's branch pinned read-only:
            # a branch still being made would not be there to pin, and its setup could write it.
            wait(made.values())
        for stream_plan in the_plan.streams:
            if on_start:
                on_start(stream_plan)
            try:
                result = _prepare_stream(project, config, stream_plan, store, exclude_file,
                                         specs.get(stream_plan.stream), made.get(stream_plan.stream),
                                         hook_report)
            except WtaError as exc:  # fails this stream only; the others go on
                result = Prepared(stream_plan.stream, stream_plan.branch, stream_plan.path, FAILED, reason=str(exc))
                store.update_stream(stream_plan.stream, branch=stream_plan.branch, worktree=stream_plan.path,
                                    state=FAILED, reason=result.reason)
            prepared.add(stream_plan.stream)
            yield result
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        # Stopped early (Ctrl-C, an error): worktrees already made stay, tied to their streams; their
        # records say what is missing, and the next `wta up` does it.
        for sp in new:
            future = made.get(sp.stream)
            if sp.stream in prepared or future is None or future.cancelled() or future.exception() is not None:
                continue
            store.update_stream(sp.stream, branch=sp.branch, worktree=sp.path, created_at=now(), state=FAILED,
                                reason=STOPPED_BEFORE_SETUP,
                                sparse=specs[sp.stream].kind if specs[sp.stream] else None)


def _inside(path: str, root: str) -> bool:
    root = os.path.realpath(root)
    return os.path.realpath(path).startswith(root.rstrip(os.sep) + os.sep)


def _prepare_stream(project, config, sp: StreamPlan, store: StateStore, exclude_file: str, spec: SparseSpec | None,
                    made: Future[None] | None, hook_report: hooks.HookReport) -> Prepared:
    record = sp.record or {}
    result = Prepared(sp.stream, sp.branch, sp.path, UNCHANGED)
    if made is not None:
        try:
            made.result()
        except WtaError as exc:
            result.outcome, result.reason = FAILED, str(exc)
            store.update_stream(sp.stream, branch=sp.branch, worktree=sp.path, state=FAILED, reason=result.reason)
            return result
        result.outcome, result.new_branch = CREATED, not sp.branch_exists
        result.sparse = spec.kind if spec else None
    git_dir = worktree_git_dir(sp.path)
    if made is None and _checkout_cut_short(project, sp, git_dir):
        from worktree_agents.merge.recovery import clear_stale_locks

        clear_stale_locks([os.path.join(git_dir, "index.lock")], sp.path, then=f"run `wta up {sp.stream}` again")
        git.finish_checkout(sp.path, project.env)
        os.unlink(_checkout_journal(project, sp.stream))
        result.outcome = REUSED
    if Repo(git_dir, project.repo.common_dir).stream() != sp.stream:
        record_stream(git_dir, sp.stream)
        if result.outcome == UNCHANGED:
            result.outcome = REUSED
    if made is None:  # an existing worktree: its zone check may have been taken away since
        attached = len(hook_report.attached)
        hooks.attach(project.repo.common_dir, sp.path, hook_report)
        if len(hook_report.attached) > attached and result.outcome == UNCHANGED:
            result.outcome = REUSED
        if config.sparse or record.get("sparse"):
            if _follow_zone(project, config, sp, result):
                store.update_stream(sp.stream, sparse=result.sparse)
                if result.outcome == UNCHANGED:
                    result.outcome = REUSED
        elif os.path.exists(os.path.join(git_dir, "info", "sparse-checkout")):   # (`disable` leaves it)
            # Sparse, not by wta: by a person, or copied from the main worktree by an earlier wta's `git
            # worktree add`. Which, wta cannot tell: it is left as it is, and said.
            result.not_wtas_sparse = git.sparse_checkout_list(sp.path, project.env) is not None
    done_before = (not sp.is_new and record.get("worktree") == sp.path
                   and (record.get("setup") or {}).get("status") in ("ok", "none"))
    if done_before:
        copied = len(hook_report.copied)
        hooks.copy_repository_hooks(project.repo.common_dir, project.main, sp.path, hook_report)
        if len(hook_report.copied) > copied and result.outcome == UNCHANGED:
            result.outcome = REUSED
        return result
    if result.outcome == UNCHANGED:
        result.outcome = REUSED
    copied = copy_files(project.main, sp.path, config.copy_, exclude_file)
    result.copied, result.missing, result.tracked = copied.copied, copied.missing, copied.tracked
    if copied.failed:
        result.outcome, result.reason = FAILED, f"copy: {copied.failed}; fix it and run wta up again"
        result.setup = SetupResult("skipped")
    else:
        jail = (sandbox.for_config(config, project.main, project.repo.common_dir, sp.stream, sp.path)
                if config.setup else None)
        result.setup = run_setup(config.setup, sp.path, shell.stream_env(config, sp.stream, sp.path),
                                 store.log_path(sp.stream), jail)
    # After setup: (which may have made it), outside its sandbox, before the session's sandbox pins it.
    hooks.copy_repository_hooks(project.repo.common_dir, project.main, sp.path, hook_report)
    if config.setup and not hooks.zone_check_installed(project.repo.common_dir, sp.path, project.env):
        hooks.put_back(project.repo.common_dir, project.main, sp.path, hook_report)   # a manager's install took them
    if result.setup.status == "failed":
        result.outcome = FAILED
        result.reason = (f"setup command `{result.setup.command}` {_exit_text(result.setup.exit_code)}; "
                         f"see {result.setup.log}")
    store.update_stream(
        sp.stream, branch=sp.branch, worktree=sp.path, created_at=now() if sp.is_new else record.get("created_at") or now(),
        state=FAILED if result.outcome == FAILED else PREPARED, reason=result.reason,
        sparse=result.sparse if sp.is_new or result.sparse else record.get("sparse"), copied=result.copied,
        setup=result.setup.as_record())
    return result


def _checkout_cut_short(project, sp: StreamPlan, git_dir: str) -> bool:
    """Whether the `wta up` that made this worktree was killed before its checkout was done (SIGKILL; other
    ends undo the worktree): its journal is there, the worktree is tied to the stream (as wta ties one it
    made before its checkout) and the index git writes last is not. (A worktree that lost its index later,
    a person's to mend, has no journal; the journal of a `wta up` whose worktree was undone names none.)"""
    journal = _checkout_journal(project, sp.stream)
    if not os.path.lexists(journal):
        return False
    if os.path.lexists(os.path.join(git_dir, "index")) or \
            Repo(git_dir, project.repo.common_dir).stream() != sp.stream:
        os.unlink(journal)   # done, killed just before the journal went; or a worktree made since, not by it
        return False
    return True


def _follow_zone(project, config, sp: StreamPlan, result: Prepared) -> bool:
    """An existing worktree's sparse checkout brought to its zone as it is now (it was set only when the
    worktree was made: a widened zone stayed out of the agent's sight), or turned off with `sparse:`;
    whether it changed. Never while the stream's session runs there."""
    spec = sparse_spec(config, sp.stream) if config.sparse else None
    current = git.sparse_checkout_list(sp.path, project.env)
    wanted = None if spec is None else tuple(sorted(spec.entries)) if spec.cone else spec.entries
    if wanted == current:   # (git lists a cone's directories sorted, patterns as they were given)
        return False
    from worktree_agents.sessions.liveness import running_pid

    if running_pid(project.repo.state_dir, sp.stream):
        return False   # the next `wta up` after the session does it
    if spec is None:
        git.disable_sparse_checkout(sp.path, project.env)
    else:
        with _SHARED_CONFIG:
            git.set_sparse_checkout(spec.arguments(), sp.path, project.env,
                                    patterns=None if spec.cone else spec.entries)
    result.sparse = spec.kind if spec else None
    return True


def _exit_text(code: int | None) -> str:
    if code is not None and code < 0:
        return f"was killed by signal {-code}"
    return f"exited {code}"


def _create(project, base: str, sp: StreamPlan, spec: SparseSpec | None, hook_report: hooks.HookReport) -> None:
    """Make the worktree (and the branch); undo both if any step fails. Runs in a worker thread. Named while
    its checkout is under way: one a SIGKILL cuts short, the next `wta up` finishes (`_checkout_cut_short`)."""
    with UnderWay(_checkout_journal(project, sp.stream), sp.path):
        _make(project, base, sp, spec, hook_report)


def _make(project, base: str, sp: StreamPlan, spec: SparseSpec | None, hook_report: hooks.HookReport) -> None:
    env = project.env
    # Registered without a checkout (quick, one at a time: `_REGISTER`), then checked out: for a
    # sparse worktree after its patterns are set, so the full tree is never written.
    with _REGISTER:
        git.add_worktree(sp.path, sp.branch, project.main, env,
                         new_from=None if sp.branch_exists else f"refs/heads/{base}")
        remember_branches(project.repo.state_dir, add=[sp.branch])   # (see plan_up)
    try:
        # With no config of its own yet: not the main worktree's, which git copied (its sparse checkout,
        # a core.hooksPath, ...); complete, or sparse as its zone says. First: a kill later leaves none.
        git.drop_copied_worktree_config(worktree_git_dir(sp.path))
        # Tied to its stream before anything else: whatever stops `wta up` from here on, a worktree
        # that stays is one the hooks hold to its zone.
        record_stream(worktree_git_dir(sp.path), sp.stream)
        hooks.attach(project.repo.common_dir, sp.path, hook_report)
        if spec is not None:
            with _SHARED_CONFIG:
                git.set_sparse_checkout(spec.arguments(), sp.path, env, patterns=None if spec.cone else spec.entries)
        # With git's untracked cache in the new index (kept by every git command after, unless the
        # user's core.untrackedCache says false): `git status` then looks into only the directories
        # that changed since, a third of what `wta status` costs per worktree (docs/performance.md).
        git.checkout_with_untracked_cache(sp.path, env)
    except BaseException:  # Ctrl-C too: never leave a worktree whose checkout was not done
        with _REGISTER:
            git.remove_worktree(sp.path, project.main, env, force=True)
        if not sp.branch_exists:
            git.delete_branch(sp.branch, project.main, env)
        raise


def _checkout_journal(project, stream: str) -> str:
    return layout.path(project.repo.state_dir, layout.UP_CHECKOUT, stream=stream)


def run_setup(commands: Sequence[str], worktree: str, env: dict[str, str], log_path: str,
              jail: sandbox.Sandbox | None = None) -> SetupResult:
    """Run the `setup:` commands in a shell in the worktree (in the stream's sandbox `jail`),
    output appended to the stream's log.

    Stops at the first command that fails.
    """
    if not commands:
        return SetupResult("none")
    os.makedirs(os.path.dirname(log_path), exist_ok=True)
    refused = None
    with open(log_path, "ab") as log:
        for command in commands:
            log.write(f"== {now()} setup in {worktree}: {command}\n".encode())
            log.flush()
            start = os.fstat(log.fileno()).st_size
            code = shell.run(command, worktree, env, log, jail)
            if jail is not None and refused is None and jail.refused_shared_config(_output_since(log_path, start)):
                refused = command
            log.write(f"== exit {code}\n".encode())
            log.flush()
            if code != 0:
                return SetupResult("failed", command, code, log_path, refused)
    return SetupResult("ok", log=log_path, shared_config=refused)


def _output_since(log_path: str, start: int) -> bytes:
    with open(log_path, "rb") as f:
        f.seek(start)
        return f.read()
