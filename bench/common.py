"""Helpers shared by the whole-process benchmarks in bench/.

A benchmark here times real processes (git, wta, hooks) the way a user runs
them, on a synthetic repository built in a scratch directory. This module
holds what every benchmark needs: an isolated environment, a synthetic
repository with streams and zones, timing with repetitions interleaved across
the configurations compared (so machine load drifts hit them all alike),
medians, ratios and a plain-text table.

Stdlib only, and nothing from worktree_agents: the benchmarks drive wta as a
user does, through its processes.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Sequence

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable


# -- environment -----------------------------------------------------------------

def bench_env(scratch: Path) -> dict[str, str]:
    """An environment like a developer's shell, minus everything machine-specific.

    HOME, git's global config and the pre-commit cache live in `scratch`; no
    GIT_* variable leaks in. Python may cache bytecode (as it does for users)
    but under `scratch`, not in the checkout.
    """
    home = scratch / "home"
    home.mkdir(parents=True, exist_ok=True)
    (home / ".gitconfig").write_text("[init]\n\tdefaultBranch = main\n[advice]\n\tdetachedHead = false\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "WTA_", "PRE_COMMIT"))}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.update({
        "HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config"), "XDG_CACHE_HOME": str(home / ".cache"),
        "GIT_CONFIG_NOSYSTEM": "1", "PYTHONPYCACHEPREFIX": str(scratch / "pycache"),
        "PRE_COMMIT_HOME": str(scratch / "pre-commit-home"),
        "GIT_AUTHOR_NAME": "Bench", "GIT_AUTHOR_EMAIL": "bench@example.com",
        "GIT_COMMITTER_NAME": "Bench", "GIT_COMMITTER_EMAIL": "bench@example.com",
    })
    return env


def run(cmd: Sequence[str], cwd: Path | str, env: dict[str, str], input: str | None = None,
        check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run a command untimed (setup work); a failure stops the benchmark with its output."""
    proc = subprocess.run(list(cmd), cwd=cwd, env=env, input=input, text=True, capture_output=True)
    if check and proc.returncode != 0:
        raise SystemExit(f"bench: `{' '.join(map(str, cmd))}` in {cwd} exited {proc.returncode}:\n"
                         f"{proc.stdout}{proc.stderr}")
    return proc


def git(cwd: Path | str, env: dict[str, str], *args: str, input: str | None = None) -> str:
    return run(["git", *args], cwd, env, input=input).stdout.strip()


def wta(cwd: Path | str, env: dict[str, str], *args: str) -> str:
    return run([PYTHON, "-m", "worktree_agents", *args], cwd, env).stdout


# -- synthetic repository ----------------------------------------------------------

@dataclass
class SyntheticRepo:
    """A repository whose files are spread over stream zones, zones.yaml committed on main."""

    path: Path
    streams: list[str]
    owned: dict[str, list[str]]   # stream -> the tracked files its zone owns
    start: str                    # the commit on main after the build


def stream_names(count: int) -> list[str]:
    return [f"s{i:02d}" for i in range(count)]


def realistic_zone(stream: str) -> str:
    """A directory, a nested exclusion, a root file, a doc glob."""
    return f"[{stream}/**, \"!{stream}/generated/**\", /config/{stream}.toml, docs/{stream}/*.md]"


def zones_yaml(streams: Sequence[str], extra: str = "", zone: Callable[[str], str] = realistic_zone,
               read_only: str = "[vendor/**, \"**/generated/**\"]") -> str:
    """A zones.yaml with realistic zones (`zone(stream)`, the paths as YAML).

    By default stream sNN owns `sNN/**` except `sNN/generated/**`, plus
    `/config/sNN.toml` and `docs/sNN/*.md`; `vendor/**` and generated code are
    read-only. `extra` is appended: more top-level settings, e.g. "sparse: true\n".
    """
    lines = ["version: 1", "base: main", "branch_prefix: wta/", "worktrees: ../{repo}-worktrees/{stream}",
             "unowned: deny", f"read_only: {read_only}", "agent: {runner: manual}", "streams:"]
    for s in streams:
        lines.append(f"  {s}:")
        lines.append(f"    paths: {zone(s)}")
    return "\n".join(lines) + "\n" + extra


def stream_files(stream: str, count: int) -> list[str]:
    """`count` in-zone paths for a stream, nested a few levels like source code."""
    paths = [f"config/{stream}.toml", f"docs/{stream}/README.md"]
    i = 0
    while len(paths) < count:
        paths.append(f"{stream}/src/pkg{i // 200:02d}/mod{(i // 20) % 10}/file{i:05d}.py")
        i += 1
    return paths[:count]


