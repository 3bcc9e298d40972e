"""The CloudWatch alarms ``clickflow deploy`` sets on a Managed Flink application, and removes with it.

Managed Flink publishes each application's metrics in the namespace ``AWS/KinesisAnalytics`` with the
dimension ``Application``; its guide recommends alarms on a few of them for every application. These
are the ones whose names are Managed Flink's own on FLINK-2_2 (where ``fullRestarts`` is gone in
favour of ``numRestarts``), so each alarm watches a metric that is there from the first minute:

* ``<app>-downtime``: ``downtime`` (ms the job has not been running) above 0 for
  ``monitoring.downtime_minutes`` consecutive minutes;
* ``<app>-restarts``: more than ``monitoring.max_restarts`` restarts within ``monitoring.restart_minutes``
  (``numRestarts`` counts since the start: the alarm watches its increase, ``DIFF``);
* ``<app>-failed-checkpoints``: more than ``monitoring.max_failed_checkpoints`` failed checkpoints
  within ``monitoring.checkpoint_minutes`` (``numberOfFailedCheckpoints``, likewise).

Each notifies the SNS topic ``monitoring.topic`` (default: the alerts' topic) when it fires and when it
clears. A stopped application publishes nothing: missing data is not a breach.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from connectors.config import Config, ConfigError
from connectors.tables import partition

NAMESPACE = "AWS/KinesisAnalytics"


@dataclass(frozen=True)
class AlarmPlan:
    """The alarms of one application and the topic they notify."""

    topic_name: str
    topic_arn: str
    alarms: list[dict]  # PutMetricAlarm requests

    @property
    def names(self) -> list[str]:
        """The alarms' names."""
        return [alarm["AlarmName"] for alarm in self.alarms]


def _minutes(config: Config, key: str) -> int:
    value = getattr(config.monitoring, key)
    if value < 1:
        raise ConfigError(f"monitoring.{key} is {value}: give a whole number of minutes, 1 or more")
    return value


def _growth(application: str, metric: str, minutes: int, label: str) -> list[dict]:
    """A counter's increase over ``minutes`` (metric math: DIFF of its maximum per period)."""
    return [
        {
            "Id": "total",
            "MetricStat": {
                "Metric": {
                    "Namespace": NAMESPACE,
                    "MetricName": metric,
                    "Dimensions": [{"Name": "Application", "Value": application}],
                },
                "Period": minutes * 60,
                "Stat": "Maximum",
            },
            "ReturnData": False,
        },
        {"Id": "growth", "Expression": "DIFF(total)", "Label": label, "ReturnData": True},
    ]


def plan_alarms(config: Config, application: str, account: str) -> AlarmPlan:
    """The alarms for ``application`` in ``account`` from the profile's ``monitoring:`` section."""
    m = config.monitoring
    topic = m.topic or config.alerts.topic
    region = config.aws.region
    topic_arn = f"arn:{partition(region)}:sns:{region}:{account}:{topic}"
    dimensions = [{"Name": "Application", "Value": application}]
    common = {
        "ActionsEnabled": True,
        "AlarmActions": [topic_arn],
        "OKActions": [topic_arn],
        "TreatMissingData": "notBreaching",
        "ComparisonOperator": "GreaterThanThreshold",
    }
    down = _minutes(config, "downtime_minutes")
    restart_minutes = _minutes(config, "restart_minutes")
    checkpoint_minutes = _minutes(config, "checkpoint_minutes")
    alarms = [
        {
            "AlarmName": f"{application}-downtime",
            "AlarmDescription": f"clickflow: {application} has not been running for {down} minute(s) "
            "(Managed Flink's downtime metric above 0); see its log group and `clickflow deploy` status.",
            "Namespace": NAMESPACE,
            "MetricName": "downtime",
            "Dimensions": dimensions,
            "Statistic": "Average",
            "Period": 60,
            "EvaluationPeriods": down,
            "DatapointsToAlarm": down,
            "Threshold": 0.0,
            **common,
        },
        {
            "AlarmName": f"{application}-restarts",
            "AlarmDescription": f"clickflow: {application} restarted more than {m.max_restarts} time(s) "
            f"within {restart_minutes} minute(s) (numRestarts); a failing record or resource is the usual cause.",
            "Metrics": _growth(application, "numRestarts", restart_minutes, "restarts"),
            "EvaluationPeriods": 1,
            "Threshold": float(m.max_restarts),
            **common,
        },
        {
            "AlarmName": f"{application}-failed-checkpoints",
            "AlarmDescription": f"clickflow: more than {m.max_failed_checkpoints} checkpoint(s) of {application} "
            f"failed within {checkpoint_minutes} minute(s) (numberOfFailedCheckpoints): its state is not "
            "being saved, so a restart would go back further.",
            "Metrics": _growth(application, "numberOfFailedCheckpoints", checkpoint_minutes, "failed checkpoints"),
            "EvaluationPeriods": 1,
            "Threshold": float(m.max_failed_checkpoints),
            **common,
        },
    ]
    return AlarmPlan(topic, topic_arn, alarms)


def ensure_alarms(cloudwatch, sns, plan: AlarmPlan, dry_run: bool, say: Callable[[str], None]) -> None:
    """Create the topic (when missing) and put every alarm (PutMetricAlarm creates or replaces)."""
    say(f"{'would ensure' if dry_run else 'ensuring'} SNS topic {plan.topic_arn} for the alarms")
    if not dry_run:
        sns.create_topic(Name=plan.topic_name)  # idempotent: the existing topic's ARN
    for alarm in plan.alarms:
        say(f"{'would put' if dry_run else 'putting'} alarm {alarm['AlarmName']}: {alarm['AlarmDescription']}")
        if not dry_run:
            cloudwatch.put_metric_alarm(**alarm)


def delete_alarms(cloudwatch, application: str, dry_run: bool, say: Callable[[str], None]) -> list[str]:
    """Delete the alarms ``clickflow deploy`` made for ``application`` (the ones that exist); their names."""
    names = [f"{application}-{suffix}" for suffix in ("downtime", "restarts", "failed-checkpoints")]
    found = [a["AlarmName"] for a in cloudwatch.describe_alarms(AlarmNames=names)["MetricAlarms"]]
    for name in found:
        say(f"{'would delete' if dry_run else 'deleting'} alarm {name}")
    if found and not dry_run:
        cloudwatch.delete_alarms(AlarmNames=found)
    return found
