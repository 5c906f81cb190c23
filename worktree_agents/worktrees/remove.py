"""`wta down`: what removing a stream's worktree (and branch) would lose, and removing it."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from typing import Sequence

from worktree_agents import git, layout
from worktree_agents.backups import keep_tips
from worktree_agents.files import UnderWay
from worktree_agents.quoting import shell_word
from worktree_agents.repo import WORKTREES_INSIDE, stream_branch, unexclude
from worktree_agents.state import StateStore
from worktree_agents.worktrees.registry import (Worktree, check_git_link, list_worktrees, remember_branches,
                                                 worktree_git_dir)
from worktree_agents.zones import CONFIG_FILE
from worktree_agents.zones.ownership import Change, ZoneMap


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
    hidden: list[str] = field(default_factory=list)  # ignored files in its zone that another's ignore file hides
    tip: str | None = None               # the branch's commit
    stopped: str | None = None           # a git command stopped half-way in the worktree (a cherry-pick's conflict)


@dataclass
class Removed:
    stream: str
    branch: str
    worktree: str | None = None          # the worktree path that was removed
    branch_deleted: bool = False
    backup: str | None = None            # the ref that keeps the deleted branch's tip (not on the base)
    forgotten: bool = False              # a state record was dropped (the worktree was gone already)
    refused: str | None = None           # why (part of) the stream was left alone
    work_at_risk: bool = False           # refused because commits or files would be lost
    removal: Removal | None = None


def plan_removal(project, base: str, prefix: str, streams: Sequence[str],
                 records: dict[str, dict], zones: ZoneMap | None = None) -> list[Removal]:
    env = project.env
    live = [w for w in list_worktrees(project.main, env) if not w.prunable and not w.bare]
    main = os.path.realpath(project.main)
    by_path = {os.path.realpath(w.path): w for w in live}
    by_branch = {w.branch: w for w in live if w.branch}
    branches = git.branch_heads(project.main, env)
    removals = []
    for stream in streams:
        record = records.get(stream) or {}
        branch = record.get("branch") or stream_branch(prefix, stream)
        worktree = by_path.get(os.path.realpath(record["worktree"])) if record.get("worktree") else None
        worktree = worktree or by_branch.get(branch)
        in_main = worktree is not None and os.path.realpath(worktree.path) == main
        if in_main:
            worktree = None
        # Full ref names: a tag named like the branch (`wta/ui`) must not answer for it.
        revs = [f"refs/heads/{branch}"] if branch in branches and branch != base else []
        if worktree is not None and worktree.head and worktree.branch != branch:
            revs.append(worktree.head)  # the worktree moved to another branch or detached: keep its work too
        base_missing = base not in branches
        commits = git.commits_not_in(f"refs/heads/{base}", revs, project.main, env) if not base_missing else []
        present = worktree is not None and os.path.isdir(worktree.path)
        if present:
            check_git_link(worktree.path, project.repo.common_dir)
        changes = git.worktree_changes(worktree.path, env) if present else []
        hidden = hidden_work(zones, stream, worktree.path, env) if present and zones else []
        stopped = git.stopped_for_a_person(worktree_git_dir(worktree.path)) if present else None
        removals.append(Removal(stream, branch, branch in branches, worktree, commits, changes, in_main,
                                base_missing and bool(revs), hidden,
                                branches[branch].sha if branch in branches else None, stopped))
    return removals


def hidden_work(zones: ZoneMap, stream: str, where: str, env: dict[str, str]) -> list[str]:
    """Ignored files (or directories) in the stream's zone that an ignore file the stream may not change hides.

    Such a file is the stream's work that another zone's (or the base's)
    `.gitignore` hid; removing the worktree would delete it unseen. What the
    root `.gitignore`, info/exclude or the user's excludes ignore (build output,
    dependencies), and what the stream's own ignore files ignore, is not work.
    """
    if stream not in zones.zones:
        return []
    entries = [e for e in git.ignored_entries(where, env)
               if zones.owner_of(e + "-" if e.endswith("/") else e).stream == stream]
    sources = git.ignore_sources(entries, where, env)
    return [e for e in entries if _foreign_ignore_file(sources.get(e), zones, stream)]


def _foreign_ignore_file(source: str | None, zones: ZoneMap, stream: str) -> bool:
    if not source or os.path.isabs(source) or "/" not in source:
        return False  # the root .gitignore, info/exclude, core.excludesFile
    return bool(zones.violations(stream, [Change("M", source)]))


def remove_stream(project, base: str, removal: Removal, store: StateStore, force: bool,
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
                        f"back, or unlock it (git worktree unlock {shell_word(removal.worktree.path)}) and run again")
        return done
    at_risk = []
    if removal.stopped:
        at = shell_word(removal.worktree.path)
        at_risk.append(f"a {removal.stopped} stopped half-way in {removal.worktree.path}, its resolution only there "
                       f"(git -C {at} {removal.stopped} --continue ends it)")
    if removal.base_missing and (removal.worktree is not None or delete_branch):
        at_risk.append(f"base branch {base!r} does not exist, so which commits are unmerged is unknown "
                       f"(create it, or set `base:` in {CONFIG_FILE})")
    if removal.commits and (removal.worktree is not None or delete_branch):
        at_risk.append(f"{len(removal.commits)} commit(s) not in {base}")
    if removal.changes:
        at_risk.append(f"{len(removal.changes)} uncommitted or untracked file(s)")
    if removal.hidden:
        at_risk.append(f"{len(removal.hidden)} file(s) in its zone that an ignore file it does not own hides")
    if at_risk and not force:
        done.refused, done.work_at_risk = " and ".join(at_risk), True
        return done
    journal = layout.path(project.repo.state_dir, layout.DOWN_REMOVING, stream=removal.stream)
    if removal.worktree is None:
        done.worktree = finish_removal(journal)
    else:
        with UnderWay(journal, removal.worktree.path):   # (git deletes `.git`, then the files: not at once)
            proc = git.remove_worktree(removal.worktree.path, project.main, env, force=force)
        if proc.returncode != 0 and b"containing submodules" in proc.stderr:
            # git keeps each submodule's repository in the worktree's own git dir: commits made there only
            # would go with it, which git does not check, so it refuses every such worktree.
            done.refused = (f"its worktree has submodules checked out, whose own commits would be removed with it "
                            f"(git refuses); check them (`git -C {shell_word(removal.worktree.path)} submodule "
                            f"foreach git status`), then `wta down {removal.stream} --force`")
            return done
        if proc.returncode != 0:
            done.refused = f"git worktree remove failed: {_reason(proc.stderr)}"
            return done
        done.worktree = removal.worktree.path
        try:
            os.rmdir(os.path.dirname(done.worktree))  # the folder `wta up` made for the worktrees, once empty
        except OSError:
            pass
        inside = os.path.relpath(os.path.realpath(done.worktree), os.path.realpath(project.main))
        if not inside.startswith(".."):   # one placed in the repository: git sees that path again
            unexclude(os.path.join(project.repo.common_dir, "info", "exclude"), [inside], WORKTREES_INSIDE)
    if store.remove_stream(removal.stream) and done.worktree is None:
        done.forgotten = True
    if delete_branch and removal.branch_exists and removal.branch != base:
        ref = f"refs/heads/{removal.branch}"
        if removal.tip and (removal.commits or removal.base_missing):  # work the base does not have: keep it
            done.backup = keep_tips({ref: removal.tip}, "wta down --delete-branches", project.main, env)[ref]
        if git.tip_of(project.repo.common_dir, removal.branch, project.main, env) != removal.tip:
            done.refused = (f"{removal.branch} got new commits while wta down looked at it; run it again, "
                            "which looks at them too")
            return done
        proc = git.delete_branch(removal.branch, project.main, env)
        if proc.returncode != 0:
            done.refused = f"git branch -D {removal.branch} failed: {_reason(proc.stderr)}"
            return done
        done.branch_deleted = True
        remember_branches(project.repo.state_dir, drop=[removal.branch])
    return done


def removals_cut_short(state_dir: str) -> set[str]:
    """The worktree paths that `wta down`s cut short were removing (`finish_removal` finishes them)."""
    folder = os.path.dirname(layout.path(state_dir, layout.DOWN_REMOVING, stream="x"))
    try:
        names = os.listdir(folder)
    except FileNotFoundError:
        return set()
    paths = set()
    for name in names:
        try:
            with open(os.path.join(folder, name), encoding="utf-8", errors="surrogateescape") as f:
                paths.add(f.read())
        except OSError:
            continue
    return paths


def finish_removal(journal: str) -> str | None:
    """The folder of a worktree that a `wta down` cut short (killed while git deleted its files) left,
    deleted: `journal` names it while a removal is under way, and only a folder that is no longer a
    worktree (git deletes its `.git` first) is deleted; its path, or None."""
    try:
        with open(journal, encoding="utf-8", errors="surrogateescape") as f:
            path = f.read()
    except FileNotFoundError:
        return None
    finished = None
    if os.path.isdir(path) and not os.path.islink(path) and not os.path.lexists(os.path.join(path, ".git")):
        shutil.rmtree(path)
        finished = path
    os.unlink(journal)
    return finished


def _reason(stderr: bytes) -> str:
    return git.reason(stderr) or "no message"
