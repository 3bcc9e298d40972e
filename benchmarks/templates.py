"""Template benchmark: records/s of `clickflow generate --template` rendering and sending, on one core,
against a plain Faker loop making the same records, in the same run.

    .venv/bin/python benchmarks/templates.py [--count 200000]

- rendering + sending through the replay's delivery (batches, lanes, retries) into a client that
  accepts every PutRecords at once (what the producer alone can do when the stream can take it),
  with the producer's CPU time per record;
- the same into kinesalite on a private local stack (what one kinesalite can take);
- the baseline: a plain Python loop calling Faker and random per record and json.dumps, rendering
  only (the usual hand-written generator), on the film-streaming template's fields.
The Kinesis Data Generator itself runs in a browser and is reported by its users to top out around a
few thousand records/s; it cannot run against a local emulator, so it is not measured here.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

FILM = ROOT / "templates" / "film-streaming.json.tpl"
WEB = ROOT / "templates" / "web-engagement.yaml"


class Accepting:
    """A PutRecords client that accepts everything at once (no network)."""

    def put_records(self, stream, entries):
        return {"FailedRecordCount": 0, "Records": [{"SequenceNumber": "1", "ShardId": "s"}] * len(entries)}

    def close(self):
        pass


def faker_loop(count: int, web: bool) -> float:
    """The same fields made the usual way: Faker and random called per record, then json.dumps."""
    import uuid

    from faker import Faker

    fake = Faker("en_US")
    fake.seed_instance(1)
    rng = random.Random(1)
    started = time.perf_counter()
    for _ in range(count):
        if web:  # a page view of the web-engagement template
            record = {
                "event_id": str(uuid.uuid4()),
                "event_type": "page_view",
                "occurred_at": datetime.now(UTC).isoformat(),
                "identity": {"anonymous_id": f"anon-{rng.randint(1, 20000)}", "email": fake.email()},
                "device": {"type": rng.choice(["mobile", "desktop", "tablet"]), "ip": fake.ipv4()},
                "channel": rng.choice(["organic", "paid_search", "social", "email", "referral"]),
                "page": {"title": f"{fake.color_name()} {fake.word()}", "referrer": fake.url()},
            }
        else:
            record = {
                "eventType": rng.choices(["rent", "buy", "trailer"], weights=[0.3, 0.1, 0.6])[0],
                "film_id": rng.randint(1, 1000),
                "state": fake.state(),
                "timestamp": datetime.now(UTC).isoformat(),
            }
        json.dumps(record)
    return count / (time.perf_counter() - started)


def clickflow_send(count: int, config, make_client, template: Path) -> tuple[float, float]:
    from producer.replay import ReplayOptions, replay
    from producer.templates import RenderOptions, keyed_records, load_templates

    templates = load_templates(template, seed=1)
    records = keyed_records(templates, RenderOptions(seed=1, count=count), None)
    with tempfile.TemporaryDirectory() as work:
        options = ReplayOptions(
            source=f"{template}#bench",
            stream="bench",
            progress=False,
            progress_path=Path(work) / "p.json",
            rejects_path=Path(work) / "r.jsonl",
        )
        cpu, started = time.process_time(), time.perf_counter()
        summary = replay(config, options, make_client=make_client, records=records, total=count)
        elapsed, used = time.perf_counter() - started, time.process_time() - cpu
    assert summary.records_sent == count, summary
    return count / elapsed, used * 1e6 / count


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=200_000)
    args = parser.parse_args()
    from connectors.config import load_config
    from connectors.local_stack import stack

    config = load_config("local")
    for name, template, web in (("film streaming", FILM, False), ("web engagement", WEB, True)):
        baseline = faker_loop(args.count // 10, web)
        rate, cpu = clickflow_send(args.count, config, Accepting, template)
        print(f"{name}: plain Faker loop, render only — baseline   {baseline:>10,.0f} records/s")
        print(
            f"{name}: clickflow render + send (accepting client) {rate:>10,.0f} records/s   "
            f"({cpu:.1f} µs producer CPU per record; {rate / baseline:.1f}x the baseline)"
        )
    with tempfile.TemporaryDirectory() as state:
        local = load_config("local", overrides=stack.private_overrides(Path(state)))
        stack.up(local)
        try:
            from connectors import aws
            from producer.replay import _client_factory

            kinesis = aws.client(local, "kinesis")
            kinesis.create_stream(StreamName="bench", ShardCount=4)
            kinesis.get_waiter("stream_exists").wait(StreamName="bench")
            into, _ = clickflow_send(min(args.count, 100_000), local, _client_factory(local, "http"), FILM)
        finally:
            stack.down(local)
    print(f"film streaming: clickflow render + send into kinesalite {into:>10,.0f} records/s (kinesalite's ceiling)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
