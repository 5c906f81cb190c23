"""`wta zones [--json] [--all]`: each stream's patterns and files, overlaps, unowned files,
and what else the repository shows about zones.yaml (the checks `wta up` refuses on)."""

from __future__ import annotations

import json
import os
import zlib

from worktree_agents import layout, sandbox
from worktree_agents.commands.output import emit_json, err, table
from worktree_agents.errors import CHECK, WtaError
from worktree_agents.files import write_atomic
from worktree_agents.project import Project
from worktree_agents.zones.ownership import quote_path

UNOWNED_SHOWN = 10  # without --all


def configuration_problems(project, config, files: list[str]):
    """The repository's check of zones.yaml (overlaps among them) and every problem `wta zones` reports (and
    `wta status` sums up in a line): `files`, the main worktree's tracked files."""
    from worktree_agents.config import check_in_repository

    checked = check_in_repository(config, project.config_path, files)
    problems = list(checked.problems) + _runners_without_command(config, project.config_path)
    try:
        project.base(config)
    except WtaError as exc:
        problems.append(str(exc))
    return checked, problems


def _runners_without_command(config, path: str) -> list[str]:
    """Streams whose runner is `command` with no `agent.command`: `wta up` refuses to start them (not a
    configuration error: `wta up --runner claude` runs them)."""
    from worktree_agents.config.loading import places

    missing = [name for name in config.streams
               if config.agent_for(name).runner == "command" and not config.agent_for(name).command]
    locs = [("streams", name, "agent", "runner") if (config.streams[name].agent or None) is not None
            and config.streams[name].agent.runner == "command" else ("agent", "runner") for name in missing]
    return [f"{place}: streams.{name}: runner `command` needs `agent.command`; set it, e.g. command: "
            "\"aider --yes --message-file {prompt_file}\""
            for name, place in zip(missing, places(path, locs))]


def summary(project) -> str | None:
    """One line for `wta status` when `wta zones` would report problems (exit 1), else None.

    Remembered by what it reads (zones.yaml, the tracked files, whether each prompt_file is there): `wta status`
    is to stay cheap, and loading zones.yaml (pydantic) and matching every file costs more than the rest of it.
    (Not the branches: the one problem that reads them, the base's, is status's first line, not this one.)"""
    files = project.tracked_files(project.main)
    try:
        with open(project.config_path, "rb") as f:
            text = f.read()
    except OSError:
        text = b""
    read = b"2\0" + text + b"\0" + "\0".join(files).encode("utf-8", "surrogateescape")
    key = f"{len(read)}-{zlib.crc32(read):08x}"   # (zlib: hashlib's import costs more than the rest of this)
    caches = _caches(project)
    root = os.path.dirname(project.config_path)
    for cache in caches:
        try:
            with open(cache, encoding="utf-8") as f:
                cached = json.load(f)
            # (A prompt_file is read from the main worktree, tracked or not: its existence is part of the answer.)
            if cached.get("key") == key and all(_is_file(root, path) == there
                                                for path, there in cached.get("prompt_files", {}).items()):
                return cached.get("summary")
        except (OSError, ValueError, AttributeError, TypeError):
            pass
    prompt_files: dict[str, bool] = {}
    try:
        config = project.main_config()
        prompt_files = {s.prompt_file: _is_file(root, s.prompt_file) for s in config.streams.values()
                        if s.prompt_file is not None}
        problems = configuration_problems(project, config, files)[0].problems   # (the base's:
        #                                                        status's first line says them)
    except WtaError as exc:   # zones.yaml itself is invalid
        problems = str(exc).splitlines()
    line = None
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        line = f"zones.yaml has {len(problems)} problem(s): {problems[0]}{more}; `wta zones` lists them"
    try:
        os.makedirs(os.path.dirname(caches[-1]), exist_ok=True)
        write_atomic(caches[-1], json.dumps({"key": key, "summary": line, "prompt_files": prompt_files}), fsync=False)
    except (OSError, WtaError):
        pass   # only a cache (a sandboxed status run outside a stream worktree has nowhere to write it)
    return line


def _caches(project) -> list[str]:
    """Where the line is remembered, read in this order, written in the last: wta's state; in a session's sandbox,
    where that is read-only, also the stream worktree's private git dir, which its sandbox may write (and which
    only a sandboxed status reads: what an agent writes there misleads no one else)."""
    cache = layout.path(project.repo.state_dir, layout.ZONES_PROBLEMS)
    if not sandbox.inside() or os.path.normpath(project.repo.git_dir) == os.path.normpath(project.repo.common_dir):
        return [cache]
    return [cache, os.path.join(project.repo.git_dir, layout.ZONES_PROBLEMS_SANDBOXED)]


def _is_file(root: str, path: str) -> bool:
    """As check_in_repository asks of a prompt_file (relative to the folder of zones.yaml)."""
    return os.path.isfile(os.path.join(root, path))


def run(as_json: bool = False, show_all: bool = False) -> int:
    from worktree_agents.config import streams_owning_nothing, unmatched_patterns

    project = Project.find()
    config = project.main_config()
    zones = config.zone_map()
    files = project.tracked_files(project.main)
    counts, unowned = zones.owned_counts(files)
    checked, problems = configuration_problems(project, config, files)
    warnings = (unmatched_patterns(config, project.config_path, files)
                + streams_owning_nothing(config, project.config_path, files, counts))
    if as_json:
        emit_json({
            "config": project.config_path,
            "base": config.base,
            "unowned_policy": config.unowned,
            "read_only": list(config.read_only),
            "streams": [{"name": name, "paths": list(s.paths), "after": list(s.after),
                         "append_only": s.append_only, "files": counts[name],
                         "branch": config.branch_for(name)} for name, s in config.streams.items()],
            "overlaps": [{"path": p, "streams": list(s)} for p, s in checked.overlaps],
            "unowned": unowned,
            "problems": problems,
            "warnings": warnings,
        })
        return CHECK if problems else 0
    rows = [(name, counts[name], ", ".join(s.paths) + ("  (append-only)" if s.append_only else ""),
             ", ".join(s.after)) for name, s in config.streams.items()]
    print(table(("stream", "files", "patterns", "after"), rows))
    if config.read_only:
        print(f"\nread-only: {', '.join(config.read_only)} (and zones.yaml)")
    if unowned:
        policy = "no stream may change them" if config.unowned == "deny" else "any stream may change them"
        listed = unowned if show_all else unowned[:UNOWNED_SHOWN]
        more = len(unowned) - len(listed)
        shown = ", ".join(map(quote_path, listed)) + (f" and {more} more (--all lists them)" if more else "")
        print(f"\nunowned ({len(unowned)}, {policy}): {shown}")
    for warning in warnings:
        err(f"wta: warning: {warning}")
    for problem in problems:
        print(problem)
    return CHECK if problems else 0
