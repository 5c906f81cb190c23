"""git's registered worktrees, which stream each belongs to, and where a stream's worktree goes."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Iterable

from worktree_agents import git, layout
from worktree_agents.errors import WtaError
from worktree_agents.files import write_atomic
from worktree_agents.quoting import shell_word
from worktree_agents.repo import Repo, main_worktree, record_stream
from worktree_agents.zones.in_force import ZonesInForce


@dataclass(frozen=True)
class Worktree:
    path: str
    head: str | None
    branch: str | None      # short name, None when detached
    bare: bool = False
    prunable: bool = False
    locked: bool = False

    @property
    def locked_away(self) -> bool:
        """Locked (`git worktree lock`) and its folder gone: git keeps its record, and so must wta."""
        return self.locked and not os.path.isdir(self.path)


def list_worktrees(cwd: str, env: dict[str, str] | None = None,
                   records: list[dict[str, str]] | None = None) -> list[Worktree]:
    """git's registered worktrees, the main one first (by its own path also where git names it by its git
    dir: a submodule's, `--separate-git-dir`'s); from `records` (`git.worktree_records`) when given."""
    found = []
    if records is None:
        records = git.worktree_records(cwd, env or git.no_git_env())
    for i, record in enumerate(records):
        branch = record.get("branch")
        path = record["worktree"]
        if i == 0 and "bare" not in record and _is_git_dir(path):
            path = main_worktree(path) or path
        found.append(Worktree(path, record.get("HEAD"),
                              branch[len("refs/heads/"):] if branch and branch.startswith("refs/heads/") else branch,
                              "bare" in record, "prunable" in record, "locked" in record))
    return found


def _is_git_dir(path: str) -> bool:
    return os.path.isfile(os.path.join(path, "HEAD")) and os.path.isdir(os.path.join(path, "objects"))


# What a linked worktree's own config (config.worktree) may set: what `git
# sparse-checkout` writes there, and core.hooksPath, through which wta gives a
# stream worktree its hooks (wta's own git runs with `-c core.hooksPath=/dev/null`,
# which beats it). Anything else could run code or change what git reports
# inside wta (a filter, a diff driver, an include of another file).
WORKTREE_CONFIG_KEYS = frozenset({"core.sparsecheckout", "core.sparsecheckoutcone", "index.sparse",
                                  "core.hookspath"})


def check_git_link(path: str, common_dir: str) -> None:
    """Refuse (WtaError, one line) to run git in worktree `path` unless its `.git` leads to its own
    private git dir: `<common>/worktrees/<name>`, which names this `.git` back and shares the
    repository's config, and whose own config sets nothing but sparse checkout.

    The worktree's files are the stream's to write: a `.git` file pointed at a git dir it built
    would choose the config, hooks and fsmonitor of wta's own git calls there.
    """
    link = os.path.join(path, ".git")
    common = os.path.realpath(common_dir)
    repair = f"run `git worktree repair {shell_word(path)}` in the main worktree, or remove that worktree"
    if os.path.isdir(link) and not os.path.islink(link):
        if os.path.realpath(link) != common:
            raise WtaError(f"{path}: its .git is another repository than {common}; {repair}")
        return  # the main worktree
    target = _gitdir_file(link, "gitdir: ")
    if target is None:
        raise WtaError(f"{path}: its .git is not a file naming its git dir; {repair}")
    private = os.path.realpath(os.path.join(path, target))
    if private == common:
        return  # a main worktree whose git dir lives elsewhere (--separate-git-dir, a submodule)
    named_back = _gitdir_file(os.path.join(private, "gitdir"), "")
    shared = _gitdir_file(os.path.join(private, "commondir"), "")
    if (os.path.dirname(private) != os.path.join(common, "worktrees") or named_back is None or shared is None
            or os.path.realpath(os.path.join(private, named_back)) != os.path.realpath(link)
            or os.path.realpath(os.path.join(private, shared)) != common):
        raise WtaError(f"{path}: its .git leads to {private}, not to its own git dir in {common}/worktrees; {repair}")
    own_config = os.path.join(private, "config.worktree")
    if os.path.exists(own_config):
        keys = git.config_keys(own_config)
        foreign = [k for k in keys if k not in WORKTREE_CONFIG_KEYS]
        if foreign:
            raise WtaError(f"{own_config}: sets {foreign[0]}, which wta does not let a worktree's own config set "
                           f"(it could run code inside wta's git); remove it with `git config --worktree --unset "
                           f"{foreign[0]}` in {path}")


def defuse_reflogs(path: str, common_dir: str) -> list[str]:
    """Remove the symbolic links a stream could have put where git appends a reflog line when wta's own
    git, outside the sandbox, moves the worktree's HEAD or its branch: the worktree's `logs/HEAD` (or its
    whole `logs`) and the branch's log. git appends through a link, so one there would have wta write any
    file the user can (another worktree's, `~`, the repository's config). A stream's own log is all that
    goes (git starts it again); the paths removed. Call it with the stream's session not running. Only in
    a stream's worktree: elsewhere (the main worktree) a link there is the person's."""
    private = worktree_git_dir(path)
    if not os.path.exists(layout.stream_file(private)):
        return []
    traps = [os.path.join(private, "logs"), os.path.join(private, "logs", "HEAD")]
    try:
        with open(os.path.join(private, "HEAD"), encoding="utf-8", errors="surrogateescape") as f:
            head = f.read(4096).strip()
    except OSError:
        head = ""
    if head.startswith("ref: refs/heads/"):
        traps.append(os.path.join(common_dir, "logs", *head[len("ref: "):].split("/")))
    removed = []
    for trap in traps:
        if os.path.islink(trap):
            os.unlink(trap)
            removed.append(trap)
    return removed


def _gitdir_file(path: str, prefix: str) -> str | None:
    """The path a one-line git link file holds after `prefix` (None: not such a regular file)."""
    try:
        if os.path.islink(path):
            return None
        with open(path, encoding="utf-8", errors="surrogateescape") as f:
            text = f.read(4097).rstrip("\n")
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return None
    if not text.startswith(prefix) or "\n" in text or len(text) > 4096:
        return None
    return text[len(prefix):] or None


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


def stream_worktrees(main: str, common_dir: str, env: dict[str, str] | None = None) -> list[tuple[str, str]]:
    """Each linked worktree that exists and is recorded as a stream's (`wta-stream`), as (stream, path),
    in git's order: one `git worktree list`, each private git dir read from the worktree's `.git` file."""
    found = []
    for wt in list_worktrees(main, env):
        if wt.path == main or wt.bare or wt.prunable or not os.path.isdir(wt.path):
            continue
        stream = Repo(worktree_git_dir(wt.path), common_dir).stream()
        if stream:
            found.append((stream, wt.path))
    return found


def checked_out(main: str, common_dir: str, branch_of, env: dict[str, str] | None = None) -> dict[str, str]:
    """branch -> the worktree that has it checked out, where wta may work on that branch: the base's
    fast-forward, a stream's rebase and its `test:`. A stream worktree counts only on its own branch
    (`branch_of(stream)`): its HEAD is a file its sandboxed agent can write, and one pointed at the
    base or at another stream's branch must not make wta move that branch there (the main worktree
    would be left with the old files of a moved branch, or another stream's test would run in a tree
    the agent prepared). Such a worktree is off its branch, and said so (`off_branch`)."""
    found: dict[str, str] = {}
    for w in list_worktrees(main, env):
        if not w.branch or w.bare or w.prunable:
            continue
        if os.path.realpath(w.path) != os.path.realpath(main):
            stream = Repo(worktree_git_dir(w.path), common_dir).stream()
            if stream is not None and w.branch != branch_of(stream):
                continue
        found.setdefault(w.branch, w.path)   # the main worktree first, as git lists it
    return found


def held_by_another_stream(main: str, common_dir: str, branch: str, env: dict[str, str] | None = None) -> str | None:
    """When `branch` is checked out only in another stream's worktree (which `checked_out` leaves out):
    where, and the fix; else None."""
    for w in list_worktrees(main, env):
        if w.branch == branch and not w.bare and not w.prunable:
            other = Repo(worktree_git_dir(w.path), common_dir).stream()
            if other is not None:
                return (f"{branch} is checked out at {w.path}, which {layout.stream_file(worktree_git_dir(w.path))} "
                        f"records as stream {other!r}'s worktree, and wta lands a branch only from its own "
                        f"stream's worktree; switch that worktree back to {other}'s branch, or remove it (git "
                        f"worktree remove {shell_word(w.path)})")
    return None


def off_branch(wt: Worktree, branch: str) -> str | None:
    """Why a stream's own worktree is not on its branch (an agent or a person switched it, or a rebase
    is under way there), with the fix; None when it is."""
    if wt.branch == branch:
        return None
    at = shell_word(wt.path)   # (in the commands to paste)
    if git.rebasing(worktree_git_dir(wt.path)):
        return (f"its worktree {wt.path} is in the middle of a rebase; finish it there (git -C {at} rebase "
                f"--continue) or undo it (git -C {at} rebase --abort)")
    what = f"branch {wt.branch} checked out" if wt.branch else "a detached HEAD"
    env = git.no_git_env()
    name = shell_word(branch)
    there = git.rev_parse(f"refs/heads/{branch}", wt.path, env)
    if there is None and wt.branch:
        # Its own branch under an old name (`branch_prefix:` changed since): renamed, its commits stay.
        return (f"its worktree {wt.path} has {what}, and there is no {branch}; if that is this stream's branch "
                f"under an earlier name, rename it (git -C {at} branch -m {shell_word(wt.branch)} {name})")
    if not wt.branch and wt.head and there and not git.is_ancestor(wt.head, there, wt.path, env):
        # Switching back would leave the commits made on the detached HEAD in no branch.
        keep = (f"move {branch} there (git -C {at} switch -C {name})"
                if git.is_ancestor(there, wt.head, wt.path, env) else
                f"keep them on a branch (git -C {at} switch -c "
                f"{shell_word(branch.rsplit('/', 1)[-1] + '-detached')}), then "
                f"switch back (git -C {at} switch {name}) and bring them over (git cherry-pick)")
        return f"its worktree {wt.path} has a detached HEAD with commits {branch} lacks; {keep}"
    return (f"its worktree {wt.path} has {what}, not {branch}; switch it back there "
            f"(git -C {at} switch {name})")


def stream_off_branch(main: str, common_dir: str, stream: str, branch: str,
                      env: dict[str, str] | None = None) -> str | None:
    """`off_branch` of the worktree recorded as `stream`'s, when it is not on `branch`; None when there is
    no such worktree, or it is on its branch."""
    wt = off_branch_worktree(main, common_dir, stream, branch, env)
    return off_branch(wt, branch) if wt is not None else None


def off_branch_worktree(main: str, common_dir: str, stream: str, branch: str,
                        env: dict[str, str] | None = None) -> Worktree | None:
    """The worktree recorded as `stream`'s, when it is not on `branch`; else None."""
    return off_branch_worktrees(main, common_dir, {stream: branch}, env).get(stream)


