"""Zone enforcement at its four moments: staged changes (pre-commit), commit
messages (commit-msg), a range of commits (audit at merge, `wta check-zones`,
`wta watch`), and single edits (the Claude Code PreToolUse guard).

Stdlib only: everything here runs inside git hooks.
"""

from __future__ import annotations

import os
from collections import namedtuple

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

from worktree_agents import git
from worktree_agents.errors import WtaError
from worktree_agents.repo import Repo
from worktree_agents.zones.in_force import ZonesInForce, zones_in_force
from worktree_agents.zones.ownership import Change, Violation, ZoneMap, quote_path

# Subjects are taken apart with string methods, not `re`, which the commit hooks
# do without (see zones.matcher).
AUTOSQUASH_WORDS = ("fixup! ", "squash! ", "amend! ")
_NAME_FIRST = frozenset("abcdefghijklmnopqrstuvwxyz0123456789")
_NAME_REST = _NAME_FIRST | {"_", "-"}


def split_subject(subject: str) -> tuple[str, str | None, str]:
    """A subject's `fixup! `/`squash! `/`amend! ` chain, the stream named by a
    `[stream] ` prefix after it (None without one), and the text after both."""
    chain = 0
    while True:
        word = next((w for w in AUTOSQUASH_WORDS if subject.startswith(w, chain)), None)
        if word is None:
            break
        chain += len(word)
    head, rest = subject[:chain], subject[chain:]
    end = rest.find("] ")
    name = rest[1:end] if rest.startswith("[") and end > 1 else ""
    if name and name[0] in _NAME_FIRST and all(ch in _NAME_REST for ch in name):
        return head, name, rest[end + 2:]
    return head, None, rest


def _sha_like(text: str) -> bool:
    return 7 <= len(text) <= 40 and git.is_hex(text)


class _BlobCache:
    """Reads blobs for append-only checks, all in one `git cat-file --batch`."""

    def __init__(self, shas: Sequence[str], cwd: str | None = None, env: dict[str, str] | None = None) -> None:
        self._shas, self._cwd, self._env = list(shas), cwd, env
        self._blobs: dict[str, bytes] | None = None

    def __call__(self, sha: str) -> bytes | None:
        if self._blobs is None:
            self._blobs = git.read_objects(self._shas, cwd=self._cwd, env=self._env)
        return self._blobs.get(sha)


def _stream_known(stream: str, zones: ZonesInForce) -> None:
    if stream not in zones.zones.zones:
        raise WtaError(f"stream {stream!r} is recorded for this worktree but {zones.source} has no such stream; "
                       f"add it to zones.yaml on {zones.base!r} or record another with `wta hooks install --stream`")


def check_staged(repo: Repo, stream: str, cwd: str | None = None, merging: list[str] | None = None,
                 against: str = "HEAD") -> list[Violation]:
    """The staged changes of this worktree that leave `stream`'s zone. `against`: what the commit's change is
    counted from (an amend's: HEAD's first parent). `merging`: the other parents of a
    merge (by default MERGE_HEAD's, a conflicted merge's).

    A merge's own change is a path whose result differs from every parent's (as `--cc`): what the merged
    commits bring is theirs, and each of those commits that the base lacks is checked as a landing checks it.
    So merging the base in (to catch up) brings other zones' work that the base has, and goes through; a
    merge of another stream's branch is refused for its commits, even one that keeps this tree (`-s ours`)."""
    zones = zones_in_force(repo)
    _stream_known(stream, zones)
    append_only = zones.zones.zones[stream].append_only  # only then are modes and blob ids needed
    changes = git.staged_changes(cwd, against=against, names_only=not append_only)
    merging = repo.merge_heads() if merging is None else merging
    for other in merging:
        differs = {c.path for c in git.staged_changes(cwd, against=other, names_only=True)}
        changes = [c for c in changes if c.path in differs]
    brought = []
    if merging:
        base = git.commit_of(f"refs/heads/{zones.base}", cwd)
        brought = git.commit_changes([*merging, f"^{against}", *([f"^{base}"] if base else [])], cwd=cwd)
    reader = None
    if append_only:
        reader = _BlobCache([s for c in changes if c.status == "M" for s in (c.old_blob, c.new_blob)], cwd)
    return zones.zones.violations(stream, changes, reader) + audit_commits(zones.zones, stream, brought, cwd)


class RangeCheck(namedtuple("RangeCheck", [
    "violations",  # list of Violation
    "commits",     # how many commits the range holds
    "paths",       # how many distinct paths they touch
])):
    """What `wta check-zones RANGE` checked, and what it found."""

    __slots__ = ()


