"""Single records in, every record out: ``put`` one JSON object, ``tail`` a whole stream.

``iter_stream`` reads every shard of a stream, including the children that a reshard creates: a
child shard is read only once its parents are read to their end, so records with one partition
key come out in the order they went in.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime

from botocore.exceptions import ClientError

from connectors.config import OptionError
from producer.batching import MAX_PARTITION_KEY_CHARS


@dataclass(frozen=True)
class StreamRecord:
    """One record read from a stream, with where it was and when it arrived."""

    shard_id: str
    sequence_number: str
    partition_key: str
    arrival: datetime
    data: bytes

    def payload(self):
        """The record's data as JSON, or as text when it is not JSON."""
        try:
            return json.loads(self.data)
        except ValueError:
            return self.data.decode("utf-8", "replace")


def put_record(client, stream: str, document: dict, partition_key: str | None = None) -> dict:
    """Put one JSON object; the key defaults to its ``category_id``. Returns ShardId and SequenceNumber."""
    key = partition_key if partition_key is not None else document.get("category_id")
    if key is None or str(key) == "":
        raise OptionError("no partition key: give --partition-key, or a JSON object with a category_id")
    key = str(key)
    if len(key) > MAX_PARTITION_KEY_CHARS:
        raise OptionError(f"the partition key is longer than {MAX_PARTITION_KEY_CHARS} characters")
    try:
        data = json.dumps(document, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()
    except ValueError:
        raise OptionError("the record holds NaN or Infinity, which JSON does not allow (write null)") from None
    response = client.put_record(StreamName=stream, Data=data, PartitionKey=key)
    return {"ShardId": response["ShardId"], "SequenceNumber": response["SequenceNumber"], "PartitionKey": key}


def list_shards(client, stream: str) -> list[dict]:
    """Every shard of ``stream`` (closed ones too), following ListShards' pages."""
    shards, token = [], None
    while True:
        response = client.list_shards(NextToken=token) if token else client.list_shards(StreamName=stream)
        shards.extend(response["Shards"])
        token = response.get("NextToken")
        if not token:
            return shards


def _iterator(client, stream: str, shard: dict, start) -> str:
    args = {"StreamName": stream, "ShardId": shard["ShardId"]}
    if start == "latest":
        args["ShardIteratorType"] = "LATEST"
    elif start == "trim_horizon":
        args["ShardIteratorType"] = "TRIM_HORIZON"
    elif isinstance(start, datetime):
        args.update(ShardIteratorType="AT_TIMESTAMP", Timestamp=start)
    elif isinstance(start, tuple) and start[0] == "after":
        args.update(ShardIteratorType="AFTER_SEQUENCE_NUMBER", StartingSequenceNumber=start[1])
    else:
        raise ValueError(f"bad start position {start!r}")
    return client.get_shard_iterator(**args)["ShardIterator"]


def read_finished(client, stream: str, start: str | datetime = "trim_horizon") -> list[StreamRecord]:
    """Every record of a stream whose writers have finished, from ``start`` to each shard's tip."""
    finished = threading.Event()
    finished.set()
    return list(iter_stream(client, stream, start, drain=finished))


def iter_stream(
    client,
    stream: str,
    start: str | datetime = "trim_horizon",
    limit: int | None = None,
    idle_timeout: float | None = None,
    poll_interval: float = 0.2,
    rediscover_every: float = 2.0,
    stop: threading.Event | None = None,
    drain: threading.Event | None = None,
    after: Mapping[str, str] | None = None,
) -> Iterator[StreamRecord]:
    """Yield records from every shard until ``limit`` records, ``idle_timeout`` seconds without any,
    or ``stop`` is set. ``start`` is "trim_horizon", "latest", or a datetime (AT_TIMESTAMP); a shard
    in ``after`` (shard id -> sequence number, e.g. saved by an earlier reader) is read from just after it.

    ``drain`` is for a stream whose writers have finished: once it is set, the reader rediscovers the
    shards and ends after one pass in which every shard answered with no records and nothing behind
    the tip, so it has read everything written before it was set (no time-out decides that)."""
    stop = stop or threading.Event()
    drain = drain or threading.Event()
    saved = dict(after or {})
    draining = False
    known: dict[str, dict] = {}
    finished: set[str] = set()
    iterators: dict[str, str] = {}
    last_seq: dict[str, str] = {}
    started: set[str] = set()
    yielded = 0
    last_record = time.monotonic()
    last_discovery = 0.0

    def discover() -> None:
        first_time = not known
        for shard in list_shards(client, stream):
            known.setdefault(shard["ShardId"], shard)
        for shard_id, shard in known.items():
            if shard_id in started or shard_id in finished:
                continue
            if shard_id in saved:
                parents = [p for p in (shard.get("ParentShardId"), shard.get("AdjacentParentShardId")) if p]
                if all(p in finished or p not in known for p in parents):
                    iterators[shard_id] = _iterator(client, stream, shard, ("after", saved[shard_id]))
                    started.add(shard_id)
                continue
            if first_time and start == "latest":
                # LATEST reads what arrives from now on: open shards only; closed ones hold the past.
                if "EndingSequenceNumber" in shard.get("SequenceNumberRange", {}):
                    finished.add(shard_id)
                else:
                    iterators[shard_id] = _iterator(client, stream, shard, "latest")
                    started.add(shard_id)
                continue
            parents = [p for p in (shard.get("ParentShardId"), shard.get("AdjacentParentShardId")) if p]
            if all(p in finished or p not in known for p in parents):
                # A shard born after we began is read from its start, so nothing is missed.
                position = "trim_horizon" if start == "latest" else start
                iterators[shard_id] = _iterator(client, stream, shard, position)
                started.add(shard_id)

    while not stop.is_set():
        now = time.monotonic()
        if not draining and drain.is_set():
            draining, last_discovery = True, 0.0  # shards split before the writers ended count too
        if now - last_discovery >= rediscover_every or not iterators:
            discover()
            last_discovery = now
        got_any = False
        behind = False
        for shard_id in list(iterators):
            try:
                response = client.get_records(ShardIterator=iterators[shard_id], Limit=1000)
            except ClientError as exc:
                code = exc.response["Error"]["Code"]
                if code == "ExpiredIteratorException" and shard_id in last_seq:
                    iterators[shard_id] = _iterator(client, stream, known[shard_id], ("after", last_seq[shard_id]))
                    continue
                if code in ("ProvisionedThroughputExceededException", "LimitExceededException"):
                    stop.wait(poll_interval)  # like the idle wait: Ctrl-C ends it
                    continue
                raise
            behind = behind or response.get("MillisBehindLatest", 0) > 0
            for record in response["Records"]:
                got_any = True
                last_seq[shard_id] = record["SequenceNumber"]
                yield StreamRecord(
                    shard_id,
                    record["SequenceNumber"],
                    record["PartitionKey"],
                    record["ApproximateArrivalTimestamp"],
                    record["Data"],
                )
                yielded += 1
                if limit is not None and yielded >= limit:
                    return
            next_iterator = response.get("NextShardIterator")
            if next_iterator:
                iterators[shard_id] = next_iterator
            else:  # the shard is closed and read to its end: its children may start now
                del iterators[shard_id]
                finished.add(shard_id)
                last_discovery = 0.0
        if got_any:
            last_record = time.monotonic()
        elif draining and not behind and last_discovery != 0.0 and set(known) <= started | finished:
            return  # the writers had finished, and every shard is read to its tip
        else:
            if idle_timeout is not None and time.monotonic() - last_record >= idle_timeout:
                return
            stop.wait(poll_interval)


def check_stream(config, stream: str) -> None:
    """Fail before reading or writing anything when the stream is not there (a clear error naming
    the stream and the endpoint, with a hint for the local stack)."""
    from connectors import aws
    from producer.delivery import FatalKinesisError

    try:
        aws.client(config, "kinesis").describe_stream_summary(StreamName=stream)
    except ClientError as exc:
        code = exc.response["Error"]["Code"]
        endpoint = aws.endpoint_for(config, "kinesis") or f"AWS {config.aws.region}"
        hint = f" (create it: aws kinesis create-stream --stream-name {stream} --shard-count 1)"
        if config.aws.credentials == "local":
            from jobs.etl import files_naming

            named_by = files_naming(stream)
            hint = (
                f" ({named_by[0]} names it: create its streams with `clickflow stack up --config {named_by[0]}`)"
                if named_by
                else " (run `clickflow stack up`, or create it)"
            )
        if code == "ResourceNotFoundException":
            raise FatalKinesisError(f"stream {stream!r} does not exist at {endpoint}{hint}") from None
        raise FatalKinesisError(f"cannot reach stream {stream!r} at {endpoint}: {code}") from None
