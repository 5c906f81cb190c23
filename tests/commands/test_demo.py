"""`wta demo`: the offline first-ten-minutes run, end to end, as a new user runs it."""

from __future__ import annotations

import json
import re
import subprocess
import sys

from support import git, wta
from worktree_agents import demo


def test_demo_refuses_one_out_of_zone_edit_and_merges_four_streams(tmp_path):
    where = tmp_path / "demo"
    proc = subprocess.run([sys.executable, "-m", "worktree_agents", "demo", str(where)], text=True,
                          capture_output=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert out.count("refused edit, as intended") == 1
    assert f"{demo.STOLEN_PATH} is owned by stream 'api'" in out
    assert "1 refused out-of-zone edit(s), 4 streams merged into main" in out
    # The scripted agents' costs are shown, and marked as simulated wherever they are.
    costs = re.findall(r"\$\d+\.\d{4}( \(simulated\))?", out)
    assert costs and all(costs), f"a cost not marked as simulated in:\n{out}"

    repo = where / "schedule"
    subjects = git(repo, "log", "--format=%s", "main").stdout.splitlines()
    landed = [s.split("]")[0] + "]" for s in subjects[:4]]   # in the order the sessions ended
    assert sorted(landed) == ["[api]", "[infra]", "[monitor]", "[ui]"]
    assert landed.index("[infra]") > landed.index("[api]")    # api started from infra's work
    # The route on main is the api stream's, not the one the ui agent tried to write.
    assert git(repo, "show", f"main:{demo.STOLEN_PATH}").stdout == demo.ROUTE
    assert "zod" in git(repo, "show", "main:package.json").stdout
    assert "zod validates API input" in git(repo, "show", "main:ai-agents/memory/decisions.md").stdout
    sessions = [s["session"] for s in json.loads(wta(repo, "status", "--json", check=0).stdout)["streams"]]
    assert all(s["cost_usd"] > 0 and s["cost_simulated"] is True for s in sessions)
    for stream in ("infra", "api", "ui", "monitor"):
        assert git(repo, "merge-base", "--is-ancestor", f"wta/{stream}", "main", check=False).returncode == 0


def test_demo_refuses_a_directory_that_is_not_empty(tmp_path):
    (tmp_path / "keep.txt").write_text("mine\n")
    proc = wta(tmp_path, "demo", str(tmp_path), check=2)
    assert proc.stderr.count("\n") == 1 and "not an empty directory" in proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.txt"]
