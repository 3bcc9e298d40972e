package io.clickflow.kinesis;

import java.util.concurrent.atomic.AtomicLong;
import org.apache.flink.metrics.Counter;
import org.apache.flink.metrics.MetricGroup;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * How long calls to Kinesis went without an answer (refused, cut, timed out): from the start of the
 * first such call to the next answer. Logged when the answer comes and summed in the
 * {@code kinesisBlindMillis} counter. Safe to call from any thread.
 */
final class UnansweredTime {
    private static final Logger LOG = LoggerFactory.getLogger(UnansweredTime.class);

    private final AtomicLong since = new AtomicLong(); // 0: Kinesis answers
    private final Counter millis;
    private final String doing;

    /** {@code doing} names the work in the log line: "Reading STREAM", "Writing to STREAM". */
    UnansweredTime(MetricGroup metrics, String doing) {
        this.millis = metrics.counter("kinesisBlindMillis");
        this.doing = doing;
    }

    /** A call that began at {@code startedMillis} got no answer (the SDK's own retries may have held it). */
    void unanswered(long startedMillis) {
        since.compareAndSet(0, startedMillis);
    }

    /** A call got an answer: ends the time without one, if there was any. */
    void answered() {
        long start = since.getAndSet(0);
        if (start != 0) {
            long blind = System.currentTimeMillis() - start;
            millis.inc(blind);
            LOG.info("{} again after {} ms without an answer from Kinesis (metric kinesisBlindMillis)", doing, blind);
        }
    }
}
