"""zones.yaml: the schema, its defaults, and every configuration error.

The schema is pydantic; this module maps each pydantic error back to the
`file:line:column` of the YAML node that caused it and words it as one line
with the fix. All problems are reported at once.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Iterator, Literal, Optional

import yaml
from pydantic import (AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError,
                      ValidationInfo)

from worktree_agents.errors import WtaError, no_zones_yaml
from worktree_agents.repo import stream_branch
from worktree_agents.zones import CONFIG_FILE
from worktree_agents.zones.matcher import PatternError, PatternList, Rule, git_glob
from worktree_agents.zones.ownership import Zone, ZoneMap

SUPPORTED_VERSION = 1
MAX_STREAM_NAME = 63
STREAM_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
DURATION = re.compile(r"^(\d+)(s|m|h|d)$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class ConfigError(WtaError):
    """zones.yaml is invalid; the message holds one line per problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


# -- field types ------------------------------------------------------------

def parse_duration(value: Any) -> int:
    """Seconds in `90s`, `30m`, `2h` or `30d`; ValueError saying how to write one."""
    if isinstance(value, bool) or not isinstance(value, str) or not DURATION.match(value.strip()):
        raise ValueError(f"bad duration {value!r}; write a number with a unit: 90s, 30m, 2h or 30d")
    number, unit = DURATION.match(value.strip()).groups()  # type: ignore[union-attr]
    if int(number) == 0:
        raise ValueError(f"duration {value!r} is zero; give a positive duration such as 30m")
    return int(number) * _UNITS[unit]


Duration = Annotated[int, BeforeValidator(parse_duration)]


def _version(value: Any) -> int:
    # Literal[1] would accept `1.0` and `true` (both == 1); only the integer 1 is version 1.
    if type(value) is int and value == SUPPORTED_VERSION:
        return value
    if isinstance(value, str) and value.strip() == str(SUPPORTED_VERSION):
        raise ValueError(f"version {value!r} is a string; write `version: {SUPPORTED_VERSION}` without quotes")
    raise ValueError(f"unsupported version {value!r}; this wta reads `version: {SUPPORTED_VERSION}`")


def _pattern(value: str, info: ValidationInfo) -> str:
    body = value[1:] if value.startswith("!") else value
    if not body.strip():
        raise ValueError("empty pattern; remove it or write a path glob such as src/**")
    if body.startswith("#"):
        raise ValueError(f"pattern {value!r} is a comment in gitignore syntax; write \\# for a literal #")
    if any(part == ".." for part in body.replace("\\", "/").split("/")):
        raise ValueError(f"pattern {value!r} leaves the repository ('..'); patterns are relative to the repository root")
    if re.match(r"^[A-Za-z]:[\\/]", body) or body.startswith("~"):
        raise ValueError(f"pattern {value!r} is an absolute path; write it relative to the repository root")
    root = (info.context or {}).get("repo_root")
    if root:
        for location in {str(root), str(Path(root).resolve())}:
            if body == location or body.startswith(location.rstrip("/") + "/"):
                raise ValueError(f"pattern {value!r} spells out the repository's absolute location; "
                                 f"write it relative to the repository root ({body[len(location):].lstrip('/') or '**'})")
    try:
        git_glob(value)
    except PatternError as exc:
        raise ValueError(f"pattern {value!r} has {exc}") from None
    try:
        import pathspec
        pathspec.GitIgnoreSpec.from_lines([value])
    except Exception as exc:  # pathspec raises several types for bad globs
        raise ValueError(f"pattern {value!r} is not a valid gitignore pattern ({exc}); fix the glob") from None
    return value


Pattern = Annotated[str, AfterValidator(_pattern)]