def off_branch_worktrees(main: str, common_dir: str, branches: dict[str, str],
                         env: dict[str, str] | None = None) -> dict[str, Worktree]:
    """Of the streams in `branches` (stream -> its branch), those whose recorded worktree is not on its
    branch, with that worktree (from one `git worktree list`)."""
    found: dict[str, Worktree] = {}
    for wt in list_worktrees(main, env) if branches else []:
        if wt.path == main or wt.bare or wt.prunable or not os.path.isdir(wt.path):
            continue
        stream = Repo(worktree_git_dir(wt.path), common_dir).stream()
        if stream in branches and wt.branch != branches[stream]:
            found.setdefault(stream, wt)
    return found


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


def prunable_worktrees(project) -> list[Worktree]:
    return [w for w in list_worktrees(project.main, project.env) if w.prunable]


def prune(project) -> None:
    git.prune_worktrees(project.main, project.env)


# -- the stream branches wta knows -------------------------------------------------------

def known_branches(state_dir: str) -> set[str] | None:
    """The stream branches wta made, or saw a stream's worktree on: a sandboxed agent can make a new
    branch beside its own (git writes a ref's lock file in that folder), one that `wta up` would then take
    for a later stream's, whose zone and prefix it can give its commits. None where a wta from before the
    record worked (its stream records, but no record of branches: `plan_up` takes the branches there are
    as known, once); none known where no wta has worked yet."""
    try:
        with open(layout.path(state_dir, layout.KNOWN_BRANCHES), encoding="utf-8", errors="surrogateescape") as f:
            return {line.rstrip("\n") for line in f if line.strip()}
    except FileNotFoundError:
        return None if os.path.lexists(layout.path(state_dir, layout.STATE)) else set()


def remember_branches(state_dir: str, add: Iterable[str] = (), drop: Iterable[str] = ()) -> None:
    known = known_branches(state_dir)
    updated = ((known or set()) | set(add)) - set(drop)
    if updated != known:
        write_atomic(layout.path(state_dir, layout.KNOWN_BRANCHES), "".join(f"{b}\n" for b in sorted(updated)))
