"""Looking at the streams: `explore`, `sql`, `dashboard`."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

from clickflow.commands.common import (
    add_reading_options,
    count,
    graceful_interrupt,
    load,
    positive_number,
    say,
)


def cmd_explore(args) -> int:
    """``clickflow explore``: Flink SQL over the live streams, one query or an interactive shell."""
    from clickflow.interactive.explore import Explorer, ShellSettings, check_options, interactive, print_rows
    from connectors.local_stack.stack import state_dir
    from producer.records import check_stream

    config = load(args)
    check_options(args.mode, args.max_rows, args.timeout)
    check_stream(config, config.stream("events").name)  # fail early and clearly, e.g. when the stack is down
    if args.execute is None:
        say("starting Flink and registering the tables ...")
    explorer = Explorer(config, start=args.start, bounded=args.bounded)
    if args.execute is None:
        settings = ShellSettings(args.mode, args.max_rows or 50, args.timeout)
        return interactive(explorer, settings, state_dir(config) / "explore_history", sys.stdout, say)
    timeout = args.timeout if args.timeout is not None else (None if args.bounded else 60.0)
    with graceful_interrupt() as interrupted:
        outcome = explorer.run(args.execute, args.mode, args.max_rows, timeout, interrupted=interrupted)
    print_rows(outcome, sys.stdout, args.format, args.max_rows)
    if outcome.stopped_by == "timeout":
        print(f"clickflow explore: stopped after --timeout {timeout:g}s; the query had not ended", file=sys.stderr)
    return 0


def cmd_sql(args) -> int:
    """``clickflow sql``: Flink's own SQL client, through the cluster's gateway or embedded."""
    from clickflow.interactive.sql_client import run
    from producer.records import check_stream

    config = load(args)
    check_stream(config, config.stream("events").name)  # fail early and clearly, e.g. when the stack is down
    script = Path(args.file) if args.file else None
    return run(config, script, start=args.start, bounded=args.bounded, embedded=args.embedded, say=say)


def cmd_dashboard(args) -> int:
    """``clickflow dashboard``: the live page of the output streams, until Ctrl-C."""
    from clickflow.dashboard.app import DashboardOptions, serve
    from jobs.stream import StopRequests

    config = load(args)
    # a signal before the server runs stops it through ``stop``; while it runs, uvicorn takes the
    # signal, shuts the server down, then raises the signal again into these handlers
    stop = threading.Event()
    with StopRequests(then=stop.set) as stops:
        options = DashboardOptions(port=args.port, start=args.start, open_browser=args.open)
        serve(config, options, say=say, stop=stop)
    if stops.names:
        say(f"{stops.names[0]}: dashboard stopped; it keeps no position (it reads the streams from --from each start)")
        return 130
    return 0


def parser_explore(add) -> None:
    """The arguments of `clickflow explore`."""
    p = add(
        "explore",
        "interactive SQL over the live streams, Studio style (update, append, single)",
        "A SQL shell over the profile's streams, like a Managed Flink Studio (Zeppelin %flink.ssql) notebook, in "
        "the terminal. Registered: events and clicks (the events stream), each analytic as a view over them "
        "(unique_visitors, active_page_views, top_categories, cart_abandonment, anomalies), dead_letters, and the "
        "job's output streams as <analytic>_stream and dead_letters_stream. Results show in one of Studio's modes: "
        "update (a table kept current from the query's changelog), append (rows as they arrive) or single (one "
        "value, refreshed). An update-mode table is shown in the query's ORDER BY (and LIMIT), however the "
        "changelog arrives; while a query runs a 'running' line stands where 'N rows' will, which comes only "
        "once it has ended. Statements end with ';' and may span lines; history is kept. With -e, one statement "
        "runs and its rows are printed (for scripts). In Jupyter: notebooks/explore.ipynb (%%flinksql).\n\n"
        "examples:\n"
        "  clickflow explore\n"
        "  clickflow explore -e 'SELECT event_type, COUNT(*) FROM clicks GROUP BY event_type' --bounded\n"
        "  clickflow explore --bounded -e 'SELECT brand, COUNT(*) AS n FROM clicks GROUP BY brand "
        "ORDER BY n DESC LIMIT 5'\n"
        "  clickflow explore -e 'SELECT * FROM anomalies' --mode append --max-rows 5 --timeout 120\n"
        "  clickflow explore -e 'SELECT COUNT(DISTINCT user_id) FROM clicks' --mode single --bounded",
    )
    p.add_argument("-e", "--execute", metavar="SQL", help="run this one statement, print its rows, exit")
    p.add_argument("--mode", default="update", help="update (default), append or single")
    p.add_argument("--max-rows", type=count(1), metavar="N", help="append: stop after N rows; update: show at most N")
    p.add_argument(
        "--timeout",
        type=positive_number,
        metavar="S",
        help="stop a query after S seconds (-e default: 60, none with --bounded)",
    )
    add_reading_options(p)
    p.add_argument("--format", choices=["table", "json"], default="table", help="-e output: a table or JSON lines")
    p.set_defaults(func=cmd_explore)


def parser_sql(add) -> None:
    """The arguments of `clickflow sql`."""
    p = add(
        "sql",
        "Apache Flink's own SQL client over clickflow's tables (embedded or the local cluster's gateway)",
        "Flink's SQL client (from the apache-flink wheel and the pinned flink-sql-gateway jar) with an init script "
        "rendered from sql/ and the profile, so every table explore registers is there: events, clicks, the "
        "analytics as views, late_events, dead_letters, and the output streams as <analytic>_stream. With "
        "--profile cluster and `clickflow cluster up` running, it talks to the cluster's SQL gateway and queries "
        "run on the cluster; otherwise (or with --embedded) the client runs Flink itself. -f runs a script and "
        "exits.\n\n"
        "Which to use: `sql` is Flink's own client (its SET/RESET, EXPLAIN, SHOW JOBS, STOP JOB, INSERT INTO a "
        "stream as a job of its own); `explore` is Studio's three display modes (update, append, single) and the "
        "notebook magic.\n\n"
        "examples:\n"
        "  clickflow sql                                  # interactive, embedded\n"
        "  clickflow sql --profile cluster                # on the local cluster (clickflow cluster up)\n"
        "  clickflow sql -f report.sql --bounded          # a script; streams read to their end as of now",
    )
    p.add_argument("-f", "--file", metavar="FILE", help="run the statements of FILE and exit")
    add_reading_options(p)
    p.add_argument("--embedded", action="store_true", help="run Flink in the client even when a cluster is up")
    p.set_defaults(func=cmd_sql)


def parser_dashboard(add) -> None:
    """The arguments of `clickflow dashboard`."""
    p = add(
        "dashboard",
        "a live web page of the job's output streams (charts update as rows arrive)",
        "Serve a page on http://127.0.0.1:PORT that follows the job's output streams — the five analytics and "
        "the dead letters, read from Kinesis, so it works the same against the local stack, compose and AWS — "
        "and redraws itself as rows arrive, without reloading: unique visitors and sessions, active page views, "
        "the top categories of the current and the previous hour, abandoned carts per hour and the latest ones, "
        "an anomaly feed and the dead letters per reason. Its header says which streams it follows, when each "
        "last gave a record, how far behind it is, and plainly when a stream is empty, missing or unreachable. "
        "Memory is bounded (it keeps what the charts show); a stream made anew is read from its start. "
        "GET /api/state gives the same as JSON.\n\n"
        "examples:\n  clickflow dashboard --open\n  clickflow dashboard --from latest --port 8060\n"
        "  clickflow demo --dashboard        # the demo's results, the stack kept up until Ctrl-C",
    )
    p.add_argument("--port", type=count(1), default=8050, help="port on 127.0.0.1 (default: 8050)")
    p.add_argument(
        "--from",
        dest="start",
        choices=["trim_horizon", "latest"],
        default="trim_horizon",
        help="read the streams from their start (default) or only what arrives from now on",
    )
    p.add_argument("--open", action="store_true", help="open the page in the default browser")
    p.set_defaults(func=cmd_dashboard)
