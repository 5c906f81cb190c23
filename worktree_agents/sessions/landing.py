"""Landing streams as their sessions end (`land: auto`, `wta up --land`), and handing failures back.

A stream whose session ended `done` lands through `merge.merge_streams`, the
very code of `wta merge` (verify, rebase in its worktree, `test`, fast-forward,
backups, the merge state that `wta merge --continue` resumes), one stream at a
time, in a worker thread so that the coordinator keeps scheduling meanwhile.
The landing holds wta's command lock like any `wta merge`; a person's merge
and a landing wait for each other.

When landing stops (a conflict with the base, a failed `test`, a commit
outside the zone or without the prefix), the stream's branch is as it was and
the failure goes back to the agent: a follow-up session of that stream, whose
prompt starts with the failure (`handback_text`). A conflict is handed back as
a clean branch plus the conflicting paths and the base commits that touched
them: the agent rebases itself, so no half-done rebase is ever left in a
worktree that nobody watches.
"""

from __future__ import annotations

import os
import signal
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Collection, ContextManager, Iterator, Sequence

from worktree_agents.errors import WtaError
from worktree_agents.files import write_atomic
from worktree_agents.git import GitError
from worktree_agents.merge import report as merge
from worktree_agents.quoting import shell_word, shell_words
from worktree_agents.redaction import redact_text
from worktree_agents.sessions import leftovers
from worktree_agents.sessions.store import (BLOCKED, LANDED, LANDING, PENDING, STOPPED, SessionRecord, SessionStore,
                                            now, waited_for_ended)
from worktree_agents.state import LockBusy, command_lock, lock_holder
from worktree_agents.zones.ownership import quote_path

LANDED_OK, FAILED, BUSY, LATER = "landed", "failed", "busy", "later"
MOVED_LIMIT = 3   # landings in a row a stream's branch may get new commits during before it counts as failed
TEST_TAIL_LINES = 40
UNTRACKED_SHOWN = 20   # untracked files a hand-back names (a folder git lists whole counts as one)
LANDING_COMMAND = "wta merge (landing {streams} for wta up)"   # the lock holder people see


def is_landing_command(command: str) -> bool:
    return command.startswith("wta merge (landing ")


@dataclass
class LandOutcome:
    stream: str
    outcome: str                   # LANDED_OK, FAILED, BUSY (the lock or another merge is in the way),
    #                                or LATER (a stream before it in the same run stopped)
    reason: str = ""               # one line
    handback: str = ""             # FAILED: the failure, as the follow-up session's prompt reads it
    head: str | None = None        # LANDED_OK: the base's commit after it
    branch_moved: bool = False     # BUSY: its branch got new commits while it landed
    waits_for: str | None = None   # BUSY: the run id of the person's merge (stopped) that it waits for
    next_step_said: bool = False   # FAILED: the reason ends with what a person does (no follow-up could)


