package io.clickflow.kinesis;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.apache.flink.api.connector.source.SourceEvent;
import org.apache.flink.api.connector.source.SplitEnumerator;
import org.apache.flink.api.connector.source.SplitEnumeratorContext;
import org.apache.flink.api.connector.source.SplitsAssignment;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Lists the stream's shards (once when bounded, else every discovery interval) and hands each to a
 * reader — a child shard only once all its parents have been read to their end, so that per-key order
 * survives a reshard. Runs on the coordinator thread; ListShards runs on a worker thread.
 */
final class ShardEnumerator implements SplitEnumerator<ShardSplit, EnumeratorState> {
    private static final Logger LOG = LoggerFactory.getLogger(ShardEnumerator.class);

    private final SplitEnumeratorContext<ShardSplit> context;
    private final SourceSettings settings;
    private final long startMillis = System.currentTimeMillis();
    private final Set<String> assigned;
    private final Set<String> finished;
    private final Map<String, ShardSplit> pending = new LinkedHashMap<>();
    private final Map<String, KinesisApi.Shard> known = new LinkedHashMap<>();
    private final Set<Integer> toldNoMoreSplits = new HashSet<>();
    private final boolean restored;
    private boolean listed;
    private long lastAnswer; // when ListShards last answered
    private boolean failing; // the discoveries since have failed
    private KinesisApi api;
    private boolean deregistered; // a job-managed EFO consumer, once

    ShardEnumerator(SplitEnumeratorContext<ShardSplit> context, SourceSettings settings, EnumeratorState state) {
        this.context = context;
        this.settings = settings;
        this.restored = state != null;
        this.assigned = state == null ? new LinkedHashSet<>() : new LinkedHashSet<>(state.assigned());
        this.finished = state == null ? new LinkedHashSet<>() : new LinkedHashSet<>(state.finished());
        if (state != null) {
            state.pending().forEach(split -> pending.put(split.shardId(), split));
        }
    }

    @Override
    public void start() {
        api = KinesisApi.forReading(settings.aws());
        FanOutSettings fanOut = settings.fanOut();
        if (fanOut != null && fanOut.jobManaged()) {
            KinesisApi.loadDeregistration();
            // the readers wait (DescribeStreamConsumer) until the consumer is ACTIVE
            context.callAsync(() -> api.registerConsumer(fanOut.streamArn(), fanOut.consumerName()), (consumer, error) -> {
                if (error != null) {
                    throw new IllegalStateException("could not register stream consumer " + fanOut.consumerName()
                            + " on " + fanOut.streamArn() + " (source.efo.lifecycle = JOB_MANAGED): "
                            + error.getMessage(), error);
                }
                LOG.info("Stream consumer {} of {} is registered ({})", fanOut.consumerName(), settings.stream(),
                        consumer.arn());
            });
        }
        if (settings.bounded()) {
            context.callAsync(() -> api.listShards(settings.stream()), this::onShards);
        } else {
            context.callAsync(() -> api.listShards(settings.stream()), this::onShards, 0,
                    settings.discoveryIntervalMillis());
        }
    }

    private void onShards(List<KinesisApi.Shard> shards, Throwable error) {
        if (error != null) {
            if (!listed) { // nothing to go on: the job cannot start
                throw new IllegalStateException("could not list the shards of Kinesis stream " + settings.stream()
                        + " at " + settings.aws().describe() + ": " + error.getMessage(), error);
            }
            // a later discovery: the shards known are still read; try again at the next interval
            failing = true;
            LOG.warn("Could not list the shards of {} (last answer {} s ago); trying again in {} ms: {}",
                    settings.stream(), (System.currentTimeMillis() - lastAnswer) / 1000,
                    settings.discoveryIntervalMillis(), error.getMessage());
            return;
        }
        long now = System.currentTimeMillis();
        if (failing) {
            LOG.info("Listing the shards of {} again, {} ms after the last answer", settings.stream(), now - lastAnswer);
            failing = false;
        }
        lastAnswer = now;
        boolean initial = !listed && !restored;
        for (KinesisApi.Shard shard : shards) {
            if (known.containsKey(shard.shardId()) && shard.closed()) {
                known.put(shard.shardId(), shard); // closed since it was first listed
            }
            if (known.containsKey(shard.shardId()) || (listed && settings.bounded())) {
                continue;
            }
            known.put(shard.shardId(), shard);
            if (initial && "LATEST".equals(settings.initPosition()) && shard.closed()) {
                finished.add(shard.shardId()); // nothing arrives in a closed shard any more
            }
        }
        listed = true;
        assignReady(initial);
        if (settings.fansOut()) {
            tellClosed();
        }
    }

    /** Tells each reader which of its shards ListShards lists as closed (the EFO reader's fallback). */
    private void tellClosed() {
        Map<Integer, Set<String>> closed = new HashMap<>();
        Map<Integer, ?> readers = context.registeredReaders();
        for (String id : assigned) {
            KinesisApi.Shard shard = known.get(id);
            int owner = owner(id);
            if (shard != null && shard.closed() && readers.containsKey(owner)) {
                closed.computeIfAbsent(owner, k -> new LinkedHashSet<>()).add(id);
            }
        }
        closed.forEach((reader, ids) -> context.sendEventToSourceReader(reader, new ShardClosedEvent(ids)));
    }

