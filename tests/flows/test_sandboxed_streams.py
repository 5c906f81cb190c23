"""Sandboxed sessions, `setup:` and `test:` end to end: real bubblewrap, real git, real processes.

An `api` session (the real SDK against the fake Messages API) runs an escape
corpus through its `run` tool: every attempt to write outside its worktree and
branch fails with the target unchanged, while its in-zone work, its own commits,
`wta request` and writes to the temp dir and its cache succeed. `setup:` and the
merge's `test:` make the same attempts. `sandbox: required` without bubblewrap
refuses before anything is made.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from support import git, wta
from sessions_support import (KEY, alive, claude_env, env, log_text, marked, no_leftover_processes,  # noqa: F401
                              record, session_repo, up, worktree, zones)
from worktree_agents import sandbox
from worktree_agents.fake_anthropic import FakeAnthropic, text, tool_use

pytestmark = pytest.mark.skipif(shutil.which("bwrap") is None,
                                reason="needs bubblewrap: .ci/run installs it (apt-get install bubblewrap)")

STREAMS = ("  api:\n    paths: [src/api/**]\n    prompt: Add a route.\n"
           "  ui:\n    paths: [src/ui/**]\n"
           "  infra:\n    paths: [infra/**]\n")
API_AGENT = "  runner: api\n  model: claude-sonnet-4-6\n  max_turns: 60\n  timeout: 120s\n"
UI_PAGE = "src/ui/page.html"


def escapes(repo: Path) -> list[tuple[str, str]]:
    """(what, shell command run in the api worktree): each must fail and change nothing of another's."""
    main, common, ui = str(repo), str(repo / ".git"), str(worktree(repo, "ui"))
    return [
        ("append to ui's file, relative path", f"echo escaped >> ../ui/{UI_PAGE}"),
        ("append to ui's file, absolute path", f"echo escaped >> {ui}/{UI_PAGE}"),
        ("cd to the main worktree and edit a tracked file", f"cd {main} && echo escaped >> README.md"),
        ("commit in ui's worktree", "git -C ../ui commit --allow-empty -am escaped"),
        ("commit in the main worktree", f"git -C {main} commit --allow-empty -m escaped"),
        ("move the base branch", "git update-ref refs/heads/main HEAD"),
        ("move ui's branch", "git update-ref refs/heads/wta/ui HEAD"),
        ("move ui's branch, without a reflog", "git -c core.logAllRefUpdates=false update-ref refs/heads/wta/ui HEAD"),
        ("force ui's branch", "git branch -f wta/ui HEAD"),
        ("force infra's branch (checked out nowhere)", "git branch -f wta/infra HEAD"),
        ("delete ui's branch", "git update-ref -d refs/heads/wta/ui"),
        ("push onto the base", "git push -q . HEAD:refs/heads/main"),
        ("write the shared pre-commit hook", f"echo 'exit 0' > {common}/hooks/pre-commit"),
        ("point git at other hooks", "git config core.hooksPath /tmp/elsewhere"),
        ("edit zones.yaml in the main worktree", f"echo '# widened' >> {main}/zones.yaml"),
        ("write through a symlink into ui's worktree", f"ln -s {ui}/{UI_PAGE} to-ui && echo escaped >> to-ui"),
        ("hard-link ui's file", f"ln {ui}/{UI_PAGE} ui-page && echo escaped >> ui-page"),
        ("add a worktree", "git worktree add -q ../escape-worktree"),
        ("write ui's index file", f"echo garbage > {common}/worktrees/ui/index"),
        ("stage in ui's worktree", "git -C ../ui rm -q --cached src/ui/page.html"),
        ("python script, absolute path", f"{sys.executable} -c \"open('{ui}/{UI_PAGE}', 'a').write('escaped')\""),
        ("node script, absolute path", f"node -e \"require('fs').appendFileSync('{main}/README.md', 'escaped')\""),
        ("delete ui's worktree", f"rm -rf {ui}/src"),
        ("write through the root of a process outside", f"echo escaped >> /proc/1/root{ui}/{UI_PAGE}"),
        ("unmount the read-only bind over ui's worktree", f"umount {ui} && echo escaped >> {ui}/{UI_PAGE}"),
        ("remount it writable", f"mount -o remount,rw,bind {ui} && echo escaped >> {ui}/{UI_PAGE}"),
        ("unmount it in a user namespace of its own",
         f"unshare -rm sh -c 'umount {ui} && echo escaped >> {ui}/{UI_PAGE}'"),
        # sh <- the api runner <- bwrap <- the session wrapper, which runs outside the sandbox
        ("write through the session wrapper's root",
         "bwrap_pid=$(cut -d' ' -f4 /proc/$PPID/stat); wrapper=$(cut -d' ' -f4 /proc/$bwrap_pid/stat); "
         f"grep -q wrapper /proc/$wrapper/cmdline && echo escaped >> /proc/$wrapper/root{ui}/{UI_PAGE}"),
        ("rewrite wta's session records", f"echo '{{}}' > {common}/wta/sessions/ui.json"),
        ("claim another stream in this worktree's git dir", f"echo ui > {common}/worktrees/api/wta-stream"),
        # Commands that wta's own git runs outside the sandbox would read from the worktree:
        ("point the worktree at another git dir", "echo 'gitdir: /tmp/elsewhere' > .git"),
        ("set core.fsmonitor for this worktree",
         f"printf '[core]\\n\\tfsmonitor = touch {main}/pwned\\n' > {common}/worktrees/api/config.worktree"),
    ]


