"""The alert handler against moto's in-process AWS (no server): one item and one message per distinct
anomaly under retries and duplicates, severity, the rate limit, partial batch failures, the Lambda
entry point, and the Lambda package. Expected values are worked out here by hand, not by the code."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import zipfile
from collections import Counter
from dataclasses import replace
from datetime import datetime, timedelta

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from clickflow.alerts import core, handler
from clickflow.alerts.core import AlertSettings, MalformedRecord, Thresholds, parse_anomaly
from clickflow.alerts.handler import Clients, handle

REGION = "us-east-1"


def anomaly_row(entity="512345678", start="2019-10-01 00:12:10", observed=64, kind="bot_burst", score=None, **extra):
    end = (datetime.fromisoformat(start) + timedelta(seconds=10)).strftime("%Y-%m-%d %H:%M:%S")
    row = {
        "analytic": "anomalies",
        "anomaly_type": kind,
        "entity": entity,
        "window_start": start,
        "window_end": end,
        "observed": observed,
        "expected": 10.0,
        "score": score if score is not None else observed / 10,
    }
    row.update(extra)
    return row


def event(*payloads) -> dict:
    records = []
    for i, payload in enumerate(payloads):
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        seq = f"4959{i:040d}"
        records.append(
            {
                "kinesis": {"sequenceNumber": seq, "data": base64.b64encode(data).decode(), "partitionKey": "k"},
                "eventID": f"shardId-000000000000:{seq}",
                "eventSource": "aws:kinesis",
            }
        )
    return {"Records": records}


@pytest.fixture
def aws(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        dynamodb.create_table(
            TableName="anomalies",
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        )
        sns, sqs = boto3.client("sns", region_name=REGION), boto3.client("sqs", region_name=REGION)
        topic = sns.create_topic(Name="anomalies")["TopicArn"]
        queue = sqs.create_queue(QueueName="inbox")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
        clients = Clients(dynamodb, sns, boto3.client("cloudwatch", region_name=REGION), post=None)
        settings = AlertSettings(table="anomalies", topic_arn=topic, namespace="clickflow-test")
        yield clients, settings, sqs, queue


def items(clients) -> list[dict]:
    return clients.dynamodb.scan(TableName="anomalies")["Items"]


def anomaly_items(clients) -> list[dict]:
    return [i for i in items(clients) if not i["pk"]["S"].startswith("rate#")]


def inbox(sqs, queue) -> list[dict]:
    out = []
    while True:
        got = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, MessageAttributeNames=["All"])
        if not got.get("Messages"):
            return out
        for message in got["Messages"]:
            out.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])


def metric_sum(clients, name: str, kind: str | None = None) -> float:
    dims = [{"Name": "AnomalyType", "Value": kind}] if kind else []
    points = clients.cloudwatch.get_metric_statistics(
        Namespace="clickflow-test",
        MetricName=name,
        Dimensions=dims,
        StartTime="2020-01-01",
        EndTime="2100-01-01",
        Period=86400,
        Statistics=["Sum"],
    )["Datapoints"]
    return sum(p["Sum"] for p in points)


# --------------------------------------------------------------------------- pure parts


def test_a_job_row_parses_into_an_anomaly_with_its_dedup_key():
    anomaly = parse_anomaly(json.dumps(anomaly_row()).encode())
    assert anomaly.key == ("bot_burst#512345678", "2019-10-01 00:12:10")
    assert anomaly.observed == 64 and anomaly.score == 6.4
    # a spike's entity is "all"; the rate-limit bucket is the hour of event time it starts in
    spike = parse_anomaly(json.dumps(anomaly_row("all", "2019-10-01 13:59:50", 300, "traffic_spike", 7.5)).encode())
    assert spike.rate_key(3600) == ("rate#traffic_spike#all", "2019-10-01 13:00:00")
    assert spike.rate_key(600) == ("rate#traffic_spike#all", "2019-10-01 13:50:00")


MALFORMED = [
    (b"not json at all", "not JSON"),
    (b"[1, 2]", "expected a JSON object"),
    (json.dumps({**anomaly_row(), "anomaly_type": "fraud"}).encode(), "unknown anomaly_type 'fraud'"),
    (json.dumps({k: v for k, v in anomaly_row().items() if k != "entity"}).encode(), "missing field entity"),
    (json.dumps({**anomaly_row(), "window_start": "yesterday"}).encode(), "window_start: not a time"),
    (json.dumps({**anomaly_row(), "score": "high"}).encode(), "score: expected a finite number"),
    (
        b'{"anomaly_type": "bot_burst", "entity": "1", "window_start": "2019-10-01 00:00:00", '
        b'"window_end": "2019-10-01 00:00:10", "observed": 3, "score": NaN}',
        "score: expected a finite number",
    ),
    (json.dumps({**anomaly_row(), "window_end": "2019-10-01 00:12:10"}).encode(), "is not after window_start"),
    (json.dumps({**anomaly_row(), "observed": 2.5}).encode(), "observed: expected a count"),
]


@pytest.mark.parametrize(("data", "message"), MALFORMED, ids=[m for _, m in MALFORMED])
def test_a_record_that_is_not_an_anomaly_is_named_for_what_is_wrong(data, message):
    with pytest.raises(MalformedRecord, match=message):
        parse_anomaly(data)


def test_severity_from_the_type_thresholds():
    thresholds = {"bot_burst": Thresholds(1.5, 3.0), "traffic_spike": Thresholds(3.0, 6.0)}
    scores = {1.2: "info", 1.5: "warning", 2.99: "warning", 3.0: "critical", 9.0: "critical"}
    for score, expected in scores.items():
        assert core.severity(parse_anomaly(json.dumps(anomaly_row(score=score)).encode()), thresholds) == expected
    spike = parse_anomaly(json.dumps(anomaly_row("all", kind="traffic_spike", score=4.0)).encode())
    assert core.severity(spike, thresholds) == "warning"


def test_the_message_says_what_who_when_and_how_far_above_normal():
    settings = AlertSettings(table="t", topic_arn="arn:aws:sns:us-east-1:000000000000:t")
    bot = parse_anomaly(json.dumps(anomaly_row()).encode())
    subject, body = core.message(bot, "critical", settings)
    assert subject == "[critical] clickflow bot burst: user 512345678 at 2019-10-01 00:12:10"
    assert "64 events in the window; more than 10 is flagged (6.40x the threshold)" in body
    assert "2019-10-01 00:12:10 to 00:12:20 UTC (10 s window)" in body
    spike_row = anomaly_row("all", "2019-10-01 08:00:00", 412, "traffic_spike", 9.25, expected=40.5)
    spike = parse_anomaly(json.dumps(spike_row).encode())
    subject, body = core.message(spike, "critical", settings)
    assert "traffic spike: all traffic" in subject and len(subject) <= 100
    assert "412 events against 40.5 expected" in body and "9.25 standard deviations above normal" in body
    attributes = core.message_attributes(spike, "critical")
    assert attributes["anomaly_type"]["StringValue"] == "traffic_spike"
    assert attributes["severity"]["StringValue"] == "critical"


def test_settings_survive_their_json_round_trip():
    settings = AlertSettings(table="t", topic_arn="arn", rate_limit_max=7, thresholds={"bot_burst": Thresholds(2, 4)})
    assert AlertSettings.from_json(settings.to_json()) == settings


# --------------------------------------------------------------------------- the handler on moto


def test_each_distinct_anomaly_makes_one_item_and_one_message_however_often_it_comes(aws):
    clients, settings, sqs, queue = aws
    first, second = anomaly_row(), anomaly_row(entity="777", start="2019-10-01 00:12:20", observed=40)
    report = handle(event(first, second, first), clients, settings)  # a duplicate inside the batch
    assert report.outcomes == Counter(notified=2, duplicate=1)
    assert report.batch_item_failures() == {"batchItemFailures": []}
    # the whole batch again (Lambda retrying it), and the records once more (an at-least-once sink)
    assert handle(event(first, second), clients, settings).outcomes == Counter(duplicate=2)
    assert handle(event(second), clients, settings).outcomes == Counter(duplicate=1)

    stored = anomaly_items(clients)
    assert sorted((i["pk"]["S"], i["sk"]["S"], i["status"]["S"]) for i in stored) == [
        ("bot_burst#512345678", "2019-10-01 00:12:10", "notified"),
        ("bot_burst#777", "2019-10-01 00:12:20", "notified"),
    ]
    received = inbox(sqs, queue)
    assert sorted(m["Subject"] for m in received) == [
        "[critical] clickflow bot burst: user 512345678 at 2019-10-01 00:12:10",
        "[critical] clickflow bot burst: user 777 at 2019-10-01 00:12:20",
    ]
    assert {m["MessageAttributes"]["severity"]["Value"] for m in received} == {"critical"}
    assert metric_sum(clients, "Anomalies", "bot_burst") == 2
    assert metric_sum(clients, "Duplicates", "bot_burst") == 4


def test_below_the_minimum_severity_nothing_is_stored_or_sent(aws):
    clients, settings, sqs, queue = aws
    weak = anomaly_row(observed=12)  # score 1.2 < warning 1.5: info
    spike_warning = anomaly_row("all", "2019-10-01 00:00:00", 90, "traffic_spike", 4.0)  # warning >= 3.0
    report = handle(event(weak, spike_warning), clients, settings)
    assert report.outcomes == Counter(below_threshold=1, notified=1)
    assert [i["pk"]["S"] for i in anomaly_items(clients)] == ["traffic_spike#all"]
    assert [m["MessageAttributes"]["severity"]["Value"] for m in inbox(sqs, queue)] == ["warning"]
    strict = replace(settings, min_severity="critical")
    assert handle(event(anomaly_row(entity="9", observed=20)), clients, strict).outcomes == Counter(below_threshold=1)
    assert metric_sum(clients, "SpikeObserved", "traffic_spike") == 90


def test_one_entity_sends_at_most_the_rate_limit_per_period_and_the_rest_is_counted(aws):
    clients, settings, sqs, queue = aws
    limited = replace(settings, rate_limit_max=2, rate_limit_period=60)
    # one bot in 8 windows: 6 in the minute 00:12 (2 may be sent), 2 in 00:13 (both may be sent)
    starts = [f"2019-10-01 00:12:{s:02d}" for s in (0, 10, 20, 30, 40, 50)] + [
        "2019-10-01 00:13:00",
        "2019-10-01 00:13:10",
    ]
    report = handle(event(*[anomaly_row(start=s) for s in starts]), clients, limited)
    assert report.outcomes == Counter(notified=4, rate_limited=4)
    assert len(inbox(sqs, queue)) == 4
    statuses = Counter(i["status"]["S"] for i in anomaly_items(clients))
    assert statuses == Counter(notified=4, suppressed=4)  # every anomaly recorded, suppressed ones too
    counter = clients.dynamodb.get_item(
        TableName="anomalies", Key={"pk": {"S": "rate#bot_burst#512345678"}, "sk": {"S": "2019-10-01 00:12:00"}}
    )["Item"]
    assert (counter["sent"]["N"], counter["suppressed"]["N"]) == ("2", "4")
    # replayed, nothing changes: suppressed anomalies are not sent later either
    assert handle(event(*[anomaly_row(start=s) for s in starts]), clients, limited).outcomes == Counter(duplicate=8)
    assert inbox(sqs, queue) == []
    assert metric_sum(clients, "RateLimited", "bot_burst") == 4


def test_a_malformed_record_is_reported_as_a_batch_item_failure_and_the_rest_is_processed(aws):
    clients, settings, sqs, queue = aws
    batch = event(anomaly_row(), b"{broken", anomaly_row(entity="42"))
    report = handle(batch, clients, settings)
    bad_sequence = batch["Records"][1]["kinesis"]["sequenceNumber"]
    assert report.batch_item_failures() == {"batchItemFailures": [{"itemIdentifier": bad_sequence}]}
    assert report.outcomes == Counter(notified=2, malformed=1)
    assert len(inbox(sqs, queue)) == 2
    assert metric_sum(clients, "MalformedRecords") == 1


class FlakyDynamo:
    """DynamoDB that fails the first ``failures`` calls of one operation, then works."""

    def __init__(self, real, operation: str, failures: int = 1):
        self.real, self.operation, self.failures = real, operation, failures

    def __getattr__(self, name):
        method = getattr(self.real, name)
        if name != self.operation:
            return method

        def flaky(**kwargs):
            if self.failures > 0:
                self.failures -= 1
                raise ClientError(
                    {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow"}}, name
                )
            return method(**kwargs)

        return flaky


class FlakySns:
    def __init__(self, real, failures: int = 1):
        self.real, self.failures = real, failures

    def publish(self, **kwargs):
        if self.failures > 0:
            self.failures -= 1
            raise ClientError({"Error": {"Code": "InternalError", "Message": "try again"}}, "Publish")
        return self.real.publish(**kwargs)


def test_a_failed_aws_call_is_retried_by_lambda_and_then_sends_exactly_once(aws):
    clients, settings, sqs, queue = aws
    flaky = Clients(FlakyDynamo(clients.dynamodb, "put_item"), clients.sns, clients.cloudwatch)
    batch = event(anomaly_row(), anomaly_row(entity="42"))
    report = handle(batch, flaky, settings)
    assert report.outcomes == Counter(failed=1, notified=1)
    assert [f[0] for f in report.failures] == [batch["Records"][0]["kinesis"]["sequenceNumber"]]
    # Lambda retries from the failed record: the first now goes through, the second is a duplicate
    assert handle(batch, flaky, settings).outcomes == Counter(notified=1, duplicate=1)
    assert len(inbox(sqs, queue)) == 2


def test_an_anomaly_stored_but_not_yet_sent_is_sent_on_the_retry(aws):
    clients, settings, sqs, queue = aws
    flaky = Clients(clients.dynamodb, FlakySns(clients.sns), clients.cloudwatch)
    batch = event(anomaly_row())
    assert handle(batch, flaky, settings).outcomes == Counter(failed=1)
    assert [i["status"]["S"] for i in anomaly_items(clients)] == ["pending"]
    assert handle(batch, flaky, settings).outcomes == Counter(notified=1)
    assert handle(batch, flaky, settings).outcomes == Counter(duplicate=1)
    assert len(inbox(sqs, queue)) == 1


def test_the_webhook_gets_slack_json_and_its_failure_does_not_fail_the_record(aws):
    clients, settings, sqs, queue = aws
    posted = []
    with_hook = replace(settings, webhook="http://127.0.0.1:9/hook")
    clients.post = lambda url, body: posted.append((url, body))
    handle(event(anomaly_row()), clients, with_hook)
    assert posted[0][0] == "http://127.0.0.1:9/hook"
    assert posted[0][1]["text"].startswith("*[critical] clickflow bot burst: user 512345678")

    def broken(url, body):
        raise OSError("connection refused")

    clients.post = broken
    report = handle(event(anomaly_row(entity="43")), clients, with_hook)
    assert report.outcomes == Counter(notified=1, webhook_failed=1) and not report.failures
    assert len(inbox(sqs, queue)) == 2


def test_the_lambda_entry_point_reads_its_settings_from_the_environment(aws, monkeypatch):
    clients, settings, sqs, queue = aws
    monkeypatch.setenv(handler.SETTINGS_VARIABLE, settings.to_json())
    monkeypatch.setattr(handler, "_lambda_clients", None)
    batch = event(anomaly_row(), b"\xff\xfe", anomaly_row())
    answer = handler.lambda_handler(batch, None)
    assert answer == {"batchItemFailures": [{"itemIdentifier": batch["Records"][1]["kinesis"]["sequenceNumber"]}]}
    assert len(inbox(sqs, queue)) == 1 and len(anomaly_items(clients)) == 1


# --------------------------------------------------------------------------- the Lambda package


def test_the_lambda_package_holds_only_the_handler_and_imports_with_the_standard_library(tmp_path):
    from clickflow.alerts.deploy import PACKAGE_MODULES, build_package

    zip_path = build_package(tmp_path / "alerts.zip")
    with zipfile.ZipFile(zip_path) as archive:
        assert sorted(archive.namelist()) == sorted(PACKAGE_MODULES)
        archive.extractall(tmp_path / "unpacked")
    assert build_package(tmp_path / "again.zip").read_bytes() == zip_path.read_bytes()  # reproducible
    probe = (
        "import sys; sys.path.insert(0, sys.argv[1]); import clickflow.alerts.handler as h; "
        "print(h.lambda_handler.__module__); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('yaml', 'connectors', 'boto3', 'jobs')))"
    )
    # -S: no site-packages, so anything beyond the standard library would fail to import
    out = subprocess.run(
        [sys.executable, "-S", "-c", probe, str(tmp_path / "unpacked")], capture_output=True, text=True, check=True
    )
    assert out.stdout.split("\n")[:2] == ["clickflow.alerts.handler", "[]"]
