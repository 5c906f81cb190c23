"""Load: many `command` sessions committing at once through the real hooks, then one
`wta merge --no-test` of them all; every commit must reach the base.

Each stream `sNN` owns `sNN/**`; its session is a shell script that makes its
commits one after another (`git add -A && git commit`, the pre-commit and
commit-msg hooks running each time) while every other session does the same.
The phases are timed as a user waits for them — `wta up --no-launch` (the
worktrees), `wta up` (the sessions, until the last ends), `wta merge --no-test
--json`, `wta status --json` — and the process tree of each is sampled for
memory. Every session gets an API key (test_secrets.py searches for it after
the run) and prints it, so the log's redaction is exercised too.

The full size (32 streams x 50 commits) is marked slow; a CI size (4 x 10)
runs with the default suite.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import pytest

from support import git, make_repo
from hardening.test_secrets import new_key, search_for_key

SAMPLE_EVERY = 0.1   # seconds between memory samples
MIB = 1 << 20

AGENT = """#!/bin/sh
# A busy agent: it talks (its key included: the log must redact it), then commits in its zone.
set -e
echo "$WTA_STREAM: starting with ANTHROPIC_API_KEY=$ANTHROPIC_API_KEY"
env | grep '^ANTHROPIC' || true
mkdir -p "$WTA_STREAM"
i=1
while [ "$i" -le {commits} ]; do
  echo "change $i" >> "$WTA_STREAM/work.txt"
  echo "$i" > "$WTA_STREAM/file-$i.txt"
  git add -A
  git commit -q -m "step $i"
  i=$((i + 1))