def fingerprint(repo: Path) -> dict[str, str]:
    """Every file the api stream must not change: the main worktree (its .git included), ui's and
    infra's worktrees; without what belongs to api and what wta's own processes write outside the sandbox."""
    mine = {".git/objects", ".git/worktrees/api", ".git/refs/heads/wta/api", ".git/logs/refs/heads/wta/api",
            ".git/wta/logs", ".git/wta/requests", ".git/wta/sessions/api.json", ".git/wta/sessions/api.json.lock",
            ".git/wta/sessions/api.launch.json",
            ".git/wta/zones.snapshot", ".git/wta/lock", ".git/wta/coordinator.lock", ".git/wta/alerts.log",
            ".git/wta/prompts/api.md"}
    found = {}
    for root in (repo, worktree(repo, "ui"), worktree(repo, "infra")):
        for dirpath, dirnames, filenames in os.walk(root):
            rel_dir = os.path.relpath(dirpath, repo.parent)
            dirnames[:] = [d for d in dirnames if os.path.relpath(os.path.join(dirpath, d), root) not in mine]
            for name in filenames:
                path = os.path.join(dirpath, name)
                if os.path.relpath(path, root) in mine:
                    continue
                if os.path.islink(path):
                    found[os.path.join(rel_dir, name)] = "-> " + os.readlink(path)
                else:
                    with open(path, "rb") as f:
                        found[os.path.join(rel_dir, name)] = hashlib.sha256(f.read()).hexdigest()
    return found


def refs(repo: Path) -> dict[str, str]:
    lines = git(repo, "for-each-ref", "--format=%(refname) %(objectname)").stdout.splitlines()
    return dict(line.split() for line in lines)


