"""The embedded local AWS stack: kinesalite (Kinesis) and moto_server (S3 and the rest) on 127.0.0.1.

``up`` starts whichever of the two is not already running as a background process (pid file and
log under the state directory), waits until both answer, then creates the profile's streams and
bucket if they are missing. ``down`` stops only processes this module started: it checks the pid
file's command line against the live process before sending any signal.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeGuard
from urllib.parse import urlsplit

from botocore.exceptions import BotoCoreError, ClientError

from connectors import aws
from connectors.config import Config, ConfigError, is_loopback_url

PROJECT_ROOT = Path(__file__).resolve().parents[2]
KINESIS_LAUNCHER = Path(__file__).resolve().parent / "kinesis_server.js"
# kinesis-mock speaks SubscribeToShard (enhanced fan-out), which kinesalite does not
KINESIS_MOCK_LAUNCHER = Path(__file__).resolve().parent / "kinesis_mock_server.js"
KINESIS_SERVERS = {
    "kinesalite": ("kinesalite", KINESIS_LAUNCHER),
    "kinesis-mock": ("kinesis-local", KINESIS_MOCK_LAUNCHER),
}
MIN_NODE_MAJOR = 18

# Servers started by this process, kept so that stopping them can also reap them. The servers
# outlive a CLI invocation by design; a later `clickflow stack down` finds them by pid file.
_children: dict[int, subprocess.Popen] = {}


class StackError(RuntimeError):
    """The local stack could not be started, reached or stopped; the message says why and what to do."""


@dataclass(frozen=True)
class Service:
    """One server of the local stack: what it is and the loopback URL it listens on."""

    name: str  # "kinesis" or "aws"
    label: str
    url: str
    server: str = ""  # kinesis: "kinesalite" or "kinesis-mock"

    @property
    def port(self) -> int:
        """The port of the service's URL."""
        return urlsplit(self.url).port or 80

    @property
    def host(self) -> str:
        """The host of the service's URL."""
        return urlsplit(self.url).hostname or "127.0.0.1"

    def command(self) -> list[str]:
        """The command line that starts the server."""
        if self.name == "kinesis":
            return [_node_binary(), str(KINESIS_SERVERS[self.server][1]), str(self.port)]
        return [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)]


@dataclass(frozen=True)
class ServiceState:
    """Whether a service's process runs and whether it answers requests."""

    service: Service
    pid: int | None
    running: bool
    answering: bool
    started_here: bool  # False when up() found it already running

    def describe(self) -> str:
        """One line for ``clickflow stack status``."""
        if self.running:
            health = "answering" if self.answering else "NOT answering"
            return f"{self.service.label:<28} running  pid {self.pid:<7} {self.service.url}  ({health})"
        return f"{self.service.label:<28} stopped                {self.service.url}"


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def private_overrides(state: Path, kinesis_port: int | None = None, aws_port: int | None = None) -> list[str]:
    """``--set`` overrides for a stack of its own: free loopback ports and its own state directory,
    so it runs beside (and never touches) the default one. Used by the tests and benchmarks."""
    return [
        f"aws.endpoints.kinesis=http://127.0.0.1:{kinesis_port or free_port()}",
        f"aws.endpoints.default=http://127.0.0.1:{aws_port or free_port()}",
        f"stack.state_dir={state}",
    ]


def state_dir(config: Config) -> Path:
    """Where the stack keeps pid files, logs and data (``CLICKFLOW_STATE_DIR`` overrides the profile)."""
    override = os.environ.get("CLICKFLOW_STATE_DIR")
    path = Path(override or config.stack.state_dir)
    return path if path.is_absolute() else PROJECT_ROOT / path


def services(config: Config) -> list[Service]:
    """The stack's two servers (kinesalite or kinesis-mock, moto) at the profile's endpoints, which must be
    loopback http."""
    server = config.stack.kinesis_server
    if server not in KINESIS_SERVERS:
        raise StackError(f"stack.kinesis_server is {server!r}: use one of {', '.join(KINESIS_SERVERS)}")
    found = []
    for name, service_name, label in (
        ("kinesis", "kinesis", f"Kinesis ({server})"),
        ("aws", "s3", "S3 + other APIs (moto_server)"),
    ):
        url = aws.endpoint_for(config, service_name)
        if not url or not is_loopback_url(url):
            raise StackError(
                f"profile {config.profile!r} sends {service_name} to {url or 'AWS itself'}; the embedded stack "
                "serves loopback endpoints only (use --profile local)"
            )
        if urlsplit(url).scheme != "http":
            raise StackError(f"the embedded stack serves plain http, but the {service_name} endpoint is {url}")
        found.append(Service(name, label, url.rstrip("/"), server if name == "kinesis" else ""))
    if found[0].port == found[1].port:
        raise StackError(f"Kinesis and the other AWS APIs cannot share port {found[0].port}")
    return found


