"""Attacks on what wta believes git tells it: history parsed by separator bytes,
a forged commit-graph, short ref names, invalid trees, and code from a stream's
worktree running inside wta's own git calls (issue classes 1, 2, 3, 4 and 6).

Each test builds the attack with real git (crafted objects, a patched
commit-graph, tags, hooks, fsmonitor, a replaced `.git` file) and shows it
refused with a one-line reason, the base unmoved and nothing lost.
"""

from __future__ import annotations

import json
import os
import struct
import time
from pathlib import Path

import pytest

from support import EXAMPLE_ZONES, add_stream_worktree, commit_all, git, make_repo, wta, write_files

# `test:` is a no-op: these attacks are about what lands, not about tests.
ZONES = EXAMPLE_ZONES.read_text().replace("test: npm test", "test: 'true'")
REAL = {"GIT_NO_REPLACE_OBJECTS": "1", "GIT_GRAFT_FILE": os.devnull + "/grafts"}


@pytest.fixture
def repo(tmp_path) -> Path:
    """The example zones on `main`, worktrees for api and ui, one in-zone commit on api."""
    repo = make_repo(tmp_path / "webapp", ZONES)
    for stream in ("api", "ui"):
        add_stream_worktree(repo, stream)
    write_files(wt(repo, "api"), {"src/lib/cache.ts": "export const cache = 1\n"})
    commit_all(wt(repo, "api"), "add a cache")
    return repo


def wt(repo: Path, stream: str) -> Path:
    return repo.parent / f"webapp-{stream}"


def rev(repo: Path, name: str) -> str:
    """What a rev really is: no replace refs, no grafts, no commit-graph."""
    return git(repo, "-c", "core.commitGraph=false", "rev-parse", name, env={**os.environ, **REAL}).stdout.strip()


def real_log(repo: Path, rev_: str = "refs/heads/main") -> list[str]:
    return git(repo, "-c", "core.commitGraph=false", "rev-list", rev_, env={**os.environ, **REAL}).stdout.split()


def commit_tree(repo: Path, tree: str, parents: list[str], message: bytes, when: int = 1700000000) -> str:
    """A commit object with any message bytes (`git hash-object`: commit-tree cannot take all of them)."""
    body = f"tree {tree}\n" + "".join(f"parent {p}\n" for p in parents)
    body += f"author Eve <eve@example.com> {when} +0000\ncommitter Eve <eve@example.com> {when} +0000\n\n"
    proc = git(repo, "hash-object", "-t", "commit", "-w", "--stdin", "--literally",
               input=(body.encode() + message).decode("latin-1"))
    return proc.stdout.strip()


def tree_with(repo: Path, base: str, files: dict[str, str]) -> str:
    """The tree of `base` with `files` written into it (a private index: no worktree touched)."""
    index = repo / ".git" / "attack-index"
    env = {**os.environ, "GIT_INDEX_FILE": str(index)}
    git(repo, "read-tree", base, env=env)
    for path, text in files.items():
        blob = git(repo, "hash-object", "-w", "--stdin", input=text).stdout.strip()
        git(repo, "update-index", "--add", "--cacheinfo", f"100644,{blob},{path}", env=env)
    tree = git(repo, "write-tree", env=env).stdout.strip()
    index.unlink()
    return tree


def tree_of(repo: Path, commit: str) -> str:
    return rev(repo, f"{commit}^{{tree}}")


def merge_refused(repo: Path, *args: str) -> tuple[str, object]:
    """Run `wta merge`; return its output and the api result (JSON)."""
    proc = wta(repo, "merge", "--json", *args)
    assert proc.stdout, proc.stderr
    doc = json.loads(proc.stdout)
    return proc.stdout + proc.stderr, next(s for s in doc["streams"] if s["stream"] == "api")


def assert_nothing_landed(repo: Path, main_before: str, api_tip: str | None = None) -> None:
    assert rev(repo, "refs/heads/main") == main_before, "the base moved"
    if api_tip:
        assert rev(repo, "refs/heads/wta/api") == api_tip, "the stream's branch was not given back"


# -- class 1: records split on bytes a message can contain ------------------------------------

