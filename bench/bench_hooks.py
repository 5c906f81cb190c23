"""Whole-process timings of a commit with wta's hooks, against two baselines.

    python bench/bench_hooks.py [--files 20000 --streams 20 --staged 1000 --big 20000 --repeat 7
                                 --zones realistic|plain --out DIR --json FILE]

In a synthetic repository (`--files` tracked files over `--streams` stream
zones, zones.yaml committed on main) a stream worktree is made as a user
would (`git worktree add` + `wta hooks install --stream s03`). Then the same
`git commit` of `--staged` in-zone files is timed, start to exit, with

  wta         wta's pre-commit and commit-msg hooks
  empty       `#!/bin/sh` pre-commit and commit-msg hooks (git's own cost)
  pre-commit  the pre-commit framework running one no-op local hook
  listing     a `#!/bin/sh` pre-commit hook that only lists the staged changes
              with the `git diff` wta runs (and an empty commit-msg hook): the
              floor for any hook that looks at every staged path

Each configuration lives in its own hooks directory (wta's where the stream
worktree's own core.hooksPath points, the others chosen with `git -c
core.hooksPath=DIR commit`), so all four commit the same tree onto the same parent; before each
timed commit the branch is reset and the same files re-staged, outside the
timing. Rounds rotate the order of the configurations. Then the same again
with `--big` staged files: that repository has the same size, but the
benchmarked stream's zone holds all its files (the other streams keep their
patterns, which still run against every path, and own none).

`--zones realistic` (the default): stream sNN owns `sNN/**` except
`!sNN/generated/**`, `/config/sNN.toml` and `docs/sNN/*.md`, with
`**/generated/**` read-only; each zone's own `!` leaves no directory any
stream's alone, so every commit goes through wta's Python check. `--zones plain`: `sNN/**`,
`/config/sNN.toml`, `/docs/sNN/`, `vendor/**` read-only, and the staged files
all below `sNN/`: the hook's shell decides such a commit without Python
(docs/zones.md, "Most commits start no Python").

Also timed: the Claude Code guard (`python -m worktree_agents.hooks.runtime guard` with
one PreToolUse event on stdin), and `python -c pass` for scale.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import stat
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (PYTHON, Case, build_repo, bench_env, changed_paths, git, machine,  # noqa: E402
                    measure, ratio, run, scratch_dir, table, wta, write_files, write_json)
from worktree_agents.git import staged_diff  # noqa: E402  the listing hook runs what wta runs

STREAM = "s03"
PRE_COMMIT_CONFIG = """\
repos:
  - repo: local
    hooks:
      - id: noop
        name: no-op
        entry: "true"
        language: system
        always_run: true
        pass_filenames: false
