package io.clickflow.kinesis;

import java.net.URI;
import java.time.Duration;
import software.amazon.awssdk.auth.credentials.AnonymousCredentialsProvider;
import software.amazon.awssdk.auth.credentials.AwsCredentialsProvider;
import software.amazon.awssdk.awscore.retry.AwsRetryStrategy;
import software.amazon.awssdk.core.client.config.ClientOverrideConfiguration;
import software.amazon.awssdk.http.Protocol;
import software.amazon.awssdk.http.apache5.Apache5HttpClient;
import software.amazon.awssdk.http.nio.netty.NettyNioAsyncHttpClient;
import software.amazon.awssdk.http.nio.netty.SdkEventLoopGroup;
import software.amazon.awssdk.regions.Region;
import software.amazon.awssdk.retries.api.BackoffStrategy;
import software.amazon.awssdk.retries.api.RetryStrategy;
import software.amazon.awssdk.services.kinesis.KinesisAsyncClient;
import software.amazon.awssdk.services.kinesis.KinesisClient;
import software.amazon.awssdk.services.kinesis.KinesisClientBuilder;
import software.amazon.awssdk.services.sts.StsClient;
import software.amazon.awssdk.services.sts.StsClientBuilder;

/**
 * The one place the connector builds AWS SDK clients: region, endpoint, credentials, retry strategy
 * and HTTP client. A synchronous client (Apache HttpClient 5) serves the polling reader and the
 * enumerator, an asynchronous one (Netty, HTTP/1.1: PutRecords needs no HTTP/2) the sink.
 *
 * <p>Against a local Kinesis (kinesalite) the JVM must run with {@code -Daws.cborEnabled=false}: the
 * SDK's CBOR answers from it cannot be read. clickflow's Python side decides that per environment.
 */
final class AwsClients {
    static final AwsCredentialsProvider ANONYMOUS = AnonymousCredentialsProvider.create();
    private static final Duration CONNECT_TIMEOUT = Duration.ofSeconds(10);
    private static final Duration SOCKET_TIMEOUT = Duration.ofSeconds(30);

    private AwsClients() {}

    /** Builds an STS client at an optional endpoint with the given credentials (for role providers). */
    interface StsFactory {
        StsClient create(String endpoint, AwsCredentialsProvider credentials);
    }

    static KinesisClient sync(AwsSettings settings, AwsCredentialsProvider credentials, int maxConnections) {
        KinesisClientBuilder builder = KinesisClient.builder()
                .httpClientBuilder(Apache5HttpClient.builder()
                        .maxConnections(maxConnections)
                        .connectionTimeout(CONNECT_TIMEOUT)
                        .socketTimeout(SOCKET_TIMEOUT))
                .region(Region.of(settings.region()))
                .credentialsProvider(credentials)
                .overrideConfiguration(overrides(settings));
        if (settings.endpoint() != null) {
            builder.endpointOverride(settings.endpoint());
        }
        return builder.build();
    }

    /**
     * The sink's client, on an event loop group the caller owns: the SDK would close its own group
     * gracefully, waiting Netty's 2 s quiet period at every sink's close; the caller shuts it down
     * without one, once every request is done.
     */
    static KinesisAsyncClient async(AwsSettings settings, AwsCredentialsProvider credentials, int maxConcurrency,
            SdkEventLoopGroup eventLoops) {
        var builder = KinesisAsyncClient.builder()
                .httpClientBuilder(NettyNioAsyncHttpClient.builder()
                        .eventLoopGroup(eventLoops)
                        .protocol(Protocol.HTTP1_1)
                        .maxConcurrency(maxConcurrency)
                        .connectionTimeout(CONNECT_TIMEOUT)
                        .readTimeout(SOCKET_TIMEOUT)
                        .writeTimeout(SOCKET_TIMEOUT))
                .region(Region.of(settings.region()))
                .credentialsProvider(credentials)
                .overrideConfiguration(overrides(settings));
        if (settings.endpoint() != null) {
            builder.endpointOverride(settings.endpoint());
        }
        return builder.build();
    }

    /**
     * The enhanced fan-out reader's client: SubscribeToShard needs HTTP/2 (on AWS over TLS; against a local
     * emulator over plain http, with prior knowledge), one stream per subscribed shard on few connections.
     * No read timeout of Netty's: a quiet subscription is the reader's to judge (source.efo.subscription.timeout).
     * No retries of the SDK's either: a retried SubscribeToShard can open a subscription after its handler was
     * told of the failed attempt, one nobody reads, which holds the shard (ResourceInUseException) until it
     * ends. The reader subscribes again itself, with its own backoff.
     */
    static KinesisAsyncClient fanOut(AwsSettings settings, AwsCredentialsProvider credentials,
            SdkEventLoopGroup eventLoops) {
        AwsSettings.RetrySettings retry = settings.retry();
        settings = new AwsSettings(settings.endpoint(), settings.region(), settings.credentials(),
                new AwsSettings.RetrySettings(retry.minDelayMillis(), retry.maxDelayMillis(), 1));
        var builder = KinesisAsyncClient.builder()
                .httpClientBuilder(NettyNioAsyncHttpClient.builder()
                        .eventLoopGroup(eventLoops)
                        .protocol(Protocol.HTTP2)
                        .maxConcurrency(Integer.MAX_VALUE)
                        .connectionTimeout(CONNECT_TIMEOUT)
                        .readTimeout(Duration.ZERO)
                        .writeTimeout(SOCKET_TIMEOUT))
                .region(Region.of(settings.region()))
                .credentialsProvider(credentials)
                .overrideConfiguration(overrides(settings));
        if (settings.endpoint() != null) {
            builder.endpointOverride(settings.endpoint());
        }
        return builder.build();
    }

    /** The credentials provider of {@code settings}; role providers get an STS client like Kinesis's. */
    static AwsCredentialsProvider credentials(AwsSettings settings) {
        return settings.credentials().provider((endpoint, base) -> {
            StsClientBuilder builder = StsClient.builder()
                    .httpClientBuilder(Apache5HttpClient.builder()
                            .connectionTimeout(CONNECT_TIMEOUT)
                            .socketTimeout(SOCKET_TIMEOUT))
                    .region(Region.of(settings.region()))
                    .credentialsProvider(base)
                    .overrideConfiguration(overrides(settings));
            if (endpoint != null && !endpoint.isBlank()) {
                builder.endpointOverride(URI.create(endpoint));
            }
            return builder.build();
        });
    }

    private static ClientOverrideConfiguration overrides(AwsSettings settings) {
        return ClientOverrideConfiguration.builder().retryStrategy(retryStrategy(settings.retry())).build();
    }

    /** The SDK's standard strategy, with the delays and attempts of the {@code retry-strategy.*} options. */
    static RetryStrategy retryStrategy(AwsSettings.RetrySettings retry) {
        BackoffStrategy backoff = BackoffStrategy.exponentialDelay(
                Duration.ofMillis(retry.minDelayMillis()), Duration.ofMillis(retry.maxDelayMillis()));
        return AwsRetryStrategy.standardRetryStrategy().toBuilder()
                .maxAttempts(retry.maxAttempts())
                .backoffStrategy(backoff)
                .throttlingBackoffStrategy(backoff)
                // no token bucket: a shard reader that is throttled for a while must keep its retries
                .circuitBreakerEnabled(false)
                .build();
    }
}
