package io.clickflow.kinesis;

import java.io.Serializable;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import org.apache.flink.table.api.ValidationException;
import software.amazon.awssdk.auth.credentials.AwsBasicCredentials;
import software.amazon.awssdk.auth.credentials.AwsCredentialsProvider;
import software.amazon.awssdk.auth.credentials.DefaultCredentialsProvider;
import software.amazon.awssdk.auth.credentials.ProfileCredentialsProvider;
import software.amazon.awssdk.auth.credentials.StaticCredentialsProvider;
import software.amazon.awssdk.profiles.ProfileFile;
import software.amazon.awssdk.services.sts.StsClient;
import software.amazon.awssdk.services.sts.auth.StsAssumeRoleCredentialsProvider;
import software.amazon.awssdk.services.sts.auth.StsWebIdentityTokenFileCredentialsProvider;

/**
 * Where the connector's credentials come from, as the official connector names it under a prefix
 * ({@code aws.credentials}): {@code .provider} = AUTO (the AWS SDK's default chain), BASIC, PROFILE,
 * ASSUME_ROLE or WEB_IDENTITY_TOKEN, and the options each takes. ASSUME_ROLE takes its own base
 * credentials under {@code .role} (e.g. {@code aws.credentials.role.provider}, default AUTO).
 * Serializable: only the option values travel; the SDK provider is built where the job runs.
 */
public final class CredentialsSpec implements Serializable {
    private static final long serialVersionUID = 2L;

    /** The credential kinds this connector supports. */
    public enum Kind { AUTO, BASIC, PROFILE, ASSUME_ROLE, WEB_IDENTITY_TOKEN }

    private static final Map<Kind, List<String>> KEYS = Map.of(
            Kind.AUTO, List.of(),
            Kind.BASIC, List.of(".basic.accesskeyid", ".basic.secretkey"),
            Kind.PROFILE, List.of(".profile.name", ".profile.path"),
            Kind.ASSUME_ROLE, List.of(".role.arn", ".role.sessionName", ".role.externalId", ".role.stsEndpoint"),
            Kind.WEB_IDENTITY_TOKEN, List.of(".role.arn", ".role.sessionName", ".role.stsEndpoint",
                    ".webIdentityToken.file"));

    private final String prefix;
    private final Kind kind;
    private final TreeMap<String, String> values; // the option values under the prefix this kind reads
    private final CredentialsSpec base; // ASSUME_ROLE: the credentials that call STS

    private CredentialsSpec(String prefix, Kind kind, TreeMap<String, String> values, CredentialsSpec base) {
        this.prefix = prefix;
        this.kind = kind;
        this.values = values;
        this.base = base;
    }

    /** Keys clickflow's table factory accepts under {@code aws.credentials.}, for its option check. */
    public static boolean isCredentialsKey(String key) {
        return key.startsWith("aws.credentials.");
    }

