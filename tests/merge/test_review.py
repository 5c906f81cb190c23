"""`wta diff STREAM` (what landing would bring) and `merge: squash` (one commit per stream)."""

from __future__ import annotations

import json
from pathlib import Path

from support import EXAMPLE_ZONES, WEBAPP_FILES, add_stream_worktree, commit_all, git, make_repo, wta, write_files


def _repo(tmp_path: Path, extra: str = "") -> tuple[Path, Path]:
    repo = make_repo(tmp_path / "webapp", extra + EXAMPLE_ZONES.read_text().replace("test: npm test", "test: 'true'"))
    api = add_stream_worktree(repo, "api")
    write_files(api, {"src/lib/db.ts": "export const db = {pool: 4}\n", "src/lib/cache.ts": "a\nb\n"})
    commit_all(api, "pool the db")
    write_files(api, {"src/app/api/users/route.ts": "export const GET = () => []\n"})
    git(api, "rm", "-q", "src/app/api/health/route.ts")
    commit_all(api, "users route instead of health")
    # The base moves on meanwhile: three-dot leaves that out of the stream's diff.
    write_files(repo, {"README.md": "# webapp, changed on main\n"})
    commit_all(repo, "readme")
    return repo, api


def test_diff_json_lists_exactly_the_files_of_base_three_dots_stream(tmp_path):
    repo, _ = _repo(tmp_path)
    doc = json.loads(wta(repo, "diff", "api", "--json", check=0).stdout)
    expected = git(repo, "diff", "--name-only", "main...wta/api").stdout.split()
    assert sorted(f["path"] for f in doc["files"]) == sorted(expected)
    by_path = {f["path"]: f for f in doc["files"]}
    assert by_path["src/lib/cache.ts"] == {"path": "src/lib/cache.ts", "status": "A", "old_path": None, "added": 2,
                                           "deleted": 0}
    assert by_path["src/app/api/health/route.ts"]["status"] == "D"
    assert doc["counts"] == {"files": 4, "added": 4, "deleted": 2, "commits": 2}
    assert (doc["behind"], doc["base"], doc["branch"]) == (1, "main", "wta/api")


def test_diff_shows_a_stat_by_default_and_the_patch_with_p(tmp_path):
    repo, _ = _repo(tmp_path)
    stat = wta(repo, "diff", "api", check=0).stdout
    assert "wta/api: 2 commit(s) to land on main, 1 behind main" in stat
    assert "4 files changed, 4 insertions(+), 2 deletions(-)" in stat and "README" not in stat
    patch = wta(repo, "diff", "api", "-p", check=0).stdout
    assert "+export const db = {pool: 4}" in patch and "diff --git a/src/lib/cache.ts" in patch


def test_diff_names_each_path_outside_the_zone_with_its_owner_as_status_counts_it(tmp_path):
    """`wta diff api` showed a change to the ui zone like any other, while `wta status` counted a violation."""
    repo, api = _repo(tmp_path)
    write_files(api, {"src/components/Sneak.tsx": "x\n"})
    sneak = commit_all(api, "[api] sneak", "--no-verify")

    stat = wta(repo, "diff", "api", check=0).stdout
    doc = json.loads(wta(repo, "diff", "api", "--json", check=0).stdout)

    status = json.loads(wta(repo, "status", "--json", check=0).stdout)
    counted = next(s for s in status["streams"] if s["stream"] == "api")["violations"]
    assert [v["path"] for v in counted] == ["src/components/Sneak.tsx"]
    assert (f"outside the api zone: src/components/Sneak.tsx ({sneak[:12]}): owned by stream 'ui': leave it to that "
            "stream, or ask it with `wta request ui \"...\"`") in stat.splitlines()
    assert [(v["path"], v["owner"], v["reason"], v["commit"]) for v in doc["outside_zone"]] == \
        [("src/components/Sneak.tsx", "ui", "owned", sneak)]
    git(api, "reset", "-q", "--hard", "HEAD~1")
    assert "outside" not in wta(repo, "diff", "api", check=0).stdout
    assert json.loads(wta(repo, "diff", "api", "--json", check=0).stdout)["outside_zone"] == []


def test_diff_and_diff_json_count_a_rename_the_same_way_as_one_file_with_both_paths(tmp_path):
    """`wta diff api` said `src/lib/{x.txt => z.txt}` and "2 files changed"; `--json` listed a deletion and an
    addition, `counts.files` 3."""
    repo = make_repo(tmp_path / "webapp", EXAMPLE_ZONES.read_text().replace("test: npm test", "test: 'true'"),
                     files={**WEBAPP_FILES, "src/lib/x.txt": "".join(f"line {i}\n" for i in range(20))})
    api = add_stream_worktree(repo, "api")
    git(api, "mv", "src/lib/x.txt", "src/lib/z.txt")
    (api / "src/lib/logo.bin").write_bytes(b"\x89PNG\0\1\2\3")
    commit_all(api, "rename and a logo")
    git(repo, "config", "diff.renames", "false")   # wta's two outputs do not depend on it
    stat = wta(repo, "diff", "api", check=0).stdout
    assert "src/lib/{x.txt => z.txt}" in stat and "2 files changed" in stat, stat
    doc = json.loads(wta(repo, "diff", "api", "--json", check=0).stdout)
    assert doc["files"] == [{"path": "src/lib/logo.bin", "status": "A", "old_path": None, "added": None,
                             "deleted": None},
                            {"path": "src/lib/z.txt", "status": "R", "old_path": "src/lib/x.txt", "added": 0,
                             "deleted": 0}]
    assert doc["counts"] == {"files": 2, "added": 0, "deleted": 0, "commits": 1}
    # Exactly the files `base...wta/api` changes: the new paths as git lists them, and the old one of the rename.
    assert [f["path"] for f in doc["files"]] == \
        git(repo, "diff", "--find-renames", "--name-only", "-z", "main...wta/api").stdout.split("\0")[:-1]


