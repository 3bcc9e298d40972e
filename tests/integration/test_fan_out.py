"""Enhanced fan-out (``source.reader.type = EFO``): clickflow's connector subscribing to shards, in real
PyFlink jobs against kinesis-mock (npm ``kinesis-local``), the local Kinesis that speaks SubscribeToShard.

kinesis-mock is started for this module only, through the same stack supervisor as kinesalite (loopback,
stopped after). What goes into a stream is written, and what comes out is read, with plain boto3 — never
through the connector under test — and compared record by record.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter

import pytest

from connectors import aws
from connectors.config import load_config
from connectors.kinesis_connector import build
from connectors.local_stack import stack
from jobs import stream
from jobs.analytics import ANALYTICS
from jobs.analyze import read_output
from producer.generate import GenerateOptions, write_generated
from tests.conftest import private_stack, run_cli
from tests.event_stream_shim import EventStreamShim
from tests.integration.test_kinesis_connector import BOUNDED, FAST_SINK, ROW, TRIM, rows_of, run_to_files, table_env
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
    wait_for,
)
from tests.listening import listeners
from tests.outage import Outage

pytestmark = pytest.mark.integration


def efo(consumer: str, **more: str) -> dict[str, str]:
    return {"source.reader.type": "EFO", "source.efo.consumer.name": consumer, **more}


@pytest.fixture(scope="module")
def mock_stack(tmp_path_factory):
    """A local stack whose Kinesis is kinesis-mock; yields (config, overrides). Always stopped."""
    yield from private_stack(
        tmp_path_factory.mktemp("efo-stack"),
        "stack.kinesis_server=kinesis-mock",
        what="the local stack with kinesis-mock",
    )


@pytest.fixture(scope="module")
def connector_jar():
    return build()


@pytest.fixture
def kinesis(mock_stack):
    return aws.client(mock_stack[0], "kinesis")


def boto3_client(config, endpoint: str):
    """A Kinesis client of the profile at ``endpoint`` (the shim in front of kinesis-mock)."""
    from dataclasses import replace

    return aws.client(
        replace(config, aws=replace(config.aws, endpoints={**config.aws.endpoints, "kinesis": endpoint})), "kinesis"
    )


def consumers(kinesis, name: str) -> list[str]:
    """The stream's registered consumers (one being deleted is deregistered already)."""
    arn = kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]["StreamARN"]
    listed = kinesis.list_stream_consumers(StreamARN=arn)["Consumers"]
    return [c["ConsumerName"] for c in listed if c["ConsumerStatus"] != "DELETING"]


def test_kinesis_mock_listens_on_loopback_only(mock_stack):
    """kinesis-mock binds every interface on its own, its TLS port too: the launcher pins them to 127.0.0.1."""
    config, _ = mock_stack
    (kinesis,) = [s for s in stack.status(config) if s.service.name == "kinesis"]
    assert kinesis.running and kinesis.answering and kinesis.service.label == "Kinesis (kinesis-mock)"
    # from the kernel's tables; a socket the server closes meanwhile (a connection's fd) is passed over
    listening = listeners({kinesis.pid})
    assert len(listening) == 2, listening  # the plain port and the TLS one
    assert {item.port for item in listening} >= {kinesis.service.port}
    assert all(item.address == "127.0.0.1" for item in listening), listening


def test_every_record_once_over_four_shards_and_the_job_managed_consumer_deregistered(
    mock_stack, kinesis, connector_jar, tmp_path
):
    config, _ = mock_stack
    source = new_stream(kinesis, "efo-in", 4)
    put_rows(kinesis, source, rows_of(1200, keys=40))
    assert len({r["shard"] for r in read_stream(kinesis, source)}) == 4  # every shard has records

    env = table_env(config, connector_jar)
    env.execute_sql(kinesis_table(config, "src", source, ROW, {**BOUNDED, **efo("efo-every")}))
    rows = run_to_files(env, "SELECT k, n FROM src", tmp_path / "out")

    assert Counter(r["n"] for r in rows) == Counter(range(1200))
    assert consumers(kinesis, source) == []  # registered by the job, deregistered at its end


