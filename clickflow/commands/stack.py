"""The local AWS stack and the local Flink cluster: `clickflow stack`, `clickflow cluster`."""

from __future__ import annotations

from datetime import UTC, datetime

from clickflow.commands.common import (
    CliError,
    load,
    say,
)


def cmd_stack(args) -> int:
    """``clickflow stack up | down | status``: the local AWS stack on loopback."""
    from connectors.local_stack import stack

    config, etl = _config_and_etl(args)
    if args.action in ("up", "create"):
        if args.action == "up":
            stack.up(config, say)
            for state in stack.status(config):
                say(state.describe())
        else:
            stack.ensure_resources(config, say)
        streams = [s.name for s in config.streams.values()]
        if etl is not None:
            from jobs.etl import create_streams

            create_streams(etl, config, say)
            streams += [name for name in etl.streams() if name not in streams]
        say(f"streams: {', '.join(streams)}; bucket: s3://{config.bucket}")
    elif args.action == "down":
        stack.down(config, say)
    else:
        states = stack.status(config)
        for state in states:
            say(state.describe())
        if all(state.running and state.answering for state in states):
            from connectors import aws

            names = aws.client(config, "kinesis").list_streams().get("StreamNames", [])
            buckets = [b["Name"] for b in aws.client(config, "s3").list_buckets().get("Buckets", [])]
            say(f"streams: {', '.join(names) or '(none)'}")
            say(f"buckets: {', '.join(buckets) or '(none)'}")
            say(f"state and logs: {stack.state_dir(config)}")
        return 0 if all(state.running for state in states) else 3
    return 0


def _config_and_etl(args):
    """The stack's configuration, and the ``etl:`` section of ``--config`` when it has one (its streams are
    created with the profile's)."""
    from pathlib import Path

    from connectors.config import load_config
    from jobs.etl import has_etl_section, load_etl

    if not args.config or not has_etl_section(Path(args.config)):
        return load(args), None
    etl = load_etl(Path(args.config))
    return load_config(args.profile or "local", args.config, args.overrides, read_elsewhere=("etl",)), etl


def cmd_cluster(args) -> int:
    """``clickflow cluster up | down | status | jobs | stop``: the local Flink cluster."""
    from connectors import cluster

    config = load(args, "cluster")
    rest = cluster.rest_address(config)
    if args.action == "up":
        cluster.up(config, say)
        say(f"Web UI: {rest.url}   logs: {cluster.home(config) / 'log'}")
        if config.cluster.sql_gateway_port:
            say(
                f"SQL gateway: http://127.0.0.1:{config.cluster.sql_gateway_port} "
                f"(clickflow sql --profile {config.profile})"
            )
        say(f"submit the job: clickflow run --profile {config.profile}")
        return 0
    if args.action == "down":
        cluster.down(config, say)
        return 0
    if args.action == "stop":
        if not args.job:
            raise CliError("cluster stop: name the job id (clickflow cluster jobs lists them)")
        if args.cancel:
            cluster.stop(config, args.job, None)
            say(f"cancelled {args.job}")
            return 0
        target = args.savepoint_dir or cluster.savepoint_dir(config)
        say(f"stopping {args.job} with a savepoint under {target} ...")
        location = cluster.stop(config, args.job, target)
        say(f"stopped; savepoint: {location}")
        say(f"resume with: clickflow run --profile {config.profile} --restore {location}")
        return 0
    states = cluster.status(config)
    if args.action == "status":
        for state in states:
            say(state.describe())
    if not any(state.running for state in states) and args.action == "status":
        return 3
    info = cluster.overview(config)
    if info is None:
        if args.action == "jobs":
            raise CliError(f"the cluster does not answer at {rest.url} (start it: clickflow cluster up)")
        say(f"the REST API does not answer at {rest.url}")
        return 3
    if args.action == "status":
        say(
            f"Web UI: {rest.url}  Flink {info.get('flink-version')}: {info.get('taskmanagers')} TaskManager(s), "
            f"{info.get('slots-available')}/{info.get('slots-total')} slots free, "
            f"{info.get('jobs-running')} job(s) running"
        )
    for job in cluster.jobs(config):
        if args.action == "jobs" or job.state == "RUNNING":
            started = datetime.fromtimestamp(job.started, UTC).strftime("%Y-%m-%d %H:%M:%SZ")
            say(f"{job.id}  {job.state:<10} {started}  {job.name}")
    return 0


def parser_stack(add) -> None:
    """The arguments of `clickflow stack`."""
    p = add(
        "stack",
        "start, stop or inspect the local AWS stack on 127.0.0.1",
        "The embedded local AWS stack: kinesalite serves Kinesis (with --set stack.kinesis_server=kinesis-mock: "
        "kinesis-mock, which also serves enhanced fan-out), moto_server serves S3 and the other AWS "
        "APIs, both on 127.0.0.1 at the profile's endpoints. `up` starts what is not running and creates "
        "the profile's streams and bucket (safe to repeat); `down` stops what `up` started; `create` only creates "
        "the streams and bucket at the profile's endpoints (compose's one-shot setup service runs it). "
        "With --config FILE of an ETL (an etl: section), `up` and `create` also create the streams it names.\n\n"
        "examples:\n"
        "  clickflow stack up\n"
        "  clickflow stack up --config etl/browse-sessions.yaml   # and the ETL lab's four streams\n"
        "  clickflow stack status                                # exit 3 when a server is not running\n"
        "  clickflow stack down",
    )
    p.add_argument("action", choices=["up", "down", "status", "create"])
    p.set_defaults(func=cmd_stack)


def parser_cluster(add) -> None:
    """The arguments of `clickflow cluster`."""
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