    /**
     * Reads the credentials options under {@code prefix} of a table's options; a missing value, an
     * unknown kind or an option the kind does not take is an error naming the option.
     */
    public static CredentialsSpec parse(Map<String, String> options, String prefix, String table) {
        String providerKey = prefix + ".provider";
        String raw = options.getOrDefault(providerKey, "AUTO");
        Kind kind;
        try {
            kind = Kind.valueOf(raw.toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw invalid(table, providerKey, raw, "use AUTO, BASIC, PROFILE, ASSUME_ROLE or WEB_IDENTITY_TOKEN"
                    + (raw.equalsIgnoreCase("CUSTOM") ? " (custom provider classes need the official connector)" : ""));
        }
        TreeMap<String, String> values = new TreeMap<>();
        for (String suffix : KEYS.get(kind)) {
            String value = options.get(prefix + suffix);
            if (value != null) {
                values.put(suffix, value);
            }
        }
        CredentialsSpec base = null;
        if (kind == Kind.BASIC && (blank(values.get(".basic.accesskeyid")) || blank(values.get(".basic.secretkey")))) {
            throw invalid(table, providerKey, raw, "BASIC needs '" + prefix + ".basic.accesskeyid' and '"
                    + prefix + ".basic.secretkey'");
        }
        if (kind == Kind.ASSUME_ROLE) {
            if (blank(values.get(".role.arn"))) {
                throw invalid(table, providerKey, raw, "ASSUME_ROLE needs '" + prefix + ".role.arn'");
            }
            base = parse(options, prefix + ".role", table);
        }
        if (kind == Kind.WEB_IDENTITY_TOKEN) {
            // the SDK's own names for what a pod or a Managed Flink-like runtime provides
            values.putIfAbsent(".role.arn", System.getenv("AWS_ROLE_ARN"));
            values.putIfAbsent(".webIdentityToken.file", System.getenv("AWS_WEB_IDENTITY_TOKEN_FILE"));
            values.values().removeIf(v -> v == null);
            for (String needed : List.of(".role.arn", ".webIdentityToken.file")) {
                if (blank(values.get(needed))) {
                    throw invalid(table, providerKey, raw, "WEB_IDENTITY_TOKEN needs '" + prefix + needed + "' (or "
                            + (needed.equals(".role.arn") ? "AWS_ROLE_ARN" : "AWS_WEB_IDENTITY_TOKEN_FILE")
                            + " in the task managers' environment)");
                }
            }
        }
        return new CredentialsSpec(prefix, kind, values, base);
    }

    /** Every {@code aws.credentials.*} key a table may carry for this spec (for the unknown-option check). */
    public Set<String> keysRead() {
        Set<String> keys = new java.util.HashSet<>();
        keys.add(prefix + ".provider");
        KEYS.get(kind).forEach(suffix -> keys.add(prefix + suffix));
        if (base != null) {
            keys.addAll(base.keysRead());
        }
        return keys;
    }

    public Kind kind() {
        return kind;
    }

    /**
     * The SDK's provider for this spec. ASSUME_ROLE and WEB_IDENTITY_TOKEN build an STS client
     * ({@code sts}: region, endpoint and retries as the Kinesis client's) that the provider owns.
     */
    AwsCredentialsProvider provider(AwsClients.StsFactory sts) {
        switch (kind) {
            case BASIC:
                return StaticCredentialsProvider.create(
                        AwsBasicCredentials.create(values.get(".basic.accesskeyid"), values.get(".basic.secretkey")));
            case PROFILE: {
                ProfileCredentialsProvider.Builder builder = ProfileCredentialsProvider.builder();
                if (values.containsKey(".profile.name")) {
                    builder.profileName(values.get(".profile.name"));
                }
                if (values.containsKey(".profile.path")) {
                    builder.profileFile(ProfileFile.builder().content(Path.of(values.get(".profile.path")))
                            .type(ProfileFile.Type.CREDENTIALS).build());
                }
                return builder.build();
            }
            case ASSUME_ROLE: {
                StsClient client = sts.create(values.get(".role.stsEndpoint"), base.provider(sts));
                return StsAssumeRoleCredentialsProvider.builder()
                        .stsClient(client)
                        .refreshRequest(request -> {
                            request.roleArn(values.get(".role.arn")).roleSessionName(sessionName());
                            if (values.containsKey(".role.externalId")) {
                                request.externalId(values.get(".role.externalId"));
                            }
                        })
                        .asyncCredentialUpdateEnabled(false)
                        .build();
            }
            case WEB_IDENTITY_TOKEN: {
                // STS's AssumeRoleWithWebIdentity is not signed: the token is the credential
                StsClient client = sts.create(values.get(".role.stsEndpoint"), AwsClients.ANONYMOUS);
                return StsWebIdentityTokenFileCredentialsProvider.builder()
                        .stsClient(client)
                        .roleArn(values.get(".role.arn"))
                        .roleSessionName(sessionName())
                        .webIdentityTokenFile(Path.of(values.get(".webIdentityToken.file")))
                        .build();
            }
            default:
                return DefaultCredentialsProvider.builder().build();
        }
    }

    private String sessionName() {
        String name = values.get(".role.sessionName");
        return blank(name) ? "clickflow-" + System.currentTimeMillis() : name;
    }

    /** What an error says was searched: never a secret. */
    public String describe() {
        switch (kind) {
            case AUTO:
                return "aws.credentials.provider = AUTO: the AWS SDK's default chain (system properties "
                        + "aws.accessKeyId/aws.secretAccessKey; environment AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY; "
                        + "web identity AWS_WEB_IDENTITY_TOKEN_FILE + AWS_ROLE_ARN; profile "
                        + System.getenv().getOrDefault("AWS_PROFILE", "default") + " in ~/.aws; the container "
                        + "endpoint AWS_CONTAINER_CREDENTIALS_FULL_URI/RELATIVE_URI; instance metadata)";
            case PROFILE:
                return prefix + ".provider = PROFILE: profile " + values.getOrDefault(".profile.name", "default")
                        + " in " + values.getOrDefault(".profile.path", "~/.aws/credentials");
            case ASSUME_ROLE:
                return prefix + ".provider = ASSUME_ROLE: role " + values.get(".role.arn") + ", assumed with "
                        + base.describe();
            case WEB_IDENTITY_TOKEN:
                return prefix + ".provider = WEB_IDENTITY_TOKEN: role " + values.get(".role.arn") + " with the token in "
                        + values.get(".webIdentityToken.file");
            default:
                return prefix + ".provider = BASIC (keys given as table options)";
        }
    }

    @Override
    public String toString() {
        Map<String, String> shown = new LinkedHashMap<>();
        values.forEach((k, v) -> shown.put(k, k.contains("secret") ? "****" : v));
        return kind + shown.toString();
    }

    private static boolean blank(String value) {
        return value == null || value.isBlank();
    }

    private static ValidationException invalid(String table, String key, String value, String why) {
        return new ValidationException("Kinesis table " + table + ": '" + key + "' = '" + value + "': " + why);
    }
}
