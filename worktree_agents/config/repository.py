"""What only the repository shows about a valid zones.yaml: prompt files that are missing,
tracked files that two zones claim, patterns that match no tracked file, streams that own none.

`wta zones` prints these; `wta up` refuses on the problems.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from worktree_agents.config.loading import places
from worktree_agents.config.problems import dotted
from worktree_agents.config.model import Config, compile_patterns
from worktree_agents.zones import CONFIG_FILE
from worktree_agents.zones.matcher import example_path
from worktree_agents.zones.ownership import quote_path


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
                for name, place in zip(missing, places(path, [("streams", name, "prompt_file") for name in missing]))]
    zones = config.zone_map()
    overlaps = zones.overlaps(tracked)
    first_by_streams: dict[tuple[str, ...], list[str]] = {}
    for overlap_path, streams in overlaps:
        first_by_streams.setdefault(streams, []).append(overlap_path)
    for streams, paths in first_by_streams.items():
        more = f" (and {len(paths) - 1} more tracked files)" if len(paths) > 1 else ""
        problems.append(f"overlap: {quote_path(paths[0])}{more} is claimed by {' and '.join(streams)}; make the zones "
                        f"exclusive in {CONFIG_FILE}")
    # Zones that overlap only where no file is tracked yet (two streams given `lib/**` before it exists):
    # every commit of theirs there would be refused. A path each pattern matches, made up, tells.
    probes: dict[str, tuple[str, int]] = {}
    for name, stream in config.streams.items():
        for i, pattern in enumerate(stream.paths):
            probe = example_path(pattern)
            if probe is not None:
                probes.setdefault(probe, (name, i))
    for probe, streams in zones.overlaps(probes):
        if streams in first_by_streams:
            continue
        first_by_streams[streams] = [probe]
        name, i = probes[probe]
        problems.append(f"overlap: a path such as {probe} (streams.{name}.paths[{i}] "
                        f"{config.streams[name].paths[i]!r}) would be claimed by {' and '.join(streams)}; make the "
                        f"zones exclusive in {CONFIG_FILE}")
    problems += _shared_worktrees(config, path)
    return RepositoryCheck(problems, overlaps)


def _shared_worktrees(config: Config, path: str | Path) -> list[str]:
    """A `worktrees:` template that gives two streams one directory (`../wt/{stream}/..`): the second
    stream's `git worktree add` would fail there, half-made, and its branch would be taken for the first's."""
    main, by_path = str(Path(path).parent), {}
    for name in config.streams:
        where = config.worktree_for(main, name)
        if where in by_path:
            return [f"{places(path, [('worktrees',)])[0]}: worktrees: streams {by_path[where]} and {name} would share "
                    f"the worktree {where}; make each stream's directory its own (with {{stream}} as a part of its "
                    f"own) in {CONFIG_FILE}"]
        by_path[where] = name
    return []


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
    return [f"{place}: {dotted(loc)}: {pattern!r} matches no tracked file; check it for a typo (fine if the stream "
            "is to create them)" for (loc, pattern), place in zip(found, places(path, [loc for loc, _ in found]))]


def streams_owning_nothing(config: Config, path: str | Path, tracked: list[str], counts: dict[str, int]) -> list[str]:
    """Warnings for the streams whose zone holds no tracked file though their patterns match some (each file
    excluded by a `!` pattern, read-only, or zones.yaml): `wta up` would start a session with nothing to work
    on. `counts`: the files each zone claims (ZoneMap.owned_counts). A stream whose patterns match nothing at
    all is left to unmatched_patterns, which names each pattern."""
    empty = [name for name, s in config.streams.items() if not counts.get(name) and any(
        any(map(compile_patterns([p]).matches, tracked)) for p in s.paths if not p.startswith("!"))]
    return [f"{place}: streams.{name}: its zone owns no tracked file (each one its patterns match is excluded, "
            "read-only or zones.yaml): `wta up` would start its session with nothing to work on; remove the stream "
            "(fine if it is to create files)"
            for name, place in zip(empty, places(path, [("streams", name) for name in empty]))]
