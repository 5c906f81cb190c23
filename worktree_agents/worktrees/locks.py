"""Lock files left where git locks a stream's branch, its reflog or its worktree, and who could have left them.

git takes a lock by creating `<file>.lock` (O_EXCL) and refuses while one is there, whoever made it. A stream's
sandbox writes the directory of its own ref and of its reflog (`refs/heads/wta/`, `logs/refs/heads/wta/`: git
renames `<ref>.lock` into place there), so its agent can make `refs/heads/wta/<other>.lock` and stop every move of
another stream's branch (its commits, `wta sync`, its landing), or `logs/refs/heads/wta/<other>.lock` and stop
the person's `git gc` (its `git reflog expire`). No mount can keep a name that does not exist yet from being made
(docs/security.md). So wta looks before it moves a branch: a lock that no process outside a sandbox holds (a
git at work, wta's or the person's, runs outside every one), changed longer ago than a git at work keeps one, stops
the step with one line naming the file, the sandboxes that could have made it, and the `rm`. Its maker chooses
its mtime, its type (a symlink, a directory) and how many there are: none of them decides.
"""

from __future__ import annotations

import os
import re
import time
from typing import Any, Callable, Iterable, Sequence

from worktree_agents.quoting import shell_word
from worktree_agents.zones.ownership import quote_path

# A lock younger than this may belong to a git at work that has closed it (a ref's lock is
# closed before it is renamed into place); an older one with no process holding it is a killed git's.
LOCK_SETTLE_SECONDS = 2.0
SHOWN = 3   # lock files in a worktree's private git dir named one by one; the rest are counted


def ref_lock(common: str, branch: str) -> str:
    """Where git locks `refs/heads/<branch>`."""
    return os.path.join(common, "refs", "heads", *branch.split("/")) + ".lock"


def reflog_lock(common: str, branch: str) -> str:
    """Where `git reflog expire` (which `git gc` runs) writes the branch's new reflog."""
    return os.path.join(common, "logs", "refs", "heads", *branch.split("/")) + ".lock"


def worktree_locks(git_dir: str | None) -> list[str]:
    """The lock files in a worktree's private git dir (`index.lock`, `HEAD.lock`, ...): a rebase there stops on one."""
    try:
        return sorted(os.path.join(git_dir, n) for n in os.listdir(git_dir) if n.endswith(".lock")) if git_dir else []
    except OSError:
        return []


def stale(paths: Iterable[str], wait: bool = True) -> list[str]:
    """Those of `paths` that exist with no process of ours holding them open (none, or only one in a sandbox: a
    git at work, of wta's or the person's, runs outside every sandbox), and are not a git's at work: one changed
    less than LOCK_SETTLE_SECONDS ago is waited for (`wait`: that long at most, once for all of them) or left
    out (a ref's lock is closed before it is renamed away)."""
    there, young, now = [], 0.0, time.time()
    for path in paths:
        try:
            age = now - changed(path)
        except OSError:
            continue
        if age < LOCK_SETTLE_SECONDS:
            if not wait:
                continue
            young = max(young, min(LOCK_SETTLE_SECONDS - age, LOCK_SETTLE_SECONDS))   # (a clock set back)
        there.append(path)
    if young:
        time.sleep(young)
        there = [p for p in there if os.path.lexists(p)]
    held = holders(there)
    return [p for p in there if p not in held or in_a_sandbox(held[p])]


def holders(paths: Sequence[str]) -> dict[str, int]:
    """Of `paths`, those a process holds open (git keeps its lock files open while it works), each with the pid
    of one: /proc is read once for all of them (once for each, 20,000 lock files an agent left in its private git
    dir stalled the landing for minutes)."""
    # (Its folder resolved, not the file: git's lock is never a symlink, and one an agent made without Landlock,
    # to /dev/null, which some process always holds, passed for a git's at work.)
    targets = {os.path.join(os.path.realpath(os.path.dirname(p)), os.path.basename(p)): p for p in paths}
    found: dict[str, int] = {}
    if not targets:
        return found
    try:
        pids = [int(p) for p in os.listdir("/proc") if p.isdigit()]
    except OSError:
        return found
    for pid in pids:
        fd_dir = f"/proc/{pid}/fd"
        try:
            fds = os.listdir(fd_dir)
        except OSError:
            continue
        for fd in fds:
            try:
                path = targets.get(os.readlink(f"{fd_dir}/{fd}"))
            except OSError:
                continue
            if path is not None:
                found.setdefault(path, pid)
    return found


def changed(path: str) -> float:
    """When `path` itself was last changed: its ctime, which the kernel sets, not its mtime, which its maker sets
    (`touch -d`): a lock dated 2100 had a landing wait for it for 75 years (and `wta status` never name it),
    and one dated within another stream's session named that stream as its maker."""
    return os.lstat(path).st_ctime


def in_a_sandbox(pid: int) -> bool:
    """Whether process `pid` runs in a pid namespace other than ours: a stream's sandbox (its session, `setup:`,
    `test:`), where an agent's process can hold a lock file open for as long as it runs. The check passed it
    for a git at work, and the landing's rebase then stopped half-way, at the ref's update."""
    try:
        return os.readlink(f"/proc/{pid}/ns/pid") != os.readlink("/proc/self/ns/pid")
    except OSError:
        return False


def described(path: str, stops: str, makers: str) -> str:
    """One lock file as a line: what it stops, who could have made it, and the command that removes it."""
    try:
        made = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(changed(path)))
    except OSError:
        made = "a moment ago"
    holder = holders([path]).get(path)
    what = (f"a lock file held open by pid {holder}, a process in a sandbox, not a git" if holder is not None
            else "a lock file that no process holds")
    rm = "rm -r" if os.path.isdir(path) and not os.path.islink(path) else "rm"
    # (quote_path: its name is its maker's choice in a worktree's private git dir, a line end or an escape in it)
    return (f"{quote_path(path)}: {what} (made {made}), so git will not {stops}; {makers}; "
            f"if no git of yours is at work there, remove it ({rm} {shell_word(path)})")


