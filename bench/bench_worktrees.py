"""Whole-process timings of `wta up --no-launch` and `wta status --json`.

    python bench/bench_worktrees.py [--files 20000 --streams 20 --up-streams 8 --repeat 3
                                     --status-repeat 15 --out DIR --json FILE]

A synthetic repository (`--files` tracked files over `--streams` stream zones,
zones.yaml committed on main, no `copy:` or `setup:`) in two copies. Timed,
start to exit, in rounds that rotate their order:

  wta up            `wta up --no-launch s00 ... s07` (`--up-streams` streams, named)
  git worktree add  `for s: git worktree add -q -b wta/<s> ../repo-worktrees/<s> main`,
                    in the same copy as `wta up`, so both write into the same directory
  wta up (sparse)   the same `wta up` in the second copy, where a second commit on
                    main adds `sparse: true` to zones.yaml: pattern mode, since these
                    zones are not whole directories
  git sparse        the floor for that: per stream, `git worktree add --no-checkout`,
                    `git sparse-checkout set --no-cone` with the patterns wta sets, and
                    `git checkout`, in a loop
  wta up (cone)     the same `wta up` in a third copy whose zones.yaml gives each stream
                    whole directories (`sNN/**`, `docs/sNN/**`), `sparse: true`:
                    cone mode with a sparse index
  git cone          its floor: the same loop with `--cone --sparse-index` and wta's
                    directories
  git sparse, N at a time, git cone, N at a time
                    the same worktrees made by N shell chains side by side, N being
                    the worktrees `wta up` checks out at once (one per core, at most
                    4), with registration and `sparse-checkout set` one at a time
                    across chains as in wta
  python + libraries
                    a Python process that only imports what the design validates
                    zones.yaml with (yaml, pydantic's BaseModel, pathspec), which
                    `wta up` must do before it creates anything

Before each timed run its copy is reset, untimed: the previous run's result
checked (each worktree registered on its branch, full or sparse as expected), the
worktrees moved aside (see `Copy.reset`) and pruned, the `wta/` branches
deleted, wta's state directory and hooks removed (so every `wta up` is a first
one, as on a fresh clone), then `sync`, so that one run's writes are not
flushed during the next.

Then `wta status --json` with the streams of one more `wta up`:

  fresh             straight after `wta up`, before any git command ran in the worktrees
  wta status        after each stream made three commits in its zone (through wta's
                    hooks) and left one modified and one untracked file, main made one
                    commit that conflicts with the first stream (so every stream costs
                    its git calls: status, commits behind, merge-tree, and its share of the
                    one `git log` of all streams), and one `git status` in each worktree
                    refreshed its index (and its untracked cache), as the agent's own git
                    commands do

and, for scale, in the same rounds as the second: the same `git status` as wta
runs in each worktree, in a loop and all at once (as wta starts them); `wta --help`
(start-up with the CLI); and `python -c pass`.

Targets (issue "Worktrees"): wta up ≤ 1.15 × the git loop, sparse ≤ 0.1 × full
(judged for both kinds of zones; the git floors show what git itself needs for
each), `wta status --json` ≤ 300 ms, all in wall-clock medians. Beside each of
the last three, the least any wta can take on this machine: for sparse, git's
own sparse worktrees N at a time, and those after the Python start and imports
above, against the full `wta up`; for status, a bare Python start then git's
statuses all at once. Where that is above the target, no change to wta can meet
it here. The CPU time of each
process tree is shown too: it moves much less with other load on the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (PYTHON, ROOT, Case, Samples, bench_env, build_repo, git, machine, measure,  # noqa: E402
                    ratio, run, scratch_dir, stream_names, table, write_files, write_json, zones_yaml)

# The targets of the issue "Worktrees".
MAX_UP_VS_GIT = 1.15
MAX_SPARSE_VS_FULL = 0.1
MAX_STATUS_MS = 300.0

COMMITS_PER_STREAM = 3
RECENTLY_DELETED_S = 65
WTA = [PYTHON, "-m", "worktree_agents"]
# What a Python process must import before `wta up` may create anything: the libraries of the
# design that read and validate zones.yaml (wta's own models and checks not included).
LIBRARIES = "import yaml, pathspec; from pydantic import BaseModel"


class Copy:
    """One copy of the repository, with the streams' worktrees in `<repo>-worktrees/`."""

    def __init__(self, path: Path, env: dict[str, str], streams: list[str], sparse: str | None,
                 trash: Path) -> None:
        self.path, self.env, self.streams, self.sparse, self.trash = path, env, streams, sparse, trash
        self.worktrees = path.parent / f"{path.name}-worktrees"
        self.hooks = path / ".git" / "hooks"
        self.pristine_hooks = set(os.listdir(self.hooks))
        self.checked_out = 0           # files in the first stream's worktree, after the last run

    def worktree(self, stream: str) -> Path:
        return self.worktrees / stream

    def reset(self) -> None:
        """Back to the freshly built repository: no stream worktree, branch, wta state or wta hook.

        The worktrees are moved into `trash` rather than deleted: right after
        many files are deleted, ext4 creates files near them up to 20 times
        more slowly (it skips recently freed inodes one by one, for a minute or
        more), which would time the file system instead of wta and git.
        `trash` is emptied at the end.
        """
        if self.worktrees.exists():
            self.check_prepared()
            if file_system(self.worktrees) == "tmpfs":   # no such effect, and no memory to spare
                shutil.rmtree(self.worktrees)
            else:
                self.trash.mkdir(exist_ok=True)
                self.worktrees.rename(self.trash / f"{self.path.parent.name}-{len(os.listdir(self.trash))}")
        git(self.path, self.env, "worktree", "prune")
        branches = git(self.path, self.env, "for-each-ref", "--format=%(refname:short)", "refs/heads/wta/")
        if branches:
            git(self.path, self.env, "branch", "-q", "-D", *branches.split())
        shutil.rmtree(self.path / ".git" / "wta", ignore_errors=True)
        for name in set(os.listdir(self.hooks)) - self.pristine_hooks:
            (self.hooks / name).unlink()
        os.sync()

    def check_prepared(self) -> None:
        """Every stream's worktree is registered on its branch, checked out in full or sparse as expected."""
        listing = git(self.path, self.env, "worktree", "list", "--porcelain") + "\n"
        for s in self.streams:
            if f"worktree {self.worktree(s)}\nHEAD " not in listing or f"branch refs/heads/wta/{s}\n" not in listing:
                raise SystemExit(f"bench: {self.path}: no worktree for {s} on wta/{s}:\n{listing}")
        first = self.worktree(self.streams[0])
        files = sum(len(names) for top, _, names in os.walk(first)) - 1   # its `.git` file
        tracked = git(first, self.env, "ls-files").count("\n") + 1
        cone = run(["git", "config", "--get", "core.sparseCheckoutCone"], first, self.env, check=False).stdout
        mode = None if files >= tracked else "cone" if cone.strip() == "true" else "patterns"
        if mode != self.sparse:
            raise SystemExit(f"bench: {first}: {files} of {tracked} files checked out ({mode or 'full'}), "
                             f"expected {self.sparse or 'full'}")
        self.checked_out = files


