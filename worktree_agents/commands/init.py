"""`wta init`: a starter zones.yaml drawn from the repository's layout.

It writes what a person would: one stream per body of code, an `infra` stream for
CI, containers and the root configuration every stream depends on, a `docs` stream
for the documentation and the root markdown, tiny folders folded into a neighbour,
vendored code read-only, and a comment saying why each stream exists. A file added
next to the others (a new module, package or root config file) has an owner too:
infra takes the top level's other files (`/*`) and the rest of a container of several
streams (packages/a, packages/b: its own files and the packages to come), and a
container's one member with a stream the rest of that container (docs/zones.md). No stream that owns no tracked
file is written: with none left for infra there is no infra, and init says what that leaves unowned. And `test:`,
when the files at the top level say how the tests run (a Makefile's `test` target first, then the language's runner).
"""

from __future__ import annotations

import json
import os
import re
import unicodedata
from dataclasses import dataclass, field

from worktree_agents.errors import WtaError
from worktree_agents.project import Project
from worktree_agents.zones import CONFIG_FILE

# Directories that hold many concerns: their subdirectories become the streams.
CONTAINERS = {"src", "lib", "libs", "app", "apps", "packages", "services", "pkg", "internal", "cmd", "crates",
              "modules", "plugins"}
# Vendored code that is tracked: no stream should change it.
VENDORED = {"node_modules", "vendor", "third_party"}
# Built output that is tracked (a GitHub Action's dist/): rebuilt with the code, so it goes with the largest stream.
BUILT = {"dist"}
# Directories of documentation, and of the pictures the README shows.
DOC_DIRS = {"docs", "doc", "documentation", "img", "images", "screenshots", "licenses"}
# Directories of tooling: scripts, hooks, build and deployment.
TOOL_DIRS = {"scripts", "script", "hooks", "bin", "tools", "ci", "deploy", "deployment", "docker", "k8s", "helm",
             "terraform", "ops", "build", "infra", "infrastructure"}
# Root files that are documentation rather than configuration.
DOC_FILE = re.compile(r"(?i)^(.*\.(md|rst|adoc)|(readme|license|licence|copying|copyright|notice|authors|contributors"
                      r"|changelog|changes|news)([-.].*)?)$")
# Root files that are code: with TINY or more of them, the top level is a body of code of its own.
CODE_FILE = re.compile(r"(?i)^[^.].*\.(py|go|rs|js|jsx|mjs|ts|tsx|rb|java|kt|c|h|cc|cpp|hpp|cs|php|swift|scala|ex|"
                       r"exs|erl|hs|ml|lua|pl|r|jl|dart|clj|zig|nim|vue|svelte)$")
# Code files at the top level that configure a tool rather than hold the project's code (vite.config.ts,
# next-env.d.ts, setup.py, noxfile.py): root configuration, for infra.
TOOL_CODE = re.compile(r"(?i)(^|[._-])(config|conf|rc|setup|noxfile|fabfile|gulpfile|gruntfile|jakefile|rakefile|"
                       r"webpack|rollup|vite|vitest|jest|babel|eslint|prettier|tailwind|postcss|next-env|tsup|karma|"
                       r"metro|conftest|tasks|dodo|build)([._-]|$)|\.d\.ts$")
# The names of the two groups: a body of code called so is named with its parent (apps/docs: apps-docs).
GROUPS = ("infra", "docs")
# A body of code with fewer files than this joins another instead of getting a stream, unless every one is
# that small; at most MAX_CODE_STREAMS get one.
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
    own: int = 0                                        # files of its own body, the others having joined it
    joined: dict[str, list[str]] = field(default_factory=dict)   # why -> the folders that joined it

    @property
    def comment(self) -> str:
        counted = f"{self.files} file{'' if self.files == 1 else 's'}"
        if self.joined and self.own:
            counted = f"{self.own} file{'' if self.own == 1 else 's'}; {self.files} in all"
        text = f"{self.why} ({counted})"
        for reason, folders in self.joined.items():
            text += f"; with {', '.join(folders)}: {reason}"
        return _printable(text)

    def join(self, reason: str, folder: str) -> None:
        self.joined.setdefault(reason, []).append(folder)


