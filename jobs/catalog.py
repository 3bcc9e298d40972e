"""`clickflow catalog`: the archive's tables in the AWS Glue Data Catalog, so Athena can query them.

One database (``catalog.database``) and one table per archived name — ``events`` (the valid events,
as the ``clicks`` view), each analytic, ``dead_letters`` — with the columns Flink writes, in Hive
types, the JSON SerDe, and ``dt``/``hour`` partition keys declared by **partition projection**: Athena
computes the partitions from the table's properties, so no crawler runs and every new hour of the
archive is queryable as soon as its files are committed. Idempotent: a table that exists is
updated to the current definition. Then a ready Athena query per insight (``sql/athena/``) is printed.

Least privilege for the caller: ``glue:GetDatabase``, ``glue:CreateDatabase``, ``glue:GetTable``,
``glue:CreateTable``, ``glue:UpdateTable`` on the catalog, the database and its tables.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import urlparse

from connectors.config import Config, ConfigError
from jobs import analytics

ATHENA_SQL_DIR = analytics.SQL_DIR / "athena"
JSON_SERDE = "org.openx.data.jsonserde.JsonSerDe"
INPUT_FORMAT = "org.apache.hadoop.mapred.TextInputFormat"
OUTPUT_FORMAT = "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat"


class CatalogError(RuntimeError):
    """The catalog cannot be written; the message says why."""


def hive_type(flink_type: str) -> str:
    """The Hive (Athena) type of a Flink SQL type as ``asSerializableString`` writes it."""
    kind = re.sub(r"\s+NOT NULL$", "", flink_type.strip().upper())
    if kind.startswith(("VARCHAR", "CHAR", "STRING")):
        return "string"
    if kind.startswith("DECIMAL"):
        match = re.match(r"DECIMAL\((\d+),\s*(\d+)\)", kind)
        if match is None:
            raise CatalogError(f"unexpected decimal type {flink_type!r}")
        precision, scale = match.groups()
        return f"decimal({precision},{scale})"
    if kind.startswith("TIMESTAMP"):
        return "timestamp"  # Flink's JSON writes 'yyyy-MM-dd HH:mm:ss[.SSS]', which the SerDe reads
    simple = {
        "BIGINT": "bigint",
        "INT": "int",
        "INTEGER": "int",
        "SMALLINT": "smallint",
        "TINYINT": "tinyint",
        "DOUBLE": "double",
        "FLOAT": "float",
        "BOOLEAN": "boolean",
        "DATE": "date",
    }
    if kind in simple:
        return simple[kind]
    raise CatalogError(f"no Hive type for the Flink type {flink_type!r}")


def archive_location(config: Config, location: str | None = None) -> str:
    """The archive's ``s3://`` location (``location`` or the profile's ``job.archive``), or an error saying it
    must be on S3."""
    where = (location or config.job.archive).rstrip("/")
    parsed = urlparse(where)
    if parsed.scheme != "s3" or not parsed.netloc:
        raise ConfigError(
            f"job.archive is {where!r}: Athena reads S3, so the catalog needs an s3://bucket/prefix archive "
            "(the aws profile has one; or give --location s3://...)"
        )
    return where


def table_input(name: str, columns: list[tuple[str, str]], location: str, first_day: str) -> dict:
    """The Glue TableInput of one archived name, partitions by projection (no crawler)."""
    base = f"{location}/{name}"
    return {
        "Name": name,
        "Description": f"clickflow archive: {name} (JSON lines, partitioned by UTC day and hour)",
        "TableType": "EXTERNAL_TABLE",
        "Parameters": {
            "classification": "json",
            "EXTERNAL": "TRUE",
            "projection.enabled": "true",
            "projection.dt.type": "date",
            "projection.dt.format": "yyyy-MM-dd",
            "projection.dt.range": f"{first_day},NOW",
            "projection.dt.interval": "1",
            "projection.dt.interval.unit": "DAYS",
            "projection.hour.type": "integer",
            "projection.hour.range": "0,23",
            "projection.hour.digits": "2",
            "storage.location.template": f"{base}/dt=${{dt}}/hour=${{hour}}/",
        },
        "PartitionKeys": [{"Name": "dt", "Type": "string"}, {"Name": "hour", "Type": "string"}],
        "StorageDescriptor": {
            "Columns": [{"Name": column, "Type": hive_type(kind)} for column, kind in columns],
            "Location": f"{base}/",
            "InputFormat": INPUT_FORMAT,
            "OutputFormat": OUTPUT_FORMAT,
            "SerdeInfo": {
                "SerializationLibrary": JSON_SERDE,
                # a torn line (a part file being written) is skipped instead of failing the query
                "Parameters": {"ignore.malformed.json": "true"},
            },
        },
    }


def archive_columns(config: Config) -> dict[str, list[tuple[str, str]]]:
    """The columns of every archived name, as Flink resolves them from ``sql/`` (one JVM start)."""
    import tempfile
    from pathlib import Path

    from connectors.kinesis_connector import build_udfs
    from connectors.tables import file_options
    from jobs.stream import ARCHIVED

    env = analytics.create_table_env(config, [build_udfs()])
    placeholder = Path(tempfile.gettempdir()) / "clickflow-catalog" / "events.jsonl"
    analytics.register(env, config, file_options(placeholder), analytics.ANALYTICS)
    analytics.execute_script(env, analytics.dead_letters_sql())
    return {name: analytics.columns_of(env, "clicks" if name == "events" else name) for name in ARCHIVED}


@dataclass
class CatalogResult:
    """What ``clickflow catalog`` did: the database, the tables created and updated, an Athena query per insight."""

    database: str
    created: list[str]
    updated: list[str]
    queries: dict[str, str]


def athena_queries(config: Config) -> dict[str, str]:
    """Each insight of ``sql/athena/`` rendered for Athena over the catalogued ``events``: the very
    text ``clickflow insights`` runs on DuckDB (``jobs.insights.render``)."""
    from jobs.insights import INSIGHTS, render

    return {name: render(config, name) for name in INSIGHTS}


def register(
    config: Config,
    glue,
    columns: Mapping[str, list[tuple[str, str]]],
    location: str | None = None,
    dry_run: bool = False,
    say: Callable[[str], None] = print,
) -> CatalogResult:
    """Create or update the database and one table per archived name."""
    from botocore.exceptions import ClientError

    where = archive_location(config, location)
    database = config.catalog.database
    try:
        glue.get_database(Name=database)
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "EntityNotFoundException":
            raise
        say(f"{'would create' if dry_run else 'creating'} Glue database {database}")
        if not dry_run:
            glue.create_database(DatabaseInput={"Name": database, "Description": f"clickflow: the archive at {where}"})
    created: list[str] = []
    updated: list[str] = []
    for name, cols in columns.items():
        definition = table_input(name, cols, where, config.catalog.first_day)
        try:
            glue.get_table(DatabaseName=database, Name=name)
            exists = True
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "EntityNotFoundException":
                raise
            exists = False
        verb = ("update" if exists else "create") if not dry_run else ("would update" if exists else "would create")
        say(f"{verb} table {database}.{name}: {len(cols)} columns + dt, hour -> {where}/{name}/")
        if not dry_run:
            if exists:
                glue.update_table(DatabaseName=database, TableInput=definition)
            else:
                glue.create_table(DatabaseName=database, TableInput=definition)
        (updated if exists else created).append(name)
    return CatalogResult(database, created, updated, athena_queries(config))
