package io.clickflow.kinesis;

import org.apache.flink.metrics.MetricGroup;

/**
 * Where clickflow's own metrics are registered: under the group {@code kinesisanalytics}, the one Managed
 * Flink forwards to CloudWatch (its guide: custom metrics in a group of that name; key-value groups below
 * it become dimensions). The same names serve the local Prometheus endpoint (key-value groups become
 * labels) and Flink's REST API. The Python side ({@code clickflow/health.py}) reads these names.
 */
public final class JobMetrics {
    /** The group Managed Flink forwards; every clickflow metric is below it. */
    public static final String GROUP = "kinesisanalytics";

    private JobMetrics() {}

    /** {@code kinesisanalytics.stream.<name>}: the metrics of one Kinesis stream read or written. */
    public static MetricGroup forStream(MetricGroup operator, String stream) {
        return operator.addGroup(GROUP).addGroup("stream", stream);
    }
}
