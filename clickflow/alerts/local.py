"""The alert handler without Lambda: ``clickflow alerts run`` polls the anomalies stream and feeds the
handler the same events Lambda's Kinesis event source would, and ``clickflow alerts tail`` prints
what a subscriber of the topic receives. Both work against the local stack (moto serves DynamoDB,
SNS, SQS and CloudWatch) and against AWS.

The poller keeps Lambda's contract: records of one shard in order, in batches of
``alerts.batch_size``; when the handler reports ``batchItemFailures`` the batch is retried from the
first failed record, at most ``alerts.max_retries`` times; records that still fail are set aside
(written to ``<state>/alerts/failed.jsonl`` with the reason — Lambda's on-failure destination) and
the shard moves on. After each batch the position is saved (``<state>/alerts/<stream>.json``), so a
stopped poller resumes where it stopped.
"""

from __future__ import annotations

import base64
import json
import os
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from botocore.exceptions import ClientError

from clickflow.alerts.core import ANOMALY_TYPES, AlertSettings, Thresholds, format_time
from clickflow.alerts.handler import Clients, Report, handle, post_json
from connectors import aws, fan_out
from connectors.config import Config, ConfigError
from connectors.tables import stream_arn


class AlertsError(RuntimeError):
    """The alerts cannot run; the message says what is wrong and what to do."""


def settings_from_config(config: Config, topic_arn: str) -> AlertSettings:
    """The handler's settings from the profile's ``alerts:`` section, publishing to ``topic_arn``."""
    alerts = config.alerts
    return AlertSettings(
        table=alerts.table,
        topic_arn=topic_arn,
        namespace=alerts.namespace,
        min_severity=alerts.min_severity,
        thresholds={
            kind: Thresholds(getattr(alerts.severity, kind).warning, getattr(alerts.severity, kind).critical)
            for kind in ANOMALY_TYPES
        },
        rate_limit_max=alerts.rate_limit.max_per_entity,
        rate_limit_period=float(alerts.rate_limit.period),
        # a Slack webhook URL is a secret: keep it out of files, in CLICKFLOW_ALERTS_WEBHOOK
        webhook=os.environ.get("CLICKFLOW_ALERTS_WEBHOOK") or alerts.webhook,
    )


def clients_for(config: Config) -> Clients:
    """The handler's clients for the profile (local stack or AWS), with the webhook poster."""
    return Clients(
        aws.client(config, "dynamodb"), aws.client(config, "sns"), aws.client(config, "cloudwatch"), post=post_json
    )


TABLE_KEYS = {
    "AttributeDefinitions": [
        {"AttributeName": "pk", "AttributeType": "S"},
        {"AttributeName": "sk", "AttributeType": "S"},
    ],
    "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
}


def ensure_table(dynamodb, table: str, say: Callable[[str], None], dry_run: bool = False) -> None:
    """Create the anomalies table (keyed by anomaly and window start) unless it exists; wait until it is active."""
    try:
        dynamodb.describe_table(TableName=table)
        return
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ResourceNotFoundException":
            raise
    say(f"{'would create' if dry_run else 'creating'} DynamoDB table {table} (pk, sk; on demand)")
    if dry_run:
        return
    dynamodb.create_table(TableName=table, BillingMode="PAY_PER_REQUEST", **TABLE_KEYS)
    dynamodb.get_waiter("table_exists").wait(TableName=table, WaiterConfig={"Delay": 1, "MaxAttempts": 60})


def ensure_topic(sns, topic: str, say: Callable[[str], None]) -> str:
    """The topic's ARN; CreateTopic is idempotent."""
    arn = sns.create_topic(Name=topic)["TopicArn"]
    say(f"SNS topic {arn}")
    return arn


# --------------------------------------------------------------------------- the poller


@dataclass(frozen=True)
class RunOptions:
    """How ``clickflow alerts run`` reads: where to start, whether to forget saved positions, when to stop."""

    start: str | None = None  # trim_horizon | latest for shards with no saved position; None: alerts.starting_position
    reset: bool = False  # forget the saved positions
    idle_exit: float | None = None  # stop after this many seconds without a new record; None: run until stopped
    poll_interval: float = 1.0


