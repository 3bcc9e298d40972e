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

And on the job's own metrics, which Managed Flink forwards because clickflow registers them under the metric
group ``kinesisanalytics`` (with ``MetricsLevel`` OPERATOR, which ``clickflow deploy`` sets; each is published
with the dimension ``Application`` and its own key-value groups — ``stream``, ``shard``, ``reason``,
``analytic`` — so each alarm reads it through a CloudWatch Metrics Insights query over every such series):

* ``<app>-lag``: a shard more than ``monitoring.max_lag`` behind its stream's tip (``millisBehindLatest``, its
  largest) for ``monitoring.lag_minutes`` minutes in a row;
* ``<app>-checkpoint-age``: no checkpoint completed for ``monitoring.checkpoint_intervals`` checkpoint
  intervals (``millisSinceLastCheckpoint``, the connector's: Managed Flink forwards no age of its own);
* ``<app>-dead-letters``: more than ``monitoring.max_dead_letters_per_minute`` dead letters a minute
  (``deadLettersPerSecond``, summed over the operators that make them).

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


def _insights(application: str, aggregate: str, metric: str, label: str) -> list[dict]:
    """One series: ``aggregate`` of ``metric`` over every series the application publishes under that name."""
    query = f"SELECT {aggregate}({metric}) FROM \"{NAMESPACE}\" WHERE Application = '{application}'"
    return [{"Id": "job", "Expression": query, "Label": label, "Period": 60, "ReturnData": True}]


SUFFIXES = ("downtime", "restarts", "failed-checkpoints", "lag", "checkpoint-age", "dead-letters")


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
    lag_minutes = _minutes(config, "lag_minutes")
    max_lag_ms = round(m.max_lag * 1000)
    age_ms = round(m.checkpoint_intervals * config.job.checkpoint_interval * 1000)
    alarms += [
        {
            "AlarmName": f"{application}-lag",
            "AlarmDescription": f"clickflow: a shard {application} reads is more than {max_lag_ms} ms behind its "
            f"stream's tip for {lag_minutes} minute(s) (millisBehindLatest): the job is not keeping up, or a "
            "shard is not being read; `clickflow status` shows which.",
            "Metrics": _insights(application, "MAX", "millisBehindLatest", "ms behind, the furthest shard"),
            "EvaluationPeriods": lag_minutes,
            "DatapointsToAlarm": lag_minutes,
            "Threshold": float(max_lag_ms),
            **common,
        },
        {
            "AlarmName": f"{application}-checkpoint-age",
            "AlarmDescription": f"clickflow: no checkpoint of {application} completed for {age_ms} ms "
            f"({m.checkpoint_intervals} checkpoint intervals; millisSinceLastCheckpoint): a restart would go "
            "back that far.",
            "Metrics": _insights(application, "MAX", "millisSinceLastCheckpoint", "ms since the last checkpoint"),
            "EvaluationPeriods": 1,
            "Threshold": float(age_ms),
            **common,
        },
        {
            "AlarmName": f"{application}-dead-letters",
            "AlarmDescription": f"clickflow: {application} sends more than {m.max_dead_letters_per_minute:g} "
            "records a minute to the dead letters (deadLettersPerSecond): read them with "
            "`clickflow tail --stream` on the dead-letters stream.",
            "Metrics": _insights(application, "SUM", "deadLettersPerSecond", "dead letters per second"),
            "EvaluationPeriods": 1,
            "Threshold": m.max_dead_letters_per_minute / 60,
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
    names = [f"{application}-{suffix}" for suffix in SUFFIXES]
    found = [a["AlarmName"] for a in cloudwatch.describe_alarms(AlarmNames=names)["MetricAlarms"]]
    for name in found:
        say(f"{'would delete' if dry_run else 'deleting'} alarm {name}")
    if found and not dry_run:
        cloudwatch.delete_alarms(AlarmNames=found)
    return found
