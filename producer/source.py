"""Open a clickstream file, local or ``s3://bucket/key``, plain or gzip, as a stream of text.

Nothing is read whole: the file is streamed, and the bytes consumed so far are counted so a
progress line can show how far along it is.
"""

from __future__ import annotations

import gzip
import io
import typing
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from botocore.exceptions import BotoCoreError, ClientError


class SourceError(OSError):
    """The input cannot be opened; the message names it and says why."""


class _CountingReader(io.RawIOBase):
    def __init__(self, raw):
        self._raw = raw
        self._direct = isinstance(raw, io.BufferedIOBase | io.RawIOBase)
        self.consumed = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if self._direct:
            count = self._raw.readinto(buffer)  # a file: no copy in between
        else:
            data = self._raw.read(len(buffer))
            count = len(data)
            buffer[:count] = data
        self.consumed += count
        return count

    def close(self) -> None:
        try:
            self._raw.close()
        finally:
            super().close()


@dataclass
class OpenSource:
    """An opened input: its text, its size when known, and how much of it has been read (for progress)."""

    name: str
    text: io.TextIOBase
    size: int | None  # bytes on disk / in S3 (compressed, for .gz); None when unknown
    _counter: _CountingReader

    @property
    def consumed(self) -> int:
        """Bytes read so far (compressed bytes, for .gz)."""
        return self._counter.consumed

    def fraction(self) -> float | None:
        """The share of the input read so far, when its size is known."""
        return min(1.0, self.consumed / self.size) if self.size else None

    def close(self) -> None:
        """Close the input (a gzip stream does not close the file under it: that is closed too)."""
        try:
            self.text.close()
        finally:
            self._counter.close()

    def __enter__(self) -> OpenSource:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def split_s3_uri(uri: str) -> tuple[str, str]:
    """``(bucket, key)`` of an ``s3://`` URI, or a :class:`SourceError`."""
    parts = urlsplit(uri)
    bucket, key = parts.netloc, parts.path.lstrip("/")
    if not bucket or not key:
        raise SourceError(f"{uri}: expected s3://BUCKET/KEY")
    return bucket, key


CSV = (".csv",)
JSON_LINES = (".jsonl", ".ndjson", ".json")


def is_json_lines(uri: str) -> bool:
    """Whether the input holds JSON lines (``.jsonl``, ``.ndjson``, ``.json``, plain or .gz) rather than CSV."""
    return uri.removesuffix(".gz").endswith(JSON_LINES)


def open_source(uri: str, s3_client=None, suffixes: tuple[str, ...] = CSV) -> OpenSource:
    """Open ``uri`` (plain or .gz) for reading. ``s3_client`` is needed only for ``s3://`` URIs."""
    if uri.startswith("s3://"):
        bucket, key = split_s3_uri(uri)
        if s3_client is None:
            raise SourceError(f"{uri}: no S3 client to read it with")
        try:
            response = s3_client.get_object(Bucket=bucket, Key=key)
        except ClientError as exc:
            code = exc.response["Error"]["Code"]
            raise SourceError(
                f"{uri}: cannot read it from S3 ({code}: {exc.response['Error'].get('Message', '')})"
            ) from None
        raw, size = response["Body"], response.get("ContentLength")
    else:
        path = Path(uri)
        if not path.is_file():
            raise SourceError(f"{uri}: no such file" if not path.exists() else f"{uri}: not a regular file")
        try:
            raw = open(path, "rb")  # noqa: SIM115 - closed by OpenSource.close
        except OSError as exc:
            raise SourceError(f"{uri}: cannot open it: {exc.strerror}") from None
        size = path.stat().st_size
    counter = _CountingReader(raw)
    binary: typing.BinaryIO = io.BufferedReader(counter, buffer_size=1 << 20)
    if not uri.removesuffix(".gz").endswith(suffixes):
        raw.close()
        raise SourceError(f"{uri}: expected a {' or '.join(s + '[.gz]' for s in suffixes)} file")
    if uri.endswith(".gz"):
        binary = gzip.GzipFile(fileobj=binary, mode="rb")  # type: ignore[assignment]
    # surrogateescape keeps a row with bad bytes readable, so it is rejected alone (see rows.Event)
    text = io.TextIOWrapper(binary, encoding="utf-8-sig", errors="surrogateescape", newline="")
    return OpenSource(uri, text, size, counter)


# What reading a file can raise part-way: a truncated or corrupt gzip stream, a plain file named
# .gz, a disk or network error, an S3 response cut off.
READ_ERRORS = (EOFError, OSError, zlib.error, BotoCoreError)


def read_failure(uri: str, exc: BaseException, after_line: int) -> SourceError:
    """A one-line error naming the file, where reading stopped, and why."""
    if isinstance(exc, SourceError):
        return exc
    if isinstance(exc, EOFError):
        what = "the compressed data ends early (a truncated .gz file)"
    elif isinstance(exc, gzip.BadGzipFile):
        what = "not gzip data, though the name ends in .gz"
    elif isinstance(exc, zlib.error):
        what = f"corrupt compressed data ({exc})"
    elif isinstance(exc, OSError) and exc.strerror:
        what = f"cannot read it: {exc.strerror}"
    else:
        what = f"cannot read it: {type(exc).__name__}: {exc}"
    where = f"after line {after_line:,}" if after_line else "at its start"
    return SourceError(f"{uri}: {what}, {where}")


def guarded(rows: Iterable[tuple], uri: str) -> Iterator[tuple]:
    """``rows`` (tuples whose first item is the line number), with read errors turned into one
    SourceError that names the file and the last line read."""
    last = 0
    iterator = iter(rows)
    while True:
        try:
            item = next(iterator)
        except StopIteration:
            return
        except READ_ERRORS as exc:
            raise read_failure(uri, exc, last) from None
        last = item[0]
        yield item
