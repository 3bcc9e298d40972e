import json

import pytest

from connectors import aws
from connectors.config import ConfigError, Duration, load_config


def test_local_profile_defaults():
    config = load_config("local")
    assert config.profile == "local"
    assert config.stream("events").name == "clickflow-events"
    assert config.stream("events").shards == 4
    assert config.bucket == "clickflow-data"
    assert config.aws.endpoints == {"kinesis": "http://127.0.0.1:4567", "default": "http://127.0.0.1:4566"}
    assert config.producer.linger == pytest.approx(0.2)


def test_every_profile_loads():
    for name in ("local", "compose", "aws"):
        assert load_config(name).profile == name
    assert load_config("aws").aws.credentials == "chain"


def test_config_is_frozen():
    config = load_config("local")
    with pytest.raises(AttributeError):
        config.bucket = "other"  # type: ignore[misc]


def test_set_overrides_are_typed():
    config = load_config("local", overrides=["producer.in_flight=8", "producer.linger=50ms", "bucket=my-bucket"])
    assert config.producer.in_flight == 8
    assert config.producer.linger == pytest.approx(0.05)
    assert config.bucket == "my-bucket"


def test_unknown_key_names_file_and_key(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text("producer:\n  in_flihgt: 3\n")
    with pytest.raises(ConfigError) as err:
        load_config("local", config_file=path)
    message = str(err.value)
    assert str(path) in message and "producer.in_flihgt" in message and "unknown key" in message


def test_wrong_type_names_the_set_option():
    with pytest.raises(ConfigError, match=r"--set producer.in_flight=four: producer.in_flight: expected an integer"):
        load_config("local", overrides=["producer.in_flight=four"])


def test_bad_duration_names_key():
    with pytest.raises(ConfigError, match=r"producer.linger: bad duration '5 parsecs'"):
        load_config("local", overrides=["producer.linger=5 parsecs"])
    with pytest.raises(ConfigError, match="give a unit"):
        load_config("local", overrides=["producer.linger=5"])


def test_config_file_can_choose_its_profile(tmp_path):
    path = tmp_path / "prod.yaml"
    path.write_text("profile: aws\naws:\n  region: eu-west-1\n")
    config = load_config("local", config_file=path)
    assert config.profile == "aws" and config.aws.region == "eu-west-1" and config.aws.credentials == "chain"


def test_unknown_profile():
    with pytest.raises(ConfigError, match="unknown profile 'prod'"):
        load_config("prod")


def test_invalid_yaml_points_at_line(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("producer:\n  in_flight: [1,\n")
    with pytest.raises(ConfigError, match=r"broken.yaml:\d+: not valid YAML"):
        load_config("local", config_file=path)


def test_dummy_credentials_only_on_loopback():
    with pytest.raises(
        ConfigError, match=r"aws.endpoints.kinesis: https://kinesis.us-east-1.amazonaws.com is not on loopback"
    ):
        load_config("local", overrides=["aws.endpoints.kinesis=https://kinesis.us-east-1.amazonaws.com"])


def test_invalid_names_rejected():
    with pytest.raises(ConfigError, match="streams.events.name: not a valid Kinesis stream name"):
        load_config("local", overrides=["streams.events.name=has space"])
    with pytest.raises(ConfigError, match="bucket: not a valid S3 bucket name"):
        load_config("local", overrides=["bucket=Upper_Case"])
    with pytest.raises(ConfigError, match=r"producer.batch_records: must be 1..500"):
        load_config("local", overrides=["producer.batch_records=501"])


def test_msf_property_groups(tmp_path):
    path = tmp_path / "application_properties.json"
    path.write_text(
        json.dumps(
            [
                {"PropertyGroupId": "kinesis.analytics.flink.run.options", "PropertyMap": {"python": "main.py"}},
                {"PropertyGroupId": "aws", "PropertyMap": {"region": "eu-central-1"}},
                {"PropertyGroupId": "streams.events", "PropertyMap": {"name": "prod-events", "shards": "8"}},
                {"PropertyGroupId": "producer", "PropertyMap": {"in_flight": "6", "linger": "1s"}},
            ]
        )
    )
    config = load_config("aws", properties_file=path)
    assert config.aws.region == "eu-central-1"
    assert config.stream("events").name == "prod-events" and config.stream("events").shards == 8
    assert config.producer.in_flight == 6 and config.producer.linger == 1.0


def test_msf_bad_value_names_group(tmp_path):
    path = tmp_path / "application_properties.json"
    path.write_text(json.dumps([{"PropertyGroupId": "producer", "PropertyMap": {"in_flight": "lots"}}]))
    with pytest.raises(ConfigError, match=r"group 'producer': producer.in_flight: expected an integer"):
        load_config("aws", properties_file=path)


def test_endpoint_precedence(monkeypatch):
    config = load_config("local")
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_KINESIS", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(name, raising=False)
    assert aws.endpoint_for(config, "kinesis") == "http://127.0.0.1:4567"
    assert aws.endpoint_for(config, "s3") == "http://127.0.0.1:4566"  # "default" serves the rest
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9000")
    assert aws.endpoint_for(config, "s3") == "http://127.0.0.1:9000"
    monkeypatch.setenv("AWS_ENDPOINT_URL_KINESIS", "http://127.0.0.1:9001")
    assert aws.endpoint_for(config, "kinesis") == "http://127.0.0.1:9001"
    assert aws.endpoint_for(load_config("aws"), "sts") == "http://127.0.0.1:9000"


def test_local_client_refuses_non_loopback_env_endpoint(monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL_KINESIS", "https://kinesis.eu-west-1.amazonaws.com")
    with pytest.raises(ConfigError, match="which is not local"):
        aws.client(load_config("local"), "kinesis")


def test_duration_parse_and_show():
    assert Duration.parse("10s") == 10 and Duration.parse("1m") == 60 and Duration.parse("1d") == 86400
    assert Duration.parse("250ms") == pytest.approx(0.25)
    assert str(Duration.parse("1h")) == "1h" and str(Duration.parse("90s")) == "90s"
    with pytest.raises(ValueError):
        Duration.parse("10 minutes")


def test_dummy_keys_go_to_loopback_or_a_compose_service_only():
    from connectors.config import is_local_url

    assert is_local_url("http://127.0.0.1:4567") and is_local_url("http://kinesis:4567")
    assert not is_local_url("https://kinesis.us-east-1.amazonaws.com")
    assert not is_local_url("http://evil.example:4567")
    with pytest.raises(ConfigError, match="job.cluster: expected host:port"):
        load_config("compose", overrides=["job.cluster=http://127.0.0.1:8081"])


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("alerts.min_severity=loud", r"alerts\.min_severity: expected one of info, warning, critical, got 'loud'"),
        ("alerts.severity.bot_burst.critical=1", r"alerts\.severity\.bot_burst: expected 0 <= warning <= critical"),
        ("alerts.rate_limit.max_per_entity=0", r"alerts\.rate_limit\.max_per_entity: must be at least 1"),
        ("alerts.batch_size=20000", r"alerts\.batch_size: must be 1\.\.10000"),
        ("alerts.starting_position=now", r"alerts\.starting_position: expected trim_horizon or latest"),
        ("alerts.topic=my topic", r"alerts\.topic: expected 1-64 letters"),
        ("alerts.severity.fraud.warning=1", r"alerts\.severity\.fraud: unknown key"),
    ],
)
def test_alert_settings_are_checked_at_load_time(override, message):
    with pytest.raises(ConfigError, match=message):
        load_config("local", overrides=[override])


def test_one_alert_threshold_can_be_set_alone():
    config = load_config("aws", overrides=["alerts.severity.traffic_spike.warning=4"])
    assert (config.alerts.severity.traffic_spike.warning, config.alerts.severity.traffic_spike.critical) == (4.0, 6.0)
    assert config.alerts.severity.bot_burst.warning == 1.5


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("job.checkpoint_timeout=500ms", r"job\.checkpoint_timeout: must be at least 1s, got 500ms"),
        ("job.tolerable_failed_checkpoints=-1", r"job\.tolerable_failed_checkpoints: must be 0 or more, got -1"),
    ],
)
def test_checkpoint_settings_are_checked_at_load_time(override, message):
    with pytest.raises(ConfigError, match=message):
        load_config("local", overrides=[override])


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("analytics.rcf_traffic.trees=0", r"analytics\.rcf_traffic\.trees: must be 1\.\.1000 \(KDA's numberOfTrees\)"),
        ("analytics.rcf_traffic.sample_size=5", r"analytics\.rcf_traffic\.sample_size: must be 10\.\.1000"),
        ("analytics.rcf_traffic.time_decay=64", r"analytics\.rcf_traffic\.time_decay: must be more than sample_size"),
        ("analytics.rcf_traffic.threshold=0", r"analytics\.rcf_traffic\.threshold: must be more than 0"),
        ("analytics.rcf_traffic.min_baseline_windows=40", r"min_baseline_windows: must be 1\.\.baseline_windows"),
        ("analytics.rcf_traffic.window=0s", r"analytics\.rcf_traffic\.window: must be more than 0"),
        ("alerts.severity.rcf_traffic.critical=1", r"alerts\.severity\.rcf_traffic: expected 0 <= warning <= critical"),
    ],
)
def test_rcf_traffic_settings_are_checked_at_load_time(override, message):
    with pytest.raises(ConfigError, match=message):
        load_config("local", overrides=[override])


