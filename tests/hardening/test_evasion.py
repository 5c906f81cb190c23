"""Evasion: a stream tries to get a change outside its zone into the base, every way
in evasion_cases.py, end to end on a real repository.

Each case runs on its own copy of one template: the example zones
(examples/webapp/zones.yaml) on `main`, a worktree per stream made with
`git worktree add` + `wta hooks install --stream` (its real hooks), and one
in-zone commit on every stream branch, so that the closing `wta merge` has
real work to do. A case attempts the evasion through the layers that apply
(the guard fed PreToolUse JSON, real `git commit`, `wta merge`), asserts the
layer that stops it, and then — whatever happened — that the base gained
nothing outside the stream's zone: every commit the base gained and the base's
net change are checked path by path, with replace refs and grafts ignored so
that the check sees what a clone would see.
"""

from __future__ import annotations

import json
import marshal
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import pytest

from support import EXAMPLE_ZONES, ROOT, add_stream_worktree, commit_all, git, make_repo, wta, write_files
from hardening.evasion_cases import (CASES, COMMIT_MSG, DOC, GIT, GUARD, INERT, MERGE, NEVER, PRE_COMMIT,
                                     PRE_MERGE_COMMIT, Case, documented_table, render_security_table)
from worktree_agents.config import load_text

STREAMS = ("infra", "api", "ui", "monitor")
MARK = "evasion"        # in the subject of every commit an attempt makes; none may reach the base
EVIL = "EVIL\n"
OLD_README = "# webapp\n"
README = "# webapp\n\nA small web app.\n"
# Git as a clone would see the objects: no replace refs, no grafts.
REAL = {"GIT_NO_REPLACE_OBJECTS": "1", "GIT_GRAFT_FILE": os.devnull + "/grafts"}

# Each stream's in-zone commit in the template.
LEGIT = {
    "infra": ({"ai-agents/tools.md": "# tools\n"}, "add tools"),
    "api": ({"src/lib/cache.ts": "export const cache = 1\n"}, "add a cache"),
    "ui": ({"src/components/Nav.tsx": "export const Nav = () => null\n"}, "add a nav"),
    "monitor": ({"ai-agents/memory/notes.md": "first note\nsecond note\nthird note\n"}, "a third note"),
}


# -- the arena: one repository with its stream worktrees ----------------------------------------

class Arena:
    """A repository under attack by `stream`, and the layers seen stopping it."""

    def __init__(self, root: Path, repo: Path, worktrees: dict[str, Path], stream: str) -> None:
        self.root, self.repo, self.worktrees, self.stream = root, repo, worktrees, stream
        self.zones = load_text((repo / "zones.yaml").read_text(), "zones.yaml", str(repo)).zone_map()
        self.caught: list[str] = []
        self.base_mark = self.rev("main")   # the base as the stream found it (moved by base_commit)

    # plumbing ------------------------------------------------------------------------------
    @property
    def wt(self) -> Path:
        return self.worktrees[self.stream]

    def git(self, *args: str, where: Path | None = None, check: bool = True, env: dict | None = None):
        return git(where or self.wt, *args, check=check, env=env)

    def rev(self, rev: str, where: Path | None = None) -> str:
        return git(where or self.repo, "rev-parse", rev, env={**os.environ, **REAL}).stdout.strip()

    def head(self) -> str:
        return self.rev("HEAD", self.wt)

    def write(self, files: dict[str, str]) -> None:
        write_files(self.wt, files)

    def git_dir(self) -> Path:
        return Path(self.git("rev-parse", "--absolute-git-dir").stdout.strip())

    def base_commit(self, message: str, files: dict[str, str] | None = None, *, moves: tuple[str, str] | None = None):
        """The base's owner commits on main (by hand, in the main worktree)."""
        if moves:
            git(self.repo, "mv", *moves)
        if files:
            write_files(self.repo, files)
        commit_all(self.repo, message)
        self.base_mark = self.rev("main")

    def saw(self, layer: str) -> None:
        if layer not in self.caught:
            self.caught.append(layer)

    # the guard -----------------------------------------------------------------------------
    def guard(self, tool: str, tool_input: dict, cwd: Path | None = None) -> subprocess.CompletedProcess:
        cwd = cwd or self.wt
        event = json.dumps({"session_id": "evasion", "transcript_path": "/dev/null", "cwd": str(cwd),
                            "hook_event_name": "PreToolUse", "tool_name": tool, "tool_input": tool_input})
        return subprocess.run([sys.executable, "-m", "worktree_agents.hooks.runtime", "guard"], cwd=cwd, input=event,
                              text=True, capture_output=True, timeout=60)

    def guard_denies(self, tool: str, tool_input: dict, *names: str, cwd: Path | None = None) -> str:
        proc = self.guard(tool, tool_input, cwd)
        assert proc.returncode == 0, proc.stderr
        decision = json.loads(proc.stdout)["hookSpecificOutput"]
        assert decision["permissionDecision"] == "deny", decision
        reason = decision["permissionDecisionReason"]
        for name in names:
            assert name in reason, reason
        self.saw(GUARD)
        return reason

    def guard_allows(self, tool: str, tool_input: dict) -> None:
        proc = self.guard(tool, tool_input)
        assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", "")

    # commits -------------------------------------------------------------------------------
    def commit_passes(self, *args: str, env: dict | None = None) -> str:
        proc = self.git("commit", "-q", *args, check=False, env=env)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        return self.head()

    def commit_refused(self, *args: str, names: tuple[str, ...] = (), env: dict | None = None) -> str:
        """A commit the pre-commit hook refuses (naming the paths); HEAD stays."""
        before = self.head()
        proc = self.git("commit", *args, check=False, env=env)
        assert proc.returncode == 1, proc.stdout + proc.stderr
        assert "commit refused by the pre-commit hook" in proc.stderr, proc.stderr
        for name in names:
            assert name in proc.stderr, proc.stderr
        assert self.head() == before
        self.saw(PRE_COMMIT)
        return proc.stderr

    def message_refused(self, *args: str) -> None:
        before = self.head()
        proc = self.git("commit", *args, check=False)
        assert proc.returncode == 1, proc.stdout + proc.stderr
        assert "commit message starts with [" in proc.stderr, proc.stderr
        assert self.head() == before
        self.saw(COMMIT_MSG)

    def git_refuses(self, *args: str, message: str) -> None:
        proc = self.git(*args, check=False)
        assert proc.returncode != 0 and message in proc.stderr, proc.stdout + proc.stderr
        self.saw(GIT)

    # wta merge -----------------------------------------------------------------------------
    def merge(self) -> subprocess.CompletedProcess:
        return wta(self.repo, "merge", "--no-test", self.stream)

    def merge_refused(self, *names: str, why: str = "verification-failed") -> str:
        """`wta merge` stops at this stream, naming the problems; the base and the branch stay."""
        base, tip = self.rev("main"), self.rev(f"wta/{self.stream}")
        proc = self.merge()
        assert proc.returncode == 1, proc.stdout + proc.stderr
        assert why in proc.stdout + proc.stderr, proc.stdout + proc.stderr
        for name in names:
            assert name in proc.stderr, proc.stderr
        assert (self.rev("main"), self.rev(f"wta/{self.stream}")) == (base, tip)
        self.saw(MERGE)
        return proc.stderr

    def merge_leaves_out(self, *commits: str) -> None:
        """`wta merge` merges the stream, and none of these commits reaches the base."""
        proc = self.merge()
        assert proc.returncode == 0, proc.stdout + proc.stderr
        for commit in commits:
            assert git(self.repo, "merge-base", "--is-ancestor", commit, "main", check=False,
                       env={**os.environ, **REAL}).returncode == 1, commit
        self.saw(MERGE)

    # what the base gained ---------------------------------------------------------------------
    def in_zone(self, path: str) -> bool:
        o = self.zones.owner_of(path)
        return o.stream == self.stream and not o.read_only and not o.also

    def assert_base_clean(self) -> None:
        """Every commit the base gained since the stream started, and the base's net
        change, touch only the stream's zone; none of them is an attempt's commit."""
        env = {**os.environ, **REAL}
        span = f"{self.base_mark}..main"
        assert git(self.repo, "rev-list", "--merges", span, env=env).stdout == ""
        for sha in git(self.repo, "rev-list", span, env=env).stdout.split():
            subject = git(self.repo, "log", "-1", "--format=%s", sha, env=env).stdout.strip()
            assert subject.startswith(f"[{self.stream}] ") and MARK not in subject, subject
            for path in self._changed(f"{sha}^", sha):
                assert self.in_zone(path), f"{sha[:12]} {subject!r} changes {path!r} outside {self.stream}'s zone"
        for path in self._changed(self.base_mark, "main"):
            assert self.in_zone(path), f"the base changed {path!r}, outside {self.stream}'s zone"

    def _changed(self, old: str, new: str) -> list[str]:
        out = git(self.repo, "diff-tree", "-r", "-z", "--no-renames", "--name-only", old, new,
                  env={**os.environ, **REAL}).stdout
        return [p for p in out.split("\0") if p]


