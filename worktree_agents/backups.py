"""Backup refs under `refs/wta/backup/`: what wta keeps of a branch tip before it moves or
deletes one (`wta merge`, `wta down --delete-branches`), and listing and pruning them.

A backup's name starts with the run that made it, `<UTC time>-<random>`
(`refs/wta/backup/20261203-131500-ab12/heads/wta/api`), so its age is read from its name.
"""

from __future__ import annotations

import calendar
import os
import re
import time
from collections import namedtuple

from worktree_agents import git

BACKUP_ROOT = "refs/wta/backup"
_RUN_TIME = re.compile(r"^(\d{8}-\d{6})(?:-|$)")


class Backup(namedtuple("Backup", ["ref", "sha", "created", "subject"])):
    """One backup ref: its full name, the commit it keeps, when it was made (epoch seconds) and the
    commit's subject."""

    __slots__ = ()


def new_run_id(now: float | None = None) -> str:
    """A run's name: its UTC time (sortable, and the backups' age) and a random part."""
    return time.strftime("%Y%m%d-%H%M%S", time.gmtime(now)) + "-" + os.urandom(2).hex()


def backup_ref(run_id: str, ref: str, kind: str = "") -> str:
    """Where run `run_id` keeps `ref`'s tip (`refs/heads/wta/api` -> `<root>/<run>/[<kind>/]heads/wta/api`)."""
    return f"{BACKUP_ROOT}/{run_id}/{kind + '/' if kind else ''}{ref[len('refs/'):]}"


def keep_tips(tips: dict[str, str], why: str, cwd: str, env: dict[str, str] | None = None) -> dict[str, str]:
    """Back up each ref's tip (full refname -> commit) under one new run; each ref's backup ref."""
    run_id = new_run_id()
    made = {ref: backup_ref(run_id, ref) for ref in tips}
    git.update_refs([(made[ref], sha, git.ZERO_SHA) for ref, sha in tips.items()], f"wta: backup ({why})",
                    cwd=cwd, env=env)
    return made


def list_backups(cwd: str, env: dict[str, str] | None = None) -> list[Backup]:
    """Every backup ref, oldest first."""
    found = []
    for ref, sha, committed, subject in git.refs_under(BACKUP_ROOT, cwd, env):
        stamp = _RUN_TIME.match(ref[len(BACKUP_ROOT) + 1:])
        created = calendar.timegm(time.strptime(stamp.group(1), "%Y%m%d-%H%M%S")) if stamp else committed
        found.append(Backup(ref, sha, created, subject))
    return sorted(found, key=lambda b: (b.created, b.ref))


def prune(backups: list[Backup], cwd: str, env: dict[str, str] | None = None) -> None:
    """Delete these backup refs, each only if it still points where it was listed."""
    git.delete_refs([(b.ref, b.sha) for b in backups], "wta backups --prune", cwd=cwd, env=env)
