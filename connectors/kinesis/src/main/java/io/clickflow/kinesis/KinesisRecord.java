package io.clickflow.kinesis;

/** One record as GetRecords returned it. */
public record KinesisRecord(String sequenceNumber, long arrivalMillis, String partitionKey, byte[] data) {
    /** Not a record: the shard answered with nothing and nothing behind the tip (it is idle until more comes). */
    static final KinesisRecord CAUGHT_UP = new KinesisRecord(null, Long.MIN_VALUE, null, new byte[0]);
}
