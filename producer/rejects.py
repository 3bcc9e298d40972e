"""The rejects file: every row or record that was not sent or analysed, with where it came from and why."""

from __future__ import annotations

import json
import threading
import typing
from pathlib import Path


class RejectsFile:
    """JSON lines, one per rejected row or undelivered record, opened only when the first arrives."""

    def __init__(self, path: Path, source: str):
        self.path = path
        self._source = source
        self._file: typing.TextIO | None = None
        self._lock = threading.Lock()

    def write(self, kind: str, line: int, reason: str, **detail) -> None:
        """Append one rejected row or record, with where it came from and why."""
        entry = {"kind": kind, "source": self._source, "line": line, "reason": reason, **detail}
        with self._lock:
            if self._file is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - closed in close()
            # ASCII-only JSON: a row holding bytes that are not UTF-8 is kept, shown as \udcXX escapes
            self._file.write(json.dumps(entry) + "\n")

    def close(self) -> None:
        """Close the file (it is created only when the first reject is written)."""
        if self._file is not None:
            self._file.close()
