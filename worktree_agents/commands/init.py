"""`wta init`: a starter zones.yaml drawn from the repository's layout.

It writes what a person would: one stream per body of code, an `infra` stream for
CI, containers and the root configuration every stream depends on, a `docs` stream
for the documentation and the root markdown, tiny folders folded into a neighbour,
vendored code read-only, and a comment saying why each stream exists.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field

from worktree_agents.errors import WtaError
from worktree_agents.project import Project
from worktree_agents.zones import CONFIG_FILE

# Directories that hold many concerns: their subdirectories become the streams.
CONTAINERS = {"src", "lib", "app", "apps", "packages", "services", "pkg", "internal", "cmd"}
# Vendored or generated code that is tracked: no stream should change it.
VENDORED = {"node_modules", "vendor", "third_party", "dist", "build"}
# Directories of documentation, and of the pictures the README shows.
DOC_DIRS = {"docs", "doc", "documentation", "img", "images", "screenshots"}
# Directories of tooling: scripts, hooks, deployment.
TOOL_DIRS = {"scripts", "script", "hooks", "bin", "tools", "ci", "deploy", "deployment", "docker", "k8s", "helm",
             "terraform", "ops"}
# Root files that are documentation rather than configuration.
DOC_FILE = re.compile(r"(?i)^(.*\.(md|rst|adoc)|(license|licence|copying|notice|authors|changelog|changes)(\..*)?)$")
# Root files that come in families, owned by one pattern each.
ROOT_FAMILIES = ("compose*.yml", "compose*.yaml", "docker-compose*.yml", "docker-compose*.yaml", "Dockerfile*",
                 "requirements*.txt", "*.config.js", "*.config.ts", "*.config.mjs", "tsconfig*.json")
# A body of code with fewer files than this joins the largest one, unless every one is that small.
TINY = 5
MAX_CODE_STREAMS = 8
MAX_NAME = 63  # config.MAX_STREAM_NAME, without importing pydantic here


@dataclass
class Proposed:
    name: str
    why: str      # the comment above it in zones.yaml
    task: str     # its prompt
    paths: list[str] = field(default_factory=list)
    files: int = 0
    folded: list[str] = field(default_factory=list)  # tiny folders that joined it

    @property
    def comment(self) -> str:
        counted = f"{self.why} ({self.files} file{'' if self.files == 1 else 's'})"
        if self.folded:
            return f"{counted}; with {', '.join(self.folded)}: too small for a stream of their own"
        return counted


@dataclass
class Proposal:
    streams: list[Proposed]
    read_only: list[str]


def propose(files: list[str]) -> Proposal:
    """The streams (and read-only paths) for a repository with these tracked files."""
    infra = Proposed("infra", "CI, containers and the root configuration: the files every stream depends on",
                     "Keep CI, the containers and the root configuration working for every stream.")
    docs = Proposed("docs", "documentation and the root markdown", "Keep the documentation in step with the code.")
    read_only: list[str] = []
    code: dict[str, list[str]] = {}   # directory -> its files
    loose: dict[str, list[str]] = {}  # container -> files directly inside it
    root: list[str] = []
    by_top: dict[str, list[str]] = {}
    for path in files:
        if path == CONFIG_FILE:
            continue
        if "/" not in path:
            root.append(path)
        else:
            by_top.setdefault(path.split("/", 1)[0], []).append(path)
    for top, paths in by_top.items():
        pattern = f"/{_glob_literal(top)}/**"
        if top in VENDORED:
            read_only.append(pattern)
        elif top.startswith(".") or top.lower() in TOOL_DIRS:
            _take(infra, pattern, paths)
        elif top.lower() in DOC_DIRS:
            _take(docs, pattern, paths)
        elif top in CONTAINERS and any(p.count("/") > 1 for p in paths):
            for p in paths:
                parts = p.split("/")
                if len(parts) > 2:
                    code.setdefault(f"{top}/{parts[1]}", []).append(p)
                else:
                    loose.setdefault(top, []).append(p)
        else:
            code[top] = paths
    for pattern, paths in _root_patterns([f for f in root if not DOC_FILE.match(f)]):
        _take(infra, pattern, paths)
    for pattern, paths in _root_patterns([f for f in root if DOC_FILE.match(f)], docs=True):
        _take(docs, pattern, paths)
    streams = _code_streams(code, loose, infra)
    taken = {s.name for s in streams}
    for group in (infra, docs):
        if group.paths:
            group.name = _unique(group.name, taken)
            taken.add(group.name)
            streams.append(group)
    return Proposal(streams, read_only)


def _code_streams(code: dict[str, list[str]], loose: dict[str, list[str]], infra: Proposed) -> list[Proposed]:
    """One stream per body of code, largest first; tiny ones (and any past the limit) join the largest."""
    ranked = sorted(code.items(), key=lambda item: -len(item[1]))  # stable: ties keep the layout's order
    own = [(d, p) for d, p in ranked if len(p) >= TINY] or ranked
    own = own[:MAX_CODE_STREAMS]
    streams: list[Proposed] = []
    names: set[str] = set()
    for directory, paths in own:
        name = _unique(_stream_name(directory), names)
        names.add(name)
        streams.append(Proposed(name, f"everything under {directory}/", f"Work on {directory}/.",
                                [f"/{_glob_literal(directory)}/**"], len(paths)))
    kept = {d for d, _ in own}
    for directory, paths in ranked:
        if directory in kept:
            continue
        target = streams[0] if streams else infra
        _take(target, f"/{_glob_literal(directory)}/**", paths)
        target.folded.append(f"{directory}/")
    for container, paths in loose.items():  # files directly in src/: to the largest stream under it
        under = [s for s in streams if s.paths[0].startswith(f"/{_glob_literal(container)}/")] or streams or [infra]
        for path in paths:
            _take(under[0], f"/{_glob_literal(path)}", [path])
        under[0].folded.append(f"the files directly in {container}/")
    return streams


def _root_patterns(names: list[str], docs: bool = False) -> list[tuple[str, list[str]]]:
    """Root files as anchored patterns: a family that has several members (compose*.yml) as one glob."""
    found: list[tuple[str, list[str]]] = []
    left = sorted(names)
    families = ("*.md", "*.rst") if docs else ROOT_FAMILIES
    for family in families:
        regex = re.compile("^" + re.escape(family).replace(r"\*", "[^/]*") + "$")
        members = [n for n in left if regex.match(n)]
        if len(members) > 1:
            found.append((f"/{family}", members))
            left = [n for n in left if n not in members]
    found += [(f"/{_glob_literal(n)}", [n]) for n in left]
    return found


def _take(stream: Proposed, pattern: str, paths: list[str]) -> None:
    stream.paths.append(pattern)
    stream.files += len(paths)


def _stream_name(directory: str) -> str:
    return re.sub(r"[^a-z0-9_-]+", "-", directory.split("/")[-1].lower()).strip("-_")[:MAX_NAME] or "stream"


def _unique(stem: str, taken: set[str]) -> str:
    name, number = stem, 2
    while name in taken:
        name = f"{stem[:MAX_NAME - 3].rstrip('-_')}-{number}"
        number += 1
    return name


def _glob_literal(name: str) -> str:
    """A file or directory name as a gitignore pattern that matches just that name."""
    escaped = re.sub(r"([\\*?\[])", r"\\\1", name)
    # Trailing spaces are dropped from a gitignore pattern unless escaped.
    kept = len(escaped.rstrip(" "))
    escaped = escaped[:kept] + "\\ " * (len(escaped) - kept)
    return "\\" + escaped if escaped[:1] in ("!", "#") else escaped


def render(base: str, proposal: Proposal) -> str:
    lines = [
        "# zones.yaml: which stream (agent session) may change which paths.",
        "# Patterns are gitignore-style, relative to the repository root (a leading / anchors one there).",
        "# Edit, check with `wta zones` and `wta explain PATH`, then commit it on the base branch.",
        "version: 1",
        f"base: {base}",
        "unowned: deny            # paths no zone claims: no stream may change them",
    ]
    if proposal.read_only:
        lines.append("# vendored or generated code that is tracked: no stream changes it")
    # JSON strings are valid YAML double-quoted scalars, whatever a file is called.
    lines.append(f"read_only: [{', '.join(json.dumps(p) for p in proposal.read_only)}]"
                 + ("" if proposal.read_only else "            # paths no stream may change (zones.yaml always is)"))
    lines += ["max_parallel: 4", "agent:", "  runner: claude         # claude | api | command | manual", "streams:"]
    streams = proposal.streams or [Proposed("main", "the whole repository", "Work on the repository.", ["**"])]
    for s in streams:
        lines += [f"  # {s.comment}", f"  {s.name}:", "    paths:"]
        lines += [f"      - {json.dumps(p)}" for p in s.paths]
        lines.append(f"    prompt: {json.dumps(s.task)}")
    return "\n".join(lines) + "\n"


def _detached_base(project) -> str:
    """The base for a repository whose HEAD is detached: main or master if there, else its only branch."""
    from worktree_agents import git

    heads = git.branch_heads(project.main, project.env)
    for name in ("main", "master"):
        if name in heads:
            return name
    return next(iter(heads)) if len(heads) == 1 else "main"


def run(force: bool = False) -> int:
    project = Project.find()
    path = os.path.join(project.toplevel, CONFIG_FILE)
    if project.toplevel != project.main:
        raise WtaError(f"{project.toplevel}: this is a linked worktree; run `wta init` in the main worktree "
                       f"({project.main})")
    if os.path.isdir(path):
        raise WtaError(f"{path}: is a directory; move it away, then run `wta init` again")
    if os.path.lexists(path) and not force:   # a link too, even one to nothing: never written through
        raise WtaError(f"{path}: already exists; edit it, or pass --force to overwrite it")
    from worktree_agents import git

    base = git.current_branch(project.toplevel, project.env) or _detached_base(project)
    text = render(base, propose(project.tracked_files()))
    from worktree_agents.config import load_text

    load_text(text, path, project.main)  # never write a file wta itself would reject
    from worktree_agents.files import write_atomic

    write_atomic(path, text)   # replaces a link with --force, never the file it points to
    print(f"wrote {path}; check it with `wta zones`, then commit it on {base!r}")
    return 0