def test_a_self_managed_consumer_is_used_as_found_and_left_registered(mock_stack, kinesis, connector_jar, tmp_path):
    config, _ = mock_stack
    source = new_stream(kinesis, "efo-self", 2)
    arn = kinesis.describe_stream_summary(StreamName=source)["StreamDescriptionSummary"]["StreamARN"]
    put_rows(kinesis, source, rows_of(300))
    env = table_env(config, connector_jar)
    missing = efo("nobody", **{"source.efo.lifecycle": "SELF_MANAGED"})
    missing["source.efo.describe.retry-strategy.attempts.max"] = "2"
    missing["source.efo.describe.retry-strategy.delay.min"] = "100 ms"
    missing["source.efo.describe.retry-strategy.delay.max"] = "200 ms"
    env.execute_sql(kinesis_table(config, "src", source, ROW, {**BOUNDED, **missing}))
    with pytest.raises(Exception, match=r"stream consumer nobody of .* is not ACTIVE after 2 DescribeStreamConsumer"):
        run_to_files(env, "SELECT k, n FROM src", tmp_path / "none")

    kinesis.register_stream_consumer(StreamARN=arn, ConsumerName="mine")
    env = table_env(config, connector_jar)
    env.execute_sql(
        kinesis_table(
            config, "src", source, ROW, {**BOUNDED, **efo("mine", **{"source.efo.lifecycle": "SELF_MANAGED"})}
        )
    )
    rows = run_to_files(env, "SELECT k, n FROM src", tmp_path / "out")
    assert Counter(r["n"] for r in rows) == Counter(range(300))
    assert consumers(kinesis, source) == ["mine"]  # the job neither registered nor deregistered it


def test_reshard_while_subscribed_keeps_every_record_once_and_per_key_order(mock_stack, kinesis, connector_jar):
    config, _ = mock_stack
    source, sink = new_stream(kinesis, "efo-reshard-in", 2), new_stream(kinesis, "efo-reshard-out", 1)
    put_rows(kinesis, source, rows_of(400, keys=10))

    env = table_env(config, connector_jar)
    options = {**TRIM, **efo("efo-reshard"), "source.shard.discovery.interval": "500 ms"}
    env.execute_sql(kinesis_table(config, "src", source, ROW, options))
    # one shard and one request in flight: the output's order is the order the job emitted
    env.execute_sql(kinesis_table(config, "dst", sink, ROW, {**FAST_SINK, "sink.requests.max-inflight": "1"}))
    job = env.execute_sql("INSERT INTO dst SELECT k, n FROM src").get_job_client()
    try:
        wait_for(lambda: read_stream(kinesis, sink), 90, "the job's first output")
        put_rows(kinesis, source, rows_of(300, keys=10, start=400))  # some of these the job has not read yet
        shard = split_first_shard(kinesis, source)
        put_rows(kinesis, source, rows_of(300, keys=10, start=700))  # into the two children
        wait_for(lambda: len(read_stream(kinesis, sink)) >= 1000, 120, "1000 records on the output")
        time.sleep(1.5)
        out = read_stream(kinesis, sink)
    finally:
        cancel(job)

    children = [
        s for s in kinesis.list_shards(StreamName=source)["Shards"] if s.get("ParentShardId") == shard["ShardId"]
    ]
    assert len(children) == 2
    child_records = sum(1 for r in read_stream(kinesis, source) if r["shard"] in {c["ShardId"] for c in children})
    assert child_records > 0  # the split really sent records through the children
    assert Counter(r["row"]["n"] for r in out) == Counter(range(1000))  # every record once
    assert_per_key_order(out)


