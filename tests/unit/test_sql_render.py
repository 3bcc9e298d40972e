"""Rendering the SQL in sql/ from config: no JVM needed."""

import re
import string

import pytest

from connectors.config import load_config
from jobs import analytics
from jobs.analytics import RenderError, render, sql_interval, statements, with_clause


def test_intervals_are_exact_and_in_the_one_form_flink_takes():
    assert sql_interval(10) == "INTERVAL '0 00:00:10.000' DAY TO SECOND(3)"
    assert sql_interval(3600) == "INTERVAL '0 01:00:00.000' DAY TO SECOND(3)"
    assert sql_interval(1799.999) == "INTERVAL '0 00:29:59.999' DAY TO SECOND(3)"
    assert sql_interval(86400 * 3 + 61.5) == "INTERVAL '3 00:01:01.500' DAY TO SECOND(3)"


def test_every_placeholder_is_provided_and_nothing_is_left():
    config = load_config("local")
    for name in analytics.ANALYTICS:
        sql = analytics.analytic_sql(config, name)
        json_paths = re.sub(r"'\$\.[\w.]*'", "", sql)  # JSON_VALUE's paths ('$.a.b') are SQL, not placeholders
        assert "${" not in sql and "$" not in json_paths, name
        assert f"CREATE TEMPORARY VIEW {name} AS" in sql
    events = analytics.events_sql(config, {"connector": "filesystem", "path": "/x"})
    assert "WATERMARK FOR event_ts AS event_ts - INTERVAL '0 00:00:05.000' DAY TO SECOND(3)" in events


def test_config_values_reach_the_sql():
    config = load_config(
        "local",
        overrides=[
            "analytics.top_categories.top_n=3",
            "analytics.bot_burst.threshold=25",
            "analytics.cart_abandonment.session_gap=10m",
        ],
    )
    assert "WHERE  `rank` <= 3;" in analytics.analytic_sql(config, "top_categories")
    assert "HAVING COUNT(*) > 25;" in analytics.analytic_sql(config, "anomalies")
    # one millisecond under the gap, so that events exactly one gap apart split
    assert "INTERVAL '0 00:09:59.999' DAY TO SECOND(3)" in analytics.analytic_sql(config, "cart_abandonment")


def test_missing_placeholder_fails_at_render_time():
    with pytest.raises(RenderError, match=r"sql/unique_visitors.sql uses \$\{window\}"):
        render("unique_visitors", {})


def test_statements_split_on_line_end_semicolons_only():
    sql = "-- a; comment\nCREATE VIEW a AS SELECT ';' AS x;\n\n-- only a comment\nCREATE VIEW b AS SELECT 1;\n"
    parts = statements(sql)
    assert len(parts) == 2 and parts[1].endswith("SELECT 1")


def test_with_clause_escapes_quotes():
    assert with_clause({"path": "/tmp/it's"}) == "    'path' = '/tmp/it''s'"


def test_every_sql_file_is_one_analytic_the_events_table_the_dead_letters_or_the_late_events():
    names = {p.stem for p in analytics.SQL_DIR.glob("*.sql")}
    assert names == {"events", "dead_letters", "late_events", *analytics.ANALYTICS}
    for name in names:
        text = (analytics.SQL_DIR / f"{name}.sql").read_text()
        placeholders = {m.group(1) for m in re.finditer(r"\$\{(\w+)\}", text)}
        params = {} if name == "dead_letters" else analytics.parameters(load_config("local"), name)
        assert placeholders <= set(params) | {"connector_options", "origin_columns"}, name
        string.Template(text)  # parses


def test_unknown_analytic():
    with pytest.raises(ValueError, match="no analytic named 'visits'"):
        analytics.parameters(load_config("local"), "visits")


def test_flink_root_cause_is_the_innermost():
    from jobs.failure import flink_root_cause

    text = (
        "An error occurred while calling o82.await.\n: java.util.concurrent.ExecutionException: x\n"
        "Caused by: org.apache.flink.runtime.client.JobExecutionException: Job execution failed.\n"
        "\tat org.apache.flink.Foo.bar(Foo.java:1)\n"
        "Caused by: java.lang.RuntimeException: RowTime field should not be null\n"
    )
    assert flink_root_cause(RuntimeError(text)) == "java.lang.RuntimeException: RowTime field should not be null"
    assert flink_root_cause(RuntimeError("just this\nand more")) == "just this"
