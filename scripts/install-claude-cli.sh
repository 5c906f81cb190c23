#!/usr/bin/env bash
# Install the pinned Claude Code CLI that the tests run against, into
# ${WTA_TEST_CACHE:-~/.cache/wta-test}/claude-code-<version>, and print the path
# of its `claude`. Does nothing when it is already there.
#
# The version and the install steps live in tests/claude_cli.py (the tests
# install on demand through the same code); this script only runs it, so CI
# can install ahead of the test run.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
exec "${PYTHON:-python3}" "$repo_root/tests/claude_cli.py"
