"""Whole-process timing of the integration loop (`wta up --land`) against a bare shell loop.

    python bench/bench_loop.py [--streams 8 --commits 10 --repeat 3 --out DIR --json FILE]

Two identical repositories: `main` holds a zones.yaml of `--streams` streams in
chains of two (s01 after s00, s03 after s02, ...), each stream owning its own
directory, and an agent script (`runner: command`) that makes `--commits`
commits in the stream's directory. Then, start to exit, on a fresh copy each time (the
last run's copy is moved aside, and deleted only after the last run: see `set_aside`):

  wta   `wta up --land`: worktrees, hooks, sessions (max_parallel 4), each
        stream landed (verified, rebased, fast-forwarded) as its session ends,
        dependents started from a base that holds their dependency's work
  bare  the same work as one shell loop, in the same (`after`) order: for each
        stream `git worktree add` from main, the agent script,
        `git rebase main` in the worktree, `git merge --ff-only` in main
  bare+hooks  the same loop, its commits going through wta's commit hooks (written
        with `wta hooks install` before the clock starts; each worktree tied to
        its stream and given them through its own core.hooksPath, as `wta up`
        does; checked beforehand by a commit outside the zone, which must fail):
        what the zone check at every commit costs, which wta does and the bare
        loop does not
  bare+empty hooks  the same loop as bare+hooks, through two hooks that do nothing
        (`exit 0` as pre-commit and commit-msg) instead of wta's: what git's running
        two hooks at every commit costs by itself, the floor of any design that checks
        commits with hooks (SPEC: the zone check at commit time, the [stream] prefix)
  side by side+empty hooks  the same, but the scripted agents of a wave (up to
        max_parallel of the streams whose dependencies have landed) run at once, as
        wta runs sessions; each wave's worktrees made, and its streams rebased and
        fast-forwarded, one after another: what a loop that checks commits with hooks
        takes when it runs sessions side by side and its coordinator costs nothing

All end with the same tree on `main` (checked). The bare loop runs one stream
after another: it is the floor of the work itself (git and the scripted agents),
with no hooks, no verification, no records. Target (issue "Integration loop"):
wta <= 1.3 x bare, wall-clock; wta / bare+hooks shows what the loop itself adds, bare+empty hooks /
bare what any commit hooks cost before they check anything. wta's CPU column
leaves out its sandboxed sessions (reaped inside their pid namespaces); `loop_git_cpu.py` counts
their git.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (PYTHON, Case, bench_env, git, measure, ratio, report_against_floor, run,  # noqa: E402
                    scratch_dir, stream_names, wta)

MAX_RATIO = 1.3
MAX_PARALLEL = 4   # the zones.yaml's max_parallel
SET_ASIDE = "set-aside"   # earlier runs' repositories, deleted at the end

AGENT = """i=1
while [ $i -le {commits} ]; do
  echo "$WTA_STREAM change $i" > "$WTA_STREAM/file$i.txt"
  git add "$WTA_STREAM/file$i.txt"
  git commit -q -m "[$WTA_STREAM] change $i"
  i=$((i + 1))
done
"""


def zones_yaml(streams: list[str], agent: Path) -> str:
    lines = ["version: 1", "base: main", f"max_parallel: {MAX_PARALLEL}", "agent:", "  runner: command",
             f"  command: \"sh {agent}\"", "  timeout: 10m", "streams:"]
    for i, s in enumerate(streams):
        lines += [f"  {s}:", f"    paths: [{s}/**]"]
        if i % 2:
            lines.append(f"    after: [{streams[i - 1]}]")
    return "\n".join(lines) + "\n"


def set_aside(path: Path) -> None:
    """Move an earlier run's files out of the way; they are deleted after the last timed run. Deleted
    just before a run, they would slow it down: ext4 is slow to create files while many were deleted
    moments ago (it looks past the recently freed inodes), and every run creates hundreds."""
    if path.exists():
        aside = path.parent.parent / SET_ASIDE
        aside.mkdir(exist_ok=True)
        path.rename(aside / f"{time.monotonic_ns()}-{path.name}")


def build(path: Path, env: dict[str, str], streams: list[str], agent: Path) -> None:
    for leftover in (path, path.parent / f"{path.name}-worktrees"):
        set_aside(leftover)
    path.mkdir(parents=True)
    git(path, env, "init", "-q", "-b", "main")
    (path / "zones.yaml").write_text(zones_yaml(streams, agent))
    (path / "README.md").write_text("# bench\n")
    for s in streams:
        (path / s).mkdir()
        (path / s / "README").write_text(f"{s}\n")
    git(path, env, "add", "-A")
    git(path, env, "commit", "-q", "-m", "initial")


EMPTY_HOOKS = ("pre-commit", "commit-msg")


def hooks_dir(path: Path) -> Path:
    """wta's hooks directory (`wta hooks install` writes it), which a stream worktree's own
    core.hooksPath names."""
    return path / ".git" / "wta" / "hooks"


def add_worktree(path: Path, stream: str, hooks: bool) -> str:
    """The shell command that makes a stream's worktree from main; with `hooks`, tied to its stream
    and given wta's hooks as `wta up` does (its own core.hooksPath)."""
    wt = f"{path}-worktrees/{stream}"
    command = f'git -C "{path}" worktree add -q -b wta/{stream} "{wt}" main'
    if hooks:
        command += (f' && echo {stream} > "$(git -C "{wt}" rev-parse --absolute-git-dir)/wta-stream"'
                    f' && git -C "{wt}" config --worktree core.hooksPath "{hooks_dir(path)}"')
    return command


