"""Cluster benchmark: the whole streaming job on the local Flink cluster (parallelism 1 and 2) against
the embedded mini-cluster, over the same replayed stream, in the same run.

    .venv/bin/python benchmarks/cluster.py [--events 50000] [--rounds 2]

One generated file is replayed once into an events stream of 4 shards; then each variant runs the
job bounded over that stream from its start (its own output streams and S3 prefix, archive and
checkpoints on the local stack's S3 for all three), in a fresh process, rounds interleaved:
  embedded    `clickflow run`'s embedded Flink (a mini-cluster in the client's JVM), parallelism 1
  cluster-p1  submitted to `clickflow cluster` (JobManager + TaskManager processes), parallelism 1
  cluster-p2  the same, parallelism 2 (the cluster's two slots)
events/s = events ÷ the time from submission to the job's end; planning and submission are
reported apart (they do not grow with the input). Starts and stops its own stack and cluster on
free ports; everything in a temporary directory.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from connectors import cluster
from connectors.config import load_config
from connectors.local_stack import stack
from jobs.analytics import ANALYTICS

ROOT = Path(__file__).resolve().parents[1]
VARIANTS = {"embedded": ("", 1), "cluster-p1": ("cluster", 1), "cluster-p2": ("cluster", 2)}


def child(overrides: list[str]) -> None:
    """One bounded run in this fresh process; prints {"planning": s, "running": s}."""
    from jobs import stream

    config = load_config("local", overrides=overrides)
    began = time.perf_counter()
    result = stream.start(config, stream.RunOptions(start="trim_horizon", bounded=True))
    submitted = time.perf_counter()
    result.wait()
    print(json.dumps({"planning": submitted - began, "running": time.perf_counter() - submitted}))


def variant_overrides(base: list[str], name: str, bucket: str, cluster_at: str) -> list[str]:
    target, parallelism = VARIANTS[name]
    run = f"{name}-{uuid.uuid4().hex[:6]}"
    outputs = [f"streams.{r}.name={r.replace('_', '-')}-{run}" for r in (*ANALYTICS, "dead_letters")]
    return [
        *base,
        *outputs,
        f"flink.parallelism={parallelism}",
        f"job.archive=s3://{bucket}/{run}/archive",
        f"job.checkpoint_dir=s3://{bucket}/{run}/checkpoints",
        "job.rest_port=0",
        f"job.cluster={cluster_at if target else ''}",
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(json.loads(args.child))
        return 0

    with tempfile.TemporaryDirectory(prefix="clickflow-bench-cluster-") as scratch:
        workdir = Path(scratch)
        rest = f"127.0.0.1:{stack.free_port()}"
        base = [
            *stack.private_overrides(workdir / "state"),
            f"streams.events.name=bench-events-{uuid.uuid4().hex[:6]}",
            "streams.events.shards=4",
            f"cluster.rpc_port={stack.free_port()}",
            "cluster.sql_gateway_port=0",
        ]
        config = load_config("cluster", overrides=[*base, f"job.cluster={rest}"])
        stack.up(config)
        try:
            cluster.up(config, print)
            sets = [item for o in base for item in ("--set", o)]
            sample = workdir / "sample.csv"
            cli = [sys.executable, "-m", "clickflow"]
            subprocess.run([*cli, "generate", str(sample), "--events", str(args.events), "--quiet"], check=True)
            subprocess.run([*cli, "replay", str(sample), *sets, "--quiet"], check=True, cwd=ROOT)
            results: dict[str, list[dict]] = {name: [] for name in VARIANTS}
            for round_ in range(args.rounds):
                for name in VARIANTS:
                    overrides = variant_overrides(base, name, config.bucket, rest)
                    stack.ensure_resources(load_config("local", overrides=overrides))
                    out = subprocess.run(
                        [sys.executable, __file__, "--child", json.dumps(overrides)],
                        capture_output=True,
                        text=True,
                        cwd=ROOT,
                    )
                    if out.returncode != 0:
                        print(out.stdout[-2000:], out.stderr[-3000:], file=sys.stderr)
                        return 1
                    timing = json.loads(out.stdout.strip().splitlines()[-1])
                    results[name].append(timing)
                    print(
                        f"round {round_ + 1} {name:<11} planned+submitted {timing['planning']:5.1f} s, "
                        f"ran {timing['running']:5.1f} s = {args.events / timing['running']:,.0f} events/s",
                        flush=True,
                    )
        finally:
            cluster.down(config)
            stack.down(config)

    baseline = statistics.median(r["running"] for r in results["embedded"])
    print(f"\n{args.events:,} events, median of {args.rounds} rounds:")
    print("| variant | planned + submitted | ran | events/s | vs embedded |")
    print("| --- | --- | --- | --- | --- |")
    for name, timings in results.items():
        running = statistics.median(t["running"] for t in timings)
        planning = statistics.median(t["planning"] for t in timings)
        print(
            f"| {name} | {planning:.1f} s | {running:.1f} s | {args.events / running:,.0f} | "
            f"{baseline / running:.2f}× |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
