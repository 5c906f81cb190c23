"""Where wta keeps its files: every path under `<common git dir>/wta/` (the
state dir), and wta's files in a worktree's private git dir. Nothing of wta's
lives in a worktree.

`path(state_dir, NAME, **fields)` is the path of one of the files below; the
table is the whole layout.

Stdlib only: the hooks import it.
"""

from __future__ import annotations

import os

STATE_DIR = "wta"   # under the common git dir

STATE = "state.json"                        # the stream records (state.StateStore), with state.json.lock
COMMAND_LOCK = "lock"                       # the command lock (state.command_lock)
ZONES_CACHE = "zones.cache"                 # the compiled zones in force (zones.in_force)
CONFIG_CACHE = "config.cache"               # the main worktree's zones.yaml as last validated (config.loading)
ZONES_PROBLEMS = "zones.problems"           # `wta status`'s line of `wta zones`' problems (commands.zones)
ZONES_FAST = "zones.fast"                   # each stream's own directories, for the pre-commit hook's shell (zones.in_force)
MAIN_WORKTREE = "main-worktree"             # where the main worktree is, when git does not record it
KNOWN_BRANCHES = "branches"                 # the stream branches wta made or had a worktree on (worktrees.registry)
SESSION = "sessions/{stream}.json"          # a stream's session record (sessions.store)
LAUNCH = "sessions/{stream}.launch.json"    # what a session runs, from the coordinator to its wrapper (sessions.wrapper)
PANE_EXIT = "sessions/{stream}.exit"        # an interactive session's exit status, written by its tmux pane
STOP_REQUEST = "sessions/{stream}.stop"     # `wta stop` while a `wta up` (its pid, in the file) prepared it
PROMPT = "prompts/{stream}.md"              # the prompt its session was given
HANDBACK = "handback/{stream}.md"           # why its last landing failed, for its follow-up session (sessions.landing)
STREAM_LOG = "logs/{stream}.log"            # its `setup:` and session output
COORDINATOR_LOG = "logs/coordinator.log"    # the detached coordinator's log
NOTIFY_LOG = "logs/notify.log"              # what `wta watch`'s notify commands printed
COORDINATOR_LOCK = "coordinator.lock"       # held by the one coordinator scheduling sessions
UP_CHECKOUT = "up/{stream}.checkout"         # a new worktree `wta up` checks out, while it does (worktrees.prepare)
DOWN_REMOVING = "down/{stream}.removing"     # the worktree `wta down` removes, while it does (worktrees.remove)
SYNC_MOVE = "sync/{stream}.move"            # `wta sync`'s move of a stream's branch, while under way (worktrees.sync)
MERGE_STATE = "merge.json"                  # the merge under way (merge.state)
MERGE_REPORT = "merges/{run_id}.json"       # a finished merge's report
MERGE_TEST_LOG = "merges/{run_id}/{stream}.test.log"  # the output of its `test:` for one stream
REQUESTS = "requests"                       # requests between streams (coordination.requests)
REQUEST = "requests/{request_id}.json"
ALERTS_LOG = "alerts.log"                   # `wta watch`'s alerts
ALERTS_OPEN = "alerts/{pid}.json"          # the alerts a running watcher holds open now (`wta status` shows them)
ALERTS_HANDED_OVER = "alerts/handed-over-{pid}.json"   # those of `wta up` pid, for the coordinator after Ctrl-C
CHECK_LOG = "checks/{check}.log"            # each `wta watch` check's last output
SANDBOX_STATUS = "sandbox"                  # bwrap's report of each start, for a moment (sandbox.Sandbox.wrap):
#                                             out of every sandbox's reach, unlike the temp dir
PACKED_BASE = "packed-base"                 # a base tip whose history's loose objects a landing checked and packed
SCRATCH = "scratch"                         # wta's own temporary files (a landing's fsck pack, the index it compares a
#                                             worktree's files with): where no sandbox writes, unlike the temp dir
HOOKS = "hooks"                             # wta's git hooks: stream worktrees' own core.hooksPath (hooks.install)
WORKTREE_CONFIG_ON = "worktree-config-on"   # wta turned extensions.worktreeConfig on (and what it moved for it)
COPIED_HOOKS = "copied-hooks/{worktree}.json"  # the repository's generated hooks directory (a relative
#                                       core.hooksPath) wta copied into a stream worktree, and its files' digests;
#                                       keyed by the worktree's git dir name (hooks.install.copy_repository_hooks)
HOOKS_PATH_BEFORE = "hooks-path-before/{worktree}"  # a stream worktree's own core.hooksPath, which wta's
#                                       replaced, for `wta hooks uninstall` to give back (hooks.install.attach)

STREAM_FILE = "wta-stream"   # in a worktree's private git dir: the stream it belongs to
ZONES_PROBLEMS_SANDBOXED = "wta-zones.problems"   # in a stream worktree's private git dir: ZONES_PROBLEMS as a
#                                       `wta status` in its sandbox remembers it (wta's state is read-only there)
WORKTREE_CONFIG = "config.worktree"   # in a worktree's private git dir (the main one's: the common dir): git's
#                                       per-worktree config, where wta sets a stream worktree's core.hooksPath


def path(state_dir: str, name: str, **fields: str) -> str:
    """The path of file `name` (one of the names above) in `state_dir`."""
    return os.path.join(state_dir, name.format(**fields) if fields else name)


def state_dir(common_dir: str) -> str:
    return os.path.join(common_dir, STATE_DIR)


def common_dir(state_dir: str) -> str:
    """The common git dir that holds `state_dir`."""
    return os.path.dirname(state_dir)


def stream_file(git_dir: str) -> str:
    """In a worktree's private git dir: the stream it belongs to."""
    return os.path.join(git_dir, STREAM_FILE)


def worktree_config(git_dir: str) -> str:
    """In a worktree's private git dir: git's config for that worktree alone."""
    return os.path.join(git_dir, WORKTREE_CONFIG)
