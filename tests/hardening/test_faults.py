"""Faults: processes killed with SIGKILL, a full disk under the state dir, a worktree
deleted by hand, the base moved during a merge, two commands at once.

After each: `wta status --json` says what happened, every commit reachable
before is reachable after (`git rev-list --all`), and `wta up`, `wta merge
--continue` or `--abort` recovers. Already proven elsewhere, and not repeated
here: SIGKILL of `wta merge` inside git rebase, inside the test, between
streams and around the fast-forward (tests/merge/test_recovery.py), and the
`crashed` state of a killed wrapper (tests/sessions/test_supervisor.py; here
the same kill is followed on to the recovery).

The disk is filled for real where the tests may mount a tmpfs (as root), and
with a file size limit elsewhere: see `StateDisk`. WTA_TEST_FULL_DISK=rlimit
forces the second way.
"""

from __future__ import annotations

import errno
import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from support import commit_all, git, wta, write_files
from sessions_support import (alive, env, kill_everything, no_leftover_processes, record,  # noqa: F401
                              session_repo, state_dir, up, wait_for, wait_state, worktree, zones)
from merge_support import (BLOCK, MERGED_ORDER, assert_contained, at_step, block_after_fast_forward,  # noqa: F401
                           block_in_rebase, block_in_replay, needs_git_rebase, repo, set_test,  # (repo: a fixture)
                           subjects)

STREAMS = "  infra:\n    paths: [infra/**]\n  api:\n    paths: [src/api/**]\n    after: [infra]\n" \
          "  ui:\n    paths: [src/ui/**]\n"
# The stream's directory, for agent commands (zones: infra/**, src/api/**, src/ui/**).
ZONE_DIR = 'case $WTA_STREAM in infra) d=infra;; *) d=src/$WTA_STREAM;; esac; '


def agent(command: str, timeout: str = "120s") -> str:
    return f"  runner: command\n  timeout: {timeout}\n  command: {json.dumps(command)}\n"


def commits(repo: Path) -> set[str]:
    return set(git(repo, "rev-list", "--all").stdout.split())


def assert_nothing_lost(figures, fault: str, recovery: str, before: set[str], repo: Path) -> None:
    lost = before - commits(repo)
    figures.fault(fault, recovery, commits_before=len(before), commits_lost=len(lost))
    assert not lost, f"{len(lost)} commit(s) no longer reachable after {fault}"


def status(repo: Path) -> dict:
    return json.loads(wta(repo, "status", "--json", check=0, env=env()).stdout)


def stream_of(document: dict, stream: str) -> dict:
    return next(s for s in document["streams"] if s["stream"] == stream)


def on_branch(repo: Path, branch: str) -> list[str]:
    return git(repo, "log", "--format=%s", branch).stdout.splitlines()


def one_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("wta: ") and "Traceback" not in stderr, stderr
    return lines[0]


def session_processes(root: Path) -> list[psutil.Process]:
    """Processes that belong to a session of a repository under `root` (its env says so)."""
    found = []
    for proc in psutil.process_iter(["pid", "environ"]):
        environ = proc.info.get("environ") or {}
        if proc.pid != os.getpid() and environ.get("WTA_WORKTREE", "").startswith(str(root)):
            found.append(proc)
    return found


# -- sessions: the agent, its wrapper, the coordinator -------------------------------------

# Commits once, leaves an in-zone file uncommitted, then waits (the first time only).
WORK_THEN_WAIT = (ZONE_DIR + 'echo one >> $d/one.txt && git add -A && git commit -qm one && echo two >> $d/two.txt && '
                  'touch {tmp}/$WTA_STREAM.ready && if [ ! -f {tmp}/rerun ]; then sleep 60; fi')


