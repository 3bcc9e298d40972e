package io.clickflow.kinesis;

/** One record as GetRecords returned it. */
public record KinesisRecord(String sequenceNumber, long arrivalMillis, String partitionKey, byte[] data) {
    private static final byte[] NOTHING = new byte[0];

    /** Not a record: the shard answered with nothing and nothing behind the tip (it is idle until more comes). */
    static final KinesisRecord CAUGHT_UP = caughtUp(Long.MAX_VALUE);

    /**
     * A marker that the shard was caught up, valid until {@code idleUntilMillis} (kept in {@code arrivalMillis}):
     * past it, with no newer answer from the shard, the shard is no longer known to be idle (ShardIdleness).
     */
    static KinesisRecord caughtUp(long idleUntilMillis) {
        return new KinesisRecord(null, idleUntilMillis, null, NOTHING);
    }

    /** Whether this is a caught-up marker (every record Kinesis returns has a sequence number). */
    boolean isCaughtUp() {
        return sequenceNumber == null;
    }
}
