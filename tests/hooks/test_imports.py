"""The hook path stays lean: no heavy library is imported by the hooks that run
on every commit, nor by the guard that runs on every agent edit.

Measured on real processes with PYTHONPROFILEIMPORTTIME=1, which makes every
Python started under it (here: the hooks git runs) list each module it imports
on stderr.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from support import add_stream_worktree, git, write_files

HEAVY = ("typer", "click", "pydantic", "yaml", "pathspec", "rich", "anthropic", "git", "psutil")


def imported(stderr: str) -> list[str]:
    """Module names from `-X importtime` lines ("import time: self | cumulative | name")."""
    names = []
    for line in stderr.splitlines():
        if line.startswith("import time:") and line.count("|") == 2:
            name = line.rsplit("|", 1)[1].strip()
            if name != "imported package":   # the header line
                names.append(name)
    return names


def heavy_among(names: list[str]) -> set[str]:
    # `git` is GitPython; worktree_agents.git is ours and fine.
    return {n for n in names if n.split(".")[0] in HEAVY}


def profiled_env() -> dict[str, str]:
    return {**os.environ, "PYTHONPROFILEIMPORTTIME": "1"}


def test_pre_commit_and_commit_msg_hooks_import_nothing_heavy(webapp):
    api = add_stream_worktree(webapp, "api")   # records the stream and writes the zones snapshot
    assert (webapp / ".git/wta/zones.cache").is_file()
    # A non-ASCII name takes the pre-commit hook's Python path (git quotes it, and the hook's shell
    # leaves such a path to Python: tests/hooks/test_fast_path.py); a subject that starts with `[`
    # takes the commit-msg hook's (a plain `-m` subject is prefixed by the hook's shell).
    write_files(api, {"src/lib/\u00e4.ts": "a\n"})
    git(api, "add", "-A")
    proc = git(api, "commit", "-q", "-m", "[wip] lean", env=profiled_env())
    names = imported(proc.stderr)
    # Both hooks ran their Python under the profiler (the entry runs as __main__, so count what it imports).
    assert names.count("worktree_agents.zones.enforce") == 2
    assert names.count("worktree_agents.zones.in_force") == 2
    assert heavy_among(names) == set()
    # Nor the standard library's slower modules: git runs through posix_spawn, the zones cache
    # is marshal, and these zones' patterns are matched with string methods (docs/performance.md).
    assert {"re", "subprocess", "json", "typing", "dataclasses"} & set(names) == set()
    assert git(api, "log", "-1", "--format=%s").stdout.strip() == "[api] [wip] lean"


def test_plain_commit_message_is_prefixed_without_starting_python(webapp):
    api = add_stream_worktree(webapp, "api")
    write_files(api, {"src/lib/\u00e4.ts": "b\n"})   # for Python in the pre-commit hook, as above
    git(api, "add", "-A")
    proc = git(api, "commit", "-q", "-m", "plain subject", "-m", "a body line", env=profiled_env())
    # Only the pre-commit hook started Python.
    assert imported(proc.stderr).count("worktree_agents.zones.enforce") == 1
    assert git(api, "log", "-1", "--format=%B").stdout.strip() == "[api] plain subject\n\na body line"
    git(api, "commit", "-q", "--amend", "-m", "[api] plain subject")
    assert git(api, "log", "-1", "--format=%s").stdout.strip() == "[api] plain subject"


def test_a_message_is_prefixed_byte_for_byte_by_the_shell_alone(webapp, tmp_path):
    """The commonest commit of an agent (`-m`/`-F`, no prefix: Claude Code's) starts no process to
    prefix its message, and changes nothing else in it: spaces, a backslash, a CR, a last line
    without its newline (kept by --cleanup=verbatim)."""
    import shutil

    api = add_stream_worktree(webapp, "api")
    shims, used = tmp_path / "shims", tmp_path / "used"
    shims.mkdir()
    for tool in ("cat", "mv"):
        (shims / tool).write_text(f'#!/bin/sh\necho {tool} >> "{used}"\nexec {shutil.which(tool)} "$@"\n')
        (shims / tool).chmod(0o755)
    message = "subject  with  spaces \n\n  body \\n literal\r\nlast line without its newline"
    (tmp_path / "message").write_bytes(message.encode())
    write_files(api, {"src/lib/shell.ts": "x\n"})
    git(api, "add", "-A")
    git(api, "commit", "-q", "--cleanup=verbatim", "-F", str(tmp_path / "message"),
        env={**os.environ, "PATH": f"{shims}{os.pathsep}{os.environ['PATH']}"})
    raw = subprocess.run(["git", "cat-file", "commit", "HEAD"], cwd=api, capture_output=True, check=True).stdout
    assert raw.split(b"\n\n", 1)[1] == b"[api] " + message.encode()   # bytes: text mode would turn \r\n into \n
    assert not used.exists()


def test_refusing_a_commit_imports_nothing_heavy(webapp):
    api = add_stream_worktree(webapp, "api")
    write_files(api, {"src/components/x.tsx": "x\n"})
    git(api, "add", "-A")
    proc = git(api, "commit", "-m", "outside", check=False, env=profiled_env())
    assert proc.returncode == 1 and "src/components/x.tsx" in proc.stderr
    names = imported(proc.stderr)
    assert "worktree_agents.zones.enforce" in names
    assert heavy_among(names) == set()


def test_guard_imports_nothing_heavy(webapp):
    api = add_stream_worktree(webapp, "api")
    for target in ("src/components/x.tsx", "src/lib/x.ts"):
        payload = {"session_id": "s", "cwd": str(api), "hook_event_name": "PreToolUse", "tool_name": "Write",
                   "tool_input": {"file_path": str(api / target), "content": "x"}}
        proc = subprocess.run([sys.executable, "-m", "worktree_agents.hooks.runtime", "guard"], cwd=api,
                              input=json.dumps(payload), text=True, capture_output=True, env=profiled_env(),
                              timeout=60)
        assert proc.returncode == 0
        assert ("deny" in proc.stdout) == (target.startswith("src/components"))
        names = imported(proc.stderr)
        assert "worktree_agents.zones.enforce" in names
        assert heavy_among(names) == set()


def test_the_profile_would_catch_a_heavy_import(webapp):
    """The check above is not vacuous: the full CLI does import typer and friends."""
    api = add_stream_worktree(webapp, "api")
    proc = subprocess.run([sys.executable, "-m", "worktree_agents", "check-zones"], cwd=api, text=True,
                          capture_output=True, env=profiled_env(), timeout=60)
    assert proc.returncode == 0
    assert "typer" in heavy_among(imported(proc.stderr))
