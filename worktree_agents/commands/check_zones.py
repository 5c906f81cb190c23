"""`wta check-zones [--stream S] [RANGE]`: staged changes (hook mode) or a range."""

from __future__ import annotations

from worktree_agents import git
from worktree_agents.commands.output import err
from worktree_agents.errors import CHECK, WtaError
from worktree_agents.project import Project
from worktree_agents.zones import check_streams
from worktree_agents.zones.enforce import check_range, check_staged
from worktree_agents.zones.ownership import format_violations


def run(stream: str | None, rev_range: str | None) -> int:
    project = Project.find()
    stream = stream or project.stream
    if stream is None:
        if rev_range is None:
            return 0  # hook mode outside a stream worktree: nothing to check
        raise WtaError("no stream recorded for this worktree; name one with --stream STREAM")
    zones = project.base_zones()
    check_streams([stream], zones.streams, f"zones.yaml on {zones.base!r} defines")
    if rev_range is None:
        violations = check_staged(project.repo, stream, project.toplevel)
    else:
        if not all(git.rev_parse(end, project.toplevel, project.env)
                   for end in _ends(rev_range)):
            raise WtaError(f"{rev_range}: not a revision range git understands; write BASE..BRANCH, "
                           "e.g. main..wta/api")
        checked = check_range(project.repo, stream, [rev_range], project.toplevel, zones)
        violations = checked.violations
        if not violations:
            print(f"{rev_range}: checked {_count(checked.commits, 'commit')} touching "
                  f"{_count(checked.paths, 'path')}; all inside the zone of {stream}")
    if not violations:
        return 0
    err(format_violations(stream, violations))
    return CHECK


def _ends(rev_range: str) -> list[str]:
    for sep in ("...", ".."):
        if sep in rev_range:
            a, b = rev_range.split(sep, 1)
            return [f"{x or 'HEAD'}^{{commit}}" for x in (a, b)]
    return [f"{rev_range}^{{commit}}"]


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")
