"""Stream worktrees: where they go, preparing them (branch, worktree, sparse
checkout, copied files, setup), tying them to streams, and removing them.

Nothing here prints: `prepare` and `remove` return what they did, and the
commands render it. Everything that touches more than one stream is checked by
`plan` / `plan_removal` before anything is changed.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Sequence

from worktree_agents import git, hooks
from worktree_agents.errors import WtaError
from worktree_agents.snapshot import GLOB_CHARS, Repo, ZonesInForce, exclude, record_stream
from worktree_agents.state import StateStore, now
from worktree_agents.zones import CONFIG_FILE

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

# What `prepare` did to a stream.
CREATED = "created"        # new worktree (and maybe new branch)
REUSED = "reused"          # existing worktree, brought up to date (recorded, copied, set up)
UNCHANGED = "unchanged"    # nothing to do


@dataclass(frozen=True)
class Worktree:
    path: str
    head: str | None
    branch: str | None      # short name, None when detached
    bare: bool = False
    prunable: bool = False
    locked: bool = False

    def git_dir(self) -> str:
        return Repo.here(self.path).git_dir

    @property
    def locked_away(self) -> bool:
        """Locked (`git worktree lock`) and its folder gone: git keeps its record, and so must wta."""
        return self.locked and not os.path.isdir(self.path)


def list_worktrees(cwd: str, env: dict[str, str] | None = None) -> list[Worktree]:
    """git's registered worktrees, the main one first."""
    fields = git.zsplit(git.run("worktree", "list", "--porcelain", "-z", cwd=cwd,
                                env=env or git.no_git_env()).stdout)
    found: list[Worktree] = []
    record: dict[str, str] = {}
    for field_ in fields + [""]:
        if field_ == "":
            if record:
                branch = record.get("branch")
                found.append(Worktree(record["worktree"], record.get("HEAD"),
                                      branch[len("refs/heads/"):] if branch and branch.startswith("refs/heads/") else branch,
                                      "bare" in record, "prunable" in record, "locked" in record))
            record = {}
            continue
        key, _, value = field_.partition(" ")
        record[key] = value
    return found


@dataclass(frozen=True)
class Adopted:
    stream: str
    path: str
    branch: str


def adopt_by_branch(project, zones: ZonesInForce) -> list[Adopted]:
    """Record the stream of worktrees made by hand on `<prefix><stream>` branches.

    Done once, when hooks are installed, and said out loud; the hooks read the
    record and never guess from the branch (an agent can switch branches).
    """
    adopted = []
    for wt in list_worktrees(project.main):
        if wt.path == project.main or wt.bare or wt.prunable or not wt.branch or not os.path.isdir(wt.path):
            continue
        if not wt.branch.startswith(zones.branch_prefix):
            continue
        stream = wt.branch[len(zones.branch_prefix):]
        if stream not in zones.streams:
            continue
        repo = Repo.here(wt.path)
        if repo.stream() is None:
            record_stream(repo.git_dir, stream)
            adopted.append(Adopted(stream, wt.path, wt.branch))
    return adopted


def worktree_git_dir(path: str) -> str:
    """A linked worktree's private git dir, read from its `.git` file (no git call)."""
    dot_git = os.path.join(path, ".git")
    try:
        with open(dot_git, encoding="utf-8") as f:
            text = f.read().strip()
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return Repo.here(path).git_dir
    if not text.startswith("gitdir:"):
        return Repo.here(path).git_dir
    return os.path.normpath(os.path.join(path, text[len("gitdir:"):].strip()))


# -- where streams go ---------------------------------------------------------------

def worktree_path(template: str, main: str, stream: str) -> str:
    """The `worktrees:` template filled in, relative to the main worktree, made absolute."""
    rel = template.replace("{repo}", os.path.basename(main.rstrip(os.sep))).replace("{stream}", stream)
    return os.path.realpath(os.path.join(main, os.path.expanduser(rel)))


