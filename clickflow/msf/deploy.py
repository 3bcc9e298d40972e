"""``clickflow deploy``: the package to S3, then a Managed Service for Apache Flink application created
or updated from the profile, started, and watched until it runs.

Steps, each skipped when already so: the bucket; the zip at ``s3://<bucket>/msf/clickflow-<version>-<sha>.zip``
(content-addressed, so an update always names new code); the log group and stream; the service role
``clickflow-<app>-msf`` trusted by Managed Flink, with one inline policy naming exactly the profile's
streams, archive prefix, code object and log stream (also written to a file for review); the
application (runtime FLINK-2_2, property groups, checkpointing, parallelism, monitoring); start when
it is READY; wait for RUNNING. ``--dry-run`` reads, prints the plan and the policy, and changes nothing.

Clients come in as arguments (``Clients``), so tests give moto for S3, IAM, logs and STS and a
botocore Stubber over the real API model for the calls moto lacks (update, start).
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from clickflow import __version__
from clickflow.msf.package import Package, property_groups
from connectors import official
from connectors.config import Config, ConfigError
from connectors.tables import partition, stream_arn
from jobs import analytics

RUNTIME = official.MSF_RUNTIME
LOG_STREAM = "kinesis-analytics-log-stream"
TRUST_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "kinesisanalytics.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ],
}
# ApplicationStatus values that mean "on its way"; anything else but RUNNING ends the wait
TRANSITIONAL = {"STARTING", "UPDATING", "AUTOSCALING", "MAINTENANCE", "ROLLING_BACK"}


class DeployError(RuntimeError):
    """The deployment cannot go on; the message says what is wrong and what to do."""


@dataclass(frozen=True)
class DeployOptions:
    """What ``clickflow deploy`` was asked for: the application's name, role, parallelism, and what to do."""

    application: str = "clickflow"
    role_arn: str | None = None  # an existing service role; default: create/update clickflow-<app>-msf
    parallelism: int | None = None  # default: the profile's flink.parallelism
    parallelism_per_kpu: int = 1
    log_level: str = "INFO"  # INFO | WARN | ERROR | DEBUG
    # APPLICATION | OPERATOR | PARALLELISM | TASK. OPERATOR: clickflow's own metrics (per shard, per stream, dead
    # letters) are operator metrics, and the alarms on lag, checkpoint age and dead letters read them
    metrics_level: str = "OPERATOR"
    start: bool = True
    wait: bool = True
    timeout: float = 900.0
    poll_interval: float = 10.0
    dry_run: bool = False
    policy_out: Path = Path("out/msf/iam-policy.json")


@dataclass
class Clients:
    """The boto3 clients the Managed Flink deploy talks to (tests pass stubbed ones)."""

    s3: Any  # a boto3 client
    iam: Any  # a boto3 client
    logs: Any  # a boto3 client
    msf: Any  # a boto3 client: kinesisanalyticsv2
    sts: Any  # a boto3 client
    cloudwatch: Any = None  # a boto3 client: the application's alarms (monitoring.alarms)
    sns: Any = None  # a boto3 client: the alarms' topic

    @classmethod
    def for_config(cls, config: Config) -> Clients:
        """Clients for every service the deploy uses, from the profile's endpoints and credentials."""
        from connectors import aws

        names = ("s3", "iam", "logs", "kinesisanalyticsv2", "sts", "cloudwatch", "sns")
        return cls(*(aws.client(config, name) for name in names))


@dataclass(frozen=True)
class Plan:
    """Everything the deployment will name, computed before anything is changed."""

    application: str
    account: str
    region: str
    bucket: str
    code_key: str
    role_name: str
    role_arn: str
    log_group: str
    log_stream_arn: str
    policy: dict
    property_groups: list[dict]
    parallelism: int
    checkpoint_interval_ms: int

    @property
    def bucket_arn(self) -> str:
        """The ARN of the bucket that holds the code and the archive."""
        return f"arn:{partition(self.region)}:s3:::{self.bucket}"


def in_account(config: Config, account: str) -> Config:
    """The config with the deploying credentials' account (its ARNs name that account)."""
    return dataclasses.replace(config, aws=dataclasses.replace(config.aws, account_id=account))


