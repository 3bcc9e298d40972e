"""The job directory ``clickflow migrate`` writes and ``clickflow run --job`` reads:

- ``job.sql``: the Flink SQL, one statement per KDA statement group, each below its KDA text (as a
  comment). Tables name their connector options by placeholder — ``${source}``, ``${sink:STREAM}``,
  ``${reference:TABLE}`` — rendered per profile when the job runs (the same SQL everywhere);
- ``clickflow.yaml``: the ``migration:`` section — the input Kinesis stream, the Kinesis stream of
  each destination in-application stream and of the errors, the reference tables' S3 objects;
- ``report.md``: every construct found and what it became.

The directory is written whole or not at all (into a temporary directory, then renamed).
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from clickflow.migrate.errors import MigrateError

if TYPE_CHECKING:  # reading a job directory (on Managed Flink too) needs neither the grammar nor the translator
    from clickflow.migrate.app import Application
    from clickflow.migrate.translate import Translation

PLACEHOLDER = re.compile(r"\$\{(source|sink:[^}]+|reference:[^}]+)\}")


@dataclass(frozen=True)
class Reference:
    """A reference table's S3 object (its format and columns are in job.sql, where it is joined)."""

    path: str  # s3://bucket/key


@dataclass(frozen=True)
class MigratedJob:
    """A job directory, read back: its SQL and where its streams are."""

    directory: Path
    name: str
    input_stream: str
    outputs: dict[str, str]  # in-application stream → Kinesis stream ("error_stream" among them)
    statements: list[str]
    start: str = "trim_horizon"
    references: dict[str, Reference] = field(default_factory=dict)

    def streams(self) -> list[str]:
        """Every Kinesis stream the job reads or writes."""
        return sorted({self.input_stream, *self.outputs.values()})

    def inserts(self) -> list[str]:
        """The job's INSERT statements."""
        return [s for s in self.statements if s.lstrip().upper().startswith("INSERT")]

    def ddl(self) -> list[str]:
        """The job's tables, views and functions."""
        return [s for s in self.statements if not s.lstrip().upper().startswith("INSERT")]


def report_lines(app: Application, translation: Translation) -> list[str]:
    """The report: what was inferred or defaulted, then every construct and what it became."""
    lines = [f"# clickflow migrate: {app.name}", ""]
    if app.notes or translation.inferred:
        lines.append("## Inferred and defaulted")
        lines.extend(f"- {note}" for note in app.notes)
        if translation.inferred:
            shown = ", ".join(f"{n} {t} ({p})" for n, (t, p) in translation.inferred.items())
            lines.append(f"- input columns inferred from the SQL (JSON fields named as the SQL writes them): {shown}")
        lines.append("")
    lines += ["## Constructs", "", "| line | KDA | Flink (clickflow) |", "|---|---|---|"]
    for entry in sorted(translation.report, key=lambda e: e["line"] or 0):
        construct = entry["construct"].replace("|", "\\|")
        becomes = entry["becomes"].replace("|", "\\|")
        lines.append(f"| {entry['line'] or ''} | {construct} | {becomes} |")
    return lines


def job_sql(app: Application, translation: Translation) -> str:
    """The job's SQL file: each KDA statement (as a comment) above its translation."""
    out = [
        f"-- {app.name}: migrated from Kinesis Data Analytics for SQL by `clickflow migrate`.",
        "-- Connector options are rendered per profile at run time from the placeholders: ${source} is the input",
        "-- stream, ${sink:S} the Kinesis stream of in-application stream S, ${reference:T} reference table T",
        "-- (see clickflow.yaml). Run it: clickflow run --job DIR [--bounded].",
        "",
    ]
    inserts: list[tuple[str, str]] = []
    for piece in translation.pieces:
        out.extend("-- " + line if line and not line.startswith("--") else line for line in piece.kda.splitlines())
        for statement in piece.sql:
            out.append(statement + ";")
        inserts.extend((piece.kda, i) for i in piece.inserts)
        out.append("")
    out.append("-- the job: one statement set of every INSERT")
    for kda, insert in inserts:
        first = kda.splitlines()[0] if kda else ""
        out.append(f"-- {first.lstrip('- ')}" if first else "--")
        out.append(insert + ";")
    return "\n".join(out) + "\n"


def config_document(app: Application, translation: Translation, start: str) -> dict:
    """The ``migration:`` section of clickflow.yaml."""
    outputs = {stream: app.outputs[stream].stream for stream in translation.destinations}
    errors = next((o.stream for n, o in app.outputs.items() if n.upper() == "ERROR_STREAM"), None)
    outputs["error_stream"] = errors or _stream_name(f"{app.name}-errors")
    references = {r.name: {"path": f"s3://{r.bucket}/{r.key}"} for r in app.references}
    section: dict = {
        "name": app.name,
        "input": {"stream": app.input_stream, "start": start},
        "outputs": outputs,
    }
    if references:
        section["reference"] = references
    return {"migration": section}


