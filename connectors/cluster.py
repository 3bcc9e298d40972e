"""The local Flink session cluster (``clickflow cluster up | down | status | stop``), and the Flink
distribution that it, the SQL client and an embedded Flink with ``s3://`` paths share.

The distribution is the one inside the ``apache-flink`` wheel (its ``bin/``, ``lib/`` and ``opt/``),
laid out under ``<state_dir>/flink/`` with what the wheel lacks: clickflow's Kinesis connector and
Java functions in ``lib/``, the pinned ``flink-sql-gateway`` in ``opt/``, the pinned
``flink-s3-fs-hadoop`` as a plugin, and a ``conf/config.yaml`` rendered from the profile. Flink's
own scripts are pointed at that layout through ``FLINK_LIB_DIR``, ``FLINK_OPT_DIR``,
``FLINK_PLUGINS_DIR``, ``FLINK_CONF_DIR`` and ``FLINK_LOG_DIR``; nothing in the wheel is changed.

``up`` starts a JobManager, a TaskManager and (unless ``cluster.sql_gateway_port`` is 0) Flink's
SQL gateway as separate processes, every port on 127.0.0.1, and returns once the TaskManager has
registered. Like the stack, it is idempotent, and ``down`` stops only processes it started (the pid
file's process must still run with this layout's config directory). Logs stay in ``flink/log/``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml

from connectors import official
from connectors.aws import _LOCAL_KEY_ID, _LOCAL_SECRET, endpoint_for
from connectors.config import Config
from connectors.local_stack.stack import PROJECT_ROOT, log_tail, port_in_use, process_cmdline, state_dir, terminate

MIN_JAVA = 11  # Flink 2.x runs on Java 11, 17 (recommended) and 21


class ClusterError(RuntimeError):
    """The local cluster could not be started, reached or stopped; the message says why and what to do."""

    def __init__(self, message: str, detail: str = "") -> None:
        super().__init__(message)
        self.detail = detail  # the whole answer of a REST call that failed, when there was one


# --------------------------------------------------------------------------- the distribution


def wheel_home() -> Path:
    """The Flink distribution inside the apache-flink wheel."""
    import pyflink

    return Path(pyflink.__file__).resolve().parent


def home(config: Config) -> Path:
    """This profile's layout of the distribution: ``<state_dir>/flink``."""
    return state_dir(config) / "flink"


def s3_settings(config: Config) -> dict[str, str]:
    """flink-s3-fs-hadoop's settings for the profile: the S3 endpoint when there is one (the local
    stack: path-style addressing), nothing on AWS. Credentials never go here (see aws_environment)."""
    endpoint = endpoint_for(config, "s3")
    if not endpoint:
        return {}
    return {"s3.endpoint": endpoint, "s3.path.style.access": "true"}


def aws_environment(config: Config) -> dict[str, str]:
    """Environment for a Flink process that reaches AWS: the region, and for the local profile the
    stack's dummy keys (S3A reads them from the environment). With the AWS chain, whatever the
    caller's environment holds is inherited, untouched."""
    env = {"AWS_REGION": config.aws.region}
    if config.aws.credentials == "local":
        env.update(AWS_ACCESS_KEY_ID=_LOCAL_KEY_ID, AWS_SECRET_ACCESS_KEY=_LOCAL_SECRET)
    return env


def _link(target: Path, link: Path) -> None:
    link.unlink(missing_ok=True)
    link.symlink_to(target)


def prepare_layout(config: Config, conf: Mapping[str, str] | None = None, conf_name: str = "conf") -> Path:
    """Lay the distribution out under ``home(config)`` (links into the wheel and the jar cache; the
    connector and functions are built if needed); write ``<conf_name>/config.yaml`` when ``conf`` is
    given (``conf`` is the cluster's; the embedded SQL client has its own)."""
    from connectors.kinesis_connector import build_all

    wheel, root = wheel_home(), home(config)
    lib, opt, plugins = root / "lib", root / "opt", root / "plugins" / "s3-fs-hadoop"
    prometheus = root / "plugins" / "clickflow-prometheus"  # reporters load from plugins on a cluster
    for directory in (lib, opt, plugins, prometheus, root / conf_name, root / "log"):
        directory.mkdir(parents=True, exist_ok=True)
    for directory in (lib, opt, plugins, prometheus):
        for stale in directory.iterdir():
            stale.unlink()
    for jar in (*sorted((wheel / "lib").glob("*.jar")), *sorted((wheel / "opt").glob("flink-python-*.jar"))):
        _link(jar, lib / jar.name)  # flink-python in lib/: the TaskManager runs PyFlink's Python workers
    # clickflow's one jar (the Kinesis connector and the job's functions) and its loopback Prometheus reporter
    jar, _, reporter = build_all()
    _link(jar, lib / jar.name)
    for jar in sorted((wheel / "opt").glob("*.jar")):
        _link(jar, opt / jar.name)
    try:
        gateway, s3 = official.cached_jar(official.SQL_GATEWAY), official.cached_jar(official.S3_FILESYSTEM)
    except official.ConnectorJarError as exc:
        raise ClusterError(f"{exc} (`make setup` fetches it)") from None
    _link(gateway, opt / gateway.name)
    _link(s3, plugins / s3.name)
    _link(reporter, prometheus / reporter.name)
    for name in os.listdir(wheel / "conf"):
        if name.startswith(("log4j", "logback")):
            shutil.copyfile(wheel / "conf" / name, root / conf_name / name)
    if conf is not None:
        (root / conf_name / "config.yaml").write_text(
            "# Rendered by clickflow from the profile; rewritten on every `clickflow cluster up`.\n"
            + yaml.safe_dump(dict(conf), sort_keys=False, width=1_000)
        )
    return root


