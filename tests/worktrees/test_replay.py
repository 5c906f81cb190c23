"""A stream's commits copied onto a newer base without `git rebase` (worktrees/replay.py): the very
commits `git rebase` makes, or no copy at all where git's merge would have something to decide."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from support import clone_webapp, commit_all, example_zones, git, traced, worktree_of, write_files, wta
from worktree_agents import git as wgit
from worktree_agents.worktrees import replay

WHEN = "1700000000 +0100"   # the committer date of both the copy and git's rebase, so that ids can match


def _repo(tmp_path: Path) -> tuple[Path, Path]:
    """`main` and a worktree on wta/api made from it."""
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    write_files(repo, {"api/a.txt": "a\n", "api/gone.txt": "gone\n", "api/run.sh": "echo\n", "api/sub/only.txt": "1\n",
                       "ui/x.txt": "x\n", "docs/d.md": "d\n", "old.txt": "old\n"})
    commit_all(repo, "start")
    wt = tmp_path / "wt"
    git(repo, "worktree", "add", "-q", "-b", "wta/api", str(wt), "main")
    return repo, wt


def _commit(wt: Path, message: str, *args: str, env: dict[str, str] | None = None) -> None:
    (wt.parent / "msg").write_bytes(message.encode())
    git(wt, "add", "-A")
    git(wt, "commit", "-q", "--allow-empty", "--cleanup=verbatim", "-F", str(wt.parent / "msg"), *args,
        env={**os.environ, **(env or {})})


def _base_moves(repo: Path) -> str:
    write_files(repo, {"ui/x.txt": "x changed\n", "docs/new.md": "new\n"})
    commit_all(repo, "ui and docs move on")
    write_files(repo, {"ui/y.txt": "y\n"})
    return commit_all(repo, "more on main")


def _copy(wt: Path, onto: str, since: str | None = None) -> str | None:
    """The copy of the commits `since..HEAD` (by default `onto..HEAD`)."""
    env = {**os.environ, "GIT_COMMITTER_DATE": WHEN}
    commits = wgit.commit_changes([f"^{since or onto}", "HEAD"], cwd=wt, env=env)
    return replay.replay(commits, onto, str(wt), env)


def _git_rebase(wt: Path, onto: str) -> str:
    git(wt, "rebase", "-q", onto, env={**os.environ, "GIT_COMMITTER_DATE": WHEN})
    return git(wt, "rev-parse", "HEAD").stdout.strip()


def test_a_copy_is_the_very_commits_git_rebase_makes(tmp_path):
    repo, wt = _repo(tmp_path)
    write_files(wt, {"api/a.txt": "a changed\n"})
    _commit(wt, "[api] a plain commit\n")
    names = ["api/with space.txt", 'api/quote".txt', "api/new\nline.txt", "api/tab\there.txt", "api/ünï.txt"]
    write_files(wt, {name: f"{i}\n" for i, name in enumerate(names)})
    (wt / os.fsdecode(b"api/latin1-\xe9.txt")).write_bytes(b"latin-1 name\n")
    _commit(wt, "[api] odd names, and a message without its last newline")
    (wt / "api/run.sh").chmod(0o755)
    (wt / "api/link").symlink_to("a.txt")
    _commit(wt, "[api] modes  \r\n\n\n# not a comment here\n\ntrailing blank lines\n\n\n")
    (wt / "api/gone.txt").unlink()
    _commit(wt, "[api] deleted, by someone else, in another time zone: ünïcödé\n",
            "--author=Ann O. Ther, Jr. <ann@example.org>", env={"GIT_AUTHOR_DATE": "1600000000 -0330"})
    (wt / "api/a.txt").unlink()
    (wt / "api/a.txt").symlink_to("run.sh")
    _commit(wt, "[api] a file becomes a link\n\nWith a body.\n\nSigned-off-by: Ann <ann@example.org>\n")
    write_files(wt, {"api/last.txt": "last\n"})
    _commit(wt, "", "--allow-empty-message")
    onto = _base_moves(repo)

    copied = _copy(wt, onto)
    assert copied is not None
    assert git(wt, "rev-parse", "HEAD").stdout.strip() != copied       # nothing moved yet
    assert copied == _git_rebase(wt, onto)                              # the same objects, id for id


def test_commits_on_the_base_already_are_left_out_as_git_rebase_leaves_them_out(tmp_path):
    repo, wt = _repo(tmp_path)
    start = git(repo, "rev-parse", "main").stdout.strip()
    write_files(wt, {"api/a.txt": "mine\n"})
    _commit(wt, "[api] mine\n")
    write_files(wt, {"api/b.txt": "b\n"})
    _commit(wt, "[api] more\n")
    git(repo, "merge", "-q", "--no-ff", "--no-edit", "wta/api~1")   # the first is on main now
    onto = _base_moves(repo)

    assert _copy(wt, onto, since=start) is None    # told of both: not what `onto..HEAD` holds, left to git
    copied = _copy(wt, onto)
    assert copied == _git_rebase(wt, onto)
    assert git(wt, "log", "--format=%s", f"{onto}..HEAD").stdout.splitlines() == ["[api] more"]


def _one_commit_copied(tmp_path: Path) -> tuple[Path, str, str]:
    """A worktree whose branch has one commit of its own, its tip, and the copy of it onto a newer main."""
    repo, wt = _repo(tmp_path)
    write_files(wt, {"api/a.txt": "mine\n"})
    _commit(wt, "[api] mine\n")
    tip = git(wt, "rev-parse", "HEAD").stdout.strip()
    copied = _copy(wt, _base_moves(repo))
    assert copied is not None
    return wt, tip, copied


def _move(wt: Path, tip: str, copied: str) -> str | None:
    return replay.move_branch(str(wt), "wta/api", tip, copied, "wta merge: rebase onto main", dict(os.environ))


def test_moving_the_branch_brings_its_worktree_and_logs_the_move(tmp_path):
    wt, tip, copied = _one_commit_copied(tmp_path)

    assert _move(wt, tip, copied) is None

    assert git(wt, "rev-parse", "HEAD", "refs/heads/wta/api").stdout.split() == [copied, copied]
    assert git(wt, "status", "--porcelain").stdout == ""
    assert (wt / "docs/new.md").read_text() == "new\n" and (wt / "api/a.txt").read_text() == "mine\n"
    assert git(wt, "reflog", "-1", "--format=%gs", "refs/heads/wta/api").stdout.strip() == \
        "wta merge: rebase onto main"


def test_moving_the_branch_refuses_to_overwrite_a_local_change_and_moves_nothing(tmp_path):
    wt, tip, copied = _one_commit_copied(tmp_path)
    write_files(wt, {"ui/x.txt": "a local edit\n"})   # a file the move would change

    why = _move(wt, tip, copied)

    assert why is not None and "ui/x.txt" in why
    assert git(wt, "rev-parse", "refs/heads/wta/api").stdout.strip() == tip
    assert (wt / "ui/x.txt").read_text() == "a local edit\n" and not (wt / "docs/new.md").exists()


def test_a_branch_moved_meanwhile_is_left_where_it_is_with_its_files(tmp_path):
    wt, tip, copied = _one_commit_copied(tmp_path)
    write_files(wt, {"api/b.txt": "b\n"})
    _commit(wt, "[api] a commit after the copy was made\n")
    newer = git(wt, "rev-parse", "HEAD").stdout.strip()

    why = _move(wt, tip, copied)

    assert why is not None and "moved meanwhile" in why
    assert git(wt, "rev-parse", "refs/heads/wta/api").stdout.strip() == newer
    assert git(wt, "status", "--porcelain").stdout == ""


# Each case: the stream's commits and the base's, which leave the copy to `git rebase`.
def _both_change_a_file(repo: Path, wt: Path) -> None:
    write_files(wt, {"ui/x.txt": "x\nmore\n"})
    _commit(wt, "[api] touches ui\n")
    write_files(repo, {"ui/x.txt": "first\nx\n"})
    commit_all(repo, "main touches it too")


def _file_and_directory(repo: Path, wt: Path) -> None:
    (wt / "docs/d.md").unlink()
    write_files(wt, {"docs/d.md/inside.md": "a directory now\n"})
    _commit(wt, "[api] a file becomes a directory\n")
    write_files(repo, {"docs/e.md": "e\n"})
    commit_all(repo, "main")


def _base_deletes(repo: Path, wt: Path) -> None:
    write_files(wt, {"api/a.txt": "mine\n"})
    _commit(wt, "[api] mine\n")
    git(repo, "mv", "old.txt", "api/old.txt")
    git(repo, "commit", "-q", "-m", "main renames a file")


def _directory_emptied(repo: Path, wt: Path) -> None:
    git(wt, "mv", "api/sub", "api/moved")
    _commit(wt, "[api] rename a directory\n")
    write_files(repo, {"api/sub/added.txt": "added on main\n"})
    commit_all(repo, "main adds to it")


def _empty_commit(repo: Path, wt: Path) -> None:
    _commit(wt, "[api] nothing\n")
    _base_moves(repo)


def _merge_commit(repo: Path, wt: Path) -> None:
    write_files(wt, {"api/a.txt": "mine\n"})
    _commit(wt, "[api] mine\n")
    git(wt, "checkout", "-q", "-b", "side", "HEAD~1")
    write_files(wt, {"api/b.txt": "b\n"})
    _commit(wt, "[api] side\n")
    git(wt, "checkout", "-q", "wta/api")
    git(wt, "merge", "-q", "--no-edit", "side")
    _base_moves(repo)


def _with_config(key: str, value: str):
    def case(repo: Path, wt: Path) -> None:
        write_files(wt, {"api/a.txt": "mine\n"})
        _commit(wt, "[api] mine\n")
        _base_moves(repo)
        git(repo, "config", key, value)
    return case


def _encoded(repo: Path, wt: Path) -> None:
    write_files(wt, {"api/a.txt": "mine\n"})
    _commit(wt, "[api] latin-1\n")
    git(wt, "-c", "i18n.commitEncoding=ISO-8859-1", "commit", "-q", "--amend", "-m", "[api] caf\xe9")
    _base_moves(repo)


def _leading_blank_lines(repo: Path, wt: Path) -> None:
    write_files(wt, {"api/a.txt": "mine\n"})
    _commit(wt, "\n\n[api] after blank lines, which git rebase drops\n")
    _base_moves(repo)


def _malformed_author(repo: Path, wt: Path) -> None:
    write_files(wt, {"api/a.txt": "mine\n"})
    _commit(wt, "[api] mine\n")
    raw = git(wt, "cat-file", "commit", "HEAD").stdout
    forged = "\n".join("author Ann <ann@example.org> yesterday" if line.startswith("author ") else line
                       for line in raw.split("\n"))
    made = git(wt, "hash-object", "-t", "commit", "-w", "--literally", "--stdin", input=forged).stdout.strip()
    git(wt, "reset", "-q", "--soft", made)
    _base_moves(repo)


LEFT_TO_GIT = {
    "both change a file": _both_change_a_file,
    "a file and a directory": _file_and_directory,
    "the base deletes (renames) a file": _base_deletes,
    "the stream renames a directory the base adds to": _directory_emptied,
    "an empty commit": _empty_commit,
    "a merge commit": _merge_commit,
    "signing": _with_config("commit.gpgSign", "true"),
    "message clean-up": _with_config("commit.cleanup", "strip"),
    "the apply backend": _with_config("rebase.backend", "apply"),
    "notes carried over": _with_config("notes.rewriteRef", "refs/notes/commits"),
    "fixup! commits squashed": _with_config("rebase.autoSquash", "true"),
    "an encoding header": _encoded,
    "an author line fast-import refuses": _malformed_author,
    "a message starting with blank lines": _leading_blank_lines,
}


@pytest.mark.parametrize("case", LEFT_TO_GIT)
def test_what_git_s_merge_or_config_could_decide_is_left_to_git_rebase(tmp_path, case):
    repo, wt = _repo(tmp_path)
    LEFT_TO_GIT[case](repo, wt)
    onto = git(repo, "rev-parse", "main").stdout.strip()

    assert _copy(wt, onto) is None
    private = Path(git(wt, "rev-parse", "--absolute-git-dir").stdout.strip())
    assert not list(private.glob("fast_import_crash_*"))   # nothing was tried that git would refuse


def _change(status: str, path: str, mode: str = "100644") -> wgit.RawChange:
    return wgit.RawChange(status, path, mode, mode, "0" * 40, "1" * 40)


def _commit_of(*changes: wgit.RawChange) -> wgit.CommitChanges:
    return wgit.CommitChanges("c" * 40, "s", ("p" * 40,), changes)


def test_the_rules_that_leave_a_copy_to_git():
    change, commit = _change, _commit_of
    mine = [commit(change("M", "api/a.txt"), change("D", "api/sub/b.txt"))]
    assert replay.why_not(mine, [change("A", "ui/x.txt"), change("M", "api/other.txt")]) is None
    assert replay.why_not(mine, [change("M", "api/a.txt")]) == "both changed api/a.txt"
    assert replay.why_not(mine, [change("A", "api/a.txt/deeper")]) == "both changed api/a.txt"
    assert replay.why_not(mine, [change("A", "api")]) == "both changed api"
    assert replay.why_not(mine, [change("D", "ui/x.txt")]) == "the base deleted a path"
    assert replay.why_not(mine, [change("A", "api/sub/c.txt")]) == \
        "the base added below a directory the stream deletes from"
    assert replay.why_not(mine, [change("A", "vendor/lib", "160000")]) == "a submodule"
    assert replay.why_not([commit()], []) == "an empty commit"


def test_sparse_worktrees_stay_sparse_when_their_commits_are_copied_onto_the_base(tmp_path):
    repo = clone_webapp(tmp_path, example_zones(setup=None, sparse=True))
    wta(repo, "up", "--no-launch", "api", "ui", check=0)
    api, ui = worktree_of(repo, "api"), worktree_of(repo, "ui")
    before = {where: _files(where) for where in (api, ui)}
    write_files(api, {"src/lib/db.ts": "export const db = {pool: 2}\n"})
    commit_all(api, "pool")
    write_files(ui, {"src/components/Nav.tsx": "export const Nav = () => null\n"})
    commit_all(ui, "nav")
    write_files(repo, {"README.md": "# webapp, by a person on main\n", "src/extra/x.ts": "x\n"})
    commit_all(repo, "a person's commit")
    trace = tmp_path / "trace"

    wta(repo, "merge", "--no-test", check=0, env={**os.environ, "GIT_TRACE": str(trace)})

    assert traced(trace, "git rebase") == 0
    assert git(repo, "log", "--format=%s", "-3", "main").stdout.splitlines() == ["[ui] nav", "[api] pool",
                                                                              "a person's commit"]
    assert _files(api) == before[api] and _files(ui) == before[ui] | {"src/components/Nav.tsx"}
    for where in (api, ui):
        assert (where / "README.md").read_text() == "# webapp, by a person on main\n"
        assert git(where, "status", "--porcelain").stdout == ""
        assert git(where, "rev-parse", "HEAD").stdout == git(repo, "rev-parse", f"wta/{where.name}").stdout


def _files(where: Path) -> set[str]:
    return {str(p.relative_to(where)) for p in where.rglob("*")
            if p.is_file() and ".git" not in p.relative_to(where).parts}


def test_a_rebase_state_left_half_way_is_named_with_its_fix_not_gits_last_line(tmp_path):
    """A `git rebase` that failed as it set up (a full disk) left `rebase-merge/` behind with the branch
    still checked out: every later `wta sync` failed on git's last line ("... valuable there.")."""
    repo = clone_webapp(tmp_path, example_zones(setup=None))
    wta(repo, "up", "--no-launch", "api", check=0)
    api = worktree_of(repo, "api")
    write_files(api, {"src/lib/db.ts": "export const db = {pool: 1}\n"})
    commit_all(api, "pool")
    write_files(repo, {"README.md": "# moved on\n"})
    commit_all(repo, "main moves")
    half = repo / ".git" / "worktrees" / "api" / "rebase-merge"
    half.mkdir()
    (half / "head-name").write_text("refs/heads/wta/api\n")
    before = git(repo, "rev-parse", "wta/api").stdout

    refused = wta(repo, "sync", "api", check=1)

    assert f"its worktree {api} holds a rebase's state" in refused.stdout + refused.stderr
    assert "otherwise remove that directory" in refused.stdout + refused.stderr
    assert git(repo, "rev-parse", "wta/api").stdout == before and half.is_dir()