def _build_template(root: Path) -> Path:
    repo = make_repo(root / "webapp")
    os.symlink("Button.tsx", repo / "src/components/current")
    (repo / "README.md").write_text(README)
    commit_all(repo, "link the current button; describe the app")
    for stream in STREAMS:
        where = add_stream_worktree(repo, stream)
        files, message = LEGIT[stream]
        write_files(where, files)
        commit_all(where, message)
    return root


_templates: dict[str, Path] = {}


def example_arena(tmp_path: Path, tmp_path_factory, stream: str) -> Arena:
    """A copy of the template, its worktrees re-linked (git worktree repair)."""
    if "example" not in _templates:
        _templates["example"] = _build_template(tmp_path_factory.mktemp("evasion-template"))
    root = tmp_path / "arena"
    shutil.copytree(_templates["example"], root, symlinks=True)
    repo = root / "webapp"
    for s in STREAMS:
        (root / f"webapp-{s}" / ".git").write_text(f"gitdir: {repo}/.git/worktrees/webapp-{s}\n")
    git(repo, "worktree", "repair", *(str(root / f"webapp-{s}") for s in STREAMS))
    wta(repo, "hooks", "install", check=0)   # the copy's stream worktrees still name the template's hooks
    return Arena(root, repo, {s: root / f"webapp-{s}" for s in STREAMS}, stream)


def widened(zones: str) -> str:
    """The example zones with src/components/** moved from ui to api."""
    return (zones.replace("src/lib/**]", "src/lib/**, src/components/**]")
            .replace("paths: [src/components/**, ", "paths: ["))


# -- the attempts, one per case -------------------------------------------------------------------

Attempt = Callable[[Arena], None]
ATTEMPTS: dict[str, Attempt] = {}
ARENAS: dict[str, Callable[..., Arena]] = {}


def attempt(case_id: str, arena: Callable[..., Arena] | None = None):
    def register(fn: Attempt) -> Attempt:
        assert case_id not in ATTEMPTS, case_id
        ATTEMPTS[case_id] = fn
        if arena is not None:
            ARENAS[case_id] = arena
        return fn
    return register


# an agent's edits, then the same change from a shell

@attempt("write-other-zone")
def _write_other_zone(a: Arena) -> None:
    a.guard_denies("Write", {"file_path": str(a.wt / "src/components/Evil.tsx"), "content": EVIL},
                   "src/components/Evil.tsx is owned by stream 'ui'")
    a.write({"src/components/Evil.tsx": EVIL})
    a.git("add", "src/components/Evil.tsx")
    a.commit_refused("-m", MARK, names=("src/components/Evil.tsx",))


@attempt("edit-other-zone")
def _edit_other_zone(a: Arena) -> None:
    button = a.wt / "src/components/Button.tsx"
    a.guard_denies("Edit", {"file_path": str(button), "old_string": "Button", "new_string": "Evil"},
                   "src/components/Button.tsx is owned by stream 'ui'")
    button.write_text(EVIL)
    a.commit_refused("-a", "-m", MARK, names=("src/components/Button.tsx",))


