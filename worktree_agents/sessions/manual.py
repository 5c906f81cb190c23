"""The `manual` runner: no process; a person works in the worktree with an editor.

It writes the zone rules where editors' assistants read them — a Cursor rule
file and `CLAUDE.local.md` — and keeps both out of git through the repository's
exclude file (shared by every worktree), so they are never committed.
"""

from __future__ import annotations

import os

from worktree_agents import git
from worktree_agents.files import write_atomic
from worktree_agents.repo import exclude
from worktree_agents.sessions import Runner, SessionContext

CURSOR_RULE = ".cursor/rules/wta-zone.mdc"
CLAUDE_LOCAL = "CLAUDE.local.md"
FILES = (CURSOR_RULE, CLAUDE_LOCAL)


def cursor_rule(ctx: SessionContext) -> str:
    return (f"---\ndescription: wta zone rules of stream {ctx.stream}: which paths this worktree may change\n"
            f"alwaysApply: true\n---\n\n{ctx.full_prompt()}")


class ManualRunner(Runner):
    name = "manual"
    starts_process = False

    def prepare_files(self, ctx: SessionContext) -> None:
        exclude(os.path.join(os.path.dirname(ctx.state_dir), "info", "exclude"), list(FILES),
                "zone rule files of manual sessions")
        for rel, text in ((CURSOR_RULE, cursor_rule(ctx)), (CLAUDE_LOCAL, ctx.full_prompt())):
            if git.is_tracked(rel, ctx.worktree, git.no_git_env()):
                continue  # the project tracks its own copy: never overwrite committed work
            path = os.path.join(ctx.worktree, rel)
            # Only inside the worktree: a folder there may be a link an agent of this stream left (`.cursor`
            # pointing into the home folder), and wta writes these files outside any sandbox.
            if os.path.commonpath([os.path.realpath(os.path.dirname(path)), os.path.realpath(ctx.worktree)]) != \
                    os.path.realpath(ctx.worktree):
                continue
            write_atomic(path, text)
        write_atomic(ctx.prompt_file, ctx.full_prompt())  # `wta up` names it instead of printing it

    def command(self, ctx: SessionContext) -> None:
        return None


RUNNER = ManualRunner()
