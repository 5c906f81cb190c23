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
    tmp = f"{path}.{os.getpid()}.tmp"
    data = content.encode() if isinstance(content, str) else content
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(tmp, "wb") as f:
            f.write(data)
            if fsync:
                f.flush()
                os.fsync(f.fileno())
        if executable:
            os.chmod(tmp, os.stat(tmp).st_mode | 0o111)
        os.replace(tmp, path)
    except OSError as exc:  # a full disk: the previous version stays, no half-written copy is left
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise cannot_write(path, exc) from None


def write_json(path: str, data: Any, fsync: bool = True) -> None:
    import json

    write_atomic(path, json.dumps(data, indent=1) + "\n", fsync=fsync)

