"""`clickflow status` and the Prometheus endpoint beside a running job on the local stack: the counts they show
are the ones injected (records read per shard, dead letters by reason, late events by analytic), a shard the
fault proxy stalls shows a lag growing with the clock, and the exit status says healthy, unhealthy or not
running."""

from __future__ import annotations

import json
import os
import re
import signal
import urllib.request
import uuid
from collections import Counter

import pytest

from connectors import aws
from connectors.config import load_config
from connectors.local_stack.stack import free_port
from jobs.analytics import ANALYTICS
from producer.generate import GenerateOptions, write_generated
from tests.conftest import run_cli, start_cli
from tests.faulty_kinesis import FaultyKinesis
from tests.integration.test_stream_job import LATE, MALFORMED
from tests.kinesis_helpers import wait_for

pytestmark = pytest.mark.integration

EVENTS = 3000
STALLED = "shardId-000000000001"


def status(overrides) -> tuple[int, dict]:
    result = run_cli("status", "--format", "json", overrides=overrides, check=False)
    assert result.returncode in (0, 3, 4), result.stderr
    return result.returncode, json.loads(result.stdout)


def prometheus(port: int) -> dict[str, list]:
    """The endpoint's samples by metric name, parsed with the Prometheus client's own text parser."""
    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    samples: dict[str, list] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append(sample)
    return samples


def total(samples: dict[str, list], name: str) -> float:
    return sum(s.value for s in samples.get(f"flink_taskmanager_job_task_operator_kinesisanalytics_{name}", []))


