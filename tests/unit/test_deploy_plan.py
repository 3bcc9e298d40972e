"""`clickflow deploy` without AWS: the IAM policy names exactly the profile's resources, the requests
are valid against the real API model, and the wait for RUNNING ends as it should."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import botocore.session
import pytest
from botocore.stub import Stubber

from clickflow.msf import deploy
from clickflow.msf.package import Package
from connectors.config import ConfigError, load_config

ACCOUNT = "123456789012"


def fake_package(tmp_path: Path) -> Package:
    path = tmp_path / "app.zip"
    path.write_bytes(b"PK\x05\x06" + b"\0" * 18)  # an empty zip: only its hash names the S3 key
    return Package(path, [], [], "ab" * 32, "test")


def kinesis_arns(policy: dict, sid: str) -> set[str]:
    (statement,) = [s for s in policy["Statement"] if s["Sid"] == sid]
    return set(statement["Resource"])


def test_policy_names_exactly_the_profiles_streams_archive_code_and_logs():
    config = load_config("aws", overrides=["aws.region=eu-west-1", "streams.anomalies.name=prod-alerts"])
    policy = deploy.iam_policy(config, ACCOUNT, "shop", "code-bucket", "msf/app.zip")
    profile = config.streams  # computed here from the profile, not through the code under test
    arn = "arn:aws:kinesis:eu-west-1:123456789012:stream/{}".format
    assert kinesis_arns(policy, "ReadEventsStream") == {arn(profile["events"].name)}
    outputs = {arn(spec.name) for role, spec in profile.items() if role != "events"}
    assert kinesis_arns(policy, "WriteOutputStreams") == outputs
    assert arn("prod-alerts") in outputs and len(outputs) == 6
    assert kinesis_arns(policy, "ReadApplicationCode") == {"arn:aws:s3:::code-bucket/msf/app.zip"}
    assert kinesis_arns(policy, "WriteArchive") == {"arn:aws:s3:::clickflow-data/archive/*"}
    (listing,) = [s for s in policy["Statement"] if s["Sid"] == "ListArchive"]
    assert listing["Resource"] == ["arn:aws:s3:::clickflow-data"]
    assert listing["Condition"] == {"StringLike": {"s3:prefix": ["archive", "archive/*"]}}
    logs = kinesis_arns(policy, "WriteLogs")
    assert all(r.startswith("arn:aws:logs:eu-west-1:123456789012:log-group:/aws/kinesis-analytics/shop:") for r in logs)
    for statement in policy["Statement"]:
        assert statement["Effect"] == "Allow"
        assert all("*" not in action for action in statement["Action"]), statement  # named actions only
        assert "*" not in statement["Resource"]
    reads = {a for s in policy["Statement"] if s["Sid"] == "ReadEventsStream" for a in s["Action"]}
    writes = {a for s in policy["Statement"] if s["Sid"] == "WriteOutputStreams" for a in s["Action"]}
    assert "kinesis:PutRecords" not in reads and "kinesis:GetRecords" not in writes


def test_a_job_reading_by_enhanced_fan_out_may_manage_and_subscribe_only_its_streams_consumers():
    efo = load_config("aws", overrides=["aws.region=eu-west-1"])
    policy = deploy.iam_policy(efo, ACCOUNT, "shop", "code-bucket", "msf/app.zip")
    events = f"arn:aws:kinesis:eu-west-1:123456789012:stream/{efo.streams['events'].name}"
    (fan_out,) = [s for s in policy["Statement"] if s["Sid"] == "FanOutFromEventsStream"]
    assert set(fan_out["Action"]) == {
        "kinesis:RegisterStreamConsumer",
        "kinesis:DescribeStreamConsumer",
        "kinesis:DeregisterStreamConsumer",
        "kinesis:SubscribeToShard",
    }
    assert fan_out["Resource"] == [events, f"{events}/consumer/*"]
    polling = load_config("aws", overrides=["aws.region=eu-west-1", "job.reader=polling"])
    sids = {s["Sid"] for s in deploy.iam_policy(polling, ACCOUNT, "shop", "b", "k")["Statement"]}
    assert "FanOutFromEventsStream" not in sids


def test_archive_must_be_on_s3():
    config = load_config("aws", overrides=["job.archive=/tmp/archive"])
    with pytest.raises(ConfigError, match="job.archive: Managed Flink writes to S3"):
        deploy.iam_policy(config, ACCOUNT, "shop", "b", "k")


def _client():
    return botocore.session.get_session().create_client(
        "kinesisanalyticsv2", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y"
    )


def test_requests_are_valid_against_the_api_model(tmp_path):
    """The Stubber validates each request against kinesisanalyticsv2's model; a misspelt member fails."""
    config = load_config("aws", overrides=[f"aws.account_id='{ACCOUNT}'"])
    options = deploy.DeployOptions(application="shop", parallelism=4)
    plan = deploy.make_plan(config, options, fake_package(tmp_path), ACCOUNT)
    msf = _client()
    detail = {
        "ApplicationARN": "arn:aws:kinesisanalytics:us-east-1:123456789012:application/shop",
        "ApplicationName": "shop",
        "RuntimeEnvironment": "FLINK-1_20",
        "ApplicationStatus": "READY",
        "ApplicationVersionId": 3,
    }
    create = deploy.create_request(plan, options)
    update = deploy.update_request(plan, options, detail)
    with Stubber(msf) as stub:
        stub.add_response("create_application", {"ApplicationDetail": detail}, create)
        stub.add_response("update_application", {"ApplicationDetail": detail}, update)
        msf.create_application(**create)
        msf.update_application(**update)
        stub.assert_no_pending_responses()
    assert create["RuntimeEnvironment"] == "FLINK-2_2"
    assert update["RuntimeEnvironmentUpdate"] == "FLINK-2_2"  # an older application is upgraded in place
    assert update["CurrentApplicationVersionId"] == 3
    flink = update["ApplicationConfigurationUpdate"]["FlinkApplicationConfigurationUpdate"]
    assert flink["ParallelismConfigurationUpdate"]["ParallelismUpdate"] == 4
    assert flink["CheckpointConfigurationUpdate"]["CheckpointIntervalUpdate"] == 60_000  # aws profile: 60s
    groups = create["ApplicationConfiguration"]["EnvironmentProperties"]["PropertyGroups"]
    (aws_group,) = [g for g in groups if g["PropertyGroupId"] == "aws"]
    assert aws_group["PropertyMap"]["account_id"] == f'"{ACCOUNT}"'


