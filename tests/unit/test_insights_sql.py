"""The insights' SQL is Athena's (Trino) dialect, and DuckDB runs it with the meaning Trino gives it.

Each sql/athena file, rendered as `clickflow catalog` renders it, must parse as Trino SQL; the step to
DuckDB must keep the results Trino (and Flink, which ran the insights before) give: ratios rounded
half up from the exact quotient, and a DOUBLE price cast to DECIMAL from its shortest decimal form.
DuckDB's own ROUND and CAST are checked to differ on the same values, so the rewrites are needed.
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import duckdb
import pytest
import sqlglot
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.config import load_config
from jobs import insights
from jobs.catalog import athena_queries

CONFIG = load_config("local", overrides=["insights.factor=0.35", "catalog.database=shop"])


@pytest.mark.parametrize("name", insights.INSIGHTS)
def test_every_insight_is_trino_sql_and_catalog_prints_the_text_that_runs(name, tmp_path):
    text = insights.render(CONFIG, name)
    assert "${" not in text and '"shop"."events"' in text
    parsed = sqlglot.parse_one(text, read="trino", error_level=sqlglot.ErrorLevel.RAISE)
    assert parsed.find(sqlglot.exp.Select) is not None
    assert athena_queries(CONFIG)[name] == text  # what Athena is given is what insights runs
    translated = insights.duckdb_sql(text)
    assert re.search(r"\bROUND\(", translated) is None  # every rounding of a quotient is the exact one
    assert "CAST(price AS DECIMAL" not in translated  # every price cast goes through its decimal text


def test_a_file_that_is_not_trino_is_named():
    with pytest.raises(insights.InsightsError, match="not Trino SQL"):
        insights.parse_trino("SELECT FROM WHERE (")


def test_the_sql_files_are_the_only_ones():
    folder = Path(insights.ATHENA_SQL_DIR)
    assert sorted(p.stem for p in folder.glob("*.sql")) == sorted(insights.INSIGHTS)
    assert not (folder.parent / "batch").exists()


def half_up(top: int, bottom: int, places: int = 4) -> Decimal:
    return (Decimal(top) / Decimal(bottom)).quantize(Decimal(1).scaleb(-places), ROUND_HALF_UP)


def run(con, sql: str):
    return con.execute(insights.duckdb_sql(sql)).fetchall()


def test_an_exact_half_rounds_up_as_in_trino_where_duckdb_alone_rounds_down(tmp_path):
    con = insights.connect(tmp_path)
    native = con.execute("SELECT ROUND(CAST(3 AS DECIMAL(38, 18)) / 160, 4)").fetchone()[0]
    assert Decimal(str(native)) == Decimal("0.0187")  # DuckDB divides in DOUBLE: 0.01875 lands below the half
    (got,) = run(con, "SELECT CAST(round(CAST(3 AS decimal(38, 18)) / 160, 4) AS decimal(10, 4))")[0]
    assert got == half_up(3, 160) == Decimal("0.0188")
    (none,) = run(con, "SELECT round(CAST(3 AS decimal(38, 18)) / nullif(0, 0), 4)")[0]
    assert none is None
    con.close()


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 10**9), st.integers(1, 10**9)), min_size=1, max_size=40))
def test_every_ratio_is_the_exact_quotient_rounded_half_up(tmp_path_factory, pairs):
    # exact halves are where rounding goes wrong: mix them in
    pairs = pairs + [(2 * k + 1, 160) for k in range(5)] + [(2 * k + 1, 20_000) for k in range(5)]
    con = insights.connect(tmp_path_factory.mktemp("duck"))
    values = ", ".join(f"({a}, {b})" for a, b in pairs)
    got = run(con, f"SELECT round(CAST(a AS decimal(38, 18)) / b, 4) FROM (VALUES {values}) t(a, b)")
    con.close()
    assert [g for (g,) in got] == [half_up(a, b) for a, b in pairs]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 10**9), min_size=1, max_size=40))
def test_a_price_casts_from_its_shortest_decimal_form(tmp_path_factory, thousandths):
    prices = [t / 1000 for t in thousandths] + [1.005, 2.675, 0.125]  # halves at the cent
    con = insights.connect(tmp_path_factory.mktemp("duck"))
    values = ", ".join(f"({p!r}::DOUBLE)" for p in prices)
    got = run(con, f"SELECT CAST(price AS decimal(18, 2)) FROM (VALUES {values}) t(price)")
    native = con.execute("SELECT CAST(1.005::DOUBLE AS DECIMAL(18, 2))").fetchone()[0]
    con.close()
    # Trino and Flink: BigDecimal.valueOf(double) (its shortest decimal form), then half up
    assert [g for (g,) in got] == [Decimal(repr(p)).quantize(Decimal("0.01"), ROUND_HALF_UP) for p in prices]
    assert native == Decimal("1.00")  # DuckDB alone casts the binary value, just below 1.005


def test_a_run_fetches_no_extension(tmp_path):
    con = insights.connect(tmp_path)
    settings_now = dict(con.execute("SELECT name, value FROM duckdb_settings()").fetchall())
    con.close()
    assert settings_now["autoinstall_known_extensions"] == "false"
    assert settings_now["autoload_known_extensions"] == "false"
    assert duckdb.__version__
