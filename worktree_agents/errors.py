"""The one error type for expected failures, and how wta reports a failure.

The CLI (`__main__`) and the hooks (`hooks.runtime`) turn a `WtaError` into its
lines and exit code (`report`); anything else is a bug, reported in one line
(`report_bug`), with a traceback only when asked for.
"""

import errno
import sys

USAGE = 2  # usage or configuration error
CHECK = 1  # a check failed: zone violation, conflict, failed test or session


class WtaError(Exception):
    """An expected failure: one line for the user, and the exit code."""

    def __init__(self, message: str, exit_code: int = USAGE) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code

    def __str__(self) -> str:
        return self.message


def report(exc: WtaError) -> int:
    """Print an expected failure on stderr, one `wta: ` line per problem (a bad zones.yaml has
    several); its exit code."""
    print("\n".join(f"wta: {line}" for line in str(exc).splitlines()), file=sys.stderr)
    return exc.exit_code


def report_bug(exc: BaseException, where: str, how_to_debug: str) -> None:
    """Print an unexpected exception as one line: `where` it happened, and how to see its traceback."""
    print(f"wta: internal error{where}: {type(exc).__name__}: {exc} ({how_to_debug})", file=sys.stderr)


def cannot_write(path: str, exc: OSError) -> WtaError:
    """A write that failed (a full disk, a size limit, permissions, a read-only mount): one line naming the
    file and the fix."""
    fix = {errno.EACCES: "fix its permissions", errno.EPERM: "fix its permissions",
           errno.EROFS: "make that file system writable"}.get(exc.errno or 0,
                                                                  "free some space there (or fix its permissions)")
    return WtaError(f"cannot write {path}: {exc.strerror or exc}; {fix} and run the command again", CHECK)


# What a write can fail with that the person, not wta, has to fix (the CLI reports any of them as `cannot_write`).
WRITE_ERRNOS = frozenset({errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOSPC, errno.EDQUOT, errno.EFBIG})


def no_zones_yaml(path: str) -> WtaError:
    """The one message for a repository without zones.yaml (the main worktree's path), whichever
    command found it missing."""
    return WtaError(f"{path}: not found; write a starter with `wta init`, then commit it on the base branch")
