"""Enhanced fan-out for clickflow's Python readers (the dashboard, ``alerts run``): a stream consumer of
their own, so on AWS they never take the 5 GetRecords calls a second per shard that polling readers share.

``register`` finds or registers the consumer and waits until it is ACTIVE. ``Subscriptions`` keeps one
SubscribeToShard subscription per shard, each on a thread of its own, and hands out what they push as
pages shaped like GetRecords answers (``Records``, ``MillisBehindLatest``, ``NextShardIterator`` — None
once the shard was read to its end), so a reader written for polling reads them as they come.

A subscription ends after 5 minutes (Kinesis's rule) and is renewed after the last record handed over;
one that fails (a cut connection, throttling, ResourceInUseException) is renewed the same way after a
backoff, and ``on_retry`` is told why. An error no retry fixes (access denied, a missing consumer) is
raised to the reader at its next ``page``. A shard that ListShards says is closed (``closed``) ends
once its subscription has twice been at the tip since: kinesis-mock never ends such a subscription itself.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

RETRIED = {
    "ResourceInUseException",
    "LimitExceededException",
    "ProvisionedThroughputExceededException",
    "InternalFailure",
    "InternalFailureException",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "KMSThrottlingException",
}


class FanOutError(RuntimeError):
    """A consumer could not be registered or read; the message says which and why."""


def stream_arn(kinesis, stream: str) -> str:
    """The stream's ARN (consumers are registered on it)."""
    return kinesis.describe_stream_summary(StreamName=stream)["StreamDescriptionSummary"]["StreamARN"]


def register(kinesis, stream: str, name: str, timeout: float = 60.0) -> str:
    """The ARN of consumer ``name`` of ``stream`` — registered now unless it is already — once ACTIVE."""
    arn = stream_arn(kinesis, stream)
    try:
        kinesis.register_stream_consumer(StreamARN=arn, ConsumerName=name)
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ResourceInUseException":  # registered already
            raise FanOutError(f"registering stream consumer {name} on {stream}: {exc}") from None
    deadline = time.monotonic() + timeout
    delay = 0.1
    while True:
        described = kinesis.describe_stream_consumer(StreamARN=arn, ConsumerName=name)["ConsumerDescription"]
        if described["ConsumerStatus"] == "ACTIVE":
            return described["ConsumerARN"]
        if time.monotonic() >= deadline:
            raise FanOutError(
                f"stream consumer {name} on {stream} is {described['ConsumerStatus']} after {timeout:g}s, not ACTIVE"
            )
        time.sleep(delay)
        delay = min(delay * 2, 2.0)


def deregister(kinesis, stream: str, name: str) -> None:
    """Deregister consumer ``name`` of ``stream``; one already gone is fine."""
    try:
        kinesis.deregister_stream_consumer(StreamARN=stream_arn(kinesis, stream), ConsumerName=name)
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ResourceNotFoundException":
            raise


def starting_position(iterator_type: str, sequence: str | None = None) -> dict[str, str]:
    """SubscribeToShard's StartingPosition for a GetShardIterator type (TRIM_HORIZON, LATEST, AFTER_SEQUENCE_NUMBER)."""
    position = {"Type": iterator_type}
    if sequence is not None:
        position["SequenceNumber"] = sequence
    return position


class _Shard:
    def __init__(self, shard_id: str, position: dict[str, str]):
        self.shard_id = shard_id
        self.position = position
        self.pages: queue.Queue = queue.Queue(maxsize=4)  # a reader that falls behind holds its subscription up
        self.closed = threading.Event()  # ListShards says so
        self.stream: Any = None  # the open subscription's event stream, closed to stop it
        self.thread: threading.Thread | None = None