@attempt("multi-edit-other-zone")
def _multi_edit_other_zone(a: Arena) -> None:
    a.guard_denies("MultiEdit", {"file_path": str(a.wt / "src/components/Button.tsx"),
                                 "edits": [{"old_string": "Button", "new_string": "Evil"},
                                           {"old_string": "null", "new_string": "'evil'"}]},
                   "src/components/Button.tsx", "'ui'")


@attempt("notebook-edit-other-zone")
def _notebook_edit_other_zone(a: Arena) -> None:
    a.guard_denies("NotebookEdit", {"notebook_path": str(a.wt / "src/components/chart.ipynb"), "new_source": "1"},
                   "src/components/chart.ipynb", "'ui'")


@attempt("dot-dot-path")
def _dot_dot_path(a: Arena) -> None:
    sneaky = "src/lib/../components/Button.tsx"
    a.guard_denies("Write", {"file_path": sneaky, "content": EVIL}, "src/components/Button.tsx is owned by stream 'ui'")
    (a.wt / sneaky).write_text(EVIL)
    a.git("add", sneaky)
    a.commit_refused("-m", MARK, names=("src/components/Button.tsx",))


@attempt("dot-slash-path")
def _dot_slash_path(a: Arena) -> None:
    sneaky = "./src/components/./Evil.tsx"
    a.guard_denies("Write", {"file_path": sneaky, "content": EVIL}, "src/components/Evil.tsx is owned by stream 'ui'")
    a.write({"src/components/Evil.tsx": EVIL})
    a.git("add", sneaky)
    a.commit_refused("-m", MARK, names=("src/components/Evil.tsx",))


@attempt("other-worktree")
def _other_worktree(a: Arena) -> None:
    target = a.worktrees["ui"] / "src/components/Button.tsx"
    a.guard_denies("Write", {"file_path": str(target), "content": EVIL}, "outside this worktree")
    a.guard_denies("Write", {"file_path": "../webapp-ui/src/components/Nav.tsx", "content": EVIL},
                   "outside this worktree")


@attempt("main-worktree")
def _main_worktree(a: Arena) -> None:
    a.guard_denies("Write", {"file_path": str(a.repo / "README.md"), "content": EVIL}, "outside this worktree")
    a.guard_denies("Write", {"file_path": "../webapp/zones.yaml", "content": EVIL}, "outside this worktree")


@attempt("symlink-into-other-zone")
def _symlink_into_other_zone(a: Arena) -> None:
    os.symlink("../components/Button.tsx", a.wt / "src/lib/button.tsx")
    a.git("add", "src/lib/button.tsx")
    a.commit_passes("-m", "link to the button")      # the link itself is a file of api's zone
    a.guard_denies("Write", {"file_path": str(a.wt / "src/lib/button.tsx"), "content": EVIL},
                   "src/components/Button.tsx (where", "'ui'")


@attempt("symlink-out-of-worktree")
def _symlink_out_of_worktree(a: Arena) -> None:
    outside = a.root / "outside"
    outside.mkdir()
    os.symlink(outside, a.wt / "src/lib/out")
    a.guard_denies("Write", {"file_path": str(a.wt / "src/lib/out/x.ts"), "content": EVIL}, "symlink", str(outside))
    assert not (outside / "x.ts").exists()


@attempt("git-dir")
def _git_dir(a: Arena) -> None:
    a.guard_denies("Write", {"file_path": str(a.wt / ".git"), "content": EVIL}, "git's own data")
    a.guard_denies("Write", {"file_path": str(a.repo / ".git/hooks/pre-commit"), "content": EVIL},
                   "outside this worktree")
    a.guard_denies("Write", {"file_path": str(a.wt / "src/lib/.git/config"), "content": EVIL}, "git's own data")


@attempt("dot-git-lookalike")
def _dot_git_lookalike(a: Arena) -> None:
    a.guard_denies("Write", {"file_path": str(a.wt / ".GIT/hooks/pre-commit"), "content": EVIL},
                   ".GIT/hooks/pre-commit is unowned")
    a.write({".GIT/hooks/pre-commit": "#!/bin/sh\nexit 0\n"})
    a.git_refuses("add", ".GIT/hooks/pre-commit", message="invalid path")


@attempt("zones-yaml")
def _zones_yaml(a: Arena) -> None:
    config = a.wt / "zones.yaml"
    a.guard_denies("Write", {"file_path": str(config), "content": widened(config.read_text())},
                   "zones.yaml is read-only")
    config.write_text(widened(config.read_text()))
    a.commit_refused("-am", f"{MARK}: claim the components", names=("zones.yaml",))


@attempt("backslash-name")
def _backslash_name(a: Arena) -> None:
    name = "src\\lib\\evil.ts"    # one file at the root of the worktree
    a.guard_denies("Write", {"file_path": str(a.wt / name), "content": EVIL}, "evil.ts", "is unowned")
    (a.wt / name).write_text(EVIL)
    a.git("add", "-A")
    a.commit_refused("-m", MARK, names=('"src\\\\lib\\\\evil.ts": unowned',))


# commits

@attempt("rename-into-zone")
def _rename_into_zone(a: Arena) -> None:
    a.git("mv", "src/components/Button.tsx", "src/lib/Button.tsx")
    a.commit_refused("-m", MARK, names=("src/components/Button.tsx: owned by stream 'ui'",))


@attempt("rename-out-of-zone")
def _rename_out_of_zone(a: Arena) -> None:
    a.git("mv", "src/lib/db.ts", "src/components/db.ts")
    a.commit_refused("-m", MARK, names=("src/components/db.ts: owned by stream 'ui'",))


@attempt("delete-other-zone")
def _delete_other_zone(a: Arena) -> None:
    a.git("rm", "-q", "src/components/Button.tsx")
    a.commit_refused("-m", MARK, names=("src/components/Button.tsx",))


@attempt("chmod-other-zone")
def _chmod_other_zone(a: Arena) -> None:
    a.git("update-index", "--chmod=+x", "src/app/page.tsx")
    assert a.git("diff", "--cached", "--name-only").stdout.split() == ["src/app/page.tsx"]
    a.commit_refused("-m", MARK, names=("src/app/page.tsx: owned by stream 'ui'",))


