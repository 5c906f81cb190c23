"""Whole-process timings of what the sandbox adds: a session start and a merge's `test:`.

    python bench/bench_sandbox.py [--repeat 15 --out DIR --json FILE]

Two identical repositories (a README and three streams, zones.yaml committed
on main, worktrees made by `wta up --no-launch`) differ only in zones.yaml's
`sandbox:` key, `required` in one and `off` in the other. Timed, start to exit:

  session   the session wrapper of stream `api` (`python -m
            worktree_agents.sessions.wrapper --stream api ...`) with a `runner:
            command` agent that exits at once (`true`): everything wta does to
            start, run, record and end a session, the sandbox included when on.
            Started as the coordinator starts it: `wta up` has probed bwrap
            once already and passed that on (WTA_BWRAP_WORKS)
  merge     `wta merge api` with `test: true` and one commit to land: verify,
            rebase, the test (sandboxed when on), fast-forward; main and the
            branch are reset between runs, outside the timing
  floor     the sandbox alone: `bwrap` with the policy of stream `api` running
            `true`, against `true` (what bubblewrap itself costs)
  landlock  that `bwrap` with its Landlock step (`python -I -S`, which keeps
            named pipes out of git's files, then execs `true`) against the same
            `bwrap` without it (what the step costs each sandboxed command)

Rounds rotate the order of the cases. The target: the session start gains at
most 50 ms (median) with the sandbox on. It exits 1 when that is not met.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import PYTHON, Case, bench_env, git, machine, measure, run, scratch_dir, table, wta, write_json  # noqa: E402

TARGET_MS = 50.0
ZONES = """version: 1
sandbox: {mode}
test: "true"
agent:
  runner: command
  command: "true"
streams:
  api:
    paths: [src/api/**]
  ui:
    paths: [src/ui/**]
  infra:
    paths: [infra/**]
"""


def make_repo(path: Path, env: dict[str, str], mode: str) -> dict[str, str]:
    """A repository with worktrees; the shas the merge case resets to."""
    for rel in ("src/api/a.py", "src/ui/page.html", "infra/setup.sh", "README.md"):
        (path / rel).parent.mkdir(parents=True, exist_ok=True)
        (path / rel).write_text(f"{rel}\n")
    (path / "zones.yaml").write_text(ZONES.format(mode=mode))
    git(path, env, "init", "-q", "-b", "main")
    git(path, env, "add", "-A")
    git(path, env, "commit", "-q", "-m", "initial")
    wta(path, env, "up", "--no-launch")
    api = path.parent / f"{path.name}-worktrees" / "api"
    (api / "src/api/a.py").write_text("changed\n")
    git(api, env, "commit", "-qam", "change")
    return {"main": git(path, env, "rev-parse", "main"), "api": git(path, env, "rev-parse", "wta/api"),
            "worktree": str(api)}


def cases(scratch: Path, env: dict[str, str]) -> list[Case]:
    from worktree_agents import sandbox

    probed = {**env, sandbox.PROBED_ENV: sandbox.bwrap() or "", sandbox.LANDLOCK_ENV: str(sandbox.landlock_abi())}
    found = []
    for mode, label in (("required", "sandboxed"), ("off", "unsandboxed")):
        repo = scratch / f"repo-{label}"
        repo.mkdir()
        shas = make_repo(repo, env, mode)
        wrapper = [PYTHON, "-m", "worktree_agents.sessions.wrapper", "--stream", "api", "--worktree",
                   shas["worktree"], "--runner", "command"]
        found.append(Case(f"session {label}", wrapper, shas["worktree"], probed if mode == "required" else env))

        def reset(repo=repo, shas=shas) -> None:
            run(["git", "reset", "-q", "--hard", shas["main"]], repo, env)
            run(["git", "update-ref", "refs/heads/wta/api", shas["api"]], repo, env)
            run(["git", "reset", "-q", "--hard", shas["api"]], shas["worktree"], env)
            state = repo / ".git" / "wta" / "merge.json"
            state.unlink(missing_ok=True)

        found.append(Case(f"merge {label}", [PYTHON, "-m", "worktree_agents", "merge", "api"], repo, env,
                          prepare=reset))
    repo = scratch / "repo-sandboxed"
    worktree = str(scratch / "repo-sandboxed-worktrees" / "api")
    old_home = os.environ.get("HOME")
    os.environ["HOME"] = env["HOME"]  # the allow-list under the bench's HOME, as the wrapper sees it
    try:
        box = sandbox.for_stream(sandbox.bwrap(), str(repo / ".git"), "api", worktree, "wta/api")
    finally:
        os.environ["HOME"] = old_home or ""
    found.append(Case("floor bwrap true", box.wrap(["true"]), worktree, env))
    found.append(Case("floor bwrap true, no Landlock step", dataclasses.replace(box, landlock="").wrap(["true"]),
                      worktree, env))
    found.append(Case("floor true", [shutil.which("true") or "true"], worktree, env))
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--out")
    parser.add_argument("--json")
    args = parser.parse_args()
    if shutil.which("bwrap") is None:
        raise SystemExit("bench: bubblewrap (bwrap) is not on PATH; install it (apt-get install bubblewrap)")
    scratch = scratch_dir(args.out, "sandbox")
    env = bench_env(scratch)
    results = measure(cases(scratch, env), args.repeat)
    rows = []
    for what in ("session", "merge", "floor", "landlock"):
        on, off = (("floor bwrap true", "floor true") if what == "floor" else
                   ("floor bwrap true", "floor bwrap true, no Landlock step") if what == "landlock" else
                   (f"{what} sandboxed", f"{what} unsandboxed"))
        a, b = results[on], results[off]
        rows.append((what, f"{a.ms:.1f}", f"{b.ms:.1f}", f"{a.ms - b.ms:+.1f}", a.spread(), b.spread(),
                     f"{a.cpu_ms - b.cpu_ms:+.1f}"))
    print(f"machine: {machine()}")
    print(table(("case", "sandboxed ms", "unsandboxed ms", "added ms", "spread on", "spread off", "added cpu ms"),
                rows))
    added = results["session sandboxed"].ms - results["session unsandboxed"].ms
    met = added <= TARGET_MS
    print(f"target: a session start gains at most {TARGET_MS:.0f} ms sandboxed: {added:+.1f} ms, "
          f"{'met' if met else 'NOT met'}")
    if args.json:
        write_json(args.json, {"machine": machine(), "target_ms": TARGET_MS, "added_session_ms": added,
                               "cases": {n: {"median_ms": s.ms, "cpu_ms": s.cpu_ms, "seconds": s.seconds}
                                         for n, s in results.items()}})
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
