"""A stream's `after` dependencies: whether its session may start, must wait, or cannot run.

A dependent starts only when each dependency ended `done` and the base contains
its branch (read from git, so a person's `wta merge` counts too); it waits while
a dependency works or is not landed, and fails when one failed or will not run.
"""

from __future__ import annotations

from worktree_agents import git
from worktree_agents.sessions.store import BLOCKED, ENDED, PENDING, SATISFIES_AFTER, WAITING, SessionRecord


class Dependencies:
    """The `after` rule for one schedule; it remembers what git said of each (tip, base) pair."""

    def __init__(self, project, config, planned: tuple[str, ...], base: str, land: bool) -> None:
        self.config, self.planned, self.base, self.land = config, planned, base, land
        self.main, self.env, self.common_dir = project.main, project.env, project.repo.common_dir
        self._contains: dict[tuple[str, str], bool] = {}

    def problem(self, stream: str, records: dict[str, SessionRecord | None]) -> str | None:
        for dep in self.config.streams[stream].after:
            record = records.get(dep)
            if record is not None and record.state in ENDED and record.state not in SATISFIES_AFTER and \
                    not (record.state == BLOCKED and self.landed(dep)):  # a person landed it since
                return f"dependency {dep} {record.state}"
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
        unlanded = [d for d in deps if not self.landed(d)]
        if not unlanded:
            return None, []
        if self.land:
            return f"waiting for {', '.join(unlanded)} to land", []
        return f"waiting for {', '.join(unlanded)} to land: wta merge {' '.join(unlanded)}", unlanded

    def landed(self, stream: str) -> bool:
        """Whether the base contains the stream's branch (read from git: a person's `wta merge` counts).

        The two tips come from the ref files (the coordinator asks at every round while a dependent
        waits; the base's is read second: a base that moved on meanwhile contains what it held)."""
        tip = git.tip_of(self.common_dir, self.config.branch_for(stream), self.main, self.env)
        base = git.tip_of(self.common_dir, self.base, self.main, self.env)
        if tip is None or base is None or tip == base:
            return True
        if (tip, base) not in self._contains:
            self._contains[tip, base] = git.is_ancestor(tip, base, cwd=self.main, env=self.env)
        return self._contains[tip, base]
