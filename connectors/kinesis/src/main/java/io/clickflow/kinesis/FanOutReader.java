package io.clickflow.kinesis;

import java.io.IOException;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.apache.flink.connector.base.source.reader.RecordsBySplits;
import org.apache.flink.connector.base.source.reader.RecordsWithSplitIds;
import org.apache.flink.connector.base.source.reader.splitreader.SplitReader;
import org.apache.flink.connector.base.source.reader.splitreader.SplitsAddition;
import org.apache.flink.connector.base.source.reader.splitreader.SplitsChange;
import org.apache.flink.metrics.Counter;
import org.apache.flink.metrics.MeterView;
import org.apache.flink.metrics.MetricGroup;
import org.apache.flink.metrics.SimpleCounter;
import org.reactivestreams.Subscriber;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import software.amazon.awssdk.auth.credentials.AwsCredentialsProvider;
import software.amazon.awssdk.http.nio.netty.SdkEventLoopGroup;
import software.amazon.awssdk.services.kinesis.KinesisAsyncClient;
import software.amazon.awssdk.services.kinesis.model.Record;
import software.amazon.awssdk.services.kinesis.model.ShardIteratorType;
import software.amazon.awssdk.services.kinesis.model.StartingPosition;
import software.amazon.awssdk.services.kinesis.model.SubscribeToShardEvent;
import software.amazon.awssdk.services.kinesis.model.SubscribeToShardEventStream;
import software.amazon.awssdk.services.kinesis.model.SubscribeToShardResponseHandler;
import software.amazon.awssdk.utils.IoUtils;

/**
 * Reads the shards assigned to this reader through enhanced fan-out: one SubscribeToShard subscription
 * per shard, over HTTP/2, pushing events that the fetcher thread hands to Flink one at a time. Each
 * subscription asks for its next event only once the last one was handed over, so a reader held up by
 * back-pressure holds its subscriptions up too instead of buffering without bound.
 *
 * <p>A subscription ends after 5 minutes (Kinesis's rule): it is renewed at once, after the last record
 * handed over. One that fails is renewed from there too, after an exponential backoff, said in the log and
 * counted ({@code subscriptionErrors}); one that delivers nothing for {@code source.efo.subscription.timeout}
 * is cancelled and renewed the same way ({@code subscriptionsSilent}). Twelve failures in a row, or an
 * error no retry can fix (access denied, say), fail the job: a reader never stops reading silently.
 *
 * <p>A shard whose subscription ends with no continuation sequence number was read to its end: it is
 * finished as with polling, and the enumerator hands out its children once all their parents are finished.
 */
final class FanOutReader implements SplitReader<KinesisRecord, ShardSplit> {
    private static final Logger LOG = LoggerFactory.getLogger(FanOutReader.class);
    private static final int MAX_CONSECUTIVE_ERRORS = 12;
    private static final long IDLE_WAIT_MILLIS = 200;

    /** What a subscription tells the fetcher thread: an event, or its end (error null: ended normally). */
    private record Item(Subscription from, SubscribeToShardEvent event, boolean ended, Throwable error) {}

    private static final Item WAKE = new Item(null, null, false, null);

    private final class Shard {
        final ShardSplit split;
        String lastSequenceNumber; // of the last record handed to Flink
        Subscription subscription; // null between subscriptions
        long subscribeAt; // when the next subscription is due (while subscription is null)
        int failures; // in a row; an event delivered resets it
        int caughtUpSinceClosed; // empty events at the tip since the enumerator said it is closed
        volatile long reportedLag;
        Counter recordsRead;

        Shard(ShardSplit split) {
            this.split = split;
            this.lastSequenceNumber = split.lastSequenceNumber();
        }
    }

    /** One SubscribeToShard call and the event stream it opened; events are asked for one at a time. */
    private final class Subscription implements Subscriber<SubscribeToShardEventStream> {
        final Shard shard;
        final long startedAt = System.currentTimeMillis();
        volatile long heardAt = startedAt; // the last event, or asking for the next (at first: the call)
        private volatile org.reactivestreams.Subscription stream;
        private final AtomicBoolean ended = new AtomicBoolean();
        private volatile boolean cancelled;
        CompletableFuture<Void> call;

