"""The REES46 clickstream schema: CSV rows in, typed JSON records out, bad rows explained.

A row becomes one JSON object with the CSV's column names: integers stay integers (``category_id``
is a 19-digit id and survives exactly), ``price`` is a number, and empty strings become null.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

COLUMNS = (
    "event_time",
    "event_type",
    "product_id",
    "category_id",
    "category_code",
    "brand",
    "price",
    "user_id",
    "user_session",
)
EVENT_TYPES = ("view", "cart", "remove_from_cart", "purchase")
TIME_FORMAT = "%Y-%m-%d %H:%M:%S UTC"  # the REES46 files' own form


class SchemaError(ValueError):
    """The file as a whole does not fit the schema (its header); nothing can be read from it."""


@dataclass(frozen=True)
class RowError(Exception):
    """One row that cannot become a record: where it is and what is wrong with it."""

    line: int
    reason: str
    field: str | None = None

    def __str__(self) -> str:
        where = f"line {self.line}" + (f", field {self.field}" if self.field else "")
        return f"{where}: {self.reason}"


class Event:
    """One valid row: each column's value as JSON text, in schema order, and its event time."""

    __slots__ = ("line", "values", "event_time")

    def __init__(self, line: int, values: list[str], event_time: datetime):
        self.line = line
        self.values = values  # JSON literals: '"view"', '2053013555069845885', '31.9', 'null'
        self.event_time = event_time

    def key(self, column_index: int) -> str | None:
        """The column's value as a partition key string (None for null)."""
        value = self.values[column_index]
        if value == "null":
            return None
        return json.loads(value) if value.startswith('"') else value

    def retime(self, moment: datetime) -> None:
        """Move the event to ``moment`` (generated and templated traffic)."""
        self.event_time = moment
        self.values[0] = _quote(format_event_time(moment))

    def to_json(self) -> str:
        """The event as the JSON record the stream carries."""
        v = self.values
        return (
            f'{{"event_time":{v[0]},"event_type":{v[1]},"product_id":{v[2]},"category_id":{v[3]},'
            f'"category_code":{v[4]},"brand":{v[5]},"price":{v[6]},"user_id":{v[7]},"user_session":{v[8]}}}'
        )

    def encode(self) -> bytes:
        """The JSON record as UTF-8 bytes."""
        return self.to_json().encode("utf-8")

    @property
    def record(self) -> dict:
        """The JSON record as a dict."""
        return json.loads(self.to_json())


_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(?:\.\d{1,3})?(?: UTC|Z)?$")


def parse_event_time(text: str) -> datetime:
    """An event time, always UTC: REES46's ``2019-10-01 00:00:03 UTC``, or ISO 8601 with ``T`` and
    an optional ``Z`` (``2019-10-01T00:00:03.250Z``); at most millisecond precision, no other zone.

    These are exactly the forms the Flink SQL in ``sql/events.sql`` parses, so a record the
    producer accepts is one the analytics can place in time.
    """
    if not _TIME.match(text):
        raise ValueError(f"not an event time: {text!r}")
    core = text.removesuffix(" UTC").removesuffix("Z")
    return datetime.fromisoformat(core).replace(tzinfo=UTC)  # raises ValueError on 2019-13-45


def format_event_time(moment: datetime) -> str:
    """An event time as the REES46 files write it (``2019-10-01 00:00:00 UTC``)."""
    return moment.astimezone(UTC).strftime(TIME_FORMAT)


def _column_order(header: list[str], source: str) -> tuple[int, ...]:
    names = [name.strip().lstrip("\ufeff") for name in header]
    missing = [col for col in COLUMNS if col not in names]
    extra = [name for name in names if name not in COLUMNS]
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"missing column(s) {', '.join(missing)}")
        if extra:
            parts.append(f"unknown column(s) {', '.join(extra)}")
        raise SchemaError(
            f"{source}, line 1: the header must name the REES46 columns {','.join(COLUMNS)} "
            f"(any order); {'; '.join(parts)}. Got: {','.join(header)[:200]}"
        )
    return tuple(names.index(col) for col in COLUMNS)


_quote = json.encoder.encode_basestring  # C: JSON string literal, non-ASCII kept as is
_EVENT_TYPES_JSON = {name: _quote(name) for name in EVENT_TYPES}


BIGINT_MAX = 2**63 - 1  # the SQL column type of the ids


def _whole_number(value: str, line: int, name: str) -> str:
    if not (value.isascii() and value.isdigit()):
        raise RowError(line, f"not a whole number: {value[:40]!r}", name)
    if len(value) >= 19 and int(value) > BIGINT_MAX:
        raise RowError(line, f"too large for a 64-bit id (at most {BIGINT_MAX}): {value[:40]!r}", name)
    return value if value[0] != "0" or len(value) == 1 else str(int(value))


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class TimeBounds:
    """Event times a producer accepts: after ``after`` and no later than ``until``. An absurd time
    (year 9999) would push a streaming job's watermark so far that every other event is late."""

    after: datetime = EPOCH  # exclusive: the job maps an unreadable time to the epoch itself
    until: datetime | None = None  # None: no upper bound

    @classmethod
    def ahead_of_now(cls, seconds: float, after: datetime = EPOCH) -> TimeBounds:
        """Bounds from ``after`` to ``seconds`` past now."""
        from datetime import timedelta

        return cls(after, datetime.now(UTC) + timedelta(seconds=seconds))

    def problem(self, moment: datetime) -> str | None:
        """Why ``moment`` is outside the bounds, or None when it is inside."""
        if moment <= self.after:
            return f"not after {self.after.strftime('%Y-%m-%d %H:%M:%S')} UTC"
        if self.until is not None and moment > self.until:
            return (
                f"more than producer.max_event_time_ahead in the future (after "
                f"{self.until.strftime('%Y-%m-%d %H:%M:%S')} UTC)"
            )
        return None


