package io.clickflow.udf;

import java.util.regex.Pattern;

import org.apache.flink.types.Row;

/**
 * {@code FAST_REGEX_LOG_PARSER(line, pattern)}: KDA's lazy parser. Its columns are REGEX_LOG_PARSE's; the
 * difference KDA documented is that it matches lazily — each quantifier takes as little as it can for the
 * whole line to still match — so here every greedy quantifier outside a character class ({@code *},
 * {@code +}, {@code ?}, {@code {n,m}}) is made reluctant before the pattern is compiled.
 */
public class FastRegexLogParser extends RegexLogParse {

    @Override
    Pattern compile(String pattern) {
        return super.compile(pattern == null ? null : lazy(pattern));
    }

    @Override
    public Row eval(String line, String pattern) {
        return super.eval(line, pattern);
    }

    /** The pattern with its greedy quantifiers made reluctant (possessive and reluctant ones kept). */
    static String lazy(String pattern) {
        StringBuilder out = new StringBuilder();
        boolean inClass = false;
        for (int i = 0; i < pattern.length(); i++) {
            char c = pattern.charAt(i);
            out.append(c);
            if (c == '\\' && i + 1 < pattern.length()) {
                out.append(pattern.charAt(++i));
                continue;
            }
            if (inClass) {
                inClass = c != ']';
                continue;
            }
            if (c == '[') {
                inClass = true;
                continue;
            }
            boolean quantifier = c == '*' || c == '+' || c == '?' || c == '}';
            if (c == '?' && i > 0 && pattern.charAt(i - 1) == '(') {
                quantifier = false; // (?: (?= (?<name> ...: a group's flag, not a quantifier
            }
            if (quantifier) {
                char after = i + 1 < pattern.length() ? pattern.charAt(i + 1) : 0;
                if (after != '?' && after != '+') {
                    out.append('?');
                }
                if (after == '?' || after == '+') {
                    out.append(after);
                    i++;
                }
            }
        }
        return out.toString();
    }
}
