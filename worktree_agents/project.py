"""The repository a command runs in: its worktrees, its zones.yaml, its state dir."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import cached_property

from worktree_agents import git, layout
from worktree_agents.errors import WtaError
from worktree_agents.repo import Repo, base_branch, main_worktree_listed
from worktree_agents.zones import CONFIG_FILE
from worktree_agents.zones.in_force import ZonesInForce, read_cache, zones_in_force


@dataclass
class Project:
    repo: Repo
    toplevel: str          # the worktree the command runs in
    main: str              # the main worktree
    listing: list[dict[str, str]] | None = field(default=None, repr=False, compare=False)  # (worktree_listing)

    @classmethod
    def find(cls, cwd: str | None = None) -> "Project":
        cwd = os.path.abspath(cwd or os.getcwd())
        env = git.no_git_env()
        found = git.bare_and_toplevel(cwd, env)
        if found is None:
            raise WtaError(f"{cwd}: not a git repository; run wta inside the repository that has {CONFIG_FILE} "
                           "(or `git init` first)")
        bare, toplevel = found
        if bare or toplevel is None:
            raise WtaError(f"{cwd}: a bare repository has no worktree to run in; use a clone with a checkout")
        repo = Repo.here(cwd)
        main, listing = main_worktree_listed(repo.common_dir)
        if main is None:
            raise WtaError(f"{cwd}: a worktree of the bare repository {repo.common_dir}, which has no main worktree "
                           f"for wta to keep zones.yaml and the base in; use a clone with a checkout")
        for path in (toplevel, repo.common_dir, main):
            _require_utf8(path)
        return cls(repo, toplevel, main, listing)

    def worktree_listing(self) -> list[dict[str, str]] | None:
        """git's worktree records as `find` listed them, handed over once (to `wta status`'s first look):
        None after, so a caller that looks again (`wta watch`, each refresh) lists them afresh."""
        listing, self.listing = self.listing, None
        return listing

    @property
    def env(self) -> dict[str, str]:
        return git.no_git_env()

    @property
    def config_path(self) -> str:
        return os.path.join(self.main, CONFIG_FILE)

    @cached_property
    def stream(self) -> str | None:
        return self.repo.stream()

    def main_config(self):
        """zones.yaml as it stands in the main worktree's file (validated): what `wta up` launches
        and what the commands that name streams check against."""
        from worktree_agents import config as config_mod

        return config_mod.load(self.config_path, repo_root=self.main,
                               cache=layout.path(self.repo.state_dir, layout.CONFIG_CACHE))

    def base(self, config, must_exist: bool = True) -> str:
        """The base branch: `base:` of zones.yaml, else the branch the zones in force were taken from
        (the one checked out when `wta up` ran, as SPEC says; what the hooks enforce), else the branch
        checked out in the main worktree. A person who switches the main worktree to another branch
        does not move where `wta merge` lands; the next `wta up` takes the branch checked out then.
        `must_exist`: refuse (WtaError) a base with no commit."""
        recorded = self.recorded_base() if config.base is None else None
        return base_branch(self.main, config.base, self.env, must_exist=must_exist, recorded=recorded)

    def recorded_base(self) -> str | None:
        """The base branch the last `wta up` recorded with the zones in force, if any."""
        cached = read_cache(self.repo)
        return cached["base"] if cached else None

    def base_zones(self) -> ZonesInForce:
        """The zones in force: those of zones.yaml as committed on the base branch (what the hooks and
        the merge enforce)."""
        return zones_in_force(self.repo)

    def tracked_files(self, where: str | None = None) -> list[str]:
        return git.tracked_files(where or self.toplevel, self.env)

    def relative(self, path: str) -> str:
        """A user-given path (relative to the cwd, or absolute) as a repository path."""
        absolute = os.path.normpath(os.path.join(os.getcwd(), path))
        for root in (self.toplevel, os.path.realpath(self.toplevel)):
            if absolute == root or absolute.startswith(root.rstrip(os.sep) + os.sep):
                return os.path.relpath(absolute, root).replace(os.sep, "/")
        raise WtaError(f"{path}: outside the repository ({self.toplevel}); give a path inside it")


def _require_utf8(path: str) -> None:
    """wta keeps the repository's paths in its records and hooks as UTF-8 text: one that is not
    (a folder named in Latin-1) is refused before anything is written."""
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        shown = path.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
        raise WtaError(f"{shown}: this path is not UTF-8, which wta needs to record it; rename that folder "
                       "(or move the repository) to a UTF-8 name") from None