def file_system(path: Path) -> str:
    """The type of the file system holding `path` (ext4, tmpfs, ...), from /proc/mounts."""
    best, kind = "", "unknown"
    try:
        mounts = Path("/proc/mounts").read_text().splitlines()
    except OSError:
        return kind
    resolved = str(path.resolve())
    for line in mounts:
        _, point, fs_type = line.split()[:3]
        if (resolved == point or resolved.startswith(point.rstrip("/") + "/")) and len(point) > len(best):
            best, kind = point, fs_type
    return kind


def fresh_scratch(out: str | None) -> tuple[Path, float | None]:
    """The emptied scratch directory, and when it was emptied (None: nothing was in it)."""
    previous = Path(out) if out else ROOT / "bench" / "out" / "worktrees"
    had_files = previous.exists() and any(previous.iterdir())
    scratch = scratch_dir(out, "worktrees")
    if not had_files or file_system(scratch) == "tmpfs":
        return scratch, None
    os.sync()
    return scratch, time.monotonic()


def settle(emptied: float | None) -> None:
    """Wait until ext4 stops skipping the inodes a previous run freed (see `Copy.reset`).

    It skips an inode for 60 s after its deletion once the deletion is on
    disk (hence the sync), for up to 300 s before.
    """
    if emptied is None:
        return
    left = emptied + RECENTLY_DELETED_S - time.monotonic()
    if left > 0:
        print(f"waiting {left:.0f} s: files of the previous run were just deleted ...", flush=True)
        time.sleep(left)