def land(project, streams: Sequence[str], progress: Callable[[str, str], None],
         landed: Callable[[LandOutcome], None],
         holding: Callable[[Sequence[str]], ContextManager[None]], first: Collection[str] = ()) -> list[LandOutcome]:
    """Land these streams now, in one `wta merge` run (finishing first a landing that was killed), in merge
    order: `after` dependencies first, then the streams in `first` (those a dependent waits for, which it
    then starts from the base as soon as they have landed), then file order.

    One run for all the streams that are ready: its fixed costs (the plan, the zones, one
    `git log`) are paid once, and each stream is still verified, rebased, tested and fast-forwarded
    on its own. A stream that stops ends the run; those after it are landed on a later round.
    `landed` hears of each stream as soon as it has landed, before the run goes on; `holding(streams)`
    is entered once the run holds the command lock (with the streams the run may change), and left
    before the lock is released.
    """
    from worktree_agents.merge.run import continue_merge, merge_streams   # merge's plan asks the supervisor
    from worktree_agents.merge.state import read_state

    state_dir = project.repo.state_dir
    command = LANDING_COMMAND.format(streams=", ".join(streams))

    def tell(result: merge.StreamResult, base: str) -> None:
        landed(_landed(result, base))

    def begun(pending: Sequence[str], base: str) -> None:
        # What an earlier try waited for (a person's merge, the lock, the base's worktree) is cleared now.
        for stream in pending:
            progress(stream, f"under way on {base}")

    underway = None
    try:
        with command_lock(state_dir, command, timeout=0):
            underway = read_state(state_dir)  # under the lock: one still `running` was killed
            if underway is not None and underway["status"] in ("running", "aborting"):
                with holding(underway["streams"]):
                    report = continue_merge(project, progress=progress, locked=True, landed=tell)
            else:
                with holding(streams):
                    report = merge_streams(project, streams, progress=progress, keep_stopped=False, locked=True,
                                           landed=tell, first=first, begun=begun)
    except WtaError as exc:
        holder = lock_holder(state_dir)
        line = str(exc).splitlines()[0]
        # A terminal's Ctrl-C (or `timeout`'s SIGTERM) to wta's process group can still reach a git that is being
        # started, not yet in a group of its own (git.keep_from_terminal_signals): not the landing's failure, nor
        # a person's to clear. Tried again, by this coordinator or the one it hands over to.
        if interrupted(exc):
            line += " (interrupted; tried again)"
        elif holder is None and not isinstance(exc, LockBusy) and underway is None and read_state(state_dir) is None:
            # Not the lock, not a merge left to a person: an error that trying again will not clear (a git
            # that fails), said once; the stream is blocked with it (`wta merge` by hand shows it again).
            return [LandOutcome(s, FAILED, reason=f"landing failed: {line}") for s in streams]
        reason = f"waits for {holder.describe(age=False)} to finish" if holder else f"waits: {line}"
        waits_for = underway["run_id"] if underway is not None and not holder else None
        return [LandOutcome(s, BUSY, reason=reason, waits_for=waits_for) for s in streams]
    results = {r.stream: r for r in report.streams}
    refused_all = report.status == "refused" and not any(r.result == merge.REFUSED for r in report.streams)
    outcomes = []
    for stream in streams:
        result = results.get(stream)
        if refused_all:
            # The base's worktree is in the way (a person's uncommitted change, or an untracked file where
            # the stream adds one): theirs to clear, not the agent's; tried again until they have.
            reason = report.problems[0] if report.problems else report.status
            outcomes.append(LandOutcome(stream, BUSY, reason=f"waits: {reason}"))
        elif result is not None and result.base_in_the_way:
            # Its fast-forward: the base's worktree (a lock, a branch switched there) or a person's commit on the
            # base in the meantime; nothing the agent could fix. Tried again, verified on the base as it is then.
            outcomes.append(LandOutcome(stream, BUSY, reason=f"waits: {result.detail}"))
        elif result is not None and result.branch_moved:
            # A person committed on the stream's branch while it landed: not the agent's failure either. Tried
            # again, those commits verified with the rest (the run kept nothing to `--continue`).
            outcomes.append(LandOutcome(stream, BUSY, branch_moved=True,
                                        reason=f"waits: {result.branch} got new commits while it landed; they "
                                               "are verified on the next try"))
        elif result is None or result.result == merge.NOT_REACHED:
            outcomes.append(LandOutcome(stream, LATER, reason="lands after the streams before it"))
        elif result.result == merge.MERGED:
            outcomes.append(_landed(result, report.base))
        elif result.result == merge.SKIPPED:
            outcomes.append(LandOutcome(stream, LANDED_OK, head=report.base_after,
                                        reason=f"nothing to land beyond {report.base}"))
        else:
            # (A commit's subject in the detail may hold a key: the reason goes to the record, the terminal, notify.)
            reason = redact_text(f"{result.result}: {result.detail}")
            shell = _has_shell(state_dir, stream)
            handback = handback_text(report, result, shell)
            person = not handback and not shell and result.cause not in PERSONS
            if person:   # nothing its session could do: a person's, named in the reason
                reason += f"; {_without_shell(report, result)}"
            outcomes.append(LandOutcome(stream, FAILED, reason=reason, handback=handback, next_step_said=person))
    return outcomes


def interrupted(exc: WtaError) -> bool:
    """Whether `exc` is a git ended by a signal that a terminal or `timeout` sends a whole process group."""
    return isinstance(exc, GitError) and exc.killed_by in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP,
                                                           signal.SIGQUIT)


# Stops no follow-up could fix, a person's (blocked, with the next step: `blocked_next_step`): its ref or objects
# written by something else (docs/security.md), its worktree's .git or own config (read-only in its sandbox), its
# branch deleted while it landed (by a person, its `test:` or another stream's agent: nothing wrong with its work),
# a lock file left at its ref or in its worktree (another stream's sandbox can make one: worktrees.locks).
PERSONS = (merge.TAMPERED, merge.GIT_LINK, merge.DELETED, merge.LOCKED)


