"""Backup refs: `wta down --force --delete-branches` keeps every deleted branch tip that the
base lacks, and `wta backups [--prune --older-than D]` lists and prunes them."""

from __future__ import annotations

import json
import re
import time

from support import add_stream_worktree, commit_all, git, wta, write_files

OLD_RUN = "refs/wta/backup/20200101-000000-aaaa/heads/wta/old"


def unmerged_api(webapp):
    api = add_stream_worktree(webapp, "api")
    write_files(api, {"src/lib/cache.ts": "export const cache = 1\n"})
    return api, commit_all(api, "[api] a cache nobody merged")


def test_down_force_delete_branches_keeps_the_unmerged_tip_and_prints_it(webapp):
    api, tip = unmerged_api(webapp)
    add_stream_worktree(webapp, "ui")  # no commits of its own: its tip is on the base, nothing to keep
    proc = wta(webapp, "down", "--force", "--delete-branches", check=0)
    line = next(line for line in proc.stdout.splitlines() if line.startswith("api "))
    found = re.search(r"branch wta/api deleted; its tip ([0-9a-f]{12}) is kept as (refs/wta/backup/\S+/heads/wta/api)\)",
                      line)
    assert found and tip.startswith(found.group(1)), proc.stdout
    assert git(webapp, "rev-parse", "--verify", "-q", "refs/heads/wta/api", check=False).returncode != 0
    assert git(webapp, "rev-parse", found.group(2)).stdout.strip() == tip  # the commit is not lost
    backups = git(webapp, "for-each-ref", "--format=%(refname)", "refs/wta/backup/").stdout.split()
    assert backups == [found.group(2)]  # none for ui, whose tip main already has
    assert "ui" in proc.stdout and "branch wta/ui deleted)" in proc.stdout


def test_backups_lists_full_refnames_and_prunes_only_the_old_ones(webapp):
    _, tip = unmerged_api(webapp)
    git(webapp, "update-ref", OLD_RUN, tip)  # a backup made years ago
    wta(webapp, "down", "--force", "--delete-branches", "api", check=0)
    listing = wta(webapp, "backups", check=0).stdout.splitlines()
    refs = [line.split()[3] for line in listing[2:]]
    assert refs[0] == OLD_RUN and refs[1].startswith("refs/wta/backup/") and refs[1].endswith("/heads/wta/api")
    assert all(tip[:12] in line and "[api] a cache nobody merged" in line for line in listing[2:])

    old_only = wta(webapp, "backups", "--older-than", "30d", check=0).stdout
    assert OLD_RUN in old_only and refs[1] not in old_only

    proc = wta(webapp, "backups", "--prune", "--older-than", "30d", check=0)
    assert proc.stdout.splitlines() == ["pruned 1 backup ref(s) older than 30d; 1 kept",
                                        f"  deleted {OLD_RUN} ({tip[:12]})"]
    left = git(webapp, "for-each-ref", "--format=%(refname)", "refs/wta/backup/").stdout.split()
    assert left == [refs[1]]


def test_prune_without_an_age_is_refused_and_deletes_nothing(webapp):
    _, tip = unmerged_api(webapp)
    git(webapp, "update-ref", OLD_RUN, tip)
    proc = wta(webapp, "backups", "--prune", check=2)
    assert proc.stderr.startswith("wta: --prune needs --older-than D") and proc.stderr.count("\n") == 1
    assert wta(webapp, "backups", "--prune", "--older-than", "soon", check=2).stderr.startswith(
        "wta: --older-than soon: bad duration")
    assert git(webapp, "rev-parse", OLD_RUN).stdout.strip() == tip


def test_prune_keeps_the_backups_of_a_merge_under_way(webapp):
    api, _ = unmerged_api(webapp)
    write_files(webapp, {"src/lib/cache.ts": "export const cache = 2\n"})
    commit_all(webapp, "the base changes the cache too")
    git(webapp, "update-ref", OLD_RUN, git(webapp, "rev-parse", "main").stdout.strip())
    wta(webapp, "merge", "api", check=1)   # stops on the conflict: --continue or --abort to come
    run = json.loads((webapp / ".git" / "wta" / "merge.json").read_text())["run_id"]
    before = git(webapp, "for-each-ref", "--format=%(refname)", f"refs/wta/backup/{run}/").stdout.split()
    assert before
    time.sleep(1.1)
    pruned = wta(webapp, "backups", "--prune", "--older-than", "1s", check=0).stdout
    assert f"(those of the merge under way, {run}, among them)" in pruned and OLD_RUN in pruned
    assert git(webapp, "for-each-ref", "--format=%(refname)", f"refs/wta/backup/{run}/").stdout.split() == before
    assert "backups stay under" in wta(webapp, "merge", "--abort", check=0).stdout


def test_prune_older_than_zero_deletes_every_backup_even_one_made_this_second(webapp):
    _, tip = unmerged_api(webapp)
    git(webapp, "update-ref", OLD_RUN, tip)
    wta(webapp, "down", "--force", "--delete-branches", "api", check=0)   # a backup stamped now
    assert len(wta(webapp, "backups", "--older-than", "0s", check=0).stdout.splitlines()) == 4   # header, rule, two
    proc = wta(webapp, "backups", "--prune", "--older-than", "0s", check=0)
    assert proc.stdout.splitlines()[0] == "pruned 2 backup ref(s) older than 0s; 0 kept"
    assert git(webapp, "for-each-ref", "refs/wta/backup/").stdout == ""
