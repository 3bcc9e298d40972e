package io.clickflow.udf;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;

import org.apache.flink.table.types.inference.ArgumentTypeStrategy;
import org.apache.flink.table.types.inference.InputTypeStrategies;
import org.apache.flink.table.types.inference.InputTypeStrategy;
import org.apache.flink.table.types.logical.LogicalTypeFamily;
import org.apache.flink.types.Row;

/**
 * {@code VARIABLE_COLUMN_LOG_PARSE(line, columns, delimiter [, escape])}: KDA's delimited-line parser.
 * {@code columns} is a number ({@code COLUMN1 ... COLUMNn}) or the columns' names, comma-separated (a
 * type after a name, {@code 'HOST VARCHAR(64), CODE INTEGER'}, is accepted and read as text: cast
 * where a number is wanted). The line is split at every {@code delimiter} (a string, not a pattern)
 * that is not preceded by {@code escape}; missing fields are NULL, and fields past the last column stay
 * in the last one, delimiters included, so nothing in the line is dropped.
 */
public class VariableColumnLogParse extends LogParser {

    @Override
    InputTypeStrategy arguments() {
        ArgumentTypeStrategy columns = InputTypeStrategies.and(
                InputTypeStrategies.LITERAL,
                InputTypeStrategies.or(
                        InputTypeStrategies.logical(LogicalTypeFamily.INTEGER_NUMERIC),
                        InputTypeStrategies.logical(LogicalTypeFamily.CHARACTER_STRING)));
        return InputTypeStrategies.or(
                InputTypeStrategies.sequence(text(), columns, literalText()),
                InputTypeStrategies.sequence(text(), columns, literalText(), literalText()));
    }

    @Override
    List<String> columns(List<Object> literals) {
        return names(literals.get(0));
    }

    static List<String> names(Object columns) {
        if (columns instanceof Number) {
            int count = ((Number) columns).intValue();
            if (count < 1 || count > 1000) {
                throw new IllegalArgumentException("columns must be 1 to 1000, got " + count);
            }
            return numbered(count);
        }
        if (columns == null) {
            throw new IllegalArgumentException("columns must be a number or a list of names (a literal)");
        }
        List<String> names = new ArrayList<>();
        for (String part : columns.toString().split(",")) {
            String name = part.trim().split("\\s+")[0];
            if (name.isEmpty()) {
                throw new IllegalArgumentException("an empty column name in '" + columns + "'");
            }
            if (names.contains(name.toUpperCase(Locale.ROOT))) {
                throw new IllegalArgumentException("column " + name + " named twice in '" + columns + "'");
            }
            names.add(name.toUpperCase(Locale.ROOT));
        }
        return names;
    }

    public Row eval(String line, Integer columns, String delimiter) {
        return parse(line, names(columns).size(), delimiter, null);
    }

    public Row eval(String line, String columns, String delimiter) {
        return parse(line, names(columns).size(), delimiter, null);
    }

    public Row eval(String line, Integer columns, String delimiter, String escape) {
        return parse(line, names(columns).size(), delimiter, escape);
    }

    public Row eval(String line, String columns, String delimiter, String escape) {
        return parse(line, names(columns).size(), delimiter, escape);
    }

    static Row parse(String line, int count, String delimiter, String escape) {
        if (line == null || delimiter == null || delimiter.isEmpty()) {
            return null;
        }
        List<String> fields = new ArrayList<>();
        StringBuilder field = new StringBuilder();
        int i = 0;
        while (i < line.length()) {
            if (escape != null && !escape.isEmpty() && line.startsWith(escape, i)
                    && line.startsWith(delimiter, i + escape.length())) {
                field.append(delimiter);
                i += escape.length() + delimiter.length();
            } else if (fields.size() < count - 1 && line.startsWith(delimiter, i)) {
                fields.add(field.toString());
                field.setLength(0);
                i += delimiter.length();
            } else {
                field.append(line.charAt(i++));
            }
        }
        fields.add(field.toString());
        String[] values = new String[count];
        Arrays.fill(values, null);
        for (int f = 0; f < fields.size(); f++) {
            values[f] = fields.get(f);
        }
        return Row.of((Object[]) values);
    }

}