def _copy_entry(value: str) -> str:
    # A path or glob in the main worktree, copied to the same place in each stream worktree.
    body = value.strip()
    if not body.lstrip("/"):
        raise ValueError("empty `copy:` entry; remove it or name an untracked file such as .env.local")
    if any(part == ".." for part in body.replace("\\", "/").split("/")):
        raise ValueError(f"{value!r} leaves the repository ('..'); name a file inside the main worktree, "
                         "relative to its top")
    if re.match(r"^[A-Za-z]:[\\/]", body) or body.startswith("~"):
        raise ValueError(f"{value!r} is an absolute path; name the file relative to the repository root")
    return value


CopyEntry = Annotated[str, AfterValidator(_copy_entry)]


def _stream_name(value: str) -> str:
    if len(value) > MAX_STREAM_NAME:
        raise ValueError(f"stream name {_short(value)} is too long ({len(value)} characters); "
                         f"use at most {MAX_STREAM_NAME}")
    if not STREAM_NAME.match(value):
        raise ValueError(f"invalid stream name {value!r}; use lowercase letters, digits, '-' and '_' "
                         "(starting with a letter or digit)")
    return value


StreamName = Annotated[str, AfterValidator(_stream_name)]


def _ref_part(value: str) -> str:
    if (not value or value.startswith("-") or ".." in value or "//" in value or value.endswith(".lock")
            or value.startswith("/") or re.search(r"[\s~^:?*\[\\]|@\{", value)):
        raise ValueError(f"{value!r} cannot be part of a git branch name; use letters, digits, '/', '-', '_' or '.'")
    return value


def _prefix(value: str) -> str:
    return _ref_part(value) if value else value


def _branch(value: str) -> str:
    _ref_part(value)
    if value.endswith("/"):
        raise ValueError(f"branch {value!r} ends with '/'; name a branch such as main")
    return value


def _template(value: str) -> str:
    fields = set(re.findall(r"{([^{}]*)}", value))
    unknown = fields - {"repo", "stream"}
    if unknown:
        raise ValueError(f"unknown placeholder {{{sorted(unknown)[0]}}}; only {{repo}} and {{stream}} are filled in")
    if "stream" not in fields:
        raise ValueError("the worktrees template must contain {stream} so each stream gets its own worktree")
    return value


