"""Argument parsing for `wta`: each command calls one function in `commands/`.

Nothing here decides or prints anything beyond what typer does for usage.
"""

from __future__ import annotations

from typing import List, Optional

import typer

from worktree_agents import __version__

app = typer.Typer(
    name="wta",
    help="Run parallel coding-agent sessions in git worktrees, each confined to its zone.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
hooks_app = typer.Typer(help="Install or remove wta's pre-commit and commit-msg hooks.", no_args_is_help=True)
app.add_typer(hooks_app, name="hooks")


def _version(value: bool) -> None:
    if value:
        print(f"wta {__version__}")
        raise typer.Exit(0)


@app.callback()
def root(
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks for unexpected errors."),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    """wta: one worktree, branch and agent session per stream; zones keep them apart."""


def _exit(code: int) -> None:
    raise typer.Exit(code)


# -- zones (configuration and enforcement) ------------------------------------

@app.command()
def init(force: bool = typer.Option(False, "--force", help="Overwrite an existing zones.yaml.")) -> None:
    """Write a starter zones.yaml from the repository's layout."""
    from worktree_agents.commands import init as cmd
    _exit(cmd.run(force))


@app.command()
def zones(as_json: bool = typer.Option(False, "--json", help="One JSON document on stdout.")) -> None:
    """Each stream's patterns and owned files; overlaps and unowned files (exit 1 on overlaps)."""
    from worktree_agents.commands import zones as cmd
    _exit(cmd.run(as_json))


@app.command()
def explain(
    paths: List[str] = typer.Argument(..., help="Paths, relative to the current directory."),
    as_json: bool = typer.Option(False, "--json", help="One JSON document on stdout."),
) -> None:
    """Which stream owns each path, and which pattern decided it."""
    from worktree_agents.commands import explain as cmd
    _exit(cmd.run(paths, as_json))


@app.command("check-zones")
def check_zones(
    rev_range: Optional[str] = typer.Argument(None, metavar="[REVISION_RANGE]",
                                              help="Check every commit in it (e.g. main..wta/api)."),
    stream: Optional[str] = typer.Option(None, "--stream", "-s", help="The stream (default: this worktree's)."),
) -> None:
    """Without a range, the staged changes (hook mode); with one, every commit in it. Exit 1 on violations."""
    from worktree_agents.commands import check_zones as cmd
    _exit(cmd.run(stream, rev_range))


@hooks_app.command("install")
def hooks_install(
    stream: Optional[str] = typer.Option(None, "--stream", "-s",
                                         help="Record this worktree as the stream's worktree."),
) -> None:
    """Install the hooks where git looks for them (core.hooksPath honoured); keep existing hooks."""
    from worktree_agents.commands import hooks as cmd
    _exit(cmd.install(stream))


@hooks_app.command("uninstall")
def hooks_uninstall() -> None:
    """Remove wta's hooks and restore the ones they replaced."""
    from worktree_agents.commands import hooks as cmd
    _exit(cmd.uninstall())


@app.command()
def guard(stream: Optional[str] = typer.Option(None, "--stream", "-s", help="The stream (default: WTA_STREAM).")) -> None:
    """Claude Code PreToolUse hook: deny Edit/Write outside the stream's zone (reads the hook JSON on stdin)."""
    from worktree_agents.commands import guard as cmd
    _exit(cmd.run(stream))


# -- worktrees, sessions, merge: see the modules named in each command -------
