"""clickflow: real-time clickstream analytics on Kinesis and Flink. This package holds the CLI and the
anomaly alert handler (``clickflow.alerts``), which also runs as a Lambda function."""

__version__ = "0.1.0"
