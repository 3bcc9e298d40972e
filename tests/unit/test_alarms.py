"""The CloudWatch alarms `clickflow deploy` sets on a Managed Flink application, against moto's in-process
CloudWatch and SNS: each definition exactly as CloudWatch holds it, thresholds from `monitoring:`, the
dry run changing nothing, and `deploy --delete` removing the alarms with the application (the
application calls through botocore's Stubber over the real API model: moto has no DeleteApplication)."""

from __future__ import annotations

from datetime import UTC, datetime

import boto3
import botocore.session
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from clickflow.msf import alarms
from clickflow.msf.deploy import Clients, delete
from connectors.config import ConfigError, load_config

REGION = "eu-west-1"


@pytest.fixture
def cloud(monkeypatch):
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(key, "testing")
    with mock_aws():
        cloudwatch = boto3.client("cloudwatch", region_name=REGION)
        sns = boto3.client("sns", region_name=REGION)
        account = boto3.client("sts", region_name=REGION).get_caller_identity()["Account"]
        yield cloudwatch, sns, account


def shop(*extra: str):
    return load_config("aws", overrides=[f"aws.region={REGION}", "alerts.topic=shop-alerts", *extra])


def test_every_alarm_is_held_by_cloudwatch_exactly_as_defined(cloud):
    cloudwatch, sns, account = cloud
    config = shop(
        "monitoring.downtime_minutes=2",
        "monitoring.max_restarts=1",
        "monitoring.checkpoint_minutes=10",
        "monitoring.max_lag=90s",
        "monitoring.lag_minutes=3",
        "monitoring.checkpoint_intervals=4",
        "job.checkpoint_interval=30s",
        "monitoring.max_dead_letters_per_minute=120",
    )
    plan = alarms.plan_alarms(config, "shop", account)
    said = []
    alarms.ensure_alarms(cloudwatch, sns, plan, dry_run=False, say=said.append)

    topic = f"arn:aws:sns:{REGION}:{account}:shop-alerts"
    assert plan.topic_arn == topic
    assert topic in [t["TopicArn"] for t in sns.list_topics()["Topics"]]
    held = {a["AlarmName"]: a for a in cloudwatch.describe_alarms()["MetricAlarms"]}
    assert sorted(held) == [
        "shop-checkpoint-age",
        "shop-dead-letters",
        "shop-downtime",
        "shop-failed-checkpoints",
        "shop-lag",
        "shop-restarts",
    ]
    for alarm in held.values():
        assert (alarm["AlarmActions"], alarm["OKActions"]) == ([topic], [topic])
        assert (alarm["ComparisonOperator"], alarm["TreatMissingData"]) == ("GreaterThanThreshold", "notBreaching")
    down = held["shop-downtime"]
    assert (down["Namespace"], down["MetricName"], down["Statistic"]) == ("AWS/KinesisAnalytics", "downtime", "Average")
    assert down["Dimensions"] == [{"Name": "Application", "Value": "shop"}]
    assert (down["Period"], down["EvaluationPeriods"], down["DatapointsToAlarm"], down["Threshold"]) == (60, 2, 2, 0.0)

    def growth(alarm):
        total, expression = alarm["Metrics"]
        stat = total["MetricStat"]
        assert (expression["Expression"], expression["ReturnData"], total["ReturnData"]) == ("DIFF(total)", True, False)
        assert stat["Metric"]["Dimensions"] == [{"Name": "Application", "Value": "shop"}]
        assert (stat["Metric"]["Namespace"], stat["Stat"]) == ("AWS/KinesisAnalytics", "Maximum")
        return stat["Metric"]["MetricName"], stat["Period"], alarm["Threshold"], alarm["EvaluationPeriods"]

    assert growth(held["shop-restarts"]) == ("numRestarts", 300, 1.0, 1)  # Flink 2.2: fullRestarts is gone
    assert growth(held["shop-failed-checkpoints"]) == ("numberOfFailedCheckpoints", 600, 0.0, 1)

    def insights(alarm):
        """The job's own metric (group kinesisanalytics), read over every series the application publishes."""
        (query,) = alarm["Metrics"]
        assert (query["Id"], query["Period"], query["ReturnData"]) == ("job", 60, True)
        return query["Expression"], alarm["Threshold"], alarm["EvaluationPeriods"], alarm.get("DatapointsToAlarm")

    where = "FROM \"AWS/KinesisAnalytics\" WHERE Application = 'shop'"
    assert insights(held["shop-lag"]) == (f"SELECT MAX(millisBehindLatest) {where}", 90_000.0, 3, 3)
    # 4 intervals of 30 s
    assert insights(held["shop-checkpoint-age"]) == (
        f"SELECT MAX(millisSinceLastCheckpoint) {where}",
        120_000.0,
        1,
        None,
    )
    # 120 a minute, as the per-second rate the meter gives
    assert insights(held["shop-dead-letters"]) == (f"SELECT SUM(deadLettersPerSecond) {where}", 2.0, 1, None)
    assert sum("putting alarm" in line for line in said) == 6

    # a second deploy puts them again in place: still six
    alarms.ensure_alarms(cloudwatch, sns, plan, dry_run=False, say=said.append)
    assert len(cloudwatch.describe_alarms()["MetricAlarms"]) == 6


