"""The one place that runs git.

Stdlib only: the commit hooks import this module (so its value types are plain
named tuples, cheap to define at start-up: docs/performance.md). Output meant
for machines is read with `-z` and split on NUL, never screen-scraped.
"""

from __future__ import annotations

import os
from collections import namedtuple

from worktree_agents import programs
from worktree_agents.errors import WtaError

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing
if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Mapping, Sequence, Set
    from typing import Protocol

    class Jail(Protocol):
        """Where a git whose hooks run a worktree's files is started: a stream's sandbox
        (sandbox.Sandbox), which wraps the command line and its environment."""

        def wrap(self, argv: list[str], own_pids: bool = False, die_with_parent: bool = False) -> list[str]: ...

        def env(self, base: dict[str, str]) -> dict[str, str]: ...

# `git rev-parse --local-env-vars` on git 2.39: the variables that tie a git
# process to one repository. Git exports some of them into hooks; they must be
# dropped before running git on another worktree.
LOCAL_ENV_VARS = (
    "GIT_ALTERNATE_OBJECT_DIRECTORIES", "GIT_CONFIG", "GIT_CONFIG_PARAMETERS",
    "GIT_CONFIG_COUNT", "GIT_OBJECT_DIRECTORY", "GIT_DIR", "GIT_WORK_TREE",
    "GIT_IMPLICIT_WORK_TREE", "GIT_GRAFT_FILE", "GIT_INDEX_FILE",
    "GIT_NO_REPLACE_OBJECTS", "GIT_REPLACE_REF_BASE", "GIT_PREFIX",
    "GIT_INTERNAL_SUPER_PREFIX", "GIT_SHALLOW_FILE", "GIT_COMMON_DIR",
)

EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"
ZERO_SHA = "0" * 40


class GitError(WtaError):
    """A git command failed where failure is not an expected answer. `killed_by`: the signal that ended it,
    if one did."""

    def __init__(self, message: str, *args: int, killed_by: int | None = None) -> None:
        super().__init__(message, *args)
        self.killed_by = killed_by


def no_git_env(env: dict[str, str] | None = None) -> dict[str, str]:
    """The environment minus the variables that pin git to one repository."""
    env = dict(os.environ if env is None else env)
    for name in LOCAL_ENV_VARS:
        env.pop(name, None)
    for name in [k for k in env if k.startswith("GIT_CONFIG_KEY_") or k.startswith("GIT_CONFIG_VALUE_")]:
        env.pop(name)
    return env


def git_dir_env(git_dir: str, env: dict[str, str] | None = None) -> dict[str, str]:
    """`no_git_env(env)` pinned to the repository whose git dir (the common one) is `git_dir`: git run
    there without GIT_DIR takes the directory for a bare repository of its own, which the `safe.directory`
    a user set for the worktree does not cover (a repository another user owns)."""
    return {**no_git_env(env), "GIT_DIR": git_dir}


class Completed(namedtuple("Completed", ["args", "returncode", "stdout", "stderr"])):
    """A finished git process: its arguments, exit code (negative: killed by
    that signal) and captured output, as bytes."""

    __slots__ = ()


def run(
    *args: str,
    cwd: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    check: bool = True,
    input: bytes | None = None,
    hooks: bool = False,
    jail: Jail | None = None,
) -> Completed:
    """Run `git ARGS` (in `cwd`, through git's own `-C`) and capture its output as bytes.

    With `check`, a non-zero exit raises `GitError` carrying git's own message.
    `jail`: run it in that stream's sandbox (for a git whose hooks run code from the worktree).
    """
    done = start(*args, cwd=cwd, env=env, input=input, hooks=hooks, jail=jail).wait()
    return checked(done) if check else done


def checked(done: Completed) -> Completed:
    """`done`, or a `GitError` with git's reason if it failed."""
    if done.returncode != 0:
        raise GitError(f"git {' '.join(command(done.args))} failed: {reason(done.stderr) or f'exit {done.returncode}'}",
                       killed_by=-done.returncode if done.returncode < 0 else None)
    return done


def command(args: Sequence[str]) -> tuple[str, ...]:
    """The git command `args` runs, as users would name it: its first two words after wta's own
    `-c key=value` settings (`checkout --quiet`, not `-c core.untrackedCache=true`)."""
    i = 0
    while i < len(args) and args[i] == "-c":
        i += 2
    return tuple(args[i:i + 2])


# Every git wta runs reads the objects as they are, and runs no code that a
# worktree's files or config could name: no hooks (a stream's worktree may hold
# or point at any), no fsmonitor; no commit-graph, replace refs or grafts (each
# can show git other parents and trees than the objects hold). Nor does it recurse
# into submodules (`submodule.recurse`: in a new linked worktree git then resets
# submodules never cloned there, and fails; worktrees/submodules.py moves the
# ones checked out). The `-c` values reach the git processes git itself starts
# (a rebase's), and beat every config file, a worktree's own included.
ISOLATION = ("-c", "core.hooksPath=/dev/null", "-c", "core.fsmonitor=false", "-c", "core.commitGraph=false",
             "-c", "submodule.recurse=false", "--no-replace-objects")
# `hooks=True`: core.hooksPath as configured, for reading config and where the
# hooks live, and for the commit wta makes for a session (its hooks run, as on
# the agent's own commits).
WITH_HOOKS = ISOLATION[2:]
_NO_GRAFTS = os.devnull + "/grafts"  # a file that cannot exist: git then reads no graft file


def reason(stderr: bytes, limit: int = 400) -> str:
    """git's complaint as one line: from its first `fatal:` or `error:` line on, hints left out.

    git's last line alone is often no reason ("Aborting", "valuable there.",
    the usage text of `rev-parse`); the lines it explains itself with follow
    its first `fatal:`/`error:`.
    """
    lines = [line.strip() for line in stderr.decode(errors="replace").splitlines()]
    lines = [line for line in lines if line and not line.startswith("hint:")]
    first = next((i for i, line in enumerate(lines) if line.startswith(("fatal:", "error:"))), 0)
    text = " ".join(lines[first:])
    if len(text) <= limit:
        return text
    # Both ends: the cause often follows a long path ("...could not create leading directories of
    # '<path>': File name too long").
    tail = (limit - 5) // 3
    return text[:limit - 5 - tail].rstrip() + " ... " + text[-tail:].lstrip()


def start(*args: str, cwd: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None,
          input: bytes | None = None, hooks: bool = False, jail: Jail | None = None) -> Running:
    """Start `git ARGS` and return at once; `.wait()` collects it (as `run(check=False)`).

    For work that overlaps: `wta status` starts every worktree's `git status`
    first and does its smaller git calls while those run. `hooks`: keep
    core.hooksPath as configured (`WITH_HOOKS`), else no hook runs.
    """
    isolation = WITH_HOOKS if hooks else ISOLATION
    git = programs.git() if jail is None else "git"   # (in a sandbox, its own PATH's: nothing is trusted there)
    argv = [git, "-C", os.fspath(cwd), *isolation, *args] if cwd is not None else [git, *isolation, *args]
    env = os.environ if env is None else env
    if env.get("GIT_GRAFT_FILE") != _NO_GRAFTS:
        env = {**env, "GIT_GRAFT_FILE": _NO_GRAFTS}
    if jail is not None:
        # In a pid namespace of its own, which ends with it (and with wta): the hooks it runs (the leftovers
        # commit's, a submodule's) are the stream's to write; in the user's namespace a daemon they left went on
        # writing in the worktree after the session, and they could signal the user's processes.
        argv, env = jail.wrap(argv, own_pids=True, die_with_parent=True), jail.env(dict(env))
    return Running(tuple(args), argv, env, input)


_OWN_GROUP = [False]   # set by keep_from_terminal_signals
_IN_OWN_GROUP: set[int] = set()   # the pids of those started so, while they run


def keep_from_terminal_signals() -> None:
    """From now on, each git this process starts runs in a process group of its own (its stdin /dev/null
    where none is fed): a terminal's Ctrl-C, or `timeout`'s SIGTERM, to the group reaches this process,
    which decides, and not its git. The coordinator lets a landing under way finish: its git killed by the
    same Ctrl-C had read as the landing's failure, and blocked the stream. A git of a process that is
    interrupted itself is ended by it (`Running.wait`)."""
    _OWN_GROUP[0] = True


def interrupt_running() -> None:
    """A Ctrl-C, as the terminal would have sent it, to each git still running in a group of its own (and what
    it started there: a filter, a hook): for a process that gives up on them (interrupted twice), which
    would leave them holding locks with no one waiting for them."""
    import _signal

    for pid in list(_IN_OWN_GROUP):
        try:
            os.killpg(pid, _signal.SIGINT)
        except OSError:
            pass


class Running:
    """A git process started with `os.posix_spawnp`, its stdin fed and its output read by `wait()`.

    Not `subprocess`: importing it (with the `re`, `locale`, `threading` and
    `selectors` it pulls in) would slow every commit hook (docs/performance.md).
    The pipes are served through `poll`, so no pipe can fill up and stall the
    child. The child gets SIGPIPE's default action back, as from `subprocess`
    (Python ignores SIGPIPE).
    """

    def __init__(self, args: tuple[str, ...], argv: list[str], env: Mapping[str, str], input: bytes | None) -> None:
        import _signal  # loaded with the interpreter; `signal` would import enum

        self.args = args
        self._input = input
        self._done: Completed | None = None
        self._out, out_w = os.pipe()
        self._err, err_w = os.pipe()
        in_r, self._in = os.pipe() if input is not None else (None, None)
        actions = [(os.POSIX_SPAWN_DUP2, out_w, 1), (os.POSIX_SPAWN_DUP2, err_w, 2)]
        if in_r is not None:
            actions.append((os.POSIX_SPAWN_DUP2, in_r, 0))
        elif _OWN_GROUP[0]:   # (out of the terminal's foreground group, a read from it would stop git)
            actions.append((os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0))
        group = {"setpgroup": 0} if _OWN_GROUP[0] else {}
        try:
            self._pid = os.posix_spawnp(argv[0], argv, env, file_actions=actions, setsigdef=(_signal.SIGPIPE,),
                                        **group)
            if group:
                _IN_OWN_GROUP.add(self._pid)
        except BaseException:
            self._close(self._out, self._err, self._in)
            raise
        finally:
            self._close(out_w, err_w, in_r)  # the child's ends: ours must go, or reading never ends

    def wait(self) -> Completed:
        """Feed the input, read stdout and stderr to their end, and reap the process (once)."""
        if self._done is None:
            self._done = self._collect()
        return self._done

    def _collect(self) -> Completed:
        import _signal
        import select

        chunks: dict[int, list[bytes]] = {self._out: [], self._err: []}
        poller = select.poll()
        for fd in chunks:
            poller.register(fd, select.POLLIN)
        pending, feeding = memoryview(self._input or b""), self._in
        if feeding is not None:
            if pending:
                os.set_blocking(feeding, False)
                poller.register(feeding, select.POLLOUT)
            else:
                self._close(feeding)
                feeding = None
        open_fds = len(chunks) + (feeding is not None)
        try:
            while open_fds:
                for fd, _ in poller.poll():
                    if fd == feeding:
                        try:
                            pending = pending[os.write(feeding, pending[:65536]):]
                        except BlockingIOError:
                            continue
                        except BrokenPipeError:  # the child stopped reading: the rest is not wanted
                            pending = pending[:0]
                        if not pending:
                            poller.unregister(feeding)
                            self._close(feeding)
                            feeding = None
                            open_fds -= 1
                        continue
                    data = os.read(fd, 1 << 20)
                    if data:
                        chunks[fd].append(data)
                    else:
                        poller.unregister(fd)
                        open_fds -= 1
        except BaseException:  # interrupted: do not leave the child running
            os.kill(self._pid, _signal.SIGKILL)
            os.waitpid(self._pid, 0)
            _IN_OWN_GROUP.discard(self._pid)
            raise
        finally:
            self._close(self._out, self._err, feeding)
        _, status = os.waitpid(self._pid, 0)
        _IN_OWN_GROUP.discard(self._pid)
        return Completed(self.args, os.waitstatus_to_exitcode(status), b"".join(chunks[self._out]),
                         b"".join(chunks[self._err]))

    @staticmethod
    def _close(*fds: int | None) -> None:
        for fd in fds:
            if fd is not None:
                os.close(fd)


