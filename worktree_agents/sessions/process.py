"""Processes of a session, through psutil: identity, usage, and ending a whole tree (start
times and process groups are read from /proc where there is one: no psutil import for them).

A pid alone does not name a process for long: the OS reuses pids. A process is
named by its pid and its start time (`create_time`), and is alive only while
both match and it is not a zombie.
"""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass

KILL_GRACE_ENV = "WTA_KILL_GRACE"
DEFAULT_KILL_GRACE = 5.0
_SAME_START = 0.05  # psutil's create_time is rounded; the same process reads back within this


def kill_grace() -> float:
    """Seconds between TERM and KILL ($WTA_KILL_GRACE, default 5)."""
    try:
        return max(float(os.environ.get(KILL_GRACE_ENV, DEFAULT_KILL_GRACE)), 0.0)
    except ValueError:
        return DEFAULT_KILL_GRACE


def create_time(pid: int) -> float | None:
    """When process `pid` started (seconds since the epoch), or None if it is gone.

    On Linux read as psutil reads it (its start in clock ticks since boot, plus the boot time): a
    session wrapper records its own and its agent's as the agent starts, and would otherwise import
    psutil for that alone (15-30 ms of CPU per session)."""
    if os.path.isdir("/proc/self"):
        found = _proc_state(pid)
        return found[1] if found else None
    import psutil

    try:
        return psutil.Process(pid).create_time()
    except psutil.Error:
        return None


def _proc_state(pid: int) -> tuple[bytes, float] | None:
    """A process's state letter (`R`, `S`, `Z`, ...) and start time, from /proc (None: it is gone)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
        with open("/proc/stat", "rb") as f:
            boot = next(int(line.split()[1]) for line in f if line.startswith(b"btime "))
        # Fields after the command name (in parentheses, which may hold anything): state is the
        # first, starttime (field 22 of proc(5)) the twentieth.
        fields = stat[stat.rindex(b")") + 2:].split()
        return fields[0], int(fields[19]) / os.sysconf("SC_CLK_TCK") + boot
    except (OSError, ValueError, IndexError, StopIteration):
        return None


def find(pid: int | None, started: float | None):
    """The psutil.Process with this pid and start time, or None if it is gone or the pid was reused."""
    import psutil

    if not pid:
        return None
    try:
        proc = psutil.Process(pid)
        if started is not None and abs(proc.create_time() - started) > _SAME_START:
            return None
        if proc.status() == psutil.STATUS_ZOMBIE:
            return None
        return proc
    except psutil.Error:
        return None


def is_alive(pid: int | None, started: float | None) -> bool:
    """Whether process `pid` runs and is the one that started at `started` (`find`); from /proc where
    there is one: the coordinator and `wta status` ask often, and would import psutil for it."""
    if not pid:
        return False
    if not os.path.isdir("/proc/self"):
        return find(pid, started) is not None
    found = _proc_state(pid)
    return found is not None and found[0] != b"Z" and (started is None or abs(found[1] - started) <= _SAME_START)


@dataclass(frozen=True)
class Usage:
    cpu_percent: float      # summed over the tree; 100 = one core busy
    memory_bytes: int       # resident memory, summed over the tree
    children: int           # descendants of the root process


def tree(root) -> list:
    """`root` and every living descendant."""
    import psutil

    try:
        return [root, *root.children(recursive=True)]
    except psutil.Error:
        return []


def usage(groups: dict[str, list], sample: float = 0.1) -> dict[str, Usage]:
    """CPU (measured over `sample` seconds, once for all), memory and child count of each
    group of process trees, keyed like `groups` (e.g. by stream)."""
    if not groups:
        return {}  # without importing psutil: `wta status` with no session running
    import psutil

    members = {key: {p.pid: p for r in roots if r is not None for p in tree(r)} for key, roots in groups.items()}
    for procs in members.values():
        for p in procs.values():
            try:
                p.cpu_percent(None)  # the first call only starts the measurement
            except psutil.Error:
                pass
    if any(members.values()):
        time.sleep(sample)
    found = {}
    for key, procs in members.items():
        cpu, memory = 0.0, 0
        for p in procs.values():
            try:
                cpu += p.cpu_percent(None)
                memory += p.memory_info().rss
            except psutil.Error:
                pass
        roots = len([r for r in groups[key] if r is not None])
        found[key] = Usage(round(cpu, 1), memory, max(len(procs) - roots, 0))
    return found


def group_members(pgid: int, not_before: float | None = None) -> list:
    """Processes in process group `pgid` (started no earlier than `not_before`, the start of its leader).

    None of them when a process other than that leader has the number `pgid` now: the kernel gives a pid again
    only once no process is left in the group it named, so the group is the new process's (the pid of a
    crashed session's wrapper, reused by another wrapper, would otherwise have its session killed)."""
    if not_before is not None:
        leader = create_time(pgid)
        if leader is not None and abs(leader - not_before) > _SAME_START:
            return []
    pids = _live_pids(_group_pids(pgid), not_before)
    if not pids:
        return []   # without importing psutil
    import psutil

    found = []
    for pid in pids:
        try:
            proc = psutil.Process(pid)
        except psutil.Error:
            continue
        try:
            started = proc.create_time()
        except psutil.NoSuchProcess:
            continue
        except psutil.Error:
            started = None
        if not_before is not None and started is not None and started + _SAME_START < not_before:
            continue
        found.append(proc)
    return found


