package io.clickflow.kinesis;

import java.io.IOException;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.flink.connector.base.source.reader.RecordsBySplits;
import org.apache.flink.connector.base.source.reader.RecordsWithSplitIds;
import org.apache.flink.connector.base.source.reader.splitreader.SplitReader;
import org.apache.flink.connector.base.source.reader.splitreader.SplitsAddition;
import org.apache.flink.connector.base.source.reader.splitreader.SplitsChange;
import org.apache.flink.metrics.Counter;
import org.apache.flink.metrics.MeterView;
import org.apache.flink.metrics.MetricGroup;
import org.apache.flink.metrics.SimpleCounter;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Polls GetRecords on the shards assigned to this reader, one call per fetch, round-robin over the
 * shards that are due. Waits the empty-fetch interval on a shard that returned nothing, backs off
 * (exponentially, with jitter) on throttling and transient errors, and renews an expired iterator
 * from the last sequence number it read. Reports the read lag as {@code millisBehindLatest}.
 */
final class ShardReader implements SplitReader<KinesisRecord, ShardSplit> {
    private static final Logger LOG = LoggerFactory.getLogger(ShardReader.class);
    private static final int MAX_CONSECUTIVE_ERRORS = 12;
    private static final long STALE_GRACE_MILLIS = 2_000;
    static final int RATE_SECONDS = 60;

    private static final class Cursor {
        final ShardSplit split;
        String iterator;
        String lastSequenceNumber;
        long dueAt;
        int errors; // failed calls in a row, throttling aside: past MAX_CONSECUTIVE_ERRORS the job fails
        int throttles; // throttled calls in a row: backed off, never failed (Kinesis answers)
        // read by the metric reporters' threads
        volatile long reportedLag; // Kinesis' MillisBehindLatest in the last answer
        volatile long answeredAt; // when that answer came (at first: when the shard was assigned)
        volatile boolean finished;
        Counter recordsRead;

        Cursor(ShardSplit split) {
            this.split = split;
            this.lastSequenceNumber = split.lastSequenceNumber();
            this.answeredAt = System.currentTimeMillis();
        }

        /**
         * The shard's lag: what Kinesis said in its last answer, plus — once the shard has gone without an
         * answer for longer than its polling allows ({@code staleAfter}: throttled, failing, or a reader held
         * up by back-pressure) — the time since, so a stalled shard's lag grows with the clock.
         */
        long lagMillis(long now, long staleAfter) {
            if (finished) {
                return 0L;
            }
            long silent = now - answeredAt;
            return reportedLag + (silent > staleAfter ? silent : 0L);
        }
    }

    private final SourceSettings settings;
    private final KinesisApi api;
    private final LinkedHashMap<String, Cursor> cursors = new LinkedHashMap<>();
    // the shards being read, for the metric reporters' threads (cursors is the fetcher thread's alone)
    private final Map<String, Cursor> reading = new ConcurrentHashMap<>();
    private final Object wakeLock = new Object();
    private boolean woken;

    private final UnansweredTime unanswered;
    private final MetricGroup streamMetrics;
    private final Counter streamRecordsRead = new SimpleCounter(); // all shards: the stream's rate
    private final long staleAfterMillis;

    ShardReader(SourceSettings settings, MetricGroup metrics, MetricGroup streamMetrics) {
        this.settings = settings;
        this.api = KinesisApi.forShardReading(settings.aws());
        this.streamMetrics = streamMetrics;
        // a shard polled on time answers within its fetch interval; 2 s more allows for a slow answer
        this.staleAfterMillis = Math.max(settings.emptyFetchIntervalMillis(), settings.nonEmptyFetchIntervalMillis())
                + STALE_GRACE_MILLIS;
        streamMetrics.meter("recordsReadPerSecond", new MeterView(streamRecordsRead, RATE_SECONDS));
        metrics.gauge("millisBehindLatest", () -> reading.values().stream().mapToLong(c -> c.reportedLag).max().orElse(0L));
        this.unanswered = new UnansweredTime(metrics, "Reading " + settings.stream());
    }

    @Override
    public RecordsWithSplitIds<KinesisRecord> fetch() throws IOException {
        Cursor cursor = nextDue();
        if (cursor == null) {
            long now = System.currentTimeMillis();
            long wait = cursors.values().stream().mapToLong(c -> c.dueAt - now).min().orElse(settings.emptyFetchIntervalMillis());
            pause(Math.max(1, wait));
            return new RecordsBySplits<>(Collections.emptyMap(), Collections.emptySet());
        }
        return poll(cursor);
    }

    private Cursor nextDue() {
        long now = System.currentTimeMillis();
        for (Map.Entry<String, Cursor> entry : cursors.entrySet()) {
            if (entry.getValue().dueAt <= now) {
                // rotate: the shard polled now goes to the back of the line
                Cursor cursor = cursors.remove(entry.getKey());
                cursors.put(entry.getKey(), cursor);
                return cursor;
            }
        }
        return null;
    }