def flink_environment(config: Config, conf_name: str = "conf") -> dict[str, str]:
    """The environment that points Flink's scripts at this layout (and gives them AWS's)."""
    root = home(config)
    env = {k: v for k, v in os.environ.items() if k not in ("JVM_ARGS", "_FLINK_HOME_DETERMINED")}
    env.update(
        FLINK_HOME=str(wheel_home()),
        FLINK_LIB_DIR=str(root / "lib"),
        FLINK_OPT_DIR=str(root / "opt"),
        FLINK_PLUGINS_DIR=str(root / "plugins"),
        FLINK_CONF_DIR=str(root / conf_name),
        FLINK_LOG_DIR=str(root / "log"),
        **aws_environment(config),
    )
    return env


def enable_embedded_s3(config: Config) -> None:
    """Before an embedded Flink starts in this process: let it find the S3 plugin and AWS's settings.
    PyFlink's launcher keeps FLINK_PLUGINS_DIR only when FLINK_HOME is set."""
    prepare_layout(config)
    os.environ.update(FLINK_HOME=str(wheel_home()), FLINK_PLUGINS_DIR=str(home(config) / "plugins"))
    os.environ.update(aws_environment(config))


def initialize_embedded_s3(config: Config) -> None:
    """After the embedded Flink's JVM is up: register the file systems of the plugins with the S3
    settings (a mini-cluster does not load plugins by itself)."""
    from pyflink.java_gateway import get_gateway

    jvm = get_gateway().jvm
    conf = jvm.org.apache.flink.configuration.Configuration()
    for key, value in s3_settings(config).items():
        conf.setString(key, value)
    plugins = jvm.org.apache.flink.core.plugin.PluginUtils.createPluginManagerFromRootFolder(conf)
    jvm.org.apache.flink.core.fs.FileSystem.initialize(conf, plugins)


# --------------------------------------------------------------------------- the cluster's config


@dataclass(frozen=True)
class Address:
    """A host and port the cluster listens on."""

    host: str
    port: int

    @property
    def url(self) -> str:
        """The address as an ``http://`` URL."""
        return f"http://{self.host}:{self.port}"


def is_local_cluster(config: Config) -> bool:
    """Whether ``job.cluster`` names a cluster on this machine (``clickflow cluster``'s)."""
    try:
        rest_address(config)
    except ClusterError:
        return False
    return True


def gateway_endpoint(config: Config) -> str:
    """Where Flink's SQL gateway listens (``host:port``)."""
    return f"127.0.0.1:{config.cluster.sql_gateway_port}"


def gateway_answers(config: Config) -> bool:
    """Whether the SQL gateway is configured and answers its ``/v1/info``."""
    return bool(config.cluster.sql_gateway_port) and get_json(f"http://{gateway_endpoint(config)}/v1/info") is not None


def rest_address(config: Config) -> Address:
    """The cluster's REST address, from ``job.cluster`` (which must be a loopback host:port)."""
    where = config.job.cluster
    match = re.fullmatch(r"(127\.0\.0\.1|localhost):(\d{1,5})", where or "")
    if not match or not 0 < int(match.group(2)) < 65536:
        raise ClusterError(
            f"job.cluster is {where!r}: the local cluster needs 127.0.0.1:PORT there "
            "(use --profile cluster, or --set job.cluster=127.0.0.1:8082)"
        )
    return Address("127.0.0.1", int(match.group(2)))


