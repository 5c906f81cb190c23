"""Commit-time zone enforcement, exercised with real `git commit` in stream worktrees.

Every worktree here is made the way a user would by hand: `git worktree add`
plus `wta hooks install --stream S`. The zones are the four-stream example
(infra, api, ui, monitor append-only; read_only docs/specs/**).
"""

from __future__ import annotations

import marshal
import os
import subprocess
import sys
from pathlib import Path

import pytest

from support import add_stream_worktree, commit_all, git, make_repo, wta, write_files


def head(wt: Path) -> str:
    return git(wt, "rev-parse", "HEAD").stdout.strip()


def subject(wt: Path, rev: str = "HEAD") -> str:
    return git(wt, "log", "-1", "--format=%s", rev).stdout.strip()


def commit(wt: Path, *args: str, env: dict | None = None):
    return git(wt, "commit", *args, check=False, env=env)


def run_hook(wt: Path, *args: str) -> subprocess.CompletedProcess:
    """The hook entry point as the installed hook runs it."""
    return subprocess.run([sys.executable, "-m", "worktree_agents.hooks.runtime", *args], cwd=wt, text=True,
                          capture_output=True, timeout=60)


def assert_refused(wt: Path, proc, before: str, *names: str) -> None:
    """The commit failed with exit 1, named every path, and the branch did not move."""
    assert proc.returncode == 1, proc.stdout + proc.stderr
    for name in names:
        assert name in proc.stderr, proc.stderr
    assert head(wt) == before


@pytest.fixture
def api(webapp) -> Path:
    return add_stream_worktree(webapp, "api")


# -- the owner of a path ----------------------------------------------------------

def test_other_streams_path_is_refused_naming_its_owner(webapp, api):
    before = head(api)
    write_files(api, {"src/components/x.tsx": "x\n"})
    git(api, "add", "src/components/x.tsx")
    proc = commit(api, "-m", "add x")
    assert_refused(api, proc, before, "src/components/x.tsx")
    line = next(line for line in proc.stderr.splitlines() if "src/components/x.tsx" in line)
    assert "'ui'" in line
    assert "wta request ui" in line                  # what to do instead
    assert "git restore --staged" in proc.stderr


def test_owner_commits_the_same_path_with_its_prefix(webapp):
    ui = add_stream_worktree(webapp, "ui")
    write_files(ui, {"src/components/x.tsx": "x\n"})
    git(ui, "add", "src/components/x.tsx")
    proc = commit(ui, "-q", "-m", "add x")
    assert proc.returncode == 0, proc.stderr
    assert subject(ui).startswith("[ui] ")
    assert subject(ui) == "[ui] add x"


def test_rejection_names_unowned_and_read_only_paths(webapp, api):
    before = head(api)
    write_files(api, {"README.md": "changed\n", "docs/specs/api.md": "changed\n", "src/lib/ok.ts": "ok\n"})
    git(api, "add", "-A")
    proc = commit(api, "-m", "several")
    assert_refused(api, proc, before, "README.md", "docs/specs/api.md")
    lines = {line.split(":")[0].strip(): line for line in proc.stderr.splitlines() if line.startswith("  ")}
    assert "unowned" in lines["README.md"]
    assert "read-only" in lines["docs/specs/api.md"]
    assert "src/lib/ok.ts" not in proc.stderr          # in-zone paths are not listed


# -- every kind of change touches a path -------------------------------------------

def test_rename_from_outside_into_the_zone_is_refused(webapp, api):
    before = head(api)
    git(api, "mv", "src/components/Button.tsx", "src/lib/Button.tsx")
    proc = commit(api, "-m", "steal the button")
    assert_refused(api, proc, before, "src/components/Button.tsx")


def test_rename_from_inside_out_of_the_zone_is_refused(webapp, api):
    before = head(api)
    git(api, "mv", "src/lib/db.ts", "src/components/db.ts")
    proc = commit(api, "-m", "give away db")
    assert_refused(api, proc, before, "src/components/db.ts")
    assert "src/lib/db.ts:" not in proc.stderr          # removing its own file is fine


def test_delete_outside_the_zone_is_refused(webapp, api):
    before = head(api)
    git(api, "rm", "-q", "src/components/Button.tsx")
    proc = commit(api, "-m", "delete")
    assert_refused(api, proc, before, "src/components/Button.tsx")


@pytest.mark.parametrize("how", ["update-index", "chmod-add"])
def test_mode_change_outside_the_zone_is_refused(webapp, api, how):
    before = head(api)
    if how == "update-index":
        git(api, "update-index", "--chmod=+x", "src/app/page.tsx")
    else:
        os.chmod(api / "src/app/page.tsx", 0o755)
        git(api, "add", "src/app/page.tsx")
    assert git(api, "diff", "--cached", "--name-only").stdout.split() == ["src/app/page.tsx"]
    proc = commit(api, "-m", "chmod")
    assert_refused(api, proc, before, "src/app/page.tsx")


