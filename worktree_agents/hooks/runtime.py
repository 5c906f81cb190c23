"""The fast entry point that git hooks and Claude Code call.

`python -m worktree_agents.hooks.runtime pre-commit|commit-msg FILE|guard [--stream S]`

Deliberately without typer, pydantic, anthropic or psutil (and yaml and
pathspec only when the zones cache must be rebuilt): this runs on every commit
and every agent edit (tests/hooks/test_imports.py keeps it so).
"""

from __future__ import annotations

import os
import sys

from worktree_agents import git
from worktree_agents.errors import CHECK, WtaError, report, report_bug
from worktree_agents.repo import Repo
from worktree_agents.zones.enforce import EDIT_TOOLS, GuardDecision, check_staged, guard_edit, prefix_message
from worktree_agents.zones.in_force import streams_in_force, zones_in_force
from worktree_agents.zones.ownership import format_violations

# "<hook>:<git dir>" in the environment of a repository's hook that wta's hook of that name started
HOOK_ENV = "WTA_HOOK"


def pre_commit() -> int:
    repo = Repo.here()
    stream = repo.stream()
    if stream is None or _checked_by_wta_hook("pre-commit", repo):
        return 0
    options, _ = _parsed(_running_git("commit") or [], _COMMIT_SHORT_VALUES, _COMMIT_VALUES)
    if not _amends(options):
        return _staged_in_zone(repo, stream, None, "commit refused by the pre-commit hook; unstage those paths "
                                                   "(git restore --staged PATH) and leave them to their owners")
    # An amend makes a commit of HEAD's change and the staged one, on HEAD's parents: a commit made outside the
    # zone (`--no-verify`, or the base's own, for a stream with none yet) would come out under the stream's name.
    parents = git.parents("HEAD")   # (an amend keeps them; none for a first commit)
    return _staged_in_zone(repo, stream, parents[1:], "commit refused by the pre-commit hook; it amends HEAD's "
                                                      "commit, and the commit it makes changes those paths: put "
                                                      "them back as HEAD's parent has them (git restore "
                                                      "--source=HEAD~1 --staged --worktree PATH), or commit "
                                                      "without --amend",
                           against=parents[0] if parents else git.EMPTY_TREE)


def _staged_in_zone(repo: Repo, stream: str, merging: list[str] | None, refusal: str, against: str = "HEAD") -> int:
    """0 when the staged changes stay in the stream's zone; else CHECK, with them and `refusal` on stderr."""
    violations = check_staged(repo, stream, merging=merging, against=against)
    if not violations:
        return 0
    print(format_violations(stream, violations), file=sys.stderr)
    print(f"wta: {refusal}", file=sys.stderr)
    return CHECK


# The short options of `git commit` that take a value: the rest of their word, else the next word.
_COMMIT_SHORT_VALUES = b"mFCct"
# Its long options whose value may be the next word (`--message msg`); `--opt=value` is one word.
_COMMIT_VALUES = frozenset({b"--message", b"--file", b"--reuse-message", b"--reedit-message", b"--template",
                            b"--author", b"--date", b"--cleanup", b"--fixup", b"--squash", b"--trailer",
                            b"--pathspec-from-file"})
# The same for `git merge`.
_MERGE_SHORT_VALUES = b"mFsX"
_MERGE_VALUES = frozenset({b"--message", b"--file", b"--strategy", b"--strategy-option", b"--into-name",
                           b"--cleanup"})


