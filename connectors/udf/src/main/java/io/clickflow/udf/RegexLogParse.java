package io.clickflow.udf;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;

import org.apache.flink.table.types.inference.InputTypeStrategies;
import org.apache.flink.table.types.inference.InputTypeStrategy;
import org.apache.flink.types.Row;

/**
 * {@code REGEX_LOG_PARSE(line, pattern)}: KDA's regular-expression parser. The pattern (Java's syntax, as
 * KDA's was) must match the whole line; each capturing group is a column, {@code COLUMN1} to
 * {@code COLUMNn} in the order of the groups' opening parentheses; a group that took no part is NULL.
 */
public class RegexLogParse extends LogParser {
    private final transient Map<String, Pattern> patterns = new ConcurrentHashMap<>();

    @Override
    InputTypeStrategy arguments() {
        return InputTypeStrategies.sequence(text(), literalText());
    }

    @Override
    List<String> columns(List<Object> literals) {
        return numbered(compile((String) literals.get(0)).matcher("").groupCount());
    }

    Pattern compile(String pattern) {
        if (pattern == null) {
            throw new IllegalArgumentException("the pattern must be a string literal");
        }
        try {
            return Pattern.compile(pattern);
        } catch (PatternSyntaxException e) {
            throw new IllegalArgumentException("not a regular expression: " + e.getDescription() + " at "
                    + e.getIndex() + " in " + pattern);
        }
    }

    public Row eval(String line, String pattern) {
        if (line == null || pattern == null) {
            return null;
        }
        Pattern compiled = patterns == null ? compile(pattern) : patterns.computeIfAbsent(pattern, this::compile);
        return row(groups(compiled.matcher(line)));
    }

    static List<String> groups(Matcher matcher) {
        if (!matcher.matches()) {
            return null;
        }
        List<String> values = new ArrayList<>();
        for (int g = 1; g <= matcher.groupCount(); g++) {
            values.add(matcher.group(g));
        }
        return values;
    }
}
