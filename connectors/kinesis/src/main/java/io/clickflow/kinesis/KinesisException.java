package io.clickflow.kinesis;

import java.io.IOException;
import java.util.Set;

/** An error answer from the Kinesis API (or no answer at all), with the AWS error code when there is one. */
public final class KinesisException extends IOException {
    private static final Set<String> THROTTLING = Set.of(
            "ProvisionedThroughputExceededException", "LimitExceededException", "ThrottlingException",
            "KMSThrottlingException");
    private static final Set<String> TRANSIENT = Set.of(
            "InternalFailure", "InternalFailureException", "ServiceUnavailable", "ServiceUnavailableException",
            "KMSInternalException", "RequestExpired");
    private static final int NOT_RETRIABLE = -1;

    private final String errorCode;
    private final int status;

    public KinesisException(String errorCode, int status, String message) {
        super(message);
        this.errorCode = errorCode;
        this.status = status;
    }

    public KinesisException(String errorCode, int status, String message, Throwable cause) {
        super(message, cause);
        this.errorCode = errorCode;
        this.status = status;
    }

    /** No answer came (the endpoint refused, timed out, ...): the same call may succeed later. */
    public KinesisException(String message, Throwable cause) {
        this("IOError", 0, message, cause);
    }

    /** An error that retrying cannot fix (no credentials, say). */
    static KinesisException fatal(String errorCode, String message, Throwable cause) {
        return new KinesisException(errorCode, NOT_RETRIABLE, message, cause);
    }

    public String errorCode() {
        return errorCode;
    }

    /** No answer came: the endpoint refused, timed out, or the connection broke. */
    public boolean isUnanswered() {
        return status == 0;
    }

    public boolean isThrottling() {
        return THROTTLING.contains(errorCode);
    }

    public boolean isExpiredIterator() {
        return "ExpiredIteratorException".equals(errorCode);
    }

    /** Throttling, a 5xx or no answer: the same call may succeed later. */
    public boolean isRetriable() {
        return status != NOT_RETRIABLE && (isThrottling() || TRANSIENT.contains(errorCode) || status == 0
                || status >= 500);
    }
}
