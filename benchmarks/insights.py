"""Insights benchmark: `clickflow insights` (Flink, batch mode) against DuckDB computing the same four
queries over the same file, in the same run — DuckDB being what a user might reach for instead.

    .venv/bin/python benchmarks/insights.py [--events 1000000] [--runs 2]

Both read the same generated REES46 CSV. clickflow is timed as a whole command in a fresh process
(the row-by-row validation pass, JVM start, planning and the four insights); DuckDB in a fresh
process too, from connecting to the last result fetched. Their results are compared, so the
figures are for the same answers.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DUCKDB = r"""
import json, sys, time
import duckdb
path, top_n, min_views, factor = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
started = time.monotonic()
con = duckdb.connect()
con.execute(f'''
CREATE VIEW clicks AS
SELECT strptime(replace(event_time, ' UTC', ''), '%Y-%m-%d %H:%M:%S') AS event_ts, event_type, product_id,
       category_id, NULLIF(category_code, '') AS category_code, NULLIF(brand, '') AS brand, price, user_id,
       NULLIF(user_session, '') AS user_session
FROM read_csv('{path}', header = true, all_varchar = false,
              types = {{'category_id': 'BIGINT', 'product_id': 'BIGINT', 'user_id': 'BIGINT', 'price': 'DECIMAL(18,2)',
                       'event_time': 'VARCHAR', 'category_code': 'VARCHAR', 'brand': 'VARCHAR'}})
''')
queries = {
 "category_weekday": f'''
  SELECT * FROM (
    SELECT *, row_number() OVER (PARTITION BY weekday ORDER BY views DESC, category_id) AS "rank" FROM (
      SELECT isodow(event_ts) AS weekday, category_id, max(category_code) AS category_code,
             count(*) FILTER (WHERE event_type = 'view') AS views, count(*) FILTER (WHERE event_type = 'cart') AS carts,
             count(*) FILTER (WHERE event_type = 'purchase') AS purchases,
             coalesce(sum(price) FILTER (WHERE event_type = 'purchase'), 0) AS revenue, count(DISTINCT user_id) AS users
      FROM clicks GROUP BY 1, 2)) WHERE "rank" <= {top_n}''',
 "brand_marketing": f'''
  WITH b AS (SELECT brand, count(*) FILTER (WHERE event_type = 'view') AS views,
                    count(*) FILTER (WHERE event_type = 'cart') AS carts,
                    count(*) FILTER (WHERE event_type = 'purchase') AS purchases,
                    coalesce(sum(price) FILTER (WHERE event_type = 'purchase'), 0) AS revenue
             FROM clicks WHERE brand IS NOT NULL AND trim(brand) <> '' GROUP BY brand),
       o AS (SELECT sum(views) AS v, sum(purchases) AS p FROM b)
  SELECT brand, views, carts, purchases, revenue, round(carts / views, 4) AS view_to_cart,
         round(purchases / views, 4) AS view_to_purchase,
         purchases::DECIMAL(38,6) * v < {factor}::DECIMAL(38,6) * p * views AS needs_marketing
  FROM b, o WHERE views >= {min_views} ORDER BY views DESC, brand''',
 "funnel": '''
  WITH s AS (SELECT CAST(category_id AS VARCHAR) AS category, event_type, user_session FROM clicks
             WHERE user_session IS NOT NULL
             UNION ALL SELECT 'all', event_type, user_session FROM clicks WHERE user_session IS NOT NULL)
  SELECT category, count(DISTINCT user_session) FILTER (WHERE event_type = 'view') AS view_sessions,
         count(DISTINCT user_session) FILTER (WHERE event_type = 'cart') AS cart_sessions,
         count(DISTINCT user_session) FILTER (WHERE event_type = 'purchase') AS purchase_sessions
  FROM s GROUP BY category''',
 "daily_visitors": '''
  SELECT strftime(event_ts, '%Y-%m-%d') AS day, count(DISTINCT user_id) AS users,
         count(DISTINCT user_session) AS sessions, count(*) AS events,
         count(*) FILTER (WHERE event_type = 'purchase') AS purchases,
         coalesce(sum(price) FILTER (WHERE event_type = 'purchase'), 0) AS revenue
  FROM clicks GROUP BY 1''',
}
counts = {name: len(con.execute(sql).fetchall()) for name, sql in queries.items()}
daily = sorted(con.execute(queries["daily_visitors"]).fetchall())
print(json.dumps({"seconds": time.monotonic() - started, "rows": counts,
                  "daily": [[d, u, s, e, p, float(r)] for d, u, s, e, p, r in daily]}))
