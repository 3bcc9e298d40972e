"""What an alert is, decided without any I/O: the anomaly a Kinesis record holds, its severity,
the keys that make a retry or a duplicate harmless, and the text a person receives.

Only the standard library: this module goes into the Lambda package as it is.
"""

from __future__ import annotations

import base64
import json
import math
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

SEVERITIES = ("info", "warning", "critical")
ANOMALY_TYPES = ("bot_burst", "traffic_spike", "rcf_traffic")


class MalformedRecord(ValueError):
    """A record that is not an anomaly the job writes; the message says what is wrong with it."""


@dataclass(frozen=True)
class Thresholds:
    """The scores at which an anomaly of one type becomes a warning and a critical alert."""

    warning: float
    critical: float


@dataclass(frozen=True)
class AlertSettings:
    """Everything the handler needs, in one JSON-able value (the Lambda gets it as an environment
    variable; locally it is made from the profile)."""

    table: str
    topic_arn: str
    namespace: str = "clickflow"
    min_severity: str = "warning"
    thresholds: dict[str, Thresholds] = field(
        default_factory=lambda: {
            "bot_burst": Thresholds(1.5, 3.0),
            "traffic_spike": Thresholds(3.0, 6.0),
            "rcf_traffic": Thresholds(2.0, 3.0),
        }
    )
    rate_limit_max: int = 3  # notifications per (type, entity) ...
    rate_limit_period: float = 3600.0  # ... per this many seconds of event time
    webhook: str = ""

    def to_json(self) -> str:
        """The settings as one JSON string (how the Lambda receives them, in one environment variable)."""
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> AlertSettings:
        """The settings back from :meth:`to_json`'s string."""
        data = json.loads(text)
        data["thresholds"] = {kind: Thresholds(**levels) for kind, levels in data.get("thresholds", {}).items()}
        return cls(**data)


@dataclass(frozen=True)
class Anomaly:
    """One row of the anomalies stream, parsed: a bot burst or a traffic spike of one entity in one window."""

    anomaly_type: str
    entity: str
    window_start: datetime
    window_end: datetime
    observed: int
    expected: float | None
    score: float

    @property
    def key(self) -> tuple[str, str]:
        """The DynamoDB key: (anomaly type + entity, window start). One item per distinct anomaly."""
        return f"{self.anomaly_type}#{self.entity}", format_time(self.window_start)

    def rate_key(self, period: float) -> tuple[str, str]:
        """The rate-limit counter this anomaly counts against: its type and entity, and the period
        of event time its window starts in (so a replay counts exactly as the first run did)."""
        epoch = self.window_start.timestamp()
        bucket = datetime.fromtimestamp(epoch - epoch % period, UTC).replace(tzinfo=None)
        return f"rate#{self.anomaly_type}#{self.entity}", format_time(bucket)


def format_time(moment: datetime) -> str:
    """``YYYY-MM-DD HH:MM:SS`` (UTC), with milliseconds only when they are not zero — as the job writes."""
    text = moment.strftime("%Y-%m-%d %H:%M:%S")
    millis = moment.microsecond // 1000
    return f"{text}.{millis:03d}" if millis else text


def _parse_time(value: object, name: str) -> datetime:
    if not isinstance(value, str):
        raise MalformedRecord(f"{name}: expected a time like '2019-10-01 00:00:10', got {value!r}")
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "").replace("T", " "))
    except ValueError:
        raise MalformedRecord(f"{name}: not a time: {value!r}") from None
    return moment.replace(tzinfo=None) if moment.tzinfo is None else moment.astimezone(UTC).replace(tzinfo=None)


def _number(value: object, name: str, optional: bool = False) -> float | None:
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise MalformedRecord(f"{name}: expected a finite number, got {value!r}")
    return float(value)


def parse_anomaly(data: bytes) -> Anomaly:
    """The anomaly in one record's data (the job's JSON row), or MalformedRecord saying why not."""
    try:
        row = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        preview = data[:60].decode("utf-8", "replace")
        raise MalformedRecord(f"not JSON: {preview!r}") from None
    if not isinstance(row, dict):
        raise MalformedRecord(f"expected a JSON object, got {type(row).__name__}")
    missing = [k for k in ("anomaly_type", "entity", "window_start", "window_end", "observed", "score") if k not in row]
    if missing:
        raise MalformedRecord(f"missing field {missing[0]}")
    kind = row["anomaly_type"]
    if kind not in ANOMALY_TYPES:
        raise MalformedRecord(f"unknown anomaly_type {kind!r} (expected {' or '.join(ANOMALY_TYPES)})")
    entity = row["entity"]
    if not isinstance(entity, (str, int)) or isinstance(entity, bool) or str(entity) == "":
        raise MalformedRecord(f"entity: expected a user id or 'all', got {entity!r}")
    observed = _number(row["observed"], "observed")
    assert observed is not None  # required: _number refuses a missing one
    if observed != int(observed) or observed < 0:
        raise MalformedRecord(f"observed: expected a count, got {row['observed']!r}")
    start, end = _parse_time(row["window_start"], "window_start"), _parse_time(row["window_end"], "window_end")
    if end <= start:
        raise MalformedRecord(f"window_end {row['window_end']} is not after window_start {row['window_start']}")
    return Anomaly(
        anomaly_type=kind,
        entity=str(entity),
        window_start=start,
        window_end=end,
        observed=int(observed),
        expected=_number(row.get("expected"), "expected", optional=True),
        score=float(_number(row["score"], "score") or 0.0),  # required: _number refuses a missing one
    )


