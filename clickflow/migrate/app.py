"""What a KDA user brings to ``clickflow migrate``: the application's description as
``aws kinesisanalytics describe-application`` prints it, or its SQL with the input schema given,
inferred from sample records (as KDA's schema discovery did), or inferred from the SQL itself.

Everything read here is checked, and an error names the file and the key that is wrong.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from clickflow.migrate.errors import MigrateError

SOURCE_PREFIX = "SOURCE_SQL_STREAM"
KDA_TYPES = re.compile(
    r"^\s*(VARCHAR|CHAR|CHARACTER|DECIMAL|NUMERIC|INTEGER|INT|BIGINT|SMALLINT|TINYINT|REAL|DOUBLE|FLOAT|BOOLEAN|"
    r"TIMESTAMP|DATE|TIME)\s*(\(\s*(\d+)\s*(,\s*(\d+)\s*)?\))?\s*$",
    re.I,
)


def flink_type(kda: str, where: str = "") -> str:
    """The Flink SQL type of a KDA (SQLstream) type name: VARCHAR(n) → STRING (KDA did not cut longer values
    either), REAL → FLOAT, TIMESTAMP → TIMESTAMP(3); an unknown type is an error naming ``where``."""
    match = KDA_TYPES.match(kda or "")
    if not match:
        raise MigrateError(
            f"{where}type {kda!r} is not a KDA SQL type clickflow translates (VARCHAR(n), CHAR(n), INTEGER, BIGINT, "
            "SMALLINT, TINYINT, REAL, DOUBLE, DECIMAL(p, s), BOOLEAN, TIMESTAMP, DATE, TIME)"
        )
    base, p, s = match.group(1).upper(), match.group(3), match.group(5)
    if base in ("VARCHAR", "CHAR", "CHARACTER"):
        return "STRING"
    if base in ("DECIMAL", "NUMERIC"):
        return f"DECIMAL({p or 10}, {s or 0})"
    return {
        "INT": "INT",
        "INTEGER": "INT",
        "REAL": "FLOAT",
        "TIMESTAMP": "TIMESTAMP(3)",
        "TIME": "TIME(0)",
    }.get(base, base)


@dataclass(frozen=True)
class InputColumn:
    """One column of an input schema: its in-application name, KDA type and mapping (a JSON path, or
    for CSV the column's place, counted from 0)."""

    name: str
    sql_type: str
    mapping: str


@dataclass(frozen=True)
class InputSchema:
    """An ``InputSchema``: how a record becomes rows of typed columns."""

    format: str  # JSON | CSV
    columns: tuple[InputColumn, ...]
    row_path: str = "$"
    column_delimiter: str = ","
    row_delimiter: str = "\n"

    def column(self, name: str) -> InputColumn | None:
        """The column called ``name``, if any."""
        return next((c for c in self.columns if c.name == name), None)


@dataclass(frozen=True)
class Output:
    """Where one in-application stream goes: a Kinesis stream (a Firehose or a Lambda destination of
    the KDA application becomes a Kinesis stream of that name; the report says so)."""

    stream: str
    kind: str = "kinesis"  # kinesis | firehose | lambda: what it was in KDA


@dataclass(frozen=True)
class ReferenceTable:
    """A reference data source: an S3 object read as a table."""

    name: str
    bucket: str
    key: str
    schema: InputSchema


@dataclass
class Application:
    """A KDA application as clickflow reads it."""

    name: str
    code: str
    code_file: str  # the file the code came from, for error messages
    input_stream: str | None = None
    prefix: str = SOURCE_PREFIX
    schema: InputSchema | None = None
    outputs: dict[str, Output] = field(default_factory=dict)
    references: tuple[ReferenceTable, ...] = ()
    notes: list[str] = field(default_factory=list)  # what was inferred or defaulted, printed
    distinct: str = "exact"  # COUNT_DISTINCT_ITEMS_TUMBLING: exact, or sketch (HyperLogLog)
    start: str = "trim_horizon"  # where the job starts reading: trim_horizon | latest

    @property
    def source_stream(self) -> str:
        """The first in-application input stream's name (``SOURCE_SQL_STREAM_001``)."""
        return f"{self.prefix}_001"


def _arn_name(arn: str, kind: str, where: str) -> str:
    match = re.match(rf"^arn:aws[a-z-]*:[a-z]+:[^:]*:\d*:{kind}/(.+)$", arn or "")
    if not match:
        raise MigrateError(f"{where}: expected an ARN like arn:aws:...:{kind}/NAME, got {arn!r}")
    return match.group(1)


def _schema(data: object, where: str) -> InputSchema:
    if not isinstance(data, dict):
        raise MigrateError(f"{where}: expected an object with RecordFormat and RecordColumns")
    record_format = data.get("RecordFormat")
    if not isinstance(record_format, dict) or record_format.get("RecordFormatType") not in ("JSON", "CSV"):
        raise MigrateError(f"{where}.RecordFormat.RecordFormatType: expected JSON or CSV")
    kind = record_format["RecordFormatType"]
    mapping = (record_format.get("MappingParameters") or {}).get(f"{kind}MappingParameters") or {}
    encoding = data.get("RecordEncoding", "UTF-8")
    if str(encoding).upper().replace("-", "") != "UTF8":
        raise MigrateError(f"{where}.RecordEncoding: only UTF-8 records are read, got {encoding!r}")
    columns = data.get("RecordColumns")
    if not isinstance(columns, list) or not columns:
        raise MigrateError(f"{where}.RecordColumns: expected a list of {{Name, SqlType, Mapping}}")
    parsed = []
    for index, column in enumerate(columns):
        at = f"{where}.RecordColumns[{index}]"
        if not isinstance(column, dict) or not isinstance(column.get("Name"), str) or not column["Name"]:
            raise MigrateError(f"{at}.Name: missing")
        if not isinstance(column.get("SqlType"), str):
            raise MigrateError(f"{at}.SqlType: missing")
        flink_type(column["SqlType"], f"{at}.SqlType: ")
        if kind == "JSON":
            path = column.get("Mapping") or f"$.{column['Name']}"
            if not str(path).startswith("$"):
                raise MigrateError(f"{at}.Mapping: expected a JSON path starting with $, got {path!r}")
            if "[" in str(path) and ":" in str(path) or "*" in str(path):
                raise MigrateError(f"{at}.Mapping: {path!r} selects several values; map one value per column")
        else:
            path = str(index)
        parsed.append(InputColumn(column["Name"], column["SqlType"], str(path)))
    names = [c.name for c in parsed]
    duplicate = next((n for n in names if names.count(n) > 1), None)
    if duplicate:
        raise MigrateError(f"{where}.RecordColumns: column {duplicate!r} is named twice")
    if kind == "JSON":
        row_path = mapping.get("RecordRowPath", "$")
        if row_path != "$":
            raise MigrateError(
                f"{where}.RecordFormat.MappingParameters.JSONMappingParameters.RecordRowPath: {row_path!r}: clickflow "
                "reads one row per record ($); a record holding an array of rows is not split"
            )
        return InputSchema("JSON", tuple(parsed))
    column_delimiter = mapping.get("RecordColumnDelimiter", ",")
    row_delimiter = mapping.get("RecordRowDelimiter", "\n")
    if not column_delimiter or not row_delimiter:
        raise MigrateError(f"{where}.RecordFormat.MappingParameters.CSVMappingParameters: delimiters must not be empty")
    return InputSchema("CSV", tuple(parsed), "$", column_delimiter, row_delimiter)


def load_description(path: Path, text: str) -> Application:
    """An application from ``describe-application``'s JSON (``{"ApplicationDetail": {...}}``)."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise MigrateError(f"{path}: not valid JSON ({exc.msg}, line {exc.lineno})") from None
    detail = document.get("ApplicationDetail", document) if isinstance(document, dict) else None
    if not isinstance(detail, dict) or "ApplicationCode" not in detail:
        raise MigrateError(
            f"{path}: expected the output of `aws kinesisanalytics describe-application` "
            "(an ApplicationDetail with ApplicationCode)"
        )
    where = f"{path}: ApplicationDetail"
    app = Application(
        name=str(detail.get("ApplicationName") or path.stem),
        code=str(detail["ApplicationCode"] or ""),
        code_file=f"{path} (ApplicationCode)",
    )
    inputs = detail.get("InputDescriptions") or []
    if len(inputs) > 1:
        raise MigrateError(f"{where}.InputDescriptions: {len(inputs)} inputs; clickflow migrates one input stream")
    for item in inputs:
        at = f"{where}.InputDescriptions[0]"
        app.prefix = str(item.get("NamePrefix") or SOURCE_PREFIX)
        count = (item.get("InputParallelism") or {}).get("Count", 1)
        if count != 1:
            app.notes.append(f"input parallelism {count}: clickflow reads all shards into one in-application stream")
        if "KinesisStreamsInputDescription" in item:
            arn = item["KinesisStreamsInputDescription"].get("ResourceARN")
            app.input_stream = _arn_name(arn, "stream", f"{at}.KinesisStreamsInputDescription.ResourceARN")
        elif "KinesisFirehoseInputDescription" in item:
            raise MigrateError(
                f"{at}: the input is a Firehose delivery stream; clickflow reads Kinesis streams: send the records "
                "to a Kinesis stream and give it with --input-stream"
            )
        if item.get("InputProcessingConfigurationDescription"):
            raise MigrateError(
                f"{at}.InputProcessingConfigurationDescription: a Lambda preprocessor is not migrated; run its "
                "logic before the stream, or in the SQL"
            )
        app.schema = _schema(item.get("InputSchema"), f"{at}.InputSchema")
        position = (item.get("InputStartingPositionConfiguration") or {}).get("InputStartingPosition")
        if position == "NOW":
            app.start = "latest"
        elif position == "LAST_STOPPED_POINT":
            app.notes.append(
                "input: KDA resumed from its last stopped point; clickflow starts at trim_horizon the first time "
                "and resumes from its own checkpoints (clickflow run --job DIR --restore latest)"
            )
    for index, item in enumerate(detail.get("OutputDescriptions") or []):
        at = f"{where}.OutputDescriptions[{index}]"
        name = item.get("Name")
        if not isinstance(name, str) or not name:
            raise MigrateError(f"{at}.Name: missing")
        output_format = (item.get("DestinationSchema") or {}).get("RecordFormatType", "JSON")
        if output_format != "JSON":
            app.notes.append(f"output {name}: KDA wrote {output_format}; clickflow writes JSON records")
        for key, kind, resource in (
            ("KinesisStreamsOutputDescription", "kinesis", "stream"),
            ("KinesisFirehoseOutputDescription", "firehose", "deliverystream"),
            ("LambdaOutputDescription", "lambda", "function"),
        ):
            if key in item:
                arn = item[key].get("ResourceARN", "")
                target = (
                    arn.split(":")[-1]
                    if kind == "lambda" and ":function:" in arn
                    else _arn_name(arn, resource, f"{at}.{key}.ResourceARN")
                )
                app.outputs[name] = Output(target, kind)
                break
        else:
            raise MigrateError(f"{at}: no Kinesis stream, Firehose or Lambda destination")
    references = []
    for index, item in enumerate(detail.get("ReferenceDataSourceDescriptions") or []):
        at = f"{where}.ReferenceDataSourceDescriptions[{index}]"
        s3 = item.get("S3ReferenceDataSourceDescription") or {}
        bucket_arn = re.match(r"^arn:aws[a-z-]*:s3:::([^/]+)$", str(s3.get("BucketARN", "")))
        if not bucket_arn:
            raise MigrateError(f"{at}.S3ReferenceDataSourceDescription.BucketARN: expected arn:aws:s3:::BUCKET")
        bucket = bucket_arn.group(1)
        if not isinstance(item.get("TableName"), str) or not s3.get("FileKey"):
            raise MigrateError(f"{at}: expected TableName and S3ReferenceDataSourceDescription.FileKey")
        references.append(
            ReferenceTable(item["TableName"], bucket, s3["FileKey"], _schema(item.get("ReferenceSchema"), at))
        )
    app.references = tuple(references)
    return app


def load_schema_file(path: Path) -> InputSchema:
    """An ``InputSchema`` JSON file (as in the describe-application output, or with the key around it)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise MigrateError(f"{path}: not valid JSON ({exc.msg}, line {exc.lineno})") from None
    if isinstance(data, dict) and "InputSchema" in data:
        data = data["InputSchema"]
    return _schema(data, f"{path}: InputSchema")


TIMESTAMP_TEXT = re.compile(r"^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z?$")


def _infer_type(values: list[object]) -> str:
    present = [v for v in values if v is not None]
    if not present:
        return "VARCHAR(64)"
    if all(isinstance(v, bool) for v in present):
        return "BOOLEAN"
    if all(isinstance(v, int) and not isinstance(v, bool) for v in present):
        return "INTEGER" if all(-(2**31) <= int(v) < 2**31 for v in present) else "BIGINT"  # type: ignore[call-overload]
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in present):
        return "DOUBLE"
    if all(isinstance(v, str) and TIMESTAMP_TEXT.match(v) for v in present):
        return "TIMESTAMP"
    longest = max(len(str(v)) for v in present)
    size = 8
    while size < longest * 2:
        size *= 2
    return f"VARCHAR({size})"


