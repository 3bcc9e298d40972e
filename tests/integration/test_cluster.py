"""The local Flink cluster (`clickflow cluster`): a JobManager, a TaskManager and the SQL gateway as
separate processes on loopback; the streaming job submitted to it with its archive and checkpoints
on the local stack's S3 (reached through a proxy that can refuse connections), surviving S3 refusing
writes and its TaskManager killed, stopped with a savepoint and resumed from it; Flink's SQL client
over it. Every result is held to `clickflow analyze` over the same file."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
import uuid
import zipfile
from collections import Counter
from pathlib import Path

import pytest

from connectors import aws, cluster
from connectors.config import load_config
from connectors.local_stack.stack import free_port
from jobs.analytics import ANALYTICS
from jobs.analyze import analyze, read_output
from producer.generate import GenerateOptions, write_generated
from tests.conftest import PROJECT_ROOT, cli_command, run_cli
from tests.kinesis_helpers import read_stream, wait_for
from tests.outage import Outage

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
    own state directory, S3 through a loopback proxy that can refuse connections. Yields (config,
    overrides, prefix, the proxy); `cluster down` after, and no process left."""
    stack_config, stack_overrides = local_stack
    s3_proxy = Outage(aws.endpoint_for(stack_config, "s3"))
    s3_proxy.up()
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
        "job.checkpoint_timeout=10s",  # a checkpoint S3 does not answer is given up after 10 s
        f"job.cluster=127.0.0.1:{free_port()}",
        f"cluster.rpc_port={free_port()}",
        f"cluster.sql_gateway_port={free_port()}",
        f"aws.endpoints.s3={s3_proxy.url}",
    ]
    config = load_config("cluster", overrides=overrides)
    run_cli("stack", "create", "--profile", "cluster", overrides=overrides)
    layout = cluster.home(config)
    try:
        up = run_cli("cluster", "up", "--profile", "cluster", overrides=overrides, timeout=180)
        assert "started the TaskManager" in up.stdout, up.stdout + up.stderr
        yield config, overrides, prefix, s3_proxy
    finally:
        s3_proxy.up() if s3_proxy.listener is None else None
        run_cli("cluster", "down", "--profile", "cluster", overrides=overrides, check=False)
        s3_proxy.down()
        assert wait_for(lambda: not flink_processes(layout), 30, "every cluster process to end") is True
        assert (layout / "log").is_dir() and list((layout / "log").glob("*.log"))  # logs kept


def rest(config, path: str) -> dict:
    return cluster.get_json(f"http://{config.job.cluster}{path}", timeout=5) or {}


def checkpoints(config, job_id: str) -> dict:
    """The job's checkpoint counts (completed, failed, restored, ...) from Flink's REST API."""
    return rest(config, f"/jobs/{job_id}/checkpoints").get("counts", {})


def restarts(config, job_id: str) -> int:
    metric = rest(config, f"/jobs/{job_id}/metrics?get=numRestarts")
    return int(metric[0]["value"]) if metric else -1