        Subscription(Shard shard) {
            this.shard = shard;
        }

        @Override
        public void onSubscribe(org.reactivestreams.Subscription subscription) {
            stream = subscription;
            if (cancelled) {
                subscription.cancel();
            } else {
                subscription.request(1);
            }
        }

        @Override
        public void onNext(SubscribeToShardEventStream event) {
            heardAt = System.currentTimeMillis();
            if (event instanceof SubscribeToShardEvent records) {
                queue.add(new Item(this, records, false, null));
            } else {
                next(); // an event type this reader does not know: skip it
            }
        }

        @Override
        public void onError(Throwable error) {
            end(error);
        }

        @Override
        public void onComplete() {
            end(null);
        }

        void end(Throwable error) {
            if (ended.compareAndSet(false, true)) {
                queue.add(new Item(this, null, true, error));
            }
        }

        void next() {
            org.reactivestreams.Subscription current = stream;
            if (current != null && !cancelled) {
                heardAt = System.currentTimeMillis(); // silence counts from the asking: a reader held up is not
                current.request(1);
            }
        }

        void cancel() {
            cancelled = true;
            org.reactivestreams.Subscription current = stream;
            if (current != null) {
                current.cancel();
            }
            if (call != null) {
                call.cancel(true);
            }
        }
    }

    private final SourceSettings settings;
    private final FanOutSettings fanOut;
    private final KinesisApi control; // DescribeStreamConsumer
    private final AwsCredentialsProvider credentials;
    private final SdkEventLoopGroup eventLoops;
    private final KinesisAsyncClient client;
    private final LinkedBlockingQueue<Item> queue = new LinkedBlockingQueue<>();
    private final Map<String, Shard> shards = new LinkedHashMap<>(); // the fetcher thread's alone
    private final Map<String, Shard> reading = new java.util.concurrent.ConcurrentHashMap<>(); // for the gauges
    private final MetricGroup streamMetrics;
    private final Counter streamRecordsRead = new SimpleCounter();
    private final Counter renewed;
    private final Counter errors;
    private final Counter silent;
    private final Set<String> closedShards; // ListShards says closed (ShardClosedEvent)
    private String consumerArn;

    FanOutReader(SourceSettings settings, MetricGroup metrics, MetricGroup streamMetrics, Set<String> closedShards) {
        this.settings = settings;
        this.closedShards = closedShards;
        this.fanOut = settings.fanOut();
        this.control = KinesisApi.forReading(settings.aws());
        this.credentials = AwsClients.credentials(settings.aws());
        this.eventLoops = SdkEventLoopGroup.builder().numberOfThreads(2).build();
        this.client = AwsClients.fanOut(settings.aws(), credentials, eventLoops);
        this.streamMetrics = streamMetrics;
        streamMetrics.meter("recordsReadPerSecond", new MeterView(streamRecordsRead, ShardReader.RATE_SECONDS));
        metrics.gauge("millisBehindLatest", () -> reading.values().stream().mapToLong(s -> s.reportedLag).max()
                .orElse(0L));
        this.renewed = streamMetrics.counter("subscriptionsRenewed");
        this.errors = streamMetrics.counter("subscriptionErrors");
        this.silent = streamMetrics.counter("subscriptionsSilent");
    }

