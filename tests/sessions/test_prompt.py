"""`wta prompt STREAM`: the stream's task and the zone rules every session carries."""

from __future__ import annotations

from support import make_repo, write_files, commit_all, wta

ZONES = """version: 1
read_only: [docs/specs/**]
streams:
  api:
    paths: [src/api/**, "!src/api/vendor/**"]
    prompt_file: prompts/api.md
  ui:
    paths: [src/ui/**]
    prompt: Polish the page.
  notes:
    paths: [notes/**]
    append_only: true
"""
FILES = {"README.md": "# app\n", "prompts/api.md": "Build the API.\n", "src/api/a.py": "A = 1\n"}


def test_the_prompt_holds_the_task_and_every_zone_rule(tmp_path):
    repo = make_repo(tmp_path / "repo", ZONES, FILES)
    text = wta(repo, "prompt", "api", check=0).stdout
    assert text.startswith("Build the API.\n\n# Zone rules of stream `api` (wta)\n")
    # An exclusion is shown as one, not among the paths the stream may change.
    assert ("You may change only these paths (gitignore patterns, relative to the repository root):\n- `src/api/**`\n\n"
            "except these, which are not in your zone (do not change them):\n- `src/api/vendor/**`\n") in text
    assert "!src/api/vendor" not in text
    assert "Read-only for every stream (read them, never change them): `zones.yaml`, `docs/specs/**`." in text
    assert "- `ui`: `src/ui/**`" in text and "- `notes`: `notes/**`" in text
    assert "messages that start with `[api] `" in text and "on branch `wta/api`" in text
    assert 'wta request OWNER "what you need and why"' in text
    assert "wta-stream" not in text and text.rstrip().endswith("and carry on with your own part.")
    assert "append-only" not in text
    assert "Your zone is append-only" in wta(repo, "prompt", "notes", check=0).stdout
    assert wta(repo, "prompt", "ui", check=0).stdout.startswith("Polish the page.\n")


def test_open_requests_to_the_stream_come_first(tmp_path):
    repo = make_repo(tmp_path / "repo", ZONES, FILES)
    asked = wta(repo, "request", "api", "add GET /health", check=0)
    text = wta(repo, "prompt", "api", check=0).stdout
    assert text.startswith("## Open requests from other streams") and "add GET /health" in text
    assert text.index("add GET /health") < text.index("Build the API.") < text.index("# Zone rules"), asked.stderr


def test_a_missing_prompt_file_or_an_unknown_stream_is_one_line_and_exit_2(tmp_path):
    repo = make_repo(tmp_path / "repo", ZONES, {"README.md": "# app\n"})
    missing = wta(repo, "prompt", "api", check=2)
    assert missing.stderr.startswith(f"wta: {repo / 'prompts' / 'api.md'}: cannot read the prompt_file of stream 'api'")
    assert missing.stderr.count("\n") == 1
    unknown = wta(repo, "prompt", "web", check=2)
    assert unknown.stderr == "wta: unknown stream 'web'; zones.yaml defines: api, ui, notes\n"
    write_files(repo, {"prompts/api.md": "Now it exists.\n"})
    commit_all(repo, "add the prompt")
    assert wta(repo, "prompt", "api", check=0).stdout.startswith("Now it exists.")
