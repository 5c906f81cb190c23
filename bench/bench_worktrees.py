"""Whole-process timings of `wta up --no-launch` and `wta status --json`.

    python bench/bench_worktrees.py [--files 20000 --streams 20 --up-streams 8 --repeat 5
                                     --status-repeat 15 --out DIR --json FILE]

One synthetic repository (`--files` tracked files over `--streams` stream
zones, zones.yaml committed on main, no `copy:` or `setup:`) in three copies:

  wta up            `wta up --no-launch s00 ... s07` (`--up-streams` streams, named)
  git worktree add  `for s: git worktree add -q -b wta/<s> ../repo-worktrees/<s> main`
  wta up (sparse)   the same `wta up`, in a copy where a second commit adds `sparse: true`

Before each timed run its copy is reset, untimed: the stream worktrees deleted
and pruned, the `wta/` branches deleted, wta's state directory and hooks
removed (so every `wta up` is a first one, as on a fresh clone), then
`sync`, so that one run's writes are not flushed during the next. Rounds
rotate the order of the three.

Then `wta status --json` on the first copy with the streams `wta up` made:
each stream has three commits in its zone (made through wta's hooks) and one
modified and one untracked file; main has one commit more, which conflicts
with the first stream, so each stream costs its four git calls (ahead/behind,
status, the zone audit's log, merge-tree). The worktrees' indexes are then
refreshed by one plain `git status` each, after the clock has moved on a
second, as the agent's own git commands do (see docs/performance.md for the
state straight after `wta up`). Timed in the same rounds, for scale: the
same `git status` of every worktree in a loop, `wta --help` (start-up with the
CLI), `python -c pass`, and `wta status --json` on the `git worktree add` copy,
whose fresh indexes no git command has refreshed yet.

Targets (issue "Worktrees"): wta up ≤ 1.15 × the git loop, sparse ≤ 0.1 × full,
`wta status --json` ≤ 300 ms, all in wall-clock medians. The CPU time of each
process tree is shown too: it moves much less with other load on the machine.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (PYTHON, Case, bench_env, build_repo, git, machine, measure, ratio, run,  # noqa: E402
                    scratch_dir, stream_names, table, write_files, write_json)

# The targets of the issue "Worktrees".
MAX_UP_VS_GIT = 1.15
MAX_SPARSE_VS_FULL = 0.1
MAX_STATUS_MS = 300.0

COMMITS_PER_STREAM = 3
WTA = [PYTHON, "-m", "worktree_agents"]


class Copy:
    """One copy of the repository, with the streams' worktrees in `<repo>-worktrees/`."""

    def __init__(self, path: Path, env: dict[str, str], streams: list[str]) -> None:
        self.path, self.env, self.streams = path, env, streams
        self.worktrees = path.parent / f"{path.name}-worktrees"
        self.hooks = path / ".git" / "hooks"
        self.pristine_hooks = set(os.listdir(self.hooks))

    def worktree(self, stream: str) -> Path:
        return self.worktrees / stream

    def reset(self) -> None:
        """Back to the freshly built repository: no stream worktree, branch, wta state or wta hook."""
        shutil.rmtree(self.worktrees, ignore_errors=True)
        git(self.path, self.env, "worktree", "prune")
        branches = git(self.path, self.env, "for-each-ref", "--format=%(refname:short)", "refs/heads/wta/")
        if branches:
            git(self.path, self.env, "branch", "-q", "-D", *branches.split())
        shutil.rmtree(self.path / ".git" / "wta", ignore_errors=True)
        for name in set(os.listdir(self.hooks)) - self.pristine_hooks:
            (self.hooks / name).unlink()
        os.sync()

    def check_prepared(self, sparse: bool) -> int:
        """Every stream's worktree is registered on its branch; returns the files checked out in the first."""
        listing = git(self.path, self.env, "worktree", "list", "--porcelain")
        for s in self.streams:
            if f"worktree {self.worktree(s)}\n" not in listing + "\n" or f"branch refs/heads/wta/{s}" not in listing:
                raise SystemExit(f"bench: {self.path}: no worktree for {s} on wta/{s}:\n{listing}")
        first = self.worktree(self.streams[0])
        files = sum(len(names) for top, _, names in os.walk(first) if ".git" not in Path(top).parts) - 1  # .git
        tracked = git(first, self.env, "ls-files").count("\n") + 1
        if sparse != (files < tracked):
            raise SystemExit(f"bench: {first}: {files} of {tracked} files checked out, sparse={sparse}")
        return files


