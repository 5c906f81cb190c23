"""A stream's prompt: its task from zones.yaml plus the zone rules every session carries.

The rules say what the stream owns, what is read-only, who owns the rest, how
to commit, and how to ask another stream for a change. Each runner delivers
them its own way (appended system prompt, prompt file, editor rule files).
"""

from __future__ import annotations

import os

from worktree_agents.errors import WtaError
from worktree_agents.zones import CONFIG_FILE

# The rules' heading names the stream: the fake Anthropic server routes a request to the stream's
# script by it (fake_anthropic.STREAM_MARKER), as a reader of a transcript tells streams apart.
STREAM_MARKER = "Zone rules of stream `"
# Said to an agent whose processes run in the stream's sandbox, after the read-only rule.
SANDBOX_NOTE = (" Your commands run in a sandbox that enforces this: a write there fails with `Read-only file "
                "system` (or `Invalid cross-device link`, `Device or resource busy`); do not work around it.")


def task(config, stream: str, repo_root: str, state_dir: str | None = None) -> str:
    """The stream's own prompt: `prompt`, or the text of `prompt_file` (relative to the repository
    root), after (with `state_dir`) why its last landing failed and the open requests other
    streams made to it."""
    sections = []
    if state_dir is not None:
        from worktree_agents.coordination.requests import prompt_section
        from worktree_agents.sessions.landing import read_handback
        from worktree_agents.sessions.store import SessionStore

        sections = [s for s in (read_handback(SessionStore(state_dir).handback_path(stream)),
                                prompt_section(state_dir, stream)) if s]
    return "\n".join([*(s.rstrip("\n") + "\n" for s in sections), _own_task(config, stream, repo_root)])


def _own_task(config, stream: str, repo_root: str) -> str:
    spec = config.streams[stream]
    if spec.prompt is not None:
        return spec.prompt.strip()
    if spec.prompt_file is not None:
        path = os.path.join(repo_root, spec.prompt_file)
        try:
            with open(path, encoding="utf-8") as f:
                return f.read().strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise WtaError(f"{path}: cannot read the prompt_file of stream {stream!r} ({exc}); "
                           f"create it or fix streams.{stream}.prompt_file in {CONFIG_FILE}") from None
    patterns = ", ".join(spec.paths)
    return f"Work on the {stream} stream's part of this repository ({patterns})."


def zone_rules(config, stream: str, worktree: str | None = None, sandboxed: bool = False) -> str:
    """The rules of the stream's zone, as instructions to an agent or a person (`sandboxed`: an agent
    whose processes run in the stream's sandbox)."""
    spec = config.streams[stream]
    branch = config.branch_for(stream)
    lines = [f"# {STREAM_MARKER}{stream}` (wta)", ""]
    where = f"the git worktree {worktree}" if worktree else "this stream's git worktree"
    lines.append(f"You are stream `{stream}`: you work in {where}, on branch `{branch}`. Other streams work "
                 "on the same repository at the same time, each in its own zone.")
    owned, excluded = _split(spec.paths)
    lines += ["", "You may change only these paths (gitignore patterns, relative to the repository root):"]
    lines += [f"- `{p}`" for p in owned]
    if excluded:
        lines += ["", "except these, which are not in your zone (do not change them):"]
        lines += [f"- `{p}`" for p in excluded]
    if spec.append_only:
        lines.append("Your zone is append-only: add new files, or add lines at the end of existing files; "
                     "never change or delete what is already there.")
    read_only = [CONFIG_FILE, *config.read_only]
    lines += ["", "Read-only for every stream (read them, never change them): "
              + ", ".join(f"`{p}`" for p in read_only) + "."]
    others = [(name, s) for name, s in config.streams.items() if name != stream]
    if others:
        lines += ["", "Owned by other streams (read them, do not change them):"]
        lines += [f"- `{name}`: " + _zone_line(s.paths) for name, s in others]
    if config.unowned == "deny":
        lines.append("Paths that no zone claims belong to nobody: do not change them either.")
    else:
        lines.append("Paths that no zone claims may be changed by any stream.")
    lines += [
        "",
        f"Commit your work on `{branch}` as you go, with messages that start with `[{stream}] `. "
        "The git hooks refuse a commit that touches a path outside your zone; when that happens, "
        "unstage that path (`git restore --staged PATH`) and leave it alone.",
        "",
        "Other worktrees (the main checkout and every other stream's), every branch but yours, the shared git "
        "hooks and git config are read-only for you." + (SANDBOX_NOTE if sandboxed else ""),
        "",
        "Need a change in a path you do not own? Do not make it yourself: ask its owner with "
        "`wta request OWNER \"what you need and why\"` and carry on with your own part.",
    ]
    return "\n".join(lines)


def _split(patterns) -> tuple[list[str], list[str]]:
    """A zone's patterns: those that own paths, and the exclusions (`!pattern`) without their `!`."""
    return [p for p in patterns if not p.startswith("!")], [p[1:] for p in patterns if p.startswith("!")]


def _zone_line(patterns) -> str:
    owned, excluded = _split(patterns)
    line = ", ".join(f"`{p}`" for p in owned)
    return line + (" except " + ", ".join(f"`{p}`" for p in excluded) if excluded else "")


def full_prompt(config, stream: str, repo_root: str, worktree: str | None = None,
                state_dir: str | None = None, sandboxed: bool = False) -> str:
    """What `wta prompt STREAM` prints: the task, then the zone rules."""
    return f"{task(config, stream, repo_root, state_dir)}\n\n{zone_rules(config, stream, worktree, sandboxed)}\n"
