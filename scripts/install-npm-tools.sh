#!/usr/bin/env bash
# Install the pinned npm tools the tests run for real (the Claude Code CLI, husky,
# lefthook) into ${WTA_TEST_CACHE:-~/.cache/wta-test}/<name>-<version>, and print
# their paths. Does nothing for those already there.
#
# The versions and the install steps live in tests/npm_tools.py (the tests
# install on demand through the same code); this script only runs it, so CI
# can install ahead of the test run.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
exec "${PYTHON:-python3}" "$repo_root/tests/npm_tools.py"