def marked(marks: dict[str, str], not_before: float | None = None, settle: float = 0.0) -> list:
    """Processes (but this one) whose environment holds every `marks` variable with its value, started no
    earlier than `not_before`: a session's processes that left its process group (`setsid`, a daemon's
    double fork) still carry the variables wta gave the session. Those ending of themselves within `settle`
    seconds are not among them."""
    wanted = [f"{k}={v}".encode() for k, v in marks.items()]
    if not wanted:
        return []   # no marks would mark every process
    pids = []
    for pid in _all_pids():
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                environ = f.read().split(b"\0")
        except OSError:
            continue
        if pid != os.getpid() and all(w in environ for w in wanted):
            pids.append(pid)
    pids = _settled(lambda: _live_pids(pids, not_before), settle)
    if not pids:
        return []   # the common case, without importing psutil
    import psutil

    found = []
    for pid in pids:
        try:
            proc = psutil.Process(pid)
            if not_before is not None and proc.create_time() + _SAME_START < not_before:
                continue
        except psutil.Error:
            continue
        found.append(proc)
    return found


def group_has_others(pgid: int, settle: float = 0.0) -> bool:
    """Whether a process other than this one is in process group `pgid` (without psutil where /proc lists
    pids), and stays there for `settle` seconds. A zombie is not: it has ended (a sandbox's pid-namespace
    init, left to a pid 1 that is slow to reap it); nor is one that ends within `settle` (that init again,
    caught while it exits, after the bwrap that waited for its command)."""
    return bool(_settled(lambda: [pid for pid in _live_pids(_group_pids(pgid), None) if pid != os.getpid()], settle))


def _live_pids(pids: list[int], not_before: float | None) -> list[int]:
    """Those of `pids` that run, neither gone nor zombies, and started no earlier than `not_before` (all of
    them where there is no /proc to read)."""
    if not os.path.isdir("/proc/self"):
        return pids
    found = []
    for pid in pids:
        state = _proc_state(pid)
        if state and state[0] != b"Z" and (not_before is None or state[1] + _SAME_START >= not_before):
            found.append(pid)
    return found


def _settled(running, settle: float) -> list[int]:
    """What `running()` returns once it is empty or `settle` seconds have passed."""
    deadline = time.monotonic() + settle
    while True:
        found = running()
        if not found or time.monotonic() >= deadline:
            return found
        time.sleep(0.01)


def _all_pids() -> list[int]:
    try:
        return [int(name) for name in os.listdir("/proc") if name.isdigit()]
    except OSError:
        import psutil

        return psutil.pids()


def _group_pids(pgid: int) -> list[int]:
    """The pids in process group `pgid`: one getpgid per process, so that only the group's members are
    looked at closer."""
    found = []
    for pid in _all_pids():
        try:
            if os.getpgid(pid) == pgid:
                found.append(pid)
        except OSError:
            continue
    return found


def terminate(procs: list, grace: float | None = None) -> list:
    """TERM every process, KILL those still there after `grace`; the ones that would not die.

    A sandbox's pid-namespace init among them (a session's, left behind when its bwrap starter ended)
    ignores TERM, and what else runs in its namespace may carry nothing wta knows it by (a daemon that
    left the process group and cleared its environment): those get the TERM, and the init the KILL once
    they are gone (or at `grace`), which ends its namespace with all still in it."""
    import psutil

    grace = kill_grace() if grace is None else grace
    procs = [p for p in {p.pid: p for p in procs}.values() if p.pid != os.getpid()]
    inits = [p for p in procs if namespace_init(p.pid)]
    for pid in _namespace_members(inits, procs):
        try:
            procs.append(psutil.Process(pid))
        except psutil.Error:
            continue
    others = [p for p in procs if p not in inits]
    for sig, targets, wait in ((signal.SIGTERM, others, grace), (signal.SIGKILL, None, 5.0)):
        targets = procs if targets is None else targets
        for p in targets:
            try:
                p.send_signal(sig)
            except psutil.Error:
                pass
        if sig == signal.SIGTERM:
            others = wait_gone(others, wait)
            procs = others + inits
        else:
            procs = wait_gone(procs, wait)
        if not procs:
            break
    return procs


def namespace_init(pid: int) -> bool:
    """Whether process `pid` is the first process (pid 1) of a pid namespace below ours."""
    try:
        with open(f"/proc/{pid}/status", "rb") as f:
            line = next((line for line in f if line.startswith(b"NSpid:")), b"")
    except OSError:
        return False
    ids = line.split()[1:]
    return len(ids) > 1 and ids[-1] == b"1"


def _namespace_members(inits: list, known: list) -> list[int]:
    """The pids in the pid namespaces that `inits` are the first processes of, but those `known`."""
    spaces = set()
    for p in inits:
        try:
            spaces.add(os.readlink(f"/proc/{p.pid}/ns/pid"))
        except OSError:
            pass
    found, skip = [], {p.pid for p in known}
    for pid in _all_pids() if spaces else []:
        try:
            if pid not in skip and os.readlink(f"/proc/{pid}/ns/pid") in spaces:
                found.append(pid)
        except OSError:
            continue
    return found


def with_argv(words: list[str]) -> list:
    """This user's processes whose command line holds `words` one after another, as arguments or
    inside a `sh -c` string (e.g. an option and its value)."""
    import shlex

    import psutil

    needle = shlex.join(words)
    return [proc for proc in psutil.process_iter(["cmdline"])
            if needle in " ".join(proc.info["cmdline"] or [])]


def wait_gone(procs: list, timeout: float) -> list:
    """Wait until every process has exited; those still running after `timeout`.

    A zombie counts as gone: its parent (or a slow init) reaps it in its own time.
    """
    deadline = time.monotonic() + timeout
    while True:
        procs = [p for p in procs if _running(p)]
        if not procs or time.monotonic() >= deadline:
            return procs
        time.sleep(0.02)


def _running(proc) -> bool:
    import psutil

    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False