def _string_list(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


PermissionMode = Literal["acceptEdits", "auto", "bypassPermissions", "default", "dontAsk", "manual", "plan"]


RUNNERS = ("claude", "api", "command", "manual")   # the modules of worktree_agents.sessions
RUNNER_DOC = "how the session runs: `claude` (Claude Code CLI), `api` (Anthropic API), `command` (any agent CLI), `manual` (a person in an editor)"


class AgentSettings(Strict):
    """A stream's `agent:` block: every key optional, overriding the defaults."""

    runner: Optional[Literal[RUNNERS]] = Field(None, description=RUNNER_DOC)
    model: Optional[str] = Field(None, description="the model the session uses")
    max_turns: Optional[int] = Field(None, ge=1, description="the most agent turns a session may take")
    timeout: Optional[Duration] = Field(None, description="a session still running after this is killed, "
                                                          "with its whole process tree, and marked failed")
    command: Optional[str] = Field(None, description="for `runner: command`: the agent CLI to run; "
                                                     "`{prompt}`, `{prompt_file}`, `{stream}`, `{worktree}` are "
                                                     "filled in")
    permission_mode: Optional[PermissionMode] = Field(None, description="Claude Code's `--permission-mode` for "
                                                                        "headless sessions")


class Agent(Strict):
    """The top-level `agent:` defaults."""

    runner: Literal[RUNNERS] = Field("claude", description=RUNNER_DOC)
    model: str = Field("claude-sonnet-4-6", description="the model the session uses")
    max_turns: int = Field(60, ge=1, description="the most agent turns a session may take")
    timeout: Duration = Field(7200, description="a session still running after this is killed, with its whole "
                                                "process tree, and marked failed")
    command: Optional[str] = Field(None, description="for `runner: command`: the agent CLI to run; `{prompt}`, "
                                                     "`{prompt_file}`, `{stream}`, `{worktree}` are filled in")
    # Headless sessions must edit and commit unattended.
    permission_mode: PermissionMode = Field("bypassPermissions", description="Claude Code's `--permission-mode` "
                                                                             "for headless sessions")

    def merged(self, override: Optional[AgentSettings]) -> "Agent":
        if override is None:
            return self
        return self.model_copy(update=override.model_dump(exclude_none=True))


class Check(Strict):
    name: str = Field(min_length=1, description="the check's name in alerts")
    run: str = Field(min_length=1, description="shell command; a non-zero exit or a timeout raises an alert")
    every: Duration = Field(60, description="how often `wta watch` runs it")
    timeout: Duration = Field(30, description="how long one run may take")


def _off(value: Any) -> Any:
    # YAML 1.1 reads a bare `off` as false.
    return "off" if value is False else value


def _sandbox_path(path: str) -> str:
    if not (path.startswith("/") or path == "~" or path.startswith("~/")):
        raise ValueError(f"{path!r} is not an absolute path; write it from / or from ~/")
    return path


def _zone(patterns: list[str]) -> list[str]:
    # Negations only take away from what earlier patterns matched: alone they own nothing.
    if patterns and all(p.startswith("!") for p in patterns):
        raise ValueError("zone has no positive pattern; `!` patterns only exclude paths from the ones "
                         "listed before them, so list the paths the stream owns first")
    return patterns


class Stream(Strict):
    paths: Annotated[list[Pattern], Field(min_length=1), AfterValidator(_zone)] = Field(
        description="the stream's zone: gitignore-style patterns relative to the repository root (`!` excludes)")
    after: list[str] = Field([], description="streams that must end `done` and land on the base before this one "
                                             "starts, from a base that contains their work; they also land before it")
    prompt: Optional[str] = Field(None, description="the session's task (the zone rules are added to it)")
    prompt_file: Optional[str] = Field(None, description="a file in the repository holding the task, instead "
                                                         "of `prompt`")
    agent: Optional[AgentSettings] = Field(None, description="overrides of the top-level `agent:` keys for "
                                                             "this stream")
    append_only: bool = Field(False, description="existing files in the zone may only gain lines at their end "
                                                 "(new files are fine)")


class Config(Strict):
    version: Annotated[int, BeforeValidator(_version)] = Field(description="the format version; must be 1")
    base: Optional[Annotated[str, AfterValidator(_branch)]] = Field(
        None, description="the integration branch; unset: the branch checked out in the main worktree")
    branch_prefix: Annotated[str, AfterValidator(_prefix)] = Field(
        "wta/", description="stream branch = `<branch_prefix><stream>`")
    worktrees: Annotated[str, AfterValidator(_template)] = Field(
        "../{repo}-worktrees/{stream}", description="worktree path template, relative to the repository root")
    unowned: Literal["deny", "allow"] = Field("deny", description="may a stream change a path that no zone "
                                                                  "claims?")
    read_only: Annotated[list[Pattern], BeforeValidator(_string_list)] = Field(
        [], description="patterns no stream may change (zones.yaml itself always is read-only)")
    copy_: Annotated[list[CopyEntry], BeforeValidator(_string_list)] = Field(
        [], alias="copy", description="untracked files copied from the main worktree into each new worktree "
                                      "(and git-ignored there)")
    setup: Annotated[list[str], BeforeValidator(_string_list)] = Field(
        [], description="shell commands run once in each new worktree; a failure fails only that stream")
    test: Optional[str] = Field(None, description="shell command `wta merge` runs after each rebase, before the "
                                                  "base moves")
    max_parallel: int = Field(4, ge=1, description="sessions running at once")
    sparse: bool = Field(False, description="worktrees check out only the zone, read_only paths and top-level "
                                            "files")
    base_port: int = Field(4100, ge=1, le=65535, description="stream i gets `WTA_PORT = base_port + i`")
    stall_after: Duration = Field(1800, description="a running session with no output and no commit for this "
                                                    "long is `stalled`")
    checks: list[Check] = Field([], description="health checks that `wta watch` runs")
    notify: Optional[str] = Field(None, description="shell command run when a session ends or an alert starts "
                                                    "or clears; `{stream}`, `{state}`, `{message}` are filled in")
    land: Literal["manual", "auto"] = Field(
        "manual", description="`auto`: each stream lands on the base (verified, tested, as `wta merge`) as soon "
                              "as its session ends done; `manual`: only `wta merge` lands")
    land_retries: int = Field(2, ge=0, description="follow-up sessions a stream gets when landing it fails "
                                                   "(conflict, test, zone) before it is `blocked`")
    merge: Literal["rebase", "squash"] = Field(
        "rebase", description="how a stream lands: its commits rebased onto the base, or one `[stream]` commit "
                              "listing their subjects")
    sandbox: Annotated[Literal["auto", "required", "off"], BeforeValidator(_off)] = Field(
        "auto", description="sessions, `setup:` and `test:` run sandboxed (bubblewrap): they write only in their "
                            "own worktree and branch; `auto`: where bubblewrap works, `required`: refuse to start "
                            "without it, `off`: never")
    sandbox_write: Annotated[list[Annotated[str, AfterValidator(_sandbox_path)]], BeforeValidator(_string_list)] = Field(
        [], description="more paths sandboxed processes may write (absolute or `~/...`), e.g. a package "
                        "manager's store")
    agent: Agent = Field(Agent(), description="defaults for every stream's session")
    streams: dict[StreamName, Stream] = Field(min_length=1, description="the streams, by name (lowercase "
                                                                        "letters, digits, `-`, `_`)")

    # -- derived views -------------------------------------------------------

    def zone_map(self) -> ZoneMap:
        return ZoneMap(
            zones={name: Zone(name, compile_patterns(s.paths), s.append_only) for name, s in self.streams.items()},
            read_only=compile_patterns(self.read_only),
            unowned_allowed=self.unowned == "allow",
            config_file=CONFIG_FILE,
        )

    def agent_for(self, stream: str) -> Agent:
        return self.agent.merged(self.streams[stream].agent)

    def branch_for(self, stream: str) -> str:
        return stream_branch(self.branch_prefix, stream)

    def port_for(self, stream: str) -> int:
        """WTA_PORT: base_port plus the stream's position in zones.yaml (0 for the first)."""
        return self.base_port + list(self.streams).index(stream)

    def order(self) -> list[str]:
        """Streams with every `after` dependency first, otherwise in file order."""
        done: list[str] = []
        pending = list(self.streams)
        while pending:
            ready = next(s for s in pending if all(d in done for d in self.streams[s].after))
            done.append(ready)
            pending.remove(ready)
        return done


def compile_patterns(patterns: list[str]) -> PatternList:
    """Compile gitignore-style patterns to the regexes the zone engine runs."""
    import pathspec

    rules = []
    for text in patterns:
        # Bytes as git matches them; bracket expressions as git reads them (matcher.git_glob),
        # everything else as pathspec compiles it.
        glob, classes, slash = git_glob(text)
        if glob.endswith("/**/") and glob.lstrip("!/") != "**/":
            # git reads `dir/**/` as the directories inside dir; pathspec as dir/ itself.
            glob += "*/"
        if slash and "/" not in glob.lstrip("!").rstrip("/"):
            glob = ("!/" + glob[1:]) if glob.startswith("!") else "/" + glob  # anchored, as git anchors it
        for compiled in pathspec.GitIgnoreSpec.from_lines([glob]).patterns:
            if compiled.include is not None:
                regex = compiled.regex.pattern
                for placeholder, class_regex in classes.items():
                    regex = regex.replace(placeholder, class_regex)
                rules.append(Rule(text, regex, bool(compiled.include)))
    return PatternList(rules)


# -- loading ------------------------------------------------------------------

@dataclass(frozen=True)
class _Mark:
    line: int
    column: int


class _Locator:
    """Where each key and value of the YAML document stands."""

    def __init__(self, root: yaml.Node) -> None:
        self.keys: dict[tuple, _Mark] = {}
        self.values: dict[tuple, _Mark] = {}
        self.duplicates: list[tuple[tuple, _Mark, _Mark]] = []
        self._walk(root, ())

    def _walk(self, node: yaml.Node, loc: tuple) -> None:
        self.values[loc] = _mark(node)
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, _Mark] = {}
            for key, value in node.value:
                name = key.value if isinstance(key, yaml.ScalarNode) else str(key.start_mark)
                if name in seen:
                    self.duplicates.append((loc + (name,), seen[name], _mark(key)))
                seen[name] = _mark(key)
                self.keys[loc + (name,)] = _mark(key)
                self._walk(value, loc + (name,))
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                self._walk(item, loc + (i,))

    def where(self, loc: tuple, key: bool = False) -> _Mark:
        """The closest known mark for `loc` (the key itself when `key`)."""
        loc = tuple(str(p) if not isinstance(p, int) else p for p in loc)
        if key and loc in self.keys:
            return self.keys[loc]
        while loc:
            if loc in self.values:
                return self.values[loc]
            loc = loc[:-1]
        return self.values.get((), _Mark(1, 1))


