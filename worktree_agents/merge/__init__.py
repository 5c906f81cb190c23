"""Merging the streams back into the base, one after another (`wta merge`).

For each stream, in `after` order: verify its commits (zone and prefix), rebase
it onto the current base inside its own worktree, run `test`, fast-forward the
base. The base only ever moves to a commit that passed all of that.

Nothing is lost and everything can be resumed: before anything moves, the base
and every stream branch are backed up under `refs/wta/backup/<run>/`, and before
every step the merge state (`<common>/wta/merge.json`) records the step, so a
merge that stopped (conflict, failed check) or was killed at any moment can be
continued (`run.continue_merge`) or undone (`abort.abort_merge`).
`dry_run.predict_merge` plays the whole sequence with `git merge-tree` and
changes no ref and no file.

The modules, in the order a merge uses them:
    plan      what to merge: the streams, their tips and worktrees, the zones in
              force, and the checks made before anything moves (verify, readiness)
    state     the on-disk merge state (merge.json), backups and saved reports
    run       the run: the steps per stream, and continue
    abort     `wta merge --abort`: every branch put back, and the streams started on what it takes back named
    recovery  putting branches and worktrees back (compare-and-swap, never over
              commits wta did not make or back up) and clearing what a killed git left
    dry_run   `wta merge --dry-run`
    report    what happened to each stream (StreamResult, MergeReport) and advice

Returns data, never prints: the command renders the `MergeReport`.
"""
