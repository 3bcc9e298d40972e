package io.clickflow.kinesis;

import java.io.Serializable;

/**
 * How the enhanced fan-out reader reaches its stream: the stream's ARN (consumers are registered on it),
 * the consumer's name, whether the job registers and deregisters it ({@code jobManaged}), how long a
 * subscription may stay silent, how long the job's end waits for deregistration, and how
 * DescribeStreamConsumer is retried while the consumer becomes ACTIVE.
 */
public record FanOutSettings(
        String streamArn,
        String consumerName,
        boolean jobManaged,
        long subscriptionTimeoutMillis,
        long deregisterTimeoutMillis,
        int describeAttempts,
        long describeMinDelayMillis,
        long describeMaxDelayMillis) implements Serializable {}
