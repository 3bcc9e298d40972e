"""Start-up on the local cluster: seconds from `clickflow run --profile cluster` to the job's first record,
through the cluster's SQL gateway (jobs/gateway.py) and, in turn, the way it was before (the client's own JVM
plans and submits).

    .venv/bin/python benchmarks/cluster_startup.py [--runs 3] [--warm-up 3]

Starts its own stack and cluster (a JobManager, a TaskManager and the SQL gateway) on free ports, replays
2,000 generated events, and runs the job once so that its plan is compiled and cached. Then `--warm-up`
starts through the gateway (its JVM and the TaskManager's are cold at first; their first jobs are slower),
and `--runs` rounds of one start each way. A start is the CLI in a fresh process, timed from its launch to the
first file in the job's events archive (a directory of its own for each start); the job is cancelled after.
"client JVM" is the same command with the gateway out of reach (cluster.sql_gateway_port pointing at a port
where nothing listens), so the client compiles nothing (the plan is cached) but starts a JVM, translates
the plan and submits the job itself. Everything is in a temporary directory; stack and cluster are stopped
at the end.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from connectors import cluster
from connectors.config import load_config
from connectors.local_stack import stack

ROOT = Path(__file__).resolve().parents[1]
PY = str(ROOT / ".venv" / "bin" / "python") if (ROOT / ".venv").exists() else sys.executable


def start(sets: list[str], archive: Path, extra: list[str]) -> tuple[float, str]:
    """One `clickflow run` to its first archived record: (seconds, what it printed); the job is cancelled."""
    began = time.perf_counter()
    command = [PY, "-m", "clickflow", "run", "--profile", "cluster", "--from", "trim_horizon", *sets]
    command += ["--set", f"job.archive={archive}", *extra]
    child = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    while not any(p.is_file() for p in (archive / "events").rglob("*")):
        if time.perf_counter() - began > 300:
            child.kill()
            raise RuntimeError(f"no record archived within 300 s: {child.communicate()[0][-3000:]}")
        time.sleep(0.05)
    took = time.perf_counter() - began
    printed, _ = child.communicate(timeout=300)
    if child.returncode != 0:
        raise RuntimeError(f"`clickflow run` failed:\n{printed[-3000:]}")
    return took, printed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3, help="rounds of one start each way")
    parser.add_argument("--warm-up", type=int, default=3, help="starts through the gateway before the rounds")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="clickflow-cluster-startup-"))
    os.environ["CLICKFLOW_PLAN_CACHE"] = str(workdir / "plans")
    base = [
        *stack.private_overrides(workdir / "stack"),
        f"job.cluster=127.0.0.1:{stack.free_port()}",
        f"cluster.rpc_port={stack.free_port()}",
        f"cluster.sql_gateway_port={stack.free_port()}",
        f"job.checkpoint_dir={workdir / 'checkpoints'}",
    ]
    config = load_config("cluster", overrides=base)
    sets = [x for o in base for x in ("--set", o)]
    no_gateway = ["--set", f"cluster.sql_gateway_port={stack.free_port()}"]  # nothing listens there
    stack.up(config)
    try:
        cluster.up(config, print)
        sample = workdir / "sample.csv"
        for command in (["generate", str(sample), "--events", "2000"], ["replay", str(sample), *sets]):
            subprocess.run([PY, "-m", "clickflow", *command, "--quiet"], check=True, cwd=ROOT)
        counter = iter(range(1_000_000))

        def one(extra: list[str]) -> tuple[float, str]:
            took, printed = start(sets, workdir / f"archive-{next(counter)}", extra)
            for job in cluster.jobs(config):
                if job.state == "RUNNING":
                    cluster.stop(config, job.id, None)
            return took, printed

        took, _ = one(no_gateway)
        print(f"first start (compiles the plan in the client): {took:.1f} s", flush=True)
        for n in range(args.warm_up):
            took, printed = one([])
            if "run by the cluster's SQL gateway" not in printed:
                raise RuntimeError(f"the start did not go through the gateway:\n{printed[-2000:]}")
            print(f"warm-up {n + 1} through the gateway: {took:.1f} s", flush=True)
        times: dict[str, list[float]] = {"through the SQL gateway": [], "client JVM": []}
        for n in range(args.runs):
            for label, extra in (("through the SQL gateway", []), ("client JVM", no_gateway)):
                took, printed = one(extra)
                gateway = "run by the cluster's SQL gateway" in printed
                if gateway != (label == "through the SQL gateway"):
                    raise RuntimeError(f"{label}: the start went the other way:\n{printed[-2000:]}")
                times[label].append(took)
                print(f"round {n + 1}, {label}: {took:.1f} s to the first record", flush=True)
    finally:
        cluster.down(config)
        stack.down(config)
    print(f"\nseconds from `clickflow run --profile cluster` to the first record, medians of {args.runs}:")
    baseline = statistics.median(times["client JVM"])
    for label, values in times.items():
        median = statistics.median(values)
        print(f"  {label:<24} {median:5.2f} s  ({baseline / median:.1f}x the client JVM's speed)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