def test_the_dry_run_and_a_named_topic(cloud):
    cloudwatch, sns, account = cloud
    plan = alarms.plan_alarms(shop("monitoring.topic=ops-pager"), "shop", account)
    said = []
    alarms.ensure_alarms(cloudwatch, sns, plan, dry_run=True, say=said.append)
    assert plan.topic_arn.endswith(":ops-pager")
    assert cloudwatch.describe_alarms()["MetricAlarms"] == [] and sns.list_topics()["Topics"] == []
    assert [line.split(":")[0] for line in said if "alarm" in line][1:] == [
        "would put alarm shop-downtime",
        "would put alarm shop-restarts",
        "would put alarm shop-failed-checkpoints",
        "would put alarm shop-lag",
        "would put alarm shop-checkpoint-age",
        "would put alarm shop-dead-letters",
    ]


def test_minutes_below_one_are_refused_naming_the_key(cloud):
    with pytest.raises(ConfigError, match=r"monitoring.restart_minutes is 0"):
        alarms.plan_alarms(shop("monitoring.restart_minutes=0"), "shop", "123456789012")


def test_delete_removes_the_application_and_its_alarms(cloud):
    cloudwatch, sns, account = cloud
    alarms.ensure_alarms(cloudwatch, sns, alarms.plan_alarms(shop(), "shop", account), False, lambda _: None)
    alarms.ensure_alarms(cloudwatch, sns, alarms.plan_alarms(shop(), "other", account), False, lambda _: None)
    msf = botocore.session.get_session().create_client(
        "kinesisanalyticsv2", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="y"
    )
    created = datetime(2026, 12, 1, tzinfo=UTC)
    detail = {
        "ApplicationName": "shop",
        "ApplicationARN": f"arn:aws:kinesisanalytics:{REGION}:{account}:application/shop",
        "ApplicationStatus": "RUNNING",
        "ApplicationVersionId": 3,
        "RuntimeEnvironment": "FLINK-2_2",
        "CreateTimestamp": created,
    }
    summary = {k: detail[k] for k in ("ApplicationName", "ApplicationARN", "ApplicationStatus", "ApplicationVersionId")}
    clients = Clients(None, None, None, msf, None, cloudwatch, sns)
    with Stubber(msf) as stub:
        # the dry run reads and deletes nothing
        stub.add_response(
            "list_applications", {"ApplicationSummaries": [{**summary, "RuntimeEnvironment": "FLINK-2_2"}]}
        )
        stub.add_response("describe_application", {"ApplicationDetail": detail}, {"ApplicationName": "shop"})
        said = []
        assert delete(shop(), "shop", clients, dry_run=True, say=said.append)
        assert "would delete application shop (RUNNING)" in said and "would delete alarm shop-downtime" in said
        assert len(cloudwatch.describe_alarms()["MetricAlarms"]) == 12
        stub.add_response(
            "list_applications", {"ApplicationSummaries": [{**summary, "RuntimeEnvironment": "FLINK-2_2"}]}
        )
        stub.add_response("describe_application", {"ApplicationDetail": detail}, {"ApplicationName": "shop"})
        stub.add_response("delete_application", {}, {"ApplicationName": "shop", "CreateTimestamp": created})
        assert delete(shop(), "shop", clients, say=lambda _: None)
        stub.assert_no_pending_responses()
    left = sorted(a["AlarmName"] for a in cloudwatch.describe_alarms()["MetricAlarms"])
    assert left == [f"other-{suffix}" for suffix in sorted(alarms.SUFFIXES)]  # only shop's went
