"""Typed configuration: YAML profiles (or MSF property groups) loaded once into frozen dataclasses.

Every value is checked at load time, and an error names where the value came from (a file, an
MSF property group, or a ``--set`` option) and its dotted key, e.g.
``connectors/profiles/local.yaml: producer.in_flight: expected an integer, got 'four'``.
"""

from __future__ import annotations

import dataclasses
import json
import re
import types
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

PROFILES_DIR = Path(__file__).resolve().parent / "profiles"
PROFILES = ("local", "cluster", "compose", "aws")
MSF_PROPERTIES_FILE = Path("/etc/flink/application_properties.json")
# Names another file of property groups in MSF_PROPERTIES_FILE's place: how `clickflow deploy --local`
# hands a package's groups to its entry point without changing the zip.
PROPERTIES_OVERRIDE_ENV = "CLICKFLOW_APPLICATION_PROPERTIES"
# `--set` overrides from the environment (shell words; PROFILE:key=value for one profile only), applied over
# the config file and before the command line's own --set: a CI job or a sandbox points every command at other
# endpoints and folders at once
SET_ENV = "CLICKFLOW_SET"
TOP_LEVEL_GROUP = "clickflow"  # the MSF property group whose keys are top-level config keys


def msf_properties_file(default: Path = MSF_PROPERTIES_FILE) -> Path:
    """Where the application's property groups are: where Managed Flink writes them (``default``), or
    the file ``$CLICKFLOW_APPLICATION_PROPERTIES`` names (a rehearsal on this machine)."""
    import os

    override = os.environ.get(PROPERTIES_OVERRIDE_ENV)
    return Path(override) if override else default


class ConfigError(ValueError):
    """A configuration value is missing, unknown or of the wrong type; the message says where."""


class OptionError(ValueError):
    """A command's option or input is out of range, not finite, or at odds with another option; the
    message names it and what would be right. The CLI prints it as a one-line error."""


class Duration(float):
    """Seconds, written in config as ``250ms``, ``10s``, ``1m``, ``1h`` or ``1d``."""

    _UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
    _PATTERN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$")

    @classmethod
    def parse(cls, text: str) -> Duration:
        """A duration from its written form, e.g. ``250ms`` or ``1h``."""
        match = cls._PATTERN.match(str(text))
        if not match:
            raise ValueError(f"bad duration {text!r} (write it like 250ms, 10s, 1m, 1h or 1d)")
        return cls(float(match.group(1)) * cls._UNITS[match.group(2)])

    def as_flink(self) -> str:
        """The duration as Flink's configuration options take it, in whole milliseconds: ``250 ms``."""
        return f"{round(self * 1000)} ms"

    def __str__(self) -> str:
        for unit in ("d", "h", "m", "s"):
            count = self / self._UNITS[unit]
            if count >= 1 and count == int(count):
                return f"{int(count)}{unit}"
        return f"{round(self * 1000)}ms"


# --------------------------------------------------------------------------- the schema


@dataclass(frozen=True)
class AwsConfig:
    """The ``aws:`` section: region, account, credentials, and each service's endpoint."""

    region: str = "us-east-1"  # the AWS region of every service
    # "chain": the standard AWS credential chain (env, shared profile, role). "local": dummy keys,
    # allowed only when every endpoint is on loopback (the embedded stack checks no signatures).
    credentials: str = "chain"
    # Per-service endpoint URLs, keyed by boto3 service name; "default" serves every other service.
    # AWS_ENDPOINT_URL_<SERVICE> and AWS_ENDPOINT_URL in the environment override these.
    endpoints: dict[str, str] = field(default_factory=dict)
    # Goes into stream ARNs (Flink's Kinesis connectors address streams by ARN). The local stack's
    # account is 000000000000; on AWS set your own.
    account_id: str = "000000000000"
    # A role the jobs' Kinesis connector assumes (STS AssumeRole) with the credentials above; empty:
    # it uses them directly. STS is reached at aws.endpoints.sts (or default) when one is set.
    role_arn: str = ""
    role_session_name: str = "clickflow"  # the session name of that AssumeRole
    role_external_id: str = ""  # the external id the role's trust policy asks for; empty: none
    # The connector's AWS SDK retries: attempts at one call (1: none), between these delays
    retry_attempts: int = 50
    retry_delay_min: Duration = Duration(0.3)  # the first retry's delay ...
    retry_delay_max: Duration = Duration(1.0)  # ... growing up to this


@dataclass(frozen=True)
class StreamSpec:
    """A Kinesis stream's name and shard count."""

    name: str  # the stream's name (ROLE: events, an analytic's name, or dead_letters)
    shards: int = 1  # its shards when clickflow creates it (`stack up`, `deploy`)


@dataclass(frozen=True)
class ProducerConfig:
    """The ``producer:`` section: batching, lanes, retries and back-off of PutRecords."""

    batch_records: int = 500  # PutRecords takes at most 500 records per call
    in_flight: int = 4  # concurrent PutRecords calls (one lane each; a key always uses the same lane)
    max_retries: int = 10  # attempts per record after the first, before it is written off as undelivered
    backoff_base: Duration = Duration(0.1)
    backoff_max: Duration = Duration(5.0)  # retries back off exponentially from backoff_base up to this
    linger: Duration = Duration(0.2)  # longest a record waits in a part-filled batch when pacing
    # event times later than now + this are refused (and all at or before 1970-01-01 00:00:00 UTC)
    max_event_time_ahead: Duration = Duration(86400.0)


@dataclass(frozen=True)
class StackConfig:
    """The ``stack:`` section: where the local stack keeps its state, and how long it may take to start."""

    state_dir: str = ".clickflow"  # relative paths are taken from the project root
    start_timeout: Duration = Duration(30.0)
    # The local Kinesis: "kinesalite" (fast; polling only) or "kinesis-mock" (npm kinesis-local: speaks
    # SubscribeToShard, so enhanced fan-out readers work; ~750 writes/s here)
    kinesis_server: str = "kinesalite"


