"""wta's git hooks and the Claude Code guard.

    install          installing and removing the hooks where git runs them
    runtime          what the hooks run: pre-commit, commit-msg, and the guard
    hook-tmpl        the hook script, a shell template (with commit-msg-fast-path)

The runtime is on every commit's path: stdlib only (tests/test_hook_imports.py).
"""
