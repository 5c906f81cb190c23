"""`wta watch` and the Watcher: each alert once, each clearing once, the log and
notify, and no child process left behind."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import psutil
import pytest

from support import EXAMPLE_ZONES, add_stream_worktree, commit_all, git, make_repo, traced, write_files, wta
from sessions_support import no_leftover_processes, session_repo, up  # noqa: F401 (an autouse fixture)
from sessions_support import zones as session_zones
from worktree_agents.coordination import requests
from worktree_agents.coordination.watch import Watcher, fill_command
from worktree_agents.project import Project
from worktree_agents.sessions import process
from worktree_agents.sessions.store import SessionStore

EXAMPLE_CHECKS = '''checks:
  - {name: dev-server, run: "curl -fsS localhost:3000", every: 2m}
notify: "notify-send wta '{stream}: {state}'"
'''


def zones_with(checks: list[str] = (), notify: str | None = None) -> str:
    """The example zones.yaml with these `checks:` entries and `notify:` command."""
    text = EXAMPLE_ZONES.read_text()
    assert EXAMPLE_CHECKS in text
    block = "checks:\n" + "".join(f"  - {c}\n" for c in checks) if checks else ""
    if notify:
        block += f"notify: '{notify}'\n"
    return text.replace(EXAMPLE_CHECKS, block)


def notify_into(path: Path) -> str:
    return f'printf "%s|%s|%s\\n" {{stream}} {{state}} {{message}} >> {path}'


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def wait_for(predicate, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.05)


def start_watch(repo: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    """`wta watch ARGS`; the lines it prints gather in `.printed` as they come."""
    import threading

    proc = subprocess.Popen([sys.executable, "-m", "worktree_agents", "watch", *args], cwd=repo, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    proc.printed = []
    proc.reader = threading.Thread(target=lambda: proc.printed.extend(line.rstrip("\n") for line in proc.stdout),
                                   daemon=True)
    proc.reader.start()
    return proc


def finish(proc: subprocess.Popen, interrupt: bool = True) -> tuple[int, list[str]]:
    if interrupt:
        proc.send_signal(signal.SIGINT)
    err = proc.stderr.read()
    proc.wait(timeout=20)
    proc.reader.join(timeout=20)
    assert "Traceback" not in err, err
    return proc.returncode, proc.printed


def alerts_log(repo: Path) -> Path:
    return repo / ".git" / "wta" / "alerts.log"


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds")


# -- the command ---------------------------------------------------------------------------

def test_failing_check_alerts_once_and_its_recovery_once(tmp_path):
    notified = tmp_path / "notified"
    repo = make_repo(tmp_path / "webapp", zones_with(['{name: flag, run: "test -f ok-flag", every: 1s}'],
                                                     notify_into(notified)))
    watch = start_watch(repo, "--interval", "0.2")
    try:
        wait_for(lambda: len(lines(notified)) == 1)
        time.sleep(1.3)  # the check fails once more: still one alert
        (repo / "ok-flag").write_text("")
        wait_for(lambda: len(lines(notified)) == 2 and len(watch.printed) == 2)   # (printed after notify starts)
    finally:
        code, out = finish(watch)
    assert code == 0
    assert [line.split(" ", 1)[1] for line in out] == [
        "check:flag failed: check flag failed (exit 1)", "check:flag recovered: check flag passes again"]
    logged = lines(alerts_log(repo))
    assert len(logged) == 2 and logged[0].endswith("check:flag failed: check flag failed (exit 1)")
    assert datetime.fromisoformat(logged[0].split(" ")[0]).tzinfo is not None
    assert lines(notified) == ["check:flag|failed|check flag failed (exit 1)",
                               "check:flag|recovered|check flag passes again"]


def test_api_keys_stay_out_of_checks_alerts_and_notify(tmp_path):
    key = "sk-ant-api03-wtaTEST-watch-0123456789abcdef"
    repo = make_repo(tmp_path / "webapp", zones_with(['{name: env, run: "echo key=$ANTHROPIC_API_KEY; exit 1", '
                                                      'every: 1m}'],
                                                     "echo notify-key=$ANTHROPIC_API_KEY {message}"))
    env = {**os.environ, "ANTHROPIC_API_KEY": key}
    done = subprocess.run([sys.executable, "-m", "worktree_agents", "watch", "--for", "2s"], cwd=repo, env=env,
                          text=True, capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "check env failed (exit 1): key=[redacted]" in done.stdout
    state = repo / ".git" / "wta"
    notify_log = state / "logs" / "notify.log"
    wait_for(lambda: notify_log.exists() and "notify-key=[redacted]" in notify_log.read_text(errors="replace"))
    for written in (state / "checks" / "env.log", state / "logs" / "notify.log", alerts_log(repo)):
        assert key not in written.read_text(errors="replace") and "[redacted]" in written.read_text(), written
    assert key not in done.stdout + done.stderr


def test_the_notify_command_of_an_alert_raised_just_before_wta_watch_ends_gets_to_finish(tmp_path):
    """`wta watch` ended (`--for`, Ctrl-C) killed a notify command under way: the message never went out
    (and a test that read notify.log failed under load)."""
    sent = tmp_path / "sent.txt"
    repo = make_repo(tmp_path / "webapp", zones_with(['{name: env, run: "exit 1", every: 1m}'],
                                                     f"sleep 1.5; echo {{message}} >> {sent}"))
    done = wta(repo, "watch", "--for", "1s", check=0)
    assert "check env failed (exit 1)" in done.stdout
    assert "check env failed (exit 1)" in sent.read_text()


def test_an_api_key_in_a_requests_text_stays_out_of_its_file_the_prompts_and_the_alerts(tmp_path):
    """`wta request ui "... $ANTHROPIC_API_KEY"` (or an agent's request tool): the key had been written as
    it was to the request's file, the receiving session's prompt, and the alert `wta up` printed."""
    key = "sk-ant-api03-wtaTEST-request-0123456789abcdef"
    repo = make_repo(tmp_path / "webapp", zones_with())
    env = {**os.environ, "ANTHROPIC_API_KEY": key}
    filed = wta(repo, "request", "ui", f"please rotate {key} in the config", check=0, env=env)
    assert key not in filed.stdout + filed.stderr
    stored = list((repo / ".git" / "wta" / "requests").glob("*.json"))
    assert len(stored) == 1 and key not in stored[0].read_text() and "please rotate [redacted]" in stored[0].read_text()
    prompt = wta(repo, "prompt", "ui", check=0, env=env).stdout
    assert "please rotate [redacted] in the config" in prompt and key not in prompt
    with Watcher(Project.find(str(repo)), Project.find(str(repo)).main_config()) as watcher:
        alerts = watcher.tick()
    assert any(a.state == "request" for a in alerts) and not any(key in a.message for a in alerts)


def marked(marker: str) -> list[tuple[str, int]]:
    """(name, parent pid) of each live process carrying the marker, read while it exists."""
    found = []
    for proc in psutil.process_iter():
        try:
            if proc.environ().get("WTA_TEST_MARK") == marker and proc.status() != psutil.STATUS_ZOMBIE:
                found.append((proc.name(), proc.ppid()))
        except psutil.Error:  # it ended while being read
            continue
    return found


@pytest.mark.parametrize("stop", ["ctrl-c", "for"])
def test_watch_stops_and_leaves_no_child_process(tmp_path, stop):
    repo = make_repo(tmp_path / "webapp", zones_with(['{name: slow, run: "sleep 30", every: 1s, timeout: 2m}']))
    marker = uuid.uuid4().hex
    args = ["--interval", "0.2"] + (["--for", "3s"] if stop == "for" else [])
    started = time.monotonic()
    watch = start_watch(repo, *args, env={**os.environ, "WTA_TEST_MARK": marker})
    try:
        wait_for(lambda: any(name == "sleep" for name, _ in marked(marker)))
        assert any(parent == watch.pid for _, parent in marked(marker))
    finally:
        code, out = finish(watch, interrupt=stop == "ctrl-c")
    assert code == 0 and out == []
    if stop == "for":
        assert 3 <= time.monotonic() - started < 15
    assert marked(marker) == []


def test_stalled_crashed_sessions_a_no_verify_violation_and_an_end_alert_once(tmp_path):
    notified = tmp_path / "notified"
    repo = make_repo(tmp_path / "webapp", zones_with(notify=notify_into(notified)))
    ui = add_stream_worktree(repo, "ui")
    store = SessionStore(str(repo / ".git" / "wta"))
    now = datetime.now(timezone.utc)
    alive = subprocess.Popen(["sleep", "60"])
    gone = subprocess.Popen(["true"])
    gone.wait()
    try:
        born = process.create_time(alive.pid)
        store.update("api", runner="command", state="stalled", pid=alive.pid, pid_create_time=born,
                     started_at=iso(now - timedelta(hours=1)))
        store.update("infra", runner="command", state="running", pid=gone.pid, started_at=iso(now))
        # running, but quiet for longer than its stall_after: stalled
        store.update("monitor", runner="command", state="running", pid=alive.pid, pid_create_time=born,
                     started_at=iso(now - timedelta(hours=2)), stall_after=1800)
        watch = start_watch(repo, "--interval", "0.2")
        try:
            wait_for(lambda: len(lines(alerts_log(repo))) == 3)
            write_files(ui, {"src/lib/db.ts": "reached into api's zone\n"})
            commit_all(ui, "skip the hook", "--no-verify")
            store.update("ui", runner="command", state="done", started_at=iso(now),
                         ended_at=iso(datetime.now(timezone.utc)))
            wait_for(lambda: len(lines(alerts_log(repo))) == 5)
            time.sleep(0.8)  # a few more ticks: still nothing new
        finally:
            code, out = finish(watch)
    finally:
        alive.kill()
        alive.wait()
    assert code == 0
    seen = sorted(tuple(line.split(" ")[1:3]) for line in out)
    assert seen == [("api", "stalled:"), ("infra", "crashed:"), ("monitor", "stalled:"), ("ui", "done:"),
                    ("ui", "violation:")]
    assert len(lines(alerts_log(repo))) == 5 and len(lines(notified)) == 5
    violation = next(line for line in out if " violation: " in line)
    assert "src/lib/db.ts" in violation and "api" in violation


def test_bad_duration_is_a_usage_error(webapp):
    proc = wta(webapp, "watch", "--for", "soon", check=2)
    assert proc.stderr.strip() == "wta: --for soon: not a duration; write e.g. 90s, 30m, 2h or 1d"


def test_a_zero_duration_is_named_as_zero_not_as_not_a_duration(webapp):
    """`wta watch --for 0s` said "0s: not a duration", though 0s is written as a duration is."""
    proc = wta(webapp, "watch", "--for", "0s", check=2)
    assert proc.stderr.strip() == "wta: --for 0s: a zero duration; give a positive one, e.g. 90s, 30m, 2h or 1d"
    assert proc.stdout == ""


# -- the Watcher, tick by tick ---------------------------------------------------------------

def watcher(repo: Path) -> Watcher:
    project = Project.find(str(repo))
    return Watcher(project, project.main_config())


def states(alerts) -> list[tuple[str, str]]:
    return [(a.stream, a.state) for a in alerts]


def test_conflicts_with_the_base_and_between_streams_alert_once_and_clear(tmp_path):
    repo = make_repo(tmp_path / "webapp", zones_with())
    api = add_stream_worktree(repo, "api")
    ui = add_stream_worktree(repo, "ui")
    write_files(api, {"src/lib/db.ts": "api's version\n"})
    commit_all(api, "db")
    write_files(ui, {"src/lib/db.ts": "ui's version\n"})
    commit_all(ui, "db too", "--no-verify")
    with watcher(repo) as w:
        first = w.tick()
        assert ("api", "conflict") in states(first)
        conflict = next(a for a in first if a.state == "conflict")
        assert conflict.key == "conflict:api:ui" and "src/lib/db.ts" in conflict.message
        assert w.tick() == []
        write_files(repo, {"src/lib/db.ts": "a person's version\n"})
        base_before = commit_all(repo, "db on main")
        moved = w.tick()
        # Both now conflict with the base; the same file between them is not reported twice.
        assert sorted((a.key, a.state) for a in moved) == [
            ("conflict:api:main", "conflict"), ("conflict:api:ui", "ok"), ("conflict:ui:main", "conflict")]
        git(repo, "reset", "-q", "--hard", f"{base_before}~1")
        cleared = w.tick()
        assert ("conflict:api:main", "ok") in [(a.key, a.state) for a in cleared]
        assert ("conflict:api:ui", "conflict") in [(a.key, a.state) for a in cleared]


def test_a_commit_without_its_stream_prefix_alerts_once_named_as_a_path_outside_the_zone_does(tmp_path):
    """`wta status` and `wta merge` count a commit without the `[stream]` prefix (made with `--no-verify`) as a
    violation; the watcher alerted only on paths outside the zone, and said nothing of it."""
    repo = make_repo(tmp_path / "webapp", zones_with())
    ui = add_stream_worktree(repo, "ui")
    write_files(ui, {"src/components/Card.tsx": "in its zone\n"})
    prefixed = commit_all(ui, "[ui] a card", "--no-verify")
    with watcher(repo) as w:
        assert w.tick() == []
        write_files(ui, {"src/components/Card.tsx": "in its zone, again\n"})
        bare = commit_all(ui, "a quick fix", "--no-verify")
        write_files(ui, {"src/lib/db.ts": "api's file\n"})
        both = commit_all(ui, "reach into api", "--no-verify")
        raised = w.tick()
        assert sorted((a.key, a.state) for a in raised) == sorted(
            [(f"violation:ui:{bare}", "violation"), (f"violation:ui:{both}", "violation")])
        messages = {a.key: a.message for a in raised}
        assert messages[f"violation:ui:{bare}"] == (
            f"commit {bare[:10]} 'a quick fix' has no [ui] prefix; `wta merge` will refuse it until it is fixed")
        assert messages[f"violation:ui:{both}"].startswith(
            f"commit {both[:10]} 'reach into api' has no [ui] prefix and changes 1 path(s) outside its zone: "
            "src/lib/db.ts (owned api)")
        assert w.tick() == []                                    # once per commit
        git(ui, "reset", "-q", "--hard", prefixed)
        write_files(ui, {"src/components/Card.tsx": "in its zone, again\n"})
        commit_all(ui, "[ui] a quick fix", "--no-verify")        # reworded: nothing more to say
        assert sorted((a.key, a.state) for a in w.tick()) == sorted(
            [(f"violation:ui:{bare}", "ok"), (f"violation:ui:{both}", "ok")])


def test_alerts_quote_a_file_name_with_control_characters_as_git_does(tmp_path):
    """A conflict or a violation in a file named `<ESC>[2J` or with a newline: the alert (printed, logged, passed
    to notify) names it C-quoted, so it neither clears a terminal nor splits a line."""
    evil = "src/lib/evil\x1b[2J\nline.ts"
    repo = make_repo(tmp_path / "webapp", zones_with())
    api = add_stream_worktree(repo, "api")
    ui = add_stream_worktree(repo, "ui")
    write_files(api, {evil: "api's version\n"})
    commit_all(api, "evil")
    write_files(ui, {evil: "ui's version\n"})
    commit_all(ui, "evil too", "--no-verify")
    with watcher(repo) as w:
        alerts = {a.state: a.message for a in w.tick()}
    assert set(alerts) >= {"conflict", "violation"}
    for message in (alerts["conflict"], alerts["violation"]):
        assert '"src/lib/evil\\033[2J\\nline.ts"' in message and "\x1b" not in message and "\n" not in message


def test_streams_whose_own_commits_touch_nothing_in_common_are_not_merged_pair_by_pair(tmp_path, monkeypatch):
    """Each stream is merged with the base; a pair only when their own commits touch a path in
    common, or a file where the other has a directory (which git cannot merge either)."""
    repo = make_repo(tmp_path / "webapp", zones_with())
    worktrees = {s: add_stream_worktree(repo, s) for s in ("api", "ui", "infra")}
    write_files(worktrees["api"], {"src/lib/cache.ts": "c\n"})
    write_files(worktrees["ui"], {"src/components/Card.tsx": "c\n"})
    write_files(worktrees["infra"], {"ai-agents/run.md": "r\n"})
    for stream, worktree in worktrees.items():
        commit_all(worktree, f"{stream}'s own work")
    write_files(repo, {"README.md": "# moved on\n"})
    commit_all(repo, "the base moves")
    trace = tmp_path / "trace"
    monkeypatch.setenv("GIT_TRACE", str(trace))

    def merges() -> int:
        return traced(trace, "merge-tree")

    with watcher(repo) as w:
        assert w.tick() == []
        assert merges() == 3                         # each stream with the base, no pair
        write_files(worktrees["ui"], {"src/lib/cache.ts/x.tsx": "x\n"})    # a directory where api has a file
        commit_all(worktrees["ui"], "a file below api's file", "--no-verify")
        alerts = w.tick()
        assert merges() == 2                         # ui with the base, ui with api; not with infra
        assert [(a.key, a.state) for a in alerts if a.state == "conflict"] == [("conflict:api:ui", "conflict")]


def test_landed_streams_are_neither_audited_nor_merged_again_as_the_base_moves_on(tmp_path, monkeypatch):
    """A stream whose tip the base contains has nothing of its own: found for several streams at once by
    one `for-each-ref --merged`, and once its audit found no commit, a base that only moved on needs one
    `merge-base --is-ancestor`; no `git log` or `merge-tree` per stream."""
    repo = make_repo(tmp_path / "webapp", zones_with())
    worktrees = {s: add_stream_worktree(repo, s) for s in ("api", "ui", "infra")}
    # api lands by a fast-forward, ui by a merge commit: either way the base contains their tips.
    for stream, files, how in (("api", {"src/lib/cache.ts": "c\n"}, ["--ff-only"]),
                               ("ui", {"src/components/Card.tsx": "c\n"}, ["--no-ff", "-m", "ui lands"])):
        write_files(worktrees[stream], files)
        commit_all(worktrees[stream], f"{stream}'s own work")
        git(repo, "merge", "-q", *how, f"wta/{stream}")
    trace = tmp_path / "trace"
    monkeypatch.setenv("GIT_TRACE", str(trace))

    def ran(word: str) -> int:
        return sum(f" {word} " in line for line in trace.read_text().splitlines()) if trace.exists() else 0

    with watcher(repo) as w:
        assert w.tick() == []
        # The base contains all three tips (infra's: an older base): one `for-each-ref --merged` says so, no log.
        assert (ran("log"), ran("merge-tree"), trace.read_text().count(" for-each-ref --merged=")) == (0, 0, 1)
        trace.unlink()
        write_files(repo, {"README.md": "# moved on\n"})
        commit_all(repo, "the base moves")
        assert w.tick() == []
        assert (ran("log"), ran("merge-tree"), ran("--is-ancestor")) == (0, 0, 1)
        trace.unlink()
        write_files(worktrees["api"], {"src/lib/more.ts": "m\n"})    # new work after landing: looked at again
        commit_all(worktrees["api"], "api goes on", "--no-verify")
        write_files(worktrees["api"], {"README.md": "api's readme\n"})
        commit_all(worktrees["api"], "outside the zone", "--no-verify")
        alerts = w.tick()
        assert ran("log") == 1 and ran("merge-tree") == 1
        assert {(a.stream, a.state) for a in alerts} == {("api", "violation"), ("api", "conflict")}


def test_a_stream_worktree_without_the_zone_check_alerts_until_it_is_put_back(tmp_path, monkeypatch):
    """git is asked for a worktree's hooks path again only when a config file it reads changed."""
    repo = make_repo(tmp_path / "webapp", zones_with())
    api = add_stream_worktree(repo, "api")
    trace = tmp_path / "trace"
    monkeypatch.setenv("GIT_TRACE", str(trace))

    def asked() -> int:
        return traced(trace, "config --get core.hooksPath")

    with watcher(repo) as w:
        assert w.tick() == []
        asked()
        assert w.tick() == [] and asked() == 0    # nothing changed: the last answer stands
        git(api, "config", "--worktree", "core.hooksPath", ".husky/_")   # this worktree's own config wins
        [taken] = w.tick()
        assert asked() == 1
        assert (taken.stream, taken.state) == ("api", "unchecked")
        assert taken.message.startswith(f"zone check not installed in api ({api})")
        assert w.tick() == []
        wta(repo, "hooks", "install", check=0)
        [back] = w.tick()
        assert (back.stream, back.state, back.cleared) == ("api", "ok", True)


def test_with_git_every_the_git_sources_are_looked_at_that_often_and_their_alerts_stand_between(tmp_path):
    """`wta up`'s live view looks at commits, conflicts and hooks every few seconds (each look runs git
    per stream); sessions, checks and requests on every tick."""
    repo = make_repo(tmp_path / "webapp", zones_with())
    api = add_stream_worktree(repo, "api")
    project = Project.find(str(repo))
    with Watcher(project, project.main_config(), git_every=3600) as w:
        assert w.tick() == []
        git(api, "config", "--worktree", "core.hooksPath", ".husky/_")
        request = requests.create(str(repo / ".git" / "wta"), "ui", "api", "add GET /api/schedule")
        [opened] = w.tick()                                                     # hooks: not looked at yet
        assert (opened.stream, opened.state) == ("api", "request") and request.id in opened.message
        [taken] = w.tick(full=True)
        assert (taken.stream, taken.state) == ("api", "unchecked")
        wta(repo, "hooks", "install", check=0)
        assert w.tick() == []                                                   # the alert stands
        [back] = w.tick(full=True)
        assert (back.stream, back.state, back.cleared) == ("api", "ok", True)


def test_requests_alert_when_opened_and_when_closed(tmp_path):
    webapp = make_repo(tmp_path / "webapp", zones_with())
    state_dir = str(webapp / ".git" / "wta")
    with watcher(webapp) as w:
        assert w.tick() == []
        request = requests.create(state_dir, "ui", "api", "add GET /api/schedule")
        [opened] = w.tick()
        assert (opened.stream, opened.state) == ("api", "request") and request.id in opened.message
        assert w.tick() == []
        requests.close(state_dir, request.id)
        [closed] = w.tick()
        assert (closed.state, closed.cleared) == ("closed", True) and "by hand" in closed.message


def test_session_history_is_not_news_but_problems_are_and_recover(tmp_path):
    webapp = make_repo(tmp_path / "webapp", zones_with())
    store = SessionStore(str(webapp / ".git" / "wta"))
    earlier = iso(datetime.now(timezone.utc) - timedelta(hours=1))
    # (An ending a watcher announced then; one none did is news: a killed coordinator's sessions went on.)
    store.update("ui", runner="command", state="done", started_at=earlier, ended_at=earlier,
                 announced=[f"{earlier}:done"])
    store.update("infra", runner="command", state="failed", reason="exit 3", started_at=earlier, ended_at=earlier)
    store.update("api", runner="command", state="stalled", pid=os.getpid(),
                 pid_create_time=process.create_time(os.getpid()), started_at=earlier)
    with watcher(webapp) as w:
        first = w.tick()
        assert sorted(states(first)) == [("api", "stalled"), ("infra", "failed")]
        assert "exit 3" in next(a.message for a in first if a.stream == "infra")
        log = tmp_path / "api.log"
        log.write_text("output again\n")
        store.update("api", state="running", reason=None, log=str(log))  # as the coordinator records it
        assert states(w.tick()) == [("api", "recovered")]
        assert w.tick() == []


def test_notify_values_are_quoted_for_where_they_stand(tmp_path):
    message = "it's \"odd\" $HOME `x` \\ ;"
    template = "printf '%s\\n' {message} '{message}' \"{message}\" 'a {stream}: {state}'"
    command = fill_command(template, {"stream": "api", "state": "failed", "message": message})
    out = subprocess.run(["sh", "-c", command], capture_output=True, text=True, timeout=10).stdout
    assert out.splitlines() == [message, message, message, "a api: failed"]


def test_a_notify_value_in_a_command_substitution_inside_double_quotes_is_one_word(tmp_path):
    """`"$(echo {message} | cut -c1-300)"`: inside the substitution words stand bare, and the value had
    been quoted for "..." only, so a `;` in a request's text (a sandboxed agent's) ran a command of its
    own, outside the sandbox."""
    pwned = tmp_path / "pwned"
    message = f"please add x; touch {pwned}; echo `touch {pwned}` $(touch {pwned})"
    plain = "".join(c if c.isalnum() or c in " .,:/@+%-_" else "_" for c in message)   # what it keeps there
    for template in ('printf "%s\\n" "$(echo {message} | cut -c1-300)"', 'printf "%s\\n" "`echo {message}`"',
                     'printf "%s\\n" "$(echo $((1+1)) {message})"',   # a `)` the quoting cannot follow
                     'printf "%s\\n" "$(case x in x) echo {message};; esac)"'):
        command = fill_command(template, {"stream": "api", "state": "failed", "message": message})
        out = subprocess.run(["sh", "-c", command], capture_output=True, text=True, timeout=10).stdout
        assert plain in out and not pwned.exists(), (template, command, out)
    assert fill_command("printf %s {message}", {"message": message}).endswith(shlex.quote(message))


def test_wta_up_in_the_foreground_shows_the_alerts(tmp_path):
    text = session_zones('  runner: command\n  command: "sleep 3"\n',
                 extra='checks:\n  - {name: flag, run: "test -f ok-flag", every: 1s}\n')
    repo = session_repo(tmp_path, text)
    done = up(repo, "ui")
    assert done.returncode == 0, done.stdout + done.stderr
    shown = [line for line in done.stdout.splitlines() if line.startswith("alert: ")]
    assert len(shown) == 1 and shown[0].endswith("check:flag failed: check flag failed (exit 1)")
    # The session's end is its own line; the alert of the last look, as wta up ends, says no more.
    assert "ui: done" in done.stdout.splitlines()
    logged = lines(alerts_log(repo))
    assert logged[0].endswith("check:flag failed: check flag failed (exit 1)")
    assert logged[-1].endswith("ui done: session done")   # in the alerts log, and to notify:, as before


def test_what_cannot_be_read_is_one_error_alert_and_nothing_clears_meanwhile(tmp_path):
    repo = make_repo(tmp_path / "webapp", zones_with())
    good = (repo / "zones.yaml").read_text()
    requests.create(str(repo / ".git" / "wta"), "ui", "api", "add GET /api/schedule")
    with watcher(repo) as w:
        assert states(w.tick()) == [("api", "request")]
        (repo / "zones.yaml").write_text(good.replace("version: 1", "version: 7"))
        commit_all(repo, "break zones.yaml")
        [error] = w.tick()
        assert (error.stream, error.state, error.key) == ("wta", "error", "error:zones")
        assert "zones.yaml" in error.message
        assert w.tick() == []
        (repo / "zones.yaml").write_text(good)
        commit_all(repo, "fix zones.yaml")
        assert [(a.key, a.state) for a in w.tick()] == [("error:zones", "ok")]


def test_a_detached_schedule_notifies_as_one_in_the_foreground_does(tmp_path):
    notified = tmp_path / "notified"
    streams = "  api:\n    paths: [src/api/**]\n  ui:\n    paths: [src/ui/**]\n"
    repo = session_repo(tmp_path, session_zones("  runner: command\n  command: \"sleep 0.3\"\n", streams,
                                                extra=f"notify: '{notify_into(notified)}'\n"))
    assert up(repo, "-d").returncode == 0
    wait_for(lambda: sorted(lines(notified)) == ["api|done|session done", "ui|done|session done"], timeout=60)
    log = repo / ".git" / "wta" / "logs" / "coordinator.log"
    wait_for(lambda: "every session has ended" in log.read_text(), timeout=30)
    assert "alert: " in log.read_text()


def test_status_shows_the_alerts_a_running_watcher_holds_open(tmp_path):
    """SPEC lists alerts among what `wta status` shows per stream; they were only in `wta watch`'s output
    and alerts.log. A failing check and an out-of-zone commit, while `wta watch` runs; none once it ends."""
    import json

    repo = make_repo(tmp_path / "webapp", zones_with(['{name: db, run: "exit 3", every: 1s}']))
    ui = add_stream_worktree(repo, "ui")
    write_files(ui, {"src/lib/db.ts": "export const db = {ui: true}\n"})
    git(ui, "add", "-A")
    git(ui, "commit", "-q", "--no-verify", "-m", "[ui] reach into api's zone")
    watch = start_watch(repo, "--interval", "0.2")
    try:
        wait_for(lambda: len(lines(alerts_log(repo))) >= 2)
        shown = json.loads(wta(repo, "status", "--json", check=0).stdout)
        text = wta(repo, "status", check=0).stdout
    finally:
        code, _ = finish(watch)
    assert code == 0
    assert {(a["stream"], a["state"]) for a in shown["alerts"]} == {("check:db", "failed"), ("ui", "violation")}
    ui_status = next(s for s in shown["streams"] if s["stream"] == "ui")
    assert [a["state"] for a in ui_status["alerts"]] == ["violation"] and "src/lib/db.ts" in ui_status["alerts"][0]["message"]
    assert "alerts (open, as the running watcher sees them)" in text and "check:db failed: " in text
    after = json.loads(wta(repo, "status", "--json", check=0).stdout)
    assert after["alerts"] == [] and "alerts (open" not in wta(repo, "status", check=0).stdout
    assert not list((repo / ".git" / "wta" / "alerts").iterdir())
