"""Stopping `clickflow run` is a first-class path: SIGTERM or SIGINT (in the foreground, or in the
background where SIGINT came in ignored) stops the job with a savepoint, prints it and the exact
command that resumes, and exits 130; that command resumes with nothing lost or doubled. A second
signal stops at once and says what is safe. `etl` stops the same way, its deliveries to S3 resuming
after what they wrote; `alerts run` and `dashboard` stop too (exit 130)."""

from __future__ import annotations

import contextlib
import json
import re
import shlex
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from connectors import aws
from connectors.config import load_config
from jobs.analytics import ANALYTICS
from jobs.analyze import analyze, read_output
from producer.generate import GenerateOptions, write_generated
from tests.conftest import PROJECT_ROOT, run_cli, write_browse_lab

pytestmark = pytest.mark.integration


@pytest.fixture
def job(local_stack, tmp_path):
    _, overrides = local_stack
    suffix = uuid.uuid4().hex[:6]
    names = [f"streams.events.name=events-{suffix}", "streams.events.shards=2"]
    names += [f"streams.{role}.name={role.replace('_', '-')}-{suffix}" for role in (*ANALYTICS, "dead_letters")]
    overrides = [
        *overrides,
        *names,
        f"job.archive={tmp_path / 'archive'}",
        f"job.checkpoint_dir={tmp_path / 'chk'}",
        "job.rest_port=0",
        "job.checkpoint_interval=2s",
    ]
    run_cli("stack", "up", overrides=overrides)
    sample = tmp_path / "sample.csv"
    write_generated(GenerateOptions(events=3000, seed=8, bots=1), sample)
    run_cli("replay", str(sample), "--quiet", overrides=overrides)
    return overrides, sample


def sets(overrides) -> list[str]:
    return [item for o in overrides for item in ("--set", o)]


@contextlib.contextmanager
def clickflow(*words: str, ignore_sigint: bool = False):
    """``clickflow WORDS`` running, its output piped; killed on the way out if it is still running."""
    process = subprocess.Popen(
        [sys.executable, "-m", "clickflow", *words],
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        # as a non-interactive shell starts a background job: SIGINT ignored
        preexec_fn=(lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)) if ignore_sigint else None,
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=60)
        if process.stdout is not None:
            process.stdout.close()  # also when the command ended early: no pipe left for the GC to warn about


def read_until(process: subprocess.Popen, marker: str, timeout: float) -> bool:
    """Read the process's output until a line holds ``marker`` (True), it ends, or ``timeout`` passes (False,
    and what it printed goes to stderr: pytest shows it with the failure)."""
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if marker in line:
            return True
        seen.append(line)
        if not line and process.poll() is not None:
            break
    print(f"no line with {marker!r}; exit status {process.poll()}; it printed:\n{''.join(seen[-60:])}", file=sys.stderr)
    return False


def printed_savepoint(out: str, verb: str) -> tuple[str, list[str]]:
    """The savepoint a stopped ``clickflow VERB`` printed (its _metadata there) and the resume command
    it printed (the same command, ending in ``--restore`` that savepoint)."""
    location = re.search(r"stopped with a savepoint: (\S+)", out).group(1)
    assert Path(location.removeprefix("file:")).joinpath("_metadata").is_file()
    command = shlex.split(re.search(r"resume with: (.+)", out).group(1))
    assert command[:2] == ["clickflow", verb] and command[-2:] == ["--restore", location], command
    return location, command


def wait_running(process: subprocess.Popen) -> None:
    if not read_until(process, "running: events from", 120):
        raise AssertionError("the job did not start")
    time.sleep(8)  # a checkpoint or two: the job is well under way


@pytest.mark.parametrize("how", ["SIGTERM", "SIGINT in the background"])
def test_a_signal_stops_with_a_savepoint_and_the_printed_command_resumes(job, tmp_path, how):
    overrides, sample = job
    with clickflow("run", *sets(overrides), ignore_sigint=how != "SIGTERM") as process:
        wait_running(process)
        process.send_signal(signal.SIGTERM if how == "SIGTERM" else signal.SIGINT)
        out, _ = process.communicate(timeout=180)
    assert process.returncode == 130, out
    _, command = printed_savepoint(out, "run")
    resumed = run_cli(*command[1:], "--bounded", timeout=300)  # the printed command, as printed
    assert "job finished" in resumed.stdout, resumed.stdout + resumed.stderr
    config = load_config("local", overrides=overrides)
    analyze(config, str(sample), tmp_path / "expected")
    for name in ANALYTICS:  # what both runs archived: every row exactly once
        archived = sorted(json.dumps(r, sort_keys=True) for r in read_output(tmp_path / "archive", name))
        expected = sorted(json.dumps(r, sort_keys=True) for r in read_output(tmp_path / "expected", name))
        assert archived == expected, name


def test_a_second_signal_stops_at_once_and_says_what_is_safe(job):
    overrides, _ = job
    with clickflow("run", *sets(overrides)) as process:
        wait_running(process)
        process.send_signal(signal.SIGTERM)
        read_until(process, "stopping the job with a savepoint", 30)
        process.send_signal(signal.SIGTERM)
        out, _ = process.communicate(timeout=120)
    assert process.returncode == 130, out
    # a savepoint of the whole job takes a second or more; the second signal came within milliseconds
    said = re.search(r"stopped at once.*", out)
    assert said is not None and "stopped with a savepoint" not in out, out
    assert "--restore latest" in said.group(0) and "checkpoints are kept" in said.group(0), out


