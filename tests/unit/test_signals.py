"""A stop signal never hangs the process it stops (connectors/signals.py).

Each case runs a child process that, round after round, installs a handler, has a timer thread send it
SIGINT a few milliseconds later and spins in ``Event.wait(0)`` until the handler's event is set, as the
replay's pacing loop does. A handler that calls ``Event.set()`` itself hangs within a few rounds: it runs
while ``wait`` holds the event's lock. The first case shows that hang, so the others can fail."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from tests.conftest import PROJECT_ROOT

ROUNDS = 60

CHILD = textwrap.dedent(
    """
    import os, random, signal, sys, threading

    def stop_soon():
        threading.Timer(random.uniform(0, 0.004), os.kill, (os.getpid(), signal.SIGINT)).start()

    def bare():
        event = threading.Event()
        previous = signal.signal(signal.SIGINT, lambda *_: event.set())
        try:
            yield event
        finally:
            signal.signal(signal.SIGINT, previous)

    def graceful():
        from clickflow.commands.common import graceful_interrupt

        with graceful_interrupt("interrupted", stop_now=True) as event:
            yield event

    def stop_requests():
        from jobs.stream import StopRequests

        event = threading.Event()
        with StopRequests(then=event.set):
            yield event

    install = {"bare": bare, "graceful": graceful, "stop_requests": stop_requests}[sys.argv[1]]
    for number in range(int(sys.argv[2])):
        print("round", number, flush=True)
        for event in install():
            stop_soon()
            while not event.is_set():
                event.wait(0)
    print("every round stopped", flush=True)
    """
)


def _rounds(kind: str, timeout: float) -> tuple[bool, str]:
    """Whether the child got through every round within ``timeout`` seconds, and what it printed."""
    command = [sys.executable, "-c", CHILD, kind, str(ROUNDS)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=PROJECT_ROOT)
    except subprocess.TimeoutExpired as exc:  # run() has killed the child
        out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else exc.stdout or ""
        return False, out
    assert done.returncode == 0, done.stderr
    return "every round stopped" in done.stdout, done.stdout


def test_a_handler_that_sets_the_event_itself_hangs():
    finished, out = _rounds("bare", timeout=8)
    assert "round 0" in out, "the child never started its rounds"
    assert not finished, "every round finished: the test no longer reaches the lock it is about"


@pytest.mark.parametrize("kind", ["graceful", "stop_requests"])
def test_the_handlers_of_the_cli_and_the_jobs_never_hang(kind):
    finished, out = _rounds(kind, timeout=60)
    assert finished, f"hung after: {out.splitlines()[-1:]}"