def test_a_misspelt_request_is_caught_by_the_model(tmp_path):
    msf = _client()
    with Stubber(msf) as stub:
        stub.add_response("start_application", {})
        with pytest.raises(Exception, match="Unknown parameter"):
            msf.start_application(ApplicationName="shop", RunConfig={})


def _statuses(*statuses):
    msf = _client()
    stub = Stubber(msf)
    for status in statuses:
        stub.add_response(
            "describe_application",
            {
                "ApplicationDetail": {
                    "ApplicationARN": "arn:aws:kinesisanalytics:us-east-1:123456789012:application/shop",
                    "ApplicationName": "shop",
                    "RuntimeEnvironment": "FLINK-2_2",
                    "ApplicationStatus": status,
                    "ApplicationVersionId": 2,
                }
            },
            {"ApplicationName": "shop"},
        )
    stub.activate()
    return msf, stub


def test_wait_ends_at_running():
    msf, stub = _statuses("STARTING", "STARTING", "RUNNING")
    said = []
    detail = deploy.wait_for_running(msf, "shop", 60, 1, said.append, sleep=lambda _: None)
    assert detail["ApplicationStatus"] == "RUNNING"
    assert said == ["application shop: STARTING", "application shop: RUNNING"]
    stub.assert_no_pending_responses()


def test_wait_fails_when_the_application_falls_back_to_ready():
    msf, _ = _statuses("STARTING", "READY")
    with pytest.raises(deploy.DeployError, match="is READY, not RUNNING.*CloudWatch"):
        deploy.wait_for_running(msf, "shop", 60, 1, lambda _: None, sleep=lambda _: None)


def test_wait_gives_up_after_the_timeout():
    msf, _ = _statuses("STARTING", "STARTING", "STARTING")
    now = [0.0]

    def sleep(seconds):
        now[0] += 30

    with pytest.raises(deploy.DeployError, match="still STARTING after 60s"):
        deploy.wait_for_running(msf, "shop", 60, 30, lambda _: None, sleep=sleep, clock=lambda: now[0])


def test_parallelism_must_be_positive(tmp_path):
    config = load_config("aws")
    options = dataclasses.replace(deploy.DeployOptions(), parallelism=-1)
    with pytest.raises(ConfigError, match="--parallelism"):
        deploy.make_plan(config, options, fake_package(tmp_path), ACCOUNT)