def _parsed(words: list[bytes], short_values: bytes,
            long_values: frozenset[bytes]) -> tuple[list[tuple[bytes, bytes | None]], list[bytes]]:
    """`git COMMAND`'s words as git's option parser reads them: each option with its value (None: it takes
    none), and the other words (`commit`'s paths, `merge`'s commits). A value is the rest of the option's
    word (`-mtext`, `--message=text`) or the next word, whatever it looks like (`-m --amend`, `-m --); a
    `--` that is no value ends the options. A long option may be cut short, as git allows (`--mess`)."""
    options: list[tuple[bytes, bytes | None]] = []
    operands: list[bytes] = []
    rest = iter(words)
    for word in rest:
        if word == b"--":
            operands.extend(rest)
        elif word.startswith(b"--"):
            name, eq, value = word.partition(b"=")
            full = next((o for o in long_values if o.startswith(name)), None) if len(name) > 3 else None
            options.append((full or name, value if eq else next(rest, b"") if full else None))
        elif word.startswith(b"-") and len(word) > 1:
            at = next((i for i in range(1, len(word)) if word[i:i + 1] in short_values), len(word))
            options.extend((b"-" + word[i:i + 1], None) for i in range(1, at))
            if at < len(word):
                options.append((b"-" + word[at:at + 1], word[at + 1:] or next(rest, b"")))
        else:
            operands.append(word)
    return options, operands


def _amends(options: list[tuple[bytes, bytes | None]]) -> bool:
    """Whether `git commit`'s options ask for an amend: `--amend` or a prefix of it git takes for it (from
    `--am`), the last of it and `--no-amend` deciding."""
    amend = False
    for name, _ in options:
        if len(name) >= 4 and b"--amend".startswith(name):
            amend = True
        elif len(name) >= 7 and b"--no-amend".startswith(name):
            amend = False
    return amend


def pre_merge_commit() -> int:
    """A merge git commits without stopping (`git merge X`, `git pull`): git runs this hook, not pre-commit,
    and has written no MERGE_HEAD yet; the commits merged are read from its command line. Merging the base
    in brings other zones' work the base has, as at pre-commit; merging another stream's branch is refused."""
    repo = Repo.here()
    stream = repo.stream()
    if stream is None or _checked_by_wta_hook("pre-merge-commit", repo):
        return 0
    words = _running_git("merge")
    if words is None:
        return 0   # what is merged cannot be told here: `wta merge` checks every commit when it lands
    _, named = _parsed(words, _MERGE_SHORT_VALUES, _MERGE_VALUES)
    heads = [sha for sha in (git.commit_of(os.fsdecode(word)) for word in named) if sha]
    if not heads:   # `git merge` alone merges the branch's upstream
        upstream = git.commit_of("@{upstream}")
        if upstream is None:
            return 0   # nothing named that this hook can tell: the landing checks every commit
        heads = [upstream]
    return _staged_in_zone(repo, stream, heads, "merge refused by the pre-merge-commit hook; `git merge --abort` "
                                                "undoes it: merge only the base into a stream, and leave other "
                                                "streams' work to land on the base first")


def commit_msg(message_file: str) -> int:
    repo = Repo.here()
    stream = repo.stream()
    if stream is None or _checked_by_wta_hook("commit-msg", repo):
        return 0
    streams = streams_in_force(repo)
    with open(message_file, encoding="utf-8", errors="surrogateescape") as f:
        message = f.read()
    settings = git.config_matching(r"^(core\.commentchar|commit\.cleanup|commit\.template)$")
    options, _ = _parsed(_running_git("commit") or [], _COMMIT_SHORT_VALUES, _COMMIT_VALUES)   # (not shown to hooks)
    comment_char = _comment_char(message, settings, _option(options, b"--cleanup"))
    template = _option(options, b"--template", b"-t") or settings.get("commit.template")
    if _unedited_template(message, template, comment_char):
        return 0   # git aborts the commit ("you did not edit the message"), as without wta: no prefix to make it edited
    try:
        fixed = prefix_message(message, stream, streams, comment_char, targets=lambda: _own_subjects(repo))
    except WtaError as exc:
        raise WtaError(str(exc), CHECK) from None
    if fixed != message:
        with open(message_file, "w", encoding="utf-8", errors="surrogateescape") as f:
            f.write(fixed)
    return 0


def _own_subjects(repo: Repo) -> list[str]:
    """The subjects of the commits this worktree's HEAD has that the base lacks (what autosquash rearranges)."""
    base = zones_in_force(repo).base
    try:
        return [subject for _, subject in git.commits_not_in(f"refs/heads/{base}", ["HEAD"])]
    except git.GitError:
        return []   # no commit yet, or no base branch: nothing for autosquash to find


