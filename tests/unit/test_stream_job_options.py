"""The streaming job's wiring that needs no JVM: where it reads its config on Managed Flink, that it
does not wait there, and how start positions and outputs are rendered."""

import json

import pytest

from connectors import tables
from connectors.config import ConfigError, load_config
from jobs import stream


class FakeResult:
    def __init__(self):
        self.waited = False

    def wait(self):
        self.waited = True


def test_on_managed_flink_it_reads_application_properties_and_does_not_wait(tmp_path, monkeypatch):
    properties = tmp_path / "application_properties.json"
    properties.write_text(
        json.dumps(
            [
                {"PropertyGroupId": "kinesis.analytics.flink.run.options", "PropertyMap": {"python": "jobs/stream.py"}},
                {"PropertyGroupId": "aws", "PropertyMap": {"region": "eu-west-1", "account_id": "'123456789012'"}},
                {"PropertyGroupId": "streams.events", "PropertyMap": {"name": "prod-clicks"}},
            ]
        )
    )
    started = []
    result = FakeResult()

    def fake_start(config, options, on_msf=False):
        assert on_msf  # the jars come in the package there: nothing is compiled
        started.append((config, options))
        return result

    monkeypatch.setattr(stream, "MSF_PROPERTIES", properties)
    monkeypatch.setattr(stream, "start", fake_start)
    assert stream.main([]) == 0
    ((config, options),) = started
    assert config.profile == "aws" and config.aws.region == "eu-west-1"
    assert config.stream("events").name == "prod-clicks"
    assert options == stream.RunOptions()  # the profile's start position (latest), unbounded
    assert not result.waited


def test_locally_it_waits(monkeypatch, tmp_path):
    result = FakeResult()
    monkeypatch.setattr(stream, "MSF_PROPERTIES", tmp_path / "absent.json")
    monkeypatch.setattr(stream, "start", lambda config, options, on_msf=False: result)
    assert stream.main(["--bounded"]) == 0
    assert result.waited


def test_start_positions():
    local = load_config("local")
    assert stream.source_options(local, stream.RunOptions())["source.init.position"] == "TRIM_HORIZON"
    assert load_config("aws").job.start_position == "latest"
    at = stream.source_options(local, stream.RunOptions(start="2019-10-01T00:00:00Z"))
    assert at["source.init.position"] == "AT_TIMESTAMP"
    assert at["source.init.timestamp"] == "2019-10-01T00:00:00.000+00:00"
    assert stream.source_options(local, stream.RunOptions(bounded=True))["source.bounded"] == "latest"
    pages = {bounded: stream.source_options(local, stream.RunOptions(bounded=bounded)) for bounded in (False, True)}
    assert pages[False]["source.shard.get-records.max-record-count"] == "1000"  # live: shards interleaved finely
    assert pages[True]["source.shard.get-records.max-record-count"] == "10000"  # bounded: GetRecords' largest
    with pytest.raises(ConfigError, match="--from 'yesterday'"):
        stream.source_options(local, stream.RunOptions(start="yesterday"))


def test_bounded_needs_the_local_connector():
    with pytest.raises(ConfigError, match="--bounded needs clickflow's Kinesis connector"):
        stream.source_options(
            load_config("compose", overrides=["job.connector=official"]), stream.RunOptions(bounded=True)
        )


def test_output_streams_default_to_dashed_names_and_may_be_shared():
    config = load_config("local", overrides=["streams.anomalies.name=alerts", "streams.dead_letters.name=alerts"])
    assert config.output_stream("anomalies").name == config.output_stream("dead_letters").name == "alerts"
    bare = load_config("aws")
    assert bare.output_stream("top_categories").name == "clickflow-top-categories"


def test_archive_paths_and_rolling():
    config = load_config("aws")
    options = tables.archive_options(config, "anomalies")
    assert options["path"] == "s3://clickflow-data/archive/anomalies"
    assert options["sink.rolling-policy.file-size"] == "128mb"
    local = tables.archive_options(load_config("local"), "events")
    assert local["path"].startswith("file:///") and local["path"].endswith("/.clickflow/archive/events")


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["run", "--from", "latest"], "clickflow run --restore file:/s/savepoint-1"),
        (["run", "--restore=latest", "--bounded"], "clickflow run --bounded --restore file:/s/savepoint-1"),
        (
            ["run", "--set", "job.archive=/tmp/my archive", "--restore", "file:/old"],
            "clickflow run --set 'job.archive=/tmp/my archive' --restore file:/s/savepoint-1",
        ),
    ],
)
def test_the_resume_command_keeps_every_option_but_where_to_start(argv, expected):
    from clickflow.commands.jobs import resume_command

    assert resume_command(argv, "file:/s/savepoint-1") == expected


def test_a_continuation_drops_flags_and_valued_options_in_both_spellings():
    from clickflow.commands.common import command_without

    argv = ["alerts", "run", "--reset", "--from=latest", "--profile", "dev", "--from", "trim_horizon"]
    assert command_without(argv, ("--from",), ("--reset",)) == "clickflow alerts run --profile dev"


def test_the_property_groups_file_can_be_named_by_the_environment(monkeypatch, tmp_path):
    from connectors.config import MSF_PROPERTIES_FILE, PROPERTIES_OVERRIDE_ENV, msf_properties_file

    monkeypatch.delenv(PROPERTIES_OVERRIDE_ENV, raising=False)
    assert msf_properties_file() == MSF_PROPERTIES_FILE  # where Managed Flink writes them
    monkeypatch.setenv(PROPERTIES_OVERRIDE_ENV, str(tmp_path / "groups.json"))  # a rehearsal's copy
    assert msf_properties_file() == tmp_path / "groups.json"


