"""``clickflow package``: the zip Amazon Managed Service for Apache Flink runs.

Layout (paths inside the zip)::

    main.py                    entry point: puts the zip's folders on sys.path, runs jobs.stream.main
    jobs/ connectors/          the job's Python modules (only what it imports) and connectors/profiles/
    sql/                       the analytics
    deps/yaml/                 PyYAML, pure Python (MSF installs nothing with pip)
    lib/clickflow-msf.jar      clickflow's one jar: its Kinesis connector (AWS SDK shaded in) and functions
    clickflow-package.json     what went in: versions, the jar's SHA-256, the property groups

Managed Flink takes a single ``jarfile``: by default the jar every test and local run uses
(``connectors/build/clickflow-flink.jar``, byte for byte). With ``connector="official"`` a
user-given jar of Apache Flink's connector (checked to be one) is merged with the job's functions
instead — an explicit choice that this project's tests do not run. The application's property
groups are ``kinesis.analytics.flink.run.options`` (``python``, ``jarfile``) and the job's own
config, one group per section, which ``load_config`` reads back on the service.
"""

from __future__ import annotations

import dataclasses
import json
import os
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import yaml

from clickflow import __version__
from connectors import official
from connectors.config import TOP_LEVEL_GROUP, Config, Duration

PROJECT_ROOT = Path(__file__).resolve().parents[2]
RUN_OPTIONS_GROUP = "kinesis.analytics.flink.run.options"
ENTRY_POINT = "main.py"
JAR_IN_ZIP = "lib/clickflow-msf.jar"
MANIFEST = "clickflow-package.json"
# What jobs/stream.py imports, transitively, from the project (a test runs it from the zip, site-packages off)
MODULES = (
    "jobs/__init__.py",
    "jobs/stream.py",
    "jobs/analytics.py",
    "jobs/plans.py",
    "connectors/__init__.py",
    "connectors/config.py",
    "connectors/environment.py",
    "connectors/tables.py",
    "connectors/aws.py",
    "connectors/profiles/__init__.py",
)
# Sections the job reads; producer and stack settings are for the machine that feeds the stream
JOB_SECTIONS = ("aws", "streams", "analytics", "flink", "job")
NOT_ON_MSF = {("aws", "credentials"), ("aws", "endpoints"), ("job", "rest_port"), ("job", "connector")}

ETL_IN_ZIP = "etl.yaml"  # with --etl: the ETL's definition; main.py then runs jobs.etl instead
JOB_IN_ZIP = "migrated"  # with --job: the migrated KDA application's directory; main.py runs jobs.migrated
JOB_MODULES = (
    "jobs/migrated.py",
    "jobs/stream.py",
    "clickflow/__init__.py",
    "clickflow/migrate/__init__.py",
    "clickflow/migrate/errors.py",
    "clickflow/migrate/jobdir.py",
)


def entry_point(module: str) -> str:
    """The main.py of the zip: the zip's folders on sys.path, then ``module``'s main()."""
    return (
        '"""clickflow on Amazon Managed Service for Apache Flink (written by `clickflow package`)."""\n\n'
        "import sys\nfrom pathlib import Path\n\n"
        "HERE = Path(__file__).resolve().parent\n"
        'sys.path[:0] = [str(HERE), str(HERE / "deps")]\n\n'
        f"from {module} import main  # noqa: E402\n\n"
        'if __name__ == "__main__":\n    sys.exit(main())\n'
    )


class PackageError(RuntimeError):
    """The package cannot be built; the message says why."""


@dataclass(frozen=True)
class Package:
    """A written application zip: where it is, what it holds, its runtime properties and the connector's digest."""

    path: Path
    entries: list[str]
    property_groups: list[dict]
    connector_sha256: str
    connector_source: str
    etl: object | None = None  # the EtlConfig a --etl package runs (jobs.etl), else the analytics job
    job: object | None = None  # the MigratedJob a --job package runs (jobs.migrated)


# --------------------------------------------------------------------------- property groups


