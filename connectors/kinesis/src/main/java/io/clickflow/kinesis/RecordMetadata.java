package io.clickflow.kinesis;

import org.apache.flink.table.api.DataTypes;
import org.apache.flink.table.data.StringData;
import org.apache.flink.table.data.TimestampData;
import org.apache.flink.table.types.DataType;

/** A record's metadata a table can read with {@code METADATA FROM}, named as in the official connector. */
enum RecordMetadata {
    /** The record's approximate arrival time in the stream. */
    TIMESTAMP("timestamp", DataTypes.TIMESTAMP_WITH_LOCAL_TIME_ZONE(3).notNull()),
    /** The shard the record was read from. */
    SHARD_ID("shard-id", DataTypes.STRING().notNull()),
    /** The record's sequence number in its shard. */
    SEQUENCE_NUMBER("sequence-number", DataTypes.STRING().notNull());

    final String key;
    final DataType type;

    RecordMetadata(String key, DataType type) {
        this.key = key;
        this.type = type;
    }

    static RecordMetadata of(String key) {
        for (RecordMetadata field : values()) {
            if (field.key.equals(key)) {
                return field;
            }
        }
        throw new IllegalArgumentException("no Kinesis metadata named " + key);
    }

    /** The value of this field for a record read from {@code shardId}, in Flink's internal form. */
    Object value(KinesisRecord record, String shardId) {
        switch (this) {
            case TIMESTAMP:
                return TimestampData.fromEpochMillis(record.arrivalMillis());
            case SHARD_ID:
                return StringData.fromString(shardId);
            default:
                return StringData.fromString(record.sequenceNumber());
        }
    }
}