def up_cases(full: Copy, bare: Copy, sparse: Copy) -> list[Case]:
    loop = " && ".join(f'git worktree add -q -b wta/{s} "{bare.worktree(s)}" main' for s in bare.streams)
    return [
        Case("wta up", [*WTA, "up", "--no-launch", *full.streams], full.path, full.env, prepare=full.reset),
        Case("git worktree add", ["sh", "-c", loop], bare.path, bare.env, prepare=bare.reset),
        Case("wta up (sparse)", [*WTA, "up", "--no-launch", *sparse.streams], sparse.path, sparse.env,
             prepare=sparse.reset),
    ]


def prepare_status(full: Copy, owned: dict[str, list[str]]) -> None:
    """Commits on every stream and on main, uncommitted work, then indexes refreshed as git's users do."""
    env = full.env
    for s in full.streams:
        worktree = full.worktree(s)
        for i in range(COMMITS_PER_STREAM):
            write_files(worktree, [owned[s][2 + i]], version=i + 1)
            git(worktree, env, "commit", "-q", "-a", "-m", f"change {i + 1}")
        write_files(worktree, [owned[s][2 + COMMITS_PER_STREAM]], version=9)
        write_files(worktree, [f"{s}/src/scratch.py"])
    first = full.streams[0]
    write_files(full.path, [owned[first][2]], version=7)   # the file the first stream changed first
    git(full.path, env, "commit", "-q", "-a", "-m", "main moves on")
    # A file written in the same second as the index that lists it is "racily clean":
    # git re-reads it on every status until an index written later refreshes it.
    time.sleep(1.1)
    for s in full.streams:
        git(full.worktree(s), env, "status", "--porcelain")


def status_cases(full: Copy, bare: Copy) -> list[Case]:
    loop = "; ".join(f'git -C "{full.worktree(s)}" --no-optional-locks status --porcelain=v2 -z '
                     f'--untracked-files=all >/dev/null' for s in full.streams)
    return [
        Case("wta status --json", [*WTA, "status", "--json"], full.path, full.env),
        Case("git status, each worktree", ["sh", "-c", loop], full.path, full.env),
        Case("wta --help", [*WTA, "--help"], full.path, full.env),
        Case("python -c pass", [PYTHON, "-c", "pass"], full.path, full.env),
        Case("wta status --json, fresh indexes", [*WTA, "status", "--json"], bare.path, bare.env),
    ]


def check_status(full: Copy) -> None:
    """The timed status saw what was prepared: commits ahead, dirty files, the one conflict."""
    import json

    report = json.loads(run([*WTA, "status", "--json"], full.path, full.env).stdout)
    got = {s["stream"]: s for s in report["streams"]}
    for i, name in enumerate(full.streams):
        s = got[name]
        want = (COMMITS_PER_STREAM, 1, 2, i == 0)
        if (s["ahead"], s["behind"], s["dirty"], s["conflicts"]) != want:
            raise SystemExit(f"bench: status of {name}: ahead {s['ahead']}, behind {s['behind']}, "
                             f"dirty {s['dirty']}, conflicts {s['conflicts']}; expected {want}")


