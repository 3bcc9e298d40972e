"""The streaming job: the events stream in; the five analytics of ``sql/`` out to Kinesis streams
and to an archive; records the analytics cannot use out to the dead letters.

One program everywhere. On Amazon Managed Service for Apache Flink it is the application's entry
point: it reads its config from ``/etc/flink/application_properties.json`` and returns once the job
is submitted. Locally (``clickflow run``) it runs the job in an embedded Flink and waits.

Outputs:
  - each analytic to its Kinesis stream (``streams.<analytic>``, default ``clickflow-<analytic>``);
    every record carries ``"analytic"`` (each view in ``sql/`` names itself);
  - each analytic, the raw events and the dead letters to ``<job.archive>/<name>/dt=YYYY-MM-DD/hour=HH/``
    (Flink's filesystem sink, JSON, committed on checkpoints, rolled by size and age);
  - dead letters (reason, raw text, time seen) to ``streams.dead_letters``.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from connectors import environment
from connectors.config import (
    MSF_PROPERTIES_FILE,
    Config,
    ConfigError,
    load_config,
    msf_properties_file,
    parse_start_time,
)
from connectors.tables import archive_options, kinesis_options, local_uri, output_options, polling_options
from jobs import analytics, plans

PROJECT_ROOT = Path(__file__).resolve().parents[1]
MSF_PROPERTIES = MSF_PROPERTIES_FILE
REHEARSAL_BOUNDED_ENV = "CLICKFLOW_BOUNDED"  # set by `clickflow deploy --local --bounded`, never by the service
ARCHIVED = ("events", "dead_letters", *analytics.ANALYTICS)
ARCHIVE_PARTITIONS = ("dt", "hour")  # the UTC day and hour of each row's time


@dataclass(frozen=True)
class RunOptions:
    """How ``clickflow run`` starts: where it reads from, bounded or not, and what it restores."""

    start: str | None = None  # trim_horizon | latest | ISO time; None: the profile's job.start_position
    bounded: bool = False  # stop at the stream's end as of the start, close every window, finish
    restore: str | None = None  # a savepoint or retained checkpoint to resume from


def source_options(config: Config, options: RunOptions) -> dict[str, str]:
    """The events source's start options (``source.init.*``) for ``options.start`` or the profile's."""
    start = (options.start or config.job.start_position).strip()
    if start.lower() in ("trim_horizon", "latest"):
        out = {"source.init.position": start.upper()}
    else:
        try:
            moment = parse_start_time(start)
        except ValueError:
            raise ConfigError(
                f"--from {start!r}: expected trim_horizon, latest or a UTC time like 2019-10-01T00:00:00Z"
            ) from None
        out = {
            "source.init.position": "AT_TIMESTAMP",
            "source.init.timestamp": moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+00:00",
        }
    out.update(polling_options(config))
    out["source.shard.discovery.interval"] = "10 s"
    # Live, small pages interleave the shards finely, so no shard's records wait behind another's page. A bounded
    # run reads what is there as fast as it can: the largest page GetRecords gives, 10 times fewer calls (each
    # shard's watermark is its own, so a shard read ahead of the others makes none of theirs late).
    out["source.shard.get-records.max-record-count"] = "10000" if options.bounded else "1000"
    if options.bounded:
        out.update(environment.bounded_option(config))
    return out


def _time_column(columns: list[tuple[str, str]], name: str) -> str:
    for column, kind in columns:
        if kind.startswith("TIMESTAMP"):
            return column
    raise ValueError(f"{name} has no timestamp column to partition its archive by")


def _archive(env, statements, config: Config, name: str, source: str) -> None:
    columns = analytics.columns_of(env, source)
    when = _time_column(columns, source)
    env.execute_sql(analytics.table_sql(f"{name}_archive", columns, archive_options(config, name), ARCHIVE_PARTITIONS))
    statements.add_insert_sql(
        f"INSERT INTO `{name}_archive` SELECT *, DATE_FORMAT(`{when}`, 'yyyy-MM-dd'), DATE_FORMAT(`{when}`, 'HH') "
        f"FROM `{source}`"
    )


def output_stream_table(env, config: Config, name: str, extra: Mapping[str, str]) -> str:
    """Create ``<name>_stream``, the table over the output stream of ``name`` (an analytic or
    ``dead_letters``), with that view's columns; returns the table's name."""
    table = f"{name}_stream"
    options = kinesis_options(config, config.output_stream(name).name, extra)
    env.execute_sql(analytics.sink_sql(env, name, table, options))
    return table


def register_inputs(env, config: Config, source: Mapping[str, str]) -> None:
    """The events table over the events stream (connector options ``source``), the clicks view,
    each analytic's views, and the dead letters (the records clicks leaves out: one read serves both)."""
    analytics.register(env, config, source, analytics.ANALYTICS)
    analytics.execute_script(env, analytics.dead_letters_sql())