@pytest.mark.parametrize("victim", ["agent", "wrapper"])
def test_a_session_killed_with_sigkill_keeps_its_work_and_up_runs_it_again(tmp_path, figures, victim):
    repo = session_repo(tmp_path, zones(agent(WORK_THEN_WAIT.format(tmp=tmp_path)), STREAMS))
    assert up(repo, "-d", "infra").returncode == 0
    wait_for(lambda: (tmp_path / "infra.ready").exists())
    running = wait_state(repo, "infra", "running")
    agent_pid = wait_for(lambda: record(repo, "infra")["agent_pid"])
    before = commits(repo)

    os.kill(agent_pid if victim == "agent" else running["pid"], signal.SIGKILL)

    if victim == "agent":  # the wrapper sees its agent die: it commits the leftovers and records why
        ended = wait_state(repo, "infra", "failed")
        assert (ended["reason"], ended["exit_code"]) == ("killed by signal 9", -9)
        assert ended["leftovers_committed"] == ["infra/two.txt"]
        assert on_branch(repo, "wta/infra")[:2] == ["[infra] wta: commit leftovers of the session", "[infra] one"]
    else:  # nobody is left to record: whoever reads the record notices
        wait_for(lambda: not alive(running["pid"]))
    session = stream_of(status(repo), "infra")["session"]
    assert session["state"] == ("failed" if victim == "agent" else "crashed") and session["pid"] is None
    assert on_branch(repo, "wta/infra")[-2:] == ["[infra] one", "initial"]
    wait_for(lambda: not session_processes(tmp_path), timeout=20, message="the session's processes to end")
    assert_nothing_lost(figures, f"SIGKILL of a session's {victim}", "`wta up STREAM` runs it again", before, repo)

    (tmp_path / "rerun").touch()
    again = up(repo, "infra")
    assert again.returncode == 0, again.stdout + again.stderr
    assert record(repo, "infra")["state"] == "done"
    assert (worktree(repo, "infra") / "infra" / "two.txt").read_text() == "two\ntwo\n"  # both runs' lines
    assert git(worktree(repo, "infra"), "status", "--porcelain").stdout == ""


# infra waits for the gate; api comes after it; ui ends at once. Each commits once.
GATED = ZONE_DIR + 'if [ $WTA_STREAM = infra ]; then while [ ! -f {gate} ]; do sleep 0.05; done; fi; ' \
                   'echo work >> $d/work.txt && git add -A && git commit -qm work'


