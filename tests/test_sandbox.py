"""The sandbox's policy (worktree_agents/sandbox.py) with real bubblewrap, real git and real scripts.

The escape corpus from inside real sessions is in flows/test_sandboxed_streams.py; these
cases drive `Sandbox.wrap` directly for what git's ref storage needs (packed refs,
refs without a reflog, packs), the allow-lists and zones.yaml's keys.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import zlib
from contextlib import contextmanager
from pathlib import Path

import pytest

from support import commit_all, git, make_repo, write_files, wta
from worktree_agents import sandbox

pytestmark = pytest.mark.skipif(shutil.which("bwrap") is None,
                                reason="needs bubblewrap: .ci/run installs it (apt-get install bubblewrap)")

ZONES = "version: 1\nstreams:\n  api:\n    paths: [src/api/**]\n  ui:\n    paths: [src/ui/**]\n"
FILES = {"src/api/a.py": "a = 1\n", "src/ui/page.html": "<p>hi</p>\n", "README.md": "# r\n"}


def sandboxed_agents(tmp_path: Path, script: str, extra: str = "") -> str:
    """ZONES with every stream's session sandboxed (`sandbox: required`) and run by `script`, a shell script
    written to tmp_path/agent.sh (`runner: command`); `extra`: more top-level keys."""
    agent = tmp_path / "agent.sh"
    agent.write_text(script)
    return ZONES.replace("version: 1\n", f"version: 1\nsandbox: required\n{extra}agent:\n  runner: command\n"
                                          f"  command: sh {agent}\n")


def ui_commits_its_own(repo: Path) -> tuple[Path, str]:
    """A commit of ui's own in its worktree; that worktree and ui's tip."""
    ui = repo.parent / "repo-worktrees" / "ui"
    (ui / "src" / "ui" / "page.html").write_text("<p>mine</p>\n")
    git(ui, "commit", "-qam", "[ui] mine")
    return ui, tip(repo, "wta/ui")


def layout(tmp_path: Path, zones: str = ZONES, files: dict[str, str] = FILES) -> Path:
    repo = make_repo(tmp_path / "repo", zones, files)
    wta(repo, "up", "--no-launch", check=0)
    return repo


def api_sandbox(repo: Path, extra: list[str] = ()) -> sandbox.Sandbox:
    return sandbox.for_stream(sandbox.bwrap(), str(repo / ".git"), "api",
                              str(repo.parent / "repo-worktrees" / "api"), "wta/api", extra)


def inside(box: sandbox.Sandbox, command: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(box.wrap(["/bin/sh", "-c", command]), cwd=cwd, env=box.env(dict(os.environ)),
                          capture_output=True, text=True, timeout=60)


def tip(repo: Path, ref: str) -> str:
    return git(repo, "rev-parse", ref).stdout.strip()


def test_a_packed_ref_of_another_stream_cannot_be_shadowed_by_a_loose_one(tmp_path):
    repo = layout(tmp_path)
    git(repo, "branch", "wta/old", "main")
    git(repo, "pack-refs", "--all")
    assert not (repo / ".git" / "refs" / "heads" / "wta" / "old").exists()
    box = api_sandbox(repo)  # writes the packed refs under refs/heads/wta/ as loose files first
    assert (repo / ".git" / "refs" / "heads" / "wta" / "old").read_text() == tip(repo, "main") + "\n"
    api = repo.parent / "repo-worktrees" / "api"
    inside(box, "echo b >> src/api/a.py && git commit -qam work", api)
    new = tip(repo, "wta/api")
    for attempt in (f"echo {new} > {repo}/.git/refs/heads/wta/old",
                    "git update-ref refs/heads/wta/old HEAD",
                    "git -c core.logAllRefUpdates=false update-ref refs/heads/wta/old HEAD",
                    "git update-ref -d refs/heads/wta/old"):
        assert inside(box, attempt, api).returncode != 0, attempt
    assert tip(repo, "wta/old") == tip(repo, "main") != new


def test_a_ref_without_a_reflog_cannot_be_moved_by_renaming_onto_it(tmp_path):
    """git renames `<ref>.lock` over the ref: onto a read-only mount point that fails."""
    repo = layout(tmp_path)
    git(repo, "-c", "core.logAllRefUpdates=false", "branch", "wta/quiet", "main")
    assert not (repo / ".git" / "logs" / "refs" / "heads" / "wta" / "quiet").exists()
    api = repo.parent / "repo-worktrees" / "api"
    box = api_sandbox(repo)
    inside(box, "git commit -q --allow-empty -m work", api)
    moved = inside(box, "git -c core.logAllRefUpdates=false update-ref refs/heads/wta/quiet HEAD", api)
    assert moved.returncode != 0 and "refs/heads/wta/quiet" in moved.stderr
    assert tip(repo, "wta/quiet") == tip(repo, "main")
    assert not list((repo / ".git" / "refs" / "heads" / "wta").glob("*.lock"))
    assert tip(repo, "wta/api") != tip(repo, "main")  # while its own branch moved


def test_packs_cannot_be_deleted_and_git_runs_no_automatic_gc(tmp_path):
    repo = layout(tmp_path)
    git(repo, "repack", "-qad")
    packs = sorted(p.name for p in (repo / ".git" / "objects" / "pack").iterdir())
    assert any(p.endswith(".pack") for p in packs)
    api = repo.parent / "repo-worktrees" / "api"
    box = api_sandbox(repo)
    assert inside(box, f"rm -f {repo}/.git/objects/pack/*", api).returncode != 0
    assert sorted(p.name for p in (repo / ".git" / "objects" / "pack").iterdir()) == packs
    assert inside(box, f"echo /tmp/elsewhere > {repo}/.git/objects/info/alternates", api).returncode != 0
    assert not (repo / ".git" / "objects" / "info" / "alternates").exists()
    settings = inside(box, "git config gc.auto; git config maintenance.auto", api)
    assert settings.stdout.split() == ["0", "false"]


def forged(kind: str, content: bytes) -> bytes:
    """A loose object file holding `content` (to be put under another object's name)."""
    return zlib.compress(b"%s %d\0%s" % (kind.encode(), len(content), content))


def loose_path(repo: Path, oid: str) -> Path:
    return repo / ".git" / "objects" / oid[:2] / oid[2:]


def write_over(oid: str, forged_file: Path, repo: Path) -> str:
    """The agent's command that puts `forged_file` in place of the loose object `oid` (its directory is writable)."""
    target = loose_path(repo, oid)
    return f"rm -f {target} && cp {forged_file} {target} && echo done"



def parent_forged(box, repo: Path, commit: str, was: str, now: str, fake: Path) -> tuple[bytes, Path]:
    """api's sandbox writes `commit`'s loose object over with a copy whose parent `was` reads `now` (made at
    `fake`); the object's real bytes, and `fake`."""
    real = loose_path(repo, commit).read_bytes()
    header = git(repo, "cat-file", "commit", commit).stdout.replace(f"parent {was}", f"parent {now}")
    fake.write_bytes(forged("commit", header.encode()))
    assert inside(box, write_over(commit, fake, repo), repo.parent / "repo-worktrees" / "api").stdout == "done\n"
    return real, fake


@contextmanager
def real_one_back_for_the_read(monkeypatch, repo: Path, oid: str, real: bytes):
    """While the block runs, wta's `rev-list --objects` reads the forged loose file of `oid` that is there, and
    the `real` one is put back right after it, for `cat-file`'s read: an agent racing the landing's walk."""
    from worktree_agents import git as wta_git

    run = wta_git.run

    def racing(*args, **kwargs):
        done = run(*args, **kwargs)
        if args[0] == "rev-list" and "--objects" in args and loose_path(repo, oid).read_bytes() != real:
            loose_path(repo, oid).write_bytes(real)   # back, for cat-file's read
        return done

    monkeypatch.setattr(wta_git, "run", racing)
    try:
        yield
    finally:
        monkeypatch.setattr(wta_git, "run", run)

def test_git_in_the_sandbox_writes_loose_objects_where_it_would_write_a_pack(tmp_path):
    """objects/pack/ is read-only in the sandbox: a fetch of more than 100 objects and `git add` of a file
    above core.bigFileThreshold (lowered here by the caller) go loose, and no pack, keep file or
    multi-pack-index of the agent's making appears there."""
    repo = layout(tmp_path)
    other = make_repo(tmp_path / "other", ZONES, {f"f{i}": f"{i}\n" for i in range(150)})
    api = repo.parent / "repo-worktrees" / "api"
    pack_dir = repo / ".git" / "objects" / "pack"
    before = sorted(os.listdir(pack_dir)) if pack_dir.exists() else []
    box = api_sandbox(repo)
    env = box.env({**os.environ, "GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "core.bigFileThreshold",
                   "GIT_CONFIG_VALUE_0": "1k"})

    def run(command: str) -> subprocess.CompletedProcess:
        return subprocess.run(box.wrap(["/bin/sh", "-c", command]), cwd=api, env=env, capture_output=True,
                              text=True, timeout=60)

    fetched = run(f"git fetch -q {other} main:refs/heads/wta/fetched && git cat-file -p wta/fetched:f149")
    assert (fetched.returncode, fetched.stdout) == (0, "149\n"), fetched.stderr
    big = run("head -c 5000 /dev/urandom > src/api/big && git add src/api/big && git commit -qm '[api] big' "
              "&& git cat-file -s HEAD:src/api/big")
    assert (big.returncode, big.stdout) == (0, "5000\n"), big.stderr
    assert sorted(os.listdir(pack_dir)) == before
    assert run(f"touch {pack_dir}/pack-0123.keep").returncode != 0
    assert run("git multi-pack-index write").returncode != 0
    assert sorted(os.listdir(pack_dir)) == before


def test_a_pack_of_the_agents_making_cannot_shadow_an_object_of_the_base(tmp_path):
    """git looks an object up in the packs first, newest first, and does not hash what it reads: a pack
    holding README.md's blob of main with other content, copied into objects/pack/, had made every
    checkout of main read the agent's content."""
    repo = layout(tmp_path)
    blob = tip(repo, "main:README.md")
    store = tmp_path / "forgery.git"
    git(tmp_path, "init", "-q", "--bare", str(store))
    (store / "objects" / blob[:2]).mkdir()
    (store / "objects" / blob[:2] / blob[2:]).write_bytes(forged("blob", b"# the agent's\n"))
    git(store, "pack-objects", "-q", str(tmp_path / "forgery"), input=blob + "\n")
    api = repo.parent / "repo-worktrees" / "api"
    box = api_sandbox(repo)

    copied = inside(box, f"cp {tmp_path}/forgery-*.pack {tmp_path}/forgery-*.idx {repo}/.git/objects/pack/", api)

    assert copied.returncode != 0
    assert git(repo, "show", "main:README.md").stdout == "# r\n"
    git(repo, "checkout", "-q", "--", "README.md")
    assert (repo / "README.md").read_text() == "# r\n"


def test_a_landed_object_written_over_in_the_sandbox_still_reads_back_as_it_was(tmp_path):
    """A landing packs what it brings (the stream's objects, its rebased commits) as it checked them: the
    loose files a sandbox can write over are shadowed by that pack from before the base moves."""
    repo = layout(tmp_path)
    api = repo.parent / "repo-worktrees" / "api"
    box = api_sandbox(repo)
    assert inside(box, "echo 'a = 2' > src/api/a.py && git commit -qam '[api] two'", api).returncode == 0
    (repo / "README.md").write_text("# r, by a person\n")
    git(repo, "commit", "-qam", "readme")     # so that the landing rebases: its new commits are written loose
    wta(repo, "merge", "api", check=0)
    landed = {tip(repo, "main:src/api/a.py"): ("blob", "a = 2\n"), tip(repo, "main"): None}
    assert git(repo, "log", "-1", "--format=%s", "main").stdout.strip() == "[api] two"
    fake = tmp_path / "fake"
    for oid, kind in ((oid, git(repo, "cat-file", "-t", oid).stdout.strip()) for oid in landed):
        assert loose_path(repo, oid).exists(), oid     # loose (as git wrote it) as well as packed
        fake.write_bytes(forged(kind, b"tree 0000000000000000000000000000000000000000\n\nforged\n"
                                if kind == "commit" else b"a = 'forged'\n"))
        done = inside(box, write_over(oid, fake, repo), api)
        assert done.stdout == "done\n", done.stderr   # the loose file is the agent's now
    assert git(repo, "cat-file", "-p", "main:src/api/a.py").stdout == "a = 2\n"
    assert git(repo, "log", "-1", "--format=%s", "main").stdout.strip() == "[api] two"
    assert "hash-path mismatch" in git(repo, "fsck", check=False).stderr   # the loose files are still the agent's


@pytest.mark.parametrize("checked_before", ["never", "by a landing", "at a commit git no longer has"])
def test_a_persons_commit_written_over_in_the_sandbox_stops_the_next_landing(tmp_path, checked_before):
    """A commit a person made on main is loose until a landing packs it: a session can write over its
    blob meanwhile, and the next landing refuses, naming the object, rather than rebase onto it. The
    check walks the base's history from where the last one ended (the base it packed, in `packed-base`),
    or all of it when git no longer has that commit."""
    repo = layout(tmp_path)
    api = repo.parent / "repo-worktrees" / "api"
    ui = repo.parent / "repo-worktrees" / "ui"
    marker = repo / ".git" / "wta" / "packed-base"
    if checked_before == "by a landing":
        (ui / "src" / "ui" / "v.py").write_text("v = 1\n")
        git(ui, "add", "-A")
        git(ui, "commit", "-qm", "[ui] v")
        wta(repo, "merge", "ui", check=0)
        assert marker.read_text() == tip(repo, "main^") + "\n"   # the base that run started from
    elif checked_before == "at a commit git no longer has":
        marker.write_text("0123456789abcdef0123456789abcdef01234567\n")
    box = api_sandbox(repo)
    assert inside(box, "echo 'a = 2' > src/api/a.py && git commit -qam '[api] two'", api).returncode == 0
    (repo / "README.md").write_text("# r, by a person\n")
    git(repo, "commit", "-qam", "readme")
    blob, base = tip(repo, "main:README.md"), tip(repo, "main")
    fake = tmp_path / "fake"
    fake.write_bytes(forged("blob", b"# the agent's\n"))
    assert inside(box, write_over(blob, fake, repo), api).stdout == "done\n"

    proc = wta(repo, "merge", "api", check=None)

    assert proc.returncode != 0
    assert f"object {blob} of main's history no longer holds what its name says" in proc.stdout + proc.stderr
    assert tip(repo, "main") == base and tip(repo, "wta/api") != base


def test_a_pack_file_deleted_before_the_sandbox_starts_does_not_stop_it(tmp_path):
    # A landing's `git fast-import` writes a temporary pack and deletes it moments later; a gc deletes
    # old packs and keep files. A session starting at that moment listed them.
    repo = layout(tmp_path)
    git(repo, "repack", "-qad")
    pack_dir = repo / ".git" / "objects" / "pack"
    for name in ("tmp_pack_AbC123", "pack-0123.keep"):
        (pack_dir / name).write_text("")
    api = repo.parent / "repo-worktrees" / "api"
    box = api_sandbox(repo)
    assert str(pack_dir) in box.read_only and not [p for p in box.read_only if p.startswith(f"{pack_dir}/")]
    for name in ("tmp_pack_AbC123", "pack-0123.keep"):
        (pack_dir / name).unlink()

    started = inside(box, f"rm -f {pack_dir}/*.pack; echo inside", api)

    assert started.stdout == "inside\n", started.stderr          # it started, once
    assert any(p.suffix == ".pack" for p in pack_dir.iterdir())    # and the packs still there stay as they are


def test_git_settings_of_the_caller_are_kept(tmp_path):
    box = sandbox.Sandbox("bwrap", "api", (), ())
    env = box.env({"GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "user.name", "GIT_CONFIG_VALUE_0": "Someone"})
    assert env["GIT_CONFIG_COUNT"] == str(1 + len(sandbox.GIT_CONFIG)) and env["GIT_CONFIG_KEY_0"] == "user.name"
    assert (env["GIT_CONFIG_KEY_1"], env["GIT_CONFIG_VALUE_1"]) == ("gc.auto", "0")
    assert env[sandbox.MARKER_ENV] == "bwrap"


def test_a_commit_in_the_sandbox_works_with_rerere_turned_on(tmp_path):
    """rerere keeps its cache in the shared git dir, read-only in the sandbox: with a user's
    `rerere.enabled`, every commit there failed (exit 128) after it had been made."""
    repo = layout(tmp_path)
    git(repo, "config", "rerere.enabled", "true")
    api = repo.parent / "repo-worktrees" / "api"
    done = inside(api_sandbox(repo), "echo x > src/api/r.py && git add src/api/r.py && git commit -qm rerere", api)
    assert done.returncode == 0, done.stderr
    assert git(api, "log", "-1", "--format=%s").stdout.strip() == "[api] rerere"


def test_sandbox_write_paths_the_temp_dir_and_home_caches_are_writable(tmp_path):
    repo = layout(tmp_path)
    home = Path(os.environ["HOME"])
    store = home / "pnpm-store"
    store.mkdir()
    api = repo.parent / "repo-worktrees" / "api"
    box = api_sandbox(repo, ["~/pnpm-store"])
    done = inside(box, f"echo s > {store}/x && echo c > {home}/.cache/x && echo t > {tmp_path}/t "
                       f"&& mkdir -p {home}/.claude/projects && echo p > {home}/.claude/projects/x", api)
    assert done.returncode == 0, done.stderr
    assert (store / "x").read_text() == "s\n" and (home / ".cache" / "x").read_text() == "c\n"
    # The rest of $HOME is mounted read-only (here it sits in the temp dir, so only the list can show it).
    in_home = {p for p in box.writable if p.startswith(str(home))}
    assert in_home == {str(home / ".cache"), str(home / ".claude"), str(store)} | (
        {str(home / ".claude.json")} if (home / ".claude.json").exists() else set())


def test_a_worktree_inside_the_main_worktree_is_writable_and_the_main_worktree_is_not(tmp_path):
    repo = layout(tmp_path, ZONES.replace("version: 1\n", "version: 1\nworktrees: .worktrees/{stream}\n"))
    api = repo / ".worktrees" / "api"
    box = sandbox.for_stream(sandbox.bwrap(), str(repo / ".git"), "api", str(api), "wta/api")
    assert inside(box, "echo b >> src/api/a.py && git commit -qam inside", api).returncode == 0
    assert git(repo, "log", "-1", "--format=%s", "wta/api").stdout.strip() == "[api] inside"
    assert inside(box, f"echo x >> {repo}/README.md", api).returncode != 0
    assert inside(box, f"echo x >> {repo}/.worktrees/ui/README.md", api).returncode != 0
    assert (repo / "README.md").read_text() == "# r\n"


def test_sandbox_write_must_be_an_absolute_path(tmp_path):
    repo = make_repo(tmp_path / "repo", ZONES + "sandbox_write: [node_modules]\n", FILES)
    done = wta(repo, "up", "--no-launch", check=2)
    assert "sandbox_write" in done.stderr and "node_modules" in done.stderr and "absolute" in done.stderr
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr


def test_sandbox_off_in_yaml_is_the_word_off(tmp_path):
    repo = make_repo(tmp_path / "repo", ZONES + "sandbox: off\n", FILES)
    wta(repo, "up", "--no-launch", check=0)
    bad = make_repo(tmp_path / "bad", ZONES + "sandbox: sometimes\n", FILES)
    done = wta(bad, "up", "--no-launch", check=2)
    assert "sandbox" in done.stderr and "'auto', 'required' or 'off'" in done.stderr


def test_a_worktree_made_after_the_sandbox_started_is_read_only_too(tmp_path):
    """`wta up` makes worktrees while other streams' `setup:` runs: their directory is protected ahead."""
    from worktree_agents import config as config_mod

    repo = make_repo(tmp_path / "repo", ZONES + "  infra:\n    paths: [infra/**]\n", FILES)
    wta(repo, "up", "--no-launch", "api", check=0)
    config = config_mod.load(repo / "zones.yaml", repo)
    api = repo.parent / "repo-worktrees" / "api"
    box = sandbox.for_config(config, str(repo), str(repo / ".git"), "api", str(api))
    later = repo.parent / "repo-worktrees" / "ui"
    assert not later.exists()
    made = inside(box, f"mkdir -p {later}/src && echo planted > {later}/src/x", api)
    assert made.returncode != 0 and "Read-only file system" in made.stderr
    assert not later.exists()
    wta(repo, "up", "--no-launch", "ui", check=0)  # git makes it outside, as wta up does
    assert inside(box, f"echo escaped >> {later}/src/ui/page.html", api).returncode != 0
    assert (later / "src" / "ui" / "page.html").read_text() == "<p>hi</p>\n"
    assert inside(box, f"echo own >> {api}/src/api/a.py && echo ok > {tmp_path}/scratch", api).returncode == 0


def test_files_that_wta_reads_outside_the_sandbox_are_read_only_inside(tmp_path):
    """wta's own git in the worktree (the leftovers commit, the merge's rebase, status) runs outside the
    sandbox: the worktree's `.git` file, its per-worktree config and its own hooks directory are pinned."""
    repo = make_repo(tmp_path / "repo", ZONES, {**FILES, ".husky/_/.gitignore": "*\n"})
    git(repo, "config", "core.hooksPath", ".husky/_")
    wta(repo, "up", "--no-launch", check=0)
    api = repo.parent / "repo-worktrees" / "api"
    assert (repo / ".git" / "wta" / "hooks" / "pre-commit").is_file()  # wta's hook; .husky/_ holds the repository's
    (api / ".husky" / "_").mkdir(parents=True, exist_ok=True)  # as husky's prepare script makes it in each worktree
    (api / ".husky" / "_" / "pre-commit").write_text("#!/bin/sh\n")
    box = api_sandbox(repo)
    private = repo / ".git" / "worktrees" / "api"
    before = {p: p.read_bytes() for p in (api / ".git", api / ".husky" / "_" / "pre-commit", private / "config.worktree")}
    for attempt in ("echo 'gitdir: /tmp/elsewhere' > .git",
                    "echo 'touch /tmp/pwned' >> .husky/_/pre-commit",
                    "echo 'exit 0' > .husky/_/post-rewrite",
                    f"printf '[core]\\n\\tfsmonitor = true\\n' > {private}/config.worktree"):
        done = inside(box, attempt, api)
        assert done.returncode != 0 and "Read-only file system" in done.stderr, attempt
    assert {p: p.read_bytes() for p in before} == before
    assert not (api / ".husky" / "_" / "post-rewrite").exists()
    assert inside(box, "echo b >> src/api/a.py && git commit -qam 'with the hooks'", api).returncode == 0
    assert git(repo, "log", "-1", "--format=%s", "wta/api").stdout.strip() == "[api] with the hooks"


@pytest.mark.parametrize("hooks_path", [".", "./", ".."])
def test_a_hooks_path_that_is_not_below_the_worktree_pins_nothing_of_it(tmp_path, hooks_path):
    """Only a hooks directory below the worktree's top is pinned (the rule that decides which one wta
    copies into a stream worktree): `core.hooksPath=.` must not make the whole worktree read-only."""
    repo = make_repo(tmp_path / "repo", ZONES, FILES)
    git(repo, "config", "core.hooksPath", hooks_path)
    wta(repo, "up", "--no-launch", check=0)
    api = repo.parent / "repo-worktrees" / "api"
    box = api_sandbox(repo)
    assert str(api) not in box.read_only
    done = inside(box, "echo b >> src/api/a.py && git commit -qam 'in its zone'", api)
    assert done.returncode == 0, done.stderr
    assert git(repo, "log", "-1", "--format=%s", "wta/api").stdout.strip() == "[api] in its zone"


def test_a_sandbox_starts_while_another_streams_git_moves_its_branch(tmp_path):
    """ui's agent commits (git renames ui's ref over itself) while api's sandbox starts: bwrap's
    read-only bind of ui's ref can find the entry replaced (ENOENT); the start is retried, and every
    one of api's commands runs."""
    import threading

    repo = layout(tmp_path)
    ui = repo.parent / "repo-worktrees" / "ui"
    box = api_sandbox(repo)
    head = tip(repo, "refs/heads/wta/ui")
    ref = repo / ".git" / "refs" / "heads" / "wta" / "ui"
    stop = threading.Event()

    def commits_on_ui():  # what git does at each commit: write <ref>.lock, rename it over the ref
        while not stop.is_set():
            lock = ref.with_name("ui.lock")
            lock.write_text(head + "\n")
            os.rename(lock, ref)
            time.sleep(0.002)  # 500 commits a second: busier than any agent

    mover = threading.Thread(target=commits_on_ui)
    mover.start()
    try:
        runs = [inside(box, "echo ran", ui) for _ in range(60)]
    finally:
        stop.set()
        mover.join()
    failures = [r.stderr for r in runs if r.returncode != 0 or r.stdout != "ran\n"]
    assert failures == []
    assert tip(repo, "refs/heads/wta/ui") == head


def test_a_branch_written_without_git_from_another_sandbox_never_lands(tmp_path):
    """api's sandbox pins ui's ref read-only, but ui's own commit replaces that ref file (git renames
    `<ref>.lock` over it), and the pin goes with the old file: api's agent can then write ui's ref.
    It cannot write ui's reflog, so `wta merge ui` sees a ref git never moved and refuses it."""
    repo = layout(tmp_path)
    ui = repo.parent / "repo-worktrees" / "ui"
    box = api_sandbox(repo)
    ref = repo / ".git" / "refs" / "heads" / "wta" / "ui"
    # After ui's commit: a commit on top of it that git never made on ui's branch, written into ui's ref.
    # The agent says when its sandbox is up (`started`), then waits for ui's commit (`go`).
    started, go = tmp_path / "repo-worktrees" / "api" / "started", tmp_path / "go"
    forge = (f"touch {started}; while [ ! -e {go} ]; do sleep 0.05; done; tip=$(git rev-parse refs/heads/wta/ui) && "
             f"git commit-tree -p $tip -m '[ui] forged' $tip^{{tree}} > {ref}.new && mv {ref}.new {ref}")
    agent = subprocess.Popen(box.wrap(["/bin/sh", "-c", forge]),
                             cwd=repo.parent / "repo-worktrees" / "api", env=box.env(dict(os.environ)),
                             stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while not started.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert started.exists(), agent.stderr.read() if agent.poll() is not None else "the sandbox never started"
    (ui / "src" / "ui" / "page.html").write_text("<p>mine</p>\n")
    git(ui, "commit", "-qam", "[ui] mine")  # while api's sandbox runs, its mounts made before
    go.touch()
    assert agent.wait(timeout=60) == 0, agent.stderr.read()
    forged = tip(repo, "refs/heads/wta/ui")
    assert git(repo, "log", "-1", "--format=%s", forged).stdout.strip() == "[ui] forged"  # the pin did not hold
    base = tip(repo, "refs/heads/main")
    proc = wta(repo, "merge", "ui", check=None)
    assert proc.returncode != 0
    assert "refs/heads/wta/ui is at" in proc.stdout + proc.stderr and "reflog" in proc.stdout + proc.stderr
    assert tip(repo, "refs/heads/main") == base


@pytest.mark.parametrize("end", ["exit", "stopped"])
def test_a_sandboxed_command_leaves_no_file_in_the_temp_dir(tmp_path, end):
    """bwrap's exit report goes to a file whose name is gone once it is open: a command that ends,
    or one stopped with its whole process group (as `wta stop` and a timeout do), leaves nothing."""
    repo = layout(tmp_path)
    api = repo.parent / "repo-worktrees" / "api"
    temp = tmp_path / "temp"
    temp.mkdir()
    box = api_sandbox(repo)
    env = {**box.env(dict(os.environ)), "TMPDIR": str(temp)}
    if end == "exit":
        done = subprocess.run(box.wrap(["/bin/sh", "-c", "exit 3"]), cwd=api, env=env, timeout=60)
        assert done.returncode == 3
    else:
        started = api / "started"
        agent = subprocess.Popen(box.wrap(["/bin/sh", "-c", f"touch {started}; sleep 60"]), cwd=api, env=env,
                                 start_new_session=True)
        deadline = time.monotonic() + 30
        while not started.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert started.exists()
        os.killpg(agent.pid, signal.SIGKILL)
        assert agent.wait(timeout=30) == -signal.SIGKILL
    assert list(temp.iterdir()) == []
    assert list((repo / ".git" / "wta" / "sandbox").iterdir()) == []


def test_links_planted_in_the_temp_dir_get_no_sandbox_start_to_write_through_them(tmp_path):
    """bwrap's report went to ${TMPDIR:-/tmp}/wta-bwrap-<pid of the starting shell>, in a directory every
    sandbox writes: an agent planted a link at that name for every pid, and the next sandbox start (outside
    the sandbox: another session, a `setup:`, a landing's `test:`) emptied the link's target and wrote its
    report there (README.md; as well ~/.bashrc, or the base branch's ref file)."""
    repo = layout(tmp_path)
    api = repo.parent / "repo-worktrees" / "api"
    precious = tmp_path / "precious"
    precious.write_text("precious\n")
    temp = tmp_path / "temp"
    temp.mkdir()
    pid_max = int(Path("/proc/sys/kernel/pid_max").read_text())
    for pid in range(max(os.getpid() - 5000, 2), min(os.getpid() + 30000, pid_max + 1)):
        os.symlink(precious, temp / f"wta-bwrap-{pid}")
    box = api_sandbox(repo)
    done = subprocess.run(box.wrap(["/bin/sh", "-c", "exit 3"]), cwd=api, timeout=60,
                          env={**box.env(dict(os.environ)), "TMPDIR": str(temp)})
    assert done.returncode == 3
    assert precious.read_text() == "precious\n"


@pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux: .ci/run installs it")
def test_no_tmux_server_is_reachable_from_the_sandbox(tmp_path):
    """The tmux server of an interactive session (and the user's own) runs outside any sandbox, its socket in
    /tmp/tmux-<uid>, which every sandbox shared: `tmux new-window CMD` from inside ran CMD unsandboxed (it
    wrote the main worktree and moved the base branch)."""
    repo = layout(tmp_path)
    api = repo.parent / "repo-worktrees" / "api"
    name, marker = f"wta-test-{os.getpid()}-{time.monotonic_ns()}", tmp_path / "escaped"
    subprocess.run(["tmux", "-L", name, "new-session", "-d", "sleep 120"], check=True, timeout=30)
    try:
        box = api_sandbox(repo)
        done = inside(box, f"tmux -L {name} new-window -d 'touch {marker}'; ls -A /tmp/tmux-{os.getuid()}", api)
        time.sleep(1)
        assert not marker.exists(), done.stdout + done.stderr
        assert done.stdout == ""   # (an empty tmpfs there: tmux finds no server, and says why)
        # (From outside, the same command reaches the server: it is there.)
        subprocess.run(["tmux", "-L", name, "new-window", "-d", f"touch {marker}"], check=True, timeout=30)
        deadline = time.monotonic() + 10
        while not marker.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert marker.exists()
    finally:
        subprocess.run(["tmux", "-L", name, "kill-server"], capture_output=True, timeout=30)


def test_wta_commands_that_write_its_state_say_so_in_one_line_inside_a_sandbox(tmp_path):
    repo = layout(tmp_path)
    api = repo.parent / "repo-worktrees" / "api"
    for command in ("up --no-launch api", "down ui", "sync ui"):
        done = inside(api_sandbox(repo), f"{sys.executable} -m worktree_agents {command}", api)
        assert done.returncode == 2, done.stdout + done.stderr
        assert done.stderr == (f"wta: cannot write {repo / '.git' / 'wta' / 'lock'}: this runs in a session's "
                               "sandbox, where wta's state is read-only; run the command outside the session\n")


def test_the_hooks_of_the_leftovers_commit_end_with_it_and_see_no_process_outside(tmp_path):
    """The commit of a session's leftovers runs the repository's hooks (files the stream may change) in the
    sandbox, but had run them in the user's pid namespace: a daemon one left went on writing in the worktree
    after the session was `done` (and `wta stop` said "not running"), and they could signal any process."""
    seen, ticks = tmp_path / "pids-seen", tmp_path / "ticks"
    zones = sandboxed_agents(tmp_path, "echo left over >> src/api/a.py\n")   # no commit: the wrapper commits it
    repo = make_repo(tmp_path / "repo", zones, FILES)
    hook = repo / ".git" / "hooks" / "pre-commit"
    hook.write_text(f"#!/bin/sh\nls /proc | grep -c '^[0-9]' > {seen}\n"
                    f"setsid sh -c 'while :; do echo tick >> {ticks}; sleep 0.1; done' </dev/null >/dev/null 2>&1 &\n")
    hook.chmod(0o755)

    wta(repo, "up", "api", check=0)

    assert git(repo, "log", "-1", "--format=%s", "wta/api").stdout.startswith("[api] ")   # the leftovers commit
    assert int(seen.read_text()) < 10, seen.read_text()   # its own pid namespace: a few processes, not the machine's
    size = ticks.stat().st_size if ticks.exists() else 0
    time.sleep(1)
    assert (ticks.stat().st_size if ticks.exists() else 0) == size   # nothing of the hook runs on


FIFO_AGENT = """common=$(git rev-parse --git-common-dir) private=$(git rev-parse --git-dir)
objects=$(ls -d "$common"/objects/[0-9a-f][0-9a-f] | head -n 1)
try() { if "$@" 2>/dev/null; then echo "made $2" >> "$REPORT"; else echo "refused $2" >> "$REPORT"; fi; }
try mkfifo "$common/refs/heads/wta/x"
try mkfifo "$private/ORIG_HEAD"
try mkfifo "$objects/0123456789abcdef0123456789abcdef012345"
mkdir "$TMPDIR/piped" && mkfifo "$TMPDIR/piped/p"
try mv "$TMPDIR/piped" "$common/refs/heads/wta/"   # made where it may, moved where it may not
try mkfifo "$PWD/.gitignore"   # git status opens it, wta's outside the sandbox too
try mkfifo "$PWD/src/api/.gitattributes"   # so does a landing's git check-attr
try mkfifo "$TMPDIR/there"
try ln -s "$TMPDIR/there" "$common/refs/heads/wta/y"   # git opens what a link at a ref's name leads to
try ln -s "$TMPDIR/there" "$objects/fedcba9876543210fedcba9876543210fedcba"
try ln -s there "$TMPDIR/link"
try ln -s src "$PWD/link"   # (a venv's bin/python, node_modules/.bin)
rm -rf "$TMPDIR/piped" link
"""


def test_an_agent_cannot_make_a_fifo_where_git_reads(tmp_path):
    """git opens a ref, a loose object or a worktree's HEAD without looking at its type: a named pipe made there
    by an agent (a red-team pass, 2026-12-05) hung `wta up --land` for good while it held wta's lock, and every
    `wta status` and `git status` after it; so does a symlink there to a FIFO elsewhere. The sandbox's Landlock
    step refuses both there (and a directory holding a FIFO, moved there). In the worktree it refuses FIFOs too
    (one at `.gitignore` hung `wta status`, one at a `.gitattributes` the landing) but not symlinks; in the temp
    dir both are made as before."""
    report, temp = tmp_path / "report", tmp_path / "temp"
    temp.mkdir()
    zones = sandboxed_agents(tmp_path, FIFO_AGENT)
    repo = make_repo(tmp_path / "repo", zones, FILES)
    env = {**os.environ, "REPORT": str(report), "TMPDIR": str(temp)}
    try:
        wta(repo, "up", "api", check=0, env=env, timeout=60)
        lines = report.read_text().splitlines()
        made = ["refused"] * 6 + ["made"] + ["refused"] * 2 + ["made"] * 2
        assert [line.split()[0] for line in lines] == made, lines
        git_dir = repo / ".git"   # (wta's own hooks are symlinks)
        odd = subprocess.run(["find", git_dir / "refs", git_dir / "objects", git_dir / "worktrees", "-type", "p",
                              "-o", "-type", "l"], capture_output=True, text=True).stdout
        assert odd == ""
        assert (temp / "there").exists()
        started = time.monotonic()
        status = wta(repo, "status", check=0, env=env, timeout=30)
        assert "api" in status.stdout and time.monotonic() - started < 20
    finally:   # (on the code before the Landlock step: the gits waiting on a FIFO get its end, then it goes)
        end_fifos(repo / ".git")
        end_fifos(repo.parent / "repo-worktrees")


def end_fifos(top: Path) -> None:
    for fifo in subprocess.run(["find", "-L", str(top), "-type", "p"], capture_output=True, text=True).stdout.split():
        try:
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))   # a reader waiting in open() reads its end
        except OSError:
            pass   # no reader
        os.unlink(fifo)


TEMP_AGENT = """common=$(git rev-parse --git-common-dir)
try() { if "$@" > /dev/null 2>&1; then echo "made $1" >> "$REPORT"; else echo "refused $1" >> "$REPORT"; fi; }
echo "$TMPDIR $(stat -c %a "$TMPDIR")" > "$REPORT.where"
try {python} -m venv --without-pip "$TMPDIR/v"
try mkfifo "$TMPDIR/f"
try mkfifo "$common/refs/heads/wta/x"
"""


def test_a_repository_in_the_temp_dir_gives_each_sandboxed_command_a_temp_dir_of_its_own(tmp_path):
    """The repository lies in the temp dir (a clone under /tmp): Landlock grants a whole tree, so the temp dir
    was not granted, and a sandboxed session or `setup:` could make no symlink or FIFO there (`python3 -m venv`
    failed, as make's jobserver FIFO would). Each sandboxed command now gets a private temp dir beneath it
    (TMPDIR, mode 0700) where both work, removed when it ends; a FIFO at a ref's name is still refused."""
    report, setup_report = tmp_path / "report", tmp_path / "setup-report"
    agent = tmp_path / "agent.sh"
    agent.write_text(TEMP_AGENT.replace("{python}", sys.executable))
    zones = ZONES.replace("version: 1\n", f"version: 1\nsandbox: required\nsetup: REPORT={setup_report} sh {agent}\n"
                                          f"agent:\n  runner: command\n  command: sh {agent}\n")
    repo = make_repo(tmp_path / "repo", zones, FILES)
    env = {**os.environ, "REPORT": str(report), "TMPDIR": str(tmp_path)}
    try:
        wta(repo, "up", "api", check=0, env=env, timeout=120)
        for written in (report, setup_report):
            lines = written.read_text().splitlines()
            assert [line.split()[0] for line in lines] == ["made", "made", "refused"], lines
            where, mode = Path(f"{written}.where").read_text().split()
            private = Path(where)
            assert private.parent == tmp_path and private.name.startswith("wta-sandbox-") and mode == "700", where
            assert not private.exists()   # removed once the command ended
        assert not (repo / ".git" / "refs" / "heads" / "wta" / "x").exists()
    finally:
        end_fifos(repo / ".git")


def test_without_landlock_a_sandboxed_session_runs_and_says_once_what_is_not_enforced(tmp_path):
    """A kernel without Landlock (told here as `wta up` tells the processes it starts): `sandbox: required` still
    runs the session in bubblewrap, and `wta up` and the session's log say that FIFOs are not kept out."""
    from sessions_support import log_text

    zones = sandboxed_agents(tmp_path, f"mkfifo {tmp_path / 'made'}\n")
    repo = make_repo(tmp_path / "repo", zones, FILES)
    done = wta(repo, "up", "api", check=0, env={**os.environ, "WTA_LANDLOCK_ABI": "0"})
    said = [line for line in done.stdout.splitlines() if "named pipes" in line]
    assert len(said) == 1 and said[0].startswith("sandboxed, but not fully: this kernel has no Landlock"), done.stdout
    started = next(line for line in log_text(repo, "api").splitlines() if "session of stream 'api' started" in line)
    assert "sandboxed (bwrap)" in started and "not enforced: this kernel has no Landlock" in started
    assert (tmp_path / "made").exists()


@pytest.mark.parametrize("check", ["a landing's", "the base's"])
def test_a_tree_swapped_back_between_the_checks_walk_and_its_read_leaves_none_of_its_objects_loose(
        tmp_path, monkeypatch, check):
    """The check lists the objects with `git rev-list --objects`, then reads and hashes them with `git cat-file`.
    Another stream's agent, running meanwhile, put a forged tree at a loose tree's name for the walk and the real
    one back for the read: the real tree passed and was packed, but its blob, never listed, stayed loose only,
    and the agent's content written over it was main's file for every git (a red-team pass, 2026-12-05). The
    walk is done again from what was packed, until it lists nothing unchecked."""
    from worktree_agents import git as wta_git

    repo = layout(tmp_path)
    api = repo.parent / "repo-worktrees" / "api"
    box = api_sandbox(repo)
    old = tip(repo, "main")
    deep = "mkdir -p src/api/deep && echo 'b = 1' > src/api/deep/b.py && git add -A"
    if check == "a landing's":
        assert inside(box, f"{deep} && git commit -qm '[api] deep'", api).returncode == 0
        new = tip(repo, "wta/api")
    else:   # a person's commit on main, loose
        subprocess.run(["sh", "-c", f"{deep} && git commit -qm deep"], cwd=repo, check=True)
        new = tip(repo, "main")
    tree, blob = tip(repo, f"{new}:src/api/deep"), tip(repo, f"{new}:src/api/deep/b.py")
    real = loose_path(repo, tree).read_bytes()
    fake = tmp_path / "fake"   # the same name, listing README.md's blob in place of b.py's
    fake.write_bytes(forged("tree", b"100644 b.py\0" + bytes.fromhex(tip(repo, "main:README.md"))))
    assert inside(box, write_over(tree, fake, repo), api).stdout == "done\n"
    with real_one_back_for_the_read(monkeypatch, repo, tree, real):
        keep = str(repo / ".git" / "objects")
        if check == "a landing's":
            assert wta_git.rewritten_objects(old, new, repo, keep=keep) == []
        else:
            assert wta_git.unpacked_rewritten(new, keep, repo) == []
    fake.write_bytes(forged("blob", b"b = 'forged'\n"))
    assert inside(box, write_over(blob, fake, repo), api).stdout == "done\n"

    assert git(repo, "cat-file", "-p", f"{new}:src/api/deep/b.py").stdout == "b = 1\n"


def test_a_commit_swapped_back_between_the_landings_walk_and_its_read_is_walked_again_for_its_fast_forward(
        tmp_path, monkeypatch):
    """As above, with a commit: the agent's forged api commit at its name for the walk (its parent main, past the
    commit below it), the real one back for the read. The landing's check, which also reads the parents of the
    commits it hashed (its fast-forward asks them whether the head descends from the base), walked again from
    what it packed and found the commit below: its second round ended in 'TypeError: list indices must be
    integers or slices, not str' (one name for the parents it hands back and those it walks on from)."""
    from worktree_agents import git as wta_git

    repo = layout(tmp_path)
    api = repo.parent / "repo-worktrees" / "api"
    box = api_sandbox(repo)
    old = tip(repo, "main")
    assert inside(box, "echo 'x = 1' > src/api/x.py && git add -A && git commit -qm '[api] x' && "
                       "echo 'y = 1' > src/api/y.py && git add -A && git commit -qm '[api] y'", api).returncode == 0
    new, below = tip(repo, "wta/api"), tip(repo, "wta/api~1")
    real, fake = parent_forged(box, repo, new, below, old, tmp_path / "fake")
    with real_one_back_for_the_read(monkeypatch, repo, new, real):
        parents: dict[str, list[str]] = {}
        assert wta_git.rewritten_objects(old, new, repo, keep=str(repo / ".git" / "objects"), parents=parents) == []
        assert parents == {new: [below], below: [old]}
        assert wta_git.descends_from(old, new, parents)
    x = tip(repo, f"{below}:src/api/x.py")   # walked in the second round: packed, written over in vain
    fake.write_bytes(forged("blob", b"x = 'forged'\n"))
    assert inside(box, write_over(x, fake, repo), api).stdout == "done\n"
    assert git(repo, "cat-file", "-p", f"{new}:src/api/x.py").stdout == "x = 1\n"


def test_a_commit_on_the_base_listed_by_a_forged_parent_for_the_walk_is_no_descent_for_the_fast_forward(
        tmp_path, monkeypatch):
    """The fast-forward's check reads the parents of the commits the landing's walk listed and hashed. api's commit
    is on main's older tip; main has moved on. For the walk, a forged copy at its name gives it a parent of the
    agent's making on main's new tip; the real one is back for the hashing. The walk listed that commit, real and
    on main: 'one of the listed commits has the base as a parent' took api's head for a descendant of main, which
    the base would have been fast-forwarded to, its history without main's commit (git merge-base, which the
    check replaced, read the real commit from the pack the check had just written). Now the parents are followed
    from the head."""
    from worktree_agents import git as wta_git

    repo = layout(tmp_path)
    api = repo.parent / "repo-worktrees" / "api"
    box = api_sandbox(repo)
    older = tip(repo, "main")
    assert inside(box, "echo 'x = 1' > src/api/x.py && git add -A && git commit -qm '[api] x'", api).returncode == 0
    head = tip(repo, "wta/api")
    write_files(repo, {"README.md": "moved on\n"})
    base = commit_all(repo, "a person's commit")
    made = inside(box, f"git commit-tree -p {base} -m '[api] on main' {base}^{{tree}}", api)
    on_base = made.stdout.strip()
    assert made.returncode == 0 and git(repo, "cat-file", "-t", on_base).stdout.strip() == "commit"
    real, fake = parent_forged(box, repo, head, older, on_base, tmp_path / "fake")
    with real_one_back_for_the_read(monkeypatch, repo, head, real):
        parents: dict[str, list[str]] = {}
        assert wta_git.rewritten_objects(base, head, repo, keep=str(repo / ".git" / "objects"), parents=parents) == []
    assert parents[head] == [older] and parents[on_base] == [base]   # (listed, though api's head does not reach it)
    assert git(repo, "merge-base", "--is-ancestor", base, head, check=False).returncode == 1
    assert not wta_git.descends_from(base, head, parents)


def test_wta_status_inside_a_sandbox_shows_its_table_whatever_it_cannot_remember(tmp_path):
    """`wta status` remembers its line of zones.yaml's problems in wta's state, read-only in a sandbox: an agent's
    `wta status` ended in 'cannot write .../zones.problems' (exit 2) whenever that line was not remembered yet."""
    repo = layout(tmp_path)
    api = repo.parent / "repo-worktrees" / "api"
    remembered = repo / ".git" / "wta" / "zones.problems"
    assert not remembered.exists()

    done = inside(api_sandbox(repo), f"{sys.executable} -m worktree_agents status", api)

    assert done.returncode == 0, done.stdout + done.stderr
    assert "api" in done.stdout and done.stderr == ""
    assert not remembered.exists()


def test_wta_status_inside_a_sandbox_remembers_its_zones_yaml_line_in_the_stream_worktrees_git_dir(tmp_path):
    """It could not write wta's state, so it worked out the line of zones.yaml's problems (zones.yaml loaded,
    every tracked file matched) at every run. It keeps the line in the stream worktree's private git dir,
    which only a sandboxed status reads: what an agent writes there says nothing to a person's status."""
    import json

    repo = layout(tmp_path)
    api = repo.parent / "repo-worktrees" / "api"
    kept = repo / ".git" / "worktrees" / "api" / "wta-zones.problems"
    box = api_sandbox(repo)
    command = f"{sys.executable} -m worktree_agents status"

    first = inside(box, command, api)
    assert first.returncode == 0 and first.stderr == "", first.stdout + first.stderr
    assert not (repo / ".git" / "wta" / "zones.problems").exists()
    made = kept.stat().st_ino   # (written whole and renamed over: a line worked out again is a new file)
    assert json.loads(kept.read_text())["summary"] is None
    assert inside(box, command, api).returncode == 0
    assert kept.stat().st_ino == made

    kept.write_text(json.dumps({**json.loads(kept.read_text()), "summary": "zones.yaml has 1 problem(s): told"}))
    assert "problem(s): told" in inside(box, command, api).stdout   # the line it reads is the one kept
    assert "problem" not in wta(api, "status", check=0).stdout


LOCK_AGENT = """common=$(git rev-parse --git-common-dir)
try() { if touch "$1" 2>/dev/null; then echo "made $1" >> "$REPORT"; else echo "refused $1" >> "$REPORT"; fi; }
try "$common/refs/heads/wta/ui.lock"          # another stream's branch: its directory is this stream's too
try "$common/logs/refs/heads/wta/ui.lock"     # its reflog's: `git reflog expire`, which `git gc` runs
try "$common/refs/heads/main.lock"
try "$common/packed-refs.lock"
try "$common/refs/wta/backup.lock"
try "$common/worktrees/ui/index.lock"
try "$common/worktrees/ui/HEAD.lock"
try "$common/wta/lock"                        # wta's command lock
try "$common/wta/state.json.lock"
"""


def test_a_lock_file_an_agent_leaves_beside_another_streams_branch_stops_its_landing_in_one_line(tmp_path):
    """A sandbox writes the directory of its own ref and reflog (git renames `<ref>.lock` into place there), so an
    agent can make `refs/heads/wta/<other>.lock`: git then refuses every move of that branch. `wta merge` rebased
    the other stream in its worktree and stopped at the ref's update with git's raw "Unable to create" (a merge
    left under way); `wta sync` said the branch "moved meanwhile" and to run it again. Now the landing and the
    sync refuse before anything moves, naming the file, the sandbox that could have made it and the `rm`, and
    `wta status` names it (and one at the reflog, which stops the person's `git gc`). Every other lock git or wta
    takes (the base's ref, packed-refs, the backups, another worktree's index, wta's own) stays out of reach."""
    report = tmp_path / "report"
    zones = sandboxed_agents(tmp_path, LOCK_AGENT)
    repo = layout(tmp_path, zones)
    ui = repo.parent / "repo-worktrees" / "ui"
    (ui / "src" / "ui" / "page.html").write_text("<p>mine</p>\n")
    git(ui, "commit", "-qam", "[ui] mine")
    ui_tip, backups = tip(repo, "wta/ui"), git(repo, "for-each-ref", "refs/wta/").stdout

    wta(repo, "up", "api", check=0, env={**os.environ, "REPORT": str(report)}, timeout=60)

    common = repo / ".git"
    lines = report.read_text().splitlines()
    assert [line.split()[0] for line in lines] == ["made"] * 2 + ["refused"] * 7, lines
    lock, log_lock = common / "refs/heads/wta/ui.lock", common / "logs/refs/heads/wta/ui.lock"
    (ui / "src" / "ui" / "page.html").write_text("<p>more</p>\n")
    assert git(ui, "commit", "-qam", "[ui] more", check=False).returncode != 0   # the attack: ui cannot commit
    git(ui, "checkout", "--", ".")
    (repo / "README.md").write_text("# moved\n")
    git(repo, "commit", "-qam", "a person's commit")   # ui must be rebased: its ref must move
    base = tip(repo, "main")

    merged = wta(repo, "merge", "ui", check=1)

    said = [line for line in merged.stderr.splitlines() if line.startswith(f"ui: {lock}:")]
    assert len(said) == 1, merged.stdout + merged.stderr
    assert "the sandbox of api could have made it" in said[0] and f"(rm {lock})" in said[0], said[0]
    assert "Unable to create" not in merged.stdout + merged.stderr
    assert tip(repo, "main") == base and tip(repo, "wta/ui") == ui_tip
    assert not (common / "wta" / "merge.json").exists()   # nothing under way, nothing backed up
    assert git(repo, "for-each-ref", "refs/wta/").stdout == backups
    assert git(ui, "symbolic-ref", "HEAD").stdout.strip() == "refs/heads/wta/ui"

    status = wta(repo, "status", check=0).stdout
    assert f"ui: {lock}: a lock file" in status and f"ui: {log_lock}: a lock file" in status, status
    synced = wta(repo, "sync", "ui", check=None)
    assert synced.returncode != 0 and f"(rm {lock})" in synced.stdout + synced.stderr, synced.stdout + synced.stderr
    assert tip(repo, "wta/ui") == ui_tip

    lock.unlink()   # as the line says
    wta(repo, "merge", "ui", check=0)
    assert git(repo, "log", "-1", "--format=%s", "main").stdout.strip() == "[ui] mine"


def test_a_lock_file_left_beside_a_dependents_branch_stops_wta_up_land_in_one_line(tmp_path):
    """`wta up --land`: api's agent leaves `refs/heads/wta/ui.lock` and lands; ui, which waits for it, is
    brought up to the new base before its session starts: that sync had failed with git's raw "Unable to create"
    said as "moved meanwhile; run `wta sync ui` again". ui now stops unstarted on the one line, naming api."""
    script = ('[ "$WTA_STREAM" = api ] && touch "$(git rev-parse --git-common-dir)/refs/heads/wta/ui.lock"\n'
              'echo more >> "src/$WTA_STREAM/$WTA_FILE" && git commit -qam "[$WTA_STREAM] work"\n')
    zones = sandboxed_agents(tmp_path, script) + "    after: [api]\n"
    repo = make_repo(tmp_path / "repo", zones, {**FILES, "src/ui/a.py": "u = 1\n"})
    ui_tip = tip(repo, "main")

    up = wta(repo, "up", "--land", check=1, env={**os.environ, "WTA_FILE": "a.py"}, timeout=120)

    lock = repo / ".git" / "refs" / "heads" / "wta" / "ui.lock"
    said = [line for line in up.stdout.splitlines() if line.startswith("ui: failed")]
    assert len(said) == 1 and f"{lock}: a lock file that no process holds" in said[0], up.stdout + up.stderr
    assert "the sandbox of api could have made it" in said[0] and f"(rm {lock})" in said[0], said[0]
    assert "Unable to create" not in up.stdout + up.stderr
    assert git(repo, "log", "-1", "--format=%s", "main").stdout.strip() == "[api] work"
    assert tip(repo, "wta/ui") == ui_tip


@pytest.mark.parametrize("dated", ["2100-01-01", "ui's session"])
def test_a_lock_file_an_agent_dates_as_it_likes_names_its_maker_and_stops_the_landing_at_once(tmp_path, dated):
    """The check aged a lock by its mtime, which its maker sets (`touch -d`): dated 2100, `wta merge ui` slept
    until then, waiting for "a git at work" to finish with it (and `wta status` never named it); dated within
    ui's own session, the line named ui's sandbox as its maker, not api's. Its ctime, which no one sets, says it."""
    import json

    zones = sandboxed_agents(tmp_path, '[ "$WTA_STREAM" = api ] || exit 0\n'
                                       'touch -d "$DATED" "$(git rev-parse --git-common-dir)/refs/heads/wta/ui.lock"\n')
    repo = layout(tmp_path, zones)
    ui, ui_tip = ui_commits_its_own(repo)
    wta(repo, "up", "ui", check=0, timeout=60)
    ended = json.loads((repo / ".git" / "wta" / "sessions" / "ui.json").read_text())["ended_at"]
    time.sleep(1.1)   # (api's session starts after ui's has ended, in another second)
    wta(repo, "up", "api", check=0, timeout=60, env={**os.environ, "DATED": ended if "ui" in dated else dated})
    lock = repo / ".git" / "refs" / "heads" / "wta" / "ui.lock"
    assert lock.exists()
    time.sleep(2)   # (older than a git at work keeps one)

    merged = wta(repo, "merge", "ui", check=1, timeout=60)

    said = [line for line in merged.stderr.splitlines() if line.startswith(f"ui: {lock}:")]
    assert len(said) == 1, merged.stdout + merged.stderr
    assert "the sandbox of api could have made it" in said[0] and "2100" not in said[0], said[0]
    assert tip(repo, "wta/ui") == ui_tip and not (repo / ".git" / "wta" / "merge.json").exists()
    assert f"ui: {lock}: a lock file" in wta(repo, "status", check=0).stdout


def test_a_lock_file_an_agent_holds_open_from_its_running_session_stops_the_landing_before_anything_moves(tmp_path):
    """A process of api's session held `refs/heads/wta/ui.lock` open: the check took it for a git at work and let
    the landing go on; its rebase stopped at the ref's update, the merge left interrupted and ui's worktree in the
    middle of a rebase, the line saying to end pid N "if no git runs" there. A holder in a sandbox is no git of
    wta's or the person's: the landing refuses before anything moves, naming the file and its holder."""
    ready, go = tmp_path / "ready", tmp_path / "go"
    zones = sandboxed_agents(tmp_path, f'exec 3>"$(git rev-parse --git-common-dir)/refs/heads/wta/ui.lock"\n'
                                       f'touch {ready}\nwhile [ ! -f {go} ]; do sleep 0.1; done\n')
    repo = layout(tmp_path, zones)
    ui, ui_tip = ui_commits_its_own(repo)
    (repo / "README.md").write_text("# moved\n")
    git(repo, "commit", "-qam", "a person's commit")   # ui must be rebased: its ref must move
    up = subprocess.Popen([sys.executable, "-m", "worktree_agents", "up", "api"], cwd=repo, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while not ready.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert ready.exists()
        time.sleep(2)   # (older than a git at work keeps one)

        merged = wta(repo, "merge", "ui", check=1, timeout=60)
    finally:
        go.touch()
        up.communicate(timeout=60)

    lock = repo / ".git" / "refs" / "heads" / "wta" / "ui.lock"
    said = [line for line in merged.stderr.splitlines() if line.startswith(f"ui: {lock}:")]
    assert len(said) == 1, merged.stdout + merged.stderr
    assert "held open by pid" in said[0] and "the sandbox of api could have made it" in said[0], said[0]
    assert tip(repo, "wta/ui") == ui_tip and not (repo / ".git" / "wta" / "merge.json").exists()
    assert git(ui, "symbolic-ref", "HEAD").stdout.strip() == "refs/heads/wta/ui"
    assert not (ui / ".git").is_dir() and not git(ui, "status", "--porcelain").stdout


@pytest.mark.parametrize("make", ["touch -d 2100-01-01", "ln -s /dev/null"], ids=["dated-2100", "dev-null"])
def test_an_index_lock_an_agent_dates_in_the_future_does_not_hang_its_streams_next_start(tmp_path, make):
    """api's agent left its worktree's `index.lock` dated 2100 (`touch -d`) and stopped: the next `wta up api`,
    which clears a lock a killed git left before the session starts, slept until then, as for a git at work.
    Linked to /dev/null (without Landlock), it was "held by a running process": `wta up` refused, naming the pid
    of whatever process had /dev/null open as the one to let finish or end."""
    agent = tmp_path / "agent.sh"
    zones = sandboxed_agents(tmp_path, f'{make} "$(git rev-parse --git-dir)/index.lock"\nexit 1\n')
    repo = layout(tmp_path, zones)
    wta(repo, "up", "api", timeout=60, env={**os.environ, "WTA_LANDLOCK_ABI": "0"})
    lock = repo / ".git" / "worktrees" / "api" / "index.lock"
    assert os.path.lexists(lock)
    agent.write_text("exit 0\n")
    time.sleep(2)   # (older than a git at work keeps one)

    with open(os.devnull, "rb"):   # (held open here too, whatever else runs)
        started = wta(repo, "up", "api", timeout=60)

    assert not os.path.lexists(lock), started.stdout + started.stderr
    assert "held by a running process" not in started.stdout + started.stderr


def test_lock_files_by_the_thousand_in_a_worktrees_git_dir_stop_its_landing_in_a_few_lines_at_once(tmp_path):
    """api's agent left 20,000 `*.lock` files in its private git dir: the check read all of /proc once for each
    (then again for its line), holding wta's lock for minutes while every other landing waited, and the refusal
    was one line per file."""
    zones = sandboxed_agents(tmp_path, 'd=$(git rev-parse --git-dir) i=0\n'
                                       'while [ $i -lt 20000 ]; do : > "$d/n$i.lock"; i=$((i+1)); done\n'
                                       'echo more >> src/api/a.py && git commit -qam "[api] work"\n')
    repo = layout(tmp_path, zones)
    wta(repo, "up", "api", check=0, timeout=120)
    private = repo / ".git" / "worktrees" / "api"
    assert len(list(private.glob("*.lock"))) == 20000
    time.sleep(2)   # (older than a git at work keeps one)
    api_tip = tip(repo, "wta/api")

    began = time.monotonic()
    merged = wta(repo, "merge", "api", check=1, timeout=120)

    assert time.monotonic() - began < 60
    said = [line for line in merged.stderr.splitlines() if line.startswith("api: ")]
    assert len(said) == 1 and said[0].count(".lock") < 12, merged.stderr[:2000]
    assert f"and 19997 more such lock files in {private} (rm -r {private}/*.lock)" in said[0], said[0][-600:]
    assert tip(repo, "wta/api") == api_tip and tip(repo, "main") != api_tip


def test_a_lock_an_agent_links_to_dev_null_without_landlock_stops_the_landing_before_anything_moves(tmp_path):
    """Without Landlock a sandbox can make symlinks beside the stream refs: api's agent linked
    `refs/heads/wta/ui.lock` to /dev/null, which some process always holds open. The check took it for a git's
    lock at work and let the landing go on; git, which makes its lock with O_EXCL, stopped the rebase half-way."""
    zones = sandboxed_agents(tmp_path, '[ "$WTA_STREAM" = api ] || exit 0\n'
                                       'ln -s /dev/null "$(git rev-parse --git-common-dir)/refs/heads/wta/ui.lock"\n')
    repo = layout(tmp_path, zones)
    ui, ui_tip = ui_commits_its_own(repo)
    wta(repo, "up", "api", check=0, timeout=60, env={**os.environ, "WTA_LANDLOCK_ABI": "0"})
    lock = repo / ".git" / "refs" / "heads" / "wta" / "ui.lock"
    assert lock.is_symlink()
    (repo / "README.md").write_text("# moved\n")
    git(repo, "commit", "-qam", "a person's commit")   # ui must be rebased: its ref must move
    time.sleep(2)   # (older than a git at work keeps one)

    with open(os.devnull, "rb"):   # (held open here too, whatever else runs)
        merged = wta(repo, "merge", "ui", check=1, timeout=60)

    said = [line for line in merged.stderr.splitlines() if line.startswith(f"ui: {lock}:")]
    assert len(said) == 1, merged.stdout + merged.stderr
    assert "a lock file that no process holds" in said[0] and f"(rm {lock})" in said[0], said[0]
    assert tip(repo, "wta/ui") == ui_tip and not (repo / ".git" / "wta" / "merge.json").exists()
    assert git(ui, "symbolic-ref", "HEAD").stdout.strip() == "refs/heads/wta/ui"


def test_a_lock_files_name_an_agent_chose_is_shown_quoted_not_as_lines_or_escapes(tmp_path):
    """api's agent named a lock file in its private git dir with a line end and a terminal escape in it: the
    refusal printed the name as it was, forging a line ("main: landed") and clearing the person's screen."""
    script = ("""d=$(git rev-parse --git-dir)\n: > "$d/$(printf 'x\\nui: merged onto main\\033[2J.lock')"\n"""
              'echo more >> src/api/a.py && git commit -qam "[api] work"\n')
    zones = sandboxed_agents(tmp_path, script)
    repo = layout(tmp_path, zones)
    wta(repo, "up", "api", check=0, timeout=60)
    time.sleep(2)   # (older than a git at work keeps one)

    merged = wta(repo, "merge", "api", check=1, timeout=60)

    said = merged.stdout + merged.stderr
    assert "\033" not in said and not any(line.startswith("ui: merged") for line in said.splitlines()), said
    assert "x\\nui: merged onto main\\033[2J.lock" in said, said
    assert "\033" not in wta(repo, "status", check=0).stdout


def _api_makes_ui_lock_once_a_backup_is_made(tmp_path: Path, extra: str = "") -> tuple[str, Path, Path]:
    """zones.yaml with an agent whose api session makes `refs/heads/wta/ui.lock` again and again as soon as a backup
    ref exists (a merge, a landing or a sync makes one after its check, before it moves ui), until `go`."""
    ready, go = tmp_path / "ready", tmp_path / "go"
    script = ('c=$(git rev-parse --git-common-dir)\n'
              'if [ "$WTA_STREAM" = ui ]; then\n'
              f'  echo x >> {tmp_path}/ui-sessions; touch {tmp_path}/ui-ready\n'
              f'  while [ ! -f {tmp_path}/ui-go ]; do sleep 0.1; done\n'
              '  echo more >> src/ui/page.html && git commit -qam "[ui] work"; exit 0\n'
              'fi\n'
              f'touch {ready}\n'
              f'while [ ! -f {go} ]; do\n'
              '  [ -d "$c/refs/wta/backup" ] && (set -C; : > "$c/refs/heads/wta/ui.lock") 2>/dev/null\n'
              'done\nexit 0\n')
    zones = sandboxed_agents(tmp_path, script, extra)
    return zones, ready, go


def _git_waiting_for_ui_lock(tmp_path: Path, repo: Path) -> dict[str, str]:
    """wta's environment with a git (WTA_GIT) that, once a backup ref is there and until api's agent has made
    `refs/heads/wta/ui.lock` (at most 20 s), waits before it runs: the agent's lock comes after wta's check and
    before its move of ui, as it can at any load (wta had moved ui first, at times, on a busy machine)."""
    common = repo / ".git"
    shim = tmp_path / "git-waiting" / "git"
    shim.parent.mkdir()
    shim.write_text(f'#!/bin/sh\nn=0\nwhile [ -d "{common}/refs/wta/backup" ] && '
                    f'[ ! -e "{common}/refs/heads/wta/ui.lock" ] && [ $n -lt 400 ]; do\n'
                    f'  sleep 0.05; n=$((n + 1))\ndone\nexec {shutil.which("git")} "$@"\n')
    shim.chmod(0o755)
    return {**os.environ, "WTA_GIT": str(shim)}


def _wait_for(path: Path, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert path.exists(), path


PAGE = "".join(f"<p>{i}</p>\n" for i in range(12))


@pytest.mark.parametrize("how", ["copied", "git-rebase"])
def test_a_lock_file_an_agent_makes_while_the_landing_rebases_stops_it_cleanly_naming_it(tmp_path, how):
    """api's running session made `refs/heads/wta/ui.lock` after the check, as `wta merge ui` began (it saw the
    backup refs appear): ui's rebase stopped at the ref's update with git's raw "Unable to create" as the reason
    (under `land: auto`, handed back to ui's agent), its recovery having removed the lock as a killed git's.
    Now the stream stops there, its branch and worktree as they were, the lock left and named with its maker."""
    zones, ready, go = _api_makes_ui_lock_once_a_backup_is_made(tmp_path)
    repo = layout(tmp_path, zones, {**FILES, "src/ui/page.html": PAGE})
    ui = repo.parent / "repo-worktrees" / "ui"
    page = ui / "src" / "ui" / "page.html"
    page.write_text(PAGE.replace("<p>0</p>", "<p>mine</p>"))
    git(ui, "commit", "-qam", "[ui] mine")
    ui_tip = tip(repo, "wta/ui")
    if how == "git-rebase":   # (the base changes the same file: a three-way merge, which `git rebase` makes)
        (repo / "src" / "ui" / "page.html").write_text(PAGE.replace("<p>11</p>", "<p>theirs</p>"))
    else:
        (repo / "README.md").write_text("# moved\n")
    git(repo, "commit", "-qam", "a person's commit")   # ui must be rebased: its ref must move
    main_tip = tip(repo, "main")
    up = subprocess.Popen([sys.executable, "-m", "worktree_agents", "up", "api"], cwd=repo, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        _wait_for(ready)
        merged = wta(repo, "merge", "ui", check=1, timeout=60, env=_git_waiting_for_ui_lock(tmp_path, repo))
    finally:
        go.touch()
        up.communicate(timeout=60)

    lock = repo / ".git" / "refs" / "heads" / "wta" / "ui.lock"
    said = [line for line in merged.stdout.splitlines() if line.startswith(f"ui: refused: {lock}:")]
    assert len(said) == 1, merged.stdout + merged.stderr
    assert "a lock file that no process holds" in said[0] and "the sandbox of api could have made it" in said[0]
    assert f"(rm {lock})" in said[0] and "Unable to create" not in merged.stdout + merged.stderr, said[0]
    assert lock.exists()   # (left for a person: its maker can make it again)
    assert tip(repo, "wta/ui") == ui_tip and tip(repo, "main") == main_tip
    backups = git(repo, "for-each-ref", "--format=%(objectname) %(refname)", "refs/wta/backup").stdout.split("\n")
    assert f"{ui_tip} " in "\n".join(b for b in backups if b.endswith("/heads/wta/ui")), backups
    assert git(ui, "symbolic-ref", "HEAD").stdout.strip() == "refs/heads/wta/ui"
    assert not git(ui, "status", "--porcelain").stdout and page.read_text() == PAGE.replace("<p>0</p>", "<p>mine</p>")
    assert not list((repo / ".git" / "worktrees" / "ui").glob("rebase-*"))


def test_a_lock_file_an_agent_makes_while_a_landing_rebases_blocks_the_stream_for_a_person(tmp_path):
    """`wta up --land` under `land: auto`: api's running session made `refs/heads/wta/ui.lock` as ui's landing
    began; the landing stopped at the ref's update and handed the failure back to ui's agent, whose follow-up then
    failed on the same lock (its commit). Now ui is blocked at once, for a person, the lock named."""
    import json

    zones, ready, go = _api_makes_ui_lock_once_a_backup_is_made(tmp_path, "land: auto\n")
    repo = layout(tmp_path, zones)
    main_tip = tip(repo, "main")
    record = repo / ".git" / "wta" / "sessions" / "ui.json"
    up = subprocess.Popen([sys.executable, "-m", "worktree_agents", "up", "--land"], cwd=repo, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_git_waiting_for_ui_lock(tmp_path, repo))
    try:
        _wait_for(tmp_path / "ui-ready")
        _wait_for(ready)
        (repo / "README.md").write_text("# moved\n")
        git(repo, "commit", "-qam", "a person's commit")   # after ui's sync: ui's landing must rebase it
        main_tip = tip(repo, "main")
        (tmp_path / "ui-go").touch()
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            state = json.loads(record.read_text()).get("state") if record.exists() else None
            if state in ("blocked", "landed", "failed"):
                break
            time.sleep(0.1)
    finally:
        go.touch()
        out, err = up.communicate(timeout=120)

    lock = repo / ".git" / "refs" / "heads" / "wta" / "ui.lock"
    rec = json.loads(record.read_text())
    assert rec["state"] == "blocked" and rec["handbacks"] == 0, (rec, out, err)
    assert f"{lock}: a lock file that no process holds" in rec["reason"], rec["reason"]
    assert "the sandbox of api" in rec["reason"] and "Unable to create" not in out + err + rec["reason"]
    assert (tmp_path / "ui-sessions").read_text() == "x\n"   # no follow-up session
    assert tip(repo, "main") == main_tip and lock.exists()
    assert git(repo, "log", "-1", "--format=%s", "wta/ui").stdout.strip() == "[ui] work"
    ui = repo.parent / "repo-worktrees" / "ui"
    assert git(ui, "symbolic-ref", "HEAD").stdout.strip() == "refs/heads/wta/ui"
    assert not git(ui, "status", "--porcelain").stdout


def test_a_lock_file_an_agent_makes_while_wta_sync_rebases_stops_it_in_one_line(tmp_path):
    """`wta sync ui`: api's running session made `refs/heads/wta/ui.lock` once the sync's backup ref appeared;
    the sync said ui "moved meanwhile" and to run it again (or left git's raw error). It names the lock now."""
    zones, ready, go = _api_makes_ui_lock_once_a_backup_is_made(tmp_path)
    repo = layout(tmp_path, zones)
    ui, ui_tip = ui_commits_its_own(repo)
    (repo / "README.md").write_text("# moved\n")
    git(repo, "commit", "-qam", "a person's commit")
    up = subprocess.Popen([sys.executable, "-m", "worktree_agents", "up", "api"], cwd=repo, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        _wait_for(ready)
        synced = wta(repo, "sync", "ui", timeout=60, env=_git_waiting_for_ui_lock(tmp_path, repo))
    finally:
        go.touch()
        up.communicate(timeout=60)

    lock = repo / ".git" / "refs" / "heads" / "wta" / "ui.lock"
    text = synced.stdout + synced.stderr
    assert synced.returncode != 0 and f"{lock}: a lock file that no process holds" in text, text
    assert "the sandbox of api could have made it" in text and "moved meanwhile" not in text, text
    assert tip(repo, "wta/ui") == ui_tip and lock.exists()
    assert git(ui, "symbolic-ref", "HEAD").stdout.strip() == "refs/heads/wta/ui"
    assert not git(ui, "status", "--porcelain").stdout
    assert not git(repo, "for-each-ref", "refs/wta/backup").stdout   # (nothing changed: no backup kept)


def test_a_lock_a_git_outside_every_sandbox_holds_is_no_lock_made_after_the_check(tmp_path):
    """The lock git stopped on, held open by a process outside every sandbox (a git of the person's at work), or
    gone once a git at work is done with it: not a person's to remove, and no stream is blocked for it."""
    from worktree_agents.worktrees import locks

    repo = layout(tmp_path)
    lock = repo / ".git" / "refs" / "heads" / "wta" / "ui.lock"
    with open(lock, "x") as held:
        failed = git(repo, "update-ref", "refs/heads/wta/ui", "HEAD~0", check=False)
        assert failed.returncode != 0 and locks.named_in(failed.stderr) == str(lock), failed.stderr
        made = locks.made_after_the_check(str(repo / ".git"), str(repo / ".git" / "wta"), lambda: None, "ui",
                                          "wta/ui", None, failed.stderr)
        assert made is None and held
    lock.unlink()
    assert locks.made_after_the_check(str(repo / ".git"), str(repo / ".git" / "wta"), lambda: None, "ui", "wta/ui",
                                      None, failed.stderr) is None
