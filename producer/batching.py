"""Kinesis PutRecords limits, and a batch builder that never breaks them."""

from __future__ import annotations

MAX_RECORDS_PER_CALL = 500
MAX_BYTES_PER_CALL = 5 * 1024 * 1024  # data and partition keys of every record in one call
MAX_BYTES_PER_RECORD = 1024 * 1024  # data and partition key of one record
MAX_PARTITION_KEY_CHARS = 256


class Entry:
    """One record to put: its bytes, its partition key, and the input line it came from."""

    __slots__ = ("data", "partition_key", "line")

    def __init__(self, data: bytes, partition_key: str, line: int):
        self.data = data
        self.partition_key = partition_key
        self.line = line

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Entry) and (self.data, self.partition_key, self.line) == (
            other.data,
            other.partition_key,
            other.line,
        )

    def __repr__(self) -> str:
        return f"Entry(line={self.line}, key={self.partition_key!r}, {len(self.data)} bytes)"

    @property
    def size(self) -> int:
        """The bytes the entry counts against PutRecords' limits (data and partition key)."""
        return len(self.data) + len(self.partition_key.encode("utf-8"))


def entry_problem(entry: Entry) -> str | None:
    """Why Kinesis would refuse this one record, or None."""
    if not entry.partition_key:
        return "empty partition key"
    if len(entry.partition_key) > MAX_PARTITION_KEY_CHARS:
        return f"partition key longer than {MAX_PARTITION_KEY_CHARS} characters"
    if entry.size > MAX_BYTES_PER_RECORD:
        return f"record is {entry.size:,} bytes with its key; Kinesis takes at most {MAX_BYTES_PER_RECORD:,}"
    return None


class BatchBuilder:
    """Collects entries into batches of at most ``max_records`` records and ``max_bytes`` bytes."""

    def __init__(self, max_records: int = MAX_RECORDS_PER_CALL, max_bytes: int = MAX_BYTES_PER_CALL):
        if not 1 <= max_records <= MAX_RECORDS_PER_CALL:
            raise ValueError(f"max_records must be 1..{MAX_RECORDS_PER_CALL}, got {max_records}")
        self.max_records = max_records
        self.max_bytes = max_bytes
        self.entries: list[Entry] = []
        self.bytes = 0
        self.opened_at: float | None = None  # when the first entry of the open batch arrived

    def add(self, entry: Entry, now: float = 0.0) -> list[Entry] | None:
        """Add one entry; return the batch it closed, if adding it would have broken a limit.

        The entry must already fit on its own (see ``entry_problem``).
        """
        size = entry.size
        closed = None
        if self.entries and (len(self.entries) >= self.max_records or self.bytes + size > self.max_bytes):
            closed = self.take()
        if not self.entries:
            self.opened_at = now
        self.entries.append(entry)
        self.bytes += size
        if len(self.entries) >= self.max_records and closed is None:
            closed = self.take()
        return closed

    def take(self) -> list[Entry]:
        """Hand out the collected batch and start a new one."""
        batch, self.entries, self.bytes, self.opened_at = self.entries, [], 0, None
        return batch

    def __len__(self) -> int:
        return len(self.entries)
