"""Bad input to the commands that change things: one line per problem, exit 2, nothing touched.

Two corpora, both run against one prepared repository (the example zones,
`wta up --no-launch api ui` done, a commit on each of those streams, so that
`wta up` and `wta merge` would have real work to do):

- every malformed zones.yaml of tests/bad_zones/ (see tests/config/test_config.py for
  the format), written over the main worktree's zones.yaml and given to
  `wta up --no-launch` and to `wta merge`;
- malformed command lines: unknown streams, ranges git cannot parse, paths
  outside the repository, flags in conflict, bad values, unknown commands and
  options.

After each, the repository's footprint (every ref, git's worktree list, every
file of wta's state dir, every worktree's status and HEAD, the hooks and git's
config) is what it was before.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

import pytest

from support import EXAMPLE_ZONES, commit_all, git, make_repo, wta, write_files

CORPUS = sorted((Path(__file__).parent.parent / "bad_zones").glob("*.yaml"))
LOCATED = re.compile(r"^wta: (?P<path>.+?):(?P<line>\d+):(?P<col>\d+): (?P<text>.+)$")

ZONES = (EXAMPLE_ZONES.read_text().replace("setup: [npm ci]", "setup: []")
         .replace("test: npm test", "test: 'true'"))
PREPARED = ("api", "ui")   # streams with a worktree; infra and monitor have none yet

_templates: dict[str, Path] = {}


def worktree(repo: Path, stream: str) -> Path:
    return repo.parent / f"{repo.name}-worktrees" / stream


def _prepared(root: Path) -> Path:
    repo = make_repo(root / "webapp", ZONES)
    wta(repo, "up", "--no-launch", *PREPARED, check=0)
    write_files(worktree(repo, "api"), {"src/lib/cache.ts": "export const cache = 1\n"})
    commit_all(worktree(repo, "api"), "add a cache")
    write_files(worktree(repo, "ui"), {"src/components/Nav.tsx": "export const Nav = () => null\n"})
    commit_all(worktree(repo, "ui"), "add a nav")
    return repo


@pytest.fixture
def repo(tmp_path_factory) -> Path:
    """The prepared repository, shared by every test of this module (a command that
    changes nothing leaves it as it was; the footprint check proves it each time)."""
    if "repo" not in _templates:
        _templates["repo"] = _prepared(tmp_path_factory.mktemp("bad-input"))
    return _templates["repo"]


def footprint(repo: Path) -> dict:
    """Everything a command could create or change."""
    common = repo / ".git"
    state = common / "wta"
    worktrees = [repo] + [worktree(repo, s) for s in ("infra", "api", "ui", "monitor")]

    def files(root: Path) -> dict[str, str]:
        if not root.exists():
            return {}
        return {str(p.relative_to(root)): hashlib.sha1(p.read_bytes()).hexdigest()
                for p in sorted(root.rglob("*")) if p.is_file() or p.is_symlink()}

    return {
        "refs": git(repo, "for-each-ref", "--format=%(refname) %(objectname)").stdout,
        "worktrees": git(repo, "worktree", "list", "--porcelain").stdout,
        "state": files(state),
        "hooks": files(common / "hooks"),
        "config": (common / "config").read_text(),
        "exclude": (common / "info" / "exclude").read_text(),
        "status": {str(w): (git(w, "--no-optional-locks", "status", "--porcelain=v1", "-z", "--untracked-files=all",
                                "--ignored").stdout, git(w, "rev-parse", "HEAD").stdout)
                   if w.exists() else None for w in worktrees},
    }


def one_line_exit_2(proc, expected: str) -> str:
    """The single `wta: ...` line of a usage or configuration error."""
    assert proc.returncode == 2, f"exit {proc.returncode}\n{proc.stdout}{proc.stderr}"
    assert proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("wta: "), proc.stderr
    assert expected in lines[0], lines[0]
    return lines[0]


# -- a malformed zones.yaml, given to the commands that change things --------------------------

def expectation(path: Path) -> str:
    first = path.read_text().splitlines()[0]
    assert first.startswith("# expect: "), f"{path.name}: first line must be `# expect: <text>`"
    return first[len("# expect: "):]


def test_corpus_is_large_enough():
    assert len(CORPUS) >= 45


@pytest.mark.parametrize("bad", CORPUS, ids=[p.stem for p in CORPUS])
def test_bad_zones_file_changes_nothing_in_up_and_merge(repo, bad):
    config = repo / "zones.yaml"
    good = config.read_text()
    text = bad.read_text()
    config.write_text(text)
    try:
        before = footprint(repo)
        for args in (["up", "--no-launch"], ["merge"]):
            proc = wta(repo, *args)
            assert proc.returncode == 2, f"wta {' '.join(args)}: exit {proc.returncode}\n{proc.stdout}{proc.stderr}"
            assert proc.stdout == ""
            assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr
            assert expectation(bad) in proc.stderr
            for line in proc.stderr.splitlines():   # one line per problem, each naming the file
                found = LOCATED.match(line)
                assert found, f"wta {' '.join(args)}: not a `file:line:col:` line: {line!r}"
                assert os.path.samefile(found["path"], config)
                assert 1 <= int(found["line"]) <= len(text.splitlines()) + 1
            assert footprint(repo) == before, f"wta {' '.join(args)} changed the repository"
    finally:
        config.write_text(good)


# -- malformed command lines -------------------------------------------------------------------

# (where it runs: "main" or a stream's worktree, the arguments, a text the one line must hold)
COMMAND_LINES = [
    # streams that zones.yaml does not define
    ("main", ["up", "--no-launch", "infra", "nosuch"], "unknown stream 'nosuch'"),
    ("main", ["down", "nosuch"], "unknown stream 'nosuch'"),
    ("main", ["merge", "nosuch"], "unknown stream 'nosuch'"),
    ("main", ["prompt", "nosuch"], "unknown stream 'nosuch'"),
    ("main", ["logs", "nosuch"], "unknown stream 'nosuch'"),
    ("main", ["stop", "nosuch"], "unknown stream 'nosuch'"),
    ("main", ["attach", "nosuch"], "unknown stream 'nosuch'"),
    ("main", ["request", "nosuch", "please add a route"], "stream 'nosuch' is not in"),
    ("main", ["check-zones", "--stream", "nosuch", "main..wta/api"], "unknown stream 'nosuch'"),
    ("api", ["hooks", "install", "--stream", "nosuch"], "unknown stream 'nosuch'"),
    # the base branch and the main worktree are not streams
    ("main", ["down", "main"], "unknown stream 'main'"),
    ("main", ["down", "webapp"], "unknown stream 'webapp'"),
    ("main", ["hooks", "install", "--stream", "api"], "the main worktree cannot be a stream"),
    ("api", ["init"], "this is a linked worktree"),
    ("main", ["init"], "already exists"),
    # revision ranges git cannot resolve
    ("main", ["check-zones", "--stream", "api", "nope..wta/api"], "nope..wta/api: not a revision range"),
    ("main", ["check-zones", "--stream", "api", "main...nope"], "main...nope: not a revision range"),
    ("main", ["check-zones", "--stream", "api", "main..wta/api..x"], "not a revision range"),
    ("main", ["check-zones", "main..wta/api"], "no stream recorded for this worktree"),
    # paths outside the repository
    ("main", ["explain", "../x"], "../x: outside the repository"),
    ("main", ["explain", "/etc/passwd"], "/etc/passwd: outside the repository"),
    ("main", ["request", "--path", "/etc/passwd", "make it mine"], "/etc/passwd: outside the repository"),
    ("api", ["request", "--path", "../webapp/README.md", "hi"], "outside the repository"),
    # flags in conflict
    ("main", ["merge", "--continue", "--abort"], "--continue and --abort cannot be combined"),
    ("main", ["merge", "--dry-run", "--abort"], "--dry-run and --abort cannot be combined"),
    ("main", ["merge", "--dry-run", "--continue"], "--dry-run and --continue cannot be combined"),
    ("main", ["merge", "--continue", "api"], "--continue takes no stream names"),
    ("main", ["merge", "--continue"], "no merge in progress"),
    ("main", ["merge", "--abort"], "no merge in progress"),
    ("main", ["up", "--no-launch", "-d"], "--no-launch starts no session, so --detach would do nothing"),
    ("main", ["up", "--no-launch", "--interactive"], "--interactive would do nothing"),
    ("main", ["up", "--no-launch", "--runner", "manual", "--max-parallel", "2"],
     "--runner and --max-parallel would do nothing"),
    ("main", ["request", "--close", "r-1a2b3c", "--list"], "use one of"),
    ("main", ["request", "--json", "api", "hi"], "--json goes with --list"),
    # bad values
    ("main", ["up", "--max-parallel", "0"], "--max-parallel 0: give at least 1"),
    ("main", ["up", "--max-parallel", "x"], "Invalid value for '--max-parallel'"),
    ("main", ["up", "--runner", "nope"], "--runner nope: unknown runner"),
    ("main", ["watch", "--for", "5x"], "--for 5x: not a duration"),
    ("main", ["watch", "--for", "0"], "not a duration"),
    ("main", ["watch", "--for", ""], "not a duration"),
    ("main", ["watch", "--interval", "0"], "Invalid value for '--interval'"),
    ("main", ["request", "--close", "nope"], "'nope' is not a request id"),
    # unknown commands, options, arguments (click's usage errors, as one line)
    ("main", ["frobnicate"], "No such command 'frobnicate'"),
    ("main", ["up", "--frob"], "No such option: --frob"),
    ("main", ["status", "--jsn"], "No such option: --jsn"),
    ("main", ["logs"], "Missing argument"),
    ("main", ["check-zones", "--stream", "api", "main..wta/api", "extra"], "unexpected extra argument"),
]


def test_enough_command_lines():
    assert len(COMMAND_LINES) >= 25


@pytest.mark.parametrize("where, args, expected", COMMAND_LINES,
                         ids=[" ".join([w, *a]) for w, a, _ in COMMAND_LINES])
def test_bad_command_line_is_one_line_exit_2_and_changes_nothing(repo, where, args, expected):
    cwd = repo if where == "main" else worktree(repo, where)
    before = footprint(repo)
    line = one_line_exit_2(wta(cwd, *args, timeout=60), expected)
    assert "Traceback" not in line and "internal error" not in line
    assert footprint(repo) == before


def test_a_range_that_leaves_out_head_is_git_syntax_not_bad_input(repo):
    """`main...` is `main...HEAD` to git, so check-zones takes it: empty in the main
    worktree, the ui worktree's own commit from there."""
    before = footprint(repo)
    assert wta(repo, "check-zones", "--stream", "api", "main...", check=0).stderr == ""
    outside = wta(worktree(repo, "ui"), "check-zones", "--stream", "api", "main...", check=1)
    assert "src/components/Nav.tsx: owned by stream 'ui'" in outside.stderr
    assert footprint(repo) == before


def test_a_failing_command_leaves_no_state_dir_behind(tmp_path):
    """In a repository wta never ran in, a refused `wta merge` or `wta up` does not
    even create the state dir (its lock is taken and dropped without a trace)."""
    fresh = make_repo(tmp_path / "fresh", ZONES)
    for args in (["merge", "nosuch"], ["merge", "--continue"], ["up", "--no-launch", "nosuch"],
                 ["request", "--close", "nope"]):
        wta(fresh, *args, check=2)
        assert not (fresh / ".git" / "wta").exists(), args
    assert not (tmp_path / "fresh-worktrees").exists()