def _property_value(value) -> str:
    """A config value as MSF property text that ``load_config`` reads back as the same value."""
    if isinstance(value, Duration):
        return str(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    text = str(value)
    return text if yaml.safe_load(text) == text else json.dumps(text)  # e.g. '000000000000' stays text


def _flatten(value, prefix: tuple[str, ...], out: dict[str, str]) -> None:
    if dataclasses.is_dataclass(value):
        value = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        for key, item in value.items():
            if (prefix[:1] + (key,)) in NOT_ON_MSF and len(prefix) == 1:
                continue
            _flatten(item, prefix + (key,), out)
        return
    if value is not None:  # unset: left out, so that Managed Flink's load_config unsets it too
        out[".".join(prefix[1:])] = _property_value(value)


def job_property_groups(config: Config) -> list[dict]:
    """The job's config as MSF property groups: one per section, plus ``clickflow`` for top-level keys."""
    groups = [{"PropertyGroupId": TOP_LEVEL_GROUP, "PropertyMap": {"bucket": config.bucket}}]
    for section in JOB_SECTIONS:
        values: dict[str, str] = {}
        _flatten(getattr(config, section), (section,), values)
        if values:
            groups.append({"PropertyGroupId": section, "PropertyMap": values})
    return groups


def property_groups(config: Config) -> list[dict]:
    """The application's runtime property groups: how Managed Flink starts the program, then the job's settings."""
    run_options = {"PropertyGroupId": RUN_OPTIONS_GROUP, "PropertyMap": {"python": ENTRY_POINT, "jarfile": JAR_IN_ZIP}}
    return [run_options, *job_property_groups(config)]


# --------------------------------------------------------------------------- the zip


def _merge_jars(connector: Path, functions: Path, out: zipfile.ZipFile) -> None:
    """Write one jar holding every entry of the connector jar, then the function classes it lacks."""
    import io

    buffer = io.BytesIO()
    seen: set[str] = set()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as merged:
        for source in (connector, functions):
            with zipfile.ZipFile(source) as jar:
                for info in jar.infolist():
                    if info.filename in seen:
                        continue  # the connector's manifest and directories win
                    seen.add(info.filename)
                    merged.writestr(info, jar.read(info))
    out.writestr(JAR_IN_ZIP, buffer.getvalue())


def _pyyaml_files() -> list[tuple[Path, str]]:
    """PyYAML's pure-Python modules (its C extension is built for this machine's Python, not MSF's)."""
    root = Path(yaml.__file__).resolve().parent
    return [(path, f"deps/yaml/{path.name}") for path in sorted(root.glob("*.py"))]


def build_package(
    config: Config,
    output: Path,
    connector_jar: Path | None = None,
    say: Callable[[str], None] = print,
    etl_file: Path | None = None,
    connector: str = "clickflow",
    job_dir: Path | None = None,
    plan: bool = True,
) -> Package:
    """The zip of the analytics job — or, with ``etl_file``, of that ETL, or with ``job_dir``, of that migrated
    KDA application (each a second application).
    ``connector``: ``clickflow`` (the tested jar) or ``official`` (``connector_jar``, merged with
    the functions). Before the zip is in place its entry point is imported from it alone
    (:func:`check_imports`) and, for the analytics job on clickflow's connector unless not ``plan``, the
    job is planned from it (:func:`check_plan`)."""
    from connectors.kinesis_connector import build, build_udfs

    etl = None
    if etl_file is not None:
        from jobs.etl import load_etl

        etl = load_etl(etl_file)  # refuse a broken ETL before building anything
    job = None
    if job_dir is not None:
        from clickflow.migrate.jobdir import load as load_job

        if etl_file is not None:
            raise PackageError("give --etl or --job, not both: each is an application of its own")
        job = load_job(job_dir)  # refuse a broken job directory before building anything

    if connector not in ("clickflow", "official"):
        raise PackageError(f"--connector {connector}: expected clickflow or official")
    if connector == "clickflow" and connector_jar is not None:
        raise PackageError("--connector-jar goes with --connector official (clickflow's connector is built here)")
    artifact = official.KINESIS_CONNECTOR
    if connector == "official":
        if connector_jar is None:
            raise PackageError(
                f"--connector official needs --connector-jar FILE: Apache Flink's {artifact.file_name} "
                "(clickflow does not fetch it; it is not run by this project's tests)"
            )
        jar = Path(connector_jar)
        sha256 = official.check_kinesis_jar(jar, artifact)
        source = f"--connector-jar {jar}"
        coordinates = artifact.coordinates
        say(f"note: packaging Apache Flink's connector from {jar}: clickflow's tests do not run it")
    else:
        jar = build()
        sha256 = official.sha256_of(jar)
        source = f"clickflow {jar.relative_to(PROJECT_ROOT) if jar.is_relative_to(PROJECT_ROOT) else jar}"
        coordinates = "io.clickflow:clickflow-flink"
    groups = property_groups(config)
    files: list[tuple[Path, str]] = [(PROJECT_ROOT / name, name) for name in MODULES]
    if etl is not None:
        files += [(PROJECT_ROOT / name, name) for name in ("jobs/etl.py", "jobs/delivery.py")]
    if job_dir is not None:
        files += [(PROJECT_ROOT / name, name) for name in JOB_MODULES if name not in MODULES]
        files += [(job_dir / name, f"{JOB_IN_ZIP}/{name}") for name in ("job.sql", "clickflow.yaml")]
    files.append(
        (PROJECT_ROOT / "connectors/profiles/aws.yaml", "connectors/profiles/aws.yaml")
    )  # load_config("aws") on MSF
    files += [(path, f"sql/{path.name}") for path in sorted((PROJECT_ROOT / "sql").glob("*.sql"))]
    files += _pyyaml_files()
    manifest = {
        "clickflow": __version__,
        "flink": official.FLINK_MINOR,
        "runtime": official.MSF_RUNTIME,
        "connector": {"artifact": coordinates, "from": source, "sha256": sha256},
        "jarfile": JAR_IN_ZIP,
        "property_groups": groups,
        "etl": etl.name if etl is not None else None,
        "job": job.name if job is not None else None,
    }
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.with_name(output.name + ".part")
    with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as archive:
        module = "jobs.etl" if etl is not None else "jobs.migrated" if job is not None else "jobs.stream"
        archive.writestr(ENTRY_POINT, entry_point(module))
        if etl_file is not None:
            archive.writestr(ETL_IN_ZIP, etl_file.read_text(encoding="utf-8"))
        for path, name in files:
            archive.write(path, name)
        if connector == "official":
            _merge_jars(jar, build_udfs(), archive)
        else:
            archive.write(jar, JAR_IN_ZIP)  # the tested jar, byte for byte
        archive.writestr(MANIFEST, json.dumps(manifest, indent=2) + "\n")
        entries = archive.namelist()
    try:
        check_imports(partial, module)
        if plan and connector == "clickflow" and etl is None and job is None:
            say("planning the job from the zip, with its property groups and its jar (no AWS call) ...")
            check_plan(partial)
    except PackageError:
        partial.unlink()
        raise
    partial.replace(output)
    return Package(output, entries, groups, sha256, source, etl, job)


PROJECT_PACKAGES = ("jobs", "connectors", "clickflow", "producer")

_IMPORT_PROBE = """
import json, sys
from pathlib import Path
root = Path(sys.argv[1]).resolve()
sys.path[:0] = [str(root), str(root / "deps")]  # as main.py does
import importlib
importlib.import_module(sys.argv[2])
from connectors.config import load_config
load_config("aws", properties_file=root / "application_properties.json")
outside = sorted(
    name for name, module in sys.modules.items()
    if name.split(".")[0] in sys.argv[3].split(",") and getattr(module, "__file__", None)
    and not Path(module.__file__).resolve().is_relative_to(root)
)
print(json.dumps(outside))
"""


def _probe(package: Path, script: str, args: list[str], timeout: float):
    """Run ``script`` (argv: the unpacked zip's directory, then ``args``) in a fresh Python over ``package``
    unpacked, with its property groups in ``application_properties.json`` there, as on the service."""
    import subprocess
    import sys
    import tempfile

    with tempfile.TemporaryDirectory() as work:
        with zipfile.ZipFile(package) as archive:
            archive.extractall(work)
            groups = json.loads(archive.read(MANIFEST))["property_groups"]
        (Path(work) / "application_properties.json").write_text(json.dumps(groups), encoding="utf-8")
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        command = [sys.executable, "-c", script, work, *args]
        return subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env, cwd=work)