def _has_shell(state_dir: str, stream: str) -> bool:
    """Whether the stream's agent can run commands: every runner's can but the `api` runner's outside a
    sandbox, which has no `run` tool (sessions/api.py); as its last session ran."""
    record = SessionStore(state_dir).read(stream)
    return record is None or record.runner != "api" or bool(record.sandbox)


def _without_shell(report: merge.MergeReport, result: merge.StreamResult) -> str:
    """What a person does for a session with no shell (git commands its follow-up could not run, files it
    could neither delete nor commit)."""
    where = f" in {result.worktree}" if result.worktree else ""
    cannot = "cannot run the git commands that fix this"
    if result.result == merge.CONFLICT:
        fix = f"rebase it yourself{where} (`git rebase {shell_word(report.base)}`, resolving the conflicts)"
    elif result.cause in (merge.MERGE_COMMITS, merge.IN_RESULT):
        fix = (f"rebase it yourself{where} (`git rebase {shell_word(report.base)}`, which leaves its merge commits "
               "out)" + (" and take those paths out of it" if result.cause == merge.IN_RESULT else ""))
    elif result.result == merge.VERIFY_FAILED:
        fix = f"take those commits out of {result.branch} yourself{where}"
    elif result.cause == merge.UNTRACKED:
        cannot = "its tools cannot delete files, nor commit files outside its zone"
        fix = f"delete them yourself{where}, commit them, or add them to .gitignore"
    elif result.detail.startswith(merge.UNCOMMITTED):
        cannot = "its tools cannot undo changes, nor commit files outside its zone"
        fix = f"commit or undo them yourself{where} (`git restore --staged --worktree -- PATH`)"
    else:   # a detached HEAD, files its index hides from `git status`, a worktree off its branch
        fix = f"fix it yourself{where}"
    return (f"no follow-up: its `api` session runs unsandboxed, without the `run` tool, and {cannot}; {fix}, "
            f"then `wta merge {shell_word(result.stream)}`")


def _in_own_zone(result: merge.StreamResult) -> bool:
    """Whether every file a refusal for untracked or uncommitted files names is one that the stream's `commit`
    tool commits, and its session's leftovers commit too: in its own zone (not a file no zone claims, which
    `unowned: allow` would let it commit: what `setup:` wrote is nobody's work)."""
    if not result.worktree or not result.files:
        return False
    return _outside_zone(result, _entries(result), unowned=False) == set()


def _entries(result: merge.StreamResult) -> dict[str, list[str]]:
    """The files each path a refusal names stands for: a folder git lists whole, the files in it."""
    assert result.worktree is not None
    files: dict[str, list[str]] = {}
    for path in result.files:
        found = [os.path.relpath(os.path.join(top, n), result.worktree).replace(os.sep, "/")
                 for top, _, names in os.walk(os.path.join(result.worktree, path)) for n in names] \
            if path.endswith("/") else []
        files[path] = found or [path]
    return files


def _outside_zone(result: merge.StreamResult, files: dict[str, list[str]], **how: bool) -> set[str] | None:
    """Those of the `files` (`_entries`) its commit hook would refuse (`leftovers.classify`; `how`: its
    `unowned`), or None when the zones cannot be read."""
    assert result.worktree is not None
    try:
        return set(leftovers.classify(result.worktree, result.stream, [f for fs in files.values() for f in fs],
                                      **how).outside)
    except (WtaError, OSError):
        return None


def _landed(result: merge.StreamResult, base: str) -> LandOutcome:
    return LandOutcome(result.stream, LANDED_OK, head=result.head,
                       reason=f"landed on {base} at {(result.head or '')[:12]}")


