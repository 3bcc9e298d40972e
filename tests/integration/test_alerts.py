"""Alerts end to end on the local stack: a generated sample with bots and spikes goes through the
streaming job; `clickflow alerts run` turns its anomalies stream into exactly one DynamoDB item and
one SNS message per distinct anomaly at or above the severity threshold, rate limited per entity —
and nothing more when the anomalies stream is replayed twice. The expected set is worked out here
from the anomaly rows read back with boto3, with this test's own severity and rate-limit rules."""

from __future__ import annotations

import json
import re
import uuid
from collections import Counter
from datetime import datetime

import pytest

from connectors import aws
from connectors.config import load_config
from connectors.local_stack.stack import state_dir
from jobs import stream
from jobs.analytics import ANALYTICS
from producer.generate import GenerateOptions, write_generated
from tests.conftest import run_cli
from tests.kinesis_helpers import read_stream

pytestmark = pytest.mark.integration

BOT_WARNING, SPIKE_WARNING, PER_ENTITY = 3.0, 3.0, 2  # per hour of event time


def expected_notifications(rows: list[dict]) -> tuple[set, set, int]:
    """(notified keys, suppressed keys, below-threshold anomalies) by the rules as documented, the rows taken in
    the order `alerts run` reads them: the stream's (one shard). The job's sink may write an entity's windows
    out of their time order (several PutRecords in flight), and the rate limit lets through the first that
    come of each hour, not the earliest windows."""
    notified, suppressed, seen, below = set(), set(), set(), 0
    sent = Counter()
    for row in rows:
        key = (row["anomaly_type"], row["entity"], row["window_start"])
        if key in seen:  # a duplicate record (at-least-once)
            continue
        seen.add(key)
        if row["score"] < (BOT_WARNING if key[0] == "bot_burst" else SPIKE_WARNING):
            below += 1
            continue
        hour = (key[0], key[1], datetime.fromisoformat(key[2]).strftime("%Y-%m-%d %H"))
        (notified if sent[hour] < PER_ENTITY else suppressed).add(key)
        sent[hour] += 1
    return notified, suppressed, below


def summary_count(output: str, label: str) -> int:
    return int(re.search(rf"^{label}:\s+([\d,]+)", output, re.M).group(1).replace(",", ""))


def test_alerts_from_the_job_once_per_anomaly_even_when_the_stream_is_replayed(local_stack, tmp_path):
    _, stack_overrides = local_stack
    suffix = uuid.uuid4().hex[:6]
    overrides = [
        *stack_overrides,
        f"streams.events.name=events-{suffix}",
        "streams.events.shards=4",
        *(f"streams.{role}.name={role.replace('_', '-')}-{suffix}" for role in (*ANALYTICS, "dead_letters")),
        f"job.archive={tmp_path / 'archive'}",
        f"job.checkpoint_dir={tmp_path / 'checkpoints'}",
        "job.rest_port=0",
        f"alerts.table=anomalies-{suffix}",
        f"alerts.topic=alerts-{suffix}",
        f"alerts.severity.bot_burst.warning={BOT_WARNING}",
        f"alerts.severity.traffic_spike.warning={SPIKE_WARNING}",
        f"alerts.rate_limit.max_per_entity={PER_ENTITY}",
        "alerts.batch_size=4",  # several batches per shard, so resuming is exercised too
    ]
    config = load_config("local", overrides=overrides)
    run_cli("stack", "up", overrides=overrides)
    sample = tmp_path / "sample.csv"
    write_generated(GenerateOptions(events=12000, rate=20, seed=7, bots=3, spikes=1), sample)
    run_cli("replay", str(sample), "--quiet", overrides=overrides)
    stream.start(config, stream.RunOptions(bounded=True)).wait()

    kinesis, sns, sqs = (aws.client(config, name) for name in ("kinesis", "sns", "sqs"))
    anomalies_stream = config.output_stream("anomalies").name
    rows = [r["row"] for r in read_stream(kinesis, anomalies_stream)]
    notified, suppressed, below = expected_notifications(rows)
    assert notified and suppressed and below, "the sample must exercise every rule"

    # a subscriber of the topic, as a user's mail would be
    topic = sns.create_topic(Name=config.alerts.topic)["TopicArn"]
    queue = sqs.create_queue(QueueName=f"inbox-{suffix}")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)

    first = run_cli("alerts", "run", "--idle-exit", "3", overrides=overrides)
    assert summary_count(first.stdout, "notified") == len(notified)
    assert summary_count(first.stdout, "rate limited") == len(suppressed)
    assert summary_count(first.stdout, "below threshold") == below

    def received() -> list[dict]:
        out = []
        while got := sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages"):
            for message in got:
                out.append(json.loads(message["Body"]))
                sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
        return out

    messages = received()
    got = Counter(
        (
            m["MessageAttributes"]["anomaly_type"]["Value"],
            m["MessageAttributes"]["entity"]["Value"],
            re.search(r"at (\S+ \S+)$", m["Subject"]).group(1),
        )
        for m in messages
    )
    assert got == Counter(notified)  # one message per notified anomaly, none twice

    dynamodb = aws.client(config, "dynamodb")
    items = dynamodb.scan(TableName=config.alerts.table)["Items"]
    stored = Counter(
        (i["anomaly_type"]["S"], i["entity"]["S"], i["window_start"]["S"], i["status"]["S"])
        for i in items
        if not i["pk"]["S"].startswith("rate#")
    )
    assert stored == Counter([(*k, "notified") for k in notified] + [(*k, "suppressed") for k in suppressed])

    # the anomalies stream replayed twice (what an at-least-once sink or a re-run can do)
    records = read_stream(kinesis, anomalies_stream)
    for _ in range(2):
        kinesis.put_records(
            StreamName=anomalies_stream,
            Records=[{"Data": json.dumps(r["row"]).encode(), "PartitionKey": r["key"]} for r in records],
        )
    # ... and one record that is no anomaly: retried alerts.max_retries times, then set aside
    kinesis.put_record(StreamName=anomalies_stream, Data=b"<not an anomaly>", PartitionKey="junk")
    # the records set aside go to the stack's state directory, which other tests of this worker's session share
    failed = state_dir(config) / "alerts" / "failed.jsonl"
    set_aside_before = len(failed.read_text().splitlines()) if failed.is_file() else 0
    again = run_cli("alerts", "run", "--idle-exit", "3", overrides=overrides)
    assert "resuming from" in again.stdout
    assert summary_count(again.stdout, "records read") == 2 * len(records) + 1  # only the new ones
    assert summary_count(again.stdout, "set aside") == 1
    assert summary_count(again.stdout, "malformed") == 1 + config.alerts.max_retries
    (set_aside,) = [json.loads(line) for line in failed.read_text().splitlines()[set_aside_before:]]
    assert set_aside["data"] == "<not an anomaly>" and set_aside["reason"].startswith("malformed: not JSON")
    assert summary_count(again.stdout, "notified") == 0
    assert summary_count(again.stdout, "duplicates") == 2 * (len(notified) + len(suppressed))
    assert received() == []
    assert len(dynamodb.scan(TableName=config.alerts.table)["Items"]) == len(items)
