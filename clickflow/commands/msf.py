"""Managed Service for Apache Flink: `package`, `deploy`."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from clickflow.commands.common import (
    CliError,
    count,
    load,
    positive_number,
    say,
)


def _package(args, config, say=say):
    import os

    from clickflow.msf.package import build_package
    from connectors.config import SET_ENV

    if os.environ.get(SET_ENV):
        say(f"note: ${SET_ENV} is set, so its values are in the package's property groups: {os.environ[SET_ENV]}")

    return build_package(
        config,
        Path(args.output),
        Path(args.connector_jar) if args.connector_jar else None,
        say=say,
        etl_file=Path(args.etl) if args.etl else None,
        connector=args.connector,
        job_dir=Path(args.job) if args.job else None,
    )


def cmd_package(args) -> int:
    """``clickflow package``: the Managed Flink application zip."""
    config = load(args, "aws")  # what is packaged runs on AWS
    package = _package(args, config)
    say(f"wrote {package.path} ({package.path.stat().st_size / 1e6:.1f} MB, {len(package.entries)} entries)")
    say(f"connector: {package.connector_source} (SHA-256 {package.connector_sha256})")
    groups = Path(args.output).with_suffix(".properties.json")
    groups.write_text(json.dumps(package.property_groups, indent=2) + "\n", encoding="utf-8")
    say(f"property groups: {groups} ({', '.join(g['PropertyGroupId'] for g in package.property_groups)})")
    say("deploy it with: clickflow deploy --profile aws --package " + str(package.path))
    return 0


def cmd_deploy(args) -> int:
    """``clickflow deploy``: create or update the Managed Flink application (``--dry-run`` prints the plan)."""
    from clickflow.msf.deploy import Clients, DeployOptions, delete, deploy
    from clickflow.msf.package import read_package

    if args.delete and (args.local or args.package):
        raise CliError("--delete removes the application and its alarms: it takes no --local or --package")
    if args.local:
        return cmd_rehearse(args)
    if args.bounded or args.start:
        raise CliError("--bounded and --from are for a rehearsal on this machine: add --local")
    config = load(args, "aws")
    if args.delete:
        delete(config, args.application, Clients.for_config(config), dry_run=args.dry_run, say=say)
        return 0
    if args.package:
        package = read_package(Path(args.package))
    else:
        package = _package(args, config)
        say(f"packaged {package.path}")
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
    deploy(config, package, options, Clients.for_config(config), say=say)
    return 0


def cmd_rehearse(args) -> int:
    """``clickflow deploy --local``: the package run as Managed Flink runs it, on the local cluster."""
    from clickflow.msf.rehearse import RehearsalOptions, rehearse
    from connectors.config import load_config

    local = load(args, "cluster")  # where the rehearsal runs: the local cluster and stack
    if args.package:
        package = Path(args.package)
    else:  # what `clickflow package --profile aws` (with these --set) would write
        package = _package(args, load_config("aws", args.config, args.overrides)).path
        say(f"packaged {package}")
    options = RehearsalOptions(package, bounded=args.bounded, start=args.start, timeout=args.timeout)
    result = rehearse(local, options, say=say)  # a RehearsalError: what the service would fail on, one line
    say(f"job {result.job_id} is {result.state} on the local cluster: {result.web_ui}")
    say(f"run directory (the unpacked zip, its property groups, flink run's output): {result.run_dir}")
    if args.bounded:
        say("written to the output streams by this run:")
        for name, records in result.written.items():
            say(f"  {name:<20} {records:>8,} records")
        if result.archived:
            say("in the archive now (part files):")
            for name, files in result.archived.items():
                say(f"  {name:<20} {files:>8,}")
    else:
        say(f"stop it with: clickflow cluster stop {result.job_id} --profile {local.profile}")
    return 0


def add_package_options(p: argparse.ArgumentParser) -> None:
    """The options ``package`` and ``deploy`` share (which job, where the zip goes)."""
    p.add_argument(
        "--etl",
        metavar="FILE",
        help="package (or deploy) the streaming ETL of FILE's etl: section instead of the analytics job, "
        "as an application of its own (e.g. --application clickflow-etl)",
    )
    p.add_argument(
        "--job",
        metavar="DIR",
        help="package (or deploy) the KDA application `clickflow migrate --out DIR` wrote, as an application of "
        "its own (e.g. --application kda-lab); its streams come from DIR/clickflow.yaml",
    )
    p.add_argument(
        "--output",
        default="out/msf/clickflow-msf.zip",
        help="the zip to write (default: out/msf/clickflow-msf.zip)",
    )
    p.add_argument(
        "--connector",
        choices=("clickflow", "official"),
        default="clickflow",
        help="the Kinesis connector in the jar: clickflow's (default; the one every test runs) or Apache "
        "Flink's official one from --connector-jar (not run by clickflow's tests)",
    )
    p.add_argument(
        "--connector-jar",
        metavar="PATH",
        help="with --connector official: the flink-sql-connector-aws-kinesis-streams jar to package",
    )


def parser_package(add) -> None:
    """The arguments of `clickflow package`."""
    p = add(
        "package",
        "build the zip Managed Service for Apache Flink runs",
        "Build the application package for Amazon Managed Service for Apache Flink: main.py (the entry point), "
        "the job's Python modules, sql/, PyYAML, and lib/clickflow-msf.jar — clickflow's one jar (its Kinesis "
        "connector on the AWS SDK and the job's Java functions, built by Maven in `make setup`), byte for byte "
        "the jar the tests and local runs use. Before writing it, imports the entry point from the zip alone and plans "
        "the job from it with an EXPLAIN (its property groups, its jar; no AWS call). Needs no network. Also writes "
        "the application's property groups "
        "next to the zip: kinesis.analytics.flink.run.options (python, jarfile) and the job's config, one group "
        "per section.\n\n"
        "examples:\n"
        "  clickflow package --profile aws\n"
        "  clickflow package --connector official \\\n"
        "      --connector-jar ~/Downloads/flink-sql-connector-aws-kinesis-streams-6.0.0-2.0.jar",
    )
    add_package_options(p)
    p.set_defaults(func=cmd_package)


def parser_deploy(add) -> None:
    """The arguments of `clickflow deploy`."""
    p = add(
        "deploy",
        "deploy the job to Managed Service for Apache Flink and wait until it runs",
        "Upload the package to s3://<bucket>/msf/, create the log group, the service role clickflow-<app>-msf "
        "with a least-privilege policy (exactly the profile's streams, archive prefix, code object and log "
        "stream; also written to --policy-out for review), then create the application (runtime FLINK-2_2) or "
        "update it, start it if it is not running, and wait for RUNNING. Property groups come from the profile "
        "(the account is taken from the credentials); checkpointing from job.checkpoint_interval. Then the "
        "CloudWatch alarms Managed Flink recommends — downtime, restarts, failed checkpoints; thresholds under "
        "monitoring: — on the SNS topic monitoring.topic (default: alerts.topic). --delete removes the "
        "application and its alarms.\n\n"
        "examples:\n"
        "  clickflow deploy --dry-run                      # read, print the plan and the policy, change nothing\n"
        "  clickflow deploy --application clickflow-prod --parallelism 4\n"
        "  clickflow deploy --package out/msf/clickflow-msf.zip --role-arn arn:aws:iam::123456789012:role/mine\n"
        "  clickflow deploy --delete --application clickflow-prod --dry-run\n"
        "  clickflow deploy --local --package out/msf/clickflow-msf.zip --bounded --from trim_horizon\n"
        "                                                  # rehearse it on the local cluster first",
    )
    add_package_options(p)
    p.add_argument("--package", metavar="ZIP", help="deploy this zip from `clickflow package` instead of building one")
    p.add_argument("--application", default="clickflow", help="the application's name (default: clickflow)")
    p.add_argument("--role-arn", metavar="ARN", help="use this service role instead of creating clickflow-<app>-msf")
    p.add_argument("--parallelism", type=count(1), metavar="N", help="default: the profile's flink.parallelism")
    p.add_argument("--parallelism-per-kpu", type=count(1), default=1, metavar="N", help="default: 1")
    p.add_argument("--log-level", choices=["INFO", "WARN", "ERROR", "DEBUG"], default="INFO")
    p.add_argument("--no-start", action="store_true", help="create or update only; do not start")
    p.add_argument("--no-wait", action="store_true", help="do not wait for RUNNING")
    p.add_argument(
        "--timeout", type=positive_number, default=900.0, metavar="SECONDS", help="how long to wait (default: 900)"
    )
    p.add_argument("--dry-run", action="store_true", help="print what would be done; change nothing")
    p.add_argument(
        "--delete", action="store_true", help="delete the application and its alarms (its role, logs and code stay)"
    )
    rehearsal = p.add_argument_group("rehearsal on this machine (--local)")
    rehearsal.add_argument(
        "--local",
        action="store_true",
        help="run the package as Managed Flink runs it (unpacked, its run options' python and jarfile as written, "
        "its property groups, Python 3.12 with only apache-flink), on the local cluster (`clickflow cluster up`; "
        "default profile: cluster) against the local stack; nothing on AWS",
    )
    rehearsal.add_argument(
        "--bounded", action="store_true", help="with --local: read the events stream to its end as of now, "
        "wait for the job to finish and report what it wrote",
    )  # fmt: skip
    rehearsal.add_argument(
        "--from", dest="start", metavar="POSITION",
        help="with --local: job.start_position for this run (trim_horizon, latest or a UTC time; default: the "
        "package's)",
    )  # fmt: skip
    p.add_argument("--policy-out", default="out/msf/iam-policy.json", metavar="FILE", help="where to write the policy")
    p.set_defaults(func=cmd_deploy)
