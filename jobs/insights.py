"""`clickflow insights`: the batch questions of ``sql/batch/`` over the archive or a file.

SOURCE is either the streaming job's archive — a directory or an ``s3://`` prefix holding
``events/dt=YYYY-MM-DD/hour=HH/part-*`` JSON files — or a clickstream file as ``analyze`` takes
(CSV or JSON lines, plain or .gz, local or s3://; the producer's own row parser, the same rejects).
``--from`` / ``--to`` (UTC days, both included) prune the archive's ``dt=`` partitions before
anything is read; an ``s3://`` archive has only those partitions downloaded. Flink runs each
insight in batch mode over the ``clicks`` view (the same columns the streaming job archives) and
writes ``DIR/<insight>/part-*`` JSON lines, with ``DIR/_summary.json``.
"""

from __future__ import annotations

import json
import re
import string
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from connectors import aws
from connectors.config import Config
from connectors.kinesis_connector import build_udfs
from connectors.tables import file_options
from jobs import analytics
from jobs.analyze import (
    AnalyzeError,
    AnalyzeSummary,
    check_output,
    prepare_events,
    read_output,
)
from jobs.failure import flink_root_cause
from producer.progress import ProgressLine
from producer.rejects import RejectsFile
from producer.source import CSV, JSON_LINES, split_s3_uri

BATCH_SQL_DIR = analytics.SQL_DIR / "batch"
INSIGHTS = ("category_weekday", "brand_marketing", "funnel", "daily_visitors")
# What the job archives under events/: the columns of the `clicks` view (sql/events.sql)
CLICKS_COLUMNS = (
    ("event_ts", "TIMESTAMP(3)"),
    ("event_type", "STRING"),
    ("product_id", "BIGINT"),
    ("category_id", "BIGINT"),
    ("category_code", "STRING"),
    ("brand", "STRING"),
    ("price", "DOUBLE"),
    ("user_id", "BIGINT"),
    ("user_session", "STRING"),
)
_PARTITION = re.compile(r"(?:^|/)dt=(\d{4}-\d{2}-\d{2})/hour=(\d{2})/")


class InsightsError(AnalyzeError):
    """The insights cannot run as asked; the message says why."""


@dataclass
class InsightsSummary:
    """What ``clickflow insights`` read and wrote."""

    source: str
    output_dir: Path
    kind: str = "file"  # "file" or "archive"
    events: int = 0  # valid events read (a file); archive: events in the chosen partitions
    rows_rejected: int = 0
    partitions: int = 0  # archive: dt=/hour= folders read
    outside_range: int = 0  # a file: events outside --from/--to, left out
    outputs: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    def report(self) -> list[str]:
        """The summary lines printed when it ends."""
        lines = [f"source           {self.source} ({self.kind})"]
        if self.kind == "archive":
            lines.append(f"partitions read  {self.partitions:>10,}")
        else:
            lines.append(f"events           {self.events:>10,}")
            lines.append(
                f"rows rejected    {self.rows_rejected:>10,}"
                + (f"   (in {self.output_dir / '_rejects.jsonl'})" if self.rows_rejected else "")
            )
            if self.outside_range:
                lines.append(f"outside --from/--to {self.outside_range:>7,}")
        for name, count in self.outputs.items():
            lines.append(f"{name:<17}{count:>10,} rows   {self.output_dir / name}/")
        lines.append(f"took {self.seconds:.1f}s")
        return lines


def parameters(config: Config, name: str) -> dict[str, str]:
    """The ``${...}`` parameters of insight ``name`` from the profile's ``insights:`` section."""
    i = config.insights
    if name == "category_weekday":
        return {"top_n": str(i.top_n)}
    if name == "brand_marketing":
        return {"min_views": str(i.min_views), "factor": repr(float(i.factor))}
    if name in ("funnel", "daily_visitors"):
        return {}
    raise InsightsError(f"no insight named {name!r} (known: {', '.join(INSIGHTS)})")


def render(config: Config, name: str) -> str:
    """The SQL of insight ``name`` (``sql/batch/<name>.sql``) with its parameters filled in."""
    text = (BATCH_SQL_DIR / f"{name}.sql").read_text(encoding="utf-8")
    try:
        return string.Template(text).substitute(parameters(config, name))
    except KeyError as exc:
        raise analytics.RenderError(f"sql/batch/{name}.sql uses ${{{exc.args[0]}}}, which nothing provides") from None


def is_file_source(source: str) -> bool:
    """A clickstream file (as ``analyze`` takes) rather than an archive directory or prefix."""
    return source.removesuffix(".gz").endswith(CSV + JSON_LINES)


def parse_day(text: str | None, option: str) -> date | None:
    """A ``--from``/``--to`` day, or an error naming ``option`` and the form expected."""
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InsightsError(f"{option} {text!r}: expected a day like 2019-10-01") from None


def _in_range(day: str, first: date | None, last: date | None) -> bool:
    moment = date.fromisoformat(day)
    return (first is None or moment >= first) and (last is None or moment <= last)


def _events_dir(root: Path) -> Path:
    """An archive's events folder: ROOT/events, or ROOT itself when it holds the dt= folders."""
    if (root / "events").is_dir():
        return root / "events"
    if any(root.glob("dt=*")):
        return root
    raise InsightsError(
        f"{root}: no archive here (expected {root}/events/dt=YYYY-MM-DD/hour=HH/ from `clickflow run`, "
        "or a CSV/JSON-lines file)"
    )