def _checked_by_wta_hook(name: str, repo: Repo) -> bool:
    """Whether wta's own hook `name` did this already and then started the repository's hook, which
    runs this one again (the pre-commit framework with wta's hooks in its config): once is enough."""
    hook, _, git_dir = os.environ.get(HOOK_ENV, "").partition(":")
    return hook == name and bool(git_dir) and os.path.abspath(git_dir) == repo.git_dir


def _unedited_template(message: str, path: str | None, comment_char: str | None) -> bool:
    """Whether the editor left the message as the commit template at `path` gave it, blank lines and comments
    aside: git aborts such a commit after this hook, and wta's prefix would have made the message differ
    from the template."""
    if os.environ.get("GIT_EDITOR") == ":" or not path:
        return False   # no editor ran (-m, -F, --no-edit): git compares no template
    try:
        with open(os.path.expanduser(path), encoding="utf-8", errors="surrogateescape") as f:
            template = f.read()
    except OSError:
        return False
    return _stripped(message, comment_char) == _stripped(template, comment_char)


def _stripped(text: str, comment_char: str | None) -> str:
    """`text` as `git stripspace` leaves it (with comment lines removed, given their character)."""
    lines = [line.rstrip() for line in text.split("\n")
             if not (comment_char and line.startswith(comment_char))]
    kept: list[str] = []
    for line in lines:
        if line or (kept and kept[-1]):
            kept.append(line)
    while kept and not kept[-1]:
        kept.pop()
    return "\n".join(kept)


def _comment_char(message: str, settings: dict[str, str], cleanup_option: str | None) -> str | None:
    """The comment character git will strip from this message, or None if it keeps comments.

    Git hands commit-msg the message before its cleanup. It sets GIT_EDITOR=:
    for hooks when no editor ran (-m, -F, --no-edit), and then cleans up only
    whitespace, so a `#` line is the subject, not a comment; unless
    `commit.cleanup` is `strip`, which strips comments either way. `scissors`
    strips none (it cuts the message at the scissors line, below the subject).
    (`--cleanup=` on the command line, `cleanup_option`, is not shown to hooks as its config twin is.)
    """
    cleanup = cleanup_option or settings.get("commit.cleanup", "default")
    editor = os.environ.get("GIT_EDITOR") != ":"
    if cleanup in ("verbatim", "whitespace", "scissors") or (cleanup != "strip" and not editor):
        return None
    char = settings.get("core.commentchar", "#")
    if char == "auto":
        # git took the first of these that began no line of the message it started from, and began its
        # own comment lines with it, the last lines of what the editor got: the last line that begins with
        # one of them says which (else nothing was left of them, and `#` is as good as any).
        lines = message.splitlines()
        cut = next((line[0] for line in lines if line[1:] == " ------------------------ >8 ------------------------"
                    and line[0] in AUTO_COMMENT_CHARS), None)   # (`-v`: the diff comes below that line)
        last = next((line for line in reversed(lines) if line.strip()), "")
        return cut or (last[0] if last and last[0] in AUTO_COMMENT_CHARS else "#")
    return char or "#"


def _option(options: list[tuple[bytes, bytes | None]], name: bytes, short: bytes | None = None) -> str | None:
    """The value last given to option `name` (or `short`) among `options` (`_parsed`), or None."""
    value = None
    for given, given_value in options:
        if given in (name, short) and given_value is not None:
            value = given_value
    return os.fsdecode(value) if value is not None else None


