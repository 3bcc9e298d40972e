package io.clickflow.udf;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.apache.flink.table.types.inference.InputTypeStrategies;
import org.apache.flink.table.types.inference.InputTypeStrategy;
import org.apache.flink.types.Row;

/**
 * {@code W3C_LOG_PARSE(line, format)}: KDA's web-server log parser. {@code format} is one of KDA's named
 * formats or a log format of Apache's directives; each directive is a column, {@code COLUMN1} on:
 *
 * <ul>
 *   <li>{@code 'COMMON'}: {@code %h %l %u %t "%r" %>s %b} (host, identity, user, time, request, status,
 *       bytes);
 *   <li>{@code 'COMMON WITH VHOST'}: {@code %v} first;
 *   <li>{@code 'NCSA EXTENDED'}: COMMON then {@code "%{Referer}i" "%{User-agent}i"};
 *   <li>{@code 'REFERER'}: {@code %{Referer}i -> %U}; {@code 'AGENT'}: {@code %{User-agent}i}.
 * </ul>
 *
 * A time ({@code %t}) comes without its brackets, a quoted field without its quotes; {@code -} stays
 * {@code -}, as in the log.
 */
public class W3cLogParse extends LogParser {
    static final Map<String, String> FORMATS = new LinkedHashMap<>();

    static {
        String common = "%h %l %u %t \"%r\" %>s %b";
        FORMATS.put("COMMON", common);
        FORMATS.put("COMMON WITH VHOST", "%v " + common);
        FORMATS.put("NCSA EXTENDED", common + " \"%{Referer}i\" \"%{User-agent}i\"");
        FORMATS.put("REFERER", "%{Referer}i -> %U");
        FORMATS.put("AGENT", "%{User-agent}i");
    }

    private static final Pattern DIRECTIVE = Pattern.compile("%(?:>|<)?(?:\\{[^}]*\\})?[a-zA-Z]");
    private final transient Map<String, Pattern> patterns = new ConcurrentHashMap<>();

    @Override
    InputTypeStrategy arguments() {
        return InputTypeStrategies.sequence(text(), literalText());
    }

    @Override
    List<String> columns(List<Object> literals) {
        return numbered(compile((String) literals.get(0)).matcher("").groupCount());
    }

    /** The format as a regular expression: a group per directive, the text between taken literally. */
    static Pattern compile(String format) {
        if (format == null) {
            throw new IllegalArgumentException("the format must be a string literal");
        }
        String directives = FORMATS.getOrDefault(format.trim().toUpperCase(Locale.ROOT), format);
        if (!DIRECTIVE.matcher(directives).find()) {
            throw new IllegalArgumentException("unknown format '" + format + "': expected one of "
                    + FORMATS.keySet() + " or a log format of % directives (e.g. '%h %l %u %t \"%r\" %>s %b')");
        }
        StringBuilder regex = new StringBuilder();
        Matcher m = DIRECTIVE.matcher(directives);
        int at = 0;
        while (m.find()) {
            String literal = directives.substring(at, m.start());
            regex.append(literal.isEmpty() ? "" : Pattern.quote(literal));
            boolean quoted = literal.endsWith("\"");
            String directive = m.group();
            if (directive.endsWith("t")) {
                regex.append(quoted ? "([^\"]*)" : "\\[([^\\]]*)\\]");
            } else if (quoted) {
                regex.append("((?:[^\"\\\\]|\\\\.)*)");
            } else {
                regex.append("(\\S*)");
            }
            at = m.end();
        }
        String rest = directives.substring(at);
        regex.append(rest.isEmpty() ? "" : Pattern.quote(rest));
        return Pattern.compile(regex.toString());
    }

    public Row eval(String line, String format) {
        if (line == null || format == null) {
            return null;
        }
        Pattern pattern = patterns == null ? compile(format) : patterns.computeIfAbsent(format, W3cLogParse::compile);
        return row(RegexLogParse.groups(pattern.matcher(line.strip())));
    }
}
