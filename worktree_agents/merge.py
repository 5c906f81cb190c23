"""Merging the streams back into the base, one after another (`wta merge`).

For each stream, in `after` order: verify its commits (zone and prefix), rebase
it onto the current base inside its own worktree, run `test`, fast-forward the
base. The base only ever moves to a commit that passed all of that.

Nothing is lost and everything can be resumed: before anything moves, the base
and every stream branch are backed up under `refs/wta/backup/<run>/`, and before
every step the merge state (`<common>/wta/merge.json`) records the step, so a
merge that stopped (conflict, failed check) or was killed at any moment can be
continued (`continue_merge`) or undone (`abort_merge`). `predict_merge` plays
the whole sequence with `git merge-tree` and changes no ref and no file.

Returns data, never prints: the command renders the `MergeReport`.

Test aid: with WTA_MERGE_PAUSE_AT=<step> (or <step>:<stream>) the merge sleeps
(WTA_MERGE_PAUSE_SECONDS, default 600) right after recording that step, so a
test can kill it there. Steps: verify, rebase, test, fast-forward, merged.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Sequence

from worktree_agents import enforce, git, worktrees
from worktree_agents.sessions import process
from worktree_agents.errors import WtaError, cannot_write
from worktree_agents.state import command_lock, lock_holder
from worktree_agents.zones import CONFIG_FILE, ZoneMap

STATE_FILE = "merge.json"
REPORTS_DIR = "merges"
BACKUP_ROOT = "refs/wta/backup"
PAUSE_ENV = "WTA_MERGE_PAUSE_AT"
PAUSE_SECONDS_ENV = "WTA_MERGE_PAUSE_SECONDS"
STATE_VERSION = 1

# The steps one stream goes through; merge.json names the current one.
VERIFY, REBASE, TEST, FAST_FORWARD, MERGED_STEP = "verify", "rebase", "test", "fast-forward", "merged"
IN_FLIGHT = (VERIFY, REBASE, TEST, FAST_FORWARD)

# What happened to a stream.
MERGED = "merged"
WOULD_MERGE = "would-merge"              # --dry-run
SKIPPED = "skipped"                      # no branch, or nothing beyond the base
CONFLICT = "conflict"
VERIFY_FAILED = "verification-failed"
TEST_FAILED = "test-failed"
REFUSED = "refused"                      # session running, dirty or missing worktree, blocked fast-forward
NOT_REACHED = "not-reached"              # the sequence stopped before it
STOPS = (CONFLICT, VERIFY_FAILED, TEST_FAILED, REFUSED)

# Test outcomes.
PASSED, FAILED, NOT_RUN, NO_TEST = "passed", "failed", "not-run", "none"

# Session states whose process still runs (a stalled session is running, only quiet).
LIVE_SESSION = ("running", "stalled")


@dataclass
class Touch:
    """A commit on the base side that changed a file the stream conflicts on."""

    commit: str
    subject: str
    stream: str | None       # from its `[stream] ` prefix; None: a commit made on the base
    files: list[str]


@dataclass
class StreamResult:
    stream: str
    branch: str
    result: str
    commits: int = 0
    seconds: float = 0.0
    test: str = NOT_RUN
    detail: str = ""                                   # one line: why skipped, refused or stopped
    files: list[str] = field(default_factory=list)     # dirty, conflicted or out-of-zone paths
    problems: list[str] = field(default_factory=list)  # verification failures, one per line
    touched_by: list[Touch] = field(default_factory=list)
    worktree: str | None = None
    head: str | None = None                            # the commit the base moved to for it
    test_log: str | None = None


@dataclass
class MergeReport:
    status: str                  # merged | nothing | stopped | refused | aborted | dry-run
    ok: bool                     # False: exit 1 (a stream stopped, or would stop)
    base: str
    base_before: str
    base_after: str
    run_id: str | None = None
    dry_run: bool = False
    streams: list[StreamResult] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)   # what went wrong
    advice: list[str] = field(default_factory=list)     # what to do about it
    restored: list[dict[str, str]] = field(default_factory=list)  # --abort: refs put back
    kept: list[dict[str, str]] = field(default_factory=list)      # --abort: later work saved under a backup ref
    saved: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


Progress = Callable[[str, str], None]   # (stream, one line)


def _quiet(stream: str, text: str) -> None:
    pass


# -- sessions -----------------------------------------------------------------

def session_running(state_dir: str, stream: str) -> int | None:
    """The pid of the stream's running session, or None.

    Looks where sessions record themselves: `<state dir>/sessions/<stream>.json`
    (`{"state": "running", "pid": N, "pid_create_time": T}`; "stalled" runs
    too) or a `session` entry of the stream in `<state dir>/state.json`. A
    missing file or field, a pid that no longer exists, or one the OS has given
    to another process since (its start time differs from the recorded one)
    means no session runs.
    """
    records = [_json_file(os.path.join(state_dir, "sessions", f"{stream}.json"))]
    state = _json_file(os.path.join(state_dir, "state.json"))
    streams = state.get("streams", state)
    entry = streams.get(stream) if isinstance(streams, dict) else None
    if isinstance(entry, dict):
        records.append(entry.get("session") if isinstance(entry.get("session"), dict) else entry)
    for record in records:
        pid = record.get("pid")
        if record.get("state") not in LIVE_SESSION or type(pid) is not int or pid <= 0:
            continue
        started = record.get("pid_create_time")
        if process.is_alive(pid, started if isinstance(started, (int, float)) else None):
            return pid
    return None


def _json_file(path: str) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


# -- what to merge ----------------------------------------------------------------

@dataclass
class _Plan:
    main: str
    state_dir: str
    base: str
    base_sha: str
    streams: list[str]                          # selected, in merge order
    branches: dict[str, str]
    tips: dict[str, str | None]                 # None: the branch does not exist
    worktrees: dict[str, str]                   # branch -> worktree that has it checked out
    base_worktree: str | None                   # where the base is checked out, if anywhere
    zones: ZoneMap
    test: str | None


def _plan(project, names: Sequence[str], env: dict[str, str], base: str | None = None) -> _Plan:
    config = project.config()
    unknown = [n for n in names if n not in config.streams]
    if unknown:
        raise WtaError(f"unknown stream {unknown[0]!r}; zones.yaml defines: {', '.join(config.streams)}")
    trees = worktrees.list_worktrees(project.main, env)
    if base is None:
        base = config.base or trees[0].branch
        if base is None:
            raise WtaError(f"{project.main}: HEAD is detached and zones.yaml sets no `base:`; check out the base "
                           "branch or set `base:` in zones.yaml")
    heads = git.branch_heads(project.main, env)
    if base not in heads:
        raise WtaError(f"base branch {base!r} does not exist; create it or set `base:` in zones.yaml")
    streams = [s for s in config.order() if not names or s in names]
    branches = {s: config.branch_for(s) for s in streams}
    checked_out = {w.branch: w.path for w in trees if w.branch and not w.bare and not w.prunable}
    return _Plan(
        main=project.main, state_dir=project.repo.state_dir, base=base, base_sha=heads[base].sha,
        streams=streams, branches=branches,
        tips={s: heads[b].sha if b in heads else None for s, b in branches.items()},
        worktrees=checked_out, base_worktree=checked_out.get(base),
        zones=_zones_in_force(project, config, base, env), test=config.test,
    )


def _zones_in_force(project, config, base: str, env: dict[str, str]) -> ZoneMap:
    """The zones of the base branch's committed zones.yaml (else the main worktree's).

    Read without touching the hooks' cache, so that --dry-run writes nothing.
    """
    committed = git.file_at(f"refs/heads/{base}", CONFIG_FILE, cwd=project.main, env=env)
    if committed is None:
        return config.zone_map()
    try:
        with open(project.config_path, "rb") as f:
            if f.read() == committed:
                return config.zone_map()
    except OSError:
        pass
    from worktree_agents import config as config_mod

    text = committed.decode("utf-8", "replace")
    return config_mod.load_text(text, f"{base}:{CONFIG_FILE}", repo_root=project.main).zone_map()


def _graph(plan: _Plan, base: str, streams: Sequence[str], env: dict[str, str]) -> git.CommitGraph:
    """Every commit the streams have beyond `base`, from one `git log`."""
    return git.CommitGraph(base, [plan.tips.get(s) for s in streams], cwd=plan.main, env=env)


def _boundary(commits: Sequence[git.CommitChanges]) -> set[str]:
    """The parents the stream's commits grow from (outside the stream)."""
    own = {c.sha for c in commits}
    return {p for c in commits for p in c.parents if p not in own}


