"""clickflow's SigV4 signer must produce exactly botocore's signature for the same request."""

from datetime import UTC, datetime

import botocore.auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from producer.kinesis_wire import SigV4

NOW = datetime(2026, 11, 22, 10, 30, 5, tzinfo=UTC)


def botocore_headers(creds, body, monkeypatch):
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: NOW.replace(tzinfo=None))
    request = AWSRequest(
        method="POST",
        url="https://kinesis.eu-west-1.amazonaws.com/",
        data=body,
        headers={
            "Content-Type": "application/x-amz-json-1.1",
            "X-Amz-Target": "Kinesis_20131202.PutRecords",
            "Host": "kinesis.eu-west-1.amazonaws.com",
        },
    )
    botocore.auth.SigV4Auth(creds, "kinesis", "eu-west-1").add_auth(request)
    return request.headers


def test_matches_botocore(monkeypatch):
    creds = Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
    body = b'{"StreamName":"s","Records":[{"Data":"eyJhIjoxfQ==","PartitionKey":"1"}]}'
    ours = SigV4("eu-west-1", "kinesis", lambda: creds).headers(
        "kinesis.eu-west-1.amazonaws.com", "Kinesis_20131202.PutRecords", body, now=NOW
    )
    theirs = botocore_headers(creds, body, monkeypatch)
    assert ours["authorization"] == theirs["Authorization"]
    assert ours["x-amz-date"] == theirs["X-Amz-Date"] == "20261122T103005Z"


def test_session_token_is_signed(monkeypatch):
    creds = Credentials("AKIDEXAMPLE", "secret", token="session-token")
    body = b"{}"
    ours = SigV4("eu-west-1", "kinesis", lambda: creds).headers(
        "kinesis.eu-west-1.amazonaws.com", "Kinesis_20131202.PutRecords", body, now=NOW
    )
    theirs = botocore_headers(creds, body, monkeypatch)
    assert ours["x-amz-security-token"] == "session-token"
    assert ours["authorization"] == theirs["Authorization"]
