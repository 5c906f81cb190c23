"""A valid zones.yaml as the rest of wta reads it: plain frozen objects, and what they derive.

schema.py says what a valid file is (pydantic, with the defaults and a message
for every mistake); loading.py validates a file against it and builds these
from the result, or from the validated result it cached for the same text
(so that a command does not import pydantic, about 0.15 s, to read a file it
has read before). Stdlib only; the fields are exactly the schema's
(tests/config/test_config.py holds the two together) and carry no defaults of
their own: the schema's are the only ones.
"""

from __future__ import annotations

import dataclasses
import os
import re
from typing import Any, Collection, Optional

from worktree_agents.repo import stream_branch
from worktree_agents.zones import CONFIG_FILE
from worktree_agents.zones.matcher import PatternList, Rule, git_glob
from worktree_agents.zones.ownership import Zone, ZoneMap

SUPPORTED_VERSION = 1
DURATION = re.compile(r"^(\d+)(s|m|h|d)$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


@dataclasses.dataclass(frozen=True)
class AgentSettings:
    """A stream's `agent:` block: what it overrides of the top-level `agent:` (None: not set)."""

    runner: Optional[str]
    model: Optional[str]
    max_turns: Optional[int]
    timeout: Optional[int]          # seconds
    command: Optional[str]
    permission_mode: Optional[str]


@dataclasses.dataclass(frozen=True)
class Agent:
    """The session settings of a stream: the top-level `agent:`, with a stream's overrides merged."""

    runner: str
    model: str
    max_turns: int
    timeout: int                    # seconds
    command: Optional[str]
    permission_mode: str

    def merged(self, override: Optional[AgentSettings]) -> "Agent":
        if override is None:
            return self
        return dataclasses.replace(self, **{k: v for k, v in dataclasses.asdict(override).items() if v is not None})


@dataclasses.dataclass(frozen=True)
class Check:
    name: str
    run: str
    every: int                      # seconds
    timeout: int                    # seconds


@dataclasses.dataclass(frozen=True)
class Stream:
    paths: list[str]
    after: list[str]
    prompt: Optional[str]
    prompt_file: Optional[str]
    agent: Optional[AgentSettings]
    append_only: bool


@dataclasses.dataclass(frozen=True)
class Config:
    version: int
    base: Optional[str]
    branch_prefix: str
    worktrees: str
    unowned: str
    read_only: list[str]
    copy_: list[str]                # `copy:` in the file
    setup: list[str]
    test: Optional[str]
    max_parallel: int
    sparse: bool
    base_port: int
    stall_after: int                # seconds
    checks: list[Check]
    notify: Optional[str]
    land: str
    land_retries: int
    merge: str
    sandbox: str
    sandbox_write: list[str]
    agent: Agent
    streams: dict[str, Stream]

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Config":
        """From the schema's validated values (`ConfigSchema.model_dump()`), or a cache of them."""
        def stream(body: dict[str, Any]) -> Stream:
            agent = body["agent"]
            return Stream(**{**body, "agent": AgentSettings(**agent) if agent is not None else None})

        return cls(**{**data, "agent": Agent(**data["agent"]), "checks": [Check(**c) for c in data["checks"]],
                      "streams": {name: stream(body) for name, body in data["streams"].items()}})

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

    def worktree_for(self, main: str, stream: str) -> str:
        """The stream's worktree: the `worktrees:` template filled in, relative to the main worktree, absolute."""
        rel = self.worktrees.replace("{repo}", os.path.basename(main.rstrip(os.sep))).replace("{stream}", stream)
        return os.path.realpath(os.path.join(main, os.path.expanduser(rel)))

    def port_for(self, stream: str) -> int:
        """WTA_PORT: base_port plus the stream's position in zones.yaml (0 for the first)."""
        return self.base_port + list(self.streams).index(stream)

    def order(self, first: Collection[str] = ()) -> list[str]:
        """Streams with every `after` dependency first, otherwise in file order; of the streams free to
        go, those in `first` go before the others (an automatic landing: the ones a dependent waits for)."""
        done: list[str] = []
        pending = sorted(self.streams, key=lambda s: s not in first)   # (stable: file order otherwise)
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


def parse_duration(value: Any, zero: bool = False) -> int:
    """Seconds in `90s`, `30m`, `2h` or `30d`; ValueError saying how to write one.

    A zero duration is refused (a timeout of nothing) unless `zero`: `wta backups --older-than 0s` means every backup.
    """
    if isinstance(value, bool) or not isinstance(value, str) or not DURATION.match(value.strip()):
        raise ValueError(f"bad duration {value!r}; write a number with a unit: 90s, 30m, 2h or 30d")
    number, unit = DURATION.match(value.strip()).groups()  # type: ignore[union-attr]
    if int(number) == 0 and not zero:
        raise ValueError(f"duration {value!r} is zero; give a positive duration such as 30m")
    return int(number) * _UNITS[unit]


def format_duration(seconds: int) -> str:
    """`2h`, `30m` or `90s`: a duration as zones.yaml writes it."""
    for unit, size in (("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
