package io.clickflow.kinesis;

import java.time.Duration;
import java.util.List;
import org.apache.flink.configuration.ConfigOption;
import org.apache.flink.configuration.ConfigOptions;

/**
 * The table options, named and defaulted as in Apache Flink's official Kinesis connector (6.x) for the
 * subset this connector supports; {@code source.bounded} is clickflow's own.
 */
public final class KinesisOptions {
    private KinesisOptions() {}

    public static final ConfigOption<String> STREAM_ARN = ConfigOptions.key("stream.arn").stringType().noDefaultValue()
            .withDescription("ARN of the Kinesis data stream backing this table.");
    public static final ConfigOption<String> AWS_REGION = ConfigOptions.key("aws.region").stringType().noDefaultValue()
            .withDescription("The AWS region of the stream; must match the region in stream.arn.");
    public static final ConfigOption<String> AWS_ENDPOINT = ConfigOptions.key("aws.endpoint").stringType()
            .noDefaultValue().withDescription("The Kinesis endpoint (derived from aws.region if not set).");
    public static final ConfigOption<String> CREDENTIALS_PROVIDER = ConfigOptions.key("aws.credentials.provider")
            .stringType().defaultValue("AUTO").withDescription("AUTO (the default chain) or BASIC (keys below).");
    public static final ConfigOption<String> BASIC_ACCESS_KEY_ID = ConfigOptions.key("aws.credentials.basic.accesskeyid")
            .stringType().noDefaultValue();
    public static final ConfigOption<String> BASIC_SECRET_KEY = ConfigOptions.key("aws.credentials.basic.secretkey")
            .stringType().noDefaultValue();

    public static final ConfigOption<String> INIT_POSITION = ConfigOptions.key("source.init.position").stringType()
            .defaultValue("LATEST").withDescription("LATEST, TRIM_HORIZON or AT_TIMESTAMP.");
    public static final ConfigOption<String> INIT_TIMESTAMP = ConfigOptions.key("source.init.timestamp").stringType()
            .noDefaultValue().withDescription("Where AT_TIMESTAMP starts: a date in source.init.timestamp.format, or "
                    + "seconds since the epoch.");
    public static final ConfigOption<String> INIT_TIMESTAMP_FORMAT = ConfigOptions.key("source.init.timestamp.format")
            .stringType().defaultValue("yyyy-MM-dd'T'HH:mm:ss.SSSXXX");
    public static final ConfigOption<Duration> SHARD_DISCOVERY_INTERVAL = ConfigOptions
            .key("source.shard.discovery.interval").durationType().defaultValue(Duration.ofSeconds(10));
    public static final ConfigOption<String> READER_TYPE = ConfigOptions.key("source.reader.type").stringType()
            .defaultValue("POLLING").withDescription("Only POLLING is supported here (no EFO).");
    public static final ConfigOption<Duration> EMPTY_RECORDS_FETCH_INTERVAL = ConfigOptions
            .key("source.reader.empty-records-fetch-interval").durationType().defaultValue(Duration.ofMillis(250));
    public static final ConfigOption<Duration> NONEMPTY_RECORDS_FETCH_INTERVAL = ConfigOptions
            .key("source.reader.nonempty-records-fetch-interval").durationType().defaultValue(Duration.ZERO);
    public static final ConfigOption<Integer> MAX_RECORDS_PER_FETCH = ConfigOptions
            .key("source.shard.get-records.max-record-count").intType().defaultValue(10000);
    public static final ConfigOption<String> BOUNDED = ConfigOptions.key("source.bounded").stringType()
            .noDefaultValue().withDescription("clickflow only: 'latest' stops each shard at what had arrived when the "
                    + "job started, so the job ends. The official connector rejects this option.");

    public static final ConfigOption<String> SINK_PARTITIONER = ConfigOptions.key("sink.partitioner").stringType()
            .noDefaultValue().withDescription("random (default) or fixed; not allowed with PARTITIONED BY.");
    public static final ConfigOption<String> SINK_PARTITIONER_FIELD_DELIMITER = ConfigOptions
            .key("sink.partitioner-field-delimiter").stringType().defaultValue("|");
    public static final ConfigOption<Integer> SINK_BATCH_MAX_SIZE = ConfigOptions.key("sink.batch.max-size").intType()
            .defaultValue(500);
    public static final ConfigOption<Integer> SINK_REQUESTS_MAX_INFLIGHT = ConfigOptions
            .key("sink.requests.max-inflight").intType().defaultValue(16);
    public static final ConfigOption<Integer> SINK_REQUESTS_MAX_BUFFERED = ConfigOptions
            .key("sink.requests.max-buffered").intType().defaultValue(10000);
    public static final ConfigOption<Long> SINK_FLUSH_BUFFER_SIZE = ConfigOptions.key("sink.flush-buffer.size")
            .longType().defaultValue(5L * 1024 * 1024);
    public static final ConfigOption<Long> SINK_FLUSH_BUFFER_TIMEOUT = ConfigOptions.key("sink.flush-buffer.timeout")
            .longType().defaultValue(5000L);
    public static final ConfigOption<Boolean> SINK_FAIL_ON_ERROR = ConfigOptions.key("sink.fail-on-error")
            .booleanType().defaultValue(false);

    /** Options (or option families) of the official connector that this one does not implement. */
    static final List<String> OFFICIAL_ONLY = List.of(
            "aws.trust.all.certificates", "aws.credentials.profile.", "aws.credentials.role.",
            "aws.credentials.webIdentityToken.", "aws.credentials.custom.", "source.efo.", "sink.producer.",
            "sink.http-client.");
}
