"""Connector benchmark: a pass-through Flink job (Kinesis → Kinesis, JSON) against the local stack,
for clickflow's connector on the AWS SDK — and, with --baseline-jar, another build of it (the
hand-written-HTTP connector of an earlier commit) — next to reading the same records with a plain
boto3 loop, all in the same run, on the same data.

    .venv/bin/python benchmarks/connector.py [--events 100000] [--runs 3] [--baseline-jar JAR]

The hand-written connector of commit 09829b9 (before the SDK), for --baseline-jar:

    git worktree add /tmp/cf-before 09829b9 && cd /tmp/cf-before && ln -s /work/main/.venv .venv \
      && .venv/bin/python -m connectors.kinesis_connector    # prints its jar's path

The input is generated clickstream (the producer's own JSON), put into a 4-shard stream once. Each
run then measures, each jar in a JVM of its own (a fresh process: a JVM keeps the first connector
it loads), the runs interleaved so that the machine's drift hits every jar alike:
  boto3 read   get_records over every shard (Limit 10000) + json.loads of each record, one thread
  read-only    a JSON table over the stream (bounded: source.bounded=latest) into a blackhole sink;
               wall time from submit to the job's end
  pass-through the same, INSERT INTO a 4-shard output stream (the connector's sink)
  empty job    the pass-through over an empty stream (best of two): start-up and shut-down,
               subtracted for "net"

For each: records/s, and kinesalite's CPU µs per record (from /proc). Starts and stops its own stack
on free ports.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from connectors import aws
from connectors.config import load_config
from connectors.kinesis_connector import build
from connectors.local_stack import stack
from connectors.tables import kinesis_options
from jobs.analytics import create_table_env, with_clause
from producer.generate import GenerateOptions, write_generated
from producer.rows import read_rows

TICKS = os.sysconf("SC_CLK_TCK")
COLUMNS = "event_time, event_type, product_id, category_id, category_code, brand, price, user_id, user_session"
OUT_COLUMNS = (
    "event_time STRING, event_type STRING, product_id BIGINT, category_id BIGINT, category_code STRING, "
    "brand STRING, price DOUBLE, user_id BIGINT, user_session STRING"
)


def server_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def new_stream(kinesis, shards: int = 4) -> str:
    name = f"bench-{uuid.uuid4().hex[:8]}"
    kinesis.create_stream(StreamName=name, ShardCount=shards)
    kinesis.get_waiter("stream_exists").wait(StreamName=name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 50})
    return name


def load(kinesis, stream: str, events: int, workdir: Path) -> int:
    """Generate events and put them as the producer's JSON, keyed by category_id."""
    path = workdir / "events.csv"
    write_generated(GenerateOptions(events=events, seed=7), path)
    batch, sent = [], 0
    with open(path, newline="", encoding="utf-8") as handle:
        parser, rows = read_rows(handle, str(path))
        parsed = []
        for line, fields, error in rows:
            if error:
                continue
            try:
                parsed.append(parser.parse(line, fields))
            except Exception:  # noqa: BLE001 - the generator's injected bad rows
                continue
    for event in parsed:
        batch.append({"Data": event.encode(), "PartitionKey": event.key(3) or "none"})
        if len(batch) == 500:
            sent += put(kinesis, stream, batch)
            batch = []
    if batch:
        sent += put(kinesis, stream, batch)
    return sent


def put(kinesis, stream: str, batch: list[dict]) -> int:
    """PutRecords until every entry is in; returns how many."""
    count, pending = len(batch), batch
    while pending:
        answer = kinesis.put_records(StreamName=stream, Records=pending)
        pending = [entry for entry, result in zip(pending, answer["Records"], strict=True) if "ErrorCode" in result]
    return count


