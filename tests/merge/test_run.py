"""`wta merge`: streams rebased back in order, verified, tested, resumable, lossless.

Every test works on a copy of one four-stream repository (the example zones,
worktrees made with `git worktree add` + `wta hooks install --stream`, commits
made through the real hooks), built once per test process (merge_support.py).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from merge_support import (MERGED_ORDER, STREAMS, ZONES, assert_contained, at_step, branch_refs,  # noqa: F401 (repo)
                           git_shim, needs_git_rebase, reachable, repo, set_test, sha, snapshot, state_dir, subjects,
                           wait_for, wt)
from support import add_stream_worktree, commit_all, git, make_repo, traced, wta, write_files

from worktree_agents.sessions.liveness import running_pid


# -- the whole sequence ---------------------------------------------------------------


def worktree_paths(repo: Path) -> list[str]:
    """The worktrees git lists, by path."""
    return [line.split()[0] for line in git(repo, "worktree", "list").stdout.splitlines()]


def take_back(proc, stream: str):
    """The match of the take-back command `wta merge --abort` printed for the stream's kept commits (group 1)."""
    return re.search(rf"kept refs/heads/wta/{stream}'s commits .* to take them back: `([^`]+)`", proc.stdout)

def test_merges_four_streams_in_order_and_loses_nothing(repo):
    before = reachable(repo)
    set_test('echo "tested $WTA_STREAM"\n')

    proc = wta(repo, "merge", check=0)

    assert subjects(repo)[:5] == ["[monitor] note", "[ui] nav", "[api] users route", "[api] pool the db",
                                  "[infra] add tools"]
    assert_contained(repo)
    assert before <= reachable(repo)
    for stream in STREAMS:
        assert f"{stream}: merged" in proc.stdout
    assert "infra    merged  1" in proc.stdout and "api      merged  2" in proc.stdout
    # The main worktree (main checked out, clean) follows the base; stream worktrees sit on their rebased branch.
    assert (repo / "src/components/Nav.tsx").exists()
    assert git(repo, "status", "--porcelain").stdout == ""
    assert git(wt(repo, "monitor"), "rev-parse", "HEAD").stdout.strip() == sha(repo, "main")
    assert not (state_dir(repo) / "merge.json").exists()
    reports = list((state_dir(repo) / "merges").glob("*.json"))
    assert len(reports) == 1
    saved = json.loads(reports[0].read_text())
    assert [s["result"] for s in saved["streams"]] == ["merged"] * 4
    assert [s["test"] for s in saved["streams"]] == ["passed"] * 4
    log = Path(saved["streams"][1]["test_log"]).read_text()
    assert log == "tested api\n"

    again = wta(repo, "merge", check=0)
    assert "nothing to merge" in again.stdout and "merged" not in again.stdout.replace("result", "")


def test_streams_whose_changes_the_base_does_not_touch_are_copied_onto_it_without_git_rebase(repo, tmp_path):
    trace = tmp_path / "trace"
    tips = {s: sha(repo, f"wta/{s}") for s in STREAMS}

    wta(repo, "merge", check=0, env={**os.environ, "GIT_TRACE": str(trace)})

    assert traced(trace, "git rebase") == 0 and subjects(repo)[:5] == MERGED_ORDER
    for stream in ("api", "ui", "monitor"):   # infra, the first, sat on the base already
        moves = git(repo, "reflog", "-2", "--format=%H %gs", f"refs/heads/wta/{stream}").stdout.splitlines()
        assert moves[0] == f"{sha(repo, f'wta/{stream}')} wta merge: rebase onto main", moves
        assert sha(repo, f"wta/{stream}") != tips[stream]
        assert git(wt(repo, stream), "status", "--porcelain").stdout == ""
    assert_contained(repo)


def test_a_base_that_deleted_a_file_is_left_to_git_rebase_and_lands_the_same(repo, tmp_path):
    trace = tmp_path / "trace"
    needs_git_rebase(repo)

    wta(repo, "merge", check=0, env={**os.environ, "GIT_TRACE": str(trace)})

    assert traced(trace, "git rebase") == 4 and subjects(repo)[:6] == [*MERGED_ORDER, "drop the api spec"]
    assert_contained(repo)


def test_json_report_and_named_streams(repo):
    proc = wta(repo, "merge", "ui", "infra", "--json", "--no-test", check=0)

    doc = json.loads(proc.stdout)
    assert doc["status"] == "merged" and doc["ok"] is True
    assert [(s["stream"], s["result"], s["commits"], s["test"]) for s in doc["streams"]] == [
        ("infra", "merged", 1, "not-run"), ("ui", "merged", 1, "not-run")]
    assert doc["base_after"] == sha(repo, "main") != doc["base_before"]
    assert json.loads(Path(doc["saved"]).read_text())["streams"] == doc["streams"]
    assert subjects(repo)[:2] == ["[ui] nav", "[infra] add tools"]
    assert sha(repo, "wta/api") not in set(git(repo, "rev-list", "main").stdout.split())


def test_dry_run_predicts_the_sequence_and_changes_nothing(repo):
    before = snapshot(repo)

    proc = wta(repo, "merge", "--dry-run", "--json", check=0)

    doc = json.loads(proc.stdout)
    assert [(s["stream"], s["result"]) for s in doc["streams"]] == [(s, "would-merge") for s in STREAMS]
    assert snapshot(repo) == before


# -- stops: verification, conflict, test ----------------------------------------------

def test_out_of_zone_commit_is_refused_at_verification(repo):
    ui = wt(repo, "ui")
    write_files(ui, {"src/lib/db.ts": "hijacked\n"})
    bad = commit_all(ui, "[ui] sneak into the api", "--no-verify")
    predicted = json.loads(wta(repo, "merge", "--dry-run", "--json", check=1).stdout)
    ui_tip = sha(repo, "wta/ui")

    proc = wta(repo, "merge", check=1)

    assert f"{bad[:12]} src/lib/db.ts: owned by stream 'api'" in proc.stderr
    assert [s["result"] for s in predicted["streams"]] == ["would-merge", "would-merge", "verification-failed",
                                                          "not-reached"]   # (as the run's row will say)
    # main stopped at api, the last good stream; ui untouched; monitor never reached.
    assert subjects(repo)[0] == "[api] users route"
    assert sha(repo, "wta/ui") == ui_tip
    assert "monitor" not in subjects(repo)[0]
    assert "not-reached" in proc.stdout
    assert "wta merge --continue" in proc.stderr


def test_unprefixed_commit_fails_verification_naming_it(repo):
    infra = wt(repo, "infra")
    write_files(infra, {"ai-agents/more.md": "more\n"})
    bad = commit_all(infra, "forgot the prefix", "--no-verify")
    main_before = sha(repo, "main")

    proc = wta(repo, "merge", "--json", check=1)

    doc = json.loads(proc.stdout)
    assert doc["streams"][0]["result"] == "verification-failed"
    assert doc["streams"][0]["problems"] == [f"{bad[:12]} 'forgot the prefix': no [infra] prefix (reword it, "
                                             "`git rebase -i` and `reword`: git revert, cherry-pick and am commit "
                                             "without the hook that adds it)"]
    assert sha(repo, "main") == main_before


def test_status_counts_the_verification_failures_that_merge_counts(repo):
    """A `--no-verify` commit of ui's outside its zone and without its `[ui]` prefix: `wta status` showed
    violations 1 (the path alone) while `wta merge` stopped on "2 verification failure(s)" (the prefix too)."""
    ui = wt(repo, "ui")
    write_files(ui, {"src/lib/db.ts": "hijacked\n"})
    bad = commit_all(ui, "sneak into the api", "--no-verify")

    table = wta(repo, "status", check=0).stdout
    [row] = [line.split() for line in table.splitlines() if line.startswith("ui ")]
    header = next(line for line in table.splitlines() if line.startswith("stream "))
    column = re.split(r"\s{2,}", header.strip()).index("violations")
    assert row[column] == "2", table
    [ui_status] = [s for s in json.loads(wta(repo, "status", "--json", check=0).stdout)["streams"]
                   if s["stream"] == "ui"]
    assert [(v["commit"], v["path"]) for v in ui_status["violations"]] == [(bad, "src/lib/db.ts")]
    assert ui_status["unprefixed"] == [{"commit": bad, "subject": "sneak into the api"}]
    proc = wta(repo, "merge", "ui", check=1)
    assert "2 verification failure(s) in wta/ui" in proc.stdout + proc.stderr


def test_conflict_with_main_stops_restores_and_was_predicted(repo):
    write_files(repo, {"src/lib/db.ts": "export const db = {pool: 1}\n"})
    hotfix = commit_all(repo, "hotfix the db on main")
    api_tip = sha(repo, "wta/api")
    before = reachable(repo)
    predicted = json.loads(wta(repo, "merge", "--dry-run", "--json", check=1).stdout)

    proc = wta(repo, "merge", "--json", check=1)

    doc = json.loads(proc.stdout)
    results = {s["stream"]: s for s in doc["streams"]}
    assert [s["result"] for s in doc["streams"]] == ["merged", "conflict", "not-reached", "not-reached"]
    assert [s["result"] for s in predicted["streams"]] == ["would-merge", "conflict", "not-reached", "not-reached"]
    assert predicted["streams"][2]["detail"] == "the merge stops at api first (alone: would merge)"
    assert predicted["streams"][1]["files"] == results["api"]["files"] == ["src/lib/db.ts"]
    assert [t["commit"] for t in predicted["streams"][1]["touched_by"]] == [hotfix[:12]]
    assert [t["commit"] for t in results["api"]["touched_by"]] == [hotfix[:12]]
    assert f"also changed by a commit on main in {hotfix[:12]}" in proc.stderr
    # main stays at infra (the last good stream); api is back where it was, clean, on its branch.
    assert sha(repo, "main") == results["infra"]["head"]
    assert subjects(repo)[0] == "[infra] add tools"
    assert sha(repo, "wta/api") == api_tip
    assert git(wt(repo, "api"), "symbolic-ref", "HEAD").stdout.strip() == "refs/heads/wta/api"
    assert git(wt(repo, "api"), "status", "--porcelain").stdout == ""
    assert json.loads((state_dir(repo) / "merge.json").read_text())["status"] == "stopped"

    refused = wta(repo, "merge", check=2)
    assert refused.stderr.count("\n") == 1 and "--continue" in refused.stderr and "--abort" in refused.stderr

    # The user resolves the conflict in the api worktree, then continues.
    api = wt(repo, "api")
    assert git(api, "rebase", "main", check=False).returncode != 0
    write_files(api, {"src/lib/db.ts": "export const db = {pool: 4} // and the hotfix\n"})
    git(api, "add", "src/lib/db.ts")
    git(api, "-c", "core.editor=true", "rebase", "--continue")
    done = wta(repo, "merge", "--continue", check=0)

    assert "api: merged" in done.stdout and "monitor: merged" in done.stdout
    assert subjects(repo)[:6] == ["[monitor] note", "[ui] nav", "[api] users route", "[api] pool the db",
                                  "[infra] add tools", "hotfix the db on main"]
    assert_contained(repo)
    assert before <= reachable(repo)
    assert not (state_dir(repo) / "merge.json").exists()


