"""Retry exactly the failed entries, driven through a real boto3 client with botocore's Stubber."""

import boto3
import pytest
from botocore.stub import Stubber

from producer.batching import Entry
from producer.delivery import FatalKinesisError, RetryPolicy, deliver
from producer.kinesis_wire import Boto3Kinesis

POLICY = RetryPolicy(max_retries=3, base=0.01, cap=0.05)


@pytest.fixture
def kinesis():
    client = boto3.client("kinesis", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y")
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def entries(n):
    return [Entry(f'{{"n":{i}}}'.encode(), f"key-{i % 3}", i + 2) for i in range(n)]


def expected(batch):
    return {"StreamName": "s", "Records": [{"Data": e.data, "PartitionKey": e.partition_key} for e in batch]}


def ok(seq):
    return {"SequenceNumber": str(seq), "ShardId": "shardId-000000000000"}


def failed(code="ProvisionedThroughputExceededException"):
    return {"ErrorCode": code, "ErrorMessage": "slow down"}


def test_only_failed_entries_are_retried(kinesis):
    client, stubber = kinesis
    batch = entries(5)
    stubber.add_response(
        "put_records",
        {"FailedRecordCount": 2, "Records": [ok(1), failed(), ok(2), failed("InternalFailure"), ok(3)]},
        expected(batch),
    )
    stubber.add_response(
        "put_records", {"FailedRecordCount": 1, "Records": [ok(4), failed()]}, expected([batch[1], batch[3]])
    )
    stubber.add_response("put_records", {"Records": [ok(5)]}, expected([batch[3]]))
    sleeps = []
    result = deliver(Boto3Kinesis(client), "s", batch, POLICY, sleep=sleeps.append)
    assert (result.sent, result.retried, result.undelivered) == (5, 3, [])
    assert result.throttled == 2
    assert len(sleeps) == 2 and all(0 < s <= POLICY.cap for s in sleeps)


def test_gives_up_after_the_limit_and_says_which(kinesis):
    client, stubber = kinesis
    batch = entries(2)
    stubber.add_response("put_records", {"FailedRecordCount": 1, "Records": [ok(1), failed()]}, expected(batch))
    for _ in range(POLICY.max_retries):
        stubber.add_response("put_records", {"FailedRecordCount": 1, "Records": [failed()]}, expected([batch[1]]))
    result = deliver(Boto3Kinesis(client), "s", batch, POLICY, sleep=lambda _: None)
    assert result.sent == 1
    assert [(e.line, reason.split(":")[0]) for e, reason in result.undelivered] == [
        (3, "ProvisionedThroughputExceededException")
    ]


def test_whole_call_throttle_resends_the_batch(kinesis):
    client, stubber = kinesis
    batch = entries(3)
    stubber.add_client_error("put_records", "LimitExceededException", "too many", 400, expected_params=expected(batch))
    stubber.add_response("put_records", {"Records": [ok(1), ok(2), ok(3)]}, expected(batch))
    result = deliver(Boto3Kinesis(client), "s", batch, POLICY, sleep=lambda _: None)
    assert (result.sent, result.retried, result.throttled) == (3, 3, 3)


def test_missing_stream_is_fatal(kinesis):
    client, stubber = kinesis
    stubber.add_client_error("put_records", "ResourceNotFoundException", "Stream s not found", 400)
    with pytest.raises(FatalKinesisError, match="ResourceNotFoundException"):
        deliver(Boto3Kinesis(client), "s", entries(1), POLICY, sleep=lambda _: None)


def test_server_error_is_retried(kinesis):
    client, stubber = kinesis
    batch = entries(1)
    stubber.add_client_error("put_records", "InternalFailure", "oops", 500, expected_params=expected(batch))
    stubber.add_response("put_records", {"Records": [ok(1)]}, expected(batch))
    assert deliver(Boto3Kinesis(client), "s", batch, POLICY, sleep=lambda _: None).sent == 1
