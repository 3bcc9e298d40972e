"""Where a Flink job runs, decided in one place.

Three places, told apart by the config alone (never by a profile's name):

- **embedded** — a Flink mini-cluster inside this process (no ``job.cluster``): the jars are built
  here and go on ``pipeline.jars``, Flink's REST API is on ``job.rest_port``, and an archive or
  checkpoints on ``s3://`` bring in the S3 plugin;
- **cluster** — planned here, submitted to the session cluster at ``job.cluster`` (``clickflow
  cluster``'s, or compose's): the same jars are shipped with the job, and its connectors reach AWS
  as the cluster sees it (``job.endpoints``); an unbounded job is left running;
- **managed** — Amazon Managed Service for Apache Flink: the jars come in the application's package
  and the service owns checkpoints, restarts and the REST API.

The jobs (``jobs/stream.py``, ``jobs/etl.py``) and the interactive tools (``explore``, ``sql``) ask
:func:`decide` and :func:`table_env`; what differs per place is here and in the connector options of
``connectors/tables.py``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from connectors.config import Config, ConfigError

Kind = Literal["embedded", "cluster", "managed"]


@dataclass(frozen=True)
class Environment:
    """Where a job runs (embedded, cluster, managed) and the profile as its connectors see AWS from there."""

    kind: Kind
    config: Config  # the profile as the job's connectors see AWS from where it runs

    @property
    def managed(self) -> bool:
        """Whether the job runs on Managed Service for Apache Flink."""
        return self.kind == "managed"

    def waits_for(self, bounded: bool) -> bool:
        """Whether ``clickflow run`` waits for the job: embedded always (the job lives in this
        process), on a cluster only a bounded one; Managed Flink supervises its own."""
        return self.kind == "embedded" or (self.kind == "cluster" and bounded)


def decide(config: Config, on_msf: bool = False, embedded: bool = False) -> Environment:
    """Where a job of this config runs: Managed Flink when started by it, else a cluster when
    ``job.cluster`` names one (unless ``embedded``: the interactive tools always plan and run here,
    with clickflow's connector, at the endpoints as seen from here)."""
    if on_msf:
        return Environment("managed", config)
    if embedded:
        local_job = dataclasses.replace(config.job, connector="clickflow", cluster="")
        return Environment("embedded", dataclasses.replace(config, job=local_job))
    if config.job.cluster:
        return Environment("cluster", as_seen_by_cluster(config))
    return Environment("embedded", config)


def as_seen_by_cluster(config: Config) -> Config:
    """The config with ``job.endpoints`` (how the cluster reaches AWS) in place of ``aws.endpoints``."""
    if not config.job.endpoints:
        return config
    endpoints = {**config.aws.endpoints, **config.job.endpoints}
    return dataclasses.replace(config, aws=dataclasses.replace(config.aws, endpoints=endpoints))


def sdk_system_properties(config: Config) -> dict[str, str]:
    """JVM system properties the connector's AWS SDK needs where the job runs.

    ``aws.cborEnabled``: the SDK speaks CBOR to Kinesis by default, and a local Kinesis (kinesalite)
    answers GetRecords in a CBOR the SDK cannot read (records' ``Data`` come back as a map, arrival
    times in seconds are read as milliseconds). So CBOR is off wherever the profile overrides the
    Kinesis endpoint (JSON is a protocol every Kinesis endpoint speaks), and the SDK's default on
    AWS's own endpoint (Managed Flink: nothing is set).
    """
    from connectors.aws import endpoint_for

    return {"aws.cborEnabled": "false" if endpoint_for(config, "kinesis") else "true"}


def java_options(config: Config) -> str:
    """:func:`sdk_system_properties` as JVM options (the local cluster's and compose's TaskManagers)."""
    return " ".join(f"-D{key}={value}" for key, value in sdk_system_properties(config).items())


def apply_to_jvm(config: Config) -> None:
    """Set :func:`sdk_system_properties` in this process's JVM (an embedded Flink runs its tasks
    there). The SDK reads them when a client is built, so this holds for every job started after."""
    from pyflink.java_gateway import get_gateway

    system = get_gateway().jvm.System
    for key, value in sdk_system_properties(config).items():
        system.setProperty(key, value)


def cluster_settings(config: Config) -> dict[str, str]:
    """Flink settings that send a job to ``job.cluster`` instead of an embedded Flink."""
    host, _, port = config.job.cluster.rpartition(":")
    return {"execution.target": "remote", "rest.address": host, "rest.port": port}


def project_path(config_path: str) -> Path:
    """A local profile path: relative ones are taken from the project root."""
    path = Path(config_path)
    return (path if path.is_absolute() else Path(__file__).resolve().parents[1] / path).resolve()


def pipeline_jars(config: Config, prometheus: bool = False) -> list[Path]:
    """pipeline.jars for a job planned here: clickflow's one jar (its Kinesis connector and the job's
    functions), or — ``job.connector: official``, an explicit choice this project's tests do not run —
    Apache Flink's connector from ``job.connector_jar`` beside the functions; with ``prometheus``, the
    loopback Prometheus reporter too (an embedded Flink finds reporters on pipeline.jars, not in plugins).
    One Maven build check serves all of them."""
    from connectors.kinesis_connector import build_all

    connector, udfs, reporter = build_all()
    extra = [reporter] if prometheus else []
    if config.job.connector != "official":
        return [connector, *extra]
    from connectors import official

    if not config.job.connector_jar:
        raise ConfigError(
            "job.connector: official needs job.connector_jar, the path of Apache Flink's Kinesis connector jar "
            f"({official.KINESIS_CONNECTOR.file_name}; it is not served by every Maven repository)"
        )
    jar = project_path(config.job.connector_jar)
    official.check_kinesis_jar(jar)
    return [udfs, jar, *extra]


PROMETHEUS_FACTORY = "io.clickflow.metrics.LoopbackPrometheusReporterFactory"


def prometheus_settings(config: Config) -> dict[str, str]:
    """Flink settings for its Prometheus reporter on 127.0.0.1 (``monitoring.prometheus``: a port or a range,
    each Flink process taking the first free one); none when it is empty. clickflow's reporter, not Flink's
    own: Flink 2.2's binds every interface (connectors/metrics/)."""
    if not config.monitoring.prometheus:
        return {}
    return {
        "metrics.reporter.prom.factory.class": PROMETHEUS_FACTORY,
        "metrics.reporter.prom.port": config.monitoring.prometheus.replace(" ", ""),
    }


def uses_s3(config: Config) -> bool:
    """Whether the job's archive or checkpoints are on ``s3://`` (then Flink needs the S3 plugin)."""
    return any(path.startswith(("s3://", "s3a://")) for path in (config.job.archive, config.job.checkpoint_dir))


def bounded_option(config: Config, flag: str = "--bounded") -> dict[str, str]:
    """The source option that ends a read at the stream's end as of now (clickflow's connector only)."""
    if config.job.connector == "official":
        raise ConfigError(
            f"{flag} needs clickflow's Kinesis connector (job.connector: clickflow); "
            "the official connector reads streams without end"
        )
    return {"source.bounded": "latest"}


def table_env(
    environment: Environment, rest_port: int | None = None, archives: bool = True, needs_s3: bool = False
) -> Any:
    """A streaming TableEnvironment for a job in ``environment``: its jars (built here, except on
    Managed Flink), the S3 plugin for an embedded Flink that ``archives`` (checkpoints and archive)
    to ``s3://``, the remote target for a cluster, Flink's REST port for an embedded one
    (``rest_port``, default ``job.rest_port``). ``needs_s3``: the job reads ``s3://`` itself (reference data)."""
    from jobs import analytics

    config = environment.config
    embedded_s3 = environment.kind == "embedded" and (archives and uses_s3(config) or needs_s3)
    if embedded_s3:
        from connectors import cluster  # the local Flink layout: never needed on Managed Flink

        cluster.enable_embedded_s3(config)
    reporter = prometheus_settings(config) if environment.kind == "embedded" else {}
    jars = [] if environment.managed else pipeline_jars(config, prometheus=bool(reporter))
    env = analytics.create_table_env(config, jars, embedded=environment.kind == "embedded")
    if embedded_s3:
        cluster.initialize_embedded_s3(config)
    conf = env.get_config()
    if environment.kind == "cluster":
        for key, value in cluster_settings(config).items():
            conf.set(key, value)
    elif environment.kind == "embedded":
        conf.set("rest.port", str(config.job.rest_port if rest_port is None else rest_port))
        conf.set("metrics.fetcher.update-interval", "1 s")  # `clickflow status` reads metrics through REST
    for key, value in reporter.items():
        conf.set(key, value)
    return env
