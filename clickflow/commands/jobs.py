"""The Flink jobs: `analyze` (a file), `run` (the streaming job), `etl`."""

from __future__ import annotations

from pathlib import Path

from clickflow.commands.common import (
    EXIT_REJECTED,
    CliError,
    command_without,
    load,
    say,
)


def cmd_analyze(args) -> int:
    """``clickflow analyze SOURCE``: the analytics over a file in batch mode (the streaming job's oracle)."""
    from jobs.analytics import ANALYTICS
    from jobs.analyze import analyze, explain

    config = load(args)
    names = ANALYTICS if not args.only else [n.strip() for n in args.only.split(",") if n.strip()]
    if args.explain:
        print(explain(config, names))
        return 0
    if not args.input or not args.output:
        raise CliError("give INPUT and --output DIR (or --explain to only show the SQL and plans)")
    summary = analyze(
        config, args.input, Path(args.output), names, overwrite=args.overwrite, say=say, progress=not args.quiet
    )
    for line in summary.report():
        say(line)
    return EXIT_REJECTED if summary.rows_rejected else 0


def cmd_run(args) -> int:
    """``clickflow run``: the streaming analytics job, where the profile says it runs."""
    if args.job:
        return _run_migrated(args)
    from jobs.stream import RunOptions, run

    options = RunOptions(start=args.start, bounded=args.bounded, restore=args.restore)
    return run(load(args), options, say=say, resume=lambda location: resume_command(args.argv, location))


def _run_migrated(args) -> int:
    """``clickflow run --job DIR``: a KDA application ``clickflow migrate`` wrote to DIR."""
    from clickflow.migrate.jobdir import load as load_job
    from connectors.config import load_config
    from jobs.migrated import MigratedRunOptions, run

    directory = Path(args.job)
    job = load_job(directory)
    config_file = args.config or str(directory / "clickflow.yaml")
    config = load_config(args.profile or "local", config_file, args.overrides, read_elsewhere=("migration",))
    if args.start not in (None, "trim_horizon", "latest"):
        raise CliError(f"--from {args.start}: a migrated job starts at trim_horizon or latest")
    options = MigratedRunOptions(bounded=args.bounded, start=args.start, restore=args.restore)
    return run(job, config, options, say=say, resume=lambda location: resume_command(args.argv, location))


def resume_command(argv: list[str], location: str) -> str:
    """The command line that resumes a stopped ``run``: the same options, restored from ``location``
    (``--from`` dropped: a restored job continues where it stopped)."""
    return command_without(argv, ("--restore", "--from"), extra=["--restore", location])


def cmd_etl(args) -> int:
    """``clickflow etl FILE``: the streaming ETL declared in FILE."""
    from connectors.config import load_config
    from jobs.etl import EtlRunOptions, load_etl, run

    if not args.config:
        raise CliError("give --config FILE: a YAML file with an etl: section (e.g. etl/browse-sessions.yaml)")
    etl = load_etl(Path(args.config))
    config = load_config(args.profile or "local", args.config, args.overrides, read_elsewhere=("etl",))
    options = EtlRunOptions(bounded=args.bounded, start=args.start, restore=args.restore)
    return run(etl, config, options, say=say, resume=lambda location: resume_command(args.argv, location))


def parser_analyze(add) -> None:
    """The arguments of `clickflow analyze`."""
    p = add(
        "analyze",
        "run the analytics over a file with Flink; JSON lines out",
        "Run the analytics in sql/ with PyFlink over a bounded input: a REES46 CSV or the JSON lines the "
        "producer sends (.csv, .jsonl; plain or .gz; local or s3://). Each analytic is written as JSON lines "
        "under DIR/<analytic>/; rows that cannot be read are counted and kept in DIR/_rejects.jsonl. Windows, "
        "thresholds and the watermark bound come from the analytics section of the config.\n\n"
        "analytics: unique_visitors, active_page_views, top_categories, cart_abandonment, anomalies\n\n"
        "examples:\n"
        "  clickflow analyze sample.csv --output out/analysis\n"
        "  clickflow analyze day.csv.gz --output out/a --only top_categories \\\n"
        "      --set analytics.top_categories.top_n=3\n"
        "  clickflow analyze --explain --only anomalies",
    )
    p.add_argument("input", nargs="?", help="the events: .csv[.gz] or .jsonl[.gz], local or s3://bucket/key")
    p.add_argument("--output", metavar="DIR", help="where results go, one folder per analytic")
    p.add_argument("--only", metavar="A,B", help="run only these analytics (comma-separated)")
    p.add_argument("--overwrite", action="store_true", help="replace results already in DIR")
    p.add_argument("--explain", action="store_true", help="print the rendered SQL and Flink's plans; run nothing")
    p.add_argument("--quiet", action="store_true", help="no live progress line")
    p.set_defaults(func=cmd_analyze)


