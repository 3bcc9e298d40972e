"""``clickflow deploy --local``: a Managed Flink package run the way the service runs it, on this machine.

What Managed Flink does with the zip, and what stands in for each step here:

- it unpacks the zip: here into a fresh directory, ``<stack.state_dir>/msf-local/<time>/``;
- it reads ``kinesis.analytics.flink.run.options``: the ``python`` file is the entry point and the
  ``jarfile`` goes on the job's classpath. Here the same two entries, as written, through Flink's own
  ``flink run --python FILE --jarfile JAR``; a package whose entries are missing fails here, naming them;
- it runs the entry point on Python 3.12 with apache-flink 2.2 and nothing else installed: here a
  virtualenv with only ``apache-flink`` (the version clickflow runs), built once into
  ``~/.cache/clickflow/`` (``$CLICKFLOW_MSF_PYTHON`` names the Python 3.12 to build it from);
- it gives the entry point the application's property groups in
  ``/etc/flink/application_properties.json``: here the package's own groups in a file of the run
  directory, named by ``$CLICKFLOW_APPLICATION_PROPERTIES`` (the zip is not changed);
- it runs the job on its cluster, checkpointing on: here the local cluster (``clickflow cluster up``),
  with the package's ``job.checkpoint_interval``, as ``clickflow deploy`` sets it on the application;
- AWS: here the local stack, through the ``AWS_ENDPOINT_URL_*`` variables the SDKs read; the streams
  and bucket the groups name are created on it when missing.
"""

from __future__ import annotations

import fcntl
import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from clickflow.msf.package import ENTRY_POINT, MANIFEST, RUN_OPTIONS_GROUP, PackageError, read_package
from connectors import cluster, environment, official
from connectors.config import PROPERTIES_OVERRIDE_ENV, Config, load_config

SERVICE_PYTHON = (3, 12)  # Managed Flink's FLINK-2_2 runtime
PYTHON_ENV = "CLICKFLOW_MSF_PYTHON"  # a Python 3.12 to build the service's virtualenv from
TERMINAL = {"FINISHED", "FAILED", "CANCELED"}


class RehearsalError(RuntimeError):
    """What Managed Flink would have failed on, or what this machine lacks to rehearse it."""


@dataclass(frozen=True)
class RehearsalOptions:
    """What `deploy --local` runs, and how."""

    package: Path
    bounded: bool = False  # read the events stream to its end as of now, wait for the job to finish
    start: str | None = None  # job.start_position for this run (else the package's, e.g. latest)
    timeout: float = 900.0  # how long --bounded waits for the end


@dataclass(frozen=True)
class Rehearsal:
    """A rehearsal's job, where its files are, and (bounded) what it wrote."""

    job_id: str
    run_dir: Path
    web_ui: str
    state: str  # RUNNING, or with --bounded the job's last state
    written: dict[str, int]  # with --bounded: records this run wrote to each output stream
    archived: dict[str, int]  # with --bounded: part files under the archive, per folder (what is there now)


# --------------------------------------------------------------------------- the package, as the service reads it


def unpack(package: Path, into: Path) -> dict[str, str]:
    """Unpack the zip into ``into`` and check the run options as Managed Flink uses them; returns them."""
    try:
        with zipfile.ZipFile(package) as archive:
            archive.extractall(into)
    except FileNotFoundError:
        raise RehearsalError(f"--package {package}: no such file (build it with `clickflow package`)") from None
    except zipfile.BadZipFile:
        raise RehearsalError(f"--package {package}: not a zip file") from None
    groups = property_groups(into)
    options = next((g["PropertyMap"] for g in groups if g.get("PropertyGroupId") == RUN_OPTIONS_GROUP), None)
    if options is None:
        raise RehearsalError(
            f"{package}: the property groups have no {RUN_OPTIONS_GROUP} group — Managed Flink would not know "
            "the Python entry point nor the jar, and refuses to start the application"
        )
    for key in ("python", "jarfile"):
        entry = options.get(key)
        if not entry:
            raise RehearsalError(
                f"{package}: {RUN_OPTIONS_GROUP} has no {key!r} — Managed Flink would refuse to start the application"
            )
        if not (into / entry).is_file():
            raise RehearsalError(
                f"{package}: {RUN_OPTIONS_GROUP}.{key} is {entry!r}, which is not in the zip — Managed Flink would "
                "fail the application at start"
            )
    return options


