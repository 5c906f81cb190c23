"""zones.yaml's schema: the keys, their types and defaults.

The schema is pydantic; each field type says in its ValueError how to write a
good value (validation.py turns those into `file:line:column` lines). What a valid
file holds, and derives, is model.py's Config, built from the validated values.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal, Optional

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationInfo

from worktree_agents.config.model import SUPPORTED_VERSION, parse_duration
from worktree_agents.quoting import syntax_error
from worktree_agents.runners import RUNNERS, quoted_placeholder
from worktree_agents.shortening import cut_end
from worktree_agents.zones.matcher import PatternError, git_glob

MAX_STREAM_NAME = 63
STREAM_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


# -- field types ------------------------------------------------------------

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


def _copy_entry(value: str, info: ValidationInfo) -> str:
    # A path or glob in the main worktree, copied to the same place in each stream worktree.
    body = value.strip()
    if not body.lstrip("/"):
        raise ValueError("empty `copy:` entry; remove it or name an untracked file such as .env.local")
    if any(part == ".." for part in body.replace("\\", "/").split("/")):
        raise ValueError(f"{value!r} leaves the repository ('..'); name a file inside the main worktree, "
                         "relative to its top")
    if body.startswith("/"):   # the top of the main worktree, as in a pattern (`/.env.local`); not the machine's
        root = str((info.context or {}).get("repo_root") or "")
        inside = next((body[len(at):].lstrip("/") for at in {root, str(Path(root).resolve())} if root and
                       body.startswith(at.rstrip("/") + "/")), None)
        if inside:   # the repository's own path spelled out: read as <top>/<that path>, which is not there
            raise ValueError(f"{value!r} is an absolute path; write it relative to the repository root ({inside})")
    if re.match(r"^[A-Za-z]:[\\/]", body) or body.startswith("~"):
        raise ValueError(f"{value!r} is an absolute path; name the file relative to the repository root")
    if ".git" in body.replace("\\", "/").split("/"):
        raise ValueError(f"{value!r} names git's own directory (.git); name files of the main worktree")
    return value


CopyEntry = Annotated[str, AfterValidator(_copy_entry)]


def _stream_name(value: str) -> str:
    if len(value) > MAX_STREAM_NAME:
        raise ValueError(f"stream name {short(value)} is too long ({len(value)} characters); "
                         f"use at most {MAX_STREAM_NAME}")
    if not STREAM_NAME.match(value):
        raise ValueError(f"invalid stream name {value!r}; use lowercase letters, digits, '-' and '_' "
                         "(starting with a letter or digit)")
    return value


StreamName = Annotated[str, AfterValidator(_stream_name)]


def _ref_part(value: str) -> str:
    bad = re.search(r"[\s~^:?*\[\\]|@\{", value)
    why = ("it is empty" if not value else "it begins with '-'" if value.startswith("-") else
           "it begins with '/'" if value.startswith("/") else "it has '..'" if ".." in value else
           "it has '//'" if "//" in value else "it ends with '.lock'" if value.endswith(".lock") else
           f"it has {bad.group()!r}" if bad else None)
    if why:
        raise ValueError(f"{value!r} cannot be part of a git branch name ({why}); use letters, digits, '/', '-', "
                         "'_' or '.', not '-' first")
    return value


def _prefix(value: str) -> str:
    if value and value.split("/")[0] in ("refs", "heads", "tags", "remotes"):
        # refs/heads/refs/heads/api: short names that git resolves two ways ("refname is ambiguous")
        raise ValueError(f"{value!r} starts like a git ref path; a branch prefix is what comes after "
                         "refs/heads/ (e.g. wta/)")
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


def _agent_command(command: str) -> str:
    placeholder = quoted_placeholder(command)
    if placeholder is not None:
        instead = ", or use {prompt_file}" if placeholder == "{prompt}" else ""
        raise ValueError(f"{placeholder} is inside quotes; write it bare (wta fills it in shell-quoted), e.g. "
                         f"`my-agent {placeholder}`{instead}; inside `sh -c '...'`, pass it as an argument: "
                         f"`sh -c 'my-agent \"$1\"' sh {placeholder}`")
    return command


def _shell_command(command: str) -> str:
    problem = syntax_error(command)
    if problem is not None:
        raise ValueError(f"/bin/sh cannot read this command ({problem}); close what it names "
                         "(`sh -n -c '<command>'` checks it without running it)")
    return command


ShellCommand = Annotated[str, AfterValidator(_shell_command)]
AgentCommand = Annotated[str, AfterValidator(_shell_command), AfterValidator(_agent_command)]


def _string_list(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


PermissionMode = Literal["acceptEdits", "auto", "bypassPermissions", "default", "dontAsk", "manual", "plan"]


RUNNER_DOC = "how the session runs: `claude` (Claude Code CLI), `api` (Anthropic API), `command` (any agent CLI), `manual` (a person in an editor)"


class AgentSettingsSchema(Strict):
    """A stream's `agent:` block: every key optional, overriding the defaults."""

    runner: Optional[Literal[RUNNERS]] = Field(None, description=RUNNER_DOC)
    model: Optional[str] = Field(None, description="the model the session uses")
    max_turns: Optional[int] = Field(None, ge=1, description="the most agent turns a session may take")
    timeout: Optional[Duration] = Field(None, description="a session still running after this is killed, "
                                                          "with its whole process tree, and marked failed")
    command: Optional[AgentCommand] = Field(None, description="for `runner: command`: the agent CLI to run; "
                                                              "`{prompt}`, `{prompt_file}`, `{stream}`, `{worktree}` "
                                                              "are filled in")
    permission_mode: Optional[PermissionMode] = Field(None, description="Claude Code's `--permission-mode` for "
                                                                        "headless sessions")