def test_symlink_retarget_outside_the_zone_is_refused(tmp_path):
    repo = make_repo(tmp_path / "webapp")
    os.symlink("Button.tsx", repo / "src/components/link.tsx")
    write_files(repo, {"src/components/Other.tsx": "other\n"})
    commit_all(repo, "a link")
    api = add_stream_worktree(repo, "api")
    before = head(api)
    os.unlink(api / "src/components/link.tsx")
    os.symlink("Other.tsx", api / "src/components/link.tsx")
    git(api, "add", "src/components/link.tsx")
    proc = commit(api, "-m", "retarget")
    assert_refused(api, proc, before, "src/components/link.tsx")


NAMES = ["with space.ts", "new\nline.ts", "ünïcødé-名前.ts"]


@pytest.mark.parametrize("name", NAMES, ids=["space", "newline", "unicode"])
def test_odd_file_names_outside_the_zone_are_refused_and_named(webapp, api, name):
    before = head(api)
    (api / "src/components" / name).write_text("x\n")
    git(api, "add", "-A")
    proc = commit(api, "-m", "odd name")
    # Control characters are shown C-quoted, like git does, so each path stays on one line.
    shown = '"src/components/new\\nline.ts"' if "\n" in name else f"src/components/{name}"
    assert_refused(api, proc, before, shown)
    assert "'ui'" in proc.stderr


@pytest.mark.parametrize("name", NAMES, ids=["space", "newline", "unicode"])
def test_odd_file_names_inside_the_zone_are_committed(webapp, api, name):
    (api / "src/lib" / name).write_text("x\n")
    git(api, "add", "-A")
    proc = commit(api, "-q", "-m", "odd name")
    assert proc.returncode == 0, proc.stderr
    committed = git(api, "diff-tree", "-z", "--no-commit-id", "--name-only", "-r", "HEAD").stdout
    assert committed.split("\0")[0] == f"src/lib/{name}"


# -- every way of committing ----------------------------------------------------------

def test_commit_all_stages_and_checks_tracked_changes(webapp, api):
    before = head(api)
    (api / "src/components/Button.tsx").write_text("changed\n")
    (api / "src/lib/db.ts").write_text("changed\n")
    proc = commit(api, "-a", "-m", "everything")
    assert_refused(api, proc, before, "src/components/Button.tsx")
    assert "src/lib/db.ts" not in proc.stderr


def test_commit_with_pathspec_checks_the_paths_committed(webapp, api):
    # `git commit -- PATH` commits from a temporary index (GIT_INDEX_FILE differs).
    before = head(api)
    (api / "src/lib/db.ts").write_text("staged in zone\n")
    git(api, "add", "src/lib/db.ts")
    (api / "src/components/Button.tsx").write_text("not staged\n")
    proc = commit(api, "-m", "only the button", "--", "src/components/Button.tsx")
    assert_refused(api, proc, before, "src/components/Button.tsx")

    # The other way round: an outside path staged in the real index is not part of this commit.
    git(api, "add", "src/components/Button.tsx")
    proc = commit(api, "-q", "-m", "only db", "--", "src/lib/db.ts")
    assert proc.returncode == 0, proc.stderr
    assert git(api, "diff-tree", "--no-commit-id", "--name-only", "-r", "HEAD").stdout.split() == ["src/lib/db.ts"]


def test_amend_that_adds_an_outside_file_is_refused(webapp, api):
    write_files(api, {"src/lib/new.ts": "new\n"})
    git(api, "add", "-A")
    assert commit(api, "-q", "-m", "in zone").returncode == 0
    before = head(api)
    write_files(api, {"tailwind.config.ts": "export default {dark: true}\n"})
    git(api, "add", "-A")
    proc = commit(api, "--amend", "--no-edit")
    assert_refused(api, proc, before, "tailwind.config.ts")


def test_zones_yaml_is_read_only_even_in_the_streams_own_worktree(webapp, api):
    before = head(api)
    text = (api / "zones.yaml").read_text()
    (api / "zones.yaml").write_text(text.replace("src/lib/**]", "src/lib/**, src/components/**]"))
    git(api, "add", "zones.yaml")
    proc = commit(api, "-m", "widen my zone")
    assert_refused(api, proc, before, "zones.yaml")
    assert "read-only" in proc.stderr


def test_read_only_path_is_refused(webapp, api):
    before = head(api)
    (api / "docs/specs/api.md").write_text("# my own spec\n")
    git(api, "add", "-A")
    proc = commit(api, "-m", "spec")
    assert_refused(api, proc, before, "docs/specs/api.md")
    assert "read-only" in proc.stderr


# -- append-only zones ---------------------------------------------------------------

def test_append_only_zone_refuses_a_change_in_the_middle(webapp):
    monitor = add_stream_worktree(webapp, "monitor")
    before = head(monitor)
    (monitor / "ai-agents/memory/notes.md").write_text("first note\nEDITED note\nthird note\n")
    git(monitor, "add", "-A")
    proc = commit(monitor, "-m", "rewrite history")
    assert_refused(monitor, proc, before, "ai-agents/memory/notes.md")
    assert "append-only" in proc.stderr


