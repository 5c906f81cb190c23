"""Argument parsing for `wta`: each command calls one function in `commands/`.

Nothing here decides or prints anything beyond what typer does for usage.
"""

from __future__ import annotations

import sys
from contextlib import contextmanager
from typing import List, Optional

import typer
from typer.core import TyperCommand, TyperGroup

from worktree_agents import __version__


@contextmanager
def _stdout_closed_ends_quietly():
    """click (and typer's copy of it) turns a closed stdout into a silent exit 1; wta exits as git does."""
    try:
        yield
    except BrokenPipeError:
        from worktree_agents.commands.output import stdout_closed

        raise typer.Exit(stdout_closed()) from None


def _argument_usage(param) -> str:
    """An argument as git and click write it: PATH..., [STREAM]..., [DIR]; a metavar that
    spells out its own shape (`[STREAM] TEXT...`) is kept as written."""
    name = param.metavar or param.name.upper()
    if " " in name:
        return name
    name = name if param.required else f"[{name}]"
    return name + ("..." if param.nargs != 1 else "")


class _Parsing:
    """What wta's command and group classes share: an error from the option parser names
    the command whose help to read, and output into a closed pipe ends the command quietly."""

    def make_context(self, info_name, args, parent=None, **extra):  # --help is printed from here
        with _stdout_closed_ends_quietly():
            try:
                return super().make_context(info_name, args, parent=parent, **extra)
            except Exception as exc:
                if getattr(exc, "ctx", False) is None:  # click's parser does not say which command it parsed
                    exc.ctx = self.context_class(self, info_name=info_name, parent=parent)
                raise

    def invoke(self, ctx):
        with _stdout_closed_ends_quietly():
            return super().invoke(ctx)


class _Command(_Parsing, TyperCommand):
    """A wta subcommand, with click's plain help: typer's rich panels give every flag a
    `<bool>` placeholder and wrap arguments in braces and double brackets."""

    def collect_usage_pieces(self, ctx) -> list[str]:
        arguments = [_argument_usage(p) for p in self.get_params(ctx) if p.param_type_name == "argument"]
        return [self.options_metavar, *arguments] if self.options_metavar else arguments

    def format_options(self, ctx, formatter) -> None:
        params = self.get_params(ctx)
        arguments = [(_argument_usage(p), getattr(p, "help", None) or "")
                     for p in params if p.param_type_name == "argument"]
        options = [record for p in params if p.param_type_name == "option"
                   for record in [p.get_help_record(ctx)] if record is not None]
        for title, rows in (("Arguments", arguments), ("Options", options)):
            if rows:
                with formatter.section(title):
                    formatter.write_dl(rows)


class _Group(_Parsing, TyperGroup):
    """`wta` and `wta hooks`: plain help that lists each command with its whole first sentence."""

    def parse_args(self, ctx, args):
        # Alone, the group's help on stderr and exit 2, as click's standalone mode does. Printed here: typer
        # raises NoArgsIsHelpError, which it does not print when wta runs it (standalone_mode=False).
        if not args and self.no_args_is_help and not ctx.resilient_parsing:
            print(ctx.get_help(), file=sys.stderr)
            ctx.exit(2)
        return super().parse_args(ctx, args)

    def format_commands(self, ctx, formatter) -> None:
        rows = [(name, command.get_short_help_str(limit=200)) for name in self.list_commands(ctx)
                for command in [self.get_command(ctx, name)] if command is not None and not command.hidden]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