    /** Creates splits for shards whose parents are done, then hands out what it can. */
    private void assignReady(boolean initial) {
        for (KinesisApi.Shard shard : known.values()) {
            String id = shard.shardId();
            if (assigned.contains(id) || finished.contains(id) || pending.containsKey(id) || !parentsDone(shard)) {
                continue;
            }
            pending.put(id, newSplit(id, initial));
        }
        Map<Integer, List<ShardSplit>> batch = new HashMap<>();
        Map<Integer, ?> readers = context.registeredReaders();
        for (ShardSplit split : new ArrayList<>(pending.values())) {
            int owner = owner(split.shardId());
            if (readers.containsKey(owner)) {
                batch.computeIfAbsent(owner, k -> new ArrayList<>()).add(split);
                pending.remove(split.shardId());
                assigned.add(split.shardId());
            }
        }
        if (!batch.isEmpty()) {
            LOG.info("Assigning Kinesis shards of {}: {}", settings.stream(), batch);
            context.assignSplits(new SplitsAssignment<>(batch));
        }
        signalNoMoreSplitsIfDone();
    }

    private ShardSplit newSplit(String shardId, boolean initial) {
        switch (settings.initPosition()) {
            case "AT_TIMESTAMP":
                return ShardSplit.atTimestamp(settings.stream(), shardId, settings.initTimestampMillis());
            case "LATEST":
                // Pinned to the job's start, so a restore before the first record cannot skip records.
                return initial ? ShardSplit.atTimestamp(settings.stream(), shardId, startMillis)
                        : ShardSplit.fromStart(settings.stream(), shardId);
            default:
                return ShardSplit.fromStart(settings.stream(), shardId);
        }
    }

    private boolean parentsDone(KinesisApi.Shard shard) {
        return parentDone(shard.parentShardId()) && parentDone(shard.adjacentParentShardId());
    }

    private boolean parentDone(String parent) {
        // A parent no longer listed is past the stream's retention: nothing left to read in it.
        return parent == null || finished.contains(parent) || !known.containsKey(parent);
    }

    private int owner(String shardId) {
        return Math.floorMod(shardId.hashCode(), context.currentParallelism());
    }

    private void signalNoMoreSplitsIfDone() {
        if (!settings.bounded() || !listed || !pending.isEmpty()) {
            return;
        }
        for (String id : known.keySet()) {
            if (!assigned.contains(id) && !finished.contains(id)) {
                return; // still waiting for its parents
            }
        }
        for (Integer reader : context.registeredReaders().keySet()) {
            if (toldNoMoreSplits.add(reader)) {
                context.signalNoMoreSplits(reader);
            }
        }
        if (known.keySet().stream().allMatch(finished::contains)) {
            // every subscription has ended: a job-managed consumer can go now, while the job still runs
            deregister();
        }
    }

    @Override
    public void handleSourceEvent(int subtaskId, SourceEvent event) {
        if (event instanceof ShardFinishedEvent done) {
            finished.addAll(done.shardIds());
            assigned.removeAll(done.shardIds());
            done.shardIds().forEach(pending::remove);
            if (listed) {
                assignReady(false);
            }
        }
    }

    @Override
    public void handleSplitRequest(int subtaskId, String requesterHostname) {
        // Splits are pushed as shards become ready; readers never ask.
    }

    @Override
    public void addSplitsBack(List<ShardSplit> splits, int subtaskId) {
        for (ShardSplit split : splits) {
            assigned.remove(split.shardId());
            if (!split.finished() && !finished.contains(split.shardId())) {
                pending.put(split.shardId(), split);
            }
        }
        toldNoMoreSplits.remove(subtaskId);
    }

    @Override
    public void addReader(int subtaskId) {
        toldNoMoreSplits.remove(subtaskId);
        if (listed) {
            assignReady(false);
        }
    }

    @Override
    public EnumeratorState snapshotState(long checkpointId) {
        return new EnumeratorState(new LinkedHashSet<>(assigned), new LinkedHashSet<>(finished),
                new ArrayList<>(pending.values()));
    }

    /**
     * Closes the Kinesis client; a job-managed EFO consumer is deregistered first, waiting at most
     * {@code source.efo.deregister.timeout} (a job restored later registers it again).
     */
    @Override
    public void close() {
        if (api == null) {
            return;
        }
        deregister();
        api.close();
    }

    private void deregister() {
        FanOutSettings fanOut = settings.fanOut();
        if (fanOut != null && fanOut.jobManaged() && !deregistered) {
            deregistered = true;
            // a client of its own: a pooled connection of the enumerator's may have gone stale since
            CompletableFuture<Void> call = CompletableFuture.runAsync(() -> {
                try (KinesisApi fresh = KinesisApi.forReading(settings.aws())) {
                    fresh.deregisterConsumer(fanOut.streamArn(), fanOut.consumerName());
                } catch (KinesisException e) {
                    throw new CompletionException(e);
                }
            });
            try {
                call.get(fanOut.deregisterTimeoutMillis(), TimeUnit.MILLISECONDS);
                LOG.info("Stream consumer {} of {} is deregistered", fanOut.consumerName(), settings.stream());
            } catch (TimeoutException e) {
                LOG.warn("Stream consumer {} of {} was not deregistered within {} ms; it may remain registered",
                        fanOut.consumerName(), settings.stream(), fanOut.deregisterTimeoutMillis());
            } catch (ExecutionException e) {
                // the next start finds it registered and uses it (RegisterStreamConsumer: ResourceInUseException)
                LOG.warn("Could not deregister stream consumer {} of {}; it remains registered", fanOut.consumerName(),
                        settings.stream(), e.getCause());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }
}