def handback_text(report: merge.MergeReport, result: merge.StreamResult, shell: bool = True) -> str:
    """The failure as the follow-up session's prompt carries it: what failed, the evidence, what to do.
    `shell`: whether the session can run commands (not the `api` runner's outside a sandbox, which has no
    `run` tool); without one, only a failed test and files of its own zone left uncommitted are a hand-back,
    each said in terms of its tools; anything else is "" (a person's to fix: `_without_shell`)."""
    base = report.base
    onto = shell_word(base)   # (in the commands to run; a branch name may hold `$`, `;` or a quote)
    head = f"# Landing your work on `{base}` failed: fix it in this session\n"
    done = ("When it is fixed, commit on your branch and end the session: wta tries to land it again. "
            "Your branch is as it was before the landing; nothing was lost.")
    rebase = (f"`git rebase --apply {onto}` (`--apply`: in your sandbox git cannot remove what a default rebase "
              "leaves after a conflict, and would stop there; an `Unable to create '.../packed-refs.lock'` error on "
              "the way is harmless)")
    if result.cause in PERSONS:
        # Not the agent's to judge: another sandbox may have written its ref or objects (docs/security.md), and
        # a follow-up told how to accept them would land that work as its own. Nor to fix: its .git and its own
        # config are read-only in its sandbox (and the advice is for the main worktree), and a branch deleted
        # while it landed is back, nothing wrong with it. A person's (blocked_next_step).
        return ""
    if not shell and result.result != merge.TEST_FAILED:
        # Its tools read, write and edit files of its zone and commit them: no git, no deleting, nothing outside
        # its zone. It can act on a failed test (below) and on files of its own zone left out of its commits;
        # anything else is a person's at once, not `land_retries` follow-ups that cannot fix it.
        if result.cause == merge.UNTRACKED or result.detail.startswith(merge.UNCOMMITTED):
            return _own_files_handback(head, done, result) if _in_own_zone(result) else ""
        return ""
    if result.result == merge.CONFLICT:
        touched = [f"- `{t.commit}` {t.subject!r} ({'stream ' + t.stream if t.stream else 'a commit on ' + base})"
                   f" changed {', '.join(t.files)}" for t in result.touched_by]
        return (f"{head}\nRebasing your branch onto `{base}` conflicts in these paths:\n"
                + "".join(f"- `{quote_path(p)}`\n" for p in result.files)
                + ("\nThe base changed them in:\n" + "\n".join(touched) + "\n" if touched else "")
                + f"\nThe rebase was undone: your branch is clean. Rebase it yourself: {rebase}. Resolve each "
                  "conflict keeping both sides' intent, `git add` the paths and `git rebase --continue`, then check "
                  f"that your work still holds.\n\n{done}\n")
    if result.result == merge.TEST_FAILED:
        command = _test_command(result)
        how = result.detail.removeprefix(f"`{command}` ")   # ("`<command>` exited 1 in ...": named already)
        reproduce = (f"Reproduce it: rebase your branch, {rebase}, then run the command. Fix the cause in your "
                     "zone." if shell else
                     f"You cannot run commands in this session (it has no `run` tool): wta brought your branch up "
                     f"to `{base}` before it started (the rebase was clean), so your files are those the test ran "
                     "on. Find the cause from the output above and your files, fix it in your zone, and commit "
                     "(the `commit` tool).")
        tail = merge.output_tail(result.test_log, TEST_TAIL_LINES)
        return (f"{head}\nThe test command `{command}` failed on your branch rebased onto `{base}`: "
                f"{how}\nThe last lines of its output:\n\n```\n{tail}\n```\n\n"
                f"{reproduce}\n\n{done}\n")
    if result.cause == merge.MERGE_COMMITS:
        # Rebased, the branch is linear: `git rebase` leaves merge commits out (the apply backend as well).
        return (f"{head}\nYour branch has merge commits, and `{base}` has moved on since: wta lands a branch with "
                f"merge commits only when it contains `{base}` as it is now, and never rebases one (that would drop "
                "what its merges add). The merge commits:\n"
                + "".join(f"- `{sha}` {subject}\n" for sha, _, subject in (p.partition(" ") for p in result.problems))
                + f"\nMake your history linear, without merge commits: {rebase}. It replays your own commits onto "
                  f"`{base}` and leaves the merge commits out; what a merge commit changed itself (a conflict it "
                  "resolved) is not replayed, so resolve each conflict again as it comes (`git add` the paths, "
                  f"`git rebase --continue`). Then check that `git log --merges {onto}..HEAD` shows nothing and that "
                  "your work still holds.\n\nWhen your history is linear, end the session: wta tries to land it "
                  "again. Your branch is as it was before the landing; nothing was lost.\n")
    if result.result == merge.VERIFY_FAILED and result.cause == merge.IN_RESULT:
        # Each commit passed; their sum on the base does not (a change git carried along a rename the base made
        # into another zone). The paths are not in the branch as it is: restored at the old fork, they would
        # not be found. Rebased first, the fork is the base, and the same commands take them out.
        fork = f"$(git merge-base HEAD {onto})"
        return (f"{head}\nYour commits stay in your zone, but rebased onto `{base}` they change paths outside it "
                f"(`{base}` moved or renamed files your commits change, and git carried your changes along); wta "
                "never lands them:\n" + "".join(f"- {p}\n" for p in result.problems)
                + f"\nThose paths are not changed on your branch as it is now: rebase it first, {rebase}, resolving "
                  f"any conflict. Then make your work one commit without them: `git reset --soft {fork}` (after the "
                  f"rebase that is `{base}`: your commits undone, their changes staged), `git restore "
                  f"--source={fork} --staged --worktree -- {shell_words(result.files)}` (those paths as `{base}` "
                  "has them), then `git commit -m \"...\"` (wta gives it your prefix). If nothing is left to commit, "
                  "that work is now in another stream's zone: ask its owner for it with `wta request OWNER "
                  f"\"...\"`.\n\n{done}\n")
    if result.result == merge.VERIFY_FAILED:
        # One commit made anew: a revert leaves the commit in the branch, and an interactive rebase cannot finish
        # in the sandbox (git cannot remove CHERRY_PICK_HEAD there: the next commit took its author).
        fork = f"$(git merge-base HEAD {onto})"
        restore = (f"`git restore --source={fork} --staged --worktree -- {shell_words(result.files)}` (those paths "
                   "back as they were), " if result.files else "")
        what = ("bring objects `git fsck` rejects" if result.cause == merge.FSCK else
                "change paths outside your zone, or lack your prefix")
        return (f"{head}\nCommits on your branch {what}; wta never lands them:\n"
                + "".join(f"- {p.replace(merge.REWORD_ADVICE, '')}\n" for p in result.problems)
                + f"\nMake your work one commit without them: `git reset --soft {fork}` (your commits undone, their "
                  f"changes staged), {restore}then `git commit -m \"...\"` (wta gives it your prefix). Ask each "
                  f"owner for what you need with `wta request OWNER \"...\"`.\n\n{done}\n")
    if result.cause == merge.DETACHED:
        # (Not `git switch -c NAME` to keep the commits, as a person is told: in the sandbox only the directory of
        # its own branch's ref is writable (refs/heads/ is not, and a new name beside its ref could be another
        # stream's branch); and `git cherry-pick` cannot finish there after a conflict.)
        branch = shell_word(result.branch)
        return (f"{head}\nYour worktree has a detached HEAD, not your branch `{result.branch}`, and only your branch "
                f"lands. Put your work back on it. First `git rebase --apply {branch}`: it replays the commits of "
                f"your detached HEAD onto `{result.branch}` (`--apply`: in your sandbox git cannot remove what a "
                "default rebase leaves after a conflict; resolve any conflict, `git add` the paths, `git rebase "
                f"--continue`). Then `git merge-base --is-ancestor {branch} HEAD && git switch -C {branch}`: your "
                f"branch moves to where you are, with its commits and yours, and is checked out (`git status` says "
                f"`On branch {result.branch}`). Make no other branch: your sandbox lets git write your branch, not "
                f"others.\n\n{done}\n")
    if result.detail.startswith(merge.UNCOMMITTED):
        # (Not "commit or stash them": one outside the zone cannot be committed, and the sandbox has no stash.)
        return (f"{head}\nYour worktree has uncommitted changes, and only commits land:\n"
                + "".join(f"- `{quote_path(p)}`\n" for p in result.files)
                + "\nCommit those in your zone. Undo the others (`git restore --staged --worktree -- PATH`): "
                  f"paths outside your zone cannot be committed here.\n\n{done}\n")
    if result.cause == merge.UNTRACKED:
        return _untracked_handback(head, done, result)
    return f"{head}\n{result.detail}\n" + "".join(f"- `{quote_path(p)}`\n" for p in result.files) + f"\n{done}\n"


