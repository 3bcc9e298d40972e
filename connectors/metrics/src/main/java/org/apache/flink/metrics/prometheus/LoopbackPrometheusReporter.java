package org.apache.flink.metrics.prometheus;

import io.prometheus.client.exporter.HTTPServer;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.util.Iterator;
import org.apache.flink.util.PortRange;

/**
 * Flink's Prometheus reporter, serving {@code /metrics} on 127.0.0.1 only. It lives in Flink's package
 * because the collector registry it serves is package-private in {@link AbstractPrometheusReporter}; the
 * metric names, labels and types are that class's, unchanged.
 */
public class LoopbackPrometheusReporter extends AbstractPrometheusReporter {
    static final String LOOPBACK = "127.0.0.1";
    private final HTTPServer httpServer;
    private final int port;

    public LoopbackPrometheusReporter(PortRange ports) {
        HTTPServer server = null;
        int bound = -1;
        IOException last = null;
        for (Iterator<Integer> it = ports.getPortsIterator(); it.hasNext() && server == null; ) {
            int candidate = it.next();
            try {
                server = new HTTPServer(new InetSocketAddress(LOOPBACK, candidate), registry, true);
                bound = candidate;
            } catch (IOException e) {
                last = e; // taken: try the next port of the range
            }
        }
        if (server == null) {
            throw new IllegalStateException("no free port for the Prometheus endpoint on " + LOOPBACK + " in " + ports, last);
        }
        this.httpServer = server;
        this.port = bound;
        log.info("Prometheus metrics on http://{}:{}/metrics", LOOPBACK, bound);
    }

    /** The port this reporter serves on. */
    public int getPort() {
        return port;
    }

    @Override
    public void close() {
        httpServer.stop();
        super.close();
    }
}
