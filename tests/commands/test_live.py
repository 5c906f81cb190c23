"""`wta up`'s live table on a terminal."""

from __future__ import annotations

from worktree_agents.commands.live import LiveView
from worktree_agents.sessions.store import SessionRecord


def test_a_row_wider_than_the_terminal_is_cut_so_the_table_redraws_in_place(monkeypatch, capsys):
    """A long reason (a landing that waits, a test's failure) made a row wrap; the redraw moved up by the
    count of lines, not of rows, and each redraw left a copy of the table's top on the screen."""
    monkeypatch.setenv("COLUMNS", "80")
    view = LiveView(["api", "ui"])
    records = {"api": SessionRecord("api", state="landing", reason="landing waits: " + "x" * 200),
               "ui": SessionRecord("ui", state="running")}
    view.update(records)
    view._draw(records)
    out = capsys.readouterr().out
    drawn = out.split("\x1b[J")
    assert len(drawn) == 2   # drawn, then moved up over it and drawn again
    for text in drawn:
        lines = text.split("\x1b[")[0].rstrip("\n").split("\n")
        assert all(len(line) <= 79 for line in lines) and any(line.endswith("…") for line in lines)
    first = drawn[0].split("\x1b[")[0].rstrip("\n").split("\n")
    assert drawn[0].endswith(f"\x1b[{len(first)}F")   # up by exactly the rows it drew


def test_a_table_taller_than_the_terminal_is_cut_so_the_table_redraws_in_place(monkeypatch, capsys):
    """Thirty streams in a terminal of fifteen rows: moving up fifteen rows could not reach the top of a
    table of thirty-one lines, and each redraw left a copy of it in the scrollback."""
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.setenv("LINES", "15")
    streams = [f"s{i:02}" for i in range(30)]
    view = LiveView(streams)
    records = {s: SessionRecord(s, state="running") for s in streams}
    view.update(records)
    view._draw(records)
    drawn = capsys.readouterr().out.split("\x1b[J")
    first = drawn[0].split("\x1b[")[0].rstrip("\n").split("\n")
    assert len(first) == 14 and first[-1] == "… 19 more lines (make the terminal taller)"
    assert drawn[0].endswith("\x1b[14F")
