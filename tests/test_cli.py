"""Conventions every command keeps: the README's commands, generated docs,
--version, completion, JSON on stdout, no colour off a terminal, exit codes."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from support import ROOT, add_stream_worktree, commit_all, wta
from worktree_agents import __version__, reference

ANSI = re.compile(r"\x1b\[")


def _readme_commands() -> list[str]:
    """The indented commands on the README's first screen, in order."""
    head = (ROOT / "README.md").read_text().split("## ", 1)[0]
    return [line.strip() for line in head.splitlines() if line.startswith("    ") and line.strip()]


def test_readme_first_screen_gives_install_and_test_commands_and_ci_runs_the_test_one():
    install, test = _readme_commands()[:2]
    assert install == "pip install . && wta demo"
    assert "pip install" in test and "[test]" in test and "pytest" in test
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert test in [line.strip() for line in ci], ".ci/run must run the README's test command word for word"


def test_zones_reference_in_readme_is_generated_from_the_schema():
    embedded = reference.embedded((ROOT / "README.md").read_text())
    assert embedded == reference.render(), "README drifted: run `python -m worktree_agents.reference` and paste"
    for key in ("`branch_prefix`", "`stall_after`", "`streams.<name>.append_only`", "`agent.runner`",
                "`checks[].every`"):
        assert key in embedded


def test_the_contract_in_docs_matches_the_commands_and_the_schema():
    """docs/SPEC.md is the contract users read: its zones.yaml example validates against the schema,
    and every command its table names exists, with each flag it lists, unless it is marked planned."""
    import typer
    import yaml
    from worktree_agents.cli import app
    from worktree_agents.config.schema import ConfigSchema

    spec = (ROOT / "docs" / "SPEC.md").read_text()
    example = re.search(r"```yaml\n(.*?)```", spec, re.S).group(1)
    assert set(ConfigSchema.model_validate(yaml.safe_load(example)).streams) == {"infra", "api", "ui", "monitor"}
    cli = typer.main.get_command(app)
    rows = [line for line in spec.splitlines() if line.startswith("| `wta ") and "(planned:" not in line]
    assert len(rows) > 15
    for row in rows:
        for usage in re.findall(r"`(wta [^`]+)`", row.split(" | ")[0]):
            command, *words = usage.split()[1:]
            found = cli.commands.get(command)
            assert found is not None, f"docs/SPEC.md names `wta {command}`, which does not exist"
            if words and words[0] in getattr(found, "commands", {}):
                found = found.commands[words[0]]
            options = {name for param in found.params for name in param.opts + param.secondary_opts}
            for flag in re.findall(r"(--?[a-z][a-z-]*)", " ".join(words)):
                assert flag in options, f"docs/SPEC.md lists {flag} for `{usage}`; the command has no such option"


def test_the_python_imports_the_docs_show_import():
    """docs/coordination.md showed `from worktree_agents.watch import Watcher`, a module moved since."""
    shown = sorted({line.strip() for doc in [ROOT / "README.md", *(ROOT / "docs").glob("*.md")]
                    for line in doc.read_text().splitlines()
                    if re.fullmatch(r"\s*from worktree_agents[\w.]* import [\w, ]+", line)})
    assert shown
    for line in shown:
        proc = subprocess.run([sys.executable, "-c", line], capture_output=True, text=True)
        assert proc.returncode == 0, f"{line}: {proc.stderr.strip().splitlines()[-1]}"


def test_version(tmp_path):
    proc = wta(tmp_path, "--version", check=0)
    assert proc.stdout.strip() == f"wta {__version__}"


def test_shell_completion_script_and_answers(tmp_path):
    env = {**os.environ, "_WTA_COMPLETE": "source_bash"}
    script = subprocess.run([sys.executable, "-m", "worktree_agents"], env=env, text=True, capture_output=True)
    assert "complete" in script.stdout and "_wta_completion" in script.stdout
    env = {**os.environ, "_WTA_COMPLETE": "complete_bash", "COMP_WORDS": "wta me", "COMP_CWORD": "1"}
    answer = subprocess.run([sys.executable, "-m", "worktree_agents"], env=env, text=True, capture_output=True)
    assert answer.stdout.split() == ["merge"]


