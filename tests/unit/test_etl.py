"""The ETL's definition, its SQL, its Firehose-style prefixes, and its package for Managed Flink (a
second application): no JVM, no server (the job itself runs in tests/integration/test_etl.py)."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from clickflow.msf import deploy
from clickflow.msf import package as pkg
from connectors.config import ConfigError, load_config
from jobs.delivery import render_prefix
from jobs.etl import load_etl, statements

ROOT = Path(__file__).resolve().parents[2]
LAB = ROOT / "etl" / "browse-sessions.yaml"


def write(tmp_path: Path, etl: dict) -> Path:
    path = tmp_path / "etl.yaml"
    path.write_text(yaml.safe_dump({"etl": etl}))
    return path


def lab() -> dict:
    return yaml.safe_load(LAB.read_text())["etl"]


def test_the_lab_loads_and_routes_in_order():
    etl = load_etl(LAB)
    assert etl.source == "clickflow-browse" and etl.required == ("session_id", "country")
    assert [(r.when, r.to) for r in etl.routes] == [
        ("country = 'USA'", "clickflow-browse-usa"),
        (None, "clickflow-browse-international"),
    ]
    assert etl.deliver["clickflow-browse-usa"].buffer_size == 1024 * 1024
    ddl, inserts = statements(etl, load_config("local", LAB, read_elsewhere=("etl",)), {})
    assert "WHERE COALESCE((country = 'USA'), FALSE)" in inserts[0]
    assert inserts[1].endswith("WHERE NOT (COALESCE((country = 'USA'), FALSE))")  # the default: no earlier route
    assert "etl_errors" in inserts[2]
    assert any("'format' = 'raw'" in d and "stream/clickflow-browse'" in d for d in ddl)


BAD = [
    ({"routes": [{"when": "TRUE", "to": "a"}]}, r"routes: end with \{default: STREAM\}"),
    ({"routes": [{"default": "a"}, {"when": "x", "to": "b"}]}, r"routes\[0\]: the default route must come last"),
    ({"source": {"stream": "s", "columns": {"a b": "STRING"}}}, r"source\.columns\.a b: a column name"),
    ({"source": {"stream": "s", "columns": {"a": "MAP<STRING,INT>"}}}, r"source\.columns\.a: type 'MAP<STRING,INT>'"),
    ({"source": {"stream": "s", "columns": {"a": "STRING"}, "required": ["b"]}}, r"source\.required: 'b' is not"),
    ({"enrich": {"session_id": "1"}}, r"enrich\.session_id: a new field needs a plain name not among"),
    ({"deliver": {"nowhere": {"prefix": "s3://b/p/"}}}, r"deliver\.nowhere: not one of the routes' streams"),
    (
        {"deliver": {"clickflow-browse-usa": {"prefix": "/tmp/x"}}},
        r"deliver\.clickflow-browse-usa\.prefix: expected s3://",
    ),
    (
        {"deliver": {"clickflow-browse-usa": {"prefix": "s3://b/", "buffer_size": "lots"}}},
        r"buffer_size: expected a size",
    ),
    ({"colour": "red"}, r"colour: unknown key"),
    ({"error_prefix": "s3://b/!{partitionKeyFromQuery:id}/"}, r"error_prefix: unknown prefix expression"),
]


@pytest.mark.parametrize(("change", "message"), BAD, ids=[m[:30] for _, m in BAD])
def test_a_bad_etl_names_the_file_and_key(tmp_path, change, message):
    with pytest.raises(ConfigError, match=message) as found:
        load_etl(write(tmp_path, {**lab(), **change}))
    assert "etl.yaml: etl" in str(found.value)


def test_firehose_prefix_expressions():
    moment = datetime(2019, 10, 6, 23, 5, 9, tzinfo=UTC)
    assert render_prefix("usa/!{timestamp:yyyy/MM/dd/HH}/", moment) == "usa/2019/10/06/23/"
    assert render_prefix("e/!{firehose:error-output-type}/!{timestamp:yyyy}/", moment, "processing-failed") == (
        "e/processing-failed/2019/"
    )
    assert len(render_prefix("r/!{firehose:random-string}/", moment)) == len("r/") + 10 + 1
    with pytest.raises(ValueError, match="unknown prefix expression"):
        render_prefix("!{partitionKeyFromQuery:x}/", moment)


@pytest.mark.integration  # builds the jar: needs a JDK and Maven, so not a unit test
def test_the_etl_packages_as_an_application_of_its_own(tmp_path):
    config = load_config("aws", overrides=["aws.account_id='123456789012'"])
    built = pkg.build_package(config, tmp_path / "etl.zip", say=lambda _: None, etl_file=LAB)
    with zipfile.ZipFile(built.path) as archive:
        names = set(archive.namelist())
        assert "from jobs.etl import main" in archive.read("main.py").decode()
        archive.extractall(tmp_path / "unpacked")
    assert {"etl.yaml", "jobs/etl.py", "lib/clickflow-msf.jar"} <= names
    assert pkg.read_package(built.path).etl.name == "browse-sessions"
    # from the zip alone, site-packages off: the ETL module imports and its definition loads
    probe = (
        f"import sys; root = {str(tmp_path / 'unpacked')!r}; sys.path[:0] = [root, root + '/deps']\n"
        "from pathlib import Path\nimport jobs.etl as e\nprint(e.load_etl(Path(root) / 'etl.yaml').name)\n"
    )
    result = subprocess.run([sys.executable, "-S", "-c", probe], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "browse-sessions"
    # its role may read the source and write the routes and errors: nothing of the analytics job
    policy = deploy.iam_policy(config, "123456789012", "clickflow-etl", "b", "k", built.etl)
    by_sid = {s["Sid"]: s for s in policy["Statement"]}
    arn = "arn:aws:kinesis:us-east-1:123456789012:stream/"
    assert by_sid["ReadEventsStream"]["Resource"] == [arn + "clickflow-browse"]
    assert by_sid["WriteOutputStreams"]["Resource"] == [
        arn + "clickflow-browse-errors",
        arn + "clickflow-browse-international",
        arn + "clickflow-browse-usa",
    ]
    assert "WriteArchive" not in by_sid and json.dumps(policy).count("clickflow-events") == 0


def test_a_missing_stream_that_an_etl_file_names_is_said_with_the_command_that_creates_it(tmp_path, monkeypatch):
    from botocore.exceptions import ClientError

    from connectors import aws
    from jobs.etl import files_naming, has_etl_section
    from producer.delivery import FatalKinesisError
    from producer.records import check_stream

    (tmp_path / "etl").mkdir()
    (tmp_path / "etl" / "lab.yaml").write_text(LAB.read_text())
    (tmp_path / "etl" / "broken.yaml").write_text("etl: [not, a, mapping]\n")
    (tmp_path / "etl" / "notes.yaml").write_text("producer: {in_flight: 2}\n")
    monkeypatch.chdir(tmp_path)
    assert files_naming("clickflow-browse-usa") == [Path("etl/lab.yaml")]
    assert files_naming("clickflow-events") == []
    assert has_etl_section(Path("etl/lab.yaml")) and not has_etl_section(Path("etl/notes.yaml"))
    assert not has_etl_section(Path("etl/missing.yaml"))

    class NoStream:
        def describe_stream_summary(self, StreamName):
            raise ClientError(
                {"Error": {"Code": "ResourceNotFoundException", "Message": "no"}}, "DescribeStreamSummary"
            )

    monkeypatch.setattr(aws, "client", lambda config, service: NoStream())
    config = load_config("local")
    with pytest.raises(FatalKinesisError) as named:
        check_stream(config, "clickflow-browse")
    assert "stream 'clickflow-browse' does not exist" in str(named.value)
    assert "etl/lab.yaml names it: create its streams with `clickflow stack up --config etl/lab.yaml`" in str(
        named.value
    )
    with pytest.raises(FatalKinesisError, match=r"\(run `clickflow stack up`, or create it\)"):
        check_stream(config, "web-events")
    with pytest.raises(
        FatalKinesisError, match=r"at AWS us-east-1 \(create it: aws kinesis create-stream --stream-name"
    ):
        check_stream(load_config("aws"), "clickflow-browse")


def test_the_streams_an_etl_names_are_created_once_with_a_shard_each(monkeypatch):
    from botocore.exceptions import ClientError

    from connectors import aws
    from jobs.etl import LOCAL_SHARDS, create_streams

    created: dict[str, int] = {"clickflow-browse": 2}

    class Kinesis:
        def create_stream(self, StreamName, ShardCount):
            if StreamName in created:
                raise ClientError({"Error": {"Code": "ResourceInUseException", "Message": "in use"}}, "CreateStream")
            created[StreamName] = ShardCount

        def describe_stream_summary(self, StreamName):
            return {"StreamDescriptionSummary": {"OpenShardCount": created[StreamName]}}

        def get_waiter(self, name):
            class Waiter:
                def wait(self, StreamName, WaiterConfig):
                    assert StreamName in created

            return Waiter()

    monkeypatch.setattr(aws, "client", lambda config, service: Kinesis())
    said: list[str] = []
    made = create_streams(load_etl(LAB), load_config("local"), said.append)
    assert made == ["clickflow-browse-errors", "clickflow-browse-international", "clickflow-browse-usa"]
    assert all(created[name] == LOCAL_SHARDS for name in made)
    assert "created stream clickflow-browse-usa (1 shard)" in said
    assert any("stream clickflow-browse exists with 2 open shards (etl browse-sessions asks for 1)" in s for s in said)
