"""The repository as wta sees it: where git keeps its data (Repo), the main
worktree, the base branch, stream branch names, which stream a worktree belongs
to, and the files wta keeps out of `git status` (info/exclude).

Stdlib only: this module is on the hook path, which never writes through it
(so `files` is imported where a file is written).
"""

from __future__ import annotations

import os
import stat
from collections import namedtuple

from worktree_agents import git, layout
from worktree_agents.errors import WtaError
from worktree_agents.zones.matcher import GLOB_CHARS


class Repo(namedtuple("Repo", [
    "git_dir",     # this worktree's private git dir
    "common_dir",  # shared by all worktrees
])):
    """Where git keeps this worktree's and the repository's data (a named
    tuple, cheap to define when a hook starts)."""

    __slots__ = ()

    @property
    def state_dir(self) -> str:
        return layout.state_dir(self.common_dir)

    @classmethod
    def here(cls, cwd: str | None = None) -> "Repo":
        """The repository of `cwd`; inside a hook, the one git named in GIT_DIR."""
        git_dir = os.environ.get("GIT_DIR") if cwd is None else None
        if git_dir:
            git_dir = os.path.abspath(git_dir)
            return cls(git_dir, _common_dir_of(git_dir))
        dirs = git.git_dirs(cwd)
        if dirs is None:
            where = cwd or os.getcwd()
            raise WtaError(f"{where}: not inside a git repository; run wta from a repository that has zones.yaml")
        git_dir, common = dirs
        common = common if os.path.isabs(common) else os.path.join(cwd or os.getcwd(), common)
        return cls(git_dir, os.path.normpath(common))

    def stream(self) -> str | None:
        """The stream recorded for this worktree, or None (main worktree, or not a stream)."""
        try:
            with open(layout.stream_file(self.git_dir), encoding="utf-8") as f:
                return f.read().strip() or None
        except FileNotFoundError:
            return None

    def merge_heads(self) -> list[str]:
        """The commits a conflicted merge is bringing in (MERGE_HEAD), if one awaits its commit."""
        try:
            with open(os.path.join(self.git_dir, "MERGE_HEAD"), encoding="ascii", errors="replace") as f:
                return f.read().split()
        except FileNotFoundError:
            return []


def _common_dir_of(git_dir: str) -> str:
    # A linked worktree's git dir names the common dir in its `commondir` file.
    try:
        with open(os.path.join(git_dir, "commondir"), encoding="utf-8") as f:
            common = f.read().strip()
    except FileNotFoundError:
        return git_dir
    return os.path.normpath(os.path.join(git_dir, common))


def record_stream(git_dir: str, stream: str | None) -> None:
    """Record (or with None, forget) which stream a worktree belongs to."""
    path = layout.stream_file(git_dir)
    if stream is None:
        if os.path.exists(path):
            os.unlink(path)
        return
    from worktree_agents.files import write_atomic

    write_atomic(path, stream + "\n")


WORKTREES_INSIDE = "stream worktrees inside the repository (`worktrees:` in zones.yaml)"   # an exclude heading


def exclude(exclude_file: str, paths: list[str], why: str, worktree: str | None = None) -> None:
    """Keep files wta puts into worktrees out of `git status` and `git add -A`.

    Each path (relative to a worktree's top) becomes an anchored, escaped entry
    of `exclude_file` (the repository's `info/exclude`, which every worktree
    reads), added once, under a `# wta: <why>` line. With `worktree`, paths git
    already ignores there (the project's own .gitignore) are left out.
    """
    if worktree is not None and paths:
        ignored = git.ignored_paths(paths, worktree, git.no_git_env())
        paths = [p for p in paths if p not in ignored]
    try:
        with open(exclude_file, encoding="utf-8", errors="surrogateescape") as f:
            text = f.read()
    except FileNotFoundError:
        text = ""
    present = set(text.splitlines())
    wanted = list(dict.fromkeys(line for line in ("/" + _escape_pattern(p) for p in paths) if line not in present))
    if not wanted:
        return
    if text and not text.endswith("\n"):
        text += "\n"
    heading = f"# wta: {why}"
    if [line for line in text.splitlines() if line.startswith("# wta: ")][-1:] != [heading]:
        text += heading + "\n"
    from worktree_agents.files import write_atomic

    write_atomic(exclude_file, text + "".join(w + "\n" for w in wanted))