def test_failing_test_stops_before_the_base_moves_past_the_stream(repo):
    set_test("test ! -e src/components/Broken.tsx\n")
    ui = wt(repo, "ui")
    write_files(ui, {"src/components/Broken.tsx": "oops\n"})
    commit_all(ui, "broken component")
    ui_tip = sha(repo, "wta/ui")

    proc = wta(repo, "merge", check=1)

    assert "ui       test-failed" in proc.stdout
    assert subjects(repo)[0] == "[api] users route"
    assert sha(repo, "wta/ui") == ui_tip
    assert git(ui, "status", "--porcelain").stdout == ""
    assert "ui: `if [ -f" in proc.stderr and "exited 1" in proc.stderr

    git(ui, "rm", "-q", "src/components/Broken.tsx")
    git(ui, "commit", "-q", "-m", "drop the broken component")
    done = wta(repo, "merge", "--continue", check=0)

    assert "ui: merged 3 commit(s)" in done.stdout
    assert subjects(repo)[:2] == ["[monitor] note", "[ui] drop the broken component"]
    assert_contained(repo)


def test_a_failed_test_shows_the_last_lines_of_its_output_under_the_table(repo):
    set_test('for i in $(seq 1 15); do echo "out $WTA_STREAM $i"; done\ntest "$WTA_STREAM" != api\n')

    proc = wta(repo, "merge", check=1)

    log = next((state_dir(repo) / "merges").glob("*/api.test.log"))
    assert f"api: the last lines of its test's output (all of it in {log}):" in proc.stdout
    shown = proc.stdout.split("(all of it in")[1].splitlines()[1:]
    assert shown[:10] == [f"    out api {i}" for i in range(6, 16)] and not shown[10].startswith("    ")


def test_files_the_worktrees_index_hides_from_git_status_are_never_tested_in_place_of_the_commit(repo, tmp_path):
    # An agent commits `bad`, then keeps other content in the files while its index says they are unchanged
    # (skip-worktree, assume-unchanged): the test passed on that content, and `bad` landed.
    ran = tmp_path / "tested"
    set_test(f'echo "$WTA_STREAM" >> {ran}; [ "$WTA_STREAM" != ui ] || grep -q good src/components/Gate.tsx\n')
    ui = wt(repo, "ui")
    write_files(ui, {"src/components/Gate.tsx": "bad\n", "src/components/Lid.tsx": "bad\n"})
    commit_all(ui, "gate and lid")
    ui_tip, main_before = sha(repo, "wta/ui"), sha(repo, "main")
    git(ui, "update-index", "--skip-worktree", "src/components/Gate.tsx")
    git(ui, "update-index", "--assume-unchanged", "src/components/Lid.tsx")
    write_files(ui, {"src/components/Gate.tsx": "good\n", "src/components/Lid.tsx": "good\n"})
    assert git(ui, "status", "--porcelain").stdout == ""

    proc = wta(repo, "merge", check=1)

    assert "ui       refused" in proc.stdout
    assert "src/components/Gate.tsx, src/components/Lid.tsx in " in proc.stderr
    assert "differ from " in proc.stderr and "skip-worktree or assume-unchanged" in proc.stderr
    assert "ui" not in ran.read_text().split()                     # never tested
    assert "ui: testing:" not in proc.stdout + proc.stderr and "api: testing:" in proc.stdout + proc.stderr
    assert git(repo, "merge-base", "--is-ancestor", ui_tip, "main", check=False).returncode == 1
    assert git(repo, "rev-list", "--count", f"{main_before}..main").stdout.strip() == "3"   # infra, api only
    assert sha(repo, "wta/ui") == ui_tip

    # What it holds, committed, is tested and lands.
    git(ui, "update-index", "--no-skip-worktree", "src/components/Gate.tsx", "src/components/Lid.tsx")
    git(ui, "update-index", "--no-assume-unchanged", "src/components/Gate.tsx", "src/components/Lid.tsx")
    commit_all(ui, "good gate and lid")
    done = wta(repo, "merge", "--continue", check=0)

    assert "ui: merged" in done.stdout
    assert git(repo, "show", "main:src/components/Gate.tsx").stdout == "good\n"
    assert ran.read_text().split().count("ui") == 1
    assert_contained(repo)


def test_untracked_files_the_commit_lacks_stop_the_stream_untested_and_it_lands_once_they_are_committed(repo,
                                                                                                      tmp_path):
    # The commit needs a file its agent never `git add`ed: the test in the worktree passed on that file, the commit
    # without it landed, and the base was broken ("works on my machine").
    ran = tmp_path / "tested"
    set_test(f'echo "$WTA_STREAM" >> {ran}; [ "$WTA_STREAM" != ui ] || '
             '{ grep -q helper src/components/Gate.tsx && test -f src/components/helper.tsx; }\n')
    (repo / ".git/info/exclude").write_text("*.log\n")
    ui = wt(repo, "ui")
    write_files(ui, {"src/components/Gate.tsx": "import './helper'\n"})
    commit_all(ui, "gate uses its helper")
    ui_tip, main_before = sha(repo, "wta/ui"), sha(repo, "main")
    write_files(ui, {"src/components/helper.tsx": "export {}\n", "src/components/new/a.tsx": "a\n",
                     "src/components/new/b.tsx": "b\n", "src/components/build.log": "ignored\n"})

    proc = wta(repo, "merge", check=1)

    assert "ui       refused" in proc.stdout
    assert re.search(f"untracked files in {re.escape(str(ui))} that [0-9a-f]{{12}}, the commit to land, lacks \\(2\\): "
                     "src/components/helper.tsx, src/components/new/; its test would run with them, and they would "
                     "not land: commit them, delete them, or add them to .gitignore\n", proc.stderr), proc.stderr
    assert "ui" not in ran.read_text().split()                     # never tested
    assert "ui: testing:" not in proc.stdout + proc.stderr and "api: testing:" in proc.stdout + proc.stderr
    assert git(repo, "merge-base", "--is-ancestor", ui_tip, "main", check=False).returncode == 1
    assert git(repo, "rev-list", "--count", f"{main_before}..main").stdout.strip() == "3"   # infra, api only
    assert sha(repo, "wta/ui") == ui_tip
    assert (ui / "src/components/helper.tsx").exists() and (ui / "src/components/new/a.tsx").exists()   # kept
    saved = json.loads((state_dir(repo) / "merge.json").read_text())["results"]["ui"]
    assert (saved["result"], saved["files"]) == ("refused", ["src/components/helper.tsx", "src/components/new/"])

    # Committed (and the rest deleted), it is tested and lands; an ignored file there (build output) is let be.
    git(ui, "add", "src/components/helper.tsx")
    git(ui, "commit", "-qm", "[ui] the helper")
    (ui / "src/components/new/a.tsx").unlink()
    (ui / "src/components/new/b.tsx").unlink()
    done = wta(repo, "merge", "--continue", check=0)

    assert "ui: merged" in done.stdout
    assert ran.read_text().split().count("ui") == 1
    assert git(repo, "show", "main:src/components/helper.tsx").stdout == "export {}\n"
    assert (ui / "src/components/build.log").read_text() == "ignored\n"
    assert_contained(repo)


def test_dry_run_predicts_the_refusal_of_a_stream_with_untracked_files_it_would_test(repo, tmp_path):
    # A person's scratch file in their worktree: the dry run said "would-merge", then the merge stopped at that
    # stream, untested, and left a merge to `--continue` or `--abort`.
    set_test("true\n")
    (repo / ".git/info/exclude").write_text("*.log\n")
    ui = wt(repo, "ui")
    write_files(ui, {"src/components/Gate.tsx": "gate\n"})
    commit_all(ui, "gate")
    write_files(ui, {"notes.txt": "todo\n", "src/components/new/a.tsx": "a\n", "src/components/build.log": "x\n"})
    before = branch_refs(repo)

    proc = wta(repo, "merge", "--dry-run", "ui", check=1)

    assert re.search(r"^ui +refused +\d+ ", proc.stdout, re.M), proc.stdout
    assert re.search(f"ui: untracked files in {re.escape(str(ui))} that [0-9a-f]{{12}}, the commit to land, lacks "
                     "\\(2\\): notes.txt, src/components/new/; its test would run with them", proc.stderr), proc.stderr
    predicted = json.loads(wta(repo, "merge", "--dry-run", "--json", check=1).stdout)
    assert {s["stream"]: (s["result"], s["files"]) for s in predicted["streams"]}["ui"] == \
        ("refused", ["notes.txt", "src/components/new/"])
    # Nothing is tested under --no-test: nothing to refuse.
    assert re.search(r"^ui +would-merge ", wta(repo, "merge", "--dry-run", "--no-test", "ui", check=0).stdout, re.M)
    assert branch_refs(repo) == before and not (state_dir(repo) / "merge.json").exists()
    real = wta(repo, "merge", "ui", check=1)
    assert re.search(r"^ui +refused ", real.stdout, re.M), real.stdout   # as predicted


