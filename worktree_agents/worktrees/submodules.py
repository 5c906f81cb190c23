"""Submodules follow the commits wta moves a worktree to.

git moves a worktree's files to another commit (a rebase, `read-tree -m -u`, a
fast-forward) without touching the checkouts of its submodules unless
`submodule.recurse` is set, which wta cannot set for its own git (in a linked
worktree git then tries to reset submodules that were never cloned there). A
submodule left at the old commit shows as changed: the next commit of
everything (a session's leftovers, `git commit -a`) records the old pointer
again and silently undoes the base's bump when it lands.

So after wta moves a worktree, each submodule that is checked out there and
sat at the old commit's pointer is checked out at the new one's, detached, as
`git submodule update` does; nothing is fetched. One moved by someone (its
checkout at neither) is theirs and stays.

In a stream's worktree, the git that looks into a submodule runs in the
stream's sandbox: the submodule's repository (its config, its filters) is the
stream's to write, like everything under its worktree and private git dir.
"""

from __future__ import annotations

import os

from worktree_agents import git

GITLINK = "160000"


def follow(worktree: str, old: str | None, new: str | None, env: dict[str, str]) -> list[str]:
    """Bring the submodules of `worktree` from `old`'s pointers to `new`'s; the paths that could not follow
    (the new commit is not in the submodule: `git submodule update` fetches it)."""
    if not old or not new or old == new or not os.path.exists(os.path.join(worktree, ".gitmodules")):
        return []   # (no .gitmodules, no submodule: no git process on the common path)
    behind = []
    jail, looked = None, False
    for change in git.tree_changes(old, new, worktree, env):
        if change.old_mode != GITLINK or change.new_mode != GITLINK:
            continue   # added or removed: git leaves the directory as it is, and so does wta
        checkout = os.path.join(worktree, change.path)
        if not os.path.lexists(os.path.join(checkout, ".git")):
            continue   # not initialised in this worktree
        if not looked:   # (once, and only when a submodule is there to follow: it reads zones.yaml)
            jail, looked = _sandbox_of(worktree), True
        if git.rev_parse("HEAD", checkout, env, jail=jail) != change.old_blob:
            continue
        if not git.check_out_detached(change.new_blob, checkout, env, jail=jail):
            behind.append(change.path)
    return behind


def _sandbox_of(worktree: str):
    """The sandbox of the stream whose worktree this is (None: not a stream's, or no sandbox there: its
    agent ran unconfined anyway)."""
    from worktree_agents import sandbox
    from worktree_agents.project import Project
    from worktree_agents.repo import Repo

    stream = Repo.here(worktree).stream()
    if stream is None:
        return None
    project = Project.find(worktree)
    return sandbox.for_config(project.main_config(), project.main, project.repo.common_dir, stream, worktree)
