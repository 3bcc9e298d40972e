"""``%%flinksql``: the ``clickflow explore`` engine as an IPython/Jupyter cell magic, for notebook users.

    %load_ext clickflow.interactive.notebook
    %%flinksql --mode update --max-rows 20 --timeout 60
    SELECT category_id, SUM(`views`) AS views FROM top_categories GROUP BY category_id

Options: --mode update|append|single, --max-rows N, --timeout S (default 60), --profile, --from,
--bounded, --set KEY=VALUE. One Flink environment per kernel and set of options, kept between cells.
The result is shown live (one display, updated in place) and returned as a pandas DataFrame when
pandas is installed, else as text. Install with ``pip install -e '.[notebook]'``.
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
    try:
        args = parser.parse_args(shlex.split(line))
    except (argparse.ArgumentError, SystemExit) as exc:
        raise ValueError(f"%%flinksql {line!r}: {exc}") from None
    check_options(args.mode, args.max_rows, args.timeout)
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
    return pandas.DataFrame(view.rows, columns=view.columns)


def run_cell(line: str, cell: str, explorer_for: Callable = _explorer, show: Callable | None = None):
    """Run the cell's statement; ``show(obj)`` is called as results change (and once at the end)."""
    args = parse_line(line)
    explorer = explorer_for(args)

    last = [0.0]

    def on_change(view):  # at most twice a second: a busy changelog must not flood the notebook
        if show is not None and time.monotonic() - last[0] >= 0.5:
            last[0] = time.monotonic()
            show(as_frame(view))

    outcome = explorer.run(cell, args.mode, args.max_rows, args.timeout, on_change)
    final = as_frame(outcome.view)
    if show is not None:
        show(final)
    return final


def load_ipython_extension(ipython) -> None:
    """Register the ``%%flinksql`` cell magic (``%load_ext clickflow.interactive.notebook``)."""
    from IPython.display import display

    def flinksql(line: str, cell: str):
        handle = display("starting ...", display_id=True)
        run_cell(line, cell, show=handle.update)

    ipython.register_magic_function(flinksql, magic_kind="cell", magic_name="flinksql")
