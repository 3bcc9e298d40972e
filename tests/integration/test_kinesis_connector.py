"""clickflow's own Kinesis table connector, in real PyFlink jobs against the local stack.

What goes into a stream is written, and what comes out is read, with plain boto3 — never through the
connector under test — and compared record by record.
"""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from connectors import aws
from connectors.kinesis_connector import build
from jobs.analytics import create_table_env
from tests.faulty_kinesis import FaultyKinesis
from tests.kinesis_helpers import (
    assert_per_key_order,
    cancel,
    flink_log_lines,
    kinesis_table,
    new_stream,
    put_rows,
    read_stream,
    split_first_shard,
    stop_with_savepoint,
    table_sql,
    wait_for,
    wait_running,
)
from tests.outage import Outage

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
        shard = split_first_shard(kinesis, source)
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
    assert_per_key_order(out)


def test_a_savepoint_taken_while_a_shard_splits_restores_every_record_once_in_key_order(
    local_stack, kinesis, connector_jar, tmp_path
):
    """Apache Flink's own connector lost records restored from a savepoint taken while a shard was being
    split (FLINK-31813 and kin): the parent's unread tail, or children not yet assigned, fell between
    the enumerator's and the readers' state. Here the savepoint is taken right after the split, with
    the parent's tail unread and the children not yet discovered, and the job restored from it."""
    config, _ = local_stack
    source, sink = new_stream(kinesis, "split-sp-in", 2), new_stream(kinesis, "split-sp-out", 1)
    put_rows(kinesis, source, rows_of(400, keys=10))
    slow = {**TRIM, "source.shard.discovery.interval": "2 s", "source.shard.get-records.max-record-count": "50"}
    ordered = {**FAST_SINK, "sink.requests.max-inflight": "1"}  # the output's order is the order emitted

    def job(env, source_options):
        env.execute_sql(kinesis_table(config, "src", source, ROW, source_options))
        env.execute_sql(kinesis_table(config, "dst", sink, ROW, ordered))
        return env.execute_sql("INSERT INTO dst SELECT k, n FROM src")

    first = job(table_env(config, connector_jar, **{"execution.checkpointing.interval": "1 s"}), slow).get_job_client()
    try:
        wait_for(lambda: read_stream(kinesis, sink), 60, "the job's first output")
        put_rows(kinesis, source, rows_of(300, keys=10, start=400))  # the parent's tail, mostly unread yet
        shard = split_first_shard(kinesis, source)
        split_at = time.time()  # the split is done by now
        put_rows(kinesis, source, rows_of(100, keys=10, start=700))  # into the children
        savepoint = stop_with_savepoint(first, tmp_path / "savepoints")
    finally:
        cancel(first)
    before = len(read_stream(kinesis, sink))
    assert before < 800  # the savepoint was taken with records still to read

    put_rows(kinesis, source, rows_of(200, keys=10, start=800))
    # kinesalite dates a child shard's creation up to 1 s after the split (whole seconds) and gives the
    # records put before then that time as their arrival: plan the bounded job (its bound is "now")
    # after it, or those records count as arriving after the bound
    time.sleep(max(0.0, split_at + 1.05 - time.time()))
    job(table_env(config, connector_jar, **{"execution.state-recovery.path": savepoint}), BOUNDED).wait()

    out = read_stream(kinesis, sink)
    children = [
        s for s in kinesis.list_shards(StreamName=source)["Shards"] if s.get("ParentShardId") == shard["ShardId"]
    ]
    assert len(children) == 2
    seen = Counter(r["row"]["n"] for r in out)
    shard_of = {r["row"]["n"]: r["shard"] for r in read_stream(kinesis, source)}
    missing = Counter(shard_of[n] for n in range(1000) if n not in seen)
    doubled = Counter(shard_of[n] for n, times in seen.items() if times > 1)
    assert (missing, doubled) == (Counter(), Counter()), "records missing / doubled, by shard"  # across both runs
    assert_per_key_order(out)


