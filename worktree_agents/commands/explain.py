"""`wta explain PATH...`: which stream owns each path, and the deciding pattern; for a directory, whose
its tracked files are; a submodule is one tracked path, owned as a file is. Exit 1 when a path answered
(or a file in a directory answered) is claimed by several streams: the overlap `wta zones` exits 1 on."""

from __future__ import annotations

import os
from collections import Counter

from worktree_agents import git
from worktree_agents.commands.output import emit_json
from worktree_agents.errors import CHECK, USAGE, WtaError, report
from worktree_agents.project import Project
from worktree_agents.zones.ownership import Ownership, quote_path

OVERLAPPED = "(claimed by several streams)"   # a directory's count of the files that are an overlap


def run(paths: list[str], as_json: bool = False) -> int:
    project = Project.find()
    zones = project.main_config().zone_map()
    answers, problems = [], []
    tracked: list[str] | None = None
    submodules: set[str] | None = None
    for path in paths:  # one bad path does not hide the answers for the others
        try:
            rel = _working_tree_path(project, path)
        except WtaError as exc:
            problems.append(exc)
            continue
        full = os.path.join(os.getcwd(), path)
        submodules = git.submodules(project.toplevel, project.env) if submodules is None else submodules
        if rel in submodules:   # a directory on disk, but git tracks it as one path, as the zone check does
            answers.append(_Submodule(zones.owner_of(rel)))
        elif rel == "." or path.endswith("/") or (os.path.isdir(full) and not os.path.islink(full)):
            tracked = project.tracked_files() if tracked is None else tracked
            below = [f for f in tracked if rel == "." or f.startswith(rel + "/")]
            answers.append(_Directory(rel, Counter(_owner(zones.owner_of(f)) for f in below)))
        else:
            answers.append(zones.owner_of(rel))
    if as_json:
        emit_json([_file_json(a) if isinstance(a, Ownership) else a.as_json() for a in answers])
    else:
        for a in answers:
            print(f"{quote_path(a.path)}: {a.describe()}")
    for problem in problems:
        report(problem)
    if problems:
        return USAGE
    return CHECK if any(a.overlap for a in answers) else 0


def _working_tree_path(project: Project, path: str) -> str:
    """`path` as a repository path; an error for one that names no path in the working tree: an empty
    argument (it had been taken for the repository's root) or git's own `.git`."""
    if not path:
        raise WtaError("'': an empty path; give a path in the working tree (. for all of it)")
    rel = project.relative(path)
    if rel == ".git" or rel.startswith(".git/"):
        raise WtaError(f"{path}: git's own directory, not a path in the working tree; no stream can own it")
    return rel


def _file_json(a: Ownership) -> dict:
    return {"path": a.path, "stream": a.stream, "pattern": a.pattern, "read_only": a.read_only,
            "protected": a.protected, "also": list(a.also)}


def _owner(ownership) -> str:
    """A file's owner as a directory's summary counts it: its stream, else what keeps it from one (in
    parentheses, which no stream's name holds)."""
    if ownership.also:
        return OVERLAPPED
    if ownership.read_only:
        return "(read-only)"
    return ownership.stream or "(unowned)"


class _Directory:
    """What `wta explain` says of a directory: its tracked files, counted by owner."""

    def __init__(self, rel: str, owners: Counter) -> None:
        self.path, self.owners = ("." if rel == "." else rel + "/"), owners
        self.overlap = bool(owners[OVERLAPPED])

    def describe(self) -> str:
        total = sum(self.owners.values())
        if not total:
            return "a directory, with no tracked file in it (each file is explained by its own path)"
        counts = ", ".join(f"{owner} {n}" for owner, n in self.owners.most_common())
        return f"a directory of {total} tracked file(s): {counts}"

    def as_json(self) -> dict:
        """The keys of a file's answer (`stream`: the one that owns every file, if one does), and `files`."""
        only = next(iter(self.owners)) if len(self.owners) == 1 else None
        return {"path": self.path, "stream": only if only and not only.startswith("(") else None,
                "pattern": None, "read_only": only == "(read-only)", "protected": False, "also": [],
                "files": dict(self.owners.most_common())}


class _Submodule:
    """What `wta explain` says of a submodule: one tracked path (git tracks the commit checked out there, not
    the files in it), owned as a file is; a commit that moves it is checked against that owner."""

    def __init__(self, ownership: Ownership) -> None:
        self.path, self.ownership = ownership.path, ownership
        self.overlap = ownership.overlap

    def describe(self) -> str:
        return f"{self.ownership.describe()}; a submodule (tracked as one path: the commit checked out there)"

    def as_json(self) -> dict:
        """A file's keys, and `submodule`."""
        return {**_file_json(self.ownership), "submodule": True}