def test_files_that_read_as_committed_only_through_gitattributes_conversions_are_never_tested(repo, tmp_path):
    # `ident` in its zone's .gitattributes: git cleans `$Id: <any text on the line>$` to `$Id$` before it compares,
    # so with an index of no stat data (its own, `git read-tree HEAD`) neither `git status` nor the landing's check
    # saw the code on that line; the test passed on it, and the commit without it landed.
    ran = tmp_path / "tested"
    set_test(f'echo "$WTA_STREAM" >> {ran}; [ "$WTA_STREAM" != ui ] || grep -q good src/components/Gate.tsx\n')
    ui = wt(repo, "ui")
    write_files(ui, {"src/components/.gitattributes": "Gate.tsx ident\n*.bat text eol=crlf\nId.tsx ident\n",
                     "src/components/Gate.tsx": "x = '$Id$'\n", "src/components/run.bat": "a\nb\n",
                     "src/components/Id.tsx": "x = '$Id$'\n"})
    commit_all(ui, "gate")
    ui_tip = sha(repo, "wta/ui")
    write_files(ui, {"src/components/Gate.tsx": "x = '$Id: good; import os $'\n"})
    git(ui, "read-tree", "HEAD")
    assert git(ui, "status", "--porcelain").stdout == ""

    proc = wta(repo, "merge", check=1)

    assert "ui       refused" in proc.stdout
    assert "src/components/Gate.tsx in " in proc.stderr and "a conversion of .gitattributes" in proc.stderr
    assert "rm -f -- src/components/Gate.tsx && git checkout HEAD -- src/components/Gate.tsx" in proc.stderr
    assert "ui" not in ran.read_text().split()                     # never tested
    assert git(repo, "merge-base", "--is-ancestor", ui_tip, "main", check=False).returncode == 1
    assert not (repo / "src/components/Gate.tsx").exists()

    # As a checkout writes them (CRLF, `$Id: <blob> $`) or as committed, the files are the commit's: tested, landed.
    for name in ("Gate.tsx", "run.bat"):   # (as the refusal says: git takes them for unchanged, and writes nothing)
        os.unlink(ui / "src/components" / name)
        git(ui, "checkout", "HEAD", "--", f"src/components/{name}")
    assert (ui / "src/components/run.bat").read_bytes() == b"a\r\nb\r\n"
    assert (ui / "src/components/Gate.tsx").read_text().startswith("x = '$Id: ")
    assert (ui / "src/components/Id.tsx").read_text() == "x = '$Id$'\n"
    set_test(f'echo "$WTA_STREAM" >> {ran}\n')
    done = wta(repo, "merge", "--continue", check=0)

    assert "ui: merged" in done.stdout
    assert ran.read_text().split().count("ui") == 1
    assert git(repo, "show", "main:src/components/Gate.tsx").stdout == "x = '$Id$'\n"
    assert_contained(repo)


def test_a_sparse_worktrees_folder_made_a_link_is_never_tested_in_place_of_the_commits_files(repo, tmp_path):
    # Under `sparse: true` a file missing from the worktree is let be; one missing because a folder of its path is a
    # link (to a place of the temp dir, which every sandbox writes) is there, with other content: it is tested.
    zones = (repo / "zones.yaml").read_text()
    assert "sparse: false" in zones
    write_files(repo, {"zones.yaml": zones.replace("sparse: false", "sparse: true")})
    commit_all(repo, "sparse")
    ran = tmp_path / "tested"
    set_test(f'echo "$WTA_STREAM" >> {ran}; [ "$WTA_STREAM" != ui ] || grep -q good docs/specs/api.md\n')
    ui = wt(repo, "ui")
    ui_tip = sha(repo, "wta/ui")
    elsewhere = tmp_path / "elsewhere"
    write_files(elsewhere, {"api.md": "good\n"})
    git(ui, "update-index", "--skip-worktree", "docs/specs/api.md")
    subprocess.run(["rm", "-r", ui / "docs/specs"], check=True)
    os.symlink(elsewhere, ui / "docs/specs")
    assert git(ui, "status", "--porcelain").stdout == "?? docs/specs\n"   # (untracked: no change to commit)

    proc = wta(repo, "merge", check=1)

    assert "ui       refused" in proc.stdout and "docs/specs/api.md in " in proc.stderr
    assert "ui" not in ran.read_text().split()                     # never tested
    assert git(repo, "merge-base", "--is-ancestor", ui_tip, "main", check=False).returncode == 1

    # Missing, as a sparse checkout leaves it: tested, landed.
    os.unlink(ui / "docs/specs")
    set_test(f'echo "$WTA_STREAM" >> {ran}\n')
    done = wta(repo, "merge", "--continue", check=0)

    assert "ui: merged" in done.stdout
    assert ran.read_text().split().count("ui") == 1
    assert_contained(repo)


def test_the_fsck_of_what_a_stream_brings_reads_its_pack_where_no_sandbox_writes(repo, tmp_path):
    # In the temp dir, a session running beside the landing could put another pack in its place.
    seen = tmp_path / "index-pack"
    env = git_shim(f'case " $* " in *" index-pack "*) for a do last=$a; done; echo "$last" >> {seen};; esac\n'
                   'exec "$REAL" "$@"\n')

    wta(repo, "merge", check=0, env={**os.environ, **env})

    packs = seen.read_text().split()   # (and the packs a landing keeps, in objects/pack/: git.keep_packed)
    fsck = [p for p in packs if p.startswith(f"{state_dir(repo)}/scratch/fsck-")]
    assert len(fsck) == len(STREAMS) and all(p.endswith("/new.pack") for p in fsck), packs
    kept = repo / ".git" / "objects" / "pack" / "tmp_wta_keep_"
    assert all(p in fsck or (p.startswith(str(kept)) and p.endswith(".pack")) for p in packs), packs
    assert not list((repo / ".git" / "objects" / "pack").glob("tmp_*"))   # renamed, or removed
    assert os.listdir(state_dir(repo) / "scratch") == []   # each removed once read


def test_abort_puts_every_ref_back(repo):
    write_files(repo, {"src/lib/db.ts": "export const db = {pool: 1}\n"})
    commit_all(repo, "hotfix the db on main")
    refs_before = branch_refs(repo)
    before = reachable(repo)
    wta(repo, "merge", check=1)
    assert branch_refs(repo) != refs_before

    proc = wta(repo, "merge", "--abort", check=0)

    assert branch_refs(repo) == refs_before
    assert "restored refs/heads/main" in proc.stdout
    assert before <= reachable(repo)
    assert git(repo, "status", "--porcelain").stdout == ""
    assert not (repo / "ai-agents/tools.md").exists()
    assert not (state_dir(repo) / "merge.json").exists()
    assert wta(repo, "merge", "--abort", check=2).stderr.strip() == "wta: no merge in progress; nothing to abort"


def test_abort_keeps_commits_made_on_a_stream_after_the_stop(repo):
    ui = wt(repo, "ui")
    write_files(ui, {"src/lib/db.ts": "hijacked\n"})
    commit_all(ui, "[ui] sneak", "--no-verify")
    refs_before = branch_refs(repo)
    wta(repo, "merge", check=1)
    git(ui, "reset", "-q", "--hard", "HEAD~1")      # the user drops the bad commit ...
    write_files(ui, {"src/components/Fixed.tsx": "fixed\n"})
    fixed = commit_all(ui, "fixed")                  # ... and makes a good one, then changes their mind

    proc = wta(repo, "merge", "--abort", check=0)

    assert branch_refs(repo) == refs_before
    kept = [r for r in git(repo, "for-each-ref", "--format=%(refname) %(objectname)").stdout.splitlines()
            if "/aborted/" in r]
    assert kept and kept[0].endswith(fixed)
    backup = kept[0].split()[0]
    assert (f"kept refs/heads/wta/ui's commits made while the merge was stopped at {backup} "
            f"({fixed[:12]}), off the branch now; to take them back: `git -C {ui} reset --keep {backup}`") \
        in proc.stdout
    git(ui, "reset", "--keep", backup)
    assert sha(repo, "wta/ui") == fixed


def test_abort_names_the_backup_of_a_fix_that_a_continue_landed_and_how_to_take_it_back(repo):
    """api's test failed, a person committed the fix, `--continue` landed api and stopped at ui; the abort put
    api back before the fix, which only `refs/wta/backup/<id>/retry/` held, and said only where backups stay."""
    set_test('case "$WTA_STREAM" in api) test -f src/lib/ok.ts ;; ui) exit 1 ;; esac\n')
    api = wt(repo, "api")
    api_tip = sha(repo, "wta/api")
    wta(repo, "merge", check=1)
    write_files(api, {"src/lib/ok.ts": "export const ok = 1\n"})
    fixed = commit_all(api, "[api] the fix")
    assert "ui: test-failed" in wta(repo, "merge", "--continue", check=1).stdout

    proc = wta(repo, "merge", "--abort", check=0)

    assert sha(repo, "wta/api") == api_tip
    retry = git(repo, "for-each-ref", "--format=%(refname)", "refs/wta/backup/*/retry/heads/wta/api").stdout.strip()
    assert sha(repo, retry) == fixed
    command = f"git -C {api} merge --ff-only {retry}"
    assert (f"kept refs/heads/wta/api's commits made while the merge was stopped at {retry} "
            f"({fixed[:12]}), off the branch now; to take them back: `{command}`") in proc.stdout
    subprocess.run(command, shell=True, check=True, capture_output=True)
    assert sha(repo, "wta/api") == fixed


def test_abort_takes_back_commits_on_a_branch_no_worktree_holds_without_moving_the_main_worktree(repo):
    """infra landed (rebased), the run stopped at ui; a person removed infra's worktree and committed a fix on
    wta/infra in a worktree of their own, then removed it. The abort took the fix off wta/infra and said to take
    it back with `git switch wta/infra && git cherry-pick ...`: pasted in the main worktree, it took the person
    off main."""
    write_files(repo, {"src/components/Nav.tsx": "on main\n"})
    commit_all(repo, "a person's nav")
    base = sha(repo, "main")
    infra_tip = sha(repo, "wta/infra")
    wta(repo, "merge", "infra", "ui", check=1)   # infra lands, rebased; ui conflicts
    git(repo, "worktree", "remove", str(wt(repo, "infra")))
    elsewhere = repo.parent / "by-hand"
    git(repo, "worktree", "add", "-q", str(elsewhere), "wta/infra")
    write_files(elsewhere, {"ai-agents/fix.md": "fixed\n"})
    commit_all(elsewhere, "[infra] a fix", "--no-verify")
    git(repo, "worktree", "remove", str(elsewhere))
    before = worktree_paths(repo)

    proc = wta(repo, "merge", "--abort", check=0)

    assert sha(repo, "wta/infra") == infra_tip and sha(repo, "main") == base
    [command] = [line.split("`")[1] for line in proc.stdout.splitlines()
                 if "kept refs/heads/wta/infra's commits" in line]
    assert "switch" not in command, command
    subprocess.run(command, shell=True, check=True, capture_output=True, cwd=repo)   # pasted in the main worktree
    assert git(repo, "symbolic-ref", "HEAD").stdout.strip() == "refs/heads/main" and sha(repo, "main") == base
    assert subjects(repo, "wta/infra")[:2] == ["[infra] a fix", "[infra] add tools"]
    assert git(repo, "rev-parse", "wta/infra~1").stdout.strip() == infra_tip
    assert git(repo, "show", "wta/infra:ai-agents/fix.md").stdout == "fixed\n"
    assert worktree_paths(repo) == before   # the worktree it made is gone