def stream_port(config, stream: str) -> int:
    """WTA_PORT: base_port plus the stream's position in zones.yaml (0 for the first)."""
    return config.base_port + list(config.streams).index(stream)


def stream_env(config, stream: str, worktree: str) -> dict[str, str]:
    """The environment of everything wta runs for a stream (setup, sessions)."""
    return {**git.no_git_env(), "WTA_STREAM": stream, "WTA_WORKTREE": worktree,
            "WTA_PORT": str(stream_port(config, stream))}


def resolve_base(project, config) -> str:
    """The base branch: `base:` from zones.yaml, else the main worktree's branch; it must have commits."""
    env = project.env
    base = config.base
    head = git.run("symbolic-ref", "-q", "HEAD", cwd=project.main, env=env, check=False)
    head_ref = head.stdout.decode(errors="surrogateescape").strip() if head.returncode == 0 else None
    if base is None:
        if head_ref is None:
            raise WtaError(f"{project.main}: HEAD is detached, so there is no base branch; check out the base "
                           f"(git switch main) or set `base:` in {CONFIG_FILE}")
        if not head_ref.startswith("refs/heads/"):
            raise WtaError(f"{project.main}: HEAD points at {head_ref}, not a branch; check out the base branch")
        base = head_ref[len("refs/heads/"):]
    if not git.ok("rev-parse", "-q", "--verify", f"refs/heads/{base}^{{commit}}", cwd=project.main, env=env):
        if head_ref == f"refs/heads/{base}":
            raise WtaError(f"branch {base!r} has no commits yet (unborn); commit {CONFIG_FILE} and the code on it, "
                           "then run wta up")
        where = f"`base: {base}` in {CONFIG_FILE}" if config.base else f"the branch checked out in {project.main}"
        raise WtaError(f"base branch {base!r} ({where}) does not exist; create it (git branch {base}) or fix "
                       f"`base:` in {CONFIG_FILE}")
    return base


# -- planning `wta up` ---------------------------------------------------------------

@dataclass(frozen=True)
class StreamPlan:
    stream: str
    branch: str
    path: str
    branch_exists: bool
    registered: Worktree | None      # the stream's worktree, already registered at `path` on `branch`
    record: dict[str, Any] | None    # its state.json record

    @property
    def is_new(self) -> bool:
        return self.registered is None


@dataclass(frozen=True)
class Plan:
    base: str
    streams: list[StreamPlan]
    prune: bool                      # git has records of worktrees deleted by hand; prune them first


def plan(project, config, base: str, streams: Sequence[str], records: dict[str, dict]) -> Plan:
    """What `wta up` will do for each stream; raises before anything is changed if any stream cannot be prepared."""
    env = project.env
    worktrees = list_worktrees(project.main, env)
    live = [w for w in worktrees if not w.prunable and not w.bare]
    by_path = {os.path.realpath(w.path): w for w in live}
    by_branch = {w.branch: w for w in live if w.branch}
    branches = git.branch_heads(project.main, env)
    main = os.path.realpath(project.main)
    plans = []
    for stream in streams:
        branch = config.branch_for(stream)
        path = worktree_path(config.worktrees, project.main, stream)
        if branch == base:
            raise WtaError(f"stream {stream!r}: its branch {branch!r} is the base branch; set a `branch_prefix:` "
                           f"in {CONFIG_FILE} (e.g. wta/)")
        holder = by_branch.get(branch)
        for w in (holder, by_path.get(path)):
            if w is not None and w.locked_away:
                raise WtaError(f"stream {stream!r}: its worktree {w.path} is missing but locked (git worktree lock); "
                               f"bring it back, or unlock it (git worktree unlock {w.path}) and run again")
        if holder is not None and os.path.realpath(holder.path) != path:
            if os.path.realpath(holder.path) == main:
                raise WtaError(f"stream {stream!r}: branch {branch} is checked out in the main worktree "
                               f"{project.main}; switch it back to the base (git switch {base}) and run again")
            raise WtaError(f"stream {stream!r}: branch {branch} is checked out at {holder.path}, not at {path}; "
                           f"move it (git worktree move {holder.path} {path}) or remove it (git worktree remove "
                           f"{holder.path})")
        occupant = by_path.get(path)
        if occupant is not None and occupant.branch != branch:
            what = f"branch {occupant.branch}" if occupant.branch else "a detached HEAD"
            if os.path.realpath(occupant.path) == main:
                raise WtaError(f"stream {stream!r}: its worktree path {path} is the main worktree; change "
                               f"`worktrees:` in {CONFIG_FILE}")
            raise WtaError(f"{path}: already a worktree on {what}, not stream {stream!r}'s branch {branch}; remove it "
                           f"(git worktree remove {path}) or change `worktrees:` in {CONFIG_FILE}")
        if occupant is None and os.path.lexists(path) and (not os.path.isdir(path) or os.listdir(path)):
            raise WtaError(f"{path}: already exists and is not stream {stream!r}'s worktree; move it away or "
                           f"change `worktrees:` in {CONFIG_FILE}")
        plans.append(StreamPlan(stream, branch, path, branch in branches, occupant, records.get(stream)))
    return Plan(base, plans, any(w.prunable for w in worktrees))


