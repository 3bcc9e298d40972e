"""The dashboard's aggregation of stream rows into chart series: what each panel keeps, that a row
written twice changes nothing, and that memory stays bounded however long it runs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from clickflow.dashboard.state import DashboardState, Limits, reason_family

START = datetime(2019, 10, 1, tzinfo=UTC)


def minute(n: int) -> str:
    return (START + timedelta(minutes=n)).strftime("%Y-%m-%d %H:%M:%S")


def visitors(n: int, users: int) -> dict:
    return {
        "analytic": "unique_visitors",
        "window_start": minute(n),
        "window_end": minute(n + 1),
        "unique_users": users,
        "unique_sessions": users + 1,
        "events": users * 3,
    }


def test_series_are_ordered_by_window_and_a_duplicate_row_changes_nothing():
    state = DashboardState("local")
    state.watch("unique_visitors", "uv")
    state.add("unique_visitors", [visitors(2, 20), visitors(0, 5), visitors(1, 10)])
    state.add("unique_visitors", [visitors(1, 10)])  # the at-least-once sink wrote it again
    snap = state.snapshot()
    assert [(v["window"][11:16], v["users"], v["sessions"]) for v in snap["visitors"]] == [
        ("00:00", 5, 6),
        ("00:01", 10, 11),
        ("00:02", 20, 21),
    ]
    assert snap["streams"][0]["status"] == "live" and snap["streams"][0]["records"] == 4


def test_memory_is_bounded_by_what_the_charts_show():
    limits = Limits(windows=60, top_windows=2, cart_hours=3, latest_carts=5, anomalies=10, reasons=4)
    state = DashboardState("local", limits)
    for role in ("unique_visitors", "top_categories", "cart_abandonment", "anomalies", "dead_letters"):
        state.watch(role, role)
    for n in range(5000):  # more than three days of minutes
        state.add("unique_visitors", [visitors(n, n)])
        hour = minute(n)[:13] + ":00:00"
        state.add(
            "top_categories",
            [
                {
                    "window_start": hour,
                    "rank": 1 + n % 3,
                    "category_id": n,
                    "category_code": None,
                    "views": n,
                    "purchases": 0,
                    "revenue": "0.00",
                }
            ],
        )
        state.add(
            "cart_abandonment",
            [
                {
                    "user_session": f"s{n}",
                    "user_id": n,
                    "session_start": minute(n),
                    "session_end": minute(n),
                    "carted_products": 1,
                    "cart_value": 2.5,
                }
            ],
        )
        state.add(
            "anomalies",
            [
                {
                    "anomaly_type": "bot_burst",
                    "entity": str(n),
                    "window_start": minute(n),
                    "window_end": minute(n + 1),
                    "observed": 20,
                    "expected": 10.0,
                    "score": 2.0,
                }
            ],
        )
        state.add("dead_letters", [{"reason": f"unparsable event_time: junk{n}" if n % 2 else f"reason {n}"}])
    snap = state.snapshot()
    assert len(snap["visitors"]) == 60 and snap["visitors"][-1]["window"] == minute(4999)
    assert snap["top"]["current"]["window"] == minute(4999)[:13] + ":00:00"
    assert snap["top"]["previous"]["window"] < snap["top"]["current"]["window"]
    assert len(state.top) == 2 and len(state.cart_hours) == 3 and len(state.latest_carts) == 5
    assert [h["count"] for h in snap["carts"]["hours"]] == [60, 60, 20]  # 4999 is minute 19 of its hour
    assert snap["carts"]["latest"][0]["session_end"] == minute(4999)
    assert len(snap["anomalies"]) == 10 and snap["anomalies"][0]["entity"] == "4999"  # newest first
    reasons = {d["reason"]: d["count"] for d in snap["dead_letters"]}
    assert len(reasons) <= 5 and reasons["unparsable event_time"] == 2500 and "other" in reasons
    assert sum(reasons.values()) == 5000  # capped in kinds, never in counts


def test_a_recreated_stream_starts_its_panel_over_and_statuses_are_kept():
    state = DashboardState("local")
    state.watch("anomalies", "a")
    row = {
        "anomaly_type": "traffic_spike",
        "entity": "all",
        "window_start": minute(1),
        "window_end": minute(2),
        "observed": 99,
        "expected": 10.0,
        "score": 8.9,
    }
    state.add("anomalies", [row, row])
    assert len(state.snapshot()["anomalies"]) == 1
    state.set_status("anomalies", "missing", "stream a does not exist")
    assert state.snapshot()["streams"][0] | {"last_record": None} == {
        "role": "anomalies",
        "name": "a",
        "status": "missing",
        "records": 2,
        "last_record": None,
        "lag_ms": None,
        "error": "stream a does not exist",
    }
    state.stream_recreated("anomalies")
    assert state.snapshot()["anomalies"] == [] and state.streams["anomalies"].records == 0


def test_a_row_of_another_shape_is_counted_not_fatal():
    state = DashboardState("local")
    state.watch("unique_visitors", "uv")
    state.add("unique_visitors", [{"window_start": minute(0)}, visitors(1, 3)])
    snap = state.snapshot()
    assert snap["unreadable"] == 1 and len(snap["visitors"]) == 1
    assert reason_family("unparsable event_time: 01/10/2019") == "unparsable event_time"