def bare_loop(path: Path, streams: list[str], agent: Path, hooks: bool = False) -> str:
    """Stream after stream, in `after` order: the work of wta up --land with nothing around it
    (`hooks`: with wta's hooks in each worktree, so that they check its commits)."""
    steps = []
    for s in streams:
        wt = f"{path}-worktrees/{s}"
        steps.append(f'{add_worktree(path, s, hooks)} && '
                     f'(cd "{wt}" && WTA_STREAM={s} sh "{agent}") && '
                     f'git -C "{wt}" rebase -q main && git -C "{path}" merge -q --ff-only wta/{s}')
    return " && ".join(steps)


def give_empty_hooks(path: Path, env: dict[str, str]) -> None:
    """Hooks that do nothing where bare+hooks has wta's (worktrees made the same way point there)."""
    git(path, env, "config", "extensions.worktreeConfig", "true")
    directory = hooks_dir(path)
    directory.mkdir(parents=True)
    for name in EMPTY_HOOKS:
        (directory / name).write_text("#!/bin/sh\nexit 0\n")
        (directory / name).chmod(0o755)


def side_by_side_loop(path: Path, streams: list[str], agent: Path) -> str:
    """The streams in waves, in `after` order (chains of two: the first of each chain, then the second), at most
    MAX_PARALLEL at once: each wave's worktrees made one after another (git locks the repository's config to tie
    each to its stream), its scripted agents run at once, then its streams rebased and fast-forwarded in turn."""
    steps = []
    for heads in (streams[0::2], streams[1::2]):
        for at in range(0, len(heads), MAX_PARALLEL):
            wave = heads[at:at + MAX_PARALLEL]
            agents = " ".join(f'(cd "{path}-worktrees/{s}" && WTA_STREAM={s} sh "{agent}") &' for s in wave)
            lands = " && ".join(f'git -C "{path}-worktrees/{s}" rebase -q main && '
                                f'git -C "{path}" merge -q --ff-only wta/{s}' for s in wave)
            steps.append(f'{" && ".join(add_worktree(path, s, hooks=True) for s in wave)} && '
                         f'{{ {agents} wait; }} && {lands}')
    return " && ".join(steps)


def check_hooks_run(path: Path, env: dict[str, str], streams: list[str]) -> None:
    """The bare+hooks loop must really go through wta's hooks: a worktree made as it makes them
    refuses a commit outside its stream's zone (else that case would time the bare loop again)."""
    stream, other = streams[0], streams[1]
    run(["sh", "-c", add_worktree(path, stream, hooks=True)], path, env)
    wt = Path(f"{path}-worktrees/{stream}")
    (wt / other / "outside.txt").write_text("not in the zone\n")
    git(wt, env, "add", f"{other}/outside.txt")
    refused = run(["git", "commit", "-q", "-m", "outside"], wt, env, check=False)
    if refused.returncode == 0:
        raise SystemExit("bench: a commit outside the zone went through in a bare+hooks worktree: "
                         "wta's hooks did not run there")
    run(["git", "worktree", "remove", "--force", str(wt)], path, env)
    git(path, env, "branch", "-D", f"wta/{stream}")