@pytest.mark.parametrize("how", ["SIGTERM", "SIGINT"])
def test_a_signalled_alerts_run_saves_its_place_and_says_how_to_go_on(local_stack, how):
    _, overrides = local_stack
    suffix = uuid.uuid4().hex[:6]
    overrides = [*overrides, f"streams.anomalies.name=anomalies-{suffix}", f"alerts.table=alerts-{suffix}"]
    run_cli("stack", "up", overrides=overrides)
    config = load_config("local", overrides=overrides)
    # one record not an anomaly: counted malformed, set aside, and its position saved
    aws.client(config, "kinesis").put_record(StreamName=f"anomalies-{suffix}", Data=b"{}", PartitionKey="k")
    with clickflow("alerts", "run", *sets(overrides), "--from", "trim_horizon") as process:
        read_until(process, "set aside shardId-", 60)
        process.send_signal(getattr(signal, how))
        out, _ = process.communicate(timeout=60)
    assert process.returncode == 130, out
    assert re.search(r"positions saved in \S+anomalies-\w+\.json", out), out
    command = shlex.split(re.search(r"resume with: (.+)", out).group(1))
    assert command[:3] == ["clickflow", "alerts", "run"] and "--from" not in command, command
    resumed = subprocess.run(
        [sys.executable, "-m", "clickflow", *command[1:], "--idle-exit", "1"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert resumed.returncode == 0 and "resuming from" in resumed.stdout, resumed.stdout + resumed.stderr


@pytest.mark.parametrize("how", ["SIGTERM", "SIGINT"])
def test_a_signalled_dashboard_stops_its_server_and_followers_and_exits_130(local_stack, how):
    from connectors.local_stack.stack import free_port

    _, overrides = local_stack
    # in the background, as a non-interactive shell starts it: SIGINT ignored, still stoppable
    with clickflow("dashboard", *sets(overrides), "--port", str(free_port()), ignore_sigint=True) as process:
        read_until(process, "dashboard on http://127.0.0.1:", 60)
        process.send_signal(getattr(signal, how))
        out, _ = process.communicate(timeout=30)
    assert process.returncode == 130, out
    assert f"{how}: dashboard stopped" in out and "Traceback" not in out, out


def test_a_signalled_etl_stops_with_a_savepoint_and_resumes_its_job_and_deliveries_exactly_once(local_stack, tmp_path):
    from tests.kinesis_helpers import new_stream, read_stream, wait_for

    config, overrides = local_stack
    kinesis, s3 = aws.client(config, "kinesis"), aws.client(config, "s3")
    source = new_stream(kinesis, "etl-stop", 2)
    usa, intl, errors = (new_stream(kinesis, name, 1) for name in ("stop-usa", "stop-intl", "stop-errors"))
    prefix = f"etl-stop-{uuid.uuid4().hex[:6]}"
    deliver = {
        name: {"prefix": f"s3://{config.bucket}/{prefix}/{name}/", "buffer_size": "16kb", "buffer_interval": "1s"}
        for name in (usa, intl)
    }
    config_file = write_browse_lab(tmp_path / "etl.yaml", source, usa, intl, errors, deliver=deliver)
    overrides = [*overrides, f"job.checkpoint_dir={tmp_path / 'chk'}", "job.checkpoint_interval=2s"]
    template = str(PROJECT_ROOT / "templates" / "browse-session.json.tpl")

    def generate(seed: int) -> None:
        run_cli("generate", "--template", template, "--count", "1000", "--seed", str(seed), "--stream", source,
                "--quiet", overrides=overrides)  # fmt: skip

    def routed() -> list[dict]:
        return [r["row"] for name in (usa, intl) for r in read_stream(kinesis, name)]

    generate(1)
    # in the background, as a non-interactive shell starts it: SIGINT came in ignored
    with clickflow("etl", *sets(overrides), "--config", str(config_file), ignore_sigint=True) as process:
        assert read_until(process, f"delivering {intl} to", 120), "the etl did not start"
        wait_for(lambda: len(routed()) >= 1000, 120, "the first 1000 records routed")
        time.sleep(3)  # a checkpoint and a delivered object or two
        process.send_signal(signal.SIGINT)
        out, _ = process.communicate(timeout=180)
    assert process.returncode == 130, out
    location, command = printed_savepoint(out, "etl")
    assert f"{tmp_path / 'chk'}/etl-browse-sessions/savepoints/" in location, location  # apart from run's
    first = {name: int(re.search(rf"{name}: ([\d,]+) records", out).group(1).replace(",", "")) for name in (usa, intl)}
    assert sum(first.values()) == 1000, out  # the deliveries wrote all the job had written before it stopped

    generate(2)
    resumed = run_cli(*command[1:], "--bounded", timeout=300)
    assert "etl finished" in resumed.stdout, resumed.stdout + resumed.stderr
    assert "after the positions in" in resumed.stdout, resumed.stdout
    # both runs together: every record routed once (the job resumed from its savepoint) ...
    ids = [r["event_id"] for r in routed()]
    assert len(ids) == 2000 and len(set(ids)) == 2000
    # ... and delivered once (each delivery resumed after what it had written)
    for name in (usa, intl):
        objects = s3.list_objects_v2(Bucket=config.bucket, Prefix=f"{prefix}/{name}/")["Contents"]
        lines = [
            json.loads(line)["event_id"]
            for o in objects
            for line in s3.get_object(Bucket=config.bucket, Key=o["Key"])["Body"].read().decode().splitlines()
        ]
        assert sorted(lines) == sorted(r["row"]["event_id"] for r in read_stream(kinesis, name)), name