"""

CLICKFLOW = r"""
import json, sys, time
from pathlib import Path
from connectors.config import load_config
from jobs.analyze import read_output
from jobs.insights import insights
started = time.monotonic()
config = load_config("local", overrides=[f"insights.top_n={sys.argv[3]}", f"insights.min_views={sys.argv[4]}",
                                         f"insights.factor={sys.argv[5]}"])
summary = insights(config, sys.argv[1], Path(sys.argv[2]), overwrite=True)
daily = sorted([r["day"], r["users"], r["sessions"], r["events"], r["purchases"], float(r["revenue"])]
               for r in read_output(Path(sys.argv[2]), "daily_visitors"))
print(json.dumps({"seconds": time.monotonic() - started, "events": summary.events, "rows": summary.outputs,
                  "daily": daily}))
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=2)
    args = parser.parse_args()
    from datetime import UTC, datetime

    from producer.generate import GenerateOptions, write_generated

    with tempfile.TemporaryDirectory(prefix="clickflow-bench-insights-") as work:
        source = Path(work) / "events.csv"
        started = time.monotonic()
        # about two weeks of traffic, so every weekday and many days are there
        rate = args.events / (14 * 86400)
        write_generated(
            GenerateOptions(events=args.events, rate=rate, seed=3, start=datetime(2019, 10, 1, tzinfo=UTC)), source
        )
        print(
            f"generated {args.events:,} events ({source.stat().st_size / 1e6:.0f} MB) in "
            f"{time.monotonic() - started:.0f}s",
            flush=True,
        )
        params = ["10", "100", "0.5"]
        clickflow, duck = [], []
        for run in range(args.runs):
            out = subprocess.run(
                [sys.executable, "-c", CLICKFLOW, str(source), f"{work}/out", *params],
                capture_output=True,
                text=True,
                cwd=ROOT,
                check=True,
            )
            clickflow.append(json.loads(out.stdout.strip().splitlines()[-1]))
            out = subprocess.run(
                [sys.executable, "-c", DUCKDB, str(source), *params],
                capture_output=True,
                text=True,
                cwd=ROOT,
                check=True,
            )
            duck.append(json.loads(out.stdout.strip().splitlines()[-1]))
            print(
                f"run {run + 1}: clickflow {clickflow[-1]['seconds']:.1f}s, duckdb {duck[-1]['seconds']:.1f}s",
                flush=True,
            )
        same = clickflow[0]["rows"] == duck[0]["rows"] and clickflow[0]["daily"] == duck[0]["daily"]
        for name, runs in (("clickflow insights (Flink batch)", clickflow), ("DuckDB, same four queries", duck)):
            rates = [args.events / r["seconds"] for r in runs]
            print(
                f"{name:<34} {min(rates):>10,.0f} .. {max(rates):>10,.0f} events/s  "
                f"(median {statistics.median(rates):,.0f}; {min(r['seconds'] for r in runs):.1f}-"
                f"{max(r['seconds'] for r in runs):.1f}s)"
            )
        ratio = statistics.median(r["seconds"] for r in clickflow) / statistics.median(r["seconds"] for r in duck)
        print(f"clickflow takes {ratio:.1f}x DuckDB's time; same results (row counts, daily_visitors): {same}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
