package io.clickflow.kinesis;

import java.io.Serializable;

/**
 * What the source reads and how: the stream, the initial position (LATEST, TRIM_HORIZON or AT_TIMESTAMP),
 * poll and discovery intervals, and — clickflow only — {@code boundMillis}: when not null, each shard is
 * read only up to the records that had arrived by that instant, and the source then ends. {@code fanOut}
 * is null for the polling reader, else how the enhanced fan-out reader subscribes.
 */
public record SourceSettings(
        AwsSettings aws,
        String stream,
        String initPosition,
        long initTimestampMillis,
        long discoveryIntervalMillis,
        long emptyFetchIntervalMillis,
        long nonEmptyFetchIntervalMillis,
        int maxRecordsPerFetch,
        Long boundMillis,
        FanOutSettings fanOut) implements Serializable {

    public boolean fansOut() {
        return fanOut != null;
    }

    public boolean bounded() {
        return boundMillis != null;
    }
}
