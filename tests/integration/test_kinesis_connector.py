"""clickflow's own Kinesis table connector, in real PyFlink jobs against the local stack.

What goes into a stream is written, and what comes out is read, with plain boto3 — never through the
connector under test — and compared record by record.
"""

from __future__ import annotations

import json
import time
from collections import Counter, defaultdict
from datetime import UTC, datetime
from pathlib import Path

import pytest

from connectors import aws
from connectors.kinesis_connector import build
from jobs.analytics import create_table_env
from tests.kinesis_helpers import (
    cancel,
    kinesis_table,
    new_stream,
    put_rows,
    read_stream,
    table_sql,
    wait_for,
    wait_running,
)

pytestmark = pytest.mark.integration

ROW = "k STRING, n BIGINT"
TRIM = {"source.init.position": "TRIM_HORIZON"}
BOUNDED = {**TRIM, "source.bounded": "latest"}
FAST_SINK = {"sink.flush-buffer.timeout": "200"}


@pytest.fixture(scope="module")
def connector_jar():
    return build()


@pytest.fixture
def kinesis(local_stack):
    config, _ = local_stack
    return aws.client(config, "kinesis")


def table_env(config, jar, **settings):
    env = create_table_env(config, [jar])
    for key, value in settings.items():
        env.get_config().set(key, value)
    return env


def rows_of(n: int, keys: int = 17, start: int = 0) -> list[dict]:
    return [{"k": f"key{i % keys}", "n": i} for i in range(start, start + n)]


def run_to_files(env, query: str, directory: Path, columns: str = ROW) -> list[dict]:
    """Run a bounded query into a JSON filesystem sink (not the connector under test) and read it back."""
    options = {"connector": "filesystem", "path": str(directory), "format": "json"}
    env.execute_sql(table_sql("files_out", columns, options))
    env.execute_sql(f"INSERT INTO files_out {query}").wait()
    return [json.loads(line) for path in sorted(directory.rglob("part-*")) for line in path.read_text().splitlines()]


def test_bounded_read_returns_exactly_the_records_in_four_shards(local_stack, kinesis, connector_jar, tmp_path):
    config, _ = local_stack
    stream = new_stream(kinesis, "read", 4)
    sent = rows_of(3000)
    put_rows(kinesis, stream, sent)
    shards_used = {r["shard"] for r in read_stream(kinesis, stream)}
    assert len(shards_used) == 4  # the fixture really spreads over every shard

    env = table_env(config, connector_jar)
    env.execute_sql(kinesis_table(config, "src", stream, ROW, BOUNDED))
    got = run_to_files(env, "SELECT k, n FROM src", tmp_path)

    assert sorted((r["n"], r["k"]) for r in got) == [(r["n"], r["k"]) for r in sent]


def test_at_timestamp_starts_at_the_first_record_that_arrived_then(local_stack, kinesis, connector_jar, tmp_path):
    config, _ = local_stack
    stream = new_stream(kinesis, "at-ts", 2)
    put_rows(kinesis, stream, rows_of(200))
    time.sleep(1.2)
    start = datetime.now(UTC)
    time.sleep(0.2)
    put_rows(kinesis, stream, rows_of(150, start=1000))

    env = table_env(config, connector_jar)
    extra = {
        "source.init.position": "AT_TIMESTAMP",
        "source.init.timestamp": start.strftime("%Y-%m-%dT%H:%M:%S.") + f"{start.microsecond // 1000:03d}+00:00",
        "source.bounded": "latest",
    }
    env.execute_sql(kinesis_table(config, "src", stream, ROW, extra))
    got = run_to_files(env, "SELECT k, n FROM src", tmp_path)
    assert sorted(r["n"] for r in got) == list(range(1000, 1150))


def test_latest_reads_only_what_arrives_after_the_job_starts(local_stack, kinesis, connector_jar):
    config, _ = local_stack
    source, sink = new_stream(kinesis, "latest-in", 2), new_stream(kinesis, "latest-out", 1)
    put_rows(kinesis, source, rows_of(100))  # before the job: must not be read

    env = table_env(config, connector_jar)
    env.execute_sql(kinesis_table(config, "src", source, ROW, {"source.init.position": "LATEST"}))
    env.execute_sql(kinesis_table(config, "dst", sink, ROW, FAST_SINK))
    job = env.execute_sql("INSERT INTO dst SELECT k, n FROM src").get_job_client()
    try:
        wait_running(job)
        time.sleep(2)  # the enumerator has pinned LATEST to its start by now
        put_rows(kinesis, source, rows_of(120, start=500))
        got = wait_for(lambda: len(out := read_stream(kinesis, sink)) >= 120 and out, 60, "120 records on the output")
        time.sleep(1)
        got = read_stream(kinesis, sink)
    finally:
        cancel(job)
    assert sorted(r["row"]["n"] for r in got) == list(range(500, 620))


