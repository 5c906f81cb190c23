"""wta's git hooks and the Claude Code guard.

    install          wta's hooks directory, and stream worktrees' core.hooksPath pointing at it
    hooks_path       which hooks directory git runs in a worktree: the shared core.hooksPath, a
                     worktree's own
    runtime          what the hooks run: pre-commit, commit-msg, and the guard
    hook-tmpl        every hook script: find and start the repository's own hook (a shell template)
    check-tmpl       in pre-commit and commit-msg, once that hook is found and before it starts:
                     wta's part (pre-commit-check, commit-msg-check) in stream worktrees, exec'd
                     when the repository has no such hook
    sync-tmpl        in every hook: a link to `forward` for the hooks run on every commit,
                     once the repository has them

The runtime is on every commit's path: stdlib only (tests/hooks/test_imports.py).
"""
