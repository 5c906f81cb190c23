"""`wta backups [--prune --older-than D]`: the backup refs under refs/wta/backup/, or prune
the old ones.

wta keeps a branch tip there before `wta merge` moves a branch and before
`wta down --delete-branches` deletes one that has work the base lacks.
"""

from __future__ import annotations

import time

from worktree_agents import backups
from worktree_agents.commands.output import table
from worktree_agents.errors import WtaError
from worktree_agents.project import Project


def run(prune: bool = False, older_than: str | None = None) -> int:
    if prune and older_than is None:
        raise WtaError("--prune needs --older-than D (e.g. --older-than 30d), so that no recent backup goes by "
                       "accident")
    age = None
    if older_than is not None:
        from worktree_agents.config import parse_duration

        try:
            age = parse_duration(older_than, zero=True)   # 0s: every backup, however new
        except ValueError as exc:
            raise WtaError(f"--older-than {older_than}: {exc}") from None
    project = Project.find()
    found = backups.list_backups(project.main, project.env)
    now = time.time()
    chosen = [b for b in found if not age or now - b.created > age]   # a backup stamped this second is older than 0s
    if prune:
        from worktree_agents.merge.state import read_state

        underway = read_state(project.repo.state_dir)   # what `--continue`/`--abort` of that merge restore from
        if underway is not None:
            chosen = [b for b in chosen if not b.ref.startswith(f"{backups.BACKUP_ROOT}/{underway['run_id']}/")]
        backups.prune(chosen, project.main, project.env)
        kept = len(found) - len(chosen)
        print(f"pruned {len(chosen)} backup ref(s) older than {older_than}; {kept} kept"
              + (f" (those of the merge under way, {underway['run_id']}, among them)" if underway else ""))
        for b in chosen:
            print(f"  deleted {b.ref} ({b.sha[:12]})")
        return 0
    if not chosen:
        print(f"no backup refs under {backups.BACKUP_ROOT}/" + (f" older than {older_than}" if older_than else ""))
        return 0
    rows = [(time.strftime("%Y-%m-%d %H:%M", time.localtime(b.created)), b.sha[:12], b.ref, b.subject)
            for b in chosen]
    print(table(("made", "commit", "ref", "subject"), rows))
    return 0
