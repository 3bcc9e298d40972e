package io.clickflow.kinesis;

import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.api.common.serialization.DeserializationSchema;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.datastream.DataStreamSource;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.table.connector.ChangelogMode;
import org.apache.flink.table.connector.ProviderContext;
import org.apache.flink.table.connector.format.DecodingFormat;
import org.apache.flink.table.connector.source.DataStreamScanProvider;
import org.apache.flink.table.connector.source.DynamicTableSource;
import org.apache.flink.table.connector.source.ScanTableSource;
import org.apache.flink.table.connector.source.abilities.SupportsReadingMetadata;
import org.apache.flink.table.connector.source.abilities.SupportsWatermarkPushDown;
import org.apache.flink.table.data.RowData;
import org.apache.flink.table.types.DataType;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The table's scan side: a KinesisSource decoding records with the table's format. The table's
 * WATERMARK is pushed into the source, so watermarks are generated per shard and combined by taking
 * the slowest — a shard read ahead of the others does not make their records late — and a shard with
 * nothing to read (caught up with its tip) is marked idle, so it does not hold the watermark back
 * ({@link ShardIdleness}: not after a time without records, which a stalled task would mistake). A
 * record's metadata can be read as the official connector names it ({@code timestamp}, {@code
 * shard-id}, {@code sequence-number}: {@code METADATA FROM}).
 */
final class KinesisTableSource implements ScanTableSource, SupportsWatermarkPushDown, SupportsReadingMetadata {
    private final DecodingFormat<DeserializationSchema<RowData>> format;
    private final DataType physicalType;
    private final SourceSettings settings;
    private WatermarkStrategy<RowData> watermarks;
    private List<String> metadataKeys = List.of();
    private DataType producedType;

    KinesisTableSource(DecodingFormat<DeserializationSchema<RowData>> format, DataType physicalType,
            SourceSettings settings) {
        this.format = format;
        this.physicalType = physicalType;
        this.settings = settings;
    }

    @Override
    public ChangelogMode getChangelogMode() {
        return format.getChangelogMode();
    }

    @Override
    public void applyWatermark(WatermarkStrategy<RowData> strategy) {
        this.watermarks = new ShardIdleness<>(strategy); // a shard is idle when caught up, not after a stall
    }

    @Override
    public Map<String, DataType> listReadableMetadata() {
        Map<String, DataType> metadata = new LinkedHashMap<>();
        for (RecordMetadata field : RecordMetadata.values()) {
            metadata.put(field.key, field.type);
        }
        return metadata;
    }

    @Override
    public void applyReadableMetadata(List<String> keys, DataType producedDataType) {
        this.metadataKeys = List.copyOf(keys);
        this.producedType = producedDataType;
    }

    @Override
    public ScanRuntimeProvider getScanRuntimeProvider(ScanContext context) {
        List<RecordMetadata> metadata = metadataKeys.stream().map(RecordMetadata::of).toList();
        KinesisSource source = new KinesisSource(settings, format.createRuntimeDecoder(context, physicalType), metadata);
        TypeInformation<RowData> type = context.createTypeInformation(metadata.isEmpty() ? physicalType : producedType);
        WatermarkStrategy<RowData> strategy = watermarks != null ? watermarks : WatermarkStrategy.noWatermarks();
        String name = "Kinesis " + settings.stream();
        return new DataStreamScanProvider() {
            @Override
            public DataStream<RowData> produceDataStream(ProviderContext provider, StreamExecutionEnvironment env) {
                DataStreamSource<RowData> stream = env.fromSource(source, strategy, name, type);
                provider.generateUid("kinesis-source").ifPresent(stream::uid);
                return stream;
            }

            @Override
            public boolean isBounded() {
                return settings.bounded();
            }
        };
    }

    @Override
    public DynamicTableSource copy() {
        KinesisTableSource copy = new KinesisTableSource(format, physicalType, settings);
        copy.watermarks = watermarks;
        copy.metadataKeys = metadataKeys;
        copy.producedType = producedType;
        return copy;
    }

    @Override
    public String asSummaryString() {
        return "Kinesis (clickflow) " + settings.stream();
    }
}