def _git_env() -> dict[str, str]:
    """The environment of every git command of a merge: objects and parents as they really are.

    A replace ref (`git replace`) or a graft file would let a stream show the
    verification one commit and hand the base another.
    """
    return {**git.no_git_env(), "GIT_NO_REPLACE_OBJECTS": "1", "GIT_GRAFT_FILE": os.devnull + "/grafts"}


def _verify_result(result: StreamResult, plan: _Plan, base_now: str, new_head: str, env: dict[str, str]) -> bool:
    """Whether what the base would gain by moving to `new_head` stays in the zone (else `result` says why)."""
    stray = enforce.audit_result(plan.zones, result.stream, base_now, new_head, plan.main, env)
    if not stray:
        return True
    result.result, result.files = VERIFY_FAILED, list(dict.fromkeys(v.path for v in stray))
    result.problems = [f"{v.path}: {v.describe()}" for v in stray]
    result.detail = (f"{len(stray)} verification failure(s): {result.branch} on top of {plan.base} would change "
                     "paths outside its zone")
    return False


def _verify(zones: ZoneMap, stream: str, base: str, commits: Sequence[git.CommitChanges],
            cwd: str, env: dict[str, str]) -> tuple[list[str], list[str]]:
    """Every verification failure (one line each) and the paths outside the zone."""
    problems = [f"{c.sha[:12]} {c.subject!r}: no [{stream}] prefix"
                for c in reversed(commits) if not enforce.has_prefix(c.subject, stream)]
    if stream not in zones.zones:
        return problems + [f"stream {stream!r} is not in zones.yaml on {base!r}; commit zones.yaml there first"], []
    violations = enforce.audit_commits(zones, stream, commits, cwd, env)
    problems += [f"{(v.commit or '')[:12]} {v.path}: {v.describe()}" for v in violations]
    return problems, list(dict.fromkeys(v.path for v in violations))