def test_metadata_columns_name_each_records_shard_sequence_and_arrival(local_stack, kinesis, connector_jar, tmp_path):
    config, _ = local_stack
    source = new_stream(kinesis, "meta-in", 2)
    before = datetime.now(UTC)
    put = kinesis.put_records(
        StreamName=source,
        Records=[{"Data": json.dumps({"k": f"key{i}", "n": i}).encode(), "PartitionKey": f"key{i}"} for i in range(40)],
    )
    after = datetime.now(UTC)
    env = table_env(config, connector_jar)
    columns = (
        "k STRING, n BIGINT, arrived TIMESTAMP_LTZ(3) METADATA FROM 'timestamp' VIRTUAL, "
        "shard STRING METADATA FROM 'shard-id' VIRTUAL, seq STRING METADATA FROM 'sequence-number' VIRTUAL"
    )
    env.execute_sql(kinesis_table(config, "src", source, columns, BOUNDED))
    got = run_to_files(
        env,
        "SELECT k, n, DATE_FORMAT(arrived, 'yyyy-MM-dd HH:mm:ss.SSS') AS arrived, shard, seq FROM src",
        tmp_path / "out",
        "k STRING, n BIGINT, arrived STRING, shard STRING, seq STRING",
    )
    assert {r["n"]: (r["shard"], r["seq"]) for r in got} == {
        i: (r["ShardId"], r["SequenceNumber"]) for i, r in enumerate(put["Records"])
    }  # what Kinesis said when it took each record
    for row in got:  # the arrival time Kinesis gives, in milliseconds (CBOR would read seconds as ms)
        arrived = datetime.strptime(row["arrived"], "%Y-%m-%d %H:%M:%S.%f").replace(tzinfo=UTC)
        assert before - timedelta(seconds=2) <= arrived <= after + timedelta(seconds=2), row


BAD_TABLES = [
    # (options added to a valid table, how it is used, the message expected)
    ({"source.efo.consumer.name": "c1"}, "read", r"'source\.efo\.consumer\.name' = 'c1': it is only used with .*EFO"),
    ({"source.reader.type": "EFO"}, "read", r"'source\.efo\.consumer\.name' = '': EFO needs a consumer name"),
    ({"source.reader.type": "FANOUT"}, "read", r"'source\.reader\.type' = 'FANOUT': use POLLING or EFO"),
    (
        {"source.reader.type": "EFO", "source.efo.consumer.name": "c1", "source.efo.lifecycle": "SOMETIMES"},
        "read",
        r"'source\.efo\.lifecycle' = 'SOMETIMES': use JOB_MANAGED or SELF_MANAGED",
    ),
    ({"source.init.postion": "LATEST"}, "read", r"Unsupported options[\s\S]*source\.init\.postion"),
    ({"aws.region": "eu-west-1"}, "read", r"'stream\.arn' names region us-east-1 but 'aws\.region' is eu-west-1"),
    ({"stream.arn": "my-stream"}, "read", r"'stream\.arn' = 'my-stream' is not a Kinesis stream ARN"),
    ({"source.init.position": "EARLIEST"}, "read", r"'source\.init\.position' = 'EARLIEST': use LATEST, TRIM_HORIZON"),
    (
        {"source.init.position": "AT_TIMESTAMP", "source.init.timestamp": "yesterday"},
        "read",
        r"'source\.init\.timestamp' = 'yesterday': expected a date like",
    ),
    ({"aws.credentials.provider": "ASSUME_ROLE"}, "read", r"ASSUME_ROLE needs 'aws\.credentials\.role\.arn'"),
    ({"aws.credentials.provider": "CUSTOM"}, "read", r"custom provider classes need the official connector"),
    (
        {"aws.credentials.provider": "PROFILE"},
        "write",
        r"option 'aws\.credentials\.basic\.accesskeyid' is not used with 'aws\.credentials\.provider' = 'PROFILE'",
    ),
    ({"retry-strategy.attempts.max": "0"}, "read", r"'retry-strategy\.attempts\.max' = '0': at least 1"),
    ({"sink.batch.max-size": "501"}, "write", r"'sink\.batch\.max-size' = '501': PutRecords takes 1 to 500"),
    ({"sink.partitioner": "org.example.Mine"}, "write", r"custom partitioner classes need the official connector"),
]


