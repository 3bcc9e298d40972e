"""What every subcommand shares: the config options, loading a profile, one-line errors, Ctrl-C, option types."""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
from datetime import datetime

EPILOG_CONFIG = """\
credentials and endpoints:
  Credentials come only from the standard AWS chain (environment, AWS_PROFILE, an attached
  role); the local profile uses dummy keys that are only ever sent to 127.0.0.1. Endpoints
  can be overridden as boto3 does: AWS_ENDPOINT_URL_KINESIS, AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL.
  A config file may start from another profile with `profile: aws`.
"""


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Wraps prose paragraphs to the terminal; keeps indented lines (examples) as written."""

    def _fill_text(self, text, width, indent):
        import textwrap

        out = []
        for paragraph in text.split("\n\n"):
            lines = paragraph.splitlines()
            if lines and not lines[0].startswith(" ") and not any(line.startswith(" ") for line in lines[1:]):
                out.append(textwrap.fill(" ".join(lines), width, initial_indent=indent, subsequent_indent=indent))
            else:
                out.append("\n".join(indent + line for line in lines))
        return "\n\n".join(out)


EXIT_REJECTED = 3  # finished, but some rows were rejected (replay, analyze); see the rejects file


EXIT_CODES = """\
exit status:
  0    done
  1    failed (the message says why; nothing is left half-done without saying so)
  2    bad command line (an unknown option, or a value out of range)
  3    finished, but some input rows were rejected (replay, analyze: see the rejects file),
       or, for `stack status` and `cluster status`, a server is not running
  130  interrupted (Ctrl-C, SIGTERM); replay, run and alerts run print the command that goes on
"""


class CliError(Exception):
    """An error to show the user as one line, without a traceback."""


def config_options() -> argparse.ArgumentParser:
    """The ``--profile`` / ``--config`` / ``--set`` options every command shares (an argparse parent)."""
    parent = argparse.ArgumentParser(add_help=False)
    group = parent.add_argument_group("configuration")
    group.add_argument(
        "--profile",
        help="config profile: local, cluster, compose or aws (default: local; cluster for `cluster`; "
        "aws for package and deploy)",
    )
    group.add_argument("--config", metavar="FILE", help="YAML config file laid over the profile")
    group.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY.PATH=VALUE",
        help="override one config value (repeatable)",
    )
    return parent


def load(args, default_profile: str = "local"):
    """The configuration the command's options name (``default_profile`` when none is given)."""
    from connectors.config import load_config

    return load_config(args.profile or default_profile, args.config, args.overrides)


def say(text: str) -> None:
    """Print one line to standard output at once (progress messages of long commands)."""
    print(text, flush=True)


@contextlib.contextmanager
def graceful_interrupt(
    message: str = "interrupted: sending what was read and waiting for acknowledgements (Ctrl-C again to stop at once)",
    stop_now: bool = False,
):
    """First Ctrl-C sets the event (finish what is in flight); a second one stops at once — by
    KeyboardInterrupt, or, with ``stop_now``, by setting ``event.now`` (the replay polls it, so the
    stop never lands half-way through its bookkeeping); later ones are ignored."""
    from connectors.signals import deferred
    from producer.replay import StopRequest

    event = StopRequest()

    def interrupted() -> None:  # said before it is acted on, as when the handler did both itself
        try:
            print("\n" + message, file=sys.stderr, flush=True)
        finally:
            event.set()

    first = deferred(interrupted)
    second = deferred(event.now.set)
    received = 0

    def handler(signum, frame):  # counts; the events are set by the relay (see connectors.signals)
        nonlocal received
        received += 1
        if received == 1:
            first()
        elif received == 2:
            if not stop_now:
                raise KeyboardInterrupt
            second()

    # SIGTERM (a `kill`, a service manager stopping us) is taken as a first Ctrl-C
    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield event
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def command_without(
    argv: list[str], with_value: tuple[str, ...], flags: tuple[str, ...] = (), extra: list[str] | None = None
) -> str:
    """``clickflow`` and ``argv`` as one shell line, without the options ``with_value`` (and the value
    each takes) and ``flags``, then ``extra``: the command that continues a stopped one."""
    import shlex

    kept, skip = [], False
    for word in argv:
        if skip:
            skip = False
        elif word in with_value:
            skip = True
        elif word not in flags and not word.startswith(tuple(f"{name}=" for name in with_value)):
            kept.append(word)
    return shlex.join(["clickflow", *kept, *(extra or [])])


def positive_number(text: str) -> float:
    """A finite number above 0 (NaN and inf are refused: they would pace or wait forever)."""
    import math

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"expected a finite number above 0, got {text!r}")
    return value


def count(minimum: int):
    """An integer of at least ``minimum``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected {minimum} or more, got {value}")
        return value

    parse.__name__ = f"integer >= {minimum}"
    return parse


def parse_time(text: str) -> datetime:
    """An option's event time (as the CSV writes it, or ISO 8601), or a :class:`CliError` naming the forms."""
    from producer.rows import parse_event_time

    try:
        return parse_event_time(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not a time like '2019-10-01 00:00:00' or 2019-10-01T00:00:00Z: {text!r}"
        ) from None


def add_reading_options(p: argparse.ArgumentParser) -> None:
    """--from and --bounded of the interactive SQL tools (explore, sql)."""
    p.add_argument(
        "--from",
        dest="start",
        metavar="POSITION",
        help="where the events stream is read from: trim_horizon, latest or a UTC time (default: job.start_position)",
    )
    p.add_argument("--bounded", action="store_true", help="read the streams only to their end as of now: queries end")
