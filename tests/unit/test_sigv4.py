"""clickflow's SigV4 signer must produce exactly botocore's signature for the same request."""

from datetime import UTC, datetime

from botocore.credentials import Credentials

from producer.kinesis_wire import SigV4
from tests.fixtures import botocore_authorization

NOW = datetime(2026, 11, 22, 10, 30, 5, tzinfo=UTC)
HOST = "kinesis.eu-west-1.amazonaws.com"
TARGET = "Kinesis_20131202.PutRecords"


def test_matches_botocore(monkeypatch):
    creds = Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
    body = b'{"StreamName":"s","Records":[{"Data":"eyJhIjoxfQ==","PartitionKey":"1"}]}'
    ours = SigV4("eu-west-1", "kinesis", lambda: creds).headers(HOST, TARGET, body, now=NOW)
    theirs = botocore_authorization(creds, HOST, TARGET, body, NOW, monkeypatch)
    assert ours["authorization"] == theirs["Authorization"]
    assert ours["x-amz-date"] == theirs["X-Amz-Date"] == "20261122T103005Z"


def test_session_token_is_signed(monkeypatch):
    creds = Credentials("AKIDEXAMPLE", "secret", token="session-token")
    ours = SigV4("eu-west-1", "kinesis", lambda: creds).headers(HOST, TARGET, b"{}", now=NOW)
    theirs = botocore_authorization(creds, HOST, TARGET, b"{}", NOW, monkeypatch)
    assert ours["x-amz-security-token"] == "session-token"
    assert ours["authorization"] == theirs["Authorization"]
