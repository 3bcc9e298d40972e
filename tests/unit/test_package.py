"""`clickflow package`: the zip Managed Flink runs (with the jar the tests run, byte for byte), its
property groups, and fetching Flink's own jars with Maven (a stand-in `mvn` here: no network)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from clickflow.msf import package as pkg
from connectors import official
from connectors.config import load_config
from connectors.kinesis_connector import CONNECTOR, UDFS

ROOT = Path(__file__).resolve().parents[2]


def make_connector_jar(
    path: Path, factory: str = "org.apache.flink.connector.kinesis.table.KinesisDynamicTableFactory"
):
    """A stand-in for the official jar: what clickflow checks (a Kinesis table factory) and a class."""
    with zipfile.ZipFile(path, "w") as jar:
        jar.writestr("META-INF/MANIFEST.MF", "Manifest-Version: 1.0\nCreated-By: the test\n")
        jar.writestr(official.FACTORY_SERVICES, factory + "\n")
        jar.writestr("org/apache/flink/connector/kinesis/table/KinesisDynamicTableFactory.class", b"\xca\xfe\xba\xbe")
    return path


@pytest.fixture
def connector_jar(tmp_path):
    return make_connector_jar(tmp_path / "flink-sql-connector-aws-kinesis-streams-6.0.0-2.0.jar")


def aws_config(*overrides):
    return load_config("aws", overrides=["aws.account_id='123456789012'", *overrides])


@pytest.mark.integration  # builds the jar: needs a JDK and Maven, so not a unit test
def test_zip_layout(tmp_path):
    built = pkg.build_package(aws_config(), tmp_path / "app.zip", say=lambda _: None)
    with zipfile.ZipFile(built.path) as archive:
        names = set(archive.namelist())
        manifest = json.loads(archive.read(pkg.MANIFEST))
        jar_bytes = archive.read(pkg.JAR_IN_ZIP)
        entry = archive.read(pkg.ENTRY_POINT).decode()
    sql = {f"sql/{p.name}" for p in (ROOT / "sql").glob("*.sql")}
    yaml_modules = {f"deps/yaml/{p.name}" for p in Path(__import__("yaml").__file__).parent.glob("*.py")}
    expected = {pkg.ENTRY_POINT, pkg.JAR_IN_ZIP, pkg.MANIFEST, "connectors/profiles/aws.yaml", *pkg.MODULES}
    assert names == expected | sql | yaml_modules
    assert {"sql/events.sql", "sql/dead_letters.sql", "sql/anomalies.sql"} <= names
    assert not any(name.endswith(".so") or name.startswith(("tests/", "producer/")) for name in names)
    assert "from jobs.stream import main" in entry
    # the one jar, byte for byte the jar every test and local run puts on pipeline.jars
    assert jar_bytes == CONNECTOR.jar.read_bytes()
    assert manifest["connector"]["sha256"] == hashlib.sha256(jar_bytes).hexdigest()
    assert manifest["connector"]["artifact"] == "io.clickflow:clickflow-flink"
    import io

    with zipfile.ZipFile(io.BytesIO(jar_bytes)) as jar:
        inside = set(jar.namelist())
        factories = jar.read(official.FACTORY_SERVICES).decode()
    assert "io.clickflow.kinesis.KinesisDynamicTableFactory" in factories
    assert {"io/clickflow/udf/CountDeadLetter.class", "io/clickflow/kinesis/KinesisSource.class"} <= inside
    # the SDK is inside, relocated: nothing of it (or of Netty) can clash with another jar's copy
    assert any(n.startswith("io/clickflow/kinesis/shaded/software/amazon/awssdk/services/kinesis/") for n in inside)
    assert not any(n.startswith(("software/amazon/", "io/netty/", "org/apache/hc/", "org/slf4j/")) for n in inside)
    assert manifest["runtime"] == "FLINK-2_2"
    assert manifest["property_groups"] == built.property_groups


@pytest.mark.integration  # builds the functions jar: needs a JDK and Maven, so not a unit test
def test_the_official_connector_is_an_explicit_choice(tmp_path, connector_jar):
    said = []
    with pytest.raises(pkg.PackageError, match="--connector official needs --connector-jar"):
        pkg.build_package(aws_config(), tmp_path / "a.zip", connector="official", say=said.append)
    with pytest.raises(pkg.PackageError, match="--connector-jar goes with --connector official"):
        pkg.build_package(aws_config(), tmp_path / "a.zip", connector_jar, say=said.append)
    built = pkg.build_package(aws_config(), tmp_path / "a.zip", connector_jar, connector="official", say=said.append)
    import io

    with zipfile.ZipFile(built.path) as archive:
        manifest = json.loads(archive.read(pkg.MANIFEST))
        with zipfile.ZipFile(io.BytesIO(archive.read(pkg.JAR_IN_ZIP))) as jar:
            inside = set(jar.namelist())
            assert "Created-By: the test" in jar.read("META-INF/MANIFEST.MF").decode()
    with zipfile.ZipFile(connector_jar) as original:
        assert set(original.namelist()) <= inside  # every entry of the official jar ...
    with zipfile.ZipFile(UDFS.jar) as functions:
        assert {n for n in functions.namelist() if n.endswith(".class")} <= inside  # ... and the functions
    assert not any(name.startswith("io/clickflow/kinesis/") for name in inside)  # never two Kinesis factories
    assert manifest["connector"]["sha256"] == hashlib.sha256(connector_jar.read_bytes()).hexdigest()
    assert any("tests do not run it" in line for line in said)


def test_property_groups_name_the_entry_point_and_read_back_as_the_same_config(tmp_path):
    config = aws_config(
        "analytics.bot_burst.threshold=7",
        "analytics.traffic_spike.stddevs=2.5",
        "streams.events.name=prod-clicks",
        "job.checkpoint_interval=2m",
        "bucket=prod-bucket",
        "flink.mini_batch=true",
        "flink.watermark_interval=50ms",  # set; flink.buffer_timeout stays unset (left out, and unset again)
    )
    groups = pkg.property_groups(config)
    run = [g for g in groups if g["PropertyGroupId"] == pkg.RUN_OPTIONS_GROUP]
    assert run == [
        {
            "PropertyGroupId": pkg.RUN_OPTIONS_GROUP,
            "PropertyMap": {"python": "main.py", "jarfile": "lib/clickflow-msf.jar"},
        }
    ]
    assert all(isinstance(v, str) for g in groups for v in g["PropertyMap"].values())  # MSF takes text only
    assert len(groups) <= 50 and all(len(g["PropertyMap"]) <= 50 for g in groups)
    path = tmp_path / "application_properties.json"
    path.write_text(json.dumps(groups))
    again = load_config("aws", properties_file=path)
    assert again == config
    assert again.aws.account_id == "123456789012"  # twelve digits stay text, leading zeros and all
    flat = {k for g in groups for k in g["PropertyMap"]}
    assert not {"credentials", "endpoints", "rest_port", "connector"} & flat  # not the service's business


@pytest.mark.integration  # builds the jar: needs a JDK and Maven, so not a unit test
def test_the_zip_is_self_contained(tmp_path):
    """Run from the unpacked zip with site-packages off: the job's modules import and read their
    config from property groups with nothing but the zip (PyFlink, which MSF provides, loads later)."""
    built = pkg.build_package(aws_config(), tmp_path / "app.zip", say=lambda _: None)
    unpacked = tmp_path / "unpacked"
    with zipfile.ZipFile(built.path) as archive:
        archive.extractall(unpacked)
    (tmp_path / "props.json").write_text(json.dumps(built.property_groups))
    probe = f"""
