"""`clickflow report DIR`: an insights output (``clickflow insights``) as one self-contained HTML file.

Charts are drawn with Plotly (the Python library; plotly.js is embedded once, inline, so the file
opens offline and can be mailed): the top categories of each weekday as a heatmap, the brands as
views against conversion with the ones that need marketing marked, the purchase funnel of the
busiest categories, and visitors per day. Each chart has a table or a caption saying what it shows.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from jobs.analyze import read_output

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
FUNNEL_CATEGORIES = 6  # the busiest categories shown in the funnel chart, besides 'all'


class ReportError(RuntimeError):
    """The report cannot be made; the message says what is missing."""


def _load(directory: Path) -> dict[str, list[dict]]:
    from jobs.insights import INSIGHTS

    if not directory.is_dir():
        raise ReportError(f"{directory}: no such directory (make one with `clickflow insights SOURCE --output DIR`)")
    data = {name: read_output(directory, name) for name in INSIGHTS}
    if not any(data.values()):
        raise ReportError(f"{directory}: holds no insights output (expected {', '.join(INSIGHTS)} folders)")
    return data


def _category_names(data: dict[str, list[dict]]) -> dict[str, str]:
    names = {}
    for row in data["category_weekday"]:
        code = row.get("category_code")
        names[str(row["category_id"])] = f"{code} ({row['category_id']})" if code else str(row["category_id"])
    return names


def weekday_heatmap(rows: list[dict], names: dict[str, str]):
    """The top categories of each weekday as a heatmap (views, with the rank in each cell)."""
    import plotly.graph_objects as go

    categories = sorted(
        {str(r["category_id"]) for r in rows},
        key=lambda c: -sum(r["views"] for r in rows if str(r["category_id"]) == c),
    )
    views = {(r["weekday"], str(r["category_id"])): r["views"] for r in rows}
    ranks = {(r["weekday"], str(r["category_id"])): r["rank"] for r in rows}
    z = [[views.get((day, c)) for day in range(1, 8)] for c in categories]
    text = [[f"#{ranks[(day, c)]}" if (day, c) in ranks else "" for day in range(1, 8)] for c in categories]
    figure = go.Figure(
        go.Heatmap(
            z=z,
            x=list(WEEKDAYS),
            y=[names.get(c, c) for c in categories],
            text=text,
            texttemplate="%{text}",
            colorscale="Blues",
            colorbar={"title": "views"},
            hovertemplate="%{y}<br>%{x}: %{z} views (rank %{text})<extra></extra>",
        )
    )
    figure.update_layout(
        title="Top categories per weekday (views; #rank within the day)",
        height=max(320, 40 + 26 * len(categories)),
        yaxis={"autorange": "reversed"},
        margin={"l": 320},
    )
    return figure


def brand_scatter(rows: list[dict]):
    """Brands as views against view-to-purchase, the ones that need marketing marked."""
    import plotly.graph_objects as go

    figure = go.Figure()
    for flagged, colour, label in ((False, "#4c78a8", "converting well enough"), (True, "#e45756", "needs marketing")):
        chosen = [r for r in rows if bool(r["needs_marketing"]) == flagged]
        figure.add_trace(
            go.Scatter(
                x=[r["views"] for r in chosen],
                y=[float(r["view_to_purchase"]) for r in chosen],
                mode="markers",
                name=label,
                marker={"color": colour, "size": 10, "symbol": "x" if flagged else "circle"},
                text=[r["brand"] for r in chosen],
                hovertemplate="%{text}: %{x} views, view-to-purchase %{y:.4f}<extra></extra>",
            )
        )
    thresholds = {float(r["threshold"]) for r in rows if r.get("threshold") is not None}
    if len(thresholds) == 1:
        figure.add_hline(y=thresholds.pop(), line_dash="dash", annotation_text="threshold (factor x the overall ratio)")
    figure.update_layout(
        title="Brands: views against view-to-purchase conversion",
        xaxis={"title": "views", "type": "log"},
        yaxis={"title": "purchases / views"},
        height=460,
    )
    return figure


def funnel_chart(rows: list[dict], names: dict[str, str]):
    """The session funnel (view, cart, purchase) of all events and the busiest categories."""
    import plotly.graph_objects as go

    overall = [r for r in rows if r["category"] == "all"]
    busiest = sorted((r for r in rows if r["category"] != "all"), key=lambda r: (-r["view_sessions"], r["category"]))
    shown = overall + busiest[:FUNNEL_CATEGORIES]
    labels = ["all categories" if r["category"] == "all" else names.get(r["category"], r["category"]) for r in shown]
    figure = go.Figure()
    for step, column in (("viewed", "view_sessions"), ("carted", "cart_sessions"), ("purchased", "purchase_sessions")):
        values = [r[column] for r in shown]
        share = [
            f"{v / r['view_sessions']:.1%}" if r["view_sessions"] else "" for v, r in zip(values, shown, strict=True)
        ]
        figure.add_trace(
            go.Bar(
                name=step,
                x=labels,
                y=values,
                text=share,
                textposition="outside",
                hovertemplate="%{x}<br>" + step + ": %{y} sessions (%{text} of viewing sessions)<extra></extra>",
            )
        )
    figure.update_layout(
        title="Purchase funnel: sessions that viewed, carted and purchased (share of viewing sessions)",
        barmode="group",
        yaxis={"title": "sessions", "type": "log"},
        height=480,
    )
    return figure


def daily_chart(rows: list[dict]):
    """Distinct users and sessions per day, with the day's revenue as bars on a second axis."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    rows = sorted(rows, key=lambda r: r["day"])
    days = [r["day"] for r in rows]
    figure = make_subplots(specs=[[{"secondary_y": True}]])
    figure.add_trace(go.Scatter(x=days, y=[r["users"] for r in rows], name="users", mode="lines+markers"))
    figure.add_trace(go.Scatter(x=days, y=[r["sessions"] for r in rows], name="sessions", mode="lines+markers"))
    figure.add_trace(
        go.Bar(x=days, y=[float(r["revenue"]) for r in rows], name="revenue", opacity=0.35), secondary_y=True
    )
    figure.update_layout(title="Visitors and revenue per day (UTC)", height=420, xaxis={"type": "category"})
    figure.update_yaxes(title_text="distinct visitors", secondary_y=False)
    figure.update_yaxes(title_text="revenue", secondary_y=True)
    return figure


