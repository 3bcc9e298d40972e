import pytest

from producer.batching import MAX_BYTES_PER_CALL, MAX_BYTES_PER_RECORD, BatchBuilder, Entry, entry_problem


def fill(builder, entries):
    batches = []
    for entry in entries:
        closed = builder.add(entry)
        if closed:
            batches.append(closed)
    if len(builder):
        batches.append(builder.take())
    return batches


def test_splits_at_500_records():
    entries = [Entry(b"x" * 10, "k", i) for i in range(1234)]
    batches = fill(BatchBuilder(), entries)
    assert [len(b) for b in batches] == [500, 500, 234]
    assert [e for b in batches for e in b] == entries  # order kept, nothing lost


def test_splits_at_5_mib():
    size = 1024 * 1024 - 10  # just under 1 MiB with the key
    entries = [Entry(b"y" * size, "key", i) for i in range(11)]
    batches = fill(BatchBuilder(), entries)
    assert all(sum(e.size for e in b) <= MAX_BYTES_PER_CALL for b in batches)
    assert [len(b) for b in batches] == [5, 5, 1]


def test_exactly_5_mib_fits_in_one_call():
    entries = [Entry(b"z" * (1024 * 1024 - 1), "k", i) for i in range(5)]
    assert [len(b) for b in fill(BatchBuilder(), entries)] == [5]


def test_record_limit_counts_the_key():
    assert entry_problem(Entry(b"a" * (MAX_BYTES_PER_RECORD - 3), "abc", 1)) is None
    assert "at most 1,048,576" in entry_problem(Entry(b"a" * (MAX_BYTES_PER_RECORD - 2), "abc", 1))
    assert entry_problem(Entry(b"a", "", 1)) == "empty partition key"
    assert "256" in entry_problem(Entry(b"a", "k" * 257, 1))


def test_smaller_batches_when_configured():
    assert [len(b) for b in fill(BatchBuilder(max_records=3), [Entry(b"a", "k", i) for i in range(7)])] == [3, 3, 1]
    with pytest.raises(ValueError):
        BatchBuilder(max_records=501)
