"""What `wta up` will do for each stream, checked before anything is changed."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Sequence

from worktree_agents import git, layout
from worktree_agents.errors import WtaError
from worktree_agents.quoting import shell_word
from worktree_agents.repo import Repo
from worktree_agents.worktrees.registry import Worktree, known_branches, list_worktrees, off_branch, worktree_git_dir
from worktree_agents.zones import CONFIG_FILE


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
class UpPlan:
    base: str
    streams: list[StreamPlan]
    prune: bool                      # git has records of worktrees deleted by hand; prune them first
    earlier: tuple[str, ...] = ()    # stream branches an earlier wta left (no record of them yet): known now


def plan_up(project, config, base: str, streams: Sequence[str], records: dict[str, dict]) -> UpPlan:
    """What `wta up` will do for each stream; raises before anything is changed if any stream cannot be prepared."""
    env = project.env
    worktrees = list_worktrees(project.main, env)
    live = [w for w in worktrees if not w.prunable and not w.bare]
    by_path = {os.path.realpath(w.path): w for w in live}
    by_branch = {w.branch: w for w in live if w.branch}
    branches = git.branch_heads(project.main, env)
    known = known_branches(project.repo.state_dir)
    # Kept since this version: the stream branches an earlier wta left are taken as its (recorded so when
    # the plan is carried out: prepare_worktrees).
    earlier = tuple(sorted(b for b in branches if b.startswith(config.branch_prefix))) if known is None else ()
    known = set(earlier) if known is None else known
    main = os.path.realpath(project.main)
    plans = []
    for stream in streams:
        branch = config.branch_for(stream)
        path = config.worktree_for(project.main, stream)
        if branch == base and config.base is None and config.branch_prefix:
            # The base is the branch checked out in the main worktree, and a person switched that to this one.
            recorded = project.base(config)
            back = f"git switch {shell_word(recorded)}" if recorded != branch else "git switch <the base branch>"
            raise WtaError(f"stream {stream!r}: its branch {branch} is checked out in the main worktree "
                           f"{project.main}, which makes it the base; switch back to the base there ({back}), "
                           f"or name it with `base:` in {CONFIG_FILE}")
        if branch == base:
            raise WtaError(f"stream {stream!r}: its branch {branch!r} is the base branch; set a `branch_prefix:` "
                           f"in {CONFIG_FILE} (e.g. wta/)")
        clash = next((b for b in branches if b.startswith(branch + "/") or branch.startswith(b + "/")), None)
        if clash is not None and branch not in branches:
            # git keeps a branch as a file under refs/heads/: `main` and `main/api` cannot both exist
            raise WtaError(f"stream {stream!r}: its branch {branch} cannot be made beside the branch {clash} (git "
                           f"cannot have both); change `branch_prefix:` in {CONFIG_FILE}, or rename {clash}")
        holder = by_branch.get(branch)
        for w in (holder, by_path.get(path)):
            if w is not None and w.locked_away:
                raise WtaError(f"stream {stream!r}: its worktree {w.path} is missing but locked (git worktree lock); "
                               f"bring it back, or unlock it (git worktree unlock {shell_word(w.path)}) and run again")
        if holder is not None and os.path.realpath(holder.path) != path:
            if os.path.realpath(holder.path) == main:
                raise WtaError(f"stream {stream!r}: branch {branch} is checked out in the main worktree "
                               f"{project.main}; switch it back to the base (git switch {shell_word(base)}) and run "
                               "again")
            parent = os.path.dirname(path)
            make = "" if os.path.isdir(parent) else f"mkdir -p {shell_word(parent)} && "   # (worktree move makes none)
            there = shell_word(holder.path)
            # (One `wta merge --abort`'s take-back made, stopped on a conflict: the resolution is only there.)
            stopped = git.stopped_for_a_person(worktree_git_dir(holder.path)) if os.path.isdir(holder.path) else None
            first = (f", in the middle of a {stopped}: finish it there first (git -C {there} {stopped} --continue), "
                     "then" if stopped else ";")
            raise WtaError(f"stream {stream!r}: branch {branch} is checked out at {holder.path}, not at {path}{first} "
                           f"move it ({make}git worktree move {there} {shell_word(path)}) or remove it (git worktree "
                           f"remove {there})")
        occupant = by_path.get(path)
        if occupant is not None and occupant.branch != branch:
            what = f"branch {occupant.branch}" if occupant.branch else "a detached HEAD"
            if os.path.realpath(occupant.path) == main:
                raise WtaError(f"stream {stream!r}: its worktree path {path} is the main worktree; change "
                               f"`worktrees:` in {CONFIG_FILE}")
            if Repo(worktree_git_dir(occupant.path), project.repo.common_dir).stream() == stream:
                raise WtaError(f"stream {stream!r}: {off_branch(occupant, branch)}; then run again")
            raise WtaError(f"{path}: already a worktree on {what}, not stream {stream!r}'s branch {branch}; remove it "
                           f"(git worktree remove {shell_word(path)}) or change `worktrees:` in {CONFIG_FILE}")
        if occupant is not None and branch not in branches and os.path.isdir(path):
            raise WtaError(f"stream {stream!r}: {_branch_gone(occupant, branch, base, env)}")
        if occupant is None and os.path.lexists(path) and (not os.path.isdir(path) or os.listdir(path)):
            if os.path.lexists(layout.path(project.repo.state_dir, layout.DOWN_REMOVING, stream=stream)):
                raise WtaError(f"{path}: what is left of stream {stream!r}'s worktree, which a `wta down` cut short "
                               f"was removing; run `wta down {stream}` to finish, then wta up again")
            raise WtaError(f"{path}: already exists and is not stream {stream!r}'s worktree; move it away or "
                           f"change `worktrees:` in {CONFIG_FILE}")
        if occupant is None and not os.path.lexists(path):
            unfit = _cannot_make(path)
            if unfit:
                raise WtaError(f"{path}: cannot make stream {stream!r}'s worktree there: {unfit}; fix that or change "
                               f"`worktrees:` in {CONFIG_FILE}")
        if occupant is None and branch in branches and branch not in known and base in branches and \
                not git.is_ancestor(branches[branch].sha, branches[base].sha, project.main, env):
            raise WtaError(f"stream {stream!r}: branch {branch} has commits {base} lacks, and wta neither made it nor "
                           f"saw a worktree of it (another stream's agent can make branches beside its own); look "
                           f"at them (git log {shell_word(base + '..' + branch)}), then delete it (git branch -D "
                           f"{shell_word(branch)}), or, if it "
                           f"is yours, check it out there yourself (git worktree add {shell_word(path)} "
                           f"{shell_word(branch)}) and run again")
        plans.append(StreamPlan(stream, branch, path, branch in branches, occupant, records.get(stream)))
    return UpPlan(base, plans, any(w.prunable for w in worktrees), earlier)


def _cannot_make(path: str) -> str | None:
    """Why `git worktree add` could not make the directory `path` (it does not exist): the nearest of its
    parents that does is a file, or one this process cannot write in (read-only), or a name in it or the
    whole path is longer than that file system allows; None when it could."""
    parent = os.path.dirname(path)
    while not os.path.lexists(parent) and os.path.dirname(parent) != parent:
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        return f"{parent} is a file, not a directory"
    if not os.access(parent, os.W_OK | os.X_OK):
        return f"{parent} cannot be written to (read-only, or not yours)"
    return _too_long(parent, path)


def _too_long(parent: str, path: str) -> str | None:
    """Why the file system of `parent` (which exists) cannot hold `path` below it (ENAMETOOLONG), or None."""
    try:
        name_max, path_max = os.pathconf(parent, "PC_NAME_MAX"), os.pathconf(parent, "PC_PATH_MAX")
    except (OSError, ValueError):
        return None   # no limits known: git says, if any
    for name in os.path.relpath(path, parent).split(os.sep):
        if name_max > 0 and len(os.fsencode(name)) > name_max:
            return (f"a directory name in it is {len(os.fsencode(name))} bytes long, more than the {name_max} its "
                    "file system allows")
    inside = os.path.join(path, ".git")   # git writes this file there, and more below it
    if path_max > 0 and len(os.fsencode(inside)) >= path_max:
        return f"the path is {len(os.fsencode(path))} bytes long, too long for its file system ({path_max})"
    return None


def _branch_gone(wt: Worktree, branch: str, base: str, env: dict[str, str]) -> str:
    """A stream worktree whose branch was deleted by hand (its HEAD names a branch that is not there):
    the fix, with the tip the branch last had there (its HEAD's reflog)."""
    last = git.reflog_newest("HEAD", worktree_git_dir(wt.path), wt.path, env)
    there = shell_word(wt.path)
    again = f"recreate it at its last tip there (git -C {there} branch {shell_word(branch)} {last[:12]})" if last else \
        f"recreate it (git -C {there} branch {shell_word(branch)} {shell_word(base)})"
    return (f"its branch {branch} was deleted, and its worktree {wt.path} is still there; {again}, or remove the "
            f"worktree (git worktree remove {there})")