def test_api_session_escape_corpus_fails_and_its_own_work_lands(tmp_path):
    repo = session_repo(tmp_path, zones(API_AGENT, STREAMS))
    wta(repo, "up", "--no-launch", check=0)
    corpus = escapes(repo)
    cache = Path(os.environ["HOME"]) / ".cache" / "agent-tool" / "state"
    scratch = tmp_path / "scratch-from-the-session"
    # First a commit of its own: HEAD then differs from every other branch, so moving one would change it.
    first = ("in-zone edit and commit", "echo 'ROUTE = 1' >> src/api/handler.py && git commit -qam 'add a route'")
    successes = [
        ("a second in-zone commit", "echo 'ROUTE = 2' >> src/api/handler.py && git commit -qam 'route 2'"),
        ("a request to ui", f"{sys.executable} -m worktree_agents request ui 'please link the new route'"),
        ("the temp dir", f"echo scratch > {scratch} && cat {scratch}"),
        ("the agent's cache", f"mkdir -p {cache.parent} && echo cached > {cache}"),
    ]
    turns = [[tool_use("run", {"command": command})] for _, command in [first, *corpus, *successes]]
    before, refs_before = fingerprint(repo), refs(repo)
    with FakeAnthropic({"api": [*turns, [text("Route added; ui was asked for the link.")]]}, api_key=KEY) as fake:
        done = up(repo, "api", env_=env(ANTHROPIC_BASE_URL=fake.base_url))
    assert done.returncode == 0, done.stdout + done.stderr + log_text(repo, "api")

    results = fake.tool_results("api")
    assert len(results) == 1 + len(corpus) + len(successes)
    assert not results[0].get("is_error"), results[0]
    results = results[1:]
    escaped = [f"{what}: {command}\n{result['content']}" for (what, command), result in zip(corpus, results)
               if not result.get("is_error") or not result["content"].startswith("exit ")]
    assert escaped == [], "these escapes were not refused:\n" + "\n\n".join(escaped)
    assert "Read-only file system" in results[0]["content"]  # the OS error, which the agent can act on
    assert refs(repo) == {**refs_before, "refs/heads/wta/api": refs(repo)["refs/heads/wta/api"]}
    changed = {p for p in before.keys() | fingerprint(repo).keys() if before.get(p) != fingerprint(repo).get(p)}
    assert changed == set(), f"changed outside the api stream: {sorted(changed)}"
    assert (worktree(repo, "ui") / UI_PAGE).read_text() == "<p>hi</p>\n"
    assert not (repo.parent / "escape-worktree").exists()

    succeeded = results[len(corpus):]
    assert [r.get("is_error") for r in succeeded] == [False] * len(successes), succeeded
    assert git(repo, "log", "-2", "--format=%s", "refs/heads/wta/api").stdout.split("\n")[:2] == [
        "[api] route 2", "[api] add a route"]
    assert "ROUTE = 2" in git(repo, "show", "refs/heads/wta/api:src/api/handler.py").stdout
    requests = list((repo / ".git" / "wta" / "requests").glob("*.json"))
    assert [json.loads(r.read_text())["to_stream"] for r in requests] == ["ui"]
    assert scratch.read_text() == "scratch\n" and cache.read_text() == "cached\n"

    system = fake.conversation_requests("api")[0].body["system"]
    assert "Other worktrees (the main checkout and every other stream's)" in system
    assert "run in a sandbox" in system and "`Read-only file system`" in system and "wta request OWNER" in system
    session = record(repo, "api")
    assert (session["state"], session["sandbox"]) == ("done", "bwrap")
    started = next(line for line in log_text(repo, "api").splitlines() if "session of stream 'api' started" in line)
    assert "sandboxed (bwrap)" in started
    shown = json.loads(wta(repo, "status", "--json", check=0).stdout)
    by_stream = {s["stream"]: s["session"] for s in shown["streams"]}
    assert by_stream["api"]["sandboxed"] is True and by_stream["ui"] is None


def test_the_run_tool_is_offered_only_inside_the_sandbox(tmp_path):
    repo = session_repo(tmp_path, zones(API_AGENT, STREAMS, extra="sandbox: off\n"))
    with FakeAnthropic({"api": [[tool_use("run", {"command": "echo escaped >> ../ui/src/ui/page.html"})],
                                [text("done")]]}, api_key=KEY) as fake:
        done = up(repo, "api", env_=env(ANTHROPIC_BASE_URL=fake.base_url))
    assert done.returncode == 0, done.stdout + done.stderr
    offered = {t["name"] for t in fake.conversation_requests("api")[0].body["tools"]}
    assert "run" not in offered and "write_file" in offered
    assert "run in a sandbox" not in fake.conversation_requests("api")[0].body["system"]
    assert fake.tool_results("api")[0]["content"].startswith("unknown tool 'run'")
    session = record(repo, "api")
    assert session["sandbox"] is None
    assert "not sandboxed (sandbox: off)" in log_text(repo, "api")
    shown = json.loads(wta(repo, "status", "--json", check=0).stdout)
    assert next(s for s in shown["streams"] if s["stream"] == "api")["session"]["sandboxed"] is False


ATTEMPTS = ("echo escaped >> ../ui/src/ui/page.html", "git -C ../ui commit --allow-empty -m escaped",
            "git update-ref refs/heads/wta/ui $(git commit-tree -m new 'HEAD^{{tree}}')",
            "git update-ref refs/heads/main $(git commit-tree -m new 'HEAD^{{tree}}')",
            "echo escaped >> {main}/zones.yaml", "echo '# escaped hook' > {main}/.git/hooks/pre-commit")


def attempts_script(main: Path, out: str) -> str:
    """A shell script making each attempt and writing one line per attempt that succeeded into `out`."""
    lines = [f"({a.format(main=main)}) 2>/dev/null && echo 'escaped: {a}' >> {out}" for a in ATTEMPTS]
    return "; ".join(lines) + f"; echo finished >> {out}"


