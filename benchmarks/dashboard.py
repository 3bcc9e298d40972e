"""Dashboard benchmark: how fast the server takes in rows from the streams while a browser is
connected, and how long a row takes from Kinesis to the page.

    .venv/bin/python benchmarks/dashboard.py [--rows 60000] [--latency-rows 100]

On a private local stack: the six output streams are filled with ``--rows`` rows before the
dashboard starts (from trim_horizon) with one headless Chromium connected; ingest = rows / the time
until /api/state has them all. Then rows are put one at a time, 5 a second, each a new minute of
unique_visitors; the page records when each first shows (Date.now() in the page, polled every 5 ms),
against the moment before the put (the same clock): p50 / p99 / max.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

ROLES = ("unique_visitors", "active_page_views", "top_categories", "cart_abandonment", "anomalies", "dead_letters")


def row(role: str, n: int) -> dict:
    start = f"2019-10-{1 + n // 1440:02d} {n // 60 % 24:02d}:{n % 60:02d}:00"
    if role == "unique_visitors":
        return {"window_start": start, "window_end": start, "unique_users": n, "unique_sessions": n, "events": n}
    if role == "active_page_views":
        return {"window_start": start, "window_end": start, "page_views": n, "active_sessions": n}
    if role == "top_categories":
        return {
            "window_start": start[:13] + ":00:00",
            "rank": 1 + n % 10,
            "category_id": n,
            "category_code": None,
            "views": n,
            "purchases": 1,
            "revenue": 1.5,
        }
    if role == "cart_abandonment":
        return {
            "user_session": f"s{n}",
            "user_id": n,
            "session_start": start,
            "session_end": start,
            "carted_products": 1,
            "cart_value": 9.99,
        }
    if role == "anomalies":
        return {
            "anomaly_type": "bot_burst",
            "entity": str(n),
            "window_start": start,
            "window_end": start,
            "observed": 20,
            "expected": 10.0,
            "score": 2.0,
        }
    return {"reason": f"unparsable event_time: {n}", "payload": "x"}


def state(url: str) -> dict:
    return json.load(urllib.request.urlopen(url + "api/state", timeout=10))  # noqa: S310 - the loopback page


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=60_000)
    parser.add_argument("--latency-rows", type=int, default=100)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    from connectors import aws
    from connectors.config import load_config
    from connectors.local_stack import stack

    with tempfile.TemporaryDirectory(prefix="clickflow-bench-dashboard-") as work:
        overrides = stack.private_overrides(Path(work) / "state")
        names = {role: f"bench-{role.replace('_', '-')}" for role in ROLES}
        overrides += [f"streams.{role}.name={name}" for role, name in names.items()]
        config = load_config("local", overrides=overrides)
        stack.up(config)
        server = None
        try:
            kinesis = aws.client(config, "kinesis")
            per_role = args.rows // len(ROLES)
            for role in ROLES:
                rows = [row(role, n) for n in range(per_role)]
                for start in range(0, len(rows), 500):
                    kinesis.put_records(
                        StreamName=names[role],
                        Records=[
                            {"Data": json.dumps(r).encode(), "PartitionKey": str(i)}
                            for i, r in enumerate(rows[start : start + 500])
                        ],
                    )
            total = per_role * len(ROLES)
            port = stack.free_port()
            url = f"http://127.0.0.1:{port}/"
            sets = [item for o in overrides for item in ("--set", o)]
            started = time.monotonic()
            server = subprocess.Popen(
                [sys.executable, "-m", "clickflow", "dashboard", "--port", str(port), *sets],
                cwd=ROOT,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path=shutil.which("chromium"),
                    args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
                )
                page = browser.new_page()
                while True:
                    try:
                        page.goto(url)
                        break
                    except Exception:  # noqa: BLE001 - not listening yet
                        time.sleep(0.1)
                while state(url)["rows"] < total:
                    time.sleep(0.05)
                ingest_seconds = time.monotonic() - started
                print(
                    f"ingest: {total:,} rows in {ingest_seconds:.1f}s = {total / ingest_seconds:,.0f} rows/s "
                    "(including the server's start; one browser connected)",
                    flush=True,
                )

                page.evaluate("""() => { window.__seen = {}; setInterval(() => {
                    const last = window.dashboard.last; if (!last) return;
                    for (const v of last.visitors) {
                        if (!(v.window in window.__seen)) window.__seen[v.window] = Date.now();
                    }
                }, 5); }""")
                time.sleep(1)
                sent = {}
                for n in range(args.latency_rows):
                    r = row("unique_visitors", 100_000 + n)
                    sent[r["window_start"]] = time.time() * 1000
                    kinesis.put_record(
                        StreamName=names["unique_visitors"], Data=json.dumps(r).encode(), PartitionKey="k"
                    )
                    time.sleep(0.2)
                time.sleep(3)
                seen = page.evaluate("() => window.__seen")
                browser.close()
            delays = sorted(seen[w] - t for w, t in sent.items() if w in seen)
            missing = len(sent) - len(delays)
            p99 = delays[min(len(delays) - 1, round(0.99 * (len(delays) - 1)))]
            print(
                f"latency, put -> on the page ({len(delays)} rows, {missing} not seen): "
                f"p50 {statistics.median(delays):.0f} ms, p99 {p99:.0f} ms, max {delays[-1]:.0f} ms"
            )
        finally:
            if server is not None:
                server.terminate()
                server.wait(10)
            stack.down(config)
    return 0


if __name__ == "__main__":
    sys.exit(main())
