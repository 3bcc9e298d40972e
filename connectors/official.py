"""Apache Flink's own jars that the apache-flink wheel lacks: pinned by version and SHA-256, fetched
with Maven (a user's ``~/.m2/settings.xml`` — mirrors, proxies — applies; no repository URL is written
here) into a cache, checked before use.

- ``flink-s3-fs-hadoop``, the S3 file system plugin (archive and checkpoints on ``s3://``), for the
  local cluster, the embedded Flink and compose;
- ``flink-sql-gateway``, which Flink's SQL client needs (``clickflow sql``).

Apache Flink's Kinesis connector is not fetched: clickflow runs its own everywhere, and the official
one is an explicit choice of a jar the user has (``package --connector official --connector-jar``).
The pins live here and only here; the compose Dockerfile repeats them as build arguments and a test
holds the two together (and both to the Flink version in ``pyproject.toml``). ``python -m
connectors.official`` fetches the jars the set-up needs (``make setup`` runs it).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

FLINK_MINOR = "2.2"  # the apache-flink==2.2.* of pyproject.toml; the compose image is flink:2.2
MSF_RUNTIME = "FLINK-" + FLINK_MINOR.replace(".", "_")  # Managed Flink's RuntimeEnvironment for it
FACTORY_SERVICES = "META-INF/services/org.apache.flink.table.factories.Factory"
# the plugin that copies an artifact out of Maven's local repository, pinned like any build plugin
DEPENDENCY_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1"


class ConnectorJarError(RuntimeError):
    """The official connector jar could not be had or is not what it should be; the message says what to do."""


@dataclass(frozen=True)
class Artifact:
    """A jar in a Maven repository, pinned by version and SHA-256."""

    group: str
    name: str
    version: str
    # SHA-256 of the released jar. None: not recorded (Maven's own checksum check is then all there is,
    # and the SHA-256 is printed, to be recorded here).
    sha256: str | None = None

    @property
    def file_name(self) -> str:
        """The jar's file name as Maven names it."""
        return f"{self.name}-{self.version}.jar"

    @property
    def coordinates(self) -> str:
        """``group:name:version``, as ``mvn dependency:get`` takes it."""
        return f"{self.group}:{self.name}:{self.version}"


# Apache Flink's Kinesis connector, the Flink 2.x line (flink-connector-aws 6.0.0): what the official
# choice expects a --connector-jar to be. Not fetched (not served by every Maven repository).
KINESIS_CONNECTOR = Artifact("org.apache.flink", "flink-sql-connector-aws-kinesis-streams", "6.0.0-2.0")
# The S3 plugin of the 2.2 line: 2.2.1 is not on Maven Central, and a plugin of the same minor version
# loads in any 2.2.x (it implements only the stable FileSystem interface, in its own class loader).
S3_FILESYSTEM = Artifact(
    "org.apache.flink",
    "flink-s3-fs-hadoop",
    "2.2.0",
    sha256="fe14908b4d04c2fb199bf5c9dddfa80fd6b64d7a6decb3cc8826e644c5449262",
)
SQL_GATEWAY = Artifact(
    "org.apache.flink",
    "flink-sql-gateway",
    "2.2.1",  # exactly the wheel's Flink: the SQL client calls into it
    sha256="fde5f0f6e868c84de01312a4922404f9571c68a6d879e91fc602bbafa5d735aa",
)
SETUP_JARS = (S3_FILESYSTEM, SQL_GATEWAY)  # what `make setup` fetches


def cache_root() -> Path:
    """clickflow's cache (under ``XDG_CACHE_HOME``): fetched jars, the Managed Flink rehearsal's Python."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "clickflow"


def cache_dir() -> Path:
    """Where fetched jars are cached."""
    return cache_root() / "maven"


def sha256_of(path: Path, algorithm: str = "sha256") -> str:
    """The hex digest of a file (SHA-256 unless ``algorithm`` says otherwise), read in blocks."""
    digest = hashlib.new(algorithm)  # sha1 only to compare with Maven Central's .sha1 when no SHA-256 is pinned
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_kinesis_jar(path: Path, artifact: Artifact = KINESIS_CONNECTOR) -> str:
    """Check that ``path`` is a Kinesis table connector jar other than clickflow's own; returns its SHA-256.

    A jar given by the user may be another version than the pin (the caller is told); it must hold a
    table factory, and must not be clickflow's local connector (its factory has the same identifier)."""
    if not path.is_file():
        raise ConnectorJarError(f"--connector-jar {path}: no such file")
    try:
        with zipfile.ZipFile(path) as jar:
            services = (
                jar.read(FACTORY_SERVICES).decode("utf-8", "replace") if FACTORY_SERVICES in jar.namelist() else ""
            )
    except zipfile.BadZipFile:
        raise ConnectorJarError(f"--connector-jar {path}: not a jar (zip) file") from None
    if "io.clickflow.kinesis" in services:
        raise ConnectorJarError(
            f"--connector-jar {path}: this is clickflow's own connector, which `clickflow package` bundles by "
            f"itself; --connector official takes Apache Flink's {artifact.coordinates}"
        )
    if "kinesis" not in services.lower():
        raise ConnectorJarError(
            f"--connector-jar {path}: holds no Kinesis table factory ({FACTORY_SERVICES} does not name one); "
            f"expected {artifact.file_name}"
        )
    return sha256_of(path)


