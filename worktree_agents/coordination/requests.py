"""Requests between streams: one stream asks the owner of a zone for a change.

Each request is one JSON file, `<common git dir>/wta/requests/<id>.json`, so agents in
several worktrees can file requests at the same moment without a lock: the id is
reserved with O_EXCL and the content written atomically. A request closes when a
commit of its owner carries the trailer `Closes-request: <id>` (found by
`sync_closures`, which status, watch and prompt building call; the git hooks stay
fast), or by hand with `wta request --close ID`.

    {
      "id": "r-1a2b3c",
      "from_stream": "ui",             # null: a person in the main worktree
      "to_stream": "api",              # the owner asked
      "path": "src/app/api/x.ts",      # null unless filed with --path
      "text": "add GET /api/schedule",
      "created_at": "2025-05-01T09:30:12+00:00",
      "state": "open",                 # "open" | "closed"
      "closed_at": null,
      "closed_by": null                # the closing commit's sha, or "manual"
    }
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timedelta, timezone
from typing import Any, Iterable, Sequence

from worktree_agents import git, layout
from worktree_agents.errors import WtaError
from worktree_agents.files import read_plain_file, write_atomic
from worktree_agents.repo import Repo, stream_branch
from worktree_agents.state import now
from worktree_agents.zones.enforce import has_prefix
from worktree_agents.zones.in_force import ZonesInForce, read_cache, zones_in_force

TRAILER = "Closes-request"
ID = re.compile(r"^r-[0-9a-f]{6}$")
ID_IN_TEXT = re.compile(r"\br-[0-9a-f]{6}\b")
OPEN, CLOSED = "open", "closed"
MANUAL = "manual"
RECENT = timedelta(hours=24)       # how long a closed request stays in its requester's status
# Commits are searched from the oldest open request on, less this margin for clocks
# and committer dates that lag a little behind the request.
SEARCH_MARGIN = timedelta(days=1)
_ID_ATTEMPTS = 50


@dataclass(frozen=True)
class Request:
    id: str
    from_stream: str | None
    to_stream: str
    path: str | None
    text: str
    created_at: str
    state: str = OPEN
    closed_at: str | None = None
    closed_by: str | None = None

    @property
    def is_open(self) -> bool:
        return self.state == OPEN

    @property
    def requester(self) -> str:
        return self.from_stream or "a person (main worktree)"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Request":
        return cls(**{name: data.get(name) for name in cls.__dataclass_fields__})


def _file(state_dir: str, request_id: str) -> str:
    return layout.path(state_dir, layout.REQUEST, request_id=request_id)


# -- the store ---------------------------------------------------------------------

def load_all(state_dir: str) -> list[Request]:
    """Every request, oldest first."""
    try:
        names = os.listdir(layout.path(state_dir, layout.REQUESTS))
    except FileNotFoundError:
        return []
    found = []
    for name in names:
        request_id, ext = os.path.splitext(name)
        if ext != ".json" or not ID.match(request_id):
            continue
        request = _read(state_dir, request_id)
        if request is not None:
            found.append(request)
    return sorted(found, key=lambda r: (r.created_at, r.id))


def _read(state_dir: str, request_id: str) -> Request | None:
    try:
        data = read_plain_file(_file(state_dir, request_id))   # (the sandboxes write this folder)
    except FileNotFoundError:
        return None
    text = data.decode("utf-8", "replace") if data is not None else ""
    if not text.strip():
        return None  # reserved by a writer that has not written it yet
    try:
        return Request.from_dict(json.loads(text))
    except (ValueError, TypeError):
        return None


def get(state_dir: str, request_id: str) -> Request:
    if not ID.match(request_id):
        raise WtaError(f"{request_id!r} is not a request id (like r-1a2b3c); list them with `wta request --list`")
    request = _read(state_dir, request_id)
    if request is None:
        raise WtaError(f"request {request_id}: not found in {layout.path(state_dir, layout.REQUESTS)}; "
                       "list the open ones with `wta request --list`")
    return request


def _save(state_dir: str, request: Request) -> None:
    write_atomic(_file(state_dir, request.id), json.dumps(request.to_dict(), indent=1) + "\n")


def create(state_dir: str, from_stream: str | None, to_stream: str, text: str, path: str | None = None) -> Request:
    """Store a new open request under a fresh id (unchecked: see `file_request`), an API key in its text
    blanked out (it is shown to other agents, in their prompts, and kept in wta's state)."""
    import secrets  # here: `wta status` imports this module and never makes an id

    from worktree_agents.redaction import redact_text

    text = redact_text(text)

    os.makedirs(layout.path(state_dir, layout.REQUESTS), exist_ok=True)
    for _ in range(_ID_ATTEMPTS):
        request_id = f"r-{secrets.token_hex(3)}"
        try:
            # Reserve the id: two writers never get the same one, even across worktrees.
            os.close(os.open(_file(state_dir, request_id), os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
        except FileExistsError:
            continue
        request = Request(request_id, from_stream, to_stream, path, text, now())
        try:
            _save(state_dir, request)
        except WtaError:
            os.unlink(_file(state_dir, request_id))  # a full disk: no empty reservation left behind
            raise
        return request
    raise WtaError(f"{layout.path(state_dir, layout.REQUESTS)}: no free request id after {_ID_ATTEMPTS} tries; "
                   "close or delete old requests there")


def close(state_dir: str, request_id: str, closed_by: str = MANUAL) -> Request:
    """Mark a request closed; a closed one is returned unchanged."""
    request = get(state_dir, request_id)
    if not request.is_open:
        return request
    closed = replace(request, state=CLOSED, closed_at=now(), closed_by=closed_by)
    _save(state_dir, closed)
    return closed


# -- filing a request: `wta request` and the api runner's `request` tool ------------

def file_request(state_dir: str, zones: ZonesInForce, from_stream: str | None, text: str,
                 to_stream: str | None = None, path: str | None = None) -> Request:
    """Validate and store a request to a stream, or to the owner of a repository path."""
    text = text.strip()
    if not text:
        raise WtaError("the request text is empty; say what you need, e.g. "
                       "wta request api \"add GET /api/schedule\"")
    if (to_stream is None) == (path is None):
        raise WtaError("name either the stream (wta request STREAM TEXT) or a path (wta request --path PATH TEXT)")
    if path is not None:
        return create(state_dir, from_stream, owner_for_request(zones, path, from_stream), text, path)
    if to_stream not in zones.streams:
        raise WtaError(f"stream {to_stream!r} is not in {zones.source}; ask one of: {', '.join(zones.streams)}")
    if to_stream == from_stream:
        raise WtaError(f"this worktree is stream {to_stream!r}: a request to yourself is just work; "
                       "do it here, in your own zone")
    return create(state_dir, from_stream, to_stream, text, path)


def file_from_worktree(worktree: str, from_stream: str | None, text: str, to_stream: str | None = None,
                       path: str | None = None) -> Request:
    """`file_request` as run inside a worktree (the api runner's `request` tool); `path` is repository-relative."""
    repo = Repo.here(worktree)
    return file_request(repo.state_dir, zones_in_force(repo), from_stream, text, to_stream, path)


def owner_for_request(zones: ZonesInForce, path: str, from_stream: str | None) -> str:
    """The stream that owns `path`, or a WtaError saying why nobody can be asked."""
    owner = zones.zones.owner_of(path)
    if owner.protected:
        raise WtaError(f"{owner.path}: zones.yaml belongs to no stream; change it on {zones.base!r} by hand "
                       "(a person in the main worktree)")
    if owner.read_only:
        raise WtaError(f"{owner.path}: read-only (pattern {owner.pattern!r}), no stream owns it; "
                       f"ask a person to change it on {zones.base!r}")
    if owner.stream is None:
        raise WtaError(f"{owner.path}: unowned, no stream can be asked; add it to a zone in zones.yaml on "
                       f"{zones.base!r}, or ask a stream by name: wta request STREAM TEXT")
    if owner.also:
        raise WtaError(f"{owner.path}: claimed by {', '.join((owner.stream, *owner.also))}; fix the overlap in "
                       f"zones.yaml, or ask a stream by name: wta request STREAM TEXT")
    if owner.stream == from_stream:
        raise WtaError(f"{owner.path} is in your own zone ({from_stream}); change it yourself")
    return owner.stream


# -- closing by commit ---------------------------------------------------------------

def sync_closures(state_dir: str, zones: ZonesInForce | None = None,
                  env: dict[str, str] | None = None) -> list[Request]:
    """Close the open requests that their owner's commits name in a `Closes-request:` trailer.

    Only commits of the owner count: reachable from its branch (or from the base,
    once merged) and carrying its `[stream]` prefix, which the commit-msg hook puts
    on every commit made in its worktree. Returns the requests closed now.
    """
    waiting: dict[str, dict[str, Request]] = {}
    for request in load_all(state_dir):
        if request.is_open:
            waiting.setdefault(request.to_stream, {})[request.id] = request
    if not waiting:
        return []
    base, prefix = _branches(state_dir, zones)
    if base is None:
        return []
    common = layout.common_dir(state_dir)
    env = git.git_dir_env(common, env)
    heads = git.branch_heads(cwd=common, env=env)
    closed = []
    for owner, open_ids in waiting.items():
        revs = [f"refs/heads/{b}" for b in dict.fromkeys((stream_branch(prefix, owner), base)) if b in heads]
        oldest = min(datetime.fromisoformat(r.created_at) for r in open_ids.values())
        since = (oldest - SEARCH_MARGIN).isoformat(timespec="seconds")
        for commit in reversed(git.commits_with_trailer(revs, TRAILER, since, cwd=common, env=env)):
            if not has_prefix(commit.subject, owner):
                continue
            for request_id in (i for value in commit.values for i in ID_IN_TEXT.findall(value)):
                if request_id in open_ids:
                    closed.append(close(state_dir, request_id, commit.sha))
                    del open_ids[request_id]
    return closed


def _branches(state_dir: str, zones: ZonesInForce | None) -> tuple[str | None, str]:
    """The base branch and the stream branch prefix, from the zones in force or their cache."""
    if zones is not None:
        return zones.base, zones.branch_prefix
    common = layout.common_dir(state_dir)
    data = read_cache(Repo(common, common))
    return (data["base"], data["branch_prefix"]) if data else (None, "")


# -- views: status and prompts -------------------------------------------------------

def for_stream(requests: Iterable[Request], stream: str, at: datetime | None = None) -> dict[str, list[dict]]:
    """A stream's requests as `wta status --json` shows them.

    open_to: open requests it is asked to do; opened_by: its own that are still open;
    closed_recently: its own closed in the last 24 hours.
    """
    at = at or datetime.now(timezone.utc)
    view: dict[str, list[dict]] = {"open_to": [], "opened_by": [], "closed_recently": []}
    for r in requests:
        if r.is_open and r.to_stream == stream:
            view["open_to"].append(r.to_dict())
        elif r.is_open and r.from_stream == stream:
            view["opened_by"].append(r.to_dict())
        elif (not r.is_open and r.from_stream == stream and r.closed_at
              and at - datetime.fromisoformat(r.closed_at) <= RECENT):
            view["closed_recently"].append(r.to_dict())
    return view


def status_for(state_dir: str, streams: Sequence[str], zones: ZonesInForce | None = None,
               env: dict[str, str] | None = None) -> dict[str, dict[str, list[dict]]]:
    """Close what commits closed, then each stream's requests (see `for_stream`)."""
    sync_closures(state_dir, zones, env)
    everything = load_all(state_dir)
    at = datetime.now(timezone.utc)
    return {stream: for_stream(everything, stream, at) for stream in streams}


def prompt_section(state_dir: str, stream: str) -> str:
    """The open requests to `stream`, as the start of its next session's prompt ('' when none)."""
    sync_closures(state_dir)
    waiting = [r for r in load_all(state_dir) if r.is_open and r.to_stream == stream]
    if not waiting:
        return ""
    lines = [
        "## Open requests from other streams",
        "",
        f"Other streams asked you (stream {stream!r}) for changes in your zone. Handle them first. "
        f"When a commit completes one, end its message with the trailer line `{TRAILER}: <id>` "
        "(one line per request); that closes it.",
        "",
    ]
    for r in waiting:
        about = f" about {r.path}" if r.path else ""
        text = r.text.strip().replace("\n", "\n  ")
        lines.append(f"- {r.id} from {r.requester}{about} ({r.created_at}): {text}")
    return "\n".join(lines) + "\n"
