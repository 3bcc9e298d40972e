package io.clickflow.kinesis;

import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.time.ZoneOffset;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.util.Map;
import java.util.TreeMap;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

/**
 * AWS Signature Version 4 for a POST of a JSON-protocol call to "/", which is all the Kinesis API
 * needs. JDK only. The day's signing key is cached per secret and day.
 */
public final class SigV4 {
    private static final DateTimeFormatter AMZ_DATE = DateTimeFormatter.ofPattern("yyyyMMdd'T'HHmmss'Z'");

    private final String region;
    private final String service;
    private String cachedFor;
    private byte[] cachedKey;

    public SigV4(String region, String service) {
        this.region = region;
        this.service = service;
    }

    /** Returns the headers to send, "authorization" included. */
    public Map<String, String> headers(
            String host, String target, byte[] body, AwsCredentials credentials, ZonedDateTime now) {
        String amzDate = now.withZoneSameInstant(ZoneOffset.UTC).format(AMZ_DATE);
        String day = amzDate.substring(0, 8);
        TreeMap<String, String> headers = new TreeMap<>();
        headers.put("content-type", "application/x-amz-json-1.1");
        headers.put("host", host);
        headers.put("x-amz-date", amzDate);
        headers.put("x-amz-target", target);
        if (credentials.sessionToken() != null) {
            headers.put("x-amz-security-token", credentials.sessionToken());
        }
        StringBuilder canonical = new StringBuilder("POST\n/\n\n");
        for (Map.Entry<String, String> header : headers.entrySet()) {
            canonical.append(header.getKey()).append(':').append(header.getValue()).append('\n');
        }
        String signed = String.join(";", headers.keySet());
        canonical.append('\n').append(signed).append('\n').append(hex(sha256(body)));
        String scope = day + "/" + region + "/" + service + "/aws4_request";
        String toSign = "AWS4-HMAC-SHA256\n" + amzDate + "\n" + scope + "\n"
                + hex(sha256(canonical.toString().getBytes(StandardCharsets.UTF_8)));
        String signature = hex(hmac(signingKey(credentials.secretKey(), day), toSign));
        headers.put("authorization", "AWS4-HMAC-SHA256 Credential=" + credentials.accessKeyId() + "/" + scope
                + ", SignedHeaders=" + signed + ", Signature=" + signature);
        return headers;
    }

    private synchronized byte[] signingKey(String secret, String day) {
        String cacheKey = secret + "\0" + day;
        if (!cacheKey.equals(cachedFor)) {
            byte[] key = ("AWS4" + secret).getBytes(StandardCharsets.UTF_8);
            for (String part : new String[] {day, region, service, "aws4_request"}) {
                key = hmac(key, part);
            }
            cachedFor = cacheKey;
            cachedKey = key;
        }
        return cachedKey;
    }

    private static byte[] sha256(byte[] data) {
        try {
            return MessageDigest.getInstance("SHA-256").digest(data);
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("SHA-256 is missing from this JDK", e);
        }
    }

    private static byte[] hmac(byte[] key, String data) {
        try {
            Mac mac = Mac.getInstance("HmacSHA256");
            mac.init(new SecretKeySpec(key, "HmacSHA256"));
            return mac.doFinal(data.getBytes(StandardCharsets.UTF_8));
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("HmacSHA256 is missing from this JDK", e);
        }
    }

    private static String hex(byte[] bytes) {
        StringBuilder out = new StringBuilder(bytes.length * 2);
        for (byte b : bytes) {
            out.append(Character.forDigit((b >> 4) & 0xf, 16)).append(Character.forDigit(b & 0xf, 16));
        }
        return out.toString();
    }

    /**
     * Prints the authorization header for one request, so the tests can compare it with botocore's:
     * {@code java -cp JAR io.clickflow.kinesis.SigV4 REGION HOST TARGET BODY KEY SECRET [TOKEN] EPOCH_SECONDS}.
     */
    public static void main(String[] args) {
        if (args.length != 7 && args.length != 8) {
            System.err.println("usage: SigV4 REGION HOST TARGET BODY KEY SECRET [TOKEN] EPOCH_SECONDS");
            System.exit(2);
        }
        String token = args.length == 8 ? args[6] : null;
        long epoch = Long.parseLong(args[args.length - 1]);
        ZonedDateTime now = ZonedDateTime.ofInstant(java.time.Instant.ofEpochSecond(epoch), ZoneOffset.UTC);
        Map<String, String> headers = new SigV4(args[0], "kinesis").headers(
                args[1], args[2], args[3].getBytes(StandardCharsets.UTF_8),
                new AwsCredentials(args[4], args[5], token), now);
        System.out.println(headers.get("authorization"));
    }
}