def _mark(node: yaml.Node) -> _Mark:
    return _Mark(node.start_mark.line + 1, node.start_mark.column + 1)


_TYPE_NAMES = {
    "string_type": "a string", "int_type": "a whole number", "bool_type": "true or false",
    "list_type": "a list", "dict_type": "a mapping", "model_type": "a mapping",
    "int_from_float": "a whole number", "float_type": "a number",
}


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """Safe loading, except that a plain mapping key stays the text it was written as.

    Every key in zones.yaml is a name: a stream called `on`, `no` or `2024` must
    not turn into a boolean or a number.
    """

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        self.flatten_mapping(node)
        mapping: dict = {}
        for key_node, value_node in node.value:
            if isinstance(key_node, yaml.ScalarNode):
                key = key_node.value
            else:
                raise yaml.constructor.ConstructorError(
                    None, None, "found a list or mapping used as a key", key_node.start_mark)
            mapping[key] = self.construct_object(value_node, deep=deep)
        return mapping


def _syntax_error(exc: yaml.MarkedYAMLError, text: str, filename: str) -> str:
    """One line for a YAML syntax error, at the place to fix and with the fix."""
    problem = (exc.problem or "invalid YAML").strip()
    context = (exc.context or "").strip()
    mark, other = exc.problem_mark, exc.context_mark
    lines = text.splitlines()
    found = lines[mark.line][mark.column:mark.column + 1] if mark and mark.line < len(lines) else ""
    if "\t" in problem or found == "\t":
        problem, fix, other = "tab character in the indentation", "indent with spaces (YAML does not allow tabs)", None
    elif "quoted scalar" in context:
        fix = "close the quote"
        if "end of stream" in problem and other:
            # Point at the opening quote, not at the end of the file.
            problem, mark, other = "quoted string is never closed", other, None
    elif "flow sequence" in context or "flow mapping" in context:
        fix = "close the bracket or brace, and separate items with commas"
    elif "single document" in context:
        fix = "keep one YAML document: remove the `---` line and what follows, or merge them"
    elif "constructor" in problem or "tag" in problem:
        fix = "remove the tag; zones.yaml holds plain strings, numbers, lists and mappings"
    elif "used as a key" in problem:
        fix = "write the key as a plain name"
    elif "alias" in problem or "anchor" in problem:
        fix = "fix the anchor or alias"
    else:
        fix = "fix the indentation (spaces only) or quote the value"
    if mark is None:
        mark, other = other, None
    if context and other is not None and (other.line, other.column) != (mark.line, mark.column):
        problem += f" ({context}, line {other.line + 1} column {other.column + 1})"
    line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
    return f"{filename}:{line}:{col}: YAML syntax error: {problem}; {fix}"