def test_the_pace_at_the_tip_is_the_profiles():
    local = load_config("local")
    assert stream.source_options(local, stream.RunOptions())["source.reader.empty-records-fetch-interval"] == "100 ms"
    polling_aws = load_config("aws", overrides=["aws.account_id='123456789012'", "job.reader=polling"])
    assert stream.source_options(polling_aws, stream.RunOptions())["source.reader.empty-records-fetch-interval"] == (
        "250 ms"
    )
    faster = load_config("local", overrides=["job.output_flush=35ms", "job.poll_interval=1s"])
    assert tables.output_options(faster) == {"sink.flush-buffer.timeout": "35"}
    assert stream.source_options(faster, stream.RunOptions())["source.reader.empty-records-fetch-interval"] == "1000 ms"


def test_the_aws_profile_reads_by_enhanced_fan_out_and_each_job_has_a_consumer_of_its_own():
    aws = load_config("aws", overrides=["aws.account_id='123456789012'"])
    options = stream.source_options(aws, stream.RunOptions())
    assert options["source.reader.type"] == "EFO"
    assert options["source.efo.consumer.name"] == "clickflow-job"
    assert options["source.efo.lifecycle"] == "JOB_MANAGED"
    assert "source.reader.empty-records-fetch-interval" not in options  # polling's pace: not an EFO option
    # the ETL and migrated jobs on the same stream never share (and deregister) the job's consumer
    assert tables.polling_options(aws, "etl-browse sessions")["source.efo.consumer.name"] == (
        "clickflow-job-etl-browse-sessions"
    )
    local = load_config("local")
    assert "source.reader.type" not in stream.source_options(local, stream.RunOptions())  # polling
    assert local.stack.kinesis_server == "kinesalite"


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("job.reader=fanout", r"job\.reader.*expected 'polling' or 'efo', got 'fanout'"),
        ("job.efo_consumer=my consumer", r"job\.efo_consumer.*letters, digits"),
    ],
)
def test_a_bad_reader_setting_is_refused_naming_it(override, message):
    with pytest.raises(ConfigError, match=message):
        load_config("local", overrides=[override])


def test_restore_latest_takes_the_newest_of_the_retained_checkpoints_and_the_savepoints(tmp_path):
    """A job stopped with a savepoint ends FINISHED and Flink discards its checkpoints: `--restore latest` then
    resumes from that savepoint; a crashed job's newer checkpoint wins over an older savepoint."""
    import dataclasses
    import os

    config = load_config("local")
    config = dataclasses.replace(config, job=dataclasses.replace(config.job, checkpoint_dir=str(tmp_path / "ck")))
    with pytest.raises(ConfigError, match=r"no retained checkpoint under .*/ck and no savepoint under .*/savepoints"):
        stream.restore_latest(config)

    def state(path, at):
        path.mkdir(parents=True)
        (path / "_metadata").write_bytes(b"x")
        os.utime(path / "_metadata", (at, at))
        return path.as_uri()

    checkpoint = state(tmp_path / "ck" / "f00d" / "chk-3", 1_000)
    assert stream.restore_latest(config) == checkpoint
    savepoint = state(tmp_path / "savepoints" / "savepoint-f00d-1", 2_000)
    assert stream.restore_latest(config) == savepoint
    newer = state(tmp_path / "ck" / "beef" / "chk-1", 3_000)
    assert stream.restore_latest(config) == newer
    (tmp_path / "ck" / "elsewhere").mkdir()  # a directory without _metadata is no state
    assert stream.restore_latest(config) == newer


class FakeTableConfig(dict):
    def set(self, key, value):
        self[key] = value


class FakeTableEnv:
    def __init__(self):
        self.conf = FakeTableConfig()

    def get_config(self):
        return self.conf


@pytest.mark.parametrize("on_msf", [False, True])
def test_the_waits_between_a_window_closing_and_its_rows_are_set_from_the_config(on_msf):
    """The parts of an anomaly's latency that are configuration (docs/benchmarks.md, Latency), on every job
    and on Managed Flink too; the defaults, then overridden."""
    env = FakeTableEnv()
    stream.configure(env, load_config("local"), stream.RunOptions(), on_msf=on_msf)
    assert env.conf["pipeline.auto-watermark-interval"] == "20 ms"
    assert env.conf["execution.buffer-timeout.interval"] == "10 ms"
    assert ("execution.checkpointing.interval" in env.conf) is not on_msf  # Managed Flink's own
    env = FakeTableEnv()
    slower = load_config("local", overrides=["flink.buffer_timeout=100ms", "flink.watermark_interval=200ms"])
    stream.configure(env, slower, stream.RunOptions(), on_msf=on_msf)
    assert env.conf["execution.buffer-timeout.interval"] == "100 ms"
    assert env.conf["pipeline.auto-watermark-interval"] == "200 ms"


def test_a_bounded_run_waits_longer_between_watermarks_and_buffers_unless_set():
    """No one waits on a bounded run's windows one by one: unset, it takes Flink's own intervals, which cost
    less CPU (docs/benchmarks.md); what a profile or --set gives applies to both kinds of run."""
    bounded = stream.RunOptions(bounded=True)
    env = FakeTableEnv()
    stream.configure(env, load_config("local"), bounded)
    assert env.conf["pipeline.auto-watermark-interval"] == "200 ms"
    assert env.conf["execution.buffer-timeout.interval"] == "100 ms"
    env = FakeTableEnv()
    chosen = load_config("local", overrides=["flink.buffer_timeout=5ms", "flink.watermark_interval=50ms"])
    stream.configure(env, chosen, bounded)
    assert env.conf["pipeline.auto-watermark-interval"] == "50 ms"
    assert env.conf["execution.buffer-timeout.interval"] == "5 ms"