def test_append_only_zone_accepts_appends_and_new_files(webapp):
    monitor = add_stream_worktree(webapp, "monitor")
    with open(monitor / "ai-agents/memory/notes.md", "a") as f:
        f.write("third note\n")
    assert commit(monitor, "-q", "-am", "append").returncode == 0
    write_files(monitor, {"ai-agents/memory/new.md": "a new file\n"})
    git(monitor, "add", "-A")
    proc = commit(monitor, "-q", "-m", "new file")
    assert proc.returncode == 0, proc.stderr
    assert git(monitor, "log", "--format=%s", "main..").stdout.split("\n")[:2] == ["[monitor] new file",
                                                                                 "[monitor] append"]


# -- check-zones over a range ----------------------------------------------------------

def test_check_zones_range_finds_a_commit_made_with_no_verify(webapp, api):
    write_files(api, {"src/lib/fine.ts": "fine\n"})
    commit_all(api, "[api] fine")
    write_files(api, {"src/components/sneaky.tsx": "x\n"})
    bad = commit_all(api, "[api] sneaky", "--no-verify")
    proc = wta(webapp, "check-zones", "--stream", "api", "main..wta/api", check=1)
    offending = [line for line in proc.stderr.splitlines() if "src/components/sneaky.tsx" in line]
    assert len(offending) == 1 and bad[:7] in offending[0]
    assert "src/lib/fine.ts" not in proc.stderr


def test_check_zones_range_checks_append_only_contents(webapp):
    monitor = add_stream_worktree(webapp, "monitor")
    with open(monitor / "ai-agents/memory/notes.md", "a") as f:
        f.write("appended\n")
    commit_all(monitor, "append")
    (monitor / "ai-agents/memory/notes.md").write_text("first note\nrewritten\nappended\n")
    bad = commit_all(monitor, "rewrite", "--no-verify")
    proc = wta(monitor, "check-zones", "main..HEAD", check=1)
    assert bad[:7] in proc.stderr and "ai-agents/memory/notes.md" in proc.stderr and "append-only" in proc.stderr
    assert len([line for line in proc.stderr.splitlines() if "notes.md" in line]) == 1
    wta(monitor, "check-zones", "main..HEAD~1", check=0)


def test_check_zones_clean_range_exits_0_saying_what_it_checked(webapp, api):
    write_files(api, {"src/lib/fine.ts": "fine\n"})
    commit_all(api, "fine")
    write_files(api, {"src/lib/fine.ts": "finer\n", "src/lib/more.ts": "more\n"})
    commit_all(api, "more")
    proc = wta(api, "check-zones", "--stream", "api", "main..wta/api", check=0)
    assert proc.stderr == ""
    assert proc.stdout == "main..wta/api: checked 2 commits touching 2 paths; all inside the zone of api\n"


def test_check_zones_bad_range_is_one_line_exit_2(webapp, api):
    proc = wta(api, "check-zones", "--stream", "api", "main..no-such-branch", check=2)
    assert len(proc.stderr.strip().splitlines()) == 1
    assert "main..no-such-branch" in proc.stderr


def test_check_zones_hook_mode_checks_the_staged_changes(webapp, api):
    write_files(api, {"src/components/x.tsx": "x\n"})
    git(api, "add", "-A")
    proc = wta(api, "check-zones", check=1)
    assert "src/components/x.tsx" in proc.stderr and "'ui'" in proc.stderr


# -- commit messages ---------------------------------------------------------------------

def test_commit_msg_adds_prefix_once_even_on_amend(webapp, api):
    write_files(api, {"src/lib/a.ts": "a\n"})
    git(api, "add", "-A")
    assert commit(api, "-q", "-m", "add a\n\nbody line").returncode == 0
    assert subject(api) == "[api] add a"
    assert git(api, "log", "-1", "--format=%b").stdout.strip() == "body line"
    assert commit(api, "-q", "--amend", "--no-edit").returncode == 0
    assert subject(api) == "[api] add a"
    assert commit(api, "-q", "--amend", "-m", "[api] reworded").returncode == 0
    assert subject(api) == "[api] reworded"


def test_commit_msg_treats_a_hash_subject_given_with_m_as_the_subject(webapp, api):
    # Without an editor git keeps `#` lines, so "#12 ..." is the subject, not a comment.
    write_files(api, {"src/lib/a.ts": "a\n"})
    git(api, "add", "-A")
    assert commit(api, "-q", "-m", "#12 fix the thing").returncode == 0
    assert subject(api) == "[api] #12 fix the thing"


