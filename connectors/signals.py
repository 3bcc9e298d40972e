"""Signal handlers that set events and print without risking a hang.

Python runs a signal handler in the main thread, between two of its bytecodes, and that can be while the
main thread holds the lock inside a ``threading.Event``: ``Event.wait`` takes it for a moment before it
sleeps. A handler calling ``Event.set()`` then waits for a lock its own thread holds, forever. It happened:
a replay stopped by Ctrl-C while pacing (``Event.wait`` many times a second) hung with its lanes idle and
its "interrupted" line never printed. ``tests/unit/test_signals.py`` shows the hang with a bare
``Event.set()``.

So the handlers of the CLI, the producer and the jobs only count what arrived and hand the rest to
:func:`deferred`: a relay thread runs it. The hand-over is ``queue.SimpleQueue.put``, which the standard
library documents as reentrant, safe in code that interrupts other code of the same thread.
"""

from __future__ import annotations

import queue
import sys
import threading
import traceback
from collections.abc import Callable

_lock = threading.Lock()
_calls: queue.SimpleQueue[Callable[[], object]] = queue.SimpleQueue()
_relay: threading.Thread | None = None


def _run() -> None:
    while True:
        action = _calls.get()
        try:
            action()
        except Exception:  # noqa: BLE001 - a failing action must not end the relay: later signals need it
            traceback.print_exc(file=sys.stderr)


def deferred(action: Callable[[], object]) -> Callable[[], None]:
    """A callable for a signal handler to call instead of ``action``: it queues ``action`` for the relay
    thread, which runs queued actions in order. Call this where the handler is installed, never inside
    the handler: it starts the relay thread once, and starting a thread takes locks."""
    global _relay
    with _lock:
        if _relay is None or not _relay.is_alive():
            _relay = threading.Thread(target=_run, name="signal-relay", daemon=True)
            _relay.start()
    put = _calls.put

    def later() -> None:
        put(action)

    return later