@pytest.mark.parametrize("coordinator", ["detached", "foreground"])
def test_a_killed_coordinator_is_shown_its_sessions_finish_and_up_resumes_the_rest(tmp_path, figures, coordinator):
    gate = tmp_path / "gate"
    repo = session_repo(tmp_path, zones(agent(GATED.format(gate=gate)), STREAMS))
    foreground = None
    if coordinator == "detached":
        detached = up(repo, "-d")
        assert detached.returncode == 0, detached.stderr
        pid = int(re.search(r"a coordinator \(pid (\d+)\)", detached.stdout).group(1))
    else:
        foreground = subprocess.Popen([sys.executable, "-m", "worktree_agents", "up"], cwd=repo, env=env(),
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        pid = foreground.pid
    infra = wait_state(repo, "infra", "running")
    wait_state(repo, "api", "waiting")
    wait_state(repo, "ui", "done")
    before = commits(repo)

    os.kill(pid, signal.SIGKILL)
    if foreground:
        foreground.wait(timeout=30)
    wait_for(lambda: not alive(pid))

    document = status(repo)
    api = stream_of(document, "api")["session"]
    assert api["state"] == "waiting" and api["reason"].startswith("not started: no coordinator is scheduling it")
    assert stream_of(document, "infra")["session"]["state"] == "running" and alive(infra["pid"])
    assert stream_of(document, "ui")["session"]["state"] == "done"

    resumed = up(repo, "-d")
    assert resumed.returncode == 0, resumed.stderr
    assert "infra: already running; left as it is" in resumed.stdout
    assert "ui: done in the interrupted schedule; left as it is" in resumed.stdout
    assert wait_state(repo, "api", "waiting")["reason"] == "waiting for infra"

    gate.touch()
    wait_state(repo, "infra", "done")
    # land: manual: api starts from a base with infra's work, once a person lands it.
    wait_for(lambda: record(repo, "api")["reason"] == "waiting for infra to land: wta merge infra",
             message="api to wait for infra to land")
    wta(repo, "merge", "infra", check=0)
    wait_state(repo, "api", "done")
    ended = record(repo, "infra")  # the session that outlived its coordinator recorded its own end
    assert (ended["state"], ended["exit_code"], ended["pid"]) == ("done", 0, infra["pid"])
    for stream in ("infra", "api", "ui"):
        assert on_branch(repo, f"wta/{stream}").count(f"[{stream}] work") == 1, stream  # each ran once
    assert_nothing_lost(figures, f"SIGKILL of the {coordinator} coordinator mid-schedule",
                        "`wta up` resumes the rest of the schedule", before, repo)


# -- wta merge ------------------------------------------------------------------------------

def start_merge(repo: Path, *args: str, pause: str | None = None, env: dict[str, str] | None = None) -> subprocess.Popen:
    extra = {"WTA_MERGE_PAUSE_AT": pause} if pause else {}
    return subprocess.Popen([sys.executable, "-m", "worktree_agents", "merge", *args], cwd=repo,
                            env={**os.environ, **extra, **(env or {})}, start_new_session=True, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def kill_group(proc: subprocess.Popen) -> None:
    os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=30)


def pause_at(repo: Path, proc: subprocess.Popen, point: str) -> None:
    step, stream = point.split(":")
    ready = at_step(repo, step, stream)
    wait_for(lambda: ready() or proc.poll() is not None, timeout=60, message=f"the merge to reach {point}")
    assert proc.poll() is None, f"the merge ended (exit {proc.returncode}) before {point}"


@pytest.mark.parametrize("point", ["verify:infra", "verify:ui"])
def test_a_merge_killed_at_verify_is_shown_aborted_and_continued(repo, figures, point):
    before = commits(repo)
    refs = git(repo, "for-each-ref", "refs/heads").stdout
    proc = start_merge(repo, pause=point)
    pause_at(repo, proc, point)
    kill_group(proc)

    merging = status(repo)["merge"]
    assert (merging["status"], merging["stream"], merging["step"]) == ("interrupted", *point.split(":")[::-1])
    assert "`wta merge --continue`" in merging["detail"]
    assert "run `wta merge --continue`" in wta(repo, "status", check=0).stdout
    wta(repo, "merge", "--abort", check=0)
    assert git(repo, "for-each-ref", "refs/heads").stdout == refs and status(repo)["merge"] is None

    proc = start_merge(repo, pause=point)
    pause_at(repo, proc, point)
    kill_group(proc)
    wta(repo, "merge", "--continue", check=0)
    assert subjects(repo)[:5] == MERGED_ORDER
    step, stream = point.split(":")
    assert_nothing_lost(figures, f"SIGKILL of `wta merge` at {step} of {stream}", "`--abort`, then `--continue`",
                        before, repo)


def test_a_killed_merge_continue_can_be_continued_again(repo, figures):
    before = commits(repo)
    first = start_merge(repo, pause="test:api")
    pause_at(repo, first, "test:api")
    kill_group(first)
    second = start_merge(repo, "--continue", pause="fast-forward:ui")
    pause_at(repo, second, "fast-forward:ui")
    kill_group(second)

    merging = status(repo)["merge"]
    assert (merging["status"], merging["stream"], merging["step"]) == ("interrupted", "ui", "fast-forward")
    wta(repo, "merge", "--continue", check=0)
    assert subjects(repo)[:5] == MERGED_ORDER
    assert_contained(repo)
    assert_nothing_lost(figures, "SIGKILL of `wta merge`, then of its `--continue`", "`--continue` again",
                        before, repo)


def block() -> Path:
    flag = Path(os.environ["HOME"]) / "block"
    flag.write_text("")
    return flag


def blocked() -> bool:
    return (Path(os.environ["HOME"]) / "blocked").exists()


MOVED = {"during-rebase": "during a stream's rebase", "during-replay": "during a stream's copy onto the base",
         "during-test": "during a stream's test",
         "after-a-fast-forward": "right after a stream's fast-forward"}


# Where the merge is held while someone commits on the base in the main worktree.
def _hold(point: str, repo: Path) -> dict[str, str]:
    """Arm the hold; the environment the merge needs for it."""
    if point == "during-rebase":            # the first stream's rebase (infra), in its post-checkout hook
        needs_git_rebase(repo)
        return block_in_rebase()
    elif point == "during-replay":          # api's copy, between its worktree's files and its branch
        return block_in_replay()
    elif point == "during-test":            # api's test
        set_test(f'[ "$WTA_STREAM" = api ] || exit 0\n{BLOCK}')
    else:                                   # right after infra's fast-forward of main, before api
        return block_after_fast_forward()
    return {}


@pytest.mark.parametrize("point", ["during-rebase", "during-replay", "during-test", "after-a-fast-forward"])
def test_a_commit_on_the_base_during_a_merge_is_kept(repo, figures, point):
    before = commits(repo)
    extra = _hold(point, repo)
    flag = block()
    proc = start_merge(repo, env=extra)
    wait_for(lambda: blocked() or proc.poll() is not None, timeout=60, message=f"the merge to block {point}")
    assert proc.poll() is None, proc.communicate()
    write_files(repo, {"README.md": "# webapp\n\nfixed by hand\n"})
    hand = commit_all(repo, "fix the readme on main")
    flag.unlink()
    out, err = proc.communicate(timeout=120)

    recovery = "none needed: the merge took the commit in"
    if proc.returncode != 0:  # it stopped, saying why and what to do; the base keeps the commit
        recovery = "the merge stops (`cannot fast-forward main`); `--continue` takes the commit in"
        assert proc.returncode == 1, out + err
        assert "cannot fast-forward main" in err and "`wta merge --continue`" in err, err
        assert git(repo, "merge-base", "--is-ancestor", hand, "main", check=False).returncode == 0
        assert status(repo)["merge"]["status"] == "stopped"
        wta(repo, "merge", "--continue", check=0)
    assert git(repo, "merge-base", "--is-ancestor", hand, "main", check=False).returncode == 0
    assert set(MERGED_ORDER) <= set(subjects(repo)) and "fix the readme on main" in subjects(repo)
    assert_contained(repo)
    assert_nothing_lost(figures, f"a commit on the base {MOVED[point]}", recovery, before, repo)


@pytest.mark.parametrize("second", [("merge",), ("merge", "--continue"), ("merge", "--abort"),
                                    ("up", "--no-launch"), ("down", "ui")], ids=" ".join)
def test_while_a_merge_runs_another_command_is_refused_in_one_line_and_the_merge_finishes(repo, figures, second):
    before = commits(repo)
    set_test(f'[ "$WTA_STREAM" = api ] || exit 0\n{BLOCK}')
    flag = block()
    first = start_merge(repo)
    wait_for(lambda: blocked() or first.poll() is not None, timeout=60, message="the merge to reach api's test")
    assert first.poll() is None, first.communicate()

    other = wta(repo, *second, env={**os.environ, "WTA_LOCK_TIMEOUT": "0.2"})
    assert other.returncode == 1
    line = one_line(other.stderr)
    assert f"`wta merge` (pid {first.pid})" in line and "wait for it to finish" in line
    assert status(repo)["merge"]["status"] == "running"

    flag.unlink()
    out, err = first.communicate(timeout=120)
    assert first.returncode == 0, out + err
    assert subjects(repo)[:5] == MERGED_ORDER and status(repo)["merge"] is None
    assert_nothing_lost(figures, f"`wta {' '.join(second)}` while `wta merge` runs",
                        "none needed: refused in one line naming the merge; the merge finished", before, repo)


# -- a worktree deleted by hand ----------------------------------------------------------

def test_a_worktree_deleted_by_hand_is_shown_recreated_and_pruned_and_its_commits_stay(tmp_path, figures):
    repo = session_repo(tmp_path, zones(agent("true"), STREAMS))
    wta(repo, "up", "--no-launch", check=0, env=env())
    where = worktree(repo, "api")
    write_files(where, {"src/api/users.py": "USERS = []\n"})
    tip = commit_all(where, "users")
    before = commits(repo)
    refs = git(repo, "for-each-ref", "refs/heads").stdout

    shutil.rmtree(where)
    api = stream_of(status(repo), "api")
    assert (api["worktree"], api["worktree_exists"], api["head"], api["ahead"]) == (str(where), False, tip, 1)
    assert "(missing)" in wta(repo, "status", check=0).stdout
    refused = wta(repo, "merge", check=1)
    assert "no worktree has wta/api checked out" in refused.stderr and "wta up api --no-launch" in refused.stderr
    assert git(repo, "for-each-ref", "refs/heads").stdout == refs

    wta(repo, "up", "--no-launch", "api", check=0, env=env())
    assert (where / "src/api/users.py").read_text() == "USERS = []\n"
    assert git(where, "rev-parse", "HEAD").stdout.strip() == tip
    assert stream_of(status(repo), "api")["worktree_exists"] is True

    shutil.rmtree(where)
    done = wta(repo, "down", "api", check=0)
    assert "pruned" in done.stdout and str(where) not in git(repo, "worktree", "list").stdout
    assert git(repo, "rev-parse", "wta/api").stdout.strip() == tip
    assert_nothing_lost(figures, "a stream worktree deleted by hand",
                        "`wta up --no-launch` recreates it, `wta down` prunes it", before, repo)


# -- a full disk under the state dir --------------------------------------------------------

FULL_DISK_ENV = "WTA_TEST_FULL_DISK"   # "tmpfs" or "rlimit": force one way of filling the disk


def _can_mount(tmp_path: Path) -> bool:
    probe = tmp_path / "mount-probe"
    probe.mkdir()
    try:
        if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(probe)],
                          capture_output=True).returncode != 0:
            return False
    except OSError:  # no mount(8)
        return False
    subprocess.run(["umount", str(probe)], check=True)
    return True


