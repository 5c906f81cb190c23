"""What a merge reports: each stream's result, and what to do about a stop."""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Sequence

from worktree_agents.quoting import shell_word, shell_words
from worktree_agents.redaction import printable, redact_text
from worktree_agents.zones.ownership import quote_path

# What happened to a stream.
MERGED = "merged"
WOULD_MERGE = "would-merge"              # --dry-run
SKIPPED = "skipped"                      # no branch, or nothing beyond the base
CONFLICT = "conflict"
VERIFY_FAILED = "verification-failed"
TEST_FAILED = "test-failed"
REFUSED = "refused"                      # session running, dirty or missing worktree, blocked fast-forward
NOT_REACHED = "not-reached"              # the sequence stopped before it
STOPS = (CONFLICT, VERIFY_FAILED, TEST_FAILED, REFUSED)

# Test outcomes.
PASSED, FAILED, NOT_RUN, NO_TEST = "passed", "failed", "not-run", "none"

# How a person fixes a commit without the prefix; a hand-back leaves it out (sessions.landing: in the sandbox
# `git rebase -i` stops half-way, and the follow-up gets a way that finishes there).
REWORD_ADVICE = (" (reword it, `git rebase -i` and `reword`: git revert, cherry-pick and am commit without the hook "
                 "that adds it)")

UNCOMMITTED = "uncommitted changes in "   # how a refusal for a worktree's uncommitted changes starts

# What stopped a stream, where its result alone does not tell (StreamResult.cause).
MERGE_COMMITS = "merge-commits"   # refused: merge commits on a branch that lacks the base as it is now
IN_RESULT = "in-result"           # verification failed only on the rebased (or squashed) result, not per commit
FSCK = "fsck"                     # verification failed: objects git fsck rejects
TAMPERED = "tampered"             # its ref written without git, or its objects written over: a person's to judge
UNTRACKED = "untracked"           # refused before its test: untracked files (not ignored) the commit lacks
GIT_LINK = "git-link"             # refused: its worktree's .git (or its own config) is not what wta runs git in
DELETED = "deleted"               # refused: its branch was deleted while it landed (put back at its tip)
LOCKED = "locked"                 # refused: a lock file no process holds stops git on its branch or worktree
DETACHED = "detached"             # refused: its worktree has a detached HEAD (not in a rebase), not its branch


@dataclass
class Touch:
    """A commit on the base side that changed a file the stream conflicts on."""

    commit: str
    subject: str
    stream: str | None       # from its `[stream] ` prefix; None: a commit made on the base
    files: list[str]


@dataclass
class StreamResult:
    stream: str
    branch: str
    result: str
    commits: int = 0
    seconds: float = 0.0
    test: str = NOT_RUN
    detail: str = ""                                   # one line: why skipped, refused or stopped
    files: list[str] = field(default_factory=list)     # dirty, conflicted or out-of-zone paths
    problems: list[str] = field(default_factory=list)  # verification failures, one per line
    touched_by: list[Touch] = field(default_factory=list)
    worktree: str | None = None
    head: str | None = None                            # the commit the base moved to for it
    test_log: str | None = None
    base_in_the_way: bool = False                      # refused for the base's sake (its branch or worktree), not the stream's
    branch_moved: bool = False                         # refused: its branch got commits during the run, not verified
    cause: str = ""                                    # MERGE_COMMITS, IN_RESULT, FSCK, TAMPERED, UNTRACKED,
    #                                                    GIT_LINK, DELETED, DETACHED, LOCKED, or ""


