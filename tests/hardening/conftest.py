"""Fixtures shared by the hardening suites."""

from __future__ import annotations

import pytest

from hardening.figures import Recorder


@pytest.fixture
def figures(request) -> Recorder:
    """Records this test's figures (faults, load, secrets) for bench/reliability.py."""
    return Recorder(request.node.nodeid)
