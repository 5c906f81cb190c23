"""`wta merge --abort`: the base and every stream branch put back where they were before the merge
began (what a person committed meanwhile kept under a backup ref), and the streams that started from
what it takes off the base named."""

from __future__ import annotations

import os
import re
import tempfile
from typing import Any

from worktree_agents import git
from worktree_agents.backups import backup_ref
from worktree_agents.errors import WtaError
from worktree_agents.merge import recovery
from worktree_agents.merge.plan import git_env
from worktree_agents.merge.report import MergeReport, result_from
from worktree_agents.merge.state import read_state, save_report, state_path, write_state
from worktree_agents.quoting import shell_word
from worktree_agents.sessions.store import SessionStore
from worktree_agents.state import command_lock
from worktree_agents.worktrees import registry


def abort_merge(project) -> MergeReport:
    """Put the base and every stream branch back where they were before the merge began."""
    env = git_env()
    state_dir = project.repo.state_dir
    with command_lock(state_dir, "wta merge --abort"):
        st = read_state(state_dir)
        if st is None:
            raise WtaError("no merge in progress; nothing to abort")
        report = finish_abort(project, st, env)
        store = SessionStore(state_dir)
        for stream in st["streams"]:
            store.settle_landing(stream, None, "its landing was undone by `wta merge --abort`; `wta merge "
                                               f"{stream}` or `wta up --land` lands it")
        store.merge_ended(_all_streams(project, st), st["run_id"], "was aborted")
        return report


def _started_on_what_was_taken_off(project, st: dict[str, Any], taken_off: str, checked_out: dict[str, str],
                                   report: MergeReport, env: dict[str, str]) -> None:
    """Name each stream whose branch (not put back: it was no stream of this merge) holds commits the abort
    took off the base: one that started from the base after a stream of the merge landed (a dependent the
    coordinator started, a `wta sync`). They are on its branch still, and the abort leaves it as it is (its
    session may be at work there); landed as they are, they would count as its own commits, outside its
    zone. Said in the report, with how to take its own commits onto the base without them."""
    base, start, main = st["base"], st["base_start"], project.main
    heads = git.branch_heads(main, env)
    put_back = {ref[len("refs/heads/"):] for ref in st["backups"]}
    try:
        config = project.main_config()
        branches = {s: config.branch_for(s) for s in config.streams}
    except WtaError:
        branches = dict(st["branches"])
    for stream, branch in branches.items():
        if branch in put_back or branch not in heads:
            continue
        held = [b for b in git.merge_bases(heads[branch].sha, taken_off, main, env)
                if not git.is_ancestor(b, start, cwd=main, env=env)]
        if not held:
            continue
        fork = held[0]
        gone = git.commits_not_in(start, [fork], main, env)
        named = ", ".join(f"{sha} {subject!r}" for sha, subject in gone[:3]) + \
            (f" and {len(gone) - 3} more" if len(gone) > 3 else "")
        report.problems.append(f"{stream}: {branch} holds {len(gone)} commit(s) that this abort took off {base} "
                               f"({named}): it started from {base} after they landed; its own commits are kept, and "
                               "it lands only without those")
        where = checked_out.get(branch)
        rebase = (f"git -C {shell_word(where)} rebase --onto {shell_word(base)} {fork[:12]}" if where else
                  f"git rebase --onto {shell_word(base)} {fork[:12]} {shell_word(branch)}")
        report.advice.append(f"{stream}: take its own commits onto {base} without them: `{rebase}` (with its session "
                             f"ended first: `wta stop {stream}`); `wta sync {stream}` would keep them")


def _all_streams(project, st: dict[str, Any]) -> list[str]:
    """Every stream of zones.yaml (those of the merge `st` when it cannot be read)."""
    try:
        return list(project.main_config().streams)
    except WtaError:
        return list(st["streams"])


