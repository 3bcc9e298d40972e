"""Helpers for tests that run Flink jobs over Kinesis streams on the local stack: streams with unique
names, writing and reading them with plain boto3 (independently of the connector under test),
tables, and waiting on running jobs."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from connectors.config import Config
from connectors.tables import kinesis_options
from jobs.analytics import with_clause


def new_stream(kinesis, prefix: str, shards: int) -> str:
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    kinesis.create_stream(StreamName=name, ShardCount=shards)
    kinesis.get_waiter("stream_exists").wait(StreamName=name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 100})
    return name


def split_first_shard(kinesis, stream: str) -> dict:
    """Split the stream's first shard at the middle of its hash key range and wait until the stream is
    ACTIVE again; returns the shard that was split (now the children's parent)."""
    shard = kinesis.list_shards(StreamName=stream)["Shards"][0]
    low, high = int(shard["HashKeyRange"]["StartingHashKey"]), int(shard["HashKeyRange"]["EndingHashKey"])
    kinesis.split_shard(StreamName=stream, ShardToSplit=shard["ShardId"], NewStartingHashKey=str((low + high) // 2))
    kinesis.get_waiter("stream_exists").wait(StreamName=stream, WaiterConfig={"Delay": 0.2, "MaxAttempts": 100})
    return shard


def assert_per_key_order(records: list[dict]) -> None:
    """``records`` as ``read_stream`` gives them: in sequence order, each key's ``n`` must only grow."""
    by_key: dict[str, list] = {}
    for record in sorted(records, key=lambda r: r["seq"]):
        by_key.setdefault(record["row"]["k"], []).append(record["row"]["n"])
    for key, seen in by_key.items():
        assert seen == sorted(seen), f"{key} out of order"


def put_rows(kinesis, stream: str, rows: Iterable[Mapping], key: str = "k") -> None:
    """PutRecords in batches of 500; each row as JSON, partitioned by its ``key`` field."""
    rows = list(rows)
    for start in range(0, len(rows), 500):
        batch = rows[start : start + 500]
        answer = kinesis.put_records(
            StreamName=stream,
            Records=[{"Data": json.dumps(row).encode(), "PartitionKey": str(row[key])} for row in batch],
        )
        assert answer["FailedRecordCount"] == 0, answer


def read_stream(kinesis, stream: str, decode: bool = True) -> list[dict]:
    """Every record of every shard (closed ones included), in shard order, as
    {"shard", "key", "seq", "arrival", "row"}; ``arrival`` is the arrival time in epoch milliseconds, ``row``
    the decoded JSON payload (the bytes with ``decode=False``)."""
    out = []
    for shard in kinesis.list_shards(StreamName=stream)["Shards"]:
        iterator = kinesis.get_shard_iterator(
            StreamName=stream, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        while iterator:
            page = kinesis.get_records(ShardIterator=iterator, Limit=10000)
            for record in page["Records"]:
                out.append(
                    {
                        "shard": shard["ShardId"],
                        "key": record["PartitionKey"],
                        "seq": int(record["SequenceNumber"]),
                        "arrival": round(record["ApproximateArrivalTimestamp"].timestamp() * 1000),  # epoch ms
                        "row": json.loads(record["Data"]) if decode else record["Data"],
                    }
                )
            if not page["Records"] and page.get("MillisBehindLatest", 0) == 0:
                break
            iterator = page.get("NextShardIterator")
    return out


def table_sql(
    name: str, columns: str, options: Mapping[str, str], partitioned_by: str | None = None, watermark: str = ""
) -> str:
    body = columns + (f",\n    {watermark}" if watermark else "")
    partition = f"\nPARTITIONED BY ({partitioned_by})" if partitioned_by else ""
    return f"CREATE TABLE {name} (\n    {body}\n){partition}\nWITH (\n{with_clause(options)}\n)"


def kinesis_table(
    config: Config, name: str, stream: str, columns: str, extra: Mapping[str, str] | None = None, **kwargs
) -> str:
    return table_sql(name, columns, kinesis_options(config, stream, extra), **kwargs)


def wait_for(condition: Callable[[], object], timeout: float, what: str, interval: float = 0.5):
    """Poll ``condition`` until it returns something truthy; fail naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


def wait_running(job_client, timeout: float = 60) -> None:
    def running():
        status = job_client.get_job_status().result().name
        if status in ("FAILED", "CANCELED", "FINISHED"):
            raise AssertionError(f"job ended early: {status}")
        return status == "RUNNING"

    wait_for(running, timeout, "the job to run", interval=0.2)


def cancel(job_client) -> None:
    try:
        job_client.cancel().result()
    except Exception:  # noqa: BLE001 - already finished or failed: nothing left to stop
        pass


def stop_with_savepoint(job_client, directory) -> str:
    """Stop a job with a savepoint in ``directory``; returns its path. PyFlink's own
    stop_with_savepoint calls a Java signature Flink 2.x removed, so this goes through py4j."""
    from pyflink.java_gateway import get_gateway

    canonical = get_gateway().jvm.org.apache.flink.core.execution.SavepointFormatType.CANONICAL
    return job_client._j_job_client.stopWithSavepoint(False, directory.as_uri(), canonical).get()


def flink_log_lines(*needles: str) -> list[str]:
    """The lines that hold any of ``needles`` in the log of the embedded Flinks started through PyFlink, in the
    directory they log to: ``$FLINK_LOG_DIR`` in a test session (one file every such JVM of the session appends
    to, see ``tests/conftest.py``), else PyFlink's own (the log of the last JVM started, which replaced the one
    before)."""
    import os

    import pyflink

    folder = Path(os.environ.get("FLINK_LOG_DIR") or Path(pyflink.__file__).parent / "log")
    lines = []
    for log in sorted(folder.glob("flink-*-python-*.log")):
        lines += [line for line in log.read_text(errors="replace").splitlines() if any(n in line for n in needles)]
    return lines
