"""`clickflow migrate`: Kinesis Data Analytics for SQL applications into clickflow job directories."""
