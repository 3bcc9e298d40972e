"""Analytics benchmark: events/s and peak memory of `clickflow analyze` on generated events.

    .venv/bin/python benchmarks/analyze.py [--events 1000000] [--only all,unique_visitors,...]
                                           [--settings off,on] [--parallelism 1]

Each configuration runs in a fresh process (so peak memory is its own): all five analytics
together, then each alone, with Flink's mini-batch and split-distinct optimisations off and on.
Reported per run: events/s through Flink (from job start to the last file committed), events/s
end to end (including the row-by-row validation pass in Python), and the peak RSS of the JVM and
of the Python process. Next to each, the closest Nexmark query class per core, as published.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

NEXMARK = {  # events/s per core, published figures for the closest query class
    "unique_visitors": ("q15 tumbling COUNT DISTINCT", 72_000),
    "active_page_views": ("q15 tumbling COUNT DISTINCT", 72_000),
    "top_categories": ("q19 Top-N", 44_000),
    "cart_abandonment": ("q11 session windows", 40_000),
    "anomalies": ("q15 tumbling (+ OVER)", 72_000),
}

RUNNER = r"""
import json, sys
from pathlib import Path
from connectors.config import load_config
from jobs import analytics
from jobs.analyze import analyze
source, out, settings, parallelism = sys.argv[1], Path(sys.argv[2]), sys.argv[4], sys.argv[5]
names = sys.argv[3].split(",")
flag = "true" if settings == "on" else "false"
config = load_config("local", overrides=[f"flink.mini_batch={flag}", f"flink.split_distinct={flag}",
                                         f"flink.parallelism={parallelism}"])
summary = analyze(config, source, out, names, overwrite=True)

def peak_mb(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) // 1024
    return 0

print(json.dumps({"events": summary.events, "seconds": summary.seconds, "flink_seconds": summary.flink_seconds,
                  "jvm_peak_mb": max(peak_mb(p.pid) for p in analytics._gateway_processes),
                  "python_peak_mb": peak_mb("self")}))
"""


def run(source: Path, names: list[str], settings: str, parallelism: int) -> dict:
    with tempfile.TemporaryDirectory() as out:
        result = subprocess.run(
            [sys.executable, "-c", RUNNER, str(source), out, ",".join(names), settings, str(parallelism)],
            capture_output=True,
            text=True,
            cwd=ROOT,
            check=False,
        )
    if result.returncode != 0:
        raise SystemExit(f"run failed ({names}, {settings}):\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> int:
    from jobs.analytics import ANALYTICS
    from producer.generate import GenerateOptions, write_generated

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument(
        "--only",
        default="all," + ",".join(ANALYTICS),
        help="comma-separated: 'all' (the five together) and/or analytic names",
    )
    parser.add_argument("--settings", default="off,on", help="mini-batch + split-distinct: off, on, or both")
    parser.add_argument("--parallelism", type=int, default=1)
    parser.add_argument("--input", type=Path, help="use this CSV instead of generating one")
    args = parser.parse_args()

    cache = ROOT / ".clickflow" / "bench"
    cache.mkdir(parents=True, exist_ok=True)
    source = args.input or cache / f"events-{args.events}.csv"
    if not source.exists():
        print(f"generating {args.events:,} events into {source} ...", flush=True)
        scale = max(1, args.events // 100_000)
        write_generated(
            GenerateOptions(events=args.events, rate=200.0, seed=1, bots=2 * scale, spikes=scale, abandoned=2 * scale),
            source,
        )
    print(f"input: {source} ({source.stat().st_size / 1e6:.0f} MB); parallelism {args.parallelism}; 2 cores")
    print(
        f"{'analytics':<20}{'opt':>4}{'Flink ev/s':>12}{'per core':>10}{'end-to-end ev/s':>17}"
        f"{'JVM peak':>10}{'Py peak':>9}   nearest Nexmark class (per core)"
    )
    for target in args.only.split(","):
        names = list(ANALYTICS) if target == "all" else [target]
        for settings in args.settings.split(","):
            r = run(source, names, settings, args.parallelism)
            flink_rate = r["events"] / r["flink_seconds"]
            reference = "" if target == "all" else "{} ≈ {:,}/s".format(*NEXMARK[target])
            print(
                f"{target:<20}{settings:>4}{flink_rate:>12,.0f}{flink_rate / 2:>10,.0f}"
                f"{r['events'] / r['seconds']:>17,.0f}{r['jvm_peak_mb']:>8} MB{r['python_peak_mb']:>6} MB   "
                f"{reference}",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