class AgentSchema(Strict):
    """The top-level `agent:` defaults."""

    runner: Literal[RUNNERS] = Field("claude", description=RUNNER_DOC)
    model: str = Field("claude-sonnet-4-6", description="the model the session uses")
    max_turns: int = Field(60, ge=1, description="the most agent turns a session may take")
    timeout: Duration = Field(7200, description="a session still running after this is killed, with its whole "
                                                "process tree, and marked failed")
    command: Optional[AgentCommand] = Field(None, description="for `runner: command`: the agent CLI to run; "
                                                              "`{prompt}`, `{prompt_file}`, `{stream}`, `{worktree}` "
                                                              "are filled in")
    # Headless sessions must edit and commit unattended.
    permission_mode: PermissionMode = Field("bypassPermissions", description="Claude Code's `--permission-mode` "
                                                                             "for headless sessions")


class CheckSchema(Strict):
    name: str = Field(min_length=1, description="the check's name in alerts")
    run: ShellCommand = Field(min_length=1,
                              description="shell command; a non-zero exit or a timeout raises an alert")
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


class StreamSchema(Strict):
    paths: Annotated[list[Pattern], Field(min_length=1), AfterValidator(_zone)] = Field(
        description="the stream's zone: gitignore-style patterns relative to the repository root (`!` excludes)")
    after: list[str] = Field([], description="streams that must end `done` and land on the base before this one "
                                             "starts, from a base that contains their work; they also land before "
                                             "it (`wta merge STREAM` alone lands the one named, saying which "
                                             "dependency has not landed)")
    prompt: Optional[str] = Field(None, description="the session's task (the zone rules are added to it)")
    prompt_file: Optional[str] = Field(None, description="a file in the repository holding the task, instead "
                                                         "of `prompt`")
    agent: Optional[AgentSettingsSchema] = Field(None, description="overrides of the top-level `agent:` keys for "
                                                             "this stream")
    append_only: bool = Field(False, description="existing files in the zone may only gain lines at their end "
                                                 "(new files are fine)")


class ConfigSchema(Strict):
    version: Annotated[int, BeforeValidator(_version)] = Field(description="the format version; must be 1")
    base: Optional[Annotated[str, AfterValidator(_branch)]] = Field(
        None, description="the integration branch; unset: the branch checked out in the main worktree at `wta up`, "
        "kept by every later command until the next `wta up`")
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
                                      "(and git-ignored there), named relative to its top (a leading `/` is its "
                                      "top, as in a pattern); a symbolic link is copied as the link")
    setup: Annotated[list[ShellCommand], BeforeValidator(_string_list)] = Field(
        [], description="shell commands run once in each new worktree; a failure fails only that stream")
    test: Optional[ShellCommand] = Field(None, description="shell command `wta merge` runs after each rebase, "
                                                           "before the base moves")
    max_parallel: int = Field(4, ge=1, description="sessions running at once")
    sparse: bool = Field(False, description="worktrees check out only the zone, read_only paths and top-level "
                                            "files (`wta up` brings an existing one to its zone as it is now)")
    base_port: int = Field(4100, ge=1, le=65535, description="stream i gets `WTA_PORT = base_port + i`")
    stall_after: Duration = Field(1800, description="a running session with no output and no commit for this "
                                                    "long is `stalled`")
    checks: list[CheckSchema] = Field([], description="health checks that `wta watch` runs")
    notify: Optional[ShellCommand] = Field(None, description="shell command run when a session ends or an alert "
                                                             "starts or clears; `{stream}`, `{state}`, `{message}` "
                                                             "are filled in")
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
    agent: AgentSchema = Field(AgentSchema(), description="defaults for every stream's session")
    streams: dict[StreamName, StreamSchema] = Field(min_length=1, description="the streams, by name (lowercase "
                                                                        "letters, digits, `-`, `_`)")


def short(value: Any) -> str:
    """A value for a one-line message: its repr, cut at 40 characters."""
    text = repr(value)
    return cut_end(text, 40)