@dataclass
class Proposal:
    streams: list[Proposed]
    read_only: list[str]
    unclaimed: list[str] = field(default_factory=list)   # where new files have no owner: no stream was left for it

    @property
    def note(self) -> str | None:
        """Why there is no infra stream, and what that leaves without an owner; None when nothing is."""
        if not self.unclaimed:
            return None
        return (f"no infra stream: no tracked file is left for it; a file added at {' or in '.join(self.unclaimed)} "
                "that no zone claims stays unowned until you give it a zone")


@dataclass
class _Body:
    """A body of code: a folder (or the top level's code files), its files, and the patterns that claim it."""
    where: str              # "src/api", "backend"; "" for the code files at the top level
    files: list[str]
    container: str | None = None   # the container it lies in (src), if any

    @property
    def label(self) -> str:
        return f"{self.where}/" if self.where else "the code at the top level"


TOO_SMALL = "too small for a stream of their own"
OVER_LIMIT = f"over the limit of {MAX_CODE_STREAMS} code streams"


def propose(files: list[str], repository: str = "root") -> Proposal:
    """The streams (and read-only paths) for a repository with these tracked files (`repository`: its
    folder's name, which names the stream of code at its top level)."""
    infra = Proposed("infra", "CI, containers and the root configuration: the files every stream depends on",
                     "Keep CI, the containers and the root configuration working for every stream.")
    docs = Proposed("docs", "documentation and the root markdown", "Keep the documentation in step with the code.")
    read_only: list[str] = []
    bodies: list[_Body] = []
    containers: dict[str, list[str]] = {}   # container -> the files directly inside it
    built: list[tuple[str, list[str]]] = []
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
        elif top in BUILT:
            built.append((top, paths))
        elif top.startswith(".") or top.lower() in TOOL_DIRS:
            _take(infra, pattern, paths)
        elif top.lower() in DOC_DIRS:
            _take(docs, pattern, paths)
        elif top in CONTAINERS and any(p.count("/") > 1 for p in paths):
            members: dict[str, list[str]] = {}
            for p in paths:
                parts = p.split("/")
                if len(parts) > 2:
                    members.setdefault(parts[1], []).append(p)
            bodies += [_Body(f"{top}/{member}", member_paths, top) for member, member_paths in members.items()]
            containers[top] = [p for p in paths if p.count("/") == 1]
        else:
            bodies.append(_Body(top, paths))
    code_at_root = [f for f in root if CODE_FILE.match(f) and not DOC_FILE.match(f) and not TOOL_CODE.search(f)]
    if len(code_at_root) < TINY:
        code_at_root = []
    else:
        bodies.append(_Body("", code_at_root))
    streams = _code_streams(bodies, containers, infra, _stream_name(repository) or "root")
    for top, paths in built:
        target = streams[0] if streams else infra
        _take(target, f"/{_glob_literal(top)}/**", paths)
        target.join("built from its code", f"{top}/")
    doc_files = [f for f in root if DOC_FILE.match(f)]
    for pattern, paths in _doc_patterns(doc_files):
        _take(docs, pattern, paths)
    for stream in [*streams, docs]:   # a root glob (/*.md) claims a folder of that name too (LICENSES/, spec.md/)
        stream.paths = [q for p in stream.paths for q in _files_only(p, list(by_top))]
    _root_catch_all(infra, [f for f in root if f not in doc_files and not (code_at_root and CODE_FILE.match(f))],
                    [p for s in [*streams, docs] for p in s.paths if p.count("/") == 1 and not p.startswith("!")])
    taken = {s.name for s in streams}
    unclaimed: list[str] = []
    for group in (infra, docs):
        if not group.files:
            # Patterns but no tracked file (a monorepo whose top level is the packages' and docs' alone): a
            # stream with nothing to work on, whose session `wta up` would start all the same. Left out: the
            # files added where it would have taken them have no owner until a zone claims them.
            unclaimed += ["the top level"] * ("/*" in group.paths)
            unclaimed += [f"{p[1:-3]}/" for p in group.paths if p.endswith("/**") and not p.startswith("!")]
            continue
        group.name = _unique(group.name, taken)
        taken.add(group.name)
        streams.append(group)
    return Proposal(streams, read_only, unclaimed)


