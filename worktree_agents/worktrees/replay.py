"""A stream's commits copied onto a newer base without `git rebase`, where no merge has anything to decide.

A landing and `wta sync` bring a stream's commits onto the base's tip. When the
stream's changes and the base's since the stream forked touch no path in common
(what zones are for), every commit's rebased tree is its new parent's tree with
that commit's own changes made: what `git rebase` works out by merging commit
after commit, writing the worktree's index and files at each one. Here the
commits are written at once (`git.write_commits`: one `git fast-import`), and
the worktree moves once; the commits are the ones `git rebase` would make
(author, message, tree, parents; committer and date as git gives them now).

Everything that could make git's merge choose, or make `git rebase` write
something else, is left to `git rebase` (`why_not` names it): a path both sides
changed or one inside the other (a file and a directory), a path the base
deleted (a rename: git follows renames, also of whole directories), the base
adding below a directory the stream deletes from, a submodule, a merge or empty
commit, a commit with an encoding or other unusual header or an author line
`git fast-import` would refuse, and config that changes what a rebase writes or
does (signing, message clean-up, the apply backend, an encoding, an identity
git would refuse, notes carried over, fixup! commits squashed).
"""

from __future__ import annotations

import os
import re
from typing import Sequence

from worktree_agents import git
from worktree_agents.files import UnderWay
from worktree_agents.quoting import shell_word
from worktree_agents.worktrees.registry import worktree_git_dir

SUBMODULE = "160000"
# Config under which `git rebase` writes other commits than a plain copy, or does more (keys as `git var -l`
# prints them): signing, message clean-up, the apply backend, an encoding, an identity from config only,
# notes carried over, fixup! commits squashed (git 2.44 and later, also without --interactive).
REBASE_SETTINGS = ("commit.gpgsign", "commit.cleanup", "rebase.backend", "i18n.commitencoding",
                   "user.useconfigonly", "notes.rewriteref", "rebase.autosquash")
REBASE_ENVIRONMENT = ("GIT_NOTES_REWRITE_REF",)
PLAIN_HEADERS = (b"tree", b"parent", b"author", b"committer", b"gpgsig", b"gpgsig-sha256")
# An author as `git fast-import` takes it (`Name <email> <seconds> <zone>`); git rebase decides about any other.
AUTHOR = re.compile(rb"[^<>\n]*<[^<>\n]*> [0-9]+ [+-][0-9]{4}")


def chain(commits: Sequence[git.CommitChanges]) -> list[git.CommitChanges] | None:
    """The commits oldest first, when they are one line of single-parent commits; else None."""
    by_sha = {c.sha: c for c in commits}
    children = {c.parents[0]: c for c in commits if len(c.parents) == 1}
    if len(children) != len(commits):
        return None
    roots = [c for c in commits if c.parents[0] not in by_sha]
    if len(roots) != 1:
        return None
    line = [roots[0]]
    while line[-1].sha in children:
        line.append(children[line[-1].sha])
    return line if len(line) == len(commits) else None


def _dirs(path: str) -> list[str]:
    """The directories above a path ("a/b/c": "a", "a/b")."""
    parts = path.split("/")
    return ["/".join(parts[:i]) for i in range(1, len(parts))]


def why_not(line: Sequence[git.CommitChanges], base_changes: Sequence[git.RawChange]) -> str | None:
    """Why copying these commits could differ from what `git rebase` makes of them, or None."""
    ours = [c for commit in line for c in commit.changes]
    if any(not commit.changes for commit in line):
        return "an empty commit"
    if any(SUBMODULE in (c.old_mode, c.new_mode) for c in [*ours, *base_changes]):
        return "a submodule"
    if any(c.status == "D" for c in base_changes):
        return "the base deleted a path"
    mine = {c.path for c in ours}
    theirs = {c.path for c in base_changes}
    both = (mine & theirs or {d for p in mine for d in _dirs(p)} & theirs
            or {d for p in theirs for d in _dirs(p)} & mine)
    if both:
        return f"both changed {sorted(both)[0]}"
    # A directory the stream empties reads to git as renamed where it moved the files: a file the base
    # added there would follow them.
    emptied = {d for c in ours if c.status == "D" for d in _dirs(c.path)}
    if any(d in emptied for c in base_changes if c.status == "A" for d in _dirs(c.path)):
        return "the base added below a directory the stream deletes from"
    return None


