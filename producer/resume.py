"""Where a replay stands, so that whatever stops it, it can continue with no gap and no duplicate.

Rows are identified by their line number (the last physical line of the row, as the rejects file
and ``--resume-from`` use). A row is *done* once Kinesis acknowledged its record, or once it was
rejected (it will never be sent). ``Progress`` keeps:

- ``prefix``: every row up to and including this line is done;
- ``beyond``: rows after the prefix that are done too (lanes finish out of line order);
- ``pending``: rows handed to a lane and not yet acknowledged (in a batch, or in a call whose
  outcome is unknown when the replay is killed).

It is written to a small JSON file after every acknowledged batch, so ``--resume`` continues even
after SIGKILL: rows at or below the prefix and rows in ``beyond`` are skipped, everything else is
sent. A record is only ever marked done after Kinesis acknowledged it, so a resume never leaves a
gap; the only possible duplicates are records acknowledged in the instant between Kinesis's answer
and the file write, or calls in flight when the replay was stopped at once — which the replay
counts and says.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

VERSION = 1


class ResumeError(ValueError):
    """The progress file is missing or does not fit this replay; the message says what to do."""


@dataclass(frozen=True)
class Checkpoint:
    """What a progress file holds."""

    source: str
    stream: str
    prefix: int = 0
    beyond: tuple[int, ...] = ()
    acknowledged: int = 0  # records acknowledged over the whole replay (for --limit)
    retime_shift: float | None = None  # seconds added to each event_time by --retime
    complete: bool = False


def default_path(state_dir: Path, source: str, stream: str) -> Path:
    """One progress file per (source, stream) pair, under the state directory."""
    digest = hashlib.sha256(f"{source}\n{stream}".encode()).hexdigest()[:16]
    stem = source.rstrip("/").rsplit("/", 1)[-1][:60]
    return state_dir / "replay" / f"{stem}.{digest}.json"


def load(path: Path, source: str, stream: str) -> Checkpoint:
    """The checkpoint saved in ``path`` for ``source`` into ``stream``, or a :class:`ResumeError` saying why not."""
    if not path.is_file():
        raise ResumeError(
            f"--resume: no progress file {path} for {source} into {stream} (a replay writes it as it goes; "
            "give --resume-from LINE instead, or start without --resume)"
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        checkpoint = Checkpoint(
            source=data["source"],
            stream=data["stream"],
            prefix=int(data["prefix"]),
            beyond=tuple(_expand(data.get("beyond", []))),
            acknowledged=int(data.get("acknowledged", 0)),
            retime_shift=data.get("retime_shift"),
            complete=bool(data.get("complete", False)),
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ResumeError(f"--resume: {path} is not a readable progress file ({exc}); use --resume-from LINE") from None
    if (checkpoint.source, checkpoint.stream) != (source, stream):
        raise ResumeError(f"--resume: {path} is for {checkpoint.source} into {checkpoint.stream}, not this replay")
    return checkpoint


def _ranges(lines: Iterable[int]) -> list[list[int]]:
    out: list[list[int]] = []
    for line in sorted(lines):
        if out and line == out[-1][1] + 1:
            out[-1][1] = line
        else:
            out.append([line, line])
    return out


def _expand(ranges: list) -> Iterable[int]:
    for first, last in ranges:
        yield from range(int(first), int(last) + 1)


class Progress:
    """The live state of one replay (thread-safe; lanes report acknowledgements)."""

    def __init__(self, path: Path | None, start: Checkpoint, min_interval: float = 0.0):
        self.path = path
        self._source, self._stream = start.source, start.stream
        self._lock = threading.Lock()
        self.prefix = start.prefix
        self._beyond: set[int] = set(start.beyond)
        self._pending: set[int] = set()
        self._last_issued = start.prefix
        self.acknowledged = start.acknowledged
        self.retime_shift = start.retime_shift
        self._min_interval = min_interval
        self._saved_at = 0.0

    def issue(self, line: int) -> None:
        """A row handed to a lane: not done until acknowledged."""
        with self._lock:
            self._pending.add(line)
            self._last_issued = max(self._last_issued, line)

    def settle(self, line: int) -> None:
        """A row that is done without a record (rejected) or was done in an earlier run."""
        with self._lock:
            self._last_issued = max(self._last_issued, line)
            if line > self.prefix:
                self._beyond.add(line)
            self._advance()

    def acknowledge(self, lines: Iterable[int]) -> None:
        """Mark ``lines`` delivered, moving the prefix past every line now delivered in order."""
        with self._lock:
            for line in lines:
                self._pending.discard(line)
                if line > self.prefix:
                    self._beyond.add(line)
                self.acknowledged += 1
            self._advance()
            due = time.monotonic() - self._saved_at >= self._min_interval
        if due:
            self.save()

    def _advance(self) -> None:
        limit = min(self._pending) - 1 if self._pending else self._last_issued
        if limit > self.prefix:
            self.prefix = limit
            self._beyond = {line for line in self._beyond if line > limit}

    @property
    def beyond(self) -> list[int]:
        """Delivered lines past the first gap (a continuation from the prefix must skip them)."""
        with self._lock:
            return sorted(self._beyond)

    @property
    def pending(self) -> int:
        """How many lines were handed to a call whose outcome is not known yet."""
        with self._lock:
            return len(self._pending)

    def snapshot(self, complete: bool = False) -> Checkpoint:
        """The progress as it stands: the prefix, the lines done beyond it, how many were acknowledged."""
        with self._lock:
            return Checkpoint(
                self._source,
                self._stream,
                self.prefix,
                tuple(sorted(self._beyond)),
                self.acknowledged,
                self.retime_shift,
                complete,
            )

    def save(self, complete: bool = False) -> None:
        """Write the progress file atomically (nothing when the replay keeps none)."""
        if self.path is None:
            return
        state = self.snapshot(complete)
        data = {
            "version": VERSION,
            "source": state.source,
            "stream": state.stream,
            "prefix": state.prefix,
            "beyond": _ranges(state.beyond),
            "acknowledged": state.acknowledged,
            "retime_shift": state.retime_shift,
            "complete": complete,
        }
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            partial = self.path.with_name(f"{self.path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
            partial.write_text(json.dumps(data), encoding="utf-8")
            os.replace(partial, self.path)
            self._saved_at = time.monotonic()
