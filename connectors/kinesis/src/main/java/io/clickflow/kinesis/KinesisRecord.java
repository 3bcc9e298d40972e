package io.clickflow.kinesis;

/** One record as GetRecords returned it. */
public record KinesisRecord(String sequenceNumber, long arrivalMillis, String partitionKey, byte[] data) {}