def test_command_agent_setup_and_merge_test_are_sandboxed(tmp_path):
    """`runner: command` (a shell script), `setup:` and the merge's `test:` each try the same escapes."""
    repo = tmp_path / "repo"
    main_path = repo
    agent_script = tmp_path / "agent.sh"
    agent_script.write_text("#!/bin/sh\n" + attempts_script(main_path, "agent.out") + "\n"
                            "echo 'x = 2' >> src/api/handler.py && git commit -qam 'agent work'\n")
    agent_script.chmod(0o755)
    # ui's own setup may write ui's worktree: only the other streams' setup attempts the escapes.
    setup = f'[ "$WTA_STREAM" = ui ] || {{ {attempts_script(main_path, "setup.out")}; }}'
    test = attempts_script(main_path, "$WTA_WORKTREE/test.out").replace("../ui", "$WTA_WORKTREE/../ui")
    extra = f"setup: [{json.dumps(setup)}]\ntest: {json.dumps(test + '; true')}\n"
    agent = f"  runner: command\n  command: {json.dumps(str(agent_script))}\n  timeout: 60s\n"
    session_repo(tmp_path, zones(agent, STREAMS, extra=extra))
    # The test's own report: ignored, so that it stays (what a test writes that git would show is undone).
    (repo / ".gitignore").write_text("test.out\n")
    git(repo, "add", ".gitignore")
    git(repo, "commit", "-qm", "the test's report is ignored")
    initial = git(repo, "rev-parse", "main").stdout
    hooks_before = sorted(p.name for p in (repo / ".git" / "hooks").iterdir())
    wta(repo, "up", "--no-launch", check=0)
    for stream in ("api", "infra"):  # setup: every attempt failed, ui's worktree and every branch unchanged
        assert (worktree(repo, stream) / "setup.out").read_text() == "finished\n"
    assert (worktree(repo, "ui") / UI_PAGE).read_text() == "<p>hi</p>\n"
    assert set(refs(repo).values()) == {initial.strip()}
    assert "# widened" not in (repo / "zones.yaml").read_text()
    shared_hook = repo / ".git" / "hooks" / "pre-commit"
    assert not shared_hook.exists() or "# escaped hook" not in shared_hook.read_text()
    assert sorted(p.name for p in (repo / ".git" / "hooks").iterdir()) == hooks_before  # wta's hooks live apart

    before, refs_before = fingerprint(repo), refs(repo)
    done = up(repo, "api")
    assert done.returncode == 0, done.stdout + done.stderr + log_text(repo, "api")
    api = worktree(repo, "api")
    assert (api / "setup.out").read_text() == "finished\n"
    assert (api / "agent.out").read_text() == "finished\n"
    assert git(repo, "log", "-1", "--format=%s", "refs/heads/wta/api").stdout.strip() == "[api] agent work"
    assert record(repo, "api")["sandbox"] == "bwrap"
    assert fingerprint(repo) == before
    assert refs(repo) == {**refs_before, "refs/heads/wta/api": refs(repo)["refs/heads/wta/api"]}

    (api / "agent.out").unlink()
    (api / "setup.out").unlink()
    merged = wta(repo, "merge", "api")
    assert merged.returncode == 0, merged.stdout + merged.stderr
    assert (api / "test.out").read_text() == "finished\n"
    assert git(repo, "rev-parse", "main").stdout == git(repo, "rev-parse", "wta/api").stdout
    assert (worktree(repo, "ui") / UI_PAGE).read_text() == "<p>hi</p>\n"
    assert "# widened" not in (repo / "zones.yaml").read_text()


def path_without_bwrap(tmp_path: Path) -> str:
    """A PATH with git and sh and no bubblewrap."""
    bin_dir = tmp_path / "bin-without-bwrap"
    bin_dir.mkdir()
    for tool in ("git", "sh"):
        (bin_dir / tool).symlink_to(shutil.which(tool))
    return str(bin_dir)


def test_sandbox_required_without_bubblewrap_exits_2_and_creates_nothing(tmp_path):
    repo = session_repo(tmp_path, zones(API_AGENT, STREAMS, extra="sandbox: required\n"))
    done = up(repo, env_=env(PATH=path_without_bwrap(tmp_path)))
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.count("\n") == 1 and "sandbox: required" in done.stderr
    assert "bubblewrap" in done.stderr and "apt-get install bubblewrap" in done.stderr
    assert "zones.yaml" in done.stderr and "Traceback" not in done.stderr
    assert git(repo, "worktree", "list", "--porcelain").stdout.count("worktree ") == 1
    assert git(repo, "branch", "--list", "wta/*").stdout == ""
    assert not (repo / ".git" / "wta" / "sessions").exists()
    assert not worktree(repo, "api").parent.exists()


