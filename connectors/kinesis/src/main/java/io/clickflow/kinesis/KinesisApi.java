package io.clickflow.kinesis;

import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import software.amazon.awssdk.auth.credentials.AwsCredentialsProvider;
import software.amazon.awssdk.awscore.exception.AwsServiceException;
import software.amazon.awssdk.core.SdkBytes;
import software.amazon.awssdk.core.exception.SdkClientException;
import software.amazon.awssdk.core.internal.metrics.SdkErrorType;
import software.amazon.awssdk.http.nio.netty.SdkEventLoopGroup;
import software.amazon.awssdk.services.kinesis.KinesisAsyncClient;
import software.amazon.awssdk.services.kinesis.KinesisClient;
import software.amazon.awssdk.services.kinesis.model.DeregisterStreamConsumerRequest;
import software.amazon.awssdk.services.kinesis.model.DeregisterStreamConsumerResponse;
import software.amazon.awssdk.services.kinesis.model.GetRecordsResponse;
import software.amazon.awssdk.services.kinesis.model.ListShardsRequest;
import software.amazon.awssdk.services.kinesis.model.ListShardsResponse;
import software.amazon.awssdk.services.kinesis.model.PutRecordsRequestEntry;
import software.amazon.awssdk.services.kinesis.model.PutRecordsResultEntry;
import software.amazon.awssdk.services.kinesis.model.Record;
import software.amazon.awssdk.services.kinesis.model.ResourceInUseException;
import software.amazon.awssdk.services.kinesis.model.ShardIteratorType;
import software.amazon.awssdk.services.kinesis.transform.DeregisterStreamConsumerRequestMarshaller;
import software.amazon.awssdk.utils.IoUtils;

/**
 * The few Kinesis calls the connector makes, through the AWS SDK for Java v2: signing, credentials,
 * HTTP and the retries of the {@code retry-strategy.*} options are the SDK's. What this class adds is
 * the connector's view of an error ({@link KinesisException}: throttled, expired iterator, retriable
 * or not, with a message that names the call, the endpoint and what to fix) — the reader and the sink
 * decide on top of the SDK's retries what to do with throttling and expired iterators.
 */
public final class KinesisApi implements AutoCloseable {
    /** A shard as ListShards describes it. */
    public record Shard(String shardId, String parentShardId, String adjacentParentShardId, boolean closed) {}

    public record RecordsPage(List<KinesisRecord> records, String nextShardIterator, long millisBehindLatest) {}

    /** Per entry: null when written, else the error code and message Kinesis gave. */
    public record PutResult(int failedRecordCount, List<String> errorCodes, List<String> errorMessages) {}

    private final AwsSettings settings;
    private final AwsCredentialsProvider credentials;
    private final KinesisClient sync;
    private final KinesisAsyncClient async;
    private final SdkEventLoopGroup eventLoops;

    private KinesisApi(AwsSettings settings, boolean writer, int connections) {
        this.settings = settings;
        this.credentials = AwsClients.credentials(settings);
        this.sync = writer ? null : AwsClients.sync(settings, credentials, connections);
        this.eventLoops = writer ? SdkEventLoopGroup.builder().numberOfThreads(2).build() : null;
        this.async = writer ? AwsClients.async(settings, credentials, connections, eventLoops) : null;
    }

    /** Synchronous calls (ListShards, GetShardIterator, GetRecords) for the enumerator and the readers. */
    public static KinesisApi forReading(AwsSettings settings) {
        return new KinesisApi(settings, false, 8);
    }

    /**
     * Synchronous calls for a shard reader, without the SDK's retries: the reader backs off per shard itself,
     * and the SDK retrying one throttled shard's call would hold every other shard of the reader behind it.
     */
    public static KinesisApi forShardReading(AwsSettings settings) {
        AwsSettings.RetrySettings retry = settings.retry();
        return forReading(new AwsSettings(settings.endpoint(), settings.region(), settings.credentials(),
                new AwsSettings.RetrySettings(retry.minDelayMillis(), retry.maxDelayMillis(), 1)));
    }

    /** Asynchronous PutRecords for the sink, with up to {@code maxInFlight} calls at once. */
    public static KinesisApi forWriting(AwsSettings settings, int maxInFlight) {
        return new KinesisApi(settings, true, Math.max(2, maxInFlight));
    }

    public List<Shard> listShards(String stream) throws KinesisException {
        List<Shard> shards = new ArrayList<>();
        String token = null;
        do {
            ListShardsRequest.Builder request = ListShardsRequest.builder();
            if (token == null) {
                request.streamName(stream);
            } else {
                request.nextToken(token);
            }
            ListShardsResponse page;
            try {
                page = sync.listShards(request.build());
            } catch (RuntimeException e) {
                throw translate("ListShards", e);
            }
            for (software.amazon.awssdk.services.kinesis.model.Shard shard : page.shards()) {
                shards.add(new Shard(shard.shardId(), shard.parentShardId(), shard.adjacentParentShardId(),
                        shard.sequenceNumberRange() != null
                                && shard.sequenceNumberRange().endingSequenceNumber() != null));
            }
            token = page.nextToken();
        } while (token != null);
        return shards;
    }

