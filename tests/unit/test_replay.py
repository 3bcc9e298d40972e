"""The replay's own logic (lanes, rejects, limit, interrupt and resume) against an in-memory Kinesis."""

import json
import threading

import pytest

from connectors.config import load_config
from producer.replay import ReplayOptions, replay
from tests.fixtures import row, write_csv


class MemoryKinesis:
    """Accepts every record, in call order; fails the first attempt of chosen lines once."""

    def __init__(self, fail_once=(), on_call=None):
        self.lock = threading.Lock()
        self.stored: list[tuple[str, dict, int]] = []
        self.fail_once = set(fail_once)
        self.on_call = on_call

    def put_records(self, stream, entries):
        results = []
        with self.lock:
            for entry in entries:
                if entry.line in self.fail_once:
                    self.fail_once.discard(entry.line)
                    results.append({"ErrorCode": "ProvisionedThroughputExceededException", "ErrorMessage": "x"})
                else:
                    self.stored.append((entry.partition_key, json.loads(entry.data), entry.line))
                    results.append({"SequenceNumber": str(len(self.stored)), "ShardId": "shardId-0"})
        if self.on_call:
            self.on_call(len(self.stored))
        return {"FailedRecordCount": sum("ErrorCode" in r for r in results), "Records": results}

    def close(self):
        pass


CONFIG = load_config(
    "local",
    overrides=[
        "producer.batch_records=7",
        "producer.in_flight=3",
        "producer.backoff_base=1ms",
        "producer.backoff_max=2ms",
    ],
)


def sample(tmp_path, n=200):
    rows = [row(second=i % 60, minute=i // 60, category=1000 + i % 5, user=1 + i, product=i) for i in range(n)]
    return write_csv(tmp_path / "s.csv", rows)


def run(tmp_path, path, memory, interrupt=None, **options):
    options.setdefault("progress_path", tmp_path / "progress.json")
    opts = ReplayOptions(str(path), "s", progress=False, rejects_path=tmp_path / "rejects.jsonl", **options)
    return replay(CONFIG, opts, make_client=lambda: memory, interrupt=interrupt)


def test_everything_arrives_once_and_per_key_order_holds(tmp_path):
    memory = MemoryKinesis(fail_once={5, 17, 100})
    summary = run(tmp_path, sample(tmp_path), memory)
    assert (summary.rows_read, summary.records_sent, summary.rows_rejected) == (200, 200, 0)
    assert summary.records_retried == 3
    assert sorted(line for _, _, line in memory.stored) == list(range(2, 202))
    for key in {k for k, _, _ in memory.stored}:
        lines = [line for k, _, line in memory.stored if k == key]
        # a retried record may land after later records of its key; the others keep file order
        if key not in {str(1000 + (retried - 2) % 5) for retried in (5, 17, 100)}:
            assert lines == sorted(lines), f"key {key} out of order"
    assert all(record["category_id"] == int(key) for key, record, _ in memory.stored)


def test_bad_rows_are_counted_and_kept(tmp_path):
    rows = [row(1), row(2, price="abc"), row(3), ",".join(row(4).split(",")[:8])]
    path = write_csv(tmp_path / "bad.csv", rows, newline="\r\n", final_newline=False)
    memory = MemoryKinesis()
    summary = run(tmp_path, path, memory)
    assert (summary.rows_read, summary.records_sent, summary.rows_rejected) == (4, 2, 2)
    rejects = [json.loads(line) for line in (tmp_path / "rejects.jsonl").read_text().splitlines()]
    assert [(r["line"], r["field"], r["kind"]) for r in rejects] == [(3, "price", "rejected"), (5, None, "rejected")]
    assert rejects[0]["row"] == row(2, price="abc")
    assert "got 8" in rejects[1]["reason"]


def test_partition_key_column_and_empty_key(tmp_path):
    path = write_csv(tmp_path / "k.csv", [row(1, session="s-1"), row(2, session="")])
    memory = MemoryKinesis()
    summary = run(tmp_path, path, memory, partition_key="user_session")
    assert [k for k, _, _ in memory.stored] == ["s-1"]
    assert summary.rows_rejected == 1
    with pytest.raises(ValueError, match="not a column"):
        run(tmp_path, path, memory, partition_key="colour")


def test_limit(tmp_path):
    memory = MemoryKinesis()
    summary = run(tmp_path, sample(tmp_path), memory, limit=25)
    assert summary.records_sent == 25 and summary.last_line == 26


def test_interrupt_then_resume_without_duplicates_or_gaps(tmp_path):
    path = sample(tmp_path, 300)
    stop = threading.Event()
    first = MemoryKinesis(on_call=lambda stored: stored >= 40 and stop.set())
    summary = run(tmp_path, path, first, interrupt=stop, rate=2000.0)
    assert summary.interrupted and 40 <= summary.records_sent < 300
    assert sorted(line for _, _, line in first.stored) == list(range(2, summary.last_line + 1))
    second = MemoryKinesis()
    resumed = run(tmp_path, path, second, resume_from=summary.last_line)
    assert resumed.rows_skipped == summary.last_line - 1
    lines = sorted(line for _, _, line in first.stored + second.stored)
    assert lines == list(range(2, 302))


def test_retime_shifts_all_times_equally(tmp_path):
    path = write_csv(tmp_path / "t.csv", [row(0), row(30), row(45, minute=1)])
    memory = MemoryKinesis()
    run(tmp_path, path, memory, retime=True)
    from producer.rows import parse_event_time

    times = sorted(parse_event_time(r["event_time"]) for _, r, _ in memory.stored)
    assert [(t - times[0]).total_seconds() for t in times] == [0, 30, 105]
    assert times[0].year >= 2026


def test_records_that_never_get_through_are_written_off_not_lost(tmp_path):
    class AlwaysThrottled(MemoryKinesis):
        def put_records(self, stream, entries):
            return {
                "FailedRecordCount": len(entries),
                "Records": [{"ErrorCode": "ProvisionedThroughputExceededException", "ErrorMessage": "x"}]
                * len(entries),
            }

    summary = run(tmp_path, write_csv(tmp_path / "a.csv", [row(1), row(2)]), AlwaysThrottled())
    assert summary.records_undelivered == 2 and not summary.complete
    kinds = [json.loads(line)["kind"] for line in (tmp_path / "rejects.jsonl").read_text().splitlines()]
    assert kinds == ["undelivered", "undelivered"]


def test_row_with_bytes_that_are_not_utf8_is_rejected_and_the_rest_sent(tmp_path):
    path = tmp_path / "bytes.csv"
    path.write_bytes(
        b"event_time,event_type,product_id,category_id,category_code,brand,price,user_id,user_session\n"
        + row(1, brand="bad\xffbrand").encode("latin-1")
        + b"\n"
        + row(2).encode()
        + b"\n"
    )
    memory = MemoryKinesis()
    summary = run(tmp_path, path, memory)
    assert (summary.records_sent, summary.rows_rejected) == (1, 1)
    reject = json.loads((tmp_path / "rejects.jsonl").read_text())
    assert (reject["line"], reject["field"], reject["reason"]) == (2, "brand", "not valid UTF-8 text")
