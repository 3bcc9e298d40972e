"""``clickflow alerts deploy``: the alert handler as an AWS Lambda function on the anomalies stream.

Steps, each skipped or updated when already there: the DynamoDB table; the SNS topic; an SQS queue
``<function>-failures`` (the event source mapping's on-failure destination: where records that still
fail after the retries are described); the role ``<function>-role`` trusted by Lambda with one
inline least-privilege policy (exactly the table, the topic, the metric namespace, reading the
anomalies stream, the queue and the function's own log group; also written to a file for review);
the function (Python 3.12, the zip holds only the handler's modules); the event source mapping
(batch size, ``ReportBatchItemFailures``, bisect on error, bounded retries, starting position).
``--dry-run`` reads, prints the plan, the requests and the policy, and changes nothing.
"""

from __future__ import annotations

import hashlib
import io
import json
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from clickflow.alerts.core import AlertSettings
from clickflow.alerts.handler import SETTINGS_VARIABLE
from connectors.config import Config, ConfigError
from connectors.tables import partition, stream_arn

RUNTIME = "python3.12"
HANDLER = "clickflow.alerts.handler.lambda_handler"
PACKAGE_ROOT = Path(__file__).resolve().parents[2]
# Exactly what the handler imports (a test imports the zip's contents with nothing else on the path)
PACKAGE_MODULES = (
    "clickflow/__init__.py",
    "clickflow/alerts/__init__.py",
    "clickflow/alerts/core.py",
    "clickflow/alerts/handler.py",
)
TRUST_POLICY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}],
}


class AlertsDeployError(RuntimeError):
    """The deployment cannot go on; the message says what is wrong and what to do."""


@dataclass(frozen=True)
class AlertsDeployOptions:
    """What ``clickflow alerts deploy`` was asked for: a dry run, an existing role, the function's size."""

    dry_run: bool = False
    role_arn: str | None = None  # an existing role; default: create or update <function>-role
    timeout: int = 60  # the function's timeout, seconds
    memory: int = 256  # MB
    policy_out: Path = Path("out/alerts/iam-policy.json")
    package_out: Path = Path("out/alerts/clickflow-alerts.zip")
    role_wait: float = 60.0  # how long to retry while a new role propagates to Lambda


@dataclass
class DeployClients:
    """The boto3 clients the alerts deploy talks to (one per service; tests pass stubbed ones)."""

    iam: Any  # a boto3 client
    dynamodb: Any  # a boto3 client
    sns: Any  # a boto3 client
    sqs: Any  # a boto3 client
    lambda_: Any  # a boto3 client
    sts: Any  # a boto3 client
    kinesis: Any  # a boto3 client

    @classmethod
    def for_config(cls, config: Config) -> DeployClients:
        """Clients for every service the deploy uses, from the profile's endpoints and credentials."""
        from connectors import aws

        names = ("iam", "dynamodb", "sns", "sqs", "lambda", "sts", "kinesis")
        return cls(*(aws.client(config, name) for name in names))