    /** type is TRIM_HORIZON, LATEST, AT_TIMESTAMP (timestampMillis) or AFTER/AT_SEQUENCE_NUMBER (sequence). */
    public String shardIterator(String stream, String shardId, String type, String sequence, Long timestampMillis)
            throws KinesisException {
        try {
            return sync.getShardIterator(request -> {
                request.streamName(stream).shardId(shardId).shardIteratorType(ShardIteratorType.fromValue(type));
                if (sequence != null) {
                    request.startingSequenceNumber(sequence);
                }
                if (timestampMillis != null) {
                    request.timestamp(Instant.ofEpochMilli(timestampMillis));
                }
            }).shardIterator();
        } catch (RuntimeException e) {
            throw translate("GetShardIterator", e);
        }
    }

    public RecordsPage getRecords(String iterator, int limit) throws KinesisException {
        GetRecordsResponse page;
        try {
            page = sync.getRecords(request -> request.shardIterator(iterator).limit(limit));
        } catch (RuntimeException e) {
            throw translate("GetRecords", e);
        }
        List<KinesisRecord> records = new ArrayList<>(page.records().size());
        for (Record record : page.records()) {
            Instant arrival = record.approximateArrivalTimestamp();
            records.add(new KinesisRecord(record.sequenceNumber(), arrival == null ? 0L : arrival.toEpochMilli(),
                    record.partitionKey(), record.data().asByteArrayUnsafe()));
        }
        Long behind = page.millisBehindLatest();
        return new RecordsPage(records, page.nextShardIterator(), behind == null ? 0L : behind);
    }

    /** A registered stream consumer: its ARN and status (CREATING, ACTIVE or DELETING). */
    public record Consumer(String arn, String status) {}

    /** Registers the consumer; one already registered under that name is found instead. */
    public Consumer registerConsumer(String streamArn, String name) throws KinesisException {
        try {
            var registered = sync.registerStreamConsumer(request -> request.streamARN(streamArn).consumerName(name))
                    .consumer();
            return new Consumer(registered.consumerARN(), registered.consumerStatusAsString());
        } catch (ResourceInUseException exists) {
            return describeConsumer(streamArn, name);
        } catch (RuntimeException e) {
            throw translate("RegisterStreamConsumer", e);
        }
    }

    /** The consumer's ARN and status; ResourceNotFoundException (a KinesisException) when none has the name. */
    public Consumer describeConsumer(String streamArn, String name) throws KinesisException {
        try {
            var described = sync.describeStreamConsumer(request -> request.streamARN(streamArn).consumerName(name))
                    .consumerDescription();
            return new Consumer(described.consumerARN(), described.consumerStatusAsString());
        } catch (RuntimeException e) {
            throw translate("DescribeStreamConsumer", e);
        }
    }

    /**
     * Loads the classes DeregisterStreamConsumer needs, so it can still be called once the job's class loader
     * is closed: Flink may close a finished job's user-code class loader before its source coordinator.
     */
    static void loadDeregistration() {
        DeregisterStreamConsumerRequest.builder().consumerName("-").build();
        DeregisterStreamConsumerResponse.builder().build();
        // the marshaller; closing a pooled connection gone stale; an attempt that failed (measured: each was
        // missing at a job's end once the class loader was closed)
        for (Class<?> type : List.of(DeregisterStreamConsumerRequestMarshaller.class,
                org.apache.hc.core5.io.Closer.class, SdkErrorType.class,
                software.amazon.awssdk.retries.api.RefreshRetryTokenRequest.class)) {
            try {
                Class.forName(type.getName(), true, KinesisApi.class.getClassLoader());
            } catch (ClassNotFoundException e) {
                throw new IllegalStateException(e);
            }
        }
    }

    public void deregisterConsumer(String streamArn, String name) throws KinesisException {
        try {
            sync.deregisterStreamConsumer(request -> request.streamARN(streamArn).consumerName(name));
        } catch (RuntimeException e) {
            throw translate("DeregisterStreamConsumer", e);
        }
    }