def test_clickflow_set_in_the_environment_applies_under_the_command_lines_set(monkeypatch):
    monkeypatch.setenv("CLICKFLOW_SET", "producer.in_flight=7 'stack.state_dir=/tmp/a b' producer.linger=1s")
    config = load_config("local", overrides=["producer.linger=50ms"])
    assert config.producer.in_flight == 7
    assert config.stack.state_dir == "/tmp/a b"
    assert config.producer.linger == Duration(0.05)  # the command line's --set wins


def test_clickflow_set_scoped_to_a_profile_applies_to_that_profile_only(monkeypatch):
    monkeypatch.setenv("CLICKFLOW_SET", "local:job.archive=/tmp/walk/archive job.rest_port=9999")
    assert load_config("local").job.archive == "/tmp/walk/archive"
    cluster = load_config("cluster")
    assert cluster.job.archive == "s3://clickflow-data/archive"
    assert cluster.job.rest_port == 9999


def test_a_bad_clickflow_set_value_names_the_variable(monkeypatch):
    monkeypatch.setenv("CLICKFLOW_SET", "producer.in_flight=four")
    with pytest.raises(ConfigError, match=r"\$CLICKFLOW_SET: producer.in_flight=four: producer.in_flight: expected an"):
        load_config("local")
    monkeypatch.setenv("CLICKFLOW_SET", "producer.in_flight")
    with pytest.raises(ConfigError, match=r"\$CLICKFLOW_SET: producer.in_flight: expected KEY.PATH=VALUE"):
        load_config("local")
    monkeypatch.setenv("CLICKFLOW_SET", "'unclosed")
    with pytest.raises(ConfigError, match=r"\$CLICKFLOW_SET: No closing quotation"):
        load_config("local")