def parser_run(add) -> None:
    """The arguments of `clickflow run`."""
    p = add(
        "run",
        "run the streaming job: events stream in; analytics to streams and the archive",
        "Run the streaming job against the profile's streams — in an embedded Flink, or, when the profile names "
        "a cluster (--profile cluster: `clickflow cluster up`; compose), submitted to it, returning once it "
        "runs (--bounded: once it ends). It reads the events stream, "
        "runs the analytics in sql/, writes each to its Kinesis stream and to the archive "
        "(job.archive/<analytic>/dt=YYYY-MM-DD/hour=HH/), and sends records it cannot use to the dead letters. "
        "Checkpoints go to job.checkpoint_dir and are kept when the job stops.\n\n"
        "examples:\n"
        "  clickflow run --bounded                 # process what is in the stream now, then finish\n"
        "  clickflow run --from 2019-10-01T00:00:00Z\n"
        "  clickflow run --restore latest          # resume after a crash or Ctrl-C\n"
        "  clickflow run --profile cluster         # on the local cluster; stop: clickflow cluster stop JOB_ID\n"
        "  clickflow run --job lab-flink --bounded # a KDA application `clickflow migrate` wrote to lab-flink/",
    )
    p.add_argument(
        "--job",
        metavar="DIR",
        help="run the migrated KDA application in DIR (clickflow migrate --out DIR) instead of the analytics job",
    )
    p.add_argument("--bounded", action="store_true", help="stop at the stream's end as of now; close all windows")
    p.add_argument(
        "--from",
        dest="start",
        metavar="POSITION",
        help="trim_horizon, latest or a UTC time (default: the profile's job.start_position)",
    )
    p.add_argument(
        "--restore",
        metavar="PATH",
        help="a savepoint or checkpoint to resume from, or 'latest': the newest retained checkpoint or savepoint",
    )
    p.set_defaults(func=cmd_run)


def parser_etl(add) -> None:
    """The arguments of `clickflow etl`."""
    p = add(
        "etl",
        "a streaming ETL from a YAML file: enrich records of any schema, route them, deliver them to S3",
        "Run a PyFlink job declared in the etl: section of the --config file (see etl/browse-sessions.yaml; the "
        "rest of the file is laid over the profile as usual): read a stream of JSON records "
        "of any schema, add fields computed by Flink SQL expressions (ARRAY_SUM(col, 'field') and "
        "ARRAY_COUNT(col[, 'field']) read arrays of objects), send each record to the first route whose SQL "
        "predicate holds, else to the default route, and records that are not JSON objects or lack a required "
        "field to the errors stream — each record exactly once. Streams named under deliver: are written to S3 "
        "as Firehose does (prefix with !{timestamp:yyyy/MM/dd}, buffering by size and interval; error_prefix "
        "for the errors). Same connector and profiles as `clickflow run`.\n\n"
        "examples:\n  clickflow etl --config etl/browse-sessions.yaml\n"
        "  clickflow etl --config etl/browse-sessions.yaml --bounded      # what is in the stream now, then finish\n"
        "  clickflow etl --config etl/browse-sessions.yaml --restore latest   # resume after a crash or Ctrl-C\n\n"
        "Ctrl-C (or SIGTERM) stops the job with a savepoint, lets each delivery write what the job wrote, and "
        "prints the command that resumes both where they stopped; a second Ctrl-C stops at once.",
    )
    p.add_argument("--bounded", action="store_true", help="read the stream to its end as of now, then finish")
    p.add_argument("--from", dest="start", choices=["trim_horizon", "latest"], help="default: the file's source.start")
    p.add_argument(
        "--restore",
        metavar="PATH",
        help="a savepoint or checkpoint to resume from, or 'latest' (the newest of them); deliveries continue after "
        "what they wrote",
    )
    p.set_defaults(func=cmd_etl)


def cmd_status(args) -> int:
    """``clickflow status``: the running job's health on one screen; the exit status says healthy or not."""
    import json
    import time

    from clickflow.health import read_health, render

    config = load(args)
    while True:
        health = read_health(config, job_id=args.job)
        text = json.dumps(health.to_json(), indent=2) if args.format == "json" else render(health)
        if args.watch is None:
            print(text)
            return health.status
        print("\033[H\033[2J" + time.strftime("%H:%M:%S  ") + text, flush=True)  # the screen, redrawn
        time.sleep(args.watch)


def parser_status(add) -> None:
    """The arguments of `clickflow status`."""
    p = add(
        "status",
        "is the job keeping up? per-shard lag, checkpoints, throughput, dead letters and late events",
        "Read the running job's health from Flink's REST API where the profile runs it (the embedded Flink on "
        "job.rest_port, or the cluster at job.cluster) and show it on one screen: where and how long it runs, "
        "restarts, each shard's lag behind the stream's tip, records in and out per second, the last checkpoint "
        "and its age, dead letters and late events in the last minute and in all. A job is unhealthy when it is "
        "not RUNNING, a shard is more than monitoring.max_lag behind, no checkpoint completed for "
        "monitoring.checkpoint_intervals intervals, or more than monitoring.max_dead_letters_per_minute dead "
        "letters came in the last minute. Prometheus: the same metrics on http://127.0.0.1:9249/metrics "
        "(monitoring.prometheus).\n\n"
        "exit status: 0 healthy, 4 unhealthy, 3 no job running (so it can be scripted)\n\n"
        "examples:\n"
        "  clickflow status                      # beside `clickflow run`\n"
        "  clickflow status --watch 2            # redraw every 2 s until Ctrl-C\n"
        "  clickflow status --profile cluster --format json | jq '.jobs[0].shards'",
    )
    p.add_argument("--format", choices=("text", "json"), default="text", help="plain text (default) or JSON")
    p.add_argument(
        "--watch",
        type=float,
        nargs="?",
        const=2.0,
        metavar="SECONDS",
        help="redraw every SECONDS (default 2) until Ctrl-C",
    )
    p.add_argument("--job", metavar="JOB_ID", help="only this job (default: every job that has not ended)")
    p.set_defaults(func=cmd_status)
