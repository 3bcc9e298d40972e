"""The ``clickflow`` command: the top-level parser and error handling. Each subcommand's arguments
and function live together in ``clickflow/commands/``."""

from __future__ import annotations

import argparse
import sys

from clickflow import __version__
from clickflow.commands import alerts, demo, insights, interactive, jobs, migrate, msf, producer, stack
from clickflow.commands.common import EPILOG_CONFIG, EXIT_CODES, CliError, HelpFormatter, config_options
from clickflow.commands.producer import continuation

__all__ = ["build_parser", "continuation", "main", "user_errors"]


def build_parser() -> argparse.ArgumentParser:
    """The ``clickflow`` parser with every subcommand (each one's arguments come from ``clickflow/commands/``)."""
    config = config_options()
    parser = argparse.ArgumentParser(
        prog="clickflow",
        description="Real-time clickstream analytics on Kinesis and Flink: replay or generate e-commerce "
        "events, run the streaming analytics job, run the local AWS stack, read streams.",
        epilog="See it all at once with `clickflow demo`. Step by step: `clickflow stack up`, "
        "`clickflow generate sample.csv`, `clickflow replay sample.csv`, `clickflow run --bounded`, "
        "`clickflow tail --stream clickflow-anomalies`. Each command has its own --help.\n\n" + EXIT_CODES,
        formatter_class=HelpFormatter,
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
            formatter_class=HelpFormatter,
        )

    stack.parser_stack(add)
    stack.parser_cluster(add)
    producer.parser_replay(add)
    producer.parser_generate(add)
    producer.parser_put(add)
    producer.parser_tail(add)
    jobs.parser_analyze(add)
    jobs.parser_run(add)
    jobs.parser_status(add)
    msf.parser_package(add)
    msf.parser_deploy(add)
    interactive.parser_explore(add)
    interactive.parser_sql(add)
    jobs.parser_etl(add)
    migrate.parser_migrate(add)
    interactive.parser_dashboard(add)
    insights.parser_insights(add)
    insights.parser_report(add)
    insights.parser_catalog(add)
    alerts.parser_alerts(add)
    demo.parser_demo(add)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run ``clickflow`` with ``argv``; return its exit status. Errors the user can mend (bad input, options, config,
    an unreachable service) print one line; anything else is a bug and keeps its traceback."""
    as_program = argv is None  # the clickflow command itself (tests call main with a list, in their process)
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    args.argv = argv
    try:
        return _run(args)
    finally:
        if as_program:
            _exit_at_once_on_interrupt()


def _exit_at_once_on_interrupt() -> None:
    """Once the command has returned, a Ctrl-C (typically the second of two, sent to stop at once) ends the
    process with status 130 at once and quietly: Python 3.12 raises it from its shutdown, while it waits for
    threads, and prints a traceback."""
    import os
    import signal
    import threading

    def stop_now(signum, frame) -> None:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError, RuntimeError):  # RuntimeError: the handler cut into a write of the stream
                pass
        os._exit(130)

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, stop_now)


def user_errors() -> tuple[type[Exception], ...]:
    """The error types the CLI prints as one line (what the user can mend: input, options, config, a service);
    the documentation's error reference lists their messages (``clickflow.reference``)."""
    from clickflow.alerts.deploy import AlertsDeployError
    from clickflow.alerts.local import AlertsError
    from clickflow.dashboard.app import DashboardError
    from clickflow.health import HealthError
    from clickflow.interactive.explore import ExploreError
    from clickflow.migrate.parse import MigrateError
    from clickflow.msf.deploy import DeployError
    from clickflow.msf.package import PackageError
    from clickflow.msf.rehearse import RehearsalError
    from connectors.cluster import ClusterError
    from connectors.config import ConfigError, OptionError
    from connectors.kinesis_connector import ConnectorBuildError
    from connectors.local_stack.stack import StackError
    from connectors.official import ConnectorJarError
    from jobs.analytics import RenderError
    from jobs.analyze import AnalyzeError
    from jobs.catalog import CatalogError
    from jobs.report import ReportError
    from producer.delivery import FatalKinesisError
    from producer.resume import ResumeError
    from producer.rows import SchemaError
    from producer.source import SourceError
    from producer.templates import TemplateError

    return (
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
        RehearsalError,
        AlertsError,
        AlertsDeployError,
        CatalogError,
        ReportError,
        DashboardError,
        OptionError,
        ResumeError,
        TemplateError,
        ConnectorBuildError,
        MigrateError,
        HealthError,
    )


def _run(args) -> int:
    """Run the parsed command; errors the user can mend print one line (see :func:`main`)."""
    from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError, NoCredentialsError

    try:
        return args.func(args)
    except user_errors() as exc:  # what the user can mend; anything else is a bug and keeps its traceback
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
        hint = " Is the local stack up? Run `clickflow stack up`." if args.profile in (None, "local", "cluster") else ""
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
    except Exception as exc:
        from clickflow import job_failure

        if not job_failure.is_java_failure(exc):
            raise  # a bug: keep its traceback
        print(f"clickflow {args.command}: error: {job_failure.report(args.command, exc)}", file=sys.stderr)
        return 1
