"""`clickflow insights`: the batch questions of ``sql/athena/`` over the archive or a file, on DuckDB.

Each insight is one SQL file in Athena's dialect (Trino): ``clickflow catalog`` prints it for Athena,
and ``clickflow insights`` runs the same rendered text locally on DuckDB, through sqlglot's
Trino-to-DuckDB step (:func:`duckdb_sql`) and two rewrites where the engines differ in meaning:

* DuckDB divides DECIMALs in floating point, Trino (and Flink, which ran these insights before)
  exactly: ``round(a / b, n)`` becomes a call of an exact half-up function on the aggregated rows;
* DuckDB casts a DOUBLE to DECIMAL from its binary value (1.005 -> 1.00), Trino and Flink from its
  shortest decimal form (1.005 -> 1.01): ``CAST(price AS decimal)`` goes through that form.

SOURCE is either the streaming job's archive — a directory or an ``s3://`` prefix holding
``events/dt=YYYY-MM-DD/hour=HH/part-*`` JSON files — or a clickstream file as ``analyze`` takes
(CSV or JSON lines, plain or .gz, local or s3://) judged by clickflow's one rule for a valid row:
the same rows rejected, for the same reasons, as ``replay`` and ``analyze`` reject
(:mod:`producer.bulk` does it at file speed). ``--from`` / ``--to`` (UTC days, both included)
prune the archive's ``dt=`` partitions before anything is read — an ``s3://`` archive has only
those downloaded — and filter a file's events. Results go to ``DIR/<insight>/part-0.json`` as JSON
lines, with ``DIR/_summary.json``.
"""

from __future__ import annotations

import json
import re
import string
import tempfile
import time
import typing
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal, localcontext
from pathlib import Path

from connectors import aws
from connectors.config import Config, InsightsConfig
from jobs import analytics
from jobs.analyze import AnalyzeError, check_output, judged_json_lines
from producer import bulk
from producer.progress import ProgressLine
from producer.rejects import RejectsFile
from producer.rows import SchemaError, TimeBounds
from producer.source import CSV, JSON_LINES, READ_ERRORS, is_json_lines, open_source, read_failure, split_s3_uri

ATHENA_SQL_DIR = analytics.SQL_DIR / "athena"
INSIGHTS = ("category_weekday", "brand_marketing", "funnel", "daily_visitors")
# What the job archives under events/: the columns of the `clicks` view (sql/events.sql), which is
# also the Glue table `events` of `clickflow catalog` (with the dt, hour partition keys)
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
_DUCKDB_TYPES = {"TIMESTAMP(3)": "VARCHAR", "STRING": "VARCHAR", "BIGINT": "BIGINT", "DOUBLE": "DOUBLE"}
_DOUBLE_COLUMNS = {name for name, kind in CLICKS_COLUMNS if kind == "DOUBLE"}
_PARTITION = re.compile(r"(?:^|/)dt=(\d{4}-\d{2}-\d{2})/hour=(\d{2})/")
ROUND_RATIO = "clickflow_round_ratio"


class InsightsError(AnalyzeError):
    """The insights cannot run as asked; the message says why."""


@dataclass
class InsightsSummary:
    """What ``clickflow insights`` read and wrote."""

    source: str
    output_dir: Path
    kind: str = "file"  # "file" or "archive"
    rows_read: int = 0  # a file: its rows (lines of JSON)
    events: int = 0  # the events the insights ran over (a file: its valid events in --from/--to)
    rows_rejected: int = 0
    partitions: int = 0  # archive: dt=/hour= folders read
    outside_range: int = 0  # a file: events outside --from/--to, left out
    outputs: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    progress: bool = field(default=False, repr=False)  # a progress line while a file is read or an archive fetched

    def report(self) -> list[str]:
        """The summary lines printed when it ends."""
        lines = [f"source           {self.source} ({self.kind})"]
        if self.kind == "archive":
            lines.append(f"partitions read  {self.partitions:>10,}")
            lines.append(f"events           {self.events:>10,}")
        else:
            lines.append(f"rows read        {self.rows_read:>10,}")
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
    """The ``${...}`` parameters of insight ``name``: the profile's ``insights:`` section and the
    catalog's database (the Athena table ``"<database>"."events"``; the same name locally)."""
    i = config.insights
    values = {"database": config.catalog.database}
    if name == "category_weekday":
        return {**values, "top_n": str(i.top_n)}
    if name == "brand_marketing":
        return {**values, "min_views": str(i.min_views), "factor": repr(float(i.factor))}
    if name in ("funnel", "daily_visitors"):
        return values
    raise InsightsError(f"no insight named {name!r} (known: {', '.join(INSIGHTS)})")