    /**
     * Waits until the consumer of {@code fanOut} is ACTIVE and returns its ARN, calling DescribeStreamConsumer
     * with the {@code source.efo.describe.retry-strategy.*} backoff: a consumer not (yet) registered or still
     * CREATING is asked again; every other error, or the attempts running out, fails with the reason.
     */
    public String awaitConsumer(FanOutSettings fanOut) throws KinesisException {
        String last = "";
        for (int attempt = 1; attempt <= fanOut.describeAttempts(); attempt++) {
            try {
                Consumer consumer = describeConsumer(fanOut.streamArn(), fanOut.consumerName());
                if ("ACTIVE".equals(consumer.status())) {
                    return consumer.arn();
                }
                last = "it is " + consumer.status();
            } catch (KinesisException e) {
                if (!e.errorCode().equals("ResourceNotFoundException") && !e.isRetriable()) {
                    throw e;
                }
                last = e.getMessage();
            }
            if (attempt < fanOut.describeAttempts()) {
                try {
                    Thread.sleep(backoffMillis(attempt, fanOut.describeMinDelayMillis(),
                            fanOut.describeMaxDelayMillis()));
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    break;
                }
            }
        }
        throw KinesisException.fatal("ConsumerNotActive", "stream consumer " + fanOut.consumerName() + " of "
                + fanOut.streamArn() + " is not ACTIVE after " + fanOut.describeAttempts()
                + " DescribeStreamConsumer calls (" + last + "); with source.efo.lifecycle = SELF_MANAGED, "
                + "register it first (aws kinesis register-stream-consumer)", null);
    }

    /** One PutRecords request; completes exceptionally with a KinesisException when the call itself fails. */
    public CompletableFuture<PutResult> putRecords(String stream, List<PutEntry> entries) {
        List<PutRecordsRequestEntry> records = new ArrayList<>(entries.size());
        for (PutEntry entry : entries) {
            records.add(PutRecordsRequestEntry.builder()
                    .data(SdkBytes.fromByteArrayUnsafe(entry.data()))
                    .partitionKey(entry.partitionKey())
                    .build());
        }
        return async.putRecords(request -> request.streamName(stream).records(records)).handle((answer, error) -> {
            if (error != null) {
                throw new CompletionException(translate("PutRecords", unwrap(error)));
            }
            List<PutRecordsResultEntry> results = answer.records();
            if (results.size() != entries.size()) {
                throw new CompletionException(new KinesisException("BadResponse", 200, "PutRecords answered "
                        + results.size() + " results for " + entries.size() + " records"));
            }
            List<String> codes = new ArrayList<>(results.size());
            List<String> messages = new ArrayList<>(results.size());
            for (PutRecordsResultEntry result : results) {
                codes.add(result.errorCode());
                messages.add(result.errorMessage());
            }
            Integer failed = answer.failedRecordCount();
            return new PutResult(failed == null ? 0 : failed, codes, messages);
        });
    }

    /** The connector's view of what the SDK threw: the AWS error code, or why no answer came. */
    KinesisException translate(String action, Throwable error) {
        if (error instanceof AwsServiceException service) {
            String code = service.awsErrorDetails() != null && service.awsErrorDetails().errorCode() != null
                    ? service.awsErrorDetails().errorCode() : "HTTP" + service.statusCode();
            String message = service.awsErrorDetails() != null && service.awsErrorDetails().errorMessage() != null
                    ? service.awsErrorDetails().errorMessage() : String.valueOf(service.getMessage());
            if (code.contains("AccessDenied") || code.equals("UnrecognizedClientException")
                    || code.equals("InvalidSignatureException")) {
                message += " (credentials from " + settings.credentials().describe() + ")";
            }
            return new KinesisException(code, service.statusCode(), action + " at " + settings.describe() + ": "
                    + code + ": " + message, error);
        }
        String text = String.valueOf(error.getMessage());
        if (error instanceof SdkClientException && text.contains("Unable to load credentials")) {
            // the default chain's own account of each provider is long: it stays in the trace
            String detail = settings.credentials().kind() == CredentialsSpec.Kind.AUTO ? ""
                    : ": " + abbreviate(firstLine(text), 300);
            return KinesisException.fatal("NoCredentials", "no AWS credentials found for the Kinesis connector ("
                    + settings.credentials().describe() + ")" + detail, error);
        }
        return new KinesisException(action + " to " + settings.describe() + " failed: " + firstLine(text), error);
    }

    private static String abbreviate(String text, int max) {
        return text.length() <= max ? text : text.substring(0, max) + "...";
    }

    private static String firstLine(String text) {
        int end = text.indexOf('\n');
        return end < 0 ? text : text.substring(0, end);
    }

    private static Throwable unwrap(Throwable error) {
        return error instanceof CompletionException && error.getCause() != null ? error.getCause() : error;
    }

    @Override
    public void close() {
        IoUtils.closeQuietly(sync, null);
        IoUtils.closeQuietly(async, null);
        if (eventLoops != null) {
            // every request is done by now (the sink flushed): no quiet period to wait out
            eventLoops.eventLoopGroup().shutdownGracefully(0, 2, TimeUnit.SECONDS);
        }
        if (credentials instanceof AutoCloseable closeable) {
            IoUtils.closeQuietly(closeable, null);
        }
    }

    /** Exponential backoff with full jitter in [delay/2, delay]. */
    public static long backoffMillis(int attempt, long baseMillis, long maxMillis) {
        long delay = Math.min(maxMillis, baseMillis << Math.min(attempt - 1, 20));
        return delay / 2 + ThreadLocalRandom.current().nextLong(delay / 2 + 1);
    }
}
