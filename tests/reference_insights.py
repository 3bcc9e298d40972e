"""The four batch insights computed again in plain Python, from their definitions, for the tests.

Nothing here uses clickflow's parser, its SQL or Flink: the csv module, ``isoweekday``, ``Decimal``.
Rows come out in the shape ``clickflow insights`` writes (JSON values).
"""

from __future__ import annotations

import csv
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

from tests.reference import parse_time


@dataclass(frozen=True)
class Row:
    ts: datetime
    type: str
    category: int
    code: str | None
    brand: str | None
    price: Decimal
    user: int
    session: str | None


def load(path) -> list[Row]:
    rows = []
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        next(reader)
        for r in reader:
            if len(r) != 9:
                continue
            try:
                ts = parse_time(r[0])
            except ValueError:
                continue
            rows.append(Row(ts, r[1], int(r[3]), r[4] or None, r[5] or None, Decimal(r[6]), int(r[7]), r[8] or None))
    return rows


def _cents(value: Decimal) -> float:
    return float(value.quantize(Decimal("0.01")))


def _ratio(top: int, bottom: int) -> float | None:
    if not bottom:
        return None
    return float((Decimal(top) / Decimal(bottom)).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP))


def category_weekday(rows: list[Row], top_n: int) -> list[dict]:
    groups: dict[tuple[int, int], list[Row]] = defaultdict(list)
    for r in rows:
        groups[(r.ts.isoweekday(), r.category)].append(r)
    per_day: dict[int, list[dict]] = defaultdict(list)
    for (day, category), members in groups.items():
        codes = [r.code for r in members if r.code]
        per_day[day].append(
            {
                "insight": "category_weekday",
                "weekday": day,
                "category_id": category,
                "category_code": max(codes) if codes else None,
                "views": sum(r.type == "view" for r in members),
                "carts": sum(r.type == "cart" for r in members),
                "purchases": sum(r.type == "purchase" for r in members),
                "revenue": _cents(sum((r.price for r in members if r.type == "purchase"), Decimal(0))),
                "users": len({r.user for r in members}),
            }
        )
    out = []
    for members in per_day.values():
        ranked = sorted(members, key=lambda m: (-m["views"], m["category_id"]))[:top_n]
        out += [{**m, "rank": i} for i, m in enumerate(ranked, start=1)]
    return out


def brand_marketing(rows: list[Row], min_views: int, factor: float) -> list[dict]:
    groups: dict[str, list[Row]] = defaultdict(list)
    for r in rows:
        if r.brand and r.brand.strip():
            groups[r.brand].append(r)
    counts = {
        brand: (
            sum(r.type == "view" for r in members),
            sum(r.type == "cart" for r in members),
            sum(r.type == "purchase" for r in members),
            sum((r.price for r in members if r.type == "purchase"), Decimal(0)),
        )
        for brand, members in groups.items()
    }
    all_views = sum(c[0] for c in counts.values())
    all_purchases = sum(c[2] for c in counts.values())
    out = []
    for brand, (views, carts, purchases, revenue) in counts.items():
        if views < min_views:
            continue
        threshold = Decimal(str(factor)) * Decimal(all_purchases) / Decimal(all_views)
        out.append(
            {
                "insight": "brand_marketing",
                "brand": brand,
                "views": views,
                "carts": carts,
                "purchases": purchases,
                "revenue": _cents(revenue),
                "view_to_cart": _ratio(carts, views),
                "view_to_purchase": _ratio(purchases, views),
                "threshold": float(threshold.quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)),
                # exact: a Fraction-free comparison by cross-multiplying
                "needs_marketing": Decimal(purchases) * all_views < Decimal(str(factor)) * all_purchases * views,
            }
        )
    return sorted(out, key=lambda r: (-r["views"], r["brand"]))


def funnel(rows: list[Row]) -> list[dict]:
    steps: dict[str, dict[str, set]] = defaultdict(lambda: defaultdict(set))
    for r in rows:
        if r.session is None:
            continue
        for category in (str(r.category), "all"):
            steps[category][r.type].add(r.session)
    out = []
    for category, by_type in steps.items():
        views, carts, purchases = (len(by_type[t]) for t in ("view", "cart", "purchase"))
        out.append(
            {
                "insight": "funnel",
                "category": category,
                "view_sessions": views,
                "cart_sessions": carts,
                "purchase_sessions": purchases,
                "view_to_cart": _ratio(carts, views),
                "cart_to_purchase": _ratio(purchases, carts),
            }
        )
    return out


def daily_visitors(rows: list[Row]) -> list[dict]:
    days: dict[str, list[Row]] = defaultdict(list)
    for r in rows:
        days[r.ts.strftime("%Y-%m-%d")].append(r)
    return [
        {
            "insight": "daily_visitors",
            "day": day,
            "users": len({r.user for r in members}),
            "sessions": len({r.session for r in members if r.session is not None}),
            "events": len(members),
            "purchases": sum(r.type == "purchase" for r in members),
            "revenue": _cents(sum((r.price for r in members if r.type == "purchase"), Decimal(0))),
        }
        for day, members in days.items()
    ]


def all_insights(rows: list[Row], config) -> dict[str, list[dict]]:
    i = config.insights
    return {
        "category_weekday": category_weekday(rows, i.top_n),
        "brand_marketing": brand_marketing(rows, i.min_views, i.factor),
        "funnel": funnel(rows),
        "daily_visitors": daily_visitors(rows),
    }
