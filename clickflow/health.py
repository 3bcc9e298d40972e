"""The health of a running clickflow job, read from Flink's REST API: the one reading behind ``clickflow status``
and the dashboard's health strip.

Flink's REST API answers wherever a local job runs (the embedded Flink on ``job.rest_port``, the local cluster or
compose on ``job.cluster``), always on loopback here. It gives the job's state, uptime, restarts and checkpoints,
and every metric of every task; clickflow's own metrics are the ones under the group ``kinesisanalytics``
(registered by the connector and by ``COUNT_DEAD_LETTER``; docs/tasks/operating.md lists them):

* ``stream.<s>.shard.<id>.millisBehindLatest`` / ``recordsRead``: each shard's lag and the records read from it;
* ``stream.<s>.recordsReadPerSecond`` / ``recordsWritten`` / ``recordsWrittenPerSecond``: throughput in and out;
* ``deadLetters``, ``deadLettersPerSecond``, ``reason.<kind>.deadLettersByReason``;
* ``lateEvents``, ``lateEventsPerSecond``, ``analytic.<name>.lateEventsByAnalytic``.

The same metric may be registered by several operators (a dead letter is counted where it is made) and subtasks:
counts and rates are summed, lags take the largest. Reading is :func:`read_health` (I/O); judging is
:func:`judge`, a pure function of what was read and the ``monitoring:`` thresholds.
"""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from connectors.config import Config, MonitoringConfig
from connectors.environment import cluster_settings

HEALTHY, NOT_RUNNING, UNHEALTHY = 0, 3, 4  # `clickflow status`'s exit statuses
ENDED = ("FINISHED", "CANCELED", "FAILED", "SUSPENDED")
GROUP = "kinesisanalytics"
# <subtask>.<operator>.kinesisanalytics.<key>.<value>...<name>
_OURS = re.compile(r"^\d+\.(?:.*?\.)?" + GROUP + r"\.(.+)$")
NO_WATERMARK = 10**15  # watermarkLag before the first watermark: Long.MAX_VALUE-ish, not a lag


class HealthError(RuntimeError):
    """Flink's REST API answered with something that is not a job's status; the message says what."""


@dataclass(frozen=True)
class ShardHealth:
    """One shard of a stream the job reads."""

    stream: str
    shard: str
    lag_ms: int  # Kinesis' MillisBehindLatest, growing with the clock while the shard gets no answer
    records_read: int


@dataclass(frozen=True)
class JobHealth:
    """What Flink's REST API says of one job, summed over its operators and subtasks."""

    job_id: str
    name: str
    state: str
    started_at_ms: int
    uptime_ms: int
    restarts: int = 0
    checkpoints_completed: int = 0
    checkpoints_failed: int = 0
    checkpoint_interval_ms: int = 0  # 0: checkpointing off
    last_checkpoint_at_ms: int = 0  # 0: none completed yet
    last_checkpoint_duration_ms: int = 0
    last_checkpoint_size: int = 0
    shards: list[ShardHealth] = field(default_factory=list)
    records_in_per_s: float = 0.0
    records_out: dict[str, int] = field(default_factory=dict)  # output stream -> records Kinesis acknowledged
    records_out_per_s: float = 0.0
    watermark_lag_ms: int | None = None
    backpressured_ms_per_s: float = 0.0  # the most back-pressured task's
    dead_letters: int = 0
    dead_letters_last_minute: int = 0
    dead_letters_by_reason: dict[str, int] = field(default_factory=dict)
    late_events: int = 0
    late_events_last_minute: int = 0
    late_events_by_analytic: dict[str, int] = field(default_factory=dict)

    def checkpoint_age_ms(self, now_ms: int) -> int:
        """Time since the last completed checkpoint (since the start when none has)."""
        return now_ms - (self.last_checkpoint_at_ms or self.started_at_ms)


