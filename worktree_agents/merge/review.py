"""What landing a stream would bring to the base (`wta diff STREAM`).

Three-dot: `base...wta/STREAM` is what the stream changed since it branched
from the base (or was last brought up to it), so a base that moved on does not
show up as the stream undoing it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from worktree_agents import git
from worktree_agents.errors import WtaError
from worktree_agents.worktrees import registry
from worktree_agents.zones import check_streams
from worktree_agents.zones.enforce import audit_commits
from worktree_agents.zones.ownership import Violation


@dataclass
class FileChange:
    path: str
    status: str                 # git's letter: A added, M modified, D deleted, T type changed, R renamed
    old_path: str | None        # a rename's old path (it changes both: one file, as `git diff --stat` counts)
    added: int | None           # lines; None for a binary file
    deleted: int | None


@dataclass
class StreamDiff:
    stream: str
    base: str
    branch: str
    base_head: str
    head: str
    commits: int                # commits in base..branch
    behind: int                 # commits in branch..base
    files: list[FileChange] = field(default_factory=list)
    outside_zone: list[dict[str, Any]] = field(default_factory=list)   # one per path: the zone audit of
    #                                      base..branch (as `wta status` counts violations and `wta merge` refuses)

    @property
    def range(self) -> str:
        return f"refs/heads/{self.base}...refs/heads/{self.branch}"

    def to_json(self) -> dict[str, Any]:
        added = [f.added for f in self.files if f.added is not None]
        deleted = [f.deleted for f in self.files if f.deleted is not None]
        return {**asdict(self), "counts": {"files": len(self.files), "added": sum(added), "deleted": sum(deleted),
                                           "commits": self.commits}}


def stream_diff(project, stream: str) -> StreamDiff:
    """The files `base...wta/STREAM` changes, with line counts; a rename is one file with both paths."""
    config = project.main_config()
    check_streams([stream], list(config.streams))
    base = project.base(config)
    branch = config.branch_for(stream)
    env = project.env
    heads = git.branch_heads(project.main, env)
    if branch not in heads:   # (its worktree on the branch's earlier name: `branch_prefix:` changed; the rename)
        switched = registry.stream_off_branch(project.main, project.repo.common_dir, stream, branch, env)
        raise WtaError(f"stream {stream!r}: {switched}" if switched else
                       f"stream {stream!r} has no branch {branch}; create it with `wta up {stream} --no-launch`")
    base_head, head = heads[base].sha, heads[branch].sha
    files = [FileChange(path, status, old_path, added, deleted)
             for status, path, old_path, added, deleted in git.diff_numstat(base_head, head, cwd=project.main, env=env)]
    ahead, behind = git.ahead_behind(base_head, head, cwd=project.main, env=env)
    found = StreamDiff(stream, base, branch, base_head, head, commits=ahead, behind=behind, files=files)
    zones = project.base_zones()
    if ahead and stream in zones.zones.zones:
        commits = git.commit_changes([head, f"^{base_head}"], cwd=project.main, env=env)
        first: dict[str, Violation] = {}
        for v in audit_commits(zones.zones, stream, commits, project.main, env):
            first.setdefault(v.path, v)
        found.outside_zone = [{"path": v.path, "reason": v.reason, "owner": v.owner, "commit": v.commit,
                               "detail": v.describe()} for v in first.values()]
    return found
