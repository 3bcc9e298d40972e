"""The five analytics computed again in plain Python, from the definitions, for the tests to compare.

Nothing here uses clickflow's parser, its SQL or Flink: the CSV is read with the csv module, times
with strptime, money with Decimal. Rows come out in the shape ``analyze`` writes (JSON values).
"""

from __future__ import annotations

import csv
import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Ev:
    ts: datetime
    type: str
    product: int
    category: int
    code: str | None
    price: str
    user: int
    session: str | None


def parse_time(text: str) -> datetime:
    text = text.strip()
    for suffix in (" UTC", "Z"):
        text = text.removesuffix(suffix)
    text = text.replace("T", " ")
    fmt = "%Y-%m-%d %H:%M:%S.%f" if "." in text else "%Y-%m-%d %H:%M:%S"
    return datetime.strptime(text, fmt).replace(tzinfo=UTC)


def load_csv(path) -> tuple[list[Ev], int]:
    """Valid events, and how many rows were not valid (wrong field count or unreadable time)."""
    events, bad = [], 0
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        next(reader)
        for row in reader:
            if not row:
                continue
            if len(row) != 9:
                bad += 1
                continue
            try:
                ts = parse_time(row[0])
            except ValueError:
                bad += 1
                continue
            events.append(Ev(ts, row[1], int(row[2]), int(row[3]), row[4] or None, row[6], int(row[7]), row[8] or None))
    return events, bad


def show(moment: datetime) -> str:
    """As Flink's JSON writes a TIMESTAMP(3): a fraction only when it is not zero, no trailing zeros."""
    text = moment.strftime("%Y-%m-%d %H:%M:%S")
    millis = moment.microsecond // 1000
    return text + (f".{millis:03d}".rstrip("0") if millis else "")


def bucket(moment: datetime, seconds: float) -> tuple[datetime, datetime]:
    size = round(seconds * 1000)
    offset = (moment - EPOCH) // timedelta(milliseconds=1)
    start = EPOCH + timedelta(milliseconds=offset - offset % size)
    return start, start + timedelta(milliseconds=size)


def money(values) -> float:
    return float(sum((Decimal(v) for v in values), Decimal("0")).quantize(Decimal("0.01")))


def unique_visitors(events, window):
    groups = defaultdict(list)
    for e in events:
        groups[bucket(e.ts, window)].append(e)
    return [
        {
            "analytic": "unique_visitors",
            "window_start": show(s),
            "window_end": show(t),
            "unique_users": len({e.user for e in es}),
            "unique_sessions": len({e.session for e in es if e.session}),
            "events": len(es),
        }
        for (s, t), es in groups.items()
    ]


def active_page_views(events, window):
    groups = defaultdict(list)
    for e in events:
        if e.type == "view":
            groups[bucket(e.ts, window)].append(e)
    return [
        {
            "analytic": "active_page_views",
            "window_start": show(s),
            "window_end": show(t),
            "page_views": len(es),
            "active_sessions": len({e.session for e in es if e.session}),
        }
        for (s, t), es in groups.items()
    ]


def top_categories(events, window, top_n):
    groups = defaultdict(lambda: defaultdict(list))
    for e in events:
        groups[bucket(e.ts, window)][e.category].append(e)
    out = []
    for (s, t), categories in groups.items():
        stats = []
        for category, es in categories.items():
            codes = [e.code for e in es if e.code]
            stats.append(
                {
                    "category_id": category,
                    "category_code": max(codes) if codes else None,
                    "views": sum(e.type == "view" for e in es),
                    "carts": sum(e.type == "cart" for e in es),
                    "purchases": sum(e.type == "purchase" for e in es),
                    "revenue": money(e.price for e in es if e.type == "purchase"),
                }
            )
        stats.sort(key=lambda row: (-row["views"], row["category_id"]))
        for rank, row in enumerate(stats[:top_n], start=1):
            out.append(
                {"analytic": "top_categories", "window_start": show(s), "window_end": show(t), "rank": rank, **row}
            )
    return out