    @Override
    public RecordsWithSplitIds<KinesisRecord> fetch() throws IOException {
        long now = System.currentTimeMillis();
        long wait = IDLE_WAIT_MILLIS;
        for (Shard shard : shards.values()) {
            Subscription current = shard.subscription;
            if (current == null) {
                if (shard.subscribeAt <= now) {
                    subscribe(shard);
                } else {
                    wait = Math.min(wait, shard.subscribeAt - now);
                }
            } else if (now - current.heardAt > fanOut.subscriptionTimeoutMillis()) {
                silent.inc();
                retryLater(shard, "delivered nothing for " + (now - current.heardAt) + " ms");
            }
        }
        Item item;
        try {
            item = queue.poll(Math.max(1, wait), TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return nothing();
        }
        if (item == null || item == WAKE || item.from().shard.subscription != item.from()) {
            return nothing(); // nothing came, a wake-up, or news of a subscription given up already
        }
        Shard shard = item.from().shard;
        if (item.ended()) {
            shard.subscription = null;
            if (item.error() == null) {
                renewed.inc();
                LOG.debug("Subscription to {} of {} ended after {} ms; renewing it after {}", shard.split.shardId(),
                        settings.stream(), System.currentTimeMillis() - item.from().startedAt,
                        shard.lastSequenceNumber);
                shard.subscribeAt = 0;
            } else {
                failed(shard, item.error());
            }
            return nothing();
        }
        return handOver(shard, item.from(), item.event());
    }

    private RecordsWithSplitIds<KinesisRecord> handOver(Shard shard, Subscription from, SubscribeToShardEvent event) {
        String id = shard.split.shardId();
        shard.failures = 0;
        Long behind = event.millisBehindLatest();
        shard.reportedLag = behind == null ? 0L : behind;
        List<KinesisRecord> records = new ArrayList<>(event.records().size());
        String done = null;
        for (Record record : event.records()) {
            Instant arrival = record.approximateArrivalTimestamp();
            long arrivalMillis = arrival == null ? 0L : arrival.toEpochMilli();
            if (settings.bounded() && arrivalMillis > settings.boundMillis()) {
                done = "reached a record that arrived at " + arrival + ", after the bound "
                        + Instant.ofEpochMilli(settings.boundMillis());
                break;
            }
            records.add(new KinesisRecord(record.sequenceNumber(), arrivalMillis, record.partitionKey(),
                    record.data().asByteArrayUnsafe()));
            shard.lastSequenceNumber = record.sequenceNumber();
        }
        shard.recordsRead.inc(records.size());
        streamRecordsRead.inc(records.size());
        if (event.continuationSequenceNumber() == null) {
            done = "closed and read to its end" + (event.hasChildShards() && !event.childShards().isEmpty()
                    ? " (children " + event.childShards().stream().map(c -> c.shardId()).toList() + ")" : "");
        }
        boolean caughtUp = event.records().isEmpty() && shard.reportedLag == 0;
        if (settings.bounded() && caughtUp && done == null) {
            done = "caught up with the tip";
        }
        if (done == null && closedShards.contains(id)) {
            // An endpoint that never ends a closed shard's subscription (kinesis-mock does not) must not hold
            // its children back: once ListShards says it is closed, the second empty event at its tip since
            // then (the first may have been under way before the news) means it was read to its end.
            shard.caughtUpSinceClosed += caughtUp ? 1 : 0;
            if (shard.caughtUpSinceClosed >= 2) {
                done = "closed (ListShards) and read to its end";
            }
        }
        Set<String> finished = Collections.emptySet();
        if (done != null) {
            LOG.info("Shard {} of {} finished: {} (last sequence number {})", id, settings.stream(), done,
                    shard.lastSequenceNumber);
            shard.subscription = null; // what the cancelled call still says is news of nothing
            from.cancel();
            shards.remove(id);
            reading.remove(id);
            finished = Set.of(id);
        } else {
            from.next();
            if (caughtUp) {
                records.add(KinesisRecord.CAUGHT_UP); // the shard is idle (ShardIdleness) until a record comes
            }
        }
        return new RecordsBySplits<>(records.isEmpty() ? Collections.emptyMap() : Map.of(id, records), finished);
    }

    private void subscribe(Shard shard) throws IOException {
        if (consumerArn == null) {
            try {
                consumerArn = control.awaitConsumer(fanOut);
            } catch (KinesisException e) {
                throw new IOException("reading Kinesis stream " + settings.stream() + " by enhanced fan-out: "
                        + e.getMessage(), e);
            }
        }
        StartingPosition position = startingPosition(shard);
        Subscription subscription = new Subscription(shard);
        shard.subscription = subscription;
        LOG.debug("Subscribing to {} of {} from {}", shard.split.shardId(), settings.stream(), position);
        try {
            subscription.call = client.subscribeToShard(
                    request -> request.consumerARN(consumerArn).shardId(shard.split.shardId())
                            .startingPosition(position),
                    SubscribeToShardResponseHandler.builder()
                            .onError(subscription::end)
                            .onEventStream(stream -> stream.subscribe(subscription))
                            .build());
            subscription.call.whenComplete((ignored, error) -> subscription.end(error));
        } catch (RuntimeException e) {
            subscription.end(e);
        }
    }

    private StartingPosition startingPosition(Shard shard) {
        if (shard.lastSequenceNumber != null) {
            return StartingPosition.builder().type(ShardIteratorType.AFTER_SEQUENCE_NUMBER)
                    .sequenceNumber(shard.lastSequenceNumber).build();
        }
        if (ShardSplit.AT_TIMESTAMP.equals(shard.split.startType())) {
            // Kinesis refuses a timestamp in the future; records cannot have arrived after "now" anyway.
            long at = Math.min(shard.split.startTimestampMillis(), System.currentTimeMillis());
            return StartingPosition.builder().type(ShardIteratorType.AT_TIMESTAMP).timestamp(Instant.ofEpochMilli(at))
                    .build();
        }
        return StartingPosition.builder().type(ShardIteratorType.TRIM_HORIZON).build();
    }

    private void failed(Shard shard, Throwable error) throws IOException {
        Throwable cause = error instanceof CompletionException && error.getCause() != null ? error.getCause() : error;
        KinesisException problem = cause instanceof KinesisException k ? k : control.translate("SubscribeToShard", cause);
        errors.inc();
        if (problem.errorCode().equals("ResourceNotFoundException")) {
            consumerArn = null; // deregistered (and perhaps registered anew, with a new ARN): look it up again
        }
        boolean retriable = problem.isRetriable() || problem.errorCode().equals("ResourceInUseException")
                || problem.errorCode().equals("ResourceNotFoundException");
        if (!retriable || shard.failures + 1 > MAX_CONSECUTIVE_ERRORS) {
            throw new IOException("reading shard " + shard.split.shardId() + " of Kinesis stream " + settings.stream()
                    + " by enhanced fan-out failed" + (retriable ? " " + (shard.failures + 1) + " times in a row" : "")
                    + ": " + problem.getMessage(), problem);
        }
        retryLater(shard, problem.getMessage());
    }

    private void retryLater(Shard shard, String why) {
        Subscription given = shard.subscription;
        shard.subscription = null;
        if (given != null) {
            given.cancel();
        }
        shard.failures++;
        long delay = KinesisApi.backoffMillis(shard.failures, 500, 30_000);
        shard.subscribeAt = System.currentTimeMillis() + delay;
        LOG.warn("Subscription to {} of {} failed ({}); subscribing again after {} in {} ms (attempt {})",
                shard.split.shardId(), settings.stream(), why, shard.lastSequenceNumber, delay, shard.failures + 1);
    }

    private static RecordsWithSplitIds<KinesisRecord> nothing() {
        return new RecordsBySplits<>(Collections.emptyMap(), Collections.emptySet());
    }

    @Override
    public void handleSplitsChanges(SplitsChange<ShardSplit> change) {
        if (!(change instanceof SplitsAddition)) {
            throw new UnsupportedOperationException("unsupported splits change: " + change);
        }
        for (ShardSplit split : change.splits()) {
            Shard shard = new Shard(split);
            MetricGroup group = streamMetrics.addGroup("shard", split.shardId());
            group.gauge("millisBehindLatest", () -> shard.reportedLag);
            shard.recordsRead = group.counter("recordsRead");
            shards.put(split.shardId(), shard);
            reading.put(split.shardId(), shard);
        }
    }

    @Override
    public void wakeUp() {
        queue.add(WAKE);
    }

    @Override
    public void close() {
        for (Shard shard : shards.values()) {
            if (shard.subscription != null) {
                shard.subscription.cancel();
            }
        }
        IoUtils.closeQuietly(client, null);
        eventLoops.eventLoopGroup().shutdownGracefully(0, 2, TimeUnit.SECONDS);
        control.close();
        if (credentials instanceof AutoCloseable closeable) {
            IoUtils.closeQuietly(closeable, null);
        }
    }
}
