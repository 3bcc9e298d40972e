package io.clickflow.udf;

import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.functions.ScalarFunction;
import org.apache.flink.types.Row;

/**
 * {@code CHECK_EVENT(payload BYTES)}: the verdict on one record, a row — {@code reason} null and the
 * event's columns when it is a valid event (the rule of {@code sql/valid_event.json}), else the
 * reason and nulls. {@code sql/events.sql} splits on it: valid rows are the analytics' {@code
 * clicks}, the others are dead letters; nothing is both and nothing is neither. A scalar function
 * (not a table function), so that plans over it stay equal and are shared between sinks.
 */
public class CheckEvent extends ScalarFunction {
    public @DataTypeHint(
        "ROW<reason STRING, event_time TIMESTAMP(3), event_type STRING, product_id BIGINT, category_id BIGINT, "
            + "category_code STRING, brand STRING, price DOUBLE, user_id BIGINT, user_session STRING>")
    Row eval(byte[] payload) {
        EventRule.Result result = EventRule.check(payload);
        Row row = new Row(2 + EventRule.COLUMNS.length);
        row.setField(0, result.reason);
        if (result.reason == null) {
            row.setField(1, result.time);
            for (int i = 0; i < EventRule.COLUMNS.length; i++) {
                row.setField(2 + i, result.values.get(EventRule.COLUMNS[i]));
            }
        }
        return row;
    }

    /**
     * Not because the verdict varies (it does not), but so that it is computed once per record: Flink's planner
     * does not merge a non-deterministic call into the projections that read its fields (FLINK-20887), so the one
     * {@code Calc} that calls it is shared by every branch of the job, where a deterministic call was inlined into
     * each branch's projection and filter and made again for each field read — measured with JFR in
     * benchmarks/pipeline.py, about a quarter of the source task's CPU.
     */
    @Override
    public boolean isDeterministic() {
        return false;
    }
}
