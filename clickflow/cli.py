"""The ``clickflow`` command. Each subcommand parses its options and calls one importable function."""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
from datetime import UTC, datetime
from pathlib import Path

from clickflow import __version__

EPILOG_CONFIG = """\
credentials and endpoints:
  Credentials come only from the standard AWS chain (environment, AWS_PROFILE, an attached
  role); the local profile uses dummy keys that are only ever sent to 127.0.0.1. Endpoints
  can be overridden as boto3 does: AWS_ENDPOINT_URL_KINESIS, AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL.
  A config file may start from another profile with `profile: aws`.
"""


class _HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Wraps prose paragraphs to the terminal; keeps indented lines (examples) as written."""

    def _fill_text(self, text, width, indent):
        import textwrap

        out = []
        for paragraph in text.split("\n\n"):
            lines = paragraph.splitlines()
            if lines and not lines[0].startswith(" ") and not any(line.startswith(" ") for line in lines[1:]):
                out.append(textwrap.fill(" ".join(lines), width, initial_indent=indent, subsequent_indent=indent))
            else:
                out.append("\n".join(indent + line for line in lines))
        return "\n\n".join(out)


EXIT_REJECTED = 3  # finished, but some rows were rejected (replay, analyze); see the rejects file

EXIT_CODES = """\
exit status:
  0    done
  1    failed (the message says why; nothing is left half-done without saying so)
  2    bad command line (an unknown option, or a value out of range)
  3    finished, but some input rows were rejected (replay, analyze: see the rejects file),
       or, for `stack status` and `cluster status`, a server is not running
  130  interrupted (Ctrl-C, SIGTERM); replay prints the command that continues it
"""


class CliError(Exception):
    """An error to show the user as one line, without a traceback."""


def _config_options() -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    group = parent.add_argument_group("configuration")
    group.add_argument(
        "--profile",
        help="config profile: local, cluster, compose or aws (default: local; cluster for `cluster`; "
        "aws for package and deploy)",
    )
    group.add_argument("--config", metavar="FILE", help="YAML config file laid over the profile")
    group.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY.PATH=VALUE",
        help="override one config value (repeatable)",
    )
    return parent


def _load(args, default_profile: str = "local"):
    from connectors.config import load_config

    return load_config(args.profile or default_profile, args.config, args.overrides)


def _say(text: str) -> None:
    print(text, flush=True)


@contextlib.contextmanager
def _graceful_interrupt(
    message: str = "interrupted: sending what was read and waiting for acknowledgements (Ctrl-C again to stop at once)",
    stop_now: bool = False,
):
    """First Ctrl-C sets the event (finish what is in flight); a second one stops at once — by
    KeyboardInterrupt, or, with ``stop_now``, by setting ``event.now`` (the replay polls it, so the
    stop never lands half-way through its bookkeeping); later ones are ignored."""
    from producer.replay import StopRequest

    event = StopRequest()

    def handler(signum, frame):
        if event.now.is_set():
            return
        if event.is_set():
            if stop_now:
                event.now.set()
                return
            raise KeyboardInterrupt
        event.set()
        print("\n" + message, file=sys.stderr, flush=True)

    # SIGTERM (a `kill`, a service manager stopping us) is taken as a first Ctrl-C
    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield event
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


# --------------------------------------------------------------------------- stack


def cmd_stack(args) -> int:
    from connectors.local_stack import stack

    config = _load(args)
    if args.action == "up":
        stack.up(config, _say)
        for state in stack.status(config):
            _say(state.describe())
        _say(f"streams: {', '.join(s.name for s in config.streams.values())}; bucket: s3://{config.bucket}")
    elif args.action == "down":
        stack.down(config, _say)
    elif args.action == "create":
        stack.ensure_resources(config, _say)
        _say(f"streams: {', '.join(s.name for s in config.streams.values())}; bucket: s3://{config.bucket}")
    else:
        states = stack.status(config)
        for state in states:
            _say(state.describe())
        if all(state.running and state.answering for state in states):
            from connectors import aws

            names = aws.client(config, "kinesis").list_streams().get("StreamNames", [])
            buckets = [b["Name"] for b in aws.client(config, "s3").list_buckets().get("Buckets", [])]
            _say(f"streams: {', '.join(names) or '(none)'}")
            _say(f"buckets: {', '.join(buckets) or '(none)'}")
            _say(f"state and logs: {stack.state_dir(config)}")
        return 0 if all(state.running for state in states) else 3
    return 0


# --------------------------------------------------------------------------- cluster


def cmd_cluster(args) -> int:
    from connectors import cluster

    config = _load(args, "cluster")
    rest = cluster.rest_address(config)
    if args.action == "up":
        cluster.up(config, _say)
        _say(f"Web UI: {rest.url}   logs: {cluster.home(config) / 'log'}")
        if config.cluster.sql_gateway_port:
            _say(
                f"SQL gateway: http://127.0.0.1:{config.cluster.sql_gateway_port} "
                f"(clickflow sql --profile {config.profile})"
            )
        _say(f"submit the job: clickflow run --profile {config.profile}")
        return 0
    if args.action == "down":
        cluster.down(config, _say)
        return 0
    if args.action == "stop":
        if not args.job:
            raise CliError("cluster stop: name the job id (clickflow cluster jobs lists them)")
        if args.cancel:
            cluster.stop(config, args.job, None)
            _say(f"cancelled {args.job}")
            return 0
        target = args.savepoint_dir or cluster.savepoint_dir(config)
        _say(f"stopping {args.job} with a savepoint under {target} ...")
        location = cluster.stop(config, args.job, target)
        _say(f"stopped; savepoint: {location}")
        _say(f"resume with: clickflow run --profile {config.profile} --restore {location}")
        return 0
    states = cluster.status(config)
    if args.action == "status":
        for state in states:
            _say(state.describe())
    if not any(state.running for state in states) and args.action == "status":
        return 3
    info = cluster.overview(config)
    if info is None:
        if args.action == "jobs":
            raise CliError(f"the cluster does not answer at {rest.url} (start it: clickflow cluster up)")
        _say(f"the REST API does not answer at {rest.url}")
        return 3
    if args.action == "status":
        _say(
            f"Web UI: {rest.url}  Flink {info.get('flink-version')}: {info.get('taskmanagers')} TaskManager(s), "
            f"{info.get('slots-available')}/{info.get('slots-total')} slots free, "
            f"{info.get('jobs-running')} job(s) running"
        )
    for job in cluster.jobs(config):
        if args.action == "jobs" or job.state == "RUNNING":
            started = datetime.fromtimestamp(job.started, UTC).strftime("%Y-%m-%d %H:%M:%SZ")
            _say(f"{job.id}  {job.state:<10} {started}  {job.name}")
    return 0


# --------------------------------------------------------------------------- replay


def continuation(argv: list[str], summary, limit: int | None) -> str:
    """The exact command that continues a stopped replay: the original arguments, every option
    kept, with its resume point (and what is left of --limit) in place of the old one."""
    import shlex

    kept, skip = [], False
    for arg in argv:
        if skip:
            skip = False
            continue
        if arg in ("--resume-from", "--limit"):
            skip = True
            continue
        if arg == "--resume" or arg.startswith(("--resume-from=", "--limit=")):
            continue
        kept.append(arg)
    if summary.done_beyond:  # acknowledged rows after the resume line: only the progress file knows them
        kept.append("--resume")
        if limit is not None:
            kept += ["--limit", str(limit)]
    else:
        kept += ["--resume-from", str(summary.resume_line)]
        if limit is not None:
            kept += ["--limit", str(max(1, limit - summary.acknowledged_total))]
    return "clickflow " + shlex.join(kept)


def cmd_replay(args) -> int:
    from producer.replay import ReplayOptions, replay

    config = _load(args)
    options = ReplayOptions(
        source=args.source,
        stream=args.stream or config.stream("events").name,
        partition_key=args.partition_key,
        rate=args.rate,
        speedup=args.speedup,
        limit=args.limit,
        resume_from=args.resume_from,
        resume=args.resume,
        retime=args.retime,
        rejects_path=Path(args.rejects) if args.rejects else None,
        client=args.client,
        progress=not args.quiet,
    )
    with _graceful_interrupt(stop_now=True) as interrupted:
        summary = replay(config, options, interrupted)
        for sig in (signal.SIGINT, signal.SIGTERM):  # one more Ctrl-C must not cut the summary short
            signal.signal(sig, signal.SIG_IGN)
        _report_replay(args, summary)
    return _replay_exit(summary)


def _replay_exit(summary) -> int:
    """A replay's exit status: 0, 3 when rows (or records too large to send) were rejected, 1, 130."""
    if summary.fatal or summary.input_error:
        raise CliError(summary.fatal or summary.input_error)
    if summary.interrupted or summary.abandoned:
        return 130
    if not summary.complete:
        return 1
    return EXIT_REJECTED if summary.rows_rejected else 0


