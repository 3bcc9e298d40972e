"""The local Flink cluster (`clickflow cluster`): a JobManager, a TaskManager and the SQL gateway as
separate processes on loopback; the streaming job submitted to it with its archive and checkpoints
on the local stack's S3, stopped with a savepoint and resumed from it; Flink's SQL client over it.
Every result is held to `clickflow analyze` over the same file."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path

import pytest

from connectors import aws, cluster
from connectors.config import load_config
from connectors.local_stack.stack import free_port
from jobs.analytics import ANALYTICS
from jobs.analyze import analyze, read_output
from producer.generate import GenerateOptions, write_generated
from tests.conftest import run_cli
from tests.kinesis_helpers import read_stream, wait_for

pytestmark = pytest.mark.integration


def canonical(rows):
    return sorted(json.dumps(row, sort_keys=True) for row in rows)


def download(s3, bucket: str, prefix: str, target: Path) -> list[str]:
    """Every object under ``prefix`` into ``target`` (same relative paths); returns the keys."""
    keys = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix + "/"):
        for item in page.get("Contents", []):
            path = target / item["Key"][len(prefix) + 1 :]
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read())
            keys.append(item["Key"])
    return keys


def flink_processes(layout: Path) -> list[int]:
    """Live processes whose command line names this cluster's layout."""
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if str(layout).encode() in (proc / "cmdline").read_bytes():
                    found.append(int(proc.name))
            except OSError:
                continue
    return found


def streams(suffix: str) -> list[str]:
    names = [f"streams.events.name=events-{suffix}", "streams.events.shards=2"]
    return names + [f"streams.{r}.name={r.replace('_', '-')}-{suffix}" for r in (*ANALYTICS, "dead_letters")]


@pytest.fixture
def running_cluster(local_stack, tmp_path):
    """The cluster profile on the session's stack: streams and an S3 prefix of its own, free ports, its
    own state directory. Yields (config, overrides, prefix); `cluster down` after, and no process left."""
    _, stack_overrides = local_stack
    suffix = uuid.uuid4().hex[:6]
    bucket = load_config("local", overrides=stack_overrides).bucket
    prefix = f"cluster-{suffix}"
    overrides = [
        *stack_overrides,
        f"stack.state_dir={tmp_path / 'state'}",
        *streams(suffix),
        f"job.archive=s3://{bucket}/{prefix}/archive",
        f"job.checkpoint_dir=s3://{bucket}/{prefix}/checkpoints",
        "job.checkpoint_interval=1s",
        f"job.cluster=127.0.0.1:{free_port()}",
        f"cluster.rpc_port={free_port()}",
        f"cluster.sql_gateway_port={free_port()}",
    ]
    config = load_config("cluster", overrides=overrides)
    run_cli("stack", "create", "--profile", "cluster", overrides=overrides)
    layout = cluster.home(config)
    try:
        up = run_cli("cluster", "up", "--profile", "cluster", overrides=overrides, timeout=180)
        assert "started the TaskManager" in up.stdout, up.stdout + up.stderr
        yield config, overrides, prefix
    finally:
        run_cli("cluster", "down", "--profile", "cluster", overrides=overrides, check=False)
        assert wait_for(lambda: not flink_processes(layout), 30, "every cluster process to end") is True
        assert (layout / "log").is_dir() and list((layout / "log").glob("*.log"))  # logs kept