@dataclass(frozen=True)
class Health:
    """The verdict on every job found at ``where``: its exit status, and each job's problems."""

    where: str
    jobs: list[JobHealth]
    problems: dict[str, list[str]]  # job id -> what is wrong (empty: healthy)
    checked_at_ms: int

    @property
    def status(self) -> int:
        """``HEALTHY`` (0), ``UNHEALTHY`` (4) when any job has a problem, ``NOT_RUNNING`` (3) with no job."""
        if not self.jobs:
            return NOT_RUNNING
        return UNHEALTHY if any(self.problems.values()) else HEALTHY

    @property
    def verdict(self) -> str:
        """The status in a word."""
        return {HEALTHY: "healthy", UNHEALTHY: "unhealthy", NOT_RUNNING: "not running"}[self.status]

    def to_json(self) -> dict[str, Any]:
        """The whole reading as plain JSON (``status --format json``, the dashboard's ``/health.json``)."""
        return {
            "where": self.where,
            "status": self.verdict,
            "exit_status": self.status,
            "checked_at_ms": self.checked_at_ms,
            "jobs": [
                {
                    **asdict(job),
                    "checkpoint_age_ms": job.checkpoint_age_ms(self.checked_at_ms),
                    "problems": self.problems.get(job.job_id, []),
                }
                for job in self.jobs
            ],
        }


# --------------------------------------------------------------------------- reading


def rest_url(config: Config) -> str:
    """Where the profile's jobs answer: the cluster's REST address, else the embedded Flink's ``job.rest_port``."""
    if config.job.cluster:
        settings = cluster_settings(config)
        return f"http://{settings['rest.address']}:{settings['rest.port']}"
    if not config.job.rest_port:
        raise HealthError(
            "job.rest_port is 0 (any free port), so a running job cannot be found: give it a port "
            "(the local profile's is 8081), e.g. --set job.rest_port=8081, and run the job with the same"
        )
    return f"http://127.0.0.1:{config.job.rest_port}"


Fetch = Callable[[str], Any]


def http_fetch(base: str, timeout: float = 10.0) -> Fetch:
    """GET ``base + path`` as JSON."""

    def get(path: str) -> Any:
        with urllib.request.urlopen(base + path, timeout=timeout) as response:  # noqa: S310 (loopback http)
            return json.load(response)

    return get


def read_health(config: Config, job_id: str | None = None, fetch: Fetch | None = None) -> Health:
    """Read every job that is not over (or only ``job_id``) from the profile's Flink and judge it."""
    base = rest_url(config)
    get = fetch or http_fetch(base)
    now = int(time.time() * 1000)
    try:
        overview = get("/jobs/overview")
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return Health(base, [], {}, now)  # nothing answers: no job runs there
    jobs = [
        read_job(get, job)
        for job in overview.get("jobs", [])
        if (job_id is None and job.get("state") not in ENDED) or job.get("jid") == job_id
    ]
    return Health(base, jobs, {job.job_id: judge(job, config.monitoring, now) for job in jobs}, now)


