"""docker-compose.yml and the Dockerfile, validated without Docker (it does not run on this machine):
the services are there and wired, every port is published on 127.0.0.1 only, the pinned versions
agree with pyproject.toml and connectors/official.py, and the compose profile matches the file."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
import yaml

from connectors import official
from connectors.config import load_config
from connectors.environment import as_seen_by_cluster, cluster_settings

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def compose():
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


@pytest.fixture(scope="module")
def dockerfile():
    text = (ROOT / "Dockerfile").read_text()
    return text.replace("\\\n", " ")  # join continued lines


def build_args(dockerfile: str) -> dict[str, str]:
    return {m[0]: m[1].strip('"') for m in re.findall(r"^ARG (\w+)=(.*)$", dockerfile, re.M)}


def flink_pin() -> str:
    """The apache-flink requirement in pyproject.toml, e.g. ``2.2.*``."""
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    (spec,) = [d for d in deps if d.startswith("apache-flink")]
    return spec.split("==")[1]


def test_services_and_what_they_run(compose):
    services = compose["services"]
    assert {"jobmanager", "taskmanager", "kinesis", "s3", "setup", "producer"} <= set(services)
    assert services["jobmanager"]["command"] == ["jobmanager"]
    assert services["taskmanager"]["command"] == ["taskmanager"]
    for name in ("jobmanager", "taskmanager"):
        assert services[name]["build"]["target"] == "flink"
        properties = yaml.safe_load(services[name]["environment"]["FLINK_PROPERTIES"])
        assert properties["jobmanager.rpc.address"] == "jobmanager"
        assert properties["s3.endpoint"] == "http://s3:4566"
    assert services["kinesis"]["build"]["target"] == "kinesis"
    assert services["setup"]["command"][:3] == ["clickflow", "stack", "create"]
    assert services["jobmanager"]["depends_on"]["setup"]["condition"] == "service_completed_successfully"
    assert "clickflow replay" in " ".join(services["producer"]["command"])


def test_ports_are_published_on_loopback_only(compose):
    published = []
    for name, service in compose["services"].items():
        for port in service.get("ports", []):
            text = (
                port
                if isinstance(port, str)
                else f"{port.get('host_ip', '')}:{port.get('published')}:{port.get('target')}"
            )
            assert text.startswith("127.0.0.1:"), f"{name} publishes {text} beyond loopback"
            published.append(int(text.split(":")[1]))
    assert sorted(published) == [4566, 4567, 8081]


def test_no_credentials_only_the_emulators_dummy_keys(compose):
    from connectors.aws import _LOCAL_KEY_ID, _LOCAL_SECRET

    text = (ROOT / "docker-compose.yml").read_text()
    keys = set(re.findall(r"AWS_ACCESS_KEY_ID: (\S+)", text)) | set(re.findall(r"AWS_SECRET_ACCESS_KEY: (\S+)", text))
    assert keys == {_LOCAL_KEY_ID, _LOCAL_SECRET}


def test_the_compose_profile_matches_the_file(compose):
    config = load_config("compose")
    ports = {int(p.split(":")[1]) for s in compose["services"].values() for p in s.get("ports", [])}
    for url in config.aws.endpoints.values():
        host, port = re.match(r"https?://([^:/]+):(\d+)", url).groups()
        assert host == "127.0.0.1" and int(port) in ports
    for url in config.job.endpoints.values():  # the cluster's view: service names on the compose network
        host, port = re.match(r"https?://([^:/]+):(\d+)", url).groups()
        assert host in compose["services"]
        assert any(p.endswith(f":{port}") for p in compose["services"][host]["ports"])
    assert cluster_settings(config) == {"execution.target": "remote", "rest.address": "127.0.0.1", "rest.port": "8081"}
    assert as_seen_by_cluster(config).aws.endpoints["kinesis"] == "http://kinesis:4567"
    assert config.job.connector == "clickflow"  # the one connector, also on the compose cluster


def test_pinned_versions_agree(dockerfile):
    args = build_args(dockerfile)
    minor = flink_pin().removesuffix(".*")
    assert minor == official.FLINK_MINOR
    image, tag = args["FLINK_IMAGE"].split(":")
    assert image == "flink" and tag.startswith(minor + ".") and tag.endswith("-java17")
    assert args["APACHE_FLINK_SPEC"] == f"apache-flink=={flink_pin()}"
    assert args["S3_FS_VERSION"] == official.S3_FILESYSTEM.version  # one S3 plugin: compose and the local cluster
    assert args["S3_FS_SHA256"] == official.S3_FILESYSTEM.sha256
    import pyflink.version

    assert pyflink.version.__version__.startswith(minor + ".")  # the wheel installed here
    assert tag.removesuffix("-java17") == pyflink.version.__version__  # cluster and client: one Flink


def test_dockerfile_builds_what_the_cluster_needs(dockerfile):
    assert re.search(r"^FROM \$\{FLINK_IMAGE\} AS flink$", dockerfile, re.M)
    assert re.search(r"^FROM node:\d+[\w.-]* AS kinesis$", dockerfile, re.M)
    assert "python3" in dockerfile and 'pip install --no-cache-dir "${APACHE_FLINK_SPEC}"' in dockerfile
    # clickflow's one jar, the file `make setup` built (byte for byte what the tests run), and nothing downloaded
    assert "COPY connectors/build/clickflow-flink.jar /opt/flink/lib/clickflow-flink.jar" in dockerfile
    assert not re.search(r"https?://|curl|wget", dockerfile)
    assert "plugins/s3-fs-hadoop" in dockerfile and 'echo "$S3_FS_SHA256  /tmp/$jar" | sha256sum -c -' in dockerfile
    assert "sql-client.sh" in dockerfile and "flink-sql-gateway-" in dockerfile
    # every COPY source exists
    for sources in re.findall(r"^COPY (?!--from)(.+) \S+$", dockerfile, re.M):
        for source in sources.split():
            source = source.replace("${S3_FS_VERSION}", official.S3_FILESYSTEM.version)
            assert (ROOT / source).exists(), f"{source} (made by `make setup`)"
    assert dockerfile.rstrip().endswith("USER flink")  # the cluster does not run as root


def test_compose_runs_flink_as_the_local_cluster_does(compose):
    """Sizes, failover and S3 settings: the compose cluster's FLINK_PROPERTIES are the local cluster's
    rendered config (same profile values), except for addresses, which are service names there."""
    from connectors import cluster

    rendered = cluster.render_conf(load_config("cluster"))
    for name in ("jobmanager", "taskmanager"):
        properties = yaml.safe_load(compose["services"][name]["environment"]["FLINK_PROPERTIES"])
        for key in (
            "jobmanager.memory.process.size",
            "jobmanager.execution.failover-strategy",
            "taskmanager.numberOfTaskSlots",
            "taskmanager.memory.process.size",
            "parallelism.default",
            "s3.path.style.access",
        ):
            assert str(properties[key]).lower() == rendered[key].lower(), key
        # the SDK speaks JSON to the emulator, as on the local cluster (connectors.environment decides)
        for role in ("jobmanager", "taskmanager"):
            assert "-Daws.cborEnabled=false" in properties[f"env.java.opts.{role}"]
        assert "-Daws.cborEnabled=false" in rendered["env.java.opts.all"]
    compose_profile, cluster_profile = load_config("compose"), load_config("cluster")
    assert compose_profile.job.checkpoint_dir == cluster_profile.job.checkpoint_dir
    assert compose_profile.job.archive == cluster_profile.job.archive
