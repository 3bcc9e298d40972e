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


class LoggingEnv(FakeEnv):
    """A FakeEnv that logs what reaches it, in order."""

    _j_statement_set = None

    def __init__(self, log: list[str]) -> None:
        self.log = log

    def execute_sql(self, sql):
        self.log.append(" ".join(sql.split()[:4]))

    def sql_query(self, sql):
        self.log.append(f"plan {sql}")
        return sql

    def create_temporary_view(self, name, table):
        self.log.append(f"view {name}")

    def create_statement_set(self):
        return self

    def explain_sql(self, sql, *details):
        return f"plan of {sql}"

    def add_insert_sql(self, sql):
        self.log.append(sql)

    def get_config(self):
        settings = {"parallelism.default": "1"}

        class Config:
            def get_configuration(self):
                return type("C", (), {"to_dict": lambda _: dict(settings)})()

        return Config()


def job_defined(env, archive: str = "/a") -> plans.RecordedStatements:
    """What a job does before its plan: a table, a function, views (one a planned query), a sink made from a
    view's columns, an INSERT."""
    env.execute_sql("CREATE TEMPORARY TABLE src (a INT) WITH ('connector' = 'datagen')")
    env.execute_sql("CREATE TEMPORARY FUNCTION f AS 'x.F'")
    env.execute_sql("-- the view\nCREATE TEMPORARY VIEW v AS SELECT a FROM src")
    env.create_temporary_view("p", env.sql_query("SELECT * FROM f(input => TABLE v)"))
    columns = env.columns("v", lambda: env.log.append("read v") or [("a", "INT")])
    env.execute_sql(analytics.table_sql("out", columns, {"connector": "filesystem", "path": archive}))
    return env.create_statement_set().add_insert_sql("INSERT INTO out SELECT * FROM p")


def test_with_a_plan_cache_views_are_created_only_when_needed_and_their_columns_are_kept(tmp_path: Path):
    log: list[str] = []
    env = plans.Recorder(LoggingEnv(log), views_from_cache=tmp_path)
    statements = job_defined(env)
    # the table and the function at once; the views before their columns were read the first time; the sink
    assert log == [
        "CREATE TEMPORARY TABLE src",
        "CREATE TEMPORARY FUNCTION f",
        "-- the view CREATE",
        "plan SELECT * FROM f(input => TABLE v)",
        "view p",
        "read v",
        "CREATE TABLE `out` (",
    ]
    assert statements._j_statement_set is None  # used (a plan compiled): the INSERT is added only now
    assert log[-1] == "INSERT INTO out SELECT * FROM p"

    log.clear()
    again = plans.Recorder(LoggingEnv(log), views_from_cache=tmp_path)
    statements = job_defined(again, archive="/elsewhere")  # where the data is does not count
    assert log == ["CREATE TEMPORARY TABLE src", "CREATE TEMPORARY FUNCTION f", "CREATE TABLE `out` ("]
    assert again.statements[-1].startswith("CREATE TABLE `out`") and "`a` INT" in again.statements[-1]
    assert statements.inserts == ["INSERT INTO out SELECT * FROM p"]
    again.create_views()
    assert log[3:] == ["-- the view CREATE", "plan SELECT * FROM f(input => TABLE v)", "view p"]


def test_a_changed_view_reads_its_columns_again(tmp_path: Path):
    log: list[str] = []
    job_defined(plans.Recorder(LoggingEnv(log), views_from_cache=tmp_path))
    log.clear()
    env = plans.Recorder(LoggingEnv(log), views_from_cache=tmp_path)
    env.execute_sql("CREATE TEMPORARY VIEW v AS SELECT a, a AS b FROM src")
    env.columns("v", lambda: log.append("read v") or [("a", "INT"), ("b", "INT")])
    assert log == ["CREATE TEMPORARY VIEW v", "read v"]


@pytest.mark.parametrize(
    "statement",
    [
        "SELECT * FROM v",
        "CREATE TABLE t WITH ('connector' = 'blackhole') AS SELECT * FROM v",
        "EXPLAIN SELECT * FROM default_catalog.default_database.`v`",
    ],
)
def test_a_statement_that_may_read_a_view_gets_the_views_first(tmp_path: Path, statement: str):
    log: list[str] = []
    env = plans.Recorder(LoggingEnv(log), views_from_cache=tmp_path)
    env.execute_sql("CREATE TEMPORARY VIEW v AS SELECT 1 AS a")
    assert log == []
    env.execute_sql(statement)
    assert log == ["CREATE TEMPORARY VIEW v", " ".join(statement.split()[:4])]