def _session_refusal(plan: _Plan, stream: str) -> StreamResult | None:
    pid = session_running(plan.state_dir, stream)
    if not pid:
        return None
    return StreamResult(stream, plan.branches[stream], REFUSED,
                        detail=f"its session is running (pid {pid}); wait for it to end or stop it with "
                               f"`wta stop {stream}`")


def _readiness(plan: _Plan, stream: str, env: dict[str, str]) -> StreamResult | None:
    """Why this stream cannot be merged now (session, worktree), or None."""
    branch = plan.branches[stream]
    refused = _session_refusal(plan, stream)
    if refused:
        return refused
    where = plan.worktrees.get(branch)
    if where is None:
        return StreamResult(stream, branch, REFUSED, detail=f"no worktree has {branch} checked out; create one "
                                                            f"with `wta up {stream} --no-launch`")
    dirty = git.tracked_changes(where, env)
    if dirty:
        return StreamResult(stream, branch, REFUSED, files=dirty, worktree=where,
                            detail=f"uncommitted changes in {where}: {_list(dirty)}; commit or stash them there")
    return None


def _base_problem(plan: _Plan, env: dict[str, str]) -> str | None:
    if plan.base_worktree is None:
        return None
    dirty = git.tracked_changes(plan.base_worktree, env)
    if not dirty:
        return None
    return (f"the base branch {plan.base} is checked out in {plan.base_worktree} with uncommitted changes: "
            f"{_list(dirty)}; commit or stash them there first")


def _list(paths: Sequence[str], limit: int = 5) -> str:
    shown = ", ".join(paths[:limit])
    return shown + (f" and {len(paths) - limit} more" if len(paths) > limit else "")


def _touches(revs: Sequence[str], files: Sequence[str], cwd: str, env: dict[str, str]) -> list[Touch]:
    found = []
    for sha, subject, paths in git.commits_touching(revs, files, cwd=cwd, env=env):
        found.append(Touch(sha[:12], subject, enforce.split_subject(subject)[1], paths))
    return found


# -- the merge state ---------------------------------------------------------------

def _state_path(state_dir: str) -> str:
    return os.path.join(state_dir, STATE_FILE)


def _read_state(state_dir: str) -> dict[str, Any] | None:
    path = _state_path(state_dir)
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise WtaError(f"{path}: unreadable merge state ({exc}); the branches are backed up under "
                       f"{BACKUP_ROOT}/, restore them by hand and delete the file") from None
    if not isinstance(data, dict) or data.get("version") != STATE_VERSION:
        raise WtaError(f"{path}: not a merge state this wta understands; finish it with the wta that started it")
    return data


def _write_state(state_dir: str, state: dict[str, Any]) -> None:
    # Atomic rename without fsync: the state must survive a killed process
    # (which rename guarantees), and it is written before every step.
    _write_json(_state_path(state_dir), state)


def _write_json(path: str, data: dict[str, Any]) -> None:
    tmp = f"{path}.{os.getpid()}.tmp"
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=1)
        os.replace(tmp, path)
    except OSError as exc:  # a full disk: the last state written stays, and is what --continue resumes
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise cannot_write(path, exc) from None


def merge_status(state_dir: str) -> dict[str, Any] | None:
    """A merge under way, stopped or interrupted, as `wta status --json` shows it; None when there is none.

    `status`: `running` (a `wta merge` process holds the lock), `interrupted`
    (the state says running but its process is gone: killed), `stopped` (at a
    conflict or failed check), or `unreadable`.
    """
    try:
        st = _read_state(state_dir)
    except WtaError as exc:
        return {"status": "unreadable", "detail": str(exc)}
    if st is None:
        return None
    status = st.get("status")
    if status == "running":
        holder = lock_holder(state_dir)
        status = "running" if holder is not None and holder.command.startswith("wta merge") else "interrupted"
    return {"status": status, "run_id": st.get("run_id"), "base": st.get("base"), "stream": st.get("stream"),
            "step": st.get("step"), "started_at": st.get("started_at"),
            "detail": None if status == "running" else f"{_describe_state(st)}; run `wta merge --continue` to "
                                                       "finish it or `wta merge --abort` to undo it"}