def loop_arguments(argv: list[str] | None, description: str, out: str, repeat: bool = True) -> argparse.Namespace:
    """The options of a benchmark of the loop (this one, loop_git_cpu.py); `out`: its scratch directory's name."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--streams", type=int, default=8, help="streams, in chains of two (`after`)")
    parser.add_argument("--commits", type=int, default=10, help="commits each scripted agent makes")
    if repeat:
        parser.add_argument("--repeat", type=int, default=3, help="timed runs per configuration (median)")
    parser.add_argument("--out", help=f"scratch directory (default bench/out/{out}; emptied first)")
    parser.add_argument("--json", help="also write the figures to this JSON file")
    return parser.parse_args(argv)


def loop_scratch(args: argparse.Namespace, out: str) -> tuple[Path, dict[str, str], list[str], Path]:
    """The emptied scratch directory, its environment, the streams and the agent script."""
    scratch = scratch_dir(args.out, out)
    agent = scratch / "agent.sh"
    agent.write_text(AGENT.format(commits=args.commits))
    return scratch, bench_env(scratch), stream_names(args.streams), agent


def main(argv: list[str] | None = None) -> int:
    args = loop_arguments(argv, __doc__.split("\n\n")[0], "loop")
    scratch, env, streams, agent = loop_scratch(args, "loop")
    wta_repo, bare_repo, hooked_repo, empty_repo, side_repo = (
        scratch / name / "repo" for name in ("wta", "bare", "hooked", "empty-hooks", "side-by-side"))

    def build_hooked() -> None:
        build(hooked_repo, env, streams, agent)
        wta(hooked_repo, env, "hooks", "install")
    build_hooked()
    if len(streams) > 1:
        check_hooks_run(hooked_repo, env, streams)

    def build_empty_hooks(repo: Path) -> None:
        build(repo, env, streams, agent)
        give_empty_hooks(repo, env)
    cases = [
        Case("wta", [PYTHON, "-m", "worktree_agents", "up", "--land"], wta_repo, env,
             prepare=lambda: build(wta_repo, env, streams, agent)),
        Case("bare", ["sh", "-c", bare_loop(bare_repo, streams, agent)], bare_repo, env,
             prepare=lambda: build(bare_repo, env, streams, agent)),
        Case("bare+hooks", ["sh", "-c", bare_loop(hooked_repo, streams, agent, hooks=True)], hooked_repo, env,
             prepare=build_hooked),
        Case("bare+empty hooks", ["sh", "-c", bare_loop(empty_repo, streams, agent, hooks=True)], empty_repo, env,
             prepare=lambda: build_empty_hooks(empty_repo)),
        Case("side by side+empty hooks", ["sh", "-c", side_by_side_loop(side_repo, streams, agent)], side_repo, env,
             prepare=lambda: build_empty_hooks(side_repo)),
    ]
    print(f"{args.streams} streams in chains of 2 x {args.commits} commits, {args.repeat} runs each ...", flush=True)
    samples = measure(cases, args.repeat)
    shutil.rmtree(scratch / SET_ASIDE, ignore_errors=True)
    repos = (wta_repo, bare_repo, hooked_repo, empty_repo, side_repo)
    trees = [git(r, env, "rev-parse", "main^{tree}") for r in repos]
    if len(set(trees)) != 1:
        raise SystemExit(f"bench: wta and the bare loops ended with different trees on main ({', '.join(trees)})")
    count = int(git(wta_repo, env, "rev-list", "--count", "main"))
    to_hooked = round(ratio(samples["wta"].median, samples["bare+hooks"].median), 3)
    empty_to_bare = round(ratio(samples["bare+empty hooks"].median, samples["bare"].median), 3)
    side_to_bare = round(ratio(samples["side by side+empty hooks"].median, samples["bare"].median), 3)
    # (wta's CPU column leaves out its sessions: their processes are reaped in their sandbox's pid
    # namespace, whose first process wta ends with a KILL, so no wait of its tree counts them.)
    return report_against_floor(samples, args, MAX_RATIO, count,
                                extra={"bare_hooks_s": round(samples["bare+hooks"].median, 3),
                                       "ratio_to_hooked": to_hooked,
                                       "empty_hooks_s": round(samples["bare+empty hooks"].median, 3),
                                       "empty_hooks_ratio": empty_to_bare,
                                       "side_by_side_s": round(samples["side by side+empty hooks"].median, 3),
                                       "side_by_side_ratio": side_to_bare},
                                extra_verdict=(f"wta / bare+hooks = {to_hooked:.2f}x wall; "
                                               f"bare+empty hooks / bare = {empty_to_bare:.2f}x wall; "
                                               f"side by side+empty hooks / bare = {side_to_bare:.2f}x wall; "))


if __name__ == "__main__":
    sys.exit(main())