class StateDisk:
    """`<common>/wta` on a disk that the test fills and frees.

    As root, a small tmpfs mounted there (writes fail with ENOSPC). Elsewhere
    (CI runs unprivileged), a file size limit on the wta processes
    (RLIMIT_FSIZE: writes fail with EFBIG) — the same failed write, seen by
    the same code.
    """

    SIZE = 1 << 20

    def __init__(self, directory: Path, tmp_path: Path) -> None:
        self.dir = directory
        self.mode = os.environ.get(FULL_DISK_ENV) or ("tmpfs" if _can_mount(tmp_path) else "rlimit")
        self.limit: int | None = None   # rlimit mode: the size limit in force
        if self.mode == "tmpfs":
            kept = directory.with_name("wta.before-mount")
            directory.rename(kept)
            directory.mkdir()
            subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={self.SIZE}", "tmpfs", str(directory)], check=True)
            shutil.copytree(kept, directory, dirs_exist_ok=True)
            shutil.rmtree(kept)
            # bwrap's report of each sandbox start goes here too, and frees its block when the sandbox ends: a
            # merge's `test:` ending after the disk was filled would leave room for the state it then writes.
            (tmp_path / "sandbox-status").mkdir()
            shutil.rmtree(directory / "sandbox", ignore_errors=True)
            (directory / "sandbox").symlink_to(tmp_path / "sandbox-status")

    def fill(self, leave: int = 0, pid: int | None = None) -> None:
        """Leave `leave` bytes free (tmpfs), or limit the size of any file written (rlimit; a
        running process `pid` too)."""
        if self.mode == "tmpfs":
            fd = os.open(self.dir / "filler", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            try:
                while True:
                    os.write(fd, b"\0" * 4096)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
            finally:
                os.close(fd)
            if leave:
                os.truncate(self.dir / "filler", os.path.getsize(self.dir / "filler") - leave)
            return
        self.limit = leave
        if pid is not None:
            psutil.Process(pid).rlimit(psutil.RLIMIT_FSIZE, (leave, leave))

    def free(self) -> None:
        if self.mode == "tmpfs":
            (self.dir / "filler").unlink()
        self.limit = None

    def preexec(self):
        limit = self.limit
        if limit is None:
            return None
        return lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    def wta(self, cwd: Path, *args: str, **kwargs) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "worktree_agents", *args], cwd=cwd, env=env(), text=True,
                              capture_output=True, timeout=120, preexec_fn=self.preexec(), **kwargs)

    def files(self) -> dict[str, bytes]:
        """The state files (not the filler, not the lock that a command holds only while it runs)."""
        return {str(p.relative_to(self.dir)): p.read_bytes() for p in sorted(self.dir.rglob("*"))
                if p.is_file() and p.name not in ("filler", "lock")}

    def close(self) -> None:
        if self.mode == "tmpfs":
            subprocess.run(["umount", "-l", str(self.dir)], check=False)


