"""What the dashboard shows, kept from the rows of the job's output streams — in bounded memory.

Every panel keeps only what its chart draws (the last ``Limits`` windows, hours, sessions,
anomalies, reasons), so hours of history cost the same as minutes. Rows are folded in by their key
(a window, a session, an anomaly), so a row the job's at-least-once sink wrote twice changes
nothing. Pure Python, no I/O: the stream readers feed it, the web server reads snapshots.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


@dataclass(frozen=True)
class Limits:
    """How much of each series the dashboard keeps: what the charts show, no more."""

    windows: int = 720  # per-minute series: 12 hours at 1m windows
    top_windows: int = 2  # top categories: the current and the previous window (hour)
    cart_hours: int = 48  # abandoned carts per hour
    latest_carts: int = 15  # the table of the latest abandoned sessions
    anomalies: int = 100  # the feed, newest first
    reasons: int = 30  # distinct dead-letter reasons; the rest are counted as "other"


@dataclass
class StreamStatus:
    """What the header shows for one stream: its status, records read, the last one's time, the reader's lag."""

    role: str
    name: str
    status: str = "connecting"  # connecting | empty | live | missing | unreachable
    records: int = 0
    last_arrival: datetime | None = None
    lag_ms: int | None = None  # Kinesis's MillisBehindLatest of the last read
    error: str = ""

    def as_json(self) -> dict:
        """The stream's status as the page receives it."""
        return {
            "role": self.role,
            "name": self.name,
            "status": self.status,
            "records": self.records,
            "last_record": self.last_arrival.astimezone(UTC).isoformat(timespec="seconds")
            if self.last_arrival
            else None,
            "lag_ms": self.lag_ms,
            "error": self.error,
        }


def _bounded_put(table: dict, key, value, limit: int) -> None:
    """Put ``key`` and drop the smallest keys (the oldest windows) beyond ``limit``."""
    table[key] = value
    while len(table) > limit:
        del table[min(table)]


def reason_family(reason: str) -> str:
    """A dead letter's reason without the record's own text ("unparsable event_time: 01/10/2019" ->
    "unparsable event_time"), so the count per reason has few keys."""
    return reason.split(":", 1)[0].strip() or "(no reason)"


