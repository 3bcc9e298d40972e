package io.clickflow.kinesis;

import java.util.List;
import java.util.Map;
import org.apache.flink.api.common.serialization.SerializationSchema;
import org.apache.flink.table.api.ValidationException;
import org.apache.flink.table.connector.ChangelogMode;
import org.apache.flink.table.connector.format.EncodingFormat;
import org.apache.flink.table.connector.sink.DynamicTableSink;
import org.apache.flink.table.connector.sink.SinkV2Provider;
import org.apache.flink.table.connector.sink.abilities.SupportsPartitioning;
import org.apache.flink.table.data.RowData;
import org.apache.flink.table.types.DataType;
import org.apache.flink.table.types.logical.RowType;

/** The table's write side: rows encoded by the format, keyed by the PARTITIONED BY columns. */
final class KinesisTableSink implements DynamicTableSink, SupportsPartitioning {
    private final EncodingFormat<SerializationSchema<RowData>> format;
    private final DataType physicalType;
    private final List<String> partitionKeys;
    private final String delimiter;
    private final boolean fixed;
    private final SinkSettings settings;

    KinesisTableSink(EncodingFormat<SerializationSchema<RowData>> format, DataType physicalType,
            List<String> partitionKeys, String delimiter, boolean fixed, SinkSettings settings) {
        this.format = format;
        this.physicalType = physicalType;
        this.partitionKeys = partitionKeys;
        this.delimiter = delimiter;
        this.fixed = fixed;
        this.settings = settings;
    }

    @Override
    public ChangelogMode getChangelogMode(ChangelogMode requested) {
        return ChangelogMode.insertOnly();
    }

    @Override
    public SinkRuntimeProvider getSinkRuntimeProvider(Context context) {
        RowType rowType = (RowType) physicalType.getLogicalType();
        RowData.FieldGetter[] keyFields = new RowData.FieldGetter[partitionKeys.size()];
        for (int i = 0; i < keyFields.length; i++) {
            int index = rowType.getFieldIndex(partitionKeys.get(i));
            keyFields[i] = RowData.createFieldGetter(rowType.getTypeAt(index), index);
        }
        SerializationSchema<RowData> encoder = format.createRuntimeEncoder(context, physicalType);
        return SinkV2Provider.of(new KinesisSink(settings, new RowConverter(encoder, keyFields, delimiter, fixed)));
    }

    @Override
    public void applyStaticPartition(Map<String, String> partition) {
        if (!partition.isEmpty()) {
            throw new ValidationException("Kinesis table " + settings.stream() + ": INSERT ... PARTITION (...) is "
                    + "not supported; the PARTITIONED BY columns only choose each record's partition key");
        }
    }

    @Override
    public DynamicTableSink copy() {
        return new KinesisTableSink(format, physicalType, partitionKeys, delimiter, fixed, settings);
    }

    @Override
    public String asSummaryString() {
        return "Kinesis (clickflow) " + settings.stream();
    }
}
