"""Replay, put and tail against the real local stack (kinesalite + moto_server on loopback)."""

import csv
import json
import re
import signal
import subprocess
import sys
import time
from collections import defaultdict

import pytest

from connectors import aws
from producer.generate import GenerateOptions, write_generated
from producer.records import iter_stream, read_finished
from producer.replay import ReplayOptions, replay
from producer.rows import RowParser
from tests import kinesis_helpers
from tests.conftest import PROJECT_ROOT, finish, run_cli

pytestmark = pytest.mark.integration


def new_stream(config, shards=4) -> str:
    return kinesis_helpers.new_stream(aws.client(config, "kinesis"), "test", shards)


def expected_records(path):
    """What the file should become, computed without the producer: csv + json by hand."""
    with open(path, newline="") as handle:
        rows = list(csv.reader(handle))[1:]
    out = []
    for r in rows:
        out.append(
            {
                "event_time": r[0],
                "event_type": r[1],
                "product_id": int(r[2]),
                "category_id": int(r[3]),
                "category_code": r[4] or None,
                "brand": r[5] or None,
                "price": float(r[6]),
                "user_id": int(r[7]),
                "user_session": r[8] or None,
            }
        )
    return out


def read_all(config, stream, expect):
    records = list(iter_stream(aws.client(config, "kinesis"), stream, "trim_horizon", idle_timeout=2.0))
    assert len(records) >= expect, f"read {len(records)} of {expect}"
    return records


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    path = tmp_path_factory.mktemp("gen") / "events.csv"
    write_generated(GenerateOptions(events=6_000, rate=30.0, seed=5, bots=1, abandoned=1), path)
    return path


def test_replay_into_4_shards_and_read_back(local_stack, generated):
    config, _ = local_stack
    stream = new_stream(config)
    summary = replay(config, ReplayOptions(str(generated), stream, progress=False))
    assert (summary.records_sent, summary.rows_rejected, summary.records_undelivered) == (6_000, 0, 0)
    records = read_all(config, stream, 6_000)
    expected = expected_records(generated)
    got = [json.loads(r.data) for r in records]
    assert len(got) == len(expected)
    key = lambda d: json.dumps(d, sort_keys=True)  # noqa: E731
    assert sorted(map(key, got)) == sorted(map(key, expected))  # same payloads, each once
    assert all(r.partition_key == str(json.loads(r.data)["category_id"]) for r in records)
    assert len({r.shard_id for r in records}) == 4
    # per-key order: each category's records come out exactly in file order
    in_file, in_stream = defaultdict(list), defaultdict(list)
    for d in expected:
        in_file[str(d["category_id"])].append(key(d))
    for r in records:
        in_stream[r.partition_key].append(key(json.loads(r.data)))
    assert in_stream == in_file


def test_replay_from_s3_gzip(local_stack, tmp_path):
    config, _ = local_stack
    path = tmp_path / "s3.csv.gz"
    write_generated(GenerateOptions(events=1_500, seed=9), path)
    aws.client(config, "s3").upload_file(str(path), config.bucket, "raw/s3.csv.gz")
    stream = new_stream(config, shards=2)
    summary = replay(config, ReplayOptions(f"s3://{config.bucket}/raw/s3.csv.gz", stream, progress=False))
    assert summary.records_sent == 1_500
    assert len(read_all(config, stream, 1_500)) == 1_500


def test_missing_s3_object_and_stream_are_clear_errors(local_stack):
    config, overrides = local_stack
    result = run_cli("replay", f"s3://{config.bucket}/nope.csv", overrides=overrides, check=False)
    assert result.returncode == 1 and "s3://clickflow-data/nope.csv: cannot read it from S3 (NoSuchKey" in result.stderr
    result = run_cli("replay", str(PROJECT_ROOT / "pyproject.toml"), overrides=overrides, check=False)
    assert result.returncode == 1 and "expected a .csv[.gz] file" in result.stderr


