"""`clickflow alerts deploy` against moto's in-process AWS: the dry run changes nothing; a deploy makes
the table, topic, failure queue, role and policy, function and event source mapping; a second one
updates them; the policy names exactly the profile's resources."""

from __future__ import annotations

import json

import boto3
import pytest
from moto import mock_aws

from clickflow.alerts.core import AlertSettings
from clickflow.alerts.deploy import HANDLER, AlertsDeployOptions, DeployClients, deploy, make_plan
from clickflow.alerts.handler import SETTINGS_VARIABLE
from connectors.config import load_config

REGION = "eu-west-1"


def shop_config(*extra: str):
    """The aws profile with the shop's names, and ``extra`` overrides."""
    names = [
        f"aws.region={REGION}",
        "streams.anomalies.name=prod-anomalies",
        "alerts.function=shop-alerts",
        "alerts.table=shop-anomalies",
        "alerts.topic=shop-alerts",
        "alerts.namespace=shop",
    ]
    return load_config("aws", overrides=[*names, *extra])


@pytest.fixture
def cloud(monkeypatch, tmp_path):
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(key, "testing")
    monkeypatch.delenv("CLICKFLOW_ALERTS_WEBHOOK", raising=False)
    with mock_aws():
        names = ("iam", "dynamodb", "sns", "sqs", "lambda", "sts", "kinesis")
        clients = DeployClients(*(boto3.client(name, region_name=REGION) for name in names))
        clients.kinesis.create_stream(StreamName="prod-anomalies", ShardCount=1)
        config = shop_config("alerts.batch_size=50", "alerts.max_retries=3", "alerts.rate_limit.max_per_entity=5")
        options = AlertsDeployOptions(
            policy_out=tmp_path / "policy.json", package_out=tmp_path / "alerts.zip", role_wait=0
        )
        yield config, options, clients


def test_the_dry_run_prints_the_plan_and_changes_nothing(cloud):
    config, options, clients = cloud
    said = []
    deploy(config, AlertsDeployOptions(**{**options.__dict__, "dry_run": True}), clients, said.append)
    assert "dry run: nothing was changed" in said
    assert any("would create DynamoDB table shop-anomalies" in line for line in said)
    assert clients.lambda_.list_functions()["Functions"] == []
    assert clients.iam.list_roles()["Roles"] == []
    assert clients.dynamodb.list_tables()["TableNames"] == []
    assert clients.sns.list_topics()["Topics"] == []


def test_deploy_creates_everything_then_updates_it(cloud):
    config, options, clients = cloud
    plan = deploy(config, options, clients, lambda _: None)
    account = clients.sts.get_caller_identity()["Account"]

    assert clients.dynamodb.describe_table(TableName="shop-anomalies")["Table"]["TableStatus"] == "ACTIVE"
    assert any(
        t["TopicArn"] == f"arn:aws:sns:{REGION}:{account}:shop-alerts" for t in clients.sns.list_topics()["Topics"]
    )
    assert clients.sqs.get_queue_url(QueueName="shop-alerts-failures")["QueueUrl"]
    policy = clients.iam.get_role_policy(RoleName="shop-alerts-role", PolicyName="shop-alerts-role-policy")
    assert policy["PolicyDocument"] == plan.policy
    trust = clients.iam.get_role(RoleName="shop-alerts-role")["Role"]["AssumeRolePolicyDocument"]
    assert trust["Statement"][0]["Principal"] == {"Service": "lambda.amazonaws.com"}

    function = clients.lambda_.get_function_configuration(FunctionName="shop-alerts")
    assert (function["Runtime"], function["Handler"], function["Role"]) == ("python3.12", HANDLER, plan.role_arn)
    settings = AlertSettings.from_json(function["Environment"]["Variables"][SETTINGS_VARIABLE])
    assert (settings.table, settings.topic_arn, settings.namespace) == ("shop-anomalies", plan.topic_arn, "shop")
    assert settings.rate_limit_max == 5 and settings.thresholds["bot_burst"].critical == 3.0

    (mapping,) = clients.lambda_.list_event_source_mappings(FunctionName="shop-alerts")["EventSourceMappings"]
    assert mapping["EventSourceArn"] == f"arn:aws:kinesis:{REGION}:{account}:stream/prod-anomalies"
    assert mapping["BatchSize"] == 50 and mapping["MaximumRetryAttempts"] == 3
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["BisectBatchOnFunctionError"] is True
    assert mapping["DestinationConfig"]["OnFailure"]["Destination"] == plan.queue_arn
    assert mapping["StartingPosition"] == "TRIM_HORIZON"

    # again, with other settings: updated in place, nothing doubled
    changed = shop_config("alerts.batch_size=20", "alerts.min_severity=critical")
    said = []
    deploy(changed, options, clients, said.append)
    assert any(line.startswith("update function shop-alerts") for line in said)
    (mapping,) = clients.lambda_.list_event_source_mappings(FunctionName="shop-alerts")["EventSourceMappings"]
    assert mapping["BatchSize"] == 20
    variables = clients.lambda_.get_function_configuration(FunctionName="shop-alerts")["Environment"]["Variables"]
    assert AlertSettings.from_json(variables[SETTINGS_VARIABLE]).min_severity == "critical"
    assert len(clients.lambda_.list_functions()["Functions"]) == 1


def test_the_policy_names_exactly_the_profiles_resources(cloud):
    config, _, _ = cloud
    plan = make_plan(config, "123456789012")
    by_sid = {s["Sid"]: s for s in plan.policy["Statement"]}
    assert by_sid["RecordAnomalies"]["Resource"] == f"arn:aws:dynamodb:{REGION}:123456789012:table/shop-anomalies"
    assert by_sid["Notify"]["Resource"] == f"arn:aws:sns:{REGION}:123456789012:shop-alerts"
    assert by_sid["Metrics"]["Condition"] == {"StringEquals": {"cloudwatch:namespace": "shop"}}
    assert by_sid["ReadAnomalies"]["Resource"] == f"arn:aws:kinesis:{REGION}:123456789012:stream/prod-anomalies"
    assert by_sid["FailedRecords"]["Resource"] == f"arn:aws:sqs:{REGION}:123456789012:shop-alerts-failures"
    assert (
        by_sid["Logs"]["Resource"]
        == f"arn:aws:logs:{REGION}:123456789012:log-group:/aws/lambda/shop-alerts:log-stream:*"
    )
    for statement in plan.policy["Statement"]:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        assert all("*" not in action for action in actions), statement
        # the only "*" resource is PutMetricData's, which has no resource-level permissions
        assert statement["Resource"] != "*" or statement["Sid"] == "Metrics"
    assert json.loads(json.dumps(plan.policy)) == plan.policy


def test_deploy_refuses_when_the_anomalies_stream_is_missing(cloud):
    config, options, clients = cloud
    clients.kinesis.delete_stream(StreamName="prod-anomalies")
    from clickflow.alerts.deploy import AlertsDeployError

    with pytest.raises(AlertsDeployError, match="the anomalies stream 'prod-anomalies' does not exist in eu-west-1"):
        deploy(config, options, clients, lambda _: None)
