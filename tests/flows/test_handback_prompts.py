"""The prompts of the follow-up sessions a failed landing hands back: what the agent reads is true, fit to read,
free of credentials, and its commands, run as written in the stream's sandbox, lead to a landing.

Real git, real `wta up` processes; the agents are shell scripts (`runner: command`) that keep each prompt they get
and run the commands it names, or the api runner against the fake Messages API.
"""

from __future__ import annotations

import json
from pathlib import Path

from support import commit_all, git, wta, write_files
from sessions_support import (KEY, env, no_leftover_processes, record, session_repo, state_dir,  # noqa: F401
                              up)

FILES = {"README.md": "# app\n", "src/api/handler.py": "x = 1\n", "src/ui/page.html": "<p>hi</p>\n"}
STREAMS = "  api:\n    paths: [src/api/**]\n  ui:\n    paths: [src/ui/**]\n"
# Each session keeps a copy of its prompt (api-prompt-0.md, -1.md, ...).
KEEP_PROMPT = 'n=$(ls "{out}" | grep -c "^$WTA_STREAM-prompt-"); cp "$1" "{out}/$WTA_STREAM-prompt-$n.md"\n'


def command_repo(tmp_path: Path, script: str, extra: str) -> Path:
    agent = tmp_path / "agent.sh"
    agent.write_text(KEEP_PROMPT.format(out=tmp_path) + script)
    text = (f"version: 1\nland: auto\nland_retries: 1\n{extra}agent:\n  runner: command\n  timeout: 60s\n"
            f"  command: \"sh {agent} {{prompt_file}}\"\nstreams:\n{STREAMS}")
    return session_repo(tmp_path, text, FILES)


def subjects(repo: Path, rev: str) -> list[str]:
    return git(repo, "log", "--format=%s", rev).stdout.splitlines()


# A test that fails until src/api/fixed exists, printing what tests print: a progress bar, colours, and the
# credentials of HTTP headers (no key variable holds these: only their shape gives them away).
NOISY_TEST = r"""if [ -f src/api/fixed ]; then echo "all good"; exit 0; fi
printf 'progress 10%%\rprogress 50%%\rprogress 100%%\n'
printf '\033[1;31mFAILED\033[0m test_handler\n'
echo "curl -H 'Authorization: Bearer ghp_0123456789abcdefTOKEN' https://example.com"
echo '{"headers": {"x-api-key": "k3y-0123456789abcdefVALUE"}}'
exit 1
"""


def test_a_failed_tests_output_is_handed_back_readable_with_header_credentials_blanked_out(tmp_path):
    """The test's output is bounded and readable, with no credential a test printed in a header (a `Bearer`
    token had gone into the prompt as it was: only `sk-` keys and the key variables' values were blanked
    out); and the reproduction the prompt names, run as written in the sandbox, leads to a landing."""
    (tmp_path / "check.sh").write_text(NOISY_TEST)
    script = """
if grep -q "Landing your work" "$1"; then
  how=$(grep -o 'git rebase --apply main' "$1" | head -1)
  [ -n "$how" ] && $how -q && sh "$(dirname "$0")/check.sh" > /dev/null
  touch src/api/fixed && git add src/api/fixed && git commit -qm "fix the test"
else
  echo w > src/api/w.py && git add src/api/w.py && git commit -qm "api work"
fi
"""
    repo = command_repo(tmp_path, script, f"test: sh {tmp_path}/check.sh\n")
    done = up(repo, "api")
    assert done.returncode == 0, done.stdout + done.stderr
    follow_up = (tmp_path / "api-prompt-1.md").read_text()
    assert "\nprogress 100%\nFAILED test_handler\n" in follow_up            # what a terminal showed last
    assert "\x1b" not in follow_up and "\r" not in follow_up
    assert "-H 'Authorization: Bearer [redacted]' https://example.com" in follow_up
    assert '{"headers": {"x-api-key": "[redacted]"}}' in follow_up
    logs = [p.read_text() for p in (state_dir(repo) / "merges").rglob("*.test.log")]
    assert logs and not [log for log in logs if "TOKEN" in log or "VALUE" in log]
    assert "`git rebase --apply main`" in follow_up and "packed-refs.lock" in follow_up
    assert subjects(repo, "main")[:2] == ["[api] fix the test", "[api] api work"]
    assert (record(repo, "api")["state"], record(repo, "api")["handbacks"]) == ("landed", 1)