def _s3_location(url: str, key: str) -> tuple[str, str]:
    parsed = urlparse(url)
    if parsed.scheme != "s3" or not parsed.netloc:
        raise ConfigError(f"{key}: Managed Flink writes to S3, so this must be s3://bucket/prefix, got {url!r}")
    return parsed.netloc, parsed.path.strip("/")


def _fan_out_statements(config: Config, events: str) -> list[dict]:
    """With ``job.reader: efo``: registering, describing and deregistering the job's stream consumers on the
    events stream, and subscribing to their shards (the consumers' ARNs are the stream's ARN + /consumer/...)."""
    if config.job.reader != "efo":
        return []
    return [
        {
            "Sid": "FanOutFromEventsStream",
            "Effect": "Allow",
            "Action": [
                "kinesis:RegisterStreamConsumer",
                "kinesis:DescribeStreamConsumer",
                "kinesis:DeregisterStreamConsumer",
                "kinesis:SubscribeToShard",
            ],
            "Resource": [events, f"{events}/consumer/*"],
        }
    ]


def iam_policy(config: Config, account: str, application: str, bucket: str, code_key: str, etl=None, job=None) -> dict:
    """The least-privilege policy of the application's role: exactly the profile's resources — or,
    for an ETL application, exactly its source stream and the streams it routes to (no archive), or for
    a migrated KDA application, its input stream, its output streams and its reference objects."""
    region, arn_partition = config.aws.region, partition(config.aws.region)
    located = in_account(config, account)
    if job is not None:
        events = stream_arn(located, job.input_stream)
        outputs = sorted({stream_arn(located, name) for name in job.outputs.values()})
    elif etl is not None:
        events = stream_arn(located, etl.source)
        outputs = sorted({stream_arn(located, name) for name in (*(r.to for r in etl.routes), etl.errors)})
    else:
        events = stream_arn(located, config.stream("events").name)
        outputs = sorted(
            {stream_arn(located, config.output_stream(name).name) for name in (*analytics.ANALYTICS, "dead_letters")}
        )
    archive_bucket, archive_prefix = _s3_location(config.job.archive, "job.archive")
    archive = f"{archive_prefix}/" if archive_prefix else ""
    log_group = f"arn:{arn_partition}:logs:{region}:{account}:log-group:/aws/kinesis-analytics/{application}"
    policy: dict[str, Any] = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "ReadEventsStream",
                "Effect": "Allow",
                "Action": [
                    "kinesis:DescribeStream",
                    "kinesis:DescribeStreamSummary",
                    "kinesis:ListShards",
                    "kinesis:GetShardIterator",
                    "kinesis:GetRecords",
                ],
                "Resource": [events],
            },
            *_fan_out_statements(config, events),
            {
                "Sid": "WriteOutputStreams",
                "Effect": "Allow",
                "Action": [
                    "kinesis:DescribeStreamSummary",
                    "kinesis:ListShards",
                    "kinesis:PutRecord",
                    "kinesis:PutRecords",
                ],
                "Resource": outputs,
            },
            {
                "Sid": "ReadApplicationCode",
                "Effect": "Allow",
                "Action": ["s3:GetObject", "s3:GetObjectVersion"],
                "Resource": [f"arn:{arn_partition}:s3:::{bucket}/{code_key}"],
            },
            {
                "Sid": "WriteArchive",
                "Effect": "Allow",
                "Action": [
                    "s3:PutObject",
                    "s3:GetObject",
                    "s3:DeleteObject",
                    "s3:AbortMultipartUpload",
                    "s3:ListMultipartUploadParts",
                ],
                "Resource": [f"arn:{arn_partition}:s3:::{archive_bucket}/{archive}*"],
            },
            {
                "Sid": "ListArchive",
                "Effect": "Allow",
                "Action": ["s3:ListBucket"],
                "Resource": [f"arn:{arn_partition}:s3:::{archive_bucket}"],
                "Condition": {"StringLike": {"s3:prefix": [archive_prefix, f"{archive}*"] if archive else ["*"]}},
            },
            {
                "Sid": "WriteLogs",
                "Effect": "Allow",
                "Action": ["logs:PutLogEvents", "logs:DescribeLogStreams"],
                "Resource": [f"{log_group}:log-stream:{LOG_STREAM}", f"{log_group}:log-stream:*"],
            },
            {
                "Sid": "FindLogGroup",
                "Effect": "Allow",
                "Action": ["logs:DescribeLogGroups"],
                "Resource": [f"arn:{arn_partition}:logs:{region}:{account}:log-group:*"],
            },
        ],
    }
    if etl is not None or job is not None:  # neither writes the archive
        policy["Statement"] = [s for s in policy["Statement"] if s["Sid"] not in ("WriteArchive", "ListArchive")]
    if job is not None and job.references:
        objects = sorted(f"arn:{arn_partition}:s3:::{r.path[len('s3://') :]}" for r in job.references.values())
        policy["Statement"].append(
            {"Sid": "ReadReferenceData", "Effect": "Allow", "Action": ["s3:GetObject"], "Resource": objects}
        )
    return policy


