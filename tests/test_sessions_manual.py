"""The `manual` runner: no process; zone rule files for editors, ignored by git; the prompt printed."""

from __future__ import annotations

from support import git
from sessions_support import no_leftover_processes, record, session_repo, up, worktree, zones  # noqa: F401

STREAMS = "  api:\n    paths: [src/api/**]\n    prompt: Build the API.\n  ui:\n    paths: [src/ui/**]\n    after: [api]\n"


def test_manual_writes_both_rule_files_ignored_by_git_and_prints_the_prompt(tmp_path):
    repo = session_repo(tmp_path, zones("  runner: claude\n", STREAMS))
    done = up(repo, "--runner", "manual")
    assert done.returncode == 0, done.stdout + done.stderr
    api = worktree(repo, "api")
    assert f"== api (manual): open {api} in your editor ==" in done.stdout
    assert "Build the API." in done.stdout and "Zone rules of stream `api`" in done.stdout

    rule = (api / ".cursor" / "rules" / "wta-zone.mdc").read_text()
    assert rule.startswith("---\ndescription: wta zone rules of stream api") and "\nalwaysApply: true\n---\n" in rule
    assert "- `src/api/**`" in rule and "Build the API." in rule
    assert "- `src/api/**`" in (api / "CLAUDE.local.md").read_text()
    assert git(api, "status", "--porcelain", "--untracked-files=all").stdout == ""
    assert git(api, "check-ignore", ".cursor/rules/wta-zone.mdc", "CLAUDE.local.md").stdout.split() == \
        [".cursor/rules/wta-zone.mdc", "CLAUDE.local.md"]
    exclude = (repo / ".git" / "info" / "exclude").read_text()
    assert exclude.count("/CLAUDE.local.md") == 1

    session = record(repo, "api")
    assert (session["state"], session["reason"], session["pid"]) == ("done", f"manual session: open {api}", None)
    assert record(repo, "ui")["state"] == "done"  # its `after` was satisfied by the manual api session
    assert up(repo, "--runner", "manual").returncode == 0  # again: nothing duplicated
    assert (repo / ".git" / "info" / "exclude").read_text() == exclude
