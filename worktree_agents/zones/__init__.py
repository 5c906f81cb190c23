"""Zones: which stream owns which path, and keeping each stream to its own.

    matcher     the gitignore pattern matcher (pure)
    ownership   the policy: Zone, ZoneMap, Ownership, Violation (pure)
    in_force    the zones in force: the base's committed zones.yaml, compiled and cached
    enforce     the checks at commit, at merge and at an agent's edit

Everything here but `config` (which validates zones.yaml) is stdlib-only: the
git hooks import it.
"""

CONFIG_FILE = "zones.yaml"


def check_streams(names, known, defined_in: str = f"{CONFIG_FILE} defines") -> None:
    """Refuse stream names not among `known` (the streams `defined_in` names): one line naming the first."""
    for name in names:
        if name not in known:
            from worktree_agents.errors import WtaError

            raise WtaError(f"unknown stream {name!r}; {defined_in}: {', '.join(known)}")
