package io.clickflow.metrics;

import java.util.Properties;
import org.apache.flink.metrics.prometheus.LoopbackPrometheusReporter;
import org.apache.flink.metrics.reporter.MetricReporterFactory;
import org.apache.flink.util.PortRange;

/**
 * {@code metrics.reporter.<name>.factory.class: io.clickflow.metrics.LoopbackPrometheusReporterFactory}:
 * Flink's Prometheus reporter on 127.0.0.1. {@code metrics.reporter.<name>.port} takes a port or a range
 * ({@code 9249-9259}, Flink's default): each process takes the first free one (the local cluster's JobManager
 * and TaskManager are two processes).
 */
public class LoopbackPrometheusReporterFactory implements MetricReporterFactory {
    static final String PORT = "port";
    static final String DEFAULT_PORT = "9249-9259";

    @Override
    public LoopbackPrometheusReporter createMetricReporter(Properties properties) {
        return new LoopbackPrometheusReporter(new PortRange(properties.getProperty(PORT, DEFAULT_PORT)));
    }
}
