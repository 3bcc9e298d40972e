"""The analytics in ``sql/``: rendering them from config, and wiring them into a Flink TableEnvironment.

Each analytic is one ``.sql`` file named after the view it creates. The files are parameterised
only by values from config, rendered with ``string.Template.substitute`` (a missing or misspelt
parameter fails at render time). Where the events come from and where results go is decided by
the caller through connector options: the SQL refers only to registered names (``events``,
``clicks``, the analytic views).
"""

from __future__ import annotations

import atexit
import os
import re
import string
import subprocess
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from connectors.config import Config
from jobs.plans import Recorder

SQL_DIR = Path(__file__).resolve().parents[1] / "sql"
ANALYTICS = ("unique_visitors", "active_page_views", "top_categories", "cart_abandonment", "anomalies")


class RenderError(KeyError):
    """A SQL file names a parameter the config does not provide."""


def sql_interval(seconds: float) -> str:
    """A Flink SQL interval literal for a duration, exact to the millisecond.

    Flink accepts only the default interval precisions, so every duration is written in the one
    form that covers them all: ``INTERVAL '0 00:00:10.000' DAY TO SECOND(3)``.
    """
    millis = round(seconds * 1000)
    if millis < 0:
        raise ValueError(f"negative duration: {seconds}")
    days, rest = divmod(millis, 86_400_000)
    hours, rest = divmod(rest, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, millis = divmod(rest, 1000)
    return f"INTERVAL '{days} {hours:02d}:{minutes:02d}:{secs:02d}.{millis:03d}' DAY TO SECOND(3)"


def _millis(seconds: float) -> str:
    return str(round(seconds * 1000))


def parameters(config: Config, name: str) -> dict[str, str]:
    """The values one SQL file may use, all from config."""
    a = config.analytics
    if name == "events":
        return {"watermark_delay": sql_interval(a.watermark_delay)}
    if name in ("unique_visitors", "active_page_views"):
        return {"window": sql_interval(getattr(a, name).window)}
    if name == "top_categories":
        return {"window": sql_interval(a.top_categories.window), "top_n": str(a.top_categories.top_n)}
    if name == "cart_abandonment":
        gap = a.cart_abandonment.session_gap
        return {"session_window_gap": sql_interval(gap - 0.001), "session_gap_text": str(gap)}
    if name == "anomalies":
        bot, spike = a.bot_burst, a.traffic_spike
        return {
            "bot_window": sql_interval(bot.window),
            "bot_window_text": str(bot.window),
            "bot_threshold": str(bot.threshold),
            "spike_window": sql_interval(spike.window),
            "spike_window_text": str(spike.window),
            "baseline_windows": str(spike.baseline_windows),
            "min_baseline_windows": str(spike.min_baseline_windows),
            "stddevs": repr(float(spike.stddevs)),
            **rcf_parameters(config),
        }
    if name == "late_events":
        ms = _millis
        return {
            "unique_visitors_ms": ms(a.unique_visitors.window),
            "active_page_views_ms": ms(a.active_page_views.window),
            "top_categories_ms": ms(a.top_categories.window),
            "session_gap_ms": ms(a.cart_abandonment.session_gap),
            "bot_window_ms": ms(a.bot_burst.window),
            "spike_window_ms": ms(a.traffic_spike.window),
            "rcf_window_ms": ms(a.rcf_traffic.window),
        }
    raise ValueError(f"no analytic named {name!r} (known: {', '.join(ANALYTICS)})")


def rcf_parameters(config: Config) -> dict[str, str]:
    """rcf_traffic's values in sql/anomalies.sql."""
    rcf = config.analytics.rcf_traffic
    return {
        "rcf_window": sql_interval(rcf.window),
        "rcf_window_text": str(rcf.window),
        "rcf_threshold": repr(float(rcf.threshold)),
        "rcf_baseline_windows": str(rcf.baseline_windows),
        "rcf_min_baseline_windows": str(rcf.min_baseline_windows),
        "rcf_trees": str(rcf.trees),
        "rcf_sample_size": str(rcf.sample_size),
        "rcf_time_decay": str(rcf.time_decay),
        "rcf_seed": str(rcf.seed),
        "rcf_heavy_events": str(config.analytics.bot_burst.threshold // 2),
    }


def render(name: str, values: Mapping[str, str]) -> str:
    """The SQL file ``sql/<name>.sql`` with its ``${...}`` parameters filled in, or a :class:`RenderError`
    naming the missing one."""
    text = (SQL_DIR / f"{name}.sql").read_text(encoding="utf-8")
    try:
        return string.Template(text).substitute(values)
    except KeyError as exc:
        raise RenderError(f"sql/{name}.sql uses ${{{exc.args[0]}}}, which nothing provides") from None
    except ValueError as exc:
        raise RenderError(f"sql/{name}.sql: bad placeholder: {exc}") from None


def statements(sql: str) -> list[str]:
    """Split a rendered file into statements (each ends with a semicolon at the end of a line)."""
    parts = re.split(r";[ \t]*(?:\n|$)", sql)
    out = []
    for part in parts:
        code = "\n".join(line for line in part.splitlines() if not line.strip().startswith("--")).strip()
        if code:
            out.append(part.strip())
    return out


def with_clause(options: Mapping[str, str]) -> str:
    """Connector options as the body of a WITH clause; quotes in values are escaped."""
    lines = []
    for key, value in options.items():
        escaped = str(value).replace("'", "''")
        lines.append(f"    '{key}' = '{escaped}'")
    return ",\n".join(lines)


def events_sql(config: Config, connector_options: Mapping[str, str]) -> str:
    """sql/events.sql over ``connector_options`` (a stream or a file): the records are read as bytes,
    whatever format the options name, and judged by the valid-event rule (``CHECK_EVENT``)."""
    options = {k: v for k, v in connector_options.items() if not k.startswith("json.")}
    options["format"] = "raw"
    values = {**parameters(config, "events"), "connector_options": with_clause(options)}
    return render("events", {**values, **origin_columns(options)})


def origin_columns(connector_options: Mapping[str, str]) -> dict[str, str]:
    """Where each record came from, for its dead letter: a Kinesis record's shard and sequence
    number (the connector's metadata columns); records read from a file carry none (null)."""
    if connector_options.get("connector") == "kinesis":
        return {
            "origin_columns": "shard_id        STRING METADATA FROM 'shard-id' VIRTUAL,\n"
            "    sequence_number STRING METADATA FROM 'sequence-number' VIRTUAL,"
        }
    return {"origin_columns": "shard_id        AS CAST(NULL AS STRING),\n    sequence_number AS CAST(NULL AS STRING),"}


def dead_letters_sql() -> str:
    """sql/dead_letters.sql: every record ``clicks`` leaves out, and the late events, with reasons."""
    return render("dead_letters", {})


def analytic_sql(config: Config, name: str) -> str:
    """The SQL of analytic ``name`` with the profile's parameters."""
    return render(name, parameters(config, name))


# --------------------------------------------------------------------------- Flink

_gateway_processes: list = []


def _keep_gateway_process() -> None:
    """PyFlink launches its gateway JVM and drops the Popen, so the garbage collector later closes
    the JVM's stdin pipe — which the gateway takes as its cue to exit. Keep a reference instead;
    the JVM still ends with this Python process (its stdin closes then)."""
    import pyflink.java_gateway as java_gateway

    launch = java_gateway.launch_gateway_server_process
    if getattr(launch, "keeps_process", False):
        return

    def launch_and_keep(env, args):
        process = launch(env, args)
        _gateway_processes.append(process)
        return process

    launch_and_keep.keeps_process = True  # type: ignore[attr-defined]
    java_gateway.launch_gateway_server_process = launch_and_keep
    atexit.register(_stop_gateways)


_worker_pool_address: list[str] = []  # the loopback worker pool's address, once started


def _python_worker_pool_on_loopback() -> None:
    """PyFlink starts, for an embedded Flink, a gRPC server through which the JVM asks for Python
    workers — bound to ``[::]``, every interface. Wrap its ``start`` so that the server is bound to
    127.0.0.1 instead (once per process, as PyFlink's own). Stopped without a grace period at exit
    (a grace period starts a thread, which Python 3.12 refuses at shutdown)."""
    from pyflink.fn_execution.beam.beam_worker_pool_service import BeamFnLoopbackWorkerPoolServicer

    if getattr(BeamFnLoopbackWorkerPoolServicer.start, "on_loopback", False):
        return

    def start_on_loopback(servicer) -> str:
        if not _worker_pool_address:
            import atexit

            import grpc
            from apache_beam.portability.api import beam_fn_api_pb2_grpc
            from apache_beam.utils import thread_pool_executor

            server = grpc.server(thread_pool_executor.shared_unbounded_instance())
            port = server.add_insecure_port("127.0.0.1:0")
            beam_fn_api_pb2_grpc.add_BeamFnExternalWorkerPoolServicer_to_server(servicer, server)
            server.start()
            atexit.register(server.stop, None)
            _worker_pool_address.append(f"127.0.0.1:{port}")
        servicer._worker_address = _worker_pool_address[0]
        return _worker_pool_address[0]

    start_on_loopback.on_loopback = True  # type: ignore[attr-defined]
    BeamFnLoopbackWorkerPoolServicer.start = start_on_loopback


# Every server an embedded Flink opens, on loopback (a cluster's are set in its own config)
EMBEDDED_BIND = {
    "jobmanager.bind-host": "127.0.0.1",  # the blob server and the JobManager's RPC
    "jobmanager.rpc.address": "127.0.0.1",
    "taskmanager.bind-host": "127.0.0.1",  # the TaskManager's RPC and data (shuffle) ports
    "taskmanager.host": "127.0.0.1",
}


def _stop_gateways() -> None:
    import pyflink.java_gateway as java_gateway

    gateway, java_gateway._gateway = java_gateway._gateway, None
    if gateway is not None:
        try:
            gateway.shutdown()  # py4j first, so nothing talks to the JVM while it exits
        except Exception:  # noqa: BLE001 - best effort at interpreter exit
            pass
    for process in _gateway_processes:
        for pipe in (process.stdin, process.stderr):
            if pipe:
                pipe.close()  # end of input: the gateway server shuts down
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def job_settings(config: Config, pipeline_jars: Iterable[Path] = (), embedded: bool = True) -> dict[str, str]:
    """The Flink settings :func:`create_table_env` gives every job of ``config`` (the planner's among them,
    which are part of a compiled plan's key), as Flink option names and values."""
    settings = {
        "parallelism.default": str(config.flink.parallelism),
        "table.exec.source.idle-timeout": config.flink.idle_timeout.as_flink(),
        "table.local-time-zone": "UTC",
        "rest.bind-address": "127.0.0.1",  # the embedded Flink's REST API: loopback only
        "rest.address": "127.0.0.1",
        **(EMBEDDED_BIND if embedded else {}),  # and every other server it opens
        "pipeline.object-reuse": "true",  # SQL operators copy what they keep; saves a copy per record
    }
    if config.flink.mini_batch:
        settings["table.exec.mini-batch.enabled"] = "true"
        settings["table.exec.mini-batch.allow-latency"] = "1 s"
        settings["table.exec.mini-batch.size"] = "5000"
    if config.flink.split_distinct:
        settings["table.optimizer.distinct-agg.split.enabled"] = "true"
    jars = ";".join(path.resolve().as_uri() for path in pipeline_jars)
    if jars:
        settings["pipeline.jars"] = jars
    return settings


def create_table_env(
    config: Config,
    pipeline_jars: Iterable[Path] = (),
    jvm_args: Iterable[str] = (),
    batch: bool = False,
    embedded: bool = True,
):
    """A TableEnvironment configured from the profile, streaming unless ``batch``. Nothing runs at
    import time: PyFlink (and its JVM) is loaded here. ``jvm_args`` reach the JVM only if this is the
    first environment of the process (PyFlink starts one JVM per process) and JVM_ARGS is not set; so do
    the options that map the class archive (``connectors.class_archive``) when it is built.
    ``embedded``: the job runs in a Flink inside this process, every server of which is bound to
    127.0.0.1 (False: it is sent to a cluster or runs on Managed Flink, which bind their own)."""
    if not _gateway_processes and "JVM_ARGS" not in os.environ:
        try:
            from connectors.class_archive import jvm_options
        except ImportError:  # not in the Managed Flink package, whose JVM is Flink's own
            jvm_options = list
        jvm_args = [*jvm_args, *jvm_options()]
        if jvm_args:
            os.environ["JVM_ARGS"] = " ".join(jvm_args)  # read by PyFlink's gateway launcher
    _keep_gateway_process()
    from pyflink.table import EnvironmentSettings, TableEnvironment

    from connectors.environment import apply_to_jvm

    if embedded:
        _python_worker_pool_on_loopback()  # before PyFlink starts its own on every interface
    settings = EnvironmentSettings.in_batch_mode() if batch else EnvironmentSettings.in_streaming_mode()
    env = TableEnvironment.create(settings)
    apply_to_jvm(config)  # the connector's SDK, for an embedded Flink (a cluster's JVMs get theirs in its config)
    conf = env.get_config()
    for key, value in job_settings(config, pipeline_jars, embedded).items():
        conf.set(key, value)
    return env


_PTF_VIEW = re.compile(r"^CREATE TEMPORARY VIEW (\w+) AS\s+(.*=>\s*TABLE\b.*)$", re.S | re.I)


def execute_script(env, sql: str) -> None:
    """Run each statement of a SQL script in ``env``. A view over a process table function (a call with
    ``input => TABLE t``) is registered as the planned query: Flink 2.2 cannot expand such a view's text
    where it is used."""
    for statement in statements(sql):
        code = "\n".join(line for line in statement.splitlines() if not line.strip().startswith("--")).strip()
        ptf = _PTF_VIEW.match(code)
        if ptf:
            env.create_temporary_view(ptf.group(1), env.sql_query(ptf.group(2)))
        else:
            env.execute_sql(statement)


def register(env, config: Config, events_options: Mapping[str, str], names: Iterable[str]) -> None:
    """Create the events table, the clicks view, each analytic's views, and ``late_events`` (what
    the windows drop as late, per analytic)."""
    execute_script(env, events_sql(config, events_options))
    for name in names:
        execute_script(env, analytic_sql(config, name))
    execute_script(env, analytic_sql(config, "late_events"))


def columns_of(env, name: str) -> list[tuple[str, str]]:
    """(column, SQL type) of a registered table or view, time attributes as plain timestamps (a recording
    environment's :meth:`jobs.plans.Recorder.columns`: kept from an earlier start of the same statements)."""

    def read() -> list[tuple[str, str]]:
        schema = env.from_path(name)._j_table.getResolvedSchema()
        out = []
        for column in schema.getColumns():
            logical = column.getDataType().getLogicalType()
            out.append((column.getName(), logical.asSerializableString()))
        return out

    return env.columns(name, read) if isinstance(env, Recorder) else read()


def table_sql(
    table: str, columns: Iterable[tuple[str, str]], options: Mapping[str, str], partitioned_by: Iterable[str] = ()
) -> str:
    """CREATE TABLE for ``columns`` (name, SQL type) and connector ``options``; ``partitioned_by``
    adds STRING partition columns. Every table the jobs create outside ``sql/`` comes from here."""
    partitions = list(partitioned_by)
    body = [f"    `{column}` {kind}" for column, kind in columns] + [f"    `{p}` STRING" for p in partitions]
    partition_clause = f"\nPARTITIONED BY ({', '.join(f'`{p}`' for p in partitions)})" if partitions else ""
    columns_text = ",\n".join(body)
    return f"CREATE TABLE `{table}` (\n{columns_text}\n){partition_clause}\nWITH (\n{with_clause(options)}\n)"


def sink_sql(env, name: str, sink_table: str, options: Mapping[str, str]) -> str:
    """CREATE TABLE for a sink with the columns of the registered view or table ``name``."""
    return table_sql(sink_table, columns_of(env, name), options)


def insert_all(env, names: Iterable[str], sink_options: Callable[[str], Mapping[str, str]]):
    """A statement set writing every named analytic to its own sink table ``<name>_out``."""
    statement_set = env.create_statement_set()
    for name in names:
        env.execute_sql(sink_sql(env, name, f"{name}_out", sink_options(name)))
        statement_set.add_insert_sql(f"INSERT INTO `{name}_out` SELECT * FROM `{name}`")
    return statement_set