def sparse_loop(copy: Copy, chains: int = 1) -> str:
    """The git commands that make the copy's sparse worktrees as wta does.

    With one chain, one stream after the other. With more, that many chains side by
    side, each making its share of the streams, with `git worktree add` and
    `git sparse-checkout set` one at a time across chains (`flock`), as wta does:
    a concurrent `git worktree add` can read a half-written registration, and the
    first `sparse-checkout set` writes the shared config.
    """
    from worktree_agents import config as zones_config
    from worktree_agents.worktrees.sparse import sparse_spec

    settings = zones_config.load(copy.path / "zones.yaml")
    lock = shlex.quote(str(copy.path.parent / "bench.lock"))
    one_at_a_time = (lambda cmd: f"flock {lock} {cmd}") if chains > 1 else (lambda cmd: cmd)
    steps: list[list[str]] = [[] for _ in range(chains)]
    for i, s in enumerate(copy.streams):
        spec, path = sparse_spec(settings, s), shlex.quote(str(copy.worktree(s)))
        add = one_at_a_time(f"git worktree add -q --no-checkout -b wta/{s} {path} main")
        arguments = " ".join(shlex.quote(a) for a in spec.arguments())
        choose = one_at_a_time(f"git -C {path} sparse-checkout set {arguments}")
        if not spec.cone:
            patterns = "".join(p + "\n" for p in spec.entries)
            choose = f"printf %s {shlex.quote(patterns)} | {choose}"
        steps[i % chains].append(f"{add} && {choose} && git -C {path} checkout -q")
    return side_by_side([" && ".join(chain) for chain in steps if chain])


def side_by_side(commands: list[str]) -> str:
    """Shell: the commands run at once; fails if any fails."""
    if len(commands) == 1:
        return commands[0]
    started = "; ".join(f"( {cmd} ) & p{i}=$!" for i, cmd in enumerate(commands))
    return f"{started}; " + " && ".join(f"wait $p{i}" for i in range(len(commands)))


def side_by_side_name(name: str, chains: int) -> str:
    return f"git {name}, {chains} at a time"


def up_cases(full: Copy, sparse: Copy, cone: Copy, chains: int) -> list[Case]:
    loop = " && ".join(f'git worktree add -q -b wta/{s} "{full.worktree(s)}" main' for s in full.streams)
    cases = [
        Case("wta up", [*WTA, "up", "--no-launch", *full.streams], full.path, full.env, prepare=full.reset),
        Case("git worktree add", ["sh", "-c", loop], full.path, full.env, prepare=full.reset),
    ]
    for name, copy in (("sparse", sparse), ("cone", cone)):
        cases += [
            Case(f"wta up ({name})", [*WTA, "up", "--no-launch", *copy.streams], copy.path, copy.env,
                 prepare=copy.reset),
            Case(f"git {name}", ["sh", "-c", sparse_loop(copy)], copy.path, copy.env, prepare=copy.reset),
            Case(side_by_side_name(name, chains), ["sh", "-c", sparse_loop(copy, chains)], copy.path, copy.env,
                 prepare=copy.reset),
        ]
    return [*cases, Case("python + libraries", [PYTHON, "-c", LIBRARIES], full.path, full.env)]


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


def status_cases(full: Copy) -> list[Case]:
    statuses = [f'git -C "{full.worktree(s)}" --no-optional-locks status --porcelain=v2 -z '
                f'--untracked-files=normal >/dev/null' for s in full.streams]
    return [
        Case("wta status --json", [*WTA, "status", "--json"], full.path, full.env),
        Case("git status, each worktree", ["sh", "-c", "; ".join(statuses)], full.path, full.env),
        Case("git status, all at once", ["sh", "-c", side_by_side(statuses)], full.path, full.env),
        Case("wta --help", [*WTA, "--help"], full.path, full.env),
        Case("python -c pass", [PYTHON, "-c", "pass"], full.path, full.env),
    ]


def check_status(full: Copy) -> None:
    """The timed status saw what was prepared: commits ahead, dirty files, the one conflict."""
    shown = json.loads(run([*WTA, "status", "--json"], full.path, full.env).stdout)
    got = {s["stream"]: s for s in shown["streams"]}
    for i, name in enumerate(full.streams):
        s = got[name]
        want = (COMMITS_PER_STREAM, 1, 2, i == 0)
        if (s["ahead"], s["behind"], s["dirty"], s["conflicts"]) != want:
            raise SystemExit(f"bench: status of {name}: ahead {s['ahead']}, behind {s['behind']}, "
                             f"dirty {s['dirty']}, conflicts {s['conflicts']}; expected {want}")


