package io.clickflow.kinesis;

import static io.clickflow.kinesis.KinesisOptions.*;

import java.net.URI;
import java.text.ParseException;
import java.text.SimpleDateFormat;
import java.time.Duration;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import org.apache.flink.api.common.serialization.DeserializationSchema;
import org.apache.flink.api.common.serialization.SerializationSchema;
import org.apache.flink.configuration.ConfigOption;
import org.apache.flink.configuration.ReadableConfig;
import org.apache.flink.table.api.ValidationException;
import org.apache.flink.table.connector.format.DecodingFormat;
import org.apache.flink.table.connector.format.EncodingFormat;
import org.apache.flink.table.connector.sink.DynamicTableSink;
import org.apache.flink.table.connector.source.DynamicTableSource;
import org.apache.flink.table.data.RowData;
import org.apache.flink.table.factories.DeserializationFormatFactory;
import org.apache.flink.table.factories.DynamicTableSinkFactory;
import org.apache.flink.table.factories.DynamicTableSourceFactory;
import org.apache.flink.table.factories.FactoryUtil;
import org.apache.flink.table.factories.SerializationFormatFactory;

/**
 * {@code 'connector' = 'kinesis'}: clickflow's own Kinesis table connector for the embedded default,
 * option-compatible with the official one for the subset it supports. Every option is checked when the
 * table is used; an option it does not support is an error that names it.
 */
public final class KinesisDynamicTableFactory implements DynamicTableSourceFactory, DynamicTableSinkFactory {

    @Override
    public String factoryIdentifier() {
        return "kinesis";
    }

    @Override
    public Set<ConfigOption<?>> requiredOptions() {
        return Set.of(STREAM_ARN, AWS_REGION, FactoryUtil.FORMAT);
    }

    @Override
    public Set<ConfigOption<?>> optionalOptions() {
        return Set.of(AWS_ENDPOINT, CREDENTIALS_PROVIDER, BASIC_ACCESS_KEY_ID, BASIC_SECRET_KEY, PROFILE_NAME,
                PROFILE_PATH, ROLE_ARN, ROLE_SESSION_NAME, ROLE_EXTERNAL_ID, ROLE_STS_ENDPOINT, ROLE_PROVIDER,
                WEB_IDENTITY_TOKEN_FILE, RETRY_MIN_DELAY, RETRY_MAX_DELAY, RETRY_MAX_ATTEMPTS, INIT_POSITION,
                INIT_TIMESTAMP, INIT_TIMESTAMP_FORMAT, SHARD_DISCOVERY_INTERVAL, READER_TYPE,
                EMPTY_RECORDS_FETCH_INTERVAL, NONEMPTY_RECORDS_FETCH_INTERVAL, MAX_RECORDS_PER_FETCH, BOUNDED,
                SINK_PARTITIONER, SINK_PARTITIONER_FIELD_DELIMITER, SINK_BATCH_MAX_SIZE, SINK_REQUESTS_MAX_INFLIGHT,
                SINK_REQUESTS_MAX_BUFFERED, SINK_FLUSH_BUFFER_SIZE, SINK_FLUSH_BUFFER_TIMEOUT, SINK_FAIL_ON_ERROR,
                EFO_CONSUMER_NAME, EFO_LIFECYCLE, EFO_SUBSCRIPTION_TIMEOUT, EFO_DEREGISTER_TIMEOUT,
                EFO_DESCRIBE_ATTEMPTS, EFO_DESCRIBE_MIN_DELAY, EFO_DESCRIBE_MAX_DELAY);
    }