def split_commit(raw: bytes) -> tuple[bytes, bytes] | None:
    """A commit object's author line and message, or None when it has a header a plain copy would drop
    or get wrong (`encoding`, anything unusual), an author line `git fast-import` would refuse, or a
    message `git rebase` would not copy as it is."""
    head, sep, message = raw.partition(b"\n\n")
    if not sep:
        head, message = raw.rstrip(b"\n"), b""
    author = None
    for line in head.split(b"\n"):
        if line.startswith(b" "):
            continue  # a multi-line header's continuation (a signature, dropped as git rebase drops it)
        key, _, value = line.partition(b" ")
        if key not in PLAIN_HEADERS:
            return None
        if key == b"author":
            author = value
    if message and not message.split(b"\n", 1)[0].strip():
        return None   # a message that starts with blank lines, which `git rebase` drops: git does it
    return (author, message) if author and AUTHOR.fullmatch(author) else None


def replay(commits: Sequence[git.CommitChanges], onto: str, cwd: str, env: dict[str, str]) -> str | None:
    """The stream's `commits` (a branch's commits beyond where it forked, in any order) copied onto `onto`
    as `git rebase onto` in `cwd` would copy them: the new tip (no ref or file moved), or None where
    `git rebase` has to do it."""
    line = chain(commits)
    if not line:
        return None
    fork = line[0].parents[0]
    if git.merge_bases(onto, line[-1].sha, cwd, env) != [fork]:
        return None   # not exactly the commits `onto..tip`: some are in `onto` already, or the history forks
    if why_not(line, git.tree_changes(fork, onto, cwd=cwd, env=env)):
        return None
    settings, committer = git.settings_and_committer(cwd, env)
    if any(key in settings for key in REBASE_SETTINGS) or any(name in env for name in REBASE_ENVIRONMENT) \
            or not committer or "(none)>" in committer or committer.startswith("<"):
        return None
    objects = git.read_objects([c.sha for c in line], cwd, env)
    parts = [split_commit(objects.get(c.sha, b"")) for c in line]
    if any(p is None for p in parts):
        return None
    return git.write_commits(onto, [(*p, c.changes) for p, c in zip(parts, line) if p], committer, cwd, env)


FILES_IN_THE_WAY = "cannot update the files of"   # how move_branch says a local change or file is in the way


def move_branch(worktree: str, branch: str, old: str, new: str, message: str, env: dict[str, str],
                journal: str | None = None) -> str | None:
    """Move the branch checked out in `worktree` from `old` to `new`, its index and files first (refusing
    rather than overwriting a local change), then the ref, only if it is still at `old`; why not, or None.

    `journal`: a file that names the move while it is under way, so that one cut short (wta killed,
    Ctrl-C) between the two steps is finished by `finish_move`."""
    with UnderWay(journal, f"{branch}\n{old}\n{new}\n{message}\n"):
        moved = git.switch_tree(old, new, worktree, env)
        if moved.returncode != 0:
            return f"{FILES_IN_THE_WAY} {worktree}: {git.reason(moved.stderr) or f'exit {moved.returncode}'}"
        try:
            git.update_refs([(f"refs/heads/{branch}", new, old)], message, cwd=worktree, env=env)
        except git.GitError as exc:
            git.switch_tree(new, old, worktree, env)
            return f"{branch} moved meanwhile ({exc})"
        return None