import sys, sysconfig
root = {str(unpacked)!r}
sys.path[:0] = [root, root + "/deps"]
import jobs.stream
from connectors.config import load_config
config = load_config("aws", properties_file={str(tmp_path / "props.json")!r})
stdlib = sysconfig.get_paths()["stdlib"]
outside = sorted(
    name for name, module in sys.modules.items()
    if getattr(module, "__file__", None) and not module.__file__.startswith((root, stdlib))
)
print(config.aws.account_id, outside)
"""
    result = subprocess.run([sys.executable, "-S", "-c", probe], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "123456789012 []"


def test_refuses_jars_that_are_not_the_official_connector(tmp_path):
    local = make_connector_jar(tmp_path / "ours.jar", "io.clickflow.kinesis.KinesisDynamicTableFactory")
    with pytest.raises(official.ConnectorJarError, match="clickflow's own connector"):
        official.check_kinesis_jar(local)
    other = make_connector_jar(tmp_path / "kafka.jar", "org.apache.flink.streaming.connectors.kafka.KafkaFactory")
    with pytest.raises(official.ConnectorJarError, match="no Kinesis table factory"):
        official.check_kinesis_jar(other)
    text = tmp_path / "notes.jar"
    text.write_text("not a zip")
    with pytest.raises(official.ConnectorJarError, match="not a jar"):
        official.check_kinesis_jar(text)
    with pytest.raises(official.ConnectorJarError, match="no such file"):
        official.check_kinesis_jar(tmp_path / "absent.jar")


# --------------------------------------------------------------------------- fetching with Maven


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache" / "clickflow" / "maven"


def fake_mvn(tmp_path, monkeypatch, jar: Path | None, exit_code: int = 0, said: str = "") -> Path:
    """An `mvn` on PATH that records its arguments and copies ``jar`` where dependency:copy would."""
    bin_dir, log = tmp_path / "bin", tmp_path / "mvn-calls"
    bin_dir.mkdir(exist_ok=True)
    script = bin_dir / "mvn"
    script.write_text(
        f"""#!{sys.executable}