@pytest.fixture
def disk_repo(tmp_path):
    """A repository with three prepared streams (api has a commit) and its state dir on a fillable disk."""
    repo = session_repo(tmp_path, zones(agent(ZONE_DIR + "echo work >> $d/work.txt && git add -A && "
                                              "git commit -qm work"), STREAMS))
    wta(repo, "up", "--no-launch", check=0, env=env())
    write_files(worktree(repo, "api"), {"src/api/users.py": "USERS = []\n"})
    commit_all(worktree(repo, "api"), "users")
    disk = StateDisk(state_dir(repo), tmp_path)
    yield repo, disk
    kill_everything(repo)  # before the disk goes
    disk.close()


FULL_DISK_COMMANDS = {
    "up": ("up", "--no-launch"),
    "up-launch": ("up", "-d", "ui"),
    "request": ("request", "api", "add a users route"),
    "merge": ("merge", "--no-test"),
    "down": ("down", "infra"),
}


@pytest.mark.parametrize("command", list(FULL_DISK_COMMANDS))
def test_on_a_full_state_disk_a_command_fails_in_one_line_changes_nothing_and_works_once_freed(
        disk_repo, figures, command):
    repo, disk = disk_repo
    args = FULL_DISK_COMMANDS[command]
    before = commits(repo)
    refs, trees, files = (git(repo, "for-each-ref").stdout, git(repo, "worktree", "list", "--porcelain").stdout,
                          disk.files())
    disk.fill()

    failed = disk.wta(repo, *args)

    assert failed.returncode == 1
    line = one_line(failed.stderr)
    assert line.startswith(f"wta: cannot write {state_dir(repo)}/") and "free some space" in line
    assert (git(repo, "for-each-ref").stdout, git(repo, "worktree", "list", "--porcelain").stdout) == (refs, trees)
    assert disk.files() == files  # nothing written, nothing half-written, no temporary file left
    assert json.loads((state_dir(repo) / "state.json").read_text())["streams"].keys() == {"infra", "api", "ui"}
    assert wta(repo, "status", "--json", check=0, env=env()).returncode == 0
    assert_nothing_lost(figures, f"full state disk: `wta {' '.join(args)}`", "free space, run it again",
                        before, repo)

    disk.free()
    again = disk.wta(repo, *args)
    assert again.returncode == 0, again.stdout + again.stderr