def build_package(out: Path) -> Path:
    """The Lambda zip: only the handler's modules, with fixed timestamps (same sources, same bytes)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in PACKAGE_MODULES:
            info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            archive.writestr(info, (PACKAGE_ROOT / name).read_bytes())
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(buffer.getvalue())
    return out


@dataclass(frozen=True)
class Plan:
    """Every name and ARN the alerts deploy creates or updates, worked out before any call (``--dry-run`` prints it)."""

    account: str
    region: str
    function: str
    role_name: str
    role_arn: str
    table: str
    table_arn: str
    topic: str
    topic_arn: str
    queue: str
    queue_arn: str
    stream: str
    stream_arn: str
    log_group: str
    namespace: str
    policy: dict


def make_plan(config: Config, account: str, role_arn: str | None = None) -> Plan:
    """The plan for the profile in ``account``: function, role, table, topic, failure queue, stream, policy."""
    region, arn_partition = config.aws.region, partition(config.aws.region)
    alerts = config.alerts
    function = alerts.function
    role_name = f"{function}-role"
    stream = config.output_stream("anomalies").name
    table_arn = f"arn:{arn_partition}:dynamodb:{region}:{account}:table/{alerts.table}"
    topic_arn = f"arn:{arn_partition}:sns:{region}:{account}:{alerts.topic}"
    queue = f"{function}-failures"
    queue_arn = f"arn:{arn_partition}:sqs:{region}:{account}:{queue}"
    log_group = f"/aws/lambda/{function}"
    log_arn = f"arn:{arn_partition}:logs:{region}:{account}:log-group:{log_group}"
    from dataclasses import replace

    the_stream_arn = stream_arn(replace(config, aws=replace(config.aws, account_id=account)), stream)
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "RecordAnomalies",
                "Effect": "Allow",
                "Action": ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"],
                "Resource": table_arn,
            },
            {"Sid": "Notify", "Effect": "Allow", "Action": "sns:Publish", "Resource": topic_arn},
            {
                # PutMetricData has no resource-level permissions: the namespace is the limit
                "Sid": "Metrics",
                "Effect": "Allow",
                "Action": "cloudwatch:PutMetricData",
                "Resource": "*",
                "Condition": {"StringEquals": {"cloudwatch:namespace": alerts.namespace}},
            },
            {
                "Sid": "ReadAnomalies",
                "Effect": "Allow",
                "Action": [
                    "kinesis:DescribeStream",
                    "kinesis:DescribeStreamSummary",
                    "kinesis:GetRecords",
                    "kinesis:GetShardIterator",
                    "kinesis:ListShards",
                ],
                "Resource": the_stream_arn,
            },
            {"Sid": "FailedRecords", "Effect": "Allow", "Action": "sqs:SendMessage", "Resource": queue_arn},
            {"Sid": "LogGroup", "Effect": "Allow", "Action": "logs:CreateLogGroup", "Resource": f"{log_arn}:*"},
            {
                "Sid": "Logs",
                "Effect": "Allow",
                "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                "Resource": f"{log_arn}:log-stream:*",
            },
        ],
    }
    return Plan(
        account=account,
        region=region,
        function=function,
        role_name=role_name,
        role_arn=role_arn or f"arn:{arn_partition}:iam::{account}:role/{role_name}",
        table=alerts.table,
        table_arn=table_arn,
        topic=alerts.topic,
        topic_arn=topic_arn,
        queue=queue,
        queue_arn=queue_arn,
        stream=stream,
        stream_arn=the_stream_arn,
        log_group=log_group,
        namespace=alerts.namespace,
        policy=policy,
    )


def function_settings(config: Config, plan: Plan) -> AlertSettings:
    """What the deployed function reads from its environment: the profile's alerts section, the plan's topic."""
    from clickflow.alerts.local import settings_from_config

    return settings_from_config(config, plan.topic_arn)


def mapping_request(config: Config, plan: Plan) -> dict:
    """The event source mapping's settings (StartingPosition only on create)."""
    return {
        "BatchSize": config.alerts.batch_size,
        "MaximumBatchingWindowInSeconds": 1,
        "FunctionResponseTypes": ["ReportBatchItemFailures"],
        "BisectBatchOnFunctionError": True,
        "MaximumRetryAttempts": config.alerts.max_retries,
        "DestinationConfig": {"OnFailure": {"Destination": plan.queue_arn}},
    }


def _exists(call: Callable[[], object], missing: tuple[str, ...]) -> bool:
    from botocore.exceptions import ClientError

    try:
        call()
        return True
    except ClientError as exc:
        if exc.response["Error"]["Code"] in missing:
            return False
        raise


def _wait_updated(lambda_, function: str, sleep, tries: int = 120) -> None:
    for _ in range(tries):
        conf = lambda_.get_function_configuration(FunctionName=function)
        if conf.get("State", "Active") == "Active" and conf.get("LastUpdateStatus", "Successful") != "InProgress":
            if conf.get("LastUpdateStatus") == "Failed" or conf.get("State") == "Failed":
                raise AlertsDeployError(
                    f"function {function}: {conf.get('LastUpdateStatusReason') or conf.get('StateReason')}"
                )
            return
        sleep(1)
    raise AlertsDeployError(f"function {function} is still updating; run `clickflow alerts deploy` again")


