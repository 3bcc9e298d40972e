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
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from connectors import aws
from connectors.config import Config, OptionError
from producer import resume
from producer.batching import BatchBuilder, Entry, entry_problem
from producer.delivery import Delivery, FatalKinesisError, RetryPolicy, deliver
from producer.kinesis_wire import Boto3Kinesis, KinesisHttp
from producer.pacing import Pacer
from producer.progress import Meter, ProgressLine, human_duration
from producer.records import check_stream
from producer.rejects import RejectsFile
from producer.resume import Progress
from producer.routing import by_key_hash, shard_router
from producer.rows import COLUMNS, RowError, TimeBounds, raw_row, read_rows
from producer.source import READ_ERRORS, SourceError, guarded, open_source, read_failure
from producer.templates import TemplateError


@dataclass(frozen=True)
class ReplayOptions:
    """What ``clickflow replay`` sends, where, how fast, and where it starts or resumes."""

    source: str
    stream: str
    partition_key: str = "category_id"
    rate: float | None = None
    speedup: float | None = None
    limit: int | None = None  # records to send over the whole replay (resumed runs included)
    resume_from: int = 0  # skip every line up to and including this one
    resume: bool = False  # continue from the progress file (``progress_path``)
    retime: bool = False
    rejects_path: Path | None = None
    progress_path: Path | None = None  # where progress is kept; None: default_progress_path()
    client: str = "http"  # "http" (clickflow's own PutRecords client) or "boto3"
    progress: bool = True

    def validate(self) -> None:
        """Values, not just types: in range and consistent with each other."""
        Pacer(self.rate, self.speedup)  # refuses a rate or speedup that is not finite and positive, or both
        if self.limit is not None and self.limit < 1:
            raise OptionError(f"--limit must be 1 or more, got {self.limit}")
        if self.resume_from < 0:
            raise OptionError(f"--resume-from must be a line number (0 or more), got {self.resume_from}")
        if self.resume and self.resume_from:
            raise OptionError("choose --resume (the progress file) or --resume-from LINE, not both")