def test_the_prefix_goes_on_the_line_git_keeps_as_the_subject_whatever_its_cleanup(webapp, api):
    """git strips comment lines with `commit.cleanup=strip` even without an editor, and with
    `core.commentChar=auto` comments with the character it picked (`;` when a line starts with `#`):
    the prefix had gone on a comment line that git then dropped, or on git's own template line."""
    body = "real subject"
    for n, (config, args, expected) in enumerate([
            (["-c", "commit.cleanup=strip"], ["-m", f"# note to self\n{body}"], f"[api] {body}"),
            (["-c", "core.commentChar=auto"], ["-e", "-m", "#12 fix the thing"], "[api] #12 fix the thing"),
            ([], ["-m", "#12 plain"], "[api] #12 plain"),
            # the same given as an option, which git shows hooks only on its command line
            ([], ["--cleanup=strip", "-m", f"\n\n# comment\n{body}"], f"[api] {body}"),
            ([], ["--cleanup", "strip", "-m", f"# comment\n{body}"], f"[api] {body}")]):
        write_files(api, {f"src/lib/c{n}.ts": "c\n"})
        git(api, "add", "-A")
        proc = git(api, *config, "commit", "-q", *args, check=False, env={**os.environ, "GIT_EDITOR": "true"})
        assert proc.returncode == 0, proc.stderr
        assert subject(api) == expected


def test_a_commit_template_left_unedited_still_aborts_the_commit(webapp, api, tmp_path):
    """git aborts a commit whose message is its template unedited; the prefix had made the message differ
    from the template, and the template's text was committed as `[api] tmpl subject`."""
    template = tmp_path / "template"
    template.write_text("tmpl subject\n# what changed, and why\n")
    keep, edit = tmp_path / "keep.sh", tmp_path / "edit.sh"
    keep.write_text("#!/bin/sh\ntrue\n")
    edit.write_text('#!/bin/sh\nsed -i "1s/.*/fix the parser/" "$1"\n')
    keep.chmod(0o755)
    edit.chmod(0o755)
    write_files(api, {"src/lib/t.ts": "t\n"})
    git(api, "add", "-A")
    before = head(api)
    for args in (["-c", f"commit.template={template}", "commit"], ["commit", "-t", str(template)]):
        proc = git(api, *args, check=False, env={**os.environ, "GIT_EDITOR": str(keep)})
        assert proc.returncode == 1 and "you did not edit the message" in proc.stderr, proc.stderr
        assert head(api) == before
    proc = git(api, "commit", "-t", str(template), check=False, env={**os.environ, "GIT_EDITOR": str(edit)})
    assert proc.returncode == 0, proc.stderr
    assert subject(api) == "[api] fix the parser"


def test_a_reworded_commit_keeps_its_prefix_through_autosquash(webapp, api):
    """`git commit --fixup=amend:` rewords a commit: autosquash puts the amend! commit's body in place of
    the target's message, which had lost its prefix (and the landing then refused the stream)."""
    write_files(api, {"src/lib/a.ts": "a\n"})
    git(api, "add", "-A")
    assert commit(api, "-q", "-m", "original wording").returncode == 0
    editor = api.parent / "reword.sh"
    editor.write_text('#!/bin/sh\nsed -i "3s/.*/new wording/" "$1"\n')   # line 3: the message to come
    editor.chmod(0o755)
    assert commit(api, "-q", "--fixup=amend:HEAD", env={**os.environ, "GIT_EDITOR": str(editor)}).returncode == 0
    git(api, "rebase", "-q", "-i", "--autosquash", "HEAD~2", env={**os.environ, "GIT_SEQUENCE_EDITOR": "true"})
    assert subject(api) == "[api] new wording"


def test_commit_msg_rejects_another_streams_prefix(webapp, api):
    before = head(api)
    write_files(api, {"src/lib/a.ts": "a\n"})
    git(api, "add", "-A")
    proc = commit(api, "-m", "[ui] x")
    assert proc.returncode == 1
    assert "[ui]" in proc.stderr and "'api'" in proc.stderr
    assert head(api) == before
    # Without its space too (it had become `[api] [ui]x`); a bracket that names no stream is text.
    tight = commit(api, "-m", "[ui]x")
    assert tight.returncode == 1 and "commit message starts with [ui]" in tight.stderr
    assert head(api) == before
    assert commit(api, "-m", "[WIP]x").returncode == 0 and subject(api) == "[api] [WIP]x"
    # Its own prefix without the space is given one (it had become `[api] [api]tidy`).
    write_files(api, {"src/lib/b.ts": "b\n"})
    git(api, "add", "-A")
    assert commit(api, "-m", "[api]tidy").returncode == 0 and subject(api) == "[api] tidy"
    write_files(api, {"src/lib/c.ts": "c\n"})
    git(api, "add", "-A")
    alone = commit(api, "-m", "[api]")   # a prefix and nothing else: refused, as git refuses an empty message
    assert alone.returncode == 1 and "nothing after its [api] prefix" in alone.stderr