def unexclude(exclude_file: str, paths: list[str], why: str) -> None:
    """Take out what `exclude` added for `paths` under its `# wta: <why>` heading (a line the user wrote
    elsewhere in the file stays), and the heading once nothing is left under it."""
    try:
        with open(exclude_file, encoding="utf-8", errors="surrogateescape") as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        return
    gone = {"/" + _escape_pattern(p) for p in paths}
    heading, kept, block = f"# wta: {why}", [], False
    for line in lines:
        block = line == heading or block and not line.startswith("#") and line.strip() != ""
        if not (block and line in gone):
            kept.append(line)
    kept = [line for i, line in enumerate(kept)   # a heading with no entry under it any more
            if line != heading or i + 1 < len(kept) and kept[i + 1].strip() and not kept[i + 1].startswith("#")]
    if kept != lines:
        from worktree_agents.files import write_atomic

        write_atomic(exclude_file, "".join(line + "\n" for line in kept))


def _escape_pattern(path: str) -> str:
    """`path` as a gitignore pattern that matches it literally."""
    escaped = "".join("\\" + c if c in GLOB_CHARS else c for c in path)
    return "\\" + escaped if escaped[:1] in ("#", "!") else escaped


# What git reads of each linked worktree's private git dir to list the worktrees.
_WORKTREE_ADMIN_FILES = ("HEAD", "gitdir", "commondir", "locked")


def refuse_unreadable_worktrees(common_dir: str) -> None:
    """WtaError (one line) naming a worktree's private file that is not a regular file (a FIFO made in
    place of HEAD, a device): git opens it blocking, and `git worktree list` would wait on it forever.
    Looked at with stat only, which never opens it."""
    admin = os.path.join(common_dir, "worktrees")
    try:
        names = sorted(os.listdir(admin))
    except OSError:
        return   # no linked worktrees
    for name in names:
        for path, what in _files_git_reads(common_dir, os.path.join(admin, name)):
            try:
                mode = os.stat(path).st_mode
            except OSError:
                continue   # absent (or a dangling link): git reports that itself, without waiting
            if stat.S_ISREG(mode) or (stat.S_ISDIR(mode) and what.startswith("the ref ")):
                continue   # (a folder where a ref would be: git takes the ref for absent)
            import shlex  # (only to say so: it imports `re`, which the hooks' start-up does without)

            kind = "a named pipe (FIFO)" if stat.S_ISFIFO(mode) else \
                "a directory" if stat.S_ISDIR(mode) else "not a regular file"
            where = _registered_path(os.path.join(admin, name)) or name
            raise WtaError(f"{path}: {kind}, not the file git keeps {what} of worktree {where} in (git would wait "
                           f"on it or fail); that worktree is broken: put a file back there (HEAD: `ref: "
                           f"refs/heads/BRANCH`) or unregister it (rm -r {shlex.quote(os.path.join(admin, name))})")


# Refs git keeps in each worktree's private git dir (and every name outside refs/: pseudorefs).
_PER_WORKTREE_REFS = ("refs/worktree/", "refs/bisect/", "refs/rewritten/")


def _files_git_reads(common_dir: str, admin: str):
    """(path, what it holds) of each file git opens to list the worktree of the private git dir `admin`: its
    own files, then the ref its HEAD names, and the one that names, ... (a HEAD of `ref: refs/worktree/x`
    has git open that file of the private git dir, which its sandbox writes: a FIFO there hung it as well)."""
    for file in _WORKTREE_ADMIN_FILES:
        yield os.path.join(admin, file), f"the {file}"
    path = os.path.join(admin, "HEAD")
    for _ in range(5):   # (git follows as many; a longer chain it reports itself)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        except OSError:
            return
        with os.fdopen(fd, "rb") as f:
            if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
                return   # (said above, or next: the caller stats it)
            line = f.read(4096).split(b"\n", 1)[0].decode(errors="surrogateescape")
        if not line.startswith("ref: "):
            return
        ref = line[len("ref: "):].strip()
        if not ref or ".." in ref.split("/") or ref.startswith("/"):
            return
        own = not ref.startswith("refs/") or ref.startswith(_PER_WORKTREE_REFS)
        path = os.path.join(admin if own else common_dir, ref)
        yield path, f"the ref {ref} (named by its HEAD)"


def _registered_path(admin: str) -> str | None:
    """The worktree a private git dir's `gitdir` file names (its `.git`'s parent), when that is a regular file."""
    gitdir = os.path.join(admin, "gitdir")
    try:
        if not stat.S_ISREG(os.stat(gitdir).st_mode):
            return None
        with open(gitdir, encoding="utf-8", errors="surrogateescape") as f:
            return os.path.dirname(f.readline().rstrip("\n")) or None
    except OSError:
        return None


def main_worktree(common_dir: str) -> str | None:
    """The main worktree's path, or None for a bare repository."""
    return main_worktree_listed(common_dir)[0]


