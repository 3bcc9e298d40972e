package io.clickflow.kinesis;

import java.util.UUID;
import org.apache.flink.api.common.serialization.SerializationSchema;
import org.apache.flink.api.connector.sink2.SinkWriter;
import org.apache.flink.api.connector.sink2.WriterInitContext;
import org.apache.flink.connector.base.sink.writer.ElementConverter;
import org.apache.flink.table.data.RowData;

/**
 * Turns a row into a PutRecords entry: the payload from the table's format, the partition key from the
 * {@code PARTITIONED BY} columns joined by the delimiter (a null value is written "null"), or — for an
 * unpartitioned table — a random key ({@code sink.partitioner = random}) or the subtask's index
 * ({@code fixed}).
 */
final class RowConverter implements ElementConverter<RowData, PutEntry> {
    private static final long serialVersionUID = 1L;
    static final int MAX_KEY_LENGTH = 256;

    private final SerializationSchema<RowData> format;
    private final RowData.FieldGetter[] keyFields;
    private final String delimiter;
    private final boolean fixed;
    private transient boolean opened;
    private transient String subtaskKey;

    RowConverter(SerializationSchema<RowData> format, RowData.FieldGetter[] keyFields, String delimiter,
            boolean fixed) {
        this.format = format;
        this.keyFields = keyFields;
        this.delimiter = delimiter;
        this.fixed = fixed;
    }

    @Override
    public void open(WriterInitContext context) {
        if (opened) {
            return;
        }
        try {
            format.open(context.asSerializationSchemaInitializationContext());
        } catch (Exception e) {
            throw new IllegalStateException("could not open the sink's format: " + e.getMessage(), e);
        }
        subtaskKey = Integer.toString(context.getTaskInfo().getIndexOfThisSubtask());
        opened = true;
    }

    @Override
    public PutEntry apply(RowData row, SinkWriter.Context context) {
        return new PutEntry(format.serialize(row), partitionKey(row));
    }

    String partitionKey(RowData row) {
        if (keyFields.length == 0) {
            return fixed ? subtaskKey : UUID.randomUUID().toString();
        }
        StringBuilder key = new StringBuilder();
        for (int i = 0; i < keyFields.length; i++) {
            if (i > 0) {
                key.append(delimiter);
            }
            key.append(keyFields[i].getFieldOrNull(row));
        }
        // Kinesis takes 1..256 characters; a longer key is cut (it only picks the shard).
        if (key.length() == 0) {
            return "null";
        }
        return key.length() > MAX_KEY_LENGTH ? key.substring(0, MAX_KEY_LENGTH) : key.toString();
    }
}
