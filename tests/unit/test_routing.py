"""Lane routing: all keys of one shard through one lane, as Kinesis itself assigns keys to shards."""

import hashlib

from producer.routing import ShardRouter, by_key_hash, hash_key

# Four equal hash-key ranges, as CreateStream makes them for ShardCount=4.
STARTS = [i * (2**128 // 4) for i in range(4)]


def kinesis_shard(key: str) -> int:
    """Independently: the shard whose range holds the MD5 of the key."""
    value = int(hashlib.md5(key.encode()).hexdigest(), 16)
    return min(value // (2**128 // 4), 3)


def test_hash_key_is_the_md5_kinesis_uses():
    assert hash_key("abc") == int(hashlib.md5(b"abc").hexdigest(), 16)


def test_one_lane_per_shard_when_lanes_equal_shards():
    route = ShardRouter(STARTS, lanes=4)
    keys = [str(2053013555631882655 + i) for i in range(500)]
    for key in keys:
        assert route(key) == kinesis_shard(key)


def test_fewer_lanes_than_shards_still_keeps_each_shard_on_one_lane():
    route = ShardRouter(STARTS, lanes=2)
    lanes_of_shard = {}
    for i in range(1000):
        key = f"k{i}"
        lanes_of_shard.setdefault(kinesis_shard(key), set()).add(route(key))
    assert all(len(lanes) == 1 for lanes in lanes_of_shard.values())
    assert set().union(*lanes_of_shard.values()) == {0, 1}


def test_without_a_shard_map_keys_still_stick_to_a_lane():
    route = by_key_hash(4)
    assert {route("same") for _ in range(10)} == {route("same")}