def out(*args: str, cwd: str | os.PathLike[str] | None = None, env: dict[str, str] | None = None) -> str:
    """Run git and return its stdout as text, trailing newline stripped."""
    return run(*args, cwd=cwd, env=env).stdout.decode(errors="surrogateescape").rstrip("\n")


def ok(*args: str, cwd: str | os.PathLike[str] | None = None, env: dict[str, str] | None = None) -> bool:
    """Whether `git ARGS` exits 0."""
    return run(*args, cwd=cwd, env=env, check=False).returncode == 0


def config_matching(pattern: str, cwd: str | os.PathLike[str] | None = None,
                    env: dict[str, str] | None = None) -> dict[str, str]:
    """The config values whose (lower-cased) keys match a regex; {} when none do."""
    proc = run("config", "-z", "--get-regexp", pattern, cwd=cwd, env=env, check=False)
    return dict(entry.partition("\n")[::2] for entry in zsplit(proc.stdout))


def config_keys(path: str) -> list[str]:
    """The (lower-cased) keys a config file sets, read by git alone (no repository's config)."""
    proc = run("config", "--file", path, "--list", "-z", "--name-only", env=no_git_env())
    return zsplit(proc.stdout)


def zsplit(data: bytes) -> list[str]:
    """Split NUL-terminated `-z` output into paths (undecodable bytes kept)."""
    text = data.decode(errors="surrogateescape")
    parts = text.split("\0")
    if parts and parts[-1] == "":
        parts.pop()
    return parts


class RawChange(namedtuple("RawChange", [
    "status",      # A, M, D, T (renames and copies are split by --no-renames)
    "path", "old_mode", "new_mode", "old_blob", "new_blob",
])):
    """One line of `git diff --raw -z`: what happened to one path."""

    __slots__ = ()


def parse_raw(fields: Sequence[str]) -> list[RawChange]:
    """Parse the NUL-split fields of `--raw -z --no-renames` output."""
    changes: list[RawChange] = []
    append = changes.append  # a hook may parse tens of thousands of entries: keep the loop lean
    rest = iter(fields)
    for meta in rest:
        if not meta.startswith(":"):
            continue
        old_mode, new_mode, old_blob, new_blob, status = meta[1:].split(" ")
        letter = status[0]
        if letter in "RC":  # only without --no-renames: source then destination
            append(RawChange("D" if letter == "R" else "A", next(rest), old_mode, "000000", old_blob, ZERO_SHA))
            append(RawChange("A", next(rest), "000000", new_mode, ZERO_SHA, new_blob))
            continue
        append(RawChange(letter, next(rest), old_mode, new_mode, old_blob, new_blob))
    return changes


def parse_name_status(fields: Sequence[str]) -> list[RawChange]:
    """Parse the NUL-split fields of `--name-status -z --no-renames` output:
    status and path only, the modes and blob ids left empty."""
    make = RawChange._make  # faster than calling the class, for tens of thousands of paths
    return [make((status, path, "", "", "", "")) for status, path in zip(fields[::2], fields[1::2])]


def _staged(listing: str, *options: str) -> tuple[str, ...]:
    """The `git diff` of what is staged, listed as `listing` says: renames as a deletion and an
    addition, every submodule change (the commit to compare with follows)."""
    return ("diff", "--cached", listing, *options, "--no-renames", "--ignore-submodules=none")


def staged_diff(names_only: bool) -> tuple[str, ...]:
    """The arguments of the `git diff` that lists the staged changes (the commit to compare with follows)."""
    # --no-replace-objects: a replace ref must not make HEAD look like it already has the staged change.
    return ("--no-replace-objects", *_staged("--name-status" if names_only else "--raw", "-z", "--no-abbrev"))


def staged_names_shell() -> str:
    """The shell command of the pre-commit hook's fast path (hooks/pre-commit-check): the same
    listing as `staged_diff`'s, one path a line and C-quoted when it holds anything unusual
    (core.quotePath forced on: a non-ASCII path, a quote, a newline), by a git as isolated as every
    git of wta's (`start`). It fails before the first commit (no HEAD); the hook then asks Python."""
    import shlex  # here: only installing the hooks asks for it

    argv = ["git", *ISOLATION, "-c", "core.quotePath=true", *_staged("--name-only"), "HEAD", "--"]
    return f"GIT_GRAFT_FILE={_NO_GRAFTS} {shlex.join(argv)}"


def staged_changes(cwd: str | os.PathLike[str] | None = None, against: str = "HEAD",
                   names_only: bool = False) -> list[RawChange]:
    """The changes staged in this worktree's index (honours GIT_INDEX_FILE),
    compared with HEAD (the empty tree before the first commit) or `against`.

    `names_only`: status letters and paths without modes and blob ids
    (`--name-status`: a quarter of the output to read and parse).
    """
    diff = staged_diff(names_only)
    proc = run(*diff, against, "--", cwd=cwd, check=False)
    if proc.returncode != 0:
        # Asking first whether HEAD exists would cost a git process on every commit.
        unborn = against == "HEAD" and not ok("rev-parse", "-q", "--verify", "HEAD^{commit}", cwd=cwd)
        proc = run(*diff, EMPTY_TREE if unborn else against, "--", cwd=cwd)
    return (parse_name_status if names_only else parse_raw)(zsplit(proc.stdout))


def branch_tip(common_dir: str, branch: str) -> str | None:
    """The commit `refs/heads/<branch>` points at, read from git's ref files
    without starting git (the pre-commit hook asks on every commit); None when
    the files do not say plainly (no such ref, a symbolic ref, or another ref
    store), and then the caller asks git.

    A loose ref file wins over packed-refs, as in git; git writes packed-refs
    before it deletes a loose ref, so a value read here was the tip at some moment.
    """
    ref = f"refs/heads/{branch}"
    try:
        with open(os.path.join(common_dir, ref), "rb") as f:
            return _object_id(f.read(100).strip())
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        pass
    try:
        with open(os.path.join(common_dir, "packed-refs"), "rb") as f:
            packed = f.read()
    except FileNotFoundError:
        return None
    suffix = b" " + os.fsencode(ref)
    for line in packed.splitlines():
        if line.endswith(suffix):
            return _object_id(line[:-len(suffix)])
    return None


def tip_of(common_dir: str, branch: str, cwd: str | os.PathLike[str] | None = None,
           env: dict[str, str] | None = None) -> str | None:
    """What `refs/heads/<branch>` points at: read from the ref files (`branch_tip`) where they say
    plainly, else asked of git (`commit_of`); None when there is no such branch."""
    return branch_tip(common_dir, branch) or commit_of(f"refs/heads/{branch}", cwd, env)


def _object_id(data: bytes) -> str | None:
    """`data` as a full object id (SHA-1 or SHA-256), else None."""
    text = data.decode("ascii", "replace")
    return text if len(text) in (40, 64) and is_hex(text) else None


_HEX_DIGITS = frozenset("0123456789abcdef")


def is_hex(text: str) -> bool:
    """Whether `text` is all lower-case hexadecimal digits, as git writes object ids."""
    return all(ch in _HEX_DIGITS for ch in text)


def is_ancestor(commit: str, of: str, cwd: str | os.PathLike[str] | None = None,
                env: dict[str, str] | None = None) -> bool:
    """Whether `commit` is reachable from `of`."""
    return ok("merge-base", "--is-ancestor", commit, of, cwd=cwd, env=env)


def merge_bases(a: str, b: str, cwd: str | os.PathLike[str] | None = None,
                env: dict[str, str] | None = None) -> list[str]:
    """Every best common ancestor of two commits (`merge-base --all`); none when they share no history."""
    return run("merge-base", "--all", a, b, cwd=cwd, env=env, check=False).stdout.decode().split()


class CommitChanges(namedtuple("CommitChanges", ["sha", "subject", "parents", "changes"])):
    """One commit: its id, subject, parent ids and RawChanges (tuples)."""

    __slots__ = ()

    @property
    def merge(self) -> bool:
        return len(self.parents) > 1


def commit_changes(rev_range: Sequence[str], cwd: str | os.PathLike[str] | None = None,
                   env: dict[str, str] | None = None) -> list[CommitChanges]:
    """Every commit in a range with the paths it touches, in one `git log`.

    Merge commits are shown with `--cc`: only the paths whose merged result
    differs from every parent, which is what the merge itself introduced.
    """
    proc = run("log", "-z", "--raw", "--no-renames", "--no-abbrev", "--cc", "--format=%H %P%x00%s",
               "--ignore-submodules=none", *rev_range, "--", cwd=cwd, env=env)
    return [CommitChanges(sha, subject, parents, tuple(_parse_log_raw(entries, len(parents))))
            for sha, parents, subject, entries in _log_records(proc.stdout)]


def _log_records(data: bytes) -> Iterator[tuple[str, tuple[str, ...], str, list[str]]]:
    """(sha, parents, subject, raw fields) of each commit in `git log -z --raw --format=%H %P%x00%s` output.

    Read field by field, on NUL only: a commit message may hold any other byte
    (`%s` stops at a NUL), so no separator inside one can forge a record. Each
    commit is its ids, its subject, then (meta, path) pairs whose meta starts
    with ':' (the first after a newline); the next field is the next commit's ids.
    Paths are taken as they are (a name may start with a newline, or look like ids).
    """
    fields = data.decode(errors="surrogateescape").split("\0")
    i, end = 0, len(fields) - 1  # the output ends in NUL: the last field is empty
    while i < end:
        ids, subject = fields[i], fields[i + 1]
        sha, _, parents = ids.partition(" ")
        if not (len(sha) in (40, 64) and is_hex(sha) and is_hex(parents.replace(" ", ""))):
            raise GitError(f"git log: unexpected output at {ids[:50]!r}")
        i += 2
        if i < end and fields[i] == "":
            i += 1  # merges: an empty field before their combined entries (or the next commit)
        entries: list[str] = []
        while i < end and fields[i].lstrip("\n").startswith(":"):
            entries += (fields[i].lstrip("\n"), fields[i + 1])
            i += 2
        yield sha, tuple(p for p in parents.split(" ") if p), subject, entries


class CommitGraph:
    """Every commit beyond a base on any of several tips, from ONE `git log`.

    A tip's own commits are those reachable from it without leaving the logged
    set (anything outside the set is reachable from the base), so the tips'
    commits are told apart by walking parents, not by one `git log` per tip.
    """

    def __init__(self, base: str, tips: Iterable[str | None], cwd: str | os.PathLike[str] | None = None,
                 env: dict[str, str] | None = None) -> None:
        wanted = [t for t in dict.fromkeys(tips) if t and t != base]
        self.commits = {c.sha: c for c in (commit_changes([f"^{base}", *wanted], cwd=cwd, env=env)
                                           if wanted else [])}

    def reachable(self, tip: str | None, excluded: Set[str] = frozenset()) -> list[CommitChanges]:
        """The commits `tip` has beyond the base, newest first, less those in `excluded`
        and what lies only behind them (`wta merge`: commits brought by earlier streams)."""
        if tip is None or tip not in self.commits:
            return []
        seen: set[str] = set()
        todo = [tip]
        while todo:
            sha = todo.pop()
            if sha in seen or sha in excluded or sha not in self.commits:
                continue
            seen.add(sha)
            todo.extend(self.commits[sha].parents)
        return [c for sha, c in self.commits.items() if sha in seen]