def property_groups(run_dir: Path) -> list[dict]:
    """The application's property groups the package carries (its manifest: what `package` wrote)."""
    manifest = run_dir / MANIFEST
    if not manifest.is_file():
        raise RehearsalError(f"the zip has no {MANIFEST}: not a package built by `clickflow package`")
    return json.loads(manifest.read_text(encoding="utf-8"))["property_groups"]


def with_start(groups: list[dict], start: str | None) -> list[dict]:
    """The groups, with ``job.start_position`` set to ``start`` (as editing the application's group)."""
    return groups if start is None else with_job_setting(groups, "start_position", start)


def with_job_setting(groups: list[dict], key: str, value: str) -> list[dict]:
    """The groups, with ``job.<key>`` set to ``value`` (as editing the application's ``job`` group)."""
    out = [dict(g, PropertyMap=dict(g["PropertyMap"])) for g in groups]
    job = next((g for g in out if g["PropertyGroupId"] == "job"), None)
    if job is None:
        job = {"PropertyGroupId": "job", "PropertyMap": {}}
        out.append(job)
    job["PropertyMap"][key] = value
    return out


def reader_here(groups: list[dict], local: Config, say: Callable[[str], None]) -> list[dict]:
    """The groups as the local Kinesis can serve them: kinesalite has no SubscribeToShard, so a package whose
    job reads by enhanced fan-out is rehearsed polling (said); kinesis-mock serves EFO as it is."""
    job: dict[str, str] = next((g["PropertyMap"] for g in groups if g.get("PropertyGroupId") == "job"), {})
    reader = job.get("reader") or load_config("aws").job.reader
    if reader != "efo" or local.stack.kinesis_server == "kinesis-mock":
        return groups
    say(
        "note: the package's job reads by enhanced fan-out (job.reader: efo), which the local Kinesis "
        f"({local.stack.kinesis_server}) cannot serve: rehearsing it polling (--set stack.kinesis_server=kinesis-mock "
        "rehearses EFO)"
    )
    return with_job_setting(groups, "reader", "polling")


# --------------------------------------------------------------------------- the service's Python


def find_python312() -> str:
    """A Python 3.12 that can make a virtualenv: ``$CLICKFLOW_MSF_PYTHON``, ``python3.12`` on PATH, or pyenv's."""
    pyenv = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv") / "versions"
    candidates = [os.environ.get(PYTHON_ENV), shutil.which("python3.12")]
    candidates += [str(p) for p in sorted(pyenv.glob("3.12*/bin/python3.12"), reverse=True)]
    want = ".".join(map(str, SERVICE_PYTHON))
    check = f"import sys, venv; sys.exit(0 if sys.version_info[:2] == {SERVICE_PYTHON} else 1)"
    for candidate in filter(None, candidates):
        try:
            if subprocess.run([candidate, "-c", check], capture_output=True, timeout=30).returncode == 0:
                return candidate
        except (OSError, subprocess.TimeoutExpired):
            continue
    raise RehearsalError(
        f"Managed Flink runs FLINK-2_2 applications on Python {want}, and none was found (tried ${PYTHON_ENV}, "
        f"python{want} on PATH, {pyenv}/{want}*): install it (apt-get install python{want}-venv, or pyenv install "
        f"{want}) or set {PYTHON_ENV}=/path/to/python{want}"
    )


