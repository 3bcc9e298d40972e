package io.clickflow.kinesis;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Supplier;
import org.apache.flink.api.common.serialization.DeserializationSchema;
import org.apache.flink.api.connector.source.ReaderOutput;
import org.apache.flink.api.connector.source.SourceEvent;
import org.apache.flink.api.connector.source.SourceOutput;
import org.apache.flink.api.connector.source.SourceReaderContext;
import org.apache.flink.metrics.MetricGroup;
import org.apache.flink.connector.base.source.reader.RecordEmitter;
import org.apache.flink.connector.base.source.reader.SingleThreadMultiplexSourceReaderBase;
import org.apache.flink.connector.base.source.reader.splitreader.SplitReader;
import org.apache.flink.core.io.InputStatus;
import org.apache.flink.table.data.GenericRowData;
import org.apache.flink.table.data.RowData;
import org.apache.flink.table.data.utils.JoinedRowData;
import org.apache.flink.util.Collector;

/**
 * The source reader: one fetcher thread polls the shards; records are decoded by the table's format and
 * emitted with their arrival time, and each shard's position advances only as its records are emitted.
 *
 * <p>When a shard is read to its end the enumerator is told, so it can hand out the shard's children.
 * That news must survive a failure: the reader keeps a "finished" marker in its checkpoints until a
 * later checkpoint completes (whose enumerator snapshot was taken after the news arrived), and tells the
 * enumerator again when it is restored with such a marker.
 */
