"""A failed Flink job's one line: which cause of the Java chain is shown."""

from jobs.failure import flink_root_cause, root_cause


def test_the_root_cause_is_clickflows_own_line():
    trace = (
        "An error occurred while calling o1.await.\n"
        ": java.util.concurrent.ExecutionException: org.apache.flink.runtime.client.JobExecutionException: x\n"
        "\tat org.apache.flink.Foo.bar(Foo.java:1)\n"
        "Caused by: java.lang.IllegalStateException: could not list the shards of Kinesis stream s: boom\n"
        "Caused by: io.clickflow.kinesis.KinesisException: ListShards to http://127.0.0.1:9 failed: refused\n"
        "Caused by: io.clickflow.kinesis.shaded.software.amazon.awssdk.core.exception.SdkClientException: raw\n"
        "Caused by: java.net.ConnectException: Connection refused\n"
    )
    assert root_cause(trace) == "ListShards to http://127.0.0.1:9 failed: refused"
    assert root_cause(trace.replace("io.clickflow.kinesis.KinesisException", "java.io.IOException")) == (
        "java.net.ConnectException: Connection refused"
    )
    assert root_cause("no Java here") is None


def test_a_bad_table_option_is_shown_as_the_factory_said_it():
    trace = (
        ": org.apache.flink.table.api.ValidationException: Unable to create a source for reading table 't'.\n"
        "\n"
        "Table options are:\n"
        "Caused by: org.apache.flink.table.api.ValidationException: Kinesis table t: 'sink.batch.max-size' = '501'\n"
    )
    assert root_cause(trace) == "Kinesis table t: 'sink.batch.max-size' = '501'"
    assert flink_root_cause(RuntimeError("plain words\nmore")) == "plain words"