def main_worktree_listed(common_dir: str) -> tuple[str | None, list[dict[str, str]]]:
    """`main_worktree`, and git's worktree records it read it from (`git.worktree_records`), for a caller
    that lists the worktrees next (`wta status`) to start no second `git worktree list`."""
    refuse_unreadable_worktrees(common_dir)
    env = git.git_dir_env(common_dir)
    records = git.worktree_records(common_dir, env)
    if not records or "worktree" not in records[0] or "bare" in records[0]:
        return None, records
    path = records[0]["worktree"]
    if os.path.normpath(path) == os.path.normpath(common_dir):
        return _worktree_of_separate_git_dir(common_dir, env), records
    return path, records


def _worktree_of_separate_git_dir(common_dir: str, env: dict[str, str]) -> str | None:
    """The main worktree of a git dir kept apart from it (a submodule, `git init --separate-git-dir`),
    which git 2.39's `worktree list` names by the git dir itself."""
    configured = git.config_value("core.worktree", common_dir, env)
    if configured:  # submodules: relative to the git dir
        return os.path.normpath(os.path.join(common_dir, configured))
    # git keeps no record of it: only a command run inside that worktree can tell, and wta keeps what it told.
    remembered = layout.path(layout.state_dir(common_dir), layout.MAIN_WORKTREE)
    lines = git.git_dir_and_toplevel(env=git.no_git_env())
    if lines is not None and os.path.normpath(lines[0]) == os.path.normpath(common_dir):
        try:
            with open(remembered, encoding="utf-8", errors="surrogateescape") as f:
                known = f.read().rstrip("\n")
        except FileNotFoundError:
            known = None
        if known != lines[1]:
            from worktree_agents.files import write_atomic

            write_atomic(remembered, lines[1] + "\n")
        return lines[1]
    try:
        with open(remembered, encoding="utf-8", errors="surrogateescape") as f:
            known = f.read().rstrip("\n")
        if os.path.isdir(known):
            return known
    except FileNotFoundError:
        pass
    raise WtaError(f"{common_dir}: this repository's git dir is kept apart from its main worktree, which git does "
                   "not record; run wta from the main worktree")



def stream_branch(prefix: str, stream: str) -> str:
    """The short name of a stream's branch: `branch_prefix` and the stream's name."""
    return f"{prefix}{stream}"


def unborn_base(main: str, base: str, env: dict[str, str], head_ref: str | None = None) -> str | None:
    """What to say of a base with no commit that the main worktree has checked out (a new repository), or None
    (`head_ref`: the main worktree's HEAD, when the caller read it)."""
    from worktree_agents.zones import CONFIG_FILE

    if (head_ref or git.head_ref(main, env)) != f"refs/heads/{base}":
        return None
    return f"branch {base!r} has no commits yet (unborn); commit {CONFIG_FILE} and the code on it, then run wta up"


def base_branch(main: str, configured: str | None, env: dict[str, str], must_exist: bool = True,
                recorded: str | None = None, last: str | None = None) -> str:
    """The base branch: `base:` of zones.yaml (`configured`), else `recorded` (the one `wta up` found
    checked out: Project.base), else the branch checked out in the main worktree.

    With `must_exist`, it must have commits. `last`: the base the last `wta up` recorded, named as
    the branch to check out when HEAD is detached.
    """
    from worktree_agents.quoting import shell_word   # (only for the messages below; not on the hook's path)
    from worktree_agents.zones import CONFIG_FILE

    configured = configured or recorded
    head_ref = git.head_ref(main, env) if configured is None else None   # asked again below if needed
    base = configured
    if base is None:
        if head_ref is None:
            switch = f"git switch {shell_word(last)}" if last else "git switch <the base branch>"
            raise WtaError(f"{main}: HEAD is detached, so there is no base branch; check out the base "
                           f"({switch}) or set `base:` in {CONFIG_FILE}")
        if not head_ref.startswith("refs/heads/"):
            raise WtaError(f"{main}: HEAD points at {head_ref}, not a branch; check out the base branch")
        base = head_ref[len("refs/heads/"):]
    if must_exist and git.commit_of(f"refs/heads/{base}", main, env) is None:
        unborn = unborn_base(main, base, env, head_ref)
        if unborn:
            raise WtaError(unborn)
        import difflib  # only for this message

        where = ("the branch checked out at `wta up`, as zones.yaml names no `base:`" if recorded else
                 f"`base: {base}` in {CONFIG_FILE}" if configured else f"the branch checked out in {main}")
        near = difflib.get_close_matches(base, list(git.branch_heads(main, env)), n=1)
        fix = f"did you mean {near[0]!r}? fix" if near else f"create it (git branch {shell_word(base)}) or fix"
        if recorded and not near:
            fix = f"create it (git branch {shell_word(base)}), run wta up with the base checked out, or set"
        elif recorded:
            fix = f"did you mean {near[0]!r}? run wta up with it checked out, or set"
        raise WtaError(f"base branch {base!r} ({where}) does not exist; {fix} `base:` in {CONFIG_FILE}")
    return base