def make_plan(config: Config, options: DeployOptions, package: Package, account: str) -> Plan:
    """Every name, ARN and setting of the application for ``package`` in ``account``, before any call."""
    region, arn_partition = config.aws.region, partition(config.aws.region)
    code_key = f"msf/clickflow-{__version__}-{official.sha256_of(package.path)[:12]}.zip"
    role_name = f"clickflow-{options.application}-msf"
    role_arn = options.role_arn or f"arn:{arn_partition}:iam::{account}:role/{role_name}"
    log_group = f"/aws/kinesis-analytics/{options.application}"
    parallelism = options.parallelism or config.flink.parallelism
    if parallelism < 1:
        raise ConfigError(f"--parallelism: must be at least 1, got {parallelism}")
    return Plan(
        application=options.application,
        account=account,
        region=region,
        bucket=config.bucket,
        code_key=code_key,
        role_name=role_name,
        role_arn=role_arn,
        log_group=log_group,
        log_stream_arn=f"arn:{arn_partition}:logs:{region}:{account}:log-group:{log_group}:log-stream:{LOG_STREAM}",
        policy=iam_policy(config, account, options.application, config.bucket, code_key, package.etl, package.job),
        property_groups=property_groups(in_account(config, account)),
        parallelism=parallelism,
        checkpoint_interval_ms=int(config.job.checkpoint_interval * 1000),
    )


def _flink_configuration(plan: Plan, options: DeployOptions) -> dict:
    return {
        "CheckpointConfiguration": {
            "ConfigurationType": "CUSTOM",
            "CheckpointingEnabled": True,
            "CheckpointInterval": plan.checkpoint_interval_ms,
            "MinPauseBetweenCheckpoints": min(5000, plan.checkpoint_interval_ms),
        },
        "MonitoringConfiguration": {
            "ConfigurationType": "CUSTOM",
            "MetricsLevel": options.metrics_level,
            "LogLevel": options.log_level,
        },
        "ParallelismConfiguration": {
            "ConfigurationType": "CUSTOM",
            "Parallelism": plan.parallelism,
            "ParallelismPerKPU": options.parallelism_per_kpu,
            "AutoScalingEnabled": False,
        },
    }


def create_request(plan: Plan, options: DeployOptions) -> dict:
    """The ``CreateApplication`` request for the plan."""
    return {
        "ApplicationName": plan.application,
        "ApplicationDescription": f"clickflow {__version__}: clickstream analytics on Kinesis",
        "RuntimeEnvironment": RUNTIME,
        "ServiceExecutionRole": plan.role_arn,
        "ApplicationConfiguration": {
            "ApplicationCodeConfiguration": {
                "CodeContent": {"S3ContentLocation": {"BucketARN": plan.bucket_arn, "FileKey": plan.code_key}},
                "CodeContentType": "ZIPFILE",
            },
            "EnvironmentProperties": {"PropertyGroups": plan.property_groups},
            "FlinkApplicationConfiguration": _flink_configuration(plan, options),
            "ApplicationSnapshotConfiguration": {"SnapshotsEnabled": True},
        },
        "CloudWatchLoggingOptions": [{"LogStreamARN": plan.log_stream_arn}],
        "Tags": [{"Key": "clickflow", "Value": __version__}],
    }