def test_sandbox_auto_without_bubblewrap_says_so_in_one_line_and_runs(tmp_path):
    agent = "  runner: command\n  command: \"git commit -q --allow-empty -m work\"\n  timeout: 30s\n"
    repo = session_repo(tmp_path, zones(agent, "  api:\n    paths: [src/api/**]\n"))
    done = up(repo, env_=env(PATH=path_without_bwrap(tmp_path)))
    assert done.returncode == 0, done.stdout + done.stderr
    notes = [line for line in done.stdout.splitlines() if line.startswith("not sandboxed")]
    assert len(notes) == 1 and "bubblewrap" in notes[0]
    assert record(repo, "api")["sandbox"] is None
    assert git(repo, "log", "-1", "--format=%s", "refs/heads/wta/api").stdout.strip() == "[api] work"


def test_unsandboxed_write_outside_succeeds_with_sandbox_off(tmp_path):
    """The control for the corpus: the same write, with `sandbox: off`, does change ui's worktree."""
    agent = "  runner: command\n  command: \"echo escaped >> ../ui/src/ui/page.html\"\n  timeout: 30s\n"
    repo = session_repo(tmp_path, zones(agent, STREAMS, extra="sandbox: off\n"))
    wta(repo, "up", "--no-launch", check=0)
    assert up(repo, "api").returncode == 0
    assert (worktree(repo, "ui") / UI_PAGE).read_text() == "<p>hi</p>\nescaped\n"
    assert sandbox.MARKER_ENV not in os.environ


def test_claude_code_session_bash_write_outside_fails_and_its_commit_lands(tmp_path, claude):
    """The real Claude Code CLI, sandboxed: its Bash tool is what the guard cannot see."""
    agent = "  runner: claude\n  model: claude-sonnet-4-6\n  max_turns: 8\n  timeout: 180s\n"
    repo = session_repo(tmp_path, zones(agent, STREAMS))
    wta(repo, "up", "--no-launch", check=0)
    ui_page = worktree(repo, "ui") / UI_PAGE
    script = {"api": [
        [tool_use("Bash", {"command": f"echo escaped >> {ui_page}", "description": "Edit the ui page"})],
        [tool_use("Bash", {"command": f"git -C {repo} update-ref refs/heads/main HEAD", "description": "Move main"})],
        [tool_use("Bash", {"command": "echo 'HELLO = 1' > src/api/hello.py && git add -A && git commit -qm hello",
                           "description": "Commit"})],
        [text("Hello is committed; the page is ui's.")],
    ]}
    main_before = git(repo, "rev-parse", "main").stdout
    with FakeAnthropic(script, api_key=KEY) as fake:
        done = up(repo, "api", env_=claude_env(claude, fake))
    assert done.returncode == 0, done.stdout + done.stderr + log_text(repo, "api")[-3000:]
    results = fake.tool_results("api")
    assert results[0]["is_error"] is True and "Read-only file system" in str(results[0]["content"]), results[0]
    assert results[1]["is_error"] is True and "Read-only file system" in str(results[1]["content"]), results[1]
    assert not results[2].get("is_error"), results[2]
    assert ui_page.read_text() == "<p>hi</p>\n"
    assert git(repo, "rev-parse", "main").stdout == main_before
    assert git(repo, "log", "-1", "--format=%s", "refs/heads/wta/api").stdout.strip() == "[api] hello"
    assert git(repo, "diff", "--name-only", "main", "wta/api").stdout.split() == ["src/api/hello.py"]
    session = record(repo, "api")
    assert (session["state"], session["sandbox"]) == ("done", "bwrap")


def test_a_run_past_its_timeout_ends_with_what_it_started(tmp_path):
    mark = tmp_path.name
    repo = session_repo(tmp_path, zones(API_AGENT, STREAMS))
    command = f"echo started; WTA_TEST_MARK={mark} sleep 300 & sleep 300"
    with FakeAnthropic({"api": [[tool_use("run", {"command": command, "timeout": 1})], [text("gave up")]]},
                       api_key=KEY) as fake:
        done = up(repo, "api", env_=env(ANTHROPIC_BASE_URL=fake.base_url))
    assert done.returncode == 0, done.stdout + done.stderr + log_text(repo, "api")
    [result] = fake.tool_results("api")
    assert result["is_error"] and result["content"].startswith("timed out after 1s") and "started" in result["content"]
    assert marked(mark) == []