@attempt("symlink-retarget")
def _symlink_retarget(a: Arena) -> None:
    link = a.wt / "src/components/current"
    link.unlink()
    os.symlink("../lib/db.ts", link)
    a.git("add", "src/components/current")
    a.commit_refused("-m", MARK, names=("src/components/current",))


@attempt("file-to-symlink")
def _file_to_symlink(a: Arena) -> None:
    button = a.wt / "src/components/Button.tsx"
    button.unlink()
    os.symlink("../lib/db.ts", button)
    a.git("add", "src/components/Button.tsx")
    assert a.git("diff", "--cached", "--raw").stdout.split()[4] == "T"
    a.commit_refused("-m", MARK, names=("src/components/Button.tsx",))


@attempt("name-with-space")
def _name_with_space(a: Arena) -> None:
    a.write({"src/components/Evil Button.tsx": EVIL})
    a.git("add", "-A")
    a.commit_refused("-m", MARK, names=("src/components/Evil Button.tsx: owned by stream 'ui'",))


@attempt("name-with-newline")
def _name_with_newline(a: Arena) -> None:
    a.write({"src/components/a\nb.tsx": EVIL})
    a.git("add", "-A")
    a.commit_refused("-m", MARK, names=('"src/components/a\\nb.tsx": owned by stream \'ui\'',))


@attempt("name-unicode")
def _name_unicode(a: Arena) -> None:
    a.write({"src/components/Élan.tsx": EVIL, "src/l\u0456b/x.ts": EVIL})
    a.git("add", "-A")
    a.commit_refused("-m", MARK, names=("src/components/Élan.tsx: owned by stream 'ui'",
                                        "src/l\u0456b/x.ts: unowned"))


@attempt("trailing-space-dir")
def _trailing_space_dir(a: Arena) -> None:
    a.write({"src/lib /evil.ts": EVIL})
    a.git("add", "-A")
    a.commit_refused("-m", MARK, names=("src/lib /evil.ts: unowned",))


@attempt("commit-all")
def _commit_all(a: Arena) -> None:
    (a.wt / "src/components/Button.tsx").write_text(EVIL)
    a.write({"src/lib/fine.ts": "fine\n"})
    a.git("add", "src/lib/fine.ts")
    a.commit_refused("-a", "-m", MARK, names=("src/components/Button.tsx",))


@attempt("commit-pathspec")
def _commit_pathspec(a: Arena) -> None:
    (a.wt / "src/components/Button.tsx").write_text(EVIL)
    a.commit_refused("-m", MARK, "--", "src/components/Button.tsx", names=("src/components/Button.tsx",))
    a.commit_refused("-m", MARK, "-i", "src/components/Button.tsx", names=("src/components/Button.tsx",))


@attempt("custom-index")
def _custom_index(a: Arena) -> None:
    env = {**os.environ, "GIT_INDEX_FILE": str(a.root / "other.index")}
    a.git("read-tree", "HEAD", env=env)
    (a.wt / "src/components/Button.tsx").write_text(EVIL)
    a.git("add", "src/components/Button.tsx", env=env)
    assert a.git("diff", "--cached", "--name-only").stdout == ""      # the real index has nothing staged
    a.commit_refused("-m", MARK, names=("src/components/Button.tsx",), env=env)


@attempt("amend-adds-outside")
def _amend_adds_outside(a: Arena) -> None:
    a.write({"src/components/Evil.tsx": EVIL})
    a.git("add", "src/components/Evil.tsx")
    a.commit_refused("--amend", "--no-edit", names=("src/components/Evil.tsx",))


@attempt("read-only-path")
def _read_only_path(a: Arena) -> None:
    (a.wt / "docs/specs/api.md").write_text(EVIL)
    a.commit_refused("-am", MARK, names=("docs/specs/api.md: read-only",))


@attempt("append-only-middle")
def _append_only_middle(a: Arena) -> None:
    notes = a.wt / "ai-agents/memory/notes.md"
    notes.write_text(notes.read_text().replace("first note", "FIRST NOTE, REWRITTEN") + "a fourth note\n")
    a.commit_refused("-am", MARK, names=("ai-agents/memory/notes.md: append-only zone: changed before its end",))


@attempt("append-only-delete")
def _append_only_delete(a: Arena) -> None:
    a.git("mv", "ai-agents/memory/notes.md", "ai-agents/memory/old.md")
    a.commit_refused("-m", MARK, names=("ai-agents/memory/notes.md: append-only zone: deleted",))


@attempt("gitlink-outside")
def _gitlink_outside(a: Arena) -> None:
    a.git("update-index", "--add", "--cacheinfo", f"160000,{a.head()},src/components/vendor")
    a.commit_refused("-m", MARK, names=("src/components/vendor: owned by stream 'ui'",))


@attempt("case-only-rename")
def _case_only_rename(a: Arena) -> None:
    (a.wt / "src/Components").mkdir()
    a.git("mv", "src/components/Button.tsx", "src/Components/Button.tsx")
    a.commit_refused("-m", MARK, names=("src/Components/Button.tsx: unowned",))


@attempt("root-gitattributes")
def _root_gitattributes(a: Arena) -> None:
    a.write({".gitattributes": "* merge=ours\n"})
    a.git("add", ".gitattributes")
    a.commit_refused("-m", MARK, names=(".gitattributes: unowned",))


@attempt("copy-keeps-source-change")
def _copy_keeps_source_change(a: Arena) -> None:
    shutil.copy(a.wt / "src/components/Button.tsx", a.wt / "src/lib/Button.tsx")
    (a.wt / "src/components/Button.tsx").write_text(EVIL)
    a.git("add", "-A")
    stderr = a.commit_refused("-m", MARK, names=("src/components/Button.tsx",))
    assert "src/lib/Button.tsx" not in stderr                  # copying into the zone is fine ...
    a.git("checkout", "HEAD", "--", "src/components/Button.tsx")
    a.commit_passes("-m", "a copy of the button")            # ... and lands on its own


