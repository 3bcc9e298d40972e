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
            .stringType().defaultValue("AUTO").withDescription("AUTO (the AWS SDK's default chain: system properties, "
                    + "environment, web identity, profile, container, instance), BASIC, PROFILE, ASSUME_ROLE or "
                    + "WEB_IDENTITY_TOKEN.");
    public static final ConfigOption<String> BASIC_ACCESS_KEY_ID = ConfigOptions.key("aws.credentials.basic.accesskeyid")
            .stringType().noDefaultValue().withDescription("BASIC: the access key id.");
    public static final ConfigOption<String> BASIC_SECRET_KEY = ConfigOptions.key("aws.credentials.basic.secretkey")
            .stringType().noDefaultValue().withDescription("BASIC: the secret key.");
    public static final ConfigOption<String> PROFILE_NAME = ConfigOptions.key("aws.credentials.profile.name")
            .stringType().noDefaultValue().withDescription("PROFILE: the profile (default: AWS_PROFILE, else default).");
    public static final ConfigOption<String> PROFILE_PATH = ConfigOptions.key("aws.credentials.profile.path")
            .stringType().noDefaultValue().withDescription("PROFILE: the credentials file (default ~/.aws/credentials).");
    public static final ConfigOption<String> ROLE_ARN = ConfigOptions.key("aws.credentials.role.arn").stringType()
            .noDefaultValue().withDescription("ASSUME_ROLE, WEB_IDENTITY_TOKEN: the role to assume.");
    public static final ConfigOption<String> ROLE_SESSION_NAME = ConfigOptions.key("aws.credentials.role.sessionName")
            .stringType().noDefaultValue().withDescription("ASSUME_ROLE, WEB_IDENTITY_TOKEN: the session's name.");
    public static final ConfigOption<String> ROLE_EXTERNAL_ID = ConfigOptions.key("aws.credentials.role.externalId")
            .stringType().noDefaultValue().withDescription("ASSUME_ROLE: the external id the role's trust policy asks for.");
    public static final ConfigOption<String> ROLE_STS_ENDPOINT = ConfigOptions.key("aws.credentials.role.stsEndpoint")
            .stringType().noDefaultValue().withDescription("ASSUME_ROLE, WEB_IDENTITY_TOKEN: the STS endpoint.");
    public static final ConfigOption<String> ROLE_PROVIDER = ConfigOptions.key("aws.credentials.role.provider")
            .stringType().defaultValue("AUTO").withDescription("ASSUME_ROLE: where the credentials that call STS come "
                    + "from (its options under aws.credentials.role., e.g. aws.credentials.role.basic.accesskeyid).");
    public static final ConfigOption<String> WEB_IDENTITY_TOKEN_FILE = ConfigOptions
            .key("aws.credentials.webIdentityToken.file").stringType().noDefaultValue()
            .withDescription("WEB_IDENTITY_TOKEN: the token file (default AWS_WEB_IDENTITY_TOKEN_FILE).");
    public static final ConfigOption<Duration> RETRY_MIN_DELAY = ConfigOptions.key("retry-strategy.delay.min")
            .durationType().defaultValue(Duration.ofMillis(300))
            .withDescription("The SDK's exponential backoff: the first retry's delay.");
    public static final ConfigOption<Duration> RETRY_MAX_DELAY = ConfigOptions.key("retry-strategy.delay.max")
            .durationType().defaultValue(Duration.ofMillis(1000))
            .withDescription("The SDK's exponential backoff: the longest delay.");
    public static final ConfigOption<Integer> RETRY_MAX_ATTEMPTS = ConfigOptions.key("retry-strategy.attempts.max")
            .intType().defaultValue(50).withDescription("The SDK's attempts at one call before it fails.");

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
            .defaultValue("POLLING").withDescription("POLLING (GetRecords, shared by every polling reader of a "
                    + "shard) or EFO (enhanced fan-out: SubscribeToShard, a registered consumer's own throughput).");
    public static final ConfigOption<String> EFO_CONSUMER_NAME = ConfigOptions.key("source.efo.consumer.name")
            .stringType().noDefaultValue().withDescription("EFO: the stream consumer's name (required with EFO).");
    public static final ConfigOption<String> EFO_LIFECYCLE = ConfigOptions.key("source.efo.lifecycle").stringType()
            .defaultValue("JOB_MANAGED").withDescription("EFO: JOB_MANAGED registers the consumer when the job "
                    + "starts and deregisters it when the job stops; SELF_MANAGED expects it registered already.");
    public static final ConfigOption<Duration> EFO_SUBSCRIPTION_TIMEOUT = ConfigOptions
            .key("source.efo.subscription.timeout").durationType().defaultValue(Duration.ofSeconds(60))
            .withDescription("EFO: a subscription that delivers no event for this long is given up and renewed.");
    public static final ConfigOption<Duration> EFO_DEREGISTER_TIMEOUT = ConfigOptions
            .key("source.efo.deregister.timeout").durationType().defaultValue(Duration.ofSeconds(10))
            .withDescription("EFO, JOB_MANAGED: how long the job's end waits for the consumer's deregistration.");
    public static final ConfigOption<Integer> EFO_DESCRIBE_ATTEMPTS = ConfigOptions
            .key("source.efo.describe.retry-strategy.attempts.max").intType().defaultValue(100)
            .withDescription("EFO: DescribeStreamConsumer calls made while waiting for the consumer to be ACTIVE.");
    public static final ConfigOption<Duration> EFO_DESCRIBE_MIN_DELAY = ConfigOptions
            .key("source.efo.describe.retry-strategy.delay.min").durationType().defaultValue(Duration.ofSeconds(2))
            .withDescription("EFO: the first delay between DescribeStreamConsumer calls (exponential backoff).");
    public static final ConfigOption<Duration> EFO_DESCRIBE_MAX_DELAY = ConfigOptions
            .key("source.efo.describe.retry-strategy.delay.max").durationType().defaultValue(Duration.ofSeconds(60))
            .withDescription("EFO: the longest delay between DescribeStreamConsumer calls.");
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
            "aws.trust.all.certificates", "aws.credentials.custom.", "sink.producer.",
            "sink.http-client.", "aws.http-client.", "aws.http.protocol.version");
}
