"""Shared fixtures. The local AWS stack is started once per test session, on free loopback ports
and in its own state directory, so it never collides with a stack a developer has running."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]

# The tests' JVMs live seconds to minutes and do little work each, mostly planning and starting jobs: the
# client compiler alone (C1) and the serial collector spend ~40% less CPU on them than the JDK's defaults
# (test_stream_job's bounded test: 60 s of CPU against 35 s, measured), and the suite is bound by the CPU.
# Not for users' jobs, which run long enough for the optimising compiler to pay.
TEST_JVM_OPTIONS = ("-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC")
TEST_SETTINGS = "job.rest_port=0 monitoring.prometheus=9260-9299"  # $CLICKFLOW_SET for every test (below)


@pytest.fixture(autouse=True, scope="session")
def _cheap_test_jvms():
    """Every JVM the session starts through PyFlink (its own and its commands'; they read $JVM_ARGS) runs with
    TEST_JVM_OPTIONS and set-up's class archive. A $JVM_ARGS already set is left as it is."""
    if "JVM_ARGS" in os.environ:
        yield
        return
    from connectors.class_archive import jvm_options

    os.environ["JVM_ARGS"] = " ".join([*jvm_options(), *TEST_JVM_OPTIONS])
    yield
    os.environ.pop("JVM_ARGS", None)


@pytest.fixture(autouse=True, scope="session")
def _loopback_only_environment():
    """Tests talk only to loopback: drop any endpoint or profile a developer's shell carries."""
    saved = {
        k: os.environ.pop(k)
        for k in list(os.environ)
        if k.startswith("AWS_ENDPOINT_URL")
        or k in ("AWS_PROFILE", "CLICKFLOW_STATE_DIR", "CLICKFLOW_SET", "AWS_EC2_METADATA_DISABLED")
    }
    # Neither botocore nor the AWS SDK in a job's JVM may look for the instance-metadata address
    os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
    # Tests run side by side (`make test`: pytest-xdist's workers): no job of theirs takes a fixed port that
    # another test's job could hold. An embedded Flink's REST API on any free port unless a test names one;
    # Prometheus reporters above the range the walkthrough's operating page reads (9249-9259), which sets its own.
    os.environ["CLICKFLOW_SET"] = TEST_SETTINGS
    # A Python child that hangs can be asked where (SIGABRT prints every thread's stack): see finish()
    os.environ["PYTHONFAULTHANDLER"] = "1"
    yield
    os.environ.pop("AWS_EC2_METADATA_DISABLED", None)
    os.environ.pop("CLICKFLOW_SET", None)
    os.environ.pop("PYTHONFAULTHANDLER", None)
    os.environ.update(saved)


@pytest.fixture(autouse=True, scope="session")
def _session_plan_cache(tmp_path_factory):
    """Compiled plans (jobs/plans.py) are shared by the session's jobs, in a cache of its own: never a
    developer's, and empty at the start of every run."""
    from jobs.plans import CACHE_ENV

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(CACHE_ENV, str(tmp_path_factory.mktemp("plans")))
        yield


FLINK_LOG = "flink-log"  # under the session's (pytest worker's) base temporary folder


@pytest.fixture(autouse=True, scope="session")
def _flink_logs_kept(tmp_path_factory):
    """Every JVM the session starts through PyFlink (its own, its commands') appends its log to one file in the
    session's temporary folder, which pytest keeps after the run: by default each JVM's log replaces the one
    before, in the wheel's own folder, and the log of a job that failed a test was gone before anyone read it.
    ``tests.kinesis_helpers.flink_log_lines`` reads it."""
    import importlib.util

    spec = importlib.util.find_spec("pyflink")
    if spec is None or not spec.submodule_search_locations:
        yield
        return
    shipped = Path(next(iter(spec.submodule_search_locations))) / "conf" / "log4j-cli.properties"
    folder = tmp_path_factory.getbasetemp() / FLINK_LOG
    folder.mkdir(exist_ok=True)
    properties = folder / "log4j-cli.properties"
    properties.write_text(shipped.read_text().replace("appender.file.append = false", "appender.file.append = true"))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FLINK_LOG_DIR", str(folder))
        patch.setenv("LOG4J_PROPERTIES", str(properties))
        yield


def private_stack(state: Path, *extra: str, what: str = "the local stack"):
    """A local stack of its own (free loopback ports, ``state`` for its files, ``extra`` overrides), started;
    yields (config, overrides) and is always stopped. A fixture's body: ``yield from private_stack(...)``."""
    from connectors.config import load_config
    from connectors.local_stack import stack
    from connectors.local_stack.stack import private_overrides

    overrides = [*private_overrides(state), *extra]
    config = load_config("local", overrides=overrides)
    try:
        stack.up(config)
    except stack.StackError as exc:
        stack.down(config)
        pytest.fail(f"{what} did not start: {exc}")
    yield config, overrides
    stack.down(config)


@pytest.fixture(scope="session")
def local_stack(tmp_path_factory):
    """A running local stack for the whole session; yields (config, overrides). Always stopped."""
    yield from private_stack(tmp_path_factory.mktemp("stack-state"))


def cli_command(*args: str, overrides: list[str] = ()) -> list[str]:
    """The real `clickflow` command line for ``args`` (a command and its words), with ``--set`` overrides."""
    sets = [item for o in overrides for item in ("--set", o)]
    return [sys.executable, "-m", "clickflow", *args[:1], *sets, *args[1:]]


def run_cli(*args: str, overrides: list[str] = (), timeout: float = 120, check: bool = True, **kwargs):
    """Run the real `clickflow` command in a subprocess."""
    command = cli_command(*args, overrides=overrides)
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=PROJECT_ROOT, **kwargs)
    if check and result.returncode != 0:
        raise AssertionError(
            f"{' '.join(command)} exited {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
        )
    return result


def finish(process: subprocess.Popen, timeout: float = 60) -> tuple[str, str]:
    """What a started ``clickflow`` prints (stdout, stderr) once it exits. One still running after ``timeout``
    seconds fails the test with the stack of each of its threads (the session runs Python children with
    PYTHONFAULTHANDLER, so SIGABRT prints them); the process is stopped and its pipes closed either way."""
    import signal

    try:
        return process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGABRT)
        try:
            out, err = process.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            out, err = process.communicate()
        raise AssertionError(
            f"{' '.join(map(str, process.args))} still ran after {timeout:g} s; it printed:\n{out}\n{err}"
        ) from None
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()


def start_cli(*args: str, overrides: list[str] = (), log: Path) -> subprocess.Popen:
    """Start the real `clickflow` command in the background, all it prints to ``log``, in a session of its own:
    its JVM is in the same process group, so ``os.killpg`` takes both."""
    with open(log, "wb") as output:
        return subprocess.Popen(
            cli_command(*args, overrides=overrides),
            cwd=PROJECT_ROOT,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def write_browse_lab(path: Path, source: str, usa: str, intl: str, errors: str, **etl) -> Path:
    """etl/browse-sessions.yaml pointed at the test's streams (US sessions to ``usa``, the rest to
    ``intl``), with ``etl`` keys (deliver, error_prefix) laid over its ``etl:`` section; written to ``path``."""
    import yaml

    lab = yaml.safe_load((PROJECT_ROOT / "etl" / "browse-sessions.yaml").read_text())
    lab["etl"]["source"]["stream"] = source
    lab["etl"].update(routes=[{"when": "country = 'USA'", "to": usa}, {"default": intl}], errors=errors, **etl)
    path.write_text(yaml.safe_dump(lab))
    return path