def makers_of_ref_lock(common: str, state_dir: str, config, path: str) -> str:
    """Who could have made a lock beside the stream refs: every stream whose sandbox writes that directory (its
    session, `setup:`, the landing's `test:`), narrowed to those whose last session ran when it was last changed
    (`changed`: a time its maker cannot choose)."""
    from worktree_agents.sessions.store import SessionStore, parse_time

    folder = os.path.dirname(path)
    streams = [s for s in config.streams
               if os.path.dirname(ref_lock(common, config.branch_for(s))) == folder
               or os.path.dirname(reflog_lock(common, config.branch_for(s))) == folder]
    where = os.path.relpath(folder, common) + "/"
    try:
        made: float | None = changed(path)
    except OSError:
        made = None
    running = []
    for stream, record in SessionStore(state_dir).read_all(streams).items():
        started = parse_time(record.started_at) if record else None
        ended = parse_time(record.ended_at) if record else None
        if made is not None and started is not None and started <= made and (ended is None or made <= ended + 1):
            running.append(stream)
    if running:
        # (So could any stream's `setup:` or a landing's `test:` then, which run no session: not a verdict.)
        return (f"the sandbox of {', '.join(running)} could have made it (its session ran then; every stream's "
                f"sandbox writes {where}, its `setup:` and `test:` too)")
    return (f"the sandbox of any of {', '.join(streams) or 'the streams'} could have made it (each writes {where}: "
            "sessions, setup: and test:), or a git that was killed")


def branch_locks(common: str, state_dir: str, config: Callable[[], Any], stream: str, branch: str,
                 git_dir: str | None = None) -> list[str]:
    """Lines for the stale locks that stop a move of the stream's branch: at its ref, and (`git_dir`: its
    worktree's private git dir, where a rebase works) in its worktree. `config()`: zones.yaml, read only when
    there is one, to name the streams whose sandboxes could have made it."""
    lines = [described(p, f"move {branch} (a commit on it, a sync, a landing)",
                       makers_of_ref_lock(common, state_dir, config(), p))
             for p in stale([ref_lock(common, branch)])]
    left = stale(worktree_locks(git_dir))
    lines += [described(p, f"work in {stream}'s worktree (a rebase, a commit)",
                        f"{stream}'s own sandbox, or a git killed there, left it")
              for p in left[:SHOWN]]
    if len(left) > SHOWN and git_dir:   # (its agent can leave any number: one line each was 20,000 lines)
        lines.append(f"and {len(left) - SHOWN} more such lock files in {quote_path(git_dir)} "
                     f"(rm -r {shell_word(git_dir)}/*.lock)")
    return lines


def reflog_locks(common: str, state_dir: str, config, streams: Sequence[str]) -> dict[str, list[str]]:
    """For `wta status`: per stream, the stale locks at its ref and its reflog (the latter stops the person's
    `git gc`), without waiting for a young one."""
    found = {}
    for stream in streams:
        if stream not in config.streams:
            continue
        branch = config.branch_for(stream)
        lines = [described(p, f"move {branch} (a commit on it, a sync, a landing)",
                           makers_of_ref_lock(common, state_dir, config, p))
                 for p in stale([ref_lock(common, branch)], wait=False)]
        lines += [described(p, f"expire {branch}'s reflog (`git gc` fails)",
                            makers_of_ref_lock(common, state_dir, config, p))
                  for p in stale([reflog_lock(common, branch)], wait=False)]
        if lines:
            found[stream] = lines
    return found


# How git says it stopped on a lock file: `Unable to create '<path>.lock': File exists.`
_UNABLE = re.compile(r"Unable to create '(.+?\.lock)': File exists")


def named_in(error: str | bytes) -> str | None:
    """The lock file a git's error says it stopped on (`Unable to create '...lock': File exists`), or None."""
    text = error.decode(errors="surrogateescape") if isinstance(error, bytes) else error
    found = _UNABLE.search(text)
    return os.path.normpath(found.group(1)) if found else None


def made_after_the_check(common: str, state_dir: str, config: Callable[[], Any], stream: str, branch: str,
                         git_dir: str | None, error: str | bytes) -> str | None:
    """A git that moved the stream's branch, or worked in its worktree, failed on a lock file (`error`: what it
    said) made after `branch_locks` looked: a running session can make one then (it can watch the landing begin),
    and git stops half-way, at the ref's update. Its line (as `branch_locks`) when it is one no git at work holds
    (`stale`, a young one waited for), else None: a git of the person's that held it for a moment, to try again.
    `git_dir`: the worktree's private git dir. (git says it in the user's language: where the words are not
    these, the places such a lock stops this move are looked at.)"""
    named = named_in(error)
    found = stale([named] if named is not None else [ref_lock(common, branch), *worktree_locks(git_dir)])
    if not found:
        return None
    path = found[0]
    if os.path.dirname(path).startswith(os.path.join(common, "refs") + os.sep):
        return described(path, f"move {branch} (a commit on it, a sync, a landing)",
                         makers_of_ref_lock(common, state_dir, config(), path))
    if git_dir and os.path.dirname(path) == os.path.normpath(git_dir):
        return described(path, f"work in {stream}'s worktree (a rebase, a commit)",
                         f"{stream}'s own sandbox, or a git killed there, left it")
    return described(path, f"move {branch}", "a git that was killed left it (no sandbox writes there)")
