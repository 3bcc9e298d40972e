package io.clickflow.udf;

import java.io.IOException;
import java.io.InputStream;
import java.math.BigInteger;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.time.DateTimeException;
import java.time.LocalDateTime;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.DeserializationFeature;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.JsonNode;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.ObjectMapper;

/**
 * The valid-event rule of {@code sql/valid_event.json} (packed into this jar), read the same way as
 * {@code producer/valid_event.py} reads it: one record's bytes in, either the typed event or the
 * reason it is not one. Stateless apart from a one-entry cache per thread, so that EVENT_TIME (the
 * rowtime column) and CHECK_EVENT (the event's columns) parse a record once between them.
 */
final class EventRule {
    static final String[] COLUMNS = {
        "event_type", "product_id", "category_id", "category_code", "brand", "price", "user_id", "user_session"
    };

    /** The outcome for one record: {@code reason} null and the values set, or the reason alone. */
    static final class Result {
        final String reason;
        final LocalDateTime time;
        final Map<String, Object> values;

        Result(String reason, LocalDateTime time, Map<String, Object> values) {
            this.reason = reason;
            this.time = time;
            this.values = values;
        }
    }

    private static final class Field {
        final String name;
        final String kind;
        final boolean required;
        final Set<String> choices = new HashSet<>();

        Field(JsonNode spec) {
            name = spec.get("name").asText();
            kind = spec.get("kind").asText();
            required = spec.path("required").asBoolean(false);
            spec.path("choices").forEach(choice -> choices.add(choice.asText()));
        }
    }