"""
EMPTY_HOOK = "#!/bin/sh\n"
LISTING_HOOK = f"#!/bin/sh\nexec git {' '.join(staged_diff(names_only=True))} HEAD -- >/dev/null\n"
CONFIGS = ("wta", "empty", "pre-commit", "listing")

# The targets of the issue "Zones", item 5.
MAX_VS_EMPTY = 2.0
MAX_VS_PRE_COMMIT = 0.3


class Setup:
    """A synthetic repository, the stream's worktree, and one hooks directory per configuration."""

    def __init__(self, scratch: Path, env: dict[str, str], files: int, streams: int, staged: int,
                 plain: bool = False) -> None:
        self.env = env
        zone_budget = files - 2   # zones.yaml and .pre-commit-config.yaml are tracked too
        skipped = 2 if plain else 0   # the stream's root file and doc, outside `sNN/`
        repo = build_repo(scratch / "repo", env, files=files, streams=streams,
                          owners={STREAM: min(staged + skipped, zone_budget)}
                          if staged + skipped > files // streams else None,
                          files_in_commit=[(".pre-commit-config.yaml", PRE_COMMIT_CONFIG)], plain=plain)
        self.repo = repo
        self.worktree = scratch / "repo-worktrees" / STREAM
        git(repo.path, env, "worktree", "add", "-q", "-b", f"wta/{STREAM}", str(self.worktree), "main")
        common_hooks = repo.path / ".git" / "hooks"
        self.hooks = {name: scratch / f"hooks-{name}" for name in CONFIGS}

        # pre-commit first, while git's hooks directory holds no hook it would keep as "legacy".
        run([PYTHON, "-m", "pre_commit", "install", "-t", "pre-commit"], self.worktree, env)
        run([PYTHON, "-m", "pre_commit", "install-hooks"], self.worktree, env)
        self.hooks["pre-commit"].mkdir()
        shutil.move(str(common_hooks / "pre-commit"), self.hooks["pre-commit"] / "pre-commit")

        wta(self.worktree, env, "hooks", "install", "--stream", STREAM)
        # wherever `wta hooks install` pointed the stream worktree, as for a user
        self.hooks["wta"] = Path(git(self.worktree, env, "config", "core.hooksPath"))

        for config, pre_commit in (("empty", EMPTY_HOOK), ("listing", LISTING_HOOK)):
            self.hooks[config].mkdir()
            for name, text in (("pre-commit", pre_commit), ("commit-msg", EMPTY_HOOK)):
                hook = self.hooks[config] / name
                hook.write_text(text)
                hook.chmod(hook.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)

        # The staged state every timed commit starts from: `target`'s tree in the index
        # and worktree, HEAD at the start commit.
        self.paths = changed_paths(repo.owned[STREAM][skipped:], STREAM, staged)
        write_files(self.worktree, self.paths, version=1)
        git(self.worktree, env, "add", "-A")
        git(self.worktree, env, "commit", "-q", "--no-verify", "-m", "target")
        self.target = git(self.worktree, env, "rev-parse", "HEAD")
        self.prepare()
        staged_now = git(self.worktree, env, "diff", "--cached", "--name-only", "-z").count("\0")
        if staged_now != staged:
            raise SystemExit(f"bench: {staged_now} files staged, expected {staged}")

    def prepare(self) -> None:
        git(self.worktree, self.env, "reset", "-q", "--hard", self.target)
        git(self.worktree, self.env, "reset", "-q", "--soft", self.repo.start)

    def commit_case(self, name: str) -> Case:
        # wta's hooks are where the stream worktree's own core.hooksPath points, as for a user; the
        # others are chosen for the one command (which hands git's hooks a GIT_CONFIG_PARAMETERS).
        choose = [] if name == "wta" else ["-c", f"core.hooksPath={self.hooks[name]}"]
        cmd = ["git", *choose, "commit", "-q", "-m", f"change {len(self.paths)} files"]
        return Case(name, cmd, self.worktree, self.env, prepare=self.prepare)

    def check_wta_commit(self) -> None:
        """The timed wta commits really ran wta's hooks: the subject carries the prefix."""
        subject = git(self.worktree, self.env, "log", "-1", "--format=%s")
        if not subject.startswith(f"[{STREAM}] "):
            raise SystemExit(f"bench: wta's commit-msg hook did not run (subject {subject!r})")

    def guard_cases(self) -> list[Case]:
        """The guard on one in-zone Edit, started both ways, and bare Python for scale."""
        target = self.worktree / self.repo.owned[STREAM][-1]
        event = json.dumps({"session_id": "bench", "cwd": str(self.worktree), "hook_event_name": "PreToolUse",
                            "tool_name": "Edit", "tool_input": {"file_path": str(target), "old_string": "VALUE = 1",
                                                                "new_string": "VALUE = 2"}}).encode()
        env = {**self.env, "WTA_STREAM": STREAM, "WTA_WORKTREE": str(self.worktree)}
        registered = run([PYTHON, "-c", f"from worktree_agents.hooks.install import guard_command; "
                                        f"print(guard_command({STREAM!r}))"], self.worktree, self.env).stdout.strip()
        return [Case("guard (python -m)", [PYTHON, "-m", "worktree_agents.hooks.runtime", "guard"], self.worktree, env,
                     stdin=event),
                Case("guard (registered)", ["sh", "-c", registered], self.worktree, env, stdin=event),
                Case("python -c pass", [PYTHON, "-c", "pass"], self.worktree, self.env),
                Case("python -S -c pass", [PYTHON, "-S", "-c", "pass"], self.worktree, self.env)]


def bench_size(scratch: Path, env: dict[str, str], args: argparse.Namespace, staged: int,
               with_guard: bool) -> dict:
    print(f"building {args.files} files, {args.streams} streams, {staged} staged ...", flush=True)
    setup = Setup(scratch, env, args.files, args.streams, staged, plain=args.zones == "plain")
    cases = [setup.commit_case(name) for name in CONFIGS]
    results = measure(cases, args.repeat)
    setup.prepare()
    run(cases[0].cmd, setup.worktree, env)
    setup.check_wta_commit()
    figures = {name: s.ms for name, s in results.items()}
    cpu = {name: s.cpu_ms for name, s in results.items()}
    out = {"staged": staged, "files": args.files, "streams": args.streams, "zones": args.zones, "median_ms": figures,
           "spread_ms": {name: s.spread() for name, s in results.items()},
           "wta_vs_empty": ratio(figures["wta"], figures["empty"]),
           "wta_vs_pre_commit": ratio(figures["wta"], figures["pre-commit"]),
           "hook_overhead_ms": figures["wta"] - figures["empty"],
           "listing_vs_empty": ratio(figures["listing"], figures["empty"]),
           "wta_vs_listing": ratio(figures["wta"], figures["listing"]),
           "cpu_median_ms": cpu,
           "cpu_wta_vs_empty": ratio(cpu["wta"], cpu["empty"]),
           "cpu_wta_vs_pre_commit": ratio(cpu["wta"], cpu["pre-commit"])}
    if with_guard:
        out["process_ms"] = {name: s.ms for name, s in measure(setup.guard_cases(), args.repeat).items()}
    return out


