"""The one place that runs git.

Stdlib only: the commit hooks import this module. Output meant for machines is
read with `-z` and split on NUL, never screen-scraped.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from typing import Sequence

from worktree_agents.errors import WtaError

# `git rev-parse --local-env-vars` on git 2.39: the variables that tie a git
# process to one repository. Git exports some of them into hooks; they must be
# dropped before running git on another worktree.
LOCAL_ENV_VARS = (
    "GIT_ALTERNATE_OBJECT_DIRECTORIES", "GIT_CONFIG", "GIT_CONFIG_PARAMETERS",
    "GIT_CONFIG_COUNT", "GIT_OBJECT_DIRECTORY", "GIT_DIR", "GIT_WORK_TREE",
    "GIT_IMPLICIT_WORK_TREE", "GIT_GRAFT_FILE", "GIT_INDEX_FILE",
    "GIT_NO_REPLACE_OBJECTS", "GIT_REPLACE_REF_BASE", "GIT_PREFIX",
    "GIT_INTERNAL_SUPER_PREFIX", "GIT_SHALLOW_FILE", "GIT_COMMON_DIR",
)

EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"
ZERO_SHA = "0" * 40


class GitError(WtaError):
    """A git command failed where failure is not an expected answer."""


def no_git_env(env: dict[str, str] | None = None) -> dict[str, str]:
    """The environment minus the variables that pin git to one repository."""
    env = dict(os.environ if env is None else env)
    for name in LOCAL_ENV_VARS:
        env.pop(name, None)
    for name in [k for k in env if k.startswith("GIT_CONFIG_KEY_") or k.startswith("GIT_CONFIG_VALUE_")]:
        env.pop(name)
    return env


def run(
    *args: str,
    cwd: str | os.PathLike[str] | None = None,
    env: dict[str, str] | None = None,
    check: bool = True,
    input: bytes | None = None,
) -> subprocess.CompletedProcess[bytes]:
    """Run `git ARGS` and capture its output as bytes.

    With `check`, a non-zero exit raises `GitError` carrying git's own message.
    """
    proc = subprocess.run(
        ("git", *args), cwd=cwd, env=env, input=input,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    if check and proc.returncode != 0:
        message = proc.stderr.decode(errors="replace").strip().splitlines()
        detail = message[-1] if message else f"exit {proc.returncode}"
        raise GitError(f"git {' '.join(args[:2])} failed: {detail}")
    return proc


def out(*args: str, cwd: str | os.PathLike[str] | None = None, env: dict[str, str] | None = None) -> str:
    """Run git and return its stdout as text, trailing newline stripped."""
    return run(*args, cwd=cwd, env=env).stdout.decode(errors="surrogateescape").rstrip("\n")


def ok(*args: str, cwd: str | os.PathLike[str] | None = None, env: dict[str, str] | None = None) -> bool:
    """Whether `git ARGS` exits 0."""
    return run(*args, cwd=cwd, env=env, check=False).returncode == 0


def zsplit(data: bytes) -> list[str]:
    """Split NUL-terminated `-z` output into paths (undecodable bytes kept)."""
    text = data.decode(errors="surrogateescape")
    parts = text.split("\0")
    if parts and parts[-1] == "":
        parts.pop()
    return parts


@dataclass(frozen=True)
class RawChange:
    """One line of `git diff --raw -z`: what happened to one path."""

    status: str        # A, M, D, T (renames and copies are split by --no-renames)
    path: str
    old_mode: str
    new_mode: str
    old_blob: str
    new_blob: str


def parse_raw(fields: Sequence[str]) -> list[RawChange]:
    """Parse the NUL-split fields of `--raw -z --no-renames` output."""
    changes: list[RawChange] = []
    i = 0
    while i < len(fields):
        meta = fields[i]
        if not meta.startswith(":"):
            i += 1
            continue
        old_mode, new_mode, old_blob, new_blob, status = meta[1:].split(" ")
        letter = status[0]
        if letter in "RC":  # only without --no-renames: source then destination
            changes.append(RawChange("D" if letter == "R" else "A", fields[i + 1], old_mode, "000000", old_blob, ZERO_SHA))
            changes.append(RawChange("A", fields[i + 2], "000000", new_mode, ZERO_SHA, new_blob))
            i += 3
            continue
        changes.append(RawChange(letter, fields[i + 1], old_mode, new_mode, old_blob, new_blob))
        i += 2
    return changes


def staged_changes(cwd: str | os.PathLike[str] | None = None) -> list[RawChange]:
    """The changes staged in this worktree's index (honours GIT_INDEX_FILE)."""
    has_head = ok("rev-parse", "-q", "--verify", "HEAD^{commit}", cwd=cwd)
    proc = run("diff", "--cached", "--raw", "-z", "--no-renames", "--no-abbrev", "--ignore-submodules=none",
               "HEAD" if has_head else EMPTY_TREE, cwd=cwd)
    return parse_raw(zsplit(proc.stdout))