@dataclass(frozen=True)
class ClusterConfig:
    """The local Flink session cluster (``clickflow cluster``): a JobManager and a TaskManager from the
    apache-flink wheel's distribution, on 127.0.0.1. Its REST address (Web UI) is ``job.cluster``.
    The defaults fit a 2-core, 8 GB laptop: 1 GB + 2 GB of processes, one slot per core."""

    rpc_port: int = 6123  # the JobManager's RPC port (the TaskManager's ports are picked free)
    sql_gateway_port: int = 8083  # Flink's SQL gateway (REST) for `clickflow sql`; 0: none
    task_slots: int = 2
    jobmanager_memory: str = "1024m"  # jobmanager.memory.process.size
    taskmanager_memory: str = "2048m"  # taskmanager.memory.process.size
    start_timeout: Duration = Duration(90.0)  # until the TaskManager has registered


@dataclass(frozen=True)
class WindowConfig:
    """A tumbling window's length."""

    window: Duration = Duration(60.0)  # the tumbling window's length


@dataclass(frozen=True)
class TopCategoriesConfig:
    """The top-categories analytic: its window and how many categories per window."""

    window: Duration = Duration(3600.0)  # the tumbling window's length
    top_n: int = 10  # categories ranked per window (by views)


@dataclass(frozen=True)
class CartAbandonmentConfig:
    """The cart-abandonment analytic: the inactivity gap that ends a session."""

    session_gap: Duration = Duration(1800.0)  # a gap this long or longer starts a new session


@dataclass(frozen=True)
class BotBurstConfig:
    """The bot-burst analytic: a user with more than ``threshold`` events in one window is flagged."""

    window: Duration = Duration(10.0)  # the tumbling window events are counted in
    threshold: int = 10  # at least 1; flagged when a user has more events than this in one window


@dataclass(frozen=True)
class TrafficSpikeConfig:
    """The traffic-spike analytic: a window this many standard deviations above the mean of the ones before."""

    window: Duration = Duration(10.0)  # the tumbling window all events are counted in
    baseline_windows: int = 30  # the non-empty windows before it that make the baseline ...
    min_baseline_windows: int = 10  # ... and how many must precede a window before it can be flagged
    stddevs: float = 3.0  # flagged above mean + stddevs x max(population stddev, 1)


@dataclass(frozen=True)
class RcfTrafficConfig:
    """The rcf_traffic analytic (sql/anomalies.sql): a Random Cut Forest over each window's traffic features,
    standardised against the windows before it; a window scoring above ``threshold`` is flagged."""

    window: Duration = Duration(10.0)  # the tumbling window whose traffic features are scored
    threshold: float = 2.0  # RCF scores: about 1 for a usual window, 2 and more for an unusual one
    baseline_windows: int = 30  # each feature is standardised against this many windows before it ...
    min_baseline_windows: int = 10  # ... and not scored before it has this many
    trees: int = 100  # KDA's numberOfTrees: 1..1000
    sample_size: int = (
        64  # KDA's subSampleSize (10..1000): windows the forest holds; no score before it has seen as many
    )
    time_decay: int = 1000  # KDA's timeDecay, in windows: the forest's memory (the sampler's rate is 1 / time_decay)
    seed: int = 0  # the forest's random seed: the same seed and windows give the same scores


@dataclass(frozen=True)
class AnalyticsConfig:
    """The ``analytics:`` section: the watermark delay and each analytic's parameters."""

    watermark_delay: Duration = Duration(5.0)  # how far out of order an event may arrive and still count
    unique_visitors: WindowConfig = field(default_factory=WindowConfig)
    active_page_views: WindowConfig = field(default_factory=WindowConfig)
    top_categories: TopCategoriesConfig = field(default_factory=TopCategoriesConfig)
    cart_abandonment: CartAbandonmentConfig = field(default_factory=CartAbandonmentConfig)
    bot_burst: BotBurstConfig = field(default_factory=BotBurstConfig)
    traffic_spike: TrafficSpikeConfig = field(default_factory=TrafficSpikeConfig)
    rcf_traffic: RcfTrafficConfig = field(default_factory=RcfTrafficConfig)


@dataclass(frozen=True)
class FlinkConfig:
    """The ``flink:`` section: parallelism and the planner's optimisations."""

    parallelism: int = 1  # parallelism.default: the tasks of each operator
    mini_batch: bool = False  # table.exec.mini-batch.* (latency 1s, 5000 rows)
    split_distinct: bool = False  # table.optimizer.distinct-agg.split.enabled
    # table.exec.source.idle-timeout, for the job's other sources (a filesystem or datagen table in
    # an ETL job, Flink's own Kinesis connector). clickflow's connector ignores it: it marks a shard
    # idle when the shard is caught up (an empty answer at the tip), not after a time without
    # records — which, after a stalled task, made every shard idle at once and the others' waiting
    # records late.
    idle_timeout: Duration = Duration(10.0)
    # pipeline.auto-watermark-interval: how often sources emit their watermark, so how soon after the event
    # that closes a window the window fires (costs CPU, no Kinesis calls). Unset: 20ms for a job that runs on
    # (a window's rows out soon after it closes), 200ms (Flink's default) for a bounded run (`--bounded`),
    # which no one watches window by window
    watermark_interval: Duration | None = None
    # execution.buffer-timeout.interval: how long records and watermarks may wait in a part-filled network
    # buffer between two tasks before it is sent (a window's result crosses two such exchanges on its way to
    # its stream). A full buffer goes at once: shorter costs CPU when traffic is thin. Unset: 10ms for a job
    # that runs on, 100ms (Flink's default) for a bounded run
    buffer_timeout: Duration | None = None

    def timing(self, bounded: bool) -> tuple[Duration, Duration]:
        """The run's watermark interval and network buffer timeout: as set, or else by how it runs (a bounded
        run spends less CPU on watermarks and part-filled buffers: docs/benchmarks.md, The streaming job)."""
        live, batch = (Duration(0.02), Duration(0.01)), (Duration(0.2), Duration(0.1))
        watermarks, buffers = batch if bounded else live
        return (
            watermarks if self.watermark_interval is None else self.watermark_interval,
            buffers if self.buffer_timeout is None else self.buffer_timeout,
        )