def _untracked_handback(head: str, done: str, result: merge.StreamResult) -> str:
    """The hand-back of untracked files to a session with a shell: those of its zone it may commit or ignore;
    those outside it, it can neither commit nor cover with a .gitignore of its zone (a rule file's change
    reaches every path below it: docs/zones.md), so it deletes them."""
    inside, outside = _by_zone(result)
    shown = UNTRACKED_SHOWN

    def listed(paths: list[str]) -> str:
        nonlocal shown
        named, shown = paths[:max(shown, 0)], shown - len(paths)
        more = len(paths) - len(named)
        return ("".join(f"- `{quote_path(p)}`\n" for p in named)
                + (f"- ... and {more} more (`git status`)\n" if more else ""))

    intro = (f"{head}\nYour worktree has untracked files (not committed, not ignored) that your branch lacks. "
             "The test would run with them, but only commits land, and the base would break without them "
             "(a module never `git add`ed), so the landing was not tested:\n")
    own = ("Commit those your work needs. Delete the others, or add them to a .gitignore in your zone if they are "
           "build output.")
    if not outside:
        return f"{intro}{listed(inside)}\n{own}\n\n{done}\n"
    away = ("Delete those outside your zone (`rm -r -- PATH`): you cannot commit them, and no .gitignore you "
            "may change covers them. If your work needs one, ask its owner with `wta request OWNER \"...\"`.")
    if not inside:
        return f"{intro}{listed(outside)}\n{away}\n\n{done}\n"
    return (f"{intro}In your zone:\n{listed(inside)}Outside your zone:\n{listed(outside)}"
            f"\n{own} {away}\n\n{done}\n")


