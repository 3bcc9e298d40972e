"""A REES46 CSV judged by clickflow's row rule at file speed, for the batch insights.

``replay`` and ``analyze`` judge every row in Python (:class:`producer.rows.RowParser`): exact, and
about 150,000 rows a second. Most rows of a real file are in one plain form — the REES46 header
order, ``2019-10-01 00:00:00 UTC``, ids without leading zeros, a price with at most two decimals,
no quotes, no spaces around a value, ASCII text — and a row in that form is valid exactly when its
day is a real calendar day inside the producer's time bounds. So the file is read in blocks of a
few megabytes and each block is matched against that form by one regular expression (C code, no
Python per row); a block whose every line matches, and whose days are all plainly in bounds, is
valid as it stands and passes through unchanged. Any other block goes through ``RowParser`` line by
line, so every row it rejects is rejected for the reason, field and line ``replay`` gives; its valid
rows are written back in the plain form. From the first block holding a quote on (a quoted field may
span lines) the rest of the file is read by the csv module, as ``replay`` reads it.

The output is a CSV of the valid events without a header, in the REES46 column order, ``\\n`` line
ends, that DuckDB reads with a fixed schema (no sniffing).
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from producer.rows import COLUMNS, Event, RowError, RowParser, TimeBounds, csv_rows, raw_row, read_rows

HEADER = ",".join(COLUMNS)
BLOCK = 4 << 20  # bytes per block: big enough that the per-block Python is noise, small enough to stream

# no leading zero, below 2**63 - 1 without a range check (19 digits from 9 on go row by row)
_ID = rb"(?:[1-8][0-9]{0,18}|9[0-9]{0,17}|0)"
# printable ASCII except the quote and the comma; inner spaces allowed, none at either end (rows strip)
_TEXT = rb"(?! )[ !#-+\--~]*(?<! )"
PLAIN_ROW = re.compile(
    rb"^([0-9]{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])) (?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9] UTC,"
    rb"(?:view|cart|remove_from_cart|purchase),"
    + _ID + rb"," + _ID + rb"," + _TEXT + rb"," + _TEXT + rb","
    + rb"[0-9]{1,15}(?:\.[0-9]{1,2})?,"
    + _ID + rb"," + _TEXT + rb"\r?$",
    re.MULTILINE,
)  # fmt: skip


@dataclass
class BulkCounts:
    """What the pass has read so far (read by the progress line while it runs)."""

    rows_read: int = 0
    valid: int = 0
    rows_rejected: int = 0
    plain_blocks: int = 0  # blocks that passed whole
    checked_rows: int = 0  # rows that went through RowParser one by one


class _Days:
    """Whether a day's every second is plainly inside the time bounds, cached per day."""

    def __init__(self, bounds: TimeBounds):
        first = bounds.after.date() + timedelta(days=1)  # the bound is exclusive: its own day is checked row by row
        last = bounds.until.date() - timedelta(days=1) if bounds.until else date.max
        self._first, self._last = first, last
        self._known: dict[bytes, bool] = {}

    def plain(self, day: bytes) -> bool:
        known = self._known.get(day)
        if known is None:
            try:
                moment = date.fromisoformat(day.decode("ascii"))
                known = self._first <= moment <= self._last
            except ValueError:  # 2019-02-30
                known = False
            self._known[day] = known
        return known


def _when(moment: datetime) -> str:
    when = moment.strftime("%Y-%m-%d %H:%M:%S")
    return when + (f".{moment.microsecond // 1000:03d}" if moment.microsecond else "") + " UTC"


def _line(values: list) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow(["" if v is None else v for v in values])
    return out.getvalue()


def plain_line(event: Event) -> str:
    """A valid event as one line of the output (REES46 order, the event's own normalised values)."""
    v = event.values
    text = [None if x == "null" else json.loads(x) for x in (v[1], v[4], v[5], v[8])]
    return _line([_when(event.event_time), text[0], v[2], v[3], text[1], text[2], v[6], v[7], text[3]])


def plain_record_line(record: dict, moment: datetime) -> str:
    """A valid JSON record (``producer.valid_event``) as one line of the output; ``moment`` its event time."""
    return _line([_when(moment), *(_value(record.get(name)) for name in COLUMNS[1:])])


def _value(value):
    return repr(value) if isinstance(value, float) else value


