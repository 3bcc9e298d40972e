package io.clickflow.kinesis;

import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.flink.api.connector.sink2.WriterInitContext;
import org.apache.flink.connector.base.sink.writer.AsyncSinkWriter;
import org.apache.flink.connector.base.sink.writer.BufferedRequestState;
import org.apache.flink.connector.base.sink.writer.ElementConverter;
import org.apache.flink.connector.base.sink.writer.ResultHandler;
import org.apache.flink.connector.base.sink.writer.config.AsyncSinkWriterConfiguration;
import org.apache.flink.metrics.Counter;
import org.apache.flink.metrics.MeterView;
import org.apache.flink.metrics.MetricGroup;
import org.apache.flink.table.data.RowData;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Sends batches with PutRecords. In a partial failure only the failed entries go back to the buffer
 * (or, with {@code sink.fail-on-error}, the job fails naming the first error); a throttled or failed
 * call is retried whole after a backoff, and an error that retrying cannot fix (unknown stream, access
 * denied, bad request) — or 30 failed calls in a row — fails the job.
 */
final class KinesisSinkWriter extends AsyncSinkWriter<RowData, PutEntry> {
    private static final Logger LOG = LoggerFactory.getLogger(KinesisSinkWriter.class);

    private final SinkSettings settings;
    private final KinesisApi api;
    private static final int MAX_CONSECUTIVE_FAILED_CALLS = 30;

    private final Counter retriedRecords;
    private final Counter recordsWritten; // acknowledged by Kinesis
    private final AtomicInteger failedCalls = new AtomicInteger();
    private final UnansweredTime unanswered;

    KinesisSinkWriter(ElementConverter<RowData, PutEntry> converter, WriterInitContext context, SinkSettings settings,
            Collection<BufferedRequestState<PutEntry>> states) {
        super(converter, context, AsyncSinkWriterConfiguration.builder()
                .setMaxBatchSize(settings.maxBatchSize())
                .setMaxBatchSizeInBytes(settings.maxBatchSizeInBytes())
                .setMaxInFlightRequests(settings.maxInFlightRequests())
                .setMaxBufferedRequests(settings.maxBufferedRequests())
                .setMaxTimeInBufferMS(settings.maxTimeInBufferMillis())
                .setMaxRecordSizeInBytes(SinkSettings.MAX_RECORD_BYTES)
                .build(), states);
        this.settings = settings;
        this.api = KinesisApi.forWriting(settings.aws(), settings.maxInFlightRequests());
        this.retriedRecords = context.metricGroup().counter("kinesisRetriedRecords");
        MetricGroup stream = JobMetrics.forStream(context.metricGroup(), settings.stream());
        this.recordsWritten = stream.counter("recordsWritten");
        stream.meter("recordsWrittenPerSecond", new MeterView(recordsWritten, ShardReader.RATE_SECONDS));
        this.unanswered = new UnansweredTime(context.metricGroup(), "Writing to " + settings.stream());
    }

    @Override
    protected void submitRequestEntries(List<PutEntry> entries, ResultHandler<PutEntry> result) {
        long started = System.currentTimeMillis(); // the SDK's own retries may hold a failing call a while
        api.putRecords(settings.stream(), entries).whenComplete((answer, error) -> {
            if (error != null) {
                Throwable cause = error instanceof CompletionException && error.getCause() != null
                        ? error.getCause() : error;
                boolean retriable = !(cause instanceof KinesisException kinesis) || kinesis.isRetriable();
                int failures = failedCalls.incrementAndGet();
                if (!(cause instanceof KinesisException known) || known.isUnanswered()) {
                    unanswered.unanswered(started);
                }
                if (retriable && !settings.failOnError() && failures <= MAX_CONSECUTIVE_FAILED_CALLS) {
                    long delay = KinesisApi.backoffMillis(failures, 100, 5_000);
                    LOG.warn("PutRecords of {} records to {} failed ({}); retrying in {} ms", entries.size(),
                            settings.stream(), cause.getMessage(), delay);
                    retriedRecords.inc(entries.size());
                    CompletableFuture.delayedExecutor(delay, TimeUnit.MILLISECONDS)
                            .execute(() -> result.retryForEntries(entries));
                } else {
                    result.completeExceptionally(new KinesisException("writing to Kinesis stream " + settings.stream()
                            + " failed: " + cause.getMessage(), cause));
                }
                return;
            }
            failedCalls.set(0);
            unanswered.answered();
            recordsWritten.inc(entries.size() - answer.failedRecordCount());
            if (answer.failedRecordCount() == 0) {
                result.complete();
                return;
            }
            List<PutEntry> failed = new ArrayList<>(answer.failedRecordCount());
            String first = null;
            for (int i = 0; i < entries.size(); i++) {
                if (answer.errorCodes().get(i) != null) {
                    failed.add(entries.get(i));
                    if (first == null) {
                        first = answer.errorCodes().get(i) + ": " + answer.errorMessages().get(i);
                    }
                }
            }
            if (settings.failOnError()) {
                result.completeExceptionally(new KinesisException("PutRecordsFailed", 200, failed.size() + " of "
                        + entries.size() + " records were not written to Kinesis stream " + settings.stream()
                        + " (sink.fail-on-error is true); first error: " + first));
                return;
            }
            LOG.debug("{} of {} records to {} failed ({}); retrying them", failed.size(), entries.size(),
                    settings.stream(), first);
            retriedRecords.inc(failed.size());
            result.retryForEntries(failed);
        });
    }

    @Override
    public void close() {
        try {
            super.close();
        } finally {
            api.close();
        }
    }

    @Override
    protected long getSizeInBytes(PutEntry entry) {
        return entry.sizeInBytes();
    }
}
