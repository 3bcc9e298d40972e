"""The alert handler: one Lambda-shaped Kinesis event of anomaly records in; for each new anomaly a
DynamoDB item, an SNS message (and an optional webhook post), and CloudWatch metrics out.

Correct under retries and duplicates (the job's Kinesis sink is at-least-once, and Lambda retries
a batch from its first failed record):

1. the anomaly's item is written with ``attribute_not_exists`` on its key, (type + entity,
   window start), in status ``pending``. If it exists already and is not pending, the record is a
   duplicate: nothing more happens. (A pending item is one whose earlier attempt failed half-way:
   it is taken up again.)
2. a rate-limit counter per (type, entity, period of event time) is incremented only while below
   the limit; past it the anomaly is marked ``suppressed`` and counted, not sent.
3. SNS publish (and the webhook), then the item is marked ``notified`` with the message id.

The one window left is a crash between step 3's publish and its mark: a retry then sends that
message again. Every other retry or duplicate sends nothing and writes no second item.

A record that is not an anomaly, or whose AWS calls fail, is reported in ``batchItemFailures``
(Lambda then retries from it, at most the event source mapping's MaximumRetryAttempts times, and
hands it to the on-failure destination); the rest of the batch is processed all the same.
"""

from __future__ import annotations

import json
import logging
import os
import urllib.request
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from clickflow.alerts.core import (
    AlertSettings,
    Anomaly,
    MalformedRecord,
    at_least,
    decode_kinesis_record,
    format_time,
    message,
    message_attributes,
    parse_anomaly,
    severity,
)

log = logging.getLogger("clickflow.alerts")
SETTINGS_VARIABLE = "CLICKFLOW_ALERTS"  # the Lambda's environment variable holding AlertSettings as JSON


@dataclass
class Clients:
    """The AWS clients (and optional webhook poster) the handler writes through."""

    dynamodb: Any  # a boto3 client
    sns: Any  # a boto3 client
    cloudwatch: Any  # a boto3 client
    post: Callable[[str, dict], None] | None = None  # (url, JSON body) -> None; raises on failure


@dataclass
class Report:
    """What one call did. ``outcomes`` counts records by what happened to them."""

    outcomes: Counter = field(default_factory=Counter)
    failures: list[tuple[str, str]] = field(default_factory=list)  # (sequence number, reason)
    notified: list[Anomaly] = field(default_factory=list)
    rate_limited: list[Anomaly] = field(default_factory=list)

    def batch_item_failures(self) -> dict:
        """The failed records in the response shape Lambda's ``ReportBatchItemFailures`` expects."""
        return {"batchItemFailures": [{"itemIdentifier": seq} for seq, _ in self.failures]}


class _Transient(Exception):
    """An AWS call failed in a way a retry may mend."""


def _error_code(exc: Exception) -> str | None:
    response = getattr(exc, "response", None)
    return response.get("Error", {}).get("Code") if isinstance(response, dict) else None


def _call(what: str, fn, **kwargs):
    try:
        return fn(**kwargs)
    except Exception as exc:
        if _error_code(exc) == "ConditionalCheckFailedException":
            raise
        raise _Transient(f"{what}: {type(exc).__name__}: {exc}") from exc


def _item(anomaly: Anomaly, level: str, event_id: str) -> dict:
    pk, sk = anomaly.key
    item = {
        "pk": {"S": pk},
        "sk": {"S": sk},
        "status": {"S": "pending"},
        "anomaly_type": {"S": anomaly.anomaly_type},
        "entity": {"S": anomaly.entity},
        "window_start": {"S": format_time(anomaly.window_start)},
        "window_end": {"S": format_time(anomaly.window_end)},
        "observed": {"N": str(anomaly.observed)},
        "score": {"N": repr(anomaly.score)},
        "severity": {"S": level},
        "first_seen": {"S": datetime.now(UTC).isoformat(timespec="milliseconds")},
        "event_id": {"S": event_id},
    }
    if anomaly.expected is not None:
        item["expected"] = {"N": repr(anomaly.expected)}
    return item