def _report_replay(args, summary) -> None:
    for line in summary.report():
        _say(line)
    if summary.stopped_early:
        for line in summary.stop_report():
            _say(line)
        command = continuation(args.argv, summary, args.limit)
        if summary.input_error:
            _say(f"once the file is mended (or to go on from its readable part), continue with:\n  {command}")
        elif summary.unknown:
            _say(f"to continue with no gap (and at most {summary.unknown:,} duplicates, as said above):\n  {command}")
        else:
            _say(f"to continue with no gap and no duplicate:\n  {command}")
        _say(f"(progress kept in {summary.progress_path})")


# --------------------------------------------------------------------------- generate


def _positive_number(text: str) -> float:
    """A finite number above 0 (NaN and inf are refused: they would pace or wait forever)."""
    import math

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"expected a finite number above 0, got {text!r}")
    return value


_positive_seconds = _positive_number


def _count(minimum: int):
    """An integer of at least ``minimum``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected {minimum} or more, got {value}")
        return value

    parse.__name__ = f"integer >= {minimum}"
    return parse


def _parse_time(text: str) -> datetime:
    from producer.rows import parse_event_time

    try:
        return parse_event_time(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not a time like '2019-10-01 00:00:00' or 2019-10-01T00:00:00Z: {text!r}"
        ) from None


def cmd_generate(args) -> int:
    if args.template:
        return _generate_from_template(args)
    from producer.generate import GenerateOptions, write_generated
    from producer.progress import ProgressLine

    if not args.output:
        raise CliError("give OUTPUT, the CSV to write (or --template FILE for records of any schema)")
    options = GenerateOptions(
        events=args.events,
        start=args.start,
        rate=args.rate or 50.0,
        seed=args.seed,
        users=args.users,
        categories=args.categories,
        products=args.products,
        bots=args.bots,
        spikes=args.spikes,
        abandoned=args.abandoned,
    )
    try:
        options.validate()
    except ValueError as exc:
        raise CliError(str(exc)) from None
    done = [0]
    with ProgressLine(lambda: f"generated {done[0]:,} / {args.events:,} events", enabled=not args.quiet):
        count, labels = write_generated(
            options,
            Path(args.output),
            Path(args.labels) if args.labels else None,
            on_row=lambda n: done.__setitem__(0, n),
        )
    injected = json.loads(labels.read_text())["injected"]
    kinds: dict[str, int] = {}
    for label in injected:
        kinds[label["kind"]] = kinds.get(label["kind"], 0) + 1
    _say(f"wrote {count:,} events to {args.output}")
    _say(f"labels: {labels} ({', '.join(f'{n} {k}' for k, n in sorted(kinds.items())) or 'nothing injected'})")
    return 0


def _generate_from_template(args) -> int:
    from producer.progress import ProgressLine
    from producer.templates import RenderOptions, keyed_records, load_templates, write_records

    if bool(args.output) == bool(args.stream):
        raise CliError("with --template, give either OUTPUT (a file to write) or --stream NAME (to send), not both")
    templates = load_templates(Path(args.template), seed=args.seed, faker_pool=args.faker_pool)
    options = RenderOptions(
        seed=args.seed,
        count=args.count,
        start=args.start,
        events_per_second=args.events_per_second,
        session_length=args.session_length,
        users=args.users,
    )
    if args.output:
        done = [0]
        with ProgressLine(lambda: f"rendered {done[0]:,} / {args.count:,} records", enabled=not args.quiet):
            count = write_records(templates, options, Path(args.output), lambda n: done.__setitem__(0, n))
        _say(f"wrote {count:,} records to {args.output} from {args.template} (seed {args.seed})")
        return 0
    from producer.replay import ReplayOptions, replay

    config = _load(args)
    replay_options = ReplayOptions(
        source=f"{args.template}#seed={args.seed}",
        stream=args.stream,
        rate=args.rate,
        resume_from=args.resume_from,
        resume=args.resume,
        progress=not args.quiet,
    )
    records = keyed_records(templates, options, args.partition_key)
    with _graceful_interrupt(stop_now=True) as interrupted:
        summary = replay(config, replay_options, interrupted, records=records, total=args.count)
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, signal.SIG_IGN)
        _report_replay(args, summary)
    return _replay_exit(summary)


# --------------------------------------------------------------------------- put / tail


def cmd_put(args) -> int:
    from connectors import aws
    from producer.records import put_record

    config = _load(args)

    def not_json(constant: str):
        raise CliError(f"--json is not valid JSON: {constant} is not a JSON value (write null, or a number)")

    try:
        document = json.loads(args.json, parse_constant=not_json)
    except json.JSONDecodeError as exc:
        raise CliError(f"--json is not valid JSON: {exc.msg} at character {exc.pos}") from None
    if not isinstance(document, dict):
        raise CliError('--json must be a JSON object, e.g. \'{"event_type": "view", "category_id": 1}\'')
    stream = args.stream or config.stream("events").name
    try:
        result = put_record(aws.client(config, "kinesis"), stream, document, args.partition_key)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    _say(json.dumps({"stream": stream, **result}))
    return 0


def _parse_start(text: str):
    lowered = text.lower()
    if lowered in ("trim_horizon", "latest"):
        return lowered
    return _parse_time(text)


def cmd_tail(args) -> int:
    from connectors import aws
    from producer.records import iter_stream

    config = _load(args)
    stream = args.stream or config.stream("events").name
    with _graceful_interrupt() as stop:
        for record in iter_stream(
            aws.client(config, "kinesis"), stream, args.start, args.limit, args.idle_exit, stop=stop
        ):
            payload = record.payload()
            if args.with_meta:
                payload = {
                    "shard_id": record.shard_id,
                    "sequence_number": record.sequence_number,
                    "partition_key": record.partition_key,
                    "arrival": record.arrival.astimezone(UTC).isoformat(),
                    "data": payload,
                }
            print(json.dumps(payload, ensure_ascii=False), flush=True)
    return 0


# --------------------------------------------------------------------------- analyze


def cmd_analyze(args) -> int:
    from jobs.analytics import ANALYTICS
    from jobs.analyze import analyze, explain

    config = _load(args)
    names = ANALYTICS if not args.only else [n.strip() for n in args.only.split(",") if n.strip()]
    if args.explain:
        print(explain(config, names))
        return 0
    if not args.input or not args.output:
        raise CliError("give INPUT and --output DIR (or --explain to only show the SQL and plans)")
    summary = analyze(
        config, args.input, Path(args.output), names, overwrite=args.overwrite, say=_say, progress=not args.quiet
    )
    for line in summary.report():
        _say(line)
    return EXIT_REJECTED if summary.rows_rejected else 0


# --------------------------------------------------------------------------- run


def cmd_run(args) -> int:
    from jobs.stream import RunOptions, run

    options = RunOptions(start=args.start, bounded=args.bounded, restore=args.restore)
    return run(_load(args), options, say=_say)


# --------------------------------------------------------------------------- package / deploy


def _package(args, config, say=_say):
    from jobs.package import build_package
    from producer.progress import ProgressLine

    got = [0, None]

    def render() -> str:
        done, total = got
        return f"downloading the Kinesis connector: {done / 1e6:.1f}" + (f" / {total / 1e6:.1f} MB" if total else " MB")

    with ProgressLine(render, enabled=not args.quiet):
        return build_package(
            config,
            Path(args.output),
            Path(args.connector_jar) if args.connector_jar else None,
            args.maven_url,
            say=say,
            on_bytes=lambda done, total: got.__setitem__(slice(0, 2), [done, total]),
            etl_file=Path(args.etl) if args.etl else None,
        )


def cmd_package(args) -> int:
    config = _load(args, "aws")  # what is packaged runs on AWS
    package = _package(args, config)
    _say(f"wrote {package.path} ({package.path.stat().st_size / 1e6:.1f} MB, {len(package.entries)} entries)")
    _say(f"connector: {package.connector_source} (SHA-256 {package.connector_sha256})")
    groups = Path(args.output).with_suffix(".properties.json")
    groups.write_text(json.dumps(package.property_groups, indent=2) + "\n", encoding="utf-8")
    _say(f"property groups: {groups} ({', '.join(g['PropertyGroupId'] for g in package.property_groups)})")
    _say("deploy it with: clickflow deploy --profile aws --package " + str(package.path))
    return 0


def cmd_deploy(args) -> int:
    from jobs.deploy import Clients, DeployOptions, deploy
    from jobs.package import read_package

    config = _load(args, "aws")
    if args.package:
        package = read_package(Path(args.package))
    else:
        package = _package(args, config)
        _say(f"packaged {package.path}")
    options = DeployOptions(
        application=args.application,
        role_arn=args.role_arn,
        parallelism=args.parallelism,
        parallelism_per_kpu=args.parallelism_per_kpu,
        log_level=args.log_level,
        start=not args.no_start,
        wait=not args.no_wait,
        timeout=args.timeout,
        dry_run=args.dry_run,
        policy_out=Path(args.policy_out),
    )
    deploy(config, package, options, Clients.for_config(config), say=_say)
    return 0


# --------------------------------------------------------------------------- explore


def cmd_explore(args) -> int:
    from connectors.local_stack.stack import state_dir
    from jobs.explore import Explorer, ShellSettings, check_options, interactive, print_rows
    from producer.replay import check_stream

    config = _load(args)
    check_options(args.mode, args.max_rows, args.timeout)
    check_stream(config, config.stream("events").name)  # fail early and clearly, e.g. when the stack is down
    if args.execute is None:
        _say("starting Flink and registering the tables ...")
    explorer = Explorer(config, start=args.start, bounded=args.bounded)
    if args.execute is None:
        settings = ShellSettings(args.mode, args.max_rows or 50, args.timeout)
        return interactive(explorer, settings, state_dir(config) / "explore_history", sys.stdout, _say)
    timeout = args.timeout if args.timeout is not None else (None if args.bounded else 60.0)
    with _graceful_interrupt() as interrupted:
        outcome = explorer.run(args.execute, args.mode, args.max_rows, timeout, interrupted=interrupted)
    print_rows(outcome, sys.stdout, args.format, args.max_rows)
    if outcome.stopped_by == "timeout":
        print(f"clickflow explore: stopped after --timeout {timeout:g}s; the query had not ended", file=sys.stderr)
    return 0


def cmd_sql(args) -> int:
    from jobs.sql_client import run
    from producer.replay import check_stream

    config = _load(args)
    check_stream(config, config.stream("events").name)  # fail early and clearly, e.g. when the stack is down
    script = Path(args.file) if args.file else None
    return run(config, script, start=args.start, bounded=args.bounded, embedded=args.embedded, say=_say)


# --------------------------------------------------------------------------- insights, report, catalog


def cmd_insights(args) -> int:
    from jobs.insights import INSIGHTS, insights, parse_day

    config = _load(args)
    names = INSIGHTS if not args.only else [n.strip() for n in args.only.split(",") if n.strip()]
    summary = insights(
        config,
        args.source,
        Path(args.output),
        parse_day(args.date_from, "--from"),
        parse_day(args.date_to, "--to"),
        names,
        overwrite=args.overwrite,
        say=_say,
        progress=not args.quiet,
    )
    for line in summary.report():
        _say(line)
    if args.report:
        from jobs.report import render_report

        render_report(Path(args.output), say=_say)
    return EXIT_REJECTED if summary.rows_rejected else 0


def cmd_report(args) -> int:
    from jobs.report import render_report

    out = render_report(Path(args.directory), Path(args.output) if args.output else None, say=_say)
    if args.open:
        import webbrowser

        webbrowser.open(out.resolve().as_uri())
    return 0


def cmd_catalog(args) -> int:
    from connectors import aws
    from jobs.catalog import archive_columns, archive_location, register

    config = _load(args, "aws")
    archive_location(config, args.location)  # refuse a local archive before starting Flink
    _say("resolving the archive's columns from sql/ ...")
    result = register(
        config, aws.client(config, "glue"), archive_columns(config), args.location, dry_run=args.dry_run, say=_say
    )
    if args.dry_run:
        _say("dry run: nothing was changed")
    _say(f"\nAthena queries over {result.database}.events (sql/athena/):")
    for name, query in result.queries.items():
        _say(f"\n-- {name}\n{query.strip()}")
    return 0


# --------------------------------------------------------------------------- etl


def cmd_etl(args) -> int:
    from connectors.config import load_config
    from jobs.etl import EtlRunOptions, load_etl, run

    if not args.config:
        raise CliError("give --config FILE: a YAML file with an etl: section (e.g. etl/browse-sessions.yaml)")
    etl = load_etl(Path(args.config))
    config = load_config(args.profile or "local", args.config, args.overrides, read_elsewhere=("etl",))
    return run(etl, config, EtlRunOptions(bounded=args.bounded, start=args.start), say=_say)


# --------------------------------------------------------------------------- dashboard


def cmd_dashboard(args) -> int:
    from clickflow.dashboard.app import DashboardOptions, serve

    config = _load(args)
    serve(config, DashboardOptions(port=args.port, start=args.start, open_browser=args.open), say=_say)
    return 0


# --------------------------------------------------------------------------- alerts


def cmd_alerts(args) -> int:
    from clickflow.alerts import local

    config = _load(args)
    if args.alerts_action == "run":
        options = local.RunOptions(start=args.start, reset=args.reset, idle_exit=args.idle_exit)
        stopping = "interrupted: finishing this batch and saving the position (Ctrl-C again to stop)"
        with _graceful_interrupt(stopping) as stop:
            summary = local.run(config, options, stop=stop, say=_say)
        for line in summary.report():
            _say(line)
        return 0
    if args.alerts_action == "tail":
        with _graceful_interrupt("interrupted") as stop:
            local.tail(config, idle_exit=args.idle_exit, stop=stop, say=_say, as_json=args.json)
        return 0
    from clickflow.alerts.deploy import AlertsDeployOptions, DeployClients, deploy

    deploy_options = AlertsDeployOptions(
        dry_run=args.dry_run,
        role_arn=args.role_arn,
        policy_out=Path(args.policy_out),
        package_out=Path(args.package_out),
    )
    deploy(config, deploy_options, DeployClients.for_config(config), say=_say)
    return 0


# --------------------------------------------------------------------------- demo


def cmd_demo(args) -> int:
    from jobs.demo import run_demo

    port = args.dashboard_port if args.dashboard else None
    try:
        return run_demo(_load(args), Path(args.workdir), keep_stack=args.keep_stack, say=_say, dashboard_port=port)
    except KeyboardInterrupt:  # Ctrl-C ends the dashboard; the demo has stopped the stack on its way out
        return 0 if args.dashboard else 130


# --------------------------------------------------------------------------- parser


def add_reading_options(p: argparse.ArgumentParser) -> None:
    """--from and --bounded of the interactive SQL tools (explore, sql)."""
    p.add_argument(
        "--from",
        dest="start",
        metavar="POSITION",
        help="where the events stream is read from: trim_horizon, latest or a UTC time (default: job.start_position)",
    )
    p.add_argument("--bounded", action="store_true", help="read the streams only to their end as of now: queries end")


def build_parser() -> argparse.ArgumentParser:
    config = _config_options()
    parser = argparse.ArgumentParser(
        prog="clickflow",
        description="Real-time clickstream analytics on Kinesis and Flink: replay or generate e-commerce "
        "events, run the streaming analytics job, run the local AWS stack, read streams.",
        epilog="See it all at once with `clickflow demo`. Step by step: `clickflow stack up`, "
        "`clickflow generate sample.csv`, `clickflow replay sample.csv`, `clickflow run --bounded`, "
        "`clickflow tail --stream clickflow-anomalies`. Each command has its own --help.\n\n" + EXIT_CODES,
        formatter_class=_HelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"clickflow {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, help_text: str, description: str) -> argparse.ArgumentParser:
        return sub.add_parser(
            name,
            parents=[config],
            help=help_text,
            description=description,
            epilog=EPILOG_CONFIG + "\n" + EXIT_CODES,
            formatter_class=_HelpFormatter,
        )

    p = add(
        "stack",
        "start, stop or inspect the local AWS stack on 127.0.0.1",
        "The embedded local AWS stack: kinesalite serves Kinesis, moto_server serves S3 and the other AWS "
        "APIs, both on 127.0.0.1 at the profile's endpoints. `up` starts what is not running and creates "
        "the profile's streams and bucket (safe to repeat); `down` stops what `up` started; `create` only creates "
        "the streams and bucket at the profile's endpoints (compose's one-shot setup service runs it).",
    )
    p.add_argument("action", choices=["up", "down", "status", "create"])
    p.set_defaults(func=cmd_stack)

    p = add(
        "cluster",
        "start, stop or inspect a local Flink cluster (no Docker), and its jobs",
        "A standalone Flink 2.2 session cluster on 127.0.0.1, started from the Flink distribution inside the "
        "apache-flink wheel: a JobManager, a TaskManager and Flink's SQL gateway as separate processes, with "
        "clickflow's Kinesis connector and functions on the classpath and the S3 plugin enabled. Its Web UI is at "
        "job.cluster (the cluster profile: http://127.0.0.1:8082). Sized for a 2-core, 8 GB laptop: "
        "cluster.jobmanager_memory 1024m, cluster.taskmanager_memory 2048m, cluster.task_slots 2. "
        "State and logs: <stack.state_dir>/flink/.\n\n"
        "  up       start what is not running; returns once the TaskManager has registered\n"
        "  down     stop what `up` started (nothing else)\n"
        "  status   the processes, slots and running jobs (exit 3 when not running)\n"
        "  jobs     every job the cluster knows, newest first\n"
        "  stop ID  stop a job with a savepoint (printed, with the command that resumes from it); --cancel\n\n"
        "examples:\n"
        "  clickflow stack up && clickflow cluster up\n"
        "  clickflow run --profile cluster            # returns once the job is RUNNING\n"
        "  clickflow cluster stop 3f2a...             # then: clickflow run --profile cluster --restore s3://...\n"
        "  clickflow cluster down",
    )
    p.add_argument("action", choices=["up", "down", "status", "jobs", "stop"])
    p.add_argument("job", nargs="?", help="stop: the job id")
    p.add_argument(
        "--savepoint-dir", metavar="URI", help="stop: where the savepoint goes (default: beside job.checkpoint_dir)"
    )
    p.add_argument("--cancel", action="store_true", help="stop: cancel without a savepoint")
    p.set_defaults(func=cmd_cluster)

    p = add(
        "replay",
        "replay a clickstream CSV (local or s3://) into a Kinesis stream",
        "Stream a REES46-schema CSV (.csv or .csv.gz, local path or s3://bucket/key) into Kinesis as JSON "
        "records, partitioned by category_id. Bad rows are skipped, counted and written with their line "
        "number and reason to a rejects file. Ctrl-C finishes the batches in flight and prints the last "
        "line sent, for --resume-from.\n\nexamples:\n"
        "  clickflow replay sample.csv\n"
        "  clickflow replay s3://clickflow-data/raw/2019-10-01.csv.gz --speedup 60\n"
        "  clickflow replay big.csv --rate 1000 --limit 50000 --retime",
    )
    p.add_argument("source", help="a .csv or .csv.gz file: a local path or s3://bucket/key")
    p.add_argument("--stream", help="target stream (default: the profile's streams.events.name)")
    p.add_argument(
        "--partition-key",
        default="category_id",
        metavar="COLUMN",
        help="column whose value is the partition key (default: category_id)",
    )
    pace = p.add_mutually_exclusive_group()
    pace.add_argument("--rate", type=_positive_number, metavar="N", help="send N records per second")
    pace.add_argument(
        "--speedup",
        type=_positive_number,
        metavar="X",
        help="keep the file's own timing between events, X times faster (1 = real time)",
    )
    p.add_argument(
        "--limit",
        type=_count(1),
        metavar="N",
        help="stop after sending N records (with --resume: N in all, the earlier runs' records included)",
    )
    resuming = p.add_mutually_exclusive_group()
    resuming.add_argument(
        "--resume-from",
        type=_count(0),
        default=0,
        metavar="LINE",
        help="skip every line up to and including LINE",
    )
    resuming.add_argument(
        "--resume",
        action="store_true",
        help="continue an earlier replay of this SOURCE into this stream from its progress file "
        "(kept under .clickflow/replay/ as it goes, so even a killed replay can continue)",
    )
    p.add_argument("--retime", action="store_true", help="shift every event_time so the replay starts now")
    p.add_argument(
        "--rejects", metavar="FILE", help="where to write rejected rows (default: under .clickflow/rejects/)"
    )
    p.add_argument(
        "--client",
        choices=["http", "boto3"],
        default="http",
        help="PutRecords client: clickflow's own signed HTTP client (default, faster) or boto3",
    )
    p.add_argument("--quiet", action="store_true", help="no live progress line")
    p.set_defaults(func=cmd_replay)

    p = add(
        "generate",
        "write a synthetic clickstream (labelled bots, spikes, abandoned carts), or records of any schema from a "
        "template, to a file or a stream",
        "Write a deterministic synthetic clickstream (same --seed and options, same bytes) in the REES46 "
        "schema: shopping sessions that browse, cart and sometimes buy, with skewed category and brand "
        "popularity. Optionally inject bot bursts, traffic spikes and abandoned carts; a labels file "
        "(OUTPUT.labels.json) says exactly what was injected and when.\n\n"
        "With --template, records of any schema instead, from a template in the Kinesis Data Generator's syntax "
        "({{random.number(...)}}, {{random.arrayElement([...])}}, {{random.weightedArrayElement({...})}}, "
        "{{random.uuid}}, {{date.now(format)}}, {{date.between(...)}}, faker helpers name.*, address.*, "
        "internet.*, commerce.*, lorem.*) plus a seed, --count, {{session.id}}/{{session.user}} kept for a visit, "
        "{{event.time(format)}} moving forward at --events-per-second, and {{sequence}}: written to OUTPUT, or sent "
        "to --stream through the replay's delivery (batches, lanes, retries, --rate, progress, Ctrl-C and resume). "
        "An error names the template, line and column.\n\nexamples:\n"
        "  clickflow generate sample.csv --events 50000 --bots 3 --spikes 2 --abandoned 5 --seed 42\n"
        "  clickflow generate films.jsonl --template templates/film-streaming.json.tpl --count 100000\n"
        "  clickflow generate --template templates/web-engagement.yaml --stream web-events --count 1000000",
    )
    p.add_argument("output", nargs="?", help="the file to write (.csv or .csv.gz; with --template: any, e.g. .jsonl)")
    p.add_argument("--events", type=_count(1), default=100_000, help="how many events (default: 100000)")
    p.add_argument("--seed", type=int, default=1, help="random seed (default: 1)")
    p.add_argument(
        "--start",
        type=_parse_time,
        default=datetime(2019, 10, 1, tzinfo=UTC),
        help="time of the first event, UTC (default: 2019-10-01 00:00:00)",
    )
    p.add_argument(
        "--rate",
        type=_positive_number,
        help="REES46: mean events per second of event time (default: 50); --template with --stream: records "
        "sent per second (default: as fast as the stream takes them)",
    )
    p.add_argument("--users", type=_count(1), default=20_000, help="size of the visitor pool (default: 20000)")
    p.add_argument("--categories", type=_count(1), default=200, help="number of categories (default: 200)")
    p.add_argument("--products", type=_count(1), default=5_000, help="number of products (default: 5000)")
    p.add_argument("--bots", type=_count(0), default=0, help="bot bursts to inject (default: 0)")
    p.add_argument("--spikes", type=_count(0), default=0, help="traffic spikes to inject (default: 0)")
    p.add_argument("--abandoned", type=_count(0), default=0, help="abandoned-cart sessions to inject (default: 0)")
    p.add_argument("--labels", metavar="FILE", help="labels file (default: OUTPUT.labels.json)")
    p.add_argument("--quiet", action="store_true", help="no progress line")
    tpl = p.add_argument_group("records of any schema, from a template (Kinesis Data Generator syntax)")
    tpl.add_argument("--template", metavar="FILE", help="a .tpl file, or a .yaml of weighted templates (templates/)")
    tpl.add_argument("--count", type=_count(1), default=1000, help="records to make (default: 1000)")
    tpl.add_argument("--stream", metavar="NAME", help="send them to this stream instead of writing OUTPUT")
    tpl.add_argument("--partition-key", metavar="FIELD", help="the records' field to partition by (default: spread)")
    tpl.add_argument(
        "--events-per-second",
        type=_positive_number,
        default=50.0,
        help="how fast {{event.time}} moves: mean events per second of event time (default: 50)",
    )
    tpl.add_argument(
        "--session-length",
        type=_positive_number,
        default=8.0,
        help="mean events per visit: {{session.id}} and {{session.user}} stay for a run (default: 8)",
    )
    tpl.add_argument(
        "--faker-pool", type=_count(1), default=10_000, help="values Faker makes per faker helper (default: 10000)"
    )
    resuming = tpl.add_mutually_exclusive_group()
    resuming.add_argument("--resume-from", type=_count(0), default=0, metavar="N", help="skip records 1..N")
    resuming.add_argument("--resume", action="store_true", help="continue an earlier send from its progress file")
    p.set_defaults(func=cmd_generate)

    p = add(
        "put",
        "put one JSON record into a stream",
        "Put one JSON object into a stream, partitioned by --partition-key or else by its category_id.\n\n"
        'example:\n  clickflow put --json \'{"event_type": "view", "category_id": 2053013555631882655}\'',
    )
    p.add_argument("--stream", help="target stream (default: the profile's streams.events.name)")
    p.add_argument("--json", required=True, metavar="OBJECT", help="the record, a JSON object")
    p.add_argument("--partition-key", metavar="KEY", help="partition key (default: the object's category_id)")
    p.set_defaults(func=cmd_put)

    p = add(
        "tail",
        "print a stream's records, one JSON object per line",
        "Read every shard of a stream (following child shards after a reshard) and print each record as "
        "one line of JSON. Runs until Ctrl-C, --limit or --idle-exit.\n\nexamples:\n"
        "  clickflow tail --from trim_horizon --limit 10\n"
        "  clickflow tail --stream clickflow-events --from latest --with-meta",
    )
    p.add_argument("--stream", help="stream to read (default: the profile's streams.events.name)")
    p.add_argument(
        "--from",
        dest="start",
        type=_parse_start,
        default="latest",
        metavar="WHERE",
        help="trim_horizon (the oldest record), latest (default: new records only), or a UTC time",
    )
    p.add_argument("--limit", type=_count(1), metavar="N", help="stop after N records")
    p.add_argument(
        "--idle-exit", type=_positive_number, metavar="SECONDS", help="stop after SECONDS without a new record"
    )
    p.add_argument("--with-meta", action="store_true", help="wrap each record with its shard, sequence number and key")
    p.set_defaults(func=cmd_tail)

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
        "  clickflow run --profile cluster         # on the local cluster; stop: clickflow cluster stop JOB_ID",
    )
    p.add_argument("--bounded", action="store_true", help="stop at the stream's end as of now; close all windows")
    p.add_argument(
        "--from",
        dest="start",
        metavar="POSITION",
        help="trim_horizon, latest or a UTC time (default: the profile's job.start_position)",
    )
    p.add_argument("--restore", metavar="PATH", help="a savepoint or checkpoint to resume from, or 'latest'")
    p.set_defaults(func=cmd_run)

    def add_package_options(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--etl",
            metavar="FILE",
            help="package (or deploy) the streaming ETL of FILE's etl: section instead of the analytics job, "
            "as an application of its own (e.g. --application clickflow-etl)",
        )
        p.add_argument(
            "--output",
            default="out/msf/clickflow-msf.zip",
            help="the zip to write (default: out/msf/clickflow-msf.zip)",
        )
        p.add_argument(
            "--connector-jar",
            metavar="PATH",
            help="use this flink-sql-connector-aws-kinesis-streams jar instead of downloading it",
        )
        p.add_argument(
            "--maven-url",
            default="https://repo1.maven.org/maven2",
            metavar="URL",
            help="Maven repository to download the connector from (default: Maven Central)",
        )
        p.add_argument("--quiet", action="store_true", help="no download progress line")

    p = add(
        "package",
        "build the zip Managed Service for Apache Flink runs",
        "Build the application package for Amazon Managed Service for Apache Flink: main.py (the entry point), "
        "the job's Python modules, sql/, PyYAML, and lib/clickflow-msf.jar — Apache Flink's "
        "flink-sql-connector-aws-kinesis-streams (pinned; downloaded once from Maven Central into "
        "~/.cache/clickflow, or given with --connector-jar) merged with clickflow's Java functions, since the "
        "service takes one jar. Also writes the application's property groups next to the zip: "
        "kinesis.analytics.flink.run.options (python, jarfile) and the job's config, one group per section.\n\n"
        "examples:\n"
        "  clickflow package --profile aws\n"
        "  clickflow package --connector-jar ~/Downloads/flink-sql-connector-aws-kinesis-streams-6.0.0-2.0.jar",
    )
    add_package_options(p)
    p.set_defaults(func=cmd_package)

    p = add(
        "deploy",
        "deploy the job to Managed Service for Apache Flink and wait until it runs",
        "Upload the package to s3://<bucket>/msf/, create the log group, the service role clickflow-<app>-msf "
        "with a least-privilege policy (exactly the profile's streams, archive prefix, code object and log "
        "stream; also written to --policy-out for review), then create the application (runtime FLINK-2_2) or "
        "update it, start it if it is not running, and wait for RUNNING. Property groups come from the profile "
        "(the account is taken from the credentials); checkpointing from job.checkpoint_interval.\n\n"
        "examples:\n"
        "  clickflow deploy --dry-run                      # read, print the plan and the policy, change nothing\n"
        "  clickflow deploy --application clickflow-prod --parallelism 4\n"
        "  clickflow deploy --package out/msf/clickflow-msf.zip --role-arn arn:aws:iam::123456789012:role/mine",
    )
    add_package_options(p)
    p.add_argument("--package", metavar="ZIP", help="deploy this zip from `clickflow package` instead of building one")
    p.add_argument("--application", default="clickflow", help="the application's name (default: clickflow)")
    p.add_argument("--role-arn", metavar="ARN", help="use this service role instead of creating clickflow-<app>-msf")
    p.add_argument("--parallelism", type=_count(1), metavar="N", help="default: the profile's flink.parallelism")
    p.add_argument("--parallelism-per-kpu", type=_count(1), default=1, metavar="N", help="default: 1")
    p.add_argument("--log-level", choices=["INFO", "WARN", "ERROR", "DEBUG"], default="INFO")
    p.add_argument("--no-start", action="store_true", help="create or update only; do not start")
    p.add_argument("--no-wait", action="store_true", help="do not wait for RUNNING")
    p.add_argument(
        "--timeout", type=_positive_number, default=900.0, metavar="SECONDS", help="how long to wait (default: 900)"
    )
    p.add_argument("--dry-run", action="store_true", help="print what would be done; change nothing")
    p.add_argument("--policy-out", default="out/msf/iam-policy.json", metavar="FILE", help="where to write the policy")
    p.set_defaults(func=cmd_deploy)

    p = add(
        "explore",
        "interactive SQL over the live streams, Studio style (update, append, single)",
        "A SQL shell over the profile's streams, like a Managed Flink Studio (Zeppelin %flink.ssql) notebook, in "
        "the terminal. Registered: events and clicks (the events stream), each analytic as a view over them "
        "(unique_visitors, active_page_views, top_categories, cart_abandonment, anomalies), dead_letters, and the "
        "job's output streams as <analytic>_stream and dead_letters_stream. Results show in one of Studio's modes: "
        "update (a table kept current from the query's changelog), append (rows as they arrive) or single (one "
        "value, refreshed). Statements end with ';' and may span lines; history is kept. With -e, one statement "
        "runs and its rows are printed (for scripts).\n\n"
        "examples:\n"
        "  clickflow explore\n"
        "  clickflow explore -e 'SELECT event_type, COUNT(*) FROM clicks GROUP BY event_type' --bounded\n"
        "  clickflow explore -e 'SELECT * FROM anomalies' --mode append --max-rows 5 --timeout 120\n"
        "  clickflow explore -e 'SELECT COUNT(DISTINCT user_id) FROM clicks' --mode single --bounded",
    )
    p.add_argument("-e", "--execute", metavar="SQL", help="run this one statement, print its rows, exit")
    p.add_argument("--mode", default="update", help="update (default), append or single")
    p.add_argument("--max-rows", type=_count(1), metavar="N", help="append: stop after N rows; update: show at most N")
    p.add_argument(
        "--timeout",
        type=_positive_number,
        metavar="S",
        help="stop a query after S seconds (-e default: 60, none with --bounded)",
    )
    add_reading_options(p)
    p.add_argument("--format", choices=["table", "json"], default="table", help="-e output: a table or JSON lines")
    p.set_defaults(func=cmd_explore)

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
        "  clickflow etl --config etl/browse-sessions.yaml --bounded      # what is in the stream now, then finish",
    )
    p.add_argument("--bounded", action="store_true", help="read the stream to its end as of now, then finish")
    p.add_argument("--from", dest="start", choices=["trim_horizon", "latest"], help="default: the file's source.start")
    p.set_defaults(func=cmd_etl)

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
    p.add_argument("--port", type=_count(1), default=8050, help="port on 127.0.0.1 (default: 8050)")
    p.add_argument(
        "--from",
        dest="start",
        choices=["trim_horizon", "latest"],
        default="trim_horizon",
        help="read the streams from their start (default) or only what arrives from now on",
    )
    p.add_argument("--open", action="store_true", help="open the page in the default browser")
    p.set_defaults(func=cmd_dashboard)

    p = add(
        "insights",
        "batch insights over the archive or a file: weekday tops, brands to market, funnel, daily visitors",
        "Run the batch questions of sql/batch/ in Flink's batch mode over SOURCE: the streaming job's archive (a "
        "directory or s3:// prefix holding events/dt=YYYY-MM-DD/hour=HH/; --from/--to prune the dt= partitions, "
        "and only those are downloaded from S3) or a clickstream file as `analyze` takes (CSV or JSON lines, "
        "plain or .gz, local or s3://; the same row parser and rejects). Writes DIR/<insight>/part-* JSON lines:\n\n"
        "  category_weekday  the insights.top_n categories of each ISO weekday (1 = Monday) by views\n"
        "  brand_marketing   brands with >= insights.min_views views, their conversion, and whether it is below\n"
        "                    insights.factor x the overall view-to-purchase ratio (needs_marketing)\n"
        "  funnel            sessions with a view, a cart, a purchase per category and over all ('all')\n"
        "  daily_visitors    per UTC day: users, sessions, events, purchases, revenue\n\n"
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
    p.add_argument("--quiet", action="store_true", help="no progress line")
    p.set_defaults(func=cmd_insights)

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

    p = add(
        "alerts",
        "act on anomalies: DynamoDB record, SNS notification, CloudWatch metrics (locally or as a Lambda)",
        "The anomalies the streaming job writes (bot bursts, traffic spikes), acted on: each distinct anomaly "
        "is recorded once in a DynamoDB table (keyed by type + entity and window start, written conditionally, "
        "so retries and duplicate records change nothing), notified once on an SNS topic (subject, readable "
        "body, attributes anomaly_type/severity/entity/score for filter policies; at most "
        "alerts.rate_limit.max_per_entity per entity per alerts.rate_limit.period of event time) and counted in "
        "CloudWatch (namespace alerts.namespace). Anomalies below alerts.min_severity are only counted. "
        "A Slack-compatible webhook is also posted to when CLICKFLOW_ALERTS_WEBHOOK (or alerts.webhook) is set.\n\n"
        "actions:\n"
        "  run     poll the anomalies stream and handle it as Lambda would: batches of alerts.batch_size,\n"
        "          a failing record retried alerts.max_retries times, then set aside in\n"
        "          <state>/alerts/failed.jsonl; resumes where it stopped (--reset forgets)\n"
        "  tail    print the notifications a subscriber receives (an SQS queue <topic>-tail\n"
        "          subscribed to the topic on first use)\n"
        "  deploy  the handler as a Lambda function (python3.12) with its role, table, topic,\n"
        "          failure queue and event source mapping; --dry-run prints the plan\n\n"
        "examples:\n"
        "  clickflow alerts tail --idle-exit 30 &       # subscribe first: shows what is published from now on\n"
        "  clickflow alerts run --idle-exit 10          # from the stream's start, or from the saved position\n"
        "  clickflow alerts run --from latest --reset\n"
        "  clickflow alerts deploy --profile aws --dry-run",
    )
    p.add_argument("alerts_action", choices=["run", "tail", "deploy"], metavar="run|tail|deploy")
    p.add_argument(
        "--from",
        dest="start",
        choices=["trim_horizon", "latest"],
        help="run: where shards with no saved position start (default: alerts.starting_position)",
    )
    p.add_argument("--reset", action="store_true", help="run: forget the saved position")
    p.add_argument(
        "--idle-exit", type=_positive_seconds, metavar="S", help="run, tail: stop after S seconds with nothing new"
    )
    p.add_argument("--json", action="store_true", help="tail: one JSON object per notification")
    p.add_argument("--dry-run", action="store_true", help="deploy: print what would be done; change nothing")
    p.add_argument("--role-arn", metavar="ARN", help="deploy: use this role instead of creating <function>-role")
    p.add_argument(
        "--policy-out", default="out/alerts/iam-policy.json", metavar="FILE", help="deploy: where to write the policy"
    )
    p.add_argument(
        "--package-out", default="out/alerts/clickflow-alerts.zip", metavar="FILE", help="deploy: where the zip goes"
    )
    p.set_defaults(func=cmd_alerts)

    p = add(
        "demo",
        "the whole pipeline on the embedded local stack, start to finish",
        "Bring up the local stack, generate a sample with injected bots, spikes and abandoned carts, upload "
        "it to the local S3 bucket, replay it from s3:// into the events stream (plus three malformed records), "
        "run the streaming job over the stream until its end, and print what it found next to what was "
        "injected, the dead letters, and a check that the streamed results equal the same SQL over the file. "
        "Stops the stack at the end unless --keep-stack (or it was already running).",
    )
    p.add_argument("--workdir", default="out/demo", help="where the sample and results go (default: out/demo)")
    p.add_argument("--keep-stack", action="store_true", help="leave the local stack running afterwards")
    p.add_argument(
        "--dashboard",
        action="store_true",
        help="end by serving the live dashboard over the demo's streams; Ctrl-C stops it and the stack",
    )
    p.add_argument("--dashboard-port", type=_count(1), default=8050, metavar="N", help="its port (default: 8050)")
    p.set_defaults(func=cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError, NoCredentialsError

    from clickflow.alerts.deploy import AlertsDeployError
    from clickflow.alerts.local import AlertsError
    from clickflow.dashboard.app import DashboardError
    from connectors.cluster import ClusterError
    from connectors.config import ConfigError
    from connectors.local_stack.stack import StackError
    from connectors.official import ConnectorJarError
    from jobs.analytics import RenderError
    from jobs.analyze import AnalyzeError
    from jobs.catalog import CatalogError
    from jobs.deploy import DeployError
    from jobs.explore import ExploreError
    from jobs.package import PackageError
    from jobs.report import ReportError
    from producer.delivery import FatalKinesisError
    from producer.rows import SchemaError
    from producer.source import SourceError

    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    args.argv = argv
    try:
        return args.func(args)
    except (
        CliError,
        ConfigError,
        StackError,
        ClusterError,
        FatalKinesisError,
        SchemaError,
        SourceError,
        AnalyzeError,
        RenderError,
        ConnectorJarError,
        DeployError,
        ExploreError,
        PackageError,
        AlertsError,
        AlertsDeployError,
        CatalogError,
        ReportError,
        DashboardError,
        ValueError,
    ) as exc:
        print(f"clickflow {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except NoCredentialsError:
        print(
            f"clickflow {args.command}: error: no AWS credentials found: set AWS_PROFILE or "
            "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or run where a role is attached",
            file=sys.stderr,
        )
        return 1
    except ClientError as exc:
        error = exc.response.get("Error", {})
        operation = getattr(exc, "operation_name", "an AWS call")
        print(
            f"clickflow {args.command}: error: {operation} failed: {error.get('Code')}: {error.get('Message')}",
            file=sys.stderr,
        )
        return 1
    except EndpointConnectionError as exc:
        hint = " Is the local stack up? Run `clickflow stack up`." if args.profile in (None, "local") else ""
        print(
            f"clickflow {args.command}: error: cannot connect to {exc.kwargs.get('endpoint_url')}.{hint}",
            file=sys.stderr,
        )
        return 1
    except BotoCoreError as exc:  # timeouts, a connection cut off, a bad region name: one line, no traceback
        print(f"clickflow {args.command}: error: AWS: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"clickflow {args.command}: stopped", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `clickflow tail | head`
        return 0
    except OSError as exc:  # a file that cannot be read or written
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"clickflow {args.command}: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 1