def _describe_state(state: dict[str, Any]) -> str:
    where = f"at {state.get('stream')} ({state.get('step')})" if state.get("stream") else "before its first stream"
    how = "stopped" if state.get("status") == "stopped" else "interrupted"
    return f"merge {state['run_id']} into {state['base']} {how} {where}"


def _pause(step: str, stream: str) -> None:
    wanted = os.environ.get(PAUSE_ENV)
    if wanted and wanted in (step, f"{step}:{stream}"):
        time.sleep(float(os.environ.get(PAUSE_SECONDS_ENV, "600")))


def _backup_ref(run_id: str, ref: str, kind: str = "") -> str:
    return f"{BACKUP_ROOT}/{run_id}/{kind + '/' if kind else ''}{ref[len('refs/'):]}"


def _save_report(state_dir: str, report: MergeReport) -> None:
    path = os.path.join(state_dir, REPORTS_DIR, f"{report.run_id}.json")
    report.saved = path
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        _write_json(path, report.to_json())
    except (OSError, WtaError) as exc:  # the merge itself stands; only its saved copy is missing
        report.saved = None
        report.problems.append(str(exc if isinstance(exc, WtaError) else cannot_write(path, exc)))


# -- one run ---------------------------------------------------------------------

class _Run:
    """A merge under way: the plan, the persisted state, and the steps per stream."""

    def __init__(self, plan: _Plan, graph: git.CommitGraph, state: dict[str, Any], env: dict[str, str],
                 progress: Progress) -> None:
        self.plan, self.graph, self.state, self.env, self.progress = plan, graph, state, env, progress
        self.claimed: set[str] = set()   # commits merged by earlier streams of this run

    def save(self, step: str, stream: str, **fields: Any) -> None:
        self.state.update(step=step, stream=stream, **fields)
        _write_state(self.plan.state_dir, self.state)
        _pause(step, stream)

    def drive(self) -> MergeReport:
        st = self.state
        try:
            while st["index"] < len(st["streams"]):
                stream = st["streams"][st["index"]]
                result = self.merge_one(stream)
                st["results"][stream] = asdict(result)
                self.progress(stream, _line(result))
                if result.result in STOPS:
                    st["status"] = "stopped"
                    _write_state(self.plan.state_dir, st)
                    return self.report("stopped")
                st["index"] += 1
                if result.result == MERGED:
                    st["base_now"] = result.head
                    self.save(MERGED_STEP, stream)
        except git.GitError as exc:
            raise WtaError(f"{exc}; the merge state is kept: fix the cause, then `wta merge --continue` "
                           "(or `wta merge --abort`)") from None
        os.unlink(_state_path(self.plan.state_dir))
        return self.report("merged")

    def merge_one(self, stream: str) -> StreamResult:
        plan, st, env = self.plan, self.state, self.env
        started = time.monotonic()
        branch, tip, base_now = plan.branches[stream], plan.tips[stream], st["base_now"]
        if tip is None:
            return StreamResult(stream, branch, SKIPPED, detail=f"no branch {branch}")
        commits = self.graph.reachable(tip, self.claimed)
        if not commits:
            return StreamResult(stream, branch, SKIPPED, detail=f"nothing to merge: {branch} has no commits "
                                                                f"beyond {plan.base}")
        # Worktrees were checked just before the run; a session may have started since.
        refused = _session_refusal(plan, stream)
        if refused:
            return refused
        wt = plan.worktrees[branch]
        result = StreamResult(stream, branch, MERGED, commits=len(commits), worktree=wt,
                              test=NOT_RUN if plan.test else NO_TEST)
        self.save(VERIFY, stream, start=tip, new_head=None, worktree=wt, commits=len(commits))
        problems, files = _verify(plan.zones, stream, plan.base, commits, plan.main, env)
        if problems:
            result.result, result.problems, result.files = VERIFY_FAILED, problems, files
            result.detail = f"{len(problems)} verification failure(s) in {branch}"
            return _timed(result, started)
        ref = f"refs/heads/{branch}"
        if ref not in st["backups"]:
            # A stream that had nothing to merge when the run began.
            git.update_refs([(_backup_ref(st["run_id"], ref), tip, None)], "wta merge: backup", cwd=plan.main, env=env)
            st["backups"][ref] = tip
        elif tip != st["backups"][ref]:
            # Work added after an earlier stop: back it up too before rewriting it.
            git.update_refs([(_backup_ref(st["run_id"], ref, "retry"), tip, None)], "wta merge: backup",
                            cwd=plan.main, env=env)
        new_head = tip
        if _boundary(commits) != {base_now}:
            self.save(REBASE, stream)
            self.progress(stream, f"rebasing {len(commits)} commit(s) onto {plan.base}")
            new_head = self.rebase(result, tip, base_now)
            if new_head is None:
                return _timed(result, started)
        if not _verify_result(result, plan, base_now, new_head, env):
            if new_head != tip:
                self.restore(branch, tip, wt)
            return _timed(result, started)
        st["produced"].append(new_head)
        self.save(TEST, stream, new_head=new_head)
        if plan.test and not st["no_test"]:
            self.progress(stream, f"testing: {plan.test}")
            if not self.run_test(result, wt):
                self.restore(branch, tip, wt)
                return _timed(result, started)
        self.save(FAST_FORWARD, stream)
        blocked = self.fast_forward(new_head)
        if blocked:
            self.restore(branch, tip, wt)
            result.result, result.detail = REFUSED, blocked
            return _timed(result, started)
        self.claimed.update(c.sha for c in commits)
        result.head = new_head
        return _timed(result, started)

    def rebase(self, result: StreamResult, tip: str, onto: str) -> str | None:
        """Rebase the stream in its worktree; its new head, or None (result says why)."""
        plan, env, wt, branch = self.plan, self.env, result.worktree, result.branch
        assert wt is not None
        proc = git.run("-c", "rebase.autoStash=false", "-c", "rebase.updateRefs=false", "rebase", onto,
                       cwd=wt, env=env, check=False)
        if proc.returncode != 0:
            conflicted = git.unmerged_paths(wt, env)
            applying = git.run("rev-parse", "-q", "--verify", "REBASE_HEAD", cwd=wt, env=env, check=False)
            applying_sha = applying.stdout.decode().strip()
            self.restore(branch, tip, wt)
            if conflicted:
                result.result, result.files = CONFLICT, conflicted
                result.touched_by = _touches([f"^{tip}", onto], conflicted, plan.main, env)
                commit = self.graph.commits.get(applying_sha)
                during = f" while applying {applying_sha[:12]} {commit.subject!r}" if commit else ""
                result.detail = f"rebasing {branch} onto {plan.base} conflicts in {_list(conflicted)}{during}"
            else:
                lines = proc.stderr.decode(errors="replace").strip().splitlines() or [f"exit {proc.returncode}"]
                result.result, result.detail = REFUSED, f"git rebase failed in {wt}: {lines[-1]}"
            return None
        new_head, orig = git.out("rev-parse", "HEAD", "ORIG_HEAD", cwd=wt, env=env).split()
        if orig != tip:
            # Someone committed while we merged: those commits were not verified.
            self.restore(branch, orig, wt)
            result.result = REFUSED
            result.detail = f"{branch} got new commits during the merge; `wta merge --continue` verifies them"
            return None
        return new_head

    def run_test(self, result: StreamResult, wt: str) -> bool:
        plan = self.plan
        log = os.path.join(plan.state_dir, REPORTS_DIR, self.state["run_id"], f"{result.stream}.test.log")
        os.makedirs(os.path.dirname(log), exist_ok=True)
        env = {**self.env, "WTA_STREAM": result.stream, "WTA_WORKTREE": wt}
        with open(log, "wb") as out:
            code = subprocess.run(plan.test or "", shell=True, cwd=wt, env=env, stdin=subprocess.DEVNULL,
                                  stdout=out, stderr=subprocess.STDOUT).returncode
        result.test_log = log
        if code == 0:
            result.test = PASSED
            return True
        result.result, result.test = TEST_FAILED, FAILED
        result.detail = f"`{plan.test}` exited {code} in {wt} (log: {log})"
        return False

    def fast_forward(self, new_head: str) -> str | None:
        """Move the base to `new_head` (its worktree's files too); why not, or None."""
        plan, env, old = self.plan, self.env, self.state["base_now"]
        where = plan.base_worktree
        if where is None:
            try:
                git.update_refs([(f"refs/heads/{plan.base}", new_head, old)], "wta merge: fast-forward",
                                cwd=plan.main, env=env)
            except git.GitError as exc:
                return f"cannot move {plan.base}: {exc}"
            return None
        head = git.run("symbolic-ref", "-q", "HEAD", cwd=where, env=env, check=False).stdout.decode().strip()
        if head != f"refs/heads/{plan.base}":
            return f"{where} no longer has {plan.base} checked out; check it out again, then `wta merge --continue`"
        proc = git.run("merge", "--ff-only", "-q", new_head, cwd=where, env=env, check=False)
        if proc.returncode != 0:
            lines = proc.stderr.decode(errors="replace").strip().splitlines() or [f"exit {proc.returncode}"]
            return f"cannot fast-forward {plan.base} in {where}: {lines[-1]}"
        return None

    def restore(self, branch: str, target: str, wt: str | None) -> None:
        _restore_branch(self.plan.main, branch, target, wt, self.env)

    def report(self, status: str) -> MergeReport:
        plan, st = self.plan, self.state
        results = [_result_from(st["results"][s]) if s in st["results"] else
                   StreamResult(s, plan.branches[s], NOT_REACHED) for s in st["streams"]]
        report = MergeReport(status, status == "merged", plan.base, st["base_start"], st["base_now"],
                             st["run_id"], streams=results)
        if status == "stopped":
            stopped = results[st["index"]]
            report.problems, report.advice = _explain(stopped, plan)
        _save_report(plan.state_dir, report)
        return report


