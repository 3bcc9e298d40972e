"""``%%flinksql``: the ``clickflow explore`` engine as an IPython/Jupyter cell magic, for notebook users.

    %load_ext clickflow.interactive.notebook
    %%flinksql --mode update --max-rows 20 --timeout 60
    SELECT category_id, SUM(`views`) AS views FROM top_categories GROUP BY category_id

Options: --mode update|append|single, --max-rows N, --timeout S (default 60), --profile, --from,
--bounded, --set KEY=VALUE, --output NAME (keep the final result in the notebook's variable NAME).
``{name}`` in the options line is a notebook variable, as in any IPython magic. One Flink
environment per kernel and set of options, kept between cells.
While the query runs its partial result is shown live (one display, updated in place) under a
"running" line; once it has ended the display holds the final result (update mode in the query's
ORDER BY), returned as a pandas DataFrame when pandas is installed, else as text. Install with
``pip install -e '.[notebook]'``.
"""

from __future__ import annotations

import argparse
import shlex
import time
from collections.abc import Callable

from clickflow.interactive.explore import SingleValue, check_options, render

_explorers: dict = {}


def parse_line(line: str) -> argparse.Namespace:
    """The options of a ``%%flinksql`` cell's first line."""
    parser = argparse.ArgumentParser(prog="%%flinksql", add_help=False, exit_on_error=False)
    parser.add_argument("--mode", default="update")
    parser.add_argument("--max-rows", type=int, default=None)
    parser.add_argument("--timeout", type=float, default=60.0)
    parser.add_argument("--profile", default="local")
    parser.add_argument("--from", dest="start")
    parser.add_argument("--bounded", action="store_true")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--output", metavar="NAME")
    try:
        args = parser.parse_args(shlex.split(line))
    except (argparse.ArgumentError, SystemExit) as exc:
        raise ValueError(f"%%flinksql {line!r}: {exc}") from None
    check_options(args.mode, args.max_rows, args.timeout)
    if args.output is not None and not args.output.isidentifier():
        raise ValueError(f"%%flinksql --output {args.output!r}: not a Python variable name")
    return args


def _explorer(args):
    from clickflow.interactive.explore import Explorer
    from connectors.config import load_config

    key = (args.profile, tuple(args.overrides), args.start, args.bounded)
    if key not in _explorers:
        _explorers[key] = Explorer(load_config(args.profile, overrides=args.overrides), args.start, args.bounded)
    return _explorers[key]


def as_frame(view):
    """The view as a pandas DataFrame when pandas is there, else as the text table."""
    try:
        import pandas
    except ImportError:
        return "\n".join(render(view))
    if isinstance(view, SingleValue):
        return pandas.DataFrame({view.columns[0] if view.columns else "value": [view.value]})
    return pandas.DataFrame(view.shown(), columns=view.columns)


class Running:
    """A partial result as a notebook shows it while the query runs: the table under a running line."""

    def __init__(self, frame, line: str):
        self.frame, self.line = frame, line

    def __repr__(self) -> str:
        return f"{self.line}\n{self.frame}"

    def _repr_html_(self) -> str:
        import html

        table = self.frame.to_html() if hasattr(self.frame, "to_html") else f"<pre>{html.escape(str(self.frame))}</pre>"
        return f"<p><em>{html.escape(self.line)}</em></p>{table}"


def run_cell(line: str, cell: str, explorer_for: Callable | None = None, show: Callable | None = None):
    """Run the cell's statement; ``show(obj)`` is called as results change (and once at the end)."""
    args = parse_line(line)
    explorer = (explorer_for or _explorer)(args)

    started, last = time.monotonic(), [0.0]

    def on_change(view):  # at most twice a second: a busy changelog must not flood the notebook
        if show is not None and time.monotonic() - last[0] >= 0.5:
            last[0] = time.monotonic()
            rows, seconds = len(view.rows), time.monotonic() - started
            show(Running(as_frame(view), f"running: {rows} rows so far, {seconds:.0f} s"))

    outcome = explorer.run(cell, args.mode, args.max_rows, args.timeout, on_change)
    final = as_frame(outcome.view)
    if show is not None:
        why = {"timeout": f"--timeout {args.timeout:g}s passed", "max-rows": "--max-rows reached"}
        # a result cut short is never shown as if it were the answer
        stopped = f"stopped: {why.get(outcome.stopped_by, 'cancelled')}" if outcome.stopped_by else ""
        show(Running(final, stopped) if stopped else final)
    return final


def load_ipython_extension(ipython) -> None:
    """Register the ``%%flinksql`` cell magic (``%load_ext clickflow.interactive.notebook``)."""
    from IPython.display import display

    def flinksql(line: str, cell: str):
        handle = display("starting ...", display_id=True)
        final = run_cell(line, cell, show=handle.update)
        name = parse_line(line).output
        if name:
            ipython.user_ns[name] = final

    ipython.register_magic_function(flinksql, magic_kind="cell", magic_name="flinksql")
