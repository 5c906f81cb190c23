"""The CPU of every git process of the integration loop, `wta up --land` against the bare loop.

    python bench/loop_git_cpu.py [--streams 8 --commits 10 --out DIR --json FILE]

The repositories and both loops of bench_loop.py, each run once with a `git` on
PATH that runs the real one and records the CPU it used (user and system, from
the `rusage` its `wait4` returns: a commit's hooks and the git processes they
start are counted in the commit, as git starts them from its own exec path).
Prints, per git command, how many processes each loop started and their CPU.
The wrapper is a Python script: it slows the run down and makes every process
a little dearer (the machine is busier); read the figures as shares of the
whole, and the timings of bench_loop.py as the benchmark.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_loop import bare_loop, build, loop_arguments, loop_scratch  # noqa: E402
from common import PYTHON, git, machine, run, table, write_json  # noqa: E402

# A git in front of the real one. -S -E: no site-packages, no PYTHON* variables; it imports only
# what is built in. The log directory lies in the temp dir, which a sandboxed session may write; a record's
# name is more than its pid, which repeats (each sandboxed session has a pid namespace of its own).
SHIM = """#!{python} -SE
import os, sys
pid = os.fork()
if pid == 0:
    os.execv({git!r}, ["git"] + sys.argv[1:])
_, status, usage = os.wait4(pid, 0)
with open(os.path.join({log!r}, "%d-%s" % (os.getpid(), os.urandom(6).hex())), "w") as f:
    f.write("%d %d\\0%s" % (usage.ru_utime * 1e6, usage.ru_stime * 1e6, "\\0".join(sys.argv[1:])))
sys.exit(os.waitstatus_to_exitcode(status))
"""

# Options that come before git's command name, and those of them that take the next argument too.
WITH_VALUE = {"-c", "-C", "--git-dir", "--work-tree", "--namespace"}


def command_of(args: list[str]) -> str:
    """The git command a command line runs (`worktree add`, `commit`, ...)."""
    i = 0
    while i < len(args) and args[i].startswith("-"):
        i += 2 if args[i] in WITH_VALUE else 1
    if i >= len(args):   # options only, such as `git --exec-path`
        return args[-1] if args else "(none)"
    if args[i] in ("worktree", "config") and i + 1 < len(args) and not args[i + 1].startswith("-"):
        return f"{args[i]} {args[i + 1]}"
    return args[i]


def timed_run(cmd: list[str], cwd: Path, env: dict[str, str], shim_dir: Path, log: Path) -> dict[str, list[float]]:
    """Run `cmd` with the shim first on PATH; per git command: [processes, CPU seconds]."""
    log.mkdir()
    run(cmd, cwd, {**env, "PATH": f"{shim_dir}{os.pathsep}{env['PATH']}", "WTA_GIT": os.path.join(shim_dir, "git")})
    found: dict[str, list[float]] = defaultdict(lambda: [0, 0.0])
    for entry in log.iterdir():
        times, _, rest = entry.read_text().partition("\0")
        user, system = map(int, times.split())
        row = found[command_of(rest.split("\0") if rest else [])]
        row[0] += 1
        row[1] += (user + system) / 1e6
    return dict(found)


def main(argv: list[str] | None = None) -> int:
    args = loop_arguments(argv, __doc__.split("\n\n")[0], "loop-git-cpu", repeat=False)
    scratch, env, streams, agent = loop_scratch(args, "loop-git-cpu")
    real_git = shutil.which("git", path=env["PATH"])
    if real_git is None:
        raise SystemExit("bench: git is not on PATH")
    logs = Path(tempfile.mkdtemp(prefix="wta-git-cpu-"))
    try:
        shim_dir = scratch / "shim"
        shim_dir.mkdir()
        (shim_dir / "git").write_text(SHIM.format(python=PYTHON, git=real_git, log=str(logs / "now")))
        (shim_dir / "git").chmod(0o755)
        figures = {}
        for name, cmd in (("wta", [PYTHON, "-m", "worktree_agents", "up", "--land"]), ("bare", None)):
            repo = scratch / name / "repo"
            build(repo, env, streams, agent)
            cmd = cmd or ["sh", "-c", bare_loop(repo, streams, agent)]
            figures[name] = timed_run(cmd, repo, env, shim_dir, logs / "now")
            (logs / "now").rename(logs / name)
        trees = {git(scratch / name / "repo", env, "rev-parse", "main^{tree}") for name in figures}
        if len(trees) != 1:
            raise SystemExit("bench: wta and the bare loop ended with different trees on main")
    finally:
        shutil.rmtree(logs, ignore_errors=True)

    commands = sorted(set(figures["wta"]) | set(figures["bare"]),
                      key=lambda c: -max(figures["wta"].get(c, [0, 0.0])[1], figures["bare"].get(c, [0, 0.0])[1]))

    def cells(name: str, command: str) -> tuple[object, str]:
        count, cpu = figures[name].get(command, [0, 0.0])
        return count, f"{cpu * 1000:.0f}"

    rows = [(c, *cells("bare", c), *cells("wta", c)) for c in commands]
    totals = {name: (sum(v[0] for v in figures[name].values()), sum(v[1] for v in figures[name].values()))
              for name in figures}
    rows.append(("all", totals["bare"][0], f"{totals['bare'][1] * 1000:.0f}",
                 totals["wta"][0], f"{totals['wta'][1] * 1000:.0f}"))
    print(f"{args.streams} streams in chains of 2 x {args.commits} commits: git processes and their CPU")
    print(table(("git command", "bare: processes", "bare: cpu ms", "wta: processes", "wta: cpu ms"), rows))
    print(json.dumps(machine()))
    if args.json:
        write_json(args.json, {"machine": machine(), "streams": args.streams, "commits": args.commits,
                               "git": figures})
    return 0


if __name__ == "__main__":
    sys.exit(main())