@attempt("hard-link")
def _hard_link(a: Arena) -> None:
    os.link(a.wt / "src/components/Button.tsx", a.wt / "src/lib/b.tsx")
    a.guard_allows("Write", {"file_path": str(a.wt / "src/lib/b.tsx"), "content": EVIL})   # in the zone by name
    with open(a.wt / "src/lib/b.tsx", "r+") as f:     # written in place, as an editor would: both names change
        f.write("EVIL")
    assert (a.wt / "src/components/Button.tsx").read_text().startswith("EVIL")
    a.git("add", "-A")
    a.commit_refused("-m", MARK, names=("src/components/Button.tsx",))


@attempt("delete-whole-tree")
def _delete_whole_tree(a: Arena) -> None:
    a.git("rm", "-r", "-q", ".")
    a.commit_refused("-m", MARK, names=("README.md", "zones.yaml", "src/components/Button.tsx", "docs/specs/api.md"))


@attempt("negated-subdirectory")
def _negated_subdirectory(a: Arena) -> None:
    a.write({"ai-agents/memory/x.md": EVIL})
    a.git("add", "-A")
    a.commit_refused("-m", MARK, names=("ai-agents/memory/x.md: owned by stream 'monitor'",))


DIR_ZONES = "version: 1\nstreams:\n  deps:\n    paths: [vendor/]\n  app:\n    paths: [src/**]\n"


def dir_pattern_arena(tmp_path: Path, tmp_path_factory, stream: str) -> Arena:
    repo = make_repo(tmp_path / "repo", DIR_ZONES,
                     {"README.md": "# app\n", "src/main.py": "print(1)\n", "vendor/lib.py": "LIB = 1\n"})
    return Arena(tmp_path, repo, {"deps": add_stream_worktree(repo, "deps")}, stream)


@attempt("dir-only-pattern", arena=dir_pattern_arena)
def _dir_only_pattern(a: Arena) -> None:
    a.git("rm", "-r", "-q", "vendor")
    a.write({"vendor": EVIL})
    a.git("add", "vendor")
    stderr = a.commit_refused("-m", MARK, names=("vendor: unowned",))
    assert "vendor/lib.py" not in stderr           # deleting its own directory is fine


@attempt("base-branch-in-stream-worktree")
def _base_branch_in_stream_worktree(a: Arena) -> None:
    a.git("switch", "-q", "--ignore-other-worktrees", "main")
    (a.wt / "README.md").write_text(EVIL)
    a.commit_refused("-am", MARK, names=("README.md: unowned",))
    a.git("reset", "-q", "--hard")
    a.git("switch", "-q", "wta/api")


@attempt("evil-merge-hooked")
def _evil_merge_hooked(a: Arena) -> None:
    a.base_commit("add a guide", {"docs/guide.md": "# guide\n"})
    a.git("merge", "-q", "--no-commit", "--no-ff", "main")
    (a.wt / "README.md").write_text(EVIL)
    a.git("add", "README.md")
    stderr = a.commit_refused("--no-edit", names=("README.md: unowned",))
    assert "docs/guide.md" not in stderr           # what the merge brings from the base is the base's


# commit messages

@attempt("impersonate-prefix")
def _impersonate_prefix(a: Arena) -> None:
    a.write({"src/lib/x.ts": "x\n"})
    a.git("add", "src/lib/x.ts")
    a.message_refused("-m", f"[ui] {MARK}: take the credit")
    a.commit_passes("--no-verify", "-m", f"[ui] {MARK}: take the credit")
    a.merge_refused(f"[ui] {MARK}: take the credit': no [api] prefix")


# hooks skipped or switched off

@attempt("widen-zone-then-commit")
def _widen_zone_then_commit(a: Arena) -> None:
    config = a.wt / "zones.yaml"
    config.write_text(widened(config.read_text()))
    a.commit_passes("--no-verify", "-am", f"[api] {MARK}: claim the components")
    a.write({"src/components/Evil.tsx": EVIL})
    a.git("add", "src/components/Evil.tsx")
    a.commit_refused("-m", MARK, names=("src/components/Evil.tsx: owned by stream 'ui'",))  # the base's zones
    a.commit_passes("--no-verify", "-m", f"[api] {MARK}: use them")
    a.merge_refused("zones.yaml: read-only", "src/components/Evil.tsx: owned by stream 'ui'")


def _evil_readme_commit(a: Arena, *extra: str) -> str:
    (a.wt / "README.md").write_text(EVIL)
    return a.commit_passes(*extra, "-am", f"[api] {MARK}: the readme")


@attempt("no-verify")
def _no_verify(a: Arena) -> None:
    _evil_readme_commit(a, "--no-verify")
    a.merge_refused("README.md: unowned")


@attempt("no-verify-then-amend")
def _no_verify_then_amend(a: Arena) -> None:
    _evil_readme_commit(a, "--no-verify")
    a.write({"src/lib/more.ts": "more\n"})
    a.git("add", "src/lib/more.ts")
    a.commit_refused("--amend", "--no-edit", names=("README.md",))   # checked as the commit it makes
    a.commit_passes("--amend", "--no-edit", "--no-verify")
    a.merge_refused("README.md: unowned")


@attempt("hooks-deleted")
def _hooks_deleted(a: Arena) -> None:
    for name in ("pre-commit", "commit-msg"):
        (a.repo / ".git/wta/hooks" / name).unlink()
    (a.wt / "README.md").write_text(EVIL)
    a.commit_passes("-am", MARK)
    a.merge_refused("README.md: unowned", f"'{MARK}': no [api] prefix")


@attempt("hooks-path-shared")
def _hooks_path_shared(a: Arena) -> None:
    a.git("config", "core.hooksPath", os.devnull)   # the stream worktree's own core.hooksPath still wins
    (a.wt / "README.md").write_text(EVIL)
    a.commit_refused("-am", MARK, names=("README.md",))


