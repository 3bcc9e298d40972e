"""How the jobs' Kinesis connector (on the AWS SDK for Java v2) authenticates, and how a job that
fails says why in one line.

- Managed Flink (like ECS) hands a job its role's temporary credentials through a container-
  credentials endpoint, never as keys: with nothing else in reach — no keys in the environment, the
  config or a profile, instance metadata off — `clickflow run` reads and writes, every Kinesis
  request signed with the key that endpoint served;
- `aws.role_arn`: the connector assumes the role through STS (moto's, behind a recording proxy) and
  signs Kinesis requests with the role's credentials, not the ones it started with;
- no credentials, a refused endpoint, a stream deleted mid-run: one line naming what to fix.

Every server here is on 127.0.0.1; the recording proxies tell which key signed which call.
"""

from __future__ import annotations

import os
import time
import uuid

import pytest

from clickflow import job_failure
from connectors import aws
from connectors.config import load_config
from connectors.kinesis_connector import build
from jobs.analytics import ANALYTICS, create_table_env
from jobs.failure import root_cause
from producer.generate import GenerateOptions, write_generated
from tests.conftest import run_cli
from tests.credential_servers import ContainerCredentials, SigningRecorder
from tests.kinesis_helpers import kinesis_table, new_stream, put_rows, read_stream, wait_for

pytestmark = pytest.mark.integration

LOCAL_KEY = "clickflow-local"


@pytest.fixture
def job_config(local_stack, tmp_path):
    """The local profile on the session's stack, with streams of its own (created, with a sample in
    the events stream) and a private archive."""
    _, overrides = local_stack
    suffix = uuid.uuid4().hex[:6]
    names = [f"streams.events.name=events-{suffix}", "streams.events.shards=2"]
    names += [f"streams.{role}.name={role.replace('_', '-')}-{suffix}" for role in (*ANALYTICS, "dead_letters")]
    extra = [*names, f"job.archive={tmp_path / 'archive'}", f"job.checkpoint_dir={tmp_path / 'checkpoints'}"]
    overrides = [*overrides, *extra, "job.rest_port=0"]
    run_cli("stack", "up", overrides=overrides)
    sample = tmp_path / "sample.csv"
    write_generated(GenerateOptions(events=2000, seed=5), sample)
    run_cli("replay", str(sample), "--quiet", overrides=overrides)
    return load_config("local", overrides=overrides), overrides