def render(config: Config, name: str) -> str:
    """The Athena SQL of insight ``name`` (``sql/athena/<name>.sql``) with its parameters filled in:
    what ``clickflow catalog`` prints and what :func:`duckdb_sql` turns into DuckDB's dialect."""
    text = (ATHENA_SQL_DIR / f"{name}.sql").read_text(encoding="utf-8")
    try:
        return string.Template(text).substitute(parameters(config, name))
    except KeyError as exc:
        raise analytics.RenderError(f"sql/athena/{name}.sql uses ${{{exc.args[0]}}}, which nothing provides") from None


def parse_trino(sql: str):
    """The Athena (Trino) SQL parsed by sqlglot, or an :class:`InsightsError` saying where it fails."""
    import sqlglot
    from sqlglot.errors import ParseError

    try:
        return sqlglot.parse_one(sql, read="trino")
    except ParseError as exc:
        raise InsightsError(f"not Trino SQL: {exc}") from None


def duckdb_sql(sql: str) -> str:
    """Athena's SQL in DuckDB's dialect: sqlglot's Trino-to-DuckDB transpiler, then the two rewrites
    where the engines mean different things (see the module's docstring)."""
    from sqlglot import exp

    def rewrite(node):
        if isinstance(node, exp.Round) and isinstance(node.this, exp.Div):
            places = node.args.get("decimals") or exp.Literal.number(0)
            return exp.Anonymous(this=ROUND_RATIO, expressions=[node.this.left, node.this.right, places])
        if (
            isinstance(node, exp.Cast)
            and node.to.this == exp.DataType.Type.DECIMAL
            and isinstance(node.this, exp.Column)
            and node.this.name in _DOUBLE_COLUMNS
        ):
            return exp.Cast(this=exp.Cast(this=node.this, to=exp.DataType.build("VARCHAR")), to=node.to)
        return node

    return parse_trino(sql).transform(rewrite).sql(dialect="duckdb")


def round_ratio(numerator: Decimal | None, denominator: int | None, places: int) -> Decimal | None:
    """``numerator / denominator`` rounded half up to ``places`` decimals, exactly (Trino's and Flink's
    decimal division); null when either is null or the denominator is 0."""
    if numerator is None or denominator is None or denominator == 0:
        return None
    with localcontext() as context:
        context.prec = 80
        return (Decimal(numerator) / Decimal(denominator)).quantize(Decimal(1).scaleb(-places), ROUND_HALF_UP)


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


def fetch_archive(
    config: Config,
    prefix: str,
    target: Path,
    first: date | None,
    last: date | None,
    say,
    progress: bool = False,
) -> int:
    """Download the events partitions of an ``s3://`` archive within the range; returns files fetched.
    With both ends of the range given only those days' prefixes are listed; otherwise the listing is
    pruned by its ``dt=`` folder names."""
    bucket, key = split_s3_uri(prefix.rstrip("/") + "/")
    key = key.rstrip("/") + "/events/"
    s3 = aws.client(config, "s3")
    if first and last:
        prefixes = [f"{key}dt={(first + timedelta(days=n)).isoformat()}/" for n in range((last - first).days + 1)]
    else:
        prefixes = [key]
    fetched, size = 0, 0
    with ProgressLine(lambda: f"downloaded {fetched:,} archive files ({size / 1e6:,.1f} MB)", enabled=progress):
        for listed in prefixes:
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=listed):
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
                    size += item.get("Size", 0)
    if not fetched:
        raise InsightsError(f"{prefix}: no archived events under s3://{bucket}/{key} for the chosen days")
    say(f"downloaded {fetched:,} archive files from s3://{bucket}/{key}")
    return fetched


