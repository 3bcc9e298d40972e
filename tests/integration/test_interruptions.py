"""Every stop of a real `clickflow replay` is resumable: Ctrl-C once or twice, SIGTERM, SIGKILL (then
`--resume` from the progress file), the stream going away. The stream's records are counted against
the file as a multiset after the printed continuation command — pasted as printed — has run."""

from __future__ import annotations

import json
import re
import shlex
import signal
import subprocess
import sys
import time
from collections import Counter

import pytest

from connectors import aws
from connectors.local_stack import stack
from producer.generate import GenerateOptions, write_generated
from tests.conftest import PROJECT_ROOT, finish, run_cli
from tests.integration.test_producer import expected_records, new_stream, read_all

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    path = tmp_path_factory.mktemp("interrupt") / "events.csv"
    write_generated(GenerateOptions(events=6_000, rate=30.0, seed=9, bots=1), path)
    return path


def start_replay(overrides: list[str], *args: str) -> subprocess.Popen:
    sets = [item for o in overrides for item in ("--set", o)]
    return subprocess.Popen(
        [sys.executable, "-m", "clickflow", "replay", *args, *sets],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=PROJECT_ROOT,
    )


def run_printed(out: str) -> subprocess.CompletedProcess:
    """Run the continuation command exactly as the replay printed it."""
    command = next(line.strip() for line in out.splitlines() if line.strip().startswith("clickflow replay "))
    return run_cli(*shlex.split(command)[1:], "--quiet")  # fails with its output unless it exits 0


def stream_against_file(config, stream: str, path) -> tuple[int, int]:
    """(rows of the file missing from the stream, records in the stream more than once)."""
    got = Counter(json.dumps(json.loads(r.data), sort_keys=True) for r in read_all(config, stream, 0))
    want = Counter(json.dumps(d, sort_keys=True) for d in expected_records(path))
    missing = sum((want - got).values())
    extra = sum((got - want).values())
    return missing, extra


def wait_for_records(config, stream: str, at_least: int, timeout: float = 30) -> None:
    kinesis = aws.client(config, "kinesis")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        shards = kinesis.list_shards(StreamName=stream)["Shards"]
        count = 0
        for shard in shards:
            it = kinesis.get_shard_iterator(
                StreamName=stream, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
            )
            count += len(kinesis.get_records(ShardIterator=it["ShardIterator"], Limit=10000)["Records"])
        if count >= at_least:
            return
        time.sleep(0.2)
    raise AssertionError(f"fewer than {at_least} records reached {stream} in {timeout}s")


@pytest.mark.parametrize(
    "signals",
    [(signal.SIGINT,), (signal.SIGINT, signal.SIGINT), (signal.SIGTERM,)],
    ids=["ctrl-c", "ctrl-c-twice", "sigterm"],
)
def test_a_signalled_replay_prints_a_command_that_continues_it_exactly(local_stack, sample, signals):
    config, overrides = local_stack
    stream = new_stream(config)
    process = start_replay(
        overrides, str(sample), "--stream", stream, "--rate", "1500", "--set", "producer.in_flight=2"
    )
    wait_for_records(config, stream, 500)
    for sig in signals:
        process.send_signal(sig)
        time.sleep(0.01)
    out, err = finish(process)
    # 130; or, when the second Ctrl-C lands after the replay has finished and printed everything,
    # killed by it on the way out (-2 here; a shell shows 130 all the same)
    assert process.returncode in (130, -signal.SIGINT), out + err
    assert "to continue with no gap" in out and "Traceback" not in err
    assert "--set producer.in_flight=2" in out and f"--stream {stream}" in out  # every option kept
    found = re.search(r"([\d,]+) records were in calls still in flight", out)
    unknown = int(found.group(1).replace(",", "")) if found else 0
    run_printed(out)
    missing, extra = stream_against_file(config, stream, sample)
    assert missing == 0  # no gap
    assert extra <= unknown  # duplicates only where the outcome was unknown, and said so


def test_a_killed_replay_continues_from_its_progress_file(local_stack, sample):
    config, overrides = local_stack
    stream = new_stream(config)
    process = start_replay(overrides, str(sample), "--stream", stream, "--rate", "1500")
    wait_for_records(config, stream, 1500)
    process.kill()  # SIGKILL: no summary, no chance to say anything
    finish(process)
    sets = [item for o in overrides for item in ("--set", o)]
    resumed = subprocess.run(
        [sys.executable, "-m", "clickflow", "replay", str(sample), "--stream", stream, "--resume", "--quiet", *sets],
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
        timeout=120,
    )
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "done before" in resumed.stdout  # it skipped what the killed run had delivered
    missing, extra = stream_against_file(config, stream, sample)
    assert missing == 0
    # Only records acknowledged in the instant between Kinesis's answer and the progress file's
    # write can come twice: at most the batches in flight (2 lanes at this rate: one part batch each).
    assert extra <= 2 * 500


def test_a_torn_gzip_replay_sends_what_it_read_and_says_where_to_go_on(local_stack, sample, tmp_path):
    import gzip

    config, overrides = local_stack
    stream = new_stream(config)
    packed = gzip.compress(sample.read_bytes())
    torn = tmp_path / "torn.csv.gz"
    torn.write_bytes(packed[: len(packed) // 2])
    process = start_replay(overrides, str(torn), "--stream", stream, "--quiet")
    out, err = finish(process)
    assert process.returncode == 1
    assert "the compressed data ends early (a truncated .gz file), after line" in err
    assert "once the file is mended" in out and "--resume-from" in out
    resume_line = int(out.split("--resume-from ")[1].split()[0])
    assert len(read_all(config, stream, resume_line - 1)) == resume_line - 1  # every row read was sent


def test_a_replay_whose_stream_goes_away_stops_with_a_continuation(local_stack, sample):
    config, overrides = local_stack
    stream = new_stream(config)
    process = start_replay(overrides, str(sample), "--stream", stream, "--rate", "1500")
    wait_for_records(config, stream, 300)
    aws.client(config, "kinesis").delete_stream(StreamName=stream)
    out, err = finish(process)
    assert process.returncode == 1, out + err
    assert "Traceback" not in err and "to continue with no gap" in out


def test_a_failed_stack_up_leaves_nothing_of_its_own_running(tmp_path):
    import socket

    from connectors.config import load_config

    squatter = socket.socket()
    squatter.bind(("127.0.0.1", 0))
    squatter.listen()
    try:
        taken = squatter.getsockname()[1]
        overrides = stack.private_overrides(tmp_path / "state", aws_port=taken)
        config = load_config("local", overrides=overrides)
        said = []
        with pytest.raises(stack.StackError, match=f"port {taken} on 127.0.0.1 is already in use"):
            stack.up(config, said.append)
        assert any(line.startswith("stopped Kinesis (kinesalite) again") for line in said), said
        assert not any(state.running for state in stack.status(config))
    finally:
        squatter.close()
