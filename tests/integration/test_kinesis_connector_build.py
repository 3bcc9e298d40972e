"""The local Kinesis connector's build step and its request signing (JDK only, no Flink job)."""

import shutil
import subprocess
from datetime import UTC, datetime

import pytest
from botocore.credentials import Credentials

from connectors import kinesis_connector
from tests.fixtures import botocore_authorization

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 22, 10, 30, 5, tzinfo=UTC)
HOST = "kinesis.eu-west-1.amazonaws.com"
TARGET = "Kinesis_20131202.PutRecords"
BODY = '{"StreamName":"s","Records":[{"Data":"eyJhIjoxfQ==","PartitionKey":"1"}]}'


def reference(creds: Credentials, monkeypatch) -> str:
    return botocore_authorization(creds, HOST, TARGET, BODY.encode(), NOW, monkeypatch)["Authorization"]


def java_authorization(jar, *credential_args) -> str:
    result = subprocess.run(
        [
            shutil.which("java"),
            "-cp",
            str(jar),
            "io.clickflow.kinesis.SigV4",
            "eu-west-1",
            HOST,
            TARGET,
            BODY,
            *credential_args,
            str(int(NOW.timestamp())),
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return result.stdout.strip()


@pytest.fixture(scope="module")
def jar():
    return kinesis_connector.build()


def test_java_signature_matches_botocore(jar, monkeypatch):
    assert java_authorization(jar, "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY") == reference(
        Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"), monkeypatch
    )


def test_java_signature_with_session_token(jar, monkeypatch):
    assert java_authorization(jar, "AKIDEXAMPLE", "secret", "session-token") == reference(
        Credentials("AKIDEXAMPLE", "secret", token="session-token"), monkeypatch
    )


def test_build_is_cached_and_follows_sources(jar, tmp_path, monkeypatch):
    built = jar.stat().st_mtime_ns
    assert kinesis_connector.build() == jar and jar.stat().st_mtime_ns == built  # nothing changed: no rebuild
    sources = tmp_path / "java"
    shutil.copytree(kinesis_connector.CONNECTOR.sources, sources)
    copy = kinesis_connector.Target(sources, kinesis_connector.CONNECTOR.resources, tmp_path / "build" / "c.jar")
    monkeypatch.setattr(kinesis_connector, "CONNECTOR", copy)
    first = kinesis_connector.build()
    assert first == copy.jar
    stamp = first.with_suffix(".sha256").read_text()
    (sources / "io" / "clickflow" / "kinesis" / "Extra.java").write_text(
        "package io.clickflow.kinesis;\nfinal class Extra {}\n"
    )
    kinesis_connector.build()
    assert first.with_suffix(".sha256").read_text() != stamp
    broken = sources / "io" / "clickflow" / "kinesis" / "Broken.java"
    broken.write_text("package io.clickflow.kinesis;\nfinal class Broken { int x = ; }\n")
    with pytest.raises(kinesis_connector.ConnectorBuildError, match="javac failed"):
        kinesis_connector.build()
