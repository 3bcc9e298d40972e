package io.clickflow.kinesis;

import java.io.IOException;
import java.io.Serializable;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Where the connector takes its AWS credentials from: {@code AUTO} (a subset of the AWS default chain:
 * environment variables, JVM system properties, the shared credentials file) or {@code BASIC} (keys
 * given as table options, as the official connector allows). Serializable: it travels with the job
 * and resolves on the task manager.
 */
public final class CredentialsProvider implements Serializable {
    private static final long serialVersionUID = 1L;

    private final String kind;
    private final String accessKeyId;
    private final String secretKey;

    private CredentialsProvider(String kind, String accessKeyId, String secretKey) {
        this.kind = kind;
        this.accessKeyId = accessKeyId;
        this.secretKey = secretKey;
    }

    public static CredentialsProvider auto() {
        return new CredentialsProvider("AUTO", null, null);
    }

    public static CredentialsProvider basic(String accessKeyId, String secretKey) {
        return new CredentialsProvider("BASIC", accessKeyId, secretKey);
    }

    public AwsCredentials resolve() {
        if ("BASIC".equals(kind)) {
            return new AwsCredentials(accessKeyId, secretKey, null);
        }
        List<String> tried = new ArrayList<>();
        AwsCredentials found = fromPair(System.getenv("AWS_ACCESS_KEY_ID"), System.getenv("AWS_SECRET_ACCESS_KEY"),
                System.getenv("AWS_SESSION_TOKEN"));
        tried.add("environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)");
        if (found == null) {
            found = fromPair(System.getProperty("aws.accessKeyId"), System.getProperty("aws.secretAccessKey"),
                    System.getProperty("aws.sessionToken"));
            tried.add("system properties (aws.accessKeyId, aws.secretAccessKey)");
        }
        if (found == null) {
            String file = System.getenv("AWS_SHARED_CREDENTIALS_FILE");
            Path path = file != null ? Path.of(file) : Path.of(System.getProperty("user.home"), ".aws", "credentials");
            String profile = System.getenv().getOrDefault("AWS_PROFILE", "default");
            found = fromProfile(path, profile);
            tried.add("profile '" + profile + "' in " + path);
        }
        if (found == null) {
            throw new IllegalStateException("no AWS credentials found for the Kinesis connector (aws.credentials.provider"
                    + " = AUTO); looked in: " + String.join("; ", tried));
        }
        return found;
    }

    private static AwsCredentials fromPair(String id, String secret, String token) {
        if (id == null || id.isEmpty() || secret == null || secret.isEmpty()) {
            return null;
        }
        return new AwsCredentials(id, secret, token == null || token.isEmpty() ? null : token);
    }

    /** Static keys of one profile of an INI-style credentials file; null when absent. */
    static AwsCredentials fromProfile(Path path, String profile) {
        if (!Files.isRegularFile(path)) {
            return null;
        }
        Map<String, String> values = new HashMap<>();
        String section = null;
        try {
            for (String raw : Files.readAllLines(path, StandardCharsets.UTF_8)) {
                String line = raw.strip();
                if (line.isEmpty() || line.startsWith("#") || line.startsWith(";")) {
                    continue;
                }
                if (line.startsWith("[") && line.endsWith("]")) {
                    section = line.substring(1, line.length() - 1).strip();
                } else if (profile.equals(section) && line.contains("=")) {
                    int eq = line.indexOf('=');
                    values.put(line.substring(0, eq).strip().toLowerCase(), line.substring(eq + 1).strip());
                }
            }
        } catch (IOException e) {
            return null;
        }
        return fromPair(values.get("aws_access_key_id"), values.get("aws_secret_access_key"),
                values.get("aws_session_token"));
    }

    @Override
    public String toString() {
        return kind;
    }
}
