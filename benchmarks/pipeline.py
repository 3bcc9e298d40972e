"""Pipeline benchmark: the streaming job (jobs/stream.py) on the local stack.

    .venv/bin/python benchmarks/pipeline.py [--events 100000] [--live 90] [--windows] [--set KEY=VALUE]

1. Sustained throughput: --events generated events replayed into the events stream, then the job run
   bounded over them; events/s = events ÷ the time from submission to the job's end (SQL planning
   and code generation before submission are reported apart: they do not grow with the input).
   Against it, in the same run, `clickflow analyze` over the same events (the generated CSV): its time in
   Flink (the JVM's start, planning and running, as the job's planned + ran are) and the job's ratio to it.
2. Latency, live: the job runs unbounded from LATEST while this script sends background traffic
   (~200 events/s, event time = now) and, in every 10 s bot window, 8 bot users with 15 events each.
   For each bot_burst anomaly on the anomalies stream:
     window latency   = its arrival in Kinesis − the window's end
     trigger latency  = from the arrival in Kinesis of the event that moved the watermark past the
                        window's end, to the anomaly's arrival. The watermark is the least of the
                        shards': it passes the end once every shard has an event at least the watermark
                        delay past it, so the trigger is the latest of each shard's first such event
                        (read back from the events stream with its arrival time)
   reported as p50 / p99 / max (--windows: each window's too), next to the parts that are configuration,
   not work: the connector's empty-fetch interval, Flink's watermark interval, the sink's flush timeout
   and Flink's network buffer timeout. --set KEY=VALUE changes any of them for the whole run.
3. Start-up (--startups N, default 2): `clickflow run --from trim_horizon` launched as a user would, timed
   from the launch to the first event it writes (the events archive's first in-progress file), with the
   compiled-plan cache empty (cold: the plan is compiled), then warm (the plan is loaded), then warm with
   the JVM class archive switched off (CLICKFLOW_CLASS_ARCHIVE=off: the baseline of `make setup`'s archive),
   N of each, in turn.
Starts and stops its own stack on free ports; everything in a temporary directory.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from connectors import aws, class_archive
from connectors.config import load_config
from connectors.local_stack import stack
from jobs import stream
from producer.records import read_finished

ROOT = Path(__file__).resolve().parents[1]
PY = str(ROOT / ".venv" / "bin" / "python") if (ROOT / ".venv").exists() else sys.executable
BOT_USERS = 8
BOT_EVENTS = 15  # threshold is 10 per 10 s window


def event(user: int, moment: datetime, rng: random.Random) -> dict:
    return {
        "event_time": moment.strftime("%Y-%m-%d %H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z",
        "event_type": "view",
        "product_id": rng.randint(1_000_000, 1_000_500),
        "category_id": rng.randint(2053013552226107603, 2053013552226107703),
        "category_code": None,
        "brand": None,
        "price": round(rng.uniform(1, 500), 2),
        "user_id": user,
        "user_session": f"s{user}",
    }


def traffic(kinesis, name: str, seconds: float, stop: threading.Event) -> int:
    """Background visitors plus bot bursts, event time = now, for ``seconds``."""
    rng = random.Random(7)
    sent, started = 0, time.monotonic()
    while time.monotonic() - started < seconds and not stop.is_set():
        now = datetime.now(UTC)
        batch = [event(rng.randint(1, 50_000), now, rng) for _ in range(20)]
        second_of_window = now.second % 10
        if second_of_window in (2, 3, 4):  # bots: 5 events a second for 3 s = 15 per window
            batch += [event(900_000_000 + b, now, rng) for b in range(BOT_USERS) for _ in range(5)]
        records = [{"Data": json.dumps(e).encode(), "PartitionKey": str(e["category_id"])} for e in batch]
        kinesis.put_records(StreamName=name, Records=records)
        sent += len(records)
        time.sleep(max(0.0, 0.1 - (time.monotonic() - started) % 0.1))
    return sent


def event_time(data: bytes) -> datetime:
    return datetime.fromisoformat(json.loads(data)["event_time"].replace("Z", "+00:00"))


def trigger_arrival(sent: list[tuple[str, datetime, datetime]], past: datetime) -> datetime | None:
    """When the watermark passed ``past`` − delay: the latest, over the shards, of each shard's first arrival
    of an event at or after ``past`` (None if some shard never had one)."""
    firsts: dict[str, datetime] = {}
    for shard, moment, arrival in sent:
        if moment >= past and (shard not in firsts or arrival < firsts[shard]):
            firsts[shard] = arrival
    shards = {shard for shard, _, _ in sent}
    return max(firsts.values()) if firsts and set(firsts) == shards else None


def without_recording() -> dict[str, str]:
    """This process's environment for a command it times: its JVM with its own settings (--record is the job's)."""
    return {k: v for k, v in os.environ.items() if k != "JVM_ARGS"}


def throughput(config, overrides: list[str], events: int, workdir: Path) -> tuple[float, float, float]:
    """Replay ``events`` generated events, then run the job bounded over them; then `clickflow analyze` over
    the same events. Returns the seconds the job spent planning and submitting, the seconds it then ran
    (deployment included), and analyze's seconds in Flink."""
    sets = [x for o in overrides for x in ("--set", o)]
    sample = workdir / "sample.csv"
    subprocess.run(
        [PY, "-m", "clickflow", "generate", *sets, str(sample), "--events", str(events), "--quiet"],
        check=True,
        cwd=ROOT,
    )
    subprocess.run([PY, "-m", "clickflow", "replay", *sets, str(sample), "--quiet"], check=True, cwd=ROOT)
    started = time.perf_counter()
    result = stream.start(config, stream.RunOptions(bounded=True))  # returns once planned and submitted
    submitted = time.perf_counter()
    result.wait()
    ran = time.perf_counter() - submitted
    output = workdir / "analyze"
    subprocess.run(
        [PY, "-m", "clickflow", "analyze", *sets, str(sample), "--output", str(output), "--quiet"],
        check=True,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        env=without_recording(),
    )
    analyzed = json.loads((output / "_summary.json").read_text())
    if analyzed["events"] != events:
        raise RuntimeError(f"analyze read {analyzed['events']:,} events of the {events:,} replayed")
    return submitted - started, ran, analyzed["flink_seconds"]