def _timed(result: StreamResult, started: float) -> StreamResult:
    result.seconds = round(time.monotonic() - started, 3)
    return result


def _result_from(data: dict[str, Any]) -> StreamResult:
    return StreamResult(**{**data, "touched_by": [Touch(**t) for t in data.get("touched_by", [])]})


def _restore_branch(main: str, branch: str, target: str, wt: str | None, env: dict[str, str]) -> None:
    """Put a branch back at `target`; in its worktree, files follow (never dropping local changes)."""
    ref = f"refs/heads/{branch}"
    if wt and os.path.isdir(wt):
        if git.rebase_in_progress(wt, env):
            git.run("rebase", "--abort", cwd=wt, env=env, check=False)
        head = git.run("symbolic-ref", "-q", "HEAD", cwd=wt, env=env, check=False).stdout.decode().strip()
        if head == ref:
            if git.out("rev-parse", "HEAD", cwd=wt, env=env) != target:
                proc = git.run("reset", "-q", "--keep", target, cwd=wt, env=env, check=False)
                if proc.returncode != 0:
                    raise WtaError(f"cannot put {branch} back to {target[:12]} in {wt}: local changes there are in "
                                   f"the way; commit or stash them, then run the same wta merge command again")
            return
    git.update_refs([(ref, target, None)], "wta merge: restore", cwd=main, env=env)