@dataclass(frozen=True)
class JobConfig:
    """The streaming job (``clickflow run``, Managed Flink)."""

    # "clickflow": clickflow's Kinesis connector, everywhere (the one jar the tests run); "official":
    # Apache Flink's, from connector_jar (an explicit choice, not run by this project's tests).
    # "local" is clickflow's old name.
    connector: str = "clickflow"
    start_position: str = "latest"  # trim_horizon | latest | an ISO 8601 UTC time (AT_TIMESTAMP)
    checkpoint_interval: Duration = Duration(10.0)
    # A checkpoint not complete within this is given up (e.g. S3 not answering) and counts as failed;
    # this many failures in a row are tolerated before the job restarts (checkpoints go on being tried)
    checkpoint_timeout: Duration = Duration(600.0)
    tolerable_failed_checkpoints: int = 10  # failed checkpoints in a row before the job restarts
    checkpoint_dir: str = ".clickflow/checkpoints"  # local path (from the project root) or s3://
    archive: str = ".clickflow/archive"  # local directory (from the project root) or s3://bucket/prefix
    archive_roll_size: str = "128mb"  # a part file is rolled at this size ...
    archive_roll_interval: Duration = Duration(900.0)  # ... or this age, and always on a checkpoint
    rest_port: int = 0  # local runs: Flink's REST API (job status, metrics) on 127.0.0.1; 0 = any free port
    # A Flink cluster's REST address (host:port) to submit to; empty: an embedded Flink (local runs)
    cluster: str = ""
    # AWS endpoints as the cluster's connectors see them (compose: service names); empty: aws.endpoints
    endpoints: dict[str, str] = field(default_factory=dict)
    # With connector: official, the path of Apache Flink's Kinesis connector jar
    connector_jar: str = ""
    # Reuse the job's compiled plan (jobs/plans.py) on later starts with the same SQL, settings and jars:
    # Flink's optimiser is skipped (the cache is $XDG_CACHE_HOME/clickflow/plans)
    plan_cache: bool = True
    # A shard that answered with no records is asked again after this. AWS allows 5 GetRecords calls a
    # second per shard, shared by every polling reader: 250ms is 4 a second. The local stack has no
    # such limit (its profiles: 100ms). The job's answers come this much sooner at a stream's tip.
    poll_interval: Duration = Duration(0.25)
    # Rows for an output stream are sent once this much time has passed since the first of a batch
    # (or the batch is full): the last step between a window closing and its rows in Kinesis
    output_flush: Duration = Duration(0.02)
    # How the job reads its events: "polling" (GetRecords: 5 calls and 2 MB/s per shard, shared by every
    # polling reader of the stream) or "efo" (enhanced fan-out: the consumer below gets its own 2 MB/s per
    # shard, pushed over SubscribeToShard; the local stack needs stack.kinesis_server: kinesis-mock)
    reader: str = "polling"
    # efo: the stream consumer, registered when the job starts and deregistered when it stops
    efo_consumer: str = "clickflow-job"


@dataclass(frozen=True)
class InsightsConfig:
    """Batch insights (``clickflow insights``: ``sql/athena/`` on DuckDB; the same SQL on Athena)."""

    top_n: int = 10  # category_weekday: categories per weekday
    min_views: int = 100  # brand_marketing: brands with fewer views are left out
    factor: float = 0.5  # brand_marketing: flagged below factor x the overall view-to-purchase ratio
    memory_limit: str = "2GB"  # DuckDB's memory for a run (beyond it, spilled to a temporary folder)


@dataclass(frozen=True)
class CatalogConfig:
    """The archive's tables in the AWS Glue Data Catalog, for Athena (``clickflow catalog``)."""

    database: str = "clickflow"  # the Glue database of the archive's tables
    first_day: str = "2019-10-01"  # partition projection: dt from this day to NOW


@dataclass(frozen=True)
class BotSeverity:
    """Score thresholds of bot_burst (score = events / analytics.bot_burst.threshold): at or above
    ``warning`` a warning, at or above ``critical`` critical, below ``warning`` info."""

    warning: float = 1.5  # at or above: warning
    critical: float = 3.0  # at or above: critical


@dataclass(frozen=True)
class SpikeSeverity:
    """Score thresholds of traffic_spike (score = standard deviations above the baseline mean)."""

    warning: float = 3.0  # at or above: warning
    critical: float = 6.0  # at or above: critical


@dataclass(frozen=True)
class RcfSeverity:
    """Score thresholds of rcf_traffic (score = the window's Random Cut Forest anomaly score)."""

    warning: float = 2.0  # at or above: warning
    critical: float = 3.0  # at or above: critical


@dataclass(frozen=True)
class SeverityConfig:
    """The score thresholds of each anomaly type."""

    bot_burst: BotSeverity = field(default_factory=BotSeverity)
    traffic_spike: SpikeSeverity = field(default_factory=SpikeSeverity)
    rcf_traffic: RcfSeverity = field(default_factory=RcfSeverity)


@dataclass(frozen=True)
class RateLimitConfig:
    """How many notifications one entity may cause per period of event time."""

    max_per_entity: int = 3  # notifications per anomaly type and entity ...
    period: Duration = Duration(3600.0)  # ... per period of event time (the anomaly's window start)


