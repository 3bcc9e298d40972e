"""`clickflow demo`: the pipeline on the embedded local stack, from a fresh machine to a summary.

Today it covers ingestion end to end: the local stack, a generated sample with injected anomalies,
an upload to the local S3 bucket, a replay from s3:// into the events stream, and a read-back that
checks every record arrived. The analytics stages join it as they land.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from connectors import aws
from connectors.config import Config
from connectors.local_stack import stack
from producer.generate import GenerateOptions, write_generated
from producer.records import iter_stream
from producer.replay import ReplayOptions, replay


def run_demo(config: Config, workdir: Path, keep_stack: bool = False, say: Callable[[str], None] = print) -> int:
    workdir.mkdir(parents=True, exist_ok=True)
    say("== 1/4  local AWS stack")
    already = all(state.running for state in stack.status(config))
    stack.up(config, say)
    try:
        say("== 2/4  generate a sample with injected bots, spikes and abandoned carts")
        sample = workdir / "sample.csv.gz"
        options = GenerateOptions(events=20_000, rate=20.0, seed=2019, bots=2, spikes=1, abandoned=3)
        count, labels_path = write_generated(options, sample)
        labels = json.loads(labels_path.read_text())
        say(f"   {count:,} events, {labels['first_event']} .. {labels['last_event']}  -> {sample}")
        for label in labels["injected"]:
            who = label.get("user_id", "everyone")
            say(f"   injected {label['kind']:<15} {label['start']} .. {label['end']}  ({who})")

        say("== 3/4  upload to S3 and replay from s3:// into Kinesis")
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

        say("== 4/4  read the stream back")
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
        say("")
        say("The Flink analytics stages (clickflow analyze / run) are not part of this build yet;")
        say(f"the sample and its labels stay in {workdir} for them.")
        return 0
    finally:
        if keep_stack or already:
            say(
                "(the local stack keeps running; stop it with `clickflow stack down`; "
                f"state in {stack.state_dir(config)})"
            )
        else:
            stack.down(config, say)
