"""A table's Kinesis options per profile (no JVM)."""

import pytest

from connectors.config import ConfigError, load_config
from connectors.tables import kinesis_options, stream_arn


def test_local_profile_uses_the_loopback_endpoint_and_the_stacks_dummy_keys():
    config = load_config("local")
    options = kinesis_options(config, "clickflow-events", {"source.init.position": "TRIM_HORIZON"})
    assert options["connector"] == "kinesis"
    assert options["stream.arn"] == "arn:aws:kinesis:us-east-1:000000000000:stream/clickflow-events"
    assert options["aws.region"] == "us-east-1"
    assert options["aws.endpoint"] == "http://127.0.0.1:4567"
    assert options["aws.credentials.provider"] == "BASIC"
    assert options["source.init.position"] == "TRIM_HORIZON"
    assert options["format"] == "json"


def test_aws_profile_takes_credentials_from_the_chain_and_names_no_endpoint(monkeypatch):
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL_KINESIS", raising=False)
    config = load_config("aws", overrides=["aws.region=eu-west-1", "aws.account_id=123456789012"])
    options = kinesis_options(config, "clicks")
    assert options["aws.credentials.provider"] == "AUTO"
    assert "aws.endpoint" not in options
    assert not any(key.startswith("aws.credentials.basic") for key in options)
    assert options["stream.arn"] == "arn:aws:kinesis:eu-west-1:123456789012:stream/clicks"


def test_china_regions_use_their_own_partition():
    config = load_config("aws", overrides=["aws.region=cn-north-1", "aws.account_id=123456789012"])
    assert stream_arn(config, "s").startswith("arn:aws-cn:kinesis:cn-north-1:")


def test_account_id_must_be_twelve_digits():
    with pytest.raises(ConfigError, match=r"aws\.account_id.*12 digits"):
        load_config("aws", overrides=["aws.account_id=1234"])
