"""The valid-event rule as Python reads it (producer/valid_event.py): properties over generated
records, and the producer's CSV row parser held to it. (The Java reading, in Flink, is held to this
one in tests/integration/test_valid_event.py.)"""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from producer import valid_event
from producer.rows import COLUMNS, RowError, RowParser
from tests.event_strategies import payloads, valid_records


@given(valid_records())
def test_every_valid_record_is_a_valid_event_with_its_own_time(record):
    verdict = valid_event.check(json.dumps(record).encode())
    assert verdict.valid and verdict.record == record
    assert verdict.event_time == valid_event.parse_time(record["event_time"])


@given(payloads())
@settings(max_examples=400)
def test_every_record_gets_exactly_one_verdict_and_a_reason_names_what_is_wrong(payload):
    verdict = valid_event.check(payload)
    assert (verdict.reason is None) == (verdict.record is not None)
    if verdict.reason is not None:
        named = [f["name"] for f in valid_event.FIELDS if f["name"] in verdict.reason]
        assert named or verdict.reason in (valid_event.REASONS["not_object"], valid_event.REASONS["not_utf8"])
        assert len(verdict.reason) < 300  # a quoted value is cut short


def test_the_borderlines():
    def reason(**changes):
        record = {"event_time": "2019-10-01 00:00:00 UTC", "event_type": "view", "product_id": 1}
        record |= {"category_id": 2, "price": 0, "user_id": 3, **changes}
        return valid_event.check(json.dumps(record).encode()).reason

    assert reason() is None  # a price of zero is a price
    assert reason(product_id=2**63 - 1) is None
    assert reason(product_id=2**63) == "product_id is out of range (0 to 9223372036854775807)"
    assert reason(price=-0.01) == "price is not finite and 0 or more"
    assert reason(product_id=1.5) == reason(product_id=1.0) == "product_id is not a whole number"
    assert reason(product_id="12") == "product_id is not a whole number"  # ids are JSON numbers
    assert reason(user_id=True) == "user_id is not a whole number"
    assert reason(event_time="1970-01-01 00:00:00") == (
        "event_time is not after 1970-01-01 00:00:00 UTC: 1970-01-01 00:00:00"
    )
    assert reason(event_time="1970-01-01 00:00:00.001") is None
    assert reason(event_time="2019-02-29 00:00:00") == "unparsable event_time: 2019-02-29 00:00:00"
    assert reason(event_time="x" * 500) == "unparsable event_time: " + "x" * valid_event.VALUE_CHARS
    assert reason(brand=5) == "brand is not a string"
    assert valid_event.check(b'{"price": NaN}').reason == "not a JSON object"  # NaN is not JSON
    assert valid_event.check(b"\xff").reason == "not UTF-8 text"


# CSV fields as a file might hold them: plausible values and near misses, for every column
csv_fields = st.fixed_dictionaries(
    {
        "event_time": st.one_of(
            st.sampled_from(
                ["2019-10-01 00:00:00 UTC", "1970-01-01 00:00:00", "2019-02-30 00:00:00", " 2019-10-01T01:02:03Z"]
            ),
            st.text(max_size=5),
        ),
        "event_type": st.sampled_from(["view", "cart", "purchase", "remove_from_cart", "View", "", "click"]),
        "product_id": st.one_of(st.integers(-5, 2**64).map(str), st.sampled_from(["1.5", "", " 7 ", "0x1f", "٣"])),
        "category_id": st.one_of(st.integers(0, 2**63 + 5).map(str), st.sampled_from(["", "00012", "1e3"])),
        "category_code": st.sampled_from(["", "electronics.smartphone", "é"]),
        "brand": st.sampled_from(["", "apple", "\udcff"]),  # a byte that was not UTF-8, as the source reads it
        "price": st.one_of(
            st.floats(allow_nan=True, allow_infinity=True).map(repr),
            st.sampled_from(["", "12.5", "-1", "nan", "inf", "1e400", "0", "abc"]),
        ),
        "user_id": st.one_of(st.integers(0, 10**20).map(str), st.just("")),
        "user_session": st.sampled_from(["", "s-1", "\udcfe"]),
    }
)


def as_record_bytes(fields: dict) -> bytes:
    """A CSV row as the JSON a careless producer would send: numbers where the text is one."""
    record = {}
    for name, text in fields.items():
        text = text.strip()
        if not text:
            record[name] = None
        elif name in ("product_id", "category_id", "user_id") and text.isascii() and text.isdigit():
            record[name] = int(text)
        elif name == "price":
            try:
                record[name] = float(text)
            except ValueError:
                record[name] = text
        else:
            record[name] = text
    return json.dumps(record, ensure_ascii=False).encode("utf-8", "surrogateescape")


@given(csv_fields)
@settings(max_examples=500)
def test_the_csv_row_parser_accepts_exactly_the_rows_the_rule_accepts(fields):
    try:
        event = RowParser().parse(2, [fields[c] for c in COLUMNS])
    except RowError:
        assert not valid_event.check(as_record_bytes(fields)).valid, fields
    else:
        verdict = valid_event.check(event.encode())  # what the producer puts on the stream
        assert verdict.valid, (fields, verdict.reason)
        assert valid_event.check(as_record_bytes(fields)).valid
