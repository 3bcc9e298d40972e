"""The compiled-plan cache's key (jobs/plans.py): what changes a plan changes the key, where a table's data
is does not. Built from the statements the real job renders (jobs/stream.py), recorded without Flink."""

from __future__ import annotations

from pathlib import Path

import pytest

from connectors.config import load_config
from connectors.tables import archive_options, kinesis_options
from jobs import analytics, plans
from jobs.stream import RunOptions, source_options


class FakeEnv:
    """Enough of a TableEnvironment for the Recorder: statements are kept, nothing is run."""

    def execute_sql(self, sql):
        return None

    def sql_query(self, sql):
        return sql

    def create_temporary_view(self, name, table):
        return None

    def create_statement_set(self):
        return FakeEnv()

    def add_insert_sql(self, sql):
        return None


def recorded(overrides: list[str] = (), events_stream: str | None = None, archive: str = ".clickflow/archive"):
    config = load_config("local", overrides=[*overrides, f"job.archive={archive}"])
    env = plans.Recorder(FakeEnv())
    stream = events_stream or config.stream("events").name
    source = kinesis_options(config, stream, source_options(config, RunOptions()))
    analytics.register(env, config, source, ["anomalies"])
    columns = [("window_start", "TIMESTAMP(3)"), ("entity", "STRING")]
    env.execute_sql(analytics.table_sql("anomalies_archive", columns, archive_options(config, "anomalies"), []))
    env.execute_sql(analytics.table_sql("anomalies_stream", columns, kinesis_options(config, "out-" + stream), []))
    statements = env.create_statement_set()
    statements.add_insert_sql("INSERT INTO `anomalies_stream` SELECT * FROM `anomalies`")
    settings = {"table.exec.source.idle-timeout": "10 s", "parallelism.default": "1", "rest.port": "8081"}
    return env, statements, settings


def key(overrides=(), settings: dict | None = None, **kwargs) -> str:
    env, statements, defaults = recorded(list(overrides), **kwargs)
    return plans.plan_key({**defaults, **(settings or {})}, env.statements, statements.inserts)


def test_where_the_data_is_does_not_change_the_key():
    base = key()
    assert key(events_stream="another-events-stream") == base
    assert key(archive="/elsewhere/archive") == base
    assert key(["aws.endpoints.kinesis=http://127.0.0.1:9999", "aws.region=eu-west-1"]) == base
    assert key(settings={"rest.port": "9000"}) == base  # not a planner setting


@pytest.mark.parametrize(
    "change",
    [
        {"overrides": ["analytics.watermark_delay=9s"]},  # in the events table's watermark
        {"overrides": ["analytics.bot_burst.threshold=11"]},  # in a view's SQL
        {"overrides": ["job.archive_roll_size=1mb"]},  # a filesystem option other than its path
        {"settings": {"table.exec.source.idle-timeout": "20 s"}},
        {"settings": {"parallelism.default": "2"}},
    ],
)
def test_what_can_change_the_plan_changes_the_key(change):
    assert key(**change) != key()


def test_the_recorder_keeps_every_statement_and_insert():
    env, statements, _ = recorded()
    assert any("CREATE TEMPORARY FUNCTION" in s for s in env.statements)
    assert any(s.lstrip().upper().startswith("CREATE") and "'connector' = 'kinesis'" in s for s in env.statements)
    assert statements.inserts == ["INSERT INTO `anomalies_stream` SELECT * FROM `anomalies`"]


def test_placement_options_are_masked_only_in_create_table():
    ddl = "CREATE TEMPORARY TABLE t (a INT) WITH (\n'connector' = 'filesystem',\n'path' = '/x',\n'format' = 'json')"
    masked = plans._masked(ddl)
    assert "'/x'" not in masked and "'filesystem'" in masked and "'json'" in masked
    query = "SELECT * FROM t WHERE 'path' = '/x'"
    assert plans._masked(query) == query


def test_jars_are_keyed_by_their_content(tmp_path: Path):
    jar = tmp_path / "a.jar"
    jar.write_bytes(b"one")
    env, statements, settings = recorded()
    first = plans.plan_key({**settings, "pipeline.jars": jar.as_uri()}, env.statements, statements.inserts)
    jar.write_bytes(b"two")
    assert plans.plan_key({**settings, "pipeline.jars": jar.as_uri()}, env.statements, statements.inserts) != first


def test_the_cache_keeps_the_most_recently_used(tmp_path: Path):
    import os

    for n in range(5):
        (tmp_path / f"{n}.json").write_text("{}")
        os.utime(tmp_path / f"{n}.json", (n, n))
    plans._prune(tmp_path, keep=3)
    assert sorted(p.name for p in tmp_path.glob("*.json")) == ["2.json", "3.json", "4.json"]
