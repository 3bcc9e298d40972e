package io.clickflow.kinesis;

import java.util.Set;
import org.apache.flink.api.connector.source.SourceEvent;

/**
 * Enumerator to reader: ListShards says these shards (assigned to the reader) are closed. The enhanced
 * fan-out reader uses it when a subscription never says so itself (see FanOutReader).
 */
public record ShardClosedEvent(Set<String> shardIds) implements SourceEvent {}