def java_options() -> str:
    """The JVM options the wheel's own config.yaml gives every Flink process (module opens)."""
    data = yaml.safe_load((wheel_home() / "conf" / "config.yaml").read_text()) or {}
    return str(((data.get("env") or {}).get("java") or {}).get("opts", {}).get("all", ""))


def render_conf(config: Config) -> dict[str, str]:
    """The cluster's config.yaml (flat keys): every server bound to 127.0.0.1, sizes from the profile."""
    from connectors.config import is_loopback_url
    from connectors.environment import as_seen_by_cluster, prometheus_settings
    from connectors.environment import java_options as sdk_java_options

    rest = rest_address(config)
    c = config.cluster
    conf = {
        "jobmanager.rpc.address": "127.0.0.1",
        "jobmanager.rpc.port": str(c.rpc_port),
        "jobmanager.bind-host": "127.0.0.1",
        "jobmanager.memory.process.size": c.jobmanager_memory,
        "jobmanager.execution.failover-strategy": "region",
        "taskmanager.host": "127.0.0.1",
        "taskmanager.bind-host": "127.0.0.1",
        "taskmanager.numberOfTaskSlots": str(c.task_slots),
        "taskmanager.memory.process.size": c.taskmanager_memory,
        "rest.address": "127.0.0.1",
        "rest.bind-address": "127.0.0.1",
        "rest.port": str(rest.port),
        "blob.server.port": "0",
        "parallelism.default": str(config.flink.parallelism),
        "python.executable": sys.executable,
        "python.client.executable": sys.executable,
        "sql-gateway.endpoint.rest.address": "127.0.0.1",
        "sql-gateway.endpoint.rest.bind-address": "127.0.0.1",
        "sql-gateway.endpoint.rest.port": str(c.sql_gateway_port),
        "env.java.opts.all": f"{java_options()} {sdk_java_options(as_seen_by_cluster(config))}".strip(),
    }
    settings = s3_settings(config)
    endpoint = settings.get("s3.endpoint")
    if endpoint and config.aws.credentials == "local" and not is_loopback_url(endpoint):
        raise ClusterError(f"the S3 endpoint {endpoint} is not on loopback; the local profile's keys stay local")
    conf.update(settings)
    conf.update(prometheus_settings(config))
    return conf


# --------------------------------------------------------------------------- processes


@dataclass(frozen=True)
class Process:
    """One of the cluster's processes and the script that starts it."""

    name: str  # jobmanager | taskmanager | sql-gateway
    label: str
    script: str


PROCESSES = (
    Process("jobmanager", "JobManager", "jobmanager.sh"),
    Process("taskmanager", "TaskManager", "taskmanager.sh"),
    Process("sql-gateway", "SQL gateway", "sql-gateway.sh"),
)


@dataclass(frozen=True)
class ProcessState:
    """Whether one of the cluster's processes is running, and its pid."""

    process: Process
    pid: int | None
    running: bool

    def describe(self) -> str:
        """One line for ``clickflow cluster status``."""
        if self.running:
            return f"{self.process.label:<12} running  pid {self.pid}"
        return f"{self.process.label:<12} stopped"


def processes(config: Config) -> tuple[Process, ...]:
    """The processes the profile's cluster runs (the SQL gateway only when it has a port)."""
    return PROCESSES if config.cluster.sql_gateway_port else PROCESSES[:2]


def _pid_file(config: Config, process: Process) -> Path:
    return home(config) / f"{process.name}.pid"