def tree_changes(old: str, new: str, cwd: str | os.PathLike[str] | None = None,
                 env: dict[str, str] | None = None) -> list[RawChange]:
    """Every path that differs between two commits (or trees), as one change set."""
    proc = run("--no-replace-objects", "diff-tree", "-r", "-z", "--no-renames", "--no-abbrev",
               "--ignore-submodules=none", old, new, "--", cwd=cwd, env=env)
    return parse_raw(zsplit(proc.stdout))


def _parse_log_raw(fields: list[str], n_parents: int) -> list[RawChange]:
    """Raw entries of one commit (meta, path, ...); combined (`::`) entries of merges included."""
    if n_parents <= 1:
        return parse_raw(fields)
    changes: list[RawChange] = []
    for meta, path in zip(fields[::2], fields[1::2]):
        if meta.startswith("::"):
            # ::mode1 mode2 modeR sha1 sha2 shaR STATUS, then the path
            parts = meta.lstrip(":").split(" ")
            modes, shas = parts[:n_parents + 1], parts[n_parents + 1:2 * n_parents + 2]
            status = parts[-1]
            letter = "D" if "D" in status and modes[-1] == "000000" else ("A" if set(status) == {"A"} else "M")
            changes.append(RawChange(letter, path, modes[0], modes[-1], shas[0], shas[-1]))
    return changes


def read_objects(shas: Sequence[str], cwd: str | os.PathLike[str] | None = None,
               env: dict[str, str] | None = None) -> dict[str, bytes]:
    """The contents of several objects (blobs, commits) in one `git cat-file --batch`."""
    wanted = [s for s in dict.fromkeys(shas) if s and s.strip("0")]   # (no null id, of either length)
    if not wanted:
        return {}
    proc = run("cat-file", "--batch", cwd=cwd, env=env, input="".join(s + "\n" for s in wanted).encode())
    blobs: dict[str, bytes] = {}
    data, pos = proc.stdout, 0
    for sha in wanted:
        end = data.index(b"\n", pos)
        header = data[pos:end].split(b" ")
        pos = end + 1
        if len(header) < 3 or header[1] == b"missing":
            continue
        size = int(header[2])
        blobs[sha] = data[pos:pos + size]
        pos += size + 1
    return blobs


# -- branches and worktrees (wta up, status, down) -------------------------------

class BranchHead(namedtuple("BranchHead", ["sha", "committed_at"])):
    """A branch's tip and its committer date (ISO 8601)."""

    __slots__ = ()


def branch_heads(cwd: str | os.PathLike[str] | None = None,
                 env: dict[str, str] | None = None) -> dict[str, BranchHead]:
    """Every local branch (short name) with its tip and commit time, in one `git for-each-ref`."""
    proc = run("for-each-ref", "--format=%(refname)%00%(objectname)%00%(committerdate:iso-strict)",
               "refs/heads/", cwd=cwd, env=env)
    heads: dict[str, BranchHead] = {}
    for line in proc.stdout.decode(errors="surrogateescape").split("\n"):  # not splitlines: U+2028 may name a branch
        if not line:
            continue
        ref, sha, date = line.split("\0")
        heads[ref[len("refs/heads/"):]] = BranchHead(sha, date)
    return heads


def tips_merged_into(commit: str, cwd: str | os.PathLike[str] | None = None,
                     env: dict[str, str] | None = None) -> set[str]:
    """The tips of the local branches that `commit` contains, in one `git for-each-ref --merged`."""
    proc = run("for-each-ref", f"--merged={commit}", "--format=%(objectname)", "refs/heads/", cwd=cwd, env=env)
    return set(proc.stdout.decode().split())


# Fields before the path in each `status --porcelain=v2` entry type.
_STATUS_FIELDS = {"1": 8, "2": 9, "u": 10, "?": 1}


def worktree_changes(cwd: str | os.PathLike[str], env: dict[str, str] | None = None,
                     untracked: str = "all", renames: bool = True, unstaged_submodules: bool = True) -> list[str]:
    """Every path `git status` reports: staged, modified, unmerged, and (`untracked`) each untracked file.

    `unstaged_submodules=False`: not a submodule whose checkout differs from what the index records
    (another commit checked out, changes inside it) while nothing of it is staged: git moving the
    worktree's files never touches it, and a commit of everything must not record its pointer."""
    return worktree_changes_of(start_worktree_changes(cwd, env, untracked, renames).wait(), unstaged_submodules)


# Never into a submodule's own worktree (or an embedded repository's, which an agent can make in its zone):
# git would run `git status` there, under that repository's own config, whose filters run commands (a stream
# can write that config), outside the sandbox. Only the commit a submodule has checked out is compared.
# On the command line: a `submodule.<name>.ignore` in .gitmodules beats any config value, and the stream
# writes .gitmodules.
NOT_INTO_SUBMODULES = "--ignore-submodules=dirty"


def start_worktree_changes(cwd: str | os.PathLike[str], env: dict[str, str] | None = None,
                           untracked: str = "all", renames: bool = True) -> Running:
    """Start the `git status` of `worktree_changes`; read it with `worktree_changes_of(running.wait())`.

    `untracked="normal"`: an untracked directory is one entry, as `git status`
    shows it, and git's untracked cache (which `wta up` turns on) spares looking
    into every directory; "all" lists each untracked file and looks everywhere;
    "no" leaves them out. `renames=False`: a rename is its two paths.
    A submodule is listed when the commit it has checked out differs, never for changes inside it
    (`NOT_INTO_SUBMODULES`). Without optional locks, so watching a worktree never races its user.
    """
    return start("--no-optional-locks", "status", "--porcelain=v2", "-z", f"--untracked-files={untracked}",
                 *(() if renames else ("--no-renames",)), NOT_INTO_SUBMODULES, cwd=cwd, env=env)


def worktree_changes_of(done: Completed, unstaged_submodules: bool = True, originals: bool = False) -> list[str]:
    """The paths in the output of a finished `start_worktree_changes` (`worktree_changes`); with `originals`,
    a rename's original path too (after the new one)."""
    paths: list[str] = []
    fields = zsplit(checked(done).stdout)
    i = 0
    while i < len(fields):
        entry = fields[i]
        kind = entry[:1]
        if kind == "1" and not unstaged_submodules and entry[2:5] == ".M " and entry[5:6] == "S":
            pass   # "1 .M S<c><m><u> ...": a submodule's checkout, nothing of it staged
        elif kind in _STATUS_FIELDS:
            paths.append(entry.split(" ", _STATUS_FIELDS[kind])[-1])
            if kind == "2" and originals and i + 1 < len(fields):
                paths.append(fields[i + 1])
        i += 2 if kind == "2" else 1  # a rename is followed by its original path
    return paths


def added_paths(base: str, tip: str, cwd: str | os.PathLike[str] | None = None,
                env: dict[str, str] | None = None) -> list[str]:
    """The paths that `tip` adds since its merge base with `base` (what landing it creates); with no
    history in common (an orphan branch, which lands rebased whole), those it has and `base` has not."""
    proc = run("diff", "--name-only", "-z", "--no-renames", "--diff-filter=A", f"{base}...{tip}", "--",
               cwd=cwd, env=env, check=False)
    if proc.returncode != 0 and not merge_bases(base, tip, cwd, env):
        proc = run("diff", "--name-only", "-z", "--no-renames", "--diff-filter=A", base, tip, "--", cwd=cwd, env=env)
    elif proc.returncode != 0:
        raise GitError(f"git diff --name-only failed: {proc.stderr.decode(errors='replace').strip()}")
    return zsplit(proc.stdout)


def tracked_changes(cwd: str | os.PathLike[str], env: dict[str, str] | None = None) -> list[str]:
    """The tracked paths with uncommitted changes (staged, modified, unmerged) that moving the worktree's
    files could overwrite: untracked files aside, and submodules checked out elsewhere (git leaves them)."""
    return worktree_changes(cwd, env, untracked="no", renames=False, unstaged_submodules=False)


def files_unlike(commit: str, worktree: str, scratch: str,
                 env: dict[str, str]) -> tuple[list[tuple[str, str]], list[str]]:
    """The tracked paths whose file in `worktree` is not what `commit` holds, each with git's letter for how
    (M: other content, D: no file, T: another kind), whatever the worktree's own index says; and the
    untracked files there that `commit` lacks and no ignore rule covers (a folder git finds none of whose
    files tracked, as `dir/`: `ls-files --directory`), which a test run there would read too.

    That index is the stream's to write (its private git dir): an entry marked skip-worktree or
    assume-unchanged, or stat data copied from another file, has git take the file for the committed one
    and `git status` show nothing. So the files are compared through an index written here in `scratch`
    (a directory no sandbox writes) from `commit` alone, with no stat data: git hashes every file again.
    git compares what a file cleans to (.gitattributes), so its bytes are compared too (_converted_unlike).
    """
    import tempfile  # only landings with a test ask: kept off the hooks' start-up

    os.makedirs(scratch, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="index-", dir=scratch) as tmp:
        own = {**env, "GIT_INDEX_FILE": os.path.join(tmp, "index")}
        run("read-tree", commit, cwd=worktree, env=own)
        proc = run("--no-optional-locks", "diff", "--name-status", "-z", "--no-renames", "--no-ext-diff",
                   "--no-textconv", NOT_INTO_SUBMODULES, "--", cwd=worktree, env=own)
        fields = zsplit(proc.stdout)
        unlike = [(fields[i + 1], fields[i][:1]) for i in range(0, len(fields) - 1, 2)]
        unlike += [(path, "M") for path in _converted_unlike(worktree, tmp, own, {p for p, _ in unlike})]
        # Against the same index: what the worktree's own index holds beyond the commit is not the commit's.
        others = zsplit(run("ls-files", "--others", "--exclude-standard", "--directory", "--no-empty-directory",
                            "-z", cwd=worktree, env=own).stdout)
        return unlike, others


# The attributes under which git cleans a file to other content than its bytes (before it compares).
_REWRITING_ATTRIBUTES = ("ident", "filter", "working-tree-encoding")