def check_range(repo: Repo, stream: str, rev_range: Sequence[str], cwd: str | None = None,
                zones: ZonesInForce | None = None) -> RangeCheck:
    """Every path, in every commit of the range, that leaves `stream`'s zone."""
    zones = zones or zones_in_force(repo)
    _stream_known(stream, zones)
    commits = git.commit_changes(rev_range, cwd=cwd)
    paths = {change.path for commit in commits for change in commit.changes}
    return RangeCheck(audit_commits(zones.zones, stream, commits, cwd), len(commits), len(paths))


def audit_commits(zones: ZoneMap, stream: str, commits: Sequence[git.CommitChanges],
                  cwd: str | None = None, env: dict[str, str] | None = None) -> list[Violation]:
    reader = None
    if zones.zones[stream].append_only:
        reader = _BlobCache([s for c in commits for r in c.changes if r.status == "M"
                             for s in (r.old_blob, r.new_blob)], cwd, env)
    found: list[Violation] = []
    for commit in reversed(commits):  # oldest first
        found.extend(zones.violations(stream, commit.changes, reader, commit=commit.sha))
    return found


def audit_result(zones: ZoneMap, stream: str, old: str, new: str,
                 cwd: str | None = None, env: dict[str, str] | None = None,
                 changes: Sequence[git.RawChange] | None = None) -> list[Violation]:
    """The paths outside `stream`'s zone that moving from commit `old` to `new` changes
    (`changes`: `git.tree_changes(old, new)`, when the caller has read them).

    The net change, next to the commit-by-commit audit: a merge commit can hide
    a deletion from `--cc` (a parent that never had the file), and a rebase can
    carry a change along a rename made meanwhile into another zone.
    """
    if changes is None:
        changes = git.tree_changes(old, new, cwd=cwd, env=env)
    reader = None
    if zones.zones[stream].append_only:
        reader = _BlobCache([s for c in changes if c.status == "M" for s in (c.old_blob, c.new_blob)], cwd, env)
    return zones.violations(stream, changes, reader)


# -- commit messages ------------------------------------------------------------

def prefix_message(message: str, stream: str, streams: Sequence[str], comment_char: str | None = None,
                   targets: Callable[[], Sequence[str]] | None = None) -> str:
    """The message with `[stream] ` in front of its subject.

    Idempotent. `fixup!`/`squash!`/`amend!` stay in front, so autosquash still
    finds the (prefixed) subject they name; an `amend!` commit's body, the message
    autosquash puts in place of its target's, gets the prefix too. `targets`: the
    subjects of the stream's commits, asked for only for such a subject; when the
    one it names has no prefix (made with `--no-verify`, a cherry-pick), the subject
    is left as it is, or autosquash would not find it (the landing names both). Raises if the
    subject carries another stream's prefix. With `comment_char`, the message is
    one git will still clean up: its subject is the first line that is neither
    blank nor a comment, and nothing after the scissors line counts.
    """
    lines = _prefix_subject(message, stream, streams, comment_char, targets).split("\n")
    index = _subject_index(lines, comment_char)
    if index is not None and split_subject(lines[index])[0].startswith("amend! ") and \
            _subject_index(lines[index + 1:], comment_char) is not None:
        lines[index + 1:] = _prefix_subject("\n".join(lines[index + 1:]), stream, streams, comment_char).split("\n")
    return "\n".join(lines)


def _prefix_subject(message: str, stream: str, streams: Sequence[str], comment_char: str | None,
                    targets: Callable[[], Sequence[str]] | None = None) -> str:
    lines = message.split("\n")
    index = _subject_index(lines, comment_char)
    if index is None:
        return message  # nothing but comments: git aborts the commit as empty, as it would without wta
    head, named, _ = split_subject(lines[index])
    if named == stream:
        return message
    if named is None:   # `[ui]x`, `[ui]` alone: a stream's prefix all the same, only without its space
        rest = lines[index][len(head):]
        close = rest.find("]")
        loose = rest[1:close] if rest.startswith("[") and close > 1 else None
        if loose == stream:   # its own: given its space (prefixed again, it read `[api] [api]x`)
            after = rest[close + 1:].lstrip()
            if not after:
                raise WtaError(f"commit message has nothing after its [{stream}] prefix; say what the commit does")
            lines[index] = f"{head}[{stream}] {after}"
            return "\n".join(lines)
        named = loose if loose in streams else None
    if named in streams:
        raise WtaError(f"commit message starts with [{named}] but this worktree is stream {stream!r}; "
                       f"commit {named}'s work in its own worktree, or drop the prefix")
    rest = lines[index][len(head):]
    if head and _sha_like(rest.strip()):
        return message  # `fixup! <sha>` names its target by id
    if head and targets is not None and _names_unprefixed(rest, stream, targets()):
        return message
    lines[index] = f"{head}[{stream}] {rest}"
    return "\n".join(lines)


