package io.clickflow.kinesis;

import java.io.Serializable;

/** One record waiting to be written: its payload and partition key. */
public record PutEntry(byte[] data, String partitionKey) implements Serializable {
    /** What Kinesis counts against its limits: the payload plus the UTF-8 partition key. */
    public long sizeInBytes() {
        return data.length + partitionKey.getBytes(java.nio.charset.StandardCharsets.UTF_8).length;
    }
}