def test_job_on_the_cluster_survives_s3_refusing_writes_and_a_killed_taskmanager_and_resumes_every_row_once(
    running_cluster, tmp_path
):
    config, overrides, prefix, s3_proxy = running_cluster
    # Events replayed into the running job arrive up to a few seconds apart across shards on this loaded
    # 2-core machine (S3 refusing, a TaskManager killed), and at 4x pace a second is 4 s of event time:
    # more than the default 5 s watermark delay now and then, so a late event — rightly a dead letter,
    # but not what this test is about. 30 s of delay leaves the windows closing during the faults.
    overrides = [*overrides, "analytics.watermark_delay=30s"]
    config = load_config("cluster", overrides=overrides)
    s3, kinesis = aws.client(config, "s3"), aws.client(config, "kinesis")
    status = run_cli("cluster", "status", "--profile", "cluster", overrides=overrides)
    assert "1 TaskManager(s), 2/2 slots free" in status.stdout, status.stdout
    # the JobManager, the TaskManager and the SQL gateway listen on loopback only (the kernel's tables)
    from tests.integration.test_loopback import assert_loopback_only

    pids = {state.pid for state in cluster.status(config) if state.pid}
    assert len(pids) == 3 and assert_loopback_only(pids, "the local cluster") >= 3

    sample = tmp_path / "sample.csv"
    write_generated(GenerateOptions(events=12000, seed=5, bots=1, abandoned=2), sample)

    def replay(*words: str) -> list[str]:
        return ["replay", str(sample), "--profile", "cluster", "--quiet", *words]

    # Into the running job the file goes at 4x its own pace: at full speed (minutes of event time a
    # second) a lane's batch landing a fraction of a second after another lane's, on a shard the job
    # has read to its tip, is already later than the watermark delay: late events, rightly dead letters.
    def live_replay(*words: str) -> list[str]:
        return replay(*words, "--speedup", "4")

    run_cli(*replay("--limit", "4000"), overrides=overrides)
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

    # Fault 1: S3 refuses every connection for 20 s while records arrive. A checkpoint cannot
    # complete meanwhile (its metadata, and the archive's part uploads and commits, are on S3). Which way
    # it is held back depends on where in its cycle the outage finds it: one already under way fails by its
    # 10 s timeout, or a task waits in S3's client retries, which Flink counts as failed once S3 answers
    # again; one triggered while S3 refuses waits in S3's retries to create its directory, before its
    # timeout starts, and completes only once S3 is back (a CI log: triggered 1 s into the outage,
    # completed 34.9 s later, none failed). Either way the job runs on, and checkpoints complete after.
    before = checkpoints(config, job_id)
    s3_proxy.down()
    refused = time.monotonic()
    down_ms = int(time.time() * 1000)
    run_cli(*live_replay("--resume-from", "4001", "--limit", "4000"), overrides=overrides)
    time.sleep(max(0.0, 20 - (time.monotonic() - refused)))
    assert rest(config, f"/jobs/{job_id}").get("state") == "RUNNING"
    during = checkpoints(config, job_id) or before
    up_ms = int(time.time() * 1000)
    # Checkpoints triggered while S3 refused and held back by it: still under way, 10 s or more after their trigger,
    # as S3 comes back (one takes about a second here otherwise). Its tasks may all have acknowledged it already,
    # while the JobManager waits on S3 to write its metadata: a CI run's JobManager log showed one triggered as S3
    # went and completed 42 s later, which the acknowledgement times below did not count (the wait timed out). So
    # they are taken from the history now; and, below, completed ones in progress when S3 came back.
    # A checkpoint triggered just before S3 went (one a second, each about a second long: one is nearly always
    # under way) is held back the same way: a local run's JobManager log showed one triggered a few ms before the
    # outage and completed 31.6 s later, none failed and none triggered during it. So the window opens 5 s early.
    history = rest(config, f"/jobs/{job_id}/checkpoints").get("history", [])
    held_back = {
        c["id"]
        for c in history
        if c.get("status") == "IN_PROGRESS" and down_ms - 5_000 <= c["trigger_timestamp"] <= up_ms - 10_000
    }
    s3_proxy.up()

    def recovered_from_s3() -> bool:
        history = rest(config, f"/jobs/{job_id}/checkpoints").get("history", [])  # the newest few only: kept
        held_back.update(
            c["id"]
            for c in history
            if c.get("status") == "COMPLETED"
            and down_ms - 5_000 <= c["trigger_timestamp"] <= up_ms <= c["trigger_timestamp"] + c["end_to_end_duration"]
        )
        counts = checkpoints(config, job_id)
        failed = counts.get("failed", 0) > before["failed"]
        return counts.get("completed", 0) > during["completed"] and (failed or bool(held_back))

    wait_for(
        recovered_from_s3,
        240,
        "a checkpoint failed or held back by the outage, and one completed once S3 is back",
    )
    failed_checkpoints = checkpoints(config, job_id)["failed"] - before["failed"]
    assert restarts(config, job_id) == 0, "S3 refusing writes should fail checkpoints, not the job"

    # Fault 2: the TaskManager killed (SIGKILL) while the rest of the input is replayed, then started
    # again: the job restarts from its last checkpoint.
    feeding = subprocess.Popen(
        cli_command(*live_replay("--resume-from", "8001"), overrides=overrides),
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        time.sleep(1.5)
        taskmanager = next(s.pid for s in cluster.status(config) if s.process.name == "taskmanager")
        os.kill(taskmanager, signal.SIGKILL)
        fed, _ = feeding.communicate(timeout=180)
        assert feeding.returncode == 0, fed
    finally:
        if feeding.poll() is None:
            feeding.kill()
            feeding.communicate()
    again = run_cli("cluster", "up", "--profile", "cluster", overrides=overrides, timeout=180)
    assert "started the TaskManager" in again.stdout and "JobManager already running" in again.stdout, again.stdout

    def recovered() -> bool:
        counts = checkpoints(config, job_id)
        return counts.get("restored", 0) >= 1 and rest(config, f"/jobs/{job_id}").get("state") == "RUNNING"

    wait_for(recovered, 180, "the job restored from its last checkpoint on the new TaskManager")
    restored = checkpoints(config, job_id)
    wait_for(lambda: checkpoints(config, job_id)["completed"] > restored["completed"], 120, "a checkpoint after")
    assert restarts(config, job_id) >= 1

    stopped = run_cli("cluster", "stop", job_id, "--profile", "cluster", overrides=overrides, timeout=240)
    savepoint = re.search(r"savepoint: (s3://\S+)", stopped.stdout).group(1)
    assert savepoint.startswith(f"s3://{config.bucket}/{prefix}/savepoints/")
    assert f"--restore {savepoint}" in stopped.stdout
    resumed = run_cli(
        "run", "--profile", "cluster", "--bounded", "--restore", savepoint, overrides=overrides, timeout=300
    )
    assert "job finished" in resumed.stdout, resumed.stdout + resumed.stderr

    expected_dir = tmp_path / "expected"
    analyze(config, str(sample), expected_dir)
    keys = download(s3, config.bucket, f"{prefix}/archive", tmp_path / "archive")
    duplicates: dict[str, int] = {}
    elsewhere = [k for k in keys if "/part-" in k and not re.search(r"/dt=2019-10-01/hour=\d\d/", k)]
    # a dead letter (its partition is the time it was seen) says which record the job could not use
    letters = [json.loads(line) for k in elsewhere for line in (tmp_path / "archive" / k[len(prefix) + 9 :]).open()]
    assert not elsewhere, [(letter.get("reason"), str(letter)[:600]) for letter in letters]
    for name in ANALYTICS:
        expected = read_output(expected_dir, name)
        assert expected, f"{name}: the sample should produce rows"
        archived = read_output(tmp_path / "archive", name)
        assert canonical(archived) == canonical(expected), f"{name} (archive on S3): each row exactly once"
        # the output streams are at-least-once: rows the job wrote after its last checkpoint before the
        # kill are written again by the restored job; every duplicate is one of analyze's rows
        streamed = Counter(canonical(r["row"] for r in read_stream(kinesis, config.output_stream(name).name)))
        want = Counter(canonical(expected))
        assert not want - streamed, f"{name} (output stream): rows missing"
        assert set(streamed) == set(want), f"{name} (output stream): rows analyze does not compute"
        duplicates[name] = sum((streamed - want).values())
    assert len(read_output(tmp_path / "archive", "events")) == 12000
    print(
        f"faults: S3 refused for 20 s ({failed_checkpoints} checkpoints failed, {len(held_back)} held back until "
        "S3 was back, 0 restarts); TaskManager killed "
        f"(the job restored {restored.get('restored')} time(s) from its last checkpoint); records in: 12000; "
        f"duplicates on the output "
        f"streams: {duplicates}"
    )

    # The bounded job again, its plan now in the cache (the resumed run compiled it): `run` has the cluster's
    # SQL gateway run the cached plan, with no JVM of its own (jobs/gateway.py), and the job archives (to a
    # prefix of its own) what analyze computes, every row once.
    again = f"{prefix}/through-gateway"
    rerun = run_cli(
        "run",
        "--profile",
        "cluster",
        "--bounded",
        "--from",
        "trim_horizon",
        overrides=[*overrides, f"job.archive=s3://{config.bucket}/{again}/archive"],
        timeout=300,
    )
    assert "run by the cluster's SQL gateway" in rerun.stdout, rerun.stdout + rerun.stderr
    assert "job finished" in rerun.stdout, rerun.stdout + rerun.stderr
    download(s3, config.bucket, f"{again}/archive", tmp_path / "through-gateway")
    for name in ANALYTICS:
        rows = read_output(tmp_path / "through-gateway", name)
        assert canonical(rows) == canonical(read_output(expected_dir, name)), f"{name} (a plan the gateway ran)"
    assert len(read_output(tmp_path / "through-gateway", "events")) == 12000

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


def test_the_package_runs_as_managed_flink_runs_it_on_python_312_and_writes_what_analyze_computes(
    running_cluster, tmp_path
):
    """`clickflow deploy --local`: the zip unpacked, its run options' python and jarfile as written, its
    property groups where the entry point reads them, Python 3.12 with only apache-flink, on the cluster."""
    config, overrides, prefix, _ = running_cluster
    sample = tmp_path / "sample.csv"
    write_generated(GenerateOptions(events=3000, seed=11, bots=1, abandoned=2), sample)
    run_cli("replay", str(sample), "--profile", "cluster", "--quiet", overrides=overrides)
    # the package of the aws profile, with this test's streams and archive (what a user sets in the groups)
    packaged = [o for o in overrides if o.startswith(("streams.", "job.archive=", "job.checkpoint_interval="))]
    package = tmp_path / "app.zip"
    run_cli("package", "--profile", "aws", "--output", str(package), overrides=packaged)

    local = ["deploy", "--local", "--package", str(package), "--profile", "cluster"]
    done = run_cli(*local, "--bounded", "--from", "trim_horizon", overrides=overrides, timeout=1200)
    assert "as Managed Flink runs it: python main.py, jarfile lib/clickflow-msf.jar, Python 3.12" in done.stdout
    assert re.search(r"job \w{32} is FINISHED on the local cluster", done.stdout), done.stdout + done.stderr
    run_dir = Path(re.search(r"run directory \(.*\): (\S+)", done.stdout).group(1))
    submitted = (run_dir / "flink-run.log").read_text()
    assert "Traceback" not in submitted, submitted  # the entry point ended cleanly on 3.12
    groups = json.loads((run_dir / "application_properties.json").read_text())
    assert {"python": "main.py", "jarfile": "lib/clickflow-msf.jar"} in [g["PropertyMap"] for g in groups]

    expected_dir = tmp_path / "expected"
    analyze(load_config("aws", overrides=packaged), str(sample), expected_dir)
    s3, kinesis = aws.client(config, "s3"), aws.client(config, "kinesis")
    download(s3, config.bucket, f"{prefix}/archive", tmp_path / "archive")
    for name in ANALYTICS:
        expected = canonical(read_output(expected_dir, name))
        assert expected, f"{name}: the sample should produce rows"
        assert canonical(r["row"] for r in read_stream(kinesis, config.output_stream(name).name)) == expected, name
        assert canonical(read_output(tmp_path / "archive", name)) == expected, f"{name} (archive)"
        assert re.search(rf"^  {name}\s+{len(expected):,} records$", done.stdout, re.M), done.stdout
    assert len(read_output(tmp_path / "archive", "events")) == 3000

    # a package Managed Flink would refuse: its jar left out of the zip
    broken = tmp_path / "broken.zip"
    with zipfile.ZipFile(package) as whole, zipfile.ZipFile(broken, "w") as part:
        for item in whole.infolist():
            if item.filename != "lib/clickflow-msf.jar":
                part.writestr(item, whole.read(item))
    refused = run_cli(
        "deploy", "--local", "--package", str(broken), "--profile", "cluster", overrides=overrides, check=False
    )
    assert refused.returncode == 1
    assert "kinesis.analytics.flink.run.options.jarfile is 'lib/clickflow-msf.jar', which is not in the zip" in (
        refused.stderr
    )