def bare_environment(**extra: str) -> dict[str, str]:
    """This process's environment without any AWS setting: no keys, no profile, no metadata service."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_EC2_METADATA_DISABLED="true",
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        AWS_CONFIG_FILE=os.devnull,
        **extra,
    )
    return env


def test_the_job_authenticates_with_container_credentials_alone(job_config):
    config, overrides = job_config
    kinesis_url = aws.endpoint_for(config, "kinesis")
    with ContainerCredentials() as served, SigningRecorder(kinesis_url) as kinesis:
        result = run_cli(
            "run",
            "--bounded",
            overrides=[*overrides, "aws.credentials=chain", f"aws.endpoints.kinesis={kinesis.url}"],
            env=bare_environment(AWS_CONTAINER_CREDENTIALS_FULL_URI=served.full_uri),
            timeout=300,
        )
    assert "job finished" in result.stdout
    assert served.calls["java"] >= 1  # the SDK's default chain asked the container endpoint
    assert kinesis.keys("java") == {served.key_id}  # and signed every Kinesis call with what it served
    actions = kinesis.actions("java")
    assert actions["ListShards"] >= 1 and actions["GetRecords"] >= 2 and actions["PutRecords"] >= 1
    client = aws.client(config, "kinesis")
    written = sum(len(read_stream(client, config.output_stream(name).name)) for name in ANALYTICS)
    assert written > 0  # it read the events and wrote the analytics


def test_no_credentials_is_one_line_naming_the_chain_and_the_trace(job_config):
    config, overrides = job_config
    # botocore (the CLI's own check of the stream) is served; the job's SDK is refused
    with ContainerCredentials(refuse=("java",)) as served:
        result = run_cli(
            "run",
            "--bounded",
            overrides=[*overrides, "aws.credentials=chain"],
            env=bare_environment(AWS_CONTAINER_CREDENTIALS_FULL_URI=served.full_uri),
            timeout=300,
            check=False,
        )
    assert result.returncode == 1, result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("clickflow run: error: the Flink job failed: no AWS credentials found for the Kinesis")
    assert "AWS_CONTAINER_CREDENTIALS_FULL_URI" in line and "environment AWS_ACCESS_KEY_ID" in line
    trace = line.rsplit("(full trace: ", 1)[1].rstrip(")")
    path = job_failure.PROJECT_ROOT / trace  # relative to where clickflow ran, or absolute
    assert "Caused by: io.clickflow.kinesis.KinesisException" in path.read_text(encoding="utf-8")
    assert served.calls["java"] >= 1


def test_an_assumed_role_signs_the_kinesis_calls(job_config):
    config, overrides = job_config
    role = "arn:aws:iam::000000000000:role/clickflow-reader"
    with (
        SigningRecorder(aws.endpoint_for(config, "sts")) as sts,
        SigningRecorder(aws.endpoint_for(config, "kinesis")) as kinesis,
    ):
        run_cli(
            "run",
            "--bounded",
            overrides=[
                *overrides,
                f"aws.role_arn={role}",
                "aws.role_session_name=clickflow-test",
                f"aws.endpoints.sts={sts.url}",
                f"aws.endpoints.kinesis={kinesis.url}",
            ],
            timeout=300,
        )
    assert sts.actions("java")["AssumeRole"] >= 1, sts.signed
    assert sts.keys("java") == {LOCAL_KEY}, sts.signed  # the base credentials called STS
    assumed = kinesis.keys("java")
    assert assumed and LOCAL_KEY not in assumed  # every Kinesis call signed with the role's credentials
    assert kinesis.actions("java")["GetRecords"] >= 1 and kinesis.actions("java")["PutRecords"] >= 1


# --------------------------------------------------------------------------- failures, in one line


def fail_fast_env(config):
    env = create_table_env(config, [build()])
    env.get_config().set("restart-strategy.type", "none")
    return env


def failure_line(config, stream: str, options: dict, bounded: bool = True, while_running=None) -> str:
    env = fail_fast_env(config)
    extra = {"source.init.position": "TRIM_HORIZON", "retry-strategy.attempts.max": "2", **options}
    if bounded:
        extra["source.bounded"] = "latest"
    env.execute_sql(kinesis_table(config, "src", stream, "k STRING, n BIGINT", extra))
    env.execute_sql("CREATE TEMPORARY TABLE sink (k STRING, n BIGINT) WITH ('connector' = 'blackhole')")
    result = env.execute_sql("INSERT INTO sink SELECT * FROM src")
    if while_running is not None:
        while_running(result.get_job_client())
    with pytest.raises(Exception) as failed:
        result.wait(120_000)
    assert job_failure.is_java_failure(failed.value)
    return root_cause(str(failed.value)) or ""


def test_a_refused_endpoint_names_the_url(local_stack):
    config, _ = local_stack
    from connectors.local_stack.stack import free_port

    dead = f"http://127.0.0.1:{free_port()}"
    line = failure_line(config, "any-stream", {"aws.endpoint": dead})
    assert f"ListShards to {dead} failed" in line and "refused" in line.lower(), line


def test_a_stream_deleted_mid_run_names_the_stream(local_stack):
    config, _ = local_stack
    kinesis = aws.client(config, "kinesis")
    stream = new_stream(kinesis, "deleted", 1)
    put_rows(kinesis, stream, [{"k": "a", "n": i} for i in range(10)])

    def delete_once_running(client):
        wait_for(lambda: str(client.get_job_status().result()).endswith("RUNNING"), 60, "the job to run")
        time.sleep(2)
        kinesis.delete_stream(StreamName=stream)

    line = failure_line(config, stream, {}, bounded=False, while_running=delete_once_running)
    assert "ResourceNotFoundException" in line and stream in line, line