def read_job(get: Fetch, job: dict[str, Any]) -> JobHealth:
    """One job's health from its overview entry and its REST resources."""
    jid = job["jid"]
    values = {m["id"]: m.get("value") for m in get(f"/jobs/{jid}/metrics?get=numRestarts")}
    interval = 0
    counts: dict[str, Any] = {}
    latest: dict[str, Any] = {}
    try:  # the checkpoint statistics themselves: the job's checkpoint metrics can be a fetch behind
        interval = int(get(f"/jobs/{jid}/checkpoints/config").get("interval") or 0)
        statistics = get(f"/jobs/{jid}/checkpoints")
        counts, latest = statistics.get("counts") or {}, (statistics.get("latest") or {}).get("completed") or {}
    except urllib.error.HTTPError:
        pass  # checkpointing off: Flink answers 404
    if interval >= 2**62:  # Flink's "never" when checkpointing is off
        interval = 0
    ours: dict[str, float] = {}
    labelled: list[tuple[dict[str, str], str, float]] = []
    watermark_lags: list[float] = []
    backpressure = 0.0
    detail = get(f"/jobs/{jid}")
    for vertex in detail.get("vertices", []):
        base = f"/jobs/{jid}/vertices/{vertex['id']}/metrics"
        wanted = [
            m["id"]
            for m in get(base)
            if f".{GROUP}." in m["id"] or m["id"].endswith((".watermarkLag", ".backPressuredTimeMsPerSecond"))
        ]
        for start in range(0, len(wanted), 40):  # keep each URL short
            chunk = ",".join(urllib.parse.quote(name, safe="") for name in wanted[start : start + 40])
            for metric in get(f"{base}?get={chunk}"):
                value = _number(metric.get("value"))
                if value is None:
                    continue
                name = metric["id"]
                if name.endswith(".watermarkLag"):
                    watermark_lags.append(value)
                elif name.endswith(".backPressuredTimeMsPerSecond"):
                    backpressure = max(backpressure, value)
                elif match := _OURS.match(name):
                    labels, metric_name = _labels(match.group(1))
                    if labels:
                        labelled.append((labels, metric_name, value))
                    else:
                        ours[metric_name] = ours.get(metric_name, 0.0) + value
    shards: dict[tuple[str, str], list[float]] = {}
    records_out: dict[str, int] = {}
    per_second = {"recordsReadPerSecond": 0.0, "recordsWrittenPerSecond": 0.0}
    by_reason: dict[str, int] = {}
    by_analytic: dict[str, int] = {}
    for labels, name, value in labelled:
        if "shard" in labels:
            lag_read = shards.setdefault((labels.get("stream", ""), labels["shard"]), [0.0, 0.0])
            if name == "millisBehindLatest":
                lag_read[0] = max(lag_read[0], value)
            elif name == "recordsRead":
                lag_read[1] += value
        elif name == "recordsWritten":
            records_out[labels["stream"]] = records_out.get(labels["stream"], 0) + int(value)
        elif name in per_second:
            per_second[name] += value
        elif name == "deadLettersByReason":
            by_reason[labels["reason"]] = by_reason.get(labels["reason"], 0) + int(value)
        elif name == "lateEventsByAnalytic":
            by_analytic[labels["analytic"]] = by_analytic.get(labels["analytic"], 0) + int(value)
    lags = [lag for lag in watermark_lags if 0 <= lag < NO_WATERMARK]
    return JobHealth(
        job_id=jid,
        name=job.get("name", ""),
        state=job.get("state", "UNKNOWN"),
        started_at_ms=int(job.get("start-time") or 0),
        uptime_ms=int(job.get("duration") or 0),
        restarts=int(_number(values.get("numRestarts")) or 0),
        checkpoints_completed=int(counts.get("completed") or 0),
        checkpoints_failed=int(counts.get("failed") or 0),
        checkpoint_interval_ms=interval,
        last_checkpoint_at_ms=int(latest.get("latest_ack_timestamp") or 0),
        last_checkpoint_duration_ms=int(latest.get("end_to_end_duration") or 0),
        last_checkpoint_size=int(latest.get("checkpointed_size") or latest.get("state_size") or 0),
        shards=[
            ShardHealth(stream, shard, int(lag), int(read)) for (stream, shard), (lag, read) in sorted(shards.items())
        ],
        records_in_per_s=per_second["recordsReadPerSecond"],
        records_out=dict(sorted(records_out.items())),
        records_out_per_s=per_second["recordsWrittenPerSecond"],
        watermark_lag_ms=int(max(lags)) if lags else None,
        backpressured_ms_per_s=backpressure,
        dead_letters=int(ours.get("deadLetters", 0)),
        dead_letters_last_minute=round(ours.get("deadLettersPerSecond", 0.0) * 60),
        dead_letters_by_reason=dict(sorted(by_reason.items())),
        late_events=int(ours.get("lateEvents", 0)),
        late_events_last_minute=round(ours.get("lateEventsPerSecond", 0.0) * 60),
        late_events_by_analytic=dict(sorted(by_analytic.items())),
    )


def _labels(path: str) -> tuple[dict[str, str], str]:
    """``stream.s.shard.x.name`` -> ({stream: s, shard: x}, name); key and value alternate before the name."""
    parts = path.split(".")
    pairs = parts[:-1]
    return dict(zip(pairs[0::2], pairs[1::2], strict=False)), parts[-1]


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if number != number else number  # NaN: not measured yet


# --------------------------------------------------------------------------- judging