def test_abort_takes_back_a_conflict_a_person_resolved_by_rebasing_onto_the_base(repo):
    """infra conflicted; the person rebased it onto main and resolved it, as the stop says; `--continue` landed
    it as it was (nothing to rebase) and stopped at ui. The abort's take-back for infra was `cherry-pick X..R`
    with X the resolved tip itself: an empty range, which git refuses, and the resolution stayed off the branch."""
    set_test('case "$WTA_STREAM" in ui) exit 1 ;; esac\n')
    write_files(repo, {"ai-agents/tools.md": "# the tools, on main\n"})
    commit_all(repo, "tools on main")
    main_tip = sha(repo, "main")
    assert "infra: conflict" in wta(repo, "merge", check=1).stdout
    infra = wt(repo, "infra")
    assert git(infra, "rebase", "main", check=False).returncode != 0
    write_files(infra, {"ai-agents/tools.md": "# tools, both\n"})
    git(infra, "add", "--", "ai-agents/tools.md")
    git(infra, "-c", "core.editor=true", "rebase", "--continue")
    resolved = sha(repo, "wta/infra")
    assert "ui: test-failed" in wta(repo, "merge", "--continue", check=1).stdout

    proc = wta(repo, "merge", "--abort", check=0)

    assert sha(repo, "main") == main_tip
    command = take_back(proc, "infra")
    assert command, proc.stdout
    subprocess.run(command[1], shell=True, check=True, capture_output=True)
    assert sha(repo, "wta/infra") == resolved
    assert (infra / "ai-agents/tools.md").read_text() == "# tools, both\n"


def api_conflicts_once_infra_lands(repo) -> tuple[str, str, str]:
    """A person's hotfix on main that api's commits conflict with; `wta merge` lands infra and stops at api's
    conflict. main's tip before the merge, api's tip, and main's tip after it (infra's commit, rebased onto it)."""
    write_files(repo, {"src/lib/db.ts": "export const db = {pool: 1}\n"})
    commit_all(repo, "hotfix the db on main")
    main_tip, api_tip = sha(repo, "main"), sha(repo, "wta/api")
    assert "api: conflict" in wta(repo, "merge", check=1).stdout
    return main_tip, api_tip, sha(repo, "main")


def test_abort_takes_back_a_later_streams_resolution_without_the_stream_landed_ahead_of_it(repo):
    """infra landed (rebased), api conflicted; the person rebased api onto main, which held infra's landed commit,
    and resolved it; `--continue` landed api as it was and stopped at ui. The abort's take-back for api was
    `cherry-pick <infra's landed commit>..<retry>` onto api's branch as it was before the merge: the person's
    rebased copies of api's own commits on top of those, which conflicted (git exited 1)."""
    set_test('case "$WTA_STREAM" in ui) exit 1 ;; esac\n')
    main_tip, api_tip, landed = api_conflicts_once_infra_lands(repo)
    api = wt(repo, "api")
    assert git(api, "rebase", "main", check=False).returncode != 0
    write_files(api, {"src/lib/db.ts": "export const db = {pool: 1, both: true}\n"})
    git(api, "add", "--", "src/lib/db.ts")
    git(api, "-c", "core.editor=true", "rebase", "--continue")
    assert "ui: test-failed" in wta(repo, "merge", "--continue", check=1).stdout

    proc = wta(repo, "merge", "--abort", check=0)

    assert sha(repo, "main") == main_tip and sha(repo, "wta/api") == api_tip
    command = take_back(proc, "api")
    assert command, proc.stdout
    taken = subprocess.run(command[1], shell=True, capture_output=True, text=True)
    assert taken.returncode == 0, (command[1], taken.stdout, taken.stderr)
    assert subjects(repo, "wta/api")[:3] == ["[api] users route", "[api] pool the db", "hotfix the db on main"]
    assert sha(repo, "wta/api~2") == main_tip
    assert git(repo, "merge-base", "--is-ancestor", landed, "wta/api", check=False).returncode == 1
    assert (api / "src/lib/db.ts").read_text() == "export const db = {pool: 1, both: true}\n"
    assert not (api / "ai-agents/tools.md").exists()
    assert git(api, "status", "--porcelain").stdout == ""
    wta(repo, "merge", "api", check=0)   # it lands as the person resolved it
    assert git(repo, "show", "main:src/lib/db.ts").stdout == "export const db = {pool: 1, both: true}\n"


def rebase_api_by_hand_in_a_worktree_of_its_own(repo):
    """A person takes api's worktree away and, in one of their own, rebases wta/api onto main and resolves its
    conflict on src/lib/db.ts; that worktree is gone after: no worktree has wta/api checked out."""
    git(repo, "worktree", "remove", str(wt(repo, "api")))
    elsewhere = repo.parent / "by-hand"
    git(repo, "worktree", "add", "-q", str(elsewhere), "wta/api")
    assert git(elsewhere, "rebase", "main", check=False).returncode != 0
    write_files(elsewhere, {"src/lib/db.ts": "export const db = {pool: 1, both: true}\n"})
    git(elsewhere, "add", "--", "src/lib/db.ts")
    git(elsewhere, "-c", "core.editor=true", "rebase", "--continue")
    git(repo, "worktree", "remove", str(elsewhere))


def test_abort_takes_back_a_rebase_onto_the_base_on_a_branch_no_worktree_holds_in_a_worktree_made_for_it(repo):
    """infra landed (rebased), api conflicted; a person removed api's worktree and, in one of their own (removed
    after), rebased wta/api onto main, which held infra's landed commit, and resolved it. The take-back (a
    `reset --keep main` then the cherry-pick, in a worktree it makes with mktemp) had no test: pasted in the main
    worktree, it leaves api's resolved commits on main as it was before the merge, without infra's."""
    main_tip, api_tip, landed = api_conflicts_once_infra_lands(repo)
    rebase_api_by_hand_in_a_worktree_of_its_own(repo)
    resolved = sha(repo, "wta/api")

    before = worktree_paths(repo)

    proc = wta(repo, "merge", "--abort", check=0)

    assert sha(repo, "main") == main_tip and sha(repo, "wta/api") == api_tip
    command = take_back(proc, "api")
    assert command and "worktree add -q /" in command[1] and "reset -q --keep main" in command[1], proc.stdout
    taken = subprocess.run(command[1], shell=True, capture_output=True, text=True, cwd=repo)  # in the main worktree
    assert taken.returncode == 0, (command[1], taken.stdout, taken.stderr)
    assert subjects(repo, "wta/api")[:3] == ["[api] users route", "[api] pool the db", "hotfix the db on main"]
    assert sha(repo, "wta/api~2") == main_tip
    assert git(repo, "merge-base", "--is-ancestor", landed, "wta/api", check=False).returncode == 1
    assert git(repo, "diff", "--quiet", resolved, "wta/api", "--", "src/", check=False).returncode == 0
    assert git(repo, "show", "wta/api:src/lib/db.ts").stdout == "export const db = {pool: 1, both: true}\n"
    assert git(repo, "ls-tree", "wta/api", "--", "ai-agents/tools.md").stdout == ""   # infra's, taken off
    assert git(repo, "symbolic-ref", "HEAD").stdout.strip() == "refs/heads/main" and sha(repo, "main") == main_tip
    assert git(repo, "status", "--porcelain").stdout == ""
    assert worktree_paths(repo) == before   # the worktree it made is gone
    assert git(repo, "worktree", "list", "--porcelain").stdout.count("worktree ") == len(before)


def test_a_take_back_that_conflicts_in_the_worktree_made_for_it_names_that_worktree_and_what_to_run(repo, tmp_path):
    """As above, but main moved on after the abort (a person's change to the file api's resolution touches), so the
    take-back's cherry-pick stops on a conflict in the worktree it made. That worktree was `d=$(mktemp -d)`, named
    nowhere: the conflict sat in a folder the person could not find. The abort names it, and the command that ends
    the take-back once the conflict is resolved there; `wta status`, `wta down` and `wta up` leave it alone."""
    api_conflicts_once_infra_lands(repo)
    rebase_api_by_hand_in_a_worktree_of_its_own(repo)
    proc = wta(repo, "merge", "--abort", check=0, env={**os.environ, "TMPDIR": str(tmp_path)})   # (as mktemp's)
    write_files(repo, {"src/lib/db.ts": "export const db = {pool: 2}\n"})
    main_tip = commit_all(repo, "the db again, on main")
    before = worktree_paths(repo)

    [line] = [line for line in proc.stdout.splitlines() if "kept refs/heads/wta/api's commits" in line]
    command = take_back(proc, "api")[1]
    taken = subprocess.run(command, shell=True, capture_output=True, text=True, cwd=repo)

    assert taken.returncode == 1, (command, taken.stdout, taken.stderr)   # git's, for the conflict
    named = re.search(r"the worktree stays at (\S+): resolve the conflict there \(`git add` the files\), then "
                      r"`([^`]+)`", line)
    assert named, line
    path = Path(named[1])
    assert path.parent == tmp_path and str(path) in worktree_paths(repo), (line, worktree_paths(repo))
    assert "<<<<<<<" in (path / "src/lib/db.ts").read_text()
    assert git(path, "status", "--porcelain").stdout.startswith("UU src/lib/db.ts")
    # Nothing of wta takes it for a stream's worktree, or removes it, while the conflict is there.
    shown = wta(repo, "status", check=0).stdout
    assert (f"zone check not installed in api ({path}): a cherry-pick stopped half-way there; finish it (git -C "
            f"{path} cherry-pick --continue)") in shown, shown
    kept = wta(repo, "down", "api", check=1)
    assert f"a cherry-pick stopped half-way in {path}" in kept.stdout and "delete the files" not in kept.stdout
    refused = wta(repo, "up", "api", "--no-launch", check=2)
    assert f"checked out at {path}, not at" in refused.stderr, refused.stderr
    assert f"in the middle of a cherry-pick: finish it there first (git -C {path} cherry-pick --continue)" in \
        refused.stderr, refused.stderr
    assert path.is_dir() and "<<<<<<<" in (path / "src/lib/db.ts").read_text()

    write_files(path, {"src/lib/db.ts": "export const db = {pool: 2, both: true}\n"})
    git(path, "add", "--", "src/lib/db.ts")
    finished = subprocess.run(named[2], shell=True, capture_output=True, text=True, cwd=repo,
                              env={**os.environ, "GIT_EDITOR": "true"})

    assert finished.returncode == 0, (named[2], finished.stdout, finished.stderr)
    assert not path.exists() and worktree_paths(repo) == before
    assert subjects(repo, "wta/api")[:3] == ["[api] users route", "[api] pool the db", "the db again, on main"]
    assert sha(repo, "wta/api~2") == main_tip == sha(repo, "main")
    assert git(repo, "show", "wta/api:src/lib/db.ts").stdout == "export const db = {pool: 2, both: true}\n"
    assert git(repo, "status", "--porcelain").stdout == ""


