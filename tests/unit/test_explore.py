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


def test_the_changelog_kinds_are_read_from_the_plans_root():
    """The root of the optimized physical plan says what the result sends; its inputs' modes do not count."""
    plan = """== Abstract Syntax Tree ==
LogicalAggregate(group=[{0}], n=[COUNT()])

== Optimized Physical Plan ==
GroupAggregate(groupBy=[a], select=[a, COUNT(*) AS n], changelogMode=[I,UB,UA])
+- Exchange(distribution=[hash[a]], changelogMode=[I])
   +- TableSourceScan(table=[[default_catalog, default_database, s]], fields=[a], changelogMode=[I])

== Optimized Execution Plan ==
GroupAggregate(groupBy=[a], select=[a, COUNT(*) AS n])
"""
    assert explore.changelog_of(plan) == {"I", "UB", "UA"}
    assert explore.changelog_of(plan.replace("[I,UB,UA]", "[I]")) == {"I"}
    assert explore.changelog_of("== Abstract Syntax Tree ==\nLogicalValues(tuples=[[]])") is None
    sink = "== Optimized Physical Plan ==\nSink(table=[t], changelogMode=[NONE])\n+- Calc(changelogMode=[I])"
    assert explore.changelog_of(sink) is None  # an INSERT: what it writes is the sink's business


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
    shown = []

    class Handle:
        update = shown.append

    display_module.display = lambda *a, **k: Handle()
    monkeypatch.setitem(sys.modules, "IPython", types.ModuleType("IPython"))
    monkeypatch.setitem(sys.modules, "IPython.display", display_module)
    fake = FakeIPython()
    fake.user_ns = {}
    notebook.load_ipython_extension(fake)
    assert ("cell", "flinksql") in registered
    monkeypatch.setattr(notebook, "_explorer", lambda args: FakeExplorer([("+I", ("a", 1))]))
    registered[("cell", "flinksql")]("--output counts", "SELECT k, n FROM t")
    assert fake.user_ns["counts"].to_dict("records") == [{"k": "a", "n": 1}]
    assert shown[-1] is fake.user_ns["counts"]  # the display ends on the final result
    with pytest.raises(ValueError, match="not a Python variable name"):
        notebook.parse_line("--output 2x")


BRANDS_QUERY = "SELECT brand, COUNT(*) AS n FROM clicks WHERE brand IS NOT NULL GROUP BY brand ORDER BY n DESC LIMIT 5"


def test_update_mode_shows_the_query_order_however_the_changelog_arrives():
    """A Top-N's changelog (inserts and retractions in whatever order the counts moved) shown in the
    query's ORDER BY ... LIMIT; the same rows sorted here by plain Python are the reference."""
    import random

    final = {"samsung": 2018, "apple": 1704, "xiaomi": 1203, "huawei": 503, "bosch": 226, "lucente": 183}
    rng = random.Random(7)
    table = ChangelogTable(["brand", "n"], order=explore.result_order(BRANDS_QUERY, ["brand", "n"]))
    current: dict[str, int] = {}
    for _ in range(3000):  # counts rise one brand at a time, as the stream is read
        brand = rng.choice([b for b in final if current.get(b, 0) < final[b]] or [None])
        if brand is None:
            break
        if brand in current:
            table.apply("-U", (brand, current[brand]))
            current[brand] += 1
            table.apply("+U", (brand, current[brand]))
        else:
            current[brand] = 1
            table.apply("+I", (brand, 1))
    for brand, n in final.items():
        while current[brand] < n:
            table.apply("-U", (brand, current[brand]))
            current[brand] += 1
            table.apply("+U", (brand, current[brand]))
    expected = sorted(final.items(), key=lambda item: -item[1])[:5]
    assert table.shown() == expected
    assert [r[0] for r in table.shown()] == ["samsung", "apple", "xiaomi", "huawei", "bosch"]
    assert explore.render(table)[-1] == "5 rows"  # the order is the query's: nothing to say


