"""Stream worktrees: git's registered worktrees, and making and removing the streams'.

    registry   git's worktrees (Worktree), which stream each belongs to, where a stream's goes
    plan       what `wta up` will do for each stream, checked before anything changes
    prepare    making them: branch, worktree, sparse checkout, `copy:`, `setup:`, hooks
    sparse     what a sparse stream worktree checks out
    copy       `copy:`: untracked files from the main worktree
    remove     `wta down`: what removing a stream would lose, and removing it
    locks      lock files left at a stream's ref, reflog or worktree (a sandbox can make one), named before a move

Nothing here prints: the commands render what these return.
"""