@pytest.mark.parametrize(
    ("extra", "use", "message"), BAD_TABLES, ids=[f"{next(iter(e))}={next(iter(e.values()))}" for e, _, _ in BAD_TABLES]
)
def test_bad_options_fail_with_a_message_naming_them(local_stack, connector_jar, extra, use, message):
    config, _ = local_stack
    env = table_env(config, connector_jar)
    env.execute_sql(kinesis_table(config, "t", "some-stream", ROW, extra))
    with pytest.raises(Exception, match=message):
        if use == "read":
            env.sql_query("SELECT * FROM t").explain()
        else:
            env.execute_sql("INSERT INTO t VALUES ('a', 1)")


def test_stop_with_savepoint_and_restore_loses_nothing_and_counts_nothing_twice(
    local_stack, kinesis, connector_jar, tmp_path
):
    config, _ = local_stack
    source = new_stream(kinesis, "sp-in", 4)
    raw, counts = new_stream(kinesis, "sp-raw", 2), new_stream(kinesis, "sp-counts", 1)
    base = datetime(2026, 1, 1, tzinfo=UTC)
    events = [
        {
            "k": f"key{i % 8}",
            "n": i,
            "ts": (base + timedelta(milliseconds=100 * i)).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3],
        }
        for i in range(800)
    ]  # 80 s of event time; 10 s windows
    event_row = "k STRING, n BIGINT, ts TIMESTAMP(3)"
    watermark = "WATERMARK FOR ts AS ts - INTERVAL '1' SECOND"

    def job(env, source_options):
        env.execute_sql(kinesis_table(config, "src", source, event_row, source_options, watermark=watermark))
        env.execute_sql(kinesis_table(config, "passed", raw, ROW, FAST_SINK, partitioned_by="k"))
        env.execute_sql(
            kinesis_table(config, "counts", counts, "k STRING, window_start TIMESTAMP(3), c BIGINT", FAST_SINK)
        )
        statements = env.create_statement_set()
        statements.add_insert_sql("INSERT INTO passed SELECT k, n FROM src")
        statements.add_insert_sql(
            "INSERT INTO counts SELECT k, window_start, COUNT(*) "
            "FROM TABLE(TUMBLE(TABLE src, DESCRIPTOR(ts), INTERVAL '10' SECOND)) GROUP BY k, window_start, window_end"
        )
        return statements.execute()

    put_rows(kinesis, source, events[:400])
    first = job(table_env(config, connector_jar, **{"execution.checkpointing.interval": "1 s"}), TRIM).get_job_client()
    try:
        wait_for(lambda: len(read_stream(kinesis, raw)) >= 400, 90, "the first half on the raw output")
        wait_for(lambda: read_stream(kinesis, counts), 30, "the first closed windows")
        savepoint = stop_with_savepoint(first, tmp_path / "savepoints")
    finally:
        cancel(first)
    counted_before_stop = {(r["row"]["k"], r["row"]["window_start"]) for r in read_stream(kinesis, counts)}
    assert len(counted_before_stop) < 8 * 4  # window [30 s, 40 s) was still open: state carried it over

    put_rows(kinesis, source, events[400:])
    second = table_env(config, connector_jar, **{"execution.state-recovery.path": savepoint})
    job(second, BOUNDED).wait()

    passed = Counter(r["row"]["n"] for r in read_stream(kinesis, raw))
    assert passed == Counter(range(800))  # nothing lost, nothing read twice
    expected = Counter((e["k"], e["ts"][:18] + "0") for e in events)  # 10 s window start, to the second
    got = [(r["row"]["k"], r["row"]["window_start"][:19], r["row"]["c"]) for r in read_stream(kinesis, counts)]
    assert len(got) == len({(k, w) for k, w, _ in got})  # each window emitted once across both runs
    assert {(k, w): c for k, w, c in got} == {(k, w[:19]): c for (k, w), c in expected.items()}


