package io.clickflow.udf;

import java.io.IOException;
import java.io.InputStream;
import java.math.BigDecimal;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;

import org.apache.flink.core.fs.FileSystem;
import org.apache.flink.core.fs.Path;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.JsonNode;
import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.annotation.FunctionHint;
import org.apache.flink.table.functions.TableFunction;
import org.apache.flink.types.Row;

/**
 * {@code KDA_REFERENCE(path, format, delimiter, spec, key...)}: the rows of a reference data source (an
 * S3 object, or any file Flink's file systems read) whose key columns equal {@code key...}, each as
 * the array of its fields' text — KDA's reference-data join, for migrated applications.
 *
 * <p>The object is read once per task, when the first row asks for it, and indexed by its key columns.
 * {@code spec} is {@code FIELDS;KEYS}: FIELDS is the CSV field count, or for JSON lines the fields'
 * paths ({@code $.a.b}) joined by {@code |}; KEYS lists {@code index:kind} (kind {@code number}:
 * compared as numbers, so 5 and 5.0 match; {@code text}: as written). A NULL key matches nothing.
 */
@FunctionHint(output = @DataTypeHint("ROW<fields ARRAY<STRING>>"))
public class ReferenceLookup extends TableFunction<Row> {
    private transient Map<String, Map<List<String>, List<String[]>>> tables;

    public void eval(String path, String format, String delimiter, String spec, String... keys) throws IOException {
        if (tables == null) {
            tables = new HashMap<>();
        }
        String id = String.join("\n", path, format, delimiter, spec);
        Map<List<String>, List<String[]>> index = tables.get(id);
        if (index == null) {
            index = load(path, format, delimiter, spec);
            tables.put(id, index);
        }
        String[] kinds = keyKinds(spec);
        List<String> key = new ArrayList<>(keys.length);
        for (int i = 0; i < keys.length; i++) {
            if (keys[i] == null) {
                return;
            }
            key.add(normalize(keys[i], kinds[i]));
        }
        for (String[] row : index.getOrDefault(key, List.of())) {
            collect(Row.of((Object) row));
        }
    }

    private static String[] keyKinds(String spec) {
        String keys = spec.substring(spec.lastIndexOf(';') + 1);
        return Arrays.stream(keys.split(",")).map(k -> k.substring(k.indexOf(':') + 1)).toArray(String[]::new);
    }

    private static String normalize(String value, String kind) {
        String text = value.trim();
        if ("number".equals(kind)) {
            try {
                return new BigDecimal(text).stripTrailingZeros().toPlainString();
            } catch (NumberFormatException e) {
                return text;
            }
        }
        return value;
    }

    static Map<List<String>, List<String[]>> load(String location, String format, String delimiter, String spec)
            throws IOException {
        Path path = new Path(location);
        String content;
        try (InputStream in = path.getFileSystem().open(path)) {
            content = new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new IOException("reference data " + location + " cannot be read: " + e.getMessage(), e);
        }
        String fields = spec.substring(0, spec.lastIndexOf(';'));
        String[] keySpecs = spec.substring(spec.lastIndexOf(';') + 1).split(",");
        int[] keyIndexes = Arrays.stream(keySpecs).mapToInt(k -> Integer.parseInt(k.substring(0, k.indexOf(':')))).toArray();
        String[] kinds = keyKinds(spec);
        boolean json = "json".equals(format);
        String[] paths = json ? fields.split("\\|") : null;
        int width = json ? paths.length : Integer.parseInt(fields);
        Pattern split = Pattern.compile(Pattern.quote(delimiter));
        Map<List<String>, List<String[]>> index = new HashMap<>();
        for (String line : content.split("\n")) {
            if (line.endsWith("\r")) {
                line = line.substring(0, line.length() - 1);
            }
            if (line.isBlank()) {
                continue;
            }
            String[] row = new String[width];
            if (json) {
                JsonNode node = Json.parse(line);
                for (int i = 0; i < width; i++) {
                    JsonNode value = node == null ? null : at(node, paths[i]);
                    row[i] = value == null || value.isNull() ? null : value.isValueNode() ? value.asText() : value.toString();
                }
            } else {
                String[] parts = split.split(line, -1);
                System.arraycopy(parts, 0, row, 0, Math.min(parts.length, width));
            }
            List<String> key = new ArrayList<>(keyIndexes.length);
            boolean complete = true;
            for (int i = 0; i < keyIndexes.length; i++) {
                String value = row[keyIndexes[i]];
                if (value == null) {
                    complete = false;
                    break;
                }
                key.add(normalize(value, kinds[i]));
            }
            if (complete) {
                index.computeIfAbsent(key, k -> new ArrayList<>()).add(row);
            }
        }
        return index;
    }

    private static JsonNode at(JsonNode node, String path) {
        JsonNode current = node;
        for (String part : path.replaceFirst("^\\$\\.?", "").split("\\.")) {
            if (part.isEmpty()) {
                continue;
            }
            current = current == null ? null : current.get(part);
        }
        return current;
    }
}