def _as_update(section: dict) -> dict:
    """CreateApplication's configuration names, as UpdateApplication spells them (``XUpdate``)."""
    return {f"{key}Update": (_as_update(value) if isinstance(value, dict) else value) for key, value in section.items()}


def update_request(plan: Plan, options: DeployOptions, current: dict) -> dict:
    """The ``UpdateApplication`` request that moves the ``current`` application to the plan."""
    request = {
        "ApplicationName": plan.application,
        "CurrentApplicationVersionId": current["ApplicationVersionId"],
        "ApplicationConfigurationUpdate": {
            "ApplicationCodeConfigurationUpdate": {
                "CodeContentTypeUpdate": "ZIPFILE",
                "CodeContentUpdate": {
                    "S3ContentLocationUpdate": {
                        "BucketARNUpdate": plan.bucket_arn,
                        "FileKeyUpdate": plan.code_key,
                    }
                },
            },
            "EnvironmentPropertyUpdates": {"PropertyGroups": plan.property_groups},
            "FlinkApplicationConfigurationUpdate": _as_update(_flink_configuration(plan, options)),
            "ApplicationSnapshotConfigurationUpdate": {"SnapshotsEnabledUpdate": True},
        },
        "ServiceExecutionRoleUpdate": plan.role_arn,
    }
    if current.get("RuntimeEnvironment") != RUNTIME:
        request["RuntimeEnvironmentUpdate"] = RUNTIME  # an in-place upgrade of an older Flink application
    return request


# --------------------------------------------------------------------------- doing it


def _find_application(msf, name: str) -> dict | None:
    token = None
    while True:
        page = msf.list_applications(**({"NextToken": token} if token else {}))
        for summary in page.get("ApplicationSummaries", []):
            if summary["ApplicationName"] == name:
                return msf.describe_application(ApplicationName=name)["ApplicationDetail"]
        token = page.get("NextToken")
        if not token:
            return None


def _ensure_logs(logs, plan: Plan, dry_run: bool, say) -> None:
    found = logs.describe_log_groups(logGroupNamePrefix=plan.log_group).get("logGroups", [])
    if not any(group["logGroupName"] == plan.log_group for group in found):
        say(f"{'would create' if dry_run else 'creating'} log group {plan.log_group}")
        if not dry_run:
            logs.create_log_group(logGroupName=plan.log_group)
    else:
        streams = logs.describe_log_streams(logGroupName=plan.log_group, logStreamNamePrefix=LOG_STREAM)
        if any(s["logStreamName"] == LOG_STREAM for s in streams.get("logStreams", [])):
            return
    say(f"{'would create' if dry_run else 'creating'} log stream {LOG_STREAM}")
    if not dry_run:
        logs.create_log_stream(logGroupName=plan.log_group, logStreamName=LOG_STREAM)


def wait_for_running(msf, name: str, timeout: float, poll: float, say, sleep=time.sleep, clock=time.monotonic) -> dict:
    """Poll until the application is RUNNING; a status that is neither RUNNING nor on its way ends it."""
    deadline = clock() + timeout
    last = None
    while True:
        detail = msf.describe_application(ApplicationName=name)["ApplicationDetail"]
        status = detail["ApplicationStatus"]
        if status != last:
            say(f"application {name}: {status}")
            last = status
        if status == "RUNNING":
            return detail
        if status not in TRANSITIONAL:
            raise DeployError(
                f"application {name} is {status}, not RUNNING: see its logs in CloudWatch "
                f"(/aws/kinesis-analytics/{name}) for why it stopped"
            )
        if clock() >= deadline:
            raise DeployError(f"application {name} still {status} after {timeout:.0f}s; `clickflow deploy` again waits")
        sleep(poll)


def _alarms(config: Config, plan: Plan, clients: Clients, dry: bool, say) -> None:
    """The application's CloudWatch alarms (``monitoring:``), unless ``monitoring.alarms`` is off."""
    from clickflow.msf.alarms import ensure_alarms, plan_alarms

    if not config.monitoring.alarms:
        say("monitoring.alarms is off: no CloudWatch alarms")
        return
    alarms = plan_alarms(config, plan.application, plan.account)
    ensure_alarms(clients.cloudwatch, clients.sns, alarms, dry, say)
    if dry:
        say(json.dumps(alarms.alarms, indent=2))