def fetch_archive(config: Config, prefix: str, target: Path, first: date | None, last: date | None, say) -> int:
    """Download the events partitions of an ``s3://`` archive within the range; returns files fetched."""
    bucket, key = split_s3_uri(prefix.rstrip("/") + "/")
    key = key.rstrip("/") + "/events/"
    s3 = aws.client(config, "s3")
    fetched = 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=key):
        for item in page.get("Contents", []):
            relative = item["Key"][len(key) :]
            match = _PARTITION.match(relative) or _PARTITION.search("/" + relative)
            name = relative.rsplit("/", 1)[-1]
            if not match or not name.startswith("part-") or not _in_range(match.group(1), first, last):
                continue  # partition pruning: other days are never downloaded
            local = target / relative
            local.parent.mkdir(parents=True, exist_ok=True)
            s3.download_file(bucket, item["Key"], str(local))
            fetched += 1
    if not fetched:
        raise InsightsError(f"{prefix}: no archived events under s3://{bucket}/{key} for the chosen days")
    say(f"downloaded {fetched:,} archive files from s3://{bucket}/{key}")
    return fetched


def register_archive(env, events_dir: Path, first: date | None, last: date | None) -> int:
    """The ``clicks`` view over an archive's events, pruned to the chosen days; returns partitions."""
    days = sorted({p.name[3:] for p in events_dir.glob("dt=*") if p.is_dir()})
    chosen = [d for d in days if _in_range(d, first, last)]
    partitions = sum(1 for d in chosen for h in (events_dir / f"dt={d}").glob("hour=*") if h.is_dir())
    if not partitions:
        raise InsightsError(f"{events_dir}: no dt= partitions for the chosen days (found: {', '.join(days) or 'none'})")
    env.execute_sql(analytics.table_sql("clicks_archive", CLICKS_COLUMNS, file_options(events_dir), ("dt", "hour")))
    where = []
    if first:
        where.append(f"`dt` >= '{first.isoformat()}'")
    if last:
        where.append(f"`dt` <= '{last.isoformat()}'")
    names = ", ".join(f"`{name}`" for name, _ in CLICKS_COLUMNS)
    # the dt filter is pushed into the source: Flink lists only those partitions
    env.execute_sql(
        f"CREATE TEMPORARY VIEW clicks AS SELECT {names} FROM clicks_archive"
        + (f" WHERE {' AND '.join(where)}" if where else "")
    )
    return partitions


def insights(
    config: Config,
    source: str,
    output_dir: Path,
    first: date | None = None,
    last: date | None = None,
    names: Iterable[str] = INSIGHTS,
    overwrite: bool = False,
    say: Callable[[str], None] = lambda _: None,
    progress: bool = False,
) -> InsightsSummary:
    """Run the insights over ``source`` into ``output_dir/<insight>/``."""
    names = list(names)
    for name in names:
        parameters(config, name)  # unknown names fail here, before anything is read
    if first and last and first > last:
        raise InsightsError(f"--from {first} is after --to {last}")
    started = time.monotonic()
    check_output(output_dir, names, overwrite)
    output_dir.mkdir(parents=True, exist_ok=True)
    summary = InsightsSummary(source, output_dir, "file" if is_file_source(source) else "archive")
    with tempfile.TemporaryDirectory(prefix="clickflow-insights-") as work:
        # the input first (no JVM yet): a bad source fails in a second
        if summary.kind == "file":
            events_path = Path(work) / "events.jsonl"
            rejects = RejectsFile(output_dir / "_rejects.jsonl", source)
            (output_dir / "_rejects.jsonl").unlink(missing_ok=True)
            checked = AnalyzeSummary(source, output_dir)
            say(f"reading {source}")
            try:
                with ProgressLine(lambda: f"read {checked.rows_read:,} rows", enabled=progress):
                    prepare_events(config, source, events_path, rejects, checked, day_range=(first, last))
            finally:
                rejects.close()
            summary.events, summary.rows_rejected = checked.events, checked.rows_rejected
            summary.outside_range = checked.outside_range
            if not summary.events:
                raise InsightsError(f"{source}: no valid events in the chosen days ({summary.rows_rejected} rejected)")
        elif source.startswith("s3://"):
            events_dir = Path(work) / "archive" / "events"
            fetch_archive(config, source, events_dir, first, last, say)
        else:
            events_dir = _events_dir(Path(source))
        env = analytics.create_table_env(config, [build_udfs()] if summary.kind == "file" else [], batch=True)
        if summary.kind == "file":
            analytics.execute_script(env, analytics.events_sql(config, file_options(events_path)))
        else:
            summary.partitions = register_archive(env, events_dir, first, last)
        try:
            statements = env.create_statement_set()
            for name in names:
                analytics.execute_script(env, render(config, name))
                env.execute_sql(analytics.sink_sql(env, name, f"{name}_out", file_options(output_dir / name)))
                statements.add_insert_sql(f"INSERT INTO `{name}_out` SELECT * FROM `{name}`")
            say(f"running {len(names)} insight(s) in Flink (batch)")
            statements.execute().wait()
        except Exception as exc:  # py4j and PyFlink raise their own types; report the Java root cause
            if not type(exc).__module__.startswith(("py4j", "pyflink")):
                raise
            raise InsightsError(f"Flink failed: {flink_root_cause(exc)}") from exc
    summary.outputs = {name: len(read_output(output_dir, name)) for name in names}
    summary.seconds = time.monotonic() - started
    (output_dir / "_summary.json").write_text(
        json.dumps({k: (str(v) if isinstance(v, Path) else v) for k, v in summary.__dict__.items()}, indent=2) + "\n"
    )
    return summary
