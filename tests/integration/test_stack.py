import os
import socket
import time
from pathlib import Path

import pytest

from connectors.config import load_config
from connectors.local_stack import stack
from connectors.local_stack.stack import free_port, private_overrides

pytestmark = pytest.mark.integration


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"


def test_up_twice_then_down_leaves_nothing(tmp_path):
    config = load_config("local", overrides=private_overrides(tmp_path / "state"))
    try:
        first = stack.up(config)
        assert all(s.started_here and s.answering for s in first)
        second = stack.up(config)
        assert [s.pid for s in second] == [s.pid for s in first]
        assert not any(s.started_here for s in second)
        from connectors import aws

        assert "clickflow-events" in aws.client(config, "kinesis").list_streams()["StreamNames"]
        shards = aws.client(config, "kinesis").describe_stream_summary(StreamName="clickflow-events")
        assert shards["StreamDescriptionSummary"]["OpenShardCount"] == 4
        assert [b["Name"] for b in aws.client(config, "s3").list_buckets()["Buckets"]] == ["clickflow-data"]
    finally:
        stack.down(config)
    for state in first:
        deadline = time.monotonic() + 5
        while alive(state.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not alive(state.pid)
        with socket.socket() as sock:
            assert sock.connect_ex(("127.0.0.1", state.service.port)) != 0  # nothing listens any more
    assert not list((tmp_path / "state").glob("*.pid"))
    assert not any(s.running for s in stack.status(config))


def test_servers_bind_loopback_only(local_stack):
    config, _ = local_stack
    for service in stack.services(config):
        listening = [
            line for name in ("tcp", "tcp6") for line in Path(f"/proc/net/{name}").read_text().splitlines()[1:]
        ]
        port_hex = f"{service.port:04X}"
        local = [
            line.split()[1]
            for line in listening
            if line.split()[1].endswith(":" + port_hex) and line.split()[3] == "0A"
        ]
        assert local, f"nothing listens on {service.port}"
        assert all(addr.startswith("0100007F") for addr in local), f"{service.label} listens beyond loopback: {local}"


def test_port_taken_by_someone_else(tmp_path):
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        config = load_config("local", overrides=private_overrides(tmp_path, kinesis_port=port))
        with pytest.raises(stack.StackError, match=f"port {port} on 127.0.0.1 is already in use"):
            stack.up(config)
        stack.down(config)


def test_missing_node_is_explained(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no node here
    config = load_config("local", overrides=private_overrides(tmp_path / "state", aws_port=free_port()))
    with pytest.raises(
        stack.StackError, match=r"`node` was not found on PATH\. Node.js 18 or newer .* `apt-get install nodejs"
    ):
        stack.up(config)
    stack.down(config)


def test_at_timestamp_on_a_shard_with_nothing_newer_answers_at_the_tip(local_stack):
    """kinesalite alone never answers this call; the stack's launcher makes it answer as Kinesis does."""
    import uuid
    from datetime import UTC, datetime, timedelta

    from connectors import aws

    config, _ = local_stack
    kinesis = aws.client(config, "kinesis", read_timeout=10, retries={"max_attempts": 1})
    name = f"tip-{uuid.uuid4().hex[:8]}"
    kinesis.create_stream(StreamName=name, ShardCount=1)
    kinesis.get_waiter("stream_exists").wait(StreamName=name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 50})
    kinesis.put_record(StreamName=name, Data=b"old", PartitionKey="k")
    time.sleep(1.1)
    since = datetime.now(UTC) - timedelta(milliseconds=500)
    iterator = kinesis.get_shard_iterator(
        StreamName=name, ShardId="shardId-000000000000", ShardIteratorType="AT_TIMESTAMP", Timestamp=since
    )["ShardIterator"]
    kinesis.put_record(StreamName=name, Data=b"new", PartitionKey="k")
    assert [r["Data"] for r in kinesis.get_records(ShardIterator=iterator)["Records"]] == [b"new"]


def test_stack_create_with_an_etl_file_creates_the_streams_it_names(local_stack, tmp_path):
    import uuid

    from connectors import aws
    from tests.conftest import run_cli, write_browse_lab

    config, overrides = local_stack
    suffix = uuid.uuid4().hex[:6]
    path = write_browse_lab(
        tmp_path / "etl.yaml", f"browse-{suffix}", f"usa-{suffix}", f"intl-{suffix}", f"errors-{suffix}", deliver={}
    )
    result = run_cli("stack", "create", "--config", str(path), overrides=overrides)
    names = set(aws.client(config, "kinesis").list_streams(Limit=1000)["StreamNames"])
    wanted = {f"browse-{suffix}", f"usa-{suffix}", f"intl-{suffix}", f"errors-{suffix}"}
    assert wanted <= names
    assert all(f"created stream {name} (1 shard)" in result.stdout for name in wanted)
    assert f"usa-{suffix}" in result.stdout.splitlines()[-1]  # the streams line names them with the profile's
    again = run_cli("stack", "create", "--config", str(path), overrides=overrides)
    assert "created stream" not in again.stdout