def _load_yaml(text: str, filename: str) -> tuple[Any, _Locator | None]:
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, None
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        raise ConfigError([_syntax_error(exc, text, filename)]) from None
    except yaml.YAMLError as exc:
        raise ConfigError([f"{filename}:1:1: YAML error: {exc}; fix the file"]) from None
    finally:
        loader.dispose()
    return data, _Locator(node)


def load_text(text: str, filename: str = CONFIG_FILE, repo_root: str | Path | None = None) -> Config:
    """Parse and validate zones.yaml text; raise ConfigError with every problem."""
    data, locator = _load_yaml(text, filename)
    if data is None or locator is None:
        raise ConfigError([f"{filename}:1:1: the file is empty; write `version: 1` and `streams:` "
                           "(`wta init --force` writes a starter file)"])
    if not isinstance(data, dict):
        mark = locator.where(())
        kind = "a list" if isinstance(data, list) else f"a single value ({_short(data)})"
        raise ConfigError([f"{filename}:{mark.line}:{mark.column}: the top level is {kind}; zones.yaml "
                           "must be a mapping with `version: 1` and `streams:`"])
    problems: list[tuple[_Mark, str]] = []
    for loc, first, again in locator.duplicates:
        if len(loc) == 2 and loc[0] == "streams":
            problems.append((again, f"{_dotted(loc)}: duplicate stream {loc[1]!r} (first defined at line "
                                    f"{first.line}); rename one of them or merge their paths"))
        else:
            problems.append((again, f"{_dotted(loc)}: duplicate key (first at line {first.line}); "
                                    "remove or rename one of them"))
    config = None
    try:
        config = Config.model_validate(data, context={"repo_root": str(repo_root) if repo_root else None})
    except ValidationError as exc:
        for error in exc.errors():
            problems.append(_describe(error, locator))
    problems.extend(_cross_check(data, locator))
    if problems:
        problems.sort(key=lambda p: (p[0].line, p[0].column))
        raise ConfigError([f"{filename}:{m.line}:{m.column}: {text}" for m, text in _unique(problems)])
    assert config is not None
    return config


