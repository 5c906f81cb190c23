"""`wta request`: ask the owner of another zone for a change; close or list requests."""

from __future__ import annotations

from worktree_agents import sessions
from worktree_agents.commands.output import emit_json, err, table
from worktree_agents.coordination import requests
from worktree_agents.errors import WtaError
from worktree_agents.project import Project
from worktree_agents.redaction import one_line
from worktree_agents.sessions.store import SessionStore
from worktree_agents.shortening import cut_end


def run(words: list[str], path: str | None = None, close_id: str | None = None,
        list_open: bool = False, as_json: bool = False) -> int:
    if sum((bool(close_id), list_open)) > 1 or ((close_id or list_open) and (words or path)):
        raise WtaError("use one of: wta request STREAM TEXT | --path PATH TEXT | --close ID | --list")
    if as_json and not list_open:
        raise WtaError("--json goes with --list: wta request --list --json")
    project = Project.find()
    state_dir = project.repo.state_dir
    if close_id:
        return _close(state_dir, close_id)
    if list_open:
        return _list(project, as_json)
    zones = project.base_zones()
    if path is not None:
        if not words:
            raise WtaError("say what you need: wta request --path PATH \"TEXT\"")
        request = requests.file_request(state_dir, zones, project.stream, " ".join(words),
                                        path=project.relative(path))
    else:
        if len(words) < 2:
            raise WtaError("name the stream and say what you need: wta request STREAM \"TEXT\" "
                           "(or wta request --path PATH \"TEXT\" to ask a path's owner)")
        request = requests.file_request(state_dir, zones, project.stream, " ".join(words[1:]), to_stream=words[0])
    print(request.id)
    owner = request.to_stream
    if _worked_by_hand(project, owner):
        # (No session of it starts: a person in an editor sees it in `wta status` and the prompt.)
        shown = f"{owner} is worked by hand (runner manual): `wta status` shows it, `wta prompt {owner}` starts with it"
    else:
        shown = "its next session starts with it"
    err(f"request {request.id} to {owner}: {shown}; a commit of {owner} with `{requests.TRAILER}: {request.id}` "
        "closes it")
    return 0


def _worked_by_hand(project: Project, stream: str) -> bool:
    """Whether the stream's session is a person's (`manual`)."""
    try:
        config = project.main_config()
    except WtaError:   # (the request is filed: a broken zones.yaml only changes the hint)
        return False
    return sessions.by_hand(sessions.runner_of(SessionStore(project.repo.state_dir).read(stream), config, stream))


def _close(state_dir: str, request_id: str) -> int:
    before = requests.get(state_dir, request_id)
    closed = requests.close(state_dir, request_id)
    if not before.is_open:
        print(f"{request_id} was already closed ({closed.closed_by}, {closed.closed_at})")
    else:
        print(f"{request_id} closed")
    return 0


def _list(project: Project, as_json: bool) -> int:
    state_dir = project.repo.state_dir
    requests.sync_closures(state_dir, project.base_zones(), project.env)
    waiting = [r for r in requests.load_all(state_dir) if r.is_open]
    if as_json:
        emit_json([r.to_dict() for r in waiting])
        return 0
    if not waiting:
        print("no open requests")
        return 0
    rows = [(r.id, r.from_stream or "(person)", r.to_stream, r.created_at, _one_line(r.text, r.path))
            for r in waiting]
    print(table(("id", "from", "to", "created", "request"), rows))
    return 0


def _one_line(text: str, path: str | None) -> str:
    line = one_line(text)   # (another stream's agent wrote it)
    line = cut_end(line, 70)
    return f"[{path}] {line}" if path else line
