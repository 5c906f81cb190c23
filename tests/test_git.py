"""worktree_agents.git runs git without `subprocess` (posix_spawn and poll) and
reads branch tips from git's ref files; both against real git here."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys

import pytest

from support import commit_all, git, make_repo, write_files
from worktree_agents import git as wgit


def test_run_feeds_large_input_and_returns_output_and_exit_code(tmp_path):
    data = bytes(range(256)) * 12_000  # 3 MB: many times a pipe's buffer
    done = wgit.run("hash-object", "--stdin", cwd=tmp_path, input=data)
    assert done.returncode == 0 and done.stderr == b""
    assert done.stdout.decode().strip() == hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
    failed = wgit.run("rev-parse", "--verify", "-q", "no-such-ref", cwd=tmp_path, check=False)
    assert failed.returncode != 0 and failed.stdout == b""


def test_a_child_filling_stderr_before_stdout_does_not_stall(tmp_path):
    # Reading stdout to its end first would wait forever: the child blocks on a full stderr pipe.
    script = ("from worktree_agents import git; "
              "done = git.run('-c', 'alias.noisy=!head -c 300000 /dev/zero >&2; head -c 200000 /dev/zero', "
              "'noisy', check=False); print(done.returncode, len(done.stdout), len(done.stderr))")
    proc = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert proc.stdout.split() == ["0", "200000", "300000"], proc.stderr


def test_a_failure_names_the_git_command_and_gits_message(tmp_path):
    with pytest.raises(wgit.GitError) as caught:
        wgit.run("status", cwd=tmp_path / "missing")
    assert str(caught.value).startswith("git status failed: fatal: cannot change to")


def test_started_processes_run_side_by_side_and_are_read_later(tmp_path):
    repo = make_repo(tmp_path / "repo")
    write_files(repo, {"new.txt": "x\n", "src/lib/db.ts": "changed\n"})
    scans = [wgit.start_worktree_changes(repo) for _ in range(3)]
    assert [sorted(wgit.worktree_changes_of(s.wait())) for s in scans] == [["new.txt", "src/lib/db.ts"]] * 3
    assert scans[0].wait() is scans[0].wait()  # reaped once, then remembered


def test_reflog_newest_reads_what_git_reads_as_ref_at_0(tmp_path):
    repo = make_repo(tmp_path / "repo")
    common, ref = str(repo / ".git"), "refs/heads/main"

    def at_0() -> str | None:
        done = git(repo, "rev-parse", "-q", "--verify", f"{ref}@{{0}}", check=False)
        return done.stdout.strip() if done.returncode == 0 else None

    assert wgit.reflog_newest(ref, common, repo) == at_0() == git(repo, "rev-parse", "main").stdout.strip()
    for i in range(30):   # past the last 4 KiB, with subjects long enough to cross that boundary
        write_files(repo, {"README.md": f"{i}\n"})
        commit_all(repo, f"move {i} " + "x" * (97 * i))
    assert wgit.reflog_newest(ref, common, repo) == at_0() == git(repo, "rev-parse", "main").stdout.strip()
    git(repo, "update-ref", "-m", "moved back", ref, "main~3")
    assert wgit.reflog_newest(ref, common, repo) == at_0() == git(repo, "rev-parse", "main~0").stdout.strip()
    write_files(repo, {"README.md": "longest\n"})
    commit_all(repo, "y" * 5000)                                          # a line longer than what is read
    assert wgit.reflog_newest(ref, common, repo) == at_0() == git(repo, "rev-parse", "main").stdout.strip()
    reflog = repo / ".git/logs/refs/heads/main"
    reflog.write_bytes(reflog.read_bytes() + b"not a reflog line\n")      # not plain: git decides
    assert wgit.reflog_newest(ref, common, repo) == at_0()
    assert wgit.reflog_newest("refs/heads/no-such-branch", common, repo) is None


def test_branch_tip_reads_loose_and_packed_refs_and_declines_the_rest(tmp_path):
    repo = make_repo(tmp_path / "repo")
    common = str(repo / ".git")
    first = git(repo, "rev-parse", "main").stdout.strip()
    assert wgit.branch_tip(common, "main") == first               # a loose ref file
    git(repo, "pack-refs", "--all")
    assert not (repo / ".git/refs/heads/main").exists()
    assert wgit.branch_tip(common, "main") == first               # from packed-refs
    write_files(repo, {"README.md": "moved on\n"})
    second = commit_all(repo, "move main")
    assert wgit.branch_tip(common, "main") == second != first     # the loose ref wins over the packed one
    git(repo, "symbolic-ref", "refs/heads/alias", "refs/heads/main")
    assert wgit.branch_tip(common, "alias") is None               # symbolic: left to git
    assert wgit.branch_tip(common, "no-such-branch") is None


def test_a_long_reason_keeps_its_end_where_git_names_the_cause():
    """`could not create leading directories of '<a long path>': File name too long` had lost its cause."""
    stderr = f"fatal: could not create leading directories of '/tmp/{'w' * 600}/api/.git': File name too long\n"
    said = wgit.reason(stderr.encode())
    assert len(said) <= 400 and said.startswith("fatal: could not create leading directories of '/tmp/www")
    assert said.endswith("www/api/.git': File name too long") and " ... " in said


def test_gits_kept_from_terminal_signals_run_on_through_a_ctrl_c_and_end_when_interrupted(tmp_path):
    """The coordinator's git runs in a process group of its own: a Ctrl-C to wta's group (the terminal's)
    had killed a landing's git, and its death read as the landing's failure. Given up on (interrupted
    twice), its git is interrupted in turn, with what it started (a hung filter had run on, holding a lock)."""
    script = """
import os, signal, sys, time
from worktree_agents import git
git.keep_from_terminal_signals()
signal.signal(signal.SIGINT, lambda *_: None)   # this process decides, as wta does (its git gets the default)
running = git.start("-c", "alias.hang=!sleep 30", "hang", cwd=sys.argv[1])
time.sleep(0.5)
os.killpg(os.getpgrp(), signal.SIGINT)         # the terminal's Ctrl-C to the foreground group
time.sleep(0.5)
print("alive after the group's Ctrl-C:", os.waitpid(running._pid, os.WNOHANG) == (0, 0))
started = time.monotonic()
git.interrupt_running()
done = running.wait()
print("ended in time:", time.monotonic() - started < 5, done.returncode != 0)
"""
    repo = make_repo(tmp_path / "repo", "version: 1\nstreams:\n  api:\n    paths: [src/**]\n", {"README.md": "x\n"})
    proc = subprocess.run([sys.executable, "-c", script, str(repo)], capture_output=True, text=True, timeout=60,
                          start_new_session=True)
    assert proc.stdout.splitlines() == ["alive after the group's Ctrl-C: True", "ended in time: True True"], \
        proc.stdout + proc.stderr


def test_a_merge_that_git_calls_not_clean_is_a_conflict_even_when_it_names_no_path(tmp_path):
    # merge-tree's exit code says whether the merge is clean; the paths it lists are what the report names.
    repo = make_repo(tmp_path / "r", "version: 1\nstreams:\n  a:\n    paths: [a/**]\n")
    head = git(repo, "rev-parse", "HEAD").stdout.strip()
    tree = git(repo, "rev-parse", "HEAD^{tree}").stdout.strip()
    shim = tmp_path / "git"
    shim.write_text(f"#!/bin/sh\ncase \" $* \" in *\" merge-tree \"*) printf '{tree}\\0'; exit 1;; esac\n"
                    f"exec {shutil.which('git')} \"$@\"\n")
    shim.chmod(0o755)
    code = f"from worktree_agents import git; print(git.merge_tree({head!r}, {head!r}, cwd={str(repo)!r}))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, "WTA_GIT": str(shim)})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == repr((tree, [wgit.CONFLICT_WITHOUT_PATH]))


def _git_processes(trace, command: str) -> int:
    """How many git processes of `command` the GIT_TRACE file `trace` records (then emptied)."""
    count = sum(f"trace: built-in: git {command}" in line for line in trace.read_text().splitlines()) \
        if trace.exists() else 0
    trace.unlink(missing_ok=True)
    return count


def test_has_checked_out_reads_a_plain_head_and_asks_git_for_anything_else(tmp_path, monkeypatch):
    repo = make_repo(tmp_path / "r")
    git(repo, "branch", "other")
    git(repo, "worktree", "add", "-q", str(tmp_path / "linked"), "other")
    trace = tmp_path / "trace"
    monkeypatch.setenv("GIT_TRACE", str(trace))
    common = str(repo / ".git")
    # Plain HEAD files, in the main worktree and a linked one: no git process.
    assert wgit.has_checked_out(str(repo), "refs/heads/main", common)
    assert wgit.has_checked_out(str(tmp_path / "linked"), "refs/heads/other", common)
    assert _git_processes(trace, "symbolic-ref") == 0
    # Another branch, a detached HEAD: git says no.
    assert not wgit.has_checked_out(str(repo), "refs/heads/other", common)
    git(repo, "switch", "-q", "--detach")
    assert not wgit.has_checked_out(str(repo), "refs/heads/main", common)
    git(repo, "switch", "-q", "main")
    # The branch's ref file a link to another branch's (git may take it for a symbolic ref): git is asked.
    tip = git(repo, "rev-parse", "other").stdout.strip()
    os.unlink(repo / ".git/refs/heads/main") if (repo / ".git/refs/heads/main").exists() else None
    git(repo, "pack-refs", "--all")
    os.unlink(repo / ".git/refs/heads/other") if (repo / ".git/refs/heads/other").exists() else None
    (repo / ".git/refs/heads/other").write_text(tip + "\n")
    os.symlink("other", repo / ".git/refs/heads/main")
    trace.unlink(missing_ok=True)
    assert wgit.has_checked_out(str(repo), "refs/heads/main", common) == (wgit.head_ref(str(repo)) == "refs/heads/main")
    assert _git_processes(trace, "symbolic-ref") == 2


def test_a_new_config_file_is_written_without_git_and_reads_back_as_set(tmp_path, monkeypatch):
    trace = tmp_path / "trace"
    monkeypatch.setenv("GIT_TRACE", str(trace))
    for value in ["/a dir/with spaces", 'quote" back\\slash ;# hash', " leading", "tab\tand\nnewline", "é/ü"]:
        path = tmp_path / "config.worktree"
        path.unlink(missing_ok=True)
        wgit.set_file_config(str(path), "core.hooksPath", value)
        assert _git_processes(trace, "config") == 0
        assert wgit.file_config(str(path), "core.hooksPath") == [value]
        trace.unlink(missing_ok=True)
    # An existing file is git's to edit: the value replaced, the rest kept.
    git(tmp_path, "config", "--file", str(path), "user.name", "someone")
    wgit.set_file_config(str(path), "core.hooksPath", "/elsewhere")
    assert _git_processes(trace, "config") >= 1
    assert wgit.file_config(str(path), "core.hooksPath") == ["/elsewhere"]
    assert wgit.file_config(str(path), "user.name") == ["someone"]


def test_hash_files_hashes_a_file_named_with_bytes_that_are_not_utf8(tmp_path):
    # A stream's file of such a name (an agent's to make) raised UnicodeEncodeError in a merge's --continue
    # (recovery's restore of the files a killed git left), and the merge could not be finished.
    repo = tmp_path / "r"
    git(tmp_path, "init", "-q", str(repo))
    odd = os.fsdecode(b"x\xff.txt")
    (repo / odd).write_text("one\n")
    (repo / "plain.txt").write_text("two\n")
    hashed = wgit.hash_files([odd, "plain.txt"], repo)
    expected = [git(repo, "hash-object", "--", name).stdout.strip() for name in (odd, "plain.txt")]
    assert hashed == expected


def hash_commit(repo, text: str) -> str:
    """A commit object of exactly `text`, written to the repository (no check of its form)."""
    return git(repo, "hash-object", "-t", "commit", "-w", "--literally", "--stdin", input=text).stdout.strip()


def test_descends_from_the_checked_objects_parents_answers_as_merge_base_is_ancestor(tmp_path):
    """A landing's fast-forward asks whether the head descends from the base's tip from the parents of the
    commits rewritten_objects hashed (no `git merge-base --is-ancestor`): it must answer as git does, so that
    a head off the base (a sibling, an older commit, a merge of a side branch) is still refused."""
    repo = make_repo(tmp_path / "r")
    base = git(repo, "rev-parse", "HEAD").stdout.strip()
    write_files(repo, {"a.txt": "1\n"})
    child = commit_all(repo, "child")
    write_files(repo, {"b.txt": "2\n"})
    grandchild = commit_all(repo, "grandchild")
    git(repo, "checkout", "-q", "-b", "side", base)
    write_files(repo, {"c.txt": "3\n"})
    sibling = commit_all(repo, "sibling")
    git(repo, "checkout", "-q", "--orphan", "other")
    write_files(repo, {"d.txt": "4\n"})
    unrelated = commit_all(repo, "unrelated")
    git(repo, "checkout", "-q", "side")
    git(repo, "merge", "-q", "--no-edit", grandchild)
    merge = git(repo, "rev-parse", "HEAD").stdout.strip()
    # A commit on `child` whose header names `grandchild` in a `parent` line after `author` (git fsck lets it
    # pass as an extra header; git reads no parent there), and one naming it twice where parents go.
    tree = git(repo, "rev-parse", f"{child}^{{tree}}").stdout.strip()
    who = "author a <a@b> 1 +0000\ncommitter a <a@b> 1 +0000\n"
    late = hash_commit(repo, f"tree {tree}\nparent {child}\n{who}parent {grandchild}\n\n[s] late parent\n")
    twice = hash_commit(repo, f"tree {tree}\nparent {grandchild}\nparent {grandchild}\n{who}\n[s] twice\n")
    keep = str(repo / ".git" / "objects")
    pairs = [(base, child), (base, grandchild), (child, grandchild), (base, base), (child, sibling),
             (grandchild, child), (sibling, grandchild), (grandchild, merge), (sibling, merge), (base, merge),
             (merge, grandchild), (child, unrelated), (unrelated, merge), (grandchild, late), (child, late),
             (grandchild, twice), (child, twice)]
    for old, new in pairs:
        parents: dict[str, list[str]] = {}
        assert wgit.rewritten_objects(old, new, repo, keep=keep, parents=parents) == []
        expected = git(repo, "merge-base", "--is-ancestor", old, new, check=False).returncode == 0
        assert wgit.descends_from(old, new, parents) == expected, (old, new)