class _Chained(io.RawIOBase):
    """Some bytes already read, then the rest of a binary stream."""

    def __init__(self, first: bytes, rest):
        self._first = memoryview(first)
        self._rest = rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if self._first:
            count = min(len(buffer), len(self._first))
            buffer[:count] = self._first[:count]
            self._first = self._first[count:]
            return count
        data = self._rest.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def validate(
    binary,
    source: str,
    out,
    reject: Callable[[int, RowError, list[str]], None],
    bounds: TimeBounds,
    counts: BulkCounts,
) -> None:
    """Judge the rows of ``binary`` (a REES46 CSV whose header line has been read and is the plain
    header) and write the valid ones to the binary file ``out``; ``reject(line, error, fields)`` is
    called for each rejected row. Line numbers are physical lines, the header being line 1."""
    days = _Days(bounds)
    parser = RowParser(bounds=bounds)
    line = 1  # physical lines consumed so far
    carry = b""
    while True:
        data = binary.read(BLOCK)
        block = carry + data if carry else data
        if not data:
            if block:  # a last line without a line end (a truncated file)
                if b'"' in block:
                    _csv_rest(block, binary, line, out, reject, parser, counts)
                    return
                line = _checked(block, line, out, reject, parser, counts)
            return
        cut = block.rfind(b"\n")
        if cut < 0:
            carry = block
            continue
        block, carry = block[: cut + 1], block[cut + 1 :]
        lines = block.count(b"\n")
        found = PLAIN_ROW.findall(block)
        if len(found) == lines and all(days.plain(day) for day in set(found)):
            out.write(block.replace(b"\r\n", b"\n") if b"\r" in block else block)
            counts.rows_read += lines
            counts.valid += lines
            counts.plain_blocks += 1
            line += lines
            continue
        if b'"' in block:
            _csv_rest(block + carry, binary, line, out, reject, parser, counts)
            return
        line = _checked(block, line, out, reject, parser, counts)


def _judge(number: int, fields: list[str], problem: str | None, out, reject, parser: RowParser, counts) -> None:
    counts.rows_read += 1
    counts.checked_rows += 1
    try:
        if problem:
            raise RowError(number, problem)
        event = parser.parse(number, fields)
    except RowError as err:
        counts.rows_rejected += 1
        reject(number, err, fields)
        return
    out.write(plain_line(event).encode("utf-8"))
    counts.valid += 1


def _text(raw) -> io.TextIOWrapper:
    return io.TextIOWrapper(io.BufferedReader(raw), encoding="utf-8", errors="surrogateescape", newline="")


def _checked(block: bytes, line: int, out, reject, parser: RowParser, counts) -> int:
    """A block with no quote, row by row; returns the physical lines consumed after it."""
    for number, fields, problem in csv_rows(csv.reader(_text(io.BytesIO(block))), line):
        _judge(number, fields, problem, out, reject, parser, counts)
    return line + text_lines(block)


def text_lines(block: bytes) -> int:
    """Physical lines in ``block`` as a universal-newline reader counts them (\\n, \\r\\n, lone \\r)."""
    return block.count(b"\n") + block.count(b"\r") - block.count(b"\r\n")


def _csv_rest(first: bytes, binary, line: int, out, reject, parser: RowParser, counts) -> None:
    """The rest of the file from ``first`` on, read by the csv module as one stream."""
    text = _text(_Chained(first, binary))
    for number, fields, problem in csv_rows(csv.reader(text), line):
        _judge(number, fields, problem, out, reject, parser, counts)


def reject_row(rejects) -> Callable[[int, RowError, list[str]], None]:
    """A ``reject`` callback writing to a :class:`producer.rejects.RejectsFile` as ``analyze`` does."""

    def write(number: int, err: RowError, fields: list[str]) -> None:
        rejects.write("rejected", number, err.reason, field=err.field, row=raw_row(fields) if fields else "")

    return write


def judge_csv(
    binary,
    source: str,
    out,
    reject: Callable[[int, RowError, list[str]], None],
    bounds: TimeBounds,
    counts: BulkCounts,
) -> None:
    """Judge a whole REES46 CSV (``binary``, from its first byte) and write its valid events to
    ``out``. A file whose header is not the plain REES46 one (another column order, spaces, a lone
    ``\\r``) is read by the csv module throughout; an unreadable header raises
    :class:`producer.rows.SchemaError` as ``replay`` does."""
    first = binary.readline()
    if first.removeprefix(b"\xef\xbb\xbf") in (HEADER.encode() + b"\n", HEADER.encode() + b"\r\n"):
        validate(binary, source, out, reject, bounds, counts)
        return
    text = io.TextIOWrapper(
        io.BufferedReader(_Chained(first, binary)), encoding="utf-8-sig", errors="surrogateescape", newline=""
    )
    parser, rows = read_rows(text, source, bounds)
    for number, fields, problem in rows:
        _judge(number, fields, problem, out, reject, parser, counts)
