package io.clickflow.kinesis;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import org.apache.flink.core.io.SimpleVersionedSerializer;

/**
 * The enumerator's checkpoint: shards handed to a reader, shards read to their end, and splits
 * created but not yet handed out. Positions within shards live in the readers' checkpoints.
 */
public record EnumeratorState(Set<String> assigned, Set<String> finished, List<ShardSplit> pending) {

    public static final class Serializer implements SimpleVersionedSerializer<EnumeratorState> {
        @Override
        public int getVersion() {
            return 1;
        }

        @Override
        public byte[] serialize(EnumeratorState state) throws IOException {
            ByteArrayOutputStream bytes = new ByteArrayOutputStream();
            try (DataOutputStream out = new DataOutputStream(bytes)) {
                writeSet(state.assigned(), out);
                writeSet(state.finished(), out);
                out.writeInt(state.pending().size());
                for (ShardSplit split : state.pending()) {
                    ShardSplit.Serializer.write(split, out);
                }
            }
            return bytes.toByteArray();
        }

        @Override
        public EnumeratorState deserialize(int version, byte[] serialized) throws IOException {
            if (version != 1) {
                throw new IOException("unknown Kinesis enumerator state version " + version);
            }
            try (DataInputStream in = new DataInputStream(new ByteArrayInputStream(serialized))) {
                Set<String> assigned = readSet(in);
                Set<String> finished = readSet(in);
                int count = in.readInt();
                List<ShardSplit> pending = new ArrayList<>(count);
                for (int i = 0; i < count; i++) {
                    pending.add(ShardSplit.Serializer.read(in));
                }
                return new EnumeratorState(assigned, finished, pending);
            }
        }

        private static void writeSet(Set<String> values, DataOutputStream out) throws IOException {
            out.writeInt(values.size());
            for (String value : values) {
                out.writeUTF(value);
            }
        }

        private static Set<String> readSet(DataInputStream in) throws IOException {
            int count = in.readInt();
            Set<String> values = new LinkedHashSet<>();
            for (int i = 0; i < count; i++) {
                values.add(in.readUTF());
            }
            return values;
        }
    }
}
