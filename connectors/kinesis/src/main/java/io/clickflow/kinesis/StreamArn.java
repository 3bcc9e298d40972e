package io.clickflow.kinesis;

import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** The parts of a Kinesis stream ARN: arn:PARTITION:kinesis:REGION:ACCOUNT:stream/NAME. */
record StreamArn(String region, String account, String streamName) {
    private static final Pattern ARN = Pattern.compile(
            "arn:aws[a-z-]*:kinesis:([a-z0-9-]+):(\\d{12}):stream/([a-zA-Z0-9_.-]{1,128})");

    static StreamArn parse(String arn) {
        Matcher match = ARN.matcher(arn);
        if (!match.matches()) {
            throw new IllegalArgumentException("'stream.arn' = '" + arn + "' is not a Kinesis stream ARN "
                    + "(expected arn:aws:kinesis:REGION:ACCOUNT_ID:stream/NAME)");
        }
        return new StreamArn(match.group(1), match.group(2), match.group(3));
    }
}