def boto3_read(kinesis, stream: str) -> int:
    count = 0
    for shard in kinesis.list_shards(StreamName=stream)["Shards"]:
        iterator = kinesis.get_shard_iterator(
            StreamName=stream, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        while iterator:
            page = kinesis.get_records(ShardIterator=iterator, Limit=10000)
            for record in page["Records"]:
                json.loads(record["Data"])
                count += 1
            if not page["Records"]:
                break
            iterator = page.get("NextShardIterator")
    return count


def table(config, stream: str, extra: dict[str, str], baseline: bool) -> str:
    options = kinesis_options(config, stream, extra)
    if baseline:  # the hand-written connector knows no SDK retry options (and refuses unknown ones)
        options = {k: v for k, v in options.items() if not k.startswith("retry-strategy.")}
    return with_clause(options)


def pass_through(config, jar: Path, kinesis, source: str, write: bool, baseline: bool) -> float:
    """Seconds from submitting the job to its end; ``write=False`` reads into a blackhole sink."""
    env = create_table_env(config, [jar])
    bounded = {"source.init.position": "TRIM_HORIZON", "source.bounded": "latest"}
    env.execute_sql(f"CREATE TABLE src ({OUT_COLUMNS}) WITH (\n{table(config, source, bounded, baseline)}\n)")
    sink = table(config, new_stream(kinesis), {}, baseline) if write else "'connector' = 'blackhole'"
    env.execute_sql(f"CREATE TABLE passed ({OUT_COLUMNS}) WITH (\n{sink}\n)")
    started = time.perf_counter()
    env.execute_sql(f"INSERT INTO passed SELECT {COLUMNS} FROM src").wait()
    return time.perf_counter() - started


def worker(args) -> int:
    """One jar's measurements, in this (fresh) process: prints them as JSON."""
    config = load_config("local", overrides=args.set)
    kinesis = aws.client(config, "kinesis")
    pid, jar, baseline = args.kinesis_pid, Path(args.worker), args.baseline
    overhead = min(pass_through(config, jar, kinesis, args.empty, True, baseline) for _ in range(2))
    cpu0 = server_cpu(pid)
    read_s = pass_through(config, jar, kinesis, args.source, False, baseline)
    read_cpu, cpu0 = server_cpu(pid) - cpu0, server_cpu(pid)
    job_s = pass_through(config, jar, kinesis, args.source, True, baseline)
    job_cpu = server_cpu(pid) - cpu0
    print(
        json.dumps({"overhead": overhead, "read_s": read_s, "read_cpu": read_cpu, "job_s": job_s, "job_cpu": job_cpu})
    )
    return 0


def measure(jar: Path, baseline: bool, overrides: list[str], pid: int, source: str, empty: str) -> dict:
    command = [sys.executable, __file__, "--worker", str(jar), "--kinesis-pid", str(pid), "--source", source]
    command += ["--empty", empty, *(["--baseline"] if baseline else [])]
    command += [item for o in overrides for item in ("--set", o)]
    done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=1800)
    if done.returncode != 0:
        raise SystemExit(f"measuring {jar} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=100_000, help="generated events (default 100000)")
    parser.add_argument("--runs", type=int, default=3, help="measurements of each (default 3)")
    parser.add_argument("--baseline-jar", type=Path, help="another connector jar to measure beside this one's")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--kinesis-pid", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--source", help=argparse.SUPPRESS)
    parser.add_argument("--empty", help=argparse.SUPPRESS)
    parser.add_argument("--baseline", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--set", action="append", default=[], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args)

    workdir = Path(tempfile.mkdtemp(prefix="clickflow-bench-"))
    overrides = stack.private_overrides(workdir / "stack")
    config = load_config("local", overrides=overrides)
    states = stack.up(config)
    try:
        kinesis = aws.client(config, "kinesis")
        pid = next(s.pid for s in states if s.service.name == "kinesis")
        jars = [("SDK (this tree)", build(), False)]
        if args.baseline_jar:
            jars.insert(0, ("baseline", args.baseline_jar.resolve(), True))
        source, empty = new_stream(kinesis), new_stream(kinesis)
        print(f"loading {args.events:,} generated events …", file=sys.stderr)
        records = load(kinesis, source, args.events, workdir)
        print(f"{records:,} records in a 4-shard stream", file=sys.stderr)
        rows = []
        for run in range(1, args.runs + 1):
            cpu0, t0 = server_cpu(pid), time.perf_counter()
            read = boto3_read(kinesis, source)
            boto_s, boto_cpu = time.perf_counter() - t0, server_cpu(pid) - cpu0
            assert read == records, (read, records)
            for name, jar, baseline in jars:
                print(f"run {run}: {name} …", file=sys.stderr)
                rows.append((run, name, boto_s, boto_cpu, measure(jar, baseline, overrides, pid, source, empty)))
        print(f"\n{records:,} records, 4-shard streams; [kinesalite CPU µs per record]; net = minus the empty job\n")
        print(
            "run  connector        boto3 read rec/s   read-only rec/s: gross / net   "
            "pass-through rec/s: gross / net   empty job"
        )
        for run, name, boto_s, boto_cpu, m in rows:
            read_net, job_net = records / (m["read_s"] - m["overhead"]), records / (m["job_s"] - m["overhead"])
            print(
                f"{run:>3}  {name:<16} {records / boto_s:>9,.0f} [{boto_cpu * 1e6 / records:.0f}]"
                f"   {records / m['read_s']:>9,.0f} / {read_net:>7,.0f} [{m['read_cpu'] * 1e6 / records:.0f}]"
                f" ({read_net / (records / boto_s):.2f}× boto3)"
                f"   {records / m['job_s']:>9,.0f} / {job_net:>7,.0f} [{m['job_cpu'] * 1e6 / records:.0f}]"
                f"   {m['overhead']:>6.1f} s"
            )
        if args.baseline_jar:
            for kind in ("read_s", "job_s"):
                ratios = sorted(
                    b[4][kind] / a[4][kind]  # baseline seconds / SDK seconds: above 1, the SDK is faster
                    for a, b in zip(rows[1::2], rows[0::2], strict=True)
                )
                shown = ", ".join(f"{r:.2f}×" for r in ratios)
                print(f"SDK vs baseline, {kind[:-2]}: {shown} (median {ratios[len(ratios) // 2]:.2f}×)")
    finally:
        stack.down(config)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
