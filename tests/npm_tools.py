"""The pinned npm packages the tests run for real, installed outside the repository.

Each goes into ``${WTA_TEST_CACHE:-~/.cache/wta-test}/<name>-<version>`` with
``npm install --no-save --prefix``, through a staging directory renamed into
place (a failed or interrupted install leaves nothing half-filled), one
installer at a time (pytest-xdist workers, CI). This file is the single source
of truth for the versions: ``scripts/install-npm-tools.sh`` (run by CI before
the tests) runs it as a script, which installs them all and prints their paths;
the tests install on demand through the same code.

- the Claude Code CLI (tests/claude_cli.py says how it is checked)
- husky, the git hook manager: ``npx husky`` and its helper ``.husky/_/h``
- lefthook, the git hook manager: its native binary comes from the platform's
  optional-dependency package (``lefthook-linux-x64``)
"""

from __future__ import annotations

import fcntl
import os
import platform
import pwd
import shutil
import subprocess
import sys
from functools import lru_cache
from pathlib import Path
from typing import Callable

HUSKY_VERSION = "9.1.7"
LEFTHOOK_VERSION = "2.2.2"
NPM_TIMEOUT = 900


def cache_root() -> Path:
    """``$WTA_TEST_CACHE``, else ``~/.cache/wta-test``.

    ``~`` is the user's home from the password database rather than ``$HOME``:
    the test fixtures point HOME at a fresh temporary directory, and the
    installs must survive across tests and runs.
    """
    explicit = os.environ.get("WTA_TEST_CACHE")
    if explicit:
        return Path(explicit).expanduser()
    return Path(pwd.getpwuid(os.getuid()).pw_dir) / ".cache" / "wta-test"


def run(cmd: list[str], cwd: Path | None = None) -> str:
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=NPM_TIMEOUT,
                          stdin=subprocess.DEVNULL)
    output = f"$ {' '.join(cmd)}\n{proc.stdout}{proc.stderr}"
    if proc.returncode != 0:
        raise RuntimeError(f"exit status {proc.returncode}\n{output}")
    return output


def installed(name: str, package: str, version: str, complete: Callable[[Path], bool],
              finish: Callable[[Path], str] | None = None, scripts: bool = True) -> Path:
    """The prefix holding ``package@version`` (its ``node_modules``), installed first if needed.

    ``complete(prefix)`` says whether an install is whole; ``finish(prefix)`` runs after
    ``npm install`` when it is not yet (a postinstall that npm held back), returning its log.
    Without ``scripts`` npm runs no install script (lefthook's would install its hooks into
    whatever repository npm was started in).
    Raises RuntimeError (with npm's output) if it cannot be installed.
    """
    target = cache_root() / f"{name}-{version}"
    if complete(target):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.with_name(f"{target.name}.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)   # whoever waited finds the install done
        if not complete(target):
            _install(package, version, target, complete, finish, scripts)
    return target


def _install(package: str, version: str, target: Path, complete: Callable[[Path], bool],
             finish: Callable[[Path], str] | None, scripts: bool) -> None:
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError(f"npm is not on PATH; the tests that run {package} need Node.js and npm")
    # npm's .bin links are relative, so renaming the staging directory keeps them valid.
    staging = target.with_name(f".{target.name}.staging-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    log = []
    try:
        log.append(run([npm, "install", "--no-save", "--no-audit", "--no-fund", "--prefix", str(staging),
                        *([] if scripts else ["--ignore-scripts"]), f"{package}@{version}"]))
        if not complete(staging) and finish is not None:
            log.append(finish(staging))
        if not complete(staging):
            raise RuntimeError(f"{package}@{version} is not complete after npm install")
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)
    except Exception as exc:
        raise RuntimeError(f"installing {package}@{version} into {target} failed: {exc}\n" + "\n".join(log)) from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _runs(executable: Path, *args: str) -> str | None:
    """What the executable prints, or None if it does not run."""
    if not os.access(executable, os.X_OK):
        return None
    try:
        proc = subprocess.run([str(executable), *args], capture_output=True, text=True, timeout=60,
                              stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return proc.stdout if proc.returncode == 0 else None


@lru_cache(maxsize=None)
def husky_package() -> Path:
    """The directory of the pinned husky package (its ``bin.js`` and helper ``husky``)."""
    def complete(prefix: Path) -> bool:
        return (prefix / "node_modules" / "husky" / "package.json").is_file() and \
            f'"version": "{HUSKY_VERSION}"' in (prefix / "node_modules" / "husky" / "package.json").read_text()

    return installed("husky", "husky", HUSKY_VERSION, complete, scripts=False) / "node_modules" / "husky"


def _lefthook_binary(prefix: Path) -> Path:
    arch = {"x86_64": "x64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
    return prefix / "node_modules" / f"lefthook-{sys.platform}-{arch}" / "bin" / "lefthook"


@lru_cache(maxsize=None)
def lefthook_binary() -> Path:
    """The pinned lefthook's native binary."""
    def complete(prefix: Path) -> bool:
        return (_runs(_lefthook_binary(prefix), "version") or "").strip() == LEFTHOOK_VERSION

    return _lefthook_binary(installed("lefthook", "lefthook", LEFTHOOK_VERSION, complete, scripts=False))


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from claude_cli import claude_cli_path

    try:
        for tool in (claude_cli_path, husky_package, lefthook_binary):
            print(tool())
    except RuntimeError as exc:
        sys.exit(str(exc))