def _code_streams(bodies: list[_Body], containers: dict[str, list[str]], infra: Proposed,
                  repository: str) -> list[Proposed]:
    """One stream per body of code, largest first. Tiny ones, and those past the limit, join another: the
    stream that takes the rest of their container (its other files and the members to come), else the
    largest stream."""
    ranked = sorted(bodies, key=lambda b: -len(b.files))  # stable: ties keep the layout's order
    big = [b for b in ranked if len(b.files) >= TINY]
    if not big and not any(len(loose) >= TINY for loose in containers.values()):
        big = ranked   # every body is tiny: each gets a stream all the same
    own = big[:MAX_CODE_STREAMS]
    streams: list[Proposed] = []
    names: set[str] = set(GROUPS)
    of: dict[str, Proposed] = {}   # body.where -> its stream
    for body in own:
        name = _unique(_body_name(body, repository), names)
        names.add(name)
        where = f"everything under {body.where}/" if body.where else "the code at the top level"
        task = f"Work on {body.where}/." if body.where else "Work on the code at the top level."
        stream = Proposed(name, where, task, _body_patterns(body), len(body.files), len(body.files))
        streams.append(stream)
        of[body.where] = stream
    for container, loose in containers.items():
        inside = [b for b in own if b.container == container]
        rest = [b for b in ranked if b.container == container and b not in own]
        everything = f"/{_glob_literal(container)}/**"
        if len(inside) > 1 and len(loose) < TINY:
            # Peers (packages/a, packages/b): each keeps its own; the small ones join the largest, and infra
            # takes the rest (the container's own files, the members added later), none of theirs.
            owner = of[inside[0].where]
            for body in rest:
                owner.paths += _body_patterns(body)
                owner.files += len(body.files)
                owner.join(TOO_SMALL if len(body.files) < TINY else OVER_LIMIT, f"{body.where}/")
            infra.paths += [everything, *(f"!/{_glob_literal(b.where)}/**" for b in inside + rest)]
            infra.files += len(loose)
            infra.join("its own files and the folders added to it", f"the rest of {container}/")
            continue
        if inside and len(loose) < TINY:
            # Its one member with a stream (src/tinyhttp) takes the rest of the container.
            owner = of[inside[0].where]
            owner.paths.remove(_body_patterns(inside[0])[0])
            others = loose or rest or len(inside) > 1
            owner.why = (f"{inside[0].where}/ and the rest of {container}/" if others
                         else f"everything under {container}/")
            if len(loose) + sum(len(b.files) for b in rest) > owner.own:   # mostly the rest: named after it all
                names.discard(owner.name)
                owner.name = _unique(_stream_name(container) or owner.name, names)
                names.add(owner.name)
                owner.task = f"Work on {container}/."
        else:
            # Its files directly inside are a body of their own, or no member has a stream.
            others = f" but {', '.join(b.where + '/' for b in inside)}" if inside else ""
            owner = Proposed(_unique(_stream_name(container) or "code", names),
                             f"everything under {container}/{others}", f"Work on {container}/.", [], 0, len(loose))
            names.add(owner.name)
            streams.append(owner)
        owner.paths[:0] = [everything, *(f"!/{_glob_literal(b.where)}/**" for b in inside if of[b.where] is not owner)]
        owner.files += len(loose) + sum(len(b.files) for b in rest)
        for body in rest:
            owner.join(TOO_SMALL if len(body.files) < TINY else OVER_LIMIT, f"{body.where}/")
    for body in ranked:
        if body.where in of or body.container is not None:
            continue
        target = streams[0] if streams else infra
        for pattern in _body_patterns(body):
            _take(target, pattern, [])
        target.files += len(body.files)
        target.join(TOO_SMALL if len(body.files) < TINY else OVER_LIMIT, body.label)
    return streams


def _files_only(pattern: str, folders: list[str]) -> list[str]:
    """A glob at the top level (`/*.md`, `/LICENSE*`) and, when a top-level folder's name matches it too,
    the pattern that leaves such folders out (`!/*.md/`): they are zones of their own."""
    glob = pattern[1:]
    if pattern.startswith("!") or pattern.count("/") != 1 or "*" not in glob:
        return [pattern]
    regex = re.compile("^" + re.escape(glob).replace(r"\*", ".*") + "$")
    return [pattern, f"!{pattern}/"] if any(regex.match(folder) for folder in folders) else [pattern]


