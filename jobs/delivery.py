"""Firehose-style delivery of a Kinesis stream to S3: records buffered, then written as one object
when the buffer reaches its size or its oldest record has waited its interval, under a prefix with
Firehose's expressions — ``!{timestamp:yyyy/MM/dd/HH}`` (the oldest buffered record's arrival time,
UTC), ``!{firehose:error-output-type}``, ``!{firehose:random-string}``. Objects are named as
Firehose names them: ``<stream>-1-yyyy-MM-dd-HH-mm-ss-<random>``, one record per line.

What the AWS service does, beside the ETL job, here and on a laptop: the local stack's moto S3 or
a real bucket.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlparse

from connectors.config import Config

_EXPRESSION = re.compile(r"!\{([A-Za-z]+):([^}]*)\}")
_JAVA_TIME = [("yyyy", "%Y"), ("MM", "%m"), ("dd", "%d"), ("HH", "%H"), ("mm", "%M"), ("ss", "%S")]


def render_prefix(prefix: str, moment: datetime, error_output_type: str = "") -> str:
    """A Firehose prefix with its expressions evaluated (a Java DateTimeFormatter pattern for time)."""

    def evaluate(match: re.Match) -> str:
        namespace, value = match.group(1), match.group(2)
        if namespace == "timestamp":
            pattern = value
            for token, directive in _JAVA_TIME:
                pattern = pattern.replace(token, directive)
            return moment.astimezone(UTC).strftime(pattern)
        if namespace == "firehose" and value == "error-output-type":
            return error_output_type
        if namespace == "firehose" and value == "random-string":
            return secrets.token_hex(5)
        raise ValueError(f"unknown prefix expression !{{{namespace}:{value}}}")

    return _EXPRESSION.sub(evaluate, prefix)


class S3Delivery(threading.Thread):
    """Reads ``stream`` from its start and writes its records to S3 under ``prefix``. ``stop`` is set
    once the job writing the stream has ended: the delivery then reads every shard to its tip (all the
    job wrote), writes what it holds, and ends; ``halt``, set, ends it without reading on (what it
    holds is still written).

    With ``positions`` (a JSON file), the last record of each shard in a written object is kept there
    as each object is written; ``resume`` starts after those positions instead of the stream's start,
    so a stopped delivery continues with nothing written twice or left out."""

    def __init__(
        self,
        config: Config,
        stream: str,
        prefix: str,
        buffer_size: int,
        buffer_interval: float,
        stop: threading.Event,
        error_output_type: str = "",
        positions: Path | None = None,
        resume: bool = False,
        halt: threading.Event | None = None,
    ):
        super().__init__(name=f"deliver-{stream}", daemon=True)
        parsed = urlparse(prefix)
        self.config, self.stream, self.prefix = config, stream, prefix
        self.bucket, self.key_prefix = parsed.netloc, parsed.path.lstrip("/")
        self.buffer_size, self.buffer_interval = buffer_size, buffer_interval
        self.stop_event = stop
        self.error_output_type = error_output_type
        self.records = 0
        self.objects: list[str] = []
        self.error: str | None = None
        self._lock = threading.Lock()
        self._lines: list[bytes] = []
        self._size = 0
        self._oldest: datetime | None = None
        self._opened = 0.0
        self.positions = positions
        self.halt = halt or threading.Event()
        self._written: dict[str, str] = {}  # shard -> last sequence number written to S3
        self._buffered: dict[str, str] = {}  # shard -> last sequence number in the buffer
        if positions is not None and resume and positions.is_file():
            try:
                self._written = dict(json.loads(positions.read_text())["shards"])
            except (ValueError, KeyError, TypeError) as exc:
                raise ValueError(f"{positions}: cannot read the delivery's saved positions ({exc})") from None
        self.resumed_from = dict(self._written)

    def _flush(self, s3) -> None:
        """Write the buffer as one object (under the lock)."""
        if not self._lines or self._oldest is None:
            return
        key = render_prefix(self.key_prefix, self._oldest, self.error_output_type)
        name = f"{self.stream}-1-{datetime.now(UTC).strftime('%Y-%m-%d-%H-%M-%S')}-{secrets.token_hex(4)}"
        s3.put_object(Bucket=self.bucket, Key=key + name, Body=b"".join(self._lines))
        self.objects.append(key + name)
        self._lines, self._size, self._oldest = [], 0, None
        self._written.update(self._buffered)
        self._buffered = {}
        self._save()

    def _save(self) -> None:
        """Keep the positions written so far (replaced whole: a reader never sees half a file)."""
        if self.positions is None:
            return
        self.positions.parent.mkdir(parents=True, exist_ok=True)
        partial = self.positions.with_suffix(".tmp")
        partial.write_text(json.dumps({"stream": self.stream, "prefix": self.prefix, "shards": self._written}))
        os.replace(partial, self.positions)

    def run(self) -> None:
        """Read the stream until it is finished (or stopped), buffering records and writing objects under the prefix."""
        from connectors import aws
        from producer.records import iter_stream

        try:
            kinesis, s3 = aws.client(self.config, "kinesis"), aws.client(self.config, "s3")
            ended = threading.Event()

            def timer() -> None:  # the buffer interval
                while not ended.wait(0.25):
                    with self._lock:
                        if self._lines and time.monotonic() - self._opened >= self.buffer_interval:
                            self._flush(s3)

            clock = threading.Thread(target=timer, daemon=True)
            clock.start()
            try:
                for record in iter_stream(
                    kinesis, self.stream, "trim_horizon", stop=self.halt, drain=self.stop_event, after=self._written
                ):
                    self._add(record, s3)
            finally:
                ended.set()
                clock.join()
            with self._lock:
                self._flush(s3)
        except Exception as exc:  # noqa: BLE001 - reported by the caller, never a silent thread death
            self.error = f"{type(exc).__name__}: {exc}"

    def _add(self, record, s3) -> None:
        data = record.data if record.data.endswith(b"\n") else record.data + b"\n"
        with self._lock:
            if not self._lines:
                self._oldest, self._opened = record.arrival, time.monotonic()
            self._lines.append(data)
            self._buffered[record.shard_id] = record.sequence_number
            self._size += len(data)
            self.records += 1
            if self._size >= self.buffer_size:
                self._flush(s3)