# -- preparing streams ------------------------------------------------------------------

@dataclass(frozen=True)
class SetupResult:
    status: str                  # "ok" | "failed" | "none"
    command: str | None = None   # the command that failed
    exit_code: int | None = None
    log: str | None = None

    def as_record(self) -> dict[str, Any]:
        return {"status": self.status, "command": self.command, "exit_code": self.exit_code,
                "finished_at": now(), "log": self.log}


@dataclass
class Prepared:
    """What `prepare` did for one stream."""

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


def prepare(project, config, the_plan: Plan, store: StateStore,
            on_start: Callable[[StreamPlan], None] | None = None,
            hooks_per_worktree: bool = False) -> Iterator[Prepared]:
    """Prepare each planned stream in turn; a failing stream does not stop the others.

    With `hooks_per_worktree` (a relative core.hooksPath: `hooks.HookReport`),
    each worktree gets the hooks in its own hooks directory too.

    The new worktrees are made a few at a time, ahead of the stream being
    prepared: their checkouts are most of the time and run in git processes,
    which overlap on several cores (docs/performance.md). All the rest, `copy:`
    and `setup:` included, runs one stream at a time, in order. Close the
    generator early and the worktrees not yet started are not made.
    """
    env = project.env
    if the_plan.prune:
        git.run("worktree", "prune", cwd=project.main, env=env)
    exclude_file = os.path.join(project.repo.common_dir, "info", "exclude")
    new = [sp for sp in the_plan.streams if sp.is_new]
    specs = {sp.stream: sparse_spec(config, sp.stream) if config.sparse else None for sp in new}
    inside = [os.path.relpath(sp.path, project.main) for sp in new if _inside(sp.path, project.main)]
    if inside:  # worktrees placed in the repository: never `git add`ed as embedded repositories
        exclude(exclude_file, inside, "stream worktrees inside the repository (`worktrees:` in zones.yaml)")
    pool = ThreadPoolExecutor(max_workers=checkouts_at_once(len(new)))
    made: dict[str, Future[None]] = {}
    prepared: set[str] = set()
    try:
        made = {sp.stream: pool.submit(_create, project, the_plan.base, sp, specs[sp.stream]) for sp in new}
        for stream_plan in the_plan.streams:
            if on_start:
                on_start(stream_plan)
            try:
                result = _prepare_stream(project, config, stream_plan, store, exclude_file,
                                         specs.get(stream_plan.stream), made.get(stream_plan.stream),
                                         hooks_per_worktree)
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
                                reason="wta up stopped before its copy: and setup: ran; run wta up again",
                                sparse=specs[sp.stream].kind if specs[sp.stream] else None)