def _read_pid(config: Config, process: Process) -> int | None:
    try:
        return int(json.loads(_pid_file(config, process).read_text())["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _ours(config: Config, pid: int | None) -> bool:
    """The process lives and runs with this layout (its command line names the layout's directory)."""
    if pid is None:
        return False
    cmdline = process_cmdline(pid)
    if cmdline is None:
        return False
    return cmdline == [] or any(str(home(config)) in part for part in cmdline)


def java_binary() -> str:
    """The java that Flink's scripts will use (JAVA_HOME's, else PATH's), checked for a usable version."""
    java_home = os.environ.get("JAVA_HOME")
    java = str(Path(java_home) / "bin" / "java") if java_home else shutil.which("java")
    hint = f"Flink needs Java {MIN_JAVA} or newer (17 recommended): install a JDK (Debian: openjdk-17-jdk)"
    if not java or not Path(java).exists():
        raise ClusterError(f"no Java found ({'JAVA_HOME=' + java_home if java_home else 'none on PATH'}). {hint}")
    try:
        out = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=30).stderr
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ClusterError(f"`{java} -version` failed ({exc}). {hint}") from None
    match = re.search(r'version "(\d+)(?:\.(\d+))?', out)
    major = int(match.group(1)) if match else 0
    if major == 1 and match and match.group(2):
        major = int(match.group(2))  # 1.8 = Java 8
    if major < MIN_JAVA:
        raise ClusterError(f"{java} is Java {major or 'of an unknown version'}. {hint}")
    return java


def get_json(url: str, timeout: float = 2.0) -> dict | None:
    """The JSON answer of a GET on a Flink REST API, or None when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - http to a Flink REST API we were given
            return json.loads(response.read() or b"{}")
    except (urllib.error.URLError, OSError, ValueError):
        return None


def overview(config: Config) -> dict | None:
    """The cluster's /overview (task managers, slots, jobs), or None when it does not answer."""
    return get_json(f"{rest_address(config).url}/overview")


def _ports(config: Config) -> list[tuple[int, str]]:
    ports = [(rest_address(config).port, "job.cluster"), (config.cluster.rpc_port, "cluster.rpc_port")]
    if config.cluster.sql_gateway_port:
        ports.append((config.cluster.sql_gateway_port, "cluster.sql_gateway_port"))
    return ports


def _ready(config: Config, process: Process) -> bool:
    if process.name == "jobmanager":
        return overview(config) is not None
    if process.name == "taskmanager":
        return (overview(config) or {}).get("taskmanagers", 0) >= 1
    return gateway_answers(config)


def _spawn(config: Config, process: Process, env: Mapping[str, str], jar: str = "") -> subprocess.Popen:
    log = home(config) / "log" / f"{process.name}.out"
    with open(log, "ab") as out:
        child = subprocess.Popen(
            [str(wheel_home() / "bin" / process.script), "start-foreground"],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C in the shell leaves the cluster running
            env=dict(env),
            cwd=home(config),
        )
    _pid_file(config, process).write_text(json.dumps({"pid": child.pid, "started": time.time(), "jar": jar}))
    return child


def up(config: Config, say: Callable[[str], None] = lambda _: None) -> list[ProcessState]:
    """Start what is not running and wait until the TaskManager has registered (and the gateway answers)."""
    rest = rest_address(config)
    wanted = processes(config)
    running = {p.name: _read_pid(config, p) for p in wanted if _ours(config, _read_pid(config, p))}
    if len(running) == len(wanted) and _ready(config, wanted[1]):
        say(f"the cluster is already running: {rest.url}")
        return status(config)
    if not running:
        for port, key in _ports(config):
            if port_in_use("127.0.0.1", port):
                raise ClusterError(
                    f"port {port} on 127.0.0.1 ({key}) is in use by a process clickflow did not start; stop it, "
                    f"or move the cluster: --set {key}={'127.0.0.1:' if key == 'job.cluster' else ''}PORT"
                )
    java_binary()
    prepare_layout(config, render_conf(config))
    from connectors.kinesis_connector import CONNECTOR, built_from

    jar = built_from(home(config) / "lib" / CONNECTOR.jar.name)
    env = flink_environment(config)
    started: list[tuple[Process, subprocess.Popen]] = []
    deadline = time.monotonic() + config.cluster.start_timeout
    try:
        for process in wanted:
            if process.name in running:
                say(f"{process.label} already running (pid {running[process.name]})")
                continue
            child = _spawn(config, process, env, jar)
            started.append((process, child))
            while not _ready(config, process):
                if child.poll() is not None:
                    raise ClusterError(
                        f"the {process.label} exited with code {child.returncode} while starting. Last lines of "
                        f"{home(config) / 'log' / (process.name + '.out')}:\n"
                        f"{log_tail(home(config) / 'log' / (process.name + '.out'))}"
                    )
                if time.monotonic() > deadline:
                    raise ClusterError(
                        f"the {process.label} was not ready within {config.cluster.start_timeout:g}s "
                        f"(cluster.start_timeout). Its logs: {home(config) / 'log'}"
                    )
                time.sleep(0.25)
            say(f"started the {process.label} (pid {child.pid})")
    except BaseException:
        for process, child in reversed(started):  # a failed `up` leaves nothing of its own running
            terminate(child.pid)
            _pid_file(config, process).unlink(missing_ok=True)
        raise
    return status(config)


def runs_jar(config: Config, fingerprint: str) -> bool:
    """Whether each of the cluster's processes was started with clickflow's jar built from ``fingerprint``
    in its lib/ (a jar rebuilt since is not in the running processes until ``cluster down`` and ``up``)."""
    for process in processes(config):
        try:
            started_with = json.loads(_pid_file(config, process).read_text()).get("jar")
        except (OSError, ValueError, AttributeError):
            return False
        if not fingerprint or started_with != fingerprint:
            return False
    return True


def status(config: Config) -> list[ProcessState]:
    """The state of each of the cluster's processes (only processes started for this layout count)."""
    states = []
    for process in processes(config):
        pid = _read_pid(config, process)
        alive = _ours(config, pid)
        states.append(ProcessState(process, pid if alive else None, alive))
    return states


def down(config: Config, say: Callable[[str], None] = lambda _: None) -> None:
    """Stop the processes ``up`` started (the gateway first, the JobManager last); others are left alone."""
    for process in reversed(PROCESSES):
        pid = _read_pid(config, process)
        if pid is not None and _ours(config, pid):
            terminate(pid, grace=15.0)
            say(f"stopped the {process.label} (pid {pid})")
        _pid_file(config, process).unlink(missing_ok=True)


# --------------------------------------------------------------------------- jobs


@dataclass(frozen=True)
class Job:
    """A job as the cluster's REST API lists it."""

    id: str
    name: str
    state: str
    started: float  # epoch seconds


def jobs(config: Config) -> list[Job]:
    """The cluster's jobs, newest first."""
    data = get_json(f"{rest_address(config).url}/jobs/overview")
    if data is None:
        raise ClusterError(f"the cluster does not answer at {rest_address(config).url} (`clickflow cluster up`?)")
    found = [Job(j["jid"], j["name"], j["state"], j.get("start-time", 0) / 1000) for j in data.get("jobs", [])]
    return sorted(found, key=lambda job: job.started, reverse=True)


def _request(url: str, method: str, body: dict | None = None) -> dict:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(  # noqa: S310 - the cluster's loopback REST API
        url, data=data, method=method, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - http to a Flink REST API we were given
            return json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode(errors="replace")
        # the whole answer kept too: a Flink stack trace's root cause is at its end
        raise ClusterError(f"{method} {url}: HTTP {exc.code}: {detail[:500]}", detail=detail) from None
    except (urllib.error.URLError, OSError) as exc:
        raise ClusterError(f"{method} {url}: {exc}") from None


def savepoint_dir(config: Config) -> str:
    """Where savepoints go by default: ``savepoints`` beside ``job.checkpoint_dir``."""
    base = config.job.checkpoint_dir.rstrip("/")
    scheme, _, path = base.rpartition("://")
    parent = base.rsplit("/", 1)[0] if "/" in path else base
    target = f"{parent}/savepoints"
    if scheme:
        return target
    target_path = Path(target)
    return (target_path if target_path.is_absolute() else PROJECT_ROOT / target_path).resolve().as_uri()


def stop(config: Config, job_id: str, savepoint: str | None, timeout: float = 300.0) -> str | None:
    """Stop a job: with a savepoint (its location is returned), or cancelled when ``savepoint`` is None."""
    base = f"{rest_address(config).url}/jobs/{job_id}"
    if savepoint is None:
        _request(f"{base}?mode=cancel", "PATCH")
        return None
    deadline = time.monotonic() + timeout

    def ask() -> str:
        """Once every task runs (a savepoint needs them all), ask for the stop; the request's id."""
        _wait_for_tasks(base, deadline)
        return _request(f"{base}/stop", "POST", {"targetDirectory": savepoint, "drain": False})["request-id"]

    trigger = ask()
    while time.monotonic() < deadline:
        answer = _request(f"{base}/savepoints/{trigger}", "GET")
        if answer.get("status", {}).get("id") == "COMPLETED":
            operation = answer.get("operation") or {}
            if "failure-cause" in operation:
                cause = operation["failure-cause"].get("stack-trace", "").splitlines()
                if cause and _NOT_ALL_RUNNING in cause[0] and time.monotonic() < deadline:
                    trigger = ask()  # a task was (re)deploying when the savepoint was asked for
                    continue
                raise ClusterError(f"the savepoint of {job_id} failed: {cause[0] if cause else operation}")
            return operation["location"]
        time.sleep(0.5)
    raise ClusterError(f"the savepoint of {job_id} did not complete within {timeout:g}s")


_NOT_ALL_RUNNING = "Not all required tasks are currently running"
_STARTING = ("CREATED", "SCHEDULED", "DEPLOYING", "INITIALIZING", "RECONCILING")


def _wait_for_tasks(base: str, deadline: float) -> None:
    """Wait (until ``deadline``) while the job's tasks are still being deployed: a savepoint needs every task
    running. A job that was just submitted is RUNNING before its tasks are."""
    while time.monotonic() < deadline:
        job = _request(base, "GET")
        vertices = job.get("vertices") or []
        if job.get("state") != "RUNNING" or not any(v.get("status") in _STARTING for v in vertices):
            return
        time.sleep(0.5)