def finish_move(worktree: str, branch: str, journal: str, env: dict[str, str]) -> str | None:
    """Finish the move of `branch`, checked out in `worktree`, that `move_branch` began and left cut short
    (its `journal` left behind); what was done, or None (no such move, or one already done or undone).

    Cut short after the files and index had moved, only the branch is left to move. Cut short before or
    while they moved (the index still at the old commit), they are moved as the move would have moved
    them, local changes it does not touch carried along; where git refuses (a file of the move's half
    written, or someone's change since in its way), they are written, unless a file there is neither as
    the old commit nor as the new one has it, which is kept and named, the move left to do once it is
    dealt with."""
    from worktree_agents.errors import WtaError
    from worktree_agents.merge.recovery import clear_stale_locks

    try:
        with open(journal, encoding="utf-8", errors="replace") as f:
            named, old, new, message = (f.read().split("\n") + ["", "", "", ""])[:4]
    except FileNotFoundError:
        return None
    clear_stale_locks([os.path.join(worktree_git_dir(worktree), "index.lock")], worktree,
                      then="run the same command again")
    if named != branch or git.current_branch(worktree, env) != branch \
            or git.commit_of(f"refs/heads/{branch}", worktree, env) != old or git.commit_of(new, worktree, env) != new:
        os.unlink(journal)   # moved since, never began, or its commit gone (gc): nothing left to finish
        return None
    cut = f"{worktree}: moving {branch} to {new[:12]} was cut short"
    if not git.index_is(new, worktree, env):
        if not git.index_is(old, worktree, env):
            raise WtaError(f"{cut}, and the index changed since; unstage it (`git -C {shell_word(worktree)} restore "
                           "--staged .`: the files stay as they are), then run the same command again")
        if git.switch_tree(old, new, worktree, env).returncode == 0:   # as the move would have (changes carried)
            return _moved(worktree, branch, old, new, message, journal, env)
        changed = _neither(worktree, old, new, env)   # (what git refused: the move's own files half written too)
        if changed:
            is_, it = ("is", "it") if len(changed) == 1 else ("are", "them")
            raise WtaError(f"{cut}, and {', '.join(changed[:5])} {is_} neither as the move found {it} nor as it would "
                           f"make {it}; commit or stash what is yours there (`git restore` what is not), then run "
                           "the same command again")
        git.reset_tree(new, worktree, env)
    return _moved(worktree, branch, old, new, message, journal, env)


def _moved(worktree: str, branch: str, old: str, new: str, message: str, journal: str,
           env: dict[str, str]) -> str:
    """The branch moved, its files and index having moved: the end of `finish_move`."""
    git.update_refs([(f"refs/heads/{branch}", new, old)], message, cwd=worktree, env=env)
    os.unlink(journal)
    return f"finished moving {branch} from {old[:12]} to {new[:12]}, which an interrupted wta had begun"


def _neither(worktree: str, old: str, new: str, env: dict[str, str]) -> list[str]:
    """With the index at `old`: the paths whose file differs from the index and is not `new`'s either (an
    untracked file where `new` has one included), nor, for a path the move from `old` to `new` changes,
    `old`'s: a change of someone's since, or a file the cut move left half written."""
    differ = git.unstaged_paths(worktree, env)
    untracked = git.untracked_files(worktree, env, ignored=True)
    moved = {change.path for change in git.tree_changes(old, new, worktree, env)}
    wanted, had = git.tree_blobs(new, worktree, env) or {}, git.tree_blobs(old, worktree, env) or {}
    paths = [*differ, *(p for p in untracked if p in wanted)]
    present = [p for p in paths if os.path.lexists(os.path.join(worktree, p))]
    hashed = dict(zip(present, git.hash_files(present, worktree, env)))   # (a file gone: None, as in a tree without it)
    return [p for p in paths if hashed.get(p) != wanted.get(p) and not (p in moved and hashed.get(p) == had.get(p))]
