"""producer/bulk.py judges a REES46 CSV at file speed; it must judge exactly as `replay` does.

Every generated file — plain rows mixed with every defect the row rule knows (calendar days that do
not exist, times out of bounds, ids with leading zeros or past 2**63 - 1, prices that are not prices,
spaces, quotes, commas and line breaks inside fields, bytes that are not UTF-8, CRLF, lone CR, blank
lines, a truncated last line, a BOM, another column order) — is read twice: by ``producer.rows``
row by row, as ``replay`` and ``analyze`` read it, and by ``producer.bulk`` with blocks small enough
that both of its paths run. The rejects (line, reason, field, row) and the valid events must be equal.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from producer import bulk
from producer.rows import COLUMNS, RowError, SchemaError, TimeBounds, parse_event_time, raw_row, read_rows

BOUNDS = TimeBounds.ahead_of_now(86_400)
PLAIN = ["2019-10-01 00:00:03 UTC", "view", "44600062", "2103807459595387724", "a.b", "shiseido", "35.79", "541312140",
         "72d76fde-8bb3-4e00-8c23-a032dfed738c"]  # fmt: skip
ODD = {
    0: [
        "2019-02-30 00:00:00 UTC",
        "2019-10-01T00:00:00Z",
        "2019-10-01 00:00:00.250 UTC",
        "1970-01-01 00:00:00 UTC",
        "1970-01-01 00:00:01 UTC",
        "1970-01-02 00:00:00 UTC",
        "2999-01-01 00:00:00 UTC",
        " 2019-10-01 00:00:00 UTC",
        "2019-10-01 24:00:00 UTC",
        "garbage",
        "",
        "2019-12-31 23:59:59 UTC",
    ],  # fmt: skip
    1: ["cart", "purchase", "remove_from_cart", "VIEW", "", "click"],
    2: [
        "0",
        "007",
        "9223372036854775807",
        "9223372036854775808",
        "8999999999999999999",
        "-1",
        "1.0",
        "",
        " 5",
        "\u0663",
    ],
    3: ["2053013555069845885", "99999999999999999999", "01"],
    4: ["", "a b", " a", "é", '"q,uoted"', "x\udc80", "a,b", '"multi\nline"', '"sp ""inner"" q"', "tab\there"],
    5: ["", "brand x", "ÆØÅ", "bad\udcff", '"'],
    6: ["1.5", "1.005", "1e3", "nan", "inf", "-1", "", "0", "007.50", "1.2345", "0.00", "12,5"],
    7: ["0", "00", "541312140"],
    8: ["", "s p", " lead", "trail "],
}


def encode(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


@st.composite
def csv_files(draw) -> bytes:
    header = ",".join(COLUMNS)
    if draw(st.integers(0, 9)) == 0:
        header = draw(st.sampled_from([",".join(reversed(COLUMNS)), "\ufeff" + header, header.replace(",", ", ")]))
    endings = draw(st.sampled_from([["\n"], ["\r\n"], ["\n", "\r\n"], ["\n", "\r\n", "\r"]]))
    lines = [header + draw(st.sampled_from(endings))]
    for _ in range(draw(st.integers(0, 40))):
        fields = list(PLAIN)
        if draw(st.integers(0, 2)) == 0:  # an odd row now and then
            for column in draw(st.lists(st.integers(0, 8), min_size=1, max_size=2)):
                fields[column] = draw(st.sampled_from(ODD[column]))
        if draw(st.integers(0, 25)) == 0:
            fields = fields[: draw(st.integers(0, 8))]
        row = ",".join(fields)
        lines.append(row + draw(st.sampled_from(endings)))
        if draw(st.integers(0, 20)) == 0:
            lines.append(draw(st.sampled_from(endings)))  # a blank line
    text = "".join(lines)
    if draw(st.booleans()):
        text = text.rstrip("\r\n")  # a last line without its line end
    if draw(st.integers(0, 10)) == 0:
        text = text[: draw(st.integers(0, len(text)))]  # cut anywhere
    return encode(text)


def by_rows(data: bytes) -> tuple[list, list]:
    """What replay and analyze make of the file: producer.rows, row by row."""
    text = io.TextIOWrapper(io.BytesIO(data), encoding="utf-8-sig", errors="surrogateescape", newline="")
    parser, rows = read_rows(text, "f.csv", BOUNDS)
    valid, rejected = [], []
    for line, fields, problem in rows:
        try:
            if problem:
                raise RowError(line, problem)
            event = parser.parse(line, fields)
        except RowError as err:
            rejected.append((line, err.reason, err.field, raw_row(fields) if fields else ""))
            continue
        record = event.record
        valid.append(
            (
                event.event_time,
                *(record[name] for name in COLUMNS[1:6]),
                float(record["price"]),
                record["user_id"],
                record["user_session"],
            )
        )
    return valid, rejected


def in_bulk(data: bytes) -> tuple[list, list, bulk.BulkCounts]:
    rejected = []
    counts = bulk.BulkCounts()
    out = io.BytesIO()
    bulk.judge_csv(
        io.BytesIO(data),
        "f.csv",
        out,
        lambda line, err, fields: rejected.append((line, err.reason, err.field, raw_row(fields) if fields else "")),
        BOUNDS,
        counts,
    )
    valid = []
    for f in csv.reader(io.StringIO(out.getvalue().decode("utf-8"), newline="")):
        assert len(f) == 9
        valid.append(
            (
                parse_event_time(f[0]),
                f[1],
                int(f[2]),
                int(f[3]),
                f[4] or None,
                f[5] or None,
                float(f[6]),
                int(f[7]),
                f[8] or None,
            )
        )
    return valid, rejected, counts


@pytest.mark.parametrize("block", [64, 333, 4096])
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=csv_files())
def test_bulk_judges_every_row_as_replay_does(data, block, monkeypatch):
    monkeypatch.setattr(bulk, "BLOCK", block)
    try:
        expected_valid, expected_rejected = by_rows(data)
    except SchemaError as exc:
        with pytest.raises(SchemaError, match=str(exc).split(":")[0]):
            in_bulk(data)
        return
    valid, rejected, counts = in_bulk(data)
    assert rejected == expected_rejected
    assert valid == expected_valid
    assert counts.valid == len(valid) and counts.rows_rejected == len(rejected)
    assert counts.rows_read == len(valid) + len(rejected)


def test_a_plain_file_passes_in_blocks_and_its_rows_unchanged():
    rows = [",".join(COLUMNS)] + [
        f"2019-10-0{1 + i % 9} 0{i % 10}:00:0{i % 10} UTC,view,{i},2053013555069845885,a.b,,{i}.5,7,s{i}"
        for i in range(2000)
    ]
    data = encode("\r\n".join(rows) + "\r\n")
    valid, rejected, counts = in_bulk(data)
    assert not rejected and counts.valid == 2000 and counts.checked_rows == 0 and counts.plain_blocks >= 1
    assert valid[1999][0] == datetime(2019, 10, 2, 9, 0, 9, tzinfo=UTC) and valid[1999][6] == 1999.5


def test_one_odd_row_is_judged_alone_and_named_by_its_line():
    rows = [",".join(COLUMNS)] + [",".join(PLAIN)] * 50
    rows[30] = rows[30].replace("2019-10-01", "2019-02-30")
    rows[40] = rows[40].replace("44600062", "0044600062")  # valid, written back without the zeros
    valid, rejected, counts = in_bulk(encode("\n".join(rows) + "\n"))
    assert [(r[0], r[2]) for r in rejected] == [(31, "event_time")]
    assert counts.valid == 49 and valid[38][2] == 44600062
