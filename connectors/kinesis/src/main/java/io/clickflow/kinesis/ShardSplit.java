package io.clickflow.kinesis;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import org.apache.flink.api.connector.source.SourceSplit;
import org.apache.flink.core.io.SimpleVersionedSerializer;

/**
 * One shard to read, and how far it has been read: from {@code startType} (TRIM_HORIZON or
 * AT_TIMESTAMP) until a record has been emitted, then after {@code lastSequenceNumber}. A split with
 * {@code finished} set is only a marker in a reader's checkpoint: "this shard was read to its end".
 */
public record ShardSplit(
        String stream, String shardId, String startType, long startTimestampMillis, String lastSequenceNumber,
        boolean finished) implements SourceSplit {

    public static final String TRIM_HORIZON = "TRIM_HORIZON";
    public static final String AT_TIMESTAMP = "AT_TIMESTAMP";

    public static ShardSplit fromStart(String stream, String shardId) {
        return new ShardSplit(stream, shardId, TRIM_HORIZON, 0, null, false);
    }

    public static ShardSplit atTimestamp(String stream, String shardId, long timestampMillis) {
        return new ShardSplit(stream, shardId, AT_TIMESTAMP, timestampMillis, null, false);
    }

    @Override
    public String splitId() {
        return shardId;
    }

    public ShardSplit after(String sequenceNumber) {
        return new ShardSplit(stream, shardId, startType, startTimestampMillis, sequenceNumber, finished);
    }

    public ShardSplit asFinished() {
        return new ShardSplit(stream, shardId, startType, startTimestampMillis, lastSequenceNumber, true);
    }

    /** Versioned binary form, for checkpoints and for sending splits to readers. */
    public static final class Serializer implements SimpleVersionedSerializer<ShardSplit> {
        @Override
        public int getVersion() {
            return 1;
        }

        @Override
        public byte[] serialize(ShardSplit split) throws IOException {
            ByteArrayOutputStream bytes = new ByteArrayOutputStream();
            try (DataOutputStream out = new DataOutputStream(bytes)) {
                write(split, out);
            }
            return bytes.toByteArray();
        }

        @Override
        public ShardSplit deserialize(int version, byte[] serialized) throws IOException {
            if (version != 1) {
                throw new IOException("unknown Kinesis shard split version " + version);
            }
            try (DataInputStream in = new DataInputStream(new ByteArrayInputStream(serialized))) {
                return read(in);
            }
        }

        static void write(ShardSplit split, DataOutputStream out) throws IOException {
            out.writeUTF(split.stream());
            out.writeUTF(split.shardId());
            out.writeUTF(split.startType());
            out.writeLong(split.startTimestampMillis());
            out.writeBoolean(split.lastSequenceNumber() != null);
            if (split.lastSequenceNumber() != null) {
                out.writeUTF(split.lastSequenceNumber());
            }
            out.writeBoolean(split.finished());
        }

        static ShardSplit read(DataInputStream in) throws IOException {
            String stream = in.readUTF();
            String shardId = in.readUTF();
            String startType = in.readUTF();
            long timestamp = in.readLong();
            String last = in.readBoolean() ? in.readUTF() : null;
            return new ShardSplit(stream, shardId, startType, timestamp, last, in.readBoolean());
        }
    }
}
