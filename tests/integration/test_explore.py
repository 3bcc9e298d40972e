"""`clickflow explore` over a replayed stream on the local stack: `-e` returns the same rows as
`analyze` over the same file, and update mode ends in the right table from a real changelog."""

from __future__ import annotations

import csv
import json
import uuid
from collections import Counter

import pytest

from connectors import aws
from connectors.config import load_config
from jobs.analyze import analyze, read_output
from producer.generate import GenerateOptions, write_generated
from tests.conftest import run_cli
from tests.kinesis_helpers import new_stream

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def replayed(local_stack, tmp_path_factory):
    """A generated file replayed into a stream of its own; yields (config, overrides, file)."""
    config, overrides = local_stack
    stream = new_stream(aws.client(config, "kinesis"), "explore", 2)
    overrides = [*overrides, f"streams.events.name={stream}", f"streams.unique_visitors.name=uv-{uuid.uuid4().hex[:6]}"]
    sample = tmp_path_factory.mktemp("explore") / "sample.csv"
    write_generated(GenerateOptions(events=4000, seed=5, rate=2.0, bots=1), sample)
    run_cli("replay", str(sample), "--quiet", overrides=overrides)
    return load_config("local", overrides=overrides), overrides, sample


def canonical(rows):
    return sorted(json.dumps(row, sort_keys=True) for row in rows)


def test_execute_returns_the_same_rows_as_analyze(replayed, tmp_path):
    config, overrides, sample = replayed
    result = run_cli(
        "explore",
        "-e",
        "SELECT * FROM unique_visitors",
        "--mode",
        "append",
        "--bounded",
        "--format",
        "json",
        overrides=overrides,
        timeout=300,
    )
    explored = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    analyze(config, str(sample), tmp_path / "expected", ["unique_visitors"])
    expected = read_output(tmp_path / "expected", "unique_visitors")
    assert len(expected) >= 30  # 4,000 events at 2/s: over half an hour of one-minute windows
    assert canonical(explored) == canonical(expected)


def test_update_mode_follows_a_real_changelog(replayed):
    """A running count per event type arrives as +I, then -U/+U pairs; the table ends at the counts
    of the file (computed here with csv), and no row is left over from a retraction."""
    _, overrides, sample = replayed
    result = run_cli(
        "explore",
        "-e",
        "SELECT event_type, COUNT(*) AS n FROM clicks GROUP BY event_type",
        "--bounded",
        "--format",
        "json",
        overrides=overrides,
        timeout=300,
    )
    rows = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    with sample.open(newline="") as handle:
        counts = Counter(row["event_type"] for row in csv.DictReader(handle))
    assert {r["event_type"]: r["n"] for r in rows} == dict(counts)
    assert len(rows) == len(counts)
    appended = run_cli(
        "explore",
        "-e",
        "SELECT event_type, COUNT(*) AS n FROM clicks GROUP BY event_type",
        "--mode",
        "append",
        "--bounded",
        overrides=overrides,
        timeout=300,
        check=False,
    )
    assert appended.returncode == 1 and "use --mode update" in appended.stderr
