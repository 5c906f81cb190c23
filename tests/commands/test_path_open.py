"""`wta path STREAM` and `wta open STREAM`: getting to a stream's worktree. The editors are
real executables on PATH that record the arguments they were started with."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from support import add_stream_worktree, make_repo, wta

# Directories that hold git and sh, and no `cursor`: the PATH of a machine without Cursor.
SYSTEM_PATH = os.pathsep.join(sorted({os.path.dirname(shutil.which("git")), os.path.dirname(shutil.which("sh"))}))


def fake_editor(bin_dir: Path, name: str) -> Path:
    """An executable `name` that appends its arguments, one per line, to `name`.argv beside it."""
    bin_dir.mkdir(exist_ok=True)
    script = bin_dir / name
    script.write_text(f'#!/bin/sh\nfor a in "$@"; do printf "%s\\n" "$a"; done >> "{bin_dir / name}.argv"\n')
    script.chmod(0o755)
    return bin_dir / f"{name}.argv"


def env_with(path: str, **variables: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("VISUAL", "EDITOR")}
    return {**env, "PATH": path, **variables}


def test_path_prints_the_worktree_for_cd(webapp):
    api = add_stream_worktree(webapp, "api")
    assert wta(webapp, "path", "api", check=0).stdout == f"{api}\n"
    assert wta(api / "src", "path", "api", check=0).stdout == f"{api}\n"  # from inside any worktree


def test_path_of_a_stream_without_a_worktree_or_unknown_is_one_line_exit_2(webapp):
    proc = wta(webapp, "path", "ui", check=2)
    assert proc.stderr == "wta: stream 'ui' has no worktree yet; make it with `wta up --no-launch ui`\n"
    proc = wta(webapp, "open", "nosuch", check=2)
    assert proc.stderr.startswith("wta: unknown stream 'nosuch'") and proc.stdout == ""


def test_path_of_a_stream_after_wta_down_says_it_was_removed_and_how_to_get_it_back(tmp_path):
    """It had said "no worktree yet", as for a stream never started."""
    repo = make_repo(tmp_path / "repo", "version: 1\nstreams:\n  api: {paths: [src/api/**]}\n", {"src/api/a.py": ""})
    wta(repo, "up", "--no-launch", "api", check=0)
    wta(repo, "down", "api", check=0)
    proc = wta(repo, "path", "api", check=2)
    assert proc.stderr == ("wta: stream 'api' has no worktree: it was removed (its branch wta/api is kept); `wta up "
                           "api` makes it again from its branch and starts its session (`wta up --no-launch api`: "
                           "the worktree alone)\n")
    wta(repo, "up", "--no-launch", "api", check=0)
    assert wta(repo, "path", "api", check=0).stdout == f"{tmp_path / 'repo-worktrees' / 'api'}\n"


def test_path_of_a_stream_whose_branch_a_plain_git_worktree_holds_names_it(webapp, tmp_path):
    """`git worktree add ../elsewhere wta/ui`: the hint had been `wta up --no-launch ui`, which refuses
    to make a second worktree of that branch."""
    subprocess.run(["git", "-C", webapp, "worktree", "add", "-q", "-b", "wta/ui", tmp_path / "elsewhere"], check=True)
    proc = wta(webapp, "path", "ui", check=2)
    assert proc.stderr == (f"wta: stream 'ui' has no worktree of wta's; its branch wta/ui is checked out at "
                           f"{tmp_path / 'elsewhere'}: cd there, or run `wta up --no-launch ui` to be told how to "
                           "move it where wta keeps it\n")
    assert f"git worktree move {tmp_path / 'elsewhere'} " in wta(webapp, "up", "--no-launch", "ui", check=2).stderr


def test_an_editor_variable_with_a_quote_never_closed_is_one_line_exit_2(webapp):
    add_stream_worktree(webapp, "ui")
    proc = wta(webapp, "open", "ui", env=env_with(SYSTEM_PATH, EDITOR="vim 'oops"), check=2)
    assert proc.stderr == ("wta: $EDITOR (vim 'oops) cannot be read as a command: No closing quotation; fix its "
                           "quoting, or use `wta path STREAM`\n")


def test_open_uses_cursor_when_it_is_on_path(webapp, tmp_path):
    ui = add_stream_worktree(webapp, "ui")
    bin_dir = tmp_path / "bin"
    cursor_argv, editor_argv = fake_editor(bin_dir, "cursor"), fake_editor(bin_dir, "myeditor")
    env = env_with(f"{bin_dir}{os.pathsep}{SYSTEM_PATH}", EDITOR=str(bin_dir / "myeditor"))
    proc = wta(webapp, "open", "ui", env=env, check=0)
    assert cursor_argv.read_text().splitlines() == [str(ui)]
    assert not editor_argv.exists() and proc.stdout == ""


def test_open_without_cursor_uses_visual_then_editor(webapp, tmp_path):
    ui = add_stream_worktree(webapp, "ui")
    bin_dir = tmp_path / "bin"
    visual_argv, editor_argv = fake_editor(bin_dir, "visual"), fake_editor(bin_dir, "editor")
    env = env_with(SYSTEM_PATH, VISUAL=f"{bin_dir / 'visual'} --wait", EDITOR=str(bin_dir / "editor"))
    wta(webapp, "open", "ui", env=env, check=0)
    assert visual_argv.read_text().splitlines() == ["--wait", str(ui)] and not editor_argv.exists()
    wta(webapp, "open", "ui", env=env_with(SYSTEM_PATH, EDITOR=str(bin_dir / "editor")), check=0)
    assert editor_argv.read_text().splitlines() == [str(ui)]


def test_open_without_any_editor_prints_the_path(webapp):
    ui = add_stream_worktree(webapp, "ui")
    proc = wta(webapp, "open", "ui", env=env_with(SYSTEM_PATH), check=0)
    assert proc.stdout == f"{ui}\n"


def test_path_of_a_stream_whose_worktree_folder_was_deleted_says_it_is_missing(tmp_path):
    """`rm -rf` of the worktree: the hint had been to cd into that folder, or to move it where wta keeps it."""
    webapp = make_repo(tmp_path / "webapp", "version: 1\nunowned: allow\nstreams:\n  ui: {paths: [src/ui/**]}\n",
                       {"src/ui/u.js": "", "README.md": "# r\n"})
    wta(webapp, "up", "--no-launch", "ui", check=0)
    api = webapp.parent / f"{webapp.name}-worktrees" / "ui"
    shutil.rmtree(api)
    proc = wta(webapp, "path", "ui", check=2)
    assert proc.stderr == (f"wta: stream 'ui': its worktree {api} is missing (its folder was deleted); "
                           "`wta up --no-launch ui` makes it again\n")
    wta(webapp, "up", "--no-launch", "ui", check=0)
    assert wta(webapp, "path", "ui", check=0).stdout == f"{api}\n"