@dataclass
class ReplaySummary:
    """What a replay read, sent, rejected and left, and where a continuation starts."""

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
    interrupted: bool = False  # stopped by Ctrl-C or SIGTERM, after waiting for every acknowledgement
    abandoned: bool = False  # stopped at once (a second Ctrl-C): calls in flight were not waited for
    fatal: str | None = None
    input_error: str | None = None  # the file could not be read to its end
    elapsed: float = 0.0
    cpu_seconds: float = 0.0
    rejects_path: Path | None = None
    # where a continuation starts: every row up to ``resume_line`` is done, and ``done_beyond`` more
    # after it; ``unknown`` records were in calls whose outcome is not known
    resume_line: int = 0
    done_beyond: int = 0
    unknown: int = 0
    not_sent: int = 0  # read, but never handed to Kinesis (or given up on): a resume sends them
    acknowledged_total: int = 0
    progress_path: Path | None = None

    @property
    def complete(self) -> bool:
        """Whether every row was read and every record delivered."""
        return (
            not self.fatal
            and not self.input_error
            and not self.records_undelivered
            and not self.interrupted
            and not self.abandoned
        )

    @property
    def stopped_early(self) -> bool:
        """Stopped before the end of the file (and not at --limit): a continuation is due."""
        return bool(self.fatal or self.input_error or self.interrupted or self.abandoned or self.records_undelivered)

    def report(self) -> list[str]:
        """The summary lines printed when the replay ends."""
        rate = self.records_sent / self.elapsed if self.elapsed else 0.0
        lines = [
            f"rows read         {self.rows_read:>12,}"
            + (f"   (skipped {self.rows_skipped:,} done before)" if self.rows_skipped else ""),
            f"records sent      {self.records_sent:>12,}   to {self.stream} "
            f"in {self.elapsed:.1f}s ({rate:,.0f} records/s, acknowledged by Kinesis)",
            f"records retried   {self.records_retried:>12,}"
            + (f"   ({self.records_throttled:,} throttled)" if self.records_throttled else ""),
            f"rows rejected     {self.rows_rejected:>12,}",
        ]
        if self.records_undelivered:
            lines.append(f"records NOT sent  {self.records_undelivered:>12,}   (gave up, or stopped before sending)")
        if self.rejects_path and (self.rows_rejected or self.records_undelivered):
            lines.append(f"rejected rows and unsent records, with line numbers and reasons: {self.rejects_path}")
        if self.records_sent:
            lines.append(f"producer CPU      {self.cpu_seconds * 1e6 / self.records_sent:>12.1f} µs per record")
        lines.append(f"last line sent    {self.last_line:>12,}")
        return lines

    def stop_report(self) -> list[str]:
        """Why it stopped and where a continuation stands (the command itself is the caller's)."""
        if self.abandoned:
            why = "stopped at once (second Ctrl-C)"
        elif self.interrupted:
            why = "interrupted; every record handed to Kinesis was acknowledged first"
        elif self.input_error:
            why = f"the input could not be read to its end: {self.input_error}"
        elif self.fatal:
            why = f"stopped on an error: {self.fatal}"
        else:
            why = f"{self.records_undelivered:,} records could not be delivered after every retry"
        lines = [
            why,
            f"acknowledged: {self.acknowledged_total:,} records in all; "
            f"every row up to line {self.resume_line:,} is done"
            + (f", and {self.done_beyond:,} rows after it" if self.done_beyond else ""),
        ]
        if self.unknown:
            lines.append(
                f"{self.unknown:,} records were in calls still in flight: their outcome is unknown. The "
                f"continuation sends them again, so up to {self.unknown:,} of them may be in the stream twice"
            )
        elif self.not_sent:
            lines.append(f"{self.not_sent:,} records read but not acknowledged: the continuation sends them")
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
        self,
        index: int,
        make_client: Callable,
        stream: str,
        policy: RetryPolicy,
        tally: _Tally,
        abort: threading.Event,
        progress: Progress,
    ):
        super().__init__(name=f"lane-{index}", daemon=True)
        self.queue: queue.Queue[list[Entry] | None] = queue.Queue(maxsize=1)
        self._make_client = make_client
        self._stream = stream
        self._policy = policy
        self._tally = tally
        self._abort = abort
        self._progress = progress
        self.fatal: str | None = None
        self.in_call: list[Entry] | None = None  # the batch of a PutRecords call under way

    def run(self) -> None:
        client = self._make_client()
        try:
            while (batch := self.queue.get()) is not None:
                if self._abort.is_set():
                    self._tally.add(
                        Delivery(undelivered=[(e, "not sent: the replay stopped on an error") for e in batch])
                    )
                    continue
                self.in_call = batch
                try:
                    result = deliver(client, self._stream, batch, self._policy)
                except FatalKinesisError as exc:
                    self.fatal = str(exc)
                    self._abort.set()
                    self._tally.add(Delivery(undelivered=[(e, str(exc)) for e in batch]))
                    self.in_call = None
                    continue
                given_up = {id(entry) for entry, _ in result.undelivered}
                self._progress.acknowledge(e.line for e in batch if id(e) not in given_up)
                self._tally.add(result)
                self.in_call = None  # only now: until its acknowledgements are recorded, its outcome is open
        finally:
            client.close()


def _client_factory(config: Config, kind: str) -> Callable:
    if kind == "boto3":
        return lambda: Boto3Kinesis(aws.client(config, "kinesis", retries={"max_attempts": 1, "mode": "standard"}))
    if kind != "http":
        raise OptionError(f"--client must be http or boto3, got {kind!r}")
    probe = aws.client(config, "kinesis")
    endpoint = probe.meta.endpoint_url
    creds = aws.credentials(config)
    return lambda: KinesisHttp(endpoint, config.aws.region, lambda: creds)


def default_rejects_path(config: Config, source: str) -> Path:
    """A new rejects file under the state directory, named after the source and the time."""
    from connectors.local_stack.stack import state_dir

    stem = source.rstrip("/").rsplit("/", 1)[-1]
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return state_dir(config) / "rejects" / f"{stem}.{stamp}.jsonl"


class StopRequest(threading.Event):
    """Set: finish what is in flight, then stop. ``now`` set as well: stop at once (a second Ctrl-C)."""

    def __init__(self) -> None:
        super().__init__()
        self.now = threading.Event()


class _StopNow(Exception):
    """Raised inside the replay when ``StopRequest.now`` is seen."""


# After a second Ctrl-C, PutRecords calls already under way get this long to answer, so their
# records' outcome is known (a call normally takes milliseconds); the rest is not waited for.
ABANDON_GRACE = 1.0


def default_progress_path(config: Config, source: str, stream: str) -> Path:
    """The progress file of replaying ``source`` into ``stream``, under the state directory."""
    from connectors.local_stack.stack import state_dir

    return resume.default_path(state_dir(config), source, stream)