# --------------------------------------------------------------------------- prerequisites


def _node_binary() -> str:
    node = shutil.which("node")
    install = (
        f"Node.js {MIN_NODE_MAJOR} or newer runs the local Kinesis server (kinesalite). Install it "
        "(Debian/Ubuntu: `apt-get install nodejs npm`; macOS: `brew install node`; others: nodejs.org), "
        "then run `make setup`."
    )
    if not node:
        raise StackError(f"`node` was not found on PATH. {install}")
    try:
        version = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise StackError(f"`{node} --version` failed ({exc}). {install}") from None
    match = re.match(r"v(\d+)\.", version)
    if not match or int(match.group(1)) < MIN_NODE_MAJOR:
        raise StackError(f"found Node.js {version or '(unknown version)'} at {node}. {install}")
    return node


def _check_kinesis_server_installed(server: str) -> None:
    package = KINESIS_SERVERS[server][0]
    if not (PROJECT_ROOT / "node_modules" / package / "package.json").is_file():
        raise StackError(
            f"{package} is not installed under {PROJECT_ROOT / 'node_modules'}: run `npm ci` in "
            f"{PROJECT_ROOT} (`make setup` does it)"
        )


# --------------------------------------------------------------------------- processes


def _pid_file(config: Config, service: Service) -> Path:
    return state_dir(config) / f"{service.name}.pid"


def _log_file(config: Config, service: Service) -> Path:
    return state_dir(config) / f"{service.name}.log"


def _read_pid(config: Config, service: Service) -> dict | None:
    try:
        return json.loads(_pid_file(config, service).read_text())
    except (OSError, ValueError):
        return None


def process_cmdline(pid: int) -> list[str] | None:
    """A live process's command line, or None when it has exited (zombies included)."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
        if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
            return None  # a zombie has exited; only its parent has yet to reap it
    except OSError:
        try:
            os.kill(pid, 0)
        except OSError:
            return None
        return []  # alive, but no /proc here (macOS): trust the pid file
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def _ours_alive(record: dict | None) -> TypeGuard[dict]:
    """True when the pid file's process is alive and still runs the command we started."""
    if not record:
        return False
    cmdline = process_cmdline(int(record["pid"]))
    if cmdline is None:
        return False
    return cmdline == [] or cmdline[1:] == record["command"][1:]


def port_in_use(host: str, port: int) -> bool:
    """Whether something accepts connections on ``host:port``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def _answers(service: Service) -> bool:
    """Any HTTP answer counts: the server is up and parsing requests."""
    try:
        conn = http.client.HTTPConnection(service.host, service.port, timeout=2)
        if service.name == "kinesis":
            conn.request(
                "POST",
                "/",
                body=b"{}",
                headers={"X-Amz-Target": "Kinesis_20131202.ListStreams", "Content-Type": "application/x-amz-json-1.1"},
            )
        else:
            conn.request("GET", "/moto-api/data.json")
        conn.getresponse().read()
        conn.close()
        return True
    except OSError:
        return False


def log_tail(path: Path, lines: int = 15) -> str:
    """The last ``lines`` lines of a log, for error messages."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _start(config: Config, service: Service) -> ServiceState:
    record = _read_pid(config, service)
    if _ours_alive(record):
        return ServiceState(service, int(record["pid"]), True, _answers(service), started_here=False)
    _pid_file(config, service).unlink(missing_ok=True)  # stale: its process is gone
    if port_in_use(service.host, service.port):
        raise StackError(
            f"port {service.port} on {service.host} is already in use by a process clickflow did not start, "
            f"so {service.label} cannot listen there. Stop that process, or move the endpoint, e.g. "
            f"--set aws.endpoints.{'kinesis' if service.name == 'kinesis' else 'default'}=http://127.0.0.1:PORT"
        )
    if service.name == "kinesis":
        _check_kinesis_server_installed(service.server)
    command = service.command()
    log_path = _log_file(config, service)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env.setdefault("AWS_REGION", config.aws.region)  # kinesalite builds stream ARNs from it
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            command,
            cwd=PROJECT_ROOT,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: Ctrl-C in the shell leaves it running
            env=env,
        )
    _children[process.pid] = process
    _pid_file(config, service).write_text(
        json.dumps({"pid": process.pid, "command": command, "url": service.url, "started": time.time()})
    )
    deadline = time.monotonic() + config.stack.start_timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            _pid_file(config, service).unlink(missing_ok=True)
            raise StackError(
                f"{service.label} exited with code {process.returncode} while starting. "
                f"Last lines of {log_path}:\n{log_tail(log_path)}"
            )
        if _answers(service):
            return ServiceState(service, process.pid, True, True, started_here=True)
        time.sleep(0.1)
    terminate(process.pid)
    _pid_file(config, service).unlink(missing_ok=True)
    raise StackError(
        f"{service.label} did not answer on {service.url} within {config.stack.start_timeout:g}s. "
        f"Last lines of {log_path}:\n{log_tail(log_path)}"
    )