def service_python(say: Callable[[str], None] = lambda _: None) -> Path:
    """The interpreter of a virtualenv with Python 3.12 and apache-flink (clickflow's version) only, as the
    service has; built once (pip, your pip.conf applies) and reused."""
    flink = importlib.metadata.version("apache-flink")
    root = official.cache_root() / f"msf-python{SERVICE_PYTHON[0]}.{SERVICE_PYTHON[1]}-flink-{flink}"
    python, complete = root / "bin" / "python", root / ".complete"
    root.parent.mkdir(parents=True, exist_ok=True)
    with open(root.parent / f".{root.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one build at a time
        if complete.is_file():
            return python
        shutil.rmtree(root, ignore_errors=True)  # a build that did not finish
        base = find_python312()
        say(f"building the service's Python once: {base} + apache-flink=={flink} only, into {root} (a few minutes)")
        log = root.parent / f"{root.name}.log"
        with log.open("w") as out:
            for step in (
                [base, "-m", "venv", str(root)],
                [str(python), "-m", "pip", "install", f"apache-flink=={flink}"],
            ):
                if subprocess.run(step, stdout=out, stderr=subprocess.STDOUT, timeout=1800).returncode != 0:
                    tail = "\n".join(log.read_text(errors="replace").splitlines()[-15:])
                    raise RehearsalError(f"building the service's Python failed ({' '.join(step)}); {log}:\n{tail}")
        complete.write_text(f"apache-flink=={flink}\n")
    return python


# --------------------------------------------------------------------------- the run


def rehearsal_config(groups_file: Path, local: Config) -> Config:
    """What the package's groups configure, at the local stack's endpoints and with its keys."""
    packaged = load_config("aws", properties_file=groups_file)
    return replace(
        packaged, aws=replace(packaged.aws, credentials=local.aws.credentials, endpoints=local.aws.endpoints)
    )


def endpoint_variables(config: Config) -> dict[str, str]:
    """``aws.endpoints`` as the variables the SDKs read (AWS_ENDPOINT_URL_<SERVICE>, AWS_ENDPOINT_URL)."""
    out = {}
    for service, url in config.aws.endpoints.items():
        name = "AWS_ENDPOINT_URL" if service == "default" else "AWS_ENDPOINT_URL_" + service.upper().replace("-", "_")
        out[name] = url
    return out


def submit_command(local: Config, run_dir: Path, options: dict[str, str], python: Path, interval: float) -> list[str]:
    """Flink's own ``flink run`` of the entry point and jar, as written in the run options."""
    checkpoints = f"{local.job.checkpoint_dir.rstrip('/')}/msf-local"
    return [
        str(cluster.wheel_home() / "bin" / "flink"),
        "run",
        "--jobmanager",
        local.job.cluster,
        "--python",
        str(run_dir / options["python"]),
        "--jarfile",
        str(run_dir / options["jarfile"]),
        "--pyClientExecutable",
        str(python),
        "--pyExecutable",
        str(python),
        f"-Dexecution.checkpointing.interval={int(interval * 1000)} ms",
        f"-Dexecution.checkpointing.dir={checkpoints}",
    ]


def rehearse(local: Config, options: RehearsalOptions, say: Callable[[str], None] = lambda _: None) -> Rehearsal:
    """Run ``options.package`` on the local cluster as Managed Flink would; with ``bounded``, to its end."""
    from connectors.local_stack import stack

    try:
        read_package(options.package)  # a zip `clickflow package` wrote
    except PackageError as exc:
        raise RehearsalError(str(exc)) from None
    run_dir = stack.state_dir(local) / "msf-local" / datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    run_dir.mkdir(parents=True)
    run_options = unpack(options.package, run_dir)  # what the service would refuse, first
    if not cluster.is_local_cluster(local) or cluster.overview(local) is None:
        raise RehearsalError(
            f"no local Flink cluster answers at {local.job.cluster or '(job.cluster unset)'}: start it with "
            "`clickflow cluster up` and rehearse with its profile (--profile cluster)"
        )
    if run_options["python"] != ENTRY_POINT:
        say(f"note: the entry point is {run_options['python']!r} (clickflow package writes {ENTRY_POINT!r})")
    groups_file = run_dir / "application_properties.json"
    groups = reader_here(with_start(property_groups(run_dir), options.start), local, say)
    groups_file.write_text(json.dumps(groups, indent=2) + "\n")
    here = rehearsal_config(groups_file, local)  # the stack as this machine reaches it ...
    config = rehearsal_config(groups_file, environment.as_seen_by_cluster(local))  # ... and as the cluster does
    stack.ensure_resources(here, say=say)  # the streams and the bucket the groups name
    python = service_python(say)

    env = cluster.flink_environment(local)
    env.pop("VIRTUAL_ENV", None)
    env.pop("PYTHONPATH", None)  # nothing of clickflow's own environment reaches the job's Python
    env.update(endpoint_variables(config))
    env[PROPERTIES_OVERRIDE_ENV] = str(groups_file)
    if options.bounded:
        from jobs.stream import REHEARSAL_BOUNDED_ENV

        env[REHEARSAL_BOUNDED_ENV] = "1"
    command = submit_command(local, run_dir, run_options, python, config.job.checkpoint_interval)
    since = datetime.now(UTC)
    version = ".".join(map(str, SERVICE_PYTHON))
    say(f"submitting {options.package.name} as Managed Flink runs it: python {run_options['python']}, "
        f"jarfile {run_options['jarfile']}, Python {version}, from {run_dir}")  # fmt: skip
    log = run_dir / "flink-run.log"
    with log.open("w") as out:
        done = subprocess.run(command, env=env, cwd=run_dir, stdout=out, stderr=subprocess.STDOUT, timeout=600)
    text = log.read_text(errors="replace")
    match = re.search(r"JobID ([0-9a-f]{32})", text)
    if done.returncode != 0 or not match:
        tail = "\n".join(text.splitlines()[-30:])
        raise RehearsalError(f"the entry point failed, as it would on Managed Flink ({log}):\n{tail}")
    job_id = match.group(1)
    web_ui = f"http://{local.job.cluster}/#/job/running/{job_id}"
    if not options.bounded:
        return Rehearsal(job_id, run_dir, web_ui, "RUNNING", {}, {})
    say(f"job {job_id} submitted ({web_ui}); waiting for it to finish")
    state = wait_for_end(local, job_id, options.timeout)
    if state != "FINISHED":
        raise RehearsalError(f"job {job_id} ended {state} (logs: {cluster.home(local) / 'log'}; {web_ui})")
    return Rehearsal(job_id, run_dir, web_ui, state, written(here, since), archived(here))


def wait_for_end(local: Config, job_id: str, timeout: float) -> str:
    """The job's state once it ends (or RehearsalError after ``timeout`` seconds)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = (cluster.get_json(f"http://{local.job.cluster}/jobs/{job_id}", timeout=5) or {}).get("state", "")
        if state in TERMINAL:
            return state
        time.sleep(1.0)
    raise RehearsalError(f"job {job_id} did not finish within {timeout:.0f} s (still {state or 'unknown'})")


def written(config: Config, since: datetime) -> dict[str, int]:
    """Records that arrived on each output stream since ``since``."""
    from connectors import aws
    from jobs.analytics import ANALYTICS
    from producer.records import read_finished

    kinesis = aws.client(config, "kinesis")
    return {
        name: len(read_finished(kinesis, config.output_stream(name).name, since))
        for name in (*ANALYTICS, "dead_letters")
    }


def archived(config: Config) -> dict[str, int]:
    """Part files under the archive (``s3://`` on Managed Flink), counted per top-level folder."""
    from collections import Counter

    from connectors import aws

    match = re.match(r"s3a?://([^/]+)/?(.*)$", config.job.archive)
    if not match:
        return {}
    bucket, prefix = match.group(1), match.group(2).strip("/")
    counts: Counter[str] = Counter()
    pages = aws.client(config, "s3").get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix + "/")
    for page in pages:
        for item in page.get("Contents", []):
            relative = item["Key"][len(prefix) + 1 :]
            if "/part-" in relative:
                counts[relative.split("/", 1)[0]] += 1
    return dict(sorted(counts.items()))