    @Override
    public DynamicTableSource createDynamicTableSource(Context context) {
        FactoryUtil.TableFactoryHelper helper = FactoryUtil.createTableFactoryHelper(this, context);
        rejectOfficialOnly(context);
        DecodingFormat<DeserializationSchema<RowData>> format =
                helper.discoverDecodingFormat(DeserializationFormatFactory.class, FactoryUtil.FORMAT);
        helper.validateExcept("aws.credentials.");
        ReadableConfig options = helper.getOptions();
        String table = context.getObjectIdentifier().asSummaryString();
        AwsSettings aws = aws(context, options, table);

        String position = options.get(INIT_POSITION).toUpperCase(Locale.ROOT);
        if (!List.of("LATEST", "TRIM_HORIZON", "AT_TIMESTAMP").contains(position)) {
            throw invalid(table, INIT_POSITION, options.get(INIT_POSITION), "use LATEST, TRIM_HORIZON or AT_TIMESTAMP");
        }
        long timestamp = 0;
        if (position.equals("AT_TIMESTAMP")) {
            timestamp = initTimestamp(options, table);
        } else if (options.getOptional(INIT_TIMESTAMP).isPresent()) {
            throw invalid(table, INIT_TIMESTAMP, options.get(INIT_TIMESTAMP),
                    "it is only used with 'source.init.position' = 'AT_TIMESTAMP' (here " + position + ")");
        }
        FanOutSettings fanOut = fanOut(options, table);
        Long bound = null;
        if (options.getOptional(BOUNDED).isPresent()) {
            if (!options.get(BOUNDED).equalsIgnoreCase("latest")) {
                throw invalid(table, BOUNDED, options.get(BOUNDED), "the only bound is 'latest'");
            }
            bound = System.currentTimeMillis();
        }
        int maxRecords = options.get(MAX_RECORDS_PER_FETCH);
        if (maxRecords < 1 || maxRecords > 10000) {
            throw invalid(table, MAX_RECORDS_PER_FETCH, String.valueOf(maxRecords), "Kinesis allows 1 to 10000");
        }
        SourceSettings settings = new SourceSettings(aws, StreamArn.parse(options.get(STREAM_ARN)).streamName(),
                position, timestamp, positive(options, SHARD_DISCOVERY_INTERVAL, table),
                options.get(EMPTY_RECORDS_FETCH_INTERVAL).toMillis(),
                options.get(NONEMPTY_RECORDS_FETCH_INTERVAL).toMillis(), maxRecords, bound, fanOut);
        return new KinesisTableSource(format, context.getPhysicalRowDataType(), settings);
    }

    @Override
    public DynamicTableSink createDynamicTableSink(Context context) {
        FactoryUtil.TableFactoryHelper helper = FactoryUtil.createTableFactoryHelper(this, context);
        rejectOfficialOnly(context);
        EncodingFormat<SerializationSchema<RowData>> format =
                helper.discoverEncodingFormat(SerializationFormatFactory.class, FactoryUtil.FORMAT);
        helper.validateExcept("aws.credentials.");
        ReadableConfig options = helper.getOptions();
        String table = context.getObjectIdentifier().asSummaryString();
        AwsSettings aws = aws(context, options, table);

        List<String> partitionKeys = context.getCatalogTable().getPartitionKeys();
        boolean fixed = false;
        if (options.getOptional(SINK_PARTITIONER).isPresent()) {
            String partitioner = options.get(SINK_PARTITIONER);
            if (!partitionKeys.isEmpty()) {
                throw invalid(table, SINK_PARTITIONER, partitioner, "the table is PARTITIONED BY " + partitionKeys
                        + ", which already decides the partition key");
            }
            if (!partitioner.equals("random") && !partitioner.equals("fixed")) {
                throw invalid(table, SINK_PARTITIONER, partitioner,
                        "use random or fixed (custom partitioner classes need the official connector)");
            }
            fixed = partitioner.equals("fixed");
        }
        int batch = options.get(SINK_BATCH_MAX_SIZE);
        if (batch < 1 || batch > SinkSettings.MAX_RECORDS_PER_CALL) {
            throw invalid(table, SINK_BATCH_MAX_SIZE, String.valueOf(batch), "PutRecords takes 1 to 500 records");
        }
        long bytes = options.get(SINK_FLUSH_BUFFER_SIZE);
        if (bytes < SinkSettings.MAX_RECORD_BYTES || bytes > SinkSettings.MAX_BYTES_PER_CALL) {
            throw invalid(table, SINK_FLUSH_BUFFER_SIZE, String.valueOf(bytes),
                    "a PutRecords call carries 1 MiB (one record) to 5 MiB (5242880)");
        }
        int inflight = options.get(SINK_REQUESTS_MAX_INFLIGHT);
        int buffered = options.get(SINK_REQUESTS_MAX_BUFFERED);
        long timeout = options.get(SINK_FLUSH_BUFFER_TIMEOUT);
        if (inflight < 1) {
            throw invalid(table, SINK_REQUESTS_MAX_INFLIGHT, String.valueOf(inflight), "must be at least 1");
        }
        if (buffered < batch) {
            throw invalid(table, SINK_REQUESTS_MAX_BUFFERED, String.valueOf(buffered),
                    "must be at least sink.batch.max-size (" + batch + ")");
        }
        if (timeout < 1) {
            throw invalid(table, SINK_FLUSH_BUFFER_TIMEOUT, String.valueOf(timeout), "milliseconds, at least 1");
        }
        SinkSettings settings = new SinkSettings(aws, StreamArn.parse(options.get(STREAM_ARN)).streamName(),
                batch, inflight, buffered, bytes, timeout, options.get(SINK_FAIL_ON_ERROR));
        return new KinesisTableSink(format, context.getPhysicalRowDataType(), partitionKeys,
                options.get(SINK_PARTITIONER_FIELD_DELIMITER), fixed, settings);
    }

