package io.clickflow.udf;

import java.time.Instant;
import java.time.LocalDateTime;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;

import org.apache.flink.table.annotation.ArgumentHint;
import org.apache.flink.table.annotation.ArgumentTrait;
import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.annotation.StateHint;
import org.apache.flink.table.api.dataview.ListView;
import org.apache.flink.table.api.dataview.MapView;
import org.apache.flink.table.functions.ProcessTableFunction;
import org.apache.flink.types.Row;

/**
 * {@code STAGGER_WINDOW(input => TABLE t PARTITION BY (keys), on_time => DESCRIPTOR(ROWTIME), range_ms => n)}:
 * KDA's stagger windows (migrated applications: {@code WINDOWED BY STAGGER}). Per partition key, a window
 * opens at the first row's ROWTIME and holds the rows of the next {@code range_ms}; when the watermark
 * passes its end, its rows are emitted together with the window's start (at the time of the timer that
 * finds it closed) — so a downstream group by (keys, stagger_start) over a 1 ms tumbling window emits
 * each stagger window's aggregate once, when it closes, as KDA did.
 *
 * <p>Rows are taken in ROWTIME order (each waits for the watermark to pass its time), so a row that
 * comes from another shard earlier in time than one already seen still lands in the right window. A
 * row already behind the watermark when it comes (a shard read after the others moved the watermark
 * on) is placed at the next watermark, after what that watermark releases of its key.
 * Each row travels as text ({@code row_json}, built by the translation), so the function serves any
 * schema.
 */
@DataTypeHint("ROW<stagger_start TIMESTAMP(3), row_json STRING>")
public class StaggerWindow extends ProcessTableFunction<Row> {

    /** The open window of a partition key. */
    public static class Window {
        public Long start;
        public Long range; // the query's range_ms (kept here: a timer sees only the state)
    }

    public void eval(
            Context ctx,
            @StateHint(ttl = StateTtl.NONE) Window window,
            @StateHint(ttl = StateTtl.NONE) @DataTypeHint("MAP<BIGINT, ARRAY<STRING>>") MapView<Long, String[]> pending,
            @StateHint(ttl = StateTtl.NONE) @DataTypeHint("ARRAY<STRING>") ListView<String> rows,
            @ArgumentHint(
                            value = {ArgumentTrait.SET_SEMANTIC_TABLE, ArgumentTrait.REQUIRE_ON_TIME},
                            name = "input")
                    Row input,
            @ArgumentHint(name = "range_ms") Long rangeMs)
            throws Exception {
        window.range = rangeMs;
        TimeContext<Long> time = ctx.timeContext(Long.class);
        long at = time.time();
        String row = input.getFieldAs("row_json");
        String[] waiting = pending.get(at);
        pending.put(at, waiting == null ? new String[] {row} : append(waiting, row));
        Long watermark = time.currentWatermark();
        // a row behind the watermark (its shard read after the others moved it on) waits for the next one
        time.registerOnTime(watermark != null && at <= watermark ? watermark + 1 : at);
    }

    /**
     * Everything the watermark has passed, in ROWTIME order: each row joins its key's open window or
     * opens one; each window whose end the watermark has passed is emitted — all at this timer's time,
     * so nothing emitted is behind the watermark that follows it downstream.
     */
    public void onTimer(OnTimerContext ctx, Window window, MapView<Long, String[]> pending, ListView<String> rows)
            throws Exception {
        TimeContext<Long> time = ctx.timeContext(Long.class);
        long now = time.time();
        Long watermark = time.currentWatermark();
        long upTo = watermark == null ? now : Math.max(now, watermark);
        List<Long> due = new ArrayList<>();
        for (Long at : pending.keys()) {
            if (at <= upTo) {
                due.add(at);
            }
        }
        Collections.sort(due);
        long range = window.range;
        for (long at : due) {
            if (window.start != null && at >= window.start + range) {
                emit(window, rows);
            }
            if (window.start == null) {
                window.start = at;
            }
            for (String row : pending.get(at)) {
                rows.add(row);
            }
            pending.remove(at);
        }
        if (window.start != null && window.start + range - 1 <= upTo) {
            emit(window, rows);
        }
        if (window.start != null) {
            time.registerOnTime(window.start + range - 1);
        }
    }

    private void emit(Window window, ListView<String> rows) throws Exception {
        LocalDateTime start = LocalDateTime.ofInstant(Instant.ofEpochMilli(window.start), ZoneOffset.UTC);
        for (String row : rows.get()) {
            collect(Row.of(start, row));
        }
        rows.clear();
        window.start = null;
    }

    private static String[] append(String[] rows, String row) {
        String[] out = Arrays.copyOf(rows, rows.length + 1);
        out[rows.length] = row;
        return out;
    }
}