def file_text(path: str, version: int = 0) -> str:
    return f"# {path}\nVALUE = {version}\n"


def write_files(root: Path, paths: Iterable[str], version: int = 0) -> None:
    made: set[Path] = set()
    for rel in paths:
        target = root / rel
        if target.parent not in made:
            target.parent.mkdir(parents=True, exist_ok=True)
            made.add(target.parent)
        target.write_text(file_text(rel, version))


def plain_zone(stream: str) -> str:
    """Whole directories and a root file: what the pre-commit hook's shell decides by itself."""
    return f"[{stream}/**, /config/{stream}.toml, /docs/{stream}/]"


def build_repo(path: Path, env: dict[str, str], files: int = 20_000, streams: int = 20,
               owners: dict[str, int] | None = None, extra_zones: str = "",
               files_in_commit: Iterable[tuple[str, str]] = (), plain: bool = False) -> SyntheticRepo:
    """A repository of `files` tracked files over `streams` streams, committed on main.

    Each stream owns an equal share, except those given in `owners`
    (stream -> file count); the rest of the budget is spread over the others.
    `extra_zones` is appended to zones.yaml (see `zones_yaml`). `files_in_commit`
    adds (path, text) pairs, e.g. a tool's configuration; they and zones.yaml
    count towards `files`. `plain`: `plain_zone`s and only `vendor/**` read-only.
    """
    names = stream_names(streams)
    owners = dict(owners or {})
    files_in_commit = list(files_in_commit)
    budget = files - sum(owners.values()) - 1 - len(files_in_commit)  # 1: zones.yaml
    rest = [s for s in names if s not in owners]
    if budget < 0 or (budget and not rest):
        raise SystemExit(f"bench: {files} files cannot be spread as {owners} over {streams} streams")
    share, extra = divmod(budget, len(rest)) if rest else (0, 0)
    counts = {**{s: share + (1 if i < extra else 0) for i, s in enumerate(rest)}, **owners}
    path.mkdir(parents=True)
    git(path, env, "init", "-q", "-b", "main")
    owned = {s: stream_files(s, counts[s]) for s in names}
    for paths in owned.values():
        write_files(path, paths)
    (path / "zones.yaml").write_text(zones_yaml(names, extra_zones, plain_zone, "[vendor/**]") if plain
                                     else zones_yaml(names, extra_zones))
    for rel, text in files_in_commit:
        (path / rel).parent.mkdir(parents=True, exist_ok=True)
        (path / rel).write_text(text)
    git(path, env, "add", "-A")
    git(path, env, "commit", "-q", "-m", "synthetic repository")
    repo = SyntheticRepo(path, names, owned, git(path, env, "rev-parse", "HEAD"))
    tracked = int(git(path, env, "ls-files", "--cached", "-z").count("\0"))
    if tracked != files:
        raise SystemExit(f"bench: built {tracked} tracked files, expected {files}")
    return repo


def changed_paths(owned: Sequence[str], stream: str, count: int) -> list[str]:
    """`count` in-zone paths to stage: the stream's files modified, then new files added."""
    paths = list(owned[:count])
    i = 0
    while len(paths) < count:
        paths.append(f"{stream}/src/new/file{i:05d}.py")
        i += 1
    return paths


# -- timing ---------------------------------------------------------------------------

@dataclass
class Case:
    """One configuration under test: untimed `prepare`, then the timed command."""

    name: str
    cmd: Sequence[str]
    cwd: Path | str
    env: dict[str, str]
    prepare: Callable[[], None] = lambda: None
    stdin: bytes | None = None
    expect: int = 0                    # the exit code every run must have


@dataclass
class Samples:
    """Wall-clock and CPU seconds of each run of one case."""

    name: str
    seconds: list[float] = field(default_factory=list)
    cpu_seconds: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def ms(self) -> float:
        return self.median * 1000

    @property
    def cpu_ms(self) -> float:
        """Median CPU time (user + system) of the process and all it started: what
        the work costs, less sensitive than wall time to other load on the machine."""
        return statistics.median(self.cpu_seconds) * 1000

    def spread(self) -> str:
        """Min-max in ms, to show how noisy the figure is."""
        return f"{min(self.seconds) * 1000:.0f}-{max(self.seconds) * 1000:.0f}"


