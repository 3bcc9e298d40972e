"""`clickflow run --job DIR`: a KDA application migrated by ``clickflow migrate``, run as a PyFlink job
with the same connector, profiles and local/cluster/Managed Flink switch as the analytics job.

The job directory's SQL names its tables' connector options by placeholder; here they are rendered
for the profile (``${source}`` the input stream, read as text with its arrival time; ``${sink:S}`` the
Kinesis stream of in-application stream S, JSON records; ``${reference:T}`` the path of reference
table T's S3 object, which KDA_REFERENCE reads). Views are planned as Table objects; the INSERTs run
as one statement set.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from dataclasses import dataclass

from clickflow.migrate.errors import MigrateError
from clickflow.migrate.jobdir import PLACEHOLDER, MigratedJob
from connectors import environment
from connectors.config import Config, ConfigError
from connectors.tables import kinesis_options, output_options, polling_options

VIEW = re.compile(r"^\s*CREATE TEMPORARY VIEW `((?:[^`]|``)+)` AS\s+(.*)$", re.S)


@dataclass(frozen=True)
class MigratedRunOptions:
    """How ``clickflow run --job`` runs: bounded or not, where it starts reading, what it resumes from."""

    bounded: bool = False
    start: str | None = None  # trim_horizon | latest; None: the job's input.start
    restore: str | None = None


# A KDA stream is in ROWTIME order, and so were the rows KDA wrote to its destinations. The sink sends its
# next PutRecords only when the last is answered: with several calls in flight, a call answered late puts its
# rows after those of calls sent later (seen under load: one second's sorted rows after the next's). Rows that
# Kinesis refuses in part of a call (throttled) are sent again and can still come later than the rest.
IN_ORDER = {"sink.requests.max-inflight": "1"}


def _options_sql(options: dict[str, str]) -> str:
    def quote(value: str) -> str:
        return "'" + value.replace("'", "''") + "'"

    return ", ".join(f"{quote(k)} = {quote(v)}" for k, v in options.items())


def render(job: MigratedJob, config: Config, source_extra: dict[str, str]) -> list[str]:
    """The job's statements with every placeholder replaced by the profile's connector options."""

    def options(match) -> str:
        kind, _, target = match.group(1).partition(":")
        if kind == "source":
            return _options_sql({**kinesis_options(config, job.input_stream, source_extra), "format": "raw"})
        if kind == "sink":
            sink = {**kinesis_options(config, job.outputs[target]), **output_options(config), **IN_ORDER}
            return _options_sql(sink)
        return "'" + job.references[target].path.replace("'", "''") + "'"  # where KDA_REFERENCE reads it

    return [PLACEHOLDER.sub(options, statement) for statement in job.statements]


def job_config(job: MigratedJob, config: Config) -> Config:
    """The profile as the migrated job sees it: checkpoints under job.checkpoint_dir/migrated-NAME."""
    checkpoints = f"{config.job.checkpoint_dir.rstrip('/')}/migrated-{job.name}/checkpoints"
    return dataclasses.replace(config, job=dataclasses.replace(config.job, checkpoint_dir=checkpoints))


def _prepare(env, job: MigratedJob, config: Config, options: MigratedRunOptions):
    extra = {
        "source.init.position": (options.start or job.start).upper(),
        **polling_options(config, f"migrated-{job.name}"),
    }
    if options.bounded:
        extra.update(environment.bounded_option(config))
    conf = env.get_config()
    conf.set("pipeline.name", f"clickflow migrated {job.name}")
    conf.set("table.local-time-zone", "UTC")  # KDA's timestamps are UTC; windows align to UTC days
    statements = render(job, config, extra)
    statement_set = env.create_statement_set()
    for statement in statements:
        view = VIEW.match(statement)
        if statement.lstrip().upper().startswith("INSERT"):
            statement_set.add_insert_sql(statement)
        elif view:  # planned now, not kept as text: Flink 2.2 cannot expand a view's text holding a PTF call
            env.create_temporary_view(view.group(1).replace("``", "`"), env.sql_query(view.group(2)))
        else:
            env.execute_sql(statement)
    return statement_set


def start_job(job: MigratedJob, config: Config, options: MigratedRunOptions, on_msf: bool = False):
    """Build and submit the job; returns its TableResult."""
    from jobs.stream import RunOptions, configure

    where = environment.decide(job_config(job, config), on_msf)
    s3 = any(r.path.startswith(("s3://", "s3a://")) for r in job.references.values())
    env = environment.table_env(where, needs_s3=s3)
    configure(env, where.config, RunOptions(restore=options.restore), on_msf=where.managed)
    return _prepare(env, job, where.config, options).execute()


def explain(job: MigratedJob, config: Config) -> str:
    """Flink's plan of the job (its SQL planned by Flink, nothing run); what Flink refuses is a
    :class:`MigrateError` with Flink's reason."""
    from clickflow import job_failure
    from jobs.failure import root_cause

    where = environment.decide(config, embedded=True)
    env = environment.table_env(where, archives=False)
    try:
        return str(_prepare(env, job, where.config, MigratedRunOptions()).explain())
    except Exception as exc:
        if not job_failure.is_java_failure(exc):
            raise
        cause = root_cause(str(exc)) or str(exc).splitlines()[0]
        raise MigrateError(f"Flink refused the translated SQL: {cause}") from None