def _archive_files(events_dir: Path, first: date | None, last: date | None) -> tuple[list[Path], int]:
    """The part files of an archive's chosen days (partition pruning), and how many hour partitions hold them."""
    days = sorted({p.name[3:] for p in events_dir.glob("dt=*") if p.is_dir()})
    chosen = [d for d in days if _in_range(d, first, last)]
    hours = [h for d in chosen for h in sorted((events_dir / f"dt={d}").glob("hour=*")) if h.is_dir()]
    if not hours:
        raise InsightsError(f"{events_dir}: no dt= partitions for the chosen days (found: {', '.join(days) or 'none'})")
    # part-* only: Flink's in-progress files are hidden (.part-*) until committed
    files = [f for h in hours for f in sorted(h.glob("part-*")) if f.is_file()]
    return files, len(hours)


def _sql_list(paths: Iterable[Path]) -> str:
    return "[" + ", ".join("'" + str(p).replace("'", "''") + "'" for p in paths) + "]"


def _columns_struct(time_column: str) -> str:
    names = [(time_column if name == "event_ts" else name, _DUCKDB_TYPES[kind]) for name, kind in CLICKS_COLUMNS]
    return "{" + ", ".join(f"'{name}': '{kind}'" for name, kind in names) + "}"


_SELECT_EVENTS = (
    "SELECT CAST({time} AS TIMESTAMP) AS event_ts, event_type, product_id, category_id, category_code, brand, "
    "price, user_id, user_session"
)


def _events_view(con, database: str, where: str = "") -> None:
    """``"<database>"."events"``, the Athena table's columns (the archive's, and dt, hour) over the run's
    ``clicks`` table."""
    quoted = '"' + database.replace('"', '""') + '"'
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {quoted}")
    con.execute(
        f"CREATE VIEW {quoted}.events AS SELECT *, strftime(event_ts, '%Y-%m-%d') AS dt, "
        f"strftime(event_ts, '%H') AS hour FROM clicks{where}"
    )


def _file_source(path: Path) -> str:
    """DuckDB reading the valid events :mod:`producer.bulk` wrote: a fixed schema, nothing sniffed."""
    return (
        f"read_csv('{path}', header = false, auto_detect = false, delim = ',', quote = '\"', escape = '\"', "
        f"new_line = '\\n', columns = {_columns_struct('event_time')})"
    )


def _archive_source(files: list[Path]) -> str:
    return f"read_json({_sql_list(files)}, format = 'newline_delimited', columns = {_columns_struct('event_ts')})"


def judge_file(config: Config, source: str, out, rejects: RejectsFile, summary: InsightsSummary) -> None:
    """Judge a clickstream file row by row by clickflow's rule, its valid events to the binary
    writer ``out`` (:mod:`producer.bulk`'s plain CSV); the rejected rows to ``rejects``, as ``analyze``
    writes them."""
    s3 = aws.client(config, "s3") if source.startswith("s3://") else None
    bounds = TimeBounds.ahead_of_now(config.producer.max_event_time_ahead)
    counts = bulk.BulkCounts()
    json_input = is_json_lines(source)

    with open_source(source, s3, JSON_LINES if json_input else CSV) as opened:

        def progress() -> str:
            share = opened.fraction()
            done = f" ({share:.0%} of the file)" if share is not None else ""
            return f"read {counts.rows_read:,} rows{done}, {counts.rows_rejected:,} rejected"

        with ProgressLine(progress, enabled=summary.progress):
            try:
                if json_input:
                    _judge_json_lines(opened.text, source, out, rejects, bounds, counts)
                else:
                    # the binary stream under the text one (plain or gunzipped), from its first byte
                    binary = opened.text.buffer  # type: ignore[attr-defined]
                    bulk.judge_csv(binary, source, out, bulk.reject_row(rejects), bounds, counts)
            except READ_ERRORS as exc:
                raise read_failure(source, exc, counts.rows_read) from None
    summary.rows_read, summary.rows_rejected = counts.rows_read, counts.rows_rejected
    summary.events = counts.valid


def _judge_json_lines(text, source: str, out, rejects: RejectsFile, bounds: TimeBounds, counts) -> None:
    """JSON lines judged as ``analyze`` judges them (:func:`jobs.analyze.judged_json_lines`), the valid
    events written in :mod:`producer.bulk`'s plain CSV."""
    for _, verdict in judged_json_lines(text, source, rejects, counts, bounds):
        out.write(bulk.plain_record_line(verdict.record, verdict.event_time).encode("utf-8"))
        counts.valid += 1


