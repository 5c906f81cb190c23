"""What the tests share: real git repositories in tmp_path and the real `wta` process.

Import it as `from support import ...` (pytest puts tests/ on sys.path); the
fixtures are in conftest.py.
"""

from __future__ import annotations

import fcntl
import os
import select
import signal
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_ZONES = ROOT / "examples" / "webapp" / "zones.yaml"

# A small web app laid out like the example zones expect.
WEBAPP_FILES = {
    "package.json": '{"name": "webapp", "scripts": {"test": "true"}}\n',
    "tsconfig.json": "{}\n",
    ".env.example": "API_URL=http://localhost:3000\n",
    "tailwind.config.ts": "export default {}\n",
    "README.md": "# webapp\n",
    "src/app/page.tsx": "export default function Page() { return null }\n",
    "src/app/layout.tsx": "export default function Layout() { return null }\n",
    "src/app/api/health/route.ts": "export const GET = () => new Response('ok')\n",
    "src/lib/db.ts": "export const db = {}\n",
    "src/components/Button.tsx": "export const Button = () => null\n",
    "ai-agents/setup.md": "# setup\n",
    "ai-agents/memory/notes.md": "first note\nsecond note\n",
    "docs/specs/api.md": "# API spec\n",
    "prompts/api.md": "You are the API agent.\n",  # the api stream's prompt_file
}


def traced(trace: Path, text: str) -> int:
    """How often `text` is in the GIT_TRACE file `trace`, which is then emptied for the next count."""
    count = trace.read_text().count(text) if trace.exists() else 0
    trace.unlink(missing_ok=True)
    return count


def git(cwd, *args, check=True, input=None, env=None) -> subprocess.CompletedProcess:
    """Run real git; returns the completed process (text mode)."""
    proc = subprocess.run(["git", *args], cwd=cwd, input=input, text=True, capture_output=True, env=env)
    if check and proc.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}")
    return proc


def wta(cwd, *args, check=None, input=None, env=None, timeout=120) -> subprocess.CompletedProcess:
    """Run the real `wta` CLI in a subprocess (as a user would).

    `check`: the exit code expected, or None to accept any.
    """
    proc = subprocess.run([sys.executable, "-m", "worktree_agents", *args], cwd=cwd, input=input, text=True,
                          capture_output=True, env=env, timeout=timeout)
    if check is not None and proc.returncode != check:
        raise AssertionError(f"wta {' '.join(args)} exited {proc.returncode}, expected {check}:\n"
                             f"--- stdout\n{proc.stdout}--- stderr\n{proc.stderr}")
    return proc


def write_files(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def commit_all(cwd, message: str, *extra: str) -> str:
    git(cwd, "add", "-A")
    git(cwd, "commit", "-q", "-m", message, *extra)
    return git(cwd, "rev-parse", "HEAD").stdout.strip()


def make_repo(path: Path, zones: str | None = None, files: dict[str, str] | None = None) -> Path:
    """A repository on `main` with the web-app files and a committed zones.yaml."""
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q", "-b", "main")
    write_files(path, WEBAPP_FILES if files is None else files)
    (path / "zones.yaml").write_text(zones if zones is not None else EXAMPLE_ZONES.read_text())
    commit_all(path, "initial")
    return path


def add_stream_worktree(repo: Path, stream: str, where: Path | None = None) -> Path:
    """A worktree on `wta/<stream>` made with plain git, recorded as that stream."""
    where = where or repo.parent / f"{repo.name}-{stream}"
    git(repo, "worktree", "add", "-q", "-b", f"wta/{stream}", str(where))
    wta(where, "hooks", "install", "--stream", stream, check=0)
    return where


EXAMPLE_STREAMS = ("infra", "api", "ui", "monitor")   # the streams of EXAMPLE_ZONES


def example_zones(setup: str | None = '["test -f .env.local", "echo setup $WTA_STREAM $WTA_PORT"]',
                  sparse: bool = False, base: bool = True) -> str:
    text = EXAMPLE_ZONES.read_text()
    text = text.replace("setup: [npm ci]", f"setup: {setup}" if setup else "setup: []")
    text = text.replace("sparse: false", f"sparse: {'true' if sparse else 'false'}")
    if not base:
        text = text.replace("base: main\n", "")
    return text


def clone_webapp(tmp_path: Path, zones: str | None = None, env_local: bool = True) -> Path:
    """A fresh clone (from a bare "origin") of a web app with the example zones committed."""
    seed = make_repo(tmp_path / "seed", zones if zones is not None else example_zones())
    git(seed, "config", "user.name", "Seed")
    git(tmp_path, "clone", "-q", "--bare", str(seed), "origin.git")
    git(tmp_path, "clone", "-q", "origin.git", "webapp")
    work = tmp_path / "webapp"
    if env_local:
        (work / ".env.local").write_text("SECRET=local\n")
    return work


def worktree_of(repo: Path, stream: str) -> Path:
    return repo.parent / f"{repo.name}-worktrees" / stream


def on_terminal(cwd, *args, columns=80, env=None, until=None) -> str:
    """`wta ARGS` with its stdout on a terminal (a pty) `columns` wide, as a user sees it: its output, up to its
    end, or up to where `until(output)` holds, when it is interrupted (Ctrl-C)."""
    main, side = os.openpty()
    fcntl.ioctl(side, termios.TIOCSWINSZ, struct.pack("HHHH", 50, columns, 0, 0))
    env = env or {key: value for key, value in os.environ.items() if key not in ("COLUMNS", "LINES")}
    proc = subprocess.Popen([sys.executable, "-m", "worktree_agents", *args], cwd=cwd, env=env, stdout=side,
                            stderr=subprocess.PIPE)
    os.close(side)
    seen, deadline = b"", time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            if not select.select([main], [], [], 1)[0]:
                continue
            try:
                chunk = os.read(main, 65536)
            except OSError:   # EIO: the last writer closed the terminal
                break
            if not chunk:
                break
            seen += chunk
            if until and until(seen.decode(errors="replace")):
                proc.send_signal(signal.SIGINT)
                until = None
        assert proc.wait(timeout=5) == 0, proc.stderr.read()
    finally:
        os.close(main)
        proc.kill()
        proc.stderr.close()
    return seen.decode().replace("\r\n", "\n")