GENERATED = (
    "CREATE TABLE numbers (n BIGINT, k AS CONCAT('key', CAST(MOD(n, 13) AS STRING)), g AS CAST(MOD(n, 3) AS INT)) "
    "WITH ('connector' = 'datagen', 'fields.n.kind' = 'sequence', 'fields.n.start' = '1', 'fields.n.end' = '{n}')"
)


def test_sink_writes_every_row_keyed_by_the_partitioned_by_columns(local_stack, kinesis, connector_jar):
    config, _ = local_stack
    stream = new_stream(kinesis, "sink", 4)
    env = table_env(config, connector_jar)
    env.execute_sql(GENERATED.format(n=2000))
    env.execute_sql(kinesis_table(config, "dst", stream, "k STRING, g INT, n BIGINT", partitioned_by="k, g"))
    env.execute_sql("INSERT INTO dst SELECT k, g, n FROM numbers").wait()

    out = read_stream(kinesis, stream)
    assert Counter(r["row"]["n"] for r in out) == Counter(range(1, 2001))
    for record in out:
        n = record["row"]["n"]
        assert record["row"] == {"k": f"key{n % 13}", "g": n % 3, "n": n}
        assert record["key"] == f"key{n % 13}|{n % 3}"  # the official connector's default delimiter
    assert len({r["shard"] for r in out}) == 4


def test_one_request_in_flight_keeps_the_rows_order_that_concurrent_requests_lose(local_stack, kinesis, connector_jar):
    config, _ = local_stack
    env = table_env(config, connector_jar)
    env.execute_sql(GENERATED.format(n=1000))
    order = {}
    for inflight in ("1", "16"):  # 16: the default, under which the slow call's rows land late (the control)
        stream = new_stream(kinesis, f"order-{inflight}", 1)
        faults = {"failing_puts": 0, "throttled_gets": 0, "expired_gets": 0}
        # calls of 10 rows; the sink allows more rows in flight with each call answered, so by the 5th call
        # several fit beside it
        with FaultyKinesis(aws.endpoint_for(config, "kinesis"), slow_put=5, **faults) as proxy:
            options = {"aws.endpoint": proxy.url, "sink.batch.max-size": "10", "sink.requests.max-inflight": inflight}
            env.execute_sql(kinesis_table(config, f"dst{inflight}", stream, "n BIGINT", options))
            env.execute_sql(f"INSERT INTO dst{inflight} SELECT n FROM numbers").wait()
        order[inflight] = [r["row"]["n"] for r in read_stream(kinesis, stream)]
        assert sorted(order[inflight]) == list(range(1, 1001))
    assert order["1"] == list(range(1, 1001))
    assert order["16"] != list(range(1, 1001))


def test_partial_put_failures_and_throttled_reads_are_retried(local_stack, kinesis, connector_jar, tmp_path):
    config, _ = local_stack
    source, sink = new_stream(kinesis, "faults-in", 2), new_stream(kinesis, "faults-out", 2)
    put_rows(kinesis, source, rows_of(1500))
    with FaultyKinesis(aws.endpoint_for(config, "kinesis")) as proxy:
        env = table_env(config, connector_jar)
        via_proxy = {"aws.endpoint": proxy.url}
        env.execute_sql(kinesis_table(config, "src", source, ROW, {**BOUNDED, **via_proxy}))
        env.execute_sql(kinesis_table(config, "dst", sink, ROW, {**via_proxy, "sink.batch.max-size": "200"}))
        env.execute_sql("INSERT INTO dst SELECT k, n FROM src").wait()
    assert proxy.failed_entries > 0 and proxy.throttled == 2 and proxy.expired == 1  # the faults happened
    assert Counter(r["row"]["n"] for r in read_stream(kinesis, sink)) == Counter(range(1500))