@dataclass(frozen=True)
class CommitChanges:
    sha: str
    subject: str
    parents: tuple[str, ...]
    changes: tuple[RawChange, ...]


def commit_changes(rev_range: Sequence[str], cwd: str | os.PathLike[str] | None = None,
                   env: dict[str, str] | None = None) -> list[CommitChanges]:
    """Every commit in a range with the paths it touches, in one `git log`.

    Merge commits are shown with `--cc`: only the paths whose merged result
    differs from every parent, which is what the merge itself introduced.
    """
    proc = run("log", "-z", "--raw", "--no-renames", "--no-abbrev", "--cc", "--format=%x01%H %P%x02%s",
               "--ignore-submodules=none", *rev_range, "--", cwd=cwd, env=env)
    commits: list[CommitChanges] = []
    for chunk in proc.stdout.decode(errors="surrogateescape").split("\x01")[1:]:
        head, _, rest = chunk.partition("\0")
        ids, _, subject = head.partition("\x02")
        sha, *parents = ids.split(" ")
        fields = rest.lstrip("\n").split("\0")
        commits.append(CommitChanges(sha, subject, tuple(p for p in parents if p),
                                     tuple(_parse_log_raw(fields, len(parents)))))
    return commits


def _parse_log_raw(fields: list[str], n_parents: int) -> list[RawChange]:
    """Raw entries of one commit; combined (`::`) entries of merges included."""
    if n_parents <= 1:
        return parse_raw([f.lstrip("\n") for f in fields])
    changes: list[RawChange] = []
    i = 0
    while i < len(fields):
        meta = fields[i].lstrip("\n")
        if meta.startswith("::"):
            # ::mode1 mode2 modeR sha1 sha2 shaR STATUS, then the path
            parts = meta.lstrip(":").split(" ")
            modes, shas = parts[:n_parents + 1], parts[n_parents + 1:2 * n_parents + 2]
            status = parts[-1]
            letter = "D" if "D" in status and modes[-1] == "000000" else ("A" if set(status) == {"A"} else "M")
            changes.append(RawChange(letter, fields[i + 1], modes[0], modes[-1], shas[0], shas[-1]))
            i += 2
        else:
            i += 1
    return changes


def read_blobs(shas: Sequence[str], cwd: str | os.PathLike[str] | None = None,
               env: dict[str, str] | None = None) -> dict[str, bytes]:
    """The contents of several blobs in one `git cat-file --batch`."""
    wanted = [s for s in dict.fromkeys(shas) if s and s != ZERO_SHA]
    if not wanted:
        return {}
    proc = run("cat-file", "--batch", cwd=cwd, env=env, input="".join(s + "\n" for s in wanted).encode())
    blobs: dict[str, bytes] = {}
    data, pos = proc.stdout, 0
    for sha in wanted:
        end = data.index(b"\n", pos)
        header = data[pos:end].split(b" ")
        pos = end + 1
        if len(header) < 3 or header[1] == b"missing":
            continue
        size = int(header[2])
        blobs[sha] = data[pos:pos + size]
        pos += size + 1
    return blobs