def _json_number(value) -> str:
    """A DECIMAL as Flink's JSON format wrote it: a plain number without trailing zeros."""
    text = format(value.normalize(), "f")
    return text


def write_rows(cursor, folder: Path) -> int:
    """An insight's result as JSON lines in ``folder/part-0.json``, values as the Flink version wrote them."""
    names = [column[0] for column in cursor.description]
    folder.mkdir(parents=True, exist_ok=True)
    count = 0
    with open(folder / "part-0.json", "w", encoding="utf-8") as out:
        for row in cursor.fetchall():
            parts = []
            for name, value in zip(names, row, strict=True):
                text = _json_number(value) if isinstance(value, Decimal) else json.dumps(value, ensure_ascii=False)
                parts.append(f"{json.dumps(name)}:{text}")
            out.write("{" + ",".join(parts) + "}\n")
            count += 1
    return count


PART_BYTES = 16 << 20  # judged events per file handed to DuckDB


class Loader:
    """The valid events into DuckDB's ``clicks`` table while the file is still being judged.

    Judged rows are written to part files of about :data:`PART_BYTES`; a thread of its own inserts
    each finished part (DuckDB runs without the GIL), so judging and loading share the cores. Used
    as the binary writer :func:`judge_file` writes to; :meth:`finish` waits for the last insert."""

    def __init__(self, con, work: Path):
        import queue
        import threading

        self._work = work
        self._parts: queue.Queue[Path | None] = queue.Queue(maxsize=2)  # bounded: the disk use stays small
        self._cursor = con.cursor()
        self._error: BaseException | None = None
        self._count = 0
        self._file: typing.BinaryIO | None = None
        self._path = work
        self._size = 0
        self._thread = threading.Thread(target=self._insert, name="duckdb-load", daemon=True)
        con.execute(
            "CREATE TABLE clicks (event_ts TIMESTAMP, event_type VARCHAR, product_id BIGINT, category_id BIGINT, "
            "category_code VARCHAR, brand VARCHAR, price DOUBLE, user_id BIGINT, user_session VARCHAR)"
        )
        self._thread.start()

    def _insert(self) -> None:
        while (part := self._parts.get()) is not None:
            try:
                if self._error is None:
                    self._cursor.execute(
                        f"INSERT INTO clicks {_SELECT_EVENTS.format(time='event_time')} FROM {_file_source(part)}"
                    )
            except BaseException as exc:  # noqa: BLE001 - re-raised by finish() in the caller's thread
                self._error = exc
            finally:
                part.unlink(missing_ok=True)

    def write(self, data: bytes) -> None:
        """Take judged rows (whole lines)."""
        if self._file is None:
            self._count += 1
            self._path = self._work / f"events-{self._count:05d}.csv"
            self._file = open(self._path, "wb")  # noqa: SIM115 - closed in _hand_over
            self._size = 0
        self._file.write(data)
        self._size += len(data)
        if self._size >= PART_BYTES:
            self._hand_over()

    def _hand_over(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
            self._parts.put(self._path)

    def finish(self) -> None:
        """Insert what is left; raise what an insert raised."""
        self._hand_over()
        self._parts.put(None)
        self._thread.join()
        self._cursor.close()
        if self._error is not None:
            raise self._error

    def abandon(self) -> None:
        """Stop after a failure: no further insert, the thread ended."""
        self._error = self._error or InsightsError("abandoned")
        if self._file is not None:
            self._file.close()
            self._file = None
        self._parts.put(None)
        self._thread.join()
        self._cursor.close()


def connect(work: Path, memory_limit: str = InsightsConfig.memory_limit):
    """A DuckDB connection for one run: in memory up to ``memory_limit``, beyond it spilled to
    ``work``; no extension loaded or fetched; the exact ratio function registered."""
    import duckdb

    con = duckdb.connect(
        ":memory:",
        config={"autoinstall_known_extensions": False, "autoload_known_extensions": False},
    )
    con.execute(f"SET temp_directory = '{work / 'spill'}'")
    try:
        con.execute(f"SET memory_limit = '{memory_limit.replace(chr(39), '')}'")
    except duckdb.Error as exc:
        con.close()
        raise InsightsError(f"insights.memory_limit {memory_limit!r}: {exc} (say e.g. 2GB or 512MB)") from None
    con.execute("SET preserve_insertion_order = false")
    con.execute("SET enable_progress_bar = false")  # clickflow's own progress line, on stderr
    con.create_function(
        ROUND_RATIO,
        round_ratio,
        [duckdb.sqltype("DECIMAL(38, 18)"), duckdb.sqltype("HUGEINT"), duckdb.sqltype("INTEGER")],
        duckdb.sqltype("DECIMAL(38, 18)"),
    )
    return con


def _load_file(config: Config, con, work: Path, source: str, output_dir: Path, first, last, summary, say) -> list[str]:
    """Judge the file into the run's ``clicks`` table; the conditions of --from/--to on it."""
    rejects_path = output_dir / "_rejects.jsonl"
    rejects_path.unlink(missing_ok=True)
    rejects = RejectsFile(rejects_path, source)
    say(f"reading {source}")
    loader = Loader(con, work)
    try:
        judge_file(config, source, loader, rejects, summary)
    except SchemaError as exc:
        loader.abandon()
        raise InsightsError(str(exc)) from None
    except BaseException:
        loader.abandon()
        raise
    finally:
        rejects.close()
    loader.finish()
    if not summary.events:
        raise InsightsError(f"{source}: no valid events ({summary.rows_rejected} rejected)")
    where = []
    if first:
        where.append(f"event_ts >= DATE '{first.isoformat()}'")
    if last:
        where.append(f"event_ts < DATE '{last.isoformat()}' + INTERVAL 1 DAY")
    if where:
        inside = con.execute(f"SELECT count(*) FROM clicks WHERE {' AND '.join(where)}").fetchone()[0]
        summary.outside_range = summary.events - inside
        summary.events = inside
        if not inside:
            raise InsightsError(f"{source}: no valid events in the chosen days ({summary.outside_range:,} outside)")
    return where


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
    import duckdb

    started = time.monotonic()
    check_output(output_dir, names, overwrite)
    output_dir.mkdir(parents=True, exist_ok=True)
    summary = InsightsSummary(source, output_dir, "file" if is_file_source(source) else "archive", progress=progress)
    with tempfile.TemporaryDirectory(prefix="clickflow-insights-") as temporary:
        work = Path(temporary)
        if summary.kind == "archive":  # the partitions first: a bad source fails before DuckDB starts
            events_dir = work / "archive" / "events"
            if source.startswith("s3://"):
                fetch_archive(config, source, events_dir, first, last, say, progress)
            else:
                events_dir = _events_dir(Path(source))
            files, summary.partitions = _archive_files(events_dir, first, last)
        con = connect(work, config.insights.memory_limit)
        try:
            if summary.kind == "file":
                where = _load_file(config, con, work, source, output_dir, first, last, summary, say)
                _events_view(con, config.catalog.database, f" WHERE {' AND '.join(where)}" if where else "")
            else:
                say(f"reading {len(files):,} archive files from {summary.partitions:,} hour partitions")
                con.execute(
                    f"CREATE TABLE clicks AS {_SELECT_EVENTS.format(time='event_ts')} FROM {_archive_source(files)}"
                )
                summary.events = con.execute("SELECT count(*) FROM clicks").fetchone()[0]
                _events_view(con, config.catalog.database)
            for name in names:
                say(f"running {name} (sql/athena/{name}.sql on DuckDB)")
                cursor = con.execute(duckdb_sql(render(config, name)))
                summary.outputs[name] = write_rows(cursor, output_dir / name)
        except duckdb.Error as exc:  # an archive file that is not JSON lines, a disk full while spilling
            raise InsightsError(f"DuckDB failed: {exc}") from None
        finally:
            con.close()
    summary.seconds = time.monotonic() - started
    (output_dir / "_summary.json").write_text(
        json.dumps(
            {k: (str(v) if isinstance(v, Path) else v) for k, v in summary.__dict__.items() if k != "progress"},
            indent=2,
        )
        + "\n"
    )
    return summary
