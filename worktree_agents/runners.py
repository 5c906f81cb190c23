"""The names of the session runners: the values of zones.yaml's `agent.runner` and of `--runner`, each
a module of worktree_agents.sessions. Here rather than in config so that the session wrapper can look
its runner up without importing pydantic."""

RUNNERS = ("claude", "api", "command", "manual")