def test_fail_on_error_fails_the_job_naming_the_error(local_stack, kinesis, connector_jar):
    config, _ = local_stack
    sink = new_stream(kinesis, "strict", 1)
    with FaultyKinesis(aws.endpoint_for(config, "kinesis"), throttled_gets=0, expired_gets=0) as proxy:
        env = table_env(config, connector_jar, **{"restart-strategy.type": "none"})
        env.execute_sql(GENERATED.format(n=50))
        options = {"aws.endpoint": proxy.url, "sink.fail-on-error": "true"}
        env.execute_sql(kinesis_table(config, "dst", sink, "k STRING, n BIGINT", options))
        with pytest.raises(Exception) as failure:
            env.execute_sql("INSERT INTO dst SELECT k, n FROM numbers").wait()
    assert "sink.fail-on-error is true" in str(failure.value)
    assert "ProvisionedThroughputExceededException" in str(failure.value)


def stamp(second: int) -> str:
    """The event time ``second`` seconds after 2026-01-01 00:00:00, as the windowed tests' rows carry it."""
    return (datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=second)).strftime("%Y-%m-%d %H:%M:%S.000")


def count_ten_second_windows(env, config, source: str, sink: str, options: dict):
    """Start a job counting the rows of ``source`` (k, n, ts; watermark ts − 1 s) in 10 s event-time windows into
    ``sink``; returns its JobClient."""
    env.execute_sql(
        kinesis_table(
            config,
            "src",
            source,
            "k STRING, n BIGINT, ts TIMESTAMP(3)",
            options,
            watermark="WATERMARK FOR ts AS ts - INTERVAL '1' SECOND",
        )
    )
    env.execute_sql(kinesis_table(config, "dst", sink, "window_start TIMESTAMP(3), c BIGINT", FAST_SINK))
    return env.execute_sql(
        "INSERT INTO dst SELECT window_start, COUNT(*) "
        "FROM TABLE(TUMBLE(TABLE src, DESCRIPTOR(ts), INTERVAL '10' SECOND)) GROUP BY window_start, window_end"
    ).get_job_client()


def test_an_idle_shard_does_not_hold_the_watermark_back(local_stack, kinesis, connector_jar):
    config, _ = local_stack
    source, sink = new_stream(kinesis, "idle-in", 4), new_stream(kinesis, "idle-out", 1)
    put_rows(kinesis, source, [{"k": "only", "n": i, "ts": stamp(i)} for i in range(30)])  # one key: one shard

    # Flink's time-based idleness off: only the connector can say that the three empty shards are idle.
    env = table_env(config, connector_jar, **{"parallelism.default": "2", "table.exec.source.idle-timeout": "0 ms"})
    job = count_ten_second_windows(env, config, source, sink, TRIM)
    try:
        # The job never ends (unbounded) and three of the four shards stay empty: windows can only
        # close if the reader marks those shards idle because they are caught up (ShardIdleness).
        out = wait_for(lambda: len(o := read_stream(kinesis, sink)) >= 2 and o, 60, "two closed windows")
    finally:
        cancel(job)
    assert sorted((r["row"]["window_start"][:19], r["row"]["c"]) for r in out) == [
        ("2026-01-01 00:00:00", 10),
        ("2026-01-01 00:00:10", 10),
    ]


def key_on_shard(shard: int, shards: int = 2) -> str:
    """A partition key whose records go to the ``shard``-th of ``shards`` evenly split shards (MD5 of the key)."""
    import hashlib

    width = 2**128 // shards
    return next(
        key for n in range(10_000) if int(hashlib.md5((key := f"key{n}").encode()).hexdigest(), 16) // width == shard
    )


