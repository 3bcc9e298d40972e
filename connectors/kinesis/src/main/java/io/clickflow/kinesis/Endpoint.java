package io.clickflow.kinesis;

import java.io.Serializable;
import java.net.URI;

/** Where and as whom to call Kinesis: the endpoint URL, the signing region and the credentials' source. */
public record Endpoint(URI url, String region, CredentialsProvider credentials) implements Serializable {
    /** The regional AWS endpoint when {@code aws.endpoint} is not given. */
    public static URI regional(String region) {
        return URI.create("https://kinesis." + region + ".amazonaws.com" + (region.startsWith("cn-") ? ".cn" : ""));
    }
}