def test_cli_replay_real_defects_and_missing_stream(local_stack, tmp_path):
    config, overrides = local_stack
    lines = [
        "event_time,event_type,product_id,category_id,category_code,brand,price,user_id,user_session",
        "2019-10-01 00:00:00 UTC,view,44600062,2103807459595387724,,shiseido,35.79,541312140,"
        "72d76fde-8bb3-4e00-8c23-a032dfed738c",
        "2019-10-01 00:00:01 UTC,cart,3900821,2053013552326770905,appliances.environment.water_heater,aqua,33.20,"
        "554748717,9333dfbd-b87a-4708-9857-6336556b0fcc",
        "2019-10-01 00:00:02 UTC,view,17200506,2053013559792632471,furniture.living_room.sofa,,543.10,519107250",
    ]
    path = tmp_path / "defects.csv"
    path.write_bytes("\r\n".join(lines).encode())  # CRLF, no final newline, last row cut short
    stream = new_stream(config, shards=1)
    rejects = tmp_path / "rejects.jsonl"
    result = run_cli(
        "replay", str(path), "--stream", stream, "--rejects", str(rejects), "--quiet", overrides=overrides, check=False
    )
    assert result.returncode == 3, result.stderr  # finished, but a row was rejected
    assert re.search(r"records sent\s+2\b", result.stdout) and re.search(r"rows rejected\s+1\b", result.stdout)
    reject = json.loads(rejects.read_text())
    assert reject["line"] == 4 and reject["reason"] == "expected 9 fields, got 8"
    # two keys, two lanes: their order in the shard is not defined (only per-key order is)
    got = {d["category_id"]: d for d in (json.loads(r.data) for r in read_all(config, stream, 2))}
    assert set(got) == {2103807459595387724, 2053013552326770905}
    assert got[2103807459595387724]["category_code"] is None and got[2053013552326770905]["price"] == 33.2
    result = run_cli("replay", str(path), "--stream", "no-such-stream", overrides=overrides, check=False)
    assert result.returncode == 1 and "stream 'no-such-stream' does not exist" in result.stderr


def test_ctrl_c_then_resume_without_duplicates(local_stack, generated):
    config, overrides = local_stack
    stream = new_stream(config)
    sets = [item for o in overrides for item in ("--set", o)]
    command = [sys.executable, "-m", "clickflow", "replay", *sets, str(generated), "--stream", stream, "--rate", "1500"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=PROJECT_ROOT)
    time.sleep(2.0)
    process.send_signal(signal.SIGINT)
    out, err = finish(process)
    assert process.returncode == 130, err
    last_line = int(re.search(r"--resume-from (\d+)", out).group(1))
    assert 2 < last_line < 6_001
    run_cli(
        "replay", str(generated), "--stream", stream, "--resume-from", str(last_line), "--quiet", overrides=overrides
    )
    records = read_all(config, stream, 6_000)
    got = sorted(json.dumps(json.loads(r.data), sort_keys=True) for r in records)
    expected = sorted(json.dumps(d, sort_keys=True) for d in expected_records(generated))
    assert got == expected  # every row once: nothing lost, nothing twice


def test_put_and_tail_cli(local_stack):
    config, overrides = local_stack
    stream = new_stream(config, shards=2)
    run_cli(
        "put",
        "--stream",
        stream,
        "--json",
        '{"event_type": "view", "category_id": 2053013555631882655}',
        overrides=overrides,
    )
    result = run_cli(
        "put", "--stream", stream, "--json", '{"event_type": "cart"}', "--partition-key", "k1", overrides=overrides
    )
    assert json.loads(result.stdout)["PartitionKey"] == "k1"
    bad = run_cli("put", "--stream", stream, "--json", "{nope", overrides=overrides, check=False)
    assert bad.returncode == 1 and "--json is not valid JSON" in bad.stderr
    nokey = run_cli("put", "--stream", stream, "--json", '{"a": 1}', overrides=overrides, check=False)
    assert nokey.returncode == 1 and "no partition key" in nokey.stderr
    result = run_cli(
        "tail", "--stream", stream, "--from", "trim_horizon", "--limit", "2", "--with-meta", overrides=overrides
    )
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert sorted(line["partition_key"] for line in lines) == ["2053013555631882655", "k1"]
    assert {line["data"]["event_type"] for line in lines} == {"view", "cart"}
    latest = run_cli("tail", "--stream", stream, "--from", "latest", "--idle-exit", "1", overrides=overrides)
    assert latest.stdout == ""