def test_a_commit_without_the_prefix_is_handed_back_with_only_the_way_that_finishes_in_the_sandbox(tmp_path):
    """A `--no-verify` commit lacks the prefix. The hand-back had carried `wta merge`'s advice for a person
    (`git rebase -i` and `reword`), which stops half-way in the sandbox, beside its own; the follow-up runs the
    commands the prompt names, as written, and the stream lands."""
    script = """
if grep -q "wta never lands them" "$1"; then
  how=$(grep -o 'git reset --soft [^`]*' "$1" | head -1)
  eval "$how" && git commit -qm "my work, prefixed"
else
  echo ok > src/api/ok.py && git add src/api/ok.py && git commit -q --no-verify -m "no prefix"
fi
"""
    repo = command_repo(tmp_path, script, "")
    done = up(repo, "api")
    assert done.returncode == 0, done.stdout + done.stderr
    follow_up = (tmp_path / "api-prompt-1.md").read_text()
    assert "'no prefix': no [api] prefix\n" in follow_up, follow_up
    assert "rebase -i" not in follow_up and "reword" not in follow_up
    assert "`git reset --soft $(git merge-base HEAD main)`" in follow_up
    assert subjects(repo, "main")[:2] == ["[api] my work, prefixed", "initial"]
    assert record(repo, "api")["state"] == "landed"


def test_the_api_runner_sends_no_key_a_person_committed_on_the_base_in_its_follow_up(tmp_path):
    """A person's commit on the base conflicts with the stream; its subject holds a key and a bearer token,
    and the hand-back names the commit. The follow-up's first request carried them to the API as they were
    (the api and claude runners send the task unredacted; only the command runner's prompt was redacted).
    The follow-up resolves the conflict with the commands its prompt names, through the `run` tool."""
    from worktree_agents.fake_anthropic import FakeAnthropic, text, tool_use

    secret, token = "sk-ant-api03-PERSONkey0123456789abc", "ghp_personTOKEN0123456789"

    def agent(body: dict):
        first = json.dumps(body["messages"][0])
        if "conflicts in these paths" in first:
            turns = [[tool_use("run", {"command": "git rebase --apply main"})],
                     [tool_use("write_file", {"path": "src/api/handler.py", "content": "x = 23\n"})],
                     [tool_use("run", {"command": "git add src/api/handler.py && git rebase --continue"})],
                     [text("Rebased.")]]
        else:
            turns = [[tool_use("write_file", {"path": "src/api/handler.py", "content": "x = 2\n"})],
                     [tool_use("commit", {"message": "x is 2"})], [text("Done.")]]
        turn = len(body["messages"]) // 2
        return turns[turn] if turn < len(turns) else None

    zones_text = ("version: 1\nagent:\n  runner: api\n  max_turns: 10\n  timeout: 60s\n"
                  "streams:\n  api:\n    paths: [src/api/**]\n    prompt: Set x.\n")
    repo = session_repo(tmp_path, zones_text, FILES)
    with FakeAnthropic(agent, api_key=KEY) as fake:
        first = up(repo, env_=env(ANTHROPIC_BASE_URL=fake.base_url))
        assert first.returncode == 0, first.stdout + first.stderr
        write_files(repo, {"src/api/handler.py": "x = 3\n"})
        commit_all(repo, f"rotate {secret}; Authorization: Bearer {token}")
        landing = up(repo, "--land", env_=env(ANTHROPIC_BASE_URL=fake.base_url))
    assert landing.returncode == 0, landing.stdout + landing.stderr
    firsts = [r.body for r in fake.conversation_requests() if len(r.body["messages"]) == 1]
    assert len(firsts) == 2
    sent = json.dumps(firsts[1])
    assert "conflicts in these paths" in sent and "rotate [redacted]; Authorization: Bearer [redacted]" in sent
    assert secret not in sent and token not in sent
    handback_gone = not (state_dir(repo) / "handback" / "api.md").exists()
    assert handback_gone and record(repo, "api")["state"] == "landed"
    assert (repo / "src/api/handler.py").read_text() == "x = 23\n"


