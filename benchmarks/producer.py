"""Producer benchmark: `clickflow replay` against the local stack, next to two baselines in the same run.

    .venv/bin/python benchmarks/producer.py [--events 50000] [--input FILE.csv] [--per-row 2000]

Baselines, each into a fresh 4-shard stream on the same kinesalite:
  per-row   one boto3 put_record per row (the public samples' loop; measured on --per-row rows only)
  batch500  a plain single-threaded boto3 put_records loop of 500 records
  replay    `clickflow replay` in its own process (its PutRecords client, lanes in flight), and
            the same with --client boto3

For each: records/s (the replay's as it reports it, from opening the file to the last ack), producer CPU µs per record
(the baselines: this process, excluding CSV parsing; the replay: what it reports of itself, CSV
parsing included, interpreter start-up excluded), kinesalite CPU µs per record (from /proc), and
the producer's share of the CPU spent. Starts and stops its own stack on free ports.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from connectors import aws
from connectors.config import load_config
from connectors.local_stack import stack
from producer.generate import GenerateOptions, write_generated
from producer.rows import RowError, RowParser

TICKS = os.sysconf("SC_CLK_TCK")
ROOT = Path(__file__).resolve().parents[1]


def server_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


def new_stream(config) -> str:
    name = f"bench-{uuid.uuid4().hex[:8]}"
    client = aws.client(config, "kinesis")
    client.create_stream(StreamName=name, ShardCount=4)
    client.get_waiter("stream_exists").wait(StreamName=name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 50})
    return name


def rows_as_records(path: Path, limit: int | None = None):
    """What the baselines send: the same JSON the replay makes, keyed by category_id."""
    parser = RowParser()
    out = []
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        next(reader)
        for line, fields in enumerate(reader, start=2):
            try:
                event = parser.parse(line, fields)
            except RowError:
                continue
            out.append((event.encode(), event.key(3)))
            if limit and len(out) >= limit:
                break
    return out


def measure(name: str, kinesalite_pid: int, work) -> dict:
    cpu0, srv0, t0 = time.process_time(), server_cpu(kinesalite_pid), time.perf_counter()
    count = work()
    elapsed = time.perf_counter() - t0
    cpu, srv = time.process_time() - cpu0, server_cpu(kinesalite_pid) - srv0
    if isinstance(count, tuple):  # a subprocess that measured itself (interpreter start-up excluded)
        count, cpu_us, elapsed = count
        cpu = cpu_us * count / 1e6
    return {
        "name": name,
        "records": count,
        "seconds": round(elapsed, 2),
        "records_per_s": round(count / elapsed),
        "producer_cpu_us": round(cpu * 1e6 / count, 1),
        "server_cpu_us": round(srv * 1e6 / count, 1),
        "producer_share": round(cpu / (cpu + srv), 2) if cpu + srv else None,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=50_000, help="generated events (default 50000)")
    parser.add_argument("--input", type=Path, help="replay this CSV instead of a generated one")
    parser.add_argument("--per-row", type=int, default=2_000, help="rows for the slow per-row baseline")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        overrides = stack.private_overrides(Path(tmp) / "state")
        config = load_config("local", overrides=overrides)
        path = args.input
        if path is None:
            path = Path(tmp) / "bench.csv"
            write_generated(GenerateOptions(events=args.events, seed=42), path)
        states = stack.up(config)
        kinesalite = next(s.pid for s in states if s.service.name == "kinesis")
        try:
            records = rows_as_records(path)
            client = aws.client(config, "kinesis")
            results = []

            def per_row():
                stream = new_stream(config)
                for data, key in records[: args.per_row]:
                    client.put_record(StreamName=stream, Data=data, PartitionKey=key)
                return min(args.per_row, len(records))

            def batch500():
                stream = new_stream(config)
                for i in range(0, len(records), 500):
                    chunk = records[i : i + 500]
                    client.put_records(StreamName=stream, Records=[{"Data": d, "PartitionKey": k} for d, k in chunk])
                return len(records)

            def run_replay(kind):
                """`clickflow replay` as users run it: its own process. Its CPU is what it reports."""

                def work():
                    stream = new_stream(config)
                    sets = [item for o in overrides for item in ("--set", o)]
                    command = [
                        sys.executable,
                        "-m",
                        "clickflow",
                        "replay",
                        *sets,
                        str(path),
                        "--stream",
                        stream,
                        "--client",
                        kind,
                        "--quiet",
                    ]
                    out = subprocess.run(command, capture_output=True, text=True, check=True, cwd=ROOT).stdout
                    sent = int(re.search(r"records sent\s+([\d,]+)", out).group(1).replace(",", ""))
                    cpu_us = float(re.search(r"producer CPU\s+([\d.]+)", out).group(1))
                    seconds = float(re.search(r"records sent.* in ([\d.]+)s", out).group(1))
                    return sent, cpu_us, seconds

                return work

            results.append(measure("per-row put_record loop (boto3)", kinesalite, per_row))
            results.append(measure("put_records loop of 500 (boto3)", kinesalite, batch500))
            results.append(measure("clickflow replay (boto3 client)", kinesalite, run_replay("boto3")))
            results.append(measure("clickflow replay (default)", kinesalite, run_replay("http")))
        finally:
            stack.down(config)

    baseline = results[1]["records_per_s"]
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    print(f"input: {path if args.input else f'{args.events:,} generated events'}; kinesalite on loopback, 4 shards")
    columns = ("records/s", "vs batch500", "producer µs/rec", "server µs/rec", "producer share")
    print(f"{'':34} " + " ".join(f"{c:>{w}}" for c, w in zip(columns, (10, 11, 16, 14, 15), strict=True)))
    for r in results:
        print(
            f"{r['name']:34} {r['records_per_s']:>10,} {r['records_per_s'] / baseline:>10.2f}x "
            f"{r['producer_cpu_us']:>16} {r['server_cpu_us']:>14} {r['producer_share']:>15}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