@dataclass(frozen=True)
class AlertsConfig:
    """Anomaly alerts (``clickflow alerts``): DynamoDB record, SNS notification, CloudWatch metrics."""

    table: str = "clickflow-anomalies"  # DynamoDB: one item per distinct anomaly, plus rate-limit counters
    topic: str = "clickflow-anomalies"  # SNS topic name
    namespace: str = "clickflow"  # CloudWatch metric namespace
    min_severity: str = "warning"  # info | warning | critical: below it, no item and no notification
    severity: SeverityConfig = field(default_factory=SeverityConfig)
    rate_limit: RateLimitConfig = field(default_factory=RateLimitConfig)
    webhook: str = ""  # a Slack-compatible incoming-webhook URL, also notified; empty: none
    batch_size: int = 100  # records per handler call (the Lambda event source mapping's BatchSize)
    max_retries: int = 2  # a failing record is retried this often, then set aside (Lambda: MaximumRetryAttempts)
    function: str = "clickflow-alerts"  # the Lambda function's name (`clickflow alerts deploy`)
    starting_position: str = "trim_horizon"  # where a new poller or event source mapping starts: trim_horizon | latest
    # `alerts run`: "polling" (GetRecords) or "efo" (enhanced fan-out through the consumer below, registered
    # and deregistered by the run: it takes none of the 5 GetRecords calls a second per shard polling shares)
    reader: str = "polling"
    efo_consumer: str = "clickflow-alerts"  # efo: the stream consumer `alerts run` registers


@dataclass(frozen=True)
class DashboardConfig:
    """``clickflow dashboard``: how it reads the output streams."""

    # "polling" (GetRecords) or "efo" (enhanced fan-out: the consumer below on each output stream,
    # registered when the dashboard starts and deregistered when it stops)
    reader: str = "polling"
    efo_consumer: str = "clickflow-dashboard"  # efo: the consumer registered on each output stream


@dataclass(frozen=True)
class MonitoringConfig:
    """How the job is watched: the Prometheus endpoint of local runs, what ``clickflow status`` calls
    unhealthy, and the CloudWatch alarms ``clickflow deploy`` sets on a Managed Flink application (namespace
    AWS/KinesisAnalytics, dimension Application). One threshold serves ``status`` and its alarm."""

    # local runs (embedded, the local cluster): Flink's Prometheus reporter on 127.0.0.1, a port or a range
    # (each Flink process takes the first free one); empty: off
    prometheus: str = "9249-9259"
    max_lag: Duration = Duration(60.0)  # a shard further behind the stream's tip than this is unhealthy
    lag_minutes: int = 5  # ... for this many minutes in a row, on Managed Flink (alarm <app>-lag)
    checkpoint_intervals: int = 3  # no checkpoint completed for this many job.checkpoint_interval: unhealthy
    max_dead_letters_per_minute: float = 100.0  # more dead letters than this per minute: unhealthy
    alarms: bool = True  # create them with the application; `deploy --delete` removes them with it
    topic: str = ""  # the SNS topic the alarms notify; empty: alerts.topic
    downtime_minutes: int = 1  # `downtime` above 0 for this many minutes running
    max_restarts: int = 0  # more restarts than this (`numRestarts`, Flink 2.2) within restart_minutes
    restart_minutes: int = 5
    max_failed_checkpoints: int = 0  # more failed checkpoints than this within checkpoint_minutes
    checkpoint_minutes: int = 15


@dataclass(frozen=True)
class Config:
    """One profile's whole configuration, typed and checked (``load_config`` builds it)."""

    profile: str  # the shipped profile it starts from: local, cluster, compose or aws
    aws: AwsConfig = field(default_factory=AwsConfig)
    streams: dict[str, StreamSpec] = field(default_factory=dict)
    bucket: str = "clickflow-data"  # the S3 bucket of the archive, checkpoints and uploads (the local stack creates it)
    producer: ProducerConfig = field(default_factory=ProducerConfig)
    stack: StackConfig = field(default_factory=StackConfig)
    cluster: ClusterConfig = field(default_factory=ClusterConfig)
    analytics: AnalyticsConfig = field(default_factory=AnalyticsConfig)
    flink: FlinkConfig = field(default_factory=FlinkConfig)
    job: JobConfig = field(default_factory=JobConfig)
    alerts: AlertsConfig = field(default_factory=AlertsConfig)
    dashboard: DashboardConfig = field(default_factory=DashboardConfig)
    insights: InsightsConfig = field(default_factory=InsightsConfig)
    catalog: CatalogConfig = field(default_factory=CatalogConfig)
    monitoring: MonitoringConfig = field(default_factory=MonitoringConfig)

    def output_stream(self, role: str) -> StreamSpec:
        """Where an analytic (or ``dead_letters``) goes: the profile's stream for that role, else
        ``clickflow-<role with dashes>``. Several roles may name one stream."""
        return self.streams.get(role) or StreamSpec("clickflow-" + role.replace("_", "-"))

    def stream(self, role: str) -> StreamSpec:
        """The stream that plays ``role`` (events, an analytic, dead letters), or an error naming the known roles."""
        try:
            return self.streams[role]
        except KeyError:
            raise ConfigError(
                f"profile {self.profile!r} names no stream {role!r} under 'streams' "
                f"(it has: {', '.join(sorted(self.streams)) or 'none'})"
            ) from None


# --------------------------------------------------------------------------- loading


class _Origins:
    """Remembers which source (file, property group, --set) gave each dotted key."""

    def __init__(self) -> None:
        self._by_path: dict[tuple[str, ...], str] = {}

    def record(self, data: Any, origin: str, path: tuple[str, ...] = ()) -> None:
        self._by_path[path] = origin
        if isinstance(data, Mapping):
            for key, value in data.items():
                self.record(value, origin, path + (str(key),))

    def of(self, path: tuple[str, ...]) -> str:
        while path not in self._by_path and path:
            path = path[:-1]
        return self._by_path.get(path, "defaults")