@pytest.mark.parametrize(
    ("sql", "columns", "keys", "limit"),
    [
        (BRANDS_QUERY, ["brand", "n"], ((1, True, False),), 5),
        ("SELECT a, b FROM t ORDER BY 2, a DESC NULLS FIRST", ["a", "b"], ((1, False, True), (0, True, True)), None),
        (
            "SELECT brand, COUNT(*) FROM t GROUP BY brand ORDER BY COUNT(*) DESC LIMIT 3 OFFSET 1;",
            ["brand", "EXPR$1"],
            ((1, True, False),),
            3,
        ),  # fmt: skip
        ("SELECT `views`, x FROM t ORDER BY `views` NULLS LAST", ["views", "x"], ((0, False, False),), None),
        (
            "SELECT window_start, COUNT(*) AS c FROM TABLE(TUMBLE(TABLE clicks, DESCRIPTOR(event_time), "
            "INTERVAL '1' MINUTES)) GROUP BY window_start, window_end ORDER BY c DESC, window_start",
            ["window_start", "c"],
            ((1, True, False), (0, False, True)),
            None,
        ),
    ],
)
def test_the_order_is_read_from_the_top_level_order_by(sql, columns, keys, limit):
    order = explore.result_order(sql, columns)
    assert (order.keys, order.limit, order.unshown) == (keys, limit, None)


def test_an_order_by_inside_the_query_is_not_the_result_order():
    sql = "SELECT k, n FROM (SELECT k, n FROM t ORDER BY n) WHERE n > 1"
    assert explore.result_order(sql, ["k", "n"]) is None
    over = "SELECT k, ROW_NUMBER() OVER (PARTITION BY k ORDER BY ts) AS r FROM t"
    assert explore.result_order(over, ["k", "r"]) is None


def test_an_offset_is_not_applied_twice():
    """Flink's Top-N with OFFSET holds only the rows after it: they are sorted, not cut again."""
    order = explore.result_order("SELECT k, n FROM t ORDER BY n DESC LIMIT 2 OFFSET 1", ["k", "n"])
    assert order.apply([("c", 1), ("b", 2)]) == [("b", 2), ("c", 1)]


def test_nulls_sort_as_flink_sorts_them_and_ties_keep_their_place():
    rows = [("b", None), ("a", 2), ("c", 1), ("d", 2)]
    ascending = explore.result_order("SELECT k, n FROM t ORDER BY n", ["k", "n"]).apply(rows)
    assert ascending == [("b", None), ("c", 1), ("a", 2), ("d", 2)]
    descending = explore.result_order("SELECT k, n FROM t ORDER BY n DESC", ["k", "n"]).apply(rows)
    assert descending == [("a", 2), ("d", 2), ("c", 1), ("b", None)]
    last = explore.result_order("SELECT k, n FROM t ORDER BY n ASC NULLS LAST, k DESC", ["k", "n"]).apply(rows)
    assert last == [("c", 1), ("d", 2), ("a", 2), ("b", None)]


def test_the_order_note_is_said_only_where_it_matters():
    unordered = ChangelogTable(["k", "n"], [("a", 1), ("b", 2)])
    assert explore.render(unordered)[-1] == "2 rows (no ORDER BY: in no particular order)"
    assert explore.render(ChangelogTable(["k", "n"], [("a", 1)]))[-1] == "1 row"  # one row: no order to speak of
    assert explore.render(AppendLog(["k"], [("a",), ("b",)]))[-1] == "2 rows"  # arrival order
    odd = ChangelogTable(
        ["k"], [("a",), ("b",)], order=explore.result_order("SELECT k FROM t ORDER BY UPPER(k)", ["k"])
    )
    assert (
        explore.render(odd)[-1] == "2 rows (not in the query's order: ORDER BY UPPER(k) is not a column of the result)"
    )


def test_a_running_query_never_shows_a_row_count_only_the_final_view_does():
    out = io.StringIO()
    screen = explore.Screen(out, True, None)
    table = ChangelogTable(["brand", "n"], order=explore.result_order(BRANDS_QUERY, ["brand", "n"]))
    table.apply("+I", ("apple", 3))
    screen.update(table, force=True)
    table.apply("+I", ("samsung", 5))
    screen.update(table, force=True)
    live = out.getvalue()
    assert (
        "running: 2 rows so far" in live and " rows\n" not in live and "2 rows" not in live.replace("2 rows so far", "")
    )
    screen.finish(Outcome(table, stopped_by=None))
    final = out.getvalue()[len(live) :]
    assert final.startswith("\x1b[7F\x1b[J")  # the running table is erased, then the answer drawn
    assert final.index("samsung") < final.index("apple") and final.rstrip().endswith("2 rows")