def _to_stream(env, statements, config: Config, name: str, sink_extra: Mapping[str, str]) -> None:
    table = output_stream_table(env, config, name, sink_extra)
    statements.add_insert_sql(f"INSERT INTO `{table}` SELECT * FROM `{name}`")


def build(env, config: Config, options: RunOptions):
    """Register the tables and views and return the job's statement set (not yet executed)."""
    register_inputs(env, config, kinesis_options(config, config.stream("events").name, source_options(config, options)))
    statements = env.create_statement_set()
    # Output rows are few; a short flush timeout keeps alerts fast (it is the largest part of the
    # latency from a window closing to its rows in Kinesis: benchmarks/pipeline.py).
    sink_extra = output_options(config)
    for name in analytics.ANALYTICS:
        _to_stream(env, statements, config, name, sink_extra)
        _archive(env, statements, config, name, name)
    _to_stream(env, statements, config, "dead_letters", sink_extra)
    _archive(env, statements, config, "dead_letters", "dead_letters")
    _archive(env, statements, config, "events", "clicks")
    return statements


def configure(env, config: Config, options: RunOptions, on_msf: bool = False) -> None:
    """Set checkpoints, restarts, parallelism and planner options on ``env`` (Managed Flink owns the first two)."""
    conf = env.get_config()
    if not on_msf:  # Managed Flink owns checkpoints and restarts (clickflow deploy sets them on the application)
        conf.set("execution.checkpointing.interval", config.job.checkpoint_interval.as_flink())
        conf.set("execution.checkpointing.timeout", config.job.checkpoint_timeout.as_flink())
        conf.set("execution.checkpointing.tolerable-failed-checkpoints", str(config.job.tolerable_failed_checkpoints))
        conf.set("execution.checkpointing.dir", local_uri(config.job.checkpoint_dir))
        conf.set("execution.checkpointing.externalized-checkpoint-retention", "RETAIN_ON_CANCELLATION")
        conf.set("restart-strategy.type", "fixed-delay")
        conf.set("restart-strategy.fixed-delay.attempts", "3")
        conf.set("restart-strategy.fixed-delay.delay", "2 s")
    conf.set("pipeline.name", f"clickflow ({config.profile})")
    watermarks, buffers = config.flink.timing(options.bounded)
    conf.set("pipeline.auto-watermark-interval", watermarks.as_flink())
    conf.set("execution.buffer-timeout.interval", buffers.as_flink())
    if options.restore:
        conf.set("execution.state-recovery.path", options.restore)


def latest_checkpoint(config: Config) -> str | None:
    """Where the job last left its state (local directories only): the newest retained checkpoint under
    job.checkpoint_dir, or the newest savepoint under ``savepoints`` beside it when that is newer. A job
    stopped with a savepoint ends FINISHED, and Flink then discards its checkpoints: its savepoint is where
    it stopped. (A job that crashed or was cancelled keeps its checkpoints.)"""
    from urllib.parse import unquote, urlparse

    from connectors.cluster import savepoint_dir

    if "://" in config.job.checkpoint_dir:
        return None
    found = list(environment.project_path(config.job.checkpoint_dir).glob("*/chk-*/_metadata"))
    savepoints = urlparse(savepoint_dir(config))
    if savepoints.scheme == "file":
        found += Path(unquote(savepoints.path)).glob("savepoint-*/_metadata")
    found.sort(key=lambda p: p.stat().st_mtime)
    return found[-1].parent.as_uri() if found else None


def restore_latest(config: Config) -> str:
    """``--restore latest``: the state to resume from (latest_checkpoint), or a ConfigError naming both places."""
    from connectors.cluster import savepoint_dir

    found = latest_checkpoint(config)
    if not found:
        raise ConfigError(
            f"--restore latest: no retained checkpoint under {config.job.checkpoint_dir} "
            f"and no savepoint under {savepoint_dir(config)}"
        )
    return found


