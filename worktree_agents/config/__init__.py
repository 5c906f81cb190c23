"""zones.yaml: what a valid file holds (model.py), its schema (schema.py), validating a text
against it with line-accurate errors (validation.py), reading a file, from a cache of what was
validated before when there is one (loading.py), and the checks that need the repository's
files (repository.py).

Importing the package loads neither yaml nor pydantic: only validating a text does (and
pathspec only compiling patterns). The hook path reaches it when the compiled zones cache must
be rebuilt (zones/in_force.py).
"""

from worktree_agents.config.loading import load, load_text
from worktree_agents.config.problems import ConfigError
from worktree_agents.config.model import (SUPPORTED_VERSION, Agent, AgentSettings, Check, Config, Stream,
                                          compile_patterns, format_duration, parse_duration)
from worktree_agents.config.repository import (RepositoryCheck, check_in_repository, streams_owning_nothing,
                                               unmatched_patterns)
from worktree_agents.runners import RUNNERS

__all__ = ["Config", "ConfigError", "Stream", "Agent", "AgentSettings", "Check", "load", "load_text",
           "compile_patterns", "format_duration", "parse_duration", "RUNNERS", "SUPPORTED_VERSION",
           "RepositoryCheck", "check_in_repository", "streams_owning_nothing", "unmatched_patterns"]