def test_subject_with_separator_bytes_cannot_hide_a_commits_changes(repo):
    """A subject carrying \\x01 and \\x02 made the audit read a fake record with two parents (a merge)
    and lose the commit's real changes: an out-of-zone edit, reverted by the next commit, landed."""
    api_tip, main_before = rev(repo, "refs/heads/wta/api"), rev(repo, "refs/heads/main")
    evil_tree = tree_with(repo, api_tip, {"README.md": "EVIL\n"})
    fake = f"\x01{'1' * 40} {main_before} {api_tip}\x02[api] nothing here".encode()
    evil = commit_tree(repo, evil_tree, [api_tip], b"[api] tidy" + fake + b"\n")
    undo = commit_tree(repo, tree_of(repo, api_tip), [evil], b"[api] tidy more" + fake + b"\n")
    git(repo, "update-ref", "refs/heads/wta/api", undo, api_tip)
    git(wt(repo, "api"), "reset", "-q", "--hard", undo)

    out, api = merge_refused(repo, "--no-test")

    assert api["result"] == "verification-failed", out
    assert any("README.md" in p for p in api["problems"])
    assert evil not in real_log(repo)
    assert_nothing_landed(repo, main_before, undo)


def test_subject_with_separator_bytes_cannot_forge_parents(repo):
    """A subject that forged another commit's record (parent: the base) hid an unrelated root
    commit, with any content, from the audit: it landed in the base's history."""
    main_before, api_tip = rev(repo, "refs/heads/main"), rev(repo, "refs/heads/wta/api")
    good = tree_of(repo, api_tip)
    root = commit_tree(repo, tree_with(repo, api_tip, {"README.md": "EVIL\n"}), [], b"[api] a\n", when=1700000100)
    fake = f"\x01{root} {main_before}\x02[api] a".encode()
    side = commit_tree(repo, good, [main_before], b"[api] b" + fake + b"\n", when=1700000000)
    tip = commit_tree(repo, good, [root, side], b"[api] join\n", when=1700000200)
    git(repo, "update-ref", "refs/heads/wta/api", tip, api_tip)
    git(wt(repo, "api"), "reset", "-q", "--hard", tip)

    out, api = merge_refused(repo, "--no-test")

    assert api["result"] == "verification-failed", out
    assert root not in real_log(repo)
    assert_nothing_landed(repo, main_before, tip)


# -- class 2: a forged commit-graph -----------------------------------------------------------

def write_commit_graph(repo: Path) -> Path:
    """A commit-graph of every commit (generation version 1, no Bloom filters): the file to patch."""
    git(repo, "-c", "commitGraph.generationVersion=1", "commit-graph", "write", "--reachable", "--no-progress")
    path = repo / ".git" / "objects" / "info" / "commit-graph"
    assert path.exists()
    return path


class CommitGraph:
    """The commit-graph file, patched in place: a commit's tree, first parent or generation."""

    NO_PARENT = 0x70000000

    def __init__(self, path: Path) -> None:
        self.path, self.data = path, bytearray(path.read_bytes())
        assert self.data[:4] == b"CGPH" and self.data[5] == 1  # SHA-1
        chunks = self.data[6]
        table = {}
        for i in range(chunks + 1):
            cid, offset = struct.unpack(">4sQ", self.data[8 + 12 * i: 20 + 12 * i])
            table[cid] = offset
        self.count = struct.unpack(">I", self.data[table[b"OIDF"] + 255 * 4: table[b"OIDF"] + 256 * 4])[0]
        self.oids = [self.data[table[b"OIDL"] + 20 * i: table[b"OIDL"] + 20 * (i + 1)].hex() for i in range(self.count)]
        self.cdat = table[b"CDAT"]
        assert b"GDA2" not in table and b"GDAT" not in table

    def _entry(self, sha: str) -> int:
        return self.cdat + 36 * self.oids.index(sha)

    def set_tree(self, sha: str, tree: str) -> None:
        at = self._entry(sha)
        self.data[at:at + 20] = bytes.fromhex(tree)

    def set_parent(self, sha: str, parent: str) -> None:
        at = self._entry(sha) + 20
        self.data[at:at + 4] = struct.pack(">I", self.oids.index(parent))

    def generation(self, sha: str) -> int:
        at = self._entry(sha) + 28
        return struct.unpack(">I", self.data[at:at + 4])[0] >> 2

    def set_generation(self, sha: str, generation: int) -> None:
        at = self._entry(sha) + 28
        low = struct.unpack(">I", self.data[at:at + 4])[0] & 0x3
        self.data[at:at + 4] = struct.pack(">I", (generation << 2) | low)

    def save(self) -> None:
        self.path.chmod(0o644)
        self.path.write_bytes(bytes(self.data))