def test_tail_follows_children_after_a_reshard(local_stack):
    config, _ = local_stack
    stream = new_stream(config, shards=1)
    client = aws.client(config, "kinesis")
    keys = [f"key-{i}" for i in range(8)]

    def put(start, count):
        for i in range(start, start + count):
            client.put_record(StreamName=stream, Data=json.dumps({"n": i}).encode(), PartitionKey=keys[i % 8])

    put(0, 40)
    shard = client.list_shards(StreamName=stream)["Shards"][0]
    middle = (int(shard["HashKeyRange"]["StartingHashKey"]) + int(shard["HashKeyRange"]["EndingHashKey"])) // 2
    client.split_shard(StreamName=stream, ShardToSplit=shard["ShardId"], NewStartingHashKey=str(middle))
    client.get_waiter("stream_exists").wait(StreamName=stream, WaiterConfig={"Delay": 0.2, "MaxAttempts": 50})
    put(40, 40)
    records = list(iter_stream(client, stream, "trim_horizon", idle_timeout=2.0))
    numbers = [json.loads(r.data)["n"] for r in records]
    assert sorted(numbers) == list(range(80))  # every record once, children included
    assert len({r.shard_id for r in records}) == 3
    for key in keys:
        mine = [json.loads(r.data)["n"] for r in records if r.partition_key == key]
        assert mine == sorted(mine)
    # a finished stream read to its tips, closed parent and children alike: no time-out decides the end
    drained = [json.loads(r.data)["n"] for r in read_finished(client, stream)]
    assert sorted(drained) == list(range(80))


def test_parser_agrees_with_hand_expectation(generated):
    """Guard for the check above: the producer's own parse gives the same objects as expected_records."""
    with open(generated, newline="") as handle:
        rows = list(csv.reader(handle))[1:]
    parser = RowParser()
    assert [parser.parse(i, r).record for i, r in enumerate(rows[:200])] == expected_records(generated)[:200]


def test_replay_keeps_every_shard_in_file_order(local_stack, tmp_path):
    """Not only per key: all keys of a shard go through one lane, so a shard's records are in file
    order (what a streaming job's per-shard watermark needs), with 4 calls in flight."""
    config, overrides = local_stack
    stream = new_stream(config, shards=4)
    sample = tmp_path / "ordered.csv"
    write_generated(GenerateOptions(events=8000, seed=5), sample)
    run_cli("replay", str(sample), "--stream", stream, "--quiet", overrides=[*overrides, "producer.batch_records=100"])
    records = kinesis_helpers.read_stream(aws.client(config, "kinesis"), stream)
    assert len(records) == 8000
    by_shard = defaultdict(list)
    for record in sorted(records, key=lambda r: r["seq"]):
        by_shard[record["shard"]].append(record["row"]["event_time"])
    assert len(by_shard) == 4
    for shard, times in by_shard.items():
        assert times == sorted(times), f"{shard} is not in file order"


def test_a_template_is_sent_through_the_replays_delivery(local_stack, tmp_path):
    config, overrides = local_stack
    stream = new_stream(config, shards=2)
    template = PROJECT_ROOT / "templates" / "film-streaming.json.tpl"
    args = ("generate", "--template", str(template), "--count", "3000", "--stream", stream, "--seed", "5", "--quiet")
    sent = run_cli(*args, "--partition-key", "state", overrides=overrides)
    assert re.search(r"records sent\s+3,000\b", sent.stdout), sent.stdout
    records = read_all(config, stream, 3000)
    assert len(records) == 3000
    for record in records:
        assert record.partition_key == json.loads(record.data)["state"]
    # the same seed renders the same records (but for date.now): a file written with it matches
    run_cli("generate", str(tmp_path / "films.jsonl"), "--template", str(template), "--count", "3000", "--seed", "5")

    def without_clock(text) -> str:
        return json.dumps({k: v for k, v in json.loads(text).items() if k != "timestamp"}, sort_keys=True)

    on_file = sorted(without_clock(line) for line in (tmp_path / "films.jsonl").read_text().splitlines())
    assert sorted(without_clock(r.data) for r in records) == on_file