def delete(
    config: Config, application: str, clients: Clients, dry_run: bool = False, say: Callable[[str], None] = print
) -> bool:
    """``clickflow deploy --delete``: the application and its alarms removed (its role, log group and
    code in S3 stay: they cost nothing running and hold its history). True when there was one to delete."""
    from clickflow.msf.alarms import delete_alarms

    current = _find_application(clients.msf, application)
    if current is None:
        say(f"no application {application} in {config.aws.region}")
    else:
        say(f"{'would delete' if dry_run else 'deleting'} application {application} ({current['ApplicationStatus']})")
        if not dry_run:
            clients.msf.delete_application(ApplicationName=application, CreateTimestamp=current["CreateTimestamp"])
    delete_alarms(clients.cloudwatch, application, dry_run, say)
    if dry_run:
        say("dry run: nothing was changed")
    return current is not None


def deploy(
    config: Config,
    package: Package,
    options: DeployOptions,
    clients: Clients,
    say: Callable[[str], None] = print,
    sleep=time.sleep,
) -> dict | None:
    """Deploy ``package``; returns the application's final description (None on a dry run)."""
    account = clients.sts.get_caller_identity()["Account"]
    if config.aws.account_id not in ("000000000000", account):
        raise ConfigError(f"aws.account_id is {config.aws.account_id}, but the credentials are for account {account}")
    plan = make_plan(config, options, package, account)
    options.policy_out.parent.mkdir(parents=True, exist_ok=True)
    options.policy_out.write_text(json.dumps(plan.policy, indent=2) + "\n", encoding="utf-8")
    say(f"IAM policy of the application's role: {options.policy_out}")
    current = _find_application(clients.msf, plan.application)
    dry = options.dry_run
    from connectors.aws import ensure_bucket, ensure_role

    ensure_bucket(clients.s3, plan.bucket, plan.region, say, dry_run=dry)
    say(f"{'would upload' if dry else 'uploading'} {package.path} to s3://{plan.bucket}/{plan.code_key}")
    if not dry:
        clients.s3.upload_file(str(package.path), plan.bucket, plan.code_key)
    _ensure_logs(clients.logs, plan, dry, say)
    if options.role_arn:
        say(
            f"service role: {options.role_arn} (given; its policy is yours to keep — compare with {options.policy_out})"
        )
    else:
        ensure_role(
            clients.iam,
            plan.role_name,
            TRUST_POLICY,
            plan.policy,
            f"clickflow: the Managed Flink application {plan.application}",
            say,
            dry,
            tags=[{"Key": "clickflow", "Value": __version__}],
        )
    if current is None:
        request = create_request(plan, options)
        say(f"{'would create' if dry else 'creating'} application {plan.application} ({RUNTIME})")
    else:
        request = update_request(plan, options, current)
        say(
            f"{'would update' if dry else 'updating'} application {plan.application} "
            f"(version {current['ApplicationVersionId']}, {current['ApplicationStatus']})"
        )
    if dry:
        say(json.dumps(request, indent=2, default=str))
        _alarms(config, plan, clients, dry, say)
        say("dry run: nothing was changed")
        return None
    if current is None:
        detail = clients.msf.create_application(**request)["ApplicationDetail"]
    else:
        detail = clients.msf.update_application(**request)["ApplicationDetail"]
    say(f"application {plan.application}: version {detail['ApplicationVersionId']}, {detail['ApplicationStatus']}")
    _alarms(config, plan, clients, dry, say)
    if options.start and detail["ApplicationStatus"] == "READY":
        say(f"starting {plan.application}")
        clients.msf.start_application(ApplicationName=plan.application)
    if options.start and options.wait:
        detail = wait_for_running(clients.msf, plan.application, options.timeout, options.poll_interval, say, sleep)
        say(
            f"{plan.application} is RUNNING (version {detail['ApplicationVersionId']}). Console: "
            f"https://{plan.region}.console.aws.amazon.com/flink/home?region={plan.region}#/applications/"
            f"{plan.application}; logs: {plan.log_group}"
        )
    return detail