def terminate(pid: int, grace: float = 5.0) -> None:
    """Stop a process group: SIGTERM, then SIGKILL after ``grace`` seconds; reap it if we started it."""
    child = _children.pop(pid, None)
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 2.0)):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return
        except PermissionError:
            os.kill(pid, sig)
        if child is not None:
            try:
                child.wait(wait)
                return
            except subprocess.TimeoutExpired:
                continue
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if process_cmdline(pid) is None:
                return
            time.sleep(0.05)


# --------------------------------------------------------------------------- resources


def ensure_resources(config: Config, say: Callable[[str], None] = lambda _: None) -> None:
    """Create the profile's streams and bucket where missing. Safe to call any number of times."""
    ensure_streams(config, [(spec.name, spec.shards) for spec in config.streams.values()], say)
    aws.ensure_bucket(aws.client(config, "s3"), config.bucket, config.aws.region, say)


def ensure_streams(
    config: Config,
    streams: Iterable[tuple[str, int]],
    say: Callable[[str], None] = lambda _: None,
    why: str = "the profile",
) -> list[str]:
    """Create each ``(name, shards)`` stream where missing and wait until it is active; return the names created.
    A stream already there is left as it is (said when its open shards differ from ``shards``)."""
    kinesis = aws.client(config, "kinesis")
    created = []
    for name, shards in streams:
        try:
            kinesis.create_stream(StreamName=name, ShardCount=shards)
            say(f"created stream {name} ({shards} shard{'s' if shards != 1 else ''})")
            created.append(name)
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ResourceInUseException":
                raise
            summary = kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]
            if summary["OpenShardCount"] != shards:
                say(
                    f"stream {name} exists with {summary['OpenShardCount']} open shards "
                    f"({why} asks for {shards}); left as it is"
                )
        kinesis.get_waiter("stream_exists").wait(StreamName=name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 100})
    return created


# --------------------------------------------------------------------------- commands


def up(config: Config, say: Callable[[str], None] = lambda _: None) -> list[ServiceState]:
    """Start what is not running, wait until it answers, create the profile's streams and bucket."""
    states: list[ServiceState] = []
    try:
        for service in services(config):
            state = _start(config, service)
            if state.started_here:
                say(f"started {service.label} on {service.url} (pid {state.pid}, log {_log_file(config, service)})")
            else:
                say(f"{service.label} already running on {service.url} (pid {state.pid})")
            states.append(state)
        try:
            ensure_resources(config, say)
        except (ClientError, ConfigError, BotoCoreError) as exc:
            raise StackError(f"the stack started, but creating the profile's streams and bucket failed: {exc}") from exc
    except BaseException:
        # A failed `up` leaves nothing of its own running (what was already running stays).
        for state in states:
            if state.started_here and state.pid is not None:
                terminate(state.pid)
                _pid_file(config, state.service).unlink(missing_ok=True)
                say(f"stopped {state.service.label} again (pid {state.pid}), since the stack did not come up")
        raise
    return states


def status(config: Config) -> list[ServiceState]:
    """The state of each of the profile's services."""
    states = []
    for service in services(config):
        record = _read_pid(config, service)
        alive = _ours_alive(record)
        pid = int(record["pid"]) if record is not None and alive else None
        states.append(ServiceState(service, pid, alive, alive and _answers(service), started_here=False))
    return states


def down(config: Config, say: Callable[[str], None] = lambda _: None) -> None:
    """Stop the processes clickflow started; anything else on those ports is left alone."""
    for service in services(config):
        record = _read_pid(config, service)
        if _ours_alive(record):
            terminate(int(record["pid"]))
            say(f"stopped {service.label} (pid {record['pid']})")
        elif record:
            say(f"{service.label} was not running (removed its stale pid file)")
        else:
            say(f"{service.label} was not running")
        _pid_file(config, service).unlink(missing_ok=True)