# A record made elsewhere (clickflow generate --template): (number, data, partition key, event time)
Generated = tuple[int, bytes, str, datetime]


def replay(
    config: Config,
    options: ReplayOptions,
    interrupt: threading.Event | None = None,
    make_client: Callable | None = None,
    records: Iterable[Generated] | None = None,
    total: int | None = None,
) -> ReplaySummary:
    """Replay ``options.source`` into ``options.stream``. ``make_client`` builds one PutRecords client
    per lane; by default the stream is checked first and clients follow ``options.client``. With
    ``records`` (and their number, ``total``, for the progress line), those are sent instead of the
    file's rows — the same batches, lanes, retries, pacing, progress, stops and resumes.

    However it ends — the end of the file, ``--limit``, ``interrupt`` (finish what is in flight),
    KeyboardInterrupt (stop at once), an unreadable input, the stream going away — it returns a
    summary saying where a continuation starts, and the progress file says it too."""
    options.validate()
    if options.partition_key not in COLUMNS:
        raise OptionError(
            f"--partition-key {options.partition_key!r} is not a column (choose from {', '.join(COLUMNS)})"
        )
    progress_path = options.progress_path or default_progress_path(config, options.source, options.stream)
    if options.resume:
        start = resume.load(progress_path, options.source, options.stream)
    else:
        start = resume.Checkpoint(options.source, options.stream, prefix=options.resume_from)
    skip_beyond = set(start.beyond)
    pacer = Pacer(options.rate, options.speedup)
    interrupt = interrupt or threading.Event()
    route = by_key_hash(config.producer.in_flight)
    if make_client is None:
        check_stream(config, options.stream)
        make_client = _client_factory(config, options.client)
        route = shard_router(aws.client(config, "kinesis"), options.stream, config.producer.in_flight)
    rejects = RejectsFile(options.rejects_path or default_rejects_path(config, options.source), options.source)
    summary = ReplaySummary(options.source, options.stream, rejects_path=rejects.path, progress_path=progress_path)
    progress = resume.Progress(progress_path, start)
    tally = _Tally(rejects)
    abort = threading.Event()
    policy = RetryPolicy(config.producer.max_retries, config.producer.backoff_base, config.producer.backoff_max)
    s3 = aws.client(config, "s3") if options.source.startswith("s3://") else None
    lanes = [
        _Lane(i, make_client, options.stream, policy, tally, abort, progress) for i in range(config.producer.in_flight)
    ]
    builders = [BatchBuilder(config.producer.batch_records) for _ in lanes]
    key_column = COLUMNS.index(options.partition_key)
    linger = config.producer.linger

    started, cpu_started = time.monotonic(), time.process_time()
    meter = Meter()
    source = None

    def render() -> str:
        sent = tally.sent
        text = (
            f"sent {sent:,}  {meter.rate(sent):,.0f} rec/s  retried {tally.retried:,}  "
            f"rejected {summary.rows_rejected:,}"
        )
        if tally.undelivered:
            text += f"  NOT sent {tally.undelivered:,}"
        fraction = source.fraction() if source else (summary.rows_read / total if total else None)
        if options.limit:  # the replay ends at the limit or the end of the file, whichever is first
            fraction = max(fraction or 0.0, min(1.0, (start.acknowledged + sent) / options.limit))
        if fraction:
            elapsed = time.monotonic() - started
            text += f"  {fraction:.0%}  ETA {human_duration(elapsed * (1 - fraction) / fraction)}"
        return text

    now = getattr(interrupt, "now", None)  # a StopRequest's second stage

    def hand(index: int, batch) -> None:
        """Give a lane a batch; its queue holds one, so wait — but not past a stop-now."""
        while True:
            try:
                lanes[index].queue.put(batch, timeout=0.1)
                return
            except queue.Full:
                if now is not None and now.is_set():
                    raise _StopNow from None

    def flush(index: int) -> None:
        if builders[index].entries:
            hand(index, builders[index].take())

    shift: timedelta | None = timedelta(seconds=start.retime_shift) if start.retime_shift is not None else None
    sent_count = start.acknowledged  # --limit counts the whole replay
    try:
        if records is None:
            source = open_source(options.source, s3)
            try:
                bounds = TimeBounds.ahead_of_now(config.producer.max_event_time_ahead)
                parser, rows = read_rows(source.text, options.source, bounds)
            except READ_ERRORS as exc:
                raise read_failure(options.source, exc, 0) from None
            items: Iterator[tuple[Any, Any, Any, Any]] = (
                (line, fields, problem, None) for line, fields, problem in guarded(rows, options.source)
            )
        else:
            items = ((number, None, None, (data, key, moment)) for number, data, key, moment in records)
        for lane in lanes:
            lane.start()
        with ProgressLine(render, enabled=options.progress):
            try:
                for line, fields, csv_problem, ready in items:
                    if now is not None and now.is_set():
                        raise _StopNow
                    if interrupt.is_set():
                        summary.interrupted = True
                        break
                    if abort.is_set():
                        break
                    if options.limit is not None and sent_count >= options.limit:
                        break
                    if line <= start.prefix or line in skip_beyond:
                        summary.rows_skipped += 1
                        progress.settle(line)
                        if options.retime and shift is None and fields and not csv_problem:
                            try:
                                shift = _retime_shift(parser.parse(line, fields).event_time)
                            except RowError:
                                pass
                        continue
                    summary.rows_read += 1
                    try:
                        if ready is not None:
                            data, key, event_time = ready
                        else:
                            if csv_problem:
                                raise RowError(line, csv_problem)
                            event = parser.parse(line, fields)
                            if options.retime:
                                if shift is None:
                                    shift = _retime_shift(event.event_time)
                                event.retime(event.event_time + shift)
                            key = event.key(key_column)
                            if key is None:
                                raise RowError(line, "empty, but it is the partition key", options.partition_key)
                            data, event_time = event.encode(), event.event_time
                        entry = Entry(data, key, line)
                        problem = entry_problem(entry)
                        if problem:
                            raise RowError(line, problem)
                    except RowError as err:
                        summary.rows_rejected += 1
                        row = raw_row(fields) if fields is not None else ready[0].decode("utf-8", "replace")
                        rejects.write("rejected", line, err.reason, field=err.field, row=row)
                        progress.settle(line)
                        summary.last_line = line
                        continue
                    if pacer.paced:
                        _wait_until(
                            started + pacer.due(sent_count - start.acknowledged, event_time),
                            builders,
                            flush,
                            linger,
                            interrupt,
                        )
                    index = route(entry.partition_key)
                    progress.issue(line)
                    batch = builders[index].add(entry, time.monotonic())
                    if batch is not None:
                        hand(index, batch)
                    summary.last_line = line
                    sent_count += 1
            except (SourceError, TemplateError) as exc:  # part-way: send what was read, then say where to go on
                summary.input_error = str(exc)
            # Send what has been read, and wait for every acknowledgement.
            for index in range(len(lanes)):
                flush(index)
            for index in range(len(lanes)):
                hand(index, None)
            for lane in lanes:
                while lane.is_alive():
                    lane.join(0.1)
                    if now is not None and now.is_set():
                        raise _StopNow
    except (KeyboardInterrupt, _StopNow):  # stop at once: write off what is queued; calls in flight get one second
        summary.abandoned = True
        abort.set()
        for lane in lanes:
            try:
                lane.queue.put_nowait(None)
            except queue.Full:
                pass
        deadline = time.monotonic() + ABANDON_GRACE
        try:
            while any(lane.in_call is not None for lane in lanes) and time.monotonic() < deadline:
                time.sleep(0.01)
        except KeyboardInterrupt:
            pass
        summary.unknown = sum(len(lane.in_call or ()) for lane in lanes)
    finally:
        rejects.close()
        if source is not None:
            source.close()
        for lane in lanes:  # after an unexpected error: let the lanes finish
            if lane.is_alive() and not summary.abandoned:
                lane.queue.put(None)

    progress.retime_shift = shift.total_seconds() if shift is not None and options.retime else None
    summary.records_sent = tally.sent
    summary.records_retried = tally.retried
    summary.records_throttled = tally.throttled
    summary.records_undelivered = tally.undelivered
    summary.fatal = next((lane.fatal for lane in lanes if lane.fatal), None)
    summary.elapsed = time.monotonic() - started
    summary.cpu_seconds = time.process_time() - cpu_started
    snapshot = progress.snapshot()
    summary.resume_line = snapshot.prefix
    summary.done_beyond = len(snapshot.beyond)
    summary.not_sent = progress.pending - summary.unknown
    summary.acknowledged_total = snapshot.acknowledged
    progress.save(complete=summary.complete)
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