def _csv_value(text: str) -> object:
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text if text != "" else None


def infer_schema(path: Path, notes: list[str]) -> InputSchema:
    """A schema discovered from sample records (JSON lines, or CSV lines), as KDA's discovery did:
    nested objects flattened to PARENT_CHILD columns, names in upper case, types from the values."""
    try:
        lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    except UnicodeDecodeError:
        raise MigrateError(f"{path}: not UTF-8 text") from None
    if not lines:
        raise MigrateError(f"{path}: no sample records")
    first = lines[0].lstrip()
    if first.startswith("{"):
        values: dict[str, list[object]] = {}
        paths: dict[str, str] = {}
        skipped: set[str] = set()

        def walk(record: dict, prefix: str, path_prefix: str) -> None:
            for key, value in record.items():
                column = re.sub(r"[^A-Za-z0-9_]", "_", f"{prefix}{key}").upper()
                path_text = f"{path_prefix}.{key}" if re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", str(key)) else None
                if path_text is None:
                    skipped.add(str(key))
                elif isinstance(value, dict):
                    walk(value, f"{prefix}{key}_", path_text)
                elif isinstance(value, list):
                    skipped.add(path_text)
                else:
                    paths.setdefault(column, path_text)
                    values.setdefault(column, []).append(value)

        for number, line in enumerate(lines, 1):
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                raise MigrateError(f"{path}:{number}: not a JSON record") from None
            if not isinstance(record, dict):
                raise MigrateError(f"{path}:{number}: not a JSON object")
            walk(record, "", "$")
        columns = tuple(InputColumn(n, _infer_type(values[n]), paths[n]) for n in values)
        schema = InputSchema("JSON", columns)
        if skipped:
            notes.append(f"sample: not mapped (arrays or names that are not identifiers): {', '.join(sorted(skipped))}")
    else:
        rows = [line.split(",") for line in lines]
        names = None
        if len(rows) > 1 and all(re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", f.strip()) for f in rows[0]):
            later = rows[1:]
            numeric = any(
                all(isinstance(_csv_value(r[i]), (int, float)) for r in later if i < len(r) and r[i] != "")
                and any(i < len(r) and r[i] != "" for r in later)
                for i in range(len(rows[0]))
            )
            if numeric:  # a header line: names for the columns, not a record
                names = [f.strip().upper() for f in rows[0]]
                rows = later
                lines = lines[1:]
                notes.append(f"sample: the first line of {path} is a header; its names name the columns")
        width = max(len(r) for r in rows)
        columns = tuple(
            InputColumn(
                names[i] if names and i < len(names) else f"COL{i + 1}",
                _infer_type([_csv_value(r[i]) if i < len(r) else None for r in rows]),
                str(i),
            )
            for i in range(width)
        )
        schema = InputSchema("CSV", columns)
    shown = ", ".join(f"{c.name} {c.sql_type} ({c.mapping})" for c in schema.columns)
    notes.append(f"input schema inferred from {len(lines)} sample records in {path} ({schema.format}): {shown}")
    return schema
