"""Deliver one batch to Kinesis: retry exactly the entries that failed, back off with jitter."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from producer.batching import Entry
from producer.kinesis_wire import THROTTLE_CODES, KinesisError


@dataclass(frozen=True)
class RetryPolicy:
    """How failed PutRecords entries are retried: how many times, with what exponential back-off."""

    max_retries: int = 10
    base: float = 0.1
    cap: float = 5.0

    def backoff(self, attempt: int, rand: Callable[[], float] = random.random) -> float:
        """Seconds to wait before retry number ``attempt`` (1-based): exponential, capped, with
        'equal jitter' (half fixed, half random) so that many senders do not retry in step."""
        ceiling = min(self.cap, self.base * (2 ** (attempt - 1)))
        return ceiling / 2 + rand() * ceiling / 2


@dataclass
class Delivery:
    """What one lane delivered: acknowledged, retried, throttled, and what it gave up on and why."""

    sent: int = 0  # entries acknowledged
    retried: int = 0  # entry re-sends
    throttled: int = 0  # entries (or whole calls' entries) refused for throughput
    undelivered: list[tuple[Entry, str]] = field(default_factory=list)  # gave up: entry, last error


class FatalKinesisError(RuntimeError):
    """An error no retry can fix (no such stream, bad credentials): the replay must stop."""


def deliver(
    client,
    stream: str,
    entries: Sequence[Entry],
    policy: RetryPolicy,
    sleep: Callable[[float], None] = time.sleep,
    rand: Callable[[], float] = random.random,
) -> Delivery:
    """Put ``entries`` with PutRecords until all are acknowledged or ``policy`` gives up on some.

    Only the failed entries of a partial failure are sent again, in their original order, so a
    record that succeeded is never duplicated by a retry. A whole-call throttle or server error
    re-sends the whole (remaining) batch; any other error is fatal.
    """
    result = Delivery()
    pending = list(entries)
    attempt = 0
    while pending:
        try:
            response = client.put_records(stream, pending)
        except KinesisError as exc:
            if not exc.retryable:
                raise FatalKinesisError(f"PutRecords to stream {stream!r} failed: {exc}") from exc
            if exc.code in THROTTLE_CODES:
                result.throttled += len(pending)
            reasons = [str(exc)] * len(pending)
        else:
            if not response.get("FailedRecordCount"):
                result.sent += len(pending)
                return result
            still, reasons = [], []
            for entry, outcome in zip(pending, response["Records"], strict=True):
                code = outcome.get("ErrorCode")
                if code is None:
                    result.sent += 1
                else:
                    still.append(entry)
                    reasons.append(f"{code}: {outcome.get('ErrorMessage', '')}")
                    if code in THROTTLE_CODES:
                        result.throttled += 1
            pending = still
        attempt += 1
        if attempt > policy.max_retries:
            result.undelivered.extend(zip(pending, reasons, strict=True))
            return result
        result.retried += len(pending)
        sleep(policy.backoff(attempt, rand))
    return result
