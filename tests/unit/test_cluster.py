"""The local cluster's rendered config, addresses and pins, without starting anything."""

from __future__ import annotations

import re
import sys

import pytest

from connectors import cluster, environment, official
from connectors.config import load_config


def test_every_server_of_the_cluster_binds_loopback_and_uses_the_profile():
    config = load_config("cluster", overrides=["job.cluster=127.0.0.1:18082", "cluster.rpc_port=16123"])
    conf = cluster.render_conf(config)
    addresses = {k: v for k, v in conf.items() if re.search(r"(address|bind-host|\.host)$", k)}
    assert set(addresses) >= {
        "jobmanager.rpc.address",
        "jobmanager.bind-host",
        "taskmanager.host",
        "taskmanager.bind-host",
        "rest.address",
        "rest.bind-address",
        "sql-gateway.endpoint.rest.address",
        "sql-gateway.endpoint.rest.bind-address",
    }
    assert set(addresses.values()) == {"127.0.0.1"}
    assert conf["rest.port"] == "18082" and conf["jobmanager.rpc.port"] == "16123"
    assert conf["blob.server.port"] == "0"  # any free port, on the JobManager's loopback bind host
    assert conf["s3.endpoint"] == "http://127.0.0.1:4566" and conf["s3.path.style.access"] == "true"
    assert conf["python.executable"] == sys.executable  # PyFlink workers run in this environment
    assert conf["taskmanager.numberOfTaskSlots"] == "2" and conf["taskmanager.memory.process.size"] == "2048m"
    assert "--add-opens=java.base/java.util=ALL-UNNAMED" in conf["env.java.opts.all"]  # the wheel's JVM options
    assert not any("secret" in k or "access-key" in k for k in conf)  # credentials come from the environment


@pytest.mark.parametrize("where", ["jobmanager:8081", "10.0.0.5:8081", "127.0.0.1:99999", ""])
def test_the_cluster_must_be_on_loopback(where):
    config = load_config("cluster", overrides=[f"job.cluster={where}"])
    with pytest.raises(cluster.ClusterError, match="job.cluster"):
        cluster.rest_address(config)
    assert not cluster.is_local_cluster(config)


def test_the_cluster_profile_extends_local_with_s3_and_the_cluster():
    local, on_cluster = load_config("local"), load_config("cluster")
    assert on_cluster.profile == "cluster" and on_cluster.streams == local.streams
    assert on_cluster.job.cluster == "127.0.0.1:8082" and on_cluster.job.connector == "clickflow"
    assert on_cluster.job.archive.startswith("s3://") and on_cluster.job.checkpoint_dir.startswith("s3://")
    assert environment.uses_s3(on_cluster) and not environment.uses_s3(local)


def test_savepoints_go_beside_the_checkpoints():
    on_s3 = load_config("cluster", overrides=["job.checkpoint_dir=s3://b/run-1/checkpoints"])
    assert cluster.savepoint_dir(on_s3) == "s3://b/run-1/savepoints"
    assert cluster.savepoint_dir(load_config("cluster", overrides=["job.checkpoint_dir=s3://b"])) == "s3://b/savepoints"
    local = cluster.savepoint_dir(load_config("local", overrides=["job.checkpoint_dir=/tmp/x/checkpoints"]))
    assert local == "file:///tmp/x/savepoints"


def test_the_dummy_keys_go_only_to_a_local_profile_s_flink(monkeypatch):
    assert cluster.aws_environment(load_config("cluster"))["AWS_ACCESS_KEY_ID"] == "clickflow-local"
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE")
    on_aws = cluster.aws_environment(load_config("aws"))
    assert on_aws == {"AWS_REGION": load_config("aws").aws.region}  # the caller's chain is inherited, untouched


def test_no_java_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "no-jdk"))
    with pytest.raises(cluster.ClusterError, match=r"no Java found \(JAVA_HOME=.*no-jdk\).*Java 11 or newer"):
        cluster.java_binary()


def test_the_pinned_jars_belong_to_the_wheel_s_flink():
    import pyflink.version

    assert official.SQL_GATEWAY.version == pyflink.version.__version__  # the SQL client calls into it
    assert official.S3_FILESYSTEM.version.startswith(official.FLINK_MINOR + ".")
    for artifact in official.SETUP_JARS:
        assert artifact.group == "org.apache.flink" and re.fullmatch(r"[0-9a-f]{64}", artifact.sha256 or "")
