package io.clickflow.kinesis;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.time.ZonedDateTime;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ThreadLocalRandom;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.JsonNode;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.ObjectMapper;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.node.ArrayNode;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.node.ObjectNode;

/**
 * The few Kinesis calls the connector makes, over the JSON protocol (HTTP/1.1 keep-alive, SigV4).
 * Control-plane calls (ListShards, GetShardIterator) retry transient errors themselves; GetRecords and
 * PutRecords do not — the reader and the sink decide, because they know what to retry.
 */
public final class KinesisApi {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final int CONTROL_ATTEMPTS = 8;
    private static final long CREDENTIALS_TTL_NANOS = 300_000_000_000L;

    /** A shard as ListShards describes it. */
    public record Shard(String shardId, String parentShardId, String adjacentParentShardId, boolean closed) {}

    public record RecordsPage(List<KinesisRecord> records, String nextShardIterator, long millisBehindLatest) {}

    /** Per entry: null when written, else the error code and message Kinesis gave. */
    public record PutResult(int failedRecordCount, List<String> errorCodes, List<String> errorMessages) {}

    private final Endpoint endpoint;
    private final HttpClient http;
    private final String host;
    private final SigV4 signer;
    private AwsCredentials credentials;
    private long credentialsResolvedAt;

    public KinesisApi(Endpoint endpoint) {
        this.endpoint = endpoint;
        this.http = HttpClient.newBuilder()
                .version(HttpClient.Version.HTTP_1_1)
                .connectTimeout(Duration.ofSeconds(10))
                .build();
        URI url = endpoint.url();
        int defaultPort = "https".equalsIgnoreCase(url.getScheme()) ? 443 : 80;
        this.host = url.getHost() + (url.getPort() == -1 || url.getPort() == defaultPort ? "" : ":" + url.getPort());
        this.signer = new SigV4(endpoint.region(), "kinesis");
    }

    public List<Shard> listShards(String stream) throws IOException {
        List<Shard> shards = new ArrayList<>();
        String token = null;
        do {
            ObjectNode body = JSON.createObjectNode();
            if (token == null) {
                body.put("StreamName", stream);
            } else {
                body.put("NextToken", token);
            }
            JsonNode page = control("ListShards", body);
            for (JsonNode shard : page.path("Shards")) {
                shards.add(new Shard(
                        shard.path("ShardId").asText(),
                        textOrNull(shard.get("ParentShardId")),
                        textOrNull(shard.get("AdjacentParentShardId")),
                        shard.path("SequenceNumberRange").hasNonNull("EndingSequenceNumber")));
            }
            token = textOrNull(page.get("NextToken"));
        } while (token != null);
        return shards;
    }

    /** type is TRIM_HORIZON, LATEST, AT_TIMESTAMP (timestampMillis) or AFTER/AT_SEQUENCE_NUMBER (sequence). */
    public String shardIterator(String stream, String shardId, String type, String sequence, Long timestampMillis)
            throws IOException {
        ObjectNode body = JSON.createObjectNode();
        body.put("StreamName", stream);
        body.put("ShardId", shardId);
        body.put("ShardIteratorType", type);
        if (sequence != null) {
            body.put("StartingSequenceNumber", sequence);
        }
        if (timestampMillis != null) {
            body.put("Timestamp", timestampMillis / 1000.0);
        }
        return control("GetShardIterator", body).path("ShardIterator").asText();
    }

    public RecordsPage getRecords(String iterator, int limit) throws KinesisException {
        ObjectNode body = JSON.createObjectNode();
        body.put("ShardIterator", iterator);
        body.put("Limit", limit);
        JsonNode page = call("GetRecords", body);
        List<KinesisRecord> records = new ArrayList<>();
        Base64.Decoder base64 = Base64.getDecoder();
        for (JsonNode record : page.path("Records")) {
            records.add(new KinesisRecord(
                    record.path("SequenceNumber").asText(),
                    Math.round(record.path("ApproximateArrivalTimestamp").asDouble() * 1000.0),
                    record.path("PartitionKey").asText(),
                    base64.decode(record.path("Data").asText())));
        }
        return new RecordsPage(records, textOrNull(page.get("NextShardIterator")),
                page.path("MillisBehindLatest").asLong(0));
    }

