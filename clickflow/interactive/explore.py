"""``clickflow explore``: Studio-style (Zeppelin ``%flink.ssql``) interactive SQL over the live streams.

Flink's own SQL client cannot start from the apache-flink wheel (it needs the flink-sql-gateway jar),
so this is a small shell on PyFlink's TableEnvironment, in an embedded Flink with clickflow's Kinesis
connector (it speaks to the profile's endpoints: the local stack, compose's emulators, or AWS).

Registered up front:
  events, clicks                       the events stream and its valid events (sql/events.sql)
  <analytic> for each of sql/          each analytic as a view over the events
  dead_letters                         records the analytics cannot use, with the reason
  <analytic>_stream, dead_letters_stream   the job's output streams, read from their start

Results are shown in Studio's three modes, all driven by the query's changelog:
  update   a table kept current: +I and +U add a row, -U and -D take one away; shown in the
           query's top-level ORDER BY (and LIMIT), however the changes arrive
  append   new rows as they arrive (insert-only queries)
  single   one value (the first column of the latest row), refreshed in place
While a query runs its table is redrawn with a "running" line; "N rows" is said only once it has ended.
"""

from __future__ import annotations

import datetime as dt
import decimal
import functools
import json
import math
import queue
import re
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from connectors.config import Config, ConfigError
from connectors.signals import deferred
from connectors.tables import kinesis_options
from jobs import analytics

MODES = ("update", "append", "single")


class ExploreError(RuntimeError):
    """A statement cannot be shown as asked; the message says why."""


# --------------------------------------------------------------------------- the query's order


@dataclass(frozen=True)
class ResultOrder:
    """The query's top-level ORDER BY as result columns, and its LIMIT.

    A streaming query's changelog keeps no order: Flink computes an ``ORDER BY n DESC LIMIT 5`` as a
    Top-N that inserts and retracts rows as counts change, so the rows shown are sorted here, as the
    query asked. NULL is the smallest value, as in Flink: first ascending, last descending, unless the
    query says NULLS FIRST or LAST. (OFFSET and LIMIT Flink has applied already: the result holds
    those rows only; LIMIT is applied again only as a bound.)"""

    keys: tuple[tuple[int, bool, bool], ...]  # (result column, descending, nulls first)
    limit: int | None = None
    unshown: str | None = None  # why the rows cannot be shown in the query's order (a key not in the result)

    def apply(self, rows: Sequence[tuple]) -> list[tuple]:
        """The rows in this order, at most LIMIT of them."""
        ordered = (
            sorted(rows, key=functools.cmp_to_key(self._compare)) if self.keys and not self.unshown else list(rows)
        )
        return ordered[: self.limit]

    def _compare(self, a: tuple, b: tuple) -> int:
        for column, descending, nulls_first in self.keys:
            x, y = a[column], b[column]
            if x is None or y is None:
                if x is None and y is None:
                    continue
                return (-1 if x is None else 1) * (1 if nulls_first else -1)
            try:
                c = (x > y) - (x < y)
            except TypeError:  # values of different types in one column: compare as text
                c = (str(x) > str(y)) - (str(x) < str(y))
            if c:
                return -c if descending else c
        return 0


