"""Batch questions over the archive: `insights`, `report`, `catalog`."""

from __future__ import annotations

from pathlib import Path

from clickflow.commands.common import (
    EXIT_REJECTED,
    load,
    say,
)


def cmd_insights(args) -> int:
    """``clickflow insights SOURCE --output DIR``: the batch insights over an archive or a file."""
    from jobs.insights import INSIGHTS, insights, parse_day

    config = load(args)
    names = INSIGHTS if not args.only else [n.strip() for n in args.only.split(",") if n.strip()]
    summary = insights(
        config,
        args.source,
        Path(args.output),
        parse_day(args.date_from, "--from"),
        parse_day(args.date_to, "--to"),
        names,
        overwrite=args.overwrite,
        say=say,
        progress=not args.quiet,
    )
    for line in summary.report():
        say(line)
    if args.report:
        from jobs.report import render_report

        render_report(Path(args.output), say=say)
    return EXIT_REJECTED if summary.rows_rejected else 0


def cmd_report(args) -> int:
    """``clickflow report DIR``: one offline HTML file of an insights output."""
    from jobs.report import render_report

    out = render_report(Path(args.directory), Path(args.output) if args.output else None, say=say)
    if args.open:
        import webbrowser

        webbrowser.open(out.resolve().as_uri())
    return 0


def cmd_catalog(args) -> int:
    """``clickflow catalog``: the archive's tables in the Glue Data Catalog, and an Athena query per insight."""
    from connectors import aws
    from jobs.catalog import archive_columns, archive_location, register

    config = load(args, "aws")
    archive_location(config, args.location)  # refuse a local archive before starting Flink
    say("resolving the archive's columns from sql/ ...")
    result = register(
        config, aws.client(config, "glue"), archive_columns(config), args.location, dry_run=args.dry_run, say=say
    )
    if args.dry_run:
        say("dry run: nothing was changed")
    say(f"\nAthena queries over {result.database}.events (sql/athena/):")
    for name, query in result.queries.items():
        say(f"\n-- {name}\n{query.strip()}")
    return 0


def parser_insights(add) -> None:
    """The arguments of `clickflow insights`."""
    p = add(
        "insights",
        "batch insights over the archive or a file: weekday tops, brands to market, funnel, daily visitors",
        "Run the batch questions of sql/athena/ — the SQL Athena runs, one file per insight — on DuckDB, locally, "
        "over SOURCE: the streaming job's archive (a directory or s3:// prefix holding "
        "events/dt=YYYY-MM-DD/hour=HH/; --from/--to prune the dt= partitions, and only those are downloaded from "
        "S3) or a clickstream file as `analyze` takes (CSV or JSON lines, plain or .gz, local or s3://), judged by "
        "clickflow's row rule: the rows `replay` rejects are rejected for the same reasons, counted and written to "
        "DIR/_rejects.jsonl, and the exit status is then 3. Writes DIR/<insight>/part-0.json JSON lines:\n\n"
        "  category_weekday  the insights.top_n categories of each ISO weekday (1 = Monday) by views\n"
        "  brand_marketing   brands with >= insights.min_views views, their conversion, and whether it is below\n"
        "                    insights.factor x the overall view-to-purchase ratio (needs_marketing)\n"
        "  funnel            sessions with a view, a cart, a purchase per category and over all ('all')\n"
        "  daily_visitors    per UTC day: users, sessions, events, purchases, revenue\n\n"
        "The same files, rendered with the same parameters, are what `clickflow catalog` prints for Athena.\n\n"
        "examples:\n"
        "  clickflow insights .clickflow/archive --output out/insights --report\n"
        "  clickflow insights s3://clickflow-data/archive --from 2019-10-01 --to 2019-10-07 --output out/week1\n"
        "  clickflow insights sample.csv --output out/i --set insights.min_views=50",
    )
    p.add_argument("source", help="an archive directory or s3:// prefix, or a CSV / JSON-lines file")
    p.add_argument("--output", required=True, metavar="DIR", help="where the results go")
    p.add_argument("--from", dest="date_from", metavar="DAY", help="first UTC day to include (YYYY-MM-DD)")
    p.add_argument("--to", dest="date_to", metavar="DAY", help="last UTC day to include (YYYY-MM-DD)")
    p.add_argument("--only", metavar="A,B", help="run only these insights (comma-separated)")
    p.add_argument("--overwrite", action="store_true", help="replace results already in DIR")
    p.add_argument("--report", action="store_true", help="also write DIR/report.html (clickflow report)")
    p.add_argument("--quiet", action="store_true", help="no progress line (reading a file, downloading an archive)")
    p.set_defaults(func=cmd_insights)


def parser_report(add) -> None:
    """The arguments of `clickflow report`."""
    p = add(
        "report",
        "turn an insights output into one self-contained HTML report",
        "Draw an insights output (clickflow insights ... --output DIR) as one HTML file with inline Plotly "
        "charts — top categories per weekday (heatmap), brands by views and conversion with the ones that need "
        "marketing marked, the funnel of the busiest categories, visitors and revenue per day. The file embeds "
        "plotly.js, so it opens offline and can be mailed.\n\nexample:\n  clickflow report out/insights --open",
    )
    p.add_argument("directory", metavar="DIR", help="the --output of `clickflow insights`")
    p.add_argument("--output", metavar="FILE", help="where to write the HTML (default: DIR/report.html)")
    p.add_argument("--open", action="store_true", help="open it in the default browser")
    p.set_defaults(func=cmd_report)


def parser_catalog(add) -> None:
    """The arguments of `clickflow catalog`."""
    p = add(
        "catalog",
        "register the archive's tables in the AWS Glue Data Catalog for Athena, and print Athena queries",
        "Create (or update) the Glue database catalog.database and one table per archived name — events, each "
        "analytic, dead_letters — with the columns Flink writes in Hive types, the JSON SerDe, and dt/hour "
        "partition keys declared by partition projection (no crawler; new hours appear by themselves). Then "
        "print a ready Athena query for each insight. Needs an s3:// archive (job.archive; the aws profile). "
        "IAM: glue:GetDatabase, CreateDatabase, GetTable, CreateTable, UpdateTable.\n\n"
        "examples:\n  clickflow catalog --dry-run\n  clickflow catalog --set catalog.database=shop_analytics",
    )
    p.add_argument("--location", metavar="S3_URI", help="the archive's s3:// prefix (default: job.archive)")
    p.add_argument("--dry-run", action="store_true", help="read and print; change nothing")
    p.set_defaults(func=cmd_catalog)
