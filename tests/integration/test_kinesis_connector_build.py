"""clickflow's Java build: Maven over connectors/pom.xml, cached on a content hash, one shaded jar."""

import shutil
import zipfile

import pytest

from connectors import kinesis_connector
from connectors.official import FACTORY_SERVICES

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def jar():
    return kinesis_connector.build()


def test_the_one_jar_holds_the_connector_the_functions_and_the_relocated_sdk(jar):
    with zipfile.ZipFile(jar) as archive:
        names = set(archive.namelist())
        factories = archive.read(FACTORY_SERVICES).decode().split()
        rule = archive.read("io/clickflow/udf/valid_event.json")
        major = int.from_bytes(archive.read("io/clickflow/kinesis/KinesisApi.class")[6:8], "big")
    assert factories == ["io.clickflow.kinesis.KinesisDynamicTableFactory"]
    assert rule == (kinesis_connector.VALID_EVENT).read_bytes()  # the rule the producer reads, packed as is
    assert major == 61  # Java 17 bytecode: every Flink 2.2 runtime (Managed Flink's included) loads it
    shaded = "io/clickflow/kinesis/shaded/"
    for part in (
        "software/amazon/awssdk/services/kinesis/",
        "software/amazon/awssdk/services/sts/",
        "software/amazon/awssdk/http/apache5/",
        "software/amazon/awssdk/http/nio/netty/",
        "io/netty/",
    ):
        assert any(n.startswith(shaded + part) for n in names), part
    # nothing unrelocated that could clash with a Flink image's copy; no second SLF4J; no other HTTP client
    assert not any(n.startswith(("software/amazon/", "io/netty/", "org/apache/hc/", "org/slf4j/")) for n in names)
    assert not any("/http/urlconnection/" in n or "/http/apache/" in n or "/http/crt/" in n for n in names)
    # no hand-written signing, HTTP or credentials left
    assert not {"io/clickflow/kinesis/SigV4.class", "io/clickflow/kinesis/CredentialsProvider.class"} & names


def test_build_is_cached_and_follows_sources(jar, tmp_path):
    built = jar.stat().st_mtime_ns
    assert kinesis_connector.build() == jar and jar.stat().st_mtime_ns == built  # nothing changed: no rebuild
    root = tmp_path / "java"
    root.mkdir()
    shutil.copy(kinesis_connector.ROOT / "pom.xml", root / "pom.xml")
    for module in sorted(p.name for p in kinesis_connector.ROOT.iterdir() if (p / "pom.xml").is_file()):
        shutil.copytree(
            kinesis_connector.ROOT / module, root / module, ignore=shutil.ignore_patterns("build", "target")
        )
    targets = tuple(
        kinesis_connector.Target(t.module, t.final_name, tmp_path / "out" / t.jar.name)
        for t in kinesis_connector.BUILD.targets
    )
    copy = kinesis_connector.JavaBuild(root, targets)
    broken = root / "kinesis" / "src" / "main" / "java" / "io" / "clickflow" / "kinesis" / "Broken.java"
    broken.write_text("package io.clickflow.kinesis;\nfinal class Broken { int x = ; }\n")
    with pytest.raises(kinesis_connector.ConnectorBuildError, match=r"Maven build failed[\s\S]*Broken\.java"):
        kinesis_connector.build_all(copy)
    assert not any(t.jar.exists() for t in targets)  # nothing half-built is kept
    broken.unlink()
    first = kinesis_connector.build_all(copy)
    stamps = [p.with_suffix(".sha256").read_text() for p in first]
    for got, ours in zip(first, (t.jar for t in kinesis_connector.BUILD.targets), strict=True):
        with zipfile.ZipFile(got) as a, zipfile.ZipFile(ours) as b:
            assert sorted(a.namelist()) == sorted(b.namelist())  # the same build from the same sources
    assert (
        kinesis_connector.build_all(copy) == first and [p.with_suffix(".sha256").read_text() for p in first] == stamps
    )
