"""`clickflow deploy` against the local stack: moto serves S3, IAM, CloudWatch Logs, STS and, of
kinesisanalyticsv2, create/describe/list. The second deployment (update, start, wait for RUNNING)
uses botocore's Stubber over the real API model for the application calls, moto for the rest."""

from __future__ import annotations

import json
import zipfile

import botocore.session
import pytest
from botocore.stub import Stubber

from clickflow.msf import deploy
from clickflow.msf.package import build_package
from connectors import aws
from connectors.config import load_config
from tests.conftest import run_cli

pytestmark = pytest.mark.integration


@pytest.fixture
def aws_on_stack(local_stack):
    """The aws profile, pointed at the local stack."""
    config, _ = local_stack
    endpoints = config.aws.endpoints
    overrides = [
        "aws.credentials=local",
        f"aws.endpoints.default={endpoints['default']}",
        f"aws.endpoints.kinesis={endpoints['kinesis']}",
        "bucket=clickflow-deploy-test",
        "job.archive=s3://clickflow-deploy-test/archive",
    ]
    return load_config("aws", overrides=overrides), overrides


@pytest.fixture
def package(tmp_path, aws_on_stack):
    config, _ = aws_on_stack
    return build_package(config, tmp_path / "app.zip", say=lambda _: None)


def _apps(config):
    return [
        a["ApplicationName"]
        for a in aws.client(config, "kinesisanalyticsv2").list_applications()["ApplicationSummaries"]
    ]


def _role_exists(config, name):
    return any(r["RoleName"] == name for r in aws.client(config, "iam").list_roles()["Roles"])