def test_forged_commit_graph_cannot_hide_a_commits_tree(repo):
    api_tip, main_before = rev(repo, "refs/heads/wta/api"), rev(repo, "refs/heads/main")
    evil = commit_tree(repo, tree_with(repo, api_tip, {"README.md": "EVIL\n"}), [api_tip], b"[api] tidy\n")
    undo = commit_tree(repo, tree_of(repo, api_tip), [evil], b"[api] tidy more\n")
    git(repo, "update-ref", "refs/heads/wta/api", undo, api_tip)
    git(wt(repo, "api"), "reset", "-q", "--hard", undo)
    graph = CommitGraph(write_commit_graph(repo))
    graph.set_tree(evil, tree_of(repo, api_tip))  # git that trusts the graph sees no change in `evil`
    graph.save()
    assert "README.md" not in git(repo, "log", "--raw", "-1", evil).stdout  # the forgery works on plain git

    out, api = merge_refused(repo, "--no-test")

    assert api["result"] == "verification-failed", out
    assert any("README.md" in p for p in api["problems"])
    assert evil not in real_log(repo)
    assert_nothing_landed(repo, main_before, undo)


def test_forged_commit_graph_cannot_make_a_root_commit_a_fast_forward(repo):
    """A root commit given the base as its parent by the commit-graph: a "fast-forward" to a commit on
    top of it replaced the checked-out base's history. (git reads the commits it is named from their
    objects, and those it walks to from the graph: the forged commit is the tip's parent.)"""
    main_before = rev(repo, "refs/heads/main")
    now = int(time.time())
    root = commit_tree(repo, tree_with(repo, main_before, {"src/lib/cache.ts": "export const cache = 3\n"}), [],
                       b"[api] a cache\n", when=now + 100)
    tip = commit_tree(repo, tree_with(repo, main_before, {"src/lib/cache.ts": "export const cache = 4\n"}), [root],
                      b"[api] a bigger cache\n", when=now + 200)
    api_before = rev(repo, "refs/heads/wta/api")
    git(repo, "update-ref", "refs/heads/wta/api", tip, api_before)
    git(wt(repo, "api"), "reset", "-q", "--hard", tip)
    graph = CommitGraph(write_commit_graph(repo))
    graph.set_parent(root, main_before)
    graph.set_generation(root, graph.generation(main_before) + 1)
    graph.set_generation(tip, graph.generation(main_before) + 2)
    graph.save()
    assert git(repo, "merge-base", "--is-ancestor", main_before, tip, check=False).returncode == 0  # forged

    out, api = merge_refused(repo, "--no-test")

    assert api["result"] != "merged", out
    assert rev(repo, "refs/heads/main") == main_before
    assert main_before in real_log(repo) and root not in real_log(repo)
    assert git(repo, "status", "--porcelain").stdout == ""


def test_base_moved_during_the_test_is_not_overwritten(repo):
    """The base moves only from the tip the merge verified against (compare-and-swap)."""
    main_before = rev(repo, "refs/heads/main")
    home = Path(os.environ["HOME"])
    (home / "moved").unlink(missing_ok=True)
    (home / "move.sh").write_text('git -C "$MAIN" update-ref refs/heads/main '
                                  '"$(git -C "$MAIN" commit-tree -p refs/heads/main -m moved refs/heads/main^{tree})"\n')
    # The test command stands in for a person moving the base meanwhile: outside any sandbox.
    zones = ZONES.replace("test: 'true'", """test: 'sh "$HOME/move.sh"'\nsandbox: off""")
    (repo / "zones.yaml").write_text(zones)
    commit_all(repo, "test: move the base")
    main_moved = rev(repo, "refs/heads/main")
    git(repo, "checkout", "-q", "--detach")  # moved with update-ref, where a compare-and-swap decides
    api_tip = rev(repo, "refs/heads/wta/api")

    proc = wta(repo, "merge", "--json", env={**os.environ, "MAIN": str(repo)})

    doc = json.loads(proc.stdout)
    api = next(s for s in doc["streams"] if s["stream"] == "api")
    now = rev(repo, "refs/heads/main")
    assert api["result"] == "refused", proc.stdout
    assert now != main_before and now != main_moved  # the commit made during the test
    assert git(repo, "log", "-1", "--format=%s", now).stdout.strip() == "moved"
    assert rev(repo, "refs/heads/wta/api") == api_tip
    assert "main" in api["detail"]


