package io.clickflow.udf;

import java.time.Duration;
import java.time.Instant;
import java.time.LocalDateTime;

import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.functions.ScalarFunction;

/**
 * {@code TSDIFF(a, b)}: KDA's difference of two timestamps, {@code a - b} in milliseconds; NULL when
 * either is NULL (migrated KDA applications: {@code clickflow migrate}).
 */
public class TsDiff extends ScalarFunction {
    public @DataTypeHint("BIGINT") Long eval(LocalDateTime a, LocalDateTime b) {
        return a == null || b == null ? null : Duration.between(b, a).toMillis();
    }

    public @DataTypeHint("BIGINT") Long eval(
            @DataTypeHint("TIMESTAMP_LTZ(3)") Instant a, @DataTypeHint("TIMESTAMP_LTZ(3)") Instant b) {
        return a == null || b == null ? null : Duration.between(b, a).toMillis();
    }
}