def _by_zone(result: merge.StreamResult) -> tuple[list[str], list[str]]:
    """The untracked files a refusal names: (those the stream may commit, the others), as its commit hook
    tells them apart (`unowned: allow` lets it commit a file no zone claims). A folder git lists whole is
    of its zone when every file in it is. All of its zone when the zones cannot be read (the hand-back
    then says what it said before it told them apart)."""
    if not result.worktree:
        return list(result.files), []
    files = _entries(result)
    outside = _outside_zone(result, files)
    if outside is None:
        return list(result.files), []
    return ([p for p in result.files if outside.isdisjoint(files[p])],
            [p for p in result.files if not outside.isdisjoint(files[p])])


def _own_files_handback(head: str, done: str, result: merge.StreamResult) -> str:
    """The hand-back of untracked or uncommitted files, all of its zone, to a session with no shell (the `api`
    runner's outside a sandbox): what its tools do about them."""
    shown = result.files[:UNTRACKED_SHOWN]
    more = len(result.files) - len(shown)
    files = ("".join(f"- `{quote_path(p)}`\n" for p in shown)
             + (f"- ... and {more} more (`list_files`)\n" if more else ""))
    if result.cause == merge.UNTRACKED:
        what = ("untracked files (not committed, not ignored) that your branch lacks. The test would run with "
                "them, but only commits land, so the landing was not tested")
        other = ("One that is build output: add it to a .gitignore in your zone (`write_file`) before you commit. "
                 "You cannot delete files in this session (it has no `run` tool): any other is committed with "
                 "your work, so read it first (`read_file`) and make it part of your work.")
    else:
        what = "uncommitted changes, and only commits land"
        other = ("Read each first (`read_file`) and put right (`edit_file`, `write_file`) what is not part of your "
                 "work: you cannot run git in this session (it has no `run` tool), so nothing can be restored "
                 "from a commit.")
    return (f"{head}\nYour worktree has {what}; they are in your zone:\n{files}\nCommit them with the `commit` "
            f"tool (it commits every change in your zone). {other}\n\n{done}\n")


def _test_command(result: merge.StreamResult) -> str:
    """The command from "`<command>` exited <code> in ..." (merge.run), backticks in it and all."""
    quoted, found, _ = result.detail.rpartition("` exited ")
    return quoted[1:] if found and quoted.startswith("`") else "test"