    private static void rejectOfficialOnly(Context context) {
        for (String key : context.getCatalogTable().getOptions().keySet()) {
            for (String official : OFFICIAL_ONLY) {
                if (key.equals(official) || (official.endsWith(".") && key.startsWith(official))) {
                    throw new ValidationException("Kinesis table " + context.getObjectIdentifier().asSummaryString()
                            + ": option '" + key + "' belongs to Apache Flink's official Kinesis connector, which "
                            + "clickflow uses in compose and on Managed Flink; the local connector does not support "
                            + "it. Remove it from the local profile.");
                }
            }
        }
    }

    private static AwsSettings aws(Context context, ReadableConfig options, String table) {
        StreamArn arn;
        try {
            arn = StreamArn.parse(options.get(STREAM_ARN));
        } catch (IllegalArgumentException e) {
            throw new ValidationException("Kinesis table " + table + ": " + e.getMessage());
        }
        String region = options.get(AWS_REGION);
        if (!arn.region().equals(region)) {
            throw new ValidationException("Kinesis table " + table + ": 'stream.arn' names region " + arn.region()
                    + " but 'aws.region' is " + region + "; a stream is only reachable in its own region");
        }
        URI url = null;
        if (options.getOptional(AWS_ENDPOINT).isPresent()) {
            try {
                url = URI.create(options.get(AWS_ENDPOINT));
            } catch (IllegalArgumentException e) {
                throw invalid(table, AWS_ENDPOINT, options.get(AWS_ENDPOINT), "not a URL");
            }
            if (url.getScheme() == null || url.getHost() == null
                    || !(url.getScheme().equals("http") || url.getScheme().equals("https"))) {
                throw invalid(table, AWS_ENDPOINT, options.get(AWS_ENDPOINT), "expected http(s)://host[:port]");
            }
        }
        Map<String, String> all = context.getCatalogTable().getOptions();
        CredentialsSpec credentials = CredentialsSpec.parse(all, "aws.credentials", table);
        Set<String> read = credentials.keysRead();
        for (String key : new TreeSet<>(all.keySet())) {
            if (CredentialsSpec.isCredentialsKey(key) && !read.contains(key)) {
                throw new ValidationException("Kinesis table " + table + ": option '" + key + "' is not used with "
                        + "'aws.credentials.provider' = '" + credentials.kind() + "'; remove it or change the provider");
            }
        }
        long minDelay = positive(options, RETRY_MIN_DELAY, table);
        long maxDelay = positive(options, RETRY_MAX_DELAY, table);
        if (maxDelay < minDelay) {
            throw invalid(table, RETRY_MAX_DELAY, options.get(RETRY_MAX_DELAY).toString(),
                    "must not be shorter than 'retry-strategy.delay.min'");
        }
        int attempts = options.get(RETRY_MAX_ATTEMPTS);
        if (attempts < 1) {
            throw invalid(table, RETRY_MAX_ATTEMPTS, String.valueOf(attempts), "at least 1 (1: no retries)");
        }
        return new AwsSettings(url, region, credentials, new AwsSettings.RetrySettings(minDelay, maxDelay, attempts));
    }

