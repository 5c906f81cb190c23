"""Zones: which stream owns which path, and keeping each stream to its own.

    matcher     the gitignore pattern matcher (pure)
    ownership   the policy: Zone, ZoneMap, Ownership, Violation (pure)
    in_force    the zones in force: the base's committed zones.yaml, compiled and cached
    enforce     the checks at commit, at merge and at an agent's edit

Everything here but `config` (which validates zones.yaml) is stdlib-only: the
git hooks import it.
"""

CONFIG_FILE = "zones.yaml"


def check_streams(names, known, defined_in: str = f"{CONFIG_FILE} defines", also=()) -> None:
    """Refuse stream names not among `known` (the streams `defined_in` names) and `also` (streams taken out of
    zones.yaml that wta still keeps a worktree or branch of): one line naming the first."""
    for name in names:
        if name not in known and name not in also:
            from worktree_agents.errors import WtaError

            kept = f"; wta still keeps {', '.join(also)}, taken out of {CONFIG_FILE}" if also else ""
            raise WtaError(f"unknown stream {name!r}; {defined_in}: {', '.join(known)}{kept}")
