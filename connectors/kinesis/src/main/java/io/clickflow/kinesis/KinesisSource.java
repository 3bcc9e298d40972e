package io.clickflow.kinesis;

import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.flink.api.common.serialization.DeserializationSchema;
import org.apache.flink.api.connector.source.Boundedness;
import org.apache.flink.api.connector.source.Source;
import org.apache.flink.api.connector.source.SourceReader;
import org.apache.flink.api.connector.source.SourceReaderContext;
import org.apache.flink.api.connector.source.SplitEnumerator;
import org.apache.flink.api.connector.source.SplitEnumeratorContext;
import org.apache.flink.core.io.SimpleVersionedSerializer;
import org.apache.flink.metrics.MetricGroup;
import org.apache.flink.table.data.RowData;
import org.apache.flink.util.UserCodeClassLoader;

/** A FLIP-27 source over one Kinesis stream: shards are splits, positions are sequence numbers. */
public final class KinesisSource implements Source<RowData, ShardSplit, EnumeratorState> {
    private static final long serialVersionUID = 1L;

    private final SourceSettings settings;
    private final DeserializationSchema<RowData> format;
    private final List<RecordMetadata> metadata;

    public KinesisSource(SourceSettings settings, DeserializationSchema<RowData> format, List<RecordMetadata> metadata) {
        this.settings = settings;
        this.format = format;
        this.metadata = List.copyOf(metadata);
    }

    @Override
    public Boundedness getBoundedness() {
        return settings.bounded() ? Boundedness.BOUNDED : Boundedness.CONTINUOUS_UNBOUNDED;
    }

    @Override
    public SplitEnumerator<ShardSplit, EnumeratorState> createEnumerator(SplitEnumeratorContext<ShardSplit> context) {
        return new ShardEnumerator(context, settings, null);
    }

    @Override
    public SplitEnumerator<ShardSplit, EnumeratorState> restoreEnumerator(
            SplitEnumeratorContext<ShardSplit> context, EnumeratorState state) {
        return new ShardEnumerator(context, settings, state);
    }

    @Override
    public SourceReader<RowData, ShardSplit> createReader(SourceReaderContext context) throws Exception {
        MetricGroup metrics = context.metricGroup().addGroup("kinesis");
        format.open(new DeserializationSchema.InitializationContext() {
            @Override
            public MetricGroup getMetricGroup() {
                return metrics;
            }

            @Override
            public UserCodeClassLoader getUserCodeClassLoader() {
                return context.getUserCodeClassLoader();
            }
        });
        MetricGroup stream = JobMetrics.forStream(context.metricGroup(), settings.stream());
        Set<String> closed = ConcurrentHashMap.newKeySet();
        return new KinesisSourceReader(() -> settings.fansOut() ? new FanOutReader(settings, metrics, stream, closed)
                : new ShardReader(settings, metrics, stream), format, metadata, context, stream, closed);
    }

    @Override
    public SimpleVersionedSerializer<ShardSplit> getSplitSerializer() {
        return new ShardSplit.Serializer();
    }

    @Override
    public SimpleVersionedSerializer<EnumeratorState> getEnumeratorCheckpointSerializer() {
        return new EnumeratorState.Serializer();
    }
}
