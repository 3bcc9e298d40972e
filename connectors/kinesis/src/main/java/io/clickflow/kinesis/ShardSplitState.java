package io.clickflow.kinesis;

/** The mutable progress of a split inside the reader: the last sequence number emitted downstream. */
final class ShardSplitState {
    private final ShardSplit split;
    private String lastSequenceNumber;

    ShardSplitState(ShardSplit split) {
        this.split = split;
        this.lastSequenceNumber = split.lastSequenceNumber();
    }

    String shardId() {
        return split.shardId();
    }

    void emitted(String sequenceNumber) {
        lastSequenceNumber = sequenceNumber;
    }

    ShardSplit toSplit() {
        return split.after(lastSequenceNumber);
    }
}
