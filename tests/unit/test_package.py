"""`clickflow package`: the zip Managed Flink runs, its property groups, and the connector jar's
download, cache and checks (against a Maven repository served on loopback)."""

from __future__ import annotations

import dataclasses
import hashlib
import http.server
import json
import subprocess
import sys
import threading
import zipfile
from pathlib import Path

import pytest

from clickflow.msf import package as pkg
from connectors import official
from connectors.config import load_config
from connectors.kinesis_connector import UDFS

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


@pytest.mark.integration  # builds the functions jar: needs a JDK (javac), so not a unit test
def test_zip_layout(tmp_path, connector_jar):
    built = pkg.build_package(aws_config(), tmp_path / "app.zip", connector_jar, say=lambda _: None)
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
    # one jar: every entry of the connector, plus clickflow's functions; never the local connector
    import io

    with zipfile.ZipFile(io.BytesIO(jar_bytes)) as jar:
        inside = set(jar.namelist())
        assert "Created-By: the test" in jar.read("META-INF/MANIFEST.MF").decode()
    with zipfile.ZipFile(connector_jar) as original:
        assert set(original.namelist()) <= inside
    assert "io/clickflow/udf/CountDeadLetter.class" in inside
    assert not any(name.startswith("io/clickflow/kinesis/") for name in inside)
    with zipfile.ZipFile(UDFS.jar) as functions:
        classes = {n for n in functions.namelist() if n.endswith(".class")}
    assert classes <= inside
    assert manifest["connector"]["sha256"] == hashlib.sha256(connector_jar.read_bytes()).hexdigest()
    assert manifest["runtime"] == "FLINK-2_2"
    assert manifest["property_groups"] == built.property_groups


def test_property_groups_name_the_entry_point_and_read_back_as_the_same_config(tmp_path):
    config = aws_config(
        "analytics.bot_burst.threshold=7",
        "analytics.traffic_spike.stddevs=2.5",
        "streams.events.name=prod-clicks",
        "job.checkpoint_interval=2m",
        "bucket=prod-bucket",
        "flink.mini_batch=true",
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


@pytest.mark.integration  # builds the functions jar: needs a JDK (javac), so not a unit test
def test_the_zip_is_self_contained(tmp_path, connector_jar):
    """Run from the unpacked zip with site-packages off: the job's modules import and read their
    config from property groups with nothing but the zip (PyFlink, which MSF provides, loads later)."""
    built = pkg.build_package(aws_config(), tmp_path / "app.zip", connector_jar, say=lambda _: None)
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
    with pytest.raises(official.ConnectorJarError, match="clickflow's own local connector"):
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


# --------------------------------------------------------------------------- the download


class MavenRepository:
    """A loopback HTTP server holding one artifact and its .sha1, counting requests."""

    def __init__(self, artifact: official.Artifact, jar: Path):
        self.requests: list[str] = []
        files = {}
        base = "/" + artifact.url("").lstrip("/")
        files[base] = jar.read_bytes()
        files[base + ".sha1"] = (hashlib.sha1(files[base]).hexdigest() + "  " + artifact.file_name + "\n").encode()
        self.files = files
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                outer.requests.append(self.path)
                body = outer.files.get(self.path)
                self.send_response(200 if body is not None else 404)
                self.send_header("Content-Length", str(len(body or b"")))
                self.end_headers()
                self.wfile.write(body or b"")

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache" / "clickflow" / "maven"


def test_download_without_a_pinned_sha256_checks_centrals_sha1_and_caches(tmp_path, connector_jar, cache):
    artifact = dataclasses.replace(official.KINESIS_CONNECTOR, sha256=None)
    said = []
    with MavenRepository(artifact, connector_jar) as maven:
        got = official.fetch_connector(artifact, maven.url, said.append)
        again = official.fetch_connector(artifact, maven.url, said.append)
    assert got == again and got.is_relative_to(cache)
    assert got.read_bytes() == connector_jar.read_bytes()
    assert len(maven.requests) == 2  # the jar and its .sha1, once: the second call used the cache
    digest = hashlib.sha256(connector_jar.read_bytes()).hexdigest()
    assert any("no SHA-256 is pinned" in line and digest in line for line in said)


def test_download_is_checked_against_the_pinned_sha256(tmp_path, connector_jar, cache):
    good = hashlib.sha256(connector_jar.read_bytes()).hexdigest()
    pinned = dataclasses.replace(official.KINESIS_CONNECTOR, sha256=good)
    with MavenRepository(pinned, connector_jar) as maven:
        assert official.fetch_connector(pinned, maven.url, lambda _: None).read_bytes() == connector_jar.read_bytes()
        assert maven.requests == ["/" + pinned.url("").lstrip("/")]  # no .sha1 needed
    wrong = dataclasses.replace(official.KINESIS_CONNECTOR, version="6.0.0-2.0-other", sha256="0" * 64)
    with MavenRepository(wrong, connector_jar) as maven:
        with pytest.raises(official.ConnectorJarError, match="is not the pinned"):
            official.fetch_connector(wrong, maven.url, lambda _: None)
    assert not list(cache.rglob("*other*.jar"))  # nothing kept


def test_a_corrupt_download_is_refused(tmp_path, connector_jar, cache):
    artifact = dataclasses.replace(official.KINESIS_CONNECTOR, sha256=None)
    with MavenRepository(artifact, connector_jar) as maven:
        maven.files["/" + artifact.url("").lstrip("/") + ".sha1"] = b"0123456789abcdef0123456789abcdef01234567\n"
        with pytest.raises(official.ConnectorJarError, match="SHA-1 does not match"):
            official.fetch_connector(artifact, maven.url, lambda _: None)
    assert not list(cache.rglob("*.jar"))


def test_offline_without_a_jar_says_both_ways(tmp_path, cache):
    import socket

    with socket.socket() as probe:  # a port with nothing listening
        probe.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{probe.getsockname()[1]}"
    with pytest.raises(official.ConnectorJarError) as error:
        official.fetch_connector(official.KINESIS_CONNECTOR, dead, lambda _: None)
    message = str(error.value)
    assert "cannot download" in message and "--connector-jar PATH" in message and "--maven-url" in message