def start(config: Config, options: RunOptions, on_msf: bool = False, say: Callable[[str], None] = lambda _: None):
    """Build and submit the job where ``connectors.environment`` says it runs; returns its
    TableResult (the jars built here, except on Managed Flink, whose package holds them). The job runs
    from a compiled plan, reused from the plan cache when this start's is there (not on Managed Flink,
    which keeps no files between starts)."""
    where, env, statements = prepare(config, options, on_msf)
    return plans.execute(env, statements, plans.cache_for(where.config, where.managed), say)


def prepare(config: Config, options: RunOptions, on_msf: bool = False, rest_port: int | None = None):
    """The job made ready to plan where ``connectors.environment`` says it runs: (that environment, the
    recording TableEnvironment, the statement set), nothing compiled or submitted yet. ``rest_port``: the
    embedded Flink's REST port, default ``job.rest_port``."""
    where = environment.decide(config, on_msf)
    env = plans.Recorder(
        environment.table_env(where, rest_port=rest_port),
        views_from_cache=plans.cache_for(where.config, where.managed),
    )
    configure(env, where.config, options, on_msf=where.managed)
    return where, env, build(env, where.config, options)


def _port_free(port: int) -> bool:
    import socket

    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as Flink's server does: TIME_WAIT is no owner
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _wait_until_running(client, timeout: float = 120.0) -> str:
    """Poll a submitted job until it runs (or ends, or ``timeout`` passes); returns its last state."""
    import time

    deadline = time.monotonic() + timeout
    state = "CREATED"
    while time.monotonic() < deadline:
        state = str(client.get_job_status().result()).rsplit(".", 1)[-1]
        if state in ("RUNNING", "FAILED", "CANCELED", "FINISHED"):
            return state
        time.sleep(0.5)
    return state


class StopRequests:
    """SIGINT and SIGTERM while inside, counted (never raised into a call in flight: a py4j call cut
    off midway leaves its connection unusable) — SIGINT too when it was inherited ignored, as a
    non-interactive shell starts background jobs."""

    def __init__(self, then: Callable[[], None] | None = None) -> None:
        self.names: list[str] = []
        self._then = then  # called after each request is counted (by connectors.signals' relay, not the handler)

    def __enter__(self) -> StopRequests:
        from connectors.signals import deferred

        then = deferred(self._then) if self._then is not None else None

        def handler(signum, frame):
            self.names.append(signal.Signals(signum).name)
            if then is not None:
                then()

        self._previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
        return self

    def __exit__(self, *exc) -> None:
        for sig, old in self._previous.items():
            signal.signal(sig, old)


def stop_with_savepoint(job_client, directory: str):
    """Start stopping a job with a savepoint under ``directory`` (a URI); returns the Java future of
    the savepoint's location. PyFlink's own ``stop_with_savepoint`` calls a Java signature Flink 2.x
    removed: this goes through py4j to the Java client's ``stopWithSavepoint(drain, dir, format)``."""
    from pyflink.java_gateway import get_gateway

    canonical = get_gateway().jvm.org.apache.flink.core.execution.SavepointFormatType.CANONICAL
    return job_client._j_job_client.stopWithSavepoint(False, directory, canonical)


TERMINAL = ("FINISHED", "FAILED", "CANCELED")


def _state(client) -> str:
    return str(client.get_job_status().result()).rsplit(".", 1)[-1]


def wait_or_stop(result, client, stops: StopRequests) -> bool:
    """Wait for the job's end, or a stop request (True)."""
    import time

    while not stops.names:
        try:
            ended = _state(client) in TERMINAL
        except Exception:  # noqa: BLE001 - an embedded cluster shuts down as its bounded job ends
            ended = True
        if ended:
            result.wait()  # raises what the job failed with
            return False
        time.sleep(0.5)
    return True


def stop_on_request(client, config: Config, stops: StopRequests, resume: Callable[[str], str], say) -> int:
    """The first signal: stop with a savepoint and say how to resume; a second: cancel at once."""
    import time

    from connectors.cluster import savepoint_dir

    target = savepoint_dir(config)
    say(f"{stops.names[0]}: stopping the job with a savepoint under {target} (again: stop at once) …")
    if hasattr(client, "stop_with_savepoint_at"):  # a job run by the cluster's SQL gateway (jobs.gateway)
        future = client.stop_with_savepoint_at(target)
    else:
        future = stop_with_savepoint(client, target)
    while not future.isDone() and len(stops.names) < 2:
        time.sleep(0.2)
    if not future.isDone():
        _cancel(client)
        say(
            f"{stops.names[1]}: stopped at once, without a savepoint; the job's retained checkpoints are kept, "
            f"so it resumes from the last one: {resume('latest')}"
        )
        return 130
    try:
        location = str(future.get())
    except Exception as exc:  # noqa: BLE001 - the savepoint failed: still stop, and say where to resume
        from jobs.failure import flink_root_cause

        _cancel(client)
        say(
            f"the savepoint failed ({flink_root_cause(exc)}); cancelled; resume from the last checkpoint: "
            f"{resume('latest')}"
        )
        return 130
    say(f"stopped with a savepoint: {location}")
    say(f"resume with: {resume(location)}")
    return 130