# -- class 3: short ref names -------------------------------------------------------------

def test_tag_named_like_a_branch_does_not_make_down_delete_it(repo):
    """A tag `wta/ui` at the base made `wta down --delete-branches` believe ui was merged."""
    write_files(wt(repo, "ui"), {"src/components/Nav.tsx": "export const Nav = () => null\n"})
    ui_tip = commit_all(wt(repo, "ui"), "nav")
    git(repo, "tag", "wta/ui", "main")

    proc = wta(repo, "down", "--delete-branches", "ui")

    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "1 commit(s) not in main" in proc.stdout
    assert git(repo, "rev-parse", "refs/heads/wta/ui").stdout.strip() == ui_tip
    assert wt(repo, "ui").is_dir()


def test_tags_named_like_branches_do_not_change_status(repo):
    main_first = rev(repo, "refs/heads/main")
    write_files(repo, {"README.md": "# webapp\n\nmore\n"})
    commit_all(repo, "readme")
    git(wt(repo, "ui"), "reset", "-q", "--hard", "main")
    git(repo, "tag", "wta/ui", main_first)       # behind 1 if the tag were read
    git(repo, "tag", "main", main_first)         # and the base too

    doc = json.loads(wta(repo, "status", "--json", check=0).stdout)

    ui = next(s for s in doc["streams"] if s["stream"] == "ui")
    assert ui["behind"] == 0 and ui["ahead"] == 0, ui
    api = next(s for s in doc["streams"] if s["stream"] == "api")
    assert api["behind"] == 1 and api["ahead"] == 1, api


# -- class 4: trees git fsck rejects ----------------------------------------------------------

def subtree(repo: Path, entries: list[tuple[str, str, str]]) -> str:
    """A tree object with exactly these (mode, sha, name) entries, in this order (`git mktree --missing`)."""
    text = "".join(f"{mode} {'tree' if mode == '040000' else 'blob'} {sha}\t{name}\n" for mode, sha, name in entries)
    return git(repo, "mktree", "--missing", input=text).stdout.strip()


def with_subtree(repo: Path, commit: str, directory: str, tree: str) -> str:
    """The tree of `commit` with `directory` replaced by `tree`."""
    index = repo / ".git" / "attack-index"
    env = {**os.environ, "GIT_INDEX_FILE": str(index)}
    git(repo, "read-tree", commit, env=env)
    git(repo, "rm", "-q", "-r", "--cached", "--ignore-unmatch", directory, env=env)
    git(repo, "read-tree", f"--prefix={directory}/", tree, env=env)
    result = git(repo, "write-tree", "--missing-ok", env=env).stdout.strip()
    index.unlink()
    return result


def land_crafted_tree(repo: Path, lib: str) -> tuple[str, str]:
    """A commit whose src/lib/ is the tree `lib`, then one that puts a sound tree back (so the worktree
    checks out cleanly and the net change is in the zone); (base before, api tip)."""
    api_tip, main_before = rev(repo, "refs/heads/wta/api"), rev(repo, "refs/heads/main")

    def replaced(tree: str, name: str, sha: str) -> str:
        entries = [line.split("\t")[0].split(" ") + [line.split("\t")[1]]
                   for line in git(repo, "ls-tree", tree).stdout.splitlines()]
        return subtree(repo, [(m, sha if n == name else s, n) for m, _, s, n in entries])

    new_src = replaced(rev(repo, f"{api_tip}:src"), "lib", lib)
    evil = commit_tree(repo, replaced(tree_of(repo, api_tip), "src", new_src), [api_tip], b"[api] odd tree\n")
    sound = tree_with(repo, api_tip, {"src/lib/cache.ts": "export const cache = 2\n"})
    tip = commit_tree(repo, sound, [evil], b"[api] a sound tree again\n")
    git(repo, "update-ref", "refs/heads/wta/api", tip, api_tip)
    git(wt(repo, "api"), "reset", "-q", "--hard", tip)
    return main_before, tip


def lib_entries(repo: Path) -> list[tuple[str, str, str]]:
    lib = rev(repo, "refs/heads/wta/api:src/lib")
    return [(line.split(" ")[0], line.split("\t")[0].split(" ")[2], line.split("\t")[1])
            for line in git(repo, "ls-tree", lib).stdout.splitlines()]