@dataclass
class RunSummary:
    """What ``clickflow alerts run`` read and did, counted by outcome."""

    records: int = 0
    batches: int = 0
    retries: int = 0
    set_aside: int = 0
    outcomes: Counter = field(default_factory=Counter)
    positions: Path | None = None  # where each shard's last handled record is kept (the next run resumes after it)

    def report(self) -> list[str]:
        """The summary lines printed when the run ends."""
        o = self.outcomes
        return [
            f"records read:     {self.records:,} in {self.batches:,} batches ({self.retries} retried)",
            f"notified:         {o['notified']:,}",
            f"rate limited:     {o['rate_limited']:,}",
            f"duplicates:       {o['duplicate']:,}",
            f"below threshold:  {o['below_threshold']:,}",
            f"malformed:        {o['malformed']:,} (counted at each attempt)",
            f"set aside:        {self.set_aside:,}",
        ]


def _state_paths(config: Config, stream: str) -> tuple[Path, Path]:
    from connectors.local_stack.stack import state_dir

    folder = state_dir(config) / "alerts"
    return folder / f"{stream}.json", folder / "failed.jsonl"


def _lambda_event(config: Config, stream: str, shard: str, records: list[dict]) -> dict:
    arn = stream_arn(config, stream)
    return {
        "Records": [
            {
                "kinesis": {
                    "kinesisSchemaVersion": "1.0",
                    "partitionKey": r["PartitionKey"],
                    "sequenceNumber": r["SequenceNumber"],
                    "data": base64.b64encode(r["Data"]).decode("ascii"),
                    "approximateArrivalTimestamp": r["ApproximateArrivalTimestamp"].timestamp(),
                },
                "eventSource": "aws:kinesis",
                "eventVersion": "1.0",
                "eventID": f"{shard}:{r['SequenceNumber']}",
                "eventName": "aws:kinesis:record",
                "awsRegion": config.aws.region,
                "eventSourceARN": arn,
            }
            for r in records
        ]
    }


class _Positions:
    """Saved positions per shard (last sequence number fully handled) and finished shards."""

    def __init__(self, path: Path, created: str):
        self.path = path
        self.created = created
        self.shards: dict[str, str] = {}
        self.finished: set[str] = set()

    @classmethod
    def load(cls, path: Path, created: str, reset: bool, say) -> _Positions:
        positions = cls(path, created)
        if reset or not path.is_file():
            return positions
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise AlertsError(f"{path}: cannot read the saved positions ({exc}); --reset starts over") from None
        if data.get("created") != created:
            say(f"the stream was created anew since {path} was saved: starting it from the beginning")
            return positions
        positions.shards = dict(data.get("shards", {}))
        positions.finished = set(data.get("finished", []))
        return positions

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_suffix(".tmp")
        partial.write_text(
            json.dumps({"created": self.created, "shards": self.shards, "finished": sorted(self.finished)}),
            encoding="utf-8",
        )
        partial.replace(self.path)


def _handle_batch(
    config: Config,
    stream: str,
    shard: str,
    records: list[dict],
    clients: Clients,
    settings: AlertSettings,
    summary: RunSummary,
    failed_path: Path,
    say,
) -> None:
    """Lambda's retry contract for one batch: retry from the first failed record, then set aside."""
    pending = records
    attempt = 0
    while pending:
        report: Report = handle(_lambda_event(config, stream, shard, pending), clients, settings)
        summary.outcomes.update(report.outcomes)
        for verb, anomalies in (("notified", report.notified), ("limited ", report.rate_limited)):
            for anomaly in anomalies:
                say(
                    f"{verb}  {anomaly.anomaly_type:<13} {anomaly.entity:<12} {format_time(anomaly.window_start)}"
                    f"  observed {anomaly.observed}  score {anomaly.score:.2f}"
                )
        if not report.failures:
            return
        failed = dict(report.failures)
        attempt += 1
        if attempt > config.alerts.max_retries:
            failed_path.parent.mkdir(parents=True, exist_ok=True)
            with failed_path.open("a", encoding="utf-8") as out:
                for record in pending:
                    if record["SequenceNumber"] in failed:
                        out.write(
                            json.dumps(
                                {
                                    "stream": stream,
                                    "shard": shard,
                                    "sequence_number": record["SequenceNumber"],
                                    "reason": failed[record["SequenceNumber"]],
                                    "data": record["Data"].decode("utf-8", "replace"),
                                    "set_aside_at": datetime.now(UTC).isoformat(timespec="seconds"),
                                }
                            )
                            + "\n"
                        )
                        summary.set_aside += 1
                        say(f"set aside {shard}:{record['SequenceNumber']}: {failed[record['SequenceNumber']]}")
            return
        summary.retries += 1
        first = next(i for i, r in enumerate(pending) if r["SequenceNumber"] in failed)
        pending = pending[first:]  # as Lambda: again from the first failed record (the rest are idempotent)