def _converted_unlike(worktree: str, tmp: str, env: dict[str, str], seen: set[str]) -> list[str]:
    """The files (of the index in `env`, but `seen`) that `git diff` takes for the committed ones only
    through a conversion of .gitattributes: it compares what the file cleans to (`ident` makes
    `$Id: <any text on the line>$` read as `$Id$`; `eol`, `text`, `working-tree-encoding` and filters rewrite
    it too), not its bytes. A file is the commit's when its bytes are the blob's, or what a checkout of the
    blob writes (`checkout-index` into `tmp`, with the commit's attributes: read from the index first).
    Only files whose attributes can make other text read as the blob's are read (`ident`, a `filter`, a
    `working-tree-encoding`): `text` and `eol` differ in line endings alone; in most repositories, none.
    """
    import hashlib  # only landings with a test ask
    import stat

    files = {}
    for field in zsplit(run("ls-files", "-s", "-z", cwd=worktree, env=env).stdout):
        meta, path = field.split("\t", 1)
        mode, oid, _stage = meta.split(" ")
        if mode in ("100644", "100755") and path not in seen:
            files[path] = oid   # (links and submodules are compared as they are; `seen` is named already)
    if not files:
        return []
    said = zsplit(run("check-attr", "-z", "--stdin", *_REWRITING_ATTRIBUTES, cwd=worktree, env=env,
                      input=b"".join(p.encode(errors="surrogateescape") + b"\0" for p in files)).stdout)
    rewritten = {said[i] for i in range(0, len(said) - 2, 3) if said[i + 2] not in ("unspecified", "unset")}
    other: dict[str, bytes | None] = {}
    for path, oid in files.items():
        if path not in rewritten:
            continue
        try:
            fd = os.open(os.path.join(worktree, path), os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError:
            other[path] = None
            continue
        with os.fdopen(fd, "rb") as f:
            content = f.read() if stat.S_ISREG(os.fstat(f.fileno()).st_mode) else None
        if content is None or hashlib.new("sha1" if len(oid) == 40 else "sha256",
                                          b"blob %d\0" % len(content) + content).hexdigest() != oid:
            other[path] = content
    if not other:
        return []
    prefix = os.path.join(tmp, "checkout") + os.sep
    run("checkout-index", "-f", "-z", "--stdin", f"--prefix={prefix}", cwd=worktree, env=env,
        input=b"".join(p.encode(errors="surrogateescape") + b"\0" for p in other))
    unlike = []
    for path, content in other.items():
        try:
            with open(prefix + path, "rb") as checked_out:
                same = content is not None and content == checked_out.read()
        except OSError:
            same = False
        if not same:
            unlike.append(path)
    return unlike


def commits_behind(base: str, branch: str, cwd: str | os.PathLike[str] | None = None,
                   env: dict[str, str] | None = None) -> int:
    """How many commits `base` has that `branch` lacks."""
    return int(out("rev-list", "--count", f"{branch}..{base}", "--", cwd=cwd, env=env))


def merge_conflicts(base: str, branch: str, cwd: str | os.PathLike[str] | None = None,
                    env: dict[str, str] | None = None) -> list[str]:
    """The files that merging `branch` into `base` would conflict on ([] when it merges cleanly).

    `git merge-tree --write-tree` merges in the object store only: no ref,
    index or worktree changes.
    """
    return merge_tree(base, branch, cwd, env)[1]


def commits_not_in(base: str, revs: Sequence[str], cwd: str | os.PathLike[str] | None = None,
                   env: dict[str, str] | None = None) -> list[tuple[str, str]]:
    """(short sha, subject) of every commit reachable from `revs` but not from `base`, newest first."""
    if not revs:
        return []
    proc = run("log", "-z", "--format=%h %s", *revs, f"^{base}", "--", cwd=cwd, env=env)
    return [tuple(entry.partition(" ")[::2]) for entry in zsplit(proc.stdout)]  # type: ignore[misc]


# -- requests between streams (wta request, wta watch) ----------------------------

class TrailerCommit(namedtuple("TrailerCommit", [
    "sha", "subject",
    "values",      # the values of the trailer asked for, in message order (a tuple)
])):
    """A commit carrying a trailer."""

    __slots__ = ()


def commits_with_trailer(revs: Sequence[str], key: str, since: str | None = None,
                         cwd: str | os.PathLike[str] | None = None,
                         env: dict[str, str] | None = None) -> list[TrailerCommit]:
    """The commits reachable from `revs` (newer than `since`) that carry trailer `key`, in one `git log`.

    `--grep` keeps git from formatting every commit; the trailer itself is parsed by
    git, so only the message's trailer block counts, not a mention in its body.
    """
    if not revs:
        return []
    # Three NUL-ended fields per commit (the id, the subject, the values): a subject
    # may hold any byte but NUL, so it can never pass for a trailer value.
    args = ["log", "-z", "--regexp-ignore-case", f"--grep=^{key}:",
            f"--format=%H%x00%s%x00%(trailers:key={key},valueonly,separator=%x1f)"]
    if since:
        args.append(f"--since={since}")
    proc = run(*args, *revs, "--", cwd=cwd, env=env)
    fields = proc.stdout.decode(errors="surrogateescape").split("\0")
    found = []
    for sha, subject, trailers in zip(fields[0::3], fields[1::3], fields[2::3]):
        values = [v.strip() for v in trailers.split("\x1f") if v.strip()]
        if values:
            found.append(TrailerCommit(sha, subject, tuple(values)))
    return found


# -- merging streams back (wta merge) ---------------------------------------------

def update_refs(updates: Sequence[tuple[str, str, str | None]], message: str,
                cwd: str | os.PathLike[str] | None = None, env: dict[str, str] | None = None) -> None:
    """Set several refs in one transaction (`update-ref --stdin`): all of them or none.

    Each update is (ref, new, old): with `old`, the ref must still point there
    (ZERO_SHA: must not exist yet), so a ref that moved meanwhile is never clobbered.
    Each sets the ref named, never one it points to (`no-deref`): a stream can make its branch's ref file a
    symbolic link to `refs/heads/main`, which git takes for a symbolic ref, and moving that branch would
    then have moved the base.
    """
    if not updates:
        return
    # ZERO_SHA as long as the repository's ids (a SHA-256 repository's are 64 digits)
    script = "".join(f"option no-deref\0update {ref}\0{new}\0{'0' * len(new) if old == ZERO_SHA else old or ''}\0"
                     for ref, new, old in updates)
    run("update-ref", "-m", message, "--stdin", "-z", cwd=cwd, env=env, input=script.encode())


def fsck_objects(old: str, new: str, scratch: str, cwd: str | os.PathLike[str] | None = None,
                 env: dict[str, str] | None = None) -> str | None:
    """git's reason to reject an object that `new` brings beyond `old`, or None when git accepts them all.

    The checks of `git fsck` (tree entries `..`, `.git` or with a '/', duplicate
    entries, a bad `.gitmodules`, broken links, ...) on those objects alone: they
    are packed and indexed with `git index-pack --strict` in a temporary
    directory in `scratch`, so the repository gains no file. (Not in the temp dir: a sandboxed session
    writes there, and could put another pack in the place of this one before git reads it.)
    """
    import tempfile  # only `wta merge` asks: kept off the hooks' start-up

    pack = run("pack-objects", "--stdout", "--revs", "--window=0", "-q", cwd=cwd, env=env,
               input=f"{new}\n^{old}\n".encode()).stdout
    os.makedirs(scratch, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="fsck-", dir=scratch) as tmp:
        path = os.path.join(tmp, "new.pack")
        with open(path, "wb") as f:
            f.write(pack)
        done = run("index-pack", "--strict", "-o", os.path.join(tmp, "new.idx"), path, cwd=cwd, env=env,
                   check=False)
    if done.returncode == 0:
        return None
    lines = done.stderr.decode(errors="replace").strip().splitlines() or [f"exit {done.returncode}"]
    first = next((line for line in lines if line.startswith("error: ")), lines[-1])
    return first.removeprefix("error: ")


def rewritten_objects(old: str, new: str, cwd: str | os.PathLike[str] | None = None,
                      env: dict[str, str] | None = None, keep: str | None = None,
                      parents: dict[str, list[str]] | None = None) -> list[str]:
    """The objects `new` brings beyond `old` whose content no longer hashes to their name.

    git trusts an object file to hold what its name says (it checks a commit's tree, not the trees and
    blobs below it), and a sandboxed stream can write the object store: a subtree rewritten in place
    after a landing's checks, during its `test:`, would land content nobody checked or tested under the
    very commit ids that were. With `keep` (the object store: keep_packed's) and none rewritten, they are
    packed as read, which closes the moment between this check and the base's move. `parents`: filled
    with the parents of each commit found unchanged (`descends_from` reads it).
    """
    return _checked([new], [old], cwd, env, keep, parents=parents)


def descends_from(old: str, new: str, parents: dict[str, list[str]]) -> bool:
    """Whether `new` descends from `old` (`git merge-base --is-ancestor old new`), from the `parents` of
    every commit `rev-list new --not old` lists (rewritten_objects' walk, each commit hashed): `old` is
    reached from `new` through those parents. Followed from `new`, not asked of any commit listed: the walk
    read the loose files as they were then, and a commit put at one's name for it and the real one back for
    the hashing (another sandbox's agent, racing) listed commits `new` does not reach, one of them on `old`."""
    todo, seen = [new], set()
    while todo:
        commit = todo.pop()
        if commit == old:
            return True
        if commit not in seen:
            seen.add(commit)
            todo += parents.get(commit, [])
    return False


def unpacked_rewritten(commit: str, keep: str, cwd: str | os.PathLike[str] | None = None,
                       env: dict[str, str] | None = None, packed: str | None = None) -> list[str]:
    """The objects of `commit`'s history that are only loose (`rev-list --unpacked`: a person's own
    commits, a fetch's few objects) whose content no longer hashes to their name; when there are none,
    those objects are packed as read (keep_packed), where no sandbox can write over them.

    `packed`: a commit whose history was checked and packed so before (its objects stay packed): the
    walk stops there, instead of going through the whole history at every landing (0.5 s of CPU for
    100,000 commits). When git no longer has it, the whole history is walked."""
    if packed:
        try:
            return _checked([commit], [packed], cwd, env, keep, unpacked=True)
        except GitError:
            pass   # gone (a base reset, then pruned): the whole history
    return _checked([commit], [], cwd, env, keep, unpacked=True)


def _checked(tips: Sequence[str], bottoms: Sequence[str], cwd: str | os.PathLike[str] | None,
             env: dict[str, str] | None, keep: str | None, unpacked: bool = False,
             parents: dict[str, list[str]] | None = None) -> list[str]:
    """The objects `rev-list --objects TIPS --not BOTTOMS` lists whose content does not hash to their name;
    with `keep` and none such, they are packed (keep_packed), and the walk is done again from what is now
    packed until it lists nothing unchecked: rev-list read the loose files first, cat-file after it, and a
    tree swapped back in between (another sandbox's agent, racing) hid real objects from the check, which
    stayed loose, to be written over. The walk again stops at the commits that were packed before
    (`unpacked`: the first walk left them out)."""
    walk = ["--unpacked"] if unpacked else []
    ids = _listed([*walk, *tips, "--not", *bottoms], cwd, env)
    seen, tips, bottoms = set(ids), list(tips), list(bottoms)
    while ids:
        bad, good = _hashed(ids, cwd, env)
        commits = [(oid.decode(), commit_parents(content)) for oid, kind, content in good if kind == b"commit"]
        if parents is not None:
            parents.update(commits)
        if bad or keep is None:
            return bad
        keep_packed([(kind, content) for _, kind, content in good], keep,
                    "sha1" if len(ids[0]) == 40 else "sha256", env)
        tips += [oid for oid, _ in commits]
        above = sorted({p for _, of in commits for p in of if p.encode() not in seen})
        if above and unpacked:   # (those packed before end the walk again; those still loose are walked)
            loose = run("rev-list", "--no-walk", "--unpacked", *above, "--", cwd=cwd, env=env).stdout.split()
            bottoms += [p for p in above if p.encode() not in loose]
        ids = [oid for oid in _listed([*tips, "--not", *bottoms], cwd, env) if oid not in seen]
        seen.update(ids)
    return []


def commit_parents(content: bytes) -> list[str]:
    """The parents of a commit object's `content` as git reads them: the `parent` lines right after its
    `tree` line. A `parent` line further down the header (after `author`, which `git fsck` lets pass as an
    extra header, as it does `mergetag` or `gpgsig`) is no parent to git: counted as one, a commit whose
    history lacks the base had its fast-forward taken for one (`descends_from`)."""
    lines = content.split(b"\n\n", 1)[0].split(b"\n")
    if not lines[0].startswith(b"tree "):
        return []
    found = []
    for line in lines[1:]:
        if not line.startswith(b"parent "):
            break
        found.append(line[7:].decode(errors="replace"))
    return found


def _listed(revs: Sequence[str], cwd: str | os.PathLike[str] | None, env: dict[str, str] | None) -> list[bytes]:
    return list(dict.fromkeys(run("rev-list", "--objects", "--no-object-names", *revs, "--", cwd=cwd,
                                  env=env).stdout.split()))


def _hashed(ids: Sequence[bytes], cwd: str | os.PathLike[str] | None,
            env: dict[str, str] | None) -> tuple[list[str], list[tuple[bytes, bytes, bytes]]]:
    """Those of `ids` whose content (cat-file's) does not hash to their name; (id, type, content) of the rest."""
    import hashlib  # only landings ask

    out = run("cat-file", "--batch", cwd=cwd, env=env, input=b"\n".join(ids) + b"\n").stdout
    bad, good, at = [], [], 0
    for oid in ids:
        end = out.index(b"\n", at)
        header = out[at:end].split()
        if len(header) != 3:   # "<id> missing": gone since rev-list listed it
            bad.append(oid.decode())
            at = end + 1
            continue
        name, kind, size = header
        content = out[end + 1:end + 1 + int(size)]
        at = end + 1 + int(size) + 1
        digest = hashlib.new("sha1" if len(oid) == 40 else "sha256", kind + b" " + size + b"\0" + content)
        if digest.hexdigest().encode() != name or name != oid:
            bad.append(oid.decode())
        else:
            good.append((oid, kind, content))
    return bad, good


PACK_TYPES = {b"commit": 1, b"tree": 2, b"blob": 3, b"tag": 4}


def keep_packed(objects: Sequence[tuple[bytes, bytes]], objects_dir: str, algorithm: str,
                env: dict[str, str] | None = None) -> None:
    """Put `objects` ((type, content), each checked against its name) into the object store as a pack of
    their own: git looks an object up in the packs before the loose files, and no sandbox can write in
    `objects/pack/`, so a loose file written over later (same name, other content) is never read.

    Written here, from the bytes that were checked (not read again), under a temporary name in
    `objects/pack/` itself (`tmp_wta_keep_*`: git's own clean-up removes one a killed wta left; the same
    file system as the pack it becomes, and no sandbox writes there); indexed by `git index-pack` outside
    the repository (in it, git reads every object it already has again, to compare: most of the time it
    took), which names each object by the hash of what the pack holds; then renamed to that name, the
    index last, as git adds a pack."""
    import hashlib
    import struct
    import tempfile
    import zlib

    pack_dir = os.path.join(objects_dir, "pack")
    os.makedirs(pack_dir, exist_ok=True)
    fd, pack = tempfile.mkstemp(prefix="tmp_wta_keep_", suffix=".pack", dir=pack_dir)
    index = pack[:-len(".pack")] + ".idx-new"   # (not `.idx` until whole: other gits open every `*.idx` there)
    try:
        digest = hashlib.new(algorithm)
        with os.fdopen(fd, "wb") as f:
            def put(data: bytes) -> None:
                digest.update(data)
                f.write(data)
            put(b"PACK" + struct.pack(">II", 2, len(objects)))
            for kind, content in objects:
                size = len(content)
                header, byte, size = bytearray(), (PACK_TYPES[kind] << 4) | (size & 0x0F), size >> 4
                while size:
                    header.append(byte | 0x80)
                    byte, size = size & 0x7F, size >> 7
                header.append(byte)
                put(bytes(header) + zlib.compress(content, 1))
            f.write(digest.digest())
            f.flush()
            os.fsync(f.fileno())
        # Outside the repository: run in objects/pack, git would find the repository above it but for
        # the ceiling, which stops its search there.
        outside = {k: v for k, v in (os.environ if env is None else env).items()
                   if k not in ("GIT_DIR", "GIT_WORK_TREE", "GIT_COMMON_DIR", "GIT_OBJECT_DIRECTORY")}
        outside["GIT_CEILING_DIRECTORIES"] = os.path.realpath(pack_dir)
        done = run("index-pack", f"--object-format={algorithm}", "--no-rev-index", "-o", index, pack,
                   cwd=pack_dir, env=outside, check=False)
        if done.returncode != 0:
            detail = done.stderr.decode(errors="replace").strip().splitlines() or [f"exit {done.returncode}"]
            raise GitError(f"git index-pack of the objects to keep refused them: {detail[-1]}")
        target = os.path.join(pack_dir, f"pack-{done.stdout.decode().split()[-1]}")
        if os.path.exists(target + ".idx"):
            return   # the same objects, kept already
        for made, suffix in ((pack, ".pack"), (index, ".idx")):
            os.chmod(made, 0o444)
            os.replace(made, target + suffix)
    finally:
        for made in (pack, index):
            try:
                os.unlink(made)
            except FileNotFoundError:
                pass


def delete_refs(deletions: Sequence[tuple[str, str]], message: str,
                cwd: str | os.PathLike[str] | None = None, env: dict[str, str] | None = None) -> None:
    """Delete refs (full refname, the commit it must still point at) in one transaction."""
    if not deletions:
        return
    script = "".join(f"option no-deref\0delete {ref}\0{old}\0" for ref, old in deletions)   # (update_refs)
    run("update-ref", "-m", message, "--stdin", "-z", cwd=cwd, env=env, input=script.encode())


def refs_under(prefix: str, cwd: str | os.PathLike[str] | None = None,
               env: dict[str, str] | None = None) -> list[tuple[str, str, int, str]]:
    """Every ref under `prefix` (e.g. refs/wta/backup): full refname, commit, its committer time
    (epoch seconds) and subject. Fields are NUL-separated; neither a refname nor a subject holds a newline."""
    proc = run("for-each-ref", "--format=%(refname)%00%(objectname)%00%(committerdate:unix)%00%(subject)",
               f"{prefix.rstrip('/')}/", cwd=cwd, env=env)
    found = []
    for line in proc.stdout.decode(errors="surrogateescape").splitlines():
        ref, sha, when, subject = line.split("\0", 3)
        found.append((ref, sha, int(when or 0), subject))
    return found


def unmerged_paths(cwd: str | os.PathLike[str], env: dict[str, str] | None = None) -> list[str]:
    """The paths a stopped merge or rebase left conflicted in this worktree."""
    return list(dict.fromkeys(zsplit(run("diff", "--name-only", "--diff-filter=U", "-z", NOT_INTO_SUBMODULES,
                                         cwd=cwd, env=env).stdout)))


def merge_tree(ours: str, theirs: str, cwd: str | os.PathLike[str] | None = None,
               env: dict[str, str] | None = None) -> tuple[str, list[str]]:
    """Merge two commits in the object store only: the resulting tree and the conflicted paths.

    Writes objects, never a ref, the index or a file.
    """
    proc = run("merge-tree", "--write-tree", "--name-only", "--no-messages", "-z", ours, theirs,
               cwd=cwd, env=env, check=False)
    if proc.returncode not in (0, 1):
        detail = proc.stderr.decode(errors="replace").strip().splitlines()
        raise GitError(f"git merge-tree {ours} {theirs} failed: {detail[-1] if detail else proc.returncode}")
    tree, *paths = proc.stdout.decode(errors="surrogateescape").split("\0")
    paths = paths[:paths.index("")] if "" in paths else paths
    if proc.returncode == 1 and not paths:
        # Not clean, though git named no path: a conflict all the same, never a tree to land.
        paths = [CONFLICT_WITHOUT_PATH]
    return tree, list(dict.fromkeys(paths))


CONFLICT_WITHOUT_PATH = "(a conflict git named no path for)"


def tree_of(commit: str, cwd: str | os.PathLike[str] | None = None, env: dict[str, str] | None = None) -> str:
    """The tree id of a commit."""
    return out("rev-parse", f"{commit}^{{tree}}", cwd=cwd, env=env)


def commit_tree(tree: str, parents: Sequence[str], message: str, cwd: str | os.PathLike[str] | None = None,
                env: dict[str, str] | None = None, as_commit: bool = False) -> str:
    """A commit object for `tree` (no ref points at it). `as_commit`: made as `git commit` would make it
    where `commit-tree` differs: signed when `commit.gpgSign` says so, and the message (text, written
    as UTF-8) without the `encoding` header `i18n.commitEncoding` would give it."""
    args = [arg for parent in parents for arg in ("-p", parent)]
    if as_commit:
        signing = run("config", "--type=bool", "commit.gpgsign", cwd=cwd, env=env, check=False).stdout.strip()
        args = ["-S", *args] if signing == b"true" else args
        return out("-c", "i18n.commitEncoding=UTF-8", "commit-tree", tree, *args, "-m", message, cwd=cwd, env=env)
    return out("commit-tree", tree, *args, "-m", message, cwd=cwd, env=env)


def commits_touching(revs: Sequence[str], paths: Sequence[str], cwd: str | os.PathLike[str] | None = None,
                     env: dict[str, str] | None = None) -> list[tuple[str, str, list[str]]]:
    """(sha, subject, the given paths it changes) of each commit in `revs` that changes one of `paths`.

    The paths go through stdin (`--stdin`, after `--`), never the command line:
    a conflict over tens of thousands of paths exceeds the argument list's limit.
    A name with a newline cannot be given there; then every commit is listed
    and the paths are picked here.
    """
    if not paths:
        return []
    wanted = set(paths)
    limit = "" if any("\n" in p for p in paths) else "--\n" + "".join(f"{p}\n" for p in paths)
    proc = run("--literal-pathspecs", "log", "--stdin", "-z", "--raw", "--no-renames", "--no-abbrev",
               "--format=%H %P%x00%s", *revs, cwd=cwd, env=env, input=limit.encode(errors="surrogateescape"))
    found = []
    for sha, _, subject, entries in _log_records(proc.stdout):
        touched = [p for p in entries[1::2] if p in wanted]
        if touched:
            found.append((sha, subject, touched))
    return found


# -- refs, objects and the worktree's own files ---------------------------------------

def rev_parse(rev: str, cwd: str | os.PathLike[str] | None = None, env: dict[str, str] | None = None,
              jail: Jail | None = None) -> str | None:
    """The object id `rev` names, or None when it names nothing. `jail`: asked in that sandbox (of a
    repository a stream can write, whose config could run code)."""
    proc = run("rev-parse", "-q", "--verify", rev, cwd=cwd, env=env, check=False, jail=jail)
    return (proc.stdout.decode().strip() or None) if proc.returncode == 0 else None


def check_out_detached(commit: str, cwd: str | os.PathLike[str], env: dict[str, str] | None = None,
                       jail: Jail | None = None) -> bool:
    """Check `commit` out on a detached HEAD in `cwd` (a submodule, as `git submodule update` does); whether
    it could (not when the commit is missing there, or local changes are in the way)."""
    return run("checkout", "-q", "--detach", commit, cwd=cwd, env=env, check=False, jail=jail).returncode == 0


def rev_parse_all(revs: Sequence[str], cwd: str | os.PathLike[str] | None = None,
                  env: dict[str, str] | None = None) -> list[str] | None:
    """The object ids `revs` name, from one process; None when any of them names nothing."""
    proc = run("rev-parse", *revs, "--", cwd=cwd, env=env, check=False)
    found = proc.stdout.decode().split()[:-1]   # rev-parse repeats the `--`
    return found if proc.returncode == 0 and len(found) == len(revs) else None


def reflog_newest(ref: str, common_dir: str, cwd: str | os.PathLike[str] | None = None,
                  env: dict[str, str] | None = None) -> str | None:
    """Where the newest entry of `ref`'s reflog (a full refname) moved it, or None without a reflog.

    Read from the reflog's last line (`<old> <new> <who> <when>\t<message>`, appended at every move)
    where it says so plainly, as `ref@{0}` reads it; else asked of git."""
    try:
        with open(os.path.join(common_dir, "logs", *ref.split("/")), "rb") as f:
            start = max(0, f.seek(0, os.SEEK_END) - 4096)
            f.seek(start)
            lines = f.read().split(b"\n")[1 if start else 0:]   # from the middle of the file: whole lines only
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError:
        lines = []
    lines = [line for line in lines if line]
    fields = lines[-1].split(b" ", 2) if lines else []
    newest = _object_id(fields[1]) if len(fields) == 3 and _object_id(fields[0]) else None
    return newest or rev_parse(f"{ref}@{{0}}", cwd, env)


def parents(rev: str, cwd: str | os.PathLike[str] | None = None, env: dict[str, str] | None = None) -> list[str]:
    """The parents of the commit `rev` names, first parent first."""
    return out("rev-list", "--no-walk", "--parents", rev, "--", cwd=cwd, env=env).split()[1:]


def commit_of(rev: str, cwd: str | os.PathLike[str] | None = None, env: dict[str, str] | None = None) -> str | None:
    """The commit `rev` names (a tag peeled), or None when it names no commit."""
    return rev_parse(f"{rev}^{{commit}}", cwd, env)


def blob_id(rev: str, path: str, common_dir: str, env: dict[str, str] | None = None) -> str | None:
    """The blob id of `path` in commit `rev` of the repository at `common_dir`, or None when it has no such file."""
    return rev_parse(f"{rev}:{path}", common_dir, git_dir_env(common_dir, env))


def read_blob(sha: str, cwd: str | os.PathLike[str] | None = None, env: dict[str, str] | None = None) -> bytes:
    return run("cat-file", "blob", sha, cwd=cwd, env=env).stdout


def hash_file(path: str, cwd: str | os.PathLike[str] | None = None, env: dict[str, str] | None = None) -> str:
    """The blob id a file would have if committed."""
    return out("hash-object", "--", path, cwd=cwd, env=env)


def head_ref(cwd: str | os.PathLike[str] | None = None, env: dict[str, str] | None = None) -> str | None:
    """The full name of the branch HEAD points at (`refs/heads/main`); None when HEAD is detached."""
    proc = run("symbolic-ref", "-q", "HEAD", cwd=cwd, env=env, check=False)
    return proc.stdout.decode(errors="surrogateescape").strip() if proc.returncode == 0 else None


def has_checked_out(worktree: str, ref: str, common_dir: str, env: dict[str, str] | None = None) -> bool:
    """Whether HEAD in `worktree` is the branch `ref` (`refs/heads/<name>`), as `head_ref` says.

    Read from the worktree's HEAD file where it says so plainly (a regular file holding `ref: <ref>` and
    nothing else) and the branch's own ref is a plain one (a regular loose ref file, or its line in
    packed-refs: git's `symbolic-ref` follows a branch that is itself a symbolic ref, or a link, on to its
    target). Anything else (a detached HEAD, another branch, a link, another ref store, git settings from
    the environment) is asked of git. A landing asks before and after it moves the base (docs/performance.md)."""
    git_dir = _plain_git_dir(worktree, env)
    if git_dir is not None and ref.startswith("refs/heads/") and _plain_branch(common_dir, ref):
        from worktree_agents.files import read_plain_file

        try:
            if read_plain_file(os.path.join(git_dir, "HEAD"), 4096) == f"ref: {ref}\n".encode():
                return True
        except OSError:
            pass
    return head_ref(worktree, env) == ref


def _plain_git_dir(worktree: str, env: dict[str, str] | None) -> str | None:
    """The git dir git finds for `worktree` by itself: its `.git` directory (the main worktree), or the one
    its `.git` file names; None when the environment could point git elsewhere, or it is anything else."""
    if any(name in (os.environ if env is None else env) for name in LOCAL_ENV_VARS):
        return None
    dot_git = os.path.join(worktree, ".git")
    if os.path.isdir(dot_git) and not os.path.islink(dot_git):
        return dot_git
    try:
        with open(dot_git, "rb") as f:
            text = f.read(4097)
    except OSError:
        return None
    if not text.startswith(b"gitdir: ") or not text.endswith(b"\n") or text.count(b"\n") != 1 or len(text) > 4096:
        return None
    return os.path.join(worktree, os.fsdecode(text[len(b"gitdir: "):-1]))


def _plain_branch(common_dir: str, ref: str) -> bool:
    """Whether `ref` is held as a plain object id: a regular loose ref file (not a link), or, with none, a line
    of packed-refs."""
    import stat

    try:
        info = os.lstat(os.path.join(common_dir, ref))
    except FileNotFoundError:
        return branch_tip(common_dir, ref[len("refs/heads/"):]) is not None   # (from packed-refs)
    except OSError:
        return False
    return stat.S_ISREG(info.st_mode) and branch_tip(common_dir, ref[len("refs/heads/"):]) is not None


def current_branch(cwd: str | os.PathLike[str] | None = None, env: dict[str, str] | None = None) -> str | None:
    """The short name of the branch checked out (`main`); None when HEAD is detached."""
    ref = head_ref(cwd, env)
    return ref[len("refs/heads/"):] if ref and ref.startswith("refs/heads/") else None


def commit_time(rev: str, cwd: str | os.PathLike[str] | None = None, env: dict[str, str] | None = None) -> float | None:
    """When `rev` was committed (seconds since the epoch), or None (no such commit)."""
    proc = run("log", "-1", "--format=%ct", rev, cwd=cwd, env=env, check=False)
    text = proc.stdout.decode().strip()
    return float(text) if proc.returncode == 0 and text else None


def config_value(key: str, cwd: str | os.PathLike[str] | None = None, env: dict[str, str] | None = None) -> str:
    """A config value as the config files set it, "" when unset (core.hooksPath too: `WITH_HOOKS`)."""
    proc = run("config", "--get", key, cwd=cwd, env=env, check=False, hooks=True)
    return proc.stdout.decode(errors="surrogateescape").strip()


def set_config(key: str, value: str, cwd: str | os.PathLike[str] | None = None,
               env: dict[str, str] | None = None) -> None:
    run("config", key, value, cwd=cwd, env=env)


def config_by_scope(key: str, cwd: str | os.PathLike[str] | None = None,
                    env: dict[str, str] | None = None) -> list[tuple[str, str]]:
    """Every value of a path-valued key as (scope, value) in the order git reads them (`~` expanded);
    the scopes are system, global, local, worktree and command."""
    fields = zsplit(run("config", "--show-scope", "--type=path", "-z", "--get-all", key, cwd=cwd, env=env,
                        check=False, hooks=True).stdout)
    return list(zip(fields[::2], fields[1::2]))  # with -z git ends the scope with a NUL too


def file_config(path: str, key: str | None = None, bool_type: bool = False,
                env: dict[str, str] | None = None) -> list[str]:
    """The values of `key` in one config file (git's `--file`), or with no key its entries as
    "key\nvalue"; [] when there are none or the file does not exist."""
    if not os.path.isfile(path):
        return []
    args = ["config", "--file", path, "-z", *(["--type=bool"] if bool_type else []),
            *(["--get-all", key] if key else ["--list"])]
    return zsplit(run(*args, env=env, check=False).stdout)


def set_file_config(path: str, key: str, value: str, env: dict[str, str] | None = None) -> None:
    """Set `key` in one config file, replacing every value it had there. A file that does not exist yet is
    written here, without a git process (a new stream worktree's config.worktree: docs/performance.md)."""
    section, _, name = key.rpartition(".")
    if (section + name).isascii() and section.isalnum() and name.isalnum() and "\0" not in value and not os.path.lexists(path):
        quoted = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t")
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
        except OSError:
            pass   # made meanwhile (git edits it), or no directory for it (git says so)
        else:
            with open(fd, "wb") as f:
                f.write(f'[{section}]\n\t{name} = "{quoted}"\n'.encode(errors="surrogateescape"))
            return
    run("config", "--file", path, "--replace-all", key, value, env=env)


def unset_file_config(path: str, key: str, env: dict[str, str] | None = None) -> None:
    run("config", "--file", path, "--unset-all", key, env=env, check=False)


def exec_path(env: dict[str, str] | None = None) -> str:
    """Where git's own programs are (`git --exec-path`): it tells git's install prefix."""
    return out("--exec-path", env=env)


def git_path(name: str, cwd: str | os.PathLike[str] | None = None, env: dict[str, str] | None = None) -> str:
    """Where git keeps `name` (`hooks`, `info/exclude`) for this worktree, as git prints it (may be relative);
    `hooks` where core.hooksPath says (`WITH_HOOKS`)."""
    proc = run("rev-parse", "--git-path", name, cwd=cwd, env=env, hooks=True)
    return proc.stdout.decode(errors="surrogateescape").rstrip("\n")


def git_dirs(cwd: str | os.PathLike[str] | None = None,
             env: dict[str, str] | None = None) -> tuple[str, str] | None:
    """This worktree's private git dir (absolute) and the common git dir (as git prints it); None outside a repository."""
    proc = run("rev-parse", "--absolute-git-dir", "--git-common-dir", cwd=cwd, env=env, check=False)
    if proc.returncode != 0:
        return None
    git_dir, common = proc.stdout.decode(errors="surrogateescape").splitlines()
    return git_dir, common


def git_dir_and_toplevel(cwd: str | os.PathLike[str] | None = None,
                         env: dict[str, str] | None = None) -> tuple[str, str] | None:
    """The absolute git dir and the top of the worktree at `cwd`; None outside a worktree."""
    proc = run("rev-parse", "--absolute-git-dir", "--show-toplevel", cwd=cwd, env=env, check=False)
    lines = proc.stdout.decode(errors="surrogateescape").splitlines()
    return (lines[0], lines[1]) if proc.returncode == 0 and len(lines) == 2 else None


def toplevel(cwd: str | os.PathLike[str] | None = None, env: dict[str, str] | None = None) -> str | None:
    """The top of the worktree at `cwd`, or None outside one."""
    proc = run("rev-parse", "--show-toplevel", cwd=cwd, env=env, check=False)
    return proc.stdout.decode(errors="surrogateescape").strip() if proc.returncode == 0 else None


def bare_and_toplevel(cwd: str | os.PathLike[str] | None = None,
                      env: dict[str, str] | None = None) -> tuple[bool, str | None] | None:
    """Whether the repository is bare, and the top of the worktree at `cwd`; None outside a repository."""
    proc = run("rev-parse", "--is-bare-repository", "--show-toplevel", cwd=cwd, env=env, check=False)
    lines = proc.stdout.decode(errors="surrogateescape").splitlines()
    if lines[:1] == ["true"]:  # in a bare repository --show-toplevel fails after printing this
        return True, None
    if proc.returncode != 0:
        return None
    return False, (lines[1] if len(lines) > 1 else None)


def tracked_files(cwd: str | os.PathLike[str] | None = None, env: dict[str, str] | None = None,
                  paths: Sequence[str] = ()) -> list[str]:
    """The tracked files (under `paths`, taken literally, when given)."""
    prefix = ("--literal-pathspecs",) if paths else ()
    return zsplit(run(*prefix, "ls-files", "-z", *(("--", *paths) if paths else ()), cwd=cwd, env=env).stdout)


def submodules(cwd: str | os.PathLike[str] | None = None, env: dict[str, str] | None = None) -> set[str]:
    """The tracked paths that are submodules (gitlinks: git tracks the commit checked out there, not its files)."""
    entries = zsplit(run("ls-files", "--stage", "-z", cwd=cwd, env=env).stdout)   # "<mode> <object> <stage>\t<path>"
    return {entry.split("\t", 1)[1] for entry in entries if entry.startswith("160000 ")}


def files_not_ignored(paths: Sequence[str], cwd: str | os.PathLike[str],
                      env: dict[str, str] | None = None) -> list[str]:
    """The files under `paths` (taken literally) that git tracks or would show as untracked."""
    return zsplit(run("--literal-pathspecs", "ls-files", "--cached", "--others", "--exclude-standard", "-z", "--",
                      *paths, cwd=cwd, env=env).stdout)


def is_tracked(path: str, cwd: str | os.PathLike[str] | None = None, env: dict[str, str] | None = None) -> bool:
    return ok("ls-files", "--error-unmatch", "--", path, cwd=cwd, env=env)


def ignored_paths(paths: Sequence[str], cwd: str | os.PathLike[str], env: dict[str, str] | None = None) -> set[str]:
    """Which of `paths` git ignores in the worktree at `cwd`."""
    proc = run("check-ignore", "-z", "--stdin", cwd=cwd, env=env, check=False,
               input=b"".join(p.encode(errors="surrogateescape") + b"\0" for p in paths))
    if proc.returncode not in (0, 1):
        raise GitError(f"git check-ignore failed in {cwd}: {proc.stderr.decode(errors='replace').strip()}")
    return set(zsplit(proc.stdout))


def _pathspecs(*args: str, paths: Sequence[str], cwd: str | os.PathLike[str], env: dict[str, str] | None,
               check: bool = True, hooks: bool = False, jail: Jail | None = None) -> Completed:
    # Paths go through stdin, NUL-separated and literal: any name, any number of them.
    return run("--literal-pathspecs", *args, "--pathspec-from-file=-", "--pathspec-file-nul", cwd=cwd, env=env,
               input="\0".join(paths).encode("utf-8", "surrogateescape") + b"\0", check=check, hooks=hooks,
               jail=jail)


def stage(paths: Sequence[str], cwd: str | os.PathLike[str], env: dict[str, str] | None = None) -> None:
    """`git add -A` of exactly these paths (deletions too)."""
    _pathspecs("add", "-A", paths=paths, cwd=cwd, env=env)


def unstage(paths: Sequence[str], cwd: str | os.PathLike[str], env: dict[str, str] | None = None) -> None:
    _pathspecs("reset", "-q", paths=paths, cwd=cwd, env=env, check=False)


def commit_only(message: str, paths: Sequence[str], cwd: str | os.PathLike[str],
                env: dict[str, str] | None = None, jail: Jail | None = None) -> Completed:
    """Commit these paths only (the repository's hooks run, as on the agent's own commits, and in
    the stream's sandbox `jail` when it has one: they may run the worktree's files); the finished
    process, which may have failed."""
    return _pathspecs("commit", "-q", "--only", "-m", message, paths=paths, cwd=cwd, env=env, check=False,
                      hooks=True, jail=jail)


def init_repository(path: str, branch: str, env: dict[str, str] | None = None) -> None:
    run("init", "-q", "-b", branch, cwd=path, env=env)


def commit_everything(message: str, cwd: str | os.PathLike[str], env: dict[str, str] | None = None) -> None:
    run("add", "-A", cwd=cwd, env=env)
    run("commit", "-q", "-m", message, cwd=cwd, env=env)


# -- worktrees ------------------------------------------------------------------------

def worktree_records(cwd: str | os.PathLike[str] | None = None,
                     env: dict[str, str] | None = None) -> list[dict[str, str]]:
    """git's registered worktrees (`worktree list --porcelain`), the main one first: one dict
    of attributes each (`worktree`, `HEAD`, `branch`, and `bare`, `prunable`, `locked` when set)."""
    records: list[dict[str, str]] = []
    record: dict[str, str] = {}
    for field in zsplit(run("worktree", "list", "--porcelain", "-z", cwd=cwd, env=env).stdout) + [""]:
        if field == "":
            if record:
                records.append(record)
            record = {}
            continue
        key, _, value = field.partition(" ")
        record[key] = value
    return records


def add_worktree(path: str, branch: str, cwd: str | os.PathLike[str], env: dict[str, str] | None = None,
                 new_from: str | None = None) -> None:
    """Register a worktree for `branch` at `path`, without checking out its files; with `new_from`,
    the branch is created there (not tracking anything)."""
    where = [path, branch] if new_from is None else ["--no-track", "-b", branch, path, new_from]
    run("worktree", "add", "--quiet", "--no-checkout", *where, cwd=cwd, env=env)


def set_sparse_checkout(arguments: Sequence[str], cwd: str | os.PathLike[str], env: dict[str, str] | None = None,
                        patterns: Sequence[str] | None = None) -> None:
    """`git sparse-checkout set` with these arguments (and `patterns` on stdin for --stdin)."""
    run("sparse-checkout", "set", *arguments, cwd=cwd, env=env,
        input=None if patterns is None else "".join(p + "\n" for p in patterns).encode())


def sparse_checkout_list(cwd: str | os.PathLike[str], env: dict[str, str] | None = None) -> tuple[str, ...] | None:
    """What `git sparse-checkout set` was given (cone mode: the directories; else the patterns), or None
    when the worktree is not sparse."""
    proc = run("sparse-checkout", "list", cwd=cwd, env=env, check=False)
    if proc.returncode != 0:
        return None   # "this worktree is not sparse"
    return tuple(proc.stdout.decode(errors="surrogateescape").splitlines())


def disable_sparse_checkout(cwd: str | os.PathLike[str], env: dict[str, str] | None = None) -> None:
    run("sparse-checkout", "disable", cwd=cwd, env=env)


def drop_copied_worktree_config(git_dir: str) -> None:
    """Take from a worktree just registered (no index, nothing checked out) what `git worktree add` copied
    into it from the worktree it ran in (git 2.36+, with extensions.worktreeConfig): that one's whole
    config.worktree (a sparse checkout, and any key a person set there with `git config --worktree`: a
    core.hooksPath, a user.email) and its sparse-checkout patterns. The new worktree starts with no config
    of its own, and is complete, or sparse only as wta then sets it."""
    for copied in (os.path.join(git_dir, "config.worktree"), os.path.join(git_dir, "info", "sparse-checkout")):
        try:
            os.unlink(copied)
        except FileNotFoundError:
            pass


def checkout_with_untracked_cache(cwd: str | os.PathLike[str], env: dict[str, str] | None = None) -> None:
    """Check out a new worktree's files, with git's untracked cache in its new index."""
    run("-c", "core.untrackedCache=true", "checkout", "--quiet", cwd=cwd, env=env)


def finish_checkout(cwd: str | os.PathLike[str], env: dict[str, str] | None = None) -> None:
    """Write a worktree's files and index from its HEAD, over whatever part of them a checkout cut short left
    (`git checkout` refuses the files it finds there), for a worktree with no index yet; a sparse one stays
    sparse. (`checkout_head_files` is for an index a killed git may have left stale: it writes every file of
    the sparse checkout.)"""
    run("-c", "core.untrackedCache=true", "read-tree", "-u", "--reset", "HEAD", cwd=cwd, env=env)


def remove_worktree(path: str, cwd: str | os.PathLike[str], env: dict[str, str] | None = None,
                    force: bool = False) -> Completed:
    """`git worktree remove`; the finished process, which may have failed."""
    return run("worktree", "remove", *(["--force"] if force else []), path, cwd=cwd, env=env, check=False)


def prune_worktrees(cwd: str | os.PathLike[str], env: dict[str, str] | None = None) -> None:
    run("worktree", "prune", cwd=cwd, env=env)


def delete_branch(branch: str, cwd: str | os.PathLike[str], env: dict[str, str] | None = None) -> Completed:
    """`git branch -D`; the finished process, which may have failed."""
    return run("branch", "-D", branch, cwd=cwd, env=env, check=False)


# -- rebasing and moving branches in a worktree (wta merge) ----------------------------

def rebase(onto: str, cwd: str | os.PathLike[str], env: dict[str, str] | None = None) -> Completed:
    """Rebase the checked-out branch onto `onto`, whatever the user's rebase settings; the finished process."""
    return run("-c", "rebase.autoStash=false", "-c", "rebase.updateRefs=false", "rebase", onto,
               cwd=cwd, env=env, check=False)


def settings_and_committer(cwd: str | os.PathLike[str],
                           env: dict[str, str] | None = None) -> tuple[dict[str, str], str]:
    """The config git reads in `cwd` (each key as git prints it, lower-case but for subsections, with its last
    value) and the committer identity git would give a commit made now there, from one `git var -l`.

    The identity is git's lenient one: an e-mail it made up from the host name
    ends in `(none)`, which a commit refuses."""
    lines = run("var", "-l", cwd=cwd, env=env).stdout.decode(errors="surrogateescape").splitlines()
    settings: dict[str, str] = {}
    committer = ""
    for line in lines:
        key, _, value = line.partition("=")
        if key == "GIT_COMMITTER_IDENT":
            committer = value
        elif not key.startswith("GIT_"):
            settings[key] = value
    return settings, committer


def _fast_import_path(path: str) -> bytes:
    """A path as `git fast-import` reads it: C-quoted, so that any byte (a newline, a quote) is itself."""
    quoted = bytearray(b'"')
    for byte in os.fsencode(path):
        if byte in b'"\\':
            quoted += b"\\" + bytes([byte])
        elif byte < 0x20 or byte == 0x7F:
            quoted += b"\\%03o" % byte
        else:
            quoted.append(byte)
    return bytes(quoted + b'"')


def write_commits(onto: str, commits: Sequence[tuple[bytes, bytes, Sequence[RawChange]]], committer: str,
                  cwd: str | os.PathLike[str], env: dict[str, str] | None = None) -> str | None:
    """A chain of new commits on `onto`, each (author line, message, changes) one commit whose tree is its
    parent's with those changes made, committed by `committer`, from one `git fast-import`; the id of
    the last, or None when git refused one (a malformed author line). No ref is written."""
    ref = b"refs/wta/replay"   # fast-import's name for the chain while it builds it; deleted at the end
    script = bytearray()
    for mark, (author, message, changes) in enumerate(commits, 1):
        script += b"commit %s\nmark :%d\nauthor %s\ncommitter %s\ndata %d\n%s\n" % (
            ref, mark, author, committer.encode(errors="surrogateescape"), len(message), message)
        if mark == 1:
            script += b"from %s\n" % onto.encode()
        for change in changes:
            path = _fast_import_path(change.path)
            if change.status == "D":
                script += b"D %s\n" % path
            else:
                script += b"M %s %s %s\n" % (change.new_mode.encode(), change.new_blob.encode(), path)
        script += b"\n"
    # The last commit's id on stdout; `reset` with no `from` leaves the ref unwritten; `done` (with
    # --done): a script cut short writes nothing.
    script += b"get-mark :%d\nreset %s\n\ndone\n" % (len(commits), ref)
    proc = run("fast-import", "--quiet", "--done", cwd=cwd, env=env, input=bytes(script), check=False)
    made = proc.stdout.decode(errors="replace").strip()
    return made if proc.returncode == 0 and _object_id(made.encode()) else None


def switch_tree(old: str, new: str, cwd: str | os.PathLike[str], env: dict[str, str] | None = None) -> Completed:
    """Move the index and files of a worktree from commit `old` to `new` (`read-tree -m -u`), carrying
    local changes as `git checkout` does and refusing rather than overwriting one in the way; the ref
    is left alone. The finished process.

    A file whose stat data the index no longer matches (touched, copied) looks changed to read-tree,
    which, unlike checkout, does not look again: then the index is refreshed and it is tried once more."""
    proc = run("read-tree", "-m", "-u", old, new, cwd=cwd, env=env, check=False)
    if proc.returncode != 0:
        refresh_index(cwd, env)
        proc = run("read-tree", "-m", "-u", old, new, cwd=cwd, env=env, check=False)
    return proc


def refresh_index(cwd: str | os.PathLike[str], env: dict[str, str] | None = None) -> None:
    """Bring the index's stat data up to date with the files that did not change (`update-index --refresh`)."""
    run("update-index", "-q", "--refresh", cwd=cwd, env=env, check=False)


def abort_rebase(cwd: str | os.PathLike[str], env: dict[str, str] | None = None) -> None:
    run("rebase", "--abort", cwd=cwd, env=env, check=False)


def merge_into(commit: str, message: str, cwd: str | os.PathLike[str], env: dict[str, str] | None = None) -> Completed:
    """Merge `commit` into the checked-out branch, the merge commit saying `message`; the finished process.
    On a conflict the merge is left under way (`unmerged_paths`, then `abort_merge`)."""
    return run("merge", "--no-edit", "--no-ff", "-q", "-m", message, commit, cwd=cwd, env=env, check=False)


def abort_merge(cwd: str | os.PathLike[str], env: dict[str, str] | None = None) -> None:
    run("merge", "--abort", cwd=cwd, env=env, check=False)


REBASE_DIRS = ("rebase-merge", "rebase-apply")   # in a worktree's private git dir while a rebase is under way


def rebasing(git_dir: str) -> bool:
    """Whether a rebase stopped (or was killed) half-way in the worktree whose private git dir is
    `git_dir`, from its files alone."""
    return any(os.path.exists(os.path.join(git_dir, d)) for d in REBASE_DIRS)


# What a git command that stopped for a person (a conflict) leaves in a worktree's private git dir, and its name.
STOPPED_FOR_A_PERSON = (*((d, "rebase") for d in REBASE_DIRS), ("CHERRY_PICK_HEAD", "cherry-pick"),
                        ("REVERT_HEAD", "revert"), ("MERGE_HEAD", "merge"))


def stopped_for_a_person(git_dir: str) -> str | None:
    """The git command (rebase, cherry-pick, revert, merge) stopped half-way in the worktree whose private git
    dir is `git_dir`, for a person to finish (`--continue`) or undo (`--abort`): its resolution is in that
    worktree only. From its files alone; None when there is none."""
    return next((name for marker, name in STOPPED_FOR_A_PERSON if os.path.exists(os.path.join(git_dir, marker))), None)


def file_at(rev: str, path: str, cwd: str | os.PathLike[str] | None = None,
            env: dict[str, str] | None = None) -> bytes | None:
    """A file's contents in a commit, or None when it has no such file."""
    proc = run("cat-file", "blob", f"{rev}:{path}", cwd=cwd, env=env, check=False)
    return proc.stdout if proc.returncode == 0 else None


def diff_numstat(base: str, tip: str, cwd: str | os.PathLike[str] | None = None,
                 env: dict[str, str] | None = None) -> list[tuple[str, str, str | None, int | None, int | None]]:
    """(status letter, path, old path, lines added, lines deleted) of each file `base...tip` changes.

    Renames are found as `diff_text` finds them (`--find-renames`, whatever `diff.renames` says): one
    entry, status R, its new path and its old one (None for any other status); counts are None for a
    binary file.
    """
    spec = f"{base}...{tip}"
    statuses = zsplit(run("diff", "--no-ext-diff", "--find-renames", "--name-status", "-z", spec, "--",
                          cwd=cwd, env=env).stdout)
    letters: dict[str, tuple[str, str | None]] = {}
    i = 0
    while i < len(statuses):
        letter = statuses[i][:1]
        if letter in "RC":   # R087: the similarity follows; source then destination
            letters[statuses[i + 2]] = (letter, statuses[i + 1])
            i += 3
        else:
            letters[statuses[i + 1]] = (letter, None)
            i += 2
    found = []
    records = zsplit(run("diff", "--no-ext-diff", "--find-renames", "--numstat", "-z", spec, "--",
                         cwd=cwd, env=env).stdout)
    i = 0
    while i < len(records):
        added, deleted, path = records[i].split("\t", 2)
        i += 1
        if not path:   # a rename: its path field is empty, the old and the new path follow as records
            path = records[i + 1]
            i += 2
        letter, old_path = letters.get(path, ("M", None))
        found.append((letter, path, old_path, None if added == "-" else int(added),
                      None if deleted == "-" else int(deleted)))
    return found


def diff_text(base: str, tip: str, patch: bool, colour: bool, cwd: str | os.PathLike[str] | None = None,
              env: dict[str, str] | None = None) -> bytes:
    """`git diff --stat` (or the full patch) of `base...tip`, as git prints it for people, renames found
    as `diff_numstat` finds them."""
    return run("diff", "--no-ext-diff", "--find-renames", f"--color={'always' if colour else 'never'}",
               "--patch" if patch else "--stat", f"{base}...{tip}", "--", cwd=cwd, env=env).stdout


def count_commits(exclude: str, include: str, cwd: str | os.PathLike[str] | None = None,
                  env: dict[str, str] | None = None) -> int:
    """How many commits `include` has that `exclude` lacks (`exclude..include`)."""
    return int(out("rev-list", "--count", include, f"^{exclude}", "--", cwd=cwd, env=env))


def ahead_behind(base: str, tip: str, cwd: str | os.PathLike[str] | None = None,
                 env: dict[str, str] | None = None) -> tuple[int, int]:
    """(ahead, behind): how many commits `tip` has that `base` lacks, and the other way round (one process)."""
    behind, ahead = out("rev-list", "--left-right", "--count", f"{base}...{tip}", "--", cwd=cwd, env=env).split()
    return int(ahead), int(behind)


# -- recovering a worktree a killed git left half-way (wta merge --continue/--abort) ------

def point_head(ref: str, cwd: str | os.PathLike[str], env: dict[str, str] | None = None) -> None:
    """Make HEAD name `ref` again (a detached HEAD put back on its branch); files and index untouched."""
    run("symbolic-ref", "HEAD", ref, cwd=cwd, env=env)


def changed_from_head(cwd: str | os.PathLike[str], env: dict[str, str] | None = None) -> list[str]:
    """Tracked paths whose index entry or file differs from HEAD."""
    return zsplit(run("diff-index", "--name-only", "-z", NOT_INTO_SUBMODULES, "HEAD", cwd=cwd, env=env).stdout)


def untracked_files(cwd: str | os.PathLike[str], env: dict[str, str] | None = None,
                    ignored: bool = False, folders: bool = False) -> list[str]:
    """Untracked files that are not ignored (`ignored`: those too), each file listed (git refuses to overwrite
    those in a checkout); `folders`: a folder none of whose files is tracked as one `dir/`, as for people."""
    whole = ("--directory", "--no-empty-directory") if folders else ()
    return zsplit(run("ls-files", "--others", *(() if ignored else ("--exclude-standard",)), *whole, "-z",
                      cwd=cwd, env=env).stdout)


def unstaged_paths(cwd: str | os.PathLike[str], env: dict[str, str] | None = None) -> list[str]:
    """Tracked paths whose file differs from the index."""
    return zsplit(run("diff", "--name-only", "-z", "--no-renames", cwd=cwd, env=env).stdout)


def index_is(commit: str, cwd: str | os.PathLike[str], env: dict[str, str] | None = None) -> bool:
    """Whether the index holds exactly `commit`'s tree."""
    return run("diff", "--cached", "--quiet", commit, "--", cwd=cwd, env=env, check=False).returncode == 0


def reset_tree(commit: str, cwd: str | os.PathLike[str], env: dict[str, str] | None = None) -> None:
    """The index set to `commit`'s tree and the files it changes written, over local changes (`read-tree -u
    --reset`); a sparse checkout's skip-worktree bits set anew."""
    run("read-tree", "-u", "--reset", commit, cwd=cwd, env=env)


def reset_to_head(cwd: str | os.PathLike[str], env: dict[str, str] | None = None) -> None:
    """Tracked files and the index back to HEAD (`reset --hard`: a sparse worktree stays sparse);
    untracked files stay."""
    run("reset", "-q", "--hard", "HEAD", cwd=cwd, env=env)


def checkout_head_files(cwd: str | os.PathLike[str], env: dict[str, str] | None = None) -> None:
    """Make the index HEAD's tree and write every tracked file from it (what a killed checkout half-did), but
    those a sparse checkout leaves out: `read-tree -u` sets their skip-worktree bits (and removes them if
    there), which `checkout-index` honours; it writes the others even where a stale index took them for
    unchanged."""
    reset_tree("HEAD", cwd, env)
    run("checkout-index", "-f", "-a", cwd=cwd, env=env)
    refresh_index(cwd, env)


def tree_blobs(commit: str, cwd: str | os.PathLike[str], env: dict[str, str] | None = None) -> dict[str, str] | None:
    """Every file of a commit's tree with its blob id; None when there is no such commit."""
    proc = run("ls-tree", "-r", "-z", "--full-tree", commit, cwd=cwd, env=env, check=False)
    if proc.returncode != 0:
        return None
    entries = {}
    for entry in zsplit(proc.stdout):
        meta, _, path = entry.partition("\t")
        entries[path] = meta.split()[2]
    return entries


def hash_files(paths: Sequence[str], cwd: str | os.PathLike[str], env: dict[str, str] | None = None) -> list[str]:
    """The blob id each file would have if committed (through its path's filters); symlinks as git stores them."""
    links = {p for p in paths if os.path.islink(os.path.join(cwd, p))}
    batch = [p for p in paths if p not in links and "\n" not in p]
    names = "".join(f"{p}\n" for p in batch).encode(errors="surrogateescape")   # (a name of bytes not UTF-8)
    found = dict(zip(batch, run("hash-object", "--stdin-paths", cwd=cwd, env=env, input=names).stdout.decode().split()))
    for path in paths:
        if path in links:
            target = os.fsencode(os.readlink(os.path.join(cwd, path)))
            found[path] = run("hash-object", "--stdin", cwd=cwd, env=env, input=target).stdout.decode().strip()
        elif path not in found:  # a newline in its name: one at a time
            found[path] = out("hash-object", f"--path={path}", "--", os.path.join(cwd, path), cwd=cwd, env=env)
    return [found[p] for p in paths]


def ignored_entries(cwd: str | os.PathLike[str], env: dict[str, str] | None = None) -> list[str]:
    """Ignored files in a worktree; an ignored directory is one entry, ending in '/'."""
    return zsplit(run("ls-files", "--others", "--ignored", "--exclude-standard", "--directory", "-z",
                      cwd=cwd, env=env).stdout)


def ignore_sources(paths: Sequence[str], cwd: str | os.PathLike[str],
                   env: dict[str, str] | None = None) -> dict[str, str]:
    """For each ignored path, the file whose pattern ignores it (`src/.gitignore`, or an absolute path
    for info/exclude and core.excludesFile)."""
    if not paths:
        return {}
    proc = run("check-ignore", "-v", "-z", "--stdin", cwd=cwd, env=env, check=False,
               input=b"".join(p.encode(errors="surrogateescape") + b"\0" for p in paths))
    if proc.returncode not in (0, 1):
        raise GitError(f"git check-ignore failed in {cwd}: {reason(proc.stderr)}")
    fields = zsplit(proc.stdout)
    return {fields[i + 3]: fields[i] for i in range(0, len(fields) - 3, 4) if fields[i]}
