"""Whole-process timing of `wta merge --no-test` against a bare rebase loop.

    python bench/bench_merge.py [--streams 8 --commits 50 --repeat 5 --out DIR --json FILE]

Two identical repositories are built (same commits, same ids): `--streams`
streams, each with `--commits` commits in its own directory on `wta/<stream>`,
checked out in its own worktree, `main` checked out in the main worktree. Then,
start to exit, on a fresh copy each time:

  wta   `wta merge --no-test` (verify, back up, rebase, fast-forward, state, report)
  bare  `for s: git -C <worktree> rebase main && git -C <main> merge --ff-only wta/<s>`

Both end with the same `main`: every stream rebased onto the ones before it.
Rounds rotate the order of the two. Target (issue "Merge"): wta ≤ 1.2 × bare,
in wall-clock time. The CPU time of each process tree (user + system) is shown
too: on a shared machine it moves much less with the load than wall time does.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (PYTHON, Case, bench_env, git, measure, report_against_floor, scratch_dir,  # noqa: E402
                    stream_names)

MAX_RATIO = 1.2
DATE = "1700000000 +0000"   # fixed commit dates: both repositories get the same commit ids


def zones_yaml(streams: list[str]) -> str:
    body = "".join(f"  {s}:\n    paths: [{s}/**]\n" for s in streams)
    return f"version: 1\nbase: main\nagent: {{runner: manual}}\nstreams:\n{body}"


def fast_import(streams: list[str], commits: int) -> str:
    """main's first commit, then each stream's commits on its branch, as `git fast-import` input."""
    def blob(text: str) -> str:
        data = text.encode()
        return f"data {len(data)}\n{text}\n"

    def commit(ref: str, message: str, parent: str | None, files: dict[str, str], mark: int) -> str:
        lines = [f"commit {ref}", f"mark :{mark}", f"author Bench <bench@example.com> {DATE}",
                 f"committer Bench <bench@example.com> {DATE}", blob(message).rstrip("\n")]
        if parent:
            lines.append(f"from {parent}")
        lines += [f"M 100644 inline {path}\n{blob(text).rstrip(chr(10))}" for path, text in files.items()]
        return "\n".join(lines) + "\n\n"

    out = [commit("refs/heads/main", "initial", None,
                  {"zones.yaml": zones_yaml(streams), "README.md": "# bench\n"}, 1)]
    mark = 1
    for s in streams:
        parent = ":1"
        for i in range(commits):
            mark += 1
            files = {f"{s}/mod{i % 5}/file{i:03d}.txt": f"{s} {i}\n", f"{s}/CHANGES": f"{s} up to {i}\n"}
            out.append(commit(f"refs/heads/wta/{s}", f"[{s}] change {i}", parent, files, mark))
            parent = f":{mark}"
    return "".join(out)


def build(path: Path, env: dict[str, str], streams: list[str], script: str) -> None:
    """The repository at `path`, each stream's worktree in `<path>-worktrees/<stream>`."""
    for leftover in (path, path.parent / f"{path.name}-worktrees"):
        shutil.rmtree(leftover, ignore_errors=True)
    path.mkdir(parents=True)
    git(path, env, "init", "-q", "-b", "main")
    git(path, env, "fast-import", "--quiet", input=script)
    git(path, env, "checkout", "-q", "-f", "main")
    for s in streams:
        git(path, env, "worktree", "add", "-q", str(path.parent / f"{path.name}-worktrees" / s), f"wta/{s}")


def bare_loop(path: Path, streams: list[str]) -> str:
    steps = [f'git -C "{path}-worktrees/{s}" rebase -q main && git -C "{path}" merge -q --ff-only wta/{s}'
             for s in streams]
    return " && ".join(steps)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--streams", type=int, default=8, help="streams, each in its own directory")
    parser.add_argument("--commits", type=int, default=50, help="commits per stream")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per configuration (median)")
    parser.add_argument("--out", help="scratch directory (default bench/out/merge; emptied first)")
    parser.add_argument("--json", help="also write the figures to this JSON file")
    args = parser.parse_args(argv)

    scratch = scratch_dir(args.out, "merge")
    env = bench_env(scratch)
    streams = stream_names(args.streams)
    script = fast_import(streams, args.commits)
    wta_repo, bare_repo = scratch / "wta" / "repo", scratch / "bare" / "repo"
    cases = [
        Case("wta", [PYTHON, "-m", "worktree_agents", "merge", "--no-test"], wta_repo, env,
             prepare=lambda: build(wta_repo, env, streams, script)),
        Case("bare", ["sh", "-c", bare_loop(bare_repo, streams)], bare_repo, env,
             prepare=lambda: build(bare_repo, env, streams, script)),
    ]
    print(f"{args.streams} streams x {args.commits} commits, {args.repeat} runs each ...", flush=True)
    samples = measure(cases, args.repeat)
    wta_main, bare_main = (git(r, env, "rev-parse", "main^{tree}") for r in (wta_repo, bare_repo))
    if wta_main != bare_main:
        raise SystemExit(f"bench: wta and the bare loop ended with different trees on main "
                         f"({wta_main} vs {bare_main})")
    count = int(git(wta_repo, env, "rev-list", "--count", "main"))
    return report_against_floor(samples, args, MAX_RATIO, count)


if __name__ == "__main__":
    sys.exit(main())
