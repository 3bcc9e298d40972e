"""Nothing clickflow starts listens beyond loopback: each kind of process — the local stack, an
embedded job (`clickflow run`), `explore`, the dashboard, `alerts run`, and the local cluster with
its SQL gateway (tests/integration/test_cluster.py) — is started for real, and every listening
socket it and its children hold is read from the kernel's own tables and must be on 127.0.0.1 or
::1. An offender is named by process and port."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import urllib.request
import uuid

import pytest

from connectors.local_stack import stack
from connectors.local_stack.stack import free_port
from jobs.analytics import ANALYTICS
from producer.generate import GenerateOptions, write_generated
from tests.conftest import PROJECT_ROOT, run_cli
from tests.listening import descendants, listeners

pytestmark = pytest.mark.integration


def assert_loopback_only(pids: set[int], what: str) -> int:
    """Every listening socket of ``pids`` (and their children) is on loopback; returns how many."""
    found = listeners(set().union(*(descendants(pid) for pid in pids)))
    offenders = [str(item) for item in found if not item.loopback]
    assert not offenders, f"{what}: listening beyond loopback:\n" + "\n".join(offenders)
    return len(found)


def start(args: list[str], overrides: list[str]) -> subprocess.Popen:
    sets = [item for o in overrides for item in ("--set", o)]
    return subprocess.Popen(
        [sys.executable, "-m", "clickflow", args[0], *sets, *args[1:]],
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def wait_for_line(process: subprocess.Popen, needle: str, timeout: float) -> str:
    deadline, seen = time.monotonic() + timeout, []
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line and process.poll() is not None:
            break
        seen.append(line)
        if needle in line:
            return line
    raise AssertionError(f"{process.args[2]} did not say {needle!r}:\n{''.join(seen)}")


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
    process.stdout.close()


def test_every_process_clickflow_starts_listens_on_loopback_only(local_stack, tmp_path):
    config, overrides = local_stack
    stack_pids = {s.pid for s in stack.status(config) if s.pid}
    assert assert_loopback_only(stack_pids, "the local stack") >= 2  # kinesalite and moto at least

    suffix = uuid.uuid4().hex[:6]
    names = [f"streams.events.name=events-{suffix}"]
    names += [f"streams.{role}.name={role.replace('_', '-')}-{suffix}" for role in (*ANALYTICS, "dead_letters")]
    overrides = [*overrides, *names, f"job.archive={tmp_path / 'archive'}", f"job.checkpoint_dir={tmp_path / 'chk'}"]
    run_cli("stack", "up", overrides=overrides)
    sample = tmp_path / "sample.csv"
    write_generated(GenerateOptions(events=500, seed=3), sample)
    run_cli("replay", str(sample), "--quiet", overrides=overrides)

    port = free_port()
    # explore's query and `alerts run` are stopped at the end (stop()): their own time limits only stop them should
    # the test not; long enough for a loaded machine, where the job took over two minutes to start and an
    # `alerts run --idle-exit 120` ended before it was looked at (a CI run beside another job)
    processes = {
        "clickflow run": start(["run", "--set", "job.rest_port=0"], overrides),
        "clickflow explore": start(
            [
                "explore",
                "-e",
                "SELECT event_type, COUNT(*) FROM clicks GROUP BY event_type",
                "--timeout",
                "600",
                "--from",
                "trim_horizon",
            ],
            overrides,
        ),
        "clickflow dashboard": start(["dashboard", "--port", str(port)], overrides),
        "clickflow alerts run": start(["alerts", "run", "--idle-exit", "600"], overrides),
    }
    try:
        wait_for_line(processes["clickflow run"], "running: events from", 120)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2).close()
                break
            except OSError:
                time.sleep(0.5)
        time.sleep(15)  # the job's tasks, explore's query and their Python workers are up by now
        counted = {}
        for what, process in processes.items():
            assert process.poll() is None, f"{what} ended early:\n{process.stdout.read()}"
            counted[what] = assert_loopback_only({process.pid}, what)
        assert counted["clickflow run"] >= 2 and counted["clickflow dashboard"] >= 1, counted
    finally:
        for process in processes.values():
            stop(process)