def test_abort_names_a_stream_that_started_on_what_it_takes_off_the_base_and_keeps_its_commits(repo):
    """infra landed, the run stopped at ui; api (after infra) started from the base then. The abort took infra
    off main and said nothing of api, whose branch still held infra's landed commit: `wta merge api` then
    failed on it as a commit of api's outside its zone."""
    write_files(repo, {"src/components/Nav.tsx": "on main\n"})
    commit_all(repo, "a person's nav")
    wta(repo, "merge", "infra", "ui", check=1)   # infra lands; ui conflicts
    landed = sha(repo, "main")
    assert "rebased onto main" in wta(repo, "sync", "api", check=0).stdout   # the dependent starts from the base
    write_files(wt(repo, "api"), {"src/lib/after-infra.ts": "export const y = 2\n"})
    own = commit_all(wt(repo, "api"), "work on top of infra")

    proc = wta(repo, "merge", "--abort", check=0)

    assert sha(repo, "wta/api") == own   # nothing of it lost, nothing moved
    assert git(repo, "merge-base", "--is-ancestor", landed, "main", check=False).returncode == 1
    assert (f"api: wta/api holds 1 commit(s) that this abort took off main ({landed[:7]} '[infra] add tools')"
            in proc.stderr), proc.stderr
    [rebase] = [line.split("`")[1] for line in proc.stderr.splitlines() if line.startswith("api: take its own")]
    assert rebase == f"git -C {wt(repo, 'api')} rebase --onto main {landed[:12]}", proc.stderr
    assert "infra:" not in proc.stderr and "ui:" not in proc.stderr   # (their branches were put back)
    subprocess.run(rebase, shell=True, check=True, capture_output=True)   # what it says to do
    assert subjects(repo, "wta/api")[:4] == ["[api] work on top of infra", "[api] users route", "[api] pool the db",
                                             "a person's nav"]
    wta(repo, "merge", "api", check=0)
    assert git(repo, "show", "main:src/lib/after-infra.ts").stdout == "export const y = 2\n"


# -- refusals: nothing starts -----------------------------------------------------------

def test_refuses_a_dirty_stream_worktree_naming_the_files(repo):
    write_files(wt(repo, "api"), {"src/lib/db.ts": "uncommitted\n"})
    refs_before = git(repo, "for-each-ref").stdout

    proc = wta(repo, "merge", check=1)

    assert "api: uncommitted changes in" in proc.stderr and "src/lib/db.ts" in proc.stderr
    assert git(repo, "for-each-ref").stdout == refs_before
    assert not (state_dir(repo) / "merge.json").exists()


def test_a_base_whose_ref_holds_no_commit_is_refused_before_anything_moves(repo):
    """The plan reads whether the base has a commit with the other branches (one `git for-each-ref`); a
    ref written by hand with a tree's id in it is in that list, and is no base all the same."""
    refs_before = branch_refs(repo)
    tree = git(repo, "rev-parse", "main^{tree}").stdout.strip()
    (repo / ".git" / "refs" / "heads" / "main").write_text(f"{tree}\n")

    proc = wta(repo, "merge", check=2)

    assert proc.stderr == ("wta: branch 'main' has no commits yet (unborn); commit zones.yaml and the code on it, "
                           "then run wta up\n")
    assert branch_refs(repo) == {**refs_before, "refs/heads/main": tree}
    assert not (state_dir(repo) / "merge.json").exists()


def test_refuses_a_stream_with_commits_but_no_worktree(repo):
    git(repo, "worktree", "remove", str(wt(repo, "ui")))

    proc = wta(repo, "merge", check=1)

    assert "ui: no worktree has wta/ui checked out; create one with `wta up ui --no-launch`" in proc.stderr
    assert not (state_dir(repo) / "merge.json").exists()