def _line(result: StreamResult) -> str:
    """The progress line for a finished stream."""
    if result.result in (MERGED, WOULD_MERGE):
        test = f", test {result.test}" if result.test in (PASSED, FAILED) else ""
        verb = "merged" if result.result == MERGED else "would merge"
        return f"{verb} {result.commits} commit(s) in {result.seconds:.1f}s{test}"
    return f"{result.result}: {result.detail}"


def _explain(result: StreamResult, plan: _Plan) -> tuple[list[str], list[str]]:
    """What went wrong with a stopped stream, and what to do."""
    s, wt, base = result.stream, result.worktree or f"the {result.stream} worktree", plan.base
    problems = [f"{s}: {result.detail}"]
    problems += [f"  {p}" for p in result.problems]
    for touch in result.touched_by:
        who = f"stream {touch.stream}" if touch.stream else f"a commit on {base}"
        problems.append(f"  {_list(touch.files)}: also changed by {who} in {touch.commit[:12]} {touch.subject!r}")
    then = "then `wta merge --continue` (or `wta merge --abort` to put every branch back)"
    if result.result == CONFLICT:
        advice = [f"resolve it in {wt}: `git rebase {base}`, fix {_list(result.files)}, `git add` them and "
                  f"`git rebase --continue`; {then}"]
    elif result.result == VERIFY_FAILED:
        advice = [f"fix the commits of {result.branch} in {wt}: leave out-of-zone changes to their owner "
                  f"(`wta request`) and give every commit the [{s}] prefix (`git rebase -i {base}`); {then}"]
    elif result.result == TEST_FAILED:
        advice = [f"reproduce it in {wt} with `git rebase {base}` and `{plan.test}`, commit a fix; {then}"]
    else:
        advice = [f"fix that; {then}"]
    return problems, advice


# -- entry points ------------------------------------------------------------------