def _inside(path: str, root: str) -> bool:
    root = os.path.realpath(root)
    return os.path.realpath(path).startswith(root.rstrip(os.sep) + os.sep)


def _prepare_stream(project, config, sp: StreamPlan, store: StateStore, exclude_file: str, spec: SparseSpec | None,
                    made: Future[None] | None, hooks_here: bool) -> Prepared:
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
    if Repo(git_dir, project.repo.common_dir).stream() != sp.stream:
        record_stream(git_dir, sp.stream)
        if result.outcome == UNCHANGED:
            result.outcome = REUSED
    done_before = (not sp.is_new and record.get("worktree") == sp.path
                   and (record.get("setup") or {}).get("status") in ("ok", "none"))
    if done_before:
        if hooks_here:
            _install_hooks(result)
            if result.outcome == FAILED:
                store.update_stream(sp.stream, state=FAILED, reason=result.reason)
        return result
    if result.outcome == UNCHANGED:
        result.outcome = REUSED
    copied = copy_files(project.main, sp.path, config.copy_, exclude_file)
    result.copied, result.missing, result.tracked = copied.copied, copied.missing, copied.tracked
    if copied.failed:
        result.outcome, result.reason = FAILED, f"copy: {copied.failed}; fix it and run wta up again"
        result.setup = SetupResult("skipped")
    else:
        result.setup = run_setup(config.setup, sp.path, stream_env(config, sp.stream, sp.path),
                                 store.log_path(sp.stream))
    if result.setup.status == "failed":
        result.outcome = FAILED
        result.reason = (f"setup command `{result.setup.command}` {_exit_text(result.setup.exit_code)}; "
                         f"see {result.setup.log}")
    if hooks_here:  # after `setup:`, which may write that directory (husky's install does)
        _install_hooks(result)
    store.update_stream(
        sp.stream, branch=sp.branch, worktree=sp.path, created_at=now() if sp.is_new else record.get("created_at") or now(),
        state=FAILED if result.outcome == FAILED else PREPARED, reason=result.reason,
        sparse=result.sparse if sp.is_new else record.get("sparse"), copied=result.copied,
        setup=result.setup.as_record())
    return result


def _install_hooks(result: Prepared) -> None:
    """The hooks in the worktree's own hooks directory (a relative core.hooksPath)."""
    try:
        report = hooks.install(result.path)
    except WtaError as exc:
        if result.outcome != FAILED:
            result.outcome, result.reason = FAILED, str(exc)
        return
    if report.installed and result.outcome == UNCHANGED:
        result.outcome = REUSED


def _exit_text(code: int | None) -> str:
    if code is not None and code < 0:
        return f"was killed by signal {-code}"
    return f"exited {code}"


def _create(project, base: str, sp: StreamPlan, spec: SparseSpec | None) -> None:
    """Make the worktree (and the branch); undo both if any step fails. Runs in a worker thread."""
    env = project.env
    # Registered without a checkout (quick, one at a time: `_REGISTER`), then checked out: for a
    # sparse worktree after its patterns are set, so the full tree is never written.
    args = ["worktree", "add", "--quiet", "--no-checkout"]
    if sp.branch_exists:
        args += [sp.path, sp.branch]
    else:
        args += ["--no-track", "-b", sp.branch, sp.path, base]
    with _REGISTER:
        git.run(*args, cwd=project.main, env=env)
    try:
        # Tied to its stream before anything else: whatever stops `wta up` from here on, a worktree
        # that stays is one the hooks hold to its zone.
        record_stream(worktree_git_dir(sp.path), sp.stream)
        if spec is not None:
            with _SHARED_CONFIG:
                git.run("sparse-checkout", "set", *spec.arguments(), cwd=sp.path, env=env,
                        input=None if spec.cone else "".join(p + "\n" for p in spec.entries).encode())
        # With git's untracked cache in the new index (kept by every git command after, unless the
        # user's core.untrackedCache says false): `git status` then looks into only the directories
        # that changed since, a third of what `wta status` costs per worktree (docs/performance.md).
        git.run("-c", "core.untrackedCache=true", "checkout", "--quiet", cwd=sp.path, env=env)
    except BaseException:  # Ctrl-C too: never leave a worktree whose checkout was not done
        with _REGISTER:
            git.run("worktree", "remove", "--force", sp.path, cwd=project.main, env=env, check=False)
        if not sp.branch_exists:
            git.run("branch", "-D", sp.branch, cwd=project.main, env=env, check=False)
        raise


