"""`wta demo [DIR]`: the whole product, offline, on a generated sample repository.

Each step runs the real `wta` (and git) as a separate process, the way a user
would type it; the scripted model answers on 127.0.0.1 from this process.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import tempfile
import time

from worktree_agents import demo, git
from worktree_agents.errors import CHECK, WtaError
from worktree_agents.fake_anthropic import FakeAnthropic

# Not a secret: the fake server accepts exactly this key, and no real API sees it.
DEMO_KEY = "wta-demo-key-offline"


def run(directory: str | None) -> int:
    started = time.monotonic()
    root = _fresh_directory(directory)
    repo = os.path.join(root, "schedule")
    _say(f"building a sample web app in {repo}")
    _make_repo(repo)
    with FakeAnthropic(script=demo.scripts(), api_key=DEMO_KEY) as fake:
        env = {**git.no_git_env(), "ANTHROPIC_BASE_URL": fake.base_url, "ANTHROPIC_API_KEY": DEMO_KEY,
               "NO_COLOR": os.environ.get("NO_COLOR", "")}
        env.pop("ANTHROPIC_AUTH_TOKEN", None)
        # --land: each stream lands as its session ends, so that api (after infra) starts from infra's work.
        for step in (["zones"], ["up", "--land"]):
            code = _wta(repo, step, env)
            if code not in (0, CHECK) or (step[0] == "up" and code != 0):
                raise WtaError(f"demo: `wta {' '.join(step)}` exited {code}; the output above says why", CHECK)
        refused = [r for r in fake.tool_results() if r.get("is_error")]
    for result in refused:
        _say(f"refused edit, as intended: {_text(result)}")
    _wta(repo, ["status"], env)
    if _wta(repo, ["merge"], env) != 0:
        raise WtaError("demo: `wta merge` stopped; the output above says why", CHECK)
    _shell(repo, ["git", "log", "--oneline", "--graph", "main"], env)
    _say(f"done in {time.monotonic() - started:.0f} s: {len(refused)} refused out-of-zone edit(s), "
         f"4 streams merged into main. Explore it: cd {shlex.quote(repo)} && wta status")
    return 0


def _fresh_directory(directory: str | None) -> str:
    if directory is None:
        return tempfile.mkdtemp(prefix="wta-demo-")
    directory = os.path.abspath(directory)
    if os.path.exists(directory) and (not os.path.isdir(directory) or os.listdir(directory)):
        raise WtaError(f"{directory}: exists and is not an empty directory; name a new one, "
                       "e.g. `wta demo ./wta-demo`")
    os.makedirs(directory, exist_ok=True)
    return directory


def _make_repo(repo: str) -> None:
    for rel, content in {**demo.FILES, "zones.yaml": demo.ZONES}.items():
        path = os.path.join(repo, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            f.write(content)
    env = git.no_git_env()
    git.init_repository(repo, "main", env)
    # The scripted agents commit too: give the sample repository its own identity
    # so the demo works on a machine where git has none configured.
    git.set_config("user.name", "wta demo", repo, env)
    git.set_config("user.email", "demo@wta.invalid", repo, env)
    git.commit_everything("schedule: a small web app", repo, env)


def _wta(repo: str, args: list[str], env: dict[str, str]) -> int:
    return _shell(repo, [sys.executable, "-m", "worktree_agents", *args], env, shown=["wta", *args])


def _shell(repo: str, argv: list[str], env: dict[str, str], shown: list[str] | None = None) -> int:
    print(f"\n$ {shlex.join(shown or argv)}", flush=True)
    return subprocess.run(argv, cwd=repo, env=env).returncode


def _say(message: str) -> None:
    print(f"\nwta demo: {message}", flush=True)


def _text(result: dict) -> str:
    content = result.get("content")
    if isinstance(content, list):
        content = " ".join(c.get("text", "") for c in content if isinstance(c, dict))
    return str(content).strip().splitlines()[0] if content else "(no reason given)"