@attempt("hooks-path-config")
def _hooks_path_config(a: Arena) -> None:
    a.git("config", "--worktree", "core.hooksPath", os.devnull)
    (a.wt / "README.md").write_text(EVIL)
    a.commit_passes("-am", MARK)
    a.merge_refused("README.md: unowned", f"'{MARK}': no [api] prefix")


@attempt("hooks-path-flag")
def _hooks_path_flag(a: Arena) -> None:
    (a.wt / "README.md").write_text(EVIL)
    assert a.git("-c", f"core.hooksPath={os.devnull}", "commit", "-q", "-am", MARK).returncode == 0
    a.merge_refused("README.md: unowned", f"'{MARK}': no [api] prefix")


@attempt("stream-record-deleted")
def _stream_record_deleted(a: Arena) -> None:
    (a.git_dir() / "wta-stream").unlink()
    (a.wt / "README.md").write_text(EVIL)
    a.commit_passes("-am", MARK)
    a.merge_refused("README.md: unowned", f"'{MARK}': no [api] prefix")


@attempt("stream-record-forged")
def _stream_record_forged(a: Arena) -> None:
    (a.git_dir() / "wta-stream").write_text("ui\n")
    a.write({"src/components/Evil.tsx": EVIL})
    a.git("add", "src/components/Evil.tsx")
    a.commit_passes("-m", MARK)                        # judged as ui, and prefixed as ui
    assert a.git("log", "-1", "--format=%s").stdout.strip() == f"[ui] {MARK}"
    # The record (read-only in the sandbox) says this is ui's worktree: wta lands wta/api only from api's.
    a.merge_refused("records as stream 'ui''s worktree, and wta lands a branch only from its own stream's",
                    why="refused")


@attempt("zones-cache-forged")
def _zones_cache_forged(a: Arena) -> None:
    cache = a.repo / ".git/wta/zones.cache"
    data = marshal.loads(cache.read_bytes())
    data["zones"]["unowned_allowed"] = True
    cache.write_bytes(marshal.dumps(data))
    _evil_readme_commit(a)                             # the hook believes the forged cache
    a.merge_refused("README.md: unowned")


@attempt("config-cache-forged")
def _config_cache_forged(a: Arena) -> None:
    from worktree_agents.config.loading import _cache_key
    from worktree_agents.config.validation import validate

    text = (a.repo / "zones.yaml").read_text()
    values = validate(text, "zones.yaml", str(a.repo))
    values["streams"]["api"]["paths"].append("README.md")
    (a.repo / ".git/wta/config.cache").write_bytes(marshal.dumps({"key": _cache_key(text, str(a.repo)),
                                                                  "values": values}))
    assert "README.md" in wta(a.repo, "zones", check=0).stdout   # what reads the main config believes it
    _evil_readme_commit(a, "--no-verify")
    a.merge_refused("README.md: unowned")                       # the merge validates the base's file itself


@attempt("zones-fast-forged")
def _zones_fast_forged(a: Arena) -> None:
    fast = a.repo / ".git/wta/zones.fast"
    lines = fast.read_text().splitlines()
    assert any(line.startswith("api ") for line in lines)
    fast.write_text("".join(line + (" src/components" if line.startswith("api ") else "") + "\n" for line in lines))
    a.write({"src/components/Evil.tsx": EVIL})
    a.git("add", "src/components/Evil.tsx")
    a.commit_passes("-m", MARK)                      # the hook's shell believes the forged list
    a.merge_refused("src/components/Evil.tsx: owned by stream 'ui'")


@attempt("plumbing-commit")
def _plumbing_commit(a: Arena) -> None:
    env = {**os.environ, "GIT_INDEX_FILE": str(a.root / "plumbing.index")}
    blob = git(a.wt, "hash-object", "-w", "--stdin", input=EVIL).stdout.strip()
    a.git("read-tree", "HEAD", env=env)
    a.git("update-index", "--cacheinfo", f"100644,{blob},README.md", env=env)
    tree = a.git("write-tree", env=env).stdout.strip()
    commit = a.git("commit-tree", tree, "-p", "HEAD", "-m", f"[api] {MARK}").stdout.strip()
    a.git("reset", "-q", "--hard", commit)
    a.merge_refused("README.md: unowned")


@attempt("cherry-pick")
def _cherry_pick(a: Arena) -> None:
    a.git("cherry-pick", "wta/ui")                     # runs no pre-commit hook
    a.merge_refused("src/components/Nav.tsx: owned by stream 'ui'", "no [api] prefix")


@attempt("merge-other-stream")
def _merge_other_stream(a: Arena) -> None:
    # A clean merge runs no pre-commit hook: wta's pre-merge-commit refuses it; past that, the landing.
    before = a.head()
    refused = a.git("merge", "-q", "--no-edit", "wta/ui", check=False)
    assert refused.returncode == 1 and "src/components/Nav.tsx: owned by stream 'ui'" in refused.stderr
    assert "merge refused by the pre-merge-commit hook" in refused.stderr and a.head() == before
    a.saw(PRE_MERGE_COMMIT)
    a.git("merge", "--abort")
    a.git("merge", "-q", "--no-verify", "--no-edit", "wta/ui")
    a.merge_refused("src/components/Nav.tsx: owned by stream 'ui'")


@attempt("evil-merge")
def _evil_merge(a: Arena) -> None:
    a.base_commit("add a guide", {"docs/guide.md": "# guide\n"})
    a.git("merge", "-q", "--no-commit", "--no-ff", "main")
    (a.wt / "README.md").write_text(EVIL)
    a.git("add", "README.md")
    a.commit_passes("--no-verify", "-m", f"[api] {MARK}: merge main")
    stderr = a.merge_refused("README.md: unowned")
    assert "docs/guide.md" not in stderr


def _tree_without(a: Arena, rev: str, path: str) -> str:
    env = {**os.environ, "GIT_INDEX_FILE": str(a.root / "scratch.index")}
    a.git("read-tree", rev, env=env)
    a.git("rm", "-q", "--cached", path, env=env)
    return a.git("write-tree", env=env).stdout.strip()