def test_commit_msg_keeps_comment_lines_and_empty_messages_working(webapp, api):
    """With an editor, git hands the hook the template (comments included) before cleaning it."""
    write_files(api, {"src/lib/a.ts": "a\n"})
    git(api, "add", "-A")
    editor = api.parent / "editor.sh"
    editor.write_text('#!/bin/sh\nprintf "\\n\\nedited subject\\n\\nbody\\n" | cat - "$1" > "$1.new" && mv "$1.new" "$1"\n')
    editor.chmod(0o755)
    env = {**os.environ, "GIT_EDITOR": str(editor)}
    assert commit(api, "-q", env=env).returncode == 0
    assert subject(api) == "[api] edited subject"
    # An editor that leaves only git's comments aborts the commit, as without wta.
    before = head(api)
    write_files(api, {"src/lib/b.ts": "b\n"})
    git(api, "add", "-A")
    proc = commit(api, env={**os.environ, "GIT_EDITOR": "true"})
    assert proc.returncode == 1 and "empty commit message" in proc.stderr.lower()
    assert head(api) == before


def test_fixup_commits_autosquash_onto_the_prefixed_commit(webapp, api):
    write_files(api, {"src/lib/a.ts": "a\n"})
    git(api, "add", "-A")
    assert commit(api, "-q", "-m", "add a").returncode == 0
    target = head(api)
    write_files(api, {"src/lib/a.ts": "a fixed\n"})
    git(api, "add", "-A")
    proc = commit(api, "-q", "--fixup", "HEAD")
    assert proc.returncode == 0, proc.stderr
    assert subject(api) == "fixup! [api] add a"
    env = {**os.environ, "GIT_SEQUENCE_EDITOR": ":"}
    git(api, "rebase", "-q", "-i", "--autosquash", "main", env=env)
    assert git(api, "log", "--format=%s", "main..").stdout.splitlines() == ["[api] add a"]
    assert git(api, "show", "HEAD:src/lib/a.ts").stdout == "a fixed\n"
    assert head(api) != target


# -- which zones are in force -------------------------------------------------------------

def test_widening_the_zone_in_the_worktree_does_not_widen_it(webapp, api):
    text = (api / "zones.yaml").read_text()
    (api / "zones.yaml").write_text(text.replace("src/lib/**]", "src/lib/**, src/components/**]")
                                    .replace("paths: [src/components/**, ", "paths: ["))
    commit_all(api, "[api] widen", "--no-verify")
    before = head(api)
    write_files(api, {"src/components/x.tsx": "x\n"})
    git(api, "add", "-A")
    proc = commit(api, "-m", "now mine?")
    assert_refused(api, proc, before, "src/components/x.tsx")
    assert "'ui'" in proc.stderr


def test_zones_committed_on_main_apply_to_the_next_commit(webapp, api):
    write_files(api, {"src/components/x.tsx": "x\n"})
    git(api, "add", "-A")
    assert commit(api, "-m", "not yet").returncode == 1
    text = (webapp / "zones.yaml").read_text()
    (webapp / "zones.yaml").write_text(text.replace("src/lib/**]", "src/lib/**, src/components/x.tsx]")
                                       .replace("paths: [src/components/**, ", "paths: [src/components/**, "
                                                "'!src/components/x.tsx', "))
    commit_all(webapp, "give x.tsx to api")
    proc = commit(api, "-q", "-m", "now")
    assert proc.returncode == 0, proc.stderr
    assert subject(api) == "[api] now"
    snapshot = marshal.loads((webapp / ".git/wta/zones.cache").read_bytes())
    assert snapshot["blob"] == git(webapp, "rev-parse", "main:zones.yaml").stdout.strip()
    assert snapshot["base_commit"] == git(webapp, "rev-parse", "main").stdout.strip()


def test_the_hook_asks_git_for_the_zones_blob_only_when_the_base_moved(webapp, api, tmp_path):
    def traced_commit(name: str) -> list[str]:
        """The git commands the hooks ran for one commit (GIT_TRACE lists every git process)."""
        trace = tmp_path / f"{name}.trace"
        write_files(api, {f"src/lib/{name}.ts": "x\n"})
        git(api, "add", "-A")
        proc = commit(api, "-q", "-m", name, env={**os.environ, "GIT_TRACE": str(trace)})
        assert proc.returncode == 0, proc.stderr
        return [line.split("trace: built-in: ", 1)[1] for line in trace.read_text().splitlines()
                if "trace: built-in: git " in line]

    assert not any("rev-parse" in c for c in traced_commit("first"))  # the base has not moved since the snapshot
    write_files(webapp, {"README.md": "the base moves on\n"})
    commit_all(webapp, "base moves, zones.yaml unchanged")
    moved = traced_commit("second")
    assert [c for c in moved if "rev-parse" in c] == ["git rev-parse -q --verify refs/heads/main:zones.yaml"]
    assert not any("rev-parse" in c for c in traced_commit("third"))  # the new tip was remembered
    assert any(c.startswith("git diff --cached --name-status") for c in moved), moved


# -- odd situations -------------------------------------------------------------------------

def test_damaged_snapshot_is_compiled_again(webapp, api):
    snapshot = webapp / ".git/wta/zones.cache"
    data = marshal.loads(snapshot.read_bytes())
    snapshot.write_bytes(marshal.dumps({**data, "zones": {"zones": "garbage"}}))
    before = head(api)
    write_files(api, {"src/components/x.tsx": "x\n"})
    git(api, "add", "-A")
    assert_refused(api, commit(api, "-m", "outside"), before, "src/components/x.tsx")
    assert marshal.loads(snapshot.read_bytes()) == data


