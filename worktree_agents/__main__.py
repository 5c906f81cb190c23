"""`wta` and `python -m worktree_agents`: run the CLI, turning expected
failures into one line and an exit code (tracebacks only with --debug)."""

from __future__ import annotations

import errno
import os
import sys

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing
if TYPE_CHECKING:
    from collections.abc import Callable


def main(argv: list[str] | None = None) -> int:
    args = _debug_first(sys.argv[1:] if argv is None else argv)
    if not _changes_state(args):
        return _main(args)   # a closed stdout ends it at once (BrokenPipeError below)
    from worktree_agents.commands.output import outliving_its_reader

    # Finished as if the reader were there, with the exit code that says how it went: a shell pipeline's
    # status is the last command's anyway, and under `set -o pipefail` a 141 would make a `wta up` that
    # completed look killed half-way.
    with outliving_its_reader():
        return _main(args)


# The commands that change the repository or wta's state. A reader of their output that goes
# (`wta up | head -1`) must not stop them half-way (SPEC: nothing half-created); the others (status
# --watch, logs -f, watch, zones, diff...) stop at once, as git does, rather than run on for nobody.
_CHANGING_STATE = {"init", "hooks", "up", "down", "backups", "request", "merge", "sync", "stop", "demo"}


def _changes_state(args: list[str]) -> bool:
    rest = args[1:] if args[:1] == ["--debug"] else args
    return bool(rest) and rest[0] in _CHANGING_STATE


def _main(args: list[str]) -> int:
    debug = args[:1] == ["--debug"] or os.environ.get("WTA_DEBUG") == "1"
    from worktree_agents.errors import WtaError, report, report_bug

    try:
        code = _run(args)
        sys.stdout.flush()  # a reader that has gone shows here, not in Python's last flush
        loading = sys.modules.get("worktree_agents.config.loading")
        if code == 0 and loading is not None:
            loading.save_validated()   # zones.yaml as validated, for the next command (config/loading.py)
        return code
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except WtaError as exc:
        if debug:   # where it came from, then the same line and exit code as without --debug
            import traceback

            traceback.print_exc()
        return report(exc)
    except KeyboardInterrupt as exc:   # Ctrl-C, or SIGTERM (interrupts.Ended) where the command takes it so
        return getattr(exc, "exit_code", 130)
    except BrokenPipeError:  # typer's path turns it into STDOUT_CLOSED in cli.py (click would exit 1)
        from worktree_agents.commands.output import stdout_closed

        return stdout_closed()
    except Exception as exc:  # a bug: one line, the traceback with --debug
        if isinstance(exc, OSError) and exc.errno == errno.EROFS and os.environ.get("WTA_SANDBOX") and not debug:
            # Run by an agent in its session's sandbox, where wta's own state is read-only.
            print(f"wta: cannot write {exc.filename or 'wta state'}: this runs in a session's sandbox, where wta's "
                  "state is read-only; run the command outside the session", file=sys.stderr)
            return 2
        if isinstance(exc, FileNotFoundError) and not _cwd_exists():
            print("wta: the current directory no longer exists (a worktree `wta down` removed?); cd into the "
                  "repository and run the command again", file=sys.stderr)
            return 2
        from worktree_agents.errors import WRITE_ERRNOS, cannot_write

        if isinstance(exc, OSError) and exc.errno in WRITE_ERRNOS and exc.filename and not debug:
            return report(cannot_write(exc.filename, exc))   # the machine's to fix, not a bug of wta's
        usage = _usage_error(exc)
        if usage is not None:
            return usage
        if debug:
            raise
        report_bug(exc, "", "run with --debug for the traceback")
        return 1


def _debug_first(args: list[str]) -> list[str]:
    """`--debug` where typer takes it, before the command, wherever it was given before a `--` (`wta merge
    --debug` had been refused as an unknown option)."""
    end = args.index("--") if "--" in args else len(args)
    if "--debug" not in args[:end]:
        return args
    return ["--debug", *(a for a in args[:end] if a != "--debug"), *args[end:]]


def _cwd_exists() -> bool:
    try:
        os.getcwd()
    except FileNotFoundError:
        return False
    return True


def _run(args: list[str]) -> int:
    fast = _fast_path(args)
    if fast is not None:
        return fast()
    from worktree_agents.cli import app

    code = app(args=args, prog_name="wta", standalone_mode=False)
    return code if isinstance(code, int) else 0


# Starting typer and building the CLI is a large part of what `wta status` and a
# `wta up` take (docs/performance.md). So the plainest forms of these two commands skip it; anything else
# (help, a typo, another option) goes through typer as usual, which says the
# same things (tests compare both paths).
_STATUS_OPTIONS = {"--json", "--watch"}


def _fast_path(args: list[str]) -> Callable[[], int] | None:
    """The command to run without typer for `[--debug] status [--json] [--watch]` and
    `[--debug] up [--no-launch] [--land] [-d|--detach] [STREAM...]`; None for anything else."""
    rest = args[1:] if args[:1] == ["--debug"] else args
    command, words = (rest[0], rest[1:]) if rest else (None, [])
    if command == "status" and set(words) <= _STATUS_OPTIONS and len(set(words)) == len(words):
        from worktree_agents.commands import status

        return lambda: status.run("--json" in words, "--watch" in words)
    if command == "up":
        flags = [w for w in words if w.startswith("-")]
        given = {_UP_FLAGS.get(w) for w in flags}
        streams = [w for w in words if w and not w.startswith("-")]
        if None not in given and len(given) == len(flags) and len(streams) + len(flags) == len(words):
            from worktree_agents.commands import up

            return lambda: up.run(streams, no_launch="no_launch" in given, detach="detach" in given,
                                  land="land" in given)
    return None


# The flags of `wta up` that the fast path takes (each at most once): what they set in `up.run`.
_UP_FLAGS = {"--no-launch": "no_launch", "--land": "land", "--detach": "detach", "-d": "detach"}


def _usage_error(exc: Exception) -> int | None:
    """Report click's usage errors (unknown option, bad value, missing argument) in one
    line like every other error, instead of click's usage line, hint and framed message;
    their exit code, or None for any other exception.

    Matched by class name: typer ships its own copy of click, so the classes are not
    importable under one name across versions.
    """
    names = {k.__name__ for k in type(exc).__mro__}
    if "Abort" in names:
        return 1
    if "ClickException" not in names:
        return None
    ctx = getattr(exc, "ctx", None)
    where = ctx.command_path if ctx is not None else "wta"
    message = " ".join(exc.format_message().split())  # type: ignore[attr-defined]
    print(f"wta: {message} (see `{where} --help`)", file=sys.stderr)
    return exc.exit_code  # type: ignore[attr-defined]


if __name__ == "__main__":
    sys.exit(main())
