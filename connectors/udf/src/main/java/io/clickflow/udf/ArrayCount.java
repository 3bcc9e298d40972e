package io.clickflow.udf;

import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.JsonNode;
import org.apache.flink.table.functions.ScalarFunction;

/**
 * {@code ARRAY_COUNT(items, 'field')}: how many objects of a JSON array have the field true, e.g.
 * the items in the cart of a browse history; {@code ARRAY_COUNT(items)}: how many elements it has.
 * A null, empty or non-array value counts 0.
 */
public class ArrayCount extends ScalarFunction {
    public Long eval(String items, String field) {
        long count = 0;
        JsonNode array = Json.parse(items);
        if (array != null && array.isArray()) {
            for (JsonNode item : array) {
                JsonNode value = item.get(field);
                if (value != null && value.isBoolean() && value.asBoolean()) {
                    count++;
                }
            }
        }
        return count;
    }

    public Long eval(String items) {
        JsonNode array = Json.parse(items);
        return array != null && array.isArray() ? (long) array.size() : 0L;
    }
}
