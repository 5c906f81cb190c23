"""Secrets: the search that proves an API key was written nowhere, and proof that it
finds a key in every kind of place it looks.

The load runs (test_load.py) give every session `ANTHROPIC_API_KEY=sk-ant-test-<random>`
and then search, with `search_for_key`, everything the run wrote: every file
under the test's directories (the state dir `<common>/wta`, every worktree with
its untracked and ignored files, the git dir, HOME), every git object in the
repository decompressed (commits, trees, blobs; reachable or not), `git log -p
--all`, the command lines of the processes seen while it ran, and the output
of `wta up`, `wta status --json` and `wta merge --json`. It looks for the whole
key and for its random middle, so a key cut short or with its prefix rewritten
is found too.
"""

from __future__ import annotations

import os
import secrets
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from support import commit_all, git, make_repo, write_files

KEY_PREFIX = "sk-ant-test-"


def new_key() -> str:
    return KEY_PREFIX + secrets.token_hex(16)


def needles(key: str) -> list[bytes]:
    """The key, and its random middle (distinctive alone)."""
    return [key.encode(), key[len(KEY_PREFIX):].encode()]


@dataclass
class Search:
    found: list[str] = field(default_factory=list)   # where the key (or its middle) was
    files: int = 0
    bytes: int = 0
    objects: int = 0


def search_for_key(key: str, roots: list[Path], repo: Path, outputs: dict[str, str] | None = None,
                   command_lines: list[str] | None = None) -> Search:
    """Every place under `roots` (git's object files excepted: read decompressed instead), every
    object of `repo`, its whole history with patches, the `outputs` and `command_lines`."""
    wanted = needles(key)
    result = Search()

    def look(where: str, data: bytes) -> None:
        result.bytes += len(data)
        if any(n in data for n in wanted):
            result.found.append(where)

    for root in roots:
        for folder, dirs, names in os.walk(root):
            dirs[:] = [d for d in dirs if not (d == "objects" and os.path.basename(folder) == ".git")]
            for name in names:
                path = os.path.join(folder, name)
                if os.path.islink(path) or not os.path.isfile(path):
                    continue
                result.files += 1
                with open(path, "rb") as f:
                    look(path, f.read())
    listing = git(repo, "cat-file", "--batch-all-objects", "--batch-check=%(objectname)").stdout.split()
    result.objects = len(listing)
    batch = subprocess.run(["git", "cat-file", "--batch"], cwd=repo, input="\n".join(listing).encode() + b"\n",
                           capture_output=True, check=True).stdout  # trees are binary
    look("git objects (git cat-file --batch-all-objects)", batch)
    look("git log -p --all", git(repo, "log", "-p", "--all").stdout.encode())
    for name, text in (outputs or {}).items():
        look(name, text.encode())
    for line in command_lines or []:
        look(f"command line: {line}", line.encode())
    return result


# -- the search itself finds what it must ---------------------------------------------------

def _plant(place: str, repo: Path, text: str) -> dict[str, str]:
    """Write `text` somewhere wta could have written it; the outputs to search."""
    if place == "state file":
        write_files(repo / ".git" / "wta" / "sessions", {"api.json": f'{{"reason": "{text}"}}\n'})
    elif place == "log":
        write_files(repo / ".git" / "wta" / "logs", {"api.log": f"agent: using {text}\n"})
    elif place == "untracked file":
        write_files(repo, {"src/.env.local": f"ANTHROPIC_API_KEY={text}\n"})
    elif place == "commit message":
        write_files(repo, {"notes.md": "notes\n"})
        commit_all(repo, f"notes\n\nkey: {text}")
    elif place == "file in history":
        write_files(repo, {"config.py": f"KEY = {text!r}\n"})
        commit_all(repo, "config")
        write_files(repo, {"config.py": "KEY = None\n"})
        commit_all(repo, "no key")
    elif place == "unreachable blob":
        git(repo, "hash-object", "-w", "--stdin", input=f"{text}\n")
    elif place == "json output":
        return {"wta status --json": f'{{"env": "{text}"}}'}
    return {}


PLACES = ["state file", "log", "untracked file", "commit message", "file in history", "unreachable blob",
          "json output"]


@pytest.mark.parametrize("whole", [True, False], ids=["key", "middle-only"])
@pytest.mark.parametrize("place", PLACES)
def test_the_search_finds_a_key_wherever_it_was_written(tmp_path, place, whole):
    repo = make_repo(tmp_path / "repo")
    key = new_key()
    clean = search_for_key(key, [tmp_path], repo)
    assert clean.found == [] and clean.files > 10 and clean.objects > 10

    outputs = _plant(place, repo, key if whole else f"[redacted-prefix]{key[len(KEY_PREFIX):]}")
    planted = search_for_key(key, [tmp_path], repo, outputs)

    assert planted.found, f"a key in a {place} was not found"
    if place == "json output":
        assert planted.found == ["wta status --json"]
    elif place == "unreachable blob":
        assert planted.found == ["git objects (git cat-file --batch-all-objects)"]


def test_the_search_finds_a_key_on_a_command_line(tmp_path):
    repo = make_repo(tmp_path / "repo")
    key = new_key()
    found = search_for_key(key, [tmp_path], repo, command_lines=["wta up", f"agent --api-key {key}"]).found
    assert found == [f"command line: agent --api-key {key}"]