def test_first_commit_on_a_brand_new_branch(webapp, api):
    git(api, "switch", "-q", "--orphan", "wta/api-fresh")
    write_files(api, {"src/lib/only.ts": "only\n"})
    git(api, "add", "src/lib/only.ts")
    proc = commit(api, "-q", "-m", "root commit")
    assert proc.returncode == 0, proc.stderr
    assert subject(api) == "[api] root commit"
    git(api, "switch", "-q", "--orphan", "wta/api-fresh2")
    write_files(api, {"src/components/x.tsx": "x\n"})
    git(api, "add", "src/components/x.tsx")
    proc = commit(api, "-m", "root outside")
    assert proc.returncode == 1 and "src/components/x.tsx" in proc.stderr
    assert git(api, "rev-parse", "-q", "--verify", "HEAD", check=False).returncode != 0


def test_base_without_committed_zones_uses_the_main_worktrees_file(tmp_path):
    repo = make_repo(tmp_path / "webapp")
    git(repo, "rm", "-q", "--cached", "zones.yaml")
    git(repo, "commit", "-q", "-m", "zones.yaml not committed yet")
    api = add_stream_worktree(repo, "api")
    assert not (api / "zones.yaml").exists()
    before = head(api)
    write_files(api, {"src/components/x.tsx": "x\n"})
    git(api, "add", "-A")
    assert_refused(api, commit(api, "-m", "outside"), before, "src/components/x.tsx")
    git(api, "rm", "-q", "--cached", "src/components/x.tsx")
    write_files(api, {"src/lib/in.ts": "in\n"})
    git(api, "add", "src/lib/in.ts")
    assert commit(api, "-q", "-m", "inside").returncode == 0
    assert subject(api) == "[api] inside"


def test_invalid_zones_committed_on_main_refuses_with_the_config_error(webapp, api):
    (webapp / "zones.yaml").write_text("version: 1\nstreams:\n  api:\n    paths: []\n")
    commit_all(webapp, "break the zones")
    before = head(api)
    write_files(api, {"src/lib/in.ts": "in\n"})
    git(api, "add", "-A")
    proc = commit(api, "-m", "inside, but the zones are broken")
    assert proc.returncode == 1, proc.stderr          # git reports any failing hook as 1
    assert "main:zones.yaml:4" in proc.stderr and "empty zone" in proc.stderr
    assert head(api) == before
    # The hook itself exits 2: a configuration error, not a zone violation.
    hook = run_hook(api, "pre-commit")
    assert hook.returncode == 2 and hook.stderr == proc.stderr
    assert wta(api, "check-zones", check=2).stderr.startswith("wta: main:zones.yaml:4")


def test_stream_removed_from_zones_is_refused_clearly(webapp):
    monitor = add_stream_worktree(webapp, "monitor")
    text = (webapp / "zones.yaml").read_text()
    (webapp / "zones.yaml").write_text(text[:text.index("  monitor:")])
    commit_all(webapp, "drop monitor")
    before = head(monitor)
    with open(monitor / "ai-agents/memory/notes.md", "a") as f:
        f.write("more\n")
    proc = commit(monitor, "-am", "append")
    assert proc.returncode == 1
    assert "'monitor'" in proc.stderr and "main:zones.yaml" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert head(monitor) == before
    git(monitor, "add", "-A")
    hook = run_hook(monitor, "pre-commit")
    assert hook.returncode == 2 and hook.stderr == proc.stderr


def test_merging_the_base_in_checks_only_what_the_merge_itself_changes(webapp, api):
    (api / "src/lib/db.ts").write_text("api's db\n")
    commit_all(api, "db on api")
    (webapp / "src/lib/db.ts").write_text("main's db\n")
    (webapp / "src/components/Button.tsx").write_text("ui's work, merged on main\n")
    commit_all(webapp, "main moves on")
    assert git(api, "merge", "main", check=False).returncode == 1     # conflict in db.ts
    (api / "src/lib/db.ts").write_text("both\n")
    git(api, "add", "src/lib/db.ts")
    proc = commit(api, "-q", "--no-edit")
    assert proc.returncode == 0, proc.stderr
    assert subject(api) == "[api] Merge branch 'main' into wta/api"
    assert git(api, "show", "HEAD:src/components/Button.tsx").stdout == "ui's work, merged on main\n"

    # Resolving a conflict by editing another zone is still refused.
    (api / "src/lib/db.ts").write_text("api again\n")
    commit_all(api, "db again")
    (webapp / "src/lib/db.ts").write_text("main again\n")
    commit_all(webapp, "main again")
    assert git(api, "merge", "main", check=False).returncode == 1
    before = head(api)
    write_files(api, {"src/lib/db.ts": "resolved\n", "src/components/Button.tsx": "sneaked in\n"})
    git(api, "add", "-A")
    assert_refused(api, commit(api, "--no-edit"), before, "src/components/Button.tsx")


