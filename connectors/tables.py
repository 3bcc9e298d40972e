"""WITH-clause options for every table the jobs create: a Kinesis stream, a file or directory of
JSON lines, the archive — per profile.

The same option names serve both connectors: clickflow's local one (identifier ``kinesis``, in the
``local`` profile) and Apache Flink's official one (compose, Managed Flink). Only what differs per
environment is decided here — endpoint, credentials — never the query.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from connectors.aws import _LOCAL_KEY_ID, _LOCAL_SECRET, endpoint_for
from connectors.config import Config


def partition(region: str) -> str:
    """The ARN partition of a region."""
    return "aws-cn" if region.startswith("cn-") else "aws"


def stream_arn(config: Config, stream: str) -> str:
    """The ARN of ``stream`` in the profile's region and account (the connector names streams by ARN)."""
    return f"arn:{partition(config.aws.region)}:kinesis:{config.aws.region}:{config.aws.account_id}:stream/{stream}"


def kinesis_options(config: Config, stream: str, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Connector options for a JSON table over ``stream``, plus ``extra`` source or sink options
    (e.g. ``{"source.init.position": "TRIM_HORIZON"}``), which win over the defaults."""
    options = {
        "connector": "kinesis",
        "stream.arn": stream_arn(config, stream),
        "aws.region": config.aws.region,
        "format": "json",
    }
    endpoint = endpoint_for(config, "kinesis")
    if endpoint:
        options["aws.endpoint"] = endpoint
    options.update(credentials_options(config))
    options["retry-strategy.attempts.max"] = str(config.aws.retry_attempts)
    options["retry-strategy.delay.min"] = config.aws.retry_delay_min.as_flink()
    options["retry-strategy.delay.max"] = config.aws.retry_delay_max.as_flink()
    options.update(extra or {})
    return options


def polling_options(config: Config, job: str = "") -> dict[str, str]:
    """How a job's Kinesis source reads: polling, at the pace of ``job.poll_interval`` at a stream's tip
    (how soon a shard that had no records is asked again), or enhanced fan-out (``job.reader: efo``)
    through the consumer ``job.efo_consumer`` (``-JOB`` appended for the ETL and migrated jobs, so jobs on
    one stream never share a consumer), which the job registers and deregisters."""
    if config.job.reader == "efo":
        return {
            "source.reader.type": "EFO",
            "source.efo.consumer.name": _consumer_name(config, job),
            "source.efo.lifecycle": "JOB_MANAGED",
        }
    return {"source.reader.empty-records-fetch-interval": config.job.poll_interval.as_flink()}


def _consumer_name(config: Config, job: str) -> str:
    """``job.efo_consumer``, or ``job.efo_consumer-JOB`` with what Kinesis refuses in a name made ``-``."""
    if not job:
        return config.job.efo_consumer
    return re.sub(r"[^A-Za-z0-9_.-]", "-", f"{config.job.efo_consumer}-{job}")[:128]


def output_options(config: Config) -> dict[str, str]:
    """A Kinesis sink of output rows: sent at most ``job.output_flush`` after the first of a batch."""
    return {"sink.flush-buffer.timeout": str(round(config.job.output_flush * 1000))}


def credentials_options(config: Config) -> dict[str, str]:
    """The connector's credentials options: the AWS SDK's default chain (AUTO) — or the local stack's
    dummy keys — used directly, or to assume ``aws.role_arn``. Never a real secret."""
    prefix = "aws.credentials"
    options: dict[str, str] = {}
    if config.aws.role_arn:
        options[f"{prefix}.provider"] = "ASSUME_ROLE"
        options[f"{prefix}.role.arn"] = config.aws.role_arn
        options[f"{prefix}.role.sessionName"] = config.aws.role_session_name
        if config.aws.role_external_id:
            options[f"{prefix}.role.externalId"] = config.aws.role_external_id
        sts = endpoint_for(config, "sts")
        if sts:
            options[f"{prefix}.role.stsEndpoint"] = sts
        prefix += ".role"  # the credentials that call STS
    if config.aws.credentials == "local":
        # The embedded stack checks no signatures; these dummy keys only ever go to loopback
        # (load_config refuses aws.credentials: local with any other endpoint).
        options[f"{prefix}.provider"] = "BASIC"
        options[f"{prefix}.basic.accesskeyid"] = _LOCAL_KEY_ID
        options[f"{prefix}.basic.secretkey"] = _LOCAL_SECRET
    else:
        options[f"{prefix}.provider"] = "AUTO"
    return options


def local_uri(config_path: str) -> str:
    """A profile path as a URI Flink accepts: s3:// as is, local paths from the project root."""
    from connectors.environment import project_path

    return config_path if "://" in config_path else project_path(config_path).as_uri()


def file_options(path: Path) -> dict[str, str]:
    """A local file or directory of JSON lines, as a Flink filesystem table."""
    return {"connector": "filesystem", "path": str(path.resolve()), "format": "json"}


def archive_options(config: Config, name: str) -> dict[str, str]:
    """The archive of ``name`` under ``job.archive``: JSON, partitioned, committed on checkpoints."""
    job = config.job
    return {
        "connector": "filesystem",
        "path": f"{local_uri(job.archive).rstrip('/')}/{name}",
        "format": "json",
        "sink.rolling-policy.file-size": job.archive_roll_size.replace(" ", "").lower(),
        "sink.rolling-policy.rollover-interval": job.archive_roll_interval.as_flink(),
        "sink.rolling-policy.check-interval": "10 s",
        "sink.partition-commit.trigger": "process-time",
        "sink.partition-commit.delay": "0 s",
        "sink.partition-commit.policy.kind": "success-file",
    }
