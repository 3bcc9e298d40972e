"""The valid-event rule of ``sql/valid_event.json``, read in Python: one record's bytes in, either the
event or the reason it is not one.

The same file is read by the Flink jobs' ``CHECK_EVENT`` and ``EVENT_TIME`` (Java, in the functions
jar), and ``tests/integration/test_valid_event.py`` holds the two readings to the same verdict and the
same reason on generated valid, borderline and hostile records. ``analyze`` applies this to JSON
lines; the producer's CSV row parser (``producer.rows``) only ever emits records this accepts.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

RULE_FILE = Path(__file__).resolve().parents[1] / "sql" / "valid_event.json"
RULE = json.loads(RULE_FILE.read_text(encoding="utf-8"))
FIELDS: list[dict] = RULE["fields"]
REASONS: dict[str, str] = RULE["reasons"]
TIME_AFTER = datetime.fromisoformat(RULE["time_after"])
VALUE_CHARS: int = RULE["value_chars"]
BIGINT_MAX = 2**63 - 1

_TIME = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[ T]([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]{1,3}))?(?: UTC|Z)?"
)


@dataclass(frozen=True)
class Verdict:
    """``reason`` None: a valid event (``record`` holds it, ``event_time`` its time); else why not."""

    reason: str | None
    record: dict | None = None
    event_time: datetime | None = None

    @property
    def valid(self) -> bool:
        """Whether the record passed the rule."""
        return self.reason is None


def _reason(key: str, field: str, value: str | None = None) -> str:
    text = REASONS[key].replace("{field}", field)
    if value is not None:
        text = text.replace("{value}", value[:VALUE_CHARS])
    return text


def _no_constant(name: str):
    raise ValueError(f"{name} is not JSON")  # NaN, Infinity: Python's json accepts them, JSON does not


# Jackson, which reads the records in Flink, refuses a number written with more than 1,000 characters
MAX_NUMBER_CHARS = 1000


def _int(text: str) -> int:
    if len(text) > MAX_NUMBER_CHARS:
        raise ValueError("number too long")
    return int(text)


def _float(text: str) -> float:
    if len(text) > MAX_NUMBER_CHARS:
        raise ValueError("number too long")
    return float(text)


def _unicode(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate, from a JSON escape such as \ud800
        return False
    return True


def parse_time(text: str) -> datetime | None:
    """A strict event time: the rule's forms, a real calendar date and clock time, or None."""
    match = _TIME.fullmatch(text)
    if not match:
        return None
    year, month, day, hour, minute, second, fraction = match.groups()
    millis = int((fraction + "00")[:3]) if fraction else 0
    try:
        return datetime(int(year), int(month), int(day), int(hour), int(minute), int(second), millis * 1000)
    except ValueError:
        return None


def check(payload: bytes) -> Verdict:
    """The rule applied to one record's bytes (as they are on the stream or a JSON-lines file)."""
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        return Verdict(REASONS["not_utf8"])
    try:
        record = json.loads(text, parse_constant=_no_constant, parse_int=_int, parse_float=_float)
    except (ValueError, RecursionError):
        return Verdict(REASONS["not_object"])
    if not isinstance(record, dict):
        return Verdict(REASONS["not_object"])
    for field in FIELDS:
        if field.get("required") and record.get(field["name"]) is None:
            return Verdict(_reason("missing", field["name"]))
    event_time = None
    for field in FIELDS:
        name, kind, value = field["name"], field["kind"], record.get(field["name"])
        if value is None:
            continue
        if kind in ("time", "choice", "text"):
            if not isinstance(value, str):
                return Verdict(_reason("not_string", name))
            if not _unicode(value):
                return Verdict(_reason("not_unicode", name))
        if kind == "time":
            moment = parse_time(value)
            if moment is None:
                return Verdict(_reason("time", name, value))
            if moment <= TIME_AFTER:
                return Verdict(_reason("time_range", name, value))
            event_time = moment
        elif kind == "choice":
            if value not in field["choices"]:
                return Verdict(_reason("choice", name, value))
        elif kind == "id":
            if type(value) is not int:  # bool is an int to Python, not to JSON
                return Verdict(_reason("id", name))
            if not 0 <= value <= BIGINT_MAX:
                return Verdict(_reason("id_range", name))
        elif kind == "amount":
            if type(value) not in (int, float):
                return Verdict(_reason("amount", name))
            try:
                amount = float(value)
            except OverflowError:  # an integer beyond any double
                amount = math.inf
            if not math.isfinite(amount) or amount < 0:
                return Verdict(_reason("amount_range", name))
        elif kind == "text":
            pass  # any (Unicode) string
        else:
            raise ValueError(f"{RULE_FILE}: unknown kind {kind!r}")
    return Verdict(None, record, event_time)