# -- sparse checkout ---------------------------------------------------------------------

@dataclass(frozen=True)
class SparseSpec:
    """What a sparse stream worktree checks out: its zone, the read_only paths and top-level files."""

    cone: bool
    entries: tuple[str, ...]   # directories (cone mode) or gitignore-style patterns

    @property
    def kind(self) -> str:
        return "cone" if self.cone else "patterns"

    def arguments(self) -> list[str]:
        if self.cone:
            # --skip-checks: a top-level name may be a file, which cone mode includes anyway.
            return ["--cone", "--sparse-index", "--skip-checks", "--", *self.entries]
        return ["--no-cone", "--stdin"]


def sparse_spec(config, stream: str) -> SparseSpec:
    """Cone mode (with a sparse index) when every pattern names a whole directory, patterns otherwise.

    Cone mode also checks out the files directly inside each parent directory
    of a zone directory (git's cone rules); pattern mode is exact but slower.
    """
    patterns = [*config.streams[stream].paths, *config.read_only]
    dirs = [_cone_dir(p) for p in patterns]
    if all(d is not None for d in dirs):
        return SparseSpec(True, tuple(dict.fromkeys(d for d in dirs if d)))
    # Top-level files, then the zone and read-only patterns, read like a .gitignore. Every pattern
    # names files, none only directories: git resolves a directory-only pattern (`name/`) for each
    # of the index's entries, which doubled the checkout of a 20,000-file tree (docs/performance.md).
    return SparseSpec(False, ("/*", "!/*/**", *(_file_form(p) for p in patterns)))


def _file_form(pattern: str) -> str:
    """A directory pattern as the files below it (`name/` as `**/name/**`, `/a/b/` as `/a/b/**`),
    which is also how the zones read it; any other pattern as it is."""
    negated = pattern.startswith("!")
    body = pattern[1:] if negated else pattern
    if not body.endswith("/") or not body.strip("/"):
        return pattern
    body = body.rstrip("/")
    if "/" not in body:  # gitignore: a directory name without a slash matches at any depth
        body = f"**/{body}"
    return f"{'!' if negated else ''}{body}/**"


def _cone_dir(pattern: str) -> str | None:
    """The directory a pattern names in whole (`src/lib/**`, `/src/lib/`, `/name`), else None."""
    if pattern.startswith("!"):
        return None
    anchored = pattern.startswith("/")
    body = pattern[1:] if anchored else pattern
    if body.endswith("/**"):
        body = body[:-3]
    elif body.endswith("/"):
        body = body[:-1]
    elif not (anchored and "/" not in body):
        return None  # a file or glob below the top level
    # gitignore: a slash before the end anchors the pattern at the root
    anchored = anchored or "/" in pattern.rstrip("/")
    if not body or not anchored or GLOB_CHARS & set(body):
        return None
    return body


# -- copy: and setup: ---------------------------------------------------------------------

@dataclass
class CopyResult:
    copied: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    tracked: list[str] = field(default_factory=list)
    failed: str | None = None       # the first copy that failed, and why


# `copy: [.env*]` matches dotfiles, as the same glob does in a .gitignore (Python 3.11+).
_HIDDEN = {"include_hidden": True} if sys.version_info >= (3, 11) else {}