def _claim(clients: Clients, settings: AlertSettings, anomaly: Anomaly, level: str, event_id: str) -> bool:
    """Write the anomaly's item if it is new; True when this call should go on to notify."""
    try:
        _call(
            "DynamoDB PutItem",
            clients.dynamodb.put_item,
            TableName=settings.table,
            Item=_item(anomaly, level, event_id),
            ConditionExpression="attribute_not_exists(pk)",
        )
        return True
    except _Transient:
        raise
    except Exception:  # noqa: BLE001 - ConditionalCheckFailedException: the item exists
        pk, sk = anomaly.key
        found = _call(
            "DynamoDB GetItem",
            clients.dynamodb.get_item,
            TableName=settings.table,
            Key={"pk": {"S": pk}, "sk": {"S": sk}},
            ConsistentRead=True,
        ).get("Item")
        return bool(found) and found.get("status", {}).get("S") == "pending"


def _take_rate_slot(clients: Clients, settings: AlertSettings, anomaly: Anomaly) -> bool:
    pk, sk = anomaly.rate_key(settings.rate_limit_period)
    key = {"pk": {"S": pk}, "sk": {"S": sk}}
    try:
        _call(
            "DynamoDB UpdateItem (rate limit)",
            clients.dynamodb.update_item,
            TableName=settings.table,
            Key=key,
            UpdateExpression="ADD sent :one",
            ConditionExpression="attribute_not_exists(sent) OR sent < :max",
            ExpressionAttributeValues={":one": {"N": "1"}, ":max": {"N": str(settings.rate_limit_max)}},
        )
        return True
    except _Transient:
        raise
    except Exception:  # noqa: BLE001 - ConditionalCheckFailedException: the limit is reached
        _call(
            "DynamoDB UpdateItem (rate limit)",
            clients.dynamodb.update_item,
            TableName=settings.table,
            Key=key,
            UpdateExpression="ADD suppressed :one",
            ExpressionAttributeValues={":one": {"N": "1"}},
        )
        return False


def _mark(clients: Clients, settings: AlertSettings, anomaly: Anomaly, status: str, message_id: str = "") -> None:
    pk, sk = anomaly.key
    values = {":s": {"S": status}, ":t": {"S": datetime.now(UTC).isoformat(timespec="milliseconds")}}
    expression = "SET #status = :s, decided_at = :t"
    if message_id:
        values[":m"] = {"S": message_id}
        expression += ", message_id = :m"
    _call(
        "DynamoDB UpdateItem",
        clients.dynamodb.update_item,
        TableName=settings.table,
        Key={"pk": {"S": pk}, "sk": {"S": sk}},
        UpdateExpression=expression,
        ExpressionAttributeNames={"#status": "status"},
        ExpressionAttributeValues=values,
    )


def _notify(clients: Clients, settings: AlertSettings, anomaly: Anomaly, level: str, report: Report) -> str:
    subject, body = message(anomaly, level, settings)
    answer = _call(
        "SNS Publish",
        clients.sns.publish,
        TopicArn=settings.topic_arn,
        Subject=subject,
        Message=body,
        MessageAttributes=message_attributes(anomaly, level),
    )
    if settings.webhook and clients.post is not None:
        try:
            clients.post(settings.webhook, {"text": f"*{subject}*\n{body}"})
        except Exception as exc:  # noqa: BLE001 - SNS has it; retrying the record would send SNS twice
            report.outcomes["webhook_failed"] += 1
            log.warning("webhook %s failed for %s %s: %s", settings.webhook, *anomaly.key, exc)
    return answer.get("MessageId", "")


def handle_one(clients: Clients, settings: AlertSettings, anomaly: Anomaly, event_id: str, report: Report) -> str:
    """Act on one anomaly; returns its outcome: below_threshold, duplicate, rate_limited or notified.
    Raises _Transient."""
    level = severity(anomaly, settings.thresholds)
    if not at_least(level, settings.min_severity):
        return "below_threshold"
    if not _claim(clients, settings, anomaly, level, event_id):
        return "duplicate"
    if not _take_rate_slot(clients, settings, anomaly):
        _mark(clients, settings, anomaly, "suppressed")
        report.rate_limited.append(anomaly)
        return "rate_limited"
    message_id = _notify(clients, settings, anomaly, level, report)
    _mark(clients, settings, anomaly, "notified", message_id)
    report.notified.append(anomaly)
    return "notified"