def manual_repo(tmp_path: Path, script: str) -> Path:
    """`command_repo`, landed by `wta up --land` (land: manual): a person changes the base between the session
    and its landing."""
    agent = tmp_path / "agent.sh"
    agent.write_text(KEEP_PROMPT.format(out=tmp_path) + script)
    text = (f"version: 1\nland_retries: 1\nagent:\n  runner: command\n  timeout: 60s\n"
            f"  command: \"sh {agent} {{prompt_file}}\"\nstreams:\n{STREAMS}")
    return session_repo(tmp_path, text, FILES)


def test_a_merge_commit_is_handed_back_with_the_commands_that_make_history_linear(tmp_path):
    """The agent merged a branch into its own; the base moved on since, so the stream cannot land as it is. The
    hand-back had been the refusal written for a person ("merge main into it (git merge main) or rebase it
    yourself, then merge again": a `wta merge` the agent cannot run); it names the merge commit and the rebase that
    drops it, which the follow-up runs as written, and the stream lands with linear history."""
    script = """
if grep -q "Landing your work" "$1"; then
  how=$(grep -o 'git rebase --apply main' "$1" | head -1)
  [ -n "$how" ] && $how -q
else
  echo a > src/api/a.py && git add src/api/a.py && git commit -qm "api a"
  git merge -q --no-edit other
fi
"""
    repo = manual_repo(tmp_path, script)
    git(repo, "checkout", "-q", "-b", "other")
    write_files(repo, {"src/api/other.py": "o = 1\n"})
    commit_all(repo, "[api] other work")
    git(repo, "checkout", "-q", "main")
    first = up(repo, "api")
    assert first.returncode == 0, first.stdout + first.stderr
    merge = git(repo, "rev-parse", "refs/heads/wta/api").stdout.strip()
    assert len(git(repo, "rev-list", "--parents", "-n1", merge).stdout.split()) == 3
    write_files(repo, {"README.md": "# app, by a person\n"})
    commit_all(repo, "a person's change")
    landing = up(repo, "--land", "api")
    assert landing.returncode == 0, landing.stdout + landing.stderr
    follow_up = (tmp_path / "api-prompt-1.md").read_text()
    assert f"`{merge[:12]}`" in follow_up and "`git rebase --apply main`" in follow_up, follow_up
    assert "wta merge" not in follow_up and "merge again" not in follow_up
    assert "git merge main" not in follow_up
    assert (record(repo, "api")["state"], record(repo, "api")["handbacks"]) == ("landed", 1)
    assert git(repo, "rev-list", "--merges", "main").stdout == ""
    landed = subjects(repo, "main")
    assert sorted(landed[:2]) == ["[api] api a", "[api] other work"] and landed[2] == "a person's change"