app = typer.Typer(
    name="wta",
    cls=_Group,
    help="Run parallel coding-agent sessions in git worktrees, each confined to its zone.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)
hooks_app = typer.Typer(cls=_Group, help="Install or remove wta's pre-commit and commit-msg hooks.",
                        no_args_is_help=True, rich_markup_mode=None)
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

@app.command(cls=_Command)
def init(force: bool = typer.Option(False, "--force", help="Overwrite an existing zones.yaml.")) -> None:
    """Write a starter zones.yaml from the repository's layout."""
    from worktree_agents.commands import init as cmd
    _exit(cmd.run(force))


@app.command(cls=_Command)
def zones(
    as_json: bool = typer.Option(False, "--json", help="One JSON document on stdout."),
    show_all: bool = typer.Option(False, "--all", help="List every unowned file, not the first ten."),
) -> None:
    """Streams' patterns and owned files; unowned files; exit 1 on a problem (overlap, base, prompt_file, command)."""
    from worktree_agents.commands import zones as cmd
    _exit(cmd.run(as_json, show_all))


@app.command(cls=_Command)
def explain(
    paths: List[str] = typer.Argument(..., metavar="PATH", help="Paths, relative to the current directory."),
    as_json: bool = typer.Option(False, "--json", help="One JSON document on stdout."),
) -> None:
    """Which stream owns each path, and which pattern decided it; exit 1 when one is claimed by several streams."""
    from worktree_agents.commands import explain as cmd
    _exit(cmd.run(paths, as_json))


@app.command("check-zones", cls=_Command)
def check_zones(
    rev_range: Optional[str] = typer.Argument(None, metavar="REVISION_RANGE",
                                              help="Check every commit in it (e.g. main..wta/api)."),
    stream: Optional[str] = typer.Option(None, "--stream", "-s", metavar="STREAM", help="The stream (default: this worktree's)."),
) -> None:
    """Without a range, the staged changes (hook mode); with one, every commit in it. Exit 1 on violations."""
    from worktree_agents.commands import check_zones as cmd
    _exit(cmd.run(stream, rev_range))


@hooks_app.command("install", cls=_Command)
def hooks_install(
    stream: Optional[str] = typer.Option(None, "--stream", "-s", metavar="STREAM",
                                         help="Record this worktree as the stream's worktree."),
) -> None:
    """Give every stream worktree wta's hooks (its own core.hooksPath); the repository's hooks run after them."""
    from worktree_agents.commands import hooks as cmd
    _exit(cmd.install(stream))


@hooks_app.command("uninstall", cls=_Command)
def hooks_uninstall() -> None:
    """Remove wta's hooks and their config from every worktree; the repository's hooks are left as they are."""
    from worktree_agents.commands import hooks as cmd
    _exit(cmd.uninstall())


@app.command(cls=_Command)
def guard(stream: Optional[str] = typer.Option(None, "--stream", "-s", metavar="STREAM", help="The stream (default: WTA_STREAM).")) -> None:
    """Claude Code PreToolUse hook: deny Edit/Write outside the stream's zone (reads the hook JSON on stdin)."""
    from worktree_agents.commands import guard as cmd
    _exit(cmd.run(stream))


@app.command(cls=_Command)
def up(
    streams: Optional[List[str]] = typer.Argument(None, metavar="STREAM", help="Only these streams."),
    runner: Optional[str] = typer.Option(None, "--runner", metavar="RUNNER", help="Run every session with this runner: "
                                         "claude, api, command or manual."),
    no_launch: bool = typer.Option(False, "--no-launch", help="Prepare worktrees, branches and hooks only."),
    detach: bool = typer.Option(False, "--detach", "-d", help="Start the sessions and return."),
    max_parallel: Optional[int] = typer.Option(None, "--max-parallel", metavar="N", help="Sessions running at once."),
    interactive: bool = typer.Option(False, "--interactive",
                                     help="Run each agent in a tmux session instead (join it with `wta attach`)."),
    land: bool = typer.Option(False, "--land", help="Land each stream (verified, tested) as its session ends done, "
                                                     "as `land: auto` does."),
) -> None:
    """Create or reuse each stream's worktree and branch, copy files, run setup, install hooks, launch sessions."""
    from worktree_agents.commands import up as cmd
    _exit(cmd.run(streams or [], runner, no_launch, detach, max_parallel, interactive, land))


@app.command(cls=_Command)
def status(
    as_json: bool = typer.Option(False, "--json", help="One JSON document on stdout (fields: docs/status.md)."),
    watch: bool = typer.Option(False, "--watch", help="Refresh every 2 seconds, or every $WTA_WATCH_INTERVAL seconds "
                                                     "when set, until Ctrl-C."),
) -> None:
    """Per stream: branch, worktree, commits ahead/behind the base, dirty files, violations, conflicts, state."""
    from worktree_agents.commands import status as cmd
    _exit(cmd.run(as_json, watch))


@app.command(cls=_Command)
def down(
    streams: Optional[List[str]] = typer.Argument(None, metavar="STREAM", help="Only these streams."),
    force: bool = typer.Option(False, "--force", help="Also drop unmerged commits and uncommitted files."),
    delete_branches: bool = typer.Option(False, "--delete-branches",
                                         help="Delete the stream branches too (unmerged ones only with --force)."),
) -> None:
    """Remove stream worktrees; refuses to drop unmerged commits or uncommitted work without --force."""
    from worktree_agents.commands import down as cmd
    _exit(cmd.run(streams or [], force, delete_branches))


@app.command(cls=_Command)
def backups(
    prune: bool = typer.Option(False, "--prune", help="Delete the backups older than --older-than."),
    older_than: Optional[str] = typer.Option(None, "--older-than", metavar="D",
                                             help="Only backups older than this (90s, 30m, 2h, 30d)."),
) -> None:
    """List the backup refs under refs/wta/backup/ (branch tips kept by merge and down), or prune old ones."""
    from worktree_agents.commands import backups as cmd
    _exit(cmd.run(prune, older_than))


# -- coordination: requests between streams, the watcher -----------------------

@app.command(cls=_Command)
def request(
    words: Optional[List[str]] = typer.Argument(None, metavar="[STREAM] TEXT...",
                                                help="The stream to ask (not with --path), then what you need."),
    path: Optional[str] = typer.Option(None, "--path", "-p", metavar="PATH", help="Ask the stream that owns this path."),
    close: Optional[str] = typer.Option(None, "--close", metavar="ID", help="Close a request by hand."),
    list_open: bool = typer.Option(False, "--list", help="List the open requests."),
    as_json: bool = typer.Option(False, "--json", help="With --list: one JSON document on stdout."),
) -> None:
    """Ask the owner of another zone for a change; its next session starts with it (prints the id)."""
    from worktree_agents.commands import request as cmd
    _exit(cmd.run(words or [], path, close, list_open, as_json))


@app.command(cls=_Command)
def watch(
    for_: Optional[str] = typer.Option(None, "--for", metavar="DURATION",
                                       help="Stop after this long (90s, 30m, 2h, 1d); default: until Ctrl-C."),
    interval: float = typer.Option(2.0, "--interval", metavar="SECONDS", min=0.05,
                                   help="How often to look at sessions, branches and requests."),
) -> None:
    """Run the checks; watch sessions, violations, requests and conflicts; print and log each alert once."""
    from worktree_agents.commands import watch as cmd
    _exit(cmd.run(for_, interval))


@app.command(cls=_Command)
def merge(
    streams: Optional[List[str]] = typer.Argument(None, metavar="STREAM", help="Only these streams."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Predict the whole sequence; change nothing."),
    cont: bool = typer.Option(False, "--continue", help="Finish a merge that stopped or was interrupted."),
    abort: bool = typer.Option(False, "--abort", help="Put every branch back where it was before the merge."),
    no_test: bool = typer.Option(False, "--no-test", help="Do not run `test` after each rebase."),
    as_json: bool = typer.Option(False, "--json", help="One JSON document on stdout."),
) -> None:
    """Rebase the streams onto the base one after another, verified and tested; exit 1 when one stops."""
    from worktree_agents.commands import merge as cmd
    _exit(cmd.run(streams or [], dry_run, cont, abort, no_test, as_json))


@app.command(cls=_Command)
def diff(
    stream: str = typer.Argument(..., metavar="STREAM", help="The stream."),
    patch: bool = typer.Option(False, "--patch", "-p", help="The full patch instead of --stat."),
    as_json: bool = typer.Option(False, "--json", help="One JSON document on stdout: files and counts."),
) -> None:
    """What landing the stream would bring: `base...wta/STREAM` (--stat by default)."""
    from worktree_agents.commands import diff as cmd
    _exit(cmd.run(stream, patch, as_json))


@app.command(cls=_Command)
def sync(streams: Optional[List[str]] = typer.Argument(None, metavar="STREAM", help="Only these streams.")) -> None:
    """Bring stream branches up to the base: move one with no commits of its own, rebase one with commits."""
    from worktree_agents.commands import sync as cmd
    _exit(cmd.run(streams or []))


# -- sessions: prompts, logs, attach, stop (worktree_agents/sessions/) ---------

@app.command(cls=_Command)
def prompt(stream: str = typer.Argument(..., metavar="STREAM", help="The stream.")) -> None:
    """The stream's full prompt, zone rules included, for pasting into an editor."""
    from worktree_agents.commands import prompt as cmd
    _exit(cmd.run(stream))


@app.command(cls=_Command)
def path(stream: str = typer.Argument(..., metavar="STREAM", help="The stream.")) -> None:
    """Print the stream's worktree path (cd "$(wta path api)")."""
    from worktree_agents.commands import path as cmd
    _exit(cmd.run(stream))


@app.command("open", cls=_Command)
def open_(stream: str = typer.Argument(..., metavar="STREAM", help="The stream.")) -> None:
    """Open the stream's worktree in Cursor, $VISUAL or $EDITOR (or print its path)."""
    from worktree_agents.commands import open as cmd
    _exit(cmd.run(stream))


@app.command(cls=_Command)
def logs(
    stream: str = typer.Argument(..., metavar="STREAM", help="The stream."),
    follow: bool = typer.Option(False, "--follow", "-f",
                                help="Keep printing until nothing more happens to the stream by itself: its session "
                                     "ended and not to land, landed, blocked, or left by its coordinator (or Ctrl-C)."),
    raw: bool = typer.Option(False, "--raw", help="The log as written: Claude Code's stream-json lines unrendered."),
) -> None:
    """The session's log; Claude Code's stream-json lines rendered (text, one line per tool call and result)."""
    from worktree_agents.commands import logs as cmd
    _exit(cmd.run(stream, follow, raw))


@app.command(cls=_Command)
def attach(stream: str = typer.Argument(..., metavar="STREAM", help="The stream.")) -> None:
    """Attach to an interactive session (tmux; start it with `wta up --interactive`)."""
    from worktree_agents.commands import attach as cmd
    _exit(cmd.run(stream))


@app.command(cls=_Command)
def stop(streams: Optional[List[str]] = typer.Argument(None, metavar="STREAM", help="Only these streams.")) -> None:
    """Stop sessions and their whole process trees (TERM, then KILL); keep worktrees and commits."""
    from worktree_agents.commands import stop as cmd
    _exit(cmd.run(streams or []))


@app.command(cls=_Command)
def demo(directory: Optional[str] = typer.Argument(None, metavar="DIR",
                                                 help="Where to build the sample repository (default: a new temp dir).")) -> None:
    """A complete offline run on a generated sample repository: up, sessions, a refused edit, merge."""
    from worktree_agents.commands import demo as cmd
    _exit(cmd.run(directory))


# -- worktrees, sessions, merge: see the modules named in each command -------