    private RecordsWithSplitIds<KinesisRecord> poll(Cursor cursor) throws IOException {
        String shard = cursor.split.shardId();
        KinesisApi.RecordsPage page;
        long started = System.currentTimeMillis(); // the SDK's own retries may hold a failing call a while
        try {
            if (cursor.iterator == null) {
                cursor.iterator = startIterator(cursor);
            }
            page = api.getRecords(cursor.iterator, settings.maxRecordsPerFetch());
        } catch (KinesisException e) {
            if (e.isExpiredIterator()) {
                LOG.info("Shard iterator of {} expired; renewing it after {}", shard, cursor.lastSequenceNumber);
                cursor.iterator = null;
                return nothing();
            }
            boolean throttled = e.isThrottling();
            int attempt = throttled ? ++cursor.throttles : ++cursor.errors;
            if (!e.isRetriable() || (!throttled && cursor.errors > MAX_CONSECUTIVE_ERRORS)) {
                throw new IOException("reading shard " + shard + " of Kinesis stream " + settings.stream()
                        + " failed: " + e.getMessage(), e);
            }
            long delay = KinesisApi.backoffMillis(attempt, 200, 10_000);
            if (e.isUnanswered()) {
                unanswered.unanswered(started);
            }
            LOG.warn("GetRecords on {} failed ({}); retrying in {} ms", shard, e.errorCode(), delay);
            cursor.dueAt = System.currentTimeMillis() + delay;
            return nothing();
        }
        cursor.errors = 0;
        cursor.throttles = 0;
        unanswered.answered();
        cursor.reportedLag = page.millisBehindLatest();
        cursor.answeredAt = System.currentTimeMillis();
        List<KinesisRecord> records = new ArrayList<>(page.records().size());
        String done = null;
        for (KinesisRecord record : page.records()) {
            if (settings.bounded() && record.arrivalMillis() > settings.boundMillis()) {
                done = "reached a record that arrived at " + java.time.Instant.ofEpochMilli(record.arrivalMillis())
                        + ", after the bound " + java.time.Instant.ofEpochMilli(settings.boundMillis());
                break;
            }
            records.add(record);
            cursor.lastSequenceNumber = record.sequenceNumber();
        }
        cursor.recordsRead.inc(records.size());
        streamRecordsRead.inc(records.size());
        if (page.nextShardIterator() == null) {
            done = "closed and read to its end";
        }
        if (settings.bounded() && page.records().isEmpty() && page.millisBehindLatest() == 0) {
            done = "caught up with the tip";
        }
        cursor.iterator = page.nextShardIterator();
        cursor.dueAt = System.currentTimeMillis() + (page.records().isEmpty()
                ? settings.emptyFetchIntervalMillis() : settings.nonEmptyFetchIntervalMillis());
        Set<String> finished = Collections.emptySet();
        if (done != null) {
            LOG.info("Shard {} of {} finished: {} (last sequence number {})", shard, settings.stream(), done,
                    cursor.lastSequenceNumber);
            cursors.remove(shard);
            reading.remove(shard);
            cursor.finished = true;
            finished = Set.of(shard);
        }
        if (done == null && page.records().isEmpty() && page.millisBehindLatest() == 0) {
            // the shard is idle (ShardIdleness) until a record comes — or until it should have been asked again
            // and has not answered: a task that stalled (a sink blocked on S3) has not seen what came meanwhile
            records.add(KinesisRecord.caughtUp(cursor.answeredAt + staleAfterMillis));
        }
        return new RecordsBySplits<>(records.isEmpty() ? Collections.emptyMap() : Map.of(shard, records), finished);
    }

    private String startIterator(Cursor cursor) throws IOException {
        ShardSplit split = cursor.split;
        if (cursor.lastSequenceNumber != null) {
            return api.shardIterator(split.stream(), split.shardId(), "AFTER_SEQUENCE_NUMBER",
                    cursor.lastSequenceNumber, null);
        }
        if (ShardSplit.AT_TIMESTAMP.equals(split.startType())) {
            // Kinesis refuses a timestamp in the future; records cannot have arrived after "now" anyway.
            long at = Math.min(split.startTimestampMillis(), System.currentTimeMillis());
            return api.shardIterator(split.stream(), split.shardId(), "AT_TIMESTAMP", null, at);
        }
        return api.shardIterator(split.stream(), split.shardId(), "TRIM_HORIZON", null, null);
    }

    private static RecordsWithSplitIds<KinesisRecord> nothing() {
        return new RecordsBySplits<>(Collections.emptyMap(), Collections.emptySet());
    }

    private void pause(long millis) {
        synchronized (wakeLock) {
            if (!woken) {
                try {
                    wakeLock.wait(millis);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
            woken = false;
        }
    }

    @Override
    public void handleSplitsChanges(SplitsChange<ShardSplit> change) {
        if (!(change instanceof SplitsAddition)) {
            throw new UnsupportedOperationException("unsupported splits change: " + change);
        }
        for (ShardSplit split : change.splits()) {
            Cursor cursor = new Cursor(split);
            // kinesisanalytics.stream.<stream>.shard.<id>.{millisBehindLatest,recordsRead}
            MetricGroup shard = streamMetrics.addGroup("shard", split.shardId());
            shard.gauge("millisBehindLatest", () -> cursor.lagMillis(System.currentTimeMillis(), staleAfterMillis));
            cursor.recordsRead = shard.counter("recordsRead");
            cursors.put(split.shardId(), cursor);
            reading.put(split.shardId(), cursor);
        }
    }

    @Override
    public void wakeUp() {
        synchronized (wakeLock) {
            woken = true;
            wakeLock.notifyAll();
        }
    }

    @Override
    public void close() {
        api.close();
    }
}
