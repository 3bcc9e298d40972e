"""`clickflow etl` on the local stack: records of a template's schema (and some that are not) go
through the job declared in YAML; every record is in exactly one routed stream by its predicate,
the enrichments equal a plain-Python computation, malformed records are errors (stream and error
prefix), and each routed stream is delivered to S3 under its Firehose-style prefix."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from datetime import UTC, datetime

import pytest

from connectors import aws
from tests.conftest import PROJECT_ROOT, run_cli, write_browse_lab
from tests.kinesis_helpers import new_stream, read_stream

pytestmark = pytest.mark.integration

BAD = [b"not json", b'{"session_id": "s-x"}', b'["an", "array"]', b'{"country": "USA", "browse_history": []}']


def test_the_browse_lab_routes_enriches_and_delivers_every_record_once(local_stack, tmp_path):
    config, overrides = local_stack
    kinesis, s3 = aws.client(config, "kinesis"), aws.client(config, "s3")
    source = new_stream(kinesis, "browse", 2)
    usa, intl, errors = (new_stream(kinesis, name, 1) for name in ("usa", "intl", "errors"))
    prefix = f"etl-{uuid.uuid4().hex[:6]}"
    config_file = write_browse_lab(
        tmp_path / "etl.yaml",
        source,
        usa,
        intl,
        errors,
        deliver={
            usa: {"prefix": f"s3://{config.bucket}/{prefix}/usa/!{{timestamp:yyyy/MM/dd}}/", "buffer_size": "64kb"},
            intl: {"prefix": f"s3://{config.bucket}/{prefix}/intl/!{{timestamp:yyyy/MM/dd}}/", "buffer_size": "64kb"},
        },
        error_prefix=f"s3://{config.bucket}/{prefix}/errors/!{{firehose:error-output-type}}/",
    )

    template = PROJECT_ROOT / "templates" / "browse-session.json.tpl"
    run_cli(
        "generate", "--template", str(template), "--count", "3000", "--stream", source, "--quiet", overrides=overrides
    )
    kinesis.put_records(StreamName=source, Records=[{"Data": d, "PartitionKey": str(i)} for i, d in enumerate(BAD)])
    result = run_cli("etl", "--config", str(config_file), "--bounded", overrides=overrides, timeout=300)
    assert "etl finished" in result.stdout, result.stdout + result.stderr

    records = [_json(r["row"]) for r in read_stream(kinesis, source, decode=False)]
    valid = [r for r in records if isinstance(r, dict) and r.get("session_id") and r.get("country")]
    assert len(valid) == 3000 and len(records) == 3000 + len(BAD)
    routed = {name: [r["row"] for r in read_stream(kinesis, name)] for name in (usa, intl)}
    # every valid record once, in the stream its predicate picks

    def key(row: dict) -> str:
        return row["event_id"]

    assert Counter(map(key, routed[usa])) == Counter(key(r) for r in valid if r["country"] == "USA")
    assert Counter(map(key, routed[intl])) == Counter(key(r) for r in valid if r["country"] != "USA")
    # the enrichments, worked out here; and every field of the record kept
    by_key = {key(r): r for r in valid}
    for row in routed[usa] + routed[intl]:
        original = by_key[key(row)]
        history = original["browse_history"]
        assert row["total_quantity"] == sum(item["quantity"] for item in history)
        assert row["items_in_cart"] == sum(1 for item in history if item["in_cart"])
        assert row["items_viewed"] == len(history)
        assert datetime.strptime(row["processed_at"], "%Y-%m-%d %H:%M:%S.%f")
        assert {k: v for k, v in row.items() if k in original} == original
    failed = [r["row"] for r in read_stream(kinesis, errors)]
    assert sorted(f["rawData"] for f in failed) == sorted(d.decode() for d in BAD)
    assert {f["errorMessage"] for f in failed} >= {"not a JSON object", "missing field country, or not a STRING"}

    # delivered: under each prefix, with the arrival day, one record a line, nothing lost or doubled
    day = datetime.now(UTC).strftime("%Y/%m/%d")
    for name, part in ((usa, "usa"), (intl, "intl")):
        objects = s3.list_objects_v2(Bucket=config.bucket, Prefix=f"{prefix}/{part}/")["Contents"]
        assert objects and all(o["Key"].startswith(f"{prefix}/{part}/{day}/{name}-1-") for o in objects)
        lines = [
            json.loads(line)
            for o in objects
            for line in s3.get_object(Bucket=config.bucket, Key=o["Key"])["Body"].read().decode().splitlines()
        ]
        assert Counter(map(key, lines)) == Counter(map(key, routed[name]))
    error_objects = s3.list_objects_v2(Bucket=config.bucket, Prefix=f"{prefix}/errors/processing-failed/")["Contents"]
    assert sum(
        len(s3.get_object(Bucket=config.bucket, Key=o["Key"])["Body"].read().splitlines()) for o in error_objects
    ) == len(BAD)


def _json(data: bytes):
    try:
        return json.loads(data)
    except ValueError:
        return None
