"""`wta watch [--for DURATION] [--interval SECONDS]`: print each alert once until stopped."""

from __future__ import annotations

import signal
import sys
import time

from worktree_agents.commands.output import err
from worktree_agents.config import parse_duration
from worktree_agents.coordination.watch import NOTIFY_GRACE, Watcher
from worktree_agents.errors import WtaError
from worktree_agents.project import Project

class _Stopped(Exception):
    """SIGTERM or SIGHUP: stop like Ctrl-C, ending the checks first."""


def run(for_: str | None = None, interval: float = 2.0) -> int:
    limit = None
    if for_ is not None:  # `--for ''` is a mistake, not forever
        try:
            limit = parse_duration(for_, zero=True)
        except ValueError:
            raise WtaError(f"--for {for_}: not a duration; write e.g. 90s, 30m, 2h or 1d") from None
        if limit == 0:   # a duration, but of nothing: say so rather than "not a duration"
            raise WtaError(f"--for {for_}: a zero duration; give a positive one, e.g. 90s, 30m, 2h or 1d")
    project = Project.find()
    config = project.main_config()
    deadline = None if limit is None else time.monotonic() + limit
    previous = {sig: signal.signal(sig, _stop) for sig in (signal.SIGTERM, signal.SIGHUP)}
    err(f"wta watch: {len(config.checks)} check(s), {len(config.streams)} stream(s); "
        f"alerts also go to {project.repo.state_dir}/alerts.log. Ctrl-C stops.")
    watcher = Watcher(project, config)
    try:
        while True:
            for alert in watcher.tick():
                print(alert.line(), flush=True)
            if deadline is not None and time.monotonic() >= deadline:
                break
            pause = interval if deadline is None else min(interval, max(deadline - time.monotonic(), 0.0))
            time.sleep(pause)
    except (KeyboardInterrupt, _Stopped):
        pass
    finally:
        # A second Ctrl-C must not cut the cleanup short and leave checks running.
        interrupt = signal.signal(signal.SIGINT, signal.SIG_IGN)
        for sig in previous:
            signal.signal(sig, signal.SIG_IGN)
        watcher.close(wait=NOTIFY_GRACE)   # the last alerts' notify commands get to finish (a message sent)
        for sig, handler in {**previous, signal.SIGINT: interrupt}.items():
            signal.signal(sig, handler)
    sys.stdout.flush()
    return 0


def _stop(signum, frame) -> None:
    raise _Stopped()
