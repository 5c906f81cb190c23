"""Writing wta's files so that a reader (or a killed writer) never sees half of one.

Stdlib only, and no `json` at import: the hooks write the zones cache through it.
"""

from __future__ import annotations

import os

from worktree_agents.errors import cannot_write

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing
if TYPE_CHECKING:
    from typing import Any


def write_atomic(path: str, content: str | bytes, executable: bool = False, fsync: bool = True) -> None:
    """Write a file so that readers see the old or the new content, never half.

    `executable`: a script (a git hook), executable by whoever may read it.
    `fsync=False` for a file rewritten before every step (the merge state): a
    killed process is what it must survive, and the rename guarantees that.
    """
    data = content.encode() if isinstance(content, str) else content
    tmp = None
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        fd, tmp = _new_file(path)
        with open(fd, "wb") as f:
            f.write(data)
            if fsync:
                f.flush()
                os.fsync(f.fileno())
            if executable:
                os.fchmod(f.fileno(), os.fstat(f.fileno()).st_mode | 0o111)
        os.replace(tmp, path)   # (a link at `path` is replaced, never written through)
    except OSError as exc:  # a full disk: the previous version stays, no half-written copy is left
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass
        raise cannot_write(path, exc) from None


def _new_file(path: str) -> tuple[int, str]:
    """A file of its own beside `path` to write first: a name nobody could guess, created here (never
    one found there: a sandboxed agent can write some of wta's folders, and a link it put at a
    predictable name would have had wta write through it, outside the sandbox)."""
    while True:
        tmp = f"{path}.{os.urandom(6).hex()}.tmp"
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o666), tmp
        except FileExistsError:
            continue


class UnderWay:
    """A file that names work while it is under way, so that whoever comes next can finish what was cut
    short: written as the block begins, removed as it ends, but not when an exception ends it (Ctrl-C
    stops git too: the work may be half done, as after a kill). No file when `path` is None."""

    def __init__(self, path: str | None, text: str) -> None:
        self.path, self.text = path, text

    def __enter__(self) -> None:
        if self.path is not None:
            write_atomic(self.path, self.text)

    def __exit__(self, kind: object, *_: object) -> None:
        if self.path is not None and kind is None:
            os.unlink(self.path)


def read_plain_file(path: str, limit: int = 1 << 20) -> bytes | None:
    """The content of a regular file that a sandboxed agent may have written, or None when it is not
    one (a FIFO would block the reader for ever, a link could lead to /dev/zero) or is larger than
    `limit` bytes. FileNotFoundError when there is none."""
    import stat

    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        return None   # a link (ELOOP), or a file it may not read
    with open(fd, "rb") as f:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size > limit:
            return None
        return f.read(limit + 1)[:limit]


def resolves_inside(root: str, path: str) -> bool:
    """Whether `path`, below `root` and existing or not, stays inside `root` as the file system resolves it:
    no directory on the way is a link out of it. A stream's worktree is its agent's to write: it can make
    `.husky`, or the folder of a `copy:` file, a link to anywhere, and wta writes there from outside."""
    real_root = os.path.realpath(root)
    real = os.path.realpath(path)
    return real == real_root or real.startswith(real_root.rstrip(os.sep) + os.sep)


def write_json(path: str, data: Any, fsync: bool = True) -> None:
    import json

    write_atomic(path, json.dumps(data, indent=1) + "\n", fsync=fsync)