def test_tree_entry_named_dot_dot_is_refused(repo):
    """`src/lib/../components/Button.tsx` is in the zone as a string, and a tree git fsck rejects."""
    blob = git(repo, "hash-object", "-w", "--stdin", input="EVIL\n").stdout.strip()
    components = subtree(repo, [("100644", blob, "Button.tsx")])
    dotdot = subtree(repo, [("040000", components, "components")])
    main_before, tip = land_crafted_tree(repo, subtree(repo, [("040000", dotdot, ".."), *lib_entries(repo)]))

    out, api = merge_refused(repo, "--no-test")

    assert api["result"] == "verification-failed", out
    assert any("hasDotdot" in p for p in api["problems"]), out
    assert_nothing_landed(repo, main_before, tip)


def test_tree_with_duplicate_entries_is_refused(repo):
    """A symlink and a directory of the same name (git fsck: duplicateEntries)."""
    link = git(repo, "hash-object", "-w", "--stdin", input="../components").stdout.strip()
    inner = subtree(repo, [("100644", link, "x.ts")])
    lib = subtree(repo, [*lib_entries(repo), ("120000", link, "ui"), ("040000", inner, "ui")])
    main_before, tip = land_crafted_tree(repo, lib)

    out, api = merge_refused(repo, "--no-test")

    assert api["result"] == "verification-failed", out
    assert any("duplicateEntries" in p for p in api["problems"]), out
    assert_nothing_landed(repo, main_before, tip)

    predicted = json.loads(wta(repo, "merge", "--dry-run", "--json").stdout)
    assert next(s for s in predicted["streams"] if s["stream"] == "api")["result"] == "verification-failed"


# -- class 6: code from a stream's worktree inside wta's git calls ------------------------------

def marker_script(repo: Path, name: str, body: str = "") -> tuple[Path, Path]:
    """An executable that leaves a marker file when it runs; (script, marker)."""
    marker = repo.parent / f"{name}.ran"
    script = repo.parent / f"{name}.sh"
    script.write_text(f"#!/bin/sh\ntouch '{marker}'\n{body}")
    script.chmod(0o755)
    return script, marker


def forge_git_dir(repo: Path, stream: str, config: str) -> Path:
    """Point the stream worktree's `.git` file at a git dir the stream built (its own config)."""
    real = repo / ".git" / "worktrees" / f"webapp-{stream}"
    fake = repo.parent / f"fake-gitdir-{stream}"
    import shutil
    shutil.copytree(real, fake)
    (fake / "commondir").write_text(f"{repo / '.git'}\n")
    (fake / "config.worktree").write_text(config)
    git(repo, "config", "extensions.worktreeConfig", "true")
    (wt(repo, stream) / ".git").write_text(f"gitdir: {fake}\n")
    return fake


def test_forged_dot_git_file_runs_no_fsmonitor_in_status(repo):
    script, marker = marker_script(repo, "fsmonitor")
    forge_git_dir(repo, "api", f"[core]\n\tfsmonitor = {script}\n")
    assert git(wt(repo, "api"), "status", check=False) and marker.exists()  # plain git runs it
    marker.unlink()

    proc = wta(repo, "status")

    assert not marker.exists(), "the stream's fsmonitor ran inside wta status"
    assert "webapp-api" in proc.stdout + proc.stderr
    assert "worktree repair" in proc.stdout + proc.stderr


def test_forged_dot_git_file_is_refused_by_merge(repo):
    main_before = rev(repo, "refs/heads/main")
    write_files(repo, {"README.md": "# webapp\n\nmoved on\n"})  # so that api needs a rebase
    main_before = commit_all(repo, "readme")
    evil = commit_tree(repo, tree_with(repo, main_before, {"README.md": "EVIL\n"}), [main_before], b"evil\n")
    script, marker = marker_script(repo, "post-rewrite", f"git -C '{repo}' update-ref refs/heads/main {evil}\n")
    hooks = repo.parent / "fake-hooks"
    hooks.mkdir()
    (hooks / "post-rewrite").symlink_to(script)
    forge_git_dir(repo, "api", f"[core]\n\thooksPath = {hooks}\n")
    api_tip = rev(repo, "refs/heads/wta/api")

    proc = wta(repo, "merge", "--no-test")

    assert not marker.exists(), "the stream's hook ran inside wta merge"
    assert proc.returncode != 0
    assert "webapp-api" in proc.stdout + proc.stderr
    assert rev(repo, "refs/heads/main") == main_before
    assert rev(repo, "refs/heads/wta/api") == api_tip