def throughput_lines(events: int, planning: float, running: float, analyzing: float) -> list[str]:
    job = events / (planning + running)
    alone = events / analyzing
    return [
        f"\nthroughput: {events:,} events through the whole job: planned and submitted in {planning:.1f} s, "
        f"then ran {running:.1f} s = {events / running:,.0f} events/s running, {job:,.0f} events/s in all",
        f"  `clickflow analyze` on the same events, the same SQL over a file: {analyzing:.1f} s in Flink "
        f"(JVM, planning and running) = {alone:,.0f} events/s",
        f"  the job against analyze, both from the JVM's start to the end: {job / alone:.2f}x",
    ]


def first_record(overrides: list[str], workdir: Path, plan_cache: Path, label: str, **env_extra: str) -> float:
    """Seconds from launching `clickflow run` to the first event in its archive (the job is then killed)."""
    import signal

    archive = workdir / f"archive-{label}"
    sets = [x for o in [*overrides, f"job.archive={archive}", "job.rest_port=0"] for x in ("--set", o)]
    env = {**without_recording(), "CLICKFLOW_PLAN_CACHE": str(plan_cache), **env_extra}
    log_path = workdir / f"run-{label}.log"
    with open(log_path, "wb") as log:
        started = time.perf_counter()
        process = subprocess.Popen(
            [PY, "-m", "clickflow", "run", *sets, "--from", "trim_horizon"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        while not any(p.is_file() for p in (archive / "events").rglob("*")):
            if process.poll() is not None:
                raise RuntimeError(f"clickflow run ended ({process.returncode}): see {log_path}")
            time.sleep(0.05)
        return time.perf_counter() - started
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def startup(overrides: list[str], workdir: Path, runs: int) -> dict[str, list[float]]:
    """First-record times with the plan cache empty (cold), filled (warm), and filled with the class archive
    off, ``runs`` of each."""
    off = {class_archive.SWITCH_ENV: "off"}
    out: dict[str, list[float]] = {"cold": [], "warm": [], "warm, class archive off": []}
    for n in range(runs):
        cache = workdir / f"plans-{n}"
        out["cold"].append(first_record(overrides, workdir, cache, f"cold-{n}"))
        out["warm"].append(first_record(overrides, workdir, cache, f"warm-{n}"))
        out["warm, class archive off"].append(first_record(overrides, workdir, cache, f"warm-off-{n}", **off))
    return out


def config_overrides(workdir: Path) -> list[str]:
    return [
        *stack.private_overrides(workdir / "stack"),
        f"job.archive={workdir / 'archive'}",
        f"job.checkpoint_dir={workdir / 'checkpoints'}",
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=100_000, help="events for the throughput run")
    parser.add_argument(
        "--live", type=float, default=90.0, help="seconds of live traffic for the latency run (0: throughput only)"
    )
    parser.add_argument(
        "--startups", type=int, default=2, help="start-ups timed with the plan cache cold and warm, each (0: none)"
    )
    parser.add_argument(
        "--record",
        type=Path,
        metavar="FILE.jfr",
        help="record the job's JVM with Java Flight Recorder into FILE (read it with benchmarks/jfr_top.py)",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a config override for every job of the run, as `clickflow --set` (e.g. flink.buffer_timeout=10ms)",
    )
    parser.add_argument("--windows", action="store_true", help="print the latency of each window's anomalies")
    args = parser.parse_args()
    if args.record:
        os.environ["JVM_ARGS"] = f"-XX:StartFlightRecording=filename={args.record.resolve()},settings=profile"

    workdir = Path(tempfile.mkdtemp(prefix="clickflow-pipeline-"))
    overrides = [*config_overrides(workdir), *args.set]
    config = load_config("local", overrides=overrides)
    stack.up(config)
    try:
        kinesis = aws.client(config, "kinesis")
        events_stream = config.stream("events").name

        planning, running, analyzing = throughput(config, overrides, args.events, workdir)
        measured = throughput_lines(args.events, planning, running, analyzing)
        if args.startups > 0:
            times = startup(overrides, workdir, args.startups)
            print("\nstart-up, `clickflow run` launched → its first event archived:")
            for kind, values in times.items():
                print(f"  plan cache {kind}: {', '.join(f'{v:.1f} s' for v in values)}")
        if args.live <= 0:  # throughput only
            print("\n".join(measured))
            return 0

        # latency: unbounded from LATEST, live traffic
        anomalies = config.output_stream("anomalies").name
        result = stream.start(config, stream.RunOptions(start="latest"))
        client = result.get_job_client()
        time.sleep(8)
        stop = threading.Event()
        sender = threading.Thread(target=traffic, args=(kinesis, events_stream, args.live, stop), daemon=True)
        since = datetime.now(UTC)
        sender.start()
        sender.join()
        time.sleep(20)  # let the last windows close (the watermark needs later events: there are none)
        client.cancel().result()
        rows = read_finished(kinesis, anomalies, since)
        delay = config.analytics.watermark_delay
        sent = [(r.shard_id, event_time(r.data), r.arrival) for r in read_finished(kinesis, events_stream, since)]
        window_latency, trigger = [], []
        by_window: dict[datetime, list[float]] = {}  # the trigger latencies of each window's anomalies
        for record in rows:
            row = json.loads(record.data)
            if row["anomaly_type"] != "bot_burst":
                continue
            end = datetime.fromisoformat(row["window_end"]).replace(tzinfo=UTC)
            window_latency.append((record.arrival - end).total_seconds())
            moved = trigger_arrival(sent, end + timedelta(seconds=delay))
            if moved is not None:
                trigger.append((record.arrival - moved).total_seconds())
                by_window.setdefault(end, []).append(trigger[-1])
        window_latency.sort()
        trigger.sort()

        def pct(values, p):
            return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]

        print("\n".join(measured))
        if window_latency:
            print(f"latency, {len(window_latency)} bot_burst anomalies over {args.live:.0f} s of live traffic:")
            print(
                f"  window end → anomaly in Kinesis   p50 {pct(window_latency, 50):.2f} s   "
                f"p99 {pct(window_latency, 99):.2f} s   max {window_latency[-1]:.2f} s"
            )
            print(
                f"  trigger event in Kinesis → anomaly in Kinesis   p50 {pct(trigger, 50):.3f} s   "
                f"p99 {pct(trigger, 99):.3f} s   max {trigger[-1]:.3f} s   "
                f"({len(trigger)} anomalies, {len(by_window)} windows)"
            )
            if args.windows:
                for end, seconds in sorted(by_window.items()):
                    spread = f"{min(seconds):.3f}–{max(seconds):.3f} s"
                    print(f"    window ending {end:%H:%M:%S}: {len(seconds)} anomalies, {spread}")
            job = config.job
            watermarks, buffers = config.flink.timing(bounded=False)  # the live run's
            print(
                f"  configured parts of it: an empty shard asked again after {job.poll_interval}, watermarks every "
                f"{watermarks}, output batches sent {job.output_flush} after their first row, "
                f"part-filled network buffers between tasks sent after {buffers}"
            )
            calls = 4 / job.poll_interval
            print(
                f"  Kinesis calls this costs at most, idle: {calls:.0f} GetRecords/s on the 4-shard stream "
                f"({1 / job.poll_interval:.0f} per shard; AWS allows 5 per shard, shared by every reader)"
            )
        else:
            print("no bot_burst anomalies arrived: see the job log under the pyflink log directory")
    finally:
        stack.down(config)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