def git_limited(disk: StateDisk, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=cwd, text=True, capture_output=True, timeout=60,
                          preexec_fn=disk.preexec())


def test_on_a_full_state_disk_commits_are_still_checked_and_made(disk_repo, figures):
    repo, disk = disk_repo
    # New zones on main: the hooks must compile them again and cannot cache them. Many patterns make
    # the cache far larger than anything git writes for a commit (for the file size limit).
    docs = ", ".join(f"docs/part{i:02d}/**" for i in range(80))
    (repo / "zones.yaml").write_text(zones(agent("true"), STREAMS + f"  docs:\n    paths: [{docs}]\n"))
    commit_all(repo, "a docs stream")
    cache = (state_dir(repo) / "zones.cache").read_bytes()
    before = commits(repo)
    disk.fill(leave=4096)
    where = worktree(repo, "api")

    write_files(where, {"src/api/orders.py": "ORDERS = []\n", "docs/part07/api.md": "# api\n"})
    git(where, "add", "-A")
    refused = git_limited(disk, where, "commit", "-q", "-m", "orders and docs")
    assert refused.returncode == 1
    assert "docs/part07/api.md: owned by stream 'docs'" in refused.stderr and "cannot write" not in refused.stderr
    git(where, "rm", "-q", "--cached", "docs/part07/api.md")
    made = git_limited(disk, where, "commit", "-q", "-m", "orders")
    assert made.returncode == 0, made.stderr
    assert on_branch(repo, "wta/api")[0] == "[api] orders"
    assert (state_dir(repo) / "zones.cache").read_bytes() == cache  # not written: the zones were compiled anyway
    assert_nothing_lost(figures, "full state disk: commits in a stream worktree", "none needed: the hooks "
                        "check without their cache", before, repo)


