"""`clickflow catalog` against moto's in-process Glue: the database and tables are created, then
updated in place; columns carry Hive types; partitions are declared by projection (no crawler)."""

from __future__ import annotations

import boto3
import pytest
from moto import mock_aws

from connectors.config import ConfigError, load_config
from jobs.catalog import CatalogError, athena_queries, hive_type, register, table_input

COLUMNS = {
    "events": [("event_ts", "TIMESTAMP(3)"), ("category_id", "BIGINT"), ("brand", "VARCHAR(2147483647)")],
    "top_categories": [("rank", "BIGINT NOT NULL"), ("revenue", "DECIMAL(20, 2)"), ("views", "BIGINT")],
}


def test_flink_types_become_hive_types():
    assert [
        hive_type(t)
        for t in (
            "BIGINT NOT NULL",
            "VARCHAR(2147483647)",
            "DECIMAL(20, 2)",
            "TIMESTAMP(3)",
            "TIMESTAMP_LTZ(3) NOT NULL",
            "DOUBLE",
            "BOOLEAN",
            "INT",
        )
    ] == ["bigint", "string", "decimal(20,2)", "timestamp", "timestamp", "double", "boolean", "int"]
    with pytest.raises(CatalogError, match="no Hive type"):
        hive_type("MAP<STRING, INT>")


def test_a_table_declares_its_partitions_by_projection():
    table = table_input("events", COLUMNS["events"], "s3://bucket/archive", "2019-10-01")
    params = table["Parameters"]
    assert params["projection.enabled"] == "true"
    assert params["projection.dt.range"] == "2019-10-01,NOW" and params["projection.hour.digits"] == "2"
    assert params["storage.location.template"] == "s3://bucket/archive/events/dt=${dt}/hour=${hour}/"
    assert [k["Name"] for k in table["PartitionKeys"]] == ["dt", "hour"]
    assert table["StorageDescriptor"]["SerdeInfo"]["SerializationLibrary"] == "org.openx.data.jsonserde.JsonSerDe"


def test_register_creates_then_updates_and_refuses_a_local_archive(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    config = load_config("aws", overrides=["job.archive=s3://shop-data/archive", "catalog.database=shop"])
    with mock_aws():
        glue = boto3.client("glue", region_name="us-east-1")
        said = []
        dry = register(config, glue, COLUMNS, dry_run=True, say=said.append)
        assert dry.created == ["events", "top_categories"] and glue.get_databases()["DatabaseList"] == []
        first = register(config, glue, COLUMNS, say=said.append)
        assert first.created == ["events", "top_categories"] and first.updated == []
        table = glue.get_table(DatabaseName="shop", Name="top_categories")["Table"]
        assert [(c["Name"], c["Type"]) for c in table["StorageDescriptor"]["Columns"]] == [
            ("rank", "bigint"),
            ("revenue", "decimal(20,2)"),
            ("views", "bigint"),
        ]
        assert table["StorageDescriptor"]["Location"] == "s3://shop-data/archive/top_categories/"
        changed = {**COLUMNS, "events": [*COLUMNS["events"], ("price", "DOUBLE")]}
        second = register(config, glue, changed, say=said.append)
        assert second.updated == ["events", "top_categories"] and second.created == []
        events = glue.get_table(DatabaseName="shop", Name="events")["Table"]
        assert events["StorageDescriptor"]["Columns"][-1] == {"Name": "price", "Type": "double"}
        assert len(glue.get_tables(DatabaseName="shop")["TableList"]) == 2
    with pytest.raises(ConfigError, match="Athena reads S3"):
        register(load_config("local"), None, COLUMNS)


def test_athena_queries_are_rendered_for_every_insight():
    queries = athena_queries(load_config("aws", overrides=["catalog.database=shop", "insights.top_n=3"]))
    assert set(queries) == {"category_weekday", "brand_marketing", "funnel", "daily_visitors"}
    assert all('"shop"."events"' in q and "${" not in q for q in queries.values())
    assert '"rank" <= 3' in queries["category_weekday"]