def test_untracked_hook_under_relative_hooks_path_does_not_run_in_merge(repo):
    write_files(repo, {"README.md": "# webapp\n\nmoved on\n"})
    main_before = commit_all(repo, "readme")
    evil = commit_tree(repo, tree_with(repo, main_before, {"README.md": "EVIL\n"}), [main_before], b"evil\n")
    git(repo, "config", "core.hooksPath", ".githooks")
    script, marker = marker_script(repo, "post-rewrite", f"git -C '{repo}' update-ref refs/heads/main {evil}\n")
    (wt(repo, "api") / ".githooks").mkdir()
    (wt(repo, "api") / ".githooks" / "post-rewrite").symlink_to(script)
    (wt(repo, "api") / ".githooks" / "post-checkout").symlink_to(script)

    proc = wta(repo, "merge", "--no-test", "api")

    assert not marker.exists(), "a hook from the stream's worktree ran inside wta merge"
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert rev(repo, "refs/heads/main") != evil
    assert git(repo, "merge-base", "--is-ancestor", main_before, "refs/heads/main", check=False).returncode == 0


def test_committed_post_merge_hook_does_not_run_at_the_fast_forward(repo):
    git(repo, "config", "core.hooksPath", "src/lib/hooks")
    script, marker = marker_script(repo, "post-merge")
    write_files(wt(repo, "api"), {"src/lib/hooks/post-merge": f"#!/bin/sh\ntouch '{marker}'\n"})
    (wt(repo, "api") / "src/lib/hooks/post-merge").chmod(0o755)
    commit_all(wt(repo, "api"), "[api] hooks", "--no-verify")

    proc = wta(repo, "merge", "--no-test", "api")

    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (repo / "src/lib/hooks/post-merge").exists()  # landed: the fast-forward happened
    assert not marker.exists(), "a committed hook ran inside wta merge"


def test_per_worktree_fsmonitor_does_not_run_in_status_or_merge(repo):
    script, marker = marker_script(repo, "worktree-fsmonitor")
    git(repo, "config", "extensions.worktreeConfig", "true")
    git(wt(repo, "api"), "config", "--worktree", "core.fsmonitor", str(script))
    git(wt(repo, "api"), "status", check=False)
    assert marker.exists()  # plain git runs it
    marker.unlink()

    status = wta(repo, "status")
    merged = wta(repo, "merge", "--no-test", "api")

    assert not marker.exists(), "the worktree's fsmonitor ran inside wta"
    out = status.stdout + status.stderr + merged.stdout + merged.stderr
    assert merged.returncode == 0 or "config.worktree" in out, out


def test_per_worktree_filter_driver_is_refused(repo):
    """A clean filter defined in the worktree's own config, for files the stream's zone holds."""
    script, marker = marker_script(repo, "clean-filter", "cat\n")
    git(repo, "config", "extensions.worktreeConfig", "true")
    git(wt(repo, "api"), "config", "--worktree", "filter.evil.clean", str(script))
    write_files(wt(repo, "api"), {"src/lib/.gitattributes": "* filter=evil\n"})
    commit_all(wt(repo, "api"), "attributes")
    marker.unlink(missing_ok=True)
    os.utime(wt(repo, "api") / "src/lib/cache.ts", (1, 1))  # a changed stat: git status re-reads it
    main_before = rev(repo, "refs/heads/main")

    status = wta(repo, "status")
    merged = wta(repo, "merge", "--no-test", "api")

    assert not marker.exists(), "the worktree's filter ran inside wta"
    assert "config.worktree" in status.stdout + status.stderr
    assert merged.returncode != 0 and "config.worktree" in merged.stdout + merged.stderr
    assert rev(repo, "refs/heads/main") == main_before


def test_forged_dot_git_file_is_refused_by_down(repo):
    """`wta down` looks at the worktree's files with git before removing it: not through a git dir the
    stream built."""
    script, marker = marker_script(repo, "down-fsmonitor")
    forge_git_dir(repo, "api", f"[core]\n\tfsmonitor = {script}\n")

    proc = wta(repo, "down", "api")

    assert not marker.exists(), "the stream's fsmonitor ran inside wta down"
    assert proc.returncode != 0 and "worktree repair" in proc.stdout + proc.stderr
    assert len((proc.stdout + proc.stderr).strip().splitlines()) == 1, proc.stdout + proc.stderr
    assert wt(repo, "api").is_dir()
    assert git(repo, "rev-parse", "refs/heads/wta/api").returncode == 0
