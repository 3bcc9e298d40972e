"""`clickflow analyze`: the analytics in ``sql/`` over a bounded file, results as JSON lines.

The input (REES46 CSV, or the JSON lines the producer sends; plain or .gz; local or s3://) is
first read with the producer's own row parser, so a row ``analyze`` rejects is exactly a row
``replay`` would reject, for the same reason; rejected rows are counted and written to
``DIR/_rejects.jsonl``. The valid events are written as the same JSON the stream carries, and
Flink reads them through the ``events`` table of ``sql/events.sql`` — the same table, columns,
event time and watermark as the streaming job, with a file in place of a Kinesis stream.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date
from pathlib import Path

from connectors import aws
from connectors.config import Config
from connectors.kinesis_connector import build_udfs
from connectors.tables import file_options
from jobs import analytics, plans
from jobs.failure import flink_root_cause
from producer import valid_event
from producer.progress import ProgressLine, human_duration
from producer.rejects import RejectsFile
from producer.rows import Event, RowError, TimeBounds, raw_row, read_rows
from producer.source import CSV, JSON_LINES, READ_ERRORS, guarded, is_json_lines, open_source, read_failure

LATE = "late_events"  # what the windows dropped as late, one row per event and analytic (sql/late_events.sql)

# A bounded run over a file is a throughput job: the parallel collector measured 14% faster than
# G1 in Flink here (benchmarks/analyze.py, all five analytics, 1M events) and used less memory.
BATCH_JVM_ARGS = ("-XX:+UseParallelGC",)


class AnalyzeError(RuntimeError):
    """The analysis cannot run as asked; the message says why."""


@dataclass
class AnalyzeSummary:
    """What ``clickflow analyze`` read, rejected and wrote."""

    source: str
    output_dir: Path
    rows_read: int = 0
    events: int = 0
    rows_rejected: int = 0
    outside_range: int = 0  # valid events outside the chosen days (insights --from/--to), left out
    late: dict[str, int] = field(default_factory=dict)  # events each analytic dropped: their window had closed
    outputs: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    flink_seconds: float = 0.0

    def report(self) -> list[str]:
        """The summary lines printed when it ends."""
        lines = [
            f"rows read        {self.rows_read:>10,}   from {self.source}",
            f"events analysed  {self.events:>10,}",
            f"rows rejected    {self.rows_rejected:>10,}"
            + (f"   (line, field and reason in {self.output_dir / '_rejects.jsonl'})" if self.rows_rejected else ""),
        ]
        for name, count in self.outputs.items():
            if name == LATE:
                continue
            late = self.late.get(name, 0)
            dropped = f"   ({late:,} late events dropped)" if late else ""
            lines.append(f"{name:<17}{count:>10,} rows   {self.output_dir / name}/{dropped}")
        if any(self.late.values()):
            lines.append(
                f"late events: {sum(self.late.values()):,} in all, each more out of order than "
                f"analytics.watermark_delay allows for its window; listed in {self.output_dir / LATE}/"
            )
        lines.append(f"took {self.seconds:.1f}s ({self.flink_seconds:.1f}s in Flink)")
        return lines


def prepare_events(
    config: Config,
    source: str,
    events_path: Path,
    rejects: RejectsFile,
    summary: AnalyzeSummary,
    day_range: tuple[date | None, date | None] = (None, None),
) -> None:
    """Validate the input row by row and write the valid events as JSON lines for Flink; with
    ``day_range`` (first, last UTC day, both included) only the events of those days."""
    s3 = aws.client(config, "s3") if source.startswith("s3://") else None
    json_input = is_json_lines(source)
    bounds = TimeBounds.ahead_of_now(config.producer.max_event_time_ahead)
    with open_source(source, s3, JSON_LINES if json_input else CSV) as opened:
        with open(events_path, "w", encoding="utf-8") as out:
            if json_input:
                _prepare_json_lines(opened, source, out, rejects, summary, bounds, day_range)
                return
            try:
                parser, rows = read_rows(opened.text, source, bounds)
            except READ_ERRORS as exc:
                raise read_failure(source, exc, 0) from None
            for line, fields, problem in guarded(rows, source):
                summary.rows_read += 1
                try:
                    if problem:
                        raise RowError(line, problem)
                    event: Event = parser.parse(line, fields)
                    text = event.to_json()
                except RowError as err:
                    # a row the CSV reader could not split comes with no fields at all
                    summary.rows_rejected += 1
                    rejects.write("rejected", line, err.reason, field=err.field, row=raw_row(fields) if fields else "")
                    continue
                if _outside(event.event_time.date(), day_range):
                    summary.outside_range += 1
                    continue
                out.write(text)
                out.write("\n")
                summary.events += 1


def _outside(day: date, day_range: tuple[date | None, date | None]) -> bool:
    first, last = day_range
    return bool((first and day < first) or (last and day > last))


def _prepare_json_lines(opened, source: str, out, rejects: RejectsFile, summary: AnalyzeSummary, bounds, day_range):
    """JSON lines judged by :func:`judged_json_lines`; valid lines go to Flink as they are."""
    for body, verdict in judged_json_lines(opened.text, source, rejects, summary, bounds):
        if _outside(verdict.event_time.date(), day_range):  # valid: it has a time
            summary.outside_range += 1
            continue
        out.write(body)
        out.write("\n")
        summary.events += 1


def judged_json_lines(text, source: str, rejects: RejectsFile, counts, bounds):
    """The valid lines of a JSON-lines text, each judged by the valid-event rule (``producer.valid_event``,
    the rule the streaming job's CHECK_EVENT applies) and the producer's time bounds: ``(line, verdict)``
    for each valid one; each other is counted in ``counts.rows_rejected`` and written to ``rejects``."""

    def lines():
        for number, line in enumerate(text, start=1):
            yield number, line, None

    for number, line, _ in guarded(lines(), source):
        body = line.rstrip("\r\n")
        if not body.strip():
            continue
        counts.rows_read += 1
        payload = body.encode("utf-8", "surrogateescape")  # the line's own bytes, UTF-8 or not
        verdict = valid_event.check(payload)
        reason = verdict.reason
        if verdict.event_time is not None and verdict.record is not None:
            problem = bounds.problem(verdict.event_time.replace(tzinfo=UTC))
            reason = problem and f"implausible event time {verdict.record['event_time']!r}: {problem}"
        if reason is not None or verdict.event_time is None or verdict.record is None:
            reason = reason or "no event time"  # (a valid event always has one)
            counts.rows_rejected += 1
            rejects.write("rejected", number, reason, row=payload.decode("utf-8", "replace"))
            continue
        yield body, verdict


def check_output(output_dir: Path, names: Iterable[str], overwrite: bool) -> None:
    """Refuse an --output that is a file (or under one); clear ``names``' folders, only with ``overwrite``."""
    if output_dir.exists() and not output_dir.is_dir():
        raise AnalyzeError(f"--output {output_dir}: this is a file; give a directory for the results")
    for parent in output_dir.parents:
        if parent.exists() and not parent.is_dir():
            raise AnalyzeError(f"--output {output_dir}: {parent} is a file, so no directory can be made there")
    taken = [name for name in names if (output_dir / name).is_dir() and any((output_dir / name).iterdir())]
    if taken and not overwrite:
        raise AnalyzeError(
            f"{output_dir} already holds results for {', '.join(taken)}; pass --overwrite to replace them"
        )
    for name in taken:
        shutil.rmtree(output_dir / name)


def read_output(output_dir: Path, name: str) -> list[dict]:
    """Every row an analytic wrote (Flink's part files, in partition folders too — the streaming
    job's archive — hidden in-progress files excluded)."""
    rows: list[dict] = []
    for part in sorted((output_dir / name).rglob("part-*")):
        with open(part, encoding="utf-8") as handle:
            rows.extend(json.loads(line) for line in handle if line.strip())
    return rows


def analyze(
    config: Config,
    source: str,
    output_dir: Path,
    names: Iterable[str] = analytics.ANALYTICS,
    overwrite: bool = False,
    say: Callable[[str], None] = lambda _: None,
    progress: bool = False,
) -> AnalyzeSummary:
    """Run ``names`` over ``source`` and write each to ``output_dir/<name>/``. ``progress`` shows a
    live line on stderr (rows read, then the time Flink has been running)."""
    names = list(names)
    unknown = [n for n in names if n not in analytics.ANALYTICS]
    if unknown:
        raise AnalyzeError(f"no analytic named {', '.join(unknown)} (known: {', '.join(analytics.ANALYTICS)})")
    started = time.monotonic()
    check_output(output_dir, [*names, LATE], overwrite)
    output_dir.mkdir(parents=True, exist_ok=True)
    summary = AnalyzeSummary(source, output_dir)
    rejects_path = output_dir / "_rejects.jsonl"
    rejects_path.unlink(missing_ok=True)
    rejects = RejectsFile(rejects_path, source)
    with tempfile.TemporaryDirectory(prefix="clickflow-analyze-") as work:
        events_path = Path(work) / "events.jsonl"
        say(f"reading {source}")
        try:
            with ProgressLine(
                lambda: f"read {summary.rows_read:,} rows, {summary.rows_rejected:,} rejected", enabled=progress
            ):
                prepare_events(config, source, events_path, rejects, summary)
        finally:
            rejects.close()
        if summary.events == 0:
            raise AnalyzeError(f"{source}: no valid events to analyse ({summary.rows_rejected} rejected)")
        say(f"{summary.events:,} events; running {len(names)} analytic(s) in Flink")
        flink_started = time.monotonic()
        try:
            env = plans.Recorder(
                analytics.create_table_env(config, [build_udfs()], jvm_args=BATCH_JVM_ARGS),
                views_from_cache=plans.cache_for(config),
            )
            analytics.register(env, config, file_options(events_path), names)
            outputs = [*names, LATE]
            statement_set = analytics.insert_all(env, outputs, lambda name: file_options(output_dir / name))
            with ProgressLine(
                lambda: f"Flink: running for {human_duration(time.monotonic() - flink_started)}", enabled=progress
            ):
                plans.execute(env, statement_set, plans.cache_for(config), say).wait()
        except Exception as exc:  # py4j and PyFlink raise their own types; report the Java root cause
            if not type(exc).__module__.startswith(("py4j", "pyflink")):
                raise
            raise AnalyzeError(f"Flink failed: {flink_root_cause(exc)}") from exc
        summary.flink_seconds = time.monotonic() - flink_started
    summary.outputs = {name: len(read_output(output_dir, name)) for name in names}
    late = [row["analytic"] for row in read_output(output_dir, LATE)]
    summary.late = {name: late.count(name) for name in names}
    summary.seconds = time.monotonic() - started
    (output_dir / "_summary.json").write_text(
        json.dumps({k: (str(v) if isinstance(v, Path) else v) for k, v in summary.__dict__.items()}, indent=2) + "\n"
    )
    return summary


def explain(config: Config, names: Iterable[str] = analytics.ANALYTICS) -> str:
    """The rendered SQL and Flink's plan of each analytic, without running anything."""
    names = list(names)
    env = analytics.create_table_env(config, [build_udfs()])
    placeholder = Path(tempfile.gettempdir()) / "clickflow-explain" / "events.jsonl"
    analytics.register(env, config, file_options(placeholder), names)
    parts = [f"-- sql/events.sql, rendered\n{analytics.events_sql(config, file_options(placeholder))}"]
    for name in names:
        parts.append(f"-- sql/{name}.sql, rendered\n{analytics.analytic_sql(config, name)}")
        parts.append(f"-- Flink plan of {name}\n{env.explain_sql(f'SELECT * FROM `{name}`')}")
    return "\n\n".join(parts)