final class KinesisSourceReader
        extends SingleThreadMultiplexSourceReaderBase<KinesisRecord, RowData, ShardSplit, ShardSplitState> {

    /** A finished shard's marker and the first checkpoint that carried it (MAX_VALUE: none yet). */
    private static final class Marker {
        final ShardSplit split;
        long firstCheckpoint = Long.MAX_VALUE;

        Marker(ShardSplit split) {
            this.split = split;
        }
    }

    private final Map<String, Marker> finishedMarkers = new LinkedHashMap<>();
    private final List<String> toAnnounce = new ArrayList<>();
    private final Map<String, ShardIdleness.Switch> idleness;
    private final Set<String> closedShards; // shared with the fetcher thread's split reader
    private boolean started;
    // when a checkpoint last completed (at first: when the reader started); read by the metric reporters
    private volatile long checkpointedAt = System.currentTimeMillis();

    KinesisSourceReader(Supplier<SplitReader<KinesisRecord, ShardSplit>> splitReaders,
            DeserializationSchema<RowData> format, List<RecordMetadata> metadata, SourceReaderContext context,
            MetricGroup streamMetrics, Set<String> closedShards) {
        this(splitReaders, new Emitter(format, metadata), context, streamMetrics, closedShards);
    }

    private KinesisSourceReader(Supplier<SplitReader<KinesisRecord, ShardSplit>> splitReaders, Emitter emitter,
            SourceReaderContext context, MetricGroup streamMetrics, Set<String> closedShards) {
        super(splitReaders, emitter, context.getConfiguration(), context);
        this.closedShards = closedShards;
        this.idleness = emitter.idleness;
        // the age of the job's last completed checkpoint as this reader was told of it: Managed Flink forwards
        // no such figure of its own, and an alarm on "no checkpoint for N intervals" needs one
        streamMetrics.gauge("millisSinceLastCheckpoint", () -> System.currentTimeMillis() - checkpointedAt);
    }

    @Override
    public void start() {
        super.start();
        started = true;
        announce();
    }

    @Override
    public void addSplits(List<ShardSplit> splits) {
        List<ShardSplit> live = new ArrayList<>();
        ShardIdleness.Pairing pairing = ShardIdleness.PAIRING.get();
        for (ShardSplit split : splits) {
            // Flink creates a watermark output for every split it hands over, finished markers included
            ShardIdleness.Switch idle = new ShardIdleness.Switch();
            pairing.shard(idle);
            if (split.finished()) {
                idle.idleUntil = Long.MAX_VALUE; // never read: idle from the start
                idleness.remove(split.shardId());
                finishedMarkers.put(split.shardId(), new Marker(split));
                toAnnounce.add(split.shardId());
            } else {
                idleness.put(split.shardId(), idle);
                live.add(split);
            }
        }
        if (!live.isEmpty()) {
            super.addSplits(live);
        }
        if (started) {
            announce();
        }
    }

    /**
     * A reader whose shards were all caught up is idle (ShardIdleness), and Flink does not pass on the
     * watermarks of an idle output — the end-of-input one included, which closes the last windows of a
     * bounded read. So the reader is active again when its input ends.
     */
    @Override
    public InputStatus pollNext(ReaderOutput<RowData> output) throws Exception {
        InputStatus status = super.pollNext(output);
        if (status == InputStatus.END_OF_INPUT) {
            output.markActive();
        }
        return status;
    }

    @Override
    public void handleSourceEvents(SourceEvent event) {
        if (event instanceof ShardClosedEvent closed) {
            closedShards.addAll(closed.shardIds());
        }
    }

    @Override
    protected void onSplitFinished(Map<String, ShardSplitState> finishedSplits) {
        finishedSplits.forEach((id, state) -> {
            idleness.remove(id);
            finishedMarkers.put(id, new Marker(state.toSplit().asFinished()));
            toAnnounce.add(id);
        });
        announce();
    }

    private void announce() {
        if (!toAnnounce.isEmpty()) {
            context.sendSourceEventToCoordinator(new ShardFinishedEvent(new java.util.LinkedHashSet<>(toAnnounce)));
            toAnnounce.clear();
        }
    }

    @Override
    public List<ShardSplit> snapshotState(long checkpointId) {
        List<ShardSplit> state = new ArrayList<>(super.snapshotState(checkpointId));
        for (Marker marker : finishedMarkers.values()) {
            marker.firstCheckpoint = Math.min(marker.firstCheckpoint, checkpointId);
            state.add(marker.split);
        }
        return state;
    }

    @Override
    public void notifyCheckpointComplete(long checkpointId) throws Exception {
        super.notifyCheckpointComplete(checkpointId);
        checkpointedAt = System.currentTimeMillis();
        finishedMarkers.values().removeIf(marker -> marker.firstCheckpoint < checkpointId);
    }

    @Override
    protected ShardSplitState initializedState(ShardSplit split) {
        return new ShardSplitState(split);
    }

    @Override
    protected ShardSplit toSplitType(String splitId, ShardSplitState state) {
        return state.toSplit();
    }

    /**
     * Decodes a record's payload with the table's format; the record's arrival time is its timestamp.
     * Metadata columns, when the table reads any, follow the payload's columns.
     */
    private static final class Emitter implements RecordEmitter<KinesisRecord, RowData, ShardSplitState> {
        private final DeserializationSchema<RowData> format;
        private final Forward forward;
        final Map<String, ShardIdleness.Switch> idleness = new java.util.HashMap<>();

        Emitter(DeserializationSchema<RowData> format, List<RecordMetadata> metadata) {
            this.format = format;
            this.forward = new Forward(metadata.toArray(new RecordMetadata[0]));
        }

        @Override
        public void emitRecord(KinesisRecord record, SourceOutput<RowData> output, ShardSplitState state)
                throws Exception {
            ShardIdleness.Switch idle = idleness.get(state.shardId());
            if (record.isCaughtUp()) {
                if (idle != null) {
                    idle.idleUntil = record.arrivalMillis();
                }
                return;
            }
            if (idle != null) {
                idle.idleUntil = Long.MIN_VALUE;
            }
            forward.output = output;
            forward.record = record;
            forward.shardId = state.shardId();
            format.deserialize(record.data(), forward);
            state.emitted(record.sequenceNumber());
        }
    }

    private static final class Forward implements Collector<RowData> {
        private final RecordMetadata[] metadata;
        SourceOutput<RowData> output;
        KinesisRecord record;
        String shardId;

        Forward(RecordMetadata[] metadata) {
            this.metadata = metadata;
        }

        @Override
        public void collect(RowData row) {
            if (metadata.length == 0) {
                output.collect(row, record.arrivalMillis());
                return;
            }
            GenericRowData values = new GenericRowData(metadata.length);
            for (int i = 0; i < metadata.length; i++) {
                values.setField(i, metadata[i].value(record, shardId));
            }
            output.collect(new JoinedRowData(row.getRowKind(), row, values), record.arrivalMillis());
        }

        @Override
        public void close() {}
    }
}
