"""Apache Flink's own jars that the apache-flink wheel lacks: pinned by version and SHA-256, fetched
from Maven Central (or a mirror) into a cache, checked before use.

- the Kinesis table connector, for compose and Managed Flink;
- ``flink-s3-fs-hadoop``, the S3 file system plugin (archive and checkpoints on ``s3://``), for the
  local cluster, the embedded Flink and compose;
- ``flink-sql-gateway``, which Flink's SQL client needs (``clickflow sql``).

The pins live here and only here; the compose Dockerfile repeats them as build arguments and a test
holds the two together (and both to the Flink version in ``pyproject.toml``). ``python -m
connectors.official`` fetches the jars the set-up needs (``make setup`` runs it).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

MAVEN_CENTRAL = "https://repo1.maven.org/maven2"
FLINK_MINOR = "2.2"  # the apache-flink==2.2.* of pyproject.toml; the compose image is flink:2.2
MSF_RUNTIME = "FLINK-" + FLINK_MINOR.replace(".", "_")  # Managed Flink's RuntimeEnvironment for it
FACTORY_SERVICES = "META-INF/services/org.apache.flink.table.factories.Factory"


class ConnectorJarError(RuntimeError):
    """The official connector jar could not be had or is not what it should be; the message says what to do."""


@dataclass(frozen=True)
class Artifact:
    """A jar on Maven Central, pinned by version and SHA-256."""

    group: str
    name: str
    version: str
    # SHA-256 of the released jar. None: not yet recorded — clickflow was built where Maven Central
    # cannot be reached; the download is then checked against Central's own .sha1 file instead and
    # the SHA-256 it has is printed, to be recorded here.
    sha256: str | None = None

    @property
    def file_name(self) -> str:
        """The jar's file name as Maven names it."""
        return f"{self.name}-{self.version}.jar"

    def url(self, base: str = MAVEN_CENTRAL) -> str:
        """The jar's URL under a Maven repository's ``base``."""
        return f"{base.rstrip('/')}/{self.group.replace('.', '/')}/{self.name}/{self.version}/{self.file_name}"

    @property
    def coordinates(self) -> str:
        """``group:name:version``, as ``mvn dependency:get`` takes it."""
        return f"{self.group}:{self.name}:{self.version}"


# The Flink 2.x line of the AWS connectors (flink-connector-aws 6.0.0 supports Flink 2.0 and later).
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
SETUP_JARS = (S3_FILESYSTEM, SQL_GATEWAY)  # what `make setup` fetches (the Kinesis connector: when asked)


def cache_dir() -> Path:
    """Where fetched jars are cached (under ``XDG_CACHE_HOME``)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "clickflow" / "maven"


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
            f"--connector-jar {path}: this is clickflow's own local connector (for the embedded default only); "
            f"Managed Flink and compose need Apache Flink's {artifact.coordinates}"
        )
    if "kinesis" not in services.lower():
        raise ConnectorJarError(
            f"--connector-jar {path}: holds no Kinesis table factory ({FACTORY_SERVICES} does not name one); "
            f"expected {artifact.file_name}"
        )
    return sha256_of(path)


def _fetch(url: str, target: Path, on_bytes: Callable[[int, int | None], None]) -> None:
    with urllib.request.urlopen(url, timeout=60) as response:  # noqa: S310 - an https URL we build
        total = response.headers.get("Content-Length")
        total = int(total) if total and total.isdigit() else None
        done = 0
        with target.open("wb") as out:
            while block := response.read(1 << 16):
                out.write(block)
                done += len(block)
                on_bytes(done, total)


def fetch_connector(
    artifact: Artifact = KINESIS_CONNECTOR,
    maven_url: str = MAVEN_CENTRAL,
    say: Callable[[str], None] = print,
    on_bytes: Callable[[int, int | None], None] = lambda done, total: None,
) -> Path:
    """The Kinesis connector jar from the cache, or downloaded into it and verified."""
    return fetch_jar(artifact, maven_url, say, on_bytes, check=check_kinesis_jar)


def fetch_jar(
    artifact: Artifact,
    maven_url: str = MAVEN_CENTRAL,
    say: Callable[[str], None] = print,
    on_bytes: Callable[[int, int | None], None] = lambda done, total: None,
    check: Callable[[Path, Artifact], object] | None = None,
) -> Path:
    """The jar from the cache, or downloaded into it and verified (pinned SHA-256, else Central's SHA-1)."""
    cached = cache_dir() / artifact.group / artifact.name / artifact.version / artifact.file_name
    if cached.is_file():
        if artifact.sha256 is None or sha256_of(cached) == artifact.sha256:
            return cached
        say(f"cached {cached} does not match the pinned SHA-256; downloading it again")
        cached.unlink()
    url = artifact.url(maven_url)
    cached.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cached.parent) as scratch:
        part = Path(scratch) / artifact.file_name
        try:
            _fetch(url, part, on_bytes)
            expected_sha1 = None
            if artifact.sha256 is None:
                with urllib.request.urlopen(url + ".sha1", timeout=60) as response:  # noqa: S310
                    expected_sha1 = response.read().decode("ascii", "replace").split()[0].strip().lower()
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", None) or exc
            raise ConnectorJarError(
                f"cannot download {artifact.coordinates} from {url} ({reason}). Either let this machine reach "
                f"Maven Central (or a mirror: --maven-url URL), or download {artifact.file_name} elsewhere and "
                + (
                    "pass it with --connector-jar PATH"
                    if artifact.name == KINESIS_CONNECTOR.name
                    else f"put it at {cached}"
                )
            ) from None
        got = sha256_of(part)
        if artifact.sha256 is not None and got != artifact.sha256:
            raise ConnectorJarError(
                f"{url}: SHA-256 {got} is not the pinned {artifact.sha256}; the download was discarded"
            )
        if expected_sha1 is not None:
            if sha256_of(part, "sha1") != expected_sha1:
                raise ConnectorJarError(f"{url}: SHA-1 does not match Maven Central's {url}.sha1; discarded")
            say(
                f"note: no SHA-256 is pinned for {artifact.file_name} yet; checked against Maven Central's SHA-1. "
                f"Its SHA-256 is {got} (record it as its sha256 in connectors/official.py)"
            )
        if check is not None:
            check(part, artifact)
        shutil.move(part, cached)
    return cached


def setup_jars(say: Callable[[str], None] = print) -> list[Path]:
    """Fetch (or find in the cache) every jar of ``SETUP_JARS``; returns their paths."""
    paths = []
    for artifact in SETUP_JARS:
        cached = cache_dir() / artifact.group / artifact.name / artifact.version / artifact.file_name
        if not cached.is_file():
            say(f"fetching {artifact.coordinates} from Maven Central")
        paths.append(fetch_jar(artifact, say=say))
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
