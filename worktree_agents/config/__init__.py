"""zones.yaml: its schema (schema.py), reading it with line-accurate errors (loading.py),
and the checks that need the repository's files (repository.py).

Importing it loads pydantic, yaml and pathspec: the hook path reaches it only
when the compiled zones cache must be rebuilt (zones/in_force.py).
"""

from worktree_agents.config.loading import ConfigError, load, load_text
from worktree_agents.config.repository import RepositoryCheck, check_in_repository, unmatched_patterns
from worktree_agents.config.schema import (RUNNERS, SUPPORTED_VERSION, Agent, AgentSettings, Check, Config, Stream,
                                           compile_patterns, format_duration, parse_duration)

__all__ = ["Config", "ConfigError", "Stream", "Agent", "AgentSettings", "Check", "load", "load_text",
           "compile_patterns", "format_duration", "parse_duration", "RUNNERS", "SUPPORTED_VERSION",
           "RepositoryCheck", "check_in_repository", "unmatched_patterns"]