def sessions(events, gap):
    """user_session -> list of sessions (lists of events), split at gaps of ``gap`` seconds or more."""
    by_session = defaultdict(list)
    for e in events:
        if e.session:
            by_session[e.session].append(e)
    out = {}
    for key, es in by_session.items():
        es.sort(key=lambda e: e.ts)
        parts = [[es[0]]]
        for previous, current in zip(es, es[1:], strict=False):
            if (current.ts - previous.ts).total_seconds() >= gap:
                parts.append([])
            parts[-1].append(current)
        out[key] = parts
    return out


def cart_abandonment(events, gap):
    out = []
    for key, parts in sessions(events, gap).items():
        for es in parts:
            carts = [e for e in es if e.type == "cart"]
            if carts and not any(e.type == "purchase" for e in es):
                out.append(
                    {
                        "analytic": "cart_abandonment",
                        "user_session": key,
                        "user_id": min(e.user for e in es),
                        "session_start": show(min(e.ts for e in es)),
                        "session_end": show(max(e.ts for e in es)),
                        "cart_events": len(carts),
                        "carted_products": len({e.product for e in carts}),
                        "cart_value": money(e.price for e in carts),
                    }
                )
    return out


def anomalies(events, bot_window, threshold, spike_window, baseline_windows, min_baseline, stddevs):
    out = []
    per_user = defaultdict(int)
    for e in events:
        per_user[(bucket(e.ts, bot_window), e.user)] += 1
    for ((s, t), user), count in per_user.items():
        if count > threshold:
            out.append(
                {
                    "analytic": "anomalies",
                    "anomaly_type": "bot_burst",
                    "entity": str(user),
                    "window_start": show(s),
                    "window_end": show(t),
                    "observed": count,
                    "expected": float(threshold),
                    "score": count / threshold,
                }
            )
    per_window = defaultdict(int)
    for e in events:
        per_window[bucket(e.ts, spike_window)] += 1
    ordered = sorted(per_window.items())
    for index, ((s, t), observed) in enumerate(ordered):
        baseline = [count for _, count in ordered[max(0, index - baseline_windows) : index]]
        if len(baseline) < min_baseline:
            continue
        mean = sum(baseline) / len(baseline)
        spread = max(math.sqrt(sum((x - mean) ** 2 for x in baseline) / len(baseline)), 1.0)
        if observed > mean + stddevs * spread:
            out.append(
                {
                    "analytic": "anomalies",
                    "anomaly_type": "traffic_spike",
                    "entity": "all",
                    "window_start": show(s),
                    "window_end": show(t),
                    "observed": observed,
                    "expected": round(mean, 3),
                    "score": round((observed - mean) / spread, 3),
                }
            )
    return out


FEATURES = ("events", "heavy_share", "cart_share", "purchase_share", "category_surge")
FLOORS = (1.0, 0.001, 0.001, 0.001, 0.1)  # the spread's floor per feature, as sql/anomalies.sql has it


def _z(value, baseline, floor):
    """(value - mean) / spread against ``baseline``, the spread the population standard deviation floored,
    computed as SQL does (the mean of squares less the squared mean)."""
    mean = sum(baseline) / len(baseline)
    spread = max(math.sqrt(max(sum(x * x for x in baseline) / len(baseline) - mean**2, 0.0)), floor)
    return (value - mean) / spread


def traffic_features(events, window, heavy_events, baseline_windows, min_baseline):
    """Each non-empty window's (start, end, events, the five features), in time order: rcf_traffic's
    definition, from the events."""
    visits = defaultdict(lambda: [0, 0, 0])
    for e in events:
        visit = visits[(bucket(e.ts, window), e.category, e.user)]
        visit[0] += 1
        visit[1] += e.type == "cart"
        visit[2] += e.type == "purchase"
    windows = defaultdict(lambda: {"events": 0, "heavy": 0, "carts": 0, "purchases": 0, "surge": None})
    categories = defaultdict(lambda: defaultdict(int))  # category -> window -> events
    for (key, category, _), (n, carts, purchases) in visits.items():
        w = windows[key]
        w["events"] += n
        w["heavy"] += n if n > heavy_events else 0
        w["carts"] += carts
        w["purchases"] += purchases
        categories[category][key] += n
    for per_window in categories.values():  # a category against its own last windows (those it appeared in)
        ordered = sorted(per_window.items())
        for index, (key, n) in enumerate(ordered):
            baseline = [c for _, c in ordered[max(0, index - baseline_windows) : index]]
            surge = _z(n, baseline, 1.0) if len(baseline) >= min_baseline else 0.0
            windows[key]["surge"] = surge if windows[key]["surge"] is None else max(windows[key]["surge"], surge)
    out = []
    for (s, t), w in sorted(windows.items()):
        n = w["events"]
        out.append((s, t, n, (float(n), w["heavy"] / n, w["carts"] / n, w["purchases"] / n, w["surge"])))
    return out


