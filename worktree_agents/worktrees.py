"""Stream worktrees: listing git's worktrees and tying them to streams."""

from __future__ import annotations

import os
from dataclasses import dataclass

from worktree_agents import git
from worktree_agents.snapshot import Repo, ZonesInForce, record_stream


@dataclass(frozen=True)
class Worktree:
    path: str
    head: str | None
    branch: str | None      # short name, None when detached
    bare: bool = False
    prunable: bool = False

    def git_dir(self) -> str:
        return Repo.here(self.path).git_dir


def list_worktrees(cwd: str, env: dict[str, str] | None = None) -> list[Worktree]:
    """git's registered worktrees, the main one first."""
    fields = git.zsplit(git.run("worktree", "list", "--porcelain", "-z", cwd=cwd,
                                env=env or git.no_git_env()).stdout)
    found: list[Worktree] = []
    record: dict[str, str] = {}
    for field in fields + [""]:
        if field == "":
            if record:
                branch = record.get("branch")
                found.append(Worktree(record["worktree"], record.get("HEAD"),
                                      branch[len("refs/heads/"):] if branch and branch.startswith("refs/heads/") else branch,
                                      "bare" in record, "prunable" in record))
            record = {}
            continue
        key, _, value = field.partition(" ")
        record[key] = value
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
