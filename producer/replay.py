"""Replay a clickstream file into a Kinesis stream: parse, batch, send with several calls in flight.

Records go out through ``in_flight`` lanes. A partition key always maps to the same lane — all
keys of one shard to one lane (``producer/routing.py``) — and each lane sends its batches one after
another, so each shard receives its records in file order while other lanes' batches are in
flight and the next batch is being encoded. When interrupted (Ctrl-C), the replay stops reading,
sends what it has read, waits for every acknowledgement, and reports the last line sent:
``--resume-from`` that line continues with no duplicates and no gaps.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from botocore.exceptions import ClientError

from connectors import aws
from connectors.config import Config
from producer.batching import BatchBuilder, Entry, entry_problem
from producer.delivery import Delivery, FatalKinesisError, RetryPolicy, deliver
from producer.kinesis_wire import Boto3Kinesis, KinesisHttp
from producer.pacing import Pacer
from producer.progress import Meter, ProgressLine, human_duration
from producer.rejects import RejectsFile
from producer.routing import by_key_hash, shard_router
from producer.rows import COLUMNS, RowError, raw_row, read_rows
from producer.source import open_source


@dataclass(frozen=True)
class ReplayOptions:
    source: str
    stream: str
    partition_key: str = "category_id"
    rate: float | None = None
    speedup: float | None = None
    limit: int | None = None
    resume_from: int = 0  # skip every line up to and including this one
    retime: bool = False
    rejects_path: Path | None = None
    client: str = "http"  # "http" (clickflow's own PutRecords client) or "boto3"
    progress: bool = True


@dataclass
class ReplaySummary:
    source: str
    stream: str
    rows_read: int = 0
    rows_skipped: int = 0
    records_sent: int = 0
    records_retried: int = 0
    records_throttled: int = 0
    rows_rejected: int = 0
    records_undelivered: int = 0
    last_line: int = 0
    interrupted: bool = False
    fatal: str | None = None
    elapsed: float = 0.0
    cpu_seconds: float = 0.0
    rejects_path: Path | None = None

    @property
    def complete(self) -> bool:
        return not self.fatal and not self.records_undelivered

    def report(self) -> list[str]:
        rate = self.records_sent / self.elapsed if self.elapsed else 0.0
        lines = [
            f"rows read         {self.rows_read:>12,}"
            + (f"   (skipped {self.rows_skipped:,} to resume)" if self.rows_skipped else ""),
            f"records sent      {self.records_sent:>12,}   to {self.stream} "
            f"in {self.elapsed:.1f}s ({rate:,.0f} records/s)",
            f"records retried   {self.records_retried:>12,}"
            + (f"   ({self.records_throttled:,} throttled)" if self.records_throttled else ""),
            f"rows rejected     {self.rows_rejected:>12,}",
        ]
        if self.records_undelivered:
            lines.append(f"records NOT sent  {self.records_undelivered:>12,}   (gave up after retries)")
        if self.rejects_path and (self.rows_rejected or self.records_undelivered):
            lines.append(f"rejected rows and unsent records, with line numbers and reasons: {self.rejects_path}")
        if self.records_sent:
            lines.append(f"producer CPU      {self.cpu_seconds * 1e6 / self.records_sent:>12.1f} µs per record")
        lines.append(f"last line sent    {self.last_line:>12,}")
        return lines


class _Tally:
    def __init__(self, rejects: RejectsFile):
        self.lock = threading.Lock()
        self.sent = self.retried = self.throttled = self.undelivered = 0
        self._rejects = rejects

    def add(self, result: Delivery) -> None:
        with self.lock:
            self.sent += result.sent
            self.retried += result.retried
            self.throttled += result.throttled
            self.undelivered += len(result.undelivered)
        for entry, reason in result.undelivered:
            self._rejects.write("undelivered", entry.line, reason, record=entry.data.decode("utf-8", "replace"))


class _Lane(threading.Thread):
    """Sends one lane's batches in order; a fatal error stops the replay, and what it then holds is
    written off as undelivered (in the rejects file), never dropped unseen."""

    def __init__(
        self, index: int, make_client: Callable, stream: str, policy: RetryPolicy, tally: _Tally, abort: threading.Event
    ):
        super().__init__(name=f"lane-{index}", daemon=True)
        self.queue: queue.Queue[list[Entry] | None] = queue.Queue(maxsize=1)
        self._make_client = make_client
        self._stream = stream
        self._policy = policy
        self._tally = tally
        self._abort = abort
        self.fatal: str | None = None

    def run(self) -> None:
        client = self._make_client()
        try:
            while (batch := self.queue.get()) is not None:
                if self._abort.is_set():
                    self._tally.add(
                        Delivery(undelivered=[(e, "not sent: the replay stopped on an error") for e in batch])
                    )
                    continue
                try:
                    self._tally.add(deliver(client, self._stream, batch, self._policy))
                except FatalKinesisError as exc:
                    self.fatal = str(exc)
                    self._abort.set()
                    self._tally.add(Delivery(undelivered=[(e, str(exc)) for e in batch]))
        finally:
            client.close()


def _client_factory(config: Config, kind: str) -> Callable:
    if kind == "boto3":
        return lambda: Boto3Kinesis(aws.client(config, "kinesis", retries={"max_attempts": 1, "mode": "standard"}))
    if kind != "http":
        raise ValueError(f"--client must be http or boto3, got {kind!r}")
    probe = aws.client(config, "kinesis")
    endpoint = probe.meta.endpoint_url
    creds = aws.credentials(config)
    return lambda: KinesisHttp(endpoint, config.aws.region, lambda: creds)


def check_stream(config: Config, stream: str) -> None:
    """Fail before reading anything when the stream is not there."""
    try:
        aws.client(config, "kinesis").describe_stream_summary(StreamName=stream)
    except ClientError as exc:
        code = exc.response["Error"]["Code"]
        endpoint = aws.endpoint_for(config, "kinesis") or f"AWS {config.aws.region}"
        hint = " (run `clickflow stack up`, or create it)" if config.aws.credentials == "local" else ""
        if code == "ResourceNotFoundException":
            raise FatalKinesisError(f"stream {stream!r} does not exist at {endpoint}{hint}") from None
        raise FatalKinesisError(f"cannot reach stream {stream!r} at {endpoint}: {code}") from None


def default_rejects_path(config: Config, source: str) -> Path:
    from connectors.local_stack.stack import state_dir

    stem = source.rstrip("/").rsplit("/", 1)[-1]
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return state_dir(config) / "rejects" / f"{stem}.{stamp}.jsonl"


def replay(
    config: Config,
    options: ReplayOptions,
    interrupt: threading.Event | None = None,
    make_client: Callable | None = None,
) -> ReplaySummary:
    """Replay ``options.source`` into ``options.stream``. ``make_client`` builds one PutRecords client
    per lane; by default the stream is checked first and clients follow ``options.client``."""
    if options.partition_key not in COLUMNS:
        raise ValueError(
            f"--partition-key {options.partition_key!r} is not a column (choose from {', '.join(COLUMNS)})"
        )
    pacer = Pacer(options.rate, options.speedup)
    interrupt = interrupt or threading.Event()
    route = by_key_hash(config.producer.in_flight)
    if make_client is None:
        check_stream(config, options.stream)
        make_client = _client_factory(config, options.client)
        route = shard_router(aws.client(config, "kinesis"), options.stream, config.producer.in_flight)
    rejects = RejectsFile(options.rejects_path or default_rejects_path(config, options.source), options.source)
    summary = ReplaySummary(options.source, options.stream, rejects_path=rejects.path)
    tally = _Tally(rejects)
    abort = threading.Event()
    policy = RetryPolicy(config.producer.max_retries, config.producer.backoff_base, config.producer.backoff_max)
    s3 = aws.client(config, "s3") if options.source.startswith("s3://") else None
    lanes = [_Lane(i, make_client, options.stream, policy, tally, abort) for i in range(config.producer.in_flight)]
    builders = [BatchBuilder(config.producer.batch_records) for _ in lanes]
    key_column = COLUMNS.index(options.partition_key)
    linger = config.producer.linger

    started, cpu_started = time.monotonic(), time.process_time()
    meter = Meter()

    def render() -> str:
        sent = tally.sent
        text = (
            f"sent {sent:,}  {meter.rate(sent):,.0f} rec/s  retried {tally.retried:,}  "
            f"rejected {summary.rows_rejected:,}"
        )
        if tally.undelivered:
            text += f"  NOT sent {tally.undelivered:,}"
        fraction = source.fraction()
        if options.limit:  # the replay ends at the limit or the end of the file, whichever is first
            fraction = max(fraction or 0.0, min(1.0, sent / options.limit))
        if fraction:
            elapsed = time.monotonic() - started
            text += f"  {fraction:.0%}  ETA {human_duration(elapsed * (1 - fraction) / fraction)}"
        return text

    def flush(index: int) -> None:
        if builders[index].entries:
            lanes[index].queue.put(builders[index].take())

    with open_source(options.source, s3) as source:
        parser, rows = read_rows(source.text, options.source)
        for lane in lanes:
            lane.start()
        shift: timedelta | None = None
        sent_count = 0
        try:
            with ProgressLine(render, enabled=options.progress):
                for line, fields, csv_problem in rows:
                    if interrupt.is_set():
                        summary.interrupted = True
                        break
                    if abort.is_set():
                        break
                    if line <= options.resume_from:
                        summary.rows_skipped += 1
                        if options.retime and shift is None and not csv_problem:
                            try:
                                shift = _retime_shift(parser.parse(line, fields).event_time)
                            except RowError:
                                pass
                        continue
                    summary.rows_read += 1
                    try:
                        if csv_problem:
                            raise RowError(line, csv_problem)
                        event = parser.parse(line, fields)
                        if options.retime:
                            if shift is None:
                                shift = _retime_shift(event.event_time)
                            event.retime(event.event_time + shift)
                        key = event.key(key_column)
                        if key is None:
                            raise RowError(line, "empty, but it is the partition key", key_column)
                        data = event.encode()
                        entry = Entry(data, key, line)
                        problem = entry_problem(entry)
                        if problem:
                            raise RowError(line, problem)
                    except RowError as err:
                        summary.rows_rejected += 1
                        rejects.write("rejected", line, err.reason, field=err.field, row=raw_row(fields))
                        summary.last_line = line
                        continue
                    if pacer.paced:
                        _wait_until(
                            started + pacer.due(sent_count, event.event_time), builders, flush, linger, interrupt
                        )
                    index = route(entry.partition_key)
                    batch = builders[index].add(entry, time.monotonic())
                    if batch is not None:
                        lanes[index].queue.put(batch)
                    summary.last_line = line
                    sent_count += 1
                    if options.limit is not None and sent_count >= options.limit:
                        break
                # Send what has been read, and wait for every acknowledgement.
                for index in range(len(lanes)):
                    flush(index)
                for lane in lanes:
                    lane.queue.put(None)
                for lane in lanes:
                    lane.join()
        finally:
            rejects.close()
            for lane in lanes:  # after an unexpected error: let the lanes finish
                if lane.is_alive():
                    lane.queue.put(None)

    summary.records_sent = tally.sent
    summary.records_retried = tally.retried
    summary.records_throttled = tally.throttled
    summary.records_undelivered = tally.undelivered
    summary.fatal = next((lane.fatal for lane in lanes if lane.fatal), None)
    summary.elapsed = time.monotonic() - started
    summary.cpu_seconds = time.process_time() - cpu_started
    return summary


def _retime_shift(first: datetime) -> timedelta:
    now = datetime.now(UTC).replace(microsecond=0)
    return now - first


def _wait_until(
    deadline: float,
    builders: list[BatchBuilder],
    flush: Callable[[int], None],
    linger: float,
    interrupt: threading.Event,
) -> None:
    """Sleep until ``deadline``, sending part-filled batches that have waited ``linger`` meanwhile."""
    while True:
        now = time.monotonic()
        for index, builder in enumerate(builders):
            if builder.opened_at is not None and now - builder.opened_at >= linger:
                flush(index)
        remaining = deadline - now
        if remaining <= 0 or interrupt.is_set():
            return
        interrupt.wait(min(remaining, linger))
