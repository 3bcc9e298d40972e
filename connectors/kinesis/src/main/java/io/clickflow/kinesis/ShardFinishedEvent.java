package io.clickflow.kinesis;

import java.util.Set;
import org.apache.flink.api.connector.source.SourceEvent;

/** Reader to enumerator: these shards were read to their end, so their children may be handed out. */
public record ShardFinishedEvent(Set<String> shardIds) implements SourceEvent {}