def _deep_merge(base: dict, over: Mapping) -> dict:
    merged = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _read_yaml(path: Path) -> dict:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config file: {exc.strerror or exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise ConfigError(f"{where}: not valid YAML: {getattr(exc, 'problem', exc)}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of keys at the top level, got {type(data).__name__}")
    return data


def _nest(dotted: str, value: Any, origin: str) -> dict:
    parts = dotted.split(".")
    if not all(parts):
        raise ConfigError(f"{origin}: bad key {dotted!r} (write it as section.key, e.g. producer.in_flight)")
    nested: Any = value
    for part in reversed(parts):
        nested = {part: nested}
    return nested


def parse_override(text: str, origin: str = "") -> tuple[str, Any]:
    """``producer.in_flight=8`` -> ("producer.in_flight", 8); the value is read as a YAML scalar. ``origin`` names
    where it came from in an error (default: ``--set``)."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        where = origin or f"--set {text!r}"
        raise ConfigError(f"{where}: expected KEY.PATH=VALUE, e.g. --set producer.in_flight=8")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    return key.strip(), value


def msf_property_layers(path: Path) -> list[tuple[dict, str]]:
    """Read MSF's application_properties.json into the same nested structure as a YAML profile.

    Each group's id is a dotted key prefix and its map holds the rest of the key, so the group
    ``{"PropertyGroupId": "producer", "PropertyMap": {"in_flight": "8"}}`` sets ``producer.in_flight``,
    and ``{"PropertyGroupId": "streams.events", "PropertyMap": {"name": "x"}}`` sets ``streams.events.name``.
    The group ``clickflow`` holds top-level keys (``bucket``). Values arrive as strings and are read
    as YAML scalars, so "8" is an integer and "1m" a duration.
    """
    try:
        groups = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read MSF properties: {exc.strerror or exc}") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}:{exc.lineno}: not valid JSON: {exc.msg}") from None
    if not isinstance(groups, list):
        raise ConfigError(f"{path}: expected a JSON list of property groups")
    layers = []
    for index, group in enumerate(groups):
        if not isinstance(group, dict) or "PropertyGroupId" not in group:
            raise ConfigError(f"{path}: group #{index} has no PropertyGroupId")
        group_id = group["PropertyGroupId"]
        if group_id == "kinesis.analytics.flink.run.options":
            continue  # MSF's own group (python entry point, jar file); not clickflow config
        origin = f"{path} group {group_id!r}"
        prefix = "" if group_id == TOP_LEVEL_GROUP else f"{group_id}."
        data: dict = {}
        for key, raw in (group.get("PropertyMap") or {}).items():
            value = yaml.safe_load(raw) if isinstance(raw, str) and raw.strip() else raw
            data = _deep_merge(data, _nest(f"{prefix}{key}", value, origin))
        layers.append((data, origin))
    return layers


def _profile_layers(name: str) -> list[tuple[dict, str]]:
    """A shipped profile, after the profile it names with ``extends:`` (cluster extends local)."""
    path = PROFILES_DIR / f"{name}.yaml"
    data = _read_yaml(path)
    parent = data.pop("extends", None)
    if parent is None:
        return [(data, _display(path))]
    if parent not in PROFILES or parent == name:
        raise ConfigError(f"{_display(path)}: extends: unknown profile {parent!r}")
    return [*_profile_layers(parent), (data, _display(path))]


def load_config(
    profile: str = "local",
    config_file: str | Path | None = None,
    overrides: Iterable[str] = (),
    properties_file: str | Path | None = None,
    read_elsewhere: tuple[str, ...] = (),
) -> Config:
    """Load a profile, then a config file over it, then MSF property groups, then ``--set`` overrides.

    A config file may name its own base with ``profile: NAME``; otherwise it extends ``profile``.
    Its top-level keys in ``read_elsewhere`` are left to their command (``etl:`` for ``clickflow etl``).
    """
    origins = _Origins()
    layers: list[tuple[dict, str]] = []
    extra = _read_yaml(Path(config_file)) if config_file else {}
    for key in read_elsewhere:
        extra.pop(key, None)
    base_name = extra.pop("profile", None) or profile
    if base_name not in PROFILES:
        where = f"{config_file}: profile" if config_file else "--profile"
        raise ConfigError(f"{where}: unknown profile {base_name!r} (choose one of {', '.join(PROFILES)})")
    layers.extend(_profile_layers(base_name))
    if config_file:
        layers.append((extra, str(config_file)))
    if properties_file:
        layers.extend(msf_property_layers(Path(properties_file)))
    for text, origin in [(text, f"${SET_ENV}: {text}") for text in _environment_overrides(base_name)] + [
        (text, f"--set {text}") for text in overrides
    ]:
        key, value = parse_override(text, origin)
        layers.append((_nest(key, value, origin), origin))

    data: dict = {}
    for layer, origin in layers:
        origins.record(layer, origin)
        data = _deep_merge(data, layer)
    data["profile"] = base_name
    config = _build(Config, data, (), origins)
    _check(config, origins)
    return config


def _environment_overrides(profile: str) -> list[str]:
    """The ``key.path=value`` overrides in ``$CLICKFLOW_SET`` that apply to ``profile`` (shell words: quote a value
    with spaces). ``PROFILE:key.path=value`` applies to that profile only (``local:job.archive=/tmp/a``)."""
    import os
    import shlex

    text = os.environ.get(SET_ENV, "")
    try:
        words = shlex.split(text)
    except ValueError as exc:
        raise ConfigError(f"${SET_ENV}: {exc} in {text!r}") from None
    found = []
    for word in words:
        scope, colon, rest = word.partition(":")
        if colon and scope in PROFILES and "=" not in scope:
            if scope == profile:
                found.append(rest)
        else:
            found.append(word)
    return found


def _display(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


# --------------------------------------------------------------------------- validation


def _fail(origins: _Origins, path: tuple[str, ...], message: str) -> ConfigError:
    key = ".".join(path) or "(top level)"
    return ConfigError(f"{origins.of(path)}: {key}: {message}")


def _build(cls: type, data: Any, path: tuple[str, ...], origins: _Origins) -> Any:
    if not isinstance(data, Mapping):
        raise _fail(origins, path, f"expected a mapping, got {_show(data)}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(map(str, data)) - set(fields))
    if unknown:
        raise _fail(origins, path + (unknown[0],), f"unknown key (known here: {', '.join(sorted(fields))})")
    values = {}
    for name, spec in fields.items():
        if name in data:
            values[name] = _coerce(hints[name], data[name], path + (name,), origins)
        elif spec.default is dataclasses.MISSING and spec.default_factory is dataclasses.MISSING:
            raise _fail(origins, path + (name,), "missing (it has no default)")
    return cls(**values)


def _coerce(kind: Any, value: Any, path: tuple[str, ...], origins: _Origins) -> Any:
    origin = typing.get_origin(kind)
    if origin in (typing.Union, types.UnionType):
        options = [arg for arg in typing.get_args(kind) if arg is not type(None)]
        if value is None:
            return None
        return _coerce(options[0], value, path, origins)
    if origin is dict:
        _, value_kind = typing.get_args(kind)
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            raise _fail(origins, path, f"expected a mapping, got {_show(value)}")
        return {str(k): _coerce(value_kind, v, path + (str(k),), origins) for k, v in value.items()}
    if isinstance(kind, type) and dataclasses.is_dataclass(kind):
        return _build(kind, value, path, origins)
    if kind is Duration:
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise _fail(origins, path, f"expected a duration like 10s, got {_show(value)}")
        if isinstance(value, (int, float)):
            raise _fail(origins, path, f"bad duration {value!r}: give a unit (250ms, 10s, 1m, 1h, 1d)")
        try:
            return Duration.parse(value)
        except ValueError as exc:
            raise _fail(origins, path, str(exc)) from None
    if kind is bool:
        if not isinstance(value, bool):
            raise _fail(origins, path, f"expected true or false, got {_show(value)}")
        return value
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _fail(origins, path, f"expected an integer, got {_show(value)}")
        return value
    if kind is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _fail(origins, path, f"expected a number, got {_show(value)}")
        return float(value)
    if kind is str:
        if isinstance(value, (dict, list)) or value is None:
            raise _fail(origins, path, f"expected text, got {_show(value)}")
        return str(value)
    raise TypeError(f"config schema uses unsupported type {kind!r} at {'.'.join(path)}")


def _show(value: Any) -> str:
    if isinstance(value, (dict, list)):
        return f"a {type(value).__name__}"
    return repr(value)


_LOOPBACK = re.compile(r"^https?://(127\.\d+\.\d+\.\d+|localhost|\[::1\])(:\d+)?(/.*)?$")


def is_loopback_url(url: str) -> bool:
    """Whether ``url`` names a loopback host."""
    return bool(_LOOPBACK.match(url))


_SERVICE_NAME = re.compile(r"^https?://[a-z0-9][a-z0-9-]*(:\d+)?(/.*)?$")


def is_local_url(url: str) -> bool:
    """Loopback, or a single-label host name (a compose service such as ``http://kinesis:4567``),
    which only a private network resolves: never a public AWS endpoint."""
    return is_loopback_url(url) or bool(_SERVICE_NAME.match(url))


def _check(config: Config, origins: _Origins) -> None:
    """Cross-field rules that types alone cannot say."""
    if config.aws.credentials not in ("chain", "local"):
        raise _fail(origins, ("aws", "credentials"), f"expected 'chain' or 'local', got {config.aws.credentials!r}")
    for service, url in config.aws.endpoints.items():
        if not re.match(r"^https?://[^/\s]+(/.*)?$", url):
            raise _fail(origins, ("aws", "endpoints", service), f"not an http(s) URL: {url!r}")
        if config.aws.credentials == "local" and not is_local_url(url):
            raise _fail(
                origins,
                ("aws", "endpoints", service),
                f"{url} is not on loopback, but aws.credentials is 'local' (dummy keys are for the "
                "embedded stack only); use aws.credentials: chain for real AWS",
            )
    if not re.match(r"^\d{12}$", config.aws.account_id):
        raise _fail(
            origins,
            ("aws", "account_id"),
            f"expected 12 digits (quoted in YAML, e.g. '000000000000'), got {config.aws.account_id!r}",
        )
    if config.aws.credentials == "local" and not config.aws.endpoints:
        raise _fail(origins, ("aws", "endpoints"), "aws.credentials 'local' needs loopback endpoints")
    if config.aws.role_arn and not re.match(r"^arn:aws[a-z-]*:iam::\d{12}:role/\S+$", config.aws.role_arn):
        raise _fail(
            origins, ("aws", "role_arn"), f"expected arn:aws:iam::ACCOUNT:role/NAME, got {config.aws.role_arn!r}"
        )
    if config.aws.retry_attempts < 1:
        raise _fail(
            origins, ("aws", "retry_attempts"), f"must be at least 1 (1: no retries), got {config.aws.retry_attempts}"
        )
    if not 0 < config.aws.retry_delay_min <= config.aws.retry_delay_max:
        raise _fail(
            origins,
            ("aws", "retry_delay_max"),
            "expected 0 < retry_delay_min <= retry_delay_max, "
            f"got {config.aws.retry_delay_min} and {config.aws.retry_delay_max}",
        )
    for role, spec in config.streams.items():
        if not re.match(r"^[a-zA-Z0-9_.-]{1,128}$", spec.name):
            raise _fail(origins, ("streams", role, "name"), f"not a valid Kinesis stream name: {spec.name!r}")
        if spec.shards < 1:
            raise _fail(origins, ("streams", role, "shards"), f"must be at least 1, got {spec.shards}")
    if not re.match(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", config.bucket):
        raise _fail(origins, ("bucket",), f"not a valid S3 bucket name: {config.bucket!r}")
    producer = config.producer
    if not 1 <= producer.batch_records <= 500:
        raise _fail(
            origins, ("producer", "batch_records"), f"must be 1..500 (a PutRecords limit), got {producer.batch_records}"
        )
    if not 1 <= producer.in_flight <= 64:
        raise _fail(origins, ("producer", "in_flight"), f"must be 1..64, got {producer.in_flight}")
    if producer.max_retries < 0:
        raise _fail(origins, ("producer", "max_retries"), f"must be 0 or more, got {producer.max_retries}")
    _check_analytics(config.analytics, origins)
    _check_job(config.job, origins)
    _check_alerts(config.alerts, origins)
    _check_reader(config.alerts.reader, config.alerts.efo_consumer, "alerts", origins)
    _check_reader(config.dashboard.reader, config.dashboard.efo_consumer, "dashboard", origins)
    _check_insights(config, origins)
    _check_monitoring(config.monitoring, origins)
    if config.flink.parallelism < 1:
        raise _fail(origins, ("flink", "parallelism"), f"must be at least 1, got {config.flink.parallelism}")


def _check_reader(reader: str, consumer: str, section: str, origins: _Origins) -> None:
    if reader not in ("polling", "efo"):
        raise _fail(origins, (section, "reader"), f"expected 'polling' or 'efo', got {reader!r}")
    if not re.match(r"^[A-Za-z0-9_.-]{1,128}$", consumer):
        raise _fail(
            origins, (section, "efo_consumer"), f"expected 1-128 letters, digits, '_', '.' or '-', got {consumer!r}"
        )


def _check_job(job: JobConfig, origins: _Origins) -> None:
    if job.connector not in ("clickflow", "local", "official"):
        raise _fail(origins, ("job", "connector"), f"expected 'clickflow' or 'official', got {job.connector!r}")
    position = job.start_position.lower()
    if position not in ("trim_horizon", "latest"):
        try:
            parse_start_time(job.start_position)
        except ValueError:
            raise _fail(
                origins,
                ("job", "start_position"),
                f"expected trim_horizon, latest or a UTC time like 2019-10-01T00:00:00Z, got {job.start_position!r}",
            ) from None
    _check_reader(job.reader, job.efo_consumer, "job", origins)
    if job.cluster and not re.match(r"^[A-Za-z0-9.-]+:\d{1,5}$", job.cluster):
        raise _fail(origins, ("job", "cluster"), f"expected host:port of Flink's REST API, got {job.cluster!r}")
    for service, url in job.endpoints.items():
        if not is_local_url(url) and not re.match(r"^https://", url):
            raise _fail(origins, ("job", "endpoints", service), f"expected a local or https URL, got {url!r}")
    if not 0 <= job.rest_port <= 65535:
        raise _fail(origins, ("job", "rest_port"), f"expected 0..65535, got {job.rest_port}")
    if job.checkpoint_interval < 0.1:
        raise _fail(origins, ("job", "checkpoint_interval"), f"must be at least 100ms, got {job.checkpoint_interval}")
    if job.checkpoint_timeout < 1:
        raise _fail(origins, ("job", "checkpoint_timeout"), f"must be at least 1s, got {job.checkpoint_timeout}")
    if job.tolerable_failed_checkpoints < 0:
        got = job.tolerable_failed_checkpoints
        raise _fail(origins, ("job", "tolerable_failed_checkpoints"), f"must be 0 or more, got {got}")
    if not re.match(r"^\d+(\.\d+)?\s*(b|kb|mb|gb)$", job.archive_roll_size.lower()):
        raise _fail(origins, ("job", "archive_roll_size"), f"expected a size like 128mb, got {job.archive_roll_size!r}")


def _check_insights(config: Config, origins: _Origins) -> None:
    insights = config.insights
    if insights.top_n < 1:
        raise _fail(origins, ("insights", "top_n"), f"must be at least 1, got {insights.top_n}")
    if insights.min_views < 1:
        raise _fail(origins, ("insights", "min_views"), f"must be at least 1, got {insights.min_views}")
    if not (0 < insights.factor <= 1000):
        raise _fail(origins, ("insights", "factor"), f"must be above 0 (and sensible), got {insights.factor}")
    if not re.match(r"^[a-z0-9_]{1,255}$", config.catalog.database):
        raise _fail(
            origins,
            ("catalog", "database"),
            f"a Glue database for Athena: lower-case letters, digits and _, got {config.catalog.database!r}",
        )
    if not re.match(r"^\d{4}-\d{2}-\d{2}$", config.catalog.first_day):
        raise _fail(
            origins, ("catalog", "first_day"), f"expected a day like 2019-10-01, got {config.catalog.first_day!r}"
        )


def prometheus_ports(text: str) -> range:
    """The ports of ``monitoring.prometheus``: ``9249`` or ``9249-9259`` (empty: none)."""
    match = re.match(r"^\s*(\d{1,5})\s*(?:-\s*(\d{1,5}))?\s*$", text)
    if not match:
        raise ValueError(f"expected a port or a range like 9249-9259 (empty: off), got {text!r}")
    first, last = int(match.group(1)), int(match.group(2) or match.group(1))
    if not 1 <= first <= last <= 65535:
        raise ValueError(f"expected ports from 1 to 65535, the first not above the last, got {text!r}")
    return range(first, last + 1)


def _check_monitoring(monitoring: MonitoringConfig, origins: _Origins) -> None:
    if monitoring.prometheus:
        try:
            prometheus_ports(monitoring.prometheus)
        except ValueError as exc:
            raise _fail(origins, ("monitoring", "prometheus"), str(exc)) from None
    if monitoring.checkpoint_intervals < 1:
        raise _fail(
            origins,
            ("monitoring", "checkpoint_intervals"),
            f"must be at least 1, got {monitoring.checkpoint_intervals}",
        )
    if not monitoring.max_dead_letters_per_minute >= 0:
        raise _fail(
            origins,
            ("monitoring", "max_dead_letters_per_minute"),
            f"must be 0 or more, got {monitoring.max_dead_letters_per_minute}",
        )


SEVERITIES = ("info", "warning", "critical")


def _check_alerts(alerts: AlertsConfig, origins: _Origins) -> None:
    if alerts.min_severity not in SEVERITIES:
        raise _fail(
            origins, ("alerts", "min_severity"), f"expected one of {', '.join(SEVERITIES)}, got {alerts.min_severity!r}"
        )
    for kind in ("bot_burst", "traffic_spike", "rcf_traffic"):
        levels = getattr(alerts.severity, kind)
        if not 0 <= levels.warning <= levels.critical:
            raise _fail(
                origins,
                ("alerts", "severity", kind),
                f"expected 0 <= warning <= critical, got warning {levels.warning}, critical {levels.critical}",
            )
    if alerts.rate_limit.max_per_entity < 1:
        raise _fail(origins, ("alerts", "rate_limit", "max_per_entity"), "must be at least 1")
    if alerts.rate_limit.period <= 0:
        raise _fail(origins, ("alerts", "rate_limit", "period"), "must be more than 0")
    if not 1 <= alerts.batch_size <= 10000:
        raise _fail(
            origins, ("alerts", "batch_size"), f"must be 1..10000 (Lambda's limit for Kinesis), got {alerts.batch_size}"
        )
    if not 0 <= alerts.max_retries <= 10000:
        raise _fail(origins, ("alerts", "max_retries"), f"must be 0..10000, got {alerts.max_retries}")
    if alerts.starting_position.lower() not in ("trim_horizon", "latest"):
        raise _fail(
            origins,
            ("alerts", "starting_position"),
            f"expected trim_horizon or latest, got {alerts.starting_position!r}",
        )
    if alerts.webhook and not re.match(r"^https?://[^/\s]+(/.*)?$", alerts.webhook):
        raise _fail(origins, ("alerts", "webhook"), f"not an http(s) URL: {alerts.webhook!r}")
    for key in ("table", "topic", "function"):
        value = getattr(alerts, key)
        if not re.match(r"^[A-Za-z0-9_.-]{1,64}$", value):
            raise _fail(origins, ("alerts", key), f"expected 1-64 letters, digits, '-', '_' or '.', got {value!r}")


def parse_start_time(text: str):
    """An AT_TIMESTAMP start: ISO 8601, UTC (``Z``, ``+00:00`` or no zone)."""
    from datetime import UTC, datetime

    moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace(" ", "T"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _check_analytics(analytics: AnalyticsConfig, origins: _Origins) -> None:
    durations = [
        ("watermark_delay",),
        ("unique_visitors", "window"),
        ("active_page_views", "window"),
        ("top_categories", "window"),
        ("cart_abandonment", "session_gap"),
        ("bot_burst", "window"),
        ("traffic_spike", "window"),
        ("rcf_traffic", "window"),
    ]
    for path in durations:
        value: Any = analytics
        for part in path:
            value = getattr(value, part)
        key = ("analytics", *path)
        millis = value * 1000
        if abs(millis - round(millis)) > 1e-6:
            raise _fail(origins, key, f"must be a whole number of milliseconds, got {value}")
        if path != ("watermark_delay",) and value <= 0:
            raise _fail(origins, key, "must be more than 0")
        if value >= 100 * 86400:
            raise _fail(origins, key, "must be less than 100 days")
    if analytics.cart_abandonment.session_gap < 0.002:
        raise _fail(origins, ("analytics", "cart_abandonment", "session_gap"), "must be at least 2ms")
    if analytics.top_categories.top_n < 1:
        raise _fail(origins, ("analytics", "top_categories", "top_n"), "must be at least 1")
    if analytics.bot_burst.threshold < 1:
        raise _fail(origins, ("analytics", "bot_burst", "threshold"), "must be at least 1 (the score divides by it)")
    spike = analytics.traffic_spike
    if spike.baseline_windows < 1:
        raise _fail(origins, ("analytics", "traffic_spike", "baseline_windows"), "must be at least 1")
    if not 1 <= spike.min_baseline_windows <= spike.baseline_windows:
        raise _fail(
            origins,
            ("analytics", "traffic_spike", "min_baseline_windows"),
            f"must be 1..baseline_windows ({spike.baseline_windows}), got {spike.min_baseline_windows}",
        )
    if spike.stddevs <= 0:
        raise _fail(origins, ("analytics", "traffic_spike", "stddevs"), "must be more than 0")
    rcf = analytics.rcf_traffic
    key = ("analytics", "rcf_traffic")
    if rcf.threshold <= 0:
        raise _fail(origins, (*key, "threshold"), "must be more than 0")
    if rcf.baseline_windows < 1:
        raise _fail(origins, (*key, "baseline_windows"), "must be at least 1")
    if not 1 <= rcf.min_baseline_windows <= rcf.baseline_windows:
        raise _fail(
            origins,
            (*key, "min_baseline_windows"),
            f"must be 1..baseline_windows ({rcf.baseline_windows}), got {rcf.min_baseline_windows}",
        )
    if not 1 <= rcf.trees <= 1000:
        raise _fail(origins, (*key, "trees"), f"must be 1..1000 (KDA's numberOfTrees), got {rcf.trees}")
    if not 10 <= rcf.sample_size <= 1000:
        raise _fail(origins, (*key, "sample_size"), f"must be 10..1000 (KDA's subSampleSize), got {rcf.sample_size}")
    if not rcf.sample_size < rcf.time_decay <= 2**31 - 1:
        raise _fail(
            origins, (*key, "time_decay"), f"must be more than sample_size ({rcf.sample_size}), got {rcf.time_decay}"
        )
    if not 0 <= rcf.seed <= 2**31 - 1:
        raise _fail(origins, (*key, "seed"), f"must be 0..2147483647, got {rcf.seed}")
