package io.clickflow.udf;

import java.util.HashMap;
import java.util.Map;
import org.apache.flink.metrics.Counter;
import org.apache.flink.metrics.MeterView;
import org.apache.flink.metrics.MetricGroup;
import org.apache.flink.table.functions.FunctionContext;
import org.apache.flink.table.functions.ScalarFunction;

/**
 * {@code COUNT_DEAD_LETTER(reason)}: returns its argument and, when it is not null, counts it in the job's
 * metrics, under the group {@code kinesisanalytics} (the one Managed Flink forwards to CloudWatch):
 *
 * <ul>
 *   <li>{@code deadLetters}, every record sent to the dead letters, and {@code deadLettersPerSecond} (over
 *       the last minute);
 *   <li>{@code reason.<kind>.deadLettersByReason}: by the reason's kind — its text up to the first
 *       {@code ": "}, so the record's own value never becomes a label ({@code unknown_event_type},
 *       {@code missing_field_user_id}, {@code late});
 *   <li>{@code lateEvents}, {@code lateEventsPerSecond} and {@code analytic.<name>.lateEventsByAnalytic}:
 *       the valid events a window dropped as late ({@code late for <analytic>}).
 * </ul>
 *
 * The valid records never reach the counting: a null reason returns at once.
 */
public class CountDeadLetter extends ScalarFunction {
    private static final String LATE = "late for ";
    private static final int MAX_LABELS = 200; // past this many kinds, the rest count as "other"
    static final int RATE_SECONDS = 60;

    private transient MetricGroup group;
    private transient Counter deadLetters;
    private transient Counter lateEvents;
    private transient Map<String, Counter> byReason;
    private transient Map<String, Counter> byAnalytic;

    @Override
    public void open(FunctionContext context) {
        group = context.getMetricGroup().addGroup("kinesisanalytics");
        deadLetters = group.counter("deadLetters");
        group.meter("deadLettersPerSecond", new MeterView(deadLetters, RATE_SECONDS));
        lateEvents = group.counter("lateEvents");
        group.meter("lateEventsPerSecond", new MeterView(lateEvents, RATE_SECONDS));
        byReason = new HashMap<>();
        byAnalytic = new HashMap<>();
    }

    public String eval(String reason) {
        if (reason == null) {
            return null;
        }
        deadLetters.inc();
        if (reason.startsWith(LATE)) {
            lateEvents.inc();
            labelled(byAnalytic, "analytic", reason.substring(LATE.length()), "lateEventsByAnalytic").inc();
            labelled(byReason, "reason", "late", "deadLettersByReason").inc();
        } else {
            labelled(byReason, "reason", kind(reason), "deadLettersByReason").inc();
        }
        return reason;
    }

    /**
     * The kind of a reason: its text before the value it quotes (the rule's reasons put it after ": "), with
     * every character but letters, digits and {@code _} as {@code _} ({@code missing_field_user_id}): Flink's
     * REST API and its Prometheus reporter would change them anyway, each its own way.
     */
    static String kind(String reason) {
        int colon = reason.indexOf(": ");
        return (colon < 0 ? reason : reason.substring(0, colon)).replaceAll("[^A-Za-z0-9_]", "_");
    }

    private Counter labelled(Map<String, Counter> counters, String key, String label, String name) {
        Counter counter = counters.get(label);
        if (counter == null) {
            String value = counters.size() < MAX_LABELS ? label : "other";
            counter = counters.get(value);
            if (counter == null) {
                counter = group.addGroup(key, value).counter(name);
                counters.put(value, counter);
            }
        }
        return counter;
    }

    @Override
    public boolean isDeterministic() {
        return false; // counts as a side effect: never folded away or evaluated twice
    }
}
