"""The api runner's file tools, confined to one stream's worktree and zone.

Every path is resolved inside the worktree: absolute paths, `..` segments and
symlinks that lead out are refused, and so is git's own data. Writes outside
the stream's zone are refused with the owner named (the same decision as the
Claude Code guard). Refusals are `ToolError`s, which the loop hands back to the
model as tool results with `is_error`.
"""

from __future__ import annotations

import os
import re

from worktree_agents.errors import WtaError
from worktree_agents.redaction import redact_text
from worktree_agents.repo import Repo
from worktree_agents.sessions import leftovers
from worktree_agents.zones.enforce import guard_edit
from worktree_agents.zones.in_force import zones_in_force

MAX_LIST = 1000
MAX_READ = 100_000       # characters returned by one read_file
MAX_MATCHES = 200
MAX_SEARCH_FILE = 1_000_000


class ToolError(Exception):
    """A tool call the model must correct; the message goes back to it."""


class Workspace:
    def __init__(self, worktree: str, stream: str) -> None:
        self.root = os.path.normpath(os.path.abspath(worktree))
        self.real_root = os.path.realpath(self.root)
        self.stream = stream

    # -- paths ---------------------------------------------------------------

    def resolve(self, path: object) -> str:
        """The absolute path inside the worktree that `path` names, or ToolError."""
        if not isinstance(path, str) or not path.strip():
            raise ToolError("give a path relative to the worktree root, e.g. src/app.ts")
        if os.path.isabs(path) or path.startswith("~"):
            raise ToolError(f"{path}: absolute paths are refused; give a path relative to the worktree root")
        if ".." in path.replace("\\", "/").split("/"):
            raise ToolError(f"{path}: '..' is refused; paths stay inside the worktree")
        full = os.path.normpath(os.path.join(self.root, path))
        real = os.path.realpath(full)
        if not _inside(real, self.real_root):
            raise ToolError(f"{path}: leads out of the worktree through a symlink; it is refused")
        rel = self.relative(full)
        if rel == ".git" or rel.startswith(".git/"):
            raise ToolError(f"{path}: git's own data is off limits; use the commit tool")
        return full

    def relative(self, full: str) -> str:
        rel = os.path.relpath(full, self.root).replace(os.sep, "/")
        return "." if rel == "." else rel

    # -- tools ---------------------------------------------------------------

    def files(self, top: str):
        """Files under `top` (an absolute path inside the worktree), git's data left out, in order."""
        if os.path.isfile(top):
            yield top
            return
        for dirpath, dirnames, filenames in os.walk(top):
            at_root = dirpath == self.root  # `.git` is a directory, or in a linked worktree a file
            dirnames[:] = sorted(d for d in dirnames if not (at_root and d == ".git"))
            for name in sorted(filenames):
                if not (at_root and name == ".git"):
                    yield os.path.join(dirpath, name)

    def list_files(self, path: str = ".") -> str:
        top = self.resolve(path)
        if not os.path.isdir(top):
            raise ToolError(f"{path}: not a directory")
        found = []
        for full in self.files(top):
            if len(found) == MAX_LIST:
                return "\n".join(found) + f"\n... more than {MAX_LIST} files; list a subdirectory"
            found.append(self.relative(full))
        return "\n".join(found) or "(no files)"

    def read_file(self, path: str) -> str:
        full = self.resolve(path)
        if not os.path.isfile(full):
            raise ToolError(f"{path}: no such file")
        with open(full, "rb") as f:
            data = f.read(MAX_READ * 4 + 1)
        if b"\0" in data[:8192]:
            raise ToolError(f"{path}: a binary file; it cannot be shown as text")
        text = data.decode("utf-8", errors="replace")
        if len(text) > MAX_READ:
            return text[:MAX_READ] + f"\n... truncated at {MAX_READ} characters"
        return text

    def search(self, pattern: str, path: str = ".") -> str:
        """Lines matching a regular expression (or, if it is not one, the literal text)."""
        if not isinstance(pattern, str) or not pattern:
            raise ToolError("give a pattern to search for")
        try:
            regex = re.compile(pattern)
        except re.error:
            regex = re.compile(re.escape(pattern))
        hits = []
        for full in self.files(self.resolve(path)):
            if not _inside(os.path.realpath(full), self.real_root):
                continue
            try:
                if os.path.getsize(full) > MAX_SEARCH_FILE:
                    continue
                with open(full, "rb") as f:
                    data = f.read()
            except OSError:
                continue
            if b"\0" in data[:8192]:
                continue
            for number, line in enumerate(data.decode("utf-8", errors="replace").splitlines(), 1):
                if regex.search(line):
                    hits.append(f"{self.relative(full)}:{number}: {line[:300]}")
                    if len(hits) >= MAX_MATCHES:
                        return "\n".join(hits) + f"\n... stopped at {MAX_MATCHES} matches; narrow the search"
        return "\n".join(hits) or "(no matches)"

    def write_file(self, path: str, content: str) -> str:
        if not isinstance(content, str):
            raise ToolError("content must be a string")
        full = self.resolve(path)
        self._may_edit("Write", {"file_path": full, "content": content})
        if os.path.isdir(full):
            raise ToolError(f"{path}: a directory; give a file path")
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "w", encoding="utf-8") as f:
            f.write(content)
        return f"wrote {self.relative(full)} ({len(content)} characters)"

    def edit_file(self, path: str, old_string: str, new_string: str, replace_all: bool = False) -> str:
        full = self.resolve(path)
        if not isinstance(old_string, str) or not old_string or not isinstance(new_string, str):
            raise ToolError("old_string (not empty) and new_string must be strings")
        if not os.path.isfile(full):
            raise ToolError(f"{path}: no such file; create it with write_file")
        with open(full, encoding="utf-8", errors="surrogateescape") as f:
            text = f.read()
        count = text.count(old_string)
        if count == 0:
            raise ToolError(f"{path}: old_string not found; read the file and copy the text exactly")
        if count > 1 and not replace_all:
            raise ToolError(f"{path}: old_string occurs {count} times; give more context or set replace_all")
        self._may_edit("Edit", {"file_path": full, "old_string": old_string, "new_string": new_string,
                                "replace_all": bool(replace_all)})
        with open(full, "w", encoding="utf-8", errors="surrogateescape") as f:
            f.write(text.replace(old_string, new_string, -1 if replace_all else 1))
        return f"edited {self.relative(full)} ({count if replace_all else 1} replacement(s))"

    def commit(self, message: str) -> str:
        if not isinstance(message, str) or not message.strip():
            raise ToolError("give a commit message")
        try:
            # An API key the agent put in the message stays out of history (and the reflog).
            result = leftovers.commit_in_zone(self.root, self.stream, redact_text(message))
        except WtaError as exc:
            raise ToolError(str(exc)) from None
        if result.error:
            raise ToolError(f"the commit was refused: {result.error}")
        skipped = f"; not committed (outside your zone): {', '.join(result.outside)}" if result.outside else ""
        if not result.committed:
            return "nothing to commit" + skipped
        return f"committed {len(result.committed)} path(s) as {result.sha[:12]}{skipped}"

    def _may_edit(self, tool: str, tool_input: dict) -> None:
        zones = zones_in_force(Repo.here(self.root))
        decision = guard_edit(tool, tool_input, self.root, self.root, self.stream, zones)
        if not decision.allowed:
            raise ToolError(decision.reason)


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)
