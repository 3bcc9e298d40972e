import json

import pytest

from producer.rows import COLUMNS, RowError, RowParser, SchemaError, read_rows
from producer.source import SourceError, open_source
from tests.fixtures import HEADER, row, write_csv


def parse_file(path):
    with open_source(str(path)) as source:
        parser, rows = read_rows(source.text, str(path))
        events, errors = [], []
        for line, fields, problem in rows:
            try:
                if problem:
                    raise RowError(line, problem)
                events.append(parser.parse(line, fields))
            except RowError as err:
                errors.append(err)
        return events, errors


def test_record_is_typed_json():
    event = RowParser().parse(2, row().split(","))
    record = json.loads(event.encode())
    assert list(record) == list(COLUMNS)
    assert record["category_id"] == 2053013555631882655  # 19 digits, exact
    assert isinstance(record["product_id"], int) and isinstance(record["user_id"], int)
    assert record["price"] == 31.9 and isinstance(record["price"], float)
    assert record["event_time"] == "2019-10-01 00:00:00 UTC"  # kept as in the file


def test_empty_optional_fields_become_null():
    record = RowParser().parse(2, row(code="", brand="", session="").split(",")).record
    assert record["category_code"] is None and record["brand"] is None and record["user_session"] is None


def test_crlf_and_missing_final_newline(tmp_path):
    path = write_csv(tmp_path / "a.csv", [row(1), row(2), row(3)], newline="\r\n", final_newline=False)
    events, errors = parse_file(path)
    assert errors == []
    assert [e.line for e in events] == [2, 3, 4]
    assert all("\r" not in v for e in events for v in e.values)


def test_truncated_last_row_is_one_rejected_row(tmp_path):
    cut = ",".join(row(5).split(",")[:8])
    path = write_csv(tmp_path / "a.csv", [row(1), row(2), cut], newline="\r\n", final_newline=False)
    events, errors = parse_file(path)
    assert len(events) == 2
    assert [(e.line, e.reason) for e in errors] == [(4, "expected 9 fields, got 8")]


@pytest.mark.parametrize(
    "kwargs, field, reason",
    [
        ({"product": "12a"}, "product_id", "not a whole number"),
        ({"category": "-5"}, "category_id", "not a whole number"),
        ({"price": "abc"}, "price", "not a number"),
        ({"price": "nan"}, "price", "not a price"),
        ({"price": "-1"}, "price", "not a price"),
        ({"event_type": "click"}, "event_type", "unknown event type"),
        ({"user": ""}, "user_id", "empty, but this field is required"),
    ],
)
def test_bad_fields_are_named(kwargs, field, reason):
    with pytest.raises(RowError) as err:
        RowParser().parse(7, row(**kwargs).split(","))
    assert err.value.field == field and err.value.line == 7 and reason in err.value.reason
    assert str(err.value).startswith(f"line 7, field {field}:")


def test_bad_time_is_named():
    fields = row().split(",")
    fields[0] = "2019-13-01 00:00:00 UTC"
    with pytest.raises(RowError) as err:
        RowParser().parse(3, fields)
    assert err.value.field == "event_time"


def test_iso_times_accepted():
    fields = row().split(",")
    for text in ("2019-10-01T00:00:05Z", "2019-10-01 00:00:05", "2019-10-01T00:00:05"):
        fields[0] = text
        assert RowParser().parse(2, fields).event_time.isoformat() == "2019-10-01T00:00:05+00:00"
    fields[0] = "2019-10-01T00:00:05.250Z"
    assert RowParser().parse(2, fields).event_time.isoformat() == "2019-10-01T00:00:05.250000+00:00"


@pytest.mark.parametrize("text", ["2019-10-01T02:00:05+02:00", "2019-10-01", "2019-10-01 00:00:05.1234", "1/10/2019"])
def test_times_the_sql_cannot_read_are_rejected(text):
    fields = row().split(",")
    fields[0] = text
    with pytest.raises(RowError, match="not a UTC time"):
        RowParser().parse(2, fields)


def test_leading_zero_ids_are_valid_json():
    record = RowParser().parse(2, row(product="0042").split(",")).record
    assert record["product_id"] == 42


def test_quoted_fields_and_unicode(tmp_path):
    line = row(code='"kids,toys"', brand="žiūrovas")
    path = write_csv(tmp_path / "q.csv", [line])
    events, errors = parse_file(path)
    assert errors == []
    assert events[0].record["category_code"] == "kids,toys" and events[0].record["brand"] == "žiūrovas"


def test_header_in_another_order(tmp_path):
    order = list(reversed(COLUMNS))
    fields = dict(zip(COLUMNS, row().split(","), strict=True))
    path = tmp_path / "r.csv"
    path.write_text(",".join(order) + "\n" + ",".join(fields[c] for c in order) + "\n")
    events, errors = parse_file(path)
    assert errors == [] and events[0].record["category_id"] == 2053013555631882655


def test_header_missing_column(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text(HEADER.replace(",brand", "") + "\n")
    with pytest.raises(SchemaError, match="line 1: .*missing column\\(s\\) brand"):
        parse_file(path)


def test_empty_file(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_text("")
    with pytest.raises(SchemaError, match="empty"):
        parse_file(path)


def test_gzip_and_missing_file(tmp_path):
    import gzip

    path = tmp_path / "z.csv.gz"
    path.write_bytes(gzip.compress((HEADER + "\n" + row(1) + "\n").encode()))
    events, _ = parse_file(path)
    assert len(events) == 1
    with pytest.raises(SourceError, match="no such file"):
        open_source(str(tmp_path / "nope.csv"))
    (tmp_path / "x.json").write_text("{}")
    with pytest.raises(SourceError, match=r"expected a \.csv\[\.gz\] file"):
        open_source(str(tmp_path / "x.json"))


def test_invalid_utf8_row_is_rejected_alone_naming_the_field(tmp_path):
    path = tmp_path / "bytes.csv"
    path.write_bytes(
        (HEADER + "\n").encode() + row(brand="bad\xffbrand").encode("latin-1") + b"\n" + row(2).encode() + b"\n"
    )
    with open_source(str(path)) as source:
        parser, rows = read_rows(source.text, str(path))
        (bad_line, bad_fields, _), (good_line, good_fields, _) = list(rows)
    with pytest.raises(RowError) as err:
        parser.parse(bad_line, bad_fields)
    assert (err.value.line, err.value.field, err.value.reason) == (2, "brand", "not valid UTF-8 text")
    assert json.loads(parser.parse(good_line, good_fields).encode())["event_time"].endswith("02 UTC")
    assert RowParser().parse(2, row(brand="žiūrovas").split(",")).record["brand"] == "žiūrovas"
