package io.clickflow.kinesis;

import java.io.Serializable;
import java.net.URI;

/**
 * Where and as whom the connector calls Kinesis: the endpoint ({@code null}: the SDK's regional
 * endpoint), the region, the credentials' source and the SDK's retry strategy. Serializable: it travels
 * with the job, and the clients are built from it on each task manager ({@link AwsClients}).
 */
public record AwsSettings(URI endpoint, String region, CredentialsSpec credentials, RetrySettings retry)
        implements Serializable {

    /** The SDK's exponential backoff: the official connector's {@code retry-strategy.*} options. */
    public record RetrySettings(long minDelayMillis, long maxDelayMillis, int maxAttempts) implements Serializable {}

    /** How error messages name the endpoint: the override, or the region's AWS endpoint. */
    public String describe() {
        return endpoint != null ? endpoint.toString() : "the AWS endpoint of " + region;
    }
}