def time_once(case: Case) -> tuple[float, float]:
    """Wall-clock and CPU seconds of one whole process (with its children), start to exit."""
    case.prepare()
    stdin = subprocess.PIPE if case.stdin is not None else subprocess.DEVNULL
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.Popen(list(case.cmd), cwd=case.cwd, env=case.env, stdin=stdin,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = proc.communicate(case.stdin)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if proc.returncode != case.expect:
        raise SystemExit(f"bench: {case.name}: `{' '.join(map(str, case.cmd))}` exited {proc.returncode}, "
                         f"expected {case.expect}:\n{out.decode(errors='replace')}{err.decode(errors='replace')}")
    return elapsed, cpu


def measure(cases: Sequence[Case], repeat: int, warmup: int = 1) -> dict[str, Samples]:
    """Time every case `repeat` times, rotating their order each round.

    Rotating (a b c, b c a, c a b, ...) spreads slow moments of a loaded
    machine over all cases; warm-up rounds fill the caches and are dropped.
    """
    results = {c.name: Samples(c.name) for c in cases}
    for round_ in range(warmup + repeat):
        k = round_ % len(cases)
        for case in list(cases[k:]) + list(cases[:k]):
            elapsed, cpu = time_once(case)
            if round_ >= warmup:
                results[case.name].seconds.append(elapsed)
                results[case.name].cpu_seconds.append(cpu)
    return results


def ratio(a: float, b: float) -> float:
    return a / b if b else float("inf")


# -- reporting ------------------------------------------------------------------------

def machine() -> dict[str, object]:
    """What the figures were measured on, load included."""
    git_version = subprocess.run(["git", "--version"], capture_output=True, text=True).stdout.strip()
    return {
        "date": datetime.date.today().isoformat(),
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "git": git_version.removeprefix("git version "),
        "loadavg": [round(x, 2) for x in os.getloadavg()],
    }


def table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """A plain-text table, numbers right-aligned."""
    rows = [[_cell(v) for v in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    def line(cells: Sequence[str]) -> str:
        return "  ".join(c.rjust(w) if _numeric(c) else c.ljust(w) for c, w in zip(cells, widths)).rstrip()
    return "\n".join([line(headers), line(["-" * w for w in widths]), *map(line, rows)])


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.2f}" if abs(value) < 10 else f"{value:.1f}"
    return str(value)


def _numeric(cell: str) -> bool:
    return cell.replace(".", "", 1).replace("×", "").replace("-", "").isdigit()


def write_json(path: Path | str, data: object) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(data, indent=2) + "\n")


def scratch_dir(out: Path | str | None, name: str) -> Path:
    """A fresh scratch directory: `out/name` (emptied first), default bench/out/name."""
    path = Path(out) if out else ROOT / "bench" / "out" / name
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    return path


def report_against_floor(samples: dict[str, "Samples"], args, target: float, commits_on_main: int,
                         extra: dict | None = None, extra_verdict: str = "") -> int:
    """Print and save (`--json`) a run timed against the bare-git loop (case "bare"): the table, the
    ratio of "wta" to it and the verdict against `target`; the exit code (1 when the target is missed)."""
    figures = {
        "machine": machine(), "streams": args.streams, "commits": args.commits, "repeat": args.repeat,
        "commits_on_main": commits_on_main,
        "wta_s": round(samples["wta"].median, 3), "bare_s": round(samples["bare"].median, 3),
        "ratio": round(ratio(samples["wta"].median, samples["bare"].median), 3), "target": target,
        **(extra or {}),
        "spread_ms": {name: s.spread() for name, s in samples.items()},
        "cpu_s": {name: round(s.cpu_ms / 1000, 3) for name, s in samples.items()},
        "cpu_ratio": round(ratio(samples["wta"].cpu_ms, samples["bare"].cpu_ms), 3),
    }
    print(table(("run", "wall median s", "wall min-max ms", "cpu median s"),
                [(name, s.median, s.spread(), s.cpu_ms / 1000) for name, s in samples.items()]))
    verdict = "meets" if figures["ratio"] <= target else "MISSES"
    print(f"wta / bare = {figures['ratio']:.2f}x wall ({verdict} the target <= {target}x), "
          f"{figures['cpu_ratio']:.2f}x cpu; {extra_verdict}"
          f"main has {commits_on_main} commits; {figures['machine']}")
    if args.json:
        write_json(args.json, figures)
    return 0 if figures["ratio"] <= target else 1