def test_a_subscription_cut_mid_stream_is_resumed_with_nothing_lost_or_repeated(mock_stack, kinesis, connector_jar):
    """The job subscribes through a loopback proxy that cuts every connection it carries (and refuses new
    ones for a second): each shard's subscription fails and is renewed after the last record handed over."""
    config, _ = mock_stack
    source, sink = new_stream(kinesis, "efo-cut-in", 4), new_stream(kinesis, "efo-cut-out", 1)
    put_rows(kinesis, source, rows_of(400, keys=20))
    with Outage(aws.endpoint_for(config, "kinesis")) as proxy:
        env = table_env(config, connector_jar, **{"execution.checkpointing.interval": "1 s"})
        options = {**TRIM, **efo("efo-cut"), "aws.endpoint": proxy.url}
        env.execute_sql(kinesis_table(config, "src", source, ROW, options))
        env.execute_sql(kinesis_table(config, "dst", sink, ROW, FAST_SINK))  # straight to kinesis-mock
        job = env.execute_sql("INSERT INTO dst SELECT k, n FROM src").get_job_client()
        try:
            wait_for(lambda: len(read_stream(kinesis, sink)) >= 400, 90, "the first 400 records on the output")
            proxy.down(reset=True)  # every subscription cut mid-stream, as a broken network cuts it
            put_rows(kinesis, source, rows_of(200, keys=20, start=400))  # arrive while nothing is subscribed
            time.sleep(1.0)
            proxy.up()
            put_rows(kinesis, source, rows_of(200, keys=20, start=600))
            try:
                wait_for(lambda: len(read_stream(kinesis, sink)) >= 800, 120, "800 records on the output")
            except AssertionError as exc:  # what the reader said of its subscriptions, to tell why
                said = "\n".join(flink_log_lines("FanOutReader")[-40:])
                status = job.get_job_status().result().name
                raise AssertionError(f"{exc}; the job is {status}; the reader said:\n{said}") from None
            time.sleep(2.0)  # anything read twice would have come by now
            out = read_stream(kinesis, sink)
            status = job.get_job_status().result().name
            cuts = proxy.outages
        finally:
            cancel(job)
    assert cuts == 1
    assert status == "RUNNING"  # renewed by the reader: the job itself never failed over
    assert Counter(r["row"]["n"] for r in out) == Counter(range(800))


def test_stop_with_savepoint_and_restore_lose_nothing_and_read_nothing_twice(
    mock_stack, kinesis, connector_jar, tmp_path
):
    config, _ = mock_stack
    source, sink = new_stream(kinesis, "efo-sp-in", 4), new_stream(kinesis, "efo-sp-out", 2)
    consumer = efo("efo-sp")

    def job(env, source_options):
        env.execute_sql(kinesis_table(config, "src", source, ROW, {**source_options, **consumer}))
        env.execute_sql(kinesis_table(config, "dst", sink, ROW, FAST_SINK, partitioned_by="k"))
        return env.execute_sql("INSERT INTO dst SELECT k, n FROM src")

    put_rows(kinesis, source, rows_of(500, keys=20))
    first = job(table_env(config, connector_jar, **{"execution.checkpointing.interval": "1 s"}), TRIM).get_job_client()
    try:
        wait_for(lambda: len(read_stream(kinesis, sink)) >= 500, 90, "the first 500 records on the output")
        assert consumers(kinesis, source) == ["efo-sp"]
        savepoint = stop_with_savepoint(first, tmp_path / "savepoints")
    finally:
        cancel(first)
    wait_for(lambda: consumers(kinesis, source) == [], 20, "the consumer deregistered by the stop")

    put_rows(kinesis, source, rows_of(500, keys=20, start=500))
    job(table_env(config, connector_jar, **{"execution.state-recovery.path": savepoint}), BOUNDED).wait()

    assert Counter(r["row"]["n"] for r in read_stream(kinesis, sink)) == Counter(range(1000))
    assert consumers(kinesis, source) == []


def test_the_streaming_job_reading_by_efo_equals_the_polling_job(mock_stack, tmp_path):
    """`clickflow run` with job.reader: efo, against the same events as with polling: every output stream
    and the archive row for row the same."""
    _, base = mock_stack
    suffix = uuid.uuid4().hex[:6]
    sample = tmp_path / "sample.csv"
    write_generated(GenerateOptions(events=15000, seed=5, bots=1, spikes=1, abandoned=2), sample)
    events = [f"streams.events.name=efo-events-{suffix}", "streams.events.shards=4"]

    def profile(reader: str) -> list[str]:
        outputs = [f"streams.{r}.name={r.replace('_', '-')}-{reader}-{suffix}" for r in (*ANALYTICS, "dead_letters")]
        return [
            *base,
            *events,
            *outputs,
            f"job.reader={reader}",
            f"job.efo_consumer=clickflow-{suffix}",
            f"job.archive={tmp_path / reader / 'archive'}",
            f"job.checkpoint_dir={tmp_path / reader / 'checkpoints'}",
        ]

    run_cli("stack", "up", overrides=profile("polling"))
    run_cli("stack", "up", overrides=profile("efo"))
    run_cli("replay", str(sample), "--quiet", overrides=profile("polling"), timeout=300)
    results = {}
    for reader in ("polling", "efo"):
        config = load_config("local", overrides=profile(reader))
        stream.start(config, stream.RunOptions(bounded=True)).wait()
        kinesis = aws.client(config, "kinesis")
        results[reader] = {
            name: sorted(str(sorted(r["row"].items())) for r in read_stream(kinesis, config.output_stream(name).name))
            for name in ANALYTICS
        }
        results[reader]["archived events"] = len(read_output(tmp_path / reader / "archive", "events"))
    assert results["efo"] == results["polling"]
    assert all(results["polling"][name] for name in ANALYTICS), "the sample should give every analytic rows"
    assert results["polling"]["archived events"] == 15000
    assert consumers(aws.client(config, "kinesis"), config.stream("events").name) == []