def check_imports(package: Path, module: str) -> None:
    """Unpack ``package`` and import its entry point's ``module`` from it (as ``main.py`` does, then the
    config from its property groups, as on the service): every clickflow module imported must come from
    the zip, or the service would fail with an ImportError (a PackageError names them). Modules imported
    later, inside functions, are run only by a rehearsal (``clickflow deploy --local``)."""
    done = _probe(package, _IMPORT_PROBE, [module, ",".join(PROJECT_PACKAGES)], timeout=120)
    if done.returncode != 0:
        tail = "\n".join(done.stderr.strip().splitlines()[-8:])
        raise PackageError(f"the package's entry point ({module}) does not import from the zip alone:\n{tail}")
    outside = json.loads(done.stdout.strip().splitlines()[-1])
    if outside:
        raise PackageError(
            f"the package's entry point ({module}) imports {', '.join(outside)}, which the zip lacks: "
            "Managed Flink would fail with an ImportError (add them to clickflow/msf/package.py's module lists)"
        )


_PLAN_PROBE = """
import sys
from pathlib import Path
root = Path(sys.argv[1]).resolve()
sys.path[:0] = [str(root), str(root / "deps")]  # as main.py does
from connectors import environment
from connectors.config import load_config
from jobs import analytics, stream
analytics._python_worker_pool_on_loopback()  # planned here, in a local Flink: its worker pool stopped quietly
config = load_config("aws", properties_file=root / "application_properties.json")
where = environment.decide(config, on_msf=True)  # the service's path: the jar comes from the package
env = environment.table_env(where)
env.get_config().set("pipeline.jars", (root / sys.argv[2]).as_uri())
stream.configure(env, where.config, stream.RunOptions(), on_msf=True)
stream.build(env, where.config, stream.RunOptions()).explain()
print("planned")
"""


