"""`wta open STREAM`: the stream's worktree in the user's editor.

Cursor first when its `cursor` command is on PATH (a Cursor tab per stream is the manual
workflow), else $VISUAL, else $EDITOR; with none of them, the path is printed instead.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess

from worktree_agents.commands.path import worktree_of
from worktree_agents.errors import WtaError
from worktree_agents.project import Project


def run(stream: str) -> int:
    path = worktree_of(Project.find(), stream)
    editor = editor_command()
    if editor is None:
        print(path)
        return 0
    try:
        return subprocess.run([*editor, path]).returncode
    except OSError as exc:
        raise WtaError(f"cannot start {editor[0]} ({exc.strerror or exc}); fix $VISUAL/$EDITOR, or cd to {path}") \
            from None


def editor_command() -> list[str] | None:
    """The editor's argv (without the path), or None when there is none to run."""
    if shutil.which("cursor"):
        return ["cursor"]
    for name in ("VISUAL", "EDITOR"):
        value = os.environ.get(name, "")
        try:
            words = shlex.split(value)
        except ValueError as exc:   # a quote never closed
            raise WtaError(f"${name} ({value}) cannot be read as a command: {exc}; fix its quoting, or use "
                           "`wta path STREAM`") from None
        if words:
            return words
    return None