def _cancel(client) -> None:
    try:
        client.cancel().result()
    except Exception:  # noqa: BLE001 - already ended: nothing left to stop
        pass


def run(config: Config, options: RunOptions, say=print, resume: Callable[[str], str] | None = None) -> int:
    """``clickflow run``: submit the job and wait. SIGINT or SIGTERM stops it with a savepoint and
    says the command that resumes (``resume(location)``); a second signal cancels it at once."""
    if resume is None:
        resume = lambda location: f"clickflow run --profile {config.profile} --restore {location}"  # noqa: E731
    from connectors.cluster import get_json
    from producer.records import check_stream

    check_stream(config, config.stream("events").name)  # fail early and clearly, e.g. when the stack is down
    where = environment.decide(config)
    if where.kind == "cluster" and get_json(f"http://{config.job.cluster}/overview", timeout=5) is None:
        raise ConfigError(
            f"no Flink cluster answers at http://{config.job.cluster} (job.cluster): start it with "
            f"`clickflow cluster up --profile {config.profile}`"
            + (" (or `docker compose up -d` for compose's)" if config.job.endpoints else "")
        )
    if where.kind == "embedded" and config.job.rest_port and not _port_free(config.job.rest_port):
        raise ConfigError(
            f"job.rest_port {config.job.rest_port} is in use on 127.0.0.1 (another Flink?); "
            "--set job.rest_port=0 picks any free port"
        )
    if options.restore == "latest":
        found = restore_latest(config)
        options = RunOptions(start=options.start, bounded=options.bounded, restore=found)
        say(f"resuming from {found}")
    result = None
    if where.kind == "cluster":  # through the local cluster's SQL gateway when the plan is cached
        from jobs.gateway import submit_plan

        result = submit_plan(config, options, say)
    if result is None:
        result = start(config, options, say=say)
    client = result.get_job_client()
    say(
        f"job {client.get_job_id()} running: events from {config.stream('events').name}, "
        f"{'bounded (ends at the stream end as of now)' if options.bounded else 'until Ctrl-C'}"
    )
    outputs = sorted({config.output_stream(name).name for name in (*analytics.ANALYTICS, "dead_letters")})
    say(f"outputs: streams {', '.join(outputs)}")
    say(f"archive: {config.job.archive}   checkpoints: {config.job.checkpoint_dir}")
    if where.kind == "cluster":
        say(f"submitted to the Flink cluster: http://{config.job.cluster}/#/job/running/{client.get_job_id()}")
        if not where.waits_for(options.bounded):
            state = _wait_until_running(client)
            say(
                f"job {client.get_job_id()} is {state} on the cluster; it runs on after this command returns. "
                f"Stop it with a savepoint: clickflow cluster stop --profile {config.profile} {client.get_job_id()}"
            )
            return 0 if state == "RUNNING" else 1
    elif config.job.rest_port:
        say(
            f"status and metrics (dead letters: the `deadLetters` counter): "
            f"http://127.0.0.1:{config.job.rest_port}/jobs/{client.get_job_id()}"
        )
    with StopRequests() as stops:
        if wait_or_stop(result, client, stops):
            return stop_on_request(client, config, stops, resume, say)
    say("job finished")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point on Managed Flink (no arguments there) and for ``python -m jobs.stream``."""
    properties = msf_properties_file(MSF_PROPERTIES)
    if properties.is_file():
        config = load_config("aws", properties_file=properties)
        # Managed Flink supervises the job: do not wait. (A bounded run is a rehearsal's: deploy --local.)
        start(config, RunOptions(bounded=os.environ.get(REHEARSAL_BOUNDED_ENV) == "1"), on_msf=True)
        return 0
    parser = argparse.ArgumentParser(prog="python -m jobs.stream", description="Run the streaming job.")
    parser.add_argument("--profile", default="local")
    parser.add_argument("--bounded", action="store_true")
    parser.add_argument("--from", dest="start")
    args = parser.parse_args(argv)
    config = load_config(args.profile)
    start(config, RunOptions(start=args.start, bounded=args.bounded)).wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