def check_plan(package: Path) -> None:
    """Plan the analytics job from the unpacked ``package`` as its entry point would on the service — the
    config from its property groups, the functions and the connector from its ``jarfile`` (the table
    factories the SQL names, the options they validate) — and EXPLAIN it instead of running it: nothing
    is called on AWS. A PackageError gives the planner's reason."""
    done = _probe(package, _PLAN_PROBE, [JAR_IN_ZIP], timeout=600)
    if done.returncode != 0 or "planned" not in done.stdout:
        lines = [  # the errors, not the JVM's warnings nor its stack frames
            line
            for line in done.stderr.splitlines()
            if line.strip() and not line.startswith("WARNING") and not line.lstrip().startswith(("at ", "... "))
        ]
        reason = next((line for line in reversed(lines) if "Exception:" in line), "")  # the planner's (Java's)
        reason = reason or next((line for line in reversed(lines) if "Error:" in line), "")
        tail = "\n".join(lines[-6:])
        raise PackageError(
            f"the job does not plan from the package (as the service would start it): {reason.strip()}\n{tail}"
        )


def read_package(path: Path) -> Package:
    """A zip written by ``build_package``, described from its manifest."""
    try:
        with zipfile.ZipFile(path) as archive:
            manifest = json.loads(archive.read(MANIFEST))
            entries = archive.namelist()
            etl_text = archive.read(ETL_IN_ZIP).decode("utf-8") if ETL_IN_ZIP in entries else None
            job_files = {
                name: archive.read(f"{JOB_IN_ZIP}/{name}").decode("utf-8")
                for name in ("job.sql", "clickflow.yaml")
                if f"{JOB_IN_ZIP}/{name}" in entries
            }
    except FileNotFoundError:
        raise PackageError(f"--package {path}: no such file (build it with `clickflow package`)") from None
    except (zipfile.BadZipFile, KeyError, ValueError):  # not a zip, no manifest, a manifest that is not JSON
        raise PackageError(f"--package {path}: not a zip built by `clickflow package`") from None
    if not isinstance(manifest, dict) or not {"connector", "property_groups"} <= manifest.keys():
        raise PackageError(f"--package {path}: its {MANIFEST} is not one `clickflow package` wrote")
    connector = manifest["connector"]
    etl = None
    if etl_text is not None:
        import tempfile

        from jobs.etl import load_etl

        with tempfile.TemporaryDirectory() as work:
            copy = Path(work) / ETL_IN_ZIP
            copy.write_text(etl_text, encoding="utf-8")
            etl = load_etl(copy)
    job = None
    if job_files:
        import tempfile

        from clickflow.migrate.jobdir import load as load_job

        with tempfile.TemporaryDirectory() as work:
            for name, text in job_files.items():
                (Path(work) / name).write_text(text, encoding="utf-8")
            job = load_job(Path(work))
    return Package(path, entries, manifest["property_groups"], connector["sha256"], connector["from"], etl, job)