def _take_back(main: str, branch: str, restored: str, kept_tip: str, kept: str, produced: set[str],
               own: set[str], base: str, worktree: str | None, env: dict[str, str]) -> dict[str, str]:
    """The command that takes the commits set aside at `kept` back onto `branch` (put back at `restored`): the
    branch as the person left it (a fast-forward when it sits on it), or, when they sit on a commit this merge
    made, those beyond it: cherry-picked onto the branch when the merge had moved the branch itself there (`own`:
    a fix on its landed commits), or onto `base` in place of the branch's commits when it is another stream's
    landed commit (the person rebased the branch onto the base, and their copies of its commits are among them:
    on the branch as it was they would conflict, and the other stream's commits, which the abort took off the
    base, stay off it). A branch no worktree has checked out gets that in a worktree of its own, made for it and
    removed after: `git switch` there would take the person's checkout off the branch they are on. `produced`
    holds only the commits the merge made: a tip it landed as the person left it is theirs.

    As {"take_back": the command, and for a cherry-pick, which can stop on a conflict: "resolve_in": the worktree
    it stops in, "then": the command that ends it once the conflict is resolved there, "made": "yes" when that
    worktree is the one it makes}. That one's folder is made here (mkdtemp, as `mktemp -d` would), to be named:
    one the command made itself went unnamed, and a conflict left in it could not be found."""
    since = None   # the newest commit the merge made that they sit on
    for commit in produced:
        if git.is_ancestor(commit, kept_tip, cwd=main, env=env) and (
                since is None or git.is_ancestor(since, commit, cwd=main, env=env)):
            since = commit
    if since is None:
        if not worktree:
            return {"take_back": f"git -C {shell_word(main)} branch -f {shell_word(branch)} {shell_word(kept)}"}
        how = "merge --ff-only" if git.is_ancestor(restored, kept_tip, cwd=main, env=env) else "reset --keep"
        return {"take_back": f"git -C {shell_word(worktree)} {how} {shell_word(kept)}"}
    picked = shell_word(f"{since[:12]}..{kept}")
    made = worktree is None
    if made:
        worktree = tempfile.mkdtemp(prefix=f"wta-take-back-{re.sub(r'[^A-Za-z0-9._-]', '-', branch)}-")
    git_in, git_main = f"git -C {shell_word(worktree)}", f"git -C {shell_word(main)}"
    onto = "" if since in own else f"{git_in} reset -q --keep {shell_word(base)} && "
    pick = f"{onto}{git_in} cherry-pick {picked}"
    if not made:
        return {"take_back": pick, "resolve_in": worktree, "then": f"{git_in} cherry-pick --continue"}
    add, remove = (f"{git_main} worktree add -q {shell_word(worktree)} {shell_word(branch)}",
                   f"{git_main} worktree remove {shell_word(worktree)}")
    return {"take_back": f"{add} && {pick} && {remove}", "resolve_in": worktree,
            "then": f"{git_in} cherry-pick --continue && {remove}", "made": "yes"}


def finish_abort(project, st: dict[str, Any], env: dict[str, str]) -> MergeReport:
    """Undo the merge `st` describes (under the command lock). Recorded as begun first, so that
    whichever of `--continue` and `--abort` runs after a kill here finishes the abort."""
    state_dir, main = project.repo.state_dir, project.main
    recovery.end_test(st)
    if st["status"] != "aborting":
        # A person's rebase under way stops it before it begins.
        recovery.settle_worktrees(main, st, env, check_only=True)
        st["status"], st["aborted_from"] = "aborting", st["status"]
        write_state(state_dir, st)
    recovery.settle_worktrees(main, st, env)
    heads = git.branch_heads(main, env)
    checked_out = {w.branch: w.path for w in registry.list_worktrees(main, env) if w.branch}
    produced = set(st["produced"])
    made = produced - set(st.get("as_is", ()))   # (a tip landed as it was is the person's work)
    own: dict[str, set[str]] = {}   # each stream branch's commits the merge moved it to (its landed heads)
    for result in st["results"].values():
        if result.get("head") and result.get("branch"):
            own.setdefault(result["branch"], set()).add(result["head"])
    own[st["base"]] = made   # (the base moved to each of them)
    base_ref = f"refs/heads/{st['base']}"
    taken_off = heads[st["base"]].sha if st["base"] in heads else None   # the base as the abort finds it
    report = MergeReport("aborted", True, st["base"], st["base_start"], st["base_start"], st["run_id"])
    # Streams first, the base last: the base's worktree is the one people look at.
    for ref in sorted(st["backups"], key=lambda r: r == base_ref):
        sha = st["backups"][ref]
        branch = ref[len("refs/heads/"):]
        current = heads[branch].sha if branch in heads else None
        if current == sha:
            continue
        kept = None
        if current and current not in produced:
            kept = backup_ref(st["run_id"], ref, "aborted")
            git.update_refs([(kept, current, None)], "wta merge --abort: keep", cwd=main, env=env)
        elif ref != base_ref:
            # Commits made during a stop (a person's fix) that a `--continue` took on: kept by then, under
            # `retry/`, and taken off the branch now.
            kept = backup_ref(st["run_id"], ref, "retry")
            retried = git.commit_of(kept, main, env)
            if retried is None or git.is_ancestor(retried, sha, cwd=main, env=env):
                kept = None
        if kept is not None:
            tip = git.commit_of(kept, main, env) or ""
            report.kept.append({"ref": ref, "sha": tip, "backup": kept,
                                **_take_back(main, branch, sha, tip, kept, made, own.get(branch, set()),
                                             st["base"], checked_out.get(branch), env)})
        recovery.put_back(main, branch, sha, checked_out.get(branch), env, backed_up=True)
        report.restored.append({"ref": ref, "from": current or "", "to": sha})
    report.streams = [result_from(st["results"][s]) for s in st["streams"] if s in st["results"]]
    if taken_off and taken_off != st["base_start"]:
        _started_on_what_was_taken_off(project, st, taken_off, checked_out, report, env)
    os.unlink(state_path(state_dir))
    save_report(state_dir, report)
    return report