def merge_streams(project, names: Sequence[str] = (), no_test: bool = False,
                  progress: Progress = _quiet) -> MergeReport:
    """Merge the named streams (all when none) into the base, in order."""
    env = _git_env()
    state_dir = project.repo.state_dir
    with command_lock(state_dir, "wta merge"):
        existing = _read_state(state_dir)
        if existing is not None:
            raise WtaError(f"a {_describe_state(existing)}; run `wta merge --continue` to finish it or "
                           "`wta merge --abort` to undo it")
        plan = _plan(project, names, env)
        graph = _graph(plan, plan.base_sha, plan.streams, env)
        pending = _pending(plan, graph, plan.streams)
        if not pending:
            return MergeReport("nothing", True, plan.base, plan.base_sha, plan.base_sha, streams=[
                StreamResult(s, b, SKIPPED, detail=f"nothing to merge beyond {plan.base}" if plan.tips[s]
                             else f"no branch {b}") for s, b in plan.branches.items()])
        problems, refused = _refusals(plan, pending, env)
        if problems:
            return MergeReport("refused", False, plan.base, plan.base_sha, plan.base_sha, problems=problems,
                               advice=["nothing was changed; fix the above, then run `wta merge` again"],
                               streams=[refused.get(s) or StreamResult(s, b, NOT_REACHED)
                                        for s, b in plan.branches.items()])
        run_id = time.strftime("%Y%m%d-%H%M%S", time.gmtime()) + "-" + os.urandom(2).hex()
        backups = {f"refs/heads/{plan.base}": plan.base_sha}
        backups.update({f"refs/heads/{plan.branches[s]}": plan.tips[s] for s in pending})
        git.update_refs([(_backup_ref(run_id, ref), sha, git.ZERO_SHA) for ref, sha in backups.items()],
                        "wta merge: backup", cwd=plan.main, env=env)
        state = {
            "version": STATE_VERSION, "run_id": run_id, "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "base": plan.base, "base_start": plan.base_sha, "base_now": plan.base_sha,
            "streams": plan.streams, "branches": plan.branches, "backups": backups, "produced": [], "no_test": no_test,
            "index": 0, "status": "running", "stream": None, "step": None, "results": {},
        }
        _write_state(state_dir, state)
        return _Run(plan, graph, state, env, progress).drive()


def _pending(plan: _Plan, graph: git.CommitGraph, streams: Sequence[str]) -> list[str]:
    """The streams that bring commits of their own, in order."""
    claimed: set[str] = set()
    pending = []
    for stream in streams:
        commits = graph.reachable(plan.tips[stream], claimed)
        if commits:
            pending.append(stream)
            claimed.update(c.sha for c in commits)
    return pending


def _refusals(plan: _Plan, pending: Sequence[str], env: dict[str, str]) -> tuple[list[str], dict[str, StreamResult]]:
    """Check every stream to merge, and the base's worktree, before anything moves."""
    problem = _base_problem(plan, env)
    problems = [problem] if problem else []
    refused = {}
    for stream in pending:
        result = _readiness(plan, stream, env)
        if result:
            refused[stream] = result
            problems.append(f"{stream}: {result.detail}")
    return problems, refused


def continue_merge(project, no_test: bool = False, progress: Progress = _quiet) -> MergeReport:
    """Finish a merge that stopped or was killed, from the stream it was at."""
    env = _git_env()
    state_dir = project.repo.state_dir
    with command_lock(state_dir, "wta merge --continue"):
        st = _read_state(state_dir)
        if st is None:
            raise WtaError("no merge in progress; start one with `wta merge`")
        if st["status"] == "running":
            _recover(project.main, st, env)
        plan = _plan(project, st["streams"], env, base=st["base"])
        if plan.base_sha != st["base_now"]:
            if not git.is_ancestor(st["base_now"], plan.base_sha, cwd=plan.main, env=env):
                raise WtaError(f"{plan.base} was moved away from the merged streams ({st['base_now'][:12]} is no "
                               f"longer in it); put it back or run `wta merge --abort`")
            st["base_now"] = plan.base_sha  # commits added on the base meanwhile (a fix) are kept
        st["no_test"] = st["no_test"] or no_test
        remaining = st["streams"][st["index"]:]
        graph = _graph(plan, st["base_now"], remaining, env)
        problems, refused = _refusals(plan, _pending(plan, graph, remaining), env)
        if problems:
            _write_state(state_dir, st)  # keeps what recovery found out
            return MergeReport("refused", False, plan.base, st["base_start"], st["base_now"], st["run_id"],
                               problems=problems,
                               advice=["the merge state is kept; fix the above, then run `wta merge --continue` "
                                       "again (or `wta merge --abort`)"],
                               streams=[refused.get(s) or (_result_from(st["results"][s]) if s in st["results"]
                                                           else StreamResult(s, b, NOT_REACHED))
                                        for s, b in plan.branches.items()])
        st["status"] = "running"
        for stream in remaining:
            st["results"].pop(stream, None)
        _write_state(state_dir, st)
        return _Run(plan, graph, st, env, progress).drive()


def _recover(main: str, st: dict[str, Any], env: dict[str, str]) -> None:
    """After a killed merge: finish or undo the step it was killed in."""
    stream, step = st.get("stream"), st.get("step")
    if stream is None or step not in IN_FLIGHT:
        return  # killed between streams: nothing half-done
    branch = git.branch_heads(main, env)
    base_sha = branch[st["base"]].sha
    if step == FAST_FORWARD and st.get("new_head") and base_sha == st["new_head"]:
        st["results"][stream] = asdict(StreamResult(
            stream, st["branches"][stream], MERGED, commits=st.get("commits", 0), head=st["new_head"],
            worktree=st.get("worktree"), detail="its fast-forward had happened when the merge was interrupted"))
        st["base_now"] = base_sha
        st["index"] += 1
        st["step"] = MERGED_STEP
        return
    _restore_branch(main, st["branches"][stream], st["start"], st.get("worktree"), env)