# --------------------------------------------------------------------------- the Python readers
# boto3 reads SubscribeToShard through EventStreamShim: botocore needs the initial-response message
# real Kinesis sends first, which kinesis-mock leaves out (tests/event_stream_shim.py).


def test_the_dashboard_follows_a_stream_by_enhanced_fan_out_across_a_reshard_and_deregisters(mock_stack):
    from clickflow.dashboard.reader import StreamFollower
    from clickflow.dashboard.state import DashboardState
    from tests.integration.test_dashboard import put, visitors

    config, _ = mock_stack
    kinesis = aws.client(config, "kinesis")
    name = new_stream(kinesis, "efo-dash", 2)
    put(kinesis, name, [visitors(n, 100 + n) for n in range(5)])
    state, stop = DashboardState(config.profile), threading.Event()
    state.watch("unique_visitors", name)
    with EventStreamShim(aws.endpoint_for(config, "kinesis")) as shim:
        client = lambda: boto3_client(config, shim.url)  # noqa: E731
        follower = StreamFollower("unique_visitors", name, state, client, "trim_horizon", stop, consumer="dash")
        follower.start()
        try:
            wait_for(lambda: len(state.snapshot()["visitors"]) == 5, 30, "the first 5 windows on the dashboard")
            assert consumers(kinesis, name) == ["dash"]
            split_first_shard(kinesis, name)
            put(kinesis, name, [visitors(n, 100 + n) for n in range(5, 30)])  # parent closed: into the children
            wait_for(lambda: len(state.snapshot()["visitors"]) == 30, 60, "all 30 windows on the dashboard")
        finally:
            stop.set()
            follower.join(15)
    assert not follower.is_alive()
    assert shim.subscriptions >= 4  # the two first shards and the two children, each subscribed
    assert [v["users"] for v in state.snapshot()["visitors"]] == [100 + n for n in range(30)]
    assert state.snapshot()["rows"] == 30  # every row once
    assert consumers(kinesis, name) == []  # deregistered when the dashboard stopped


def test_alerts_run_by_enhanced_fan_out_hands_every_anomaly_over_once(mock_stack, tmp_path):
    from clickflow.alerts import local
    from tests.integration.test_dashboard import anomaly

    config, overrides = mock_stack
    suffix = uuid.uuid4().hex[:6]
    kinesis = aws.client(config, "kinesis")
    name = new_stream(kinesis, "efo-anomalies", 2)
    rows = [anomaly(f"user{i}", i % 50, 9.0 + i % 3) for i in range(40)]
    put_rows(kinesis, name, rows, key="entity")
    with EventStreamShim(aws.endpoint_for(config, "kinesis")) as shim:
        sets = [
            *overrides,
            f"aws.endpoints.kinesis={shim.url}",
            f"streams.anomalies.name={name}",
            "alerts.reader=efo",
            f"alerts.efo_consumer=alerts-{suffix}",
            f"alerts.table=efo-anomalies-{suffix}",
            f"alerts.topic=efo-alerts-{suffix}",
            f"stack.state_dir={tmp_path / 'state'}",
        ]
        said: list[str] = []
        summary = local.run(
            load_config("local", overrides=sets), local.RunOptions(idle_exit=3.0, start="trim_horizon"), say=said.append
        )
        assert shim.subscriptions >= 2
    assert summary.records == 40  # every anomaly handed to the handler once
    assert any("reading by enhanced fan-out: stream consumer alerts-" in line for line in said)
    items = aws.client(config, "dynamodb").scan(TableName=f"efo-anomalies-{suffix}")["Items"]
    assert {i["entity"]["S"] for i in items if "entity" in i} == {r["entity"] for r in rows}
    assert consumers(kinesis, name) == []