def test_a_change_git_carried_into_another_zone_by_the_rebase_is_handed_back_with_commands_that_work(tmp_path):
    """The agent changes its own file; meanwhile a person moves that file into the ui zone on the base, and the
    rebase carries the change along the rename: only the rebased result is out of the zone. The hand-back had
    told the agent to restore that path from the old fork, where it does not exist (`pathspec did not match`), so
    the follow-up committed the same work and the stream was blocked; now it rebases first, and its commands, run
    as written, leave the moved file to its owner and land the rest."""
    script = """
if grep -q "Landing your work" "$1"; then
  how=$(grep -o 'git rebase --apply main' "$1" | head -1)
  [ -n "$how" ] && $how -q
  eval "$(grep -o 'git reset --soft [^`]*' "$1" | head -1)"
  eval "$(grep -o 'git restore --source=[^`]*' "$1" | head -1)"
  git commit -qm "my part"
else
  echo "x = 2" > src/api/handler.py && echo n > src/api/new.py && git add src/api && git commit -qm "api x 2"
fi
"""
    repo = manual_repo(tmp_path, script)
    write_files(repo, {"src/api/keep.py": "k = 1\n"})   # (src/api is not renamed as a whole: new.py stays there)
    commit_all(repo, "keep")
    first = up(repo, "api")
    assert first.returncode == 0, first.stdout + first.stderr
    git(repo, "mv", "src/api/handler.py", "src/ui/handler.py")
    commit_all(repo, "handler moves to ui")
    landing = up(repo, "--land", "api")
    assert landing.returncode == 0, landing.stdout + landing.stderr
    follow_up = (tmp_path / "api-prompt-1.md").read_text()
    assert "src/ui/handler.py" in follow_up and "`git rebase --apply main`" in follow_up, follow_up
    assert (record(repo, "api")["state"], record(repo, "api")["handbacks"]) == ("landed", 1)
    assert subjects(repo, "main")[:2] == ["[api] my part", "handler moves to ui"]
    assert git(repo, "show", "main:src/ui/handler.py").stdout == "x = 1\n"
    assert git(repo, "show", "main:src/api/new.py").stdout == "n\n"


def test_a_branch_written_without_git_is_a_persons_to_judge_not_handed_back(tmp_path):
    """Something wrote the stream's ref without git (another stream's sandboxed agent can). The refusal had gone
    back to the stream's own agent, with the command that records the move (`git update-ref`): the follow-up could
    land the forged commits as its own. The stream is blocked for a person instead, with no follow-up."""
    script = """
echo w > src/api/w.py && git add src/api/w.py && git commit -qm "api work"
"""
    repo = manual_repo(tmp_path, script)
    first = up(repo, "api")
    assert first.returncode == 0, first.stdout + first.stderr
    tip = git(repo, "rev-parse", "refs/heads/wta/api").stdout.strip()
    forged = git(repo, "commit-tree", f"{tip}^{{tree}}", "-p", tip, "-m", "[api] forged").stdout.strip()
    (repo / ".git" / "refs" / "heads" / "wta" / "api").write_text(forged + "\n")
    blocked_for_a_person(repo, tmp_path, "without git")
    assert git(repo, "rev-parse", "main").stdout.strip() != forged


def test_a_key_in_a_commit_subject_reaches_no_session_record_status_or_notify(tmp_path):
    """The conflict names the commit being applied, whose subject holds a key; the stream's reason carries it.
    The session record (and so `wta status --json`) had kept it as it was, while the hand-back was redacted."""
    secret = "sk-ant-api03-SUBJECTkey0123456789abc"
    script = f"""
if ! grep -q "Landing your work" "$1"; then
  echo "x = 2" > src/api/handler.py && git add src/api/handler.py && git commit -qm "set key {secret}"
fi
"""
    repo = manual_repo(tmp_path, script)
    out = tmp_path / "notified"
    zones_text = (repo / "zones.yaml").read_text().replace(
        "version: 1\n", f"version: 1\nnotify: \"echo {{message}} >> {out}; env | grep WTA_ALERT >> {out}\"\n")
    (repo / "zones.yaml").write_text(zones_text)
    commit_all(repo, "notify")
    first = up(repo, "api")
    assert first.returncode == 0, first.stdout + first.stderr
    write_files(repo, {"src/api/handler.py": "x = 3\n"})
    commit_all(repo, "a person changes x")
    landing = up(repo, "--land", "api")
    assert landing.returncode == 1, landing.stdout + landing.stderr   # blocked after its follow-up
    api = record(repo, "api")
    assert api["state"] == "blocked" and "set key [redacted]" in api["reason"], api
    status = wta(repo, "status", "--json", env=env())
    assert "set key [redacted]" in status.stdout
    notified = out.read_text()
    assert "set key [redacted]" in notified
    for text in (json.dumps(api), status.stdout, notified, landing.stdout, landing.stderr):
        assert secret not in text


