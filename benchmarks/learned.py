"""The learned functions' cost: Random Cut Forest per record and in state, and each function in a Flink job
against the same job without it, in the same run.

    .venv/bin/python benchmarks/learned.py [--records 200000] [--only library|flink]

1. The library alone (benchmarks/java/ForestCost.java): microseconds per record to score and learn a point
   and to explain one, and the bytes of the forest's state in a checkpoint (clickflow's serializer), for
   KDA's defaults (100 trees, a sample of 256) and rcf_traffic's (100 trees, 64, 5 features).
2. In Flink (an embedded mini-cluster, parallelism 1): RECORDS generated 2-column rows through
   RANDOM_CUT_FOREST, RANDOM_CUT_FOREST_WITH_EXPLANATION and HOTSPOTS into a blackhole, each against the same
   rows straight into the blackhole (the baseline, first): records/s and the ratio to the baseline.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

FOREST_CONFIGS = [  # (trees, sample, dimensions, shingle)
    (100, 256, 1, 1),
    (100, 256, 2, 1),
    (100, 256, 5, 1),
    (100, 256, 2, 4),
    (100, 64, 5, 1),  # rcf_traffic's defaults
    (30, 32, 2, 1),
]
QUERIES = {
    "baseline (no function)": "SELECT x, y FROM src",
    "RANDOM_CUT_FOREST (100, 256)": "SELECT * FROM RANDOM_CUT_FOREST(TABLE src, 100, 256, 100000, 1)",
    "RANDOM_CUT_FOREST_WITH_EXPLANATION": (
        "SELECT * FROM RANDOM_CUT_FOREST_WITH_EXPLANATION(TABLE src, 100, 256, 100000, 1, TRUE)"
    ),
    "HOTSPOTS (100, 0.5, 5)": "SELECT * FROM HOTSPOTS(TABLE src, 100, CAST(0.5 AS DOUBLE), 5)",
}


def library(records: int) -> list[dict]:
    import pyflink

    from connectors.kinesis_connector import build

    dist = next((Path(pyflink.__file__).parent / "lib").glob("flink-dist-*.jar"))
    source = ROOT / "benchmarks" / "java" / "ForestCost.java"
    out = []
    for trees, sample, dimensions, shingle in FOREST_CONFIGS:
        done = subprocess.run(
            ["java", "-cp", f"{build()}:{dist}", str(source), str(records), str(trees), str(sample), str(dimensions),
             str(shingle)],
            capture_output=True, text=True, check=True, timeout=600,
        )  # fmt: skip
        out.append(json.loads(done.stdout.strip().splitlines()[-1]))
    return out


def flink(records: int) -> list[tuple[str, float]]:
    from connectors.config import load_config
    from connectors.kinesis_connector import build
    from jobs import analytics

    env = analytics.create_table_env(load_config("local"), [build()])
    env.get_config().set("parallelism.default", "1")
    for name, cls in [
        ("RANDOM_CUT_FOREST", "RandomCutForestScore"),
        ("RANDOM_CUT_FOREST_WITH_EXPLANATION", "RandomCutForestWithExplanation"),
        ("HOTSPOTS", "Hotspots"),
    ]:
        env.execute_sql(f"CREATE TEMPORARY FUNCTION {name} AS 'io.clickflow.udf.{cls}' LANGUAGE JAVA")
    env.execute_sql(
        "CREATE TEMPORARY TABLE src (x DOUBLE, y DOUBLE) WITH ('connector' = 'datagen', "
        f"'number-of-rows' = '{records}', 'rows-per-second' = '1000000000', "  # datagen's default: 10,000/s
        "'fields.x.min' = '0', 'fields.x.max' = '10', 'fields.y.min' = '0', 'fields.y.max' = '10')"
    )
    # an unmeasured run first: the mini-cluster's first job also pays for loading the planner and runtime
    env.execute_sql("CREATE TEMPORARY TABLE warm_up (x DOUBLE, y DOUBLE) WITH ('connector' = 'blackhole')")
    env.execute_sql("INSERT INTO warm_up SELECT x, y FROM src").wait()
    out = []
    for label, query in QUERIES.items():
        columns = ", ".join(f"c{i} {t}" for i, t in enumerate(_types(env, query)))
        env.execute_sql(f"CREATE TEMPORARY TABLE sink_{len(out)} ({columns}) WITH ('connector' = 'blackhole')")
        started = time.monotonic()
        env.execute_sql(f"INSERT INTO sink_{len(out)} {query}").wait()
        out.append((label, records / (time.monotonic() - started)))
    return out


def _types(env, query: str) -> list[str]:
    schema = env.sql_query(query).get_schema()
    return [str(t).replace(" NOT NULL", "") for t in schema.get_field_data_types()]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--only", choices=("library", "flink"), help="run one part (default: both)")
    args = parser.parse_args()
    if args.only != "flink":
        _print_library(args.records)
    if args.only != "library":
        _print_flink(args.records)
    return 0


def _print_library(records: int) -> None:
    print(f"== the library alone, {records:,} records each")
    print(f"{'trees':>5} {'sample':>6} {'columns':>7} {'shingle':>7} {'score+learn µs':>15} {'explain µs':>11} "
          f"{'state KB':>9} {'restore ms':>10}")  # fmt: skip
    for r in library(records):
        print(f"{r['trees']:>5} {r['sample']:>6} {r['dimensions']:>7} {r['shingle']:>7} {r['score_update_us']:>15.1f} "
              f"{r['attribution_us']:>11.1f} {r['state_bytes'] / 1024:>9.0f} {r['restore_ms']:>10.1f}")  # fmt: skip


def _print_flink(records: int) -> None:
    print(f"== in Flink (embedded, parallelism 1), {records:,} generated rows into a blackhole")
    results = flink(records)
    base = results[0][1]
    for label, rate in results:
        print(f"{label:<38} {rate:>10,.0f} records/s   {rate / base:>6.2f}x the baseline")


if __name__ == "__main__":
    sys.exit(main())