def write_handback(path: str, text: str) -> None:
    """The hand-back, API keys blanked out (a commit's subject, a path or a test's output may hold one): it
    heads the follow-up's prompt, which goes to a model, and `wta prompt` prints it."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    # (UTF-8 whatever it holds: a byte that is not, from a name git printed, had ended wta up in a traceback)
    write_atomic(path, redact_text(text).encode(errors="backslashreplace"))


def read_handback(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except (OSError, UnicodeDecodeError):
        return None


def drop_handback(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def record_outcome(store: SessionStore, outcome: LandOutcome, land_retries: int) -> None:
    """Record how landing a stream went: landed, to be tried again, handed back to its agent, or blocked."""
    stream = outcome.stream
    handback = store.handback_path(stream)
    if outcome.outcome == LANDED_OK:
        drop_handback(handback)
        store.update(stream, state=LANDED, reason=outcome.reason, landed_at=now(),
                 landed_head=outcome.head, moved_while_landing=0)
        return
    record = store.read(stream) or SessionRecord(stream)
    if record.state == STOPPED:
        return   # `wta stop` during its landing: not tried again, no follow-up
    moved = record.moved_while_landing + 1 if outcome.branch_moved else 0
    if outcome.branch_moved and moved >= MOVED_LIMIT:
        # Not a person's commit now and then: something commits at every landing (a `test:` that commits,
        # whose commits are not undone as its files are); tried again, it would go on for ever.
        outcome = LandOutcome(stream, FAILED, reason=f"refused: its branch got new commits during each of its last "
                                                     f"{moved} landings (does `test:` commit?)")
        moved = 0
    if outcome.outcome in (BUSY, LATER):
        # Another merge holds the lock, or a stream before it stopped: landed on a later round.
        reason = f"landing {outcome.reason}"
        if outcome.waits_for and not merge_stopped(store.state_dir, outcome.waits_for):
            reason = waited_for_ended(outcome.waits_for)   # aborted or finished since it looked
        store.update(stream, state=LANDING, reason=reason, moved_while_landing=moved)
        return
    if outcome.handback:   # also when blocked: `wta prompt` (and a person's session) shows the last failure
        write_handback(handback, outcome.handback)
    session = [[record.started_at, record.ended_at]] if record.started_at and record.ended_at else []
    if not outcome.handback or record.handbacks >= land_retries:
        reason = f"landing failed {record.handbacks + 1} time(s): {outcome.reason}"
        if not outcome.next_step_said:
            reason += blocked_next_step(stream, record.worktree, bool(outcome.handback))
        store.update(stream, state=BLOCKED, ended_at=now(), moved_while_landing=moved,
                     failed_to_land=record.failed_to_land + session, reason=reason)
        return
    # Pending again: the follow-up session starts as soon as max_parallel allows.
    store.update(stream, handbacks=record.handbacks + 1, state=PENDING, moved_while_landing=moved,
                 failed_to_land=record.failed_to_land + session,
                 reason=f"handed back to its agent: {outcome.reason}")


NEXT_STEP = "; to land it: "   # where a blocked stream's reason says what a person does next


def blocked_next_step(stream: str, worktree: str | None, handed_back: bool) -> str:
    """What lands a blocked stream, said at the end of its reason. The landing kept no stopped merge
    (keep_stopped=False): `wta merge STREAM` starts one anew, `wta merge --continue` has nothing to finish."""
    merge_it = f"`wta merge {shell_word(stream)}`"
    if not handed_back:   # not the agent's to fix (a git error, a `test:` that commits): the cause is named above
        return f"{NEXT_STEP}clear that cause, then {merge_it}"
    where = f" in {worktree}" if worktree else " in its worktree"
    return (f"{NEXT_STEP}fix it{where} and commit, then {merge_it} "
            f"(`wta prompt {shell_word(stream)}` shows the last hand-back)")


def merge_stopped(state_dir: str, run_id: str) -> bool:
    """Whether the merge `run_id` is still there to `--continue` or `--abort`."""
    from worktree_agents.merge.state import read_state

    return (read_state(state_dir) or {}).get("run_id") == run_id


class ProgressWriter:
    """A landing's progress ("landing: rebasing 10 commit(s) onto main"), written into the streams' records
    by a thread of its own: the landing goes on with its next git step instead of waiting for each record's
    write (a lock, a read, a new file and a rename; several milliseconds apiece on a busy machine, two or
    three per stream, and the landings are what dependents wait for). A stream's latest line only: one not
    written yet when the stream's outcome is to be recorded is dropped (`settle`), and none is written over
    that outcome."""

    def __init__(self, store: SessionStore) -> None:
        self.store = store
        self._lock = threading.Lock()
        self._pending: dict[str, tuple[str, int]] = {}   # stream -> (its latest line, its outcomes so far)
        self._settled: dict[str, int] = {}               # stream -> outcomes recorded (or about to be)
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def put(self, stream: str, text: str) -> None:
        with self._lock:
            self._pending[stream] = (text, self._settled.get(stream, 0))
            if self._thread is None:
                self._thread = threading.Thread(target=self._write, name="landing progress", daemon=True)
                self._thread.start()
        self._wake.set()

    def settle(self, stream: str) -> None:
        """The stream's outcome is recorded next: what it shows replaces any progress not yet written."""
        with self._lock:
            self._pending.pop(stream, None)
            self._settled[stream] = self._settled.get(stream, 0) + 1

    def _write(self) -> None:
        while True:
            self._wake.wait()
            self._wake.clear()
            while True:
                with self._lock:
                    if not self._pending:
                        break
                    stream = next(iter(self._pending))
                    text, outcomes = self._pending.pop(stream)
                try:
                    with self.store.updating(stream) as record:
                        # Under the record's lock: an outcome settled from now on is written after this line.
                        with self._lock:
                            current = self._settled.get(stream, 0) == outcomes
                        if current:
                            record.reason = f"landing: {text}"
                except (WtaError, OSError):
                    pass   # (only progress: the outcome says how the landing went)