def _body_patterns(body: _Body) -> list[str]:
    """What claims a body: its folder, or (the top level's code) each of its files' extensions there."""
    if body.where:
        return [f"/{_glob_literal(body.where)}/**"]
    return [f"/*.{_glob_literal(ext)}" for ext in sorted({f.rsplit(".", 1)[1] for f in body.files})]


def _body_name(body: _Body, repository: str) -> str:
    if not body.where:
        return repository
    name = _stream_name(body.where)
    if name in GROUPS:   # apps/docs: apps-docs, never the name of the documentation's stream
        name = _stream_name(body.where.replace("/", "-"))
    return name or "code"


def _root_catch_all(infra: Proposed, files: list[str], others: list[str]) -> None:
    """The top level's other files to infra: every file there, new ones included, but those other streams'
    patterns claim (their root patterns, negated) and the folders (each a zone of its own)."""
    if not files and not infra.paths:   # (infra there already: new root files to it too)
        return
    infra.paths[:0] = ["/*", "!/*/", *(f"!{p}" for p in others)]
    infra.files += len(files)


def _doc_patterns(names: list[str]) -> list[tuple[str, list[str]]]:
    """The top level's documentation as anchored patterns: a kind of which there is one (`*.md`), or a
    family of which there are several (LICENSE-MIT, LICENSE-APACHE), as one glob, so that a new one has
    an owner too."""
    found: list[tuple[str, list[str]]] = []
    left = sorted(names)
    for family, least in (("*.md", 1), ("*.rst", 1), ("*.adoc", 1), ("LICENSE*", 2)):
        regex = re.compile("^" + re.escape(family).replace(r"\*", "[^/]*") + "$")
        members = [n for n in left if regex.match(n)]
        if len(members) >= least:
            found.append((f"/{family}", members))
            left = [n for n in left if n not in members]
    found += [(f"/{_glob_literal(n)}", [n]) for n in left]
    return found


def _take(stream: Proposed, pattern: str, paths: list[str]) -> None:
    stream.paths.append(pattern)
    stream.files += len(paths)


def _stream_name(directory: str) -> str:
    """A stream name from a folder's: lower-case letters and digits (accents dropped: données, donnees), the
    rest `-`; empty when nothing is left (ドキュメント)."""
    plain = "".join(c for c in unicodedata.normalize("NFKD", directory.split("/")[-1]) if not unicodedata.combining(c))
    return re.sub(r"[^a-z0-9_-]+", "-", plain.lower()).strip("-_")[:MAX_NAME]


def _printable(text: str) -> str:
    """Text for a one-line YAML comment: control characters (a newline in a folder's name) as escapes."""
    return "".join(c.encode("unicode_escape").decode() if unicodedata.category(c).startswith("C") else c
                   for c in text)


def _quoted(text: str) -> str:
    """A YAML double-quoted scalar: a JSON string, with DEL escaped too (YAML refuses it raw)."""
    return json.dumps(text).replace("\x7f", "\\u007f")


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


# The test command, from the files at the top level: the Makefile's `test` target first (the project chose it as
# its entry point, and it sets up what the bare runner lacks: a build, flags, the environment), then the runner of
# its language. The first found is written as `test:`; none, no `test:` (wta merge then runs no test).
MAKEFILES = ("GNUmakefile", "makefile", "Makefile")   # the order make looks for them in
PYTEST_CONFIG = {"pytest.ini": "", "pyproject.toml": "[tool.pytest", "setup.cfg": "[tool:pytest]",
                 "tox.ini": "[pytest]", "conftest.py": ""}
NPM_PLACEHOLDER = "no test specified"   # `npm init`'s test script, which fails on purpose
READ_AT_MOST = 1 << 20


