"""git's registered worktrees, which stream each belongs to, and where a stream's worktree goes."""

from __future__ import annotations

import os
from dataclasses import dataclass

from worktree_agents import git
from worktree_agents.repo import Repo, record_stream
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


def list_worktrees(cwd: str, env: dict[str, str] | None = None) -> list[Worktree]:
    """git's registered worktrees, the main one first."""
    found = []
    for record in git.worktree_records(cwd, env or git.no_git_env()):
        branch = record.get("branch")
        found.append(Worktree(record["worktree"], record.get("HEAD"),
                              branch[len("refs/heads/"):] if branch and branch.startswith("refs/heads/") else branch,
                              "bare" in record, "prunable" in record, "locked" in record))
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



def worktree_path(template: str, main: str, stream: str) -> str:
    """The `worktrees:` template filled in, relative to the main worktree, made absolute."""
    rel = template.replace("{repo}", os.path.basename(main.rstrip(os.sep))).replace("{stream}", stream)
    return os.path.realpath(os.path.join(main, os.path.expanduser(rel)))



def prunable_worktrees(project) -> list[Worktree]:
    return [w for w in list_worktrees(project.main, project.env) if w.prunable]


def prune(project) -> None:
    git.prune_worktrees(project.main, project.env)