def copy_files(main: str, worktree: str, entries: Sequence[str], exclude_file: str) -> CopyResult:
    """Copy untracked files (or directories, or globs) from the main worktree into a stream worktree.

    What is not already ignored is added to `info/exclude` (shared by every
    worktree), so the copies are never committed. Existing files are kept.
    """
    result = CopyResult()
    if not entries:
        return result
    env = git.no_git_env()
    found: list[str] = []
    for entry in entries:
        rel = entry.strip().lstrip("/")
        if GLOB_CHARS & set(rel):
            matches = sorted(glob.glob(rel, root_dir=main, recursive=True, **_HIDDEN))
            if not matches:
                result.missing.append(entry)
            found.extend(m for m in matches if m not in found)
        elif os.path.lexists(os.path.join(main, rel)):
            if rel not in found:
                found.append(rel)
        else:
            result.missing.append(entry)
    if not found:
        return result
    listed = git.zsplit(git.run("--literal-pathspecs", "ls-files", "-z", "--", *found, cwd=worktree, env=env).stdout)
    for rel in found:
        if any(path == rel or path.startswith(rel.rstrip("/") + "/") for path in listed):
            result.tracked.append(rel)
            continue
        source, target = os.path.join(main, rel), os.path.join(worktree, rel)
        if os.path.lexists(target):
            continue
        try:
            os.makedirs(os.path.dirname(target), exist_ok=True)
            if os.path.isdir(source) and not os.path.islink(source):
                shutil.copytree(source, target, symlinks=True)
            else:
                shutil.copy2(source, target, follow_symlinks=False)
        except (OSError, shutil.Error) as exc:  # a named pipe, a socket, an unreadable file, a full disk
            detail = exc.args[0][0][2] if isinstance(exc, shutil.Error) and exc.args and exc.args[0] else exc
            result.failed = f"cannot copy {rel}: {getattr(detail, 'strerror', None) or detail}"
            _remove_partial(target)  # the next `wta up` copies it whole
            break
        result.copied.append(rel)
    if result.copied:
        exclude(exclude_file, result.copied, "files copied into stream worktrees (`copy:` in zones.yaml)", worktree)
    return result


def _remove_partial(path: str) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    elif os.path.lexists(path):
        os.unlink(path)


def run_setup(commands: Sequence[str], worktree: str, env: dict[str, str], log_path: str) -> SetupResult:
    """Run the `setup:` commands in a shell in the worktree, output appended to the stream's log.

    Stops at the first command that fails.
    """
    if not commands:
        return SetupResult("none")
    os.makedirs(os.path.dirname(log_path), exist_ok=True)
    with open(log_path, "ab") as log:
        for command in commands:
            log.write(f"== {now()} setup in {worktree}: {command}\n".encode())
            log.flush()
            proc = subprocess.run(command, shell=True, cwd=worktree, env=env, stdin=subprocess.DEVNULL,
                                  stdout=log, stderr=subprocess.STDOUT)
            log.write(f"== exit {proc.returncode}\n".encode())
            log.flush()
            if proc.returncode != 0:
                return SetupResult("failed", command, proc.returncode, log_path)
    return SetupResult("ok", log=log_path)


# -- wta down ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Removal:
    """What `wta down` found for one stream, before changing anything."""

    stream: str
    branch: str
    branch_exists: bool
    worktree: Worktree | None            # the stream's registered worktree (never the main one)
    commits: list[tuple[str, str]]       # (short sha, subject) not in the base
    changes: list[str]                   # uncommitted and untracked files in the worktree
    in_main: bool = False                # the branch is checked out in the main worktree
    base_missing: bool = False           # no base branch: which commits are unmerged is unknown


@dataclass
class Removed:
    stream: str
    branch: str
    worktree: str | None = None          # the worktree path that was removed
    branch_deleted: bool = False
    forgotten: bool = False              # a state record was dropped (the worktree was gone already)
    refused: str | None = None           # why (part of) the stream was left alone
    work_at_risk: bool = False           # refused because commits or files would be lost
    removal: Removal | None = None


def prunable_worktrees(project) -> list[Worktree]:
    return [w for w in list_worktrees(project.main, project.env) if w.prunable]


