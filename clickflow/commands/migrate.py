"""`clickflow migrate`: a Kinesis Data Analytics for SQL application → a clickflow job directory."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from clickflow.commands.common import CliError, say


def _read_app(args):
    from clickflow.migrate.app import Application, Output, infer_schema, load_description, load_schema_file
    from clickflow.migrate.parse import MigrateError

    path = Path(args.app)
    try:
        content = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise MigrateError(f"{path}: not UTF-8 text") from None
    stripped = content.lstrip()
    described = stripped.startswith("{")
    if described:
        app = load_description(path, content)
        if args.input_schema or args.sample:
            raise CliError("--input-schema and --sample are for SQL alone: the description holds the input schema")
    else:
        app = Application(name=args.name or path.stem, code=content, code_file=str(path))
        if args.input_schema and args.sample:
            raise CliError("give --input-schema or --sample, not both")
        if args.input_schema:
            app.schema = load_schema_file(Path(args.input_schema))
        elif args.sample:
            app.schema = infer_schema(Path(args.sample), app.notes)
    app.distinct = args.distinct
    if args.name:
        app.name = args.name
    app.name = re.sub(r"[^A-Za-z0-9_-]+", "-", app.name).strip("-") or "kda-app"
    if args.input_stream:
        app.input_stream = args.input_stream
    if not app.input_stream:
        app.input_stream = f"{app.name.lower()}-input"
        app.notes.append(f"input stream {app.input_stream} (default; --input-stream to name it)")
    for spec in args.output or []:
        stream, sep, kinesis = spec.partition("=")
        if not sep or not stream or not kinesis:
            raise CliError(f"--output {spec!r}: expected IN_APPLICATION_STREAM=KINESIS_STREAM")
        key = stream[1:-1] if stream.startswith('"') else stream.upper() if stream.upper() != "ERROR_STREAM" else stream
        app.outputs[key] = Output(kinesis)
    return app


def cmd_migrate(args) -> int:
    """``clickflow migrate APP``: translate, report, and write the job directory (or ``--check``: plan it)."""
    from clickflow.migrate import jobdir
    from clickflow.migrate.parse import MigrateError
    from clickflow.migrate.translate import translate

    try:
        app = _read_app(args)
        translation = translate(app)
    except MigrateError as exc:
        print(f"clickflow migrate: refused: {exc}", file=sys.stderr)
        return 1
    report = jobdir.report_lines(app, translation)
    if args.json:
        print(json.dumps({"notes": app.notes, "inferred": translation.inferred, "constructs": translation.report}))
    else:
        for line in report:
            say(line)
    if args.check:
        from connectors.config import load_config
        from jobs.migrated import explain

        config = load_config(args.profile or "local", args.config, args.overrides)
        import tempfile

        with tempfile.TemporaryDirectory(prefix="clickflow-check-") as scratch:
            jobdir.write(Path(scratch) / "job", app, translation, report, overwrite=False)
            job = jobdir.load(Path(scratch) / "job")
            try:
                plan = explain(job, config)
            except MigrateError as exc:
                print(f"clickflow migrate: refused: {exc}", file=sys.stderr)
                return 1
        if args.verbose:
            say(plan)
        say(f"planned: Flink accepts the translated SQL ({len(job.inserts())} INSERTs in one statement set)")
        return 0
    out = Path(args.out or f"{app.name}-flink")
    try:
        jobdir.write(out, app, translation, report, overwrite=args.overwrite)
    except MigrateError as exc:
        print(f"clickflow migrate: refused: {exc}", file=sys.stderr)
        return 1
    say(f"wrote {out}/job.sql, {out}/clickflow.yaml, {out}/report.md")
    say(f"run it: clickflow run --job {out} --bounded   (on the local stack: clickflow stack up first)")
    return 0


def parser_migrate(add) -> None:
    """The arguments of `clickflow migrate`."""
    p = add(
        "migrate",
        "bring a Kinesis Data Analytics SQL application over: KDA SQL → a Flink job directory",
        "Translate a Kinesis Data Analytics for SQL application into a clickflow job: its in-application streams "
        "become views, its pumps one statement set, ROWTIME the record's arrival time (an event-time attribute), "
        "STEP/FLOOR groupings tumbling windows, WINDOW ... RANGE/ROWS PRECEDING OVER windows, "
        "COUNT_DISTINCT_ITEMS_TUMBLING and TOP_K_ITEMS_TUMBLING exact window aggregates, RANDOM_CUT_FOREST"
        "(_WITH_EXPLANATION), HOTSPOTS and the log parsers clickflow's functions of the same names (AWS's "
        "Random Cut Forest library, seeded, its model checkpointed). What cannot be "
        "translated is refused with its line and column, and nothing is written.\n\n"
        "APP is what `aws kinesisanalytics describe-application --application-name NAME` prints (JSON: the code, "
        "the input stream and schema, the outputs, reference data), or the application's SQL alone — then give "
        "the input schema (--input-schema, or --sample records to infer it from, as KDA's discovery did; without "
        "either, the input's columns are taken as the SQL uses them) and the streams (--input-stream, --output); "
        "defaults are printed.\n\n"
        "It writes DIR/job.sql (each KDA statement above its Flink translation), DIR/clickflow.yaml (the Kinesis "
        "streams: edit them there) and DIR/report.md (every construct and what it became).\n\n"
        "examples:\n"
        "  aws kinesisanalytics describe-application --application-name lab > lab.json\n"
        "  clickflow migrate lab.json --check                # report, and plan the SQL with Flink\n"
        "  clickflow migrate lab.json --out lab-flink\n"
        "  clickflow migrate app.sql --sample records.jsonl --input-stream clicks \\\n"
        "      --output DESTINATION_SQL_STREAM=clicks-per-minute\n"
        "  clickflow run --job lab-flink --bounded",
    )
    p.add_argument("app", metavar="APP", help="describe-application JSON, or the application's SQL")
    p.add_argument("--out", metavar="DIR", help="the job directory to write (default: APPNAME-flink)")
    p.add_argument("--check", action="store_true", help="print the report and plan the SQL with Flink; write nothing")
    p.add_argument("--overwrite", action="store_true", help="replace DIR if it exists")
    p.add_argument("--name", help="the application's name (default: the description's, or the file's stem)")
    p.add_argument(
        "--input-schema", metavar="FILE", help="SQL alone: the InputSchema JSON (RecordFormat, RecordColumns)"
    )
    p.add_argument("--sample", metavar="RECORDS", help="SQL alone: sample records (JSON lines or CSV) to infer it from")
    p.add_argument("--input-stream", metavar="NAME", help="the Kinesis stream to read (default: the description's)")
    p.add_argument(
        "--output",
        action="append",
        metavar="IN_APP_STREAM=KINESIS_STREAM",
        help="where an in-application stream goes (repeatable; error_stream=... for the errors)",
    )
    p.add_argument(
        "--distinct",
        choices=["exact", "sketch"],
        default="exact",
        help="COUNT_DISTINCT_ITEMS_TUMBLING: exact (default; state grows with the items) or sketch "
        "(HyperLogLog, a few KB per window, relative standard error 1.6%%)",
    )
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--verbose", action="store_true", help="with --check: print Flink's plan too")
    p.set_defaults(func=cmd_migrate)
