"""Build clickflow's Java with Maven (``connectors/pom.xml``): the Kinesis connector on the AWS SDK for
Java v2 (``kinesis/``), the job's SQL functions (``udf/``), and ``bundle/``: one shaded jar of both
with the SDK — the jar every environment runs.

``mvn package`` runs only when a source, a pom, the valid-event rule or the JDK changed (a content hash
is kept next to each jar); a user's ``~/.m2/settings.xml`` (mirrors, proxies) applies as to any
Maven build. The bundle is copied to ``connectors/build/clickflow-flink.jar``, where every environment
takes it from: the embedded Flink's ``pipeline.jars``, the local cluster's ``lib/``, the compose image
and the Managed Flink package (byte for byte). The functions alone (``udf/build/clickflow-udfs.jar``)
serve the batch tools, which read no stream. `python -m connectors.kinesis_connector` builds both and
prints their paths.
"""

from __future__ import annotations

import fcntl
import hashlib
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VALID_EVENT = ROOT.parent / "sql" / "valid_event.json"


@dataclass(frozen=True)
class Target:
    """One jar: the Maven module that builds it (under the build's root) and where the jar is kept."""

    module: str
    final_name: str  # the module's <finalName>
    jar: Path


@dataclass(frozen=True)
class JavaBuild:
    """The Maven multi-module build: its root (the parent pom's folder) and its jars."""

    root: Path
    targets: tuple[Target, ...]


# The connector + the functions + the shaded SDK: the one jar everywhere (embedded, cluster, compose, MSF)
CONNECTOR = Target("bundle", "clickflow-flink", ROOT / "build" / "clickflow-flink.jar")
# The job's Java functions (the valid-event rule, the dead-letter counter, ...): everywhere the job runs
UDFS = Target("udf", "clickflow-udfs", ROOT / "udf" / "build" / "clickflow-udfs.jar")
# Flink's Prometheus reporter bound to 127.0.0.1 (metrics/): the embedded Flink's pipeline.jars, the cluster's plugins
PROMETHEUS = Target("metrics", "clickflow-prometheus", ROOT / "build" / "clickflow-prometheus.jar")
BUILD = JavaBuild(ROOT, (CONNECTOR, UDFS, PROMETHEUS))


class ConnectorBuildError(RuntimeError):
    """The Java could not be built; the message says why and what to do."""


def _tool(name: str, install: str) -> str:
    path = shutil.which(name)
    if not path:
        raise ConnectorBuildError(f"`{name}` was not found on PATH: clickflow's Java is built with {install}")
    return path


def _sources(root: Path) -> Iterator[Path]:
    yield root / "pom.xml"
    for module in sorted(p for p in root.iterdir() if (p / "pom.xml").is_file()):
        yield module / "pom.xml"
        yield from sorted(p for p in (module / "src").rglob("*") if p.is_file())


def _fingerprint(build: JavaBuild) -> str:
    digest = hashlib.sha256()
    java = subprocess.run([_tool("java", "a JDK 17"), "-version"], capture_output=True, text=True, check=False)
    digest.update((java.stdout + java.stderr).encode())
    for path in _sources(build.root):
        digest.update(path.relative_to(build.root).as_posix().encode())
        digest.update(path.read_bytes())
    digest.update(VALID_EVENT.read_bytes())
    return digest.hexdigest()


@contextmanager
def _locked(root: Path) -> Iterator[None]:
    """One build at a time (a test and a `clickflow run` it starts may both ask for the jars)."""
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def built_from(jar: Path) -> str:
    """The fingerprint of the sources ``jar`` (or the jar a link of that name points to) was built from, as the
    build records it beside the jar; '' for a jar this build did not make."""
    stamp = jar.resolve().with_suffix(".sha256")
    return stamp.read_text().split()[0] if stamp.is_file() else ""


def _up_to_date(build: JavaBuild, fingerprint: str) -> bool:
    for target in build.targets:
        stamp = target.jar.with_suffix(".sha256")
        if not (target.jar.is_file() and stamp.is_file() and stamp.read_text().strip() == fingerprint):
            return False
    return True


def build_all(build: JavaBuild = BUILD, force: bool = False) -> tuple[Path, ...]:
    """Run ``mvn package`` over ``build`` unless jars built from the same sources and JDK are there;
    the jars' paths, in the order of ``build.targets``."""
    mvn = _tool("mvn", "Maven 3 (Debian/Ubuntu: apt-get install maven openjdk-17-jdk-headless)")
    with _locked(build.root):
        fingerprint = _fingerprint(build)
        if force or not _up_to_date(build, fingerprint):
            result = subprocess.run(
                [
                    mvn,
                    "-B",
                    "-q",
                    "-f",
                    str(build.root / "pom.xml"),
                    f"-Dclickflow.sql.dir={VALID_EVENT.parent}",
                    "clean",
                    "package",
                ],
                capture_output=True,
                text=True,
                check=False,
            )
            if result.returncode != 0:
                tail = "\n".join((result.stdout + result.stderr).splitlines()[-40:])
                raise ConnectorBuildError(f"Maven build failed (mvn package in {build.root}):\n{tail}")
            for target in build.targets:
                built = build.root / target.module / "target" / f"{target.final_name}.jar"
                target.jar.parent.mkdir(parents=True, exist_ok=True)
                partial = target.jar.with_suffix(".jar.tmp")
                shutil.copyfile(built, partial)
                partial.replace(target.jar)
                target.jar.with_suffix(".sha256").write_text(fingerprint + "\n")
    return tuple(target.jar for target in build.targets)


def build(force: bool = False) -> Path:
    """The one jar (connector, functions, shaded SDK), built if anything it depends on changed."""
    return build_all(force=force)[0]


def build_udfs(force: bool = False) -> Path:
    """The job's Java functions, built if anything they depend on changed."""
    return build_all(force=force)[1]


if __name__ == "__main__":
    try:
        for jar in build_all(force="--force" in sys.argv):
            print(jar)
    except ConnectorBuildError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