def result_order(sql: str, columns: Sequence[str]) -> ResultOrder | None:
    """The statement's top-level ORDER BY and LIMIT as result columns (None: it has no ORDER BY).

    Found with sqlglot's tokenizer (Flink's window functions need not parse); each key is a result
    column by name, by position (``ORDER BY 2``) or as the same expression as a column of the SELECT."""
    import sqlglot
    from sqlglot import exp
    from sqlglot.errors import SqlglotError
    from sqlglot.tokens import TokenType

    dialect = "hive"  # backquoted identifiers, NULL the smallest value: as Flink SQL
    try:
        tokens = sqlglot.Dialect.get_or_raise(dialect).tokenize(sql)
    except SqlglotError:
        return None
    depth, at = 0, None
    for token in tokens:
        if token.token_type == TokenType.L_PAREN:
            depth += 1
        elif token.token_type == TokenType.R_PAREN:
            depth -= 1
        elif token.token_type == TokenType.ORDER_BY and depth == 0:
            at = token.start
    if at is None:
        return None
    try:
        tail = sqlglot.parse_one("SELECT 1 " + sql[at:].strip().rstrip(";"), read=dialect)
    except SqlglotError as exc:
        return ResultOrder((), unshown=f"its ORDER BY could not be read ({str(exc).splitlines()[0]})")
    try:
        statement = sqlglot.parse_one(sql.strip().rstrip(";"), read=dialect)
        selects = statement.selects if isinstance(statement, exp.Query) else []
    except SqlglotError:
        selects = []  # e.g. a window table function: keys by name or position only
    names = [c.lower() for c in columns]
    keys = []
    for ordered in tail.args["order"].expressions:
        key, index = ordered.this, None
        if isinstance(key, exp.Column) and not key.table and key.name.lower() in names:
            index = names.index(key.name.lower())
        elif isinstance(key, exp.Literal) and not key.is_string and key.this.isdigit():
            index = int(key.this) - 1 if 0 < int(key.this) <= len(columns) else None
        else:
            index = next((i for i, p in enumerate(selects) if p.unalias() == key and i < len(columns)), None)
        if index is None:
            return ResultOrder((), unshown=f"ORDER BY {key.sql(dialect)} is not a column of the result")
        keys.append((index, bool(ordered.args.get("desc")), bool(ordered.args.get("nulls_first"))))

    def number(part) -> int | None:
        value = part.expression if part is not None else None
        return int(value.this) if isinstance(value, exp.Literal) and value.this.isdigit() else None

    return ResultOrder(tuple(keys), number(tail.args.get("limit")))


# --------------------------------------------------------------------------- the three views


@dataclass
class ChangelogTable:
    """``update`` mode: the query's result as a table, kept current from its changelog."""

    columns: list[str]
    rows: list[tuple] = field(default_factory=list)
    changes: int = 0
    order: ResultOrder | None = None  # the query's ORDER BY; None: rows in the order they last changed

    def shown(self) -> list[tuple]:
        """The rows as the query orders them (else as they last changed)."""
        return self.rows if self.order is None else self.order.apply(self.rows)

    def apply(self, kind: str, row: Sequence) -> None:
        """Apply one change of the query's changelog (+I, -U, +U, -D) to the table."""
        row = tuple(row)
        self.changes += 1
        if kind in ("+I", "+U"):
            self.rows.append(row)
        elif kind in ("-U", "-D"):
            try:
                self.rows.remove(row)
            except ValueError:
                raise ExploreError(f"the changelog retracts a row the table does not hold: {kind} {row}") from None
        else:
            raise ExploreError(f"unknown change kind {kind!r}")


@dataclass
class AppendLog:
    """``append`` mode: every row, in arrival order; a query that updates rows cannot be shown so."""

    columns: list[str]
    rows: list[tuple] = field(default_factory=list)
    changes: int = 0

    def apply(self, kind: str, row: Sequence) -> None:
        """Append an inserted row; any other change means the query is not append-only."""
        if kind != "+I":
            raise ExploreError(
                f"append mode shows insert-only results, but this query sends {kind} changes "
                "(it updates rows it has shown): use --mode update"
            )
        self.changes += 1
        self.rows.append(tuple(row))

    def shown(self) -> list[tuple]:
        """The rows in arrival order (an ORDER BY on a time attribute is that order)."""
        return self.rows


@dataclass
class SingleValue:
    """``single`` mode: the first column of the latest row (cleared when that row is retracted)."""

    columns: list[str]
    value: object = None
    changes: int = 0

    def apply(self, kind: str, row: Sequence) -> None:
        """Take the first column of an inserted or updated row as the value; a retraction of it clears it."""
        self.changes += 1
        if kind in ("+I", "+U"):
            self.value = row[0] if len(row) else None
        elif kind in ("-U", "-D") and len(row) and row[0] == self.value:
            self.value = None

    @property
    def rows(self) -> list[tuple]:
        """The value as a one-row table (empty before the first row)."""
        return [] if self.value is None else [(self.value,)]

    def shown(self) -> list[tuple]:
        """The value as a one-row table."""
        return self.rows


