"""`clickflow demo`: the pipeline on the embedded local stack, from a fresh machine to a summary.

It runs ingestion end to end (the local stack, a generated sample with injected anomalies, an
upload to the local S3 bucket, a replay from s3:// into the events stream, a read-back that checks
every record arrived) and then the five analytics in Flink over the same sample, and prints what
they found next to what was injected. The streaming job (Kinesis in, Kinesis and S3 out) is not
part of this build yet.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from connectors import aws
from connectors.config import Config
from connectors.local_stack import stack
from jobs.analyze import analyze, read_output
from producer.generate import GenerateOptions, write_generated
from producer.records import iter_stream
from producer.replay import ReplayOptions, replay


def run_demo(config: Config, workdir: Path, keep_stack: bool = False, say: Callable[[str], None] = print) -> int:
    workdir.mkdir(parents=True, exist_ok=True)
    say("== 1/5  local AWS stack")
    already = all(state.running for state in stack.status(config))
    stack.up(config, say)
    try:
        say("== 2/5  generate a sample with injected bots, spikes and abandoned carts")
        sample = workdir / "sample.csv.gz"
        options = GenerateOptions(events=20_000, rate=20.0, seed=2019, bots=2, spikes=1, abandoned=3)
        count, labels_path = write_generated(options, sample)
        labels = json.loads(labels_path.read_text())
        say(f"   {count:,} events, {labels['first_event']} .. {labels['last_event']}  -> {sample}")
        for label in labels["injected"]:
            who = label.get("user_id", "everyone")
            say(f"   injected {label['kind']:<15} {label['start']} .. {label['end']}  ({who})")

        say("== 3/5  upload to S3 and replay from s3:// into Kinesis")
        key = f"raw/{sample.name}"
        aws.client(config, "s3").upload_file(str(sample), config.bucket, key)
        stream = config.stream("events").name
        summary = replay(
            config,
            ReplayOptions(
                f"s3://{config.bucket}/{key}", stream, progress=False, rejects_path=workdir / "rejects.jsonl"
            ),
        )
        for line in summary.report():
            say("   " + line)
        if not summary.complete:
            say(f"   replay incomplete: {summary.fatal or 'some records were not delivered'}")
            return 1

        say("== 4/5  read the stream back")
        records = list(iter_stream(aws.client(config, "kinesis"), stream, "trim_horizon", idle_timeout=2.0))
        types = Counter(json.loads(r.data)["event_type"] for r in records)
        shards = Counter(r.shard_id for r in records)
        say(
            f"   {len(records):,} records in {stream} across {len(shards)} shards: "
            + ", ".join(f"{n:,} {t}" for t, n in types.most_common())
        )
        if len(records) < summary.records_sent:
            say(f"   MISSING: sent {summary.records_sent:,}, read back {len(records):,}")
            return 1

        say("== 5/5  the analytics in Flink over the same sample (clickflow analyze)")
        results = workdir / "analysis"
        summary_a = analyze(config, str(sample), results, overwrite=True)
        for line in summary_a.report():
            say("   " + line)
        say("")
        for line in describe_results(results, labels):
            say(line)
        say("")
        say(
            f"Sample, labels and results: {workdir}. The streaming job (Kinesis in, Kinesis and S3 out) "
            "is not part of this build yet."
        )
        return 0
    finally:
        if keep_stack or already:
            say(
                "(the local stack keeps running; stop it with `clickflow stack down`; "
                f"state in {stack.state_dir(config)})"
            )
        else:
            stack.down(config, say)


def _bar(value: int, top: int, width: int = 30) -> str:
    return "#" * max(1, round(width * value / top)) if top else ""


def describe_results(results: Path, labels: dict) -> list[str]:
    """A short readable summary of what the analytics found, next to what was injected."""
    lines = ["unique visitors per minute:"]
    visitors = sorted(read_output(results, "unique_visitors"), key=lambda r: r["window_start"])
    top = max((r["unique_users"] for r in visitors), default=0)
    for row in visitors:
        lines.append(f"   {row['window_start'][11:16]}  {row['unique_users']:>5}  {_bar(row['unique_users'], top)}")
    lines.append("top categories of each hour:")
    for row in sorted(read_output(results, "top_categories"), key=lambda r: (r["window_start"], r["rank"])):
        if row["rank"] <= 5:
            lines.append(
                f"   {row['window_start'][11:16]} #{row['rank']}  {row['category_id']}  "
                f"{(row['category_code'] or '(no code)'):<34} {row['views']:>5} views {row['purchases']:>3} "
                f"purchases  revenue {row['revenue']:>9,.2f}"
            )
    carts = read_output(results, "cart_abandonment")
    value = sum(r["cart_value"] for r in carts)
    lines.append(f"abandoned carts: {len(carts)} sessions, {value:,.2f} left in carts")
    injected_sessions = {label["user_session"] for label in labels["injected"] if label["kind"] == "abandoned_cart"}
    found = injected_sessions & {r["user_session"] for r in carts}
    lines.append(f"   injected abandoned carts found: {len(found)} of {len(injected_sessions)}")
    anomalies = read_output(results, "anomalies")
    lines.append("anomalies found (window, observed, score):")
    for row in sorted(anomalies, key=lambda r: (r["window_start"], r["anomaly_type"])):
        lines.append(
            f"   {row['anomaly_type']:<14} {row['entity']:<10} {row['window_start'][11:]}-{row['window_end'][11:]}"
            f"  observed {row['observed']:>4}  score {row['score']:.2f}"
        )
    lines.append("injected, and whether it was found:")
    for label in labels["injected"]:
        if label["kind"] == "abandoned_cart":
            continue
        start, end = label["start"][:19], label["end"][:19]
        if label["kind"] == "bot_burst":
            hit = any(r["entity"] == str(label["user_id"]) for r in anomalies)
            who = f"user {label['user_id']}"
        else:
            hit = any(r["anomaly_type"] == "traffic_spike" and start <= r["window_start"] <= end for r in anomalies)
            who = "all traffic"
        lines.append(f"   {label['kind']:<14} {who:<16} {start[11:]}-{end[11:]}  {'found' if hit else 'NOT found'}")
    return lines