def run(
    config: Config,
    options: RunOptions,
    clients: Clients | None = None,
    stop: threading.Event | None = None,
    say: Callable[[str], None] = print,
) -> RunSummary:
    """Read the anomalies stream (polling, or by enhanced fan-out with ``alerts.reader: efo``) and hand every
    record to the alert handler until ``stop`` is set or, with ``idle_exit``, the stream has been quiet that long."""
    stop = stop or threading.Event()
    stream = config.output_stream("anomalies").name
    kinesis = aws.client(config, "kinesis")
    try:
        created = kinesis.describe_stream_summary(StreamName=stream)["StreamDescriptionSummary"]
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "ResourceNotFoundException":
            raise AlertsError(
                f"the anomalies stream {stream!r} does not exist (streams.anomalies in the profile; "
                "`clickflow stack up` creates it locally)"
            ) from None
        raise
    clients = clients or clients_for(config)
    ensure_table(clients.dynamodb, config.alerts.table, say)
    settings = settings_from_config(config, ensure_topic(clients.sns, config.alerts.topic, say))
    start = (options.start or config.alerts.starting_position).upper()
    if start not in ("TRIM_HORIZON", "LATEST"):
        raise ConfigError(f"--from {options.start!r}: expected trim_horizon or latest")
    positions_path, failed_path = _state_paths(config, stream)
    positions = _Positions.load(positions_path, created["StreamCreationTimestamp"].isoformat(), options.reset, say)
    if positions.shards:
        say(f"resuming from {positions_path} ({len(positions.shards)} shards)")
    say(f"reading {stream} ({'saved positions, else ' if positions.shards else ''}{start.lower()})")
    summary = RunSummary(positions=positions_path)
    subscriptions = None
    if config.alerts.reader == "efo":
        consumer = config.alerts.efo_consumer
        subscriptions = fan_out.Subscriptions(
            kinesis,
            fan_out.register(kinesis, stream, consumer),
            on_retry=lambda shard, why: say(f"subscription to {shard} of {stream} failed ({why})"),
        )
        say(f"reading by enhanced fan-out: stream consumer {consumer} (deregistered when this run ends)")
    try:
        _read(config, options, kinesis, stream, start, positions, subscriptions, clients, settings, summary,
              failed_path, stop, say)  # fmt: skip
    finally:
        positions.save()
        if subscriptions is not None:
            subscriptions.close()
            fan_out.deregister(kinesis, stream, config.alerts.efo_consumer)
    return summary