def _table(headers: list[str], rows: list[list]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1200px; color: #222; }
h1 { margin-bottom: 0.2rem; } .meta { color: #666; margin-top: 0; }
section { margin: 2.5rem 0; } table { border-collapse: collapse; margin-top: 0.8rem; font-size: 0.9rem; }
td, th { border-bottom: 1px solid #ddd; padding: 0.25rem 0.7rem; text-align: right; }
td:first-child, th:first-child { text-align: left; }
"""


def render_report(directory: Path, out: Path | None = None, say: Callable[[str], None] = lambda _: None) -> Path:
    """Write the report for the insights in ``directory``; returns the HTML file's path."""
    data = _load(directory)
    names = _category_names(data)
    out = out or directory / "report.html"
    sections = []
    figures = []
    if data["category_weekday"]:
        figures.append(("Top categories per weekday", weekday_heatmap(data["category_weekday"], names), ""))
    if data["brand_marketing"]:
        flagged = [r for r in data["brand_marketing"] if r["needs_marketing"]]
        table = _table(
            ["brand", "views", "carts", "purchases", "view→cart", "view→purchase", "revenue"],
            [
                [
                    r["brand"],
                    r["views"],
                    r["carts"],
                    r["purchases"],
                    r["view_to_cart"],
                    r["view_to_purchase"],
                    r["revenue"],
                ]
                for r in sorted(flagged, key=lambda r: (-r["views"], r["brand"]))
            ],
        )
        caption = f"<p>{len(flagged)} of {len(data['brand_marketing'])} brands need marketing:</p>{table}"
        figures.append(("Brands that need marketing", brand_scatter(data["brand_marketing"]), caption))
    if data["funnel"]:
        figures.append(("The funnel", funnel_chart(data["funnel"], names), ""))
    if data["daily_visitors"]:
        figures.append(("Visitors per day", daily_chart(data["daily_visitors"]), ""))
    for index, (title, figure, caption) in enumerate(figures):
        chart = figure.to_html(full_html=False, include_plotlyjs=index == 0, div_id=f"chart-{index}")
        sections.append(f'<section class="chart"><h2>{html.escape(title)}</h2>{chart}{caption}</section>')
    made = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    page = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>clickflow insights — {html.escape(directory.name)}</title><style>{STYLE}</style></head><body>"
        f'<h1>clickflow insights</h1><p class="meta">{html.escape(str(directory))} · made {made}</p>'
        + "".join(sections)
        + "</body></html>\n"
    )
    out.write_text(page, encoding="utf-8")
    say(f"report: {out} ({len(figures)} charts, {out.stat().st_size / 1e6:.1f} MB, works offline)")
    return out
