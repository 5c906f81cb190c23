"""`wta init`: a starter zones.yaml drawn from the repository's layout."""

from __future__ import annotations

import json
import os
import re
from collections import Counter

from worktree_agents.errors import WtaError
from worktree_agents.project import Project
from worktree_agents.zones import CONFIG_FILE

# Directories that hold many concerns: look one level deeper for streams.
CONTAINERS = {"src", "lib", "app", "apps", "packages", "services", "pkg", "internal", "cmd"}
SKIP = {"node_modules", "vendor", "third_party", "dist", "build"}
MAX_NAME = 63  # config.MAX_STREAM_NAME, without importing pydantic here


def propose_streams(files: list[str], limit: int = 8) -> dict[str, str]:
    """Stream name -> pattern, one per busy top-level (or second-level) directory."""
    tops: Counter[str] = Counter()
    for path in files:
        parts = path.split("/")
        if len(parts) < 2 or parts[0].startswith(".") or parts[0] in SKIP:
            continue
        if parts[0] in CONTAINERS and len(parts) > 2:
            tops[f"{parts[0]}/{parts[1]}"] += 1
        else:
            tops[parts[0]] += 1
    streams: dict[str, str] = {}
    for directory, _ in tops.most_common(limit):
        stem = re.sub(r"[^a-z0-9_-]+", "-", directory.split("/")[-1].lower()).strip("-_")[:MAX_NAME] or "stream"
        name, number = stem, 2
        while name in streams:
            name = f"{stem[:MAX_NAME - 3].rstrip('-_')}-{number}"
            number += 1
        streams[name] = _glob_literal(directory) + "/**"
    return streams


def _glob_literal(directory: str) -> str:
    """A directory name as a gitignore pattern that matches just that name."""
    escaped = re.sub(r"([\\*?\[])", r"\\\1", directory)
    return "\\" + escaped if escaped[:1] in ("!", "#") else escaped


def render(base: str, streams: dict[str, str]) -> str:
    lines = [
        "# zones.yaml: which stream (agent session) may change which paths.",
        "# Patterns are gitignore-style, relative to the repository root. Edit, then",
        "# check with `wta zones` and `wta explain PATH`, and commit it on the base branch.",
        "version: 1",
        f"base: {base}",
        "unowned: deny            # paths no zone claims: no stream may change them",
        "read_only: []            # paths no stream may change (zones.yaml always is)",
        "max_parallel: 4",
        "agent:",
        "  runner: claude         # claude | api | command | manual",
        "streams:",
    ]
    if not streams:
        streams = {"main": "src/**"}
    for name, pattern in streams.items():
        # JSON strings are valid YAML double-quoted scalars, whatever the directory is called.
        lines += [f"  {name}:", f"    paths: [{json.dumps(pattern)}]",
                  f"    prompt: {json.dumps(f'Work on {pattern[:-3]}.')}"]
    return "\n".join(lines) + "\n"


def run(force: bool = False) -> int:
    project = Project.find()
    path = os.path.join(project.toplevel, CONFIG_FILE)
    if project.toplevel != project.main:
        raise WtaError(f"{project.toplevel}: this is a stream worktree; run `wta init` in the main worktree "
                       f"({project.main})")
    if os.path.exists(path) and not force:
        raise WtaError(f"{path}: already exists; edit it, or pass --force to overwrite it")
    from worktree_agents import git

    base = git.current_branch(project.toplevel, project.env) or "main"
    text = render(base, propose_streams(project.tracked_files()))
    from worktree_agents.config import load_text

    load_text(text, path, project.main)  # never write a file wta itself would reject
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    print(f"wrote {path}; check it with `wta zones`, then commit it on {base!r}")
    return 0