def _running_git(command: str) -> list[bytes] | None:
    """The words after `command` on the command line of the `git COMMAND` that runs this hook (the hook's
    shell is its child, and this process the shell's, or a hook manager's a few steps further down); None
    when there is none or no /proc to read it from. git shows hooks its config, not its options nor (at
    pre-merge-commit) what it merges. git is known by its executable too: a name given to it (`exec -a`)
    does not hide it."""
    pid = os.getppid()
    for _ in range(5):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")[:-1]
            with open(f"/proc/{pid}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            return None
        if command.encode() in argv and b"git" in (os.path.basename(argv[0]), _executable(pid)):
            return argv[argv.index(command.encode()) + 1:]
        pid = int(stat[stat.rindex(b")") + 2:].split()[1])   # its parent (field 4 of proc(5))
    return None


def _executable(pid: int) -> bytes:
    try:
        return os.path.basename(os.readlink(f"/proc/{pid}/exe".encode()))
    except OSError:
        return b""


AUTO_COMMENT_CHARS = "#;@!$%^&|:"   # git's candidates for core.commentChar=auto, in its order


def guard(stream: str | None = None, stdin=None) -> int:
    """Claude Code PreToolUse hook: print a deny decision for out-of-zone edits.

    Anything it cannot decide (bad input, broken zones.yaml, not a worktree)
    raises, so the caller exits 2, which Claude Code treats as a block.
    """
    import json  # here, not at the top: the commit hooks do without it (and the `re` it imports)

    try:
        data = json.load(stdin or sys.stdin)
    except ValueError as exc:
        raise WtaError(f"guard: stdin is not a PreToolUse hook event ({exc}); "
                       "register `wta guard` as a Claude Code PreToolUse hook") from None
    if not isinstance(data, dict):
        raise WtaError("guard: stdin is not a PreToolUse hook event (expected a JSON object)")
    tool = data.get("tool_name")
    if tool not in EDIT_TOOLS:
        return 0  # reading, searching and running commands are not edits
    cwd = data.get("cwd") or os.getcwd()
    worktree = os.environ.get("WTA_WORKTREE") or _toplevel(cwd)
    repo = Repo.here(worktree)
    stream = stream or os.environ.get("WTA_STREAM") or repo.stream()
    if stream is None:
        return 0  # not a stream worktree: nothing to guard
    zones = zones_in_force(repo)
    if stream not in zones.streams:
        decision = GuardDecision(False, f"wta: stream {stream!r} is not in {zones.source}; "
                                        "no edits until it is added there")
    else:
        tool_input = data.get("tool_input")
        decision = guard_edit(tool, tool_input if isinstance(tool_input, dict) else {}, cwd, worktree,
                              stream, zones)
    if not decision.allowed:
        json.dump({"hookSpecificOutput": {"hookEventName": "PreToolUse", "permissionDecision": "deny",
                                          "permissionDecisionReason": decision.reason}}, sys.stdout)
        sys.stdout.write("\n")
    return 0


def _toplevel(cwd: str) -> str:
    top = git.toplevel(cwd, git.no_git_env())
    if top is None:
        raise WtaError(f"{cwd}: not inside a git worktree; run the agent in its stream's worktree")
    return top


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    try:
        if args[:1] == ["pre-commit"]:
            return pre_commit()
        if args[:1] == ["pre-merge-commit"]:
            return pre_merge_commit()
        if args[:1] == ["commit-msg"] and len(args) == 2:
            return commit_msg(args[1])
        if args[:1] == ["guard"] and len(args) in (1, 3) and args[1:2] in ([], ["--stream"]):
            return guard(args[2] if len(args) == 3 else None)
    except WtaError as exc:
        return report(exc)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # a bug: refuse (commit or edit) rather than let it through unchecked
        if os.environ.get("WTA_DEBUG") == "1":
            raise
        report_bug(exc, f" in the {args[0]} hook", "set WTA_DEBUG=1 for the traceback")
        return 2
    print("usage: python -m worktree_agents.hooks.runtime pre-commit | commit-msg FILE | guard [--stream S]",
          file=sys.stderr)
    return 2


def run() -> None:
    """`main`, then the end of the process with its exit code, without the interpreter's clean-up of
    every module (about 2 ms of each commit's hook: docs/performance.md). What the hook printed is
    flushed first; the files it writes are closed where it writes them."""
    code = main()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe: nobody is reading
            pass
    os._exit(code)


if __name__ == "__main__":
    sys.exit(main())
