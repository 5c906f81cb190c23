"""The fast entry point that git hooks and Claude Code call.

`python -m worktree_agents.hook pre-commit|commit-msg FILE|guard [--stream S]`

Deliberately without typer, pydantic, rich, anthropic, GitPython or psutil:
this runs on every commit and every agent edit (see docs/performance.md).
"""

from __future__ import annotations

import json
import os
import sys

from worktree_agents.enforce import check_staged, guard_edit, prefix_message
from worktree_agents.errors import CHECK, WtaError
from worktree_agents.snapshot import Repo, zones_in_force
from worktree_agents.zones import format_violations


def pre_commit() -> int:
    repo = Repo.here()
    stream = repo.stream()
    if stream is None:
        return 0
    violations = check_staged(repo, stream)
    if not violations:
        return 0
    print(format_violations(stream, violations), file=sys.stderr)
    print("wta: commit refused by the pre-commit hook; unstage those paths (git restore --staged PATH) "
          "and leave them to their owners", file=sys.stderr)
    return CHECK


def commit_msg(message_file: str) -> int:
    repo = Repo.here()
    stream = repo.stream()
    if stream is None:
        return 0
    zones = zones_in_force(repo)
    with open(message_file, encoding="utf-8", errors="surrogateescape") as f:
        message = f.read()
    try:
        fixed = prefix_message(message, stream, zones.streams)
    except WtaError as exc:
        raise WtaError(str(exc), CHECK) from None
    if fixed != message:
        with open(message_file, "w", encoding="utf-8", errors="surrogateescape") as f:
            f.write(fixed)
    return 0


def guard(stream: str | None = None, stdin=None) -> int:
    """Claude Code PreToolUse hook: print a deny decision for out-of-zone edits."""
    data = json.load(stdin or sys.stdin)
    cwd = data.get("cwd") or os.getcwd()
    worktree = os.environ.get("WTA_WORKTREE") or _toplevel(cwd)
    repo = Repo.here(worktree)
    stream = stream or os.environ.get("WTA_STREAM") or repo.stream()
    if stream is None:
        return 0  # not a stream worktree: nothing to guard
    zones = zones_in_force(repo, worktree)
    if stream not in zones.zones.zones:
        decision_allowed, reason = False, f"wta: stream {stream!r} is not in zones.yaml on {zones.base!r}"
    else:
        decision = guard_edit(data.get("tool_name", ""), data.get("tool_input") or {}, cwd, worktree,
                              stream, zones)
        decision_allowed, reason = decision.allowed, decision.reason
    if not decision_allowed:
        json.dump({"hookSpecificOutput": {"hookEventName": "PreToolUse", "permissionDecision": "deny",
                                          "permissionDecisionReason": reason}}, sys.stdout)
        sys.stdout.write("\n")
    return 0


def _toplevel(cwd: str) -> str:
    from worktree_agents import git

    proc = git.run("rev-parse", "--show-toplevel", cwd=cwd, env=git.no_git_env(), check=False)
    if proc.returncode != 0:
        raise WtaError(f"{cwd}: not inside a git worktree; run the agent in its stream's worktree")
    return proc.stdout.decode(errors="surrogateescape").strip()


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    try:
        if args[:1] == ["pre-commit"]:
            return pre_commit()
        if args[:1] == ["commit-msg"] and len(args) == 2:
            return commit_msg(args[1])
        if args[:1] == ["guard"]:
            stream = args[2] if args[1:2] == ["--stream"] and len(args) > 2 else None
            return guard(stream)
    except WtaError as exc:
        print(f"wta: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    print("usage: python -m worktree_agents.hook pre-commit | commit-msg FILE | guard [--stream S]",
          file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
