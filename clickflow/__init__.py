"""clickflow: real-time clickstream analytics on Kinesis and Flink. This package holds only the CLI."""

__version__ = "0.1.0"
