"""Where a job runs is decided from the config alone (connectors/environment.py)."""

from __future__ import annotations

import pytest

from connectors import environment
from connectors.config import ConfigError, load_config


def test_embedded_cluster_and_managed_flink():
    local, on_cluster, compose = (
        load_config("local"),
        load_config("cluster"),
        load_config("compose", overrides=["job.connector=official"]),
    )
    assert environment.decide(local).kind == "embedded"
    assert environment.decide(on_cluster).kind == "cluster"
    assert environment.decide(local, on_msf=True).kind == "managed"
    # compose's cluster reaches AWS by service name: the job is planned with those endpoints
    seen = environment.decide(compose)
    assert seen.kind == "cluster" and seen.config.aws.endpoints["kinesis"] == "http://kinesis:4567"
    assert environment.decide(on_cluster).config.aws.endpoints == on_cluster.aws.endpoints  # no job.endpoints


def test_who_waits_for_the_job():
    embedded, cluster = environment.decide(load_config("local")), environment.decide(load_config("cluster"))
    assert embedded.waits_for(bounded=False) and embedded.waits_for(bounded=True)
    assert cluster.waits_for(bounded=True) and not cluster.waits_for(bounded=False)
    assert not environment.decide(load_config("aws"), on_msf=True).waits_for(bounded=False)


def test_the_interactive_tools_always_run_here_with_clickflow_s_connector():
    where = environment.decide(load_config("compose", overrides=["job.connector=official"]), embedded=True)
    assert where.kind == "embedded" and where.config.job.cluster == "" and where.config.job.connector == "clickflow"
    assert where.config.aws.endpoints["kinesis"] == "http://127.0.0.1:4567"  # as seen from here


def test_bounded_reads_need_clickflow_s_connector():
    assert environment.bounded_option(load_config("local")) == {"source.bounded": "latest"}
    with pytest.raises(ConfigError, match="--bounded needs clickflow's Kinesis connector"):
        environment.bounded_option(load_config("compose", overrides=["job.connector=official"]))
    assert environment.cluster_settings(load_config("cluster")) == {
        "execution.target": "remote",
        "rest.address": "127.0.0.1",
        "rest.port": "8082",
    }


def test_the_sdk_speaks_json_to_a_local_kinesis_and_its_default_to_aws():
    """kinesalite's CBOR answers cannot be read by the AWS SDK v2: CBOR is off wherever the Kinesis
    endpoint is overridden (embedded, the local cluster, compose), the SDK's default on AWS."""
    assert environment.sdk_system_properties(load_config("local")) == {"aws.cborEnabled": "false"}
    compose = load_config("compose")
    assert environment.sdk_system_properties(environment.as_seen_by_cluster(compose)) == {"aws.cborEnabled": "false"}
    assert environment.sdk_system_properties(load_config("aws")) == {"aws.cborEnabled": "true"}
    assert environment.java_options(load_config("cluster")) == "-Daws.cborEnabled=false"
