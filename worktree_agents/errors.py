"""The one error type for expected failures.

The CLI turns a `WtaError` into its one-line message and exit code; anything
else is a bug and prints a traceback only with `--debug`.
"""

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


def cannot_write(path: str, exc: OSError) -> WtaError:
    """A write that failed (a full disk, a size limit, permissions): one line naming the file."""
    return WtaError(f"cannot write {path}: {exc.strerror or exc}; free some space there (or fix its permissions) "
                    "and run the command again", CHECK)