class RowParser:
    """Turns CSV field lists into Events; raises RowError naming the line and field at fault.

    It is on the replay's hot path, so each column is handled by name rather than by a generic loop.
    """

    def __init__(self, order: tuple[int, ...] = tuple(range(len(COLUMNS))), bounds: TimeBounds | None = None):
        self._order = None if order == tuple(range(len(COLUMNS))) else order
        self._bounds = bounds or TimeBounds()

    def parse(self, line: int, fields: list[str]) -> Event:
        """The event of a CSV row's ``fields`` (line ``line``), or a :class:`RowError` naming the field and
        what is wrong."""
        if len(fields) != len(COLUMNS):
            raise RowError(line, f"expected {len(COLUMNS)} fields, got {len(fields)}")
        if self._order is not None:
            fields = [fields[i] for i in self._order]
        event_time, event_type, product_id, category_id, category_code, brand, price, user_id, session = (
            f.strip() for f in fields
        )
        for name, value in (
            ("event_time", event_time),
            ("event_type", event_type),
            ("product_id", product_id),
            ("category_id", category_id),
            ("price", price),
            ("user_id", user_id),
        ):
            if not value:
                raise RowError(line, "empty, but this field is required", name)
        for name, value in (("category_code", category_code), ("brand", brand), ("user_session", session)):
            # The source decodes with surrogateescape, so bytes that are not UTF-8 reach here; the
            # other fields are checked against ASCII patterns below.
            if not value.isascii():
                try:
                    value.encode("utf-8")
                except UnicodeEncodeError:
                    raise RowError(line, "not valid UTF-8 text", name) from None
        type_json = _EVENT_TYPES_JSON.get(event_type)
        if type_json is None:
            raise RowError(
                line, f"unknown event type {event_type[:40]!r} (known: {', '.join(EVENT_TYPES)})", "event_type"
            )
        try:
            moment = parse_event_time(event_time)
        except ValueError:
            raise RowError(
                line,
                f"not a UTC time like 2019-10-01 00:00:00 UTC or 2019-10-01T00:00:00Z: {event_time[:40]!r}",
                "event_time",
            ) from None
        out_of_range = self._bounds.problem(moment)
        if out_of_range:
            raise RowError(line, f"implausible event time {event_time[:40]!r}: {out_of_range}", "event_time")
        try:
            amount = float(price)
        except ValueError:
            raise RowError(line, f"not a number: {price[:40]!r}", "price") from None
        if not math.isfinite(amount) or amount < 0:
            raise RowError(line, f"not a price (finite, 0 or more): {price[:40]!r}", "price")
        values = [
            _quote(event_time),
            type_json,
            _whole_number(product_id, line, "product_id"),
            _whole_number(category_id, line, "category_id"),
            _quote(category_code) if category_code else "null",
            _quote(brand) if brand else "null",
            repr(amount),
            _whole_number(user_id, line, "user_id"),
            _quote(session) if session else "null",
        ]
        return Event(line, values, moment)


def read_rows(
    text: io.TextIOBase | Iterable[str], source: str, bounds: TimeBounds | None = None
) -> tuple[RowParser, Iterator[tuple[int, list[str], str | None]]]:
    """Read the header; return a parser for this file's column order and its rows.

    Rows come as ``(line, fields, csv_error)``: line numbers are physical lines, the header being
    line 1, so a rejects file and ``--resume-from`` point where an editor would. ``csv_error`` is set
    (and ``fields`` empty) for a row the CSV reader itself could not split. Blank lines are skipped.
    """
    reader = csv.reader(text)
    try:
        header = next(reader)
    except StopIteration:
        raise SchemaError(f"{source}: the file is empty (expected a header line)") from None
    except csv.Error as exc:
        raise SchemaError(f"{source}, line 1: cannot read the header: {exc}") from None
    parser = RowParser(_column_order(header, source), bounds)

    return parser, csv_rows(reader)


def csv_rows(reader, first_line: int = 0) -> Iterator[tuple[int, list[str], str | None]]:
    """A csv reader's rows as ``(line, fields, csv_error)``, physical line numbers counted on from
    ``first_line`` (the lines before the reader's text); blank lines skipped."""
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield first_line + reader.line_num, [], f"malformed CSV: {exc}"
            continue
        if fields:
            yield first_line + reader.line_num, fields, None


def raw_row(fields: list[str]) -> str:
    """The row as CSV text again, for the rejects file."""
    out = io.StringIO()
    csv.writer(out, lineterminator="").writerow(fields)
    return out.getvalue()