def test_merging_another_streams_branch_is_checked_in_full(webapp, api):
    ui = add_stream_worktree(webapp, "ui")
    (ui / "src/components/Button.tsx").write_text("ui's unmerged work\n")
    commit_all(ui, "button")
    (api / "src/lib/db.ts").write_text("api's db\n")
    commit_all(api, "db")
    git(api, "merge", "--no-commit", "--no-ff", "wta/ui")
    before = head(api)
    assert_refused(api, commit(api, "--no-edit"), before, "src/components/Button.tsx")


def test_a_fixup_of_a_commit_without_the_prefix_names_it_as_it_stands(webapp, api):
    """`git commit --fixup` of a commit made with --no-verify (no prefix) was given the prefix, `fixup! [api]
    no prefix`, which git's autosquash no longer matched with `no prefix`: both commits stayed as they were."""
    (api / "src/lib/db.ts").write_text("db\n")
    git(api, "commit", "-q", "--no-verify", "-am", "no prefix")
    (api / "src/lib/db.ts").write_text("db, fixed\n")
    assert commit(api, "-qa", "--fixup=HEAD").returncode == 0
    assert subject(api) == "fixup! no prefix"
    git(api, "rebase", "-q", "-i", "--autosquash", "main", env={**os.environ, "GIT_SEQUENCE_EDITOR": "true"})
    assert git(api, "log", "--format=%s", "main..HEAD").stdout == "no prefix\n"
    assert git(api, "show", "HEAD:src/lib/db.ts").stdout == "db, fixed\n"
    (api / "src/lib/db.ts").write_text("db, again\n")
    assert commit(api, "-qam", "prefixed").returncode == 0
    (api / "src/lib/db.ts").write_text("db, again, fixed\n")
    assert commit(api, "-qa", "--fixup=HEAD").returncode == 0
    assert subject(api) == "fixup! [api] prefixed"   # a fixup of a commit with the prefix names it so


def ui_and_api_each_commit(webapp: Path, api: Path) -> tuple[Path, str]:
    """ui's worktree with a commit of its own; api's tip after a commit of its own."""
    ui = add_stream_worktree(webapp, "ui")
    (ui / "src/components/Button.tsx").write_text("ui's unmerged work\n")
    commit_all(ui, "button")
    (api / "src/lib/db.ts").write_text("api's db\n")
    commit_all(api, "db")
    return ui, head(api)


def test_a_merge_that_keeps_the_tree_brings_no_other_streams_commits_either(webapp, api):
    """`git merge -s ours wta/ui` stages nothing outside the zone, and the check of the staged change had let
    it through: api's branch then carried ui's commits, which only the landing refused, and only history
    surgery took out. Each commit a merge brings that the base lacks is checked as a landing checks it."""
    ui, before = ui_and_api_each_commit(webapp, api)

    refused = git(api, "merge", "--no-edit", "-s", "ours", "wta/ui", check=False)

    assert_refused(api, refused, before, "src/components/Button.tsx")
    assert f"{head(ui)[:12]} src/components/Button.tsx: " in refused.stderr
    assert "merge refused by the pre-merge-commit hook" in refused.stderr


def test_an_amend_is_checked_as_the_commit_it_makes(webapp, api):
    """`git commit --amend` had only its newly staged change checked: amending a commit made outside the
    zone (with --no-verify), or the base's own tip from a stream with no commits yet, gave that commit the
    stream's prefix and name. An amend counts from HEAD's parent now, in Python and past the shell's fast
    path alike; `--am` is git's `--amend` too, and a message that says `--amend` is no amend."""
    (api / "src/components/Button.tsx").write_text("api's sneak\n")
    git(api, "commit", "-q", "--no-verify", "-am", "sneak")
    before = head(api)
    (api / "src/lib/db.ts").write_text("api's db\n")
    for args in (["--amend", "--no-edit"], ["--am", "-m", "db"], ["-m", "--", "--amend"]):
        refused = commit(api, "-a", *args)   # (`-m --`: a value, not the end of the options)
        assert_refused(api, refused, before, "src/components/Button.tsx")
        assert ("wta: commit refused by the pre-commit hook; it amends HEAD's commit, and the commit it makes "
                "changes those paths: put them back as HEAD's parent has them (git restore --source=HEAD~1 "
                "--staged --worktree PATH), or commit without --amend") in refused.stderr
    renamed = subprocess.run(["bash", "-c", "exec -a mygit git commit -qa --amend --no-edit"], cwd=api, text=True,
                             capture_output=True)   # git under another name is git all the same
    assert_refused(api, renamed, before, "src/components/Button.tsx")
    git(api, "restore", "--source=HEAD~1", "--staged", "--worktree", "src/components/Button.tsx")
    assert commit(api, "-qa", "--amend", "-m", "db").returncode == 0   # as the refusal says: the sneak taken out
    assert git(api, "diff", "--name-only", "HEAD~1", "HEAD").stdout == "src/lib/db.ts\n"
    git(api, "reset", "-q", "--hard", "HEAD~1")
    (api / "src/lib/db.ts").write_text("api's db\n")
    assert commit(api, "-qam", "--amend").returncode == 0   # a new commit, whose message is "--amend"
    assert subject(api) == "[api] --amend" and head(api) != before
    (api / "src/lib/db.ts").write_text("api's db, amended\n")
    assert commit(api, "-qa", "--amend", "--no-edit").returncode == 0   # its own commit: amended
    assert subject(api) == "[api] --amend" and git(api, "rev-list", "--count", "main..HEAD").stdout == "1\n"

    ui = add_stream_worktree(webapp, "ui")   # no commit of its own: HEAD is the base's tip
    tip = head(ui)
    (ui / "src/components/Button.tsx").write_text("ui's change\n")
    refused = commit(ui, "-qa", "--amend", "-m", "ui tweak")
    assert_refused(ui, refused, tip, "zones.yaml")
    assert "it amends HEAD's commit" in refused.stderr


