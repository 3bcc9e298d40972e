package io.clickflow.kinesis;

/** One set of AWS credentials; the session token is null for long-term keys. */
public record AwsCredentials(String accessKeyId, String secretKey, String sessionToken) {
    public AwsCredentials {
        if (accessKeyId == null || accessKeyId.isEmpty() || secretKey == null || secretKey.isEmpty()) {
            throw new IllegalArgumentException("AWS credentials need an access key id and a secret key");
        }
    }

    @Override
    public String toString() {
        return "AwsCredentials[" + accessKeyId + ", secret hidden]";
    }
}