def test_a_session_that_fills_the_state_disk_ends_and_keeps_its_work(disk_repo, tmp_path, figures):
    repo, disk = disk_repo
    loud = tmp_path / "loud"
    loud.touch()
    # 600 KB of output the first time: more than the disk holds (tmpfs), or than a file may grow (rlimit).
    command = (f'if [ -f {loud} ]; then yes "a line of the agent talking" | head -c 600000; fi; '
               + ZONE_DIR + 'echo work >> $d/work.txt && git add -A && git commit -qm work')
    (repo / "zones.yaml").write_text(zones(agent(command), STREAMS))
    commit_all(repo, "a talkative agent")
    before = commits(repo)
    disk.fill(leave=256 << 10)

    launched = disk.wta(repo, "up", "-d", "ui")
    assert launched.returncode == 0, launched.stderr
    wrapper = wait_state(repo, "ui", "running", "done")["pid"]
    # It must not hang on its full pipe until the timeout (120 s): its output is dropped, not waited on.
    wait_for(lambda: not alive(wrapper), timeout=30, message="the session to end")

    session = stream_of(status(repo), "ui")["session"]
    assert session["state"] in ("done", "crashed") and session["pid"] is None, session  # never "running"
    assert on_branch(repo, "wta/ui")[0] == "[ui] work"
    assert_nothing_lost(figures, "full state disk during a session", "free space, `wta up STREAM`", before, repo)

    disk.free()
    (state_dir(repo) / "logs" / "ui.log").write_bytes(b"")
    loud.unlink()
    again = up(repo, "ui")
    assert again.returncode == 0, again.stdout + again.stderr
    assert record(repo, "ui")["state"] == "done" and on_branch(repo, "wta/ui")[:2] == ["[ui] work", "[ui] work"]


def test_a_merge_that_meets_a_full_state_disk_stops_in_one_line_and_continues(disk_repo, figures):
    repo, disk = disk_repo
    write_files(worktree(repo, "ui"), {"src/ui/nav.html": "<nav/>\n"})
    commit_all(worktree(repo, "ui"), "nav")
    (repo / "zones.yaml").write_text(zones(agent("true"), STREAMS, extra=(
        'test: \'if [ "$WTA_STREAM" = ui ]; then sh "$HOME/hold.sh"; fi\'\n')))
    commit_all(repo, "a test command")
    (Path(os.environ["HOME"]) / "hold.sh").write_text(BLOCK)
    before = commits(repo)
    flag = block()
    merge = subprocess.Popen([sys.executable, "-m", "worktree_agents", "merge"], cwd=repo, env=env(), text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    wait_for(lambda: blocked() or merge.poll() is not None, timeout=60, message="the merge to reach ui's test")
    assert merge.poll() is None, merge.communicate()
    disk.fill(pid=merge.pid)
    flag.unlink()
    out, err = merge.communicate(timeout=120)

    assert merge.returncode == 1, out + err
    assert one_line(err).startswith(f"wta: cannot write {state_dir(repo)}/merge.json")
    merging = status(repo)["merge"]
    assert (merging["status"], merging["stream"], merging["step"]) == ("interrupted", "ui", "test")
    assert on_branch(repo, "main")[0] == "[api] users"  # api was merged; ui not yet

    disk.free()
    wta(repo, "merge", "--continue", check=0, env=env())
    assert on_branch(repo, "main")[:2] == ["[ui] nav", "[api] users"] and status(repo)["merge"] is None
    assert_nothing_lost(figures, "full state disk during a merge", "free space, `wta merge --continue`",
                        before, repo)