def _maven_copy(artifact: Artifact, directory: Path) -> None:
    """``mvn dependency:copy`` of ``artifact`` into ``directory`` (Maven checks its checksums)."""
    mvn = shutil.which("mvn")
    if not mvn:
        raise ConnectorJarError(
            f"`mvn` was not found on PATH: clickflow fetches {artifact.coordinates} with Maven 3 "
            "(Debian/Ubuntu: apt-get install maven)"
        )
    command = [
        mvn,
        "-B",
        "-q",
        "--strict-checksums",
        f"{DEPENDENCY_PLUGIN}:copy",
        f"-Dartifact={artifact.coordinates}",
        f"-DoutputDirectory={directory}",
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=False, timeout=600)
    if result.returncode != 0:
        lines = [line for line in (result.stdout + result.stderr).splitlines() if "ERROR" in line]
        reason = lines[0].removeprefix("[ERROR]").strip() if lines else f"mvn exited {result.returncode}"
        raise ConnectorJarError(
            f"Maven could not fetch {artifact.coordinates}: {reason}. Let Maven reach its repository (a mirror "
            f"or proxy in ~/.m2/settings.xml applies), or put {artifact.file_name} at "
            f"{cache_dir() / artifact.group / artifact.name / artifact.version / artifact.file_name}"
        )


def fetch_jar(artifact: Artifact, say: Callable[[str], None] = print) -> Path:
    """The jar from the cache, or fetched into it with Maven and checked against its pinned SHA-256."""
    cached = cache_dir() / artifact.group / artifact.name / artifact.version / artifact.file_name
    if cached.is_file():
        if artifact.sha256 is None or sha256_of(cached) == artifact.sha256:
            return cached
        say(f"cached {cached} does not match the pinned SHA-256; fetching it again")
        cached.unlink()
    cached.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cached.parent) as scratch:
        _maven_copy(artifact, Path(scratch))
        part = Path(scratch) / artifact.file_name
        if not part.is_file():
            raise ConnectorJarError(f"Maven reported {artifact.coordinates} fetched, but wrote no {artifact.file_name}")
        got = sha256_of(part)
        if artifact.sha256 is not None and got != artifact.sha256:
            raise ConnectorJarError(
                f"{artifact.coordinates}: SHA-256 {got} is not the pinned {artifact.sha256}; the jar was discarded"
            )
        if artifact.sha256 is None:
            say(
                f"note: no SHA-256 is pinned for {artifact.file_name}; its SHA-256 is {got} "
                "(record it in connectors/official.py)"
            )
        shutil.move(part, cached)
    return cached


# The compose image copies what it needs from here (the Docker build context downloads nothing)
IMAGE_JARS_DIR = Path(__file__).resolve().parent / "build"


def setup_jars(say: Callable[[str], None] = print) -> list[Path]:
    """Fetch (or find in the cache) every jar of ``SETUP_JARS``, and put the S3 plugin where the
    compose image copies it from; returns the cached paths."""
    paths = []
    for artifact in SETUP_JARS:
        cached = cache_dir() / artifact.group / artifact.name / artifact.version / artifact.file_name
        if not cached.is_file():
            say(f"fetching {artifact.coordinates} with Maven")
        paths.append(fetch_jar(artifact, say=say))
    image_copy = IMAGE_JARS_DIR / S3_FILESYSTEM.file_name
    if not image_copy.is_file() or image_copy.stat().st_size != paths[0].stat().st_size:
        IMAGE_JARS_DIR.mkdir(parents=True, exist_ok=True)
        partial = image_copy.with_suffix(".jar.tmp")
        try:
            os.link(paths[0], partial)
        except OSError:
            shutil.copyfile(paths[0], partial)
        partial.replace(image_copy)
    return paths


def cached_jar(artifact: Artifact) -> Path:
    """A setup jar from the cache (fetched now if missing; an error says how to get it otherwise)."""
    return fetch_jar(artifact, say=lambda _: None)


if __name__ == "__main__":
    import sys

    try:
        setup_jars()
    except ConnectorJarError as exc:
        sys.exit(f"clickflow: {exc}")