@dataclass
class DashboardState:
    """Everything the page shows, folded from the streams' rows under a lock; ``version`` grows with each change."""

    profile: str
    limits: Limits = field(default_factory=Limits)
    version: int = 0
    streams: dict[str, StreamStatus] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self.visitors: dict[str, dict] = {}
        self.page_views: dict[str, dict] = {}
        self.top: dict[str, dict[int, dict]] = {}
        # abandoned carts per hour of session end: {(user_session, session_start): value}, the last hours only
        self.cart_hours: dict[str, dict[tuple[str, str], float]] = {}
        self.latest_carts: dict[tuple[str, str, str], dict] = {}  # (session_end, session, start) -> row
        self.anomalies: dict[tuple[str, str, str], dict] = {}
        self.reasons: Counter = Counter()
        self.rows = 0
        self.unreadable = 0

    def watch(self, role: str, name: str) -> None:
        """Add a stream to the header, as connecting."""
        with self._lock:
            self.streams[role] = StreamStatus(role, name)
            self.version += 1

    def set_status(self, role: str, status: str, error: str = "", lag_ms: int | None = None) -> None:
        """Record a stream's status (and error, lag); a change bumps the version so the page is told."""
        with self._lock:
            stream = self.streams[role]
            changed = (stream.status, stream.error) != (status, error) or (
                lag_ms is not None and lag_ms != stream.lag_ms
            )
            stream.status, stream.error = status, error
            if lag_ms is not None:
                stream.lag_ms = lag_ms
            if changed:
                self.version += 1

    def note_read(self, role: str, lag_ms: int | None = None) -> None:
        """A read of the stream succeeded: it is live once it has given a record, else empty."""
        with self._lock:
            stream = self.streams[role]
            status = "live" if stream.records else "empty"
            if (stream.status, stream.error, stream.lag_ms) != (
                status,
                "",
                lag_ms if lag_ms is not None else stream.lag_ms,
            ):
                stream.status, stream.error = status, ""
                if lag_ms is not None:
                    stream.lag_ms = lag_ms
                self.version += 1

    def stream_recreated(self, role: str) -> None:
        """The stream was deleted and made again: what it held is gone, so is what came from it."""
        with self._lock:
            panels: dict[str, list[Any]] = {
                "unique_visitors": [self.visitors],
                "active_page_views": [self.page_views],
                "top_categories": [self.top],
                "cart_abandonment": [self.cart_hours, self.latest_carts],
                "anomalies": [self.anomalies],
                "dead_letters": [self.reasons],
            }
            for panel in panels.get(role, []):
                panel.clear()
            self.streams[role].records = 0
            self.version += 1

    def add(self, role: str, rows: list[dict], arrival: datetime | None = None) -> None:
        """Fold rows of one output stream in (already decoded JSON objects)."""
        with self._lock:
            for row in rows:
                self._fold(role, row)
            stream = self.streams.get(role)
            if stream is not None:
                stream.records += len(rows)
                if arrival is not None:
                    stream.last_arrival = arrival
                stream.status = "live"
            self.rows += len(rows)
            self.version += 1

    def _fold(self, role: str, row: dict) -> None:
        limits = self.limits
        try:
            if role == "unique_visitors":
                _bounded_put(
                    self.visitors,
                    row["window_start"],
                    {"users": row["unique_users"], "sessions": row["unique_sessions"], "events": row["events"]},
                    limits.windows,
                )
            elif role == "active_page_views":
                _bounded_put(
                    self.page_views,
                    row["window_start"],
                    {"views": row["page_views"], "sessions": row["active_sessions"]},
                    limits.windows,
                )
            elif role == "top_categories":
                window = self.top.get(row["window_start"], {})
                window[row["rank"]] = {
                    "rank": row["rank"],
                    "category_id": str(row["category_id"]),
                    "category_code": row.get("category_code"),
                    "views": row["views"],
                    "purchases": row["purchases"],
                    "revenue": float(row["revenue"]),
                }
                _bounded_put(self.top, row["window_start"], window, limits.top_windows)
            elif role == "cart_abandonment":
                value = float(row["cart_value"])
                hour = row["session_end"][:13] + ":00"
                sessions = self.cart_hours.get(hour, {})
                sessions[(row["user_session"], row["session_start"])] = value
                _bounded_put(self.cart_hours, hour, sessions, limits.cart_hours)
                cart = {
                    "user_session": row["user_session"],
                    "user_id": row["user_id"],
                    "session_start": row["session_start"],
                    "session_end": row["session_end"],
                    "carted_products": row["carted_products"],
                    "cart_value": value,
                }
                key = (row["session_end"], row["user_session"], row["session_start"])
                _bounded_put(self.latest_carts, key, cart, limits.latest_carts)
            elif role == "anomalies":
                key = (row["window_start"], row["anomaly_type"], str(row["entity"]))
                _bounded_put(
                    self.anomalies,
                    key,
                    {
                        "anomaly_type": row["anomaly_type"],
                        "entity": str(row["entity"]),
                        "window_start": row["window_start"],
                        "window_end": row["window_end"],
                        "observed": row["observed"],
                        "expected": row.get("expected"),
                        "score": row["score"],
                    },
                    limits.anomalies,
                )
            elif role == "dead_letters":
                family = reason_family(str(row.get("reason", "")))
                if family not in self.reasons and len(self.reasons) >= limits.reasons:
                    family = "other"
                self.reasons[family] += 1
        except (KeyError, TypeError, ValueError):
            self.unreadable += 1  # shown in the header: a row of another shape than the job writes

    def snapshot(self) -> dict:
        """Everything the page draws, as JSON values."""
        with self._lock:
            tops = [(k, self.top[k]) for k in sorted(self.top)]
            return {
                "version": self.version,
                "profile": self.profile,
                "now": datetime.now(UTC).isoformat(timespec="seconds"),
                "rows": self.rows,
                "unreadable": self.unreadable,
                "streams": [s.as_json() for s in self.streams.values()],
                "visitors": [{"window": k, **self.visitors[k]} for k in sorted(self.visitors)],
                "page_views": [{"window": k, **self.page_views[k]} for k in sorted(self.page_views)],
                "top": {
                    "current": self._top_json(tops[-1]) if tops else None,
                    "previous": self._top_json(tops[-2]) if len(tops) > 1 else None,
                },
                "carts": {
                    "hours": [
                        {
                            "hour": h,
                            "count": len(self.cart_hours[h]),
                            "value": round(sum(self.cart_hours[h].values()), 2),
                        }
                        for h in sorted(self.cart_hours)
                    ],
                    "latest": [self.latest_carts[k] for k in sorted(self.latest_carts, reverse=True)],
                },
                "anomalies": [self.anomalies[k] for k in sorted(self.anomalies, reverse=True)],
                "dead_letters": [{"reason": r, "count": n} for r, n in self.reasons.most_common()],
            }

    @staticmethod
    def _top_json(item: tuple[str, dict[int, dict]]) -> dict:
        window, ranks = item
        return {"window": window, "rows": [ranks[r] for r in sorted(ranks)]}