def deploy(
    config: Config,
    options: AlertsDeployOptions,
    clients: DeployClients,
    say: Callable[[str], None] = print,
    sleep=time.sleep,
) -> Plan:
    """Deploy the alert handler; returns the plan (nothing is changed with ``dry_run``)."""
    from botocore.exceptions import ClientError

    from clickflow.alerts.local import ensure_table

    account = clients.sts.get_caller_identity()["Account"]
    if config.aws.account_id not in ("000000000000", account):
        raise ConfigError(f"aws.account_id is {config.aws.account_id}, but the credentials are for account {account}")
    plan = make_plan(config, account, options.role_arn)
    dry = options.dry_run
    if not _exists(
        lambda: clients.kinesis.describe_stream_summary(StreamName=plan.stream), ("ResourceNotFoundException",)
    ):
        raise AlertsDeployError(
            f"the anomalies stream {plan.stream!r} does not exist in {plan.region}: deploy the job first "
            "(`clickflow deploy`), or create the stream"
        )
    options.policy_out.parent.mkdir(parents=True, exist_ok=True)
    options.policy_out.write_text(json.dumps(plan.policy, indent=2) + "\n", encoding="utf-8")
    say(f"IAM policy of the function's role: {options.policy_out}")
    package = build_package(options.package_out)
    code = package.read_bytes()
    say(
        f"package {package} ({len(code):,} bytes, sha256 {hashlib.sha256(code).hexdigest()[:12]}): "
        + ", ".join(PACKAGE_MODULES)
    )

    ensure_table(clients.dynamodb, plan.table, say, dry_run=dry)
    say(f"{'would ensure' if dry else 'ensuring'} SNS topic {plan.topic_arn}")
    if not dry:
        clients.sns.create_topic(Name=plan.topic)
    say(f"{'would ensure' if dry else 'ensuring'} SQS queue {plan.queue} (records that keep failing)")
    if not dry:
        clients.sqs.create_queue(QueueName=plan.queue, Attributes={"MessageRetentionPeriod": "1209600"})

    if options.role_arn:
        say(f"role: {options.role_arn} (given; compare its policy with {options.policy_out})")
    else:
        from connectors.aws import ensure_role

        description = f"clickflow: the alert handler {plan.function}"
        ensure_role(clients.iam, plan.role_name, TRUST_POLICY, plan.policy, description, say, dry)

    environment = {"Variables": {SETTINGS_VARIABLE: function_settings(config, plan).to_json()}}
    function_exists = _exists(
        lambda: clients.lambda_.get_function(FunctionName=plan.function), ("ResourceNotFoundException",)
    )
    settings = {
        "Role": plan.role_arn,
        "Handler": HANDLER,
        "Runtime": RUNTIME,
        "Timeout": options.timeout,
        "MemorySize": options.memory,
        "Environment": environment,
        "Description": "clickflow: anomalies to DynamoDB, SNS and CloudWatch",
    }
    say(f"{'would ' if dry else ''}{'update' if function_exists else 'create'} function {plan.function} ({RUNTIME})")
    if dry:
        say(json.dumps({"function": settings, "event_source_mapping": mapping_request(config, plan)}, indent=2))
    else:
        if function_exists:
            clients.lambda_.update_function_code(FunctionName=plan.function, ZipFile=code)
            _wait_updated(clients.lambda_, plan.function, sleep)
            clients.lambda_.update_function_configuration(FunctionName=plan.function, **settings)
        else:
            deadline = time.monotonic() + options.role_wait
            while True:
                try:
                    clients.lambda_.create_function(FunctionName=plan.function, Code={"ZipFile": code}, **settings)
                    break
                except ClientError as exc:
                    # a role just made takes a few seconds to be assumable by Lambda
                    if exc.response["Error"]["Code"] != "InvalidParameterValueException" or time.monotonic() > deadline:
                        raise
                    sleep(2)
        _wait_updated(clients.lambda_, plan.function, sleep)

    mappings = []
    if function_exists:
        mappings = clients.lambda_.list_event_source_mappings(
            EventSourceArn=plan.stream_arn, FunctionName=plan.function
        ).get("EventSourceMappings", [])
    request = mapping_request(config, plan)
    if mappings:
        say(f"{'would update' if dry else 'updating'} event source mapping {mappings[0]['UUID']} from {plan.stream}")
        if not dry:
            clients.lambda_.update_event_source_mapping(UUID=mappings[0]["UUID"], FunctionName=plan.function, **request)
    else:
        start = config.alerts.starting_position.upper()
        say(f"{'would create' if dry else 'creating'} event source mapping from {plan.stream} ({start})")
        if not dry:
            clients.lambda_.create_event_source_mapping(
                EventSourceArn=plan.stream_arn, FunctionName=plan.function, StartingPosition=start, **request
            )
    if dry:
        say("dry run: nothing was changed")
    else:
        say(f"{plan.function} is deployed; notifications go to {plan.topic_arn} (subscribe an address to it)")
    return plan