@attempt("orphan-parent-merge")
def _orphan_parent_merge(a: Arena) -> None:
    env = {**os.environ, "GIT_INDEX_FILE": str(a.root / "orphan.index")}
    blob = git(a.wt, "hash-object", "-w", "--stdin", input="orphan\n").stdout.strip()
    a.git("update-index", "--add", "--cacheinfo", f"100644,{blob},src/lib/orphan.ts", env=env)
    orphan = a.git("commit-tree", a.git("write-tree", env=env).stdout.strip(), "-m", "[api] orphan").stdout.strip()
    merged = a.git("commit-tree", _tree_without(a, "HEAD", "README.md"), "-p", "HEAD", "-p", orphan,
                   "-m", f"[api] {MARK}: merge").stdout.strip()
    a.git("reset", "-q", "--hard", merged)
    # Commit by commit nothing shows: `--cc` hides a path whose result equals one parent's (absent in both).
    assert wta(a.repo, "check-zones", "--stream", "api", "main..wta/api").returncode == 0
    predicted = wta(a.repo, "merge", "--dry-run", "api")
    assert predicted.returncode == 1
    assert "wta/api on top of main would change paths outside its zone" in predicted.stdout
    a.merge_refused("README.md: unowned", why="would change paths outside its zone")


@attempt("fake-merge-head")
def _fake_merge_head(a: Arena) -> None:
    older = a.rev("main~1")
    assert git(a.repo, "show", f"{older}:README.md").stdout == OLD_README
    (a.wt / "README.md").write_text(OLD_README)
    a.git("add", "README.md")
    (a.git_dir() / "MERGE_HEAD").write_text(older + "\n")
    forged = a.commit_passes("-m", f"{MARK}: back to the old readme")   # the hook takes it for the merge's
    # git drops a merge parent that HEAD already contains: an ordinary commit, audited in full.
    assert a.git("log", "-1", "--format=%P", forged).stdout.split() == [a.rev(f"{forged}~1")]
    a.merge_refused("README.md: unowned")


@attempt("replace-ref")
def _replace_ref(a: Arena) -> None:
    a.write({"src/lib/x.ts": "x\n"})
    a.git("add", "src/lib/x.ts")
    evil = _evil_readme_commit(a, "--no-verify")
    a.git("checkout", "HEAD~1", "--", "README.md")
    twin = a.commit_passes("--no-verify", "--amend", "--no-edit")
    a.git("replace", evil, twin)
    a.git("reset", "-q", "--hard", evil, env={**os.environ, **REAL})
    assert "README.md" not in a.git("show", "--name-only", "--format=", "wta/api").stdout   # what git shows
    proc = wta(a.repo, "check-zones", "--stream", "api", "main..wta/api")
    assert proc.returncode == 1 and "README.md" in proc.stderr
    a.merge_refused("README.md: unowned")


@attempt("graft-file")
def _graft_file(a: Arena) -> None:
    hidden = _evil_readme_commit(a, "--no-verify")
    a.git("checkout", "HEAD~1", "--", "README.md")
    a.write({"src/lib/x.ts": "x\n"})
    a.git("add", "-A")
    top = a.commit_passes("--no-verify", "-m", "[api] put the readme back, add x")
    (a.repo / ".git/info").mkdir(exist_ok=True)
    (a.repo / ".git/info/grafts").write_text(f"{top} {a.rev('main')}\n")
    shown = a.git("-c", "advice.graftFileDeprecated=false", "log", "--format=%H", "main..wta/api").stdout.split()
    assert hidden not in shown                     # git itself no longer shows the evil commit
    a.merge_refused("README.md: unowned")


@attempt("shallow-file")
def _shallow_file(a: Arena) -> None:
    (a.repo / ".git/shallow").write_text(a.head() + "\n")
    a.merge_refused("README.md: unowned", "src/components/Button.tsx: owned by stream 'ui'")
    (a.repo / ".git/shallow").unlink()


@attempt("rebase-follows-rename")
def _rebase_follows_rename(a: Arena) -> None:
    (a.wt / "src/lib/db.ts").write_text("export const db = {}\n// tuned by api\n")
    a.commit_passes("-am", "tune the db")
    # src/lib keeps a file on the base, so git sees a file moved, not the whole directory renamed.
    a.base_commit("move the db to the components", {"src/lib/index.ts": "export {}\n"},
                  moves=("src/lib/db.ts", "src/components/db.ts"))
    a.merge_refused("src/components/db.ts: owned by stream 'ui'", why="would change paths outside its zone")


@attempt("orphan-branch")
def _orphan_branch(a: Arena) -> None:
    a.git("switch", "-q", "--orphan", "scratch")     # an empty index and worktree
    a.write({"src/lib/only.ts": "only\n"})
    a.git("add", "src/lib/only.ts")
    root = a.commit_passes("-m", "only my zone")     # nothing else in it: as if every other file were deleted
    a.git("branch", "-q", "-f", "wta/api", root)
    a.git("switch", "-q", "wta/api")
    a.git("branch", "-q", "-D", "scratch")
    a.merge_leaves_out(root)                       # rebased onto the base: the other files stay
    assert git(a.repo, "show", "main:src/lib/only.ts").stdout == "only\n"