import shutil, sys
open({str(log)!r}, "a").write(" ".join(sys.argv[1:]) + "\\n")
if {said!r}:
    print({said!r})
out = next(a.split("=", 1)[1] for a in sys.argv if a.startswith("-DoutputDirectory="))
artifact = next(a.split("=", 1)[1] for a in sys.argv if a.startswith("-Dartifact="))
group, name, version = artifact.split(":")
if {exit_code} == 0 and {str(jar) if jar else ""!r}:
    shutil.copyfile({str(jar) if jar else ""!r}, f"{{out}}/{{name}}-{{version}}.jar")
sys.exit({exit_code})
"""
    )
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    return log


def test_a_jar_is_fetched_with_maven_checked_and_cached(tmp_path, connector_jar, cache, monkeypatch):
    log = fake_mvn(tmp_path, monkeypatch, connector_jar)
    pinned = dataclasses.replace(official.S3_FILESYSTEM, sha256=hashlib.sha256(connector_jar.read_bytes()).hexdigest())
    got = official.fetch_jar(pinned, say=lambda _: None)
    again = official.fetch_jar(pinned, say=lambda _: None)
    assert got == again and got.is_relative_to(cache) and got.read_bytes() == connector_jar.read_bytes()
    (call,) = log.read_text().splitlines()  # once: the second call used the cache
    assert f"-Dartifact={pinned.coordinates}" in call and "--strict-checksums" in call
    assert f"{official.DEPENDENCY_PLUGIN}:copy" in call
    assert "http" not in call  # the repository is Maven's (settings.xml), never one named here


def test_a_jar_that_is_not_the_pinned_one_is_discarded(tmp_path, connector_jar, cache, monkeypatch):
    fake_mvn(tmp_path, monkeypatch, connector_jar)
    wrong = dataclasses.replace(official.S3_FILESYSTEM, version="2.2.0-other", sha256="0" * 64)
    with pytest.raises(official.ConnectorJarError, match="is not the pinned"):
        official.fetch_jar(wrong, say=lambda _: None)
    assert not list(cache.rglob("*.jar"))  # nothing kept


def test_when_maven_cannot_fetch_the_error_says_what_and_how(tmp_path, cache, monkeypatch):
    fake_mvn(
        tmp_path,
        monkeypatch,
        None,
        exit_code=1,
        said="[ERROR] Failed to execute goal: Could not find artifact org.apache.flink:flink-s3-fs-hadoop:jar:2.2.0",
    )
    with pytest.raises(official.ConnectorJarError) as error:
        official.fetch_jar(official.S3_FILESYSTEM, say=lambda _: None)
    message = str(error.value)
    assert "Could not find artifact" in message and "settings.xml" in message
    assert official.S3_FILESYSTEM.file_name in message  # where to put it by hand


@pytest.mark.integration  # builds the jar and plans in a JVM: not a unit test
def test_a_package_whose_jar_lacks_the_functions_and_the_connector_does_not_plan(tmp_path):
    built = pkg.build_package(aws_config(), tmp_path / "app.zip", say=lambda _: None)  # planned, so written
    broken = tmp_path / "broken.zip"
    with zipfile.ZipFile(built.path) as whole, zipfile.ZipFile(broken, "w") as part:
        for item in whole.infolist():
            if item.filename != pkg.JAR_IN_ZIP:
                part.writestr(item, whole.read(item))
        part.writestr(pkg.JAR_IN_ZIP, make_connector_jar(tmp_path / "empty.jar", "org.example.NoFactory").read_bytes())
    with pytest.raises(pkg.PackageError, match="the job does not plan from the package") as error:
        pkg.check_plan(broken)
    assert "io.clickflow" in str(error.value), error.value  # the planner's reason: a class of the jar missing
