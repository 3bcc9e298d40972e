package io.clickflow.kinesis;

import java.io.Serializable;
import java.util.ArrayDeque;
import org.apache.flink.api.common.eventtime.Watermark;
import org.apache.flink.api.common.eventtime.WatermarkGenerator;
import org.apache.flink.api.common.eventtime.WatermarkGeneratorSupplier;
import org.apache.flink.api.common.eventtime.WatermarkOutput;
import org.apache.flink.api.common.eventtime.WatermarkStrategy;

/**
 * A shard is idle when it has nothing to read, not when time has passed without a record.
 *
 * <p>Flink's idleness ({@code table.exec.source.idle-timeout}) marks a split idle after a stretch of
 * processing time without records. When the source's task stalls — a sink chained into it blocked on S3,
 * a long checkpoint, a busy machine — every shard looks idle once the task runs again; the first shard to
 * emit then sets the watermark alone, and the records of the others that were waiting are late and
 * dropped. Here each shard's watermark generator is told by the reader whether its shard is caught up
 * (a GetRecords answer with no records and nothing behind the tip), and only then is the shard idle; the
 * time-based idleness of the table's strategy is ignored. A caught-up answer holds only until the shard
 * should have been asked again (its poll interval and 2 s): when the task stalled after it, that shard's
 * new records wait unread in the stream while another shard's page, read first, moves the watermark on.
 * Measured in a CI run: a 25 s stall (S3 refusing the archive) and then a page of one shard closed a window
 * before another shard's 886 waiting events were read — all late. So a stale caught-up answer makes the
 * shard hold the watermark again, at its last records', until it answers.
 *
 * <p>Flink creates a shard's generator without saying which shard it is for, so the two are paired by
 * order ({@link Pairing}): on the task's thread Flink creates the main output's generator first, then
 * one per split in the order it hands the splits to the reader — before or after the reader's {@code
 * addSplits}, depending on whether the main output existed yet. A generator left unpaired keeps the
 * table's own idleness.
 */
final class ShardIdleness<T> implements WatermarkStrategy<T> {
    private static final long serialVersionUID = 1L;

    /** Per task thread: the shards handed to the reader and the generators created, paired in order. */
    static final ThreadLocal<Pairing> PAIRING = ThreadLocal.withInitial(Pairing::new);

    /** Pairs the i-th split handed to the reader with the i-th split generator created on this thread. */
    static final class Pairing {
        private final ArrayDeque<Generator<?>> generators = new ArrayDeque<>();
        private final ArrayDeque<Switch> shards = new ArrayDeque<>();

        void shard(Switch shard) {
            shards.add(shard);
            pair();
        }

        void generator(Generator<?> generator) {
            generators.add(generator);
            pair();
        }

        private void pair() {
            while (!generators.isEmpty() && !shards.isEmpty()) {
                generators.poll().shard = shards.poll();
            }
        }
    }

    /**
     * Until when one shard is known to be caught up (MIN_VALUE: it is not); set by the reader's emitter from
     * the shard's last answer, read by the shard's generator, both on the task's thread.
     */
    static final class Switch implements Serializable {
        private static final long serialVersionUID = 1L;
        long idleUntil = Long.MIN_VALUE;

        boolean idleAt(long nowMillis) {
            return nowMillis <= idleUntil;
        }
    }

    private final WatermarkStrategy<T> table;
    private transient boolean mainCreated; // per task: the strategy is deserialized with each task

    ShardIdleness(WatermarkStrategy<T> table) {
        this.table = table;
    }

    @Override
    public WatermarkGenerator<T> createWatermarkGenerator(WatermarkGeneratorSupplier.Context context) {
        WatermarkGenerator<T> inner = table.createWatermarkGenerator(context);
        if (!mainCreated) { // the reader's main output
            mainCreated = true;
            return new MainOutput<>();
        }
        Generator<T> generator = new Generator<>(inner);
        PAIRING.get().generator(generator);
        return generator;
    }

    @Override
    public org.apache.flink.api.common.eventtime.TimestampAssigner<T> createTimestampAssigner(
            org.apache.flink.api.common.eventtime.TimestampAssignerSupplier.Context context) {
        return table.createTimestampAssigner(context);
    }

    private static final class Generator<T> implements WatermarkGenerator<T> {
        private final WatermarkGenerator<T> inner;
        private final NoIdleness noIdleness = new NoIdleness();
        private Switch shard; // null until paired: the table's own idleness applies
        private boolean markedIdle;

        Generator(WatermarkGenerator<T> inner) {
            this.inner = inner;
        }

        @Override
        public void onEvent(T event, long timestamp, WatermarkOutput output) {
            if (shard == null) {
                inner.onEvent(event, timestamp, output);
                return;
            }
            noIdleness.to = output;
            inner.onEvent(event, timestamp, noIdleness);
            if (markedIdle) { // active again from this record: say so now, not at the next periodic emit
                markedIdle = false;
                output.markActive();
                inner.onPeriodicEmit(noIdleness);
            }
        }

        @Override
        public void onPeriodicEmit(WatermarkOutput output) {
            if (shard == null) {
                inner.onPeriodicEmit(output);
                return;
            }
            noIdleness.to = output;
            inner.onPeriodicEmit(noIdleness); // the shard's last records still count before it goes idle
            if (shard.idleAt(System.currentTimeMillis())) {
                markedIdle = true;
                output.markIdle();
            } else if (markedIdle) { // its caught-up answer is too old to go by: it holds the watermark again
                markedIdle = false;
                output.markActive();
            }
        }
    }

    /**
     * The reader's main output carries no records (each goes through its shard's output), so it is always
     * idle and only the shards decide: a reader whose shards are all caught up, or which has none, does
     * not hold the watermark back. (Flink marks a reader's subtask idle when its main output and all its
     * shards' outputs are.)
     */
    private static final class MainOutput<T> implements WatermarkGenerator<T> {
        @Override
        public void onEvent(T event, long timestamp, WatermarkOutput output) {}

        @Override
        public void onPeriodicEmit(WatermarkOutput output) {
            output.markIdle();
        }
    }

    /** Passes watermarks on and drops the table strategy's own (time-based) idleness. */
    private static final class NoIdleness implements WatermarkOutput {
        WatermarkOutput to;

        @Override
        public void emitWatermark(Watermark watermark) {
            to.emitWatermark(watermark);
        }

        @Override
        public void markIdle() {}

        @Override
        public void markActive() {
            to.markActive();
        }
    }
}
