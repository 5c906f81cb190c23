"""Session records on disk (sessions/store.py)."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, fields

from worktree_agents.sessions.store import SessionRecord, SessionStore


def test_a_session_record_is_saved_with_every_field_and_its_lists_changed_in_place(tmp_path):
    """The record file holds every field (SessionRecord.to_dict is written out by hand, without
    `dataclasses.asdict`), and a list or dict of the record changed in place under `updating` is saved
    (the copy taken before the block is a copy of them, not the record's own)."""
    store = SessionStore(str(tmp_path / "wta"))
    store.update("s1", state="running", failed_to_land=[["a", "b"]], tmux={"socket": "x"})
    with store.updating("s1") as rec:
        rec.failed_to_land[0].append("c")
        rec.tmux["session"] = "y"
        rec.leftovers_committed.append("f.txt")
    with open(store.path("s1"), encoding="utf-8") as f:
        saved = json.load(f)
    assert set(saved) == {f.name for f in fields(SessionRecord)}
    assert saved["failed_to_land"] == [["a", "b", "c"]]
    assert saved["tmux"] == {"socket": "x", "session": "y"}
    assert saved["leftovers_committed"] == ["f.txt"]
    again = store.read("s1")
    assert again.to_dict() == asdict(again)


def test_an_update_that_changes_nothing_leaves_the_file_as_it_was(tmp_path):
    store = SessionStore(str(tmp_path / "wta"))
    store.update("s1", state="running", announced=["x:done"])
    before = open(store.path("s1"), encoding="utf-8").read()
    inode = os.stat(store.path("s1")).st_ino
    store.update("s1", state="running", announced=["x:done"])
    assert open(store.path("s1"), encoding="utf-8").read() == before
    assert os.stat(store.path("s1")).st_ino == inode


def test_landing_progress_is_written_by_its_own_thread_and_never_over_the_outcome(tmp_path):
    """The landing goes on while its progress is written (landing.ProgressWriter); the record shows the
    latest line, and once the stream's outcome is recorded no progress line written later replaces it."""
    import time

    from worktree_agents.sessions.landing import ProgressWriter

    store = SessionStore(str(tmp_path / "wta"))
    store.update("s1", state="landing", reason="landing on main")
    writer = ProgressWriter(store)
    writer.put("s1", "under way on main")
    writer.put("s1", "rebasing 10 commit(s) onto main")
    deadline = time.monotonic() + 10
    while store.read("s1").reason != "landing: rebasing 10 commit(s) onto main" and time.monotonic() < deadline:
        time.sleep(0.01)
    assert store.read("s1").reason == "landing: rebasing 10 commit(s) onto main"
    for i in range(50):   # lines queued just before the outcome: dropped, or written before it
        writer.put("s1", f"step {i}")
    writer.settle("s1")
    store.update("s1", state="landed", reason="landed on main at 123")
    writer.put("s2", "under way on main")   # (the writer goes on with other streams)
    while store.read("s2") is None and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.1)
    assert store.read("s1").state == "landed"
    assert store.read("s1").reason == "landed on main at 123"