def prune(project) -> None:
    git.run("worktree", "prune", cwd=project.main, env=project.env)


def plan_removal(project, base: str, prefix: str, streams: Sequence[str],
                 records: dict[str, dict]) -> list[Removal]:
    env = project.env
    live = [w for w in list_worktrees(project.main, env) if not w.prunable and not w.bare]
    main = os.path.realpath(project.main)
    by_path = {os.path.realpath(w.path): w for w in live}
    by_branch = {w.branch: w for w in live if w.branch}
    branches = git.branch_heads(project.main, env)
    removals = []
    for stream in streams:
        record = records.get(stream) or {}
        branch = record.get("branch") or f"{prefix}{stream}"
        worktree = by_path.get(os.path.realpath(record["worktree"])) if record.get("worktree") else None
        worktree = worktree or by_branch.get(branch)
        in_main = worktree is not None and os.path.realpath(worktree.path) == main
        if in_main:
            worktree = None
        revs = [branch] if branch in branches and branch != base else []
        if worktree is not None and worktree.head and worktree.branch != branch:
            revs.append(worktree.head)  # the worktree moved to another branch or detached: keep its work too
        base_missing = base not in branches
        commits = git.commits_not_in(base, revs, project.main, env) if not base_missing else []
        present = worktree is not None and os.path.isdir(worktree.path)
        changes = git.worktree_changes(worktree.path, env) if present else []
        removals.append(Removal(stream, branch, branch in branches, worktree, commits, changes, in_main,
                                base_missing and bool(revs)))
    return removals


def remove(project, base: str, removal: Removal, store: StateStore, force: bool,
           delete_branch: bool) -> Removed:
    """Remove a stream's worktree (and branch); refuses to lose commits or files unless `force`."""
    env = project.env
    done = Removed(removal.stream, removal.branch, removal=removal)
    if removal.in_main:
        done.refused = (f"branch {removal.branch} is checked out in the main worktree {project.main}, which "
                        f"wta down never touches; switch it to {base} first")
        return done
    if removal.worktree is not None and removal.worktree.locked_away:
        done.refused = (f"its worktree {removal.worktree.path} is missing but locked (git worktree lock); bring it "
                        f"back, or unlock it (git worktree unlock {removal.worktree.path}) and run again")
        return done
    at_risk = []
    if removal.base_missing and (removal.worktree is not None or delete_branch):
        at_risk.append(f"base branch {base!r} does not exist, so which commits are unmerged is unknown "
                       f"(create it, or fix `base:` in {CONFIG_FILE})")
    if removal.commits and (removal.worktree is not None or delete_branch):
        at_risk.append(f"{len(removal.commits)} commit(s) not in {base}")
    if removal.changes:
        at_risk.append(f"{len(removal.changes)} uncommitted or untracked file(s)")
    if at_risk and not force:
        done.refused, done.work_at_risk = " and ".join(at_risk), True
        return done
    if removal.worktree is not None:
        proc = git.run("worktree", "remove", *(["--force"] if force else []), removal.worktree.path,
                       cwd=project.main, env=env, check=False)
        if proc.returncode != 0:
            done.refused = f"git worktree remove failed: {_last_line(proc.stderr)}"
            return done
        done.worktree = removal.worktree.path
        try:
            os.rmdir(os.path.dirname(done.worktree))  # the folder `wta up` made for the worktrees, once empty
        except OSError:
            pass
    if store.remove_stream(removal.stream) and removal.worktree is None:
        done.forgotten = True
    if delete_branch and removal.branch_exists and removal.branch != base:
        proc = git.run("branch", "-D", removal.branch, cwd=project.main, env=env, check=False)
        if proc.returncode != 0:
            done.refused = f"git branch -D {removal.branch} failed: {_last_line(proc.stderr)}"
            return done
        done.branch_deleted = True
    return done


def _last_line(stderr: bytes) -> str:
    lines = stderr.decode(errors="replace").strip().splitlines()
    return lines[-1] if lines else "no message"
