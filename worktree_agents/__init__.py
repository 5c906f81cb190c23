"""wta: parallel coding-agent sessions in git worktrees, each confined to its zone.

Kept import-free: the git hooks import this package on every commit.
"""

__version__ = "0.1.0"