def _stream_name(text: str) -> str:
    return re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")


def write(directory: Path, app: Application, translation: Translation, report: list[str], overwrite: bool) -> None:
    """Write the job directory whole (a temporary directory renamed into place), or not at all."""
    if directory.exists() and any(directory.iterdir()) and not overwrite:
        raise MigrateError(f"{directory}: exists and is not empty (--overwrite replaces it)")
    parent = directory.resolve().parent
    parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{directory.name}-", dir=parent))
    try:
        (staging / "job.sql").write_text(job_sql(app, translation), encoding="utf-8")
        header = (
            "# The migrated application's streams (clickflow migrate). Edit the stream names here, not in job.sql.\n"
            "# The rest of the file (besides migration:) is laid over the profile, as any --config file is.\n"
        )
        document = yaml.safe_dump(config_document(app, translation, app.start), sort_keys=False)
        (staging / "clickflow.yaml").write_text(header + document, encoding="utf-8")
        (staging / "report.md").write_text("\n".join(report) + "\n", encoding="utf-8")
        if directory.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{directory.name}-old-", dir=parent))
            os.replace(directory, old / directory.name)
            os.replace(staging, directory)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(staging, directory)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


def split_statements(sql: str) -> list[str]:
    """The statements of a SQL file: split at each ``;`` outside quotes and comments; comments dropped."""
    statements, current, i, n = [], [], 0, len(sql)
    while i < n:
        char = sql[i]
        if char == "-" and sql.startswith("--", i):
            end = sql.find("\n", i)
            i = n if end < 0 else end + 1
            current.append("\n")
            continue
        if char in "'`\"":
            end = i + 1
            while end < n:
                if sql[end] == char:
                    if end + 1 < n and sql[end + 1] == char:
                        end += 2
                        continue
                    break
                end += 1
            current.append(sql[i : end + 1])
            i = end + 1
            continue
        if char == ";":
            statement = "".join(current).strip()
            if statement:
                statements.append(statement)
            current = []
            i += 1
            continue
        current.append(char)
        i += 1
    tail = "".join(current).strip()
    if tail:
        statements.append(tail)
    return statements


def load(directory: Path) -> MigratedJob:
    """Read a job directory back; errors name the file and the key."""
    config_file = directory / "clickflow.yaml"
    sql_file = directory / "job.sql"
    for file in (config_file, sql_file):
        if not file.is_file():
            raise MigrateError(f"{directory}: no {file.name} here: is it a directory `clickflow migrate --out` wrote?")
    try:
        document = yaml.safe_load(config_file.read_text(encoding="utf-8"))
    except yaml.YAMLError:
        raise MigrateError(f"{config_file}: not valid YAML") from None
    section = document.get("migration") if isinstance(document, dict) else None
    if not isinstance(section, dict):
        raise MigrateError(f"{config_file}: expected a migration: section (name, input, outputs)")
    where = f"{config_file}: migration"
    source = section.get("input")
    if not isinstance(source, dict) or not isinstance(source.get("stream"), str) or not source["stream"]:
        raise MigrateError(f"{where}.input.stream: missing (the Kinesis stream the application reads)")
    start = str(source.get("start", "trim_horizon")).lower()
    if start not in ("trim_horizon", "latest"):
        raise MigrateError(f"{where}.input.start: expected trim_horizon or latest, got {start!r}")
    outputs = section.get("outputs")
    if not isinstance(outputs, dict) or not all(isinstance(v, str) and v for v in outputs.values()):
        raise MigrateError(f"{where}.outputs: expected IN_APPLICATION_STREAM: kinesis-stream pairs")
    references = {}
    for table, spec in (section.get("reference") or {}).items():
        if not isinstance(spec, dict) or not str(spec.get("path", "")).startswith(("s3://", "file:", "/")):
            raise MigrateError(f"{where}.reference.{table}.path: expected s3://bucket/key (or a local path)")
        references[str(table)] = Reference(str(spec["path"]))
    statements = split_statements(sql_file.read_text(encoding="utf-8"))
    for statement in statements:
        for marker in PLACEHOLDER.findall(statement):
            kind, _, target = marker.partition(":")
            if kind == "sink" and target not in outputs:
                raise MigrateError(f"{sql_file}: ${{sink:{target}}}: {target} is not under {where}.outputs")
            if kind == "reference" and target not in references:
                raise MigrateError(f"{sql_file}: ${{reference:{target}}}: {target} is not under {where}.reference")
    return MigratedJob(
        directory,
        str(section.get("name") or directory.name),
        source["stream"],
        dict(outputs),
        statements,
        start,
        references,
    )