def test_a_caught_up_shard_that_stops_answering_holds_the_watermark_again(local_stack, kinesis, connector_jar):
    """A shard that answered "caught up" and then goes unanswered (throttled here; a stalled task does the same:
    measured in CI, a 25 s stall behind S3 made 886 events late) must not stay idle: records reach it meanwhile,
    and another shard's records would move the watermark past them. Its caught-up answer holds for its poll
    interval and 2 s; then it holds the watermark at its last records' until it answers."""
    config, _ = local_stack
    source, sink = new_stream(kinesis, "stale-in", 2), new_stream(kinesis, "stale-out", 1)
    first, second = key_on_shard(0), key_on_shard(1)
    put_rows(kinesis, source, [{"k": key, "n": i, "ts": stamp(i)} for key in (first, second) for i in range(5)])
    with FaultyKinesis(aws.endpoint_for(config, "kinesis"), throttled_gets=0, expired_gets=0) as proxy:
        env = table_env(config, connector_jar, **{"table.exec.source.idle-timeout": "0 ms"})
        options = {**TRIM, "aws.endpoint": proxy.url, "source.reader.empty-records-fetch-interval": "200 ms"}
        job = count_ten_second_windows(env, config, source, sink, options)
        try:
            # both shards read to their tip (each answered at least twice: its records, then caught up)
            wait_for(lambda: proxy.gets >= 12, 90, "the reader polling both shards")
            time.sleep(1)
            proxy.stalled = "shardId-000000000001"
            put_rows(kinesis, source, [{"k": second, "n": i, "ts": stamp(i)} for i in range(10, 15)])
            time.sleep(4)  # the second shard's last answer (caught up) is now older than 200 ms + 2 s
            put_rows(kinesis, source, [{"k": first, "n": i, "ts": stamp(i)} for i in range(10, 40)])
            wait_for(lambda: proxy.stalled_gets >= 3, 30, "GetRecords on the second shard throttled")
            time.sleep(3)  # the first shard's records read: they would have closed [0, 30) on their own
            proxy.stalled = None
            out = wait_for(lambda: len(o := read_stream(kinesis, sink)) >= 3 and o, 60, "three closed windows")
        finally:
            cancel(job)
    assert sorted((r["row"]["window_start"][:19], r["row"]["c"]) for r in out) == [
        ("2026-01-01 00:00:00", 10),
        ("2026-01-01 00:00:10", 15),  # the first shard's 10 and the second's 5, read after it answered again
        ("2026-01-01 00:00:20", 10),
    ]


def test_kinesis_refusing_connections_for_30_s_is_waited_out_with_nothing_lost(local_stack, kinesis, connector_jar):
    """The endpoint goes away for 30 s mid-run (connections refused, those open cut): the reader, the
    sink and shard discovery wait and resume — no failure, no restart (which would read the stream
    again from its start: duplicates) — and the time without an answer is logged."""
    config, _ = local_stack
    source, sink = new_stream(kinesis, "outage-in", 2), new_stream(kinesis, "outage-out", 1)
    put_rows(kinesis, source, rows_of(300))
    with Outage(aws.endpoint_for(config, "kinesis")) as outage:
        via = {"aws.endpoint": outage.url}
        env = table_env(config, connector_jar)
        discovery = {"source.shard.discovery.interval": "1 s"}
        env.execute_sql(kinesis_table(config, "src", source, ROW, {**TRIM, **via, **discovery}))
        env.execute_sql(kinesis_table(config, "dst", sink, ROW, {**FAST_SINK, **via}))
        job = env.execute_sql("INSERT INTO dst SELECT k, n FROM src").get_job_client()
        try:
            wait_for(lambda: len(read_stream(kinesis, sink)) >= 300, 60, "the first 300 records on the output")
            put_rows(kinesis, source, rows_of(300, start=300))  # some read before the outage, some after
            outage.down()
            time.sleep(30)
            during = job.get_job_status().result().name
            outage.up()
            wait_for(lambda: len(read_stream(kinesis, sink)) >= 600, 120, "600 records on the output")
            time.sleep(1.5)
            out = read_stream(kinesis, sink)
            after = job.get_job_status().result().name
        finally:
            cancel(job)
    assert (during, after) == ("RUNNING", "RUNNING")
    assert Counter(r["row"]["n"] for r in out) == Counter(range(600))  # every record once: nothing lost or replayed
    said = [line for line in flink_log_lines(source) if "without an answer from Kinesis" in line]
    assert said, "the reader did not log its time without an answer"
    blind = max(int(m.group(1)) for line in said if (m := re.search(r"after (\d+) ms", line)))
    assert blind >= 25_000, said  # the outage's 30 s, less the backoff that was still running
