package io.clickflow.udf;

/**
 * The time-to-live the process table functions give their state: none.
 *
 * <p>Flink 2.2 gives a PTF's state without a {@code ttl} in its {@code @StateHint} the job's {@code
 * table.exec.state.ttl}, and when that is unset (0: keep state forever) it does not leave TTL off but sets
 * a TTL of {@code Long.MAX_VALUE} ms: every state access then goes through Flink's TTL wrappers, whose
 * incremental cleanup copies each value it touches with the value's serializer — for a forest, the whole
 * forest on every row. A {@code ttl} of "0" turns TTL off. The functions' state is theirs to bound: a
 * forest holds at most its sample of points, HOTSPOTS its window, STAGGER_WINDOW its open windows, and
 * a job-wide TTL expiring a forest would reset what it learned without a word.
 */
final class StateTtl {
    static final String NONE = "0";

    private StateTtl() {}
}