    /** The EFO reader's settings, or null when the table polls; every EFO option is refused with POLLING. */
    private static FanOutSettings fanOut(ReadableConfig options, String table) {
        String type = options.get(READER_TYPE).toUpperCase(Locale.ROOT);
        List<ConfigOption<?>> efo = List.of(EFO_CONSUMER_NAME, EFO_LIFECYCLE, EFO_SUBSCRIPTION_TIMEOUT,
                EFO_DEREGISTER_TIMEOUT, EFO_DESCRIBE_ATTEMPTS, EFO_DESCRIBE_MIN_DELAY, EFO_DESCRIBE_MAX_DELAY);
        if (type.equals("POLLING")) {
            for (ConfigOption<?> option : efo) {
                if (options.getOptional(option).isPresent()) {
                    throw invalid(table, option, String.valueOf(options.get(option)),
                            "it is only used with 'source.reader.type' = 'EFO' (here POLLING)");
                }
            }
            return null;
        }
        if (!type.equals("EFO")) {
            throw invalid(table, READER_TYPE, options.get(READER_TYPE), "use POLLING or EFO");
        }
        String name = options.getOptional(EFO_CONSUMER_NAME).map(String::strip).orElse("");
        if (!name.matches("[a-zA-Z0-9_.-]{1,128}")) {
            throw invalid(table, EFO_CONSUMER_NAME, name, name.isEmpty() ? "EFO needs a consumer name"
                    : "Kinesis allows 1 to 128 letters, digits, '_', '.' and '-'");
        }
        String lifecycle = options.get(EFO_LIFECYCLE).toUpperCase(Locale.ROOT);
        if (!lifecycle.equals("JOB_MANAGED") && !lifecycle.equals("SELF_MANAGED")) {
            throw invalid(table, EFO_LIFECYCLE, options.get(EFO_LIFECYCLE), "use JOB_MANAGED or SELF_MANAGED");
        }
        int attempts = options.get(EFO_DESCRIBE_ATTEMPTS);
        if (attempts < 1) {
            throw invalid(table, EFO_DESCRIBE_ATTEMPTS, String.valueOf(attempts), "at least 1");
        }
        long minDelay = positive(options, EFO_DESCRIBE_MIN_DELAY, table);
        long maxDelay = positive(options, EFO_DESCRIBE_MAX_DELAY, table);
        if (maxDelay < minDelay) {
            throw invalid(table, EFO_DESCRIBE_MAX_DELAY, options.get(EFO_DESCRIBE_MAX_DELAY).toString(),
                    "must not be shorter than 'source.efo.describe.retry-strategy.delay.min'");
        }
        return new FanOutSettings(options.get(STREAM_ARN), name, lifecycle.equals("JOB_MANAGED"),
                positive(options, EFO_SUBSCRIPTION_TIMEOUT, table), positive(options, EFO_DEREGISTER_TIMEOUT, table),
                attempts, minDelay, maxDelay);
    }

    private static long initTimestamp(ReadableConfig options, String table) {
        String value = options.getOptional(INIT_TIMESTAMP).orElseThrow(() -> invalid(table, INIT_POSITION,
                "AT_TIMESTAMP", "it needs 'source.init.timestamp'"));
        String pattern = options.get(INIT_TIMESTAMP_FORMAT);
        try {
            SimpleDateFormat format = new SimpleDateFormat(pattern, Locale.ROOT);
            format.setLenient(false);
            return format.parse(value).getTime();
        } catch (ParseException | IllegalArgumentException notADate) {
            try {
                return Math.round(Double.parseDouble(value) * 1000.0);
            } catch (NumberFormatException notANumber) {
                throw invalid(table, INIT_TIMESTAMP, value, "expected a date like " + pattern
                        + " (source.init.timestamp.format) or seconds since the epoch");
            }
        }
    }

    private static long positive(ReadableConfig options, ConfigOption<Duration> option, String table) {
        long millis = options.get(option).toMillis();
        if (millis <= 0) {
            throw invalid(table, option, options.get(option).toString(), "must be longer than zero");
        }
        return millis;
    }

    private static ValidationException invalid(String table, ConfigOption<?> option, String value, String why) {
        return new ValidationException("Kinesis table " + table + ": '" + option.key() + "' = '" + value + "': " + why);
    }
}
