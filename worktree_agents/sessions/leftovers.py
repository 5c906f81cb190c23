"""Uncommitted changes in a stream's worktree: which are in its zone, and committing those.

Used when a session ends (its leftovers) and by the api runner's `commit` tool.
Commits go through the real hooks; paths outside the zone are never staged
into a commit, only reported.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from worktree_agents import git
from worktree_agents.repo import Repo
from worktree_agents.zones.enforce import check_staged, prefix_message
from worktree_agents.zones.in_force import zones_in_force

LEFTOVERS_MESSAGE = "wta: commit leftovers of the session"


@dataclass
class Changes:
    inside: list[str] = field(default_factory=list)    # the stream may commit these
    outside: list[str] = field(default_factory=list)   # another zone's, read-only or unowned


@dataclass
class CommitResult:
    committed: list[str] = field(default_factory=list)
    outside: list[str] = field(default_factory=list)
    sha: str | None = None
    error: str | None = None   # the hooks' or git's last words when the commit failed


def changed_paths(worktree: str) -> list[str]:
    """Every path with uncommitted changes (staged, unstaged or untracked), ignored files excepted; a
    submodule only when its new pointer is staged (one checked out at another commit may be one
    that wta could not bring along when the base moved it: worktrees.submodules)."""
    return sorted(set(git.worktree_changes(worktree, git.no_git_env(), renames=False, unstaged_submodules=False)))


def classify(worktree: str, stream: str, paths: list[str] | None = None, unowned: bool = True) -> Changes:
    """`unowned`: with `unowned: allow`, paths no zone claims count as the stream's (else they are outside)."""
    zones = zones_in_force(Repo.here(worktree)).zones
    changes = Changes()
    for path in changed_paths(worktree) if paths is None else paths:
        o = zones.owner_of(path)
        mine = o.stream == stream if o.stream is not None else unowned and zones.unowned_allowed
        if mine and not o.read_only and not o.also:
            changes.inside.append(path)
        else:
            changes.outside.append(path)
    return changes


def commit_in_zone(worktree: str, stream: str, message: str, jail=None, unowned: bool = True) -> CommitResult:
    """Commit every in-zone change of the worktree (prefix added, hooks run); report the rest.

    `jail`: the stream's sandbox, for a commit made from outside it (the leftovers of a sandboxed
    session): the repository's hooks may run files the agent could change (husky runs `.husky/<hook>`).
    `unowned=False`: only paths of the stream's own zone, none that `unowned: allow` lets any stream
    change (the leftovers: a file no zone claims, such as what `setup:` wrote, is nobody's work; committed,
    it lands and then stands in the way of every other worktree's copy of it).
    """
    env = git.no_git_env()
    paths = changed_paths(worktree)
    if not paths:
        return CommitResult()  # the common end of a session: nothing left, no zones to work out
    changes = classify(worktree, stream, paths, unowned)
    result = CommitResult(outside=list(changes.outside))
    if not changes.inside:
        return result
    git.stage(changes.inside, worktree, env)
    # Append-only zones: a staged change that rewrites an existing line is not the stream's to commit.
    repo = Repo.here(worktree)
    refused = {v.path for v in check_staged(repo, stream, worktree)} & set(changes.inside)
    if refused:
        git.unstage(sorted(refused), worktree, env)
    inside = [p for p in changes.inside if p not in refused]
    result.outside = sorted(set(result.outside) | refused)
    if not inside:
        return result
    streams = zones_in_force(repo).streams
    text = prefix_message(message.strip() or LEFTOVERS_MESSAGE, stream, streams)
    proc = git.commit_only(text, inside, worktree, env, jail=jail)
    if proc.returncode != 0:
        result.error = git.reason(proc.stderr or proc.stdout) or f"git commit exited {proc.returncode}"
        return result
    result.committed = inside
    result.sha = git.rev_parse("HEAD", worktree, env)
    return result


def last_commit_time(worktree: str) -> float | None:
    """When HEAD of the worktree was committed (seconds since the epoch)."""
    return git.commit_time("HEAD", worktree, git.no_git_env())

