package io.clickflow.kinesis;

import java.io.Serializable;

/** Where the sink writes and its AsyncSink limits, as the table options gave them. */
public record SinkSettings(
        AwsSettings aws,
        String stream,
        int maxBatchSize,
        int maxInFlightRequests,
        int maxBufferedRequests,
        long maxBatchSizeInBytes,
        long maxTimeInBufferMillis,
        boolean failOnError) implements Serializable {

    /** Kinesis's own limits for one PutRecords call and one record. */
    public static final int MAX_RECORDS_PER_CALL = 500;
    public static final long MAX_BYTES_PER_CALL = 5L * 1024 * 1024;
    public static final long MAX_RECORD_BYTES = 1024L * 1024;
}