def _metrics(report: Report, kinds: dict[str, Counter], spikes: list[Anomaly]) -> list[dict]:
    data = []
    for outcome, by_type in kinds.items():
        for kind, count in by_type.items():
            dimensions = [{"Name": "AnomalyType", "Value": kind}] if kind else []
            data.append({"MetricName": outcome, "Dimensions": dimensions, "Value": count, "Unit": "Count"})
    for spike in spikes:
        dimensions = [{"Name": "AnomalyType", "Value": "traffic_spike"}]
        data.append({"MetricName": "SpikeObserved", "Dimensions": dimensions, "Value": spike.observed, "Unit": "Count"})
        if spike.expected is not None:
            data.append(
                {"MetricName": "SpikeExpected", "Dimensions": dimensions, "Value": spike.expected, "Unit": "Count"}
            )
    return data


METRIC_NAMES = {
    "notified": "Anomalies",  # new anomalies at or above min_severity that were notified
    "rate_limited": "RateLimited",
    "duplicate": "Duplicates",
    "below_threshold": "BelowThreshold",
    "malformed": "MalformedRecords",
    "failed": "FailedRecords",
}


def handle(event: dict, clients: Clients, settings: AlertSettings) -> Report:
    """Process a Lambda Kinesis event (``Records[].kinesis.data`` base64); every record is tried."""
    report = Report()
    kinds: dict[str, Counter] = {}
    for record in event.get("Records", []):
        sequence = str((record.get("kinesis") or {}).get("sequenceNumber", ""))
        event_id = str(record.get("eventID", sequence))
        kind = ""  # a malformed record is counted without a type
        try:
            sequence, data = decode_kinesis_record(record)
            anomaly = parse_anomaly(data)
            kind = anomaly.anomaly_type
            outcome = handle_one(clients, settings, anomaly, event_id, report)
        except MalformedRecord as exc:
            outcome = "malformed"
            log.warning("malformed anomaly record %s: %s", event_id, exc)
            report.failures.append((sequence, f"malformed: {exc}"))
        except _Transient as exc:
            outcome = "failed"
            log.warning("record %s not processed, to be retried: %s", event_id, exc)
            report.failures.append((sequence, str(exc)))
        report.outcomes[outcome] += 1
        kinds.setdefault(METRIC_NAMES[outcome], Counter())[kind] += 1
    spikes = [a for a in report.notified if a.anomaly_type == "traffic_spike"]
    metric_data = _metrics(report, kinds, spikes)
    for start in range(0, len(metric_data), 1000):
        try:
            clients.cloudwatch.put_metric_data(
                Namespace=settings.namespace, MetricData=metric_data[start : start + 1000]
            )
        except Exception as exc:  # noqa: BLE001 - metrics are best effort; a retry would count twice
            report.outcomes["metrics_failed"] += 1
            log.warning("CloudWatch PutMetricData failed: %s", exc)
    return report


def post_json(url: str, body: dict, timeout: float = 5.0) -> None:
    """POST a JSON body (a Slack-compatible incoming webhook); raises unless the answer is 2xx."""
    request = urllib.request.Request(  # noqa: S310 - the profile's alerts.webhook URL
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - the user's webhook URL
        if not 200 <= response.status < 300:
            raise OSError(f"HTTP {response.status}")


_lambda_clients: Clients | None = None


def lambda_handler(event: dict, context) -> dict:
    """The Lambda entry point: settings from the environment, clients made once per container."""
    global _lambda_clients
    settings = AlertSettings.from_json(os.environ[SETTINGS_VARIABLE])
    if _lambda_clients is None:
        import boto3

        _lambda_clients = Clients(
            boto3.client("dynamodb"), boto3.client("sns"), boto3.client("cloudwatch"), post=post_json
        )
    report = handle(event, _lambda_clients, settings)
    log.info("alerts: %s", dict(report.outcomes))
    return report.batch_item_failures()