def standardised(features, baseline_windows, min_baseline):
    """Each window's features as (x - mean) / spread against the windows before it (population standard
    deviation, floored), where at least ``min_baseline`` windows come before it."""
    out = []
    for index, (s, t, n, values) in enumerate(features):
        baseline = [f[3] for f in features[max(0, index - baseline_windows) : index]]
        if len(baseline) < min_baseline:
            continue
        z = [_z(values[d], [b[d] for b in baseline], floor) for d, floor in enumerate(FLOORS)]
        out.append((s, t, n, z))
    return out


def forest_scores(points, trees, sample, decay, shingle, seed, restore_every=0):
    """Scores and per-dimension (high, low) attributions of AWS's Random Cut Forest over ``points`` in
    order: a direct call of the library (tests/java/ForestReference.java); ``restore_every`` n: the forest
    saved and rebuilt from its state every n points."""
    import subprocess

    from connectors.kinesis_connector import build

    source = Path(__file__).resolve().parent / "java" / "ForestReference.java"
    text = "\n".join(",".join(repr(float(x)) for x in p) for p in points) + "\n"
    done = subprocess.run(
        ["java", "-cp", str(build()), str(source), *map(str, (trees, sample, decay, shingle, seed, restore_every))],
        input=text,
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    out = []
    for line in done.stdout.splitlines():
        score, *dims = line.split(",")
        out.append((float(score), [tuple(float(v) for v in d.split(":")) for d in dims]))
    return out


def rcf_traffic(events, config):
    a = config.analytics
    rcf = a.rcf_traffic
    windows = standardised(
        traffic_features(
            events, rcf.window, a.bot_burst.threshold // 2, rcf.baseline_windows, rcf.min_baseline_windows
        ),
        rcf.baseline_windows,
        rcf.min_baseline_windows,
    )
    scored = forest_scores([w[3] for w in windows], rcf.trees, rcf.sample_size, rcf.time_decay, 1, rcf.seed)
    out = []
    for (s, t, n, _), (score, attribution) in zip(windows, scored, strict=True):
        if score <= rcf.threshold:
            continue
        totals = [high + low for high, low in attribution]
        top = max(range(len(FEATURES)), key=lambda d: (totals[d], -d))  # the first of equals, as SQL's CASE
        high, low = attribution[top]
        out.append(
            {
                "analytic": "anomalies",
                "anomaly_type": "rcf_traffic",
                "entity": f"{FEATURES[top]} {'high' if high >= low else 'low'}",
                "window_start": show(s),
                "window_end": show(t),
                "observed": n,
                "expected": float(rcf.threshold),
                "score": round(score, 3),
            }
        )
    return out


def all_analytics(events, config) -> dict[str, list[dict]]:
    a = config.analytics
    return {
        "unique_visitors": unique_visitors(events, a.unique_visitors.window),
        "active_page_views": active_page_views(events, a.active_page_views.window),
        "top_categories": top_categories(events, a.top_categories.window, a.top_categories.top_n),
        "cart_abandonment": cart_abandonment(events, a.cart_abandonment.session_gap),
        "anomalies": anomalies(
            events,
            a.bot_burst.window,
            a.bot_burst.threshold,
            a.traffic_spike.window,
            a.traffic_spike.baseline_windows,
            a.traffic_spike.min_baseline_windows,
            a.traffic_spike.stddevs,
        )
        + rcf_traffic(events, config),
    }