def create_local_streams(job: MigratedJob, config: Config, say: Callable[[str], None]) -> None:
    """On the local stack, create the job's streams that are not there yet (one shard each), saying so."""
    from connectors import aws

    kinesis = aws.client(config, "kinesis")
    existing = set(kinesis.list_streams(Limit=10000).get("StreamNames", []))
    for stream in job.streams():
        if stream in existing:
            continue
        kinesis.create_stream(StreamName=stream, ShardCount=1)
        kinesis.get_waiter("stream_exists").wait(StreamName=stream, WaiterConfig={"Delay": 0.2, "MaxAttempts": 100})
        what = " (the input: empty until something writes to it)" if stream == job.input_stream else ""
        say(f"created stream {stream} on the local stack{what}")


def run(
    job: MigratedJob,
    config: Config,
    options: MigratedRunOptions,
    say: Callable[[str], None] = print,
    resume: Callable[[str], str] | None = None,
) -> int:
    """``clickflow run --job``: check the streams, start the job; bounded: wait for it to end.

    SIGINT or SIGTERM stops it with a savepoint and says the command that resumes (returns 130)."""
    from connectors.cluster import get_json
    from jobs.stream import StopRequests, _wait_until_running, restore_latest, stop_on_request, wait_or_stop
    from producer.records import check_stream

    if resume is None:
        resume = lambda location: f"clickflow run --job {job.directory} --restore {location}"  # noqa: E731
    if config.aws.credentials == "local":  # the local stack: the job's streams are made for it, as the profile's are
        create_local_streams(job, config, say)
    for stream in job.streams():
        check_stream(config, stream)
    where = environment.decide(config)
    if where.kind == "cluster" and get_json(f"http://{config.job.cluster}/overview", timeout=5) is None:
        raise ConfigError(
            f"no Flink cluster answers at http://{config.job.cluster} (job.cluster): start it with "
            f"`clickflow cluster up --profile {config.profile}`"
        )
    if options.restore == "latest":
        found = restore_latest(job_config(job, config))
        options = dataclasses.replace(options, restore=found)
        say(f"resuming from {found}")
    result = start_job(job, config, options)
    client = result.get_job_client()
    outputs = ", ".join(f"{s} -> {k}" for s, k in job.outputs.items())
    say(f"migrated {job.name}: job {client.get_job_id()} reading {job.input_stream}; {outputs}")
    if where.kind == "cluster" and not where.waits_for(options.bounded):
        state = _wait_until_running(client)
        say(
            f"job {client.get_job_id()} is {state} on the cluster: http://{config.job.cluster}/#/job/running/"
            f"{client.get_job_id()}; stop it with a savepoint: clickflow cluster stop --profile {config.profile} "
            f"{client.get_job_id()}"
        )
        return 0 if state == "RUNNING" else 1
    code = 0
    with StopRequests() as stops:
        if wait_or_stop(result, client, stops):
            code = stop_on_request(client, job_config(job, config), stops, resume, say)
    if code:
        return code
    say(f"migrated {job.name}: finished" if options.bounded else f"migrated {job.name}: running")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point on Managed Flink (a package built with ``clickflow package --job``): the config from the
    application's property groups, the job from the zip's ``migrated/``; the job is submitted and Managed
    Flink supervises it."""
    from pathlib import Path

    from clickflow.migrate.jobdir import load
    from connectors.config import load_config, msf_properties_file

    here = Path(__file__).resolve().parents[1]
    config = load_config("aws", properties_file=msf_properties_file())
    start_job(load(here / "migrated"), config, MigratedRunOptions(), on_msf=True)
    return 0