def _names_unprefixed(text: str, stream: str, subjects: Sequence[str]) -> bool:
    """Whether git's autosquash finds a commit by `text` (its subject starts with it) only as it stands, not
    with the stream's prefix in front."""
    prefixed = f"[{stream}] {text}"
    return any(s.startswith(text) for s in subjects) and not any(s.startswith(prefixed) for s in subjects)


def _subject_index(lines: Sequence[str], comment_char: str | None) -> int | None:
    scissors = f"{comment_char} ------------------------ >8 ------------------------"
    for i, line in enumerate(lines):
        if comment_char and line.startswith(comment_char):
            if line.rstrip() == scissors:
                return None
            continue
        if line.strip():
            return i
    return None


def has_prefix(subject: str, stream: str) -> bool:
    return split_subject(subject)[1] == stream


# -- the Claude Code PreToolUse guard ---------------------------------------------

EDIT_TOOLS = ("Edit", "Write", "NotebookEdit", "MultiEdit")


class GuardDecision(namedtuple("GuardDecision", ["allowed", "reason"], defaults=[""])):
    """Whether the guard lets an edit through, and why not."""

    __slots__ = ()


def guard_edit(tool: str, tool_input: dict, cwd: str, worktree: str, stream: str,
               zones: ZonesInForce) -> GuardDecision:
    """May `stream` let this tool call change this file?

    The file is judged both by the path the tool names and by where that path
    really leads (symlinks resolved): a link inside the zone must not become a
    way to edit another zone's file, nor anything outside the worktree.
    """
    if tool not in EDIT_TOOLS:
        return GuardDecision(True)
    target = tool_input.get("file_path") or tool_input.get("notebook_path")
    if not isinstance(target, str) or not target:
        return GuardDecision(True)
    path = os.path.normpath(os.path.join(cwd, target))
    real_root = os.path.realpath(worktree)
    real = os.path.realpath(path)
    lexical_root = next((r for r in (os.path.normpath(worktree), real_root) if _inside(path, r)), None)
    if not _inside(real, real_root):
        if lexical_root is None:
            return GuardDecision(False, f"wta: {target} is outside this worktree ({real_root}); stream {stream!r} "
                                        "may only edit files inside it")
        return GuardDecision(False, f"wta: {target} leads out of this worktree through a symlink (to {real}); "
                                    f"stream {stream!r} may only edit files inside it")
    judged: dict[str, str] = {}   # repository path -> how it relates to the path named
    if lexical_root is not None:
        judged[_posix(os.path.relpath(path, lexical_root))] = ""
    judged.setdefault(_posix(os.path.relpath(real, real_root)), f" (where {target} leads)")
    zone = zones.zones.zones[stream]
    exists = os.path.isfile(real)
    reader = _prospective_reader(tool, tool_input, real) if exists and zone.append_only else None
    for rel, via in judged.items():
        if ".git" in rel.split("/"):
            return GuardDecision(False, f"wta: {rel} is git's own data; edit files, not the repository")
        if rel == ".":
            return GuardDecision(False, f"wta: {target} is the worktree itself, not a file")
        change = Change("M" if exists else "A", rel, "100644", "100644", "old", "new")
        found = zones.zones.violations(stream, [change], reader)
        if found:
            own = ", ".join(r.pattern for r in zone.patterns.rules)
            return GuardDecision(False, f"wta: {quote_path(rel)}{via} is {found[0].describe()}. Stream {stream!r} "
                                        f"may only edit its zone ({own}).")
    return GuardDecision(True)


def _posix(rel: str) -> str:
    return rel.replace(os.sep, "/")


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def _prospective_reader(tool: str, tool_input: dict, real: str):
    """A blob reader giving the file's current and would-be contents (None: unknown)."""
    with open(real, "rb") as f:
        old = f.read()
    text = old.decode(errors="surrogateescape")
    new: str | None = None
    if tool == "Write" and isinstance(tool_input.get("content"), str):
        new = tool_input["content"]
    elif tool == "Edit":
        new = _apply_edit(text, tool_input)
    elif tool == "MultiEdit" and isinstance(tool_input.get("edits"), list):
        new = text
        for edit in tool_input["edits"]:
            new = _apply_edit(new, edit) if isinstance(edit, dict) and new is not None else None
    contents = {"old": old, "new": None if new is None else new.encode(errors="surrogateescape")}
    return contents.get


def _apply_edit(text: str, edit: dict) -> str | None:
    before, after = edit.get("old_string"), edit.get("new_string")
    if not isinstance(before, str) or not isinstance(after, str) or not before or before not in text:
        return None
    return text.replace(before, after, -1 if edit.get("replace_all") else 1)