def test_a_query_gets_the_views_it_reads_and_theirs_not_the_others(tmp_path: Path):
    log: list[str] = []
    env = plans.Recorder(LoggingEnv(log), views_from_cache=tmp_path)
    env.execute_sql("CREATE TEMPORARY TABLE src (a INT) WITH ('connector' = 'datagen')")
    env.execute_sql("CREATE TEMPORARY VIEW `base` AS SELECT a FROM src")
    env.execute_sql("CREATE TEMPORARY VIEW IF NOT EXISTS other AS SELECT a FROM src")
    env.create_temporary_view("scored", env.sql_query("SELECT * FROM f(input => TABLE base)"))
    env.execute_sql("CREATE TEMPORARY VIEW top AS SELECT * FROM scored WHERE a > 1")
    env.execute_sql("CREATE TEMPORARY VIEW unused AS SELECT * FROM other")
    log.clear()
    env.execute_sql("SELECT * FROM TOP")  # another case names the same view
    assert log == [
        "CREATE TEMPORARY VIEW `base`",
        "plan SELECT * FROM f(input => TABLE base)",
        "view scored",
        "CREATE TEMPORARY VIEW top",
        "SELECT * FROM TOP",
    ]
    log.clear()
    env.explain_sql("SELECT a FROM other")
    assert log == ["CREATE TEMPORARY VIEW IF"]
    log.clear()
    env.execute_sql("SHOW VIEWS")  # names none: all of them
    assert log == ["CREATE TEMPORARY VIEW unused", "SHOW VIEWS"]


def test_without_a_plan_cache_everything_is_done_at_once():
    log: list[str] = []
    env = plans.Recorder(LoggingEnv(log))
    job_defined(env)
    assert log[2:] == [
        "-- the view CREATE",
        "plan SELECT * FROM f(input => TABLE v)",
        "view p",
        "read v",
        "CREATE TABLE `out` (",
        "INSERT INTO out SELECT * FROM p",
    ]


def test_a_shells_statement_runs_at_once_with_the_views_it_reads(tmp_path: Path):
    log: list[str] = []
    env = plans.Recorder(LoggingEnv(log), views_from_cache=tmp_path)
    env.execute_sql("CREATE TEMPORARY VIEW clicks AS SELECT 1 AS a")
    env.execute_sql("CREATE TEMPORARY VIEW other AS SELECT 2 AS a")
    env.run_sql("CREATE TEMPORARY VIEW mine AS SELECT * FROM clicks")  # the user's own: created now
    assert log == ["CREATE TEMPORARY VIEW clicks", "CREATE TEMPORARY VIEW mine"]
    env.run_sql("SET 'table.exec.mini-batch.enabled' = 'false'")  # names no view: all of them first
    assert log[2:] == ["CREATE TEMPORARY VIEW other", "SET 'table.exec.mini-batch.enabled' = 'false'"]


def test_statements_only_gives_the_same_plan_key_without_flink_once_the_columns_are_kept(tmp_path: Path):
    """What `run` on the local cluster makes its plan key and the plan's tables from (jobs/gateway.py)."""
    offline = plans.StatementsOnly({"parallelism.default": "1"})
    with pytest.raises(plans.NeedsPlanner):  # the sink's columns come from a view: not kept yet
        job_defined(plans.Recorder(offline, views_from_cache=tmp_path))

    log: list[str] = []
    planned = plans.Recorder(LoggingEnv(log), views_from_cache=tmp_path)
    statements = job_defined(planned, archive="/a")
    settings = planned.get_config().get_configuration().to_dict()
    want = plans.plan_key(settings, planned.statements, statements.inserts)

    offline = plans.StatementsOnly({"parallelism.default": "1"})
    recorder = plans.Recorder(offline, views_from_cache=tmp_path)
    statements = job_defined(recorder, archive="/elsewhere")
    assert plans.plan_key(offline.to_dict(), recorder.statements, statements.inserts) == want
    # what the plan names (its tables and functions) is all that runs; its views never do
    assert [" ".join(s.split()[:4]) for s in offline.executed] == [
        "CREATE TEMPORARY TABLE src",
        "CREATE TEMPORARY FUNCTION f",
        "CREATE TABLE `out` (",
    ]
    assert "'path' = '/elsewhere'" in offline.executed[-1]
    with pytest.raises(plans.NeedsPlanner):
        recorder.create_views()
    with pytest.raises(plans.NeedsPlanner):
        offline.execute_sql("CREATE TABLE t AS SELECT * FROM src")
