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
    kinesis.put_records(
        StreamName=config.stream("events").name,
        Records=[{"Data": data, "PartitionKey": f"bad{i}"} for i, (data, _) in enumerate(MALFORMED)],
    )

    stream.start(config, stream.RunOptions(bounded=True)).wait()
    expected_dir = tmp_path / "expected"
    analyze(config, str(sample), expected_dir)

    for name in ANALYTICS:
        expected = read_output(expected_dir, name)
        assert expected, f"{name}: the sample should produce rows"
        streamed = [r["row"] for r in read_stream(kinesis, config.output_stream(name).name)]
        assert canonical(streamed) == canonical(expected), name
        archived = [
            json.loads(line)
            for path in sorted((tmp_path / "archive" / name).rglob("part-*"))
            for line in path.read_text().splitlines()
        ]
        assert canonical(archived) == canonical(expected), f"{name} (archive)"
        partitions = {
            p.parent.relative_to(tmp_path / "archive" / name).as_posix()
            for p in (tmp_path / "archive" / name).rglob("part-*")
        }
        assert all(p.startswith("dt=2019-10-01/hour=") for p in partitions), partitions

    dead = [r["row"] for r in read_stream(kinesis, config.output_stream("dead_letters").name)]
    assert Counter((d["payload"], d["reason"]) for d in dead) == Counter(
        (data.decode(), reason) for data, reason in MALFORMED
    )
    archived_events = sum(len(p.read_text().splitlines()) for p in (tmp_path / "archive" / "events").rglob("part-*"))
    assert archived_events == 20000
