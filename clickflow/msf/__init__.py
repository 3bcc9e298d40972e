"""Amazon Managed Service for Apache Flink: the application package (package) and its deployment (deploy)."""