@dataclass
class MergeReport:
    status: str                  # merged | nothing | stopped | refused | aborted | dry-run
    ok: bool                     # False: exit 1 (a stream stopped, or would stop)
    base: str
    base_before: str
    base_after: str
    run_id: str | None = None
    dry_run: bool = False
    streams: list[StreamResult] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)   # what went wrong
    advice: list[str] = field(default_factory=list)     # what to do about it
    restored: list[dict[str, str]] = field(default_factory=list)  # --abort: refs put back
    kept: list[dict[str, str]] = field(default_factory=list)      # --abort: later work saved under a backup ref
    saved: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The report as it is saved (`<common>/wta/merges/<run>.json`) and printed (`wta merge --json`): its
        text (details, problems, advice, commit subjects) with API keys blanked out, for a commit's subject may
        hold one. Names, paths and commits as they are."""
        data = asdict(self)
        for key in ("problems", "advice"):
            data[key] = [redact_text(line) for line in data[key]]
        for stream in data["streams"]:
            stream["detail"] = redact_text(stream["detail"])
            stream["problems"] = [redact_text(line) for line in stream["problems"]]
            for touch in stream["touched_by"]:
                touch["subject"] = redact_text(touch["subject"])
        return data


Progress = Callable[[str, str], None]   # (stream, one line)


def quiet(stream: str, text: str) -> None:
    pass

def listed(paths: Sequence[str], limit: int = 5) -> str:
    """The first paths, quoted as git quotes them (a newline in a name keeps the report one line per problem)."""
    shown = ", ".join(quote_path(p) for p in paths[:limit])
    return shown + (f" and {len(paths) - limit} more" if len(paths) > limit else "")

def timed(result: StreamResult, started: float) -> StreamResult:
    result.seconds = round(time.monotonic() - started, 3)
    return result


def result_from(data: dict[str, Any]) -> StreamResult:
    return StreamResult(**{**data, "touched_by": [Touch(**t) for t in data.get("touched_by", [])]})

def progress_line(result: StreamResult) -> str:
    """The progress line for a finished stream."""
    if result.result in (MERGED, WOULD_MERGE):
        test = f", test {result.test}" if result.test in (PASSED, FAILED) else ""
        verb = "merged" if result.result == MERGED else "would merge"
        note = f" ({result.detail})" if result.detail else ""
        return f"{verb} {result.commits} commit(s) in {result.seconds:.1f}s{test}{note}"
    return f"{result.result}: {result.detail}"


def hidden_changes(worktree: str, head: str, files: Sequence[str]) -> str:
    """Why a stream is not tested: files of its worktree that are not what the commit to land holds, while
    `git status` shows no change there (merge.run: the test would run on other files than land)."""
    paths = shell_words(files) if len(files) <= 5 else "PATH..."
    return (f"{listed(files)} in {worktree} differ from {head[:12]}, the commit to land, though `git status` shows "
            "no change (its index marks them skip-worktree or assume-unchanged, or holds another file's stat "
            "data; or they read as committed only through a conversion of .gitattributes: ident, eol, encoding): its "
            "test would run on other files than land; commit what they hold, or put them back as "
            f"committed (`git update-index --no-skip-worktree {paths} && git update-index --no-assume-unchanged "
            f"{paths} && rm -f -- {paths} && git checkout HEAD -- {paths}`)")


def untracked_beyond(worktree: str, head: str, files: Sequence[str]) -> str:
    """Why a stream is not tested: untracked files of its worktree, not ignored, that the commit to land lacks
    (merge.run: its test would read them, and pass on what never lands: a module never `git add`ed)."""
    return (f"untracked files in {worktree} that {head[:12]}, the commit to land, lacks ({len(files)}): "
            f"{listed(files)}; its test would run with them, and they would not land: commit them, delete them, or add "
            "them to .gitignore")


def explain(result: StreamResult, base: str, test: str | None) -> tuple[list[str], list[str]]:
    """What went wrong with a stopped stream landing on `base` (tested by the command `test`), and what to do."""
    s, wt = result.stream, result.worktree or f"the {result.stream} worktree"
    problems = [f"{s}: {result.detail}"]
    problems += [f"  {p}" for p in result.problems]
    for touch in result.touched_by:
        who = f"stream {touch.stream}" if touch.stream else f"a commit on {base}"
        problems.append(f"  {listed(touch.files)}: also changed by {who} in {touch.commit[:12]} {touch.subject!r}")
    then = "then `wta merge --continue` (or `wta merge --abort` to put every branch back)"
    if result.result == CONFLICT:
        # The commands quoted for a shell (a path with a space, `$` or a leading `-` pasted as is broke them);
        # the list to read, as git quotes paths.
        cd = f"cd {shell_word(result.worktree)} && " if result.worktree else ""
        add = (f"`git add -- {shell_words(result.files)}`" if 0 < len(result.files) <= 5
               else "`git add` them")
        advice = [f"resolve it in {wt}: `{cd}git rebase {shell_word(base)}`, fix {listed(result.files)}, {add} and "
                  f"`git rebase --continue`; {then}"]
    elif result.result == VERIFY_FAILED:
        advice = [f"fix the commits of {result.branch} in {wt}: leave out-of-zone changes to their owner "
                  f"(`wta request`) and give every commit the [{s}] prefix (`git rebase -i {shell_word(base)}`); "
                  f"{then}"]
    elif result.result == TEST_FAILED:
        advice = [f"reproduce it in {wt} with `git rebase {shell_word(base)}` and `{test}`, commit a fix; {then}"]
    else:
        advice = [f"fix that; {then}"]
    return problems, advice


# What a test printed, shown to a person (`wta merge`, a few lines) and handed back to an agent (sessions.landing,
# more): it goes into a prompt, an argument of the agent's command line, so no terminal escapes, no control
# characters (a NUL cannot be in an argument at all), no line longer than a person would read.
TAIL_LINE_CHARS = 400


def output_tail(path: str | None, lines: int) -> str:
    """The last `lines` lines of a log (a `test:`'s output), as a terminal showed them, made printable."""
    if not path:
        return "(no output recorded)"
    try:
        with open(path, "rb") as f:
            f.seek(max(0, os.path.getsize(path) - 64 * 1024))
            text = f.read().decode(errors="replace")
    except OSError:
        return "(its log is gone)"
    # A line a progress bar rewrote (`10%\r50%\r100%`): what a terminal showed last, not every state run together.
    shown = [line.rstrip("\r").rpartition("\r")[2] for line in text.split("\n")]
    kept = [line if len(line) <= TAIL_LINE_CHARS else line[:TAIL_LINE_CHARS] + " [cut]"
            for line in printable("\n".join(shown)).replace("\ufffd", "").rstrip("\n").splitlines()[-lines:]]
    return "\n".join(kept) or "(no output)"
