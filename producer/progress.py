"""A live progress line on stderr: a rewritten line on a terminal, a plain line now and then otherwise."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable


def human_duration(seconds: float) -> str:
    """Seconds as ``M:SS`` or ``H:MM:SS``."""
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class ProgressLine:
    """Calls ``render()`` on a timer and shows its text. Use as a context manager."""

    def __init__(self, render: Callable[[], str], stream=None, enabled: bool = True):
        self._render = render
        self._stream = stream or sys.stderr
        self._tty = hasattr(self._stream, "isatty") and self._stream.isatty()
        self._interval = 0.5 if self._tty else 10.0
        self._enabled = enabled
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="progress", daemon=True)
        self._width = 0

    def _show(self, text: str) -> None:
        if self._tty:
            pad = max(0, self._width - len(text))
            self._stream.write("\r" + text + " " * pad)
            self._width = len(text)
        else:
            self._stream.write(text + "\n")
        self._stream.flush()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self._show(self._render())

    def __enter__(self) -> ProgressLine:
        if self._enabled:
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        if self._enabled:
            self._stop.set()
            self._thread.join()
            if self._tty:
                self._show(self._render())
                self._stream.write("\n")
                self._stream.flush()


class Meter:
    """Records per second over the last few seconds, for a live line."""

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self._clock = clock
        self._samples: list[tuple[float, int]] = []

    def rate(self, count: int) -> float:
        """Records per second over the last five seconds, given the running ``count``."""
        now = self._clock()
        self._samples.append((now, count))
        while len(self._samples) > 2 and now - self._samples[0][0] > 5.0:
            self._samples.pop(0)
        first_time, first_count = self._samples[0]
        elapsed = now - first_time
        return (count - first_count) / elapsed if elapsed > 0 else 0.0
