"""A stream's `after` dependencies: whether its session may start, must wait, or cannot run.

A dependent starts only when each dependency ended `done` and the base contains
its branch (read from git, so a person's `wta merge` counts too), and its
worktree holds no commits off that branch; it waits while a dependency works or
is not landed, and fails when one failed or will not run.
"""

from __future__ import annotations

import os

from worktree_agents import git
from worktree_agents.files import read_plain_file
from worktree_agents.sessions.store import (BLOCKED, DONE, ENDED, LANDING, PENDING, SATISFIES_AFTER, WAITING,
                                            SessionRecord)
from worktree_agents.worktrees import registry


class Dependencies:
    """The `after` rule for one schedule; it remembers what git said of each (tip, base) pair."""

    def __init__(self, project, config, planned: tuple[str, ...], base: str, land: bool,
                 worktrees: dict[str, str] | None = None) -> None:
        """`land`: this schedule lands the planned streams itself; `worktrees`: stream -> its worktree."""
        self.config, self.planned, self.base, self.land = config, planned, base, land
        self.main, self.env, self.common_dir = project.main, project.env, project.repo.common_dir
        self.worktrees = worktrees or {}
        self._contains: dict[tuple[str, str], bool] = {}

    def problem(self, stream: str, records: dict[str, SessionRecord | None]) -> str | None:
        for dep in self.config.streams[stream].after:
            record = records.get(dep)
            if record is not None and record.state in ENDED and record.state not in SATISFIES_AFTER and \
                    not (record.state == BLOCKED and self.landed(dep) and not self.work_elsewhere(dep)):
                return f"dependency {dep} {record.state}"   # (blocked, unless a person landed it since)
            if dep not in self.planned and (record is None or record.state in (PENDING, WAITING)):
                return f"dependency {dep} has not run; start it too (`wta up {dep}`)"
        return None

    def waiting_for(self, stream: str, records: dict[str, SessionRecord | None]) -> tuple[str | None, list[str]]:
        """Why the stream cannot start yet (a dependency still working, or not landed on the base), and
        the dependencies that are done but not landed."""
        deps = self.config.streams[stream].after
        working = [d for d in deps if records[d] is None or records[d].state not in SATISFIES_AFTER | {BLOCKED}]
        if working:
            return f"waiting for {', '.join(working)}", []
        for dep in deps:
            elsewhere = self.work_elsewhere(dep)
            if elsewhere:   # its branch says nothing is left to land; its worktree holds the work
                return f"waiting for {dep} to land: {dep}: {elsewhere}", [dep]
        # (A branch gone is nothing left to land, unless this schedule is landing it: its `test:`, the agent's
        # code, can delete it meanwhile, and the landing puts it back and refuses it; the outcome says which.)
        unlanded = [d for d in deps if not self.landed(d, gone=not (self.land and d in self.planned and
                                                                     records[d].state in (DONE, LANDING)))]
        if not unlanded:
            return None, []
        if self.land and all(d in self.planned for d in unlanded):
            return f"waiting for {', '.join(unlanded)} to land", []
        # Landed by a person (`land: manual`, or a dependency this run does not land).
        return f"waiting for {', '.join(unlanded)} to land: wta merge {' '.join(unlanded)}", unlanded

    def work_elsewhere(self, stream: str) -> str | None:
        """Why the stream's work is not on its branch, with the fix: its worktree is off the branch, on
        commits the base lacks (an agent that committed on a detached HEAD or a branch of its own); None
        when it is on its branch, or has nothing the base lacks. Its HEAD file is read at every round; git
        is asked only when that is not the branch."""
        path = self.worktrees.get(stream)
        branch = self.config.branch_for(stream)
        if path is None:
            return None
        try:   # (a file the agent may have written: read only if a plain one)
            head = (read_plain_file(os.path.join(registry.worktree_git_dir(path), "HEAD"), 4096) or b"").decode(
                "utf-8", "surrogateescape").strip()
        except OSError:
            return None   # its worktree is gone: nothing there to land
        if head == f"ref: refs/heads/{branch}":
            return None
        other = head[len("ref: refs/heads/"):] if head.startswith("ref: refs/heads/") else None
        sha = git.tip_of(self.common_dir, other, self.main, self.env) if other else head
        base = git.tip_of(self.common_dir, self.base, self.main, self.env)
        if not sha or not git.is_hex(sha) or base is None or self._base_contains(sha, base):
            return None
        # (The HEAD file is the agent's to write: a name git would never give a branch is not repeated.)
        shown = other if other and other.isprintable() and ".." not in other else None
        return registry.off_branch(registry.Worktree(path, sha, shown), branch)

    def landed(self, stream: str, gone: bool = True) -> bool:
        """Whether the base contains the stream's branch (read from git: a person's `wta merge` counts);
        `gone`: the answer when the branch does not exist.

        The two tips come from the ref files (the coordinator asks at every round while a dependent
        waits; the base's is read second: a base that moved on meanwhile contains what it held)."""
        tip = git.tip_of(self.common_dir, self.config.branch_for(stream), self.main, self.env)
        base = git.tip_of(self.common_dir, self.base, self.main, self.env)
        if tip is None:
            return gone
        return base is None or self._base_contains(tip, base)

    def _base_contains(self, commit: str, base: str) -> bool:
        if commit == base:
            return True
        if (commit, base) not in self._contains:
            self._contains[commit, base] = git.is_ancestor(commit, base, cwd=self.main, env=self.env)
        return self._contains[commit, base]