@contextmanager
def _signals_held() -> Iterator[None]:
    """Ctrl-C and SIGTERM that come while the block runs are handled once it has ended. Raised in the middle of
    `Thread.start` (which waits for the new thread to run), a Ctrl-C left a thread that may or may not run, and
    `Lander.wait` had `join` refuse it ("cannot join thread before it is started"). Python runs its signal
    handlers in the main thread only: elsewhere the block runs as it is."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    came: list[tuple[int, Any]] = []
    before = {number: signal.signal(number, lambda n, frame: came.append((n, frame)))
              for number in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for number, handler in before.items():
            signal.signal(number, handler)
        for number, frame in came[:1]:   # (as it would have been handled: KeyboardInterrupt, `ending`, ...)
            handler = before[number]
            if callable(handler):
                handler(number, frame)
            elif handler == signal.SIG_DFL:
                signal.raise_signal(number)


class Lander:
    """One landing run at a time, in a worker thread.

    `landed(outcome)` hears of each stream as it lands (from the worker thread), `woken()` of that
    and of the run's end; `finished` hands over the other outcomes once. While the run holds the
    command lock, `covering(stream)` lets the coordinator sync a stream the run does not land under
    that same lock (a dependent of a stream that just landed starts without waiting for the run).
    """

    def __init__(self, project, progress: Callable[[str, str], None], landed: Callable[[LandOutcome], None],
                 woken: Callable[[], None]) -> None:
        self.project, self.progress, self.landed, self.woken = project, progress, landed, woken
        self._thread: threading.Thread | None = None
        self._outcomes: list[LandOutcome] = []
        self._told: set[str] = set()
        self._streams: frozenset[str] = frozenset()
        self._cover = threading.Lock()   # held by whoever works under the run's command lock
        self._holding: frozenset[str] | None = None   # while the run holds the lock: the streams it may change
        self._under_way = threading.Event()   # set once a run holds the lock, or has ended

    @property
    def busy(self) -> bool:
        return self._thread is not None

    def start(self, streams: Sequence[str], first: Collection[str] = ()) -> None:
        """Start a run; returns once it holds the command lock (`covering` then lets the coordinator sync
        other streams under it) or has ended without it (the lock is someone else's, or it failed)."""
        assert self._thread is None
        self._outcomes, self._told, self._streams = [], set(), frozenset(streams)
        self._under_way = threading.Event()
        self._thread = threading.Thread(target=self._land, args=(list(streams), set(first)), name="landing",
                                        daemon=True)
        with _signals_held():
            self._thread.start()
        self._under_way.wait()   # (a Ctrl-C meanwhile finds the run started: it is waited for, as at any moment)

    def _land(self, streams: list[str], first: set[str]) -> None:
        try:
            self._outcomes = land(self.project, streams, self.progress, self._tell, self._holding_lock, first)
        except Exception as exc:  # a bug or an unexpected git failure: not landed, and each says why
            self._outcomes = [LandOutcome(s, FAILED, reason=f"landing failed: {type(exc).__name__}: {exc}")
                              for s in streams]
        finally:
            self._under_way.set()
        if any(o.outcome != BUSY for o in self._outcomes):
            self.woken()  # (the lock taken by someone else: the next try comes at the coordinator's pace)

    def _tell(self, outcome: LandOutcome) -> None:
        self.landed(outcome)
        self._told.add(outcome.stream)   # (after: `in_flight` names it until its outcome is recorded)
        self.woken()

    def in_flight(self) -> frozenset[str]:
        """The streams of the run under way (or ended, not yet `finished`) whose outcome is not recorded."""
        if self._thread is None:
            return frozenset()
        return frozenset(s for s in self._streams if s not in self._told)

    @contextmanager
    def _holding_lock(self, streams: Sequence[str]) -> Iterator[None]:
        with self._cover:
            self._holding = frozenset(streams)
        self._under_way.set()
        try:
            yield
        finally:
            with self._cover:  # waits for a sync under the lock to end before the lock goes
                self._holding = None

    @contextmanager
    def covering(self, stream: str) -> Iterator[bool]:
        """Whether the run's command lock covers work on `stream` now (it holds the lock and does not land
        `stream`); if so, the lock is kept until the block ends."""
        with self._cover:
            yield self._holding is not None and stream not in self._holding

    def wait(self) -> None:
        if self._thread is not None:
            self._thread.join()

    def finished(self) -> list[LandOutcome] | None:
        """The outcomes of a finished run that `landed` was not told of; None while it runs."""
        if self._thread is None or self._thread.is_alive():
            return None
        self._thread.join()
        self._thread = None
        return [o for o in self._outcomes if o.stream not in self._told]
