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


def test_a_role_is_assumed_with_the_profiles_credentials_through_its_sts_endpoint(monkeypatch):
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    role = "arn:aws:iam::123456789012:role/clickflow-job"
    on_aws = load_config(
        "aws", overrides=["aws.account_id=123456789012", f"aws.role_arn={role}", "aws.role_external_id=ext-1"]
    )
    options = kinesis_options(on_aws, "clicks")
    assert options["aws.credentials.provider"] == "ASSUME_ROLE"
    assert options["aws.credentials.role.arn"] == role
    assert options["aws.credentials.role.sessionName"] == "clickflow"
    assert options["aws.credentials.role.externalId"] == "ext-1"
    assert options["aws.credentials.role.provider"] == "AUTO"  # the chain's credentials call STS
    assert "aws.credentials.role.stsEndpoint" not in options  # AWS's own STS
    local = load_config("local", overrides=[f"aws.role_arn={role}"])
    options = kinesis_options(local, "clicks")
    assert options["aws.credentials.role.stsEndpoint"] == "http://127.0.0.1:4566"  # moto's, the default endpoint
    assert options["aws.credentials.role.provider"] == "BASIC"
    assert options["aws.credentials.role.basic.accesskeyid"] == "clickflow-local"
    assert not any(k.startswith("aws.credentials.basic.") for k in options)  # the keys only ever call STS


def test_the_sdks_retries_come_from_the_profile():
    options = kinesis_options(load_config("local", overrides=["aws.retry_attempts=3", "aws.retry_delay_max=2s"]), "s")
    assert options["retry-strategy.attempts.max"] == "3"
    assert options["retry-strategy.delay.min"] == "300 ms"
    assert options["retry-strategy.delay.max"] == "2000 ms"


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("aws.role_arn=reader", r"aws\.role_arn.*arn:aws:iam::ACCOUNT:role/NAME"),
        ("aws.retry_attempts=0", r"aws\.retry_attempts.*at least 1"),
        ("aws.retry_delay_min=5s", r"retry_delay_min <= retry_delay_max"),
    ],
)
def test_bad_role_or_retry_settings_name_the_key(override, message):
    with pytest.raises(ConfigError, match=message):
        load_config("local", overrides=[override])
