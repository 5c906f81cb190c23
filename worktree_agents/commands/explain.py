"""`wta explain PATH...`: which stream owns each path, and the deciding pattern."""

from __future__ import annotations

from worktree_agents.commands.output import emit_json
from worktree_agents.errors import USAGE, WtaError, report
from worktree_agents.project import Project


def run(paths: list[str], as_json: bool = False) -> int:
    project = Project.find()
    zones = project.main_config().zone_map()
    answers, problems = [], []
    for path in paths:  # one bad path does not hide the answers for the others
        try:
            answers.append(zones.owner_of(project.relative(path)))
        except WtaError as exc:
            problems.append(exc)
    if as_json:
        emit_json([{"path": o.path, "stream": o.stream, "pattern": o.pattern, "read_only": o.read_only,
                    "protected": o.protected, "also": list(o.also)} for o in answers])
    else:
        for o in answers:
            print(f"{o.path}: {o.describe()}")
    for problem in problems:
        report(problem)
    return USAGE if problems else 0