def test_a_detached_head_is_handed_back_with_commands_that_work_in_the_sandbox(tmp_path):
    """The agent committed on its branch, then on a detached HEAD off an earlier commit: its branch lacks that
    work. The hand-back had been `wta merge`'s advice for a person, `git switch -c api-detached` to keep the
    commits, which the sandbox refuses (refs/heads/ is read-only there: only its own ref's directory is
    writable), then `git cherry-pick`. The follow-up runs the commands its prompt names, as written, and both
    commits land."""
    script = """
if grep -q "Landing your work" "$1"; then
  git switch -q -c api-detached 2>/dev/null && echo made > "$(dirname "$0")/other-branch"
  eval "$(grep -o 'git rebase --apply [^`]*' "$1" | head -1)" -q
  eval "$(grep -o 'git merge-base --is-ancestor [^`]*' "$1" | head -1)"
else
  echo a > src/api/a.py && git add src/api/a.py && git commit -qm "on the branch"
  git checkout -q --detach HEAD~1
  echo b > src/api/b.py && git add src/api/b.py && git commit -qm "detached"
fi
"""
    repo = command_repo(tmp_path, script, "")
    done = up(repo, "api")
    assert done.returncode == 0, done.stdout + done.stderr
    follow_up = (tmp_path / "api-prompt-1.md").read_text()
    assert "detached HEAD" in follow_up and "`git rebase --apply wta/api`" in follow_up, follow_up
    assert "switch -c" not in follow_up and "cherry-pick" not in follow_up and "wta merge" not in follow_up
    assert not (tmp_path / "other-branch").exists()   # the person's advice: refused in the sandbox
    assert git(repo, "rev-parse", "--verify", "-q", "refs/heads/api-detached", check=False).returncode != 0
    assert (record(repo, "api")["state"], record(repo, "api")["handbacks"]) == ("landed", 1)
    assert sorted(subjects(repo, "main")[:2]) == ["[api] detached", "[api] on the branch"]


def test_a_worktree_config_the_sandbox_cannot_change_blocks_the_stream_for_a_person(tmp_path):
    """A person set core.fsmonitor in the stream worktree's own config (config.worktree), which wta refuses to
    run its git with. The refusal had gone back to the agent, whose sandbox keeps that file (and the worktree's
    .git) read-only and whose hand-back said to run `git worktree repair` in the main worktree: the stream is
    blocked for a person instead, the reason ending with what to do, and no follow-up starts."""
    script = """
echo w > src/api/w.py && git add src/api/w.py && git commit -qm "api work"
"""
    repo = manual_repo(tmp_path, script)
    first = up(repo, "api")
    assert first.returncode == 0, first.stdout + first.stderr
    worktree = Path(record(repo, "api")["worktree"])
    git(worktree, "config", "--worktree", "core.fsmonitor", "true")
    blocked_for_a_person(repo, tmp_path, "core.fsmonitor")


