"""Uncommitted changes in a stream's worktree: which are in its zone, and committing those.

Used when a session ends (its leftovers) and by the api runner's `commit` tool.
Commits go through the real hooks; paths outside the zone are never staged
into a commit, only reported.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from worktree_agents import git
from worktree_agents.enforce import check_staged, prefix_message
from worktree_agents.snapshot import Repo, zones_in_force

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
    """Every path with uncommitted changes (staged, unstaged or untracked), ignored files excepted."""
    proc = git.run("status", "--porcelain=v1", "-z", "--untracked-files=all", "--no-renames",
                   "--ignore-submodules=none", cwd=worktree, env=git.no_git_env())
    return sorted({entry[3:] for entry in git.zsplit(proc.stdout) if len(entry) > 3})


def classify(worktree: str, stream: str, paths: list[str] | None = None) -> Changes:
    zones = zones_in_force(Repo.here(worktree), worktree).zones
    changes = Changes()
    for path in changed_paths(worktree) if paths is None else paths:
        o = zones.owner_of(path)
        mine = o.stream == stream if o.stream is not None else zones.unowned_allowed
        if mine and not o.read_only and not o.also:
            changes.inside.append(path)
        else:
            changes.outside.append(path)
    return changes


def commit_in_zone(worktree: str, stream: str, message: str) -> CommitResult:
    """Commit every in-zone change of the worktree (prefix added, hooks run); report the rest."""
    env = git.no_git_env()
    changes = classify(worktree, stream)
    result = CommitResult(outside=list(changes.outside))
    if not changes.inside:
        return result
    _pathspec("add", "-A", worktree=worktree, paths=changes.inside, env=env)
    # Append-only zones: a staged change that rewrites an existing line is not the stream's to commit.
    repo = Repo.here(worktree)
    refused = {v.path for v in check_staged(repo, stream, worktree)} & set(changes.inside)
    if refused:
        _pathspec("reset", "-q", worktree=worktree, paths=sorted(refused), env=env, check=False)
    inside = [p for p in changes.inside if p not in refused]
    result.outside = sorted(set(result.outside) | refused)
    if not inside:
        return result
    streams = zones_in_force(repo, worktree).streams
    text = prefix_message(message.strip() or LEFTOVERS_MESSAGE, stream, streams)
    proc = _pathspec("commit", "-q", "--only", "-m", text, worktree=worktree, paths=inside, env=env, check=False)
    if proc.returncode != 0:
        lines = (proc.stderr or proc.stdout).decode(errors="replace").strip().splitlines()
        result.error = " / ".join(lines[-3:]) or f"git commit exited {proc.returncode}"
        return result
    result.committed = inside
    result.sha = git.out("rev-parse", "HEAD", cwd=worktree, env=env)
    return result


def _pathspec(*args: str, worktree: str, paths: list[str], env: dict[str, str], check: bool = True):
    # Paths go through stdin, NUL-separated and literal: any name, any number of them.
    return git.run("--literal-pathspecs", *args, "--pathspec-from-file=-", "--pathspec-file-nul",
                   cwd=worktree, env=env, input="\0".join(paths).encode("utf-8", "surrogateescape") + b"\0",
                   check=check)


def last_commit_time(worktree: str) -> float | None:
    """When HEAD of the worktree was committed (seconds since the epoch)."""
    proc = git.run("log", "-1", "--format=%ct", "HEAD", cwd=worktree, env=git.no_git_env(), check=False)
    text = proc.stdout.decode().strip()
    return float(text) if proc.returncode == 0 and text else None

