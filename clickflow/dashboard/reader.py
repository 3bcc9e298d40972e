"""Following the job's output streams for the dashboard: one thread per stream, every shard read
with GetRecords, rows decoded and folded into the ``DashboardState``.

A follower survives what a live stream does: a stream that does not exist yet (or was deleted) is
shown as missing and looked for again; one that is made anew (its creation time changed) is read
from its start and its panel starts over; an unreachable endpoint is shown and retried; expired
iterators are renewed after the last record read; shards that appear are picked up.

With a consumer name (``dashboard.reader: efo``) the shards are read by enhanced fan-out instead
(``connectors.fan_out``): the consumer is registered on the stream when the follower starts (again if the
stream is made anew) and deregistered when it stops.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from clickflow.dashboard.state import DashboardState
from connectors.fan_out import FanOutError, Subscriptions, deregister, register, starting_position


@dataclass
class _Shard:
    iterator: str | None
    last_sequence: str | None = None
    finished: bool = False
    start: str = "TRIM_HORIZON"  # where it was first read from (a subscription opened again: till a record came)


class StreamFollower(threading.Thread):
    """Reads one stream into the state until ``stop`` is set."""

    def __init__(
        self,
        role: str,
        stream: str,
        state: DashboardState,
        make_client: Callable[[], Any],
        start: str,
        stop: threading.Event,
        poll_interval: float = 0.25,
        rediscover_every: float = 2.0,
        consumer: str | None = None,
    ):
        super().__init__(name=f"follow-{role}", daemon=True)
        self.role, self.stream, self.state = role, stream, state
        self._make_client = make_client
        # not _start/_stop: Thread has its own (a join called the Event as Thread._stop)
        self._from = start  # "trim_horizon" or "latest", for the shards there when the dashboard starts
        self._stopped = stop
        self._poll = poll_interval
        self._rediscover = rediscover_every
        self._consumer = consumer  # enhanced fan-out through this consumer; None: polling
        self._subscriptions: Subscriptions | None = None

    def run(self) -> None:
        """Follow the stream until stopped (then a consumer of its own is deregistered)."""
        kinesis = self._make_client()
        try:
            self._follow(kinesis)
        finally:
            self._unsubscribe()
            if self._consumer:
                try:
                    deregister(kinesis, self.stream, self._consumer)
                except (ClientError, BotoCoreError):
                    pass  # the stream is gone, or Kinesis cannot be reached: nothing more to do here

    def _unsubscribe(self) -> None:
        if self._subscriptions is not None:
            self._subscriptions.close()
            self._subscriptions = None

    def _follow(self, kinesis) -> None:
        """List shards, read each, and report the stream's status (missing, empty, live, unreachable) and lag;
        a stream made anew is read from its start."""
        shards: dict[str, _Shard] = {}
        created = None
        first_listing = True
        while not self._stopped.is_set():
            try:
                summary = kinesis.describe_stream_summary(StreamName=self.stream)["StreamDescriptionSummary"]
                if created is not None and summary["StreamCreationTimestamp"] != created:
                    self.state.stream_recreated(self.role)  # a new stream of the same name: from its start
                    shards.clear()
                    self._unsubscribe()
                    first_listing = False
                created = summary["StreamCreationTimestamp"]
                if self._consumer and self._subscriptions is None:
                    arn = register(kinesis, self.stream, self._consumer)
                    self._subscriptions = Subscriptions(kinesis, arn)
                self._discover(
                    kinesis, shards, "LATEST" if first_listing and self._from == "latest" else "TRIM_HORIZON"
                )
                first_listing = False
                self._read_for(kinesis, shards, self._rediscover)
            except ClientError as exc:
                code = exc.response["Error"]["Code"]
                if code == "ResourceNotFoundException":
                    self.state.set_status(self.role, "missing", f"stream {self.stream} does not exist")
                    shards.clear()
                    self._unsubscribe()
                    first_listing = False  # when it comes, everything in it is new
                else:
                    self.state.set_status(
                        self.role, "unreachable", f"{code}: {exc.response['Error'].get('Message', '')}"
                    )
                self._stopped.wait(1.0)
            except (BotoCoreError, FanOutError) as exc:  # connection refused, timeouts
                self.state.set_status(self.role, "unreachable", str(exc))
                self._stopped.wait(1.0)

    def _discover(self, kinesis, shards: dict[str, _Shard], position: str) -> None:
        listed = kinesis.list_shards(StreamName=self.stream)["Shards"]
        subscriptions = self._subscriptions
        for shard in listed:
            if subscriptions is not None and shard["SequenceNumberRange"].get("EndingSequenceNumber"):
                subscriptions.closed(shard["ShardId"])
            if shard["ShardId"] in shards:
                continue
            parents = [p for p in (shard.get("ParentShardId"), shard.get("AdjacentParentShardId")) if p]
            if any(p in shards and not shards[p].finished for p in parents):
                continue  # a child after its parents, so a window's rows keep their order
            start = "TRIM_HORIZON" if parents and any(p in shards for p in parents) else position
            if subscriptions is not None:
                subscriptions.open(shard["ShardId"], starting_position(start))
                shards[shard["ShardId"]] = _Shard("subscribed", start=start)
                continue
            iterator = kinesis.get_shard_iterator(
                StreamName=self.stream, ShardId=shard["ShardId"], ShardIteratorType=start
            )["ShardIterator"]
            shards[shard["ShardId"]] = _Shard(iterator)
        self.state.note_read(self.role)

    def _read_for(self, kinesis, shards: dict[str, _Shard], seconds: float) -> None:
        """Poll every open shard for ``seconds`` (then the caller looks for new shards)."""
        import time

        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and not self._stopped.is_set():
            got = False
            for shard_id, shard in shards.items():
                if shard.finished or shard.iterator is None:
                    continue
                try:
                    if self._subscriptions is not None:
                        try:
                            page = self._subscriptions.page(shard_id)
                        except ClientError:  # one no retry fixes: said, and subscribed again after the last read
                            self._subscriptions.open(
                                shard_id,
                                starting_position("AFTER_SEQUENCE_NUMBER", shard.last_sequence)
                                if shard.last_sequence
                                else starting_position(shard.start),
                            )
                            raise
                        if page is None:
                            continue  # nothing pushed since
                    else:
                        page = kinesis.get_records(ShardIterator=shard.iterator, Limit=1000)
                except ClientError as exc:
                    if exc.response["Error"]["Code"] == "ExpiredIteratorException" and shard.last_sequence:
                        shard.iterator = kinesis.get_shard_iterator(
                            StreamName=self.stream,
                            ShardId=shard_id,
                            ShardIteratorType="AFTER_SEQUENCE_NUMBER",
                            StartingSequenceNumber=shard.last_sequence,
                        )["ShardIterator"]
                        continue
                    raise
                records = page["Records"]
                if records:
                    got = True
                    rows = []
                    for record in records:
                        try:
                            row = json.loads(record["Data"])
                        except ValueError:
                            continue
                        if isinstance(row, dict):
                            rows.append(row)
                    shard.last_sequence = records[-1]["SequenceNumber"]
                    self.state.add(self.role, rows, records[-1]["ApproximateArrivalTimestamp"])
                self.state.note_read(self.role, page.get("MillisBehindLatest"))
                shard.iterator = page.get("NextShardIterator")
                if shard.iterator is None:
                    shard.finished = True
            if not got:
                self._stopped.wait(self._poll)
