package io.clickflow.udf;

import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.JsonNode;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.node.ObjectNode;
import org.apache.flink.table.functions.ScalarFunction;

/**
 * {@code JSON_MERGE(record, extra)}: the JSON object {@code record} with the fields of the JSON object
 * {@code extra} added (or replacing fields of the same name) — a record enriched without losing any
 * of its own fields, whatever its schema. Null when {@code record} is not a JSON object.
 */
public class JsonMerge extends ScalarFunction {
    public String eval(String record, String extra) {
        JsonNode base = Json.parse(record);
        if (base == null || !base.isObject()) {
            return null;
        }
        JsonNode more = Json.parse(extra);
        if (more != null && more.isObject()) {
            ((ObjectNode) base).setAll((ObjectNode) more);
        }
        try {
            return Json.MAPPER.writeValueAsString(base);
        } catch (Exception e) {
            return null;
        }
    }
}