def abort_merge(project) -> MergeReport:
    """Put the base and every stream branch back where they were before the merge began."""
    env = _git_env()
    state_dir = project.repo.state_dir
    main = project.main
    with command_lock(state_dir, "wta merge --abort"):
        st = _read_state(state_dir)
        if st is None:
            raise WtaError("no merge in progress; nothing to abort")
        wt = st.get("worktree")
        if st["status"] == "running" and wt and os.path.isdir(wt) and git.rebase_in_progress(wt, env):
            git.run("rebase", "--abort", cwd=wt, env=env, check=False)
        heads = git.branch_heads(main, env)
        checked_out = {w.branch: w.path for w in worktrees.list_worktrees(main, env) if w.branch}
        produced = set(st["produced"])
        base_ref = f"refs/heads/{st['base']}"
        report = MergeReport("aborted", True, st["base"], st["base_start"], st["base_start"], st["run_id"])
        # Streams first, the base last: the base's worktree is the one people look at.
        for ref in sorted(st["backups"], key=lambda r: r == base_ref):
            sha = st["backups"][ref]
            branch = ref[len("refs/heads/"):]
            current = heads[branch].sha if branch in heads else None
            if current == sha:
                continue
            if current and current not in produced:
                kept = _backup_ref(st["run_id"], ref, "aborted")
                git.update_refs([(kept, current, None)], "wta merge --abort: keep", cwd=main, env=env)
                report.kept.append({"ref": ref, "sha": current, "backup": kept})
            _restore_branch(main, branch, sha, checked_out.get(branch), env)
            report.restored.append({"ref": ref, "from": current or "", "to": sha})
        report.streams = [_result_from(st["results"][s]) for s in st["streams"] if s in st["results"]]
        os.unlink(_state_path(state_dir))
        _save_report(state_dir, report)
        return report


def predict_merge(project, names: Sequence[str] = ()) -> MergeReport:
    """What `wta merge` would do, stream after stream; changes no ref and no file.

    Each stream is merged with `git merge-tree` onto the predicted result of
    the streams before it (commit objects only, never a ref). A rebase replays
    commit by commit and stops at the first commit that conflicts, so it may
    name fewer files than the prediction.
    """
    env = _git_env()
    plan = _plan(project, names, env)
    graph = _graph(plan, plan.base_sha, plan.streams, env)
    report = MergeReport("dry-run", True, plan.base, plan.base_sha, plan.base_sha, dry_run=True)
    problem = _base_problem(plan, env)
    if problem:
        report.problems.append(problem)
    predicted, merged_tips, claimed = plan.base_sha, [], set()
    for stream in plan.streams:
        started = time.monotonic()
        branch, tip = plan.branches[stream], plan.tips[stream]
        commits = graph.reachable(tip, claimed)
        if tip is None or not commits:
            detail = f"no branch {branch}" if tip is None else f"nothing to merge: {branch} has no commits beyond {plan.base}"
            report.streams.append(StreamResult(stream, branch, SKIPPED, detail=detail))
            continue
        result = _readiness(plan, stream, env) or StreamResult(stream, branch, WOULD_MERGE, commits=len(commits),
                                                               worktree=plan.worktrees.get(branch))
        result.commits = len(commits)
        if result.result == WOULD_MERGE:
            problems, files = _verify(plan.zones, stream, plan.base, commits, plan.main, env)
            if problems:
                result.result, result.problems, result.files = VERIFY_FAILED, problems, files
                result.detail = f"{len(problems)} verification failure(s) in {branch}"
        if result.result == WOULD_MERGE:
            tree, conflicted = git.merge_tree(predicted, tip, cwd=plan.main, env=env)
            if conflicted:
                result.result, result.files = CONFLICT, conflicted
                result.touched_by = _touches([f"^{tip}", plan.base_sha, *merged_tips], conflicted, plan.main, env)
                result.detail = f"rebasing {branch} onto {plan.base} would conflict in {_list(conflicted)}"
            elif not _verify_result(result, plan, predicted, tree, env):
                pass
            else:
                predicted = git.commit_tree(tree, [predicted, tip], f"wta merge --dry-run: {stream}",
                                            cwd=plan.main, env=env)
                merged_tips.append(tip)
                claimed.update(c.sha for c in commits)
        report.streams.append(_timed(result, started))
        if result.result in STOPS:
            report.ok = False
            lines, _ = _explain(result, plan)
            report.problems += lines
    if problem:
        report.ok = False
    return report