def test_a_branch_deleted_while_it_lands_blocks_the_stream_for_a_person_with_no_continue(tmp_path):
    """The `test:` deletes the stream's branch (as a person or another stream's agent could, meanwhile): wta puts
    it back and refuses. The hand-back had told the agent "`wta merge --continue` merges it", a command it cannot
    run and a merge a landing never keeps; nothing is wrong with its work. The stream is blocked for a person,
    the branch back at its tip, the reason ending with what to do, and no follow-up starts."""
    script = """
echo w > src/api/w.py && git add src/api/w.py && git commit -qm "api work"
"""
    repo = manual_repo(tmp_path, script)
    text = (repo / "zones.yaml").read_text().replace(
        "version: 1\n", "version: 1\ntest: git update-ref -d refs/heads/wta/api || rm -f \"$(git rev-parse "
                        "--git-common-dir)/refs/heads/wta/api\"\n")
    (repo / "zones.yaml").write_text(text)
    commit_all(repo, "test")
    first = up(repo, "api")
    assert first.returncode == 0, first.stdout + first.stderr
    tip = git(repo, "rev-parse", "refs/heads/wta/api").stdout.strip()
    reason = blocked_for_a_person(repo, tmp_path, "deleted while it landed")
    assert "--continue" not in reason, reason
    assert git(repo, "rev-parse", "refs/heads/wta/api").stdout.strip() == tip


def blocked_for_a_person(repo, tmp_path, said: str) -> str:
    """`wta up --land api` blocks the stream for a person: no follow-up prompt, its reason saying `said` and
    ending with the next step; that reason."""
    landing = up(repo, "--land", "api")
    assert landing.returncode == 1, landing.stdout + landing.stderr   # (a stream blocked)
    assert not (tmp_path / "api-prompt-1.md").exists()
    api = record(repo, "api")
    assert (api["state"], api["handbacks"]) == ("blocked", 0), api
    assert said in api["reason"] and api["reason"].endswith("clear that cause, then `wta merge api`"), api["reason"]
    return api["reason"]


def test_untracked_files_outside_the_zone_are_handed_back_to_delete_and_those_in_it_to_commit_or_ignore(tmp_path):
    """Every untracked file was handed back with "add them to .gitignore (in your zone)", also one outside the
    zone, which no .gitignore the stream may change covers. The follow-up, doing what each list says (deleting
    those outside, ignoring one of its own in a .gitignore there), lands."""
    script = """
if grep -q "Outside your zone:" "$1"; then
  sed -n '/^Outside your zone:/,/^$/p' "$1" | sed -n 's/^- `\\(.*\\)`$/\\1/p' | while read -r f; do rm -r -- "$f"; done
  echo notes.txt > tmp/.gitignore && git add tmp/.gitignore && git commit -qm "ignore the notes"
else
  echo w > src/api/w.py && git add src/api/w.py && git commit -qm "api work"
  mkdir -p tmp src/ui/drafts && echo n > tmp/notes.txt && echo d > src/ui/drafts/d.html && echo s > scratch.sh
fi
"""
    repo = command_repo(tmp_path, script, "unowned: allow\ntest: 'test -f src/api/w.py'\n")
    (repo / "zones.yaml").write_text((repo / "zones.yaml").read_text().replace(
        "streams:\n", "streams:\n  infra:\n    paths: ['/*.sh']\n"))
    commit_all(repo, "infra owns the scripts")
    done = up(repo, "api")
    assert done.returncode == 0, done.stdout + done.stderr
    follow_up = (tmp_path / "api-prompt-1.md").read_text()
    assert ("so the landing was not tested:\nIn your zone:\n- `tmp/`\nOutside your zone:\n- `scratch.sh`\n"
            "- `src/ui/drafts/`\n\nCommit those your work needs. Delete the others, or add them to a .gitignore in "
            "your zone if they are build output. Delete those outside your zone (`rm -r -- PATH`): you cannot "
            "commit them, and no .gitignore you may change covers them.") in follow_up, follow_up
    assert (record(repo, "api")["state"], record(repo, "api")["handbacks"]) == ("landed", 1)
    assert subjects(repo, "main")[:2] == ["[api] ignore the notes", "[api] api work"]
    assert git(repo, "show", "main:tmp/.gitignore").stdout == "notes.txt\n"