def _paused_merge(a: Arena, step: str, gate: Path) -> subprocess.Popen:
    """`wta merge` of the stream, paused at `step` until `gate` exists (at most 60 s): a fixed 1 s pause had
    ended, on a loaded machine, before the attempt's commit, and the merge landed the stream unchanged."""
    env = {**os.environ, "WTA_MERGE_PAUSE_AT": f"{step}:{a.stream}", "WTA_MERGE_PAUSE_SECONDS": "60",
           "WTA_MERGE_PAUSE_UNTIL": str(gate)}
    merge = subprocess.Popen([sys.executable, "-m", "worktree_agents", "merge", "--no-test", a.stream], cwd=a.repo,
                             env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    state = a.repo / ".git/wta/merge.json"
    deadline = time.monotonic() + 30
    while True:
        try:
            if json.loads(state.read_text()).get("step") == step:
                return merge
        except (FileNotFoundError, ValueError):
            pass
        assert merge.poll() is None and time.monotonic() < deadline, f"the merge never paused at {step}"
        time.sleep(0.01)


@attempt("commit-during-merge-rebase")
def _commit_during_merge_rebase(a: Arena) -> None:
    a.base_commit("add a guide", {"docs/guide.md": "# guide\n"})     # so the stream needs a rebase
    gate = a.root / "go-on"
    merge = _paused_merge(a, "rebase", gate)
    _evil_readme_commit(a, "--no-verify")
    gate.touch()
    out, err = merge.communicate(timeout=60)
    assert merge.returncode == 1, out + err
    assert "wta/api got new commits during the merge" in err
    assert a.rev("main") == a.base_mark
    a.saw(MERGE)


@attempt("commit-during-merge-verify")
def _commit_during_merge_verify(a: Arena) -> None:
    gate = a.root / "go-on"
    merge = _paused_merge(a, "verify", gate)
    sneaked = _evil_readme_commit(a, "--no-verify")
    gate.touch()
    out, err = merge.communicate(timeout=60)
    assert merge.returncode == 1, out + err           # the branch moved under the merge: the stream stops
    assert "wta/api got new commits during the merge" in err
    assert a.rev("main") == a.base_mark
    assert a.head() == sneaked                        # both tips kept: the branch as it is, its old tip backed up
    a.saw(MERGE)
    a.git("reset", "-q", "--hard", "HEAD~1")


# elsewhere

@attempt("push-to-base")
def _push_to_base(a: Arena) -> None:
    _evil_readme_commit(a, "--no-verify")
    a.git_refuses("push", "-q", ".", "HEAD:main", message="branch is currently checked out")
    a.git_refuses("branch", "-f", "main", "HEAD", message="cannot force update the branch 'main'")
    a.git("reset", "-q", "--hard", "HEAD~1")


def _yaml(value: str) -> str:
    return json.dumps(value)    # a JSON string is a YAML scalar, whatever it holds


SETUP = ["printf 'EVIL\\n' >> README.md", "printf 'EVIL\\n' > src/lib/gen.ts"]
AGENT = ("printf 'export const Gen = 1\\n' > src/components/Gen.tsx; "
         f"git add -A && git commit -qm '{MARK}: everything' || echo 'the commit was refused'")


def setup_arena(tmp_path: Path, tmp_path_factory, stream: str) -> Arena:
    zones = EXAMPLE_ZONES.read_text().replace("setup: [npm ci]", f"setup: [{', '.join(map(_yaml, SETUP))}]")
    agent = f"agent:\n  runner: command\n  timeout: 60s\n  command: {_yaml(AGENT)}\nstreams:\n"
    zones = re.sub(r"(?ms)^agent:\n.*?^streams:\n", lambda _: agent, zones)
    repo = make_repo(tmp_path / "webapp", zones)
    return Arena(tmp_path, repo, {stream: tmp_path / "webapp-worktrees" / stream}, stream)


@attempt("setup-outside-zone", arena=setup_arena)
def _setup_outside_zone(a: Arena) -> None:
    done = wta(a.repo, "up", a.stream, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    log = (a.repo / ".git/wta/logs" / f"{a.stream}.log").read_text(errors="replace")
    assert "commit refused by the pre-commit hook" in log and "the commit was refused" in log, log
    a.saw(PRE_COMMIT)
    committed = a.git("diff", "--name-only", "main", f"wta/{a.stream}").stdout.split()
    assert committed == ["src/components/Gen.tsx"]      # the leftovers in the zone, nothing else
    left = {line[3:] for line in a.git("status", "--porcelain", "--untracked-files=all").stdout.splitlines()}
    assert left == {"README.md", "src/lib/gen.ts"}      # reported, left in the worktree
    a.saw(NEVER)
    a.git("reset", "-q", "--hard")                   # the person discards what setup left


@attempt("gitattributes-in-zone")
def _gitattributes_in_zone(a: Arena) -> None:
    a.write({"src/lib/.gitattributes": "* merge=ours export-ignore filter=evasion\n"
                                       "/src/components/** merge=ours\n../components/* export-ignore\n"})
    a.git("add", "src/lib/.gitattributes")
    a.commit_passes("-m", "attributes for my files")
    attrs = a.git("check-attr", "merge", "export-ignore", "filter", "--", "src/components/Button.tsx",
                  "src/lib/db.ts", "README.md").stdout
    assert attrs.count("unspecified") == 6 and "src/lib/db.ts: merge: ours" in attrs, attrs
    a.saw(INERT)


@attempt("notes")
def _notes(a: Arena) -> None:
    a.git("notes", "add", "-m", f"{MARK}: {EVIL}", "HEAD")
    assert a.rev("refs/notes/commits")
    a.saw(INERT)


# -- the suite -------------------------------------------------------------------------------------

LOCAL = [c for c in CASES if not c.test]


@pytest.mark.parametrize("case", LOCAL, ids=[c.id for c in LOCAL])
def test_evasion(case: Case, tmp_path, tmp_path_factory):
    arena = ARENAS.get(case.id, example_arena)(tmp_path, tmp_path_factory, case.stream)
    ATTEMPTS[case.id](arena)
    if MERGE not in arena.caught:
        # Whatever the attempt left, the stream's own work still merges (the refused change left behind).
        arena.git("reset", "-q", "--hard")
        proc = arena.merge()
        assert proc.returncode == 0, proc.stdout + proc.stderr
    assert tuple(arena.caught) == case.layers
    arena.assert_base_clean()


def test_every_case_is_attempted_and_the_suite_is_large_enough():
    assert set(ATTEMPTS) == {c.id for c in LOCAL}
    assert len(LOCAL) >= 45
    assert len({c.id for c in CASES}) == len(CASES)
    for case in CASES:
        if case.test:
            path, _, name = case.test.partition("::")
            assert f"def {name}(" in (ROOT / path).read_text(), case.test


def test_security_doc_table_is_the_generated_one():
    assert documented_table(DOC.read_text()) == render_security_table(), \
        "docs/security.md drifted from the cases: run `python tests/hardening/evasion_cases.py --write`"