def test_reshard_while_reading_keeps_every_record_once_and_per_key_order(local_stack, kinesis, connector_jar):
    config, _ = local_stack
    source, sink = new_stream(kinesis, "reshard-in", 2), new_stream(kinesis, "reshard-out", 1)
    put_rows(kinesis, source, rows_of(400, keys=10))

    env = table_env(config, connector_jar)
    env.execute_sql(kinesis_table(config, "src", source, ROW, {**TRIM, "source.shard.discovery.interval": "500 ms"}))
    # one shard and one request in flight: the output's order is the order the job emitted
    env.execute_sql(kinesis_table(config, "dst", sink, ROW, {**FAST_SINK, "sink.requests.max-inflight": "1"}))
    job = env.execute_sql("INSERT INTO dst SELECT k, n FROM src").get_job_client()
    try:
        wait_for(lambda: read_stream(kinesis, sink), 60, "the job's first output")
        put_rows(kinesis, source, rows_of(300, keys=10, start=400))  # some of these the job has not read yet
        shard = kinesis.list_shards(StreamName=source)["Shards"][0]
        low, high = int(shard["HashKeyRange"]["StartingHashKey"]), int(shard["HashKeyRange"]["EndingHashKey"])
        kinesis.split_shard(StreamName=source, ShardToSplit=shard["ShardId"], NewStartingHashKey=str((low + high) // 2))
        kinesis.get_waiter("stream_exists").wait(StreamName=source, WaiterConfig={"Delay": 0.2, "MaxAttempts": 100})
        put_rows(kinesis, source, rows_of(300, keys=10, start=700))  # into the two children
        wait_for(lambda: len(read_stream(kinesis, sink)) >= 1000, 90, "1000 records on the output")
        time.sleep(1.5)
        out = read_stream(kinesis, sink)
    finally:
        cancel(job)

    shards = kinesis.list_shards(StreamName=source)["Shards"]
    assert len(shards) == 4  # the parent (closed) and two children, plus the untouched shard
    children = [s for s in shards if s.get("ParentShardId") == shard["ShardId"]]
    child_records = sum(1 for r in read_stream(kinesis, source) if r["shard"] in {c["ShardId"] for c in children})
    assert child_records > 0  # the split really sent records through the children

    numbers = [r["row"]["n"] for r in out]
    assert Counter(numbers) == Counter(range(1000))  # every record once
    by_key = defaultdict(list)
    for record in sorted(out, key=lambda r: r["seq"]):
        by_key[record["row"]["k"]].append(record["row"]["n"])
    for key, seen in by_key.items():
        assert seen == sorted(seen), f"{key} out of order"


def test_unsupported_option_and_wrong_region_fail_with_clear_messages(local_stack, connector_jar):
    config, _ = local_stack
    env = table_env(config, connector_jar)
    env.execute_sql(kinesis_table(config, "efo", "some-stream", ROW, {"source.efo.consumer.name": "c1"}))
    with pytest.raises(Exception, match=r"source\.efo\.consumer\.name.*official Kinesis connector"):
        env.sql_query("SELECT * FROM efo").explain()

    env.execute_sql(kinesis_table(config, "typo", "some-stream", ROW, {"source.init.postion": "LATEST"}))
    with pytest.raises(Exception, match=r"Unsupported options[\s\S]*source\.init\.postion"):
        env.sql_query("SELECT * FROM typo").explain()

    env.execute_sql(kinesis_table(config, "elsewhere", "some-stream", ROW, {"aws.region": "eu-west-1"}))
    with pytest.raises(Exception, match=r"'stream\.arn' names region us-east-1 but 'aws\.region' is eu-west-1"):
        env.sql_query("SELECT * FROM elsewhere").explain()

    env.execute_sql(kinesis_table(config, "notarn", "x", ROW, {"stream.arn": "my-stream"}))
    with pytest.raises(Exception, match=r"'stream\.arn' = 'my-stream' is not a Kinesis stream ARN"):
        env.sql_query("SELECT * FROM notarn").explain()

    env.execute_sql(kinesis_table(config, "badpos", "x", ROW, {"source.init.position": "EARLIEST"}))
    with pytest.raises(Exception, match=r"'source\.init\.position' = 'EARLIEST': use LATEST, TRIM_HORIZON"):
        env.sql_query("SELECT * FROM badpos").explain()

    env.execute_sql(kinesis_table(config, "bigbatch", "x", ROW, {"sink.batch.max-size": "501"}))
    with pytest.raises(Exception, match=r"'sink\.batch\.max-size' = '501': PutRecords takes 1 to 500"):
        env.execute_sql("INSERT INTO bigbatch VALUES ('a', 1)")


def test_timestamp_with_unknown_format_names_the_option(local_stack, connector_jar):
    config, _ = local_stack
    env = table_env(config, connector_jar)
    extra = {"source.init.position": "AT_TIMESTAMP", "source.init.timestamp": "yesterday"}
    env.execute_sql(kinesis_table(config, "starts", "x", ROW, extra))
    with pytest.raises(Exception, match=r"'source\.init\.timestamp' = 'yesterday': expected a date like"):
        env.sql_query("SELECT * FROM starts").explain()