def test_an_ignored_file_put_where_a_stream_adds_one_during_the_merge_is_never_overwritten(repo, tmp_path):
    """Checked before the merge began only: an ignored file a person wrote in the base's worktree during a
    stream's test, where that stream adds one, was overwritten by the fast-forward without a word."""
    (repo / ".git" / "info" / "exclude").write_text("Nav.tsx\n")
    # ui's test goes on once the file is written (a fixed 3 s pause had ended first on a loaded machine).
    gate = tmp_path / "written"
    proc = subprocess.Popen([sys.executable, "-m", "worktree_agents", "merge"], cwd=repo, text=True,
                            env={**os.environ, "WTA_MERGE_PAUSE_AT": "test:ui", "WTA_MERGE_PAUSE_SECONDS": "60",
                                 "WTA_MERGE_PAUSE_UNTIL": str(gate)},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while not (repo / ".git" / "wta" / "merge.json").exists() or \
                json.loads((repo / ".git" / "wta" / "merge.json").read_text()).get("stream") != "ui":
            assert time.monotonic() < deadline and proc.poll() is None, "the merge never reached ui's test"
            time.sleep(0.02)
        write_files(repo, {"src/components/Nav.tsx": "my own sketch\n"})
        gate.touch()
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 1
    assert f"cannot fast-forward main in {repo}: it would overwrite src/components/Nav.tsx, untracked there" in err
    assert (repo / "src/components/Nav.tsx").read_text() == "my own sketch\n"
    (repo / "src/components/Nav.tsx").unlink()
    wta(repo, "merge", "--continue", check=0)
    assert_contained(repo)


def test_a_path_a_stream_adds_where_the_base_tracks_a_link_is_not_taken_for_an_untracked_file(tmp_path):
    """The base tracks `api/link`, a link to ../ui; the stream makes it a folder with u.txt in it. Seen
    through the link, `api/link/u.txt` exists (it is ui/u.txt), and the merge was refused for ever."""
    repo = make_repo(tmp_path / "repo", "version: 1\nbase: main\nunowned: allow\nstreams:\n  api:\n"
                                        "    paths: [api/**]\n", {"api/a.txt": "a\n", "ui/u.txt": "u\n"})
    (repo / "api" / "link").symlink_to("../ui")
    commit_all(repo, "a link")
    wta(repo, "up", "--no-launch", check=0)
    api = tmp_path / "repo-worktrees" / "api"
    git(api, "rm", "-q", "api/link")
    write_files(api, {"api/link/u.txt": "mine\n"})
    commit_all(api, "[api] a folder where the link was")
    wta(repo, "merge", check=0)
    assert (repo / "api" / "link" / "u.txt").read_text() == "mine\n" and (repo / "ui" / "u.txt").read_text() == "u\n"


def test_refuses_when_the_checked_out_base_is_dirty(repo):
    write_files(repo, {"README.md": "edited\n"})
    refs_before = git(repo, "for-each-ref").stdout

    predicted = json.loads(wta(repo, "merge", "--dry-run", "--json", check=1).stdout)
    proc = wta(repo, "merge", "--json", check=1)

    assert f"the base branch main is checked out in {repo} with uncommitted changes: README.md" in proc.stderr
    assert git(repo, "for-each-ref").stdout == refs_before
    # The prediction's rows say what the run's say (every stream was "would-merge" in it).
    ran = {s["stream"]: s["result"] for s in json.loads(proc.stdout)["streams"]}
    assert {s["stream"]: s["result"] for s in predicted["streams"]} == ran == dict.fromkeys(STREAMS, "not-reached")


@pytest.mark.parametrize("ignored", [False, True])
def test_refuses_up_front_an_untracked_file_in_the_base_worktree_that_a_stream_adds(repo, ignored):
    """ui adds src/components/Nav.tsx; the same path lies untracked in the main worktree, so the
    fast-forward would fail after infra and api had landed: refuse before anything moves. An ignored
    file there (a person's `.env.local`, say) git would have overwritten without a word."""
    write_files(repo, {"src/components/Nav.tsx": "my own sketch\n", "scratch.txt": "unrelated\n"})
    if ignored:
        (repo / ".git" / "info" / "exclude").write_text("Nav.tsx\n")
    refs_before = git(repo, "for-each-ref").stdout

    proc = wta(repo, "merge", check=1)

    assert (f"ui: its commits add src/components/Nav.tsx, untracked in {repo} where main is checked out, so the "
            "fast-forward would refuse or (an ignored file) overwrite it; move or delete the untracked file(s) there "
            "first") in proc.stderr
    assert "scratch.txt" not in proc.stderr and "Aborting" not in proc.stderr
    assert git(repo, "for-each-ref").stdout == refs_before  # infra and api did not land either
    assert (repo / "src/components/Nav.tsx").read_text() == "my own sketch\n"
    dry = json.loads(wta(repo, "merge", "--dry-run", "--json", check=None).stdout)
    assert any("src/components/Nav.tsx" in p for p in dry["problems"])
    (repo / "src/components/Nav.tsx").unlink()
    wta(repo, "merge", check=0)
    assert_contained(repo)


def test_refuses_up_front_a_file_in_the_base_worktree_where_a_stream_adds_a_folder(repo):
    """ui adds src/components/kit/Box.tsx; an ignored file `src/components/kit` in the main worktree was
    replaced by the folder without a word."""
    write_files(wt(repo, "ui"), {"src/components/kit/Box.tsx": "box\n"})
    commit_all(wt(repo, "ui"), "a kit")
    write_files(repo, {"src/components/kit": "my notes\n"})
    (repo / ".git" / "info" / "exclude").write_text("kit\n")

    proc = wta(repo, "merge", "ui", check=1)

    assert f"ui: its commits add src/components/kit, untracked in {repo}" in proc.stderr
    assert (repo / "src" / "components" / "kit").read_text() == "my notes\n"


def test_refuses_while_a_session_runs(repo):
    sessions = state_dir(repo) / "sessions"
    sessions.mkdir(parents=True, exist_ok=True)
    alive = subprocess.Popen(["sleep", "30"])
    try:
        (sessions / "ui.json").write_text(json.dumps({"stream": "ui", "state": "running", "pid": alive.pid}))
        main_before = sha(repo, "main")

        proc = wta(repo, "merge", check=1)

        assert f"ui: its session is running (pid {alive.pid})" in proc.stderr
        assert sha(repo, "main") == main_before
    finally:
        alive.kill()
        alive.wait()
    wta(repo, "merge", check=0)  # the pid is gone: no session runs


def test_a_session_runs_only_while_its_recorded_process_does(tmp_path):
    """The liveness rule merge refuses by (sessions.liveness.running_pid), read from the
    session records the wrappers write: `<state dir>/sessions/<stream>.json`."""
    alive = subprocess.Popen(["sleep", "30"])
    dead = subprocess.Popen(["true"])
    dead.wait()
    try:
        state = str(tmp_path)
        assert running_pid(state, "api") is None                                    # no record at all
        (tmp_path / "sessions").mkdir()
        (tmp_path / "sessions" / "api.json").write_text("{not json")
        assert running_pid(state, "api") is None
        started = psutil.Process(alive.pid).create_time()
        records = {
            "api": {"state": "running", "pid": alive.pid, "pid_create_time": started},
            "stalled": {"state": "stalled", "pid": alive.pid, "pid_create_time": started},  # quiet, still running
            "gone": {"state": "running", "pid": dead.pid},
            "done": {"state": "done", "pid": alive.pid, "pid_create_time": started},
            # a pid the OS gave to another process since (started 60 s after the session did) is no session
            "reused": {"state": "running", "pid": alive.pid, "pid_create_time": started - 60},
        }
        for stream, record in records.items():
            (tmp_path / "sessions" / f"{stream}.json").write_text(json.dumps({"stream": stream, **record}))
        assert {s: running_pid(state, s) for s in records} == {
            "api": alive.pid, "stalled": alive.pid, "gone": None, "done": None, "reused": None}
    finally:
        alive.kill()
        alive.wait()


def test_usage_errors_are_one_line_exit_2(repo):
    unknown = wta(repo, "merge", "apii", check=2)
    assert unknown.stderr == "wta: unknown stream 'apii'; zones.yaml defines: infra, api, ui, monitor\n"
    assert wta(repo, "merge", "--continue", check=2).stderr == \
        "wta: no merge in progress; start one with `wta merge`\n"
    both = wta(repo, "merge", "--continue", "--abort", check=2)
    assert both.stderr == "wta: --continue and --abort cannot be combined; use one of them\n"
    assert not (state_dir(repo) / "merge.json").exists()


def test_streams_without_commits_are_skipped_and_said_so(tmp_path):
    repo = make_repo(tmp_path / "webapp", ZONES)
    add_stream_worktree(repo, "ui")
    write_files(wt(repo, "ui"), {"src/components/Nav.tsx": "nav\n"})
    commit_all(wt(repo, "ui"), "nav")

    proc = wta(repo, "merge", "--json", check=0)

    doc = json.loads(proc.stdout)
    assert [(s["stream"], s["result"], s["detail"]) for s in doc["streams"]] == [
        ("infra", "skipped", "no branch wta/infra"), ("api", "skipped", "no branch wta/api"),
        ("ui", "merged", ""), ("monitor", "skipped", "no branch wta/monitor")]
    assert subjects(repo)[0] == "[ui] nav"


# -- streams with merge commits of their own ------------------------------------------------------

def _merge_main_into_api(repo: Path, extra: bool = True) -> str:
    """A person's commit on main; api merges main in, adding a file in the merge commit itself."""
    write_files(repo, {"README.md": "# moved on\n"})
    commit_all(repo, "a person's commit on main")
    api = wt(repo, "api")
    git(api, "merge", "-q", "--no-commit", "main")
    if extra:
        write_files(api, {"src/lib/in-merge.ts": "export const x = 1\n"})   # work done in the merge
        git(api, "add", "-A")
    git(api, "commit", "-q", "-m", "merge main with more work")
    return sha(repo, "wta/api")


def test_a_stream_that_merged_the_base_in_lands_as_it_is_with_what_its_merge_adds(repo):
    tip = _merge_main_into_api(repo)
    assert json.loads(wta(repo, "merge", "--dry-run", "--json", "api", check=0).stdout)["streams"][0]["result"] \
        == "would-merge"
    done = json.loads(wta(repo, "merge", "--json", "api", check=0).stdout)
    assert done["streams"][0]["result"] == "merged" and done["streams"][0]["head"] == tip
    assert sha(repo, "main") == tip   # no rebase: its merge commit and what it adds land
    assert git(repo, "show", "main:src/lib/in-merge.ts").stdout == "export const x = 1\n"
    assert subjects(repo)[0] == "[api] merge main with more work"


def test_a_stream_whose_merges_a_rebase_would_drop_is_refused_until_it_merges_the_base(repo):
    _merge_main_into_api(repo)
    write_files(repo, {"README.md": "# moved on again\n"})
    main_before = commit_all(repo, "another commit on main")
    predicted = json.loads(wta(repo, "merge", "--dry-run", "--json", "api", check=1).stdout)["streams"][0]
    assert predicted["result"] == "refused"
    assert "has merge commit" in predicted["detail"] and "(git merge main)" in predicted["detail"], predicted
    refused = wta(repo, "merge", "api", check=1).stdout
    assert "has merge commit" in refused and "(git merge main)" in refused
    assert f"main not moved by this merge (at {main_before[:12]} when it began)" in refused
    assert sha(repo, "main") == main_before
    wta(repo, "merge", "--abort", check=0)
    git(wt(repo, "api"), "merge", "-q", "main", "-m", "merge main again")   # the fix it names
    wta(repo, "merge", "api", check=0)
    assert git(repo, "show", "main:src/lib/in-merge.ts").stdout == "export const x = 1\n"


def _squash(repo: Path) -> None:
    """`merge: squash` in the main worktree's zones.yaml (what `wta merge` reads the setting from)."""
    (repo / "zones.yaml").write_text("merge: squash\n" + (repo / "zones.yaml").read_text())
    commit_all(repo, "squash streams as they land")


def test_squash_lands_a_stream_with_merges_of_its_own_after_another_lands_ahead_of_it(repo):
    """infra lands first in the same run, so api (which merged main in) no longer contains the base: it was
    refused ("a rebase would drop what its merges add"), though a squash rebases nothing."""
    _squash(repo)
    tip = _merge_main_into_api(repo)
    set_test('echo "tested $WTA_STREAM"; test -f ai-agents/tools.md || [ "$WTA_STREAM" != api ]\n')
    assert json.loads(wta(repo, "merge", "--dry-run", "--json", "infra", "api", check=0).stdout)["ok"]

    out = wta(repo, "merge", "infra", "api", check=0).stdout

    assert "api: merged 3 commit(s)" in out, out
    assert subjects(repo)[:3] == ["[api] pool the db (and 1 more)", "[infra] add tools", "a person's commit on main"]
    assert git(repo, "rev-list", "--count", "main~1..main").stdout.strip() == "1"   # one commit, no merge
    assert git(repo, "log", "-1", "--format=%b", "main").stdout.strip().splitlines() == \
        ["- pool the db", "- users route"]
    # The stream's work merged onto the new base: what its merge commit adds included.
    expected, _ = git(repo, "merge-tree", "--write-tree", "main~1", tip).stdout.split("\n", 1)
    assert sha(repo, "main^{tree}") == expected
    assert git(repo, "show", "main:src/lib/in-merge.ts").stdout == "export const x = 1\n"
    assert git(repo, "show", "main:ai-agents/tools.md").stdout == "# tools\n"
    assert sha(repo, "wta/api") == sha(repo, "main")
    assert git(wt(repo, "api"), "status", "--porcelain").stdout == ""
    assert tip in git(repo, "for-each-ref", "--format=%(objectname)", "refs/wta/backup/").stdout.split()


def test_a_squash_of_a_stream_with_merges_killed_at_its_test_is_aborted_and_continued(repo):
    """Its branch and worktree were at the squash commit when the merge was killed: both go back, then land."""
    _squash(repo)
    tip = _merge_main_into_api(repo)
    refs_before = branch_refs(repo)
    for then in ("--abort", "--continue"):
        proc = subprocess.Popen([sys.executable, "-m", "worktree_agents", "merge", "infra", "api"], cwd=repo,
                                env={**os.environ, "WTA_MERGE_PAUSE_AT": "test:api"}, start_new_session=True,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_for(lambda: at_step(repo, "test", "api")() or proc.poll() is not None, "api's test")
            assert sha(repo, "wta/api") != tip and (wt(repo, "api") / "ai-agents/tools.md").exists()
        finally:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
        wta(repo, "merge", then, check=0)
        assert git(wt(repo, "api"), "status", "--porcelain").stdout == ""
        assert then == "--continue" or branch_refs(repo) == refs_before
    assert branch_refs(repo) != refs_before and sha(repo, "wta/api") == sha(repo, "main")
    assert subjects(repo)[:2] == ["[api] pool the db (and 1 more)", "[infra] add tools"]
    assert git(repo, "show", "main:src/lib/in-merge.ts").stdout == "export const x = 1\n"
    assert tip in git(repo, "for-each-ref", "--format=%(objectname)", "refs/wta/backup/").stdout.split()


def test_squash_of_a_stream_with_merges_that_conflicts_with_the_new_base_stops_as_a_conflict(repo):
    _squash(repo)
    tip = _merge_main_into_api(repo)
    write_files(repo, {"src/lib/db.ts": "export const db = {pool: 1}\n"})
    main_before = commit_all(repo, "hotfix the db on main")
    predicted = json.loads(wta(repo, "merge", "--dry-run", "--json", "api", check=1).stdout)["streams"][0]
    assert predicted["result"] == "conflict" and predicted["files"] == ["src/lib/db.ts"], predicted

    out = wta(repo, "merge", "--json", "api", check=1).stdout

    result = json.loads(out)["streams"][0]
    assert (result["result"], result["files"]) == ("conflict", ["src/lib/db.ts"]), result
    assert "squashing wta/api onto main conflicts in src/lib/db.ts" in result["detail"]
    assert (sha(repo, "main"), sha(repo, "wta/api")) == (main_before, tip)
    assert git(wt(repo, "api"), "status", "--porcelain").stdout == ""
    wta(repo, "merge", "--abort", check=0)
    assert (sha(repo, "main"), sha(repo, "wta/api")) == (main_before, tip)


def test_sync_merges_the_base_into_a_stream_with_merge_commits_of_its_own(repo):
    _merge_main_into_api(repo)
    write_files(repo, {"README.md": "# moved on again\n"})
    base = commit_all(repo, "another commit on main")
    old = sha(repo, "wta/api")
    out = wta(repo, "sync", "api", check=0).stdout
    assert "main merged into it" in out
    assert git(repo, "merge-base", "--is-ancestor", old, "wta/api", check=False).returncode == 0   # nothing dropped
    assert git(repo, "merge-base", "--is-ancestor", base, "wta/api", check=False).returncode == 0
    assert subjects(repo, "wta/api")[0] == "[api] Merge main into wta/api"
    assert git(wt(repo, "api"), "status", "--porcelain").stdout == ""
    wta(repo, "merge", "api", check=0)
    assert git(repo, "show", "main:src/lib/in-merge.ts").stdout == "export const x = 1\n"


def test_continue_and_abort_never_undo_a_rebase_the_person_is_doing(repo):
    write_files(repo, {"src/lib/db.ts": "export const db = {pool: 1}\n"})
    commit_all(repo, "hotfix the db on main")
    wta(repo, "merge", check=1)   # api conflicts
    api = wt(repo, "api")
    assert git(api, "rebase", "main", check=False).returncode != 0
    write_files(api, {"src/lib/db.ts": "resolved with care\n"})
    git(api, "add", "src/lib/db.ts")
    for args in (["--continue"], ["--abort"]):
        refused = wta(repo, "merge", *args, check=None)
        assert refused.returncode != 0
        assert f"{api} is in the middle of a rebase that wta did not start" in refused.stderr, refused.stderr
        assert (api / "src/lib/db.ts").read_text() == "resolved with care\n"
        assert git(api, "diff", "--cached", "--name-only").stdout == "src/lib/db.ts\n"
    git(api, "-c", "core.editor=true", "rebase", "--continue")
    wta(repo, "merge", "--continue", check=0)
    assert git(repo, "show", "main:src/lib/db.ts").stdout == "resolved with care\n"


def test_a_commit_the_base_already_has_is_not_counted_as_merged(repo):
    """A person cherry-picked api's first commit onto main: the rebase drops it (its change is there
    already), and the report had still said "merged 2 commit(s)"."""
    first = git(repo, "rev-list", "--reverse", "main..wta/api").stdout.split()[0]
    git(repo, "cherry-pick", first)
    picked = sha(repo, "main")

    proc = wta(repo, "merge", "api", check=0)

    assert proc.returncode == 0, proc.stderr
    assert git(repo, "rev-list", "--count", f"{picked}..main").stdout.strip() == "1"
    assert subjects(repo)[:2] == ["[api] users route", "[api] pool the db"]
    assert "api: merged 1 commit(s)" in proc.stdout
    assert "api     merged  1        " in proc.stdout
    assert "1 commit of wta/api already on main: left out" in proc.stdout
    saved = json.loads(sorted((state_dir(repo) / "merges").glob("*.json"))[-1].read_text())
    assert saved["streams"][0]["commits"] == 1


def test_without_base_every_command_keeps_the_branch_checked_out_at_up(tmp_path):
    """zones.yaml names no `base:`: the base is the branch checked out at `wta up` (SPEC). A person
    who then switched the main worktree to another branch made `wta diff`, `wta sync` and `wta merge`
    take that one, and `wta merge` fast-forwarded it, while `wta status` and the hooks went on with
    the first."""
    repo = make_repo(tmp_path / "r", "version: 1\nagent: {runner: manual}\nstreams:\n  api: {paths: [api/**]}\n",
                     files={"api/a": "a\n"})
    git(repo, "switch", "-q", "-c", "develop")
    wta(repo, "up", "--no-launch", check=0)
    api = repo.parent / "r-worktrees" / "api"
    write_files(api, {"api/a": "a\nb\n"})
    commit_all(api, "work")
    git(repo, "switch", "-q", "main")
    main_before = sha(repo, "main")

    assert wta(repo, "status", check=0).stdout.startswith("base develop ")
    assert "api/a" in wta(repo, "diff", "api", check=0).stdout
    assert "develop" in wta(repo, "sync", "api", check=0).stdout
    merged = wta(repo, "merge", check=0)

    assert "main:" not in merged.stdout and "develop:" in merged.stdout
    assert sha(repo, "develop") == sha(repo, "wta/api") and sha(repo, "main") == main_before


def test_a_test_left_running_by_a_killed_merge_is_ended_before_it_goes_on(repo, tmp_path):
    """The merge's `test:` runs in a process group of its own (a terminal's Ctrl-C must not end it
    behind wta's back); a merge killed during it had left it running, and `--continue` started a
    second run of it beside the first in the same worktree. What it had written there stayed, and every
    later run refused the stream for uncommitted changes."""
    beat, go = tmp_path / "beat", tmp_path / "go"
    # Until `go`, it writes in the worktree, then a heartbeat every 50 ms (for up to a minute): the test
    # runs while it changes.
    set_test(f'[ -f {go} ] || {{ echo junk >> ai-agents/tools.md; echo new > ai-agents/new.md; '
             f'i=0; while [ $i -lt 1200 ]; do echo $i > {beat}; i=$((i + 1)); sleep 0.05; done; }}\n')
    merge = subprocess.Popen([sys.executable, "-m", "worktree_agents", "merge", "infra"], cwd=repo,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def beating(within: float) -> bool:
        before = beat.read_text() if beat.exists() else None
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if beat.exists() and beat.read_text() != before:
                return True
            time.sleep(0.05)
        return False

    try:
        deadline = time.monotonic() + 60
        while not beat.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        # (The test starts once its pid is recorded: killed as soon as it beats, wta has recorded it.)
        merge.kill()
        merge.wait()
        assert beating(within=30)   # its own group: the kill of wta alone did not reach it
        test_pid = json.loads((state_dir(repo) / "merge.json").read_text())["test_pid"]
        assert psutil.pid_exists(test_pid)
        go.touch()

        resumed = wta(repo, "merge", "--continue", check=0)
    finally:
        merge.kill()
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert not beating(within=0.3)   # (its pid may stay a zombie: its parent was the killed wta)
    assert not psutil.pid_exists(test_pid) or psutil.Process(test_pid).status() == psutil.STATUS_ZOMBIE
    assert subjects(repo)[0] == "[infra] add tools"
    assert git(wt(repo, "infra"), "status", "--porcelain").stdout == ""


def test_nothing_a_sandboxed_test_starts_outlives_it(repo, tmp_path):
    """A daemon the `test:` left behind (`setsid`, out of its process group) went on writing in the stream's
    worktree while wta's own git worked there next; in a pid namespace of its own, it ends with the test."""
    beat = tmp_path / "beat"
    set_test(f"setsid sh -c 'while :; do date +%s%N > {beat}; sleep 0.05; done' >/dev/null 2>&1 &\n"
             f"while [ ! -s {beat} ]; do sleep 0.05; done\n")

    assert wta(repo, "merge", "infra", check=0).returncode == 0

    before = beat.read_text()
    time.sleep(0.3)
    assert beat.read_text() == before


def test_a_stream_named_alone_before_its_unlanded_dependency_is_merged_saying_so(repo):
    """api comes after infra (the example zones): `wta merge api` with infra not landed had landed api
    without a word, though the zones reference promises dependencies land first."""
    proc = wta(repo, "merge", "api", check=0)

    assert proc.returncode == 0, proc.stderr
    assert ("api comes after infra, which has not landed (wta/infra has commits main lacks); merging api as asked: "
            "`wta merge infra api` lands both in order") in proc.stderr
    assert subjects(repo)[0] == "[api] users route"
    assert "comes after" not in wta(repo, "merge", "infra", "ui", check=0).stderr   # neither comes after another


def test_a_rebase_state_forged_by_the_streams_test_never_moves_a_branch(repo):
    """The `test:` runs sandboxed but may write the stream worktree's private git dir: it left a forged
    `rebase-merge/` (head-name main, orig-head a commit it made) and failed. Putting the stream back,
    wta took it for its own rebase and ran `git rebase --abort` outside the sandbox, which moved main to
    that commit."""
    before = sha(repo, "main")
    set_test('gd=$(git rev-parse --git-dir)\n'
             'evil=$(echo evil | git commit-tree "$(git rev-parse HEAD^{tree})" -p "$(git rev-parse refs/heads/main)")\n'
             'mkdir -p "$gd/rebase-merge"\n'
             'echo refs/heads/main > "$gd/rebase-merge/head-name"\n'
             'echo "$evil" > "$gd/rebase-merge/orig-head"\n'
             'git rev-parse refs/heads/main > "$gd/rebase-merge/onto"\n'
             'exit 1\n')

    proc = wta(repo, "merge", "infra", check=None)

    assert sha(repo, "main") == before
    assert "holds a rebase's state that wta's rebase did not write" in proc.stderr
    assert "it names refs/heads/main at " in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert git(repo, "reflog", "-1", "--format=%gs", "main").stdout.strip() != "rebase (abort): returning to refs/heads/main"
    assert sha(repo, "wta/infra") == git(repo, "rev-parse", "refs/wta/backup/" + json.loads(
        (state_dir(repo) / "merge.json").read_text())["run_id"] + "/heads/wta/infra").stdout.strip()


@pytest.mark.parametrize("passes", [True, False])
def test_what_the_test_writes_in_the_stream_worktree_is_undone(repo, passes):
    """What `test:` wrote in the stream's worktree stayed there: it went into the next session's
    leftovers commit and landed as the agent's work, or stopped every later landing as an uncommitted
    change. Now the worktree is as it was before the test; ignored files (a build's output) stay. (An untracked
    file that is not ignored stops the landing before its test: test_untracked_files_the_commit_lacks_*.)"""
    api = wt(repo, "api")
    (api / "scratch.txt").write_text("the agent's own ignored file\n")
    (repo / ".git" / "info" / "exclude").write_text("build/\nscratch.txt\n")
    set_test('echo junk >> src/lib/db.ts; echo gen > src/lib/gen.ts; mkdir -p build; echo out > build/out.js\n'
             'git init -q src/lib/fixture && git -C src/lib/fixture commit -q --allow-empty -m fixture\n'
             f'exit {0 if passes else 1}\n')

    proc = wta(repo, "merge", "api", check=None)

    assert proc.returncode == (0 if passes else 1), proc.stdout + proc.stderr
    assert git(api, "status", "--porcelain").stdout == ""
    assert (api / "scratch.txt").read_text() == "the agent's own ignored file\n"
    assert "junk" not in (api / "src" / "lib" / "db.ts").read_text()
    assert (api / "build" / "out.js").is_file()          # ignored: left for the person
    assert "gen.ts" not in git(repo, "ls-tree", "-r", "--name-only", "main").stdout
    assert not (api / "src" / "lib" / "fixture").exists()   # a repository the test made (a gitlink to come)


def test_objects_written_over_during_the_test_never_land(repo):
    """The sandboxed `test:` can write the object store: it rewrote the stream's own `src` tree in place
    (same id, a file of ui's zone added: tests/merge/forge_subtree.py). git checks a commit's tree but
    not the trees below it, so the landing fast-forwarded main to a commit that now brought ui's file,
    past every zone check, and wrote it into the main worktree."""
    before = sha(repo, "main")
    set_test(f"{sys.executable} {Path(__file__).parent / 'forge_subtree.py'}\n")

    proc = wta(repo, "merge", "api", check=None)

    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "object(s) it brings were written over after they were checked" in proc.stdout + proc.stderr
    assert sha(repo, "main") == before
    assert not (repo / "src" / "components" / "Nav.tsx").exists()


def test_a_stream_worktree_pointed_at_another_branch_is_never_where_that_branch_moves(repo):
    """A stream worktree's HEAD is a file its sandboxed agent writes. Pointed at the base, it made wta
    fast-forward main there: the main worktree kept the old files of a moved main, and its next commit
    would have undone the landing. Pointed at another stream's branch, that stream's rebase and
    `test:` ran in a tree the agent had prepared. Now api lands in its own worktree and main moves in
    the main worktree; the two that were pointed elsewhere are said to be off their branches."""
    infra, ui = wt(repo, "infra"), wt(repo, "ui")
    git(infra, "symbolic-ref", "HEAD", "refs/heads/main")        # infra's agent: HEAD to the base
    git(ui, "symbolic-ref", "HEAD", "refs/heads/wta/api")         # ui's agent: HEAD to api's branch
    set_test('echo "test ran in $PWD" >> "$HOME/tested"\n')

    wta(repo, "merge", "api", check=0)

    assert "[api] users route" in git(repo, "log", "--format=%s", "main").stdout
    assert git(repo, "status", "--porcelain").stdout == ""           # the main worktree follows main
    assert (repo / "src" / "app" / "api" / "users" / "route.ts").is_file()
    assert (Path(os.environ["HOME"]) / "tested").read_text() == f"test ran in {wt(repo, 'api')}\n"
    assert git(wt(repo, "api"), "status", "--porcelain").stdout == ""
    refused = wta(repo, "merge", "infra", "ui", check=1).stdout
    assert f"its worktree {infra} has branch main checked out, not wta/infra" in refused
    assert f"its worktree {ui} has branch wta/api checked out, not wta/ui" in refused


def test_links_a_stream_makes_of_its_reflogs_and_its_ref_never_reach_past_them(repo, tmp_path):
    """What a stream can write (its sandbox lets it: its private git dir, its branch's ref and log): a
    symbolic link there had wta's own git, outside the sandbox, append a reflog line to any file the user
    can write, and a branch ref linked to `refs/heads/main` (a symbolic ref to git) moved the base when
    wta moved the branch."""
    outside = repo / "src" / "components" / "INJECTED"
    api = wt(repo, "api")
    private = repo / ".git" / "worktrees" / api.name
    (private / "logs" / "HEAD").unlink()
    (private / "logs" / "HEAD").symlink_to(outside)
    branch_log = repo / ".git" / "logs" / "refs" / "heads" / "wta" / "api"
    branch_log.unlink()
    branch_log.symlink_to(tmp_path / "also-outside")
    needs_git_rebase(repo)   # the landing rewrites the branch (and its worktree's HEAD) with git itself

    proc = wta(repo, "merge", "api", check=0)

    assert proc.returncode == 0, proc.stderr
    assert not outside.exists() and not (tmp_path / "also-outside").exists()
    assert not (private / "logs" / "HEAD").is_symlink() and not branch_log.is_symlink()

    # The branch's ref itself linked to main: moving the branch must not move main.
    write_files(repo, {"README.md": "moved on\n"})
    commit_all(repo, "main moves")
    main_before = sha(repo, "main")
    ref = repo / ".git" / "refs" / "heads" / "wta" / "ui"
    ui_tip = sha(repo, "wta/ui")
    from worktree_agents import git as wgit
    wgit.update_refs([("refs/heads/wta/ui", main_before, ui_tip)], "test", cwd=str(repo))   # (a regular move)
    assert sha(repo, "main") == main_before and sha(repo, "wta/ui") == main_before
    ref.unlink()
    ref.symlink_to("refs/heads/main")
    wgit.update_refs([("refs/heads/wta/ui", ui_tip, main_before)], "test", cwd=str(repo))
    assert sha(repo, "main") == main_before and not ref.is_symlink() and sha(repo, "wta/ui") == ui_tip


def test_a_sha256_repository_merges_its_streams(tmp_path):
    """The backups' "must not exist yet" was 40 zeros, a SHA-1 null id: every `wta merge` in a SHA-256
    repository failed (`update-ref ... invalid <oldvalue>`)."""
    repo = tmp_path / "repo"
    git(tmp_path, "init", "-q", "--object-format=sha256", "-b", "main", str(repo))
    write_files(repo, {"api/a.txt": "a\n", "ui/u.txt": "u\n", "zones.yaml": (
        "version: 1\nagent: {runner: manual}\nstreams:\n  api: {paths: [api/**]}\n  ui: {paths: [ui/**]}\n")})
    commit_all(repo, "start")
    wta(repo, "up", "--no-launch", check=0)
    for stream in ("api", "ui"):
        where = repo.parent / "repo-worktrees" / stream
        write_files(where, {f"{stream}/more.txt": "more\n"})
        commit_all(where, "more")

    wta(repo, "merge", check=0)

    assert git(repo, "log", "--format=%s", "main").stdout.split("\n")[:2] == ["[ui] more", "[api] more"]
    assert len(git(repo, "rev-parse", "main").stdout.strip()) == 64
    assert git(repo, "for-each-ref", "refs/wta/backup/").stdout.count("refs/wta/backup/") == 3


@pytest.mark.skipif(os.geteuid() != 0, reason="making a repository another user's takes root")
def test_a_repository_of_another_owner_trusted_by_safe_directory_merges(tmp_path):
    """git refuses a repository another user owns unless `safe.directory` names it; the entry git itself
    suggests (the worktree's path) did not cover wta's reading of zones.yaml from the git dir alone, so
    `wta merge` (and every landing) failed with git's "dubious ownership"."""
    repo = tmp_path / "repo"
    git(tmp_path, "init", "-q", "-b", "main", str(repo))
    write_files(repo, {"api/a.txt": "a\n", "zones.yaml": (
        "version: 1\nsandbox: off\nagent: {runner: manual}\nstreams:\n  api: {paths: [api/**]}\n")})
    commit_all(repo, "start")
    wta(repo, "up", "--no-launch", check=0)
    api = tmp_path / "repo-worktrees" / "api"
    write_files(api, {"api/b.txt": "b\n"})
    commit_all(api, "more")
    subprocess.run(["chown", "-R", "nobody", str(repo), str(api)], check=True)
    for path in (repo, api):
        git(tmp_path, "config", "--global", "--add", "safe.directory", str(path))

    wta(repo, "merge", check=0)

    assert git(repo, "log", "-1", "--format=%s", "main").stdout.strip() == "[api] more"


def test_conflict_advice_commands_work_pasted_into_a_shell_for_awkward_paths(webapp, tmp_path):
    """The commands `wta merge` suggests for a conflict are shell-quoted (the worktree's path has a space; the
    paths a space, `$`, a quote, a leading `-`): pasted into bash as printed, they resolve the conflict."""
    api = add_stream_worktree(webapp, "api", where=tmp_path / "my worktrees" / "api")
    names = ["src/lib/a b.ts", "src/lib/-x.ts", "src/lib/$HOME.ts", "src/lib/it's.ts"]
    write_files(api, {n: "api\n" for n in names})
    commit_all(api, "[api] awkward names")
    write_files(webapp, {n: "base\n" for n in names})
    commit_all(webapp, "the base has them too")

    advice = wta(webapp, "merge", "api", check=1).stderr.splitlines()[-1]
    assert advice.startswith(f"resolve it in {api}: ") and "src/lib/a b.ts, " in advice   # the list to read
    rebase, add = [c for c in re.findall(r"`([^`]*)`", advice) if "rebase main" in c or c.startswith("git add")]
    assert subprocess.run(["bash", "-c", rebase], cwd=webapp, capture_output=True).returncode == 1   # conflicts
    write_files(api, {n: "both\n" for n in names})
    subprocess.run(["bash", "-c", add], cwd=api, check=True, capture_output=True)
    assert git(api, "diff", "--name-only", "--diff-filter=U").stdout == ""   # every conflict marked resolved
    git(api, "-c", "core.editor=true", "rebase", "--continue")
    assert git(api, "merge-base", "--is-ancestor", "main", "HEAD", check=False).returncode == 0
    assert "api: merged" in wta(webapp, "merge", "--continue", check=0).stdout


def test_a_key_in_a_commit_subject_is_blanked_out_of_the_saved_report_and_of_merge_json(repo):
    """A base commit's subject holds an API key and a bearer token, and it conflicts with api. The report
    `wta merge --json` prints, and the copy saved under wta/merges/, held the subject as it was (in the
    conflict's `touched_by`, the problems and the advice), while session records were redacted already."""
    secret, token = "sk-ant-api03-REPORTkey0123456789abc", "ghp_reportTOKEN0123456789"
    write_files(repo, {"src/lib/db.ts": "export const db = {pool: 1}\n"})
    commit_all(repo, f"rotate {secret}; Authorization: Bearer {token}")

    proc = wta(repo, "merge", "--json", check=1)

    saved = sorted((state_dir(repo) / "merges").glob("*.json"))[-1].read_text()
    api = next(s for s in json.loads(proc.stdout)["streams"] if s["stream"] == "api")
    assert api["touched_by"][0]["subject"] == "rotate [redacted]; Authorization: Bearer [redacted]"
    assert "rotate [redacted]" in saved and api["files"] == ["src/lib/db.ts"]
    for text in (proc.stdout, saved):
        assert secret not in text and token not in text
