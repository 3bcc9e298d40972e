package io.clickflow.udf;

import org.apache.flink.metrics.Counter;
import org.apache.flink.table.functions.FunctionContext;
import org.apache.flink.table.functions.ScalarFunction;

/**
 * {@code COUNT_DEAD_LETTER(reason)}: returns its argument and, when it is not null, adds one to the
 * operator's {@code deadLetters} counter — the job's metric for records sent to the dead letters
 * (web UI, REST API, CloudWatch on Managed Flink with operator-level metrics).
 */
public class CountDeadLetter extends ScalarFunction {
    private transient Counter deadLetters;

    @Override
    public void open(FunctionContext context) {
        deadLetters = context.getMetricGroup().counter("deadLetters");
    }

    public String eval(String reason) {
        if (reason != null) {
            deadLetters.inc();
        }
        return reason;
    }

    @Override
    public boolean isDeterministic() {
        return false; // counts as a side effect: never folded away or evaluated twice
    }
}