done
echo "$WTA_STREAM: made {commits} commits"
"""


def load_zones(names: list[str], script: Path, max_parallel: int) -> str:
    streams = "".join(f"  {name}:\n    paths: [{name}/**]\n" for name in names)
    return (f"version: 1\nmax_parallel: {max_parallel}\nagent:\n  runner: command\n  timeout: 1h\n"
            f"  command: {json.dumps(f'sh {script}')}\nstreams:\n{streams}")


@dataclass
class Sampler:
    """Samples a process tree until its root ends: peak resident memory of the root, of wta's
    own processes (anything running `worktree_agents`: the command, coordinator, session
    wrappers, hooks) summed, and of the whole tree; and every command line seen."""

    pid: int
    root_peak: int = 0
    wta_peak: int = 0
    tree_peak: int = 0
    wrapper_peak: int = 0       # the largest session wrapper
    processes_peak: int = 0
    command_lines: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                root = psutil.Process(self.pid)
                procs = [root, *root.children(recursive=True)]
            except psutil.Error:
                return
            tree = wta = 0
            for proc in procs:
                try:
                    rss, argv = proc.memory_info().rss, " ".join(proc.cmdline())
                except psutil.Error:
                    continue
                tree += rss
                wta += rss if "worktree_agents" in argv else 0
                if "worktree_agents.sessions.wrapper" in argv or "worktree_agents.sessions.spawner" in argv:
                    # (A forked wrapper keeps its spawner's command line: sessions/spawner.py.)
                    self.wrapper_peak = max(self.wrapper_peak, rss)
                if proc.pid == self.pid:
                    self.root_peak = max(self.root_peak, rss)
                self.command_lines.add(argv)
            self.wta_peak, self.tree_peak = max(self.wta_peak, wta), max(self.tree_peak, tree)
            self.processes_peak = max(self.processes_peak, len(procs))
            self._stop.wait(SAMPLE_EVERY)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


@dataclass
class Phase:
    out: str
    err: str
    code: int
    seconds: float
    sampler: Sampler

    def memory(self) -> dict[str, float]:
        s = self.sampler
        return {"peak_rss_mib": round(s.root_peak / MIB, 1), "wta_peak_rss_mib": round(s.wta_peak / MIB, 1),
                "tree_peak_rss_mib": round(s.tree_peak / MIB, 1),
                "wrapper_peak_rss_mib": round(s.wrapper_peak / MIB, 1), "processes_peak": s.processes_peak}


def phase(repo: Path, env: dict[str, str], *args: str, timeout: float) -> Phase:
    """Run `wta ARGS` to its end, timed, its process tree sampled."""
    started = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "worktree_agents", *args], cwd=repo, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    sampler = Sampler(proc.pid)
    try:
        out, err = proc.communicate(timeout=timeout)
    finally:
        proc.kill()
        sampler.stop()
    return Phase(out, err, proc.returncode, round(time.monotonic() - started, 2), sampler)


def run_load(tmp_path: Path, figures, streams: int, commits: int, max_parallel: int, timeout: float) -> None:
    names = [f"s{i:02d}" for i in range(streams)]
    script = tmp_path / "agent.sh"
    script.write_text(AGENT.format(commits=commits))
    repo = make_repo(tmp_path / "repo", load_zones(names, script, max_parallel), {"README.md": "# load\n"})
    key = new_key()
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("ANTHROPIC_")}, "ANTHROPIC_API_KEY": key}

    prepared = phase(repo, env, "up", "--no-launch", timeout=timeout)
    assert prepared.code == 0, prepared.err
    sessions = phase(repo, env, "up", timeout=timeout)
    assert sessions.code == 0, sessions.out[-3000:] + sessions.err
    records = {n: json.loads((repo / ".git/wta/sessions" / f"{n}.json").read_text()) for n in names}
    assert {n: r["state"] for n, r in records.items()} == {n: "done" for n in names}
    before = set(git(repo, "rev-list", "--all").stdout.split())
    made = [subject for n in names for subject in
            git(repo, "log", "--format=%s", f"main..wta/{n}").stdout.splitlines()]

    merged = phase(repo, env, "merge", "--no-test", "--json", timeout=timeout)
    assert merged.code == 0, merged.out[-3000:] + merged.err
    report = json.loads(merged.out)
    looked = phase(repo, env, "status", "--json", timeout=timeout)
    assert looked.code == 0, looked.err

    on_main = git(repo, "log", "--format=%s", "main").stdout.splitlines()
    expected = {f"[{n}] step {i}" for n in names for i in range(1, commits + 1)}
    missing = expected - set(on_main)
    lost = before - set(git(repo, "rev-list", "--all").stdout.split())
    search = search_for_key(key, [tmp_path, Path(os.environ["HOME"])], repo,
                            outputs={"wta up --no-launch": prepared.out + prepared.err,
                                     "wta up": sessions.out + sessions.err,
                                     "wta merge --no-test --json": merged.out + merged.err,
                                     "wta status --json": looked.out + looked.err},
                            command_lines=sorted(set().union(*(p.sampler.command_lines for p in
                                                               (prepared, sessions, merged, looked)))))
    figures.load(
        streams=streams, commits_per_stream=commits, max_parallel=max_parallel, cpus=os.cpu_count(),
        commits_made=len(made), commits_in_base=len(expected) - len(missing),
        commits_lost=len(missing) + len(lost),
        base_commits_total=len(on_main),
        prepare_seconds=prepared.seconds, sessions_seconds=sessions.seconds, merge_seconds=merged.seconds,
        status_seconds=looked.seconds,
        commits_per_second=round(len(expected) / sessions.seconds, 1),
        prepare_memory=prepared.memory(), sessions_memory=sessions.memory(), merge_memory=merged.memory(),
        status_memory=looked.memory())
    figures.secrets(found=len(search.found), files=search.files, bytes_searched=search.bytes,
                    objects=search.objects)

    assert sorted(made) == sorted(expected)  # each session made its commits, each once
    assert not missing, f"{len(missing)} commit(s) not in the base, e.g. {sorted(missing)[:5]}"
    assert not lost, f"{len(lost)} commit(s) no longer reachable"
    assert report["status"] == "merged" and [s["result"] for s in report["streams"]] == ["merged"] * streams
    assert sum(s["commits"] for s in report["streams"]) == len(expected)
    assert search.found == [], f"the API key was written: {search.found[:10]}"
    assert "[redacted]" in (repo / ".git/wta/logs" / f"{names[0]}.log").read_text()  # it was printed, and hidden


def test_four_streams_of_ten_commits_all_reach_the_base(tmp_path, figures):
    run_load(tmp_path, figures, streams=4, commits=10, max_parallel=4, timeout=240)


@pytest.mark.slow
@pytest.mark.timeout(5400)
def test_thirty_two_streams_of_fifty_commits_all_reach_the_base(tmp_path, figures):
    run_load(tmp_path, figures, streams=32, commits=50, max_parallel=32, timeout=3600)