    private static final Pattern TIME = Pattern.compile(
        "([0-9]{4})-([0-9]{2})-([0-9]{2})[ T]([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\\.([0-9]{1,3}))?(?: UTC|Z)?");
    private static final BigInteger BIGINT_MAX = BigInteger.valueOf(Long.MAX_VALUE);
    private static final ObjectMapper MAPPER =
        new ObjectMapper().enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS);
    private static final List<Field> FIELDS = new ArrayList<>();
    private static final Map<String, String> REASONS = new HashMap<>();
    private static final LocalDateTime AFTER;
    private static final int VALUE_CHARS;

    static {
        try (InputStream in = EventRule.class.getResourceAsStream("valid_event.json")) {
            if (in == null) {
                throw new IllegalStateException("valid_event.json is missing from the jar");
            }
            JsonNode rule = MAPPER.readTree(in);
            rule.get("fields").forEach(spec -> FIELDS.add(new Field(spec)));
            rule.get("reasons").fields().forEachRemaining(e -> REASONS.put(e.getKey(), e.getValue().asText()));
            AFTER = LocalDateTime.parse(rule.get("time_after").asText().replace(' ', 'T'));
            VALUE_CHARS = rule.get("value_chars").asInt();
        } catch (IOException e) {
            throw new IllegalStateException("cannot read valid_event.json", e);
        }
    }

    private static final ThreadLocal<Object[]> LAST = new ThreadLocal<>();

    private EventRule() {}

    /**
     * The rule applied to one record. The same bytes twice in a row on a thread are checked once: a
     * plan calls CHECK_EVENT for each column it takes, and EVENT_TIME before them, on the same
     * record. The cache holds a copy, so an array refilled in place is never mistaken for the last.
     */
    static Result check(byte[] payload) {
        Object[] last = LAST.get();
        if (last != null && payload != null && Arrays.equals((byte[]) last[0], payload)) {
            return (Result) last[1];
        }
        Result result = evaluate(payload);
        if (payload != null) {
            LAST.set(new Object[] {payload.clone(), result});
        }
        return result;
    }

    private static String reason(String key, String field, String value) {
        String text = REASONS.get(key).replace("{field}", field);
        if (value != null) {
            int end = value.codePointCount(0, value.length()) > VALUE_CHARS
                ? value.offsetByCodePoints(0, VALUE_CHARS) : value.length();
            text = text.replace("{value}", value.substring(0, end));
        }
        return text;
    }

    private static Result invalid(String reason) {
        return new Result(reason, null, null);
    }

    private static Result evaluate(byte[] payload) {
        if (payload == null) {
            return invalid(REASONS.get("not_object"));
        }
        String text;
        try {
            text = StandardCharsets.UTF_8.newDecoder()
                .onMalformedInput(CodingErrorAction.REPORT)
                .onUnmappableCharacter(CodingErrorAction.REPORT)
                .decode(ByteBuffer.wrap(payload))
                .toString();
        } catch (CharacterCodingException e) {
            return invalid(REASONS.get("not_utf8"));
        }
        JsonNode record;
        try {
            record = MAPPER.readTree(text);
        } catch (IOException e) {
            return invalid(REASONS.get("not_object"));
        }
        if (record == null || !record.isObject()) {
            return invalid(REASONS.get("not_object"));
        }
        for (Field field : FIELDS) {
            JsonNode value = record.get(field.name);
            if (field.required && (value == null || value.isNull())) {
                return invalid(reason("missing", field.name, null));
            }
        }
        LocalDateTime time = null;
        Map<String, Object> values = new HashMap<>();
        for (Field field : FIELDS) {
            JsonNode value = record.get(field.name);
            if (value == null || value.isNull()) {
                values.put(field.name, null);
                continue;
            }
            boolean textual = field.kind.equals("time") || field.kind.equals("choice") || field.kind.equals("text");
            if (textual && !value.isTextual()) {
                return invalid(reason("not_string", field.name, null));
            }
            if (textual && !isUnicode(value.asText())) {
                return invalid(reason("not_unicode", field.name, null));
            }
            switch (field.kind) {
                case "time": {
                    LocalDateTime parsed = parseTime(value.asText());
                    if (parsed == null) {
                        return invalid(reason("time", field.name, value.asText()));
                    }
                    if (!parsed.isAfter(AFTER)) {
                        return invalid(reason("time_range", field.name, value.asText()));
                    }
                    time = parsed;
                    break;
                }
                case "choice":
                    if (!field.choices.contains(value.asText())) {
                        return invalid(reason("choice", field.name, value.asText()));
                    }
                    values.put(field.name, value.asText());
                    break;
                case "id": {
                    if (!value.isIntegralNumber()) {
                        return invalid(reason("id", field.name, null));
                    }
                    BigInteger id = value.bigIntegerValue();
                    if (id.signum() < 0 || id.compareTo(BIGINT_MAX) > 0) {
                        return invalid(reason("id_range", field.name, null));
                    }
                    values.put(field.name, id.longValue());
                    break;
                }
                case "amount": {
                    if (!value.isNumber()) {
                        return invalid(reason("amount", field.name, null));
                    }
                    double amount = value.doubleValue();
                    if (!Double.isFinite(amount) || amount < 0) {
                        return invalid(reason("amount_range", field.name, null));
                    }
                    values.put(field.name, amount);
                    break;
                }
                case "text":
                    values.put(field.name, value.asText());
                    break;
                default:
                    throw new IllegalStateException("valid_event.json: unknown kind " + field.kind);
            }
        }
        return new Result(null, time, values);
    }

    /** Whether every surrogate in the text is half of a pair (UTF-8 can hold the text). */
    static boolean isUnicode(String text) {
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            if (Character.isHighSurrogate(c) && i + 1 < text.length() && Character.isLowSurrogate(text.charAt(i + 1))) {
                i++;
            } else if (Character.isSurrogate(c)) {
                return false;
            }
        }
        return true;
    }

    /** A strict time: the pattern, a real calendar date and clock time (year 1 to 9999), or null. */
    static LocalDateTime parseTime(String text) {
        Matcher m = TIME.matcher(text);
        if (!m.matches()) {
            return null;
        }
        int year = Integer.parseInt(m.group(1));
        if (year < 1) {
            return null;
        }
        String fraction = m.group(7) == null ? "" : m.group(7);
        int millis = fraction.isEmpty() ? 0 : Integer.parseInt((fraction + "00").substring(0, 3));
        try {
            return LocalDateTime.of(year, Integer.parseInt(m.group(2)), Integer.parseInt(m.group(3)),
                Integer.parseInt(m.group(4)), Integer.parseInt(m.group(5)), Integer.parseInt(m.group(6)),
                millis * 1_000_000);
        } catch (DateTimeException e) {
            return null;
        }
    }
}