def test_job_on_the_cluster_with_s3_archive_stops_with_a_savepoint_and_resumes_every_row_once(
    running_cluster, tmp_path
):
    config, overrides, prefix = running_cluster
    s3, kinesis = aws.client(config, "s3"), aws.client(config, "kinesis")
    status = run_cli("cluster", "status", "--profile", "cluster", overrides=overrides)
    assert "1 TaskManager(s), 2/2 slots free" in status.stdout, status.stdout
    # the JobManager, the TaskManager and the SQL gateway listen on loopback only (the kernel's tables)
    from tests.integration.test_loopback import assert_loopback_only

    pids = {state.pid for state in cluster.status(config) if state.pid}
    assert len(pids) == 3 and assert_loopback_only(pids, "the local cluster") >= 3

    sample = tmp_path / "sample.csv"
    write_generated(GenerateOptions(events=12000, seed=5, bots=1, abandoned=2), sample)
    run_cli("replay", str(sample), "--profile", "cluster", "--limit", "6000", "--quiet", overrides=overrides)

    submitted = run_cli("run", "--profile", "cluster", overrides=overrides, timeout=240)
    match = re.search(r"job (\w{32}) is RUNNING on the cluster", submitted.stdout)
    assert match, submitted.stdout + submitted.stderr
    job_id = match.group(1)
    listed = run_cli("cluster", "jobs", "--profile", "cluster", overrides=overrides).stdout
    assert re.search(rf"^{job_id}\s+RUNNING", listed, re.M), listed

    def committed() -> bool:
        page = s3.list_objects_v2(Bucket=config.bucket, Prefix=f"{prefix}/archive/events/")
        return any("/part-" in o["Key"] for o in page.get("Contents", []))

    wait_for(committed, 120, "archive files committed on S3 by a checkpoint")
    stopped = run_cli("cluster", "stop", job_id, "--profile", "cluster", overrides=overrides, timeout=240)
    savepoint = re.search(r"savepoint: (s3://\S+)", stopped.stdout).group(1)
    assert savepoint.startswith(f"s3://{config.bucket}/{prefix}/savepoints/")
    assert f"--restore {savepoint}" in stopped.stdout

    run_cli("replay", str(sample), "--profile", "cluster", "--resume-from", "6001", "--quiet", overrides=overrides)
    resumed = run_cli(
        "run", "--profile", "cluster", "--bounded", "--restore", savepoint, overrides=overrides, timeout=300
    )
    assert "job finished" in resumed.stdout, resumed.stdout + resumed.stderr

    expected_dir = tmp_path / "expected"
    analyze(config, str(sample), expected_dir)
    keys = download(s3, config.bucket, f"{prefix}/archive", tmp_path / "archive")
    assert all(re.search(r"/dt=2019-10-01/hour=\d\d/", k) for k in keys if "/part-" in k)
    for name in ANALYTICS:
        expected = read_output(expected_dir, name)
        assert expected, f"{name}: the sample should produce rows"
        archived = read_output(tmp_path / "archive", name)
        assert canonical(archived) == canonical(expected), f"{name} (archive on S3): each row exactly once"
        streamed = [r["row"] for r in read_stream(kinesis, config.output_stream(name).name)]
        assert canonical(streamed) == canonical(expected), f"{name} (output stream)"
    assert len(read_output(tmp_path / "archive", "events")) == 12000

    # Flink's SQL client, through the cluster's gateway and embedded: the rows analyze computes
    script = tmp_path / "visitors.sql"
    script.write_text(
        "SET 'sql-client.execution.result-mode' = 'tableau';\n"
        "SELECT window_start, unique_users, unique_sessions, events FROM unique_visitors;\n"
    )
    want = sorted(
        (r["window_start"][:19], r["unique_users"], r["unique_sessions"], r["events"])
        for r in read_output(expected_dir, "unique_visitors")
    )
    for mode in ([], ["--embedded"]):
        result = run_cli(
            "sql", "--profile", "cluster", "-f", str(script), "--bounded", *mode, overrides=overrides, timeout=240
        )
        assert ("embedded" if mode else "the cluster gateway") in result.stdout, result.stdout
        got = sorted(
            (ts[:19], int(users), int(sessions), int(events))
            for ts, users, sessions, events in re.findall(
                r"^\| \+I \| (\S+ \S+) \|\s+(\d+) \|\s+(\d+) \|\s+(\d+) \|$", result.stdout, re.M
            )
        )
        assert got == want, result.stdout[-3000:]


def test_cluster_up_refuses_a_taken_port_and_starts_nothing(local_stack, tmp_path):
    import socket

    _, stack_overrides = local_stack
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        overrides = [*stack_overrides, f"stack.state_dir={tmp_path}", f"job.cluster=127.0.0.1:{port}"]
        result = run_cli("cluster", "up", "--profile", "cluster", overrides=overrides, check=False)
    assert result.returncode == 1
    assert f"port {port} on 127.0.0.1 (job.cluster) is in use" in result.stderr, result.stderr
    assert not flink_processes(tmp_path / "flink")


def test_the_embedded_job_archives_to_s3_too(local_stack, tmp_path):
    """The local profile with its archive and checkpoints on the stack's S3 (the S3 plugin in the
    embedded Flink): the archive equals analyze's rows."""
    _, stack_overrides = local_stack
    suffix = uuid.uuid4().hex[:6]
    bucket = load_config("local", overrides=stack_overrides).bucket
    overrides = [
        *stack_overrides,
        *streams(suffix),
        f"job.archive=s3://{bucket}/embedded-{suffix}/archive",
        f"job.checkpoint_dir=s3://{bucket}/embedded-{suffix}/checkpoints",
        "job.rest_port=0",
    ]
    config = load_config("local", overrides=overrides)
    run_cli("stack", "create", overrides=overrides)
    sample = tmp_path / "sample.csv"
    write_generated(GenerateOptions(events=3000, seed=9, abandoned=1), sample)
    run_cli("replay", str(sample), "--quiet", overrides=overrides)
    run_cli("run", "--bounded", overrides=overrides, timeout=300)
    analyze(config, str(sample), tmp_path / "expected")
    download(aws.client(config, "s3"), bucket, f"embedded-{suffix}/archive", tmp_path / "archive")
    for name in ("unique_visitors", "top_categories"):
        expected = read_output(tmp_path / "expected", name)
        assert expected and canonical(read_output(tmp_path / "archive", name)) == canonical(expected), name
