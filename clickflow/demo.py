"""`clickflow demo`: the pipeline on the embedded local stack, from a fresh machine to a summary.

The local stack, a generated sample with injected anomalies, an upload to the local S3 bucket, a
replay from s3:// into the events stream, a read-back that checks every record arrived, then the
streaming job over the stream (bounded: it ends at the stream's end and closes every window), its
output streams read back and summarised next to what was injected — and, as a check anyone can
see, the same SQL over the file (`clickflow analyze`) compared row for row with what streamed out.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from connectors import aws
from connectors.config import Config
from connectors.local_stack import stack
from jobs import stream as streaming
from jobs.analytics import ANALYTICS
from jobs.analyze import analyze, read_output
from jobs.insights import insights
from jobs.report import render_report
from producer.generate import LEARNED_KINDS, GenerateOptions, write_generated
from producer.records import read_finished
from producer.replay import ReplayOptions, replay


def run_demo(
    config: Config,
    workdir: Path,
    keep_stack: bool = False,
    say: Callable[[str], None] = print,
    dashboard_port: int | None = None,
) -> int:
    """The demo; with ``dashboard_port`` it ends by serving the live dashboard over the demo's output
    streams until Ctrl-C, and only then stops the stack."""
    workdir.mkdir(parents=True, exist_ok=True)
    say("== 1/7  local AWS stack")
    already = all(state.running for state in stack.status(config))
    stack.up(config, say)
    try:
        say("== 2/7  generate a sample with injected bots, spikes, abandoned carts and a wave of quiet bots")
        sample = workdir / "sample.csv.gz"
        # 40 minutes of event time: rcf_traffic's forest has learned the usual traffic (74 windows of 10 s)
        # before the second half, where the anomalies only it can see are injected
        options = GenerateOptions(
            events=60_000, rate=25.0, seed=2019, bots=2, spikes=1, abandoned=3, bot_waves=1, purchase_drops=1
        )
        count, labels_path = write_generated(options, sample)
        labels = json.loads(labels_path.read_text())
        say(f"   {count:,} events, {labels['first_event']} .. {labels['last_event']}  -> {sample}")
        for label in labels["injected"]:
            who = label.get("user_id", "everyone")
            say(f"   injected {label['kind']:<15} {label['start']} .. {label['end']}  ({who})")

        say("== 3/7  upload to S3 and replay from s3:// into Kinesis")
        # Only this run's records and results count, even on a stack that was already running.
        since = datetime.now(UTC) - timedelta(seconds=1)
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

        bad = [
            b"<html>not an event</html>",
            b'{"event_time": "2019-10-01 00:05:00 UTC", "event_type": "view", "product_id": 1, "price": 1.0}',
            b'{"event_time": "01/10/2019", "event_type": "view", "product_id": 1, "category_id": 2, '
            b'"price": 1.0, "user_id": 3}',
        ]
        aws.client(config, "kinesis").put_records(
            StreamName=stream, Records=[{"Data": data, "PartitionKey": "bad"} for data in bad]
        )
        say(f"   and {len(bad)} malformed records, as a faulty producer might send (for the dead letters)")

        say("== 4/7  read the stream back")
        kinesis = aws.client(config, "kinesis")
        records = read_finished(kinesis, stream, since)
        types = Counter(_event_type(r.data) for r in records)
        shards = Counter(r.shard_id for r in records)
        say(
            f"   {len(records):,} records in {stream} across {len(shards)} shards: "
            + ", ".join(f"{n:,} {t}" for t, n in types.most_common())
        )
        if len(records) < summary.records_sent + len(bad):
            say(f"   MISSING: sent {summary.records_sent:,}, read back {len(records):,}")
            return 1

        say("== 5/7  the streaming job over the stream (bounded: ends at the stream's end, closes every window)")
        job_config = replace(
            config,
            job=replace(
                config.job, archive=str(workdir / "archive"), checkpoint_dir=str(workdir / "checkpoints"), rest_port=0
            ),
        )
        streaming.start(job_config, streaming.RunOptions(start=since.isoformat(), bounded=True)).wait()
        outputs = {}
        for name in (*ANALYTICS, "dead_letters"):
            out_stream = job_config.output_stream(name).name
            outputs[name] = [json.loads(r.data) for r in read_finished(kinesis, out_stream, since)]
            say(f"   {len(outputs[name]):>6,} rows on {out_stream}")
        say("")
        for line in describe_results(outputs, labels):
            say(line)

        say("")
        say("== 6/7  check: the same SQL over the file (clickflow analyze) against what streamed out")
        results = workdir / "analysis"
        analyze(config, str(sample), results, overwrite=True)
        same = True
        for name in ANALYTICS:
            expected = read_output(results, name)
            equal = _canonical(expected) == _canonical(outputs[name])
            same = same and equal
            say(f"   {name:<18} {len(expected):>6,} rows  {'equal' if equal else 'DIFFERENT'}")
        say("")
        say("== 7/7  batch insights over the archive, and a report to look at")
        found = insights(config, str(workdir / "archive"), workdir / "insights", overwrite=True)
        for name, count in found.outputs.items():
            say(f"   {name:<18} {count:>6,} rows")
        report = render_report(workdir / "insights")
        say(f"   report: {report.resolve()}  (open it in a browser; it works offline)")
        say("")
        say(f"Sample, labels and the file analysis: {workdir}")
        say(f"Archive (JSON, dt=/hour= partitions): {workdir / 'archive'}   — remove with: rm -rf {workdir}")
        if not same:
            say("the streamed results differ from the file analysis (see above)")
            return 1
        if dashboard_port is None:
            say("To watch the results live in a browser: clickflow demo --dashboard (the stack and a dashboard on ")
            say("http://127.0.0.1:8050 stay up until Ctrl-C), or, with the stack up, clickflow dashboard --open")
        else:
            say("")
            from clickflow.dashboard.app import DashboardOptions, serve

            serve(config, DashboardOptions(port=dashboard_port), say=say)
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


def _event_type(data: bytes) -> str:
    try:
        return str(json.loads(data)["event_type"])
    except (ValueError, KeyError, TypeError):
        return "malformed"


def _canonical(rows: list[dict]) -> list[str]:
    return sorted(json.dumps(row, sort_keys=True) for row in rows)


def describe_results(results: Mapping[str, list[dict]], labels: dict) -> list[str]:
    """A short readable summary of what the analytics found, next to what was injected."""
    lines = ["unique visitors per minute:"]
    visitors = sorted(results["unique_visitors"], key=lambda r: r["window_start"])
    top = max((r["unique_users"] for r in visitors), default=0)
    for row in visitors:
        lines.append(f"   {row['window_start'][11:16]}  {row['unique_users']:>5}  {_bar(row['unique_users'], top)}")
    lines.append("top categories of each hour:")
    for row in sorted(results["top_categories"], key=lambda r: (r["window_start"], r["rank"])):
        if row["rank"] <= 5:
            lines.append(
                f"   {row['window_start'][11:16]} #{row['rank']}  {row['category_id']}  "
                f"{(row['category_code'] or '(no code)'):<34} {row['views']:>5} views {row['purchases']:>3} "
                f"purchases  revenue {row['revenue']:>9,.2f}"
            )
    carts = results["cart_abandonment"]
    value = sum(r["cart_value"] for r in carts)
    lines.append(f"abandoned carts: {len(carts)} sessions, {value:,.2f} left in carts")
    injected_sessions = {label["user_session"] for label in labels["injected"] if label["kind"] == "abandoned_cart"}
    found = injected_sessions & {r["user_session"] for r in carts}
    lines.append(f"   injected abandoned carts found: {len(found)} of {len(injected_sessions)}")
    anomalies = results["anomalies"]
    lines.append("anomalies found (window, observed, score):")
    for row in sorted(anomalies, key=lambda r: (r["window_start"], r["anomaly_type"])):
        lines.append(
            f"   {row['anomaly_type']:<14} {row['entity']:<20} {row['window_start'][11:]}-{row['window_end'][11:]}"
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
        elif label["kind"] in LEARNED_KINDS:  # only the learned anomaly can see these
            hit = any(
                r["anomaly_type"] == "rcf_traffic" and r["window_start"] < end and r["window_end"] > start
                for r in anomalies
            )
            who = "the traffic's make-up"
        else:
            hit = any(r["anomaly_type"] == "traffic_spike" and start <= r["window_start"] <= end for r in anomalies)
            who = "all traffic"
        lines.append(f"   {label['kind']:<14} {who:<16} {start[11:]}-{end[11:]}  {'found' if hit else 'NOT found'}")
    dead = results.get("dead_letters", [])
    lines.append(f"dead letters (records the analytics could not use): {len(dead)}")
    for reason, count in Counter(d["reason"] for d in dead).most_common(5):
        lines.append(f"   {count:>5}  {reason}")
    return lines