def _read(config, options, kinesis, stream, start, positions, subscriptions, clients, settings, summary, failed_path,
          stop, say) -> None:  # fmt: skip
    """Read every shard (a child once its parents are done) by polling, or through ``subscriptions``, handing
    each batch to the alert handler and saving positions, until ``stop`` or ``idle_exit``."""
    from producer.records import list_shards

    iterators: dict[str, str] = {}
    known: dict[str, dict] = {}
    last_record = time.monotonic()
    first_listing = True
    while not stop.is_set():
        for shard in list_shards(kinesis, stream):
            known.setdefault(shard["ShardId"], shard)
            if subscriptions is not None and shard["SequenceNumberRange"].get("EndingSequenceNumber"):
                subscriptions.closed(shard["ShardId"])
        for shard_id, shard in known.items():
            if shard_id in iterators or shard_id in positions.finished:
                continue
            parents = [p for p in (shard.get("ParentShardId"), shard.get("AdjacentParentShardId")) if p]
            if not all(p in positions.finished or p not in known for p in parents):
                continue  # a child only after its parents: per-entity order holds across a reshard
            args = {"StreamName": stream, "ShardId": shard_id}
            if shard_id in positions.shards:
                args.update(
                    ShardIteratorType="AFTER_SEQUENCE_NUMBER", StartingSequenceNumber=positions.shards[shard_id]
                )
            elif first_listing and start == "LATEST":
                args["ShardIteratorType"] = "LATEST"
            else:
                args["ShardIteratorType"] = "TRIM_HORIZON"  # a shard born since we began: read all of it
            if subscriptions is not None:
                subscriptions.open(
                    shard_id, fan_out.starting_position(args["ShardIteratorType"], args.get("StartingSequenceNumber"))
                )
                iterators[shard_id] = "subscribed"
                continue
            iterators[shard_id] = kinesis.get_shard_iterator(**args)["ShardIterator"]
        first_listing = False
        got_any = False
        for shard_id in list(iterators):
            if stop.is_set():
                break
            if subscriptions is not None:
                page = subscriptions.page(shard_id)  # raises what no retry fixes: the run stops, saying it
                if page is None:
                    continue  # nothing pushed since
            else:
                page = kinesis.get_records(ShardIterator=iterators[shard_id], Limit=config.alerts.batch_size)
            records = page["Records"]
            if records:
                got_any = True
                summary.records += len(records)
                summary.batches += 1
                _handle_batch(config, stream, shard_id, records, clients, settings, summary, failed_path, say)
                positions.shards[shard_id] = records[-1]["SequenceNumber"]
            if page.get("NextShardIterator"):
                iterators[shard_id] = page["NextShardIterator"]
            else:
                del iterators[shard_id]
                positions.finished.add(shard_id)
            positions.save()
        if got_any:
            last_record = time.monotonic()
        elif options.idle_exit is not None and time.monotonic() - last_record >= options.idle_exit:
            break
        else:
            stop.wait(options.poll_interval if subscriptions is None else min(options.poll_interval, 0.1))


# --------------------------------------------------------------------------- the subscriber


def tail(
    config: Config,
    idle_exit: float | None = None,
    stop: threading.Event | None = None,
    say: Callable[[str], None] = print,
    as_json: bool = False,
) -> int:
    """Print every notification the topic sends, through an SQS queue ``<topic>-tail`` subscribed
    to it (made on first use; it holds what was published since). Returns how many were printed."""
    stop = stop or threading.Event()
    sns, sqs = aws.client(config, "sns"), aws.client(config, "sqs")
    topic_arn = ensure_topic(sns, config.alerts.topic, lambda _: None)
    queue_url = sqs.create_queue(QueueName=f"{config.alerts.topic}-tail")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "sns.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": queue_arn,
                "Condition": {"ArnEquals": {"aws:SourceArn": topic_arn}},
            }
        ],
    }
    sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={"Policy": json.dumps(policy)})
    subscribed = sns.list_subscriptions_by_topic(TopicArn=topic_arn).get("Subscriptions", [])
    if not any(s.get("Endpoint") == queue_arn for s in subscribed):
        sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)
        say(
            f"subscribed {queue_arn} to {topic_arn}: notifications from now on are shown",
        )
    printed = 0
    quiet_since = time.monotonic()
    while not stop.is_set():
        answer = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1, MessageAttributeNames=["All"]
        )
        messages = answer.get("Messages", [])
        for item in messages:
            envelope = json.loads(item["Body"])
            attributes = {k: v.get("Value") for k, v in (envelope.get("MessageAttributes") or {}).items()}
            if as_json:
                say(
                    json.dumps(
                        {
                            "subject": envelope.get("Subject"),
                            "message": envelope.get("Message"),
                            "attributes": attributes,
                        }
                    )
                )
            else:
                say(f"--- {envelope.get('Subject')}")
                say(envelope.get("Message", ""))
                say("    " + "  ".join(f"{k}={v}" for k, v in sorted(attributes.items())))
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=item["ReceiptHandle"])
            printed += 1
        if messages:
            quiet_since = time.monotonic()
        elif idle_exit is not None and time.monotonic() - quiet_since >= idle_exit:
            break
    return printed