def test_dry_run_changes_nothing_then_create_then_update_and_start(tmp_path, aws_on_stack, package):
    config, overrides = aws_on_stack
    app = f"clickflow-test-{tmp_path.name[-8:].lower().replace('_', '-')}"
    policy_file = tmp_path / "policy.json"

    # --dry-run through the real command: reads, prints, changes nothing
    result = run_cli(
        "deploy",
        "--profile",
        "aws",
        "--package",
        str(package.path),
        "--application",
        app,
        "--dry-run",
        "--policy-out",
        str(policy_file),
        overrides=overrides,
    )
    assert "would create application" in result.stdout and "nothing was changed" in result.stdout
    assert app not in _apps(config)
    assert not _role_exists(config, f"clickflow-{app}-msf")
    assert "would create bucket s3://clickflow-deploy-test" in result.stdout
    assert not _bucket_exists(config)  # so nothing was uploaded either
    assert not aws.client(config, "logs").describe_log_groups(logGroupNamePrefix=f"/aws/kinesis-analytics/{app}")[
        "logGroups"
    ]
    assert json.loads(policy_file.read_text())["Statement"]  # the policy is written for review
    assert f"would put alarm {app}-downtime" in result.stdout and f"{app}-failed-checkpoints" in result.stdout
    assert not aws.client(config, "cloudwatch").describe_alarms(AlarmNamePrefix=app)["MetricAlarms"]

    # first deployment: create (moto has no start; create only)
    clients = deploy.Clients.for_config(config)
    options = deploy.DeployOptions(application=app, start=False, policy_out=policy_file)
    said = []
    deploy.deploy(config, package, options, clients, said.append)
    assert app in _apps(config)
    detail = clients.msf.describe_application(ApplicationName=app)["ApplicationDetail"]
    assert detail["RuntimeEnvironment"] == "FLINK-2_2"
    account = clients.sts.get_caller_identity()["Account"]
    assert detail["ServiceExecutionRole"] == f"arn:aws:iam::{account}:role/clickflow-{app}-msf"
    code = detail["ApplicationConfigurationDescription"]["ApplicationCodeConfigurationDescription"]
    location = code["CodeContentDescription"]["S3ApplicationCodeLocationDescription"]
    uploaded = clients.s3.get_object(Bucket="clickflow-deploy-test", Key=location["FileKey"])["Body"].read()
    assert uploaded == package.path.read_bytes()
    groups = detail["ApplicationConfigurationDescription"]["EnvironmentPropertyDescriptions"][
        "PropertyGroupDescriptions"
    ]
    by_id = {g["PropertyGroupId"]: g["PropertyMap"] for g in groups}
    assert by_id["kinesis.analytics.flink.run.options"] == {"python": "main.py", "jarfile": "lib/clickflow-msf.jar"}
    assert by_id["aws"]["account_id"] == f'"{account}"'  # from the credentials, not the placeholder
    role = f"clickflow-{app}-msf"
    trust = clients.iam.get_role(RoleName=role)["Role"]["AssumeRolePolicyDocument"]
    assert trust["Statement"][0]["Principal"] == {"Service": "kinesisanalytics.amazonaws.com"}
    inline = clients.iam.get_role_policy(RoleName=role, PolicyName=f"{role}-policy")["PolicyDocument"]
    assert inline == json.loads(policy_file.read_text())
    streams = clients.logs.describe_log_streams(logGroupName=f"/aws/kinesis-analytics/{app}")["logStreams"]
    assert [s["logStreamName"] for s in streams] == ["kinesis-analytics-log-stream"]
    held = clients.cloudwatch.describe_alarms(AlarmNamePrefix=app)["MetricAlarms"]
    assert sorted(a["AlarmName"] for a in held) == [
        f"{app}-{n}" for n in ("checkpoint-age", "dead-letters", "downtime", "failed-checkpoints", "lag", "restarts")
    ]
    assert {a["AlarmActions"][0] for a in held} == {f"arn:aws:sns:{config.aws.region}:{account}:{config.alerts.topic}"}

    # second deployment: update, start, wait — the application calls stubbed over the real model
    msf = botocore.session.get_session().create_client(
        "kinesisanalyticsv2", region_name=config.aws.region, aws_access_key_id="x", aws_secret_access_key="y"
    )
    summary = {
        "ApplicationName": app,
        "ApplicationARN": detail["ApplicationARN"],
        "ApplicationStatus": "READY",
        "ApplicationVersionId": 1,
        "RuntimeEnvironment": "FLINK-2_2",
    }
    requests = {}
    msf.meta.events.register(
        "before-parameter-build",
        lambda params, model, **_: requests.__setitem__(model.name, params),
    )
    described = {**summary, "ServiceExecutionRole": detail["ServiceExecutionRole"]}
    with Stubber(msf) as stub:
        stub.add_response("list_applications", {"ApplicationSummaries": [summary]}, {})
        stub.add_response("describe_application", {"ApplicationDetail": described}, {"ApplicationName": app})
        updated = {**described, "ApplicationVersionId": 2}
        stub.add_response("update_application", {"ApplicationDetail": updated})
        stub.add_response("start_application", {}, {"ApplicationName": app})
        for status in ("STARTING", "RUNNING"):
            stub.add_response(
                "describe_application",
                {"ApplicationDetail": {**updated, "ApplicationStatus": status}},
                {"ApplicationName": app},
            )
        clients.msf = msf
        said.clear()
        final = deploy.deploy(
            config,
            package,
            deploy.DeployOptions(application=app, parallelism=2, policy_out=policy_file, poll_interval=0),
            clients,
            said.append,
        )
        stub.assert_no_pending_responses()
    assert final["ApplicationStatus"] == "RUNNING"
    update = requests["UpdateApplication"]
    assert update["CurrentApplicationVersionId"] == 1
    assert "RuntimeEnvironmentUpdate" not in update  # already FLINK-2_2
    new_key = update["ApplicationConfigurationUpdate"]["ApplicationCodeConfigurationUpdate"]["CodeContentUpdate"][
        "S3ContentLocationUpdate"
    ]["FileKeyUpdate"]
    assert (
        clients.s3.get_object(Bucket="clickflow-deploy-test", Key=new_key)["Body"].read() == package.path.read_bytes()
    )
    flink = update["ApplicationConfigurationUpdate"]["FlinkApplicationConfigurationUpdate"]
    assert flink["ParallelismConfigurationUpdate"]["ParallelismUpdate"] == 2
    assert any("is RUNNING" in line for line in said)

    # --delete --dry-run through the real command: names the application and its alarms, deletes nothing
    gone = run_cli("deploy", "--profile", "aws", "--delete", "--application", app, "--dry-run", overrides=overrides)
    assert f"would delete application {app}" in gone.stdout and f"would delete alarm {app}-restarts" in gone.stdout
    assert len(aws.client(config, "cloudwatch").describe_alarms(AlarmNamePrefix=app)["MetricAlarms"]) == 6
    refused = run_cli("deploy", "--delete", "--local", check=False)
    assert refused.returncode == 1 and "--delete removes the application" in refused.stderr


def _bucket_exists(config) -> bool:
    names = [b["Name"] for b in aws.client(config, "s3").list_buckets().get("Buckets", [])]
    return "clickflow-deploy-test" in names


def test_package_command_writes_the_zip_and_groups(tmp_path, aws_on_stack):
    _, overrides = aws_on_stack
    out = tmp_path / "pkg" / "app.zip"
    result = run_cli("package", "--output", str(out))
    assert f"wrote {out}" in result.stdout
    with zipfile.ZipFile(out) as archive:
        assert "main.py" in archive.namelist()
    groups = json.loads(out.with_suffix(".properties.json").read_text())
    assert groups[0]["PropertyGroupId"] == "kinesis.analytics.flink.run.options"
    bad = run_cli(
        "package",
        "--connector",
        "official",
        "--connector-jar",
        str(tmp_path / "absent.jar"),
        "--output",
        str(out),
        check=False,
    )
    assert bad.returncode == 1 and "absent.jar: no such file" in bad.stderr