def test_status_and_prometheus_show_what_was_injected_and_a_stalled_shard(local_stack, tmp_path):
    _, stack_overrides = local_stack
    suffix = uuid.uuid4().hex[:6]
    rest, prom = free_port(), free_port()
    overrides = [
        *stack_overrides,
        f"streams.events.name=events-{suffix}",
        "streams.events.shards=4",
        *(f"streams.{role}.name={role.replace('_', '-')}-{suffix}" for role in (*ANALYTICS, "dead_letters")),
        f"job.archive={tmp_path / 'archive'}",
        f"job.checkpoint_dir={tmp_path / 'checkpoints'}",
        "job.checkpoint_interval=1s",
        f"job.rest_port={rest}",
        f"monitoring.prometheus={prom}",
        "monitoring.max_lag=4s",
    ]
    config = load_config("local", overrides=overrides)
    run_cli("stack", "up", overrides=overrides)
    assert status(overrides)[0] == 3  # nothing runs yet: "not running"

    sample = tmp_path / "sample.csv"
    write_generated(GenerateOptions(events=EVENTS, seed=5), sample)
    run_cli("replay", str(sample), "--quiet", overrides=overrides)
    kinesis = aws.client(config, "kinesis")
    kinesis.put_records(
        StreamName=config.stream("events").name,
        Records=[{"Data": data, "PartitionKey": f"bad{i}"} for i, (data, _) in enumerate(MALFORMED)],
    )

    with FaultyKinesis(aws.endpoint_for(config, "kinesis"), failing_puts=0, throttled_gets=0, expired_gets=0) as proxy:
        log = tmp_path / "run.log"  # the job reads (and writes) through the proxy
        job = start_cli("run", overrides=[*overrides, f"aws.endpoints.kinesis={proxy.url}"], log=log)
        try:

            def reading(check):
                assert job.poll() is None, log.read_text()[-3000:]
                code, health = status(overrides)
                return check(code, health["jobs"][0]) if health["jobs"] else None

            # every record read, each shard's count as Kinesis holds it; the malformed ones counted by reason
            per_shard = Counter()
            for shard in kinesis.list_shards(StreamName=config.stream("events").name)["Shards"]:
                iterator = kinesis.get_shard_iterator(
                    StreamName=config.stream("events").name, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
                )["ShardIterator"]
                while iterator:
                    page = kinesis.get_records(ShardIterator=iterator, Limit=10000)
                    per_shard[shard["ShardId"]] += len(page["Records"])
                    iterator = page.get("NextShardIterator") if page["Records"] else None
            assert sum(per_shard.values()) == EVENTS + len(MALFORMED)

            # Flink's REST API shows a newly registered metric (a reason's first counter) a fetch after the
            # others, and a rate over the last minute within 5 s of its counter (MeterView): the whole picture
            # is waited for, then each value is exact
            def settled(expected: dict, what: str, timeout: float) -> dict:
                last: dict = {}

                def check(code, j):
                    seen = {**j, "records_by_shard": {s["shard"]: s["records_read"] for s in j["shards"]}}
                    last.update({key: seen.get(key) for key in expected})
                    return j if all(seen.get(key) == value for key, value in expected.items()) else None

                try:
                    return wait_for(lambda: reading(check), timeout, what)
                except AssertionError as exc:
                    raise AssertionError(f"{exc}\nwanted {expected}\nlast seen {last}") from None

            # the reason's kind: its text before the value it quotes, letters, digits and _ (as a label can hold)
            kinds = Counter(re.sub(r"[^A-Za-z0-9_]", "_", reason.split(": ")[0]) for _, reason in MALFORMED)
            job_health = settled(
                {
                    "records_by_shard": dict(per_shard),
                    "dead_letters": len(MALFORMED),
                    "dead_letters_by_reason": dict(kinds),
                    "state": "RUNNING",
                    "restarts": 0,
                    "late_events": 0,
                },
                "status to show every record read and the malformed ones as dead letters by reason",
                180,
            )

            # a valid event from before every window still open: late for each analytic
            late = kinesis.put_record(StreamName=config.stream("events").name, Data=LATE, PartitionKey="late")
            per_shard[late["ShardId"]] += 1
            job_health = settled(
                {
                    "records_by_shard": dict(per_shard),
                    "late_events": len(ANALYTICS),
                    "late_events_by_analytic": dict.fromkeys(ANALYTICS, 1),
                    "late_events_last_minute": len(ANALYTICS),  # all within the minute
                    "dead_letters": len(MALFORMED) + len(ANALYTICS),
                    "dead_letters_by_reason": {**kinds, "late": len(ANALYTICS)},
                },
                "status to show the late event",
                60,
            )
            # the malformed records may have been counted more than a minute ago; the late event was not
            assert len(ANALYTICS) <= job_health["dead_letters_last_minute"] <= len(MALFORMED) + len(ANALYTICS)
            assert job_health["checkpoints_completed"] >= 1 and job_health["checkpoint_interval_ms"] == 1000
            # the dashboard's health strip reads the same (its page is tested in test_dashboard)
            from clickflow.dashboard.app import job_health as dashboard_health

            strip = dashboard_health(config)["jobs"][0]
            assert (strip["job_id"], strip["late_events_by_analytic"]) == (
                job_health["job_id"],
                dict.fromkeys(ANALYTICS, 1),
            )
            code, _ = wait_for(lambda: reading(lambda code, j: (code, j) if code == 0 else None), 60, "healthy")

            samples = prometheus(prom)
            assert total(samples, "deadLetters") == len(MALFORMED) + len(ANALYTICS)
            assert total(samples, "lateEvents") == len(ANALYTICS)
            by_analytic = {
                s.labels["analytic"]: s.value
                for s in samples["flink_taskmanager_job_task_operator_kinesisanalytics_analytic_lateEventsByAnalytic"]
            }
            assert by_analytic == dict.fromkeys(ANALYTICS, 1.0)
            read = samples["flink_taskmanager_job_task_operator_kinesisanalytics_stream_shard_recordsRead"]
            # Prometheus label values have Flink's character filter applied ('-' becomes '_')
            assert {s.labels["shard"]: s.value for s in read} == {
                shard.replace("-", "_"): float(n) for shard, n in per_shard.items()
            }

            # one shard stalls (every GetRecords on it throttled): its lag grows with the clock, the others' not
            proxy.stalled = STALLED

            def lags(j):
                return {s["shard"]: s["lag_ms"] for s in j["shards"]}

            first = wait_for(
                lambda: reading(lambda code, j: (code, lags(j)) if lags(j)[STALLED] > 4000 else None),
                40,
                "the stalled shard's lag to pass 4 s",
            )
            assert first[0] == 4  # unhealthy: monitoring.max_lag is 4 s
            assert all(lag < 4000 for shard, lag in first[1].items() if shard != STALLED), first
            later = wait_for(
                lambda: reading(lambda code, j: lags(j) if lags(j)[STALLED] > first[1][STALLED] + 2000 else None),
                30,
                "the stalled shard's lag to grow",
            )
            text = run_cli("status", overrides=overrides, check=False)
            assert text.returncode == 4 and f"{STALLED} of events-{suffix} is" in text.stdout, text.stdout
            stalled_lag = [
                s.value
                for s in prometheus(prom)[
                    "flink_taskmanager_job_task_operator_kinesisanalytics_stream_shard_millisBehindLatest"
                ]
                if s.labels["shard"] == STALLED.replace("-", "_")
            ]
            assert stalled_lag and stalled_lag[0] >= later[STALLED], (stalled_lag, later)
            assert proxy.stalled_gets > 0

            proxy.stalled = None  # answered again: the lag is Kinesis' own once more
            wait_for(lambda: reading(lambda code, j: code == 0 and lags(j)[STALLED] < 4000), 60, "healthy again")
        finally:
            os.killpg(job.pid, signal.SIGKILL)
            job.wait(30)
    assert wait_for(lambda: status(overrides)[0] == 3, 30, "status to say not running")
