"""Hypothesis strategies for clickstream records as they reach the events stream: valid events,
borderline ones (zero prices, the largest ids, the first millisecond after the epoch) and hostile
ones (negative and fractional numbers, ids as strings, huge numbers, impossible dates, the epoch,
far-future times, wrong types, missing, null and extra fields, JSON that is not an object, bytes
that are not UTF-8, NaN and other literals that are not JSON)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from hypothesis import strategies as st

EVENT_TYPES = ["view", "cart", "remove_from_cart", "purchase"]
BIGINT_MAX = 2**63 - 1

TIME_FORMS = ("%Y-%m-%d %H:%M:%S UTC", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S")


@st.composite
def event_times(draw) -> str:
    moment = draw(st.datetimes(min_value=datetime(2019, 10, 1), max_value=datetime(2019, 10, 1, 2)))
    text = moment.strftime(draw(st.sampled_from(TIME_FORMS)))
    if draw(st.booleans()):  # a fraction of 1 to 3 digits, before the zone
        digits = draw(st.sampled_from(["5", "25", "250", "999", "001"]))
        zone = " UTC" if text.endswith(" UTC") else ("Z" if text.endswith("Z") else "")
        text = text.removesuffix(zone) + "." + digits + zone
    return text


texts = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)


@st.composite
def valid_records(draw) -> dict:
    record = {
        "event_time": draw(event_times()),
        "event_type": draw(st.sampled_from(EVENT_TYPES)),
        "product_id": draw(st.integers(0, BIGINT_MAX)),
        "category_id": draw(st.integers(0, BIGINT_MAX)),
        "price": draw(st.one_of(st.floats(0, 1e6), st.integers(0, 10**6), st.just(0))),
        "user_id": draw(st.integers(0, BIGINT_MAX)),
    }
    for name in ("category_code", "brand", "user_session"):
        choice = draw(st.sampled_from(["absent", "null", "text"]))
        if choice != "absent":
            record[name] = None if choice == "null" else draw(texts)
    return record


# JSON text substituted for a field's value: (literal, is it JSON at all)
HOSTILE_VALUES = {
    "event_time": [
        '"1970-01-01 00:00:00"',
        '"1970-01-01 00:00:00.001"',
        '"1969-12-31 23:59:59 UTC"',
        '"9999-12-31 23:59:59"',
        '"0000-01-01 00:00:00"',
        '"2019-02-29 00:00:00"',
        '"2019-10-01 24:00:00"',
        '"2019-10-01 23:59:60"',
        '"2019-10-01T00:00:00.1234Z"',
        '"2019-10-01 00:00:00 CET"',
        '"2019-10-01 00:00:00\\n"',
        '"2019-10-01 00:00:00\\udc00"',
        '"٢٠١٩-10-01 00:00:00"',
        '"yesterday"',
        '""',
        "1569888000",
        "true",
        "[]",
    ],
    "event_type": ['"VIEW"', '"click"', '""', "1", "null", '["view"]', '"\\ud800"', '"vi\\u00e9w"'],
    "id": [
        "-1",
        "0",
        "-0",
        "1.5",
        "1.0",
        "1e3",
        "1E2",
        str(BIGINT_MAX),
        str(BIGINT_MAX + 1),
        "99999999999999999999999999",
        "9" * 1200,
        '"12"',
        '"1.5"',
        "true",
        "false",
        "{}",
        "01",
    ],
    "price": [
        "-1",
        "-0.0",
        "0",
        "0.0",
        "1e400",
        "-1e400",
        "1e-400",
        "NaN",
        "Infinity",
        '"NaN"',
        '"12.5"',
        "true",
        "[1]",
        "1" + "0" * 400,
        "1." + "5" * 1100,
    ],
    "text": ["1", "true", "{}", '["a"]', '"\\u0000"', '"\\ud800"'],
}

WHOLE_PAYLOADS = [
    b"",
    b"   ",
    b"this is not json",
    b"[]",
    b"[1, 2]",
    b"42",
    b'"a string"',
    b"null",
    b"{",
    b"\xff\xfe",
    b"\xef\xbb\xbf{}",
]


def _kind(name: str) -> str:
    return {"product_id": "id", "category_id": "id", "user_id": "id"}.get(name) or (
        "text" if name in ("category_code", "brand", "user_session") else name
    )


@st.composite
def payloads(draw) -> bytes:
    """One record's bytes: valid, or spoilt in one of many ways."""
    shape = draw(st.sampled_from(["valid", "valid", "field", "field", "field", "missing", "extra", "whole", "bytes"]))
    if shape == "whole":
        return draw(st.sampled_from(WHOLE_PAYLOADS))
    record = draw(valid_records())
    ensure_ascii = draw(st.booleans())
    if shape == "missing":
        name = draw(st.sampled_from(sorted(record)))
        if draw(st.booleans()):
            del record[name]
        else:
            record[name] = None
    if shape == "extra":
        record[draw(st.sampled_from(["extra", "event_time_2", "Price"]))] = draw(st.one_of(texts, st.integers()))
    text = json.dumps(record, ensure_ascii=ensure_ascii)
    if shape == "field":
        name = draw(
            st.sampled_from(
                [
                    "event_time",
                    "event_type",
                    "product_id",
                    "category_id",
                    "price",
                    "user_id",
                    "category_code",
                    "brand",
                    "user_session",
                ]
            )
        )
        literal = draw(st.sampled_from(HOSTILE_VALUES[_kind(name)]))
        record[name] = "__HOSTILE__"
        text = json.dumps(record, ensure_ascii=ensure_ascii).replace('"__HOSTILE__"', literal)
    if shape == "bytes":  # a valid record with a byte that is not UTF-8 inside a string
        return text.encode("utf-8").replace(b'"event_type": "', b'"event_type": "\xc3', 1)
    if draw(st.booleans()):
        text = draw(st.sampled_from(["", " ", "\t"])) + text + draw(st.sampled_from(["", "", "", " ", " x", "}"]))
    return text.encode("utf-8")


def records_in_time(payload_list: list[bytes]) -> list[bytes]:
    """The valid events of a sample retimed one second apart in list order, so that a job over them
    in that order drops none as late (the invalid ones are left as they are)."""
    from producer.valid_event import check

    start, out = datetime(2019, 10, 1), []
    for i, payload in enumerate(payload_list):
        verdict = check(payload)
        if verdict.valid:
            record = dict(verdict.record)
            record["event_time"] = (start + timedelta(seconds=i)).strftime("%Y-%m-%d %H:%M:%S UTC")
            payload = json.dumps(record).encode()
        out.append(payload)
    return out