def report(result: dict) -> str:
    rows = []
    for size in result["sizes"]:
        m = size["median_ms"]
        per_k = 1000 / size["staged"]
        rows.append([size["staged"], *(f"{m[name]:.0f}" for name in CONFIGS),
                     f"{size['wta_vs_empty']:.2f}×", f"{size['wta_vs_pre_commit']:.2f}×",
                     f"{size['listing_vs_empty']:.2f}×", f"{size['wta_vs_listing']:.2f}×",
                     f"{size['hook_overhead_ms']:.0f}", f"{size['hook_overhead_ms'] * per_k:.1f}",
                     f"{m['wta'] * per_k:.1f}"])
    lines = ["wall clock, median:",
             table(["staged", "wta ms", "empty ms", "pre-commit ms", "listing ms", "wta/empty", "wta/pre-commit",
                    "listing/empty", "wta/listing", "hook cost ms", "hook ms/1k files", "wta ms/1k files"], rows)]
    cpu_rows = [[size["staged"], *(f"{size['cpu_median_ms'][name]:.0f}" for name in CONFIGS),
                 f"{size['cpu_wta_vs_empty']:.2f}×", f"{size['cpu_wta_vs_pre_commit']:.2f}×"]
                for size in result["sizes"]]
    lines += ["CPU time (user + system, all processes), median:",
              table(["staged", "wta ms", "empty ms", "pre-commit ms", "listing ms", "wta/empty", "wta/pre-commit"],
                    cpu_rows)]
    first = result["sizes"][0]
    if "process_ms" in first:
        lines.append("single processes, wall clock, median: " +
                     ", ".join(f"{name} {ms:.0f} ms" for name, ms in first["process_ms"].items()))
    lines.append("spread (min-max ms): " + "; ".join(
        f"{s['staged']} staged: " + ", ".join(f"{k} {v}" for k, v in s["spread_ms"].items())
        for s in result["sizes"]))
    for check in result["targets"]:
        lines.append(f"{'met    ' if check['met'] else 'NOT met'}  {check['target']}: {check['figure']}")
    m = result["machine"]
    lines.append(f"machine: {m['cpus']} cpus, {m['platform']}, python {m['python']}, git {m['git']}, "
                 f"load {m['loadavg']} before, {result['loadavg_after']} after; {result['repeat']} repetitions")
    return "\n".join(lines)


def targets(sizes: list[dict]) -> list[dict]:
    """The issue's targets: the ratios of its benchmark (the first size, 1,000 staged), and the
    growth from there to the second size (whose ratios the tables show; docs/performance.md)."""
    checks = []
    for size in sizes[:1]:
        for clock, prefix in (("wall", ""), ("CPU", "cpu_")):
            vs_empty, vs_pre_commit = size[f"{prefix}wta_vs_empty"], size[f"{prefix}wta_vs_pre_commit"]
            checks.append({"target": f"wta ≤ {MAX_VS_EMPTY}× empty hooks ({size['staged']} staged, {clock})",
                           "figure": f"{vs_empty:.2f}×", "met": vs_empty <= MAX_VS_EMPTY})
            checks.append({"target": f"wta ≤ {MAX_VS_PRE_COMMIT}× pre-commit ({size['staged']} staged, {clock})",
                           "figure": f"{vs_pre_commit:.2f}×", "met": vs_pre_commit <= MAX_VS_PRE_COMMIT})
    if len(sizes) == 2:
        small, big = sizes
        per_file = [s["hook_overhead_ms"] / s["staged"] for s in sizes]
        growth = ratio(per_file[1], per_file[0])
        checks.append({"target": "hook cost per staged file does not grow (no worse than linear)",
                       "figure": f"{per_file[0] * 1000:.1f} → {per_file[1] * 1000:.1f} ms per 1,000 files "
                                 f"({big['staged'] // small['staged']}× the files, "
                                 f"{ratio(big['hook_overhead_ms'], small['hook_overhead_ms']):.1f}× the cost)",
                       "met": growth <= 1.0})
    return checks


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=20_000, help="tracked files in the repository")
    parser.add_argument("--streams", type=int, default=20, help="streams in zones.yaml")
    parser.add_argument("--staged", type=int, default=1_000, help="staged files in the first run")
    parser.add_argument("--big", type=int, default=20_000, help="staged files in the second run (0: skip)")
    parser.add_argument("--repeat", type=int, default=7, help="timed commits per configuration (median)")
    parser.add_argument("--zones", choices=("realistic", "plain"), default="realistic",
                        help="realistic: every commit is checked in Python; plain: the hook's shell decides")
    parser.add_argument("--out", help="scratch directory (default bench/out/hooks; emptied first)")
    parser.add_argument("--json", help="also write the figures to this JSON file")
    args = parser.parse_args(argv)

    scratch = scratch_dir(args.out, "hooks")
    env = bench_env(scratch)
    result: dict = {"machine": machine(), "repeat": args.repeat, "sizes": []}
    for i, staged in enumerate(s for s in (args.staged, args.big) if s):
        result["sizes"].append(bench_size(scratch / f"staged-{staged}", env, args, staged, with_guard=i == 0))
    result["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
    result["targets"] = targets(result["sizes"])
    print(report(result))
    if args.json:
        write_json(args.json, result)
    return 0 if all(c["met"] for c in result["targets"]) else 1


if __name__ == "__main__":
    sys.exit(main())