class Subscriptions:
    """Subscriptions to the shards of one stream through one consumer, read as GetRecords-shaped pages."""

    def __init__(
        self,
        kinesis,
        consumer_arn: str,
        on_retry: Callable[[str, str], None] = lambda shard, why: None,
        max_backoff: float = 10.0,
    ):
        self._kinesis = kinesis
        self._consumer = consumer_arn
        self._on_retry = on_retry
        self._max_backoff = max_backoff
        self._shards: dict[str, _Shard] = {}
        self._stop = threading.Event()

    def open(self, shard_id: str, position: dict[str, str]) -> None:
        """Subscribe to ``shard_id`` from ``position`` (see ``starting_position``)."""
        shard = _Shard(shard_id, position)
        shard.thread = threading.Thread(target=self._follow, args=(shard,), name=f"efo-{shard_id}", daemon=True)
        self._shards[shard_id] = shard
        shard.thread.start()

    def closed(self, shard_id: str) -> None:
        """ListShards lists ``shard_id`` as closed."""
        if shard_id in self._shards:
            self._shards[shard_id].closed.set()

    def page(self, shard_id: str) -> dict | None:
        """The shard's next page, or None when nothing came since the last; raises what no retry fixes."""
        try:
            item = self._shards[shard_id].pages.get_nowait()
        except queue.Empty:
            return None
        if isinstance(item, BaseException):
            raise item
        return item

    def close(self) -> None:
        """End every subscription and wait for their threads."""
        self._stop.set()
        for shard in self._shards.values():
            if shard.stream is not None:
                try:
                    shard.stream.close()
                except Exception:  # noqa: BLE001 (closing a stream that broke already)
                    pass
        for shard in self._shards.values():
            if shard.thread is not None:
                shard.thread.join(timeout=5)

    def _hand(self, shard: _Shard, item) -> bool:
        """Put ``item`` on the shard's queue, waiting while the reader is behind; False when stopped."""
        while not self._stop.is_set():
            try:
                shard.pages.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def _follow(self, shard: _Shard) -> None:
        failures = 0
        at_tip_since_closed = 0
        while not self._stop.is_set():
            try:
                answer = self._kinesis.subscribe_to_shard(
                    ConsumerARN=self._consumer, ShardId=shard.shard_id, StartingPosition=shard.position
                )
                shard.stream = answer["EventStream"]
                for event in shard.stream:
                    if self._stop.is_set():
                        return
                    data = event.get("SubscribeToShardEvent")
                    if data is None:
                        continue
                    failures = 0
                    records = data.get("Records", [])
                    if records:
                        shard.position = starting_position("AFTER_SEQUENCE_NUMBER", records[-1]["SequenceNumber"])
                    ended = data.get("ContinuationSequenceNumber") is None
                    at_tip = not records and data.get("MillisBehindLatest", 0) == 0
                    if shard.closed.is_set() and at_tip:
                        at_tip_since_closed += 1
                    ended = ended or at_tip_since_closed >= 2
                    page = {
                        "Records": records,
                        "MillisBehindLatest": data.get("MillisBehindLatest", 0),
                        "NextShardIterator": None if ended else "subscribed",
                    }
                    if not self._hand(shard, page) or ended:
                        return
                failures = 0  # ended after its 5 minutes: renewed at once
            except ClientError as exc:
                code = exc.response["Error"]["Code"]
                if code not in RETRIED:
                    self._hand(shard, exc)
                    return
                failures += 1
                self._retry_later(shard, f"{code}: {exc.response['Error'].get('Message', '')}", failures)
            except Exception as exc:  # noqa: BLE001 - cut, refused, an unreadable event: renewed, never a silent stop
                if self._stop.is_set():
                    return  # closed under it by ``close``
                failures += 1
                self._retry_later(shard, f"{type(exc).__name__}: {exc}", failures)
            finally:
                stream, shard.stream = shard.stream, None
                if stream is not None:
                    try:
                        stream.close()  # its connection too: a subscription ended is closed here
                    except Exception:  # noqa: BLE001 (closed already, or broken)
                        pass

    def _retry_later(self, shard: _Shard, why: str, failures: int) -> None:
        delay = min(self._max_backoff, 0.25 * 2 ** min(failures, 10))
        self._on_retry(shard.shard_id, f"{why}; subscribing again in {delay:.1f}s")
        self._stop.wait(delay)