@pytest.mark.skipif(shutil.which("script") is None, reason="needs util-linux `script` for a terminal")
def test_setup_run_from_a_terminal_has_no_terminal_to_type_into(tmp_path):
    """TIOCSTI on the controlling terminal would type a command into the user's shell, outside any sandbox."""
    probe = ("python3 -c \"import os, fcntl, termios; fd = os.open('/dev/tty', os.O_RDWR); "
             "fcntl.ioctl(fd, termios.TIOCSTI, b'#')\" 2> tty.err; echo $? > tty.code")
    repo = session_repo(tmp_path, zones(API_AGENT, "  api:\n    paths: [src/api/**]\n",
                                        extra=f"setup: [{json.dumps(probe)}]\n"))
    command = f"{shlex.quote(sys.executable)} -m worktree_agents up --no-launch"
    done = subprocess.run(["script", "-qec", command, "/dev/null"], cwd=repo, env=env(), capture_output=True,
                          text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stdout + done.stderr
    api = worktree(repo, "api")
    assert (api / "tty.code").read_text().strip() != "0"
    assert "No such device or address" in (api / "tty.err").read_text()


def test_the_leftovers_commit_runs_the_repositorys_hooks_in_the_sandbox(tmp_path):
    """A husky-like hooks directory (core.hooksPath relative, its pre-commit running the tracked
    `hooks/pre-commit`): the agent rewrites that script and leaves in-zone work uncommitted. The
    commit of its leftovers, made by wta after the session, runs that script in the stream's
    sandbox, not outside it."""
    main = tmp_path / "repo"
    agent_script = tmp_path / "agent.sh"
    agent_script.write_text("#!/bin/sh\n"
                            f"printf 'touch {main}/pwned; exit 0\\n' > hooks/pre-commit\n"
                            "echo 'x = 2' >> src/api/handler.py\n")  # left uncommitted
    agent_script.chmod(0o755)
    agent = f"  runner: command\n  command: {json.dumps(str(agent_script))}\n  timeout: 60s\n"
    files = {"hooks/_/pre-commit": '#!/bin/sh\nsh "${0%/*}/../pre-commit"\n', "hooks/pre-commit": "exit 0\n",
             "src/api/handler.py": "x = 1\n", "src/ui/page.html": "<p>hi</p>\n"}
    repo = session_repo(tmp_path, zones(agent, STREAMS), files)
    (repo / "hooks" / "_" / "pre-commit").chmod(0o755)
    git(repo, "add", "--chmod=+x", "hooks/_/pre-commit")
    git(repo, "commit", "-qm", "hooks executable")
    git(repo, "config", "core.hooksPath", "hooks/_")
    done = up(repo, "api")
    assert done.returncode == 0, done.stdout + done.stderr + log_text(repo, "api")
    assert "committed 1 leftover path(s)" in log_text(repo, "api")
    assert git(repo, "show", "--format=", "--name-only", "refs/heads/wta/api").stdout.split() == ["src/api/handler.py"]
    assert not (main / "pwned").exists()


def test_wta_installed_where_a_sandbox_may_write_is_read_only_to_its_agents(tmp_path):
    """wta run from a tool cache or /tmp (uvx keeps it in ~/.cache): an agent appended code to its
    `worktree_agents/__init__.py`, and the person's next `wta status` ran it outside any sandbox."""
    installed = tmp_path / "cache" / "site"
    shutil.copytree(Path(sandbox.__file__).parent, installed / "worktree_agents",
                    ignore=shutil.ignore_patterns("__pycache__"))
    package_init = installed / "worktree_agents" / "__init__.py"
    before = package_init.read_text()
    agent = (f"  runner: command\n  command: \"echo 'open(\\\"{tmp_path}/pwned\\\", \\\"w\\\")' >> {package_init}"
             f" || echo refused > src/api/refused.txt\"\n  timeout: 30s\n")
    repo = session_repo(tmp_path, zones(agent, STREAMS))
    from_cache = env(PYTHONPATH=str(installed))
    done = subprocess.run([sys.executable, "-m", "worktree_agents", "up", "api"], cwd=repo, env=from_cache,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert package_init.read_text() == before
    assert (worktree(repo, "api") / "src/api/refused.txt").read_text() == "refused\n"
    subprocess.run([sys.executable, "-m", "worktree_agents", "status"], cwd=repo, env=from_cache, timeout=60)
    assert not (tmp_path / "pwned").exists()


def test_a_git_put_on_path_where_a_sandbox_writes_is_not_run_by_wta(tmp_path):
    """pnpm's home (~/.local/share/pnpm, which `pnpm setup` puts first on PATH) is a package cache every sandbox
    may write: an agent put its own `git` there, and wta's next git command outside the sandbox ran it."""
    pnpm = Path(os.environ["HOME"]) / ".local" / "share" / "pnpm"
    pnpm.mkdir(parents=True, exist_ok=True)
    outside = tmp_path / "ran-outside"
    planted = (f'#!/bin/sh\n[ -n "$WTA_SANDBOX" ] || echo "$*" >> {outside}\nexec {shutil.which("git")} "$@"\n')
    (tmp_path / "plant.sh").write_text(f"cat > {pnpm}/git <<'EOF'\n{planted}EOF\nchmod +x {pnpm}/git\n"
                                       "echo work >> src/api/handler.py\n")   # left for the leftovers commit
    agent = f"  runner: command\n  command: sh {tmp_path}/plant.sh\n  timeout: 30s\n"
    repo = session_repo(tmp_path, zones(agent, STREAMS))
    on_path = env(PATH=f"{pnpm}{os.pathsep}{os.environ['PATH']}")
    try:
        assert up(repo, "api", env_=on_path).returncode == 0
        assert (pnpm / "git").exists()   # it could plant it: the cache is the agent's to write
        wta(repo, "status", check=0, env=on_path)
        assert not outside.exists(), outside.read_text()
    finally:
        (pnpm / "git").unlink(missing_ok=True)


def test_the_venv_wta_runs_from_is_read_only_to_its_agents(tmp_path):
    """wta run from a venv in a tool cache (uvx keeps one in ~/.cache/uv): its `bin/` was writable in the
    sandbox (only the interpreter's real folder and site-packages were not), and an agent swapped the
    `bin/python` that the next `wta status`, the processes wta starts and the hooks ran, outside any sandbox."""
    import sysconfig

    venv = tmp_path / "cache" / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    agent = (f"  runner: command\n  command: \"rm -f {python} && echo pwned > {python} || "
             f"echo refused > src/api/refused.txt; echo pwned > {venv}/pyvenv.cfg || true\"\n  timeout: 30s\n")
    repo = session_repo(tmp_path, zones(agent, STREAMS))
    package = str(Path(sandbox.__file__).parent.parent)
    from_venv = env(PYTHONPATH=os.pathsep.join([package, sysconfig.get_paths()["purelib"]]))
    done = subprocess.run([str(python), "-m", "worktree_agents", "up", "api"], cwd=repo, env=from_venv,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert python.is_symlink() and "pwned" not in (venv / "pyvenv.cfg").read_text()
    assert (worktree(repo, "api") / "src/api/refused.txt").read_text() == "refused\n"


def test_a_branch_an_agent_plants_for_a_stream_not_made_yet_is_never_taken_for_it(tmp_path):
    """api's agent made `wta/ui` (git lets it make a branch beside its own) with a commit of ui's zone and
    prefix; `wta up ui` later took it for ui's branch, and the landing put it on the base in ui's name."""
    plant = ('git checkout -q --detach && echo planted > src/ui/planted.html && git add src/ui/planted.html && '
             'git commit -q --no-verify -m "[ui] scaffold" && git update-ref refs/heads/wta/ui HEAD && '
             'git checkout -q wta/api')
    agent = f"  runner: command\n  command: {json.dumps(plant)}\n  timeout: 30s\n"
    repo = session_repo(tmp_path, zones(agent, STREAMS))
    assert up(repo, "api").returncode == 0
    assert git(repo, "log", "-1", "--format=%s", "wta/ui").stdout.strip() == "[ui] scaffold"   # it could plant it
    refused = wta(repo, "up", "--no-launch", "ui", check=2)
    assert "branch wta/ui has commits main lacks, and wta neither made it nor saw a worktree of it" in refused.stderr
    assert not worktree(repo, "ui").exists()