def test_amending_a_merge_of_the_base_counts_only_what_the_merge_itself_changes(webapp, api):
    """An amend of a catch-up merge of the base had counted from its first parent, so everything the base
    brought was taken for the stream's change, and refused."""
    (api / "src/lib/db.ts").write_text("api's db\n")
    commit_all(api, "db")
    (webapp / "src/components/Button.tsx").write_text("ui's work, landed\n")
    commit_all(webapp, "main moves on")
    git(api, "merge", "-q", "--no-edit", "main")
    assert commit(api, "-q", "--amend", "-m", "catch up with main").returncode == 0
    assert subject(api) == "[api] catch up with main" and len(git(api, "log", "-1", "--format=%P").stdout.split()) == 2


def test_merging_the_streams_own_upstream_that_caught_up_with_the_base_goes_through(webapp, api):
    """Merging the stream's own branch from elsewhere (its upstream), which holds a catch-up merge of the
    base, had every path the base brought counted as the stream's change, and was refused; so was an
    octopus of the base and that upstream."""
    (api / "src/lib/db.ts").write_text("api's db\n")
    commit_all(api, "db")
    git(api, "branch", "-q", "upstream-api")
    (webapp / "src/components/Button.tsx").write_text("ui's work, landed\n")
    commit_all(webapp, "main moves on")
    git(api, "switch", "-q", "upstream-api")
    git(api, "merge", "-q", "--no-edit", "main")
    (api / "src/lib/db.ts").write_text("api's db, from elsewhere\n")
    commit_all(api, "db elsewhere")
    git(api, "switch", "-q", "wta/api")
    proc = git(api, "merge", "--no-ff", "--no-edit", "upstream-api", check=False)
    assert proc.returncode == 0, proc.stderr
    assert git(api, "show", "HEAD:src/components/Button.tsx").stdout == "ui's work, landed\n"


def test_a_merge_git_commits_without_stopping_is_checked_too(webapp, api):
    """`git merge wta/ui` with nothing to resolve: git runs pre-merge-commit, not pre-commit, and the
    merge of another stream's work had been committed, prefixed and unchecked. Merging the base in (as
    `git pull` does) still goes through."""
    ui, before = ui_and_api_each_commit(webapp, api)
    refused = git(api, "merge", "--no-ff", "--no-edit", "-m", "take ui's", "wta/ui", check=False)
    assert_refused(api, refused, before, "src/components/Button.tsx")
    assert "merge refused by the pre-merge-commit hook; `git merge --abort` undoes it" in refused.stderr
    git(api, "merge", "--abort")
    refused = git(api, "merge", "--no-ff", "-m", "--", "wta/ui", check=False)   # (`--`: the message, here)
    assert_refused(api, refused, before, "src/components/Button.tsx")
    git(api, "merge", "--abort")
    (webapp / "src/components/Button.tsx").write_text("ui's work, merged on main\n")
    commit_all(webapp, "main moves on")
    proc = git(api, "merge", "--no-edit", "main", check=False)
    assert proc.returncode == 0, proc.stderr
    assert subject(api) == "[api] Merge branch 'main' into wta/api"
    main = git(webapp, "rev-parse", "main").stdout.strip()
    proc = git(api, "pull", "--no-rebase", "--no-edit", str(webapp), "main", check=False)   # nothing new: no merge
    assert proc.returncode == 0 and git(api, "merge-base", "--is-ancestor", main, "HEAD").returncode == 0
    # `git merge` alone merges the upstream: the base here.
    git(api, "branch", "-q", "--set-upstream-to=main")
    (webapp / "src/components/Button.tsx").write_text("ui's work, landed again\n")
    commit_all(webapp, "main moves again")
    proc = git(api, "merge", "--no-edit", check=False)
    assert proc.returncode == 0, proc.stderr
    assert git(api, "show", "HEAD:src/components/Button.tsx").stdout == "ui's work, landed again\n"