def new_view(mode: str, columns: list[str]):
    """An empty result view for ``mode`` (update, append or single) over ``columns``."""
    if mode not in MODES:
        raise ExploreError(f"unknown mode {mode!r} (choose one of {', '.join(MODES)})")
    return {"update": ChangelogTable, "append": AppendLog, "single": SingleValue}[mode](list(columns))


# --------------------------------------------------------------------------- showing values


def show_value(value) -> str:
    """A result value as the shell prints it (NULL, times to the millisecond, decimals as written)."""
    if value is None:
        return "NULL"
    if isinstance(value, dt.datetime):
        text = value.isoformat(sep=" ", timespec="milliseconds")
        return text.removesuffix(".000")
    if isinstance(value, float):
        return repr(value)
    return str(value)


def json_value(value):
    """A result value as JSON allows it (times as text, decimals as numbers, never NaN)."""
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return show_value(value)
    if isinstance(value, decimal.Decimal):
        if not value.is_finite():
            return None
        return float(value) if value != value.to_integral_value() else int(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None  # JSON has no NaN or Infinity: a SQL DOUBLE that is not a number prints as null
    return value


def render_table(
    columns: Sequence[str], rows: Iterable[Sequence], max_rows: int | None = None, note: str = ""
) -> list[str]:
    """Rows as an aligned text table with a header, at most ``max_rows`` of them, and "N rows" (with
    ``note``) below."""
    rows = list(rows)
    shown = rows if max_rows is None else rows[:max_rows]
    cells = [[show_value(v) for v in row] for row in shown]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
    line = "+" + "+".join("-" * (w + 2) for w in widths) + "+"
    out = [line, "| " + " | ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)) + " |", line]
    out += ["| " + " | ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) + " |" for r in cells]
    out.append(line)
    more = len(rows) - len(shown)
    notes = ([f"{more} not shown: --max-rows"] if more else []) + ([note] if note else [])
    out.append(f"{len(rows)} row{'s' if len(rows) != 1 else ''}" + (f" ({'; '.join(notes)})" if notes else ""))
    return out


def order_note(view) -> str:
    """What the reader should know about the rows' order, where it matters: an update-mode table of
    more than one row, which has no order of its own."""
    if not isinstance(view, ChangelogTable) or len(view.rows) < 2:
        return ""
    if view.order is None:
        return "no ORDER BY: in no particular order"
    return f"not in the query's order: {view.order.unshown}" if view.order.unshown else ""


def render(view, max_rows: int | None = None, running: str = "") -> list[str]:
    """A view as text lines: the single value, or the table. ``running``: the query has not ended, and
    this line stands where "N rows" will (so a partial table never looks like the answer)."""
    if isinstance(view, SingleValue):
        return [show_value(view.value)] + ([running] if running else [])
    lines = render_table(view.columns, view.shown(), max_rows, "" if running else order_note(view))
    return lines[:-1] + [running] if running else lines


# --------------------------------------------------------------------------- the engine


@dataclass(frozen=True)
class Outcome:
    """How a query ended: its final view and what stopped it."""

    view: Any  # UpdateTable, AppendLog or SingleValue
    stopped_by: str | None  # "max-rows", "timeout" or "interrupt"; None: the query ended by itself


class Explorer:
    """A TableEnvironment with every clickflow table registered, running one statement at a time."""

    def __init__(self, config: Config, start: str | None = None, bounded: bool = False):
        from connectors import environment
        from jobs import plans
        from jobs.stream import RunOptions, output_stream_table, register_inputs, source_options

        # Always clickflow's own connector, in this process, at the profile's endpoints as seen from here
        where = environment.decide(config, embedded=True)
        config = where.config
        self.config = config
        # Views created only as a query needs them (jobs/plans.py): a query over clicks plans none of the
        # analytics' 26; the output tables' columns are kept from the first start in the plan cache.
        self.env = plans.Recorder(
            environment.table_env(where, rest_port=0, archives=False), views_from_cache=plans.cache_for(config)
        )
        # A running aggregate (a GROUP BY without a window) changes a row with every event, and each change
        # crosses to Python one at a time (about 300 a second here: a minute-long query over 20,000 events).
        # Flink's mini-batch folds what arrives within 200 ms into one change per key; results are the same.
        conf = self.env.get_config()
        conf.set("table.exec.mini-batch.enabled", "true")
        conf.set("table.exec.mini-batch.allow-latency", "200 ms")
        conf.set("table.exec.mini-batch.size", "10000")
        source = source_options(config, RunOptions(start=start, bounded=bounded))
        register_inputs(self.env, config, kinesis_options(config, config.stream("events").name, source))
        outputs = source_options(config, RunOptions(start="trim_horizon", bounded=bounded))  # each from its start
        for name in (*analytics.ANALYTICS, "dead_letters"):
            output_stream_table(self.env, config, name, outputs)

    def tables(self) -> list[str]:
        """The tables and views a query can name."""
        return sorted(set(self.env.list_tables()) | set(self.env.list_views()) | set(self.env.list_temporary_views()))

    def run(
        self,
        sql: str,
        mode: str = "update",
        max_rows: int | None = None,
        timeout: float | None = None,
        on_change: Callable[[object], None] = lambda view: None,
        interrupted: threading.Event | None = None,
    ) -> Outcome:
        """Run one statement and feed its changelog into the mode's view until it ends, ``max_rows``
        rows have arrived (append), ``timeout`` seconds pass, or ``interrupted`` is set."""
        from jobs.failure import flink_root_cause

        statement = sql.strip().rstrip(";")
        if mode == "append":
            self.check_append_only(statement)
        try:
            result = self.env.run_sql(statement)
        except Exception as exc:  # noqa: BLE001 - Flink's SQL errors arrive as py4j errors
            raise ExploreError(flink_root_cause(exc)) from None
        columns = list(result._j_table_result.getResolvedSchema().getColumnNames())
        view = new_view(mode, columns)
        if isinstance(view, ChangelogTable):
            view.order = result_order(sql, columns)
        changes: queue.Queue = queue.Queue()
        done = object()
        iterator = result.collect()

        def pump():
            try:
                for row in iterator:
                    changes.put((str(row.get_row_kind()), list(row)))
            except Exception as exc:  # noqa: BLE001 - handed to the caller's thread
                changes.put(exc)
            finally:
                changes.put(done)

        reader = threading.Thread(target=pump, name="explore-results", daemon=True)
        reader.start()
        deadline = None if timeout is None else time.monotonic() + timeout
        stopped_by, finished = None, False
        try:
            while True:
                if interrupted is not None and interrupted.is_set():
                    stopped_by = "interrupt"
                    break
                wait = 0.2 if deadline is None else max(0.0, min(0.2, deadline - time.monotonic()))
                try:
                    item = changes.get(timeout=wait)
                except queue.Empty:
                    if deadline is not None and time.monotonic() >= deadline:
                        stopped_by = "timeout"
                        break
                    on_change(view)  # nothing new: the live indicator still counts the seconds
                    continue
                if item is done:
                    finished = True
                    break
                if isinstance(item, Exception):
                    raise ExploreError(flink_root_cause(item)) from None
                view.apply(*item)
                on_change(view)
                if mode == "append" and max_rows is not None and len(view.rows) >= max_rows:
                    stopped_by = "max-rows"
                    break
        finally:
            if not finished:
                self._stop(result, iterator)
                reader.join(timeout=30)
        return Outcome(view, stopped_by)

    def check_append_only(self, statement: str) -> None:
        """Refuse, before it runs, a query whose changelog (as Flink's planner derives it) holds updates: append
        mode could only fail on its first update, and with mini-batch a short bounded run may send none."""
        from pyflink.table.explain_detail import ExplainDetail

        try:
            plan = self.env.explain_sql(statement, ExplainDetail.CHANGELOG_MODE)
        except Exception:  # noqa: BLE001 - not a query (SHOW, SET, ...), or invalid: running it says why
            return
        kinds = changelog_of(plan)
        if kinds is not None and kinds != {"I"}:
            raise ExploreError(
                f"append mode shows insert-only results, but this query sends {', '.join(sorted(kinds - {'I'}))} "
                "changes (it updates rows it has shown): use --mode update"
            )

    @staticmethod
    def _stop(result, iterator) -> None:
        client = result.get_job_client()
        try:
            if client is not None:
                client.cancel().result()
        except Exception:  # noqa: BLE001 - the job may have ended meanwhile
            pass
        try:
            iterator.close()
        except Exception:  # noqa: BLE001
            pass


def changelog_of(plan: str) -> set[str] | None:
    """The change kinds (I, UB, UA, D) of a query's result, read from the root of the optimized physical plan
    that ``EXPLAIN CHANGELOG_MODE`` prints; None when the plan does not say, or its root is a sink (an INSERT)."""
    _, found, physical = plan.partition("== Optimized Physical Plan ==")
    root = next((line for line in physical.splitlines() if line.strip()), "") if found else ""
    match = re.search(r"changelogMode=\[([^\]]*)\]", root)
    kinds = set() if match is None else {kind.strip() for kind in match.group(1).split(",") if kind.strip()}
    return kinds if kinds and "NONE" not in kinds else None


# --------------------------------------------------------------------------- the shell


def split_statements(buffer: str) -> tuple[list[str], str]:
    """Complete statements (ended by ';' outside quotes) and the unfinished rest."""
    out, current, quote = [], [], None
    for char in buffer:
        current.append(char)
        if quote:
            if char == quote:
                quote = None
        elif char in ("'", "`", '"'):
            quote = char
        elif char == ";":
            statement = "".join(current).strip()
            if statement.strip(";").strip():
                out.append(statement)
            current = []
    return out, "".join(current)


HELP = """\
Type SQL and end it with ';' (it may span lines). Results show in the current mode until the query
ends, --timeout passes or you press Ctrl-C (which cancels the query, not the shell).
  %mode update|append|single   how results are shown (now: {mode})
  %max-rows N                  append: stop after N rows; update: show at most N
  %timeout SECONDS|off         stop each query after this long
  %tables                      the registered tables and views
  %help, %quit                 (Ctrl-D quits too)
Try:  SELECT * FROM unique_visitors;   SELECT COUNT(*) FROM clicks;   SHOW TABLES;"""


@dataclass
class ShellSettings:
    """The shell's ``SET``-able settings: result mode, rows shown, per-query time-out."""

    mode: str = "update"
    max_rows: int | None = 50
    timeout: float | None = None


class Screen:
    """Redraws the current view in place on a terminal, with a "running" line while the query runs;
    elsewhere prints only the final view. "N rows" appears only in the final view."""

    def __init__(self, out, tty: bool, max_rows: int | None):
        self.out, self.tty, self.max_rows = out, tty, max_rows
        self._lines = 0  # lines drawn by the last redraw (update, single); append: table rows drawn
        self._status = False  # append: a running line is drawn below the rows
        self._last = 0.0
        self._started = time.monotonic()

    def running(self, view) -> str:
        """The live indicator: rows so far, seconds running, how to cancel."""
        rows = len(view.rows)
        seconds = time.monotonic() - self._started
        return f"running: {rows} row{'s' if rows != 1 else ''} so far, {seconds:.0f} s (Ctrl-C cancels the query)"

    def update(self, view, force: bool = False) -> None:
        """Redraw the view in place (on a terminal, at most four times a second unless ``force``)."""
        if not self.tty:
            return
        now = time.monotonic()
        if not force and now - self._last < 0.25:
            return
        self._last = now
        self._draw(view, self.running(view))

    def _draw(self, view, running: str) -> None:
        if isinstance(view, AppendLog):  # append: only the new rows, the running line kept below them
            lines = render_table(view.columns, view.rows, None)
            body = lines[3:-2]
            if self._status:
                self.out.write("\x1b[1F\x1b[J")
            if self._lines == 0:
                self.out.write("\n".join(lines[:3]) + "\n")
            for line in body[self._lines :]:
                self.out.write(line + "\n")
            self._lines = len(body)
            self._status = bool(running)
            if running:
                self.out.write(running + "\n")
        else:
            lines = render(view, self.max_rows, running)
            if self._lines:
                self.out.write(f"\x1b[{self._lines}F\x1b[J")
            self.out.write("\n".join(lines) + "\n")
            self._lines = len(lines)
        self.out.flush()

    def finish(self, outcome: Outcome) -> None:
        """Draw the final view (in place of the running one) and say what stopped the query."""
        if self.tty:
            self._draw(outcome.view, "")
            if isinstance(outcome.view, AppendLog):
                closing = render_table(outcome.view.columns, outcome.view.rows)
                self.out.write("\n".join(closing[-2:]) + "\n")
        else:
            self.out.write("\n".join(render(outcome.view, self.max_rows)) + "\n")
        reason = {"timeout": "stopped: timeout", "max-rows": "stopped: max rows", "interrupt": "cancelled"}
        if outcome.stopped_by:
            self.out.write(f"({reason[outcome.stopped_by]})\n")
        self.out.flush()


def _meta(command: str, settings: ShellSettings, explorer: Explorer, say) -> bool:
    """A %command; returns False to quit."""
    parts = command[1:].split()
    name, args = (parts[0].lower(), parts[1:]) if parts else ("help", [])
    if name in ("quit", "exit", "q"):
        return False
    if name == "mode" and args and args[0] in MODES:
        settings.mode = args[0]
        say(f"mode: {settings.mode}")
    elif name == "max-rows" and args and args[0].isdigit():
        settings.max_rows = int(args[0])
        say(f"max rows: {settings.max_rows}")
    elif name == "timeout" and args:
        settings.timeout = None if args[0] == "off" else float(args[0])
        say(f"timeout: {settings.timeout or 'off'}")
    elif name == "tables":
        say("\n".join(explorer.tables()))
    else:
        say(HELP.format(mode=settings.mode))
    return True


def interactive(explorer: Explorer, settings: ShellSettings, history: Path, out, say) -> int:
    """The read-eval-show loop: multi-line statements, history kept across sessions."""
    import signal

    try:
        import readline
    except ImportError:  # not on every platform; the shell works without it
        readline = None  # type: ignore[assignment]
    if readline is not None:
        history.parent.mkdir(parents=True, exist_ok=True)
        try:
            readline.read_history_file(history)
        except OSError:
            pass
        readline.set_history_length(1000)
    say(f"clickflow explore ({explorer.config.profile}): {len(explorer.tables())} tables and views; %help for help")
    buffer = ""
    try:
        while True:
            try:
                line = input("flink> " if not buffer.strip() else "   ...> ")
            except EOFError:
                say("")
                return 0
            except KeyboardInterrupt:
                buffer = ""
                say("")
                continue
            if not buffer.strip() and line.strip().startswith("%"):
                if not _meta(line.strip(), settings, explorer, say):
                    return 0
                continue
            buffer += line + "\n"
            statements, buffer = split_statements(buffer)
            for statement in statements:
                interrupted = threading.Event()
                stop = deferred(interrupted.set)  # never Event.set() in the handler: see connectors.signals
                previous = signal.signal(signal.SIGINT, lambda *_, stop=stop: stop())
                screen = Screen(out, out.isatty(), settings.max_rows)
                try:
                    outcome = explorer.run(
                        statement, settings.mode, settings.max_rows, settings.timeout, screen.update, interrupted
                    )
                    screen.finish(outcome)
                except ExploreError as exc:  # a SQL error must not end the shell
                    say(f"error: {exc}")
                finally:
                    signal.signal(signal.SIGINT, previous)
    finally:
        if readline is not None:
            try:
                readline.write_history_file(history)
            except OSError:
                pass


def print_rows(outcome: Outcome, out, output_format: str, max_rows: int | None) -> None:
    """``-e``: the final view as a table, or JSON lines (column names as keys)."""
    view = outcome.view
    if output_format == "json":
        rows = view.shown()
        for row in rows if max_rows is None or isinstance(view, SingleValue) else rows[:max_rows]:
            out.write(json.dumps(dict(zip(view.columns, map(json_value, row), strict=False)), allow_nan=False) + "\n")
    else:
        Screen(out, False, max_rows).finish(outcome)
    out.flush()


def check_options(mode: str, max_rows: int | None, timeout: float | None) -> None:
    """Refuse a mode, row count or time-out that is out of range, naming the option."""
    if mode not in MODES:
        raise ConfigError(f"--mode {mode!r}: choose one of {', '.join(MODES)}")
    if max_rows is not None and max_rows < 1:
        raise ConfigError(f"--max-rows: must be at least 1, got {max_rows}")
    if timeout is not None and timeout <= 0:
        raise ConfigError(f"--timeout: must be more than 0 seconds, got {timeout}")