def load(path: str | Path, repo_root: str | Path | None = None) -> Config:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise no_zones_yaml(str(path)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise WtaError(f"{path}: cannot read it ({exc}); fix the file's permissions or encoding") from None
    return load_text(text, str(path), repo_root)


@dataclass(frozen=True)
class RepositoryCheck:
    """What only the repository shows about a valid zones.yaml (`wta zones` prints it, `wta up`
    refuses on its problems)."""

    problems: list[str]                          # configuration errors
    overlaps: list[tuple[str, tuple[str, ...]]]  # tracked paths that several zones claim, with the streams


def check_in_repository(config: Config, path: str | Path, tracked: list[str]) -> RepositoryCheck:
    """The configuration errors that need the repository: a `prompt_file` that does not exist, and
    tracked paths that two zones claim (ownership is exclusive). `tracked`: the main worktree's files."""
    root = Path(path).parent
    missing = [name for name, s in config.streams.items() if s.prompt_file is not None
               and not (root / s.prompt_file).is_file()]
    problems = [f"{place}: streams.{name}.prompt_file: {config.streams[name].prompt_file} does not exist; create "
                "it or fix the path (relative to the repository root)"
                for name, place in zip(missing, _places(path, [("streams", name, "prompt_file") for name in missing]))]
    overlaps = config.zone_map().overlaps(tracked)
    first_by_streams: dict[tuple[str, ...], list[str]] = {}
    for overlap_path, streams in overlaps:
        first_by_streams.setdefault(streams, []).append(overlap_path)
    for streams, paths in first_by_streams.items():
        more = f" (and {len(paths) - 1} more tracked files)" if len(paths) > 1 else ""
        problems.append(f"overlap: {paths[0]}{more} is claimed by {' and '.join(streams)}; make the zones exclusive "
                        f"in {CONFIG_FILE}")
    return RepositoryCheck(problems, overlaps)


def unmatched_patterns(config: Config, path: str | Path, tracked: list[str]) -> list[str]:
    """Warnings for the patterns (zones and `read_only`) that match no tracked file: most often a
    typo, though a stream may be meant to create the files."""
    found = []
    listed = [(("streams", name, "paths", i), pattern) for name, s in config.streams.items()
              for i, pattern in enumerate(s.paths)]
    listed += [(("read_only", i), pattern) for i, pattern in enumerate(config.read_only)]
    for loc, pattern in listed:
        if pattern.startswith("!"):
            continue  # an exclusion that matches nothing takes nothing away: harmless
        patterns = compile_patterns([pattern])
        if not any(patterns.matches(f) for f in tracked):
            found.append((loc, pattern))
    return [f"{place}: {_dotted(loc)}: {pattern!r} matches no tracked file; check it for a typo (fine if the stream "
            "is to create them)" for (loc, pattern), place in zip(found, _places(path, [loc for loc, _ in found]))]


def _places(path: str | Path, locs: list[tuple]) -> list[str]:
    """`zones.yaml:line:column` of each key path in the (valid) file; read only when there is one to place."""
    if not locs:
        return []
    locator = _load_yaml(Path(path).read_text(encoding="utf-8"), str(path))[1]
    assert locator is not None  # the file was loaded and validated before
    return [f"{path}:{mark.line}:{mark.column}" for mark in (locator.where(loc) for loc in locs)]


def _unique(problems: list[tuple[_Mark, str]]) -> Iterator[tuple[_Mark, str]]:
    seen = set()
    for mark, text in problems:
        if (mark, text) not in seen:
            seen.add((mark, text))
            yield mark, text


def _dotted(loc: tuple) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"




def _known_keys(loc: tuple) -> list[str]:
    """The keys allowed in the mapping at `loc` (for 'did you mean')."""
    model: type[BaseModel] = Config
    parts = list(loc)
    while parts:
        part = parts.pop(0)
        if model is Config and part == "streams":
            if not parts:
                return []
            parts.pop(0)
            model = Stream
        elif model in (Config, Stream) and part == "agent":
            model = Agent if model is Config else AgentSettings
        elif model is Config and part == "checks":
            if parts:
                parts.pop(0)
            model = Check
        else:
            return []
    return [f.alias or name for name, f in model.model_fields.items()]


def _describe(error: dict, locator: _Locator) -> tuple[_Mark, str]:
    loc = tuple(p for p in error["loc"] if p != "[key]")
    kind = error["type"]
    where = _dotted(loc)
    if kind == "extra_forbidden":
        key = str(loc[-1])
        known = _known_keys(loc[:-1])
        near = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
        fix = f"did you mean `{near[0]}`?" if near else f"remove it (known keys: {', '.join(known)})"
        return locator.where(loc, key=True), f"{where}: unknown key `{key}`; {fix}"
    if kind == "missing":
        field = str(loc[-1])
        mark = locator.where(loc[:-1])
        if loc == ("version",):
            return _Mark(1, 1), "version: missing; add `version: 1` at the top"
        if field == "paths":
            return mark, f"{where}: missing; give the stream a zone, e.g. `paths: [src/{loc[-2]}/**]`"
        return mark, f"{where}: missing; add `{field}:`"
    mark = locator.where(loc, key=kind.startswith("dict") or "[key]" in error["loc"])
    if kind == "literal_error":
        return mark, f"{where}: {error['input']!r} is not allowed; use {error['ctx']['expected']}"
    if kind == "too_short":
        if loc and loc[-1] == "paths":
            return mark, f"{where}: empty zone; give the stream at least one path pattern"
        if loc == ("streams",):
            return mark, "streams: no streams; define at least one stream with `paths:`"
        return mark, f"{where}: must not be empty"
    if kind == "greater_than_equal":
        return mark, f"{where}: {error['input']!r} is too small; use {error['ctx']['ge']} or more"
    if kind == "less_than_equal":
        return mark, f"{where}: {error['input']!r} is too large; use at most {error['ctx']['le']}"
    if kind in _TYPE_NAMES:
        got = type(error["input"]).__name__ if error["input"] is not None else "nothing"
        fix = f"write it as {_TYPE_NAMES[kind]}"
        if kind == "string_type" and isinstance(error["input"], (bool, int, float)):
            # YAML turned a bare word or number into something else (`on` is true, `2024` a number).
            fix = "put it in quotes (YAML reads bare yes/no/on/off/true/false and numbers as non-strings)"
        return mark, f"{where}: expected {_TYPE_NAMES[kind]}, got {got} ({_short(error['input'])}); {fix}"
    if kind == "value_error":
        message = str(error["ctx"]["error"]) if "ctx" in error else error["msg"]
        if "[key]" in error["loc"] or (loc and loc[:1] == ("streams",) and len(loc) == 2):
            mark = locator.where(loc, key=True)
        return mark, f"{where}: {message}"
    return mark, f"{where}: {error['msg']}; fix the value"


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _cross_check(data: dict, locator: _Locator) -> list[tuple[_Mark, str]]:
    """Checks across streams: `after` references and cycles, prompt sources."""
    problems: list[tuple[_Mark, str]] = []
    streams = data.get("streams")
    if not isinstance(streams, dict):
        return problems
    edges: dict[str, list[str]] = {}
    for name, body in streams.items():
        if not isinstance(body, dict):
            continue
        after = body.get("after", [])
        if not isinstance(after, list):
            continue
        edges[str(name)] = []
        for i, dep in enumerate(after):
            loc = ("streams", name, "after", i)
            if not isinstance(dep, str):
                continue
            if dep == name:
                problems.append((locator.where(loc), f"{_dotted(loc)}: stream {name!r} cannot come after "
                                                     "itself; remove it"))
            elif dep not in streams:
                near = difflib.get_close_matches(dep, [str(s) for s in streams], n=1)
                fix = f"did you mean {near[0]!r}?" if near else "name one of the streams defined in `streams:`"
                problems.append((locator.where(loc), f"{_dotted(loc)}: unknown stream {dep!r}; {fix}"))
            else:
                edges[str(name)].append(dep)
        if body.get("prompt") is not None and body.get("prompt_file") is not None:
            loc = ("streams", name, "prompt_file")
            problems.append((locator.where(loc, key=True), f"{_dotted(loc)}: both `prompt` and `prompt_file` are "
                                                           "set; keep one"))
    cycle = _find_cycle(edges)
    if cycle:
        loc = ("streams", cycle[0], "after")
        problems.append((locator.where(loc, key=True), f"{_dotted(loc)}: `after` forms a cycle "
                                                       f"({' -> '.join(cycle + [cycle[0]])}); remove one of these edges"))
    return problems


def _find_cycle(edges: dict[str, list[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for dep in edges.get(node, []):
            if state.get(dep) == 1:
                return stack[stack.index(dep):]
            if dep not in state:
                found = visit(dep)
                if found:
                    return found
        state[node] = 2
        stack.pop()
        return None

    for node in edges:
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


# Re-exported for callers that format durations back.
def format_duration(seconds: int) -> str:
    for unit, size in (("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


__all__ = ["Config", "ConfigError", "Stream", "Agent", "AgentSettings", "Check", "load", "load_text",
           "compile_patterns", "format_duration", "RUNNERS", "SUPPORTED_VERSION"]
