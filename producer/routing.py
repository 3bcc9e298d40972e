"""Which lane sends a record: all keys of one shard through one lane.

Kinesis puts a record in the shard whose hash-key range holds the MD5 of its partition key. If each
shard is fed by a single lane, and each lane sends its batches one after another, every shard
receives its records in file order — not only per key. A streaming job's per-shard watermarks then
see no disorder, so a fast replay does not make events late. Without a shard map (a stream that
cannot be listed, or a test double), keys are spread by their own hash: per-key order only.
"""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Callable, Sequence


def hash_key(partition_key: str) -> int:
    """A partition key's 128-bit hash key, as Kinesis computes it to choose a shard (MD5)."""
    return int.from_bytes(hashlib.md5(partition_key.encode("utf-8"), usedforsecurity=False).digest(), "big")


class ShardRouter:
    """Maps a partition key to a lane: the index of its (open) shard modulo the number of lanes."""

    def __init__(self, starting_hash_keys: Sequence[int], lanes: int):
        self._starts = sorted(starting_hash_keys)
        self._lanes = lanes
        self._cache: dict[str, int] = {}

    def __call__(self, partition_key: str) -> int:
        """The lane of ``partition_key``: the one serving the shard its hash key falls in (cached)."""
        lane = self._cache.get(partition_key)
        if lane is None:
            shard = bisect.bisect_right(self._starts, hash_key(partition_key)) - 1
            lane = self._cache[partition_key] = max(shard, 0) % self._lanes
            if len(self._cache) > 1_000_000:  # e.g. partitioned by user_session: do not grow forever
                self._cache.clear()
        return lane


def by_key_hash(lanes: int) -> Callable[[str], int]:
    """A router spreading keys over ``lanes`` by Python's hash (when the shards are not known)."""
    return lambda partition_key: hash(partition_key) % lanes


def shard_router(kinesis, stream: str, lanes: int) -> Callable[[str], int]:
    """A router from the stream's open shards (ListShards), else one by key hash."""
    try:
        shards = kinesis.list_shards(StreamName=stream)["Shards"]
    except Exception:  # noqa: BLE001 - listing is an optimisation; the replay works without it
        return by_key_hash(lanes)
    open_shards = [s for s in shards if "EndingSequenceNumber" not in s.get("SequenceNumberRange", {})]
    if not open_shards:
        return by_key_hash(lanes)
    return ShardRouter([int(s["HashKeyRange"]["StartingHashKey"]) for s in open_shards], lanes)
