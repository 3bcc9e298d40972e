"""Compiled plans, kept and reused: a job's statement set is optimised by Flink once (``COMPILE PLAN``)
and, on every later start with the same plan key, loaded and executed as compiled (``EXECUTE PLAN``),
which skips Flink's optimiser — the largest part of a job's start-up after the JVM itself.

The key is a SHA-256 of everything that can change the plan: the Flink and clickflow versions, the jars
the job plans with (clickflow's connector and functions), the planner's settings (``table.*`` and the
parallelism), and the text of every statement the job ran to define itself (its tables, functions and
views) and of its INSERTs. Plans are compiled with ``table.plan.compile.catalog-objects = IDENTIFIER``:
they name their tables and functions, and take them — with their options — from the statements this
start ran. So the connector options that only say *where* (a stream, an archive path, an endpoint, the
credentials, where to start reading) are left out of the key: they are read when the job is built from
the plan, never by the optimiser. Every other option stays in it.

A plan that cannot be read (another Flink, a damaged file) is compiled afresh and replaced; nothing in
the cache is needed for a job to run. ``job.plan_cache: false`` turns it off. The cache is
``$XDG_CACHE_HOME/clickflow/plans`` (``~/.cache/...``; ``$CLICKFLOW_PLAN_CACHE`` if set), its 64 most
recently used plans kept.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from collections.abc import Callable, Iterable
from importlib import metadata
from pathlib import Path
from typing import Any

KEEP = 64  # plans kept in the cache (about 0.5 MB each), the least recently used removed first
IDENTIFIER_PLANS = {"table.plan.compile.catalog-objects": "IDENTIFIER"}

# Options that say where a table's data is, who reads it and from where: never read by the optimiser.
# clickflow's Kinesis connector reads all its options at run time (its abilities do not depend on them);
# the filesystem connector's path is read when its sink or source is built.
_PLACEMENT_ALWAYS = frozenset({"path"})
_KEPT_FOR_KINESIS = frozenset({"connector", "format"})
_OPTION = re.compile(r"'((?:[^']|'')*)'\s*=\s*'((?:[^']|'')*)'")
_CREATE_TABLE = re.compile(r"^\s*(?:--[^\n]*\n\s*)*CREATE\s+(?:TEMPORARY\s+)?TABLE\b", re.I)
_CREATE_VIEW = re.compile(
    r"^\s*(?:--[^\n]*\n\s*)*CREATE\s+(?:TEMPORARY\s+)?VIEW\s+(?:IF\s+NOT\s+EXISTS\s+)?((?:`(?:[^`]|``)*`|[\w$]+)(?:\.(?:`(?:[^`]|``)*`|[\w$]+))*)",
    re.I,
)
# Statements that never read a view: a table defined by its columns, a function. Anything else (a table
# made from a query, a SELECT, an EXPLAIN) gets the views created first.
_INDEPENDENT = re.compile(r"^\s*(?:--[^\n]*\n\s*)*CREATE\s+(?:TEMPORARY\s+)?(?:SYSTEM\s+)?(?:TABLE|FUNCTION)\b", re.I)
# Statements whose views are the ones they name (a SHOW VIEWS names none and lists them all).
_READS_BY_NAME = re.compile(
    r"^\s*(?:--[^\n]*\n\s*)*\(*\s*(?:SELECT|WITH|VALUES|TABLE|INSERT|EXPLAIN|DESCRIBE|DESC)\b", re.I
)
_AS_QUERY = re.compile(r"\bAS\s*\(?\s*(?:SELECT|WITH|VALUES|TABLE)\b", re.I)
# What the plan cache itself uses of the environment: loading and executing a plan needs no views.
_NEED_NO_VIEWS = frozenset({"get_config", "_j_tenv"})


CACHE_ENV = "CLICKFLOW_PLAN_CACHE"


def cache_dir() -> Path:
    """Where compiled plans are kept: ``$CLICKFLOW_PLAN_CACHE``, else clickflow's cache's ``plans/``."""
    from connectors.official import cache_root

    return Path(os.environ.get(CACHE_ENV) or cache_root() / "plans")


def cache_for(config: Any, managed: bool = False) -> Path | None:
    """The plan cache a job of ``config`` uses: none when ``job.plan_cache`` is off or on Managed Flink
    (which keeps no files between starts)."""
    return cache_dir() if config.job.plan_cache and not managed else None


class Recorder:
    """A TableEnvironment that passes every call on and keeps the text of each statement it was given
    (the plan key is made of them). Its statement sets keep their INSERTs the same way.

    With ``views_from_cache`` (a plan cache directory), views are created only when something needs them:
    a start whose plan is in the cache never plans its views' queries (Flink validates each view as it is
    created: 2.5-3.8 s of a warm start for the streaming job's 26 views), since a compiled plan holds their
    queries. What the job took from the views before it had a plan — the columns of its sink tables — is
    kept beside the plans (:meth:`columns`), keyed by the statements made before it was asked. Anything
    else that reads the catalog creates the views first, as does compiling a plan."""

    def __init__(self, env: Any, views_from_cache: Path | None = None) -> None:
        self._env = env
        self.statements: list[str] = []
        self._columns_dir = views_from_cache
        self._deferred: list[tuple[str, str, Callable[[], Any]]] = []  # (view, its text, what creates it)
        self._known: dict[str, list[list[str]]] = {}  # columns kept at _known_path, read at the first call
        self._known_path: Path | None = None
        self._known_after = 0  # statements recorded when the known columns' key was made

    def execute_sql(self, sql: str) -> Any:
        """Run ``sql`` in the environment, keeping its text (a view: when it is first needed)."""
        self.statements.append(sql)
        view = _CREATE_VIEW.match(sql)
        if self._columns_dir is not None and view:
            self._deferred.append((_unquoted(view.group(1)), sql, lambda: self._env.execute_sql(sql)))
            return None
        self._create_views_for(sql)
        return self._env.execute_sql(sql)

    def sql_query(self, sql: str) -> Any:
        """Plan the query ``sql`` (e.g. a view's, registered with ``create_temporary_view``), keeping its text."""
        self.statements.append(sql)
        if self._columns_dir is not None:
            return _DeferredQuery(sql)
        return self._env.sql_query(sql)

    def create_temporary_view(self, name: str, table: Any) -> None:
        """Register ``table`` (from :meth:`sql_query`) as ``name``."""
        self.statements.append(f"-- view {name}: the query above")
        if isinstance(table, _DeferredQuery):
            create = lambda: self._env.create_temporary_view(name, self._env.sql_query(table.sql))  # noqa: E731
            self._deferred.append((name, table.sql, create))
        else:
            self._env.create_temporary_view(name, table)

    def create_views(self, needed_by: str | None = None) -> None:
        """Create the views not created yet, in the order they were given: those that the statement
        ``needed_by`` names, and the views those name, in turn; all of them without it. A name is found
        as a word of the text (in a comment or a string too): one found where it is not used only creates
        a view sooner."""
        wanted = {name for name, _, _ in self._deferred}
        if needed_by is not None:
            wanted, texts = set(), [needed_by]
            while texts:
                text = texts.pop()
                found = {n for n, _, _ in self._deferred if n not in wanted and _names(text, n)}
                wanted |= found
                texts += [text for n, text, _ in self._deferred if n in found]
        kept = []
        for name, text, create in self._deferred:
            if name in wanted:
                create()
            else:
                kept.append((name, text, create))
        self._deferred = kept

    def _create_views_for(self, sql: str) -> None:
        """Create the views the statement ``sql`` may read before it runs: none for a table defined by its
        columns or a function; those it names for a query, a view or a table made from a query; all of them
        for anything else (a SHOW VIEWS names none and lists them all)."""
        made_from_query = _AS_QUERY.search(sql) is not None
        if _INDEPENDENT.match(sql) and not made_from_query:
            return
        if made_from_query or _CREATE_VIEW.match(sql) or _READS_BY_NAME.match(sql):
            self.create_views(needed_by=sql)
        else:
            self.create_views()

    def run_sql(self, sql: str) -> Any:
        """Run ``sql`` at once, whatever it is (a view too: a shell's user expects its answer), the views it
        reads created first; PyFlink's TableResult."""
        self._create_views_for(sql)
        self.statements.append(sql)
        return self._env.execute_sql(sql)

    def explain_sql(self, sql: str, *details: Any) -> str:
        """Flink's plan of ``sql`` (the views it reads created first)."""
        self.create_views(needed_by=sql)
        return self._env.explain_sql(sql, *details)

    def columns(self, name: str, read: Callable[[], list[tuple[str, str]]]) -> list[tuple[str, str]]:
        """The columns of table or view ``name``: as kept for the statements made so far, else ``read()``
        (after creating the views) and kept."""
        if self._columns_dir is None:
            return read()
        if self._known_path is None:
            self._known_after = len(self.statements)
            key = plan_key(self._env.get_config().get_configuration().to_dict(), self.statements, ["-- columns"])
            self._known_path = self._columns_dir / "columns" / f"{key}.json"
            try:
                self._known = json.loads(self._known_path.read_text())
            except (OSError, ValueError):
                self._known = {}
        entry = f"{name} after {_digest(self.statements[self._known_after :])}"
        if entry in self._known:
            return [(column, kind) for column, kind in self._known[entry]]
        self.create_views()
        found = read()
        self._known[entry] = [[column, kind] for column, kind in found]
        _write_whole(self._known_path, json.dumps(self._known, indent=1))
        _prune(self._known_path.parent, KEEP * 4)
        return found

    def create_statement_set(self) -> RecordedStatements:
        """A statement set whose INSERTs are kept too (and, with the views not yet created, added to it only
        when it is used: Flink validates an INSERT as it is added)."""
        return RecordedStatements(self._env.create_statement_set(), self if self._columns_dir is not None else None)

    def __getattr__(self, name: str) -> Any:
        if name not in _NEED_NO_VIEWS:
            self.create_views()
        return getattr(self._env, name)


def _unquoted(identifier: str) -> str:
    """The last part of a (catalog.database.)name, without its backquotes."""
    return identifier.replace("``", "\0").split(".")[-1].strip("`").replace("\0", "`")


def _names(text: str, name: str) -> bool:
    """Whether ``text`` has ``name`` as a word (any case: a view named in another case is the same one)."""
    return re.search(rf"(?<![\w$]){re.escape(name)}(?![\w$])", text, re.I) is not None


class _DeferredQuery:
    """A view's query, planned when the view is created."""

    def __init__(self, sql: str) -> None:
        self.sql = sql


def _digest(statements: Iterable[str]) -> str:
    return hashlib.sha256(json.dumps([_masked(s) for s in statements]).encode()).hexdigest()[:16]


def _write_whole(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` whole or not at all, even with two jobs writing at once."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, suffix=".tmp", delete=False) as out:
        out.write(text)
    os.replace(out.name, path)


class RecordedStatements:
    """A StatementSet (from :meth:`Recorder.create_statement_set`) that keeps the text of its INSERTs."""

    def __init__(self, statement_set: Any, views_later: Recorder | None = None) -> None:
        self._set = statement_set
        self.inserts: list[str] = []
        self._views_later = views_later
        self._added = 0  # inserts added to the statement set

    def add_insert_sql(self, sql: str) -> RecordedStatements:
        """Add an INSERT, keeping its text."""
        self.inserts.append(sql)
        if self._views_later is None:
            self._set.add_insert_sql(sql)
            self._added = len(self.inserts)
        return self

    def __getattr__(self, name: str) -> Any:
        if self._views_later is not None and self._added < len(self.inserts):
            self._views_later.create_views()
            for sql in self.inserts[self._added :]:
                self._set.add_insert_sql(sql)
            self._added = len(self.inserts)
        return getattr(self._set, name)


def _masked(statement: str) -> str:
    """``statement`` with the values of its placement options replaced (CREATE TABLE only)."""
    if not _CREATE_TABLE.match(statement):
        return statement
    options = {key: value for key, value in _OPTION.findall(statement)}
    kinesis = options.get("connector") == "kinesis"

    def mask(match: re.Match) -> str:
        key = match.group(1)
        if key in _PLACEMENT_ALWAYS or (kinesis and key not in _KEPT_FOR_KINESIS):
            return f"'{key}' = '…'"
        return match.group(0)

    return _OPTION.sub(mask, statement)


def jar_digest(uri: str) -> str:
    """clickflow's jars: the fingerprint of the sources they were built from (beside them); others: their SHA-256."""
    from connectors.kinesis_connector import built_from
    from connectors.official import sha256_of

    path = Path(uri.removeprefix("file://")) if uri.startswith("file:") else Path(uri)
    return built_from(path) or sha256_of(path)


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "unknown"


def plan_key(settings: dict[str, str], statements: Iterable[str], inserts: Iterable[str]) -> str:
    """The cache key of a statement set: versions, jars, planner settings, masked statements."""
    planner = {k: v for k, v in settings.items() if k.startswith("table.") or k == "parallelism.default"}
    jars = [jar_digest(uri) for uri in settings.get("pipeline.jars", "").split(";") if uri]
    identity = {
        "flink": _version("apache-flink"),
        "clickflow": _version("clickflow"),
        "jars": jars,
        "planner": sorted(planner.items()),
        "statements": [_masked(s) for s in statements],
        "inserts": list(inserts),
    }
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:32]


def _prune(directory: Path, keep: int = KEEP) -> None:
    plans = sorted(directory.glob("*.json"), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in plans[keep:]:
        old.unlink(missing_ok=True)


def execute(
    recorder: Recorder,
    statements: RecordedStatements,
    directory: Path | None,
    say: Callable[[str], None] = lambda _: None,
) -> Any:
    """Execute ``statements`` (made through ``recorder``) from a compiled plan: the cached one for its key,
    or one compiled now and cached. ``directory`` None: compiled and executed, not cached. Returns
    PyFlink's TableResult."""
    from py4j.protocol import Py4JJavaError
    from pyflink.table import TableResult

    plan = None
    path = None
    if directory is not None:
        path = plan_path(recorder, statements, directory)
        if path.is_file():
            try:
                plan = load_plan(recorder, path)
                touch(path)
                say(f"plan: compiled plan {path.stem[:12]} from the cache")
            except Py4JJavaError as exc:
                say(f"plan: the cached plan {path} could not be read ({str(exc).splitlines()[0]}); compiling again")
                plan = None
    if plan is None:
        plan = compile_plan(recorder, statements)
        if path is not None:
            _write_whole(path, plan.asJsonString())
            _prune(path.parent)
            say(f"plan: compiled and cached as {path.stem[:12]}")
    return TableResult(_on_this_thread(plan.execute))


def touch(path: Path) -> None:
    """Mark a cached plan recently used (the least recently used are pruned first)."""
    try:
        os.utime(path)
    except OSError:
        pass


def _plans_name_their_objects(recorder: Recorder) -> None:
    """Set the planner to compile plans that name their tables and functions (before the key is made)."""
    conf = recorder.get_config()
    for option, value in IDENTIFIER_PLANS.items():
        conf.set(option, value)


def plan_path(recorder: Recorder, statements: RecordedStatements, directory: Path) -> Path:
    """Where the compiled plan of ``statements`` (made through ``recorder``) is kept in ``directory``."""
    _plans_name_their_objects(recorder)
    settings = recorder.get_config().get_configuration().to_dict()
    return directory / f"{plan_key(settings, recorder.statements, statements.inserts)}.json"


def load_plan(recorder: Recorder, path: Path) -> Any:
    """Flink's CompiledPlan read from ``path`` (``EXECUTE PLAN``'s first half); Py4JJavaError if it cannot be."""
    from pyflink.java_gateway import get_gateway

    reference = get_gateway().jvm.org.apache.flink.table.api.PlanReference.fromFile(str(path))
    return recorder._j_tenv.loadPlan(reference)


def compile_plan(recorder: Recorder, statements: RecordedStatements) -> Any:
    """Flink's CompiledPlan of ``statements`` (``COMPILE PLAN``), naming its tables and functions, its nodes
    numbered from 1 whatever this JVM compiled before (:func:`_number_nodes_from_one`)."""
    recorder.create_views()
    _plans_name_their_objects(recorder)
    _number_nodes_from_one(recorder)
    return _on_this_thread(statements._j_statement_set.compilePlan)


def _number_nodes_from_one(recorder: Recorder) -> None:
    """Restart the planner's node numbering. A compiled plan's operators are named (their uids, by which a
    checkpoint's state is matched to them on restore) after its nodes' numbers, which Flink's planner takes
    from one counter for the whole JVM: a plan compiled in a process that had compiled another first was
    numbered after it. Measured: a job killed while running a plan compiled in a fresh process could not be
    restored from a plan of the same statements compiled after another job's ("Cannot map checkpoint/savepoint
    state for operator … to the new program"). Numbered from 1, the same statements give the same uids in
    any process. The counter is in the planner's own class loader, so it is reached through the planner."""
    from pyflink.java_gateway import get_gateway

    gateway = get_gateway()
    loader = recorder._j_tenv.getPlanner().getClass().getClassLoader()
    context = gateway.jvm.java.lang.Class.forName(
        "org.apache.flink.table.planner.plan.nodes.exec.ExecNodeContext", True, loader
    )
    no_arguments = gateway.new_array(gateway.jvm.java.lang.Class, 0)
    context.getMethod("resetIdCounter", no_arguments).invoke(None, gateway.new_array(gateway.jvm.java.lang.Object, 0))


def _on_this_thread(call):
    """Run a planner call with Python's cyclic garbage collector paused. Flink's optimiser keeps its metadata
    provider in a Java thread-local set where the planner was made; py4j serves a Python thread's calls on one
    Java thread only while no other Python thread talks to the JVM — and a collection that another thread
    (the ETL's deliveries, say) runs finalises Java objects over py4j, which can leave this thread on another
    connection: measured, ``compilePlan`` then failed with ``NullPointerException: metadataHandlerProvider``."""
    import gc

    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return call()
    finally:
        if was_enabled:
            gc.enable()


class NeedsPlanner(Exception):
    """A :class:`StatementsOnly` environment was asked for something only Flink's planner knows."""


class StatementsOnly:
    """A stand-in for a TableEnvironment that runs nothing: it keeps the settings set on it and the
    statements given to it, so that a job's plan key (and the tables and functions its plan names) can be
    made without a JVM — for a job whose compiled plan is run elsewhere (``jobs.gateway.submit_plan``: the
    cluster's SQL gateway). Wrapped in a :class:`Recorder` with a plan cache, it is never asked to create a
    view; anything that needs the planner (a view, the columns of one not kept in the cache) raises
    :class:`NeedsPlanner`."""

    def __init__(self, settings: dict[str, str]) -> None:
        self.settings = dict(settings)
        self.executed: list[str] = []  # the statements that define the plan's tables and functions

    def get_config(self) -> StatementsOnly:
        """Its settings (itself: it answers as a TableConfig and its Configuration do)."""
        return self

    def get_configuration(self) -> StatementsOnly:
        """Its settings, again."""
        return self

    def set(self, key: str, value: str) -> StatementsOnly:
        """Set a Flink option."""
        self.settings[key] = value
        return self

    def to_dict(self) -> dict[str, str]:
        """Every option set, by name."""
        return dict(self.settings)

    def execute_sql(self, sql: str) -> None:
        """Keep a table's or a function's definition; anything else needs the planner."""
        if not (_INDEPENDENT.match(sql) and not _AS_QUERY.search(sql)):
            raise NeedsPlanner(f"a statement that reads the catalog: {sql[:80]}")
        self.executed.append(sql)

    def create_statement_set(self) -> _InsertsOnly:
        """A statement set that keeps nothing (its recorder keeps the INSERTs)."""
        return _InsertsOnly()

    def __getattr__(self, name: str) -> Any:
        raise NeedsPlanner(f"the planner's {name}")


class _InsertsOnly:
    """The statement set of a :class:`StatementsOnly` environment: its INSERTs are kept by the recorder."""

    def add_insert_sql(self, sql: str) -> _InsertsOnly:
        return self

    def __getattr__(self, name: str) -> Any:
        raise NeedsPlanner(f"the statement set's {name}")
