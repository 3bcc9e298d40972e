"""Build clickflow's own Kinesis connector for the embedded default: plain `javac` against the jars
inside the apache-flink wheel — no Maven, no downloads.

Two jars: the connector (``kinesis/``) and the job's Java functions (``udf/``). Each is rebuilt only
when one of its source files, the Flink version or the JDK changes (a content hash is kept next to
it). `python -m connectors.kinesis_connector` builds both and prints their paths.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Target:
    """One jar: its Java sources (and resources) and where it goes."""

    sources: Path
    resources: Path
    jar: Path
    extra: tuple[tuple[Path, str], ...] = ()  # files from elsewhere in the project, by their name in the jar


# clickflow's Kinesis table connector: the embedded default only (compose and MSF use the official one)
CONNECTOR = Target(
    ROOT / "kinesis" / "src" / "main" / "java",
    ROOT / "kinesis" / "src" / "main" / "resources",
    ROOT / "kinesis" / "build" / "clickflow-kinesis-connector.jar",
)
# The job's Java functions (the valid-event rule, the dead-letter counter, ...): everywhere the job runs
UDFS = Target(
    ROOT / "udf" / "src" / "main" / "java",
    ROOT / "udf" / "src" / "main" / "resources",
    ROOT / "udf" / "build" / "clickflow-udfs.jar",
    # the valid-event rule that CHECK_EVENT and EVENT_TIME read (the producer reads the same file)
    ((ROOT.parent / "sql" / "valid_event.json", "io/clickflow/udf/valid_event.json"),),
)


class ConnectorBuildError(RuntimeError):
    """The connector could not be compiled; the message says why and what to do."""


def flink_jars() -> list[Path]:
    """The jars of the installed ``apache-flink`` wheel (``lib/`` and ``opt/``): the compile classpath."""
    import pyflink

    home = Path(pyflink.__file__).resolve().parent
    jars = sorted((home / "lib").glob("*.jar")) + sorted((home / "opt").glob("*.jar"))
    if not jars:
        raise ConnectorBuildError(f"no Flink jars under {home}/lib: is apache-flink installed in this environment?")
    return jars


def _tool(name: str) -> str:
    path = shutil.which(name)
    if not path:
        raise ConnectorBuildError(
            f"`{name}` was not found on PATH: the local Kinesis connector is compiled with a JDK 17 "
            "(Debian/Ubuntu: apt-get install openjdk-17-jdk-headless)"
        )
    return path


def _fingerprint(javac: str, jars: list[Path], target: Target) -> str:
    digest = hashlib.sha256()
    version = subprocess.run([javac, "-version"], capture_output=True, text=True, check=False)
    digest.update((version.stdout + version.stderr).encode())
    for jar in jars:
        digest.update(jar.name.encode())
    for root in (target.sources, target.resources):
        if not root.is_dir():
            continue
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            digest.update(f"{root.name}/{path.relative_to(root).as_posix()}".encode())
            digest.update(path.read_bytes())
    for path, name in target.extra:
        digest.update(name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def build(force: bool = False) -> Path:
    """Compile the connector if anything it depends on changed; return the jar's path."""
    return build_target(CONNECTOR, force)


def build_udfs(force: bool = False) -> Path:
    """Compile the job's Java functions if anything they depend on changed; return the jar's path."""
    return build_target(UDFS, force)


def build_target(target: Target, force: bool = False) -> Path:
    """Compile and pack ``target`` unless a jar built from the same sources, JDK and Flink jars is there; its path."""
    javac = _tool("javac")
    jars = flink_jars()
    fingerprint = _fingerprint(javac, jars, target)
    jar_path = target.jar
    stamp = jar_path.with_suffix(".sha256")
    if not force and jar_path.is_file() and stamp.is_file() and stamp.read_text().strip() == fingerprint:
        return jar_path
    sources = sorted(target.sources.rglob("*.java"))
    with tempfile.TemporaryDirectory(prefix="clickflow-javac-") as classes:
        result = subprocess.run(
            [
                javac,
                "--release",
                "17",
                "-encoding",
                "UTF-8",
                "-Xlint:deprecation",
                "-d",
                classes,
                "-cp",
                ":".join(map(str, jars)),
                *map(str, sources),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise ConnectorBuildError(f"javac failed:\n{result.stdout}{result.stderr}")
        jar_path.parent.mkdir(parents=True, exist_ok=True)
        partial = jar_path.with_suffix(".jar.tmp")
        with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as jar:
            jar.writestr("META-INF/MANIFEST.MF", "Manifest-Version: 1.0\nCreated-By: clickflow\n\n")
            for root in (Path(classes), target.resources):
                if root.is_dir():
                    for path in sorted(p for p in root.rglob("*") if p.is_file()):
                        jar.write(path, path.relative_to(root).as_posix())
            for path, name in target.extra:
                jar.write(path, name)
        partial.replace(jar_path)
    stamp.write_text(fingerprint + "\n")
    return jar_path


if __name__ == "__main__":
    try:
        force = "--force" in sys.argv
        print(build(force))
        print(build_udfs(force))
    except ConnectorBuildError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