def row(s: Samples) -> list[object]:
    return [s.name, f"{s.ms:.0f}", s.spread(), f"{s.cpu_ms:.0f}"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=20_000, help="tracked files in the repository")
    parser.add_argument("--streams", type=int, default=20, help="streams in zones.yaml")
    parser.add_argument("--up-streams", type=int, default=8, help="streams prepared (named on the command line)")
    parser.add_argument("--repeat", type=int, default=3,
                        help="timed runs of each `wta up` configuration (median); each round writes "
                             "2 x up-streams x files files")
    parser.add_argument("--status-repeat", type=int, default=15, help="timed runs of each status case (median)")
    parser.add_argument("--out", help="scratch directory (default bench/out/worktrees; emptied first)")
    parser.add_argument("--json", help="also write the figures to this JSON file")
    args = parser.parse_args(argv)
    if not 1 <= args.up_streams <= args.streams:
        parser.error(f"--up-streams must be between 1 and --streams ({args.streams})")

    scratch, emptied = fresh_scratch(args.out)
    env = bench_env(scratch)
    # No `git gc --auto` in the background: it would repack while a copy or a timed run reads.
    with open(Path(env["HOME"]) / ".gitconfig", "a") as f:
        f.write("[gc]\n\tauto = 0\n")
    result: dict = {"machine": machine(), "file_system": file_system(scratch), "files": args.files,
                    "streams": args.streams, "up_streams": args.up_streams, "repeat": args.repeat,
                    "status_repeat": args.status_repeat}
    print(f"building {args.files} files, {args.streams} streams ...", flush=True)
    repo = build_repo(scratch / "full" / "repo", env, files=args.files, streams=args.streams)
    git(repo.path, env, "gc", "--quiet")   # packed, as in a clone
    shutil.copytree(repo.path, scratch / "sparse" / "repo", symlinks=True)
    shutil.copytree(repo.path, scratch / "cone" / "repo", symlinks=True)
    zones = scratch / "sparse" / "repo" / "zones.yaml"
    zones.write_text(zones.read_text() + "sparse: true\n")
    git(zones.parent, env, "commit", "-q", "-a", "-m", "sparse worktrees")
    cone_zones = scratch / "cone" / "repo" / "zones.yaml"
    # Zones that are whole directories, so that a sparse worktree can use cone mode.
    cone_zones.write_text(zones_yaml(stream_names(args.streams), "sparse: true\n", read_only="[vendor/**]",
                                     zone=lambda s: f"[{s}/**, docs/{s}/**]"))
    git(cone_zones.parent, env, "commit", "-q", "-a", "-m", "sparse worktrees, whole directories")
    chosen = stream_names(args.streams)[:args.up_streams]
    trash = scratch / "trash"
    full = Copy(repo.path, env, chosen, sparse=None, trash=trash)
    sparse = Copy(zones.parent, env, chosen, sparse="patterns", trash=trash)
    cone = Copy(cone_zones.parent, env, chosen, sparse="cone", trash=trash)
    settle(emptied)

    print(f"wta up --no-launch of {len(chosen)} streams vs git worktree add, {args.repeat} runs each ...",
          flush=True)
    from worktree_agents.worktrees.prepare import checkouts_at_once

    chains = checkouts_at_once(len(chosen))
    up = measure(up_cases(full, sparse, cone, chains), args.repeat)
    checked_out = {}
    for copy in (full, sparse, cone):
        copy.reset()   # checks the last runs
        checked_out[copy.path.parent.name] = copy.checked_out

    print(f"wta status --json, {args.status_repeat} runs each ...", flush=True)
    run([*WTA, "up", "--no-launch", *chosen], full.path, env)
    status = measure([Case("wta status --json, fresh", [*WTA, "status", "--json"], full.path, env)],
                     args.status_repeat)
    prepare_status(full, repo.owned)
    check_status(full)
    status.update(measure(status_cases(full), args.status_repeat))
    result["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
    result.update(figures(up, status, checked_out, chains))
    print(report(result, up, status))
    if args.json:
        write_json(args.json, result)
    full.reset()   # the repositories stay for a look, the worktrees (GBs) do not
    if trash.exists():
        print(f"deleting the {len(os.listdir(trash))} sets of worktrees made (minutes on some disks) ...",
              flush=True)
        shutil.rmtree(trash)
    return 0 if all(c["met"] for c in result["targets"]) else 1


def figures(up: dict[str, Samples], status: dict[str, Samples], checked_out: dict[str, int],
            chains: int) -> dict:
    up_ratio = ratio(up["wta up"].median, up["git worktree add"].median)
    status_ms = status["wta status --json"].ms
    sparse_targets = []
    for name, zones in (("sparse", "pattern zones"), ("cone", "directory zones, cone mode")):
        wall = ratio(up[f"wta up ({name})"].median, up["wta up"].median)
        floor = ratio(up[f"git {name}"].median, up["git worktree add"].median)
        # The least any wta can take: git's own sparse checkouts side by side, as wta makes them,
        # alone and after Python has imported what validates zones.yaml (nothing may be made
        # before); against the full `wta up`.
        side = up[side_by_side_name(name, chains)]
        alone = ratio(side.median, up["wta up"].median)
        least = ratio(up["python + libraries"].median + side.median, up["wta up"].median)
        sparse_targets.append(
            {"target": f"sparse ≤ {MAX_SPARSE_VS_FULL}× full ({zones})", "figure": f"{wall:.3f}×",
             "cpu": f"{ratio(up[f'wta up ({name})'].cpu_ms, up['wta up'].cpu_ms):.3f}×",
             "floor": f"{floor:.3f}×", "git_side_by_side": f"{alone:.3f}×", "least": f"{least:.3f}×",
             "met": wall <= MAX_SPARSE_VS_FULL})
    return {
        "up_ms": {n: round(s.ms) for n, s in up.items()},
        "up_cpu_ms": {n: round(s.cpu_ms) for n, s in up.items()},
        "status_ms": {n: round(s.ms) for n, s in status.items()},
        "status_cpu_ms": {n: round(s.cpu_ms) for n, s in status.items()},
        "spread_ms": {n: s.spread() for n, s in [*up.items(), *status.items()]},
        "files_checked_out": checked_out,
        "targets": [
            {"target": f"wta up ≤ {MAX_UP_VS_GIT}× git worktree add loop", "figure": f"{up_ratio:.2f}×",
             "cpu": f"{ratio(up['wta up'].cpu_ms, up['git worktree add'].cpu_ms):.2f}×",
             "met": up_ratio <= MAX_UP_VS_GIT},
            *sparse_targets,
            {"target": f"wta status --json ≤ {MAX_STATUS_MS:.0f} ms", "figure": f"{status_ms:.0f} ms",
             "cpu": f"{status['wta status --json'].cpu_ms:.0f} ms",
             # git's own statuses, all at once as wta starts them, plus a bare Python start
             "least": f"{status['git status, all at once'].ms + status['python -c pass'].ms:.0f} ms",
             "met": status_ms <= MAX_STATUS_MS},
        ],
    }


def report(result: dict, up: dict[str, Samples], status: dict[str, Samples]) -> str:
    headers = ["case", "wall median ms", "min-max ms", "cpu median ms"]
    files = result["files_checked_out"]
    lines = [f"\nwta up --no-launch of {result['up_streams']} streams ({files['full']} files each, "
             f"{files['sparse']} in a sparse worktree, {files['cone']} in a cone one), {result['repeat']} runs:",
             table(headers, [row(s) for s in up.values()]),
             f"\nstatus of {result['up_streams']} streams ({result['streams']} in zones.yaml), "
             f"{result['status_repeat']} runs:",
             table(headers, [row(s) for s in status.values()]), ""]
    for check in result["targets"]:
        floor = f"; git alone: {check['floor']}" if "floor" in check else ""
        if "git_side_by_side" in check:
            floor += f", side by side {check['git_side_by_side']}"
        if "least" in check:
            floor += f"; the least any wta can take here: {check['least']}"
        lines.append(f"{'met    ' if check['met'] else 'NOT met'}  {check['target']}: {check['figure']} wall "
                     f"({check['cpu']} cpu{floor})")
    m = result["machine"]
    lines.append(f"machine: {m['cpus']} cpus, {m['platform']}, python {m['python']}, git {m['git']}, "
                 f"scratch on {result['file_system']}; "
                 f"load {m['loadavg']} before, {result['loadavg_after']} after")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