def judge(job: JobHealth, monitoring: MonitoringConfig, now_ms: int) -> list[str]:
    """What is wrong with ``job`` by the ``monitoring:`` thresholds (empty: healthy)."""
    problems = []
    if job.state != "RUNNING":
        problems.append(f"the job is {job.state}, not RUNNING")
    max_lag_ms = monitoring.max_lag * 1000
    for shard in job.shards:
        if shard.lag_ms > max_lag_ms:
            problems.append(
                f"{shard.shard} of {shard.stream} is {duration(shard.lag_ms)} behind "
                f"(monitoring.max_lag is {duration(max_lag_ms)})"
            )
    if job.checkpoint_interval_ms and job.state == "RUNNING":
        allowed = job.checkpoint_interval_ms * monitoring.checkpoint_intervals
        age = job.checkpoint_age_ms(now_ms)
        if age > allowed:
            since = "the last completed checkpoint" if job.last_checkpoint_at_ms else "the start, and none completed"
            problems.append(
                f"{duration(age)} since {since} (more than monitoring.checkpoint_intervals = "
                f"{monitoring.checkpoint_intervals} intervals of {duration(job.checkpoint_interval_ms)})"
            )
    if job.dead_letters_last_minute > monitoring.max_dead_letters_per_minute:
        problems.append(
            f"{job.dead_letters_last_minute} dead letters in the last minute "
            f"(monitoring.max_dead_letters_per_minute is {monitoring.max_dead_letters_per_minute:g})"
        )
    return problems


# --------------------------------------------------------------------------- showing


def duration(ms: float) -> str:
    """``950 ms``, ``12.3 s``, ``4 min 5 s``, ``3 h 2 min``, ``2 d 3 h``."""
    if ms < 1000:
        return f"{int(ms)} ms"
    seconds = ms / 1000
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, seconds = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {seconds} s"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h"


def render(health: Health) -> str:
    """One screen of plain text."""
    if not health.jobs:
        return f"not running: no clickflow job at {health.where}"
    lines = []
    for job in health.jobs:
        problems = health.problems.get(job.job_id, [])
        lines.append(f"{job.name}  {job.job_id}")
        lines.append(
            f"  {job.state.lower()} for {duration(job.uptime_ms)} at {health.where}   "
            f"restarts {job.restarts}   {'UNHEALTHY' if problems else 'healthy'}"
        )
        checkpoint = "off"
        if job.checkpoint_interval_ms:
            last = (
                f"last {duration(job.checkpoint_age_ms(health.checked_at_ms))} ago "
                f"({duration(job.last_checkpoint_duration_ms)}, {job.last_checkpoint_size:,} bytes)"
                if job.last_checkpoint_at_ms
                else "none completed yet"
            )
            checkpoint = (
                f"{last}; {job.checkpoints_completed} completed, {job.checkpoints_failed} failed, "
                f"every {duration(job.checkpoint_interval_ms)}"
            )
        lines.append(f"  checkpoints  {checkpoint}")
        watermark = "no watermark yet" if job.watermark_lag_ms is None else f"{duration(job.watermark_lag_ms)}"
        lines.append(
            f"  throughput   in {job.records_in_per_s:,.1f}/s   out {job.records_out_per_s:,.1f}/s   "
            f"watermark behind the clock {watermark}   back-pressure {job.backpressured_ms_per_s:.0f} ms/s"
        )
        if job.shards:
            lines.append("  shards")
            for shard in job.shards:
                lines.append(
                    f"    {shard.stream} {shard.shard}  behind {duration(shard.lag_ms):>12}  "
                    f"read {shard.records_read:,}"
                )
        if job.records_out:
            lines.append("  written      " + ", ".join(f"{s} {n:,}" for s, n in job.records_out.items()))
        reasons = ", ".join(f"{reason} {n:,}" for reason, n in job.dead_letters_by_reason.items())
        lines.append(
            f"  dead letters {job.dead_letters:,} in all, {job.dead_letters_last_minute:,} in the last minute"
            + (f"  ({reasons})" if reasons else "")
        )
        analytics = ", ".join(f"{name} {n:,}" for name, n in job.late_events_by_analytic.items())
        lines.append(
            f"  late events  {job.late_events:,} in all, {job.late_events_last_minute:,} in the last minute"
            + (f"  ({analytics})" if analytics else "")
        )
        for problem in problems:
            lines.append(f"  ! {problem}")
    return "\n".join(lines)