def severity(anomaly: Anomaly, thresholds: dict[str, Thresholds]) -> str:
    """info, warning or critical, from the anomaly's score and its type's thresholds."""
    levels = thresholds[anomaly.anomaly_type]
    if anomaly.score >= levels.critical:
        return "critical"
    if anomaly.score >= levels.warning:
        return "warning"
    return "info"


def at_least(level: str, minimum: str) -> bool:
    """Whether severity ``level`` is ``minimum`` or above (info < warning < critical)."""
    return SEVERITIES.index(level) >= SEVERITIES.index(minimum)


def _window_text(anomaly: Anomaly) -> str:
    seconds = (anomaly.window_end - anomaly.window_start).total_seconds()
    length = f"{seconds:g} s" if seconds < 120 else f"{seconds / 60:g} min"
    return f"{format_time(anomaly.window_start)} to {format_time(anomaly.window_end)[11:]} UTC ({length} window)"


def message(anomaly: Anomaly, level: str, settings: AlertSettings) -> tuple[str, str]:
    """The notification's subject (at most 100 characters, as SNS requires) and body."""
    levels = settings.thresholds[anomaly.anomaly_type]
    if anomaly.anomaly_type == "bot_burst":
        what, who = "bot burst", f"user {anomaly.entity}"
        how = (
            f"{anomaly.observed} events in the window; more than {anomaly.expected:g} is flagged "
            f"({anomaly.score:.2f}x the threshold)"
            if anomaly.expected is not None
            else f"{anomaly.observed} events in the window (score {anomaly.score:.2f})"
        )
    elif anomaly.anomaly_type == "rcf_traffic":
        feature, _, direction = anomaly.entity.partition(" ")
        what, who = "unusual traffic", f"{feature.replace('_', ' ')} {direction}".strip()
        how = (
            f"{anomaly.observed} events; the Random Cut Forest scored the window {anomaly.score:.2f} (flagged above "
            f"{anomaly.expected:g}), most of it for its {feature.replace('_', ' ')} being unusually {direction}"
            if anomaly.expected is not None
            else f"{anomaly.observed} events; anomaly score {anomaly.score:.2f}"
        )
    else:
        what, who = "traffic spike", "all traffic" if anomaly.entity == "all" else anomaly.entity
        expected = f"{anomaly.expected:g}" if anomaly.expected is not None else "?"
        how = (
            f"{anomaly.observed} events against {expected} expected from the windows before it "
            f"({anomaly.score:.2f} standard deviations above normal)"
        )
    subject = f"[{level}] clickflow {what}: {who} at {format_time(anomaly.window_start)}"[:100]
    body = "\n".join(
        [
            f"clickflow detected a {what}.",
            "",
            f"Who:       {who}",
            f"When:      {_window_text(anomaly)}",
            f"How much:  {how}",
            f"Severity:  {level} (score {anomaly.score:.2f}; warning from {levels.warning:g}, "
            f"critical from {levels.critical:g})",
        ]
    )
    return subject, body


def message_attributes(anomaly: Anomaly, level: str) -> dict[str, dict[str, str]]:
    """SNS message attributes, for subscription filter policies by type and severity."""
    return {
        "anomaly_type": {"DataType": "String", "StringValue": anomaly.anomaly_type},
        "severity": {"DataType": "String", "StringValue": level},
        "entity": {"DataType": "String", "StringValue": anomaly.entity},
        "score": {"DataType": "Number", "StringValue": repr(anomaly.score)},
    }


def decode_kinesis_record(record: dict) -> tuple[str, bytes]:
    """(the record's sequence number, its data) from one entry of a Lambda Kinesis event."""
    try:
        kinesis = record["kinesis"]
        return kinesis["sequenceNumber"], base64.b64decode(kinesis["data"], validate=True)
    except (KeyError, TypeError, ValueError) as exc:
        raise MalformedRecord(f"not a Kinesis event record ({type(exc).__name__}: {exc})") from None
