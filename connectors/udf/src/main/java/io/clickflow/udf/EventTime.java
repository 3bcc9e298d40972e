package io.clickflow.udf;

import java.time.LocalDateTime;

import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.functions.ScalarFunction;

/**
 * {@code EVENT_TIME(payload BYTES)}: the event time of a valid event (the rule of
 * {@code sql/valid_event.json}), else the epoch — a rowtime may never be null, and a record that is
 * not a valid event must not move the watermark. CHECK_EVENT then reuses this parse.
 */
public class EventTime extends ScalarFunction {
    private static final LocalDateTime EPOCH = LocalDateTime.of(1970, 1, 1, 0, 0);

    public @DataTypeHint("TIMESTAMP(3) NOT NULL") LocalDateTime eval(byte[] payload) {
        EventRule.Result result = EventRule.check(payload);
        return result.reason == null ? result.time : EPOCH;
    }
}