def test_diff_of_an_unknown_stream_or_a_missing_branch_is_a_usage_error(tmp_path):
    repo, _ = _repo(tmp_path)
    unknown = wta(repo, "diff", "nope", check=2)
    assert "unknown stream 'nope'" in unknown.stderr and "Traceback" not in unknown.stderr
    missing = wta(repo, "diff", "ui", check=2)
    assert "no branch wta/ui" in missing.stderr and "wta up ui --no-launch" in missing.stderr


def test_merge_squash_lands_one_commit_whose_tree_is_the_rebased_streams(tmp_path):
    repo, api = _repo(tmp_path, extra="merge: squash\n")
    old_tip = git(repo, "rev-parse", "wta/api").stdout.strip()
    landed = wta(repo, "merge", "api", check=0)
    assert "merged 2 commit(s)" in landed.stdout
    subject, body = git(repo, "log", "-1", "--format=%s%x00%b", "main").stdout.split("\0")
    assert subject == "[api] pool the db (and 1 more)"
    assert body.strip().splitlines() == ["- pool the db", "- users route instead of health"]
    assert git(repo, "rev-list", "--count", "main~1..main").stdout.strip() == "1"
    assert git(repo, "log", "-1", "--format=%s", "main~1").stdout.strip() == "readme"
    # The same tree a rebase would have landed, computed here with plain git.
    git(repo, "worktree", "add", "-q", "--detach", str(tmp_path / "check"), old_tip)
    git(tmp_path / "check", "rebase", "-q", "main~1")
    assert git(repo, "rev-parse", "main^{tree}").stdout == git(tmp_path / "check", "rev-parse", "HEAD^{tree}").stdout
    # The stream's branch is at the landed commit: nothing left to land, its worktree clean.
    assert git(repo, "rev-parse", "wta/api").stdout == git(repo, "rev-parse", "main").stdout
    assert git(api, "status", "--porcelain").stdout == ""
    backups = git(repo, "for-each-ref", "--format=%(objectname)", "refs/wta/backup/").stdout.split()
    assert old_tip in backups


def test_merge_squash_lists_only_the_commits_that_land_and_lands_no_empty_commit(tmp_path):
    """A commit of the stream already on main (a person cherry-picked it) was listed in the squash commit's
    message, and a stream whose commits add up to no change landed an empty `[api]` commit."""
    repo, api = _repo(tmp_path, extra="merge: squash\n")
    first = git(repo, "rev-parse", "wta/api~1").stdout.strip()
    git(repo, "cherry-pick", first)                         # "pool the db" is on main now
    wta(repo, "merge", "api", check=0)
    subject, body = git(repo, "log", "-1", "--format=%s%x00%b", "main").stdout.split("\0")
    assert (subject, body.strip()) == ("[api] users route instead of health", "- users route instead of health")

    write_files(api, {"src/lib/later.ts": "x\n"})
    commit_all(api, "later")
    git(api, "rm", "-q", "src/lib/later.ts")
    commit_all(api, "not so")                                      # the two add up to nothing
    before = git(repo, "rev-parse", "main").stdout
    landed = wta(repo, "merge", "api", check=0)
    assert git(repo, "rev-parse", "main").stdout == before        # no empty commit
    assert "its commits add up to no change on main: nothing to land" in landed.stdout
    assert git(api, "status", "--porcelain").stdout == ""


def test_merge_squash_makes_its_commit_as_git_commit_would_signed_and_in_utf_8(tmp_path):
    """`git commit-tree` reads neither `commit.gpgSign` nor wrote the UTF-8 text wta gave it under the
    `encoding` header of `i18n.commitEncoding`: the squash commit was the one unsigned commit on a signed
    base, and a latin-1 repository's `café` read `cafÃ©`."""
    repo, api = _repo(tmp_path, extra="merge: squash\n")
    write_files(api, {"src/lib/menu.ts": "export const menu = 1\n"})
    commit_all(api, "café")
    fake_gpg = tmp_path / "gpg"   # what git asks of gpg: a detached signature on stdout, its status on fd 2
    fake_gpg.write_text("#!/bin/sh\ncat > /dev/null\necho '[GNUPG:] SIG_CREATED D 1 8 00 0 X' >&2\n"
                        "printf -- '-----BEGIN PGP SIGNATURE-----\\n\\nfake\\n-----END PGP SIGNATURE-----\\n'\n")
    fake_gpg.chmod(0o755)
    for key, value in (("commit.gpgSign", "true"), ("gpg.program", str(fake_gpg)), ("user.signingKey", "X"),
                       ("i18n.commitEncoding", "ISO-8859-1")):
        git(repo, "config", key, value)

    wta(repo, "merge", "api", check=0)

    raw = git(repo, "cat-file", "commit", "main").stdout
    assert "gpgsig -----BEGIN PGP SIGNATURE-----" in raw
    assert "\nencoding " not in raw.split("\n\n", 1)[0]
    assert "- café" in git(repo, "-c", "i18n.logOutputEncoding=UTF-8", "log", "-1", "--format=%b", "main").stdout