    /** One PutRecords request; completes exceptionally with a KinesisException when the call itself fails. */
    public CompletableFuture<PutResult> putRecords(String stream, List<PutEntry> entries) {
        ObjectNode body = JSON.createObjectNode();
        body.put("StreamName", stream);
        ArrayNode records = body.putArray("Records");
        for (PutEntry entry : entries) {
            records.addObject().put("Data", entry.data()).put("PartitionKey", entry.partitionKey());
        }
        HttpRequest request;
        try {
            request = request("PutRecords", JSON.writeValueAsBytes(body));
        } catch (IOException e) {
            return CompletableFuture.failedFuture(e);
        }
        return http.sendAsync(request, HttpResponse.BodyHandlers.ofByteArray())
                .handle((response, error) -> {
                    if (error != null) {
                        throw new java.util.concurrent.CompletionException(
                                new KinesisException("PutRecords to " + endpoint.url() + " failed: " + error, error));
                    }
                    try {
                        JsonNode answer = answer("PutRecords", response);
                        List<String> codes = new ArrayList<>(entries.size());
                        List<String> messages = new ArrayList<>(entries.size());
                        for (JsonNode result : answer.path("Records")) {
                            codes.add(textOrNull(result.get("ErrorCode")));
                            messages.add(textOrNull(result.get("ErrorMessage")));
                        }
                        if (codes.size() != entries.size()) {
                            throw new KinesisException("BadResponse", response.statusCode(), "PutRecords answered "
                                    + codes.size() + " results for " + entries.size() + " records");
                        }
                        return new PutResult(answer.path("FailedRecordCount").asInt(0), codes, messages);
                    } catch (KinesisException e) {
                        throw new java.util.concurrent.CompletionException(e);
                    }
                });
    }

    private JsonNode control(String action, ObjectNode body) throws IOException {
        for (int attempt = 1; ; attempt++) {
            try {
                return call(action, body);
            } catch (KinesisException e) {
                if (!e.isRetriable() || attempt >= CONTROL_ATTEMPTS) {
                    throw e;
                }
                sleep(backoffMillis(attempt, 100, 5_000));
            }
        }
    }

    private JsonNode call(String action, ObjectNode body) throws KinesisException {
        HttpResponse<byte[]> response;
        try {
            response = http.send(request(action, JSON.writeValueAsBytes(body)), HttpResponse.BodyHandlers.ofByteArray());
        } catch (IOException e) {
            throw new KinesisException(action + " to " + endpoint.url() + " failed: " + e, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new KinesisException(action + " interrupted", e);
        }
        return answer(action, response);
    }

    private HttpRequest request(String action, byte[] body) {
        String target = "Kinesis_20131202." + action;
        Map<String, String> headers = signer.headers(host, target, body, credentials(), ZonedDateTime.now());
        HttpRequest.Builder builder = HttpRequest.newBuilder(endpoint.url().resolve("/"))
                .timeout(Duration.ofSeconds(30))
                .POST(HttpRequest.BodyPublishers.ofByteArray(body));
        headers.forEach((name, value) -> {
            if (!name.equals("host")) {
                builder.header(name, value);
            }
        });
        return builder.build();
    }

    /**
     * The credentials, resolved at most every five minutes rather than per request: the AUTO chain
     * reads the environment and may read ~/.aws/credentials, which is no work for the hot path.
     */
    private synchronized AwsCredentials credentials() {
        long now = System.nanoTime();
        if (credentials == null || now - credentialsResolvedAt > CREDENTIALS_TTL_NANOS) {
            credentials = endpoint.credentials().resolve();
            credentialsResolvedAt = now;
        }
        return credentials;
    }

    private static JsonNode answer(String action, HttpResponse<byte[]> response) throws KinesisException {
        JsonNode body;
        try {
            byte[] bytes = response.body();
            body = bytes.length == 0 ? JSON.createObjectNode() : JSON.readTree(bytes);
        } catch (IOException e) {
            throw new KinesisException("BadResponse", response.statusCode(),
                    action + " answered HTTP " + response.statusCode() + " with a body that is not JSON");
        }
        if (response.statusCode() / 100 == 2) {
            return body;
        }
        String type = body.path("__type").asText("HTTP" + response.statusCode());
        type = type.substring(type.indexOf('#') + 1);
        String message = body.has("message") ? body.path("message").asText() : body.path("Message").asText("");
        throw new KinesisException(type, response.statusCode(), action + ": " + type + ": " + message);
    }

    private static String textOrNull(JsonNode node) {
        return node == null || node.isNull() ? null : node.asText();
    }

    /** Exponential backoff with full jitter in [delay/2, delay]. */
    public static long backoffMillis(int attempt, long baseMillis, long maxMillis) {
        long delay = Math.min(maxMillis, baseMillis << Math.min(attempt - 1, 20));
        return delay / 2 + ThreadLocalRandom.current().nextLong(delay / 2 + 1);
    }

    private static void sleep(long millis) throws KinesisException {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new KinesisException("interrupted while backing off", e);
        }
    }
}
