"""One rule for a valid event (sql/valid_event.json), held together across its readers on generated
valid, borderline and hostile records: the Java reading in Flink (CHECK_EVENT, EVENT_TIME) gives the
Python reading's verdict and reason for every record; the streaming job counts every valid event
once and dead-letters every other record once, with that reason; `analyze` over the same records
as JSON lines counts and rejects exactly the same."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from datetime import datetime

import pytest
from hypothesis import HealthCheck, Phase, assume, given, settings
from hypothesis import strategies as st

from connectors import aws
from connectors.config import load_config
from jobs import analytics, stream
from jobs.analyze import analyze, read_output
from producer import valid_event
from tests.event_strategies import payloads, records_in_time
from tests.kinesis_helpers import read_stream

pytestmark = pytest.mark.integration

# Each example is a Flink job: no shrinking (a failure names the record), no time limit
SLOW = [
    HealthCheck.function_scoped_fixture,
    HealthCheck.too_slow,
    HealthCheck.data_too_large,
    HealthCheck.large_base_example,
]
EPOCH = datetime(1970, 1, 1)


@pytest.fixture(scope="module")
def flink(local_stack):
    from connectors.kinesis_connector import build_udfs

    config, _ = local_stack
    env = analytics.create_table_env(config, [build_udfs()], batch=True)
    for statement in analytics.statements(analytics.events_sql(config, {"connector": "datagen"})):
        if "CREATE TEMPORARY FUNCTION" in statement:
            env.execute_sql(statement)
    return env


@given(st.lists(payloads(), min_size=60, max_size=60))
@settings(max_examples=12, deadline=None, suppress_health_check=SLOW, phases=[Phase.explicit, Phase.generate])
def test_flink_reads_the_rule_as_python_does(flink, batch):
    from pyflink.table import DataTypes

    schema = DataTypes.ROW([DataTypes.FIELD("i", DataTypes.INT()), DataTypes.FIELD("payload", DataTypes.BYTES())])
    name = f"batch_{uuid.uuid4().hex[:8]}"
    flink.create_temporary_view(name, flink.from_elements([(i, bytearray(p)) for i, p in enumerate(batch)], schema))
    try:
        query = (
            f"SELECT i, CHECK_EVENT(payload).reason, EVENT_TIME(payload), CHECK_EVENT(payload).product_id, "
            f"CHECK_EVENT(payload).price, CHECK_EVENT(payload).brand "
            f"FROM (SELECT i, CAST(payload AS BYTES) AS payload FROM {name})"
        )
        with flink.execute_sql(query).collect() as rows:
            got = {row[0]: tuple(row[1:]) for row in rows}
    finally:
        flink.drop_temporary_view(name)
    assert sorted(got) == list(range(len(batch)))
    for i, payload in enumerate(batch):
        verdict = valid_event.check(payload)
        reason, event_time, product_id, price, brand = got[i]
        assert reason == verdict.reason, payload
        if verdict.valid:
            record = verdict.record
            assert event_time == verdict.event_time
            assert (product_id, price, brand) == (record["product_id"], float(record["price"]), record.get("brand"))
        else:
            assert event_time == EPOCH  # what is not a valid event does not move the watermark


@given(st.lists(payloads(), min_size=120, max_size=120))
@settings(max_examples=1, deadline=None, suppress_health_check=SLOW, phases=[Phase.generate], database=None)
def test_the_job_and_analyze_count_or_dead_letter_every_record_once(local_stack, tmp_path_factory, sample):
    # a sample worth a job: valid events and many different faults (not Hypothesis's simplest one)
    assume(sum(valid_event.check(p).valid for p in sample) >= 20)
    assume(len({valid_event.check(p).reason for p in sample}) >= 8)
    _, overrides = local_stack
    tmp_path = tmp_path_factory.mktemp("valid-event")
    suffix = uuid.uuid4().hex[:6]
    names = [f"streams.events.name=events-{suffix}", "streams.events.shards=1"]
    names += [f"streams.{r}.name={r.replace('_', '-')}-{suffix}" for r in (*analytics.ANALYTICS, "dead_letters")]
    extra = [*names, f"job.archive={tmp_path / 'archive'}", f"job.checkpoint_dir={tmp_path / 'ck'}", "job.rest_port=0"]
    config = load_config("local", overrides=[*overrides, *extra])
    from connectors.local_stack.stack import ensure_resources

    ensure_resources(config)
    sample = records_in_time(sample)  # the valid events in order: none is late
    verdicts = [valid_event.check(p) for p in sample]
    valid = [v.record for v in verdicts if v.valid]
    invalid = Counter(
        (p.decode("utf-8", "replace"), v.reason) for p, v in zip(sample, verdicts, strict=True) if not v.valid
    )

    kinesis = aws.client(config, "kinesis")
    for start in range(0, len(sample), 100):  # one shard, one key: the stream keeps the list's order
        chunk = sample[start : start + 100]
        answer = kinesis.put_records(
            StreamName=config.stream("events").name, Records=[{"Data": p, "PartitionKey": "k"} for p in chunk]
        )
        assert answer["FailedRecordCount"] == 0
    stream.start(config, stream.RunOptions(bounded=True)).wait()

    def key(row: dict) -> tuple:
        return (row["event_type"], row["product_id"], row["user_id"], row["category_id"])

    archived = read_output(tmp_path / "archive", "events")
    assert Counter(map(key, archived)) == Counter(map(key, valid)), "each valid event counted once"
    dead = [r["row"] for r in read_stream(kinesis, config.output_stream("dead_letters").name)]
    assert not [d for d in dead if d["reason"].startswith("late for ")]
    assert Counter((d["payload"], d["reason"]) for d in dead) == invalid, "every other record dead-lettered once"

    # analyze over the same records as JSON lines (a line is a record: blank lines are no records there)
    lines = [p for p in sample if p.strip() and b"\n" not in p and b"\r" not in p]
    source = tmp_path / "sample.jsonl"
    source.write_bytes(b"".join(p + b"\n" for p in lines))
    summary = analyze(config, str(source), tmp_path / "analyzed")
    expected_valid = [valid_event.check(p) for p in lines]
    assert summary.events == sum(v.valid for v in expected_valid)
    assert summary.rows_rejected == sum(not v.valid for v in expected_valid)
    rejects = [json.loads(line) for line in (tmp_path / "analyzed" / "_rejects.jsonl").read_text().splitlines()]
    assert Counter(r["reason"] for r in rejects) == Counter(v.reason for v in expected_valid if not v.valid)
