"""The streaming job end to end on the local stack: a generated file replayed into the events stream
(plus malformed records), the job run bounded, every output stream and the archive compared row for
row with `clickflow analyze` over the same file."""

from __future__ import annotations

import json
import uuid
from collections import Counter

import pytest

from connectors import aws
from connectors.config import load_config
from jobs import stream
from jobs.analytics import ANALYTICS
from jobs.analyze import analyze, read_output
from producer.generate import GenerateOptions, write_generated
from tests.conftest import run_cli
from tests.kinesis_helpers import read_stream

pytestmark = pytest.mark.integration

MALFORMED = [
    (b"this is not json", "not a JSON object"),
    (
        b'{"event_type": "view", "product_id": 1, "category_id": 2, "price": 1.0, "user_id": 3}',
        "missing field event_time",
    ),
    (
        b'{"event_time": "yesterday", "event_type": "view", "product_id": 1, "category_id": 2, "price": 1.0, '
        b'"user_id": 3}',
        "unparsable event_time: yesterday",
    ),
    (
        b'{"event_time": "2019-10-01 00:00:05 UTC", "event_type": "view", "product_id": "x1", "category_id": 2, '
        b'"price": 1.0, "user_id": 3}',
        "product_id is not a whole number",
    ),
]


# Valid, but two hours before the sample starts: when it arrives (last in its shard) every window it
# belongs to has closed, so each analytic drops it — and says so in the dead letters.
LATE = (
    b'{"event_time": "2019-09-30 22:00:00 UTC", "event_type": "view", "product_id": 1, "category_id": 2, '
    b'"category_code": null, "brand": null, "price": 1.0, "user_id": 3, "user_session": "late"}'
)


def dead_letter_metric(port: int, job_id: str) -> int:
    """The job's deadLetters counter, summed over subtasks, from Flink's REST API (loopback)."""
    import urllib.request

    def get(path):
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as response:
            return json.load(response)

    total = 0
    for vertex in get(f"/jobs/{job_id}")["vertices"]:
        base = f"/jobs/{job_id}/vertices/{vertex['id']}/metrics"
        names = [m["id"] for m in get(base) if m["id"].endswith(".deadLetters")]
        if names:
            total += sum(int(float(m["value"])) for m in get(f"{base}?get={','.join(names)}"))
    return total


def canonical(rows):
    return sorted(json.dumps(row, sort_keys=True) for row in rows)


@pytest.fixture
def job_config(local_stack, tmp_path):
    """The local profile on the session's stack, with streams of its own and a private archive."""
    _, overrides = local_stack
    suffix = uuid.uuid4().hex[:6]
    names = [f"streams.events.name=events-{suffix}", "streams.events.shards=4"]
    names += [f"streams.{role}.name={role.replace('_', '-')}-{suffix}" for role in (*ANALYTICS, "dead_letters")]
    extra = [*names, f"job.archive={tmp_path / 'archive'}", f"job.checkpoint_dir={tmp_path / 'checkpoints'}"]
    return load_config("local", overrides=[*overrides, *extra]), [*overrides, *extra]


def test_bounded_job_equals_analyze_and_dead_letters_keep_the_malformed(job_config, tmp_path):
    config, overrides = job_config
    run_cli("stack", "up", overrides=overrides)  # creates the profile's streams, outputs included
    sample = tmp_path / "sample.csv"
    write_generated(GenerateOptions(events=20000, seed=11, bots=2, spikes=1, abandoned=3), sample)
    # The replay feeds each shard from one lane, so every shard holds its records in file order and
    # the job's per-shard watermarks see no disorder (4 lanes in flight, the default).
    run_cli("replay", str(sample), "--quiet", overrides=overrides)
    kinesis = aws.client(config, "kinesis")
    put = kinesis.put_records(
        StreamName=config.stream("events").name,
        Records=[{"Data": data, "PartitionKey": f"bad{i}"} for i, (data, _) in enumerate(MALFORMED)]
        + [{"Data": LATE, "PartitionKey": "late"}],
    )
    # where Kinesis says each malformed record went: its dead letter must point there
    origin = {
        data.decode(): (r["ShardId"], r["SequenceNumber"])
        for (data, _), r in zip(MALFORMED, put["Records"], strict=False)
    }

    stream.start(config, stream.RunOptions(bounded=True)).wait()
    expected_dir = tmp_path / "expected"
    analyze(config, str(sample), expected_dir)

    for name in ANALYTICS:
        expected = read_output(expected_dir, name)
        assert expected, f"{name}: the sample should produce rows"
        streamed = [r["row"] for r in read_stream(kinesis, config.output_stream(name).name)]
        assert canonical(streamed) == canonical(expected), name
        archived = read_output(tmp_path / "archive", name)
        assert canonical(archived) == canonical(expected), f"{name} (archive)"
        partitions = {
            p.parent.relative_to(tmp_path / "archive" / name).as_posix()
            for p in (tmp_path / "archive" / name).rglob("part-*")
        }
        assert all(p.startswith("dt=2019-10-01/hour=") for p in partitions), partitions

    dead = [r["row"] for r in read_stream(kinesis, config.output_stream("dead_letters").name)]
    malformed = [d for d in dead if not d["reason"].startswith("late for ")]
    assert Counter((d["payload"], d["reason"]) for d in malformed) == Counter(
        (data.decode(), reason) for data, reason in MALFORMED
    )
    assert {d["payload"]: (d["shard_id"], d["sequence_number"]) for d in malformed} == origin
    late = [d for d in dead if d["reason"].startswith("late for ")]
    assert sorted(d["reason"] for d in late) == sorted(f"late for {name}" for name in ANALYTICS)
    assert all(json.loads(d["payload"])["event_time"] == "2019-09-30 22:00:00.000" for d in late)
    assert all(d["shard_id"] is None and d["sequence_number"] is None for d in late)
    assert len(read_output(tmp_path / "archive", "events")) == 20001  # the late event is archived all the same