def test_json_documents_survive_a_pipe_with_and_without_no_colour(webapp):
    api = add_stream_worktree(webapp, "api")
    (api / "src" / "lib" / "cache.ts").write_text("export const cache = 1\n")
    commit_all(api, "add a cache")
    for no_colour in ("1", ""):
        env = {**os.environ, "NO_COLOR": no_colour}
        for args in (["status", "--json"], ["zones", "--json"], ["merge", "--dry-run", "--json"]):
            wta_proc = subprocess.Popen([sys.executable, "-m", "worktree_agents", *args], cwd=webapp, env=env,
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            tool = subprocess.run([sys.executable, "-m", "json.tool"], stdin=wta_proc.stdout, capture_output=True,
                                  text=True)
            wta_proc.stdout.close()
            assert wta_proc.wait(timeout=60) == 0, wta_proc.stderr.read()
            assert tool.returncode == 0, f"wta {' '.join(args)} did not print one JSON document: {tool.stderr}"
            json.loads(tool.stdout)


def test_no_colour_codes_off_a_terminal(webapp):
    add_stream_worktree(webapp, "ui")
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    for args in (["status"], ["zones"], ["merge", "--dry-run"], ["explain", "src/lib/db.ts"], ["--help"]):
        proc = wta(webapp, *args, env=env)
        assert proc.returncode in (0, 1), proc.stderr
        assert not ANSI.search(proc.stdout + proc.stderr), f"colour codes in `wta {' '.join(args)}`"


def test_wta_or_wta_hooks_alone_prints_the_help_on_stderr_and_exits_2(tmp_path):
    """`wta` alone and `wta hooks` alone had printed nothing (exit 2): the help was left to typer, which
    does not print it when wta runs it. Now the help, as `--help` prints it, on stderr as a usage error."""
    for command in ([], ["hooks"]):
        alone = wta(tmp_path, *command, check=2)
        assert alone.stdout == ""
        assert alone.stderr == wta(tmp_path, *command, "--help", check=0).stdout, f"wta {' '.join(command)}"
        assert alone.stderr.startswith(f"Usage: {' '.join(['wta', *command])} [OPTIONS] COMMAND [ARGS]...")


def test_usage_errors_exit_2_without_traceback(webapp):
    for args in (["no-such-command"], ["status", "--no-such-flag"], ["merge", "nosuchstream"]):
        proc = wta(webapp, *args, check=2)
        assert "Traceback" not in proc.stderr


def test_debug_adds_the_traceback_but_keeps_the_exit_code_and_the_line(webapp):
    """With --debug (or WTA_DEBUG=1) a usage or configuration error exited 1, as a failed check does."""
    (webapp / "zones.yaml").write_text((webapp / "zones.yaml").read_text() + "bogus: 1\n")
    plain = wta(webapp, "zones", check=2)
    for debug in (wta(webapp, "--debug", "zones", check=2),
                  wta(webapp, "zones", check=2, env={**os.environ, "WTA_DEBUG": "1"})):
        assert "Traceback (most recent call last)" in debug.stderr
        assert debug.stderr.splitlines()[-1] == plain.stderr.strip()
    assert "Traceback" in wta(webapp, "--debug", "merge", "--abort", check=2).stderr
    # Given after the command too, as `git` users type it (it had been refused as an unknown option).
    after = wta(webapp, "zones", "--json", "--debug", check=2)
    assert "Traceback (most recent call last)" in after.stderr and after.stderr.splitlines()[-1] == plain.stderr.strip()


def test_state_on_a_read_only_file_system_is_one_line_naming_the_file_and_the_fix(webapp):
    """wta's state dir mounted read-only (a backup restore, a container): every command that writes
    there ended in "internal error: OSError" (the full disk's own line named the fix already)."""
    state = webapp / ".git" / "wta"
    state.mkdir()
    proc = subprocess.run(["bwrap", "--bind", "/", "/", "--ro-bind", str(state), str(state), "--dev", "/dev",
                           "--proc", "/proc", sys.executable, "-m", "worktree_agents", "up", "--no-launch", "api"],
                          cwd=webapp, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.startswith(f"wta: cannot write {state}/") and "internal error" not in proc.stderr
    assert proc.stderr.rstrip().endswith("Read-only file system; make that file system writable and run the "
                                         "command again")
    assert len(proc.stderr.splitlines()) == 1


def test_a_command_run_from_a_directory_that_was_removed_says_so_in_one_line(webapp, tmp_path):
    """`cd "$(wta path api)"`, then `wta down api` there: every command after it in that shell had been an
    internal error (FileNotFoundError)."""
    gone = tmp_path / "gone"
    gone.mkdir()
    proc = subprocess.run(["sh", "-c", f'cd "{gone}" && rmdir "{gone}" && exec "$0" -m worktree_agents status',
                           sys.executable], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr == ("wta: the current directory no longer exists (a worktree `wta down` removed?); cd into "
                           "the repository and run the command again\n")


def test_a_worktree_of_a_bare_repository_is_refused_naming_why(tmp_path):
    """`git worktree add` from a bare clone: wta had said "the repository is bare" of a checkout."""
    seed = tmp_path / "seed"
    subprocess.run(["git", "init", "-q", "-b", "main", str(seed)], check=True)
    subprocess.run(["git", "-C", str(seed), "commit", "-q", "--allow-empty", "-m", "x"], check=True)
    subprocess.run(["git", "clone", "-q", "--bare", str(seed), str(tmp_path / "bare.git")], check=True)
    subprocess.run(["git", "-C", str(tmp_path / "bare.git"), "worktree", "add", "-q", str(tmp_path / "wt")], check=True)
    proc = wta(tmp_path / "wt", "zones", check=2)
    assert proc.stderr == (f"wta: {tmp_path / 'wt'}: a worktree of the bare repository {tmp_path / 'bare.git'}, which "
                           "has no main worktree for wta to keep zones.yaml and the base in; use a clone with a "
                           "checkout\n")


def test_a_repository_whose_path_is_not_utf8_is_refused_in_one_line_before_anything_is_written(tmp_path):
    """A folder named in Latin-1: every command that read zones.yaml had been an internal error
    (UnicodeEncodeError), and `wta up` one after it had made the worktrees."""
    from support import make_repo

    repo = make_repo(Path(os.fsdecode(bytes(tmp_path) + b"/r\xe9po")))
    for command in (["up", "--no-launch"], ["status"], ["zones"]):
        proc = wta(repo, *command, check=2)
        assert proc.stderr == (f"wta: {tmp_path}/r\\xe9po: this path is not UTF-8, which wta needs to record it; "
                               "rename that folder (or move the repository) to a UTF-8 name\n"), command
    assert subprocess.run(["git", "-C", repo, "worktree", "list", "--porcelain"], capture_output=True,
                          check=True).stdout.count(b"worktree ") == 1
    assert not (repo / ".git" / "wta").exists()
