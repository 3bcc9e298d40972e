"""Anomaly alerts: the anomalies the streaming job writes to Kinesis, acted on.

- ``core``: pure decisions — parse an anomaly record, its severity, its dedup and rate-limit keys,
  the notification's text. No AWS, no I/O.
- ``handler``: the AWS edges — DynamoDB (one item per anomaly, written conditionally), SNS, an
  optional webhook, CloudWatch — for one Lambda-shaped Kinesis event; ``lambda_handler`` is the
  Lambda entry point.
- ``local``: the same handler fed by a poller over the anomalies stream (``clickflow alerts run``),
  a subscriber that prints what a user would receive (``clickflow alerts tail``), and the table
  and topic created on demand.
- ``deploy``: the handler as a Lambda function with its role, table, topic, dead-letter queue and
  event-source mapping (``clickflow alerts deploy``).

The Lambda package holds only ``clickflow/__init__.py``, this package's ``__init__``, ``core`` and
``handler``: they import nothing but the standard library and boto3 (which Lambda provides).
"""