def test_killed_mid_stream_then_restored_from_its_checkpoint_archives_every_row_once(job_config, tmp_path):
    import os
    import signal
    import time

    from connectors.local_stack.stack import free_port
    from tests.conftest import start_cli
    from tests.kinesis_helpers import wait_for

    config, overrides = job_config
    rest = free_port()
    overrides = [*overrides, "job.checkpoint_interval=1s", f"job.rest_port={rest}"]
    run_cli("stack", "up", overrides=overrides)
    sample = tmp_path / "sample.csv"
    write_generated(GenerateOptions(events=12000, seed=3, bots=1, abandoned=2), sample)
    run_cli("replay", str(sample), "--limit", "6000", "--quiet", overrides=overrides)
    aws.client(config, "kinesis").put_records(
        StreamName=config.stream("events").name,
        Records=[{"Data": data, "PartitionKey": f"bad{i}"} for i, (data, _) in enumerate(MALFORMED)],
    )

    log = tmp_path / "first-run.log"
    first = start_cli("run", overrides=overrides, log=log)  # the kill below takes its JVM too
    try:
        checkpoints = tmp_path / "checkpoints"
        archive = tmp_path / "archive"
        try:
            wait_for(
                # Flink keeps only the newest checkpoint: wait for chk-2 (or later) to be complete
                lambda: (
                    any(int(p.parent.name[4:]) >= 2 for p in checkpoints.glob("*/chk-*/_metadata"))
                    and list(archive.glob("events/*/*/part-*"))
                ),
                120,
                "two completed checkpoints and committed archive files",
            )
        except AssertionError as exc:
            files = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if "archive" in str(p))
            raise AssertionError(f"{exc}\nfiles: {files[:40]}\nlog: {log.read_text()[-3000:]}") from None
        assert first.poll() is None, log.read_text()[-2000:]
        job_id = log.read_text().split("job ", 1)[1].split()[0]
        # REST serves metrics as last fetched (every 10 s): wait for the count to reach them all
        counted = wait_for(
            lambda: (n := dead_letter_metric(rest, job_id)) >= len(MALFORMED) and n, 60, "the deadLetters metric"
        )
        assert counted == len(MALFORMED)
    finally:
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(30)
    time.sleep(1)

    run_cli("replay", str(sample), "--resume-from", "6001", "--quiet", overrides=overrides)
    second = run_cli("run", "--bounded", "--restore", "latest", overrides=overrides, timeout=300)
    assert "resuming from" in second.stdout + second.stderr

    expected_dir = tmp_path / "expected"
    analyze(config, str(sample), expected_dir)
    for name in ANALYTICS:
        archived = read_output(tmp_path / "archive", name)
        assert canonical(archived) == canonical(read_output(expected_dir, name)), name  # each row exactly once
    assert len(read_output(tmp_path / "archive", "events")) == 12000

    # the batch insights over the archive the job wrote equal those over the file it came from
    from jobs.insights import INSIGHTS, insights

    insights(config, str(tmp_path / "archive"), tmp_path / "from-archive")
    insights(config, str(sample), tmp_path / "from-file")
    for name in INSIGHTS:
        from_file = read_output(tmp_path / "from-file", name)
        assert from_file and canonical(read_output(tmp_path / "from-archive", name)) == canonical(from_file), name
