"""`wta` and `python -m worktree_agents`: run the CLI, turning expected
failures into one line and an exit code (tracebacks only with --debug)."""

from __future__ import annotations

import os
import sys


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args or os.environ.get("WTA_DEBUG") == "1"
    from worktree_agents.errors import WtaError

    try:
        from worktree_agents.cli import app

        app(args=args, prog_name="wta", standalone_mode=True)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except WtaError as exc:
        if debug:
            raise
        # One problem per line (a bad zones.yaml reports several), each marked as wta's.
        print("\n".join(f"wta: {line}" for line in str(exc).splitlines()), file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # a bug: one line, the traceback with --debug
        if debug:
            raise
        print(f"wta: internal error: {type(exc).__name__}: {exc} (run with --debug for the traceback)",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