def detect_test(root: str, tracked: list[str]) -> tuple[str, str] | None:
    """The command `wta merge` should run as `test:`, and where it was found; None when none is."""
    top = {f for f in tracked if "/" not in f}
    makefile = next((name for name in MAKEFILES if name in top), None)
    if makefile is not None and _has_test_target(_read(root, makefile)):
        return "make test", f"the {makefile}'s test target"
    if "package.json" in top:
        try:
            scripts = json.loads(_read(root, "package.json")).get("scripts") or {}
        except (ValueError, AttributeError):
            scripts = {}
        script = scripts.get("test") if isinstance(scripts, dict) else None
        if isinstance(script, str) and script.strip() and NPM_PLACEHOLDER not in script:
            tool = "pnpm" if "pnpm-lock.yaml" in top else "yarn" if "yarn.lock" in top else "npm"
            return f"{tool} test", "package.json's test script"
    for name, section in PYTEST_CONFIG.items():
        if name in top and section in _read(root, name):
            return "pytest", f"pytest's configuration in {name}"
    if "Cargo.toml" in top:
        return "cargo test", "Cargo.toml"
    if "go.mod" in top:
        return "go test ./...", "go.mod"
    return None


def _has_test_target(makefile: str) -> bool:
    """A rule for `test` in it (`test:`, `test lint:`, `test::`), not a variable (`test := ...`)."""
    for line in makefile.splitlines():
        if line[:1] in ("\t", " ", "#", ".") or ":" not in line:
            continue
        targets, rest = line.split(":", 1)
        if not rest.startswith("=") and "=" not in targets and "test" in targets.split():
            return True
    return False


def _read(root: str, name: str) -> str:
    """The start of a file at the top level: nothing for one that is no regular file (a link to a pipe would
    never end)."""
    path = os.path.join(root, name)
    if not os.path.isfile(path):
        return ""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read(READ_AT_MOST)
    except OSError:
        return ""


def render(base: str, proposal: Proposal, test: tuple[str, str] | None = None) -> str:
    lines = [
        "# zones.yaml: which stream (agent session) may change which paths.",
        "# Patterns are gitignore-style, relative to the repository root (a leading / anchors one there).",
        "# Edit, check with `wta zones` and `wta explain PATH`, then commit it on the base branch.",
        "version: 1",
        f"base: {base}",
        "unowned: deny            # paths no zone claims: no stream may change them",
    ]
    if proposal.read_only:
        lines.append("# vendored code that is tracked: no stream changes it")
    # JSON strings are valid YAML double-quoted scalars, whatever a file is called.
    lines.append(f"read_only: [{', '.join(_quoted(p) for p in proposal.read_only)}]"
                 + ("" if proposal.read_only else "            # paths no stream may change (zones.yaml always is)"))
    if test is not None:
        # (test[0] is one of detect_test's own commands, a plain YAML scalar as it stands)
        lines.append(f"{'test: ' + test[0]:<24} # run by wta merge after each rebase ({_printable(test[1])})")
    lines += ["max_parallel: 4", "agent:", "  runner: claude         # claude | api | command | manual", "streams:"]
    streams = proposal.streams or [Proposed("main", "the whole repository", "Work on the repository.", ["**"])]
    for s in streams:
        lines += [f"  # {s.comment}", f"  {s.name}:", "    paths:"]
        lines += [f"      - {_quoted(p)}" for p in s.paths]
        lines.append(f"    prompt: {_quoted(_printable(s.task))}")
    if proposal.note:
        lines.append(f"  # {_printable(proposal.note)}")
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
    tracked = [f for f in project.tracked_files() if f != CONFIG_FILE]
    if not tracked:
        raise WtaError(f"{project.toplevel}: no file is tracked yet, so there is no layout to draw zones from; "
                       "commit the code first (git add, git commit), then run `wta init`")
    proposal = propose(tracked, os.path.basename(project.toplevel))
    text = render(base, proposal, detect_test(project.toplevel, tracked))
    from worktree_agents.config import load_text

    load_text(text, path, project.main)  # never write a file wta itself would reject
    from worktree_agents.files import write_atomic

    write_atomic(path, text)   # replaces a link with --force, never the file it points to
    print(f"wrote {path}; check it with `wta zones`, then commit it on {base!r}")
    if proposal.note:
        print(proposal.note)
    return 0
