package io.clickflow.udf;

import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.JsonNode;
import org.apache.flink.table.functions.ScalarFunction;

/**
 * {@code ARRAY_SUM(items, 'field')}: the sum of a numeric field over a JSON array of objects (the
 * JSON text, as {@code JSON_QUERY} returns it), e.g. the total quantity of a browse history.
 * Elements without the field, or with a null one, are skipped; a null, empty or non-array value
 * sums to 0. (Flink SQL has no correlated subquery over UNNEST in a streaming query, hence this.)
 */
public class ArraySum extends ScalarFunction {
    public Double eval(String items, String field) {
        double total = 0;
        JsonNode array = Json.parse(items);
        if (array != null && array.isArray()) {
            for (JsonNode item : array) {
                JsonNode value = item.get(field);
                if (value != null && value.isNumber()) {
                    total += value.asDouble();
                }
            }
        }
        return total;
    }
}
