"""Reliability figures: run the hardening suites and rewrite docs/reliability.md from them.

    python bench/reliability.py            # the fast subset (the tests CI runs)
    python bench/reliability.py --full     # every suite, the slow ones (the 32-stream load) included

Runs pytest on tests/hardening/ (every file there: bad input, evasion, faults,
load, secrets, whatever is present) plus the fault tests that live with their
modules (tests/merge/test_recovery.py, and the killed-wrapper test of
tests/sessions/test_supervisor.py). The fast subset is everything not marked
`slow`, on two pytest-xdist workers. `--full` runs that, then the `slow` tests
alone, one at a time, so that the load's times and memory are its own.

Pass and fail per test come from pytest's JUnit XML report; the figures the
tests measure (faults injected and the commits each cost, load times and
memory, the secrets search) come from the lines they append to
$WTA_FIGURES (tests/hardening/figures.py). The page is rewritten from both,
with the date and the machine. Exit status 1 if any test failed.

Requirements: wta installed from this checkout (`pip install -e '.[test]'`).
Scratch files go to bench/out/reliability/ (git-ignored), emptied first.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from hardening.figures import FAULT, FIGURES_ENV, KILLS, LOAD, SECRETS, read  # noqa: E402

FAST_COMMAND = "python bench/reliability.py"
FULL_COMMAND = "python bench/reliability.py --full"
SUITES = ["tests/hardening", "tests/merge/test_recovery.py",
          "tests/sessions/test_supervisor.py::test_a_session_killed_with_sigkill_shows_crashed"]
FAULT_FILES = ("tests/hardening/test_faults.py", "tests/hardening/test_merge_recovery.py", "tests/merge/test_recovery.py",
               "tests/sessions/test_supervisor.py")
# Where a random kill landed, in the order the page lists them (tests/hardening/test_merge_kills.py).
KILL_PLACES = ("inside git rebase", "inside a checkout (fast-forward or restore)", "inside the test",
               "inside another git command", "in wta itself")

# The fault tests that record no figures (they assert the same inclusion of every commit): what they inject.
OLDER_FAULTS = {
    "test_killed_merge_can_be_aborted_then_continued": ("SIGKILL of `wta merge` {}", "`--abort`, then `--continue`"),
    "test_a_second_merge_cannot_run_while_one_runs": ("a second `wta merge` while one runs",
                                                      "refused in one line; `--continue` of the first"),
    "test_a_session_killed_with_sigkill_shows_crashed": ("SIGKILL of a session's wrapper (`crashed`)",
                                                         "its process group is ended"),
}

# What each suite proves (files not listed here are reported without a description).
ABOUT = {
    "tests/hardening/test_bad_input.py": "malformed zones.yaml files and command lines: one line, exit 2, "
                                         "nothing changed",
    "tests/hardening/test_evasion.py": "ways a stream could get a change outside its zone into the base: none does",
    "tests/hardening/test_faults.py": "SIGKILL of sessions, coordinators and merges, a full disk, a deleted worktree, "
                                      "the base moved during a merge, two commands at once",
    "tests/hardening/test_load.py": "concurrent sessions committing through the hooks, then one merge of all",
    "tests/hardening/test_merge_attacks_git.py": "attacks on what wta believes git tells it (separator bytes in "
                                                 "history, a forged commit-graph, short ref names, invalid trees, "
                                                 "a stream's code in wta's git): refused, the base unmoved",
    "tests/hardening/test_merge_scale.py": "a conflict over 15,000 paths, paths with control characters, git's "
                                           "reasons: reported in one line each, not crashed on",
    "tests/hardening/test_rule_files.py": "`.gitattributes` and `.gitignore` changes that reach other zones' "
                                          "paths: refused at commit and at merge",
    "tests/hardening/test_merge_kills.py": "SIGKILL of `wta merge`, `--continue` and `--abort` at random instants "
                                           "(10; 100 with --full): every run recovers, loses nothing, and the base "
                                           "never stands at an untested commit",
    "tests/hardening/test_merge_recovery.py": "commits made during a merge are never lost; what a killed git leaves "
                                              "(locks, rebase state, a detached HEAD, half-written files, a deleted "
                                              "branch) is cleared by --continue and --abort",
    "tests/hardening/test_secrets.py": "the search for API keys finds a planted key in every kind of place",
    "tests/merge/test_recovery.py": "SIGKILL of `wta merge` inside the rebase, the copy onto the base, the test, "
                                  "between streams and around the fast-forward; --abort and --continue",
    "tests/sessions/test_supervisor.py": "SIGKILL of a session wrapper: `crashed`",
}


# -- running ---------------------------------------------------------------------------

def pytest_run(out: Path, name: str, marks: str, workers: int, figures: Path) -> Path:
    """One pytest run over the suites; its JUnit XML report."""
    report = out / f"{name}.xml"
    argv = [sys.executable, "-m", "pytest", *SUITES, "-q", "-p", "no:cacheprovider", "-m", marks,
            f"--junit-xml={report}", "-o", "junit_family=xunit1"]
    argv += ["-n", str(workers)] if workers > 1 else ["-p", "no:xdist"]
    env = {**os.environ, FIGURES_ENV: str(figures)}
    print(f"$ {' '.join(argv[1:])}", flush=True)
    subprocess.run(argv, cwd=ROOT, env=env)
    return report


def outcomes(report: Path) -> dict[str, dict]:
    """Per test (pytest node id): its file, outcome and seconds, from a JUnit XML report."""
    found = {}
    if not report.exists():
        return found
    for case in ET.parse(report).getroot().iter("testcase"):
        path = case.get("file") or "(collection)"
        # classname: the file's dotted path, then any class the test sits in
        dotted = path.removesuffix(".py").replace("/", ".")
        classes = case.get("classname", "").removeprefix(dotted).strip(".")
        node = "::".join([path, *filter(None, classes.split(".")), case.get("name", "")])
        if case.find("skipped") is not None:
            outcome = "skipped"
        elif case.find("failure") is not None or case.find("error") is not None:
            outcome = "failed"
        else:
            outcome = "passed"
        found[node] = {"file": path, "outcome": outcome, "seconds": float(case.get("time") or 0)}
    return found


def machine() -> dict[str, object]:
    git = subprocess.run(["git", "--version"], capture_output=True, text=True).stdout.strip()
    return {"date": datetime.date.today().isoformat(), "cpus": os.cpu_count(), "platform": platform.platform(),
            "python": platform.python_version(), "git": git.removeprefix("git version "),
            "loadavg_before": [round(x, 2) for x in os.getloadavg()]}


# -- figures -----------------------------------------------------------------------------

def summarise(tests: dict[str, dict], records: list[dict], full: bool, host: dict, seconds: float) -> dict:
    per_file: dict[str, dict] = defaultdict(lambda: {"tried": 0, "passed": 0, "failed": 0, "skipped": 0,
                                                     "seconds": 0.0})
    for test in tests.values():
        row = per_file[test["file"]]
        row["tried"] += 1
        row[test["outcome"]] += 1
        row["seconds"] = round(row["seconds"] + test["seconds"], 1)
    passed = {node for node, t in tests.items() if t["outcome"] == "passed"}

    measured = {r["test"]: r for r in records if r["kind"] == FAULT}
    faults = []
    for node, test in sorted(tests.items()):
        if test["file"] not in FAULT_FILES:
            continue
        r = measured.get(node)
        if r is None:
            name, _, param = node.split("::")[-1].partition("[")
            what, recovery = OLDER_FAULTS.get(name, (name, ""))
            r = {"name": what.format(param.rstrip("]").replace("-", " ")), "recovery": recovery,
                 "commits_before": None, "commits_lost": None}
        faults.append({"test": node, "fault": r["name"], "recovery": r["recovery"],
                       "commits_before": r["commits_before"], "commits_lost": r["commits_lost"],
                       "survived": node in passed})
    loads = [{**r, "passed": r["test"] in passed} for r in records if r["kind"] == LOAD]
    kills = [{**r, "passed": r["test"] in passed} for r in records if r["kind"] == KILLS]
    searches = [{**r, "passed": r["test"] in passed} for r in records if r["kind"] == SECRETS]
    lost = (sum(f["commits_lost"] or 0 for f in faults) + sum(r["commits_lost"] for r in loads)
            + sum(k["commits_lost"] for k in kills))
    return {
        "full": full, "machine": host, "seconds": round(seconds),
        "tests": {"tried": len(tests), "passed": len(passed),
                  "failed": sum(t["outcome"] == "failed" for t in tests.values())},
        "failed": sorted(node for node, t in tests.items() if t["outcome"] != "passed"),
        "suites": dict(sorted(per_file.items())),
        "faults": {"injected": len(faults) + sum(k["kills"] for k in kills),
                   "survived": sum(f["survived"] for f in faults) + sum(k["kills"] for k in kills if k["passed"]),
                   "commits_lost": sum(f["commits_lost"] or 0 for f in faults) + sum(k["commits_lost"] for k in kills),
                   "cases": faults},
        "kills": kills,
        "load": loads,
        "secrets": {"searches": len(searches), "found": sum(s["found"] for s in searches), "runs": searches},
        "commits_lost": lost,
    }


# -- the page ------------------------------------------------------------------------------

def _table(headers: list[str], rows: list[list[object]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "| " + " | ".join("---" for _ in headers) + " |"]
    lines += ["| " + " | ".join("" if v is None else str(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def render(s: dict) -> str:
    host = s["machine"]
    scope = ("every suite, the slow ones included" if s["full"] else
             "the fast subset only: the tests marked `slow` (the 32-stream load) did not run")
    verdict = ("every test passed" if s["tests"]["failed"] == 0 else f"{s['tests']['failed']} test(s) FAILED")
    out = [
        "# Reliability",
        "",
        "<!-- Written by bench/reliability.py; do not edit by hand: run it again. -->",
        "",
        f"Figures from `{FULL_COMMAND if s['full'] else FAST_COMMAND}` ({scope}), run on {host['date']} "
        f"on a {host['cpus']}-CPU machine ({host['platform']}, Python {host['python']}, git {host['git']}; "
        f"load average {', '.join(map(str, host['loadavg_before']))} before the run), in "
        f"{_duration(s['seconds'])}.",
        "",
        f"**{s['tests']['passed']} of {s['tests']['tried']} tests passed ({verdict}). "
        f"Faults injected: {s['faults']['injected']}, survived: {s['faults']['survived']}. "
        f"Commits lost: {s['commits_lost']}. Secrets found: {s['secrets']['found']}.**",
        "",
        *_failures(s),
        "## Reproduce",
        "",
        "    pip install -e '.[test]'",
        f"    {FAST_COMMAND}          # the fast subset: the hardening tests not marked slow",
        f"    {FULL_COMMAND}   # every suite, the 32-stream load included",
        "",
        "Either one reruns the suites and rewrites this page. The fast subset is also part of the",
        "README's test command (`python -m pytest -n 2`), which deselects the `slow` tests: CI runs it",
        "with every push. The suites are `tests/hardening/` and the fault tests that live with their",
        "modules (`tests/merge/test_recovery.py`, the killed-wrapper test of",
        "`tests/sessions/test_supervisor.py`).",
        "",
        "## Suites",
        "",
        _table(["suite", "what it proves", "cases tried", "passed", "failed", "time"],
               [[f"`{path}`", ABOUT.get(path, ""), row["tried"], row["passed"], row["failed"] + row["skipped"],
                 _duration(row["seconds"])] for path, row in s["suites"].items()]),
        "",
        "## Faults",
        "",
        f"Injected: {s['faults']['injected']}. Survived: {s['faults']['survived']} (the test passed: `wta status",
        "--json` said what happened, every commit reachable before was reachable after, and the recovery",
        f"named for it worked). Commits lost: {s['faults']['commits_lost']}.",
        "",
        "Commits before/lost are counted with `git rev-list --all` around the fault by the tests of",
        "`tests/hardening/test_faults.py`; the older fault tests assert the same inclusion without",
        "recording the counts (shown as -).",
        "",
        _table(["fault", "recovery", "commits reachable before", "lost", "survived"],
               [[f["fault"], f["recovery"], f["commits_before"] if f["commits_before"] is not None else "-",
                 f["commits_lost"] if f["commits_lost"] is not None else "-", "yes" if f["survived"] else "NO"]
                for f in s["faults"]["cases"]]),
        "",
        *_kills(s["kills"]),
        "## Load",
        "",
    ]
    if s["load"]:
        out += [
            "Each stream's `command` session commits in its own zone through the real pre-commit and",
            "commit-msg hooks, all sessions at once (up to `max_parallel`); then one `wta merge --no-test`",
            "rebases and fast-forwards them all. Times are wall-clock, start to exit. Memory is resident",
            "memory sampled every 0.1 s with psutil: of the `wta` process itself, of all of wta's processes",
            "(command, coordinator, session wrappers, hooks) together, and of the whole process tree",
            "(agents and git included). The sums count the pages that processes share (the Python",
            "interpreter, libraries) once per process, so they are upper bounds. The small run shares the",
            "machine with the other fast tests (two pytest workers); the slow one runs alone.",
            "",
            _table(["", *(f"{r['streams']} × {r['commits_per_stream']}" for r in s["load"])],
                   [[label, *(fn(r) for r in s["load"])] for label, fn in _LOAD_ROWS]),
        ]
    else:
        out.append("No load run recorded.")
    out += [
        "",
        "## Secrets",
        "",
        "Every load session got `ANTHROPIC_API_KEY=sk-ant-test-<random>` (and printed it). Afterwards the",
        "key, and its random middle alone, were searched for in every file under the run's directories",
        "(the state dir `<common>/wta`, every worktree with untracked and ignored files, the git dir,",
        "HOME), every git object decompressed (reachable or not), `git log -p --all`, the output of",
        "`wta up`, `wta status --json` and `wta merge --json`, and the command line of every process",
        "sampled during the run.",
        "",
        _table(["run", "files", "git objects", "bytes searched", "found"],
               [[_run_name(r["test"], s["load"]), r["files"], r["objects"], r["bytes_searched"], r["found"]]
                for r in s["secrets"]["runs"]]) if s["secrets"]["runs"] else "No search recorded.",
        "",
        f"Secrets found: {s['secrets']['found']}.",
        "",
    ]
    return "\n".join(out)


def _kills(kills: list[dict]) -> list[str]:
    """The random kills of `wta merge`, `--continue` and `--abort` (counted in the faults above)."""
    if not kills:
        return []
    return [
        "### Random kills of `wta merge`",
        "",
        "`tests/hardening/test_merge_kills.py` runs `wta merge`, `--continue` and `--abort` as processes and kills",
        "the whole process group (git and the `test:` included) with SIGKILL at a random instant, up to the time an",
        "uninterrupted merge takes; the next command is `--continue` or `--abort` at random, and may be killed",
        "too. A run ends with a recovery that is not killed. Each kill counts as a fault above; a run *recovered*",
        "when it needed no manual step, left every worktree on its branch and clean, lost no commit (each is on",
        "the base, a branch or a backup ref), and the base's reflog holds only commits the real `test:` recorded",
        "as tested. Where the kills landed is read from the process group at the instant of the kill.",
        "",
        _table(["test", "kills", *KILL_PLACES, "runs", "runs recovered", "commits lost", "seed"],
               [[k["test"].split("::")[-1], k["kills"], *(k["where"].get(p, 0) for p in KILL_PLACES), k["runs"],
                 k["runs"] - k["failed_runs"] if k["passed"] else f"{k['runs'] - 1} (one FAILED)",
                 k["commits_lost"], k["seed"]] for k in kills]),
        "",
    ]


def _failures(s: dict) -> list[str]:
    failed = s["failed"]
    if not failed:
        return []
    return ["Failed:", "", *(f"- `{node}`" for node in failed), ""]


def _run_name(test: str, loads: list[dict]) -> str:
    load = next((r for r in loads if r["test"] == test), None)
    return f"load {load['streams']} × {load['commits_per_stream']}" if load else test.split("::")[-1]


def _mem(key: str, phase: str):
    return lambda r: f"{r[f'{phase}_memory'][key]} MiB"


_LOAD_ROWS = [
    ("streams × commits per stream", lambda r: f"{r['streams']} × {r['commits_per_stream']}"),
    ("max_parallel (CPUs)", lambda r: f"{r['max_parallel']} ({r['cpus']})"),
    ("`wta up --no-launch` (worktrees)", lambda r: f"{r['prepare_seconds']} s"),
    ("`wta up` (sessions, until the last ends)", lambda r: f"{r['sessions_seconds']} s"),
    ("commits per second, all sessions", lambda r: r["commits_per_second"]),
    ("`wta merge --no-test`", lambda r: f"{r['merge_seconds']} s"),
    ("`wta status --json` afterwards", lambda r: f"{r['status_seconds']} s"),
    ("peak memory of `wta up` itself", _mem("peak_rss_mib", "sessions")),
    ("peak memory of wta's processes during the sessions", _mem("wta_peak_rss_mib", "sessions")),
    ("peak memory of one session wrapper", _mem("wrapper_peak_rss_mib", "sessions")),
    ("peak memory of the whole tree during the sessions", _mem("tree_peak_rss_mib", "sessions")),
    ("most processes at once", lambda r: r["sessions_memory"]["processes_peak"]),
    ("peak memory of `wta merge`", _mem("peak_rss_mib", "merge")),
    ("peak memory of `wta status --json`", _mem("peak_rss_mib", "status")),
    ("commits made", lambda r: r["commits_made"]),
    ("of them in the base after the merge", lambda r: r["commits_in_base"]),
    ("commits lost", lambda r: r["commits_lost"]),
    ("commits on the base in all", lambda r: r["base_commits_total"]),
    ("test passed", lambda r: "yes" if r["passed"] else "NO"),
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--full", action="store_true", help="also run the slow suites (the 32-stream load)")
    parser.add_argument("--workers", type=int, default=2, help="pytest-xdist workers for the fast part (default 2)")
    parser.add_argument("--out", default=str(ROOT / "bench" / "out" / "reliability"), help="scratch directory")
    parser.add_argument("--doc", default=str(ROOT / "docs" / "reliability.md"), help="the page to rewrite")
    parser.add_argument("--json", help="also write every figure to this file")
    args = parser.parse_args(argv)

    out = Path(args.out)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    figures = out / "figures.jsonl"
    host = machine()
    started = time.monotonic()
    tests = outcomes(pytest_run(out, "fast", "not slow", args.workers, figures))
    if args.full:  # alone and one at a time: the load's times and memory must be its own
        tests.update(outcomes(pytest_run(out, "slow", "slow", 1, figures)))
    summary = summarise(tests, read(figures), args.full, host, time.monotonic() - started)

    Path(args.doc).write_text(render(summary), encoding="utf-8")
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
    t, f = summary["tests"], summary["faults"]
    print(f"{t['passed']}/{t['tried']} tests passed; faults injected {f['injected']}, survived {f['survived']}; "
          f"commits lost {summary['commits_lost']}; secrets found {summary['secrets']['found']}; "
          f"wrote {os.path.relpath(args.doc)}")
    return 0 if t["failed"] == 0 and t["tried"] > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
