"""Acting on anomalies: `alerts run | tail | deploy`."""

from __future__ import annotations

from pathlib import Path

from clickflow.commands.common import (
    command_without,
    graceful_interrupt,
    load,
    positive_number,
    say,
)


def cmd_alerts(args) -> int:
    """``clickflow alerts run | tail | deploy``."""
    from clickflow.alerts import local

    config = load(args)
    if args.alerts_action == "run":
        options = local.RunOptions(start=args.start, reset=args.reset, idle_exit=args.idle_exit)
        stopping = "interrupted: finishing this batch and saving the position (Ctrl-C again to stop)"
        with graceful_interrupt(stopping) as stop:
            summary = local.run(config, options, stop=stop, say=say)
        for line in summary.report():
            say(line)
        if stop.is_set():  # SIGINT or SIGTERM: every handled batch's position is saved
            say(f"stopped; positions saved in {summary.positions}")
            say(f"resume with: {command_without(args.argv, ('--from',), ('--reset',))}")
            return 130
        return 0
    if args.alerts_action == "tail":
        with graceful_interrupt("interrupted") as stop:
            local.tail(config, idle_exit=args.idle_exit, stop=stop, say=say, as_json=args.json)
        return 0
    from clickflow.alerts.deploy import AlertsDeployOptions, DeployClients, deploy

    deploy_options = AlertsDeployOptions(
        dry_run=args.dry_run,
        role_arn=args.role_arn,
        policy_out=Path(args.policy_out),
        package_out=Path(args.package_out),
    )
    deploy(config, deploy_options, DeployClients.for_config(config), say=say)
    return 0


def parser_alerts(add) -> None:
    """The arguments of `clickflow alerts`."""
    p = add(
        "alerts",
        "act on anomalies: DynamoDB record, SNS notification, CloudWatch metrics (locally or as a Lambda)",
        "The anomalies the streaming job writes (bot bursts, traffic spikes, rcf_traffic), acted on: each distinct "
        "anomaly "
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
        "--idle-exit", type=positive_number, metavar="S", help="run, tail: stop after S seconds with nothing new"
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
