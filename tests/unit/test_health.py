"""`clickflow status`'s reading and judging, over Flink REST answers shaped as Flink 2.2 gives them (metric ids
`<subtask>.<operator>.kinesisanalytics.<key>.<value>...<name>`, counts as strings), without a JVM."""

from __future__ import annotations

import urllib.error

import pytest

from clickflow import health
from connectors.config import load_config

NOW = 1_800_000_000_000
JOB = "a" * 32
SOURCE = "0.Source__events_raw[1].kinesisanalytics.stream.clickflow-events"


def rest(metrics: dict[str, str], state: str = "RUNNING", last_checkpoint: int = NOW - 2_000, interval: int = 5_000):
    """A fake Flink REST API: one job, two vertices, ``metrics`` split between them."""
    ids = sorted(metrics)
    vertices = {"v1": ids[: len(ids) // 2], "v2": ids[len(ids) // 2 :]}

    def get(path: str):
        if path == "/jobs/overview":
            return {
                "jobs": [
                    {
                        "jid": JOB,
                        "name": "clickflow (local)",
                        "state": state,
                        "start-time": NOW - 60_000,
                        "duration": 60_000,
                    },
                    {"jid": "b" * 32, "name": "old", "state": "FINISHED"},
                ]
            }
        if path == f"/jobs/{JOB}/metrics?get=numRestarts":
            return [{"id": "numRestarts", "value": "2"}]
        if path == f"/jobs/{JOB}/checkpoints/config":
            return {"mode": "exactly_once", "interval": interval}
        if path == f"/jobs/{JOB}/checkpoints":
            return {
                "counts": {"completed": 7, "failed": 1},
                "latest": {
                    "completed": {
                        "latest_ack_timestamp": last_checkpoint,
                        "end_to_end_duration": 80,
                        "checkpointed_size": 4096,
                    }
                },
            }
        if path == f"/jobs/{JOB}":
            return {"vertices": [{"id": v} for v in vertices]}
        for vertex, names in vertices.items():
            base = f"/jobs/{JOB}/vertices/{vertex}/metrics"
            if path == base:
                return [{"id": n} for n in [*names, "0.numRecordsIn"]]
            if path.startswith(base + "?get="):
                asked = urllib.parse.unquote(path.split("?get=")[1]).split(",")
                assert set(asked) <= set(names)
                return [{"id": n, "value": metrics[n]} for n in asked]
        raise AssertionError(path)

    return get


HEALTHY_METRICS = {
    f"{SOURCE}.shard.shardId-000000000000.millisBehindLatest": "120",
    f"{SOURCE}.shard.shardId-000000000000.recordsRead": "300",
    f"{SOURCE}.shard.shardId-000000000001.millisBehindLatest": "0",
    f"{SOURCE}.shard.shardId-000000000001.recordsRead": "200",
    f"{SOURCE}.recordsReadPerSecond": "8.5",
    "0.Source__events_raw[1].watermarkLag": "4000",
    "0.Calc[80].kinesisanalytics.deadLetters": "3",
    "0.Calc[80].kinesisanalytics.deadLettersPerSecond": "0.05",
    "0.Calc[80].kinesisanalytics.reason.not_a_JSON_object.deadLettersByReason": "2",
    "0.Calc[80].kinesisanalytics.reason.missing_field_user_id.deadLettersByReason": "1",
    "0.Calc[81].kinesisanalytics.deadLetters": "2",
    "0.Calc[81].kinesisanalytics.deadLettersPerSecond": "0",
    "0.Calc[81].kinesisanalytics.lateEvents": "2",
    "0.Calc[81].kinesisanalytics.lateEventsPerSecond": "0.0333",
    "0.Calc[81].kinesisanalytics.reason.late.deadLettersByReason": "2",
    "0.Calc[81].kinesisanalytics.analytic.unique_visitors.lateEventsByAnalytic": "1",
    "0.Calc[81].kinesisanalytics.analytic.anomalies.lateEventsByAnalytic": "1",
    "0.out_stream[7]__Writer.kinesisanalytics.stream.clickflow-anomalies.recordsWritten": "11",
    "0.out_stream[7]__Writer.kinesisanalytics.stream.clickflow-anomalies.recordsWrittenPerSecond": "0.2",
    "1.out_stream[7]__Writer.kinesisanalytics.stream.clickflow-anomalies.recordsWritten": "4",
    "0.backPressuredTimeMsPerSecond": "12",
}


def config(*overrides: str):
    return load_config("local", overrides=["job.rest_port=8081", *overrides])


def read(metrics=HEALTHY_METRICS, *overrides: str, **job):
    cfg = config(*overrides)
    return health.read_health(cfg, fetch=rest(metrics, **job))


def test_a_job_is_summed_over_operators_and_subtasks_and_judged_healthy(monkeypatch):
    monkeypatch.setattr(health.time, "time", lambda: NOW / 1000)
    reading = read()
    assert reading.status == health.HEALTHY and reading.verdict == "healthy"
    (job,) = reading.jobs  # the finished job is not shown
    assert (job.job_id, job.state, job.uptime_ms, job.restarts) == (JOB, "RUNNING", 60_000, 2)
    assert [(s.shard, s.lag_ms, s.records_read) for s in job.shards] == [
        ("shardId-000000000000", 120, 300),
        ("shardId-000000000001", 0, 200),
    ]
    assert (job.dead_letters, job.dead_letters_last_minute) == (5, 3)
    assert job.dead_letters_by_reason == {"late": 2, "missing_field_user_id": 1, "not_a_JSON_object": 2}
    assert (job.late_events, job.late_events_last_minute) == (2, 2)
    assert job.late_events_by_analytic == {"anomalies": 1, "unique_visitors": 1}
    assert job.records_out == {"clickflow-anomalies": 15} and job.records_out_per_s == pytest.approx(0.2)
    assert job.records_in_per_s == pytest.approx(8.5) and job.watermark_lag_ms == 4000
    assert (job.checkpoints_completed, job.checkpoints_failed, job.checkpoint_age_ms(NOW)) == (7, 1, 2000)
    assert job.backpressured_ms_per_s == 12
    text = health.render(reading)
    assert "shardId-000000000000  behind       120 ms  read 300" in text
    assert "dead letters 5 in all, 3 in the last minute" in text and "UNHEALTHY" not in text
    assert reading.to_json()["jobs"][0]["problems"] == []


def test_each_threshold_makes_the_job_unhealthy_and_says_which(monkeypatch):
    monkeypatch.setattr(health.time, "time", lambda: NOW / 1000)
    behind = {**HEALTHY_METRICS, f"{SOURCE}.shard.shardId-000000000001.millisBehindLatest": "75000"}
    reading = read(behind)
    assert reading.status == health.UNHEALTHY
    (problem,) = reading.problems[JOB]
    assert problem == "shardId-000000000001 of clickflow-events is 1 min 15 s behind (monitoring.max_lag is 1 min 0 s)"

    stale = read(HEALTHY_METRICS, last_checkpoint=NOW - 16_000)  # 3 intervals of 5 s allowed
    assert stale.problems[JOB] == [
        "16.0 s since the last completed checkpoint (more than monitoring.checkpoint_intervals = 3 intervals of 5.0 s)"
    ]
    assert read(HEALTHY_METRICS, "monitoring.checkpoint_intervals=4", last_checkpoint=NOW - 16_000).status == 0

    assert read(HEALTHY_METRICS, "monitoring.max_dead_letters_per_minute=2").problems[JOB] == [
        "3 dead letters in the last minute (monitoring.max_dead_letters_per_minute is 2)"
    ]
    restarting = read(HEALTHY_METRICS, state="RESTARTING")
    assert restarting.status == health.UNHEALTHY and restarting.problems[JOB] == ["the job is RESTARTING, not RUNNING"]


def test_nothing_answering_is_not_running_and_rest_port_0_cannot_be_found():
    def refused(path):
        raise urllib.error.URLError(ConnectionRefusedError(111, "Connection refused"))

    reading = health.read_health(config(), fetch=refused)
    assert reading.status == health.NOT_RUNNING and reading.jobs == []
    assert health.render(reading) == "not running: no clickflow job at http://127.0.0.1:8081"
    with pytest.raises(health.HealthError, match="job.rest_port is 0"):
        health.read_health(config("job.rest_port=0"), fetch=refused)
    assert health.rest_url(config("job.cluster=127.0.0.1:8082")) == "http://127.0.0.1:8082"


@pytest.mark.parametrize(
    ("ms", "text"), [(950, "950 ms"), (12_300, "12.3 s"), (245_000, "4 min 5 s"), (10_920_000, "3 h 2 min")]
)
def test_durations_read_as_a_person_says_them(ms, text):
    assert health.duration(ms) == text


def test_the_cli_exit_status_is_the_verdict(monkeypatch, capsys):
    from clickflow.cli import main

    monkeypatch.setattr(health, "http_fetch", lambda base: rest(HEALTHY_METRICS, state="RESTARTING"))
    assert main(["status", "--set", "job.rest_port=8081"]) == health.UNHEALTHY
    assert "! the job is RESTARTING, not RUNNING" in capsys.readouterr().out
    monkeypatch.setattr(health, "http_fetch", lambda base: rest(HEALTHY_METRICS))
    assert main(["status", "--set", "job.rest_port=8081", "--format", "json"]) == health.HEALTHY
    assert '"status": "healthy"' in capsys.readouterr().out
