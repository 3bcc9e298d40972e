"""Build clickflow's own Kinesis connector for the embedded default: plain `javac` against the jars
inside the apache-flink wheel — no Maven, no downloads.

The jar is rebuilt only when a source file, the Flink version or the JDK changes (a content hash is
kept next to it). `python -m connectors.kinesis_connector` builds it and prints its path.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

CONNECTOR_DIR = Path(__file__).resolve().parent / "kinesis"
SOURCES = CONNECTOR_DIR / "src" / "main" / "java"
RESOURCES = CONNECTOR_DIR / "src" / "main" / "resources"
BUILD_DIR = CONNECTOR_DIR / "build"
JAR = BUILD_DIR / "clickflow-kinesis-connector.jar"


class ConnectorBuildError(RuntimeError):
    """The connector could not be compiled; the message says why and what to do."""


def flink_jars() -> list[Path]:
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


def _fingerprint(javac: str, jars: list[Path]) -> str:
    digest = hashlib.sha256()
    version = subprocess.run([javac, "-version"], capture_output=True, text=True, check=False)
    digest.update((version.stdout + version.stderr).encode())
    for jar in jars:
        digest.update(jar.name.encode())
    for root in (SOURCES, RESOURCES):
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            digest.update(f"{root.name}/{path.relative_to(root).as_posix()}".encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def build(force: bool = False) -> Path:
    """Compile the connector if anything it depends on changed; return the jar's path."""
    javac = _tool("javac")
    jars = flink_jars()
    fingerprint = _fingerprint(javac, jars)
    stamp = JAR.with_suffix(".sha256")
    if not force and JAR.is_file() and stamp.is_file() and stamp.read_text().strip() == fingerprint:
        return JAR
    sources = sorted(SOURCES.rglob("*.java"))
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
        BUILD_DIR.mkdir(parents=True, exist_ok=True)
        partial = JAR.with_suffix(".jar.tmp")
        with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as jar:
            jar.writestr("META-INF/MANIFEST.MF", "Manifest-Version: 1.0\nCreated-By: clickflow\n\n")
            for root in (Path(classes), RESOURCES):
                if root.is_dir():
                    for path in sorted(p for p in root.rglob("*") if p.is_file()):
                        jar.write(path, path.relative_to(root).as_posix())
        partial.replace(JAR)
    stamp.write_text(fingerprint + "\n")
    return JAR


if __name__ == "__main__":
    try:
        print(build(force="--force" in sys.argv))
    except ConnectorBuildError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
