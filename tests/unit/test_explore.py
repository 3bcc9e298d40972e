"""The explore shell's pieces that need no JVM: Studio's three result modes driven by a changelog,
statement splitting, rendering, and the %%flinksql magic's wiring."""

from __future__ import annotations

import datetime as dt
import io

import pytest

from clickflow.interactive import explore, notebook
from clickflow.interactive.explore import AppendLog, ChangelogTable, ExploreError, Outcome, SingleValue


def test_update_mode_applies_retractions():
    """A changelog with -U/+U (a running count per key) and a -D ends in the right table."""
    table = ChangelogTable(["k", "n"])
    changelog = [
        ("+I", ("a", 1)),
        ("+I", ("b", 1)),
        ("-U", ("a", 1)),
        ("+U", ("a", 2)),
        ("+I", ("c", 1)),
        ("-U", ("a", 2)),
        ("+U", ("a", 3)),
        ("-D", ("b", 1)),
        ("+I", ("a", 3)),  # a second, equal row: a multiset, not a set
        ("-U", ("a", 3)),  # takes away one of the two
    ]
    for kind, row in changelog:
        table.apply(kind, row)
    assert sorted(table.rows) == [("a", 3), ("c", 1)]
    assert table.changes == len(changelog)


def test_update_mode_refuses_a_retraction_of_an_absent_row():
    table = ChangelogTable(["k", "n"])
    table.apply("+I", ("a", 1))
    with pytest.raises(ExploreError, match="retracts a row the table does not hold"):
        table.apply("-U", ("a", 2))


def test_append_mode_takes_inserts_only():
    log = AppendLog(["k"])
    log.apply("+I", ("a",))
    log.apply("+I", ("a",))
    assert log.rows == [("a",), ("a",)]
    with pytest.raises(ExploreError, match="use --mode update"):
        log.apply("-U", ("a",))


def test_single_mode_keeps_the_latest_value():
    single = SingleValue(["total"])
    for kind, row in [("+I", (1,)), ("-U", (1,)), ("+U", (2,)), ("-U", (2,)), ("+U", (5,))]:
        single.apply(kind, row)
    assert single.value == 5 and single.rows == [(5,)]
    single.apply("-D", (5,))
    assert single.value is None


def test_statements_end_at_semicolons_outside_quotes():
    done, rest = explore.split_statements("SELECT ';' AS x\nFROM t;\nSELECT `a;b` FROM u; SELECT 1")
    assert done == ["SELECT ';' AS x\nFROM t;", "SELECT `a;b` FROM u;"]
    assert rest.strip() == "SELECT 1"
    assert explore.split_statements(";;") == ([], "")


def test_rendering():
    lines = explore.render_table(
        ["t", "n"], [(dt.datetime(2019, 10, 1, 0, 1), None), (dt.datetime(2019, 10, 1, 0, 0, 0, 5000), 2)], 1
    )
    assert "| 2019-10-01 00:01:00 | NULL |" in lines
    assert lines[-1] == "2 rows (1 not shown: --max-rows)"
    assert explore.show_value(dt.datetime(2019, 10, 1, 0, 0, 0, 5000)) == "2019-10-01 00:00:00.005"
    out = io.StringIO()
    view = ChangelogTable(["k"], [("a",)])
    explore.print_rows(Outcome(view, stopped_by="timeout"), out, "json", None)
    assert out.getvalue() == '{"k": "a"}\n'


def test_bad_options_are_named():
    with pytest.raises(Exception, match="--mode 'tabular'"):
        explore.check_options("tabular", None, None)
    with pytest.raises(Exception, match="--max-rows"):
        explore.check_options("update", 0, None)
    with pytest.raises(ValueError, match="%%flinksql"):
        notebook.parse_line("--max-rows many")


class FakeExplorer:
    """Feeds a fixed changelog, as Explorer.run does, and records what it was asked."""

    def __init__(self, changelog):
        self.changelog = changelog
        self.asked = None

    def run(self, sql, mode, max_rows, timeout, on_change):
        self.asked = (sql, mode, max_rows, timeout)
        view = explore.new_view(mode, ["k", "n"])
        for kind, row in self.changelog:
            view.apply(kind, row)
            on_change(view)
        return Outcome(view, stopped_by=None)


def test_cell_magic_runs_the_cell_in_the_chosen_mode():
    fake = FakeExplorer([("+I", ("a", 1)), ("-U", ("a", 1)), ("+U", ("a", 2))])
    shown = []
    frame = notebook.run_cell(
        "--mode update --timeout 5", "SELECT k, COUNT(*) AS n FROM t GROUP BY k", lambda a: fake, shown.append
    )
    assert fake.asked == ("SELECT k, COUNT(*) AS n FROM t GROUP BY k", "update", None, 5.0)
    assert frame.to_dict("records") == [{"k": "a", "n": 2}]
    assert shown[-1] is frame


def test_extension_registers_the_cell_magic(monkeypatch):
    import sys
    import types

    registered = {}

    class FakeIPython:
        def register_magic_function(self, function, magic_kind, magic_name):
            registered[(magic_kind, magic_name)] = function

    display_module = types.ModuleType("IPython.display")
    display_module.display = lambda *a, **k: None
    monkeypatch.setitem(sys.modules, "IPython", types.ModuleType("IPython"))
    monkeypatch.setitem(sys.modules, "IPython.display", display_module)
    notebook.load_ipython_extension(FakeIPython())
    assert ("cell", "flinksql") in registered
