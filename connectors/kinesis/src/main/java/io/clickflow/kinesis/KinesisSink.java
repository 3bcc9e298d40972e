package io.clickflow.kinesis;

import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.util.Collection;
import java.util.List;
import org.apache.flink.api.connector.sink2.StatefulSinkWriter;
import org.apache.flink.api.connector.sink2.WriterInitContext;
import org.apache.flink.connector.base.sink.AsyncSinkBase;
import org.apache.flink.connector.base.sink.writer.AsyncSinkWriterStateSerializer;
import org.apache.flink.connector.base.sink.writer.BufferedRequestState;
import org.apache.flink.core.io.SimpleVersionedSerializer;
import org.apache.flink.table.data.RowData;

/** An AsyncSink that writes rows to one Kinesis stream with PutRecords; at-least-once (flushes on checkpoint). */
public final class KinesisSink extends AsyncSinkBase<RowData, PutEntry> {
    private static final long serialVersionUID = 1L;

    private final SinkSettings settings;

    KinesisSink(SinkSettings settings, RowConverter converter) {
        super(converter, settings.maxBatchSize(), settings.maxInFlightRequests(), settings.maxBufferedRequests(),
                settings.maxBatchSizeInBytes(), settings.maxTimeInBufferMillis(), SinkSettings.MAX_RECORD_BYTES);
        this.settings = settings;
    }

    @Override
    public StatefulSinkWriter<RowData, BufferedRequestState<PutEntry>> createWriter(WriterInitContext context) {
        return new KinesisSinkWriter(getElementConverter(), context, settings, List.of());
    }

    @Override
    public StatefulSinkWriter<RowData, BufferedRequestState<PutEntry>> restoreWriter(
            WriterInitContext context, Collection<BufferedRequestState<PutEntry>> states) {
        return new KinesisSinkWriter(getElementConverter(), context, settings, states);
    }

    @Override
    public SimpleVersionedSerializer<BufferedRequestState<PutEntry>> getWriterStateSerializer() {
        return new StateSerializer();
    }

    /** Entries still buffered at a checkpoint: key, then payload. */
    static final class StateSerializer extends AsyncSinkWriterStateSerializer<PutEntry> {
        @Override
        protected void serializeRequestToStream(PutEntry entry, DataOutputStream out) throws IOException {
            out.writeUTF(entry.partitionKey());
            out.writeInt(entry.data().length);
            out.write(entry.data());
        }

        @Override
        protected PutEntry deserializeRequestFromStream(long requestSize, DataInputStream in) throws IOException {
            String key = in.readUTF();
            byte[] data = new byte[in.readInt()];
            in.readFully(data);
            return new PutEntry(data, key);
        }

        @Override
        public int getVersion() {
            return 1;
        }
    }
}
