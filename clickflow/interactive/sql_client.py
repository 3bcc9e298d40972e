"""``clickflow sql``: Apache Flink's own SQL client over clickflow's tables.

The client comes from the apache-flink wheel (``bin/sql-client.sh``, ``opt/flink-sql-client``) plus
the pinned ``flink-sql-gateway`` jar, in the layout of ``connectors.cluster``. Its init script is
rendered by the same code that registers ``explore``'s tables — the ``sql/`` files and the profile —
so ``events``, ``clicks``, the analytics' views, ``late_events``, ``dead_letters`` and the output
streams (``<analytic>_stream``) are all there. Two modes:

- against the local cluster's SQL gateway (``clickflow cluster up``), when the profile names the
  cluster (``--profile cluster``): queries run on the cluster;
- embedded (any other profile, or ``--embedded``): the client runs Flink in its own JVM.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

from connectors import cluster, environment
from connectors.config import Config
from connectors.tables import kinesis_options
from jobs import analytics

# Session settings the init script carries over from clickflow's own TableEnvironment
SESSION_KEYS = ("parallelism.default", "table.exec.source.idle-timeout", "table.local-time-zone")


class _Recorder:
    """A TableEnvironment that keeps the text of every statement it executes."""

    def __init__(self, env) -> None:
        self._env = env
        self.statements: list[str] = []
        self._queries: dict[int, str] = {}

    def execute_sql(self, sql: str):
        self.statements.append(sql.strip().rstrip(";"))
        return self._env.execute_sql(sql)

    def sql_query(self, sql: str):
        table = self._env.sql_query(sql)
        self._queries[id(table)] = sql.strip().rstrip(";")
        return table

    def create_temporary_view(self, name: str, table) -> None:
        """A view registered from a query (``jobs.analytics.execute_script``'s views over a process
        table function) is kept as the CREATE VIEW statement of that query's text."""
        self.statements.append(f"CREATE TEMPORARY VIEW {name} AS\n{self._queries.pop(id(table))}")
        self._env.create_temporary_view(name, table)

    def __getattr__(self, name: str):
        return getattr(self._env, name)


def init_script(config: Config, start: str | None = None, bounded: bool = False) -> str:
    """The statements that register clickflow's tables, as ``explore`` registers them (a JVM is
    started to derive the output tables' columns from the views)."""
    from jobs.stream import RunOptions, output_stream_table, register_inputs, source_options

    where = environment.decide(config, embedded=True)  # the tables as explore registers them
    config = where.config
    env = environment.table_env(where, rest_port=0, archives=False)
    recorder = _Recorder(env)
    source = source_options(config, RunOptions(start=start, bounded=bounded))
    register_inputs(recorder, config, kinesis_options(config, config.stream("events").name, source))
    outputs = source_options(config, RunOptions(start="trim_horizon", bounded=bounded))
    for name in (*analytics.ANALYTICS, "dead_letters"):
        output_stream_table(recorder, config, name, outputs)
    conf = env.get_config()
    settings = [f"SET '{key}' = '{conf.get(key, '')}'" for key in SESSION_KEYS]
    header = (
        f"-- clickflow's tables for profile {config.profile!r}, rendered from sql/ by `clickflow sql`\n"
        f"-- events from {start or config.job.start_position}{' (bounded)' if bounded else ''}\n"
    )
    return header + "".join(f"{statement};\n\n" for statement in settings + recorder.statements)


def gateway_url(config: Config) -> str | None:
    """The local cluster's SQL gateway, when the profile names the cluster and the gateway answers."""
    if not cluster.is_local_cluster(config) or not cluster.gateway_answers(config):
        return None  # no cluster, a remote one (compose: no gateway of ours there), or none running
    return cluster.gateway_endpoint(config)


def command(config: Config, init: Path, script: Path | None, endpoint: str | None) -> list[str]:
    """The command line of Flink's SQL client: through the gateway at ``endpoint``, else embedded."""
    client = str(cluster.wheel_home() / "bin" / "sql-client.sh")
    mode = ["gateway", "--endpoint", endpoint] if endpoint else ["embedded"]
    out = [client, *mode, "--init", str(init), "--history", str(cluster.home(config) / "sql-history")]
    if script is not None:
        out += ["--file", str(script)]
    return out


def run(
    config: Config,
    script: Path | None = None,
    start: str | None = None,
    bounded: bool = False,
    embedded: bool = False,
    say: Callable[[str], None] = print,
) -> int:
    """Render the init script, then hand the terminal to Flink's SQL client; returns its exit code."""
    if script is not None and not script.is_file():
        from connectors.config import ConfigError

        raise ConfigError(f"-f {script}: no such file")
    endpoint = None if embedded else gateway_url(config)
    if config.job.cluster and not embedded and endpoint is None and cluster.is_local_cluster(config):
        say(f"note: no SQL gateway answers for the cluster at {config.job.cluster}; running embedded")
    cluster.java_binary()
    conf_name = "conf" if endpoint else "sql-conf"  # the running cluster's config is left as it is
    cluster.prepare_layout(config, None if endpoint else _embedded_conf(config), conf_name)
    init = cluster.home(config) / f"sql-init-{config.profile}.sql"
    say(f"registering clickflow's tables ({init}) ...")
    text = init_script(config, start, bounded)
    if script is not None:  # the client runs a file's queries only with results printed as they come
        text += "SET 'sql-client.execution.result-mode' = 'TABLEAU';\n"
    init.write_text(text)
    say(f"Flink SQL client, {'the cluster gateway at ' + endpoint if endpoint else 'embedded'}")
    env = cluster.flink_environment(config, conf_name)
    if script is None:  # interactive: the client has the terminal
        return subprocess.run(command(config, init, script, endpoint), env=env).returncode
    # A script: the client exits 0 even when a statement fails, so its output is watched for errors
    failed = False
    with subprocess.Popen(
        command(config, init, script, endpoint), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as client:
        assert client.stdout is not None  # piped above
        for line in client.stdout:
            if "JLine" in line or "org.jline" in line or "dumb terminal" in line:
                continue  # no terminal in a script: the client says so on every run
            failed = failed or "[ERROR]" in line
            print(line, end="", flush=True)
    if failed:
        say(f"clickflow sql: a statement of {script} failed (see [ERROR] above)")
        return 1
    return client.returncode


def _embedded_conf(config: Config) -> dict[str, str]:
    """The embedded client's config: its own Flink on loopback, S3 as the profile reaches it."""
    return {
        "rest.address": "127.0.0.1",
        "rest.bind-address": "127.0.0.1",
        "execution.target": "local",
        # the client's own Flink runs the jobs: its connector's SDK needs what the environment says
        "env.java.opts.all": f"{cluster.java_options()} {environment.java_options(config)}".strip(),
        **cluster.s3_settings(config),
    }