def row(s) -> list[object]:
    return [s.name, f"{s.ms:.0f}", s.spread(), f"{s.cpu_ms:.0f}"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=20_000, help="tracked files in the repository")
    parser.add_argument("--streams", type=int, default=20, help="streams in zones.yaml")
    parser.add_argument("--up-streams", type=int, default=8, help="streams prepared (named on the command line)")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs of each `wta up` configuration (median)")
    parser.add_argument("--status-repeat", type=int, default=15, help="timed runs of each status case (median)")
    parser.add_argument("--out", help="scratch directory (default bench/out/worktrees; emptied first)")
    parser.add_argument("--json", help="also write the figures to this JSON file")
    args = parser.parse_args(argv)
    if not 1 <= args.up_streams <= args.streams:
        parser.error(f"--up-streams must be between 1 and --streams ({args.streams})")

    scratch = scratch_dir(args.out, "worktrees")
    env = bench_env(scratch)
    result: dict = {"machine": machine(), "files": args.files, "streams": args.streams,
                    "up_streams": args.up_streams, "repeat": args.repeat, "status_repeat": args.status_repeat}
    print(f"building {args.files} files, {args.streams} streams ...", flush=True)
    repo = build_repo(scratch / "full" / "repo", env, files=args.files, streams=args.streams)
    for name in ("git", "sparse"):
        shutil.copytree(repo.path, scratch / name / "repo", symlinks=True)
    zones = scratch / "sparse" / "repo" / "zones.yaml"
    zones.write_text(zones.read_text() + "sparse: true\n")
    git(zones.parent, env, "commit", "-q", "-a", "-m", "sparse worktrees")
    chosen = stream_names(args.streams)[:args.up_streams]
    full, bare, sparse = (Copy(scratch / name / "repo", env, chosen) for name in ("full", "git", "sparse"))

    print(f"wta up --no-launch of {len(chosen)} streams vs git worktree add, {args.repeat} runs each ...",
          flush=True)
    up = measure(up_cases(full, bare, sparse), args.repeat)
    full.check_prepared(sparse=False)
    bare.check_prepared(sparse=False)
    sparse_files = sparse.check_prepared(sparse=True)

    print(f"wta status --json, {args.status_repeat} runs each ...", flush=True)
    prepare_status(full, repo.owned)
    check_status(full)
    status = measure(status_cases(full, bare), args.status_repeat)
    result["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]

    up_ratio = ratio(up["wta up"].median, up["git worktree add"].median)
    sparse_ratio = ratio(up["wta up (sparse)"].median, up["wta up"].median)
    status_ms = status["wta status --json"].ms
    result.update({
        "up_ms": {n: round(s.ms) for n, s in up.items()},
        "up_cpu_ms": {n: round(s.cpu_ms) for n, s in up.items()},
        "status_ms": {n: round(s.ms) for n, s in status.items()},
        "status_cpu_ms": {n: round(s.cpu_ms) for n, s in status.items()},
        "spread_ms": {n: s.spread() for n, s in [*up.items(), *status.items()]},
        "sparse_files_checked_out": sparse_files,
        "targets": [
            {"target": f"wta up ≤ {MAX_UP_VS_GIT}× git worktree add loop", "figure": f"{up_ratio:.2f}×",
             "cpu": f"{ratio(up['wta up'].cpu_ms, up['git worktree add'].cpu_ms):.2f}×",
             "met": up_ratio <= MAX_UP_VS_GIT},
            {"target": f"sparse ≤ {MAX_SPARSE_VS_FULL}× full", "figure": f"{sparse_ratio:.3f}×",
             "cpu": f"{ratio(up['wta up (sparse)'].cpu_ms, up['wta up'].cpu_ms):.3f}×",
             "met": sparse_ratio <= MAX_SPARSE_VS_FULL},
            {"target": f"wta status --json ≤ {MAX_STATUS_MS:.0f} ms", "figure": f"{status_ms:.0f} ms",
             "cpu": f"{status['wta status --json'].cpu_ms:.0f} ms", "met": status_ms <= MAX_STATUS_MS},
        ],
    })

    print(f"\nwta up --no-launch, {len(chosen)} streams ({args.files} files each, "
          f"{sparse_files} in a sparse worktree):")
    print(table(["case", "wall median ms", "min-max ms", "cpu median ms"], [row(s) for s in up.values()]))
    print(f"\nstatus of {len(chosen)} streams ({args.streams} in zones.yaml):")
    print(table(["case", "wall median ms", "min-max ms", "cpu median ms"], [row(s) for s in status.values()]))
    print()
    for check in result["targets"]:
        print(f"{'met    ' if check['met'] else 'NOT met'}  {check['target']}: {check['figure']} wall "
              f"({check['cpu']} cpu)")
    m = result["machine"]
    print(f"machine: {m['cpus']} cpus, {m['platform']}, python {m['python']}, git {m['git']}; "
          f"load {m['loadavg']} before, {result['loadavg_after']} after")
    if args.json:
        write_json(args.json, result)
    return 0 if all(c["met"] for c in result["targets"]) else 1


if __name__ == "__main__":
    sys.exit(main())
