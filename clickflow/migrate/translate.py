"""KDA SQL → Flink SQL: every statement of an application's code, translated or refused.

The shape of what comes out (``Translation``):

- the input: a Kinesis table read as text (``payload``) with the record's arrival time as ``ROWTIME``
  (an event-time attribute, watermarked per shard by clickflow's connector), and a view named like
  KDA's first in-application stream (``SOURCE_SQL_STREAM_001``) that types the schema's columns; a
  record the schema cannot read goes to the errors view instead, with KDA's error_stream columns;
- every in-application stream written by pumps: a view, the UNION ALL of its pumps' SELECTs, with
  the declared columns (cast to their types, by position as KDA's INSERT does) and its ``ROWTIME``;
- every stream that goes out (a destination): a Kinesis sink table and one INSERT from its view.

Windows: ``GROUP BY ..., STEP(ROWTIME BY INTERVAL ...)`` (or ``FLOOR(ROWTIME TO unit)``) is a
tumbling window over ROWTIME (``window_start`` is the STEP's value, ``ROWTIME`` the window's end,
as KDA emits a group when its window closes); other STEP/FLOOR terms (an event-time column) stay
grouping keys, so the two-time pattern keeps its meaning. ``OVER`` windows (named or inline) are
ordered by ROWTIME. What cannot be translated raises :class:`MigrateError` at its line and column.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from lark import Token, Tree

from clickflow.migrate.app import Application, InputSchema, flink_type
from clickflow.migrate.parse import MigrateError, name, parse, text, where
from jobs.analytics import sql_interval

METADATA = {  # the source stream's KDA system columns the connector can give
    "APPROXIMATE_ARRIVAL_TIME": "TIMESTAMP(3)",
    "SHARD_ID": "STRING",
    "SEQUENCE_NUMBER": "STRING",
}
ERROR_COLUMNS = ("ERROR_TIME", "ERROR_LEVEL", "ERROR_NAME", "MESSAGE", "DATA_ROW")
SCALARS = {
    "ABS", "UPPER", "LOWER", "CHAR_LENGTH", "CHARACTER_LENGTH", "COALESCE", "NULLIF", "MOD", "POWER", "SQRT", "LN",
    "LOG10", "EXP", "ROUND", "CEIL", "FLOOR", "SUBSTRING", "TRIM", "LTRIM", "RTRIM", "INITCAP", "CONCAT", "SIGN",
    "REPLACE", "LPAD", "RPAD",
}  # fmt: skip
AGGREGATES = {"COUNT", "SUM", "AVG", "MIN", "MAX", "STDDEV_POP", "STDDEV_SAMP", "VAR_POP", "VAR_SAMP"}
UNTRANSLATED = {"SYS_LOG_PARSE", "FIXED_COLUMN_LOG_PARSE"}  # KDA parsers clickflow does not offer
LOG_PARSERS = {  # KDA's log parsers: clickflow's functions of the same name, arguments and columns
    "REGEX_LOG_PARSE": "io.clickflow.udf.RegexLogParse",
    "FAST_REGEX_LOG_PARSER": "io.clickflow.udf.FastRegexLogParser",
    "W3C_LOG_PARSE": "io.clickflow.udf.W3cLogParse",
    "VARIABLE_COLUMN_LOG_PARSE": "io.clickflow.udf.VariableColumnLogParse",
}
# KDA's learned functions: (clickflow's function, its parameters as (name, low, high, default), the columns added)
LEARNED: dict[str, tuple[str, list[tuple[str, float, float, float | None]], dict[str, str]]] = {
    "RANDOM_CUT_FOREST": (
        "io.clickflow.udf.RandomCutForestScore",
        [("numberOfTrees", 1, 1000, 100), ("subSampleSize", 10, 1000, 256), ("timeDecay", 1, 2**31 - 1, 100_000),
         ("shingleSize", 1, 30, 1)],
        {"ANOMALY_SCORE": "DOUBLE"},
    ),
    "RANDOM_CUT_FOREST_WITH_EXPLANATION": (
        "io.clickflow.udf.RandomCutForestWithExplanation",
        [("numberOfTrees", 1, 1000, 100), ("subSampleSize", 10, 1000, 256), ("timeDecay", 1, 2**31 - 1, 100_000),
         ("shingleSize", 1, 30, 1), ("withDirectionality", 0, 1, 0)],
        {"ANOMALY_SCORE": "DOUBLE", "ANOMALY_EXPLANATION": "STRING"},
    ),
    "HOTSPOTS": (
        "io.clickflow.udf.Hotspots",
        [("windowSize", 2, 10_000, None), ("scanRadius", 0, float("inf"), None),
         ("minimumNumberOfPointsInAHotspot", 2, 10_000, None)],
        {"HOTSPOTS_RESULT": "STRING"},
    ),
}  # fmt: skip
UNIT_SECONDS = {"SECOND": 1, "MINUTE": 60, "HOUR": 3600, "DAY": 86400}
UDFS = {
    "TSDIFF": "io.clickflow.udf.TsDiff",
    "KDA_REFERENCE": "io.clickflow.udf.ReferenceLookup",
    "STAGGER_WINDOW": "io.clickflow.udf.StaggerWindow",
    "HLL_COUNT_DISTINCT": "io.clickflow.udf.HllCountDistinct",
}


def q(identifier: str) -> str:
    """A Flink identifier, quoted (KDA names are case-sensitive, as Flink's are)."""
    return "`" + identifier.replace("`", "``") + "`"


@dataclass
class Stream:
    """An in-application stream declared with CREATE OR REPLACE STREAM (or a view)."""

    name: str
    columns: list[tuple[str, str]]  # (name, Flink type)
    node: Tree
    pumps: list[str] = field(default_factory=list)  # the Flink views of the pumps into it
    is_view: bool = False


@dataclass
class Relation:
    """A stream, view or table in a FROM clause, as the query names it."""

    view: str  # the Flink object
    alias: str
    columns: dict[str, str]  # name → Flink type ('' unknown)
    stream: str  # the KDA name
    inferred: bool = False  # the input without a schema: its columns are taken as the SQL uses them
    reference: bool = False
    star: tuple[str, ...] = ()  # what * expands to
    expressions: dict[str, str] = field(default_factory=dict)  # a column's SQL, where it is not alias.column


@dataclass
class Scope:
    """What an expression can see: the relations, named windows, and the grouping's replacements."""

    relations: list[Relation]
    windows: dict[str, Tree] = field(default_factory=dict)
    replace: dict[str, str] = field(default_factory=dict)  # translated SQL → what it is in the grouped query
    aliases: dict[str, int] = field(default_factory=dict)  # a select item's alias → its place
    overs: list[str] = field(default_factory=list)


@dataclass
class Piece:
    """One KDA statement and its Flink translation."""

    kda: str
    sql: list[str]
    provides: set[str] = field(default_factory=set)
    needs: set[str] = field(default_factory=set)
    inserts: list[str] = field(default_factory=list)


@dataclass
class Translation:
    """Everything ``clickflow migrate`` writes: the statements, the streams they use, and the report."""

    pieces: list[Piece]
    destinations: dict[str, str]  # in-application stream → its sink table
    report: list[dict]
    inferred: dict[str, tuple[str, str]]  # the input's columns inferred from the SQL: name → (KDA type, JSON path)
    functions: dict[str, str]

    def statements(self) -> list[str]:
        """Every statement in order: tables and views, then the INSERTs."""
        return [s for p in self.pieces for s in p.sql] + [s for p in self.pieces for s in p.inserts]


def _interval_seconds(node: Tree) -> float:
    """The seconds of ``INTERVAL 'v' UNIT [TO UNIT]`` (day-time intervals only)."""
    value = str(node.children[1])[1:-1].strip()
    units = [str(t).upper() for t in node.children[2:] if isinstance(t, Token) and t.type == "NAME"]
    line, column = where(node)
    for unit in units:
        if unit in ("YEAR", "MONTH"):
            raise MigrateError(
                f"INTERVAL ... {unit}: a year-month interval has no fixed length; use DAY, HOUR, MINUTE or SECOND",
                line,
                column,
            )
        if unit not in UNIT_SECONDS:
            raise MigrateError(f"INTERVAL unit {unit!r}: expected DAY, HOUR, MINUTE or SECOND", line, column)
    negative = value.startswith("-")
    value = value.lstrip("-+").strip()
    try:
        if len(units) == 1:
            seconds = float(value) * UNIT_SECONDS[units[0]]
        else:
            first, last = units
            order = ["DAY", "HOUR", "MINUTE", "SECOND"]
            fields = order[order.index(first) : order.index(last) + 1]
            parts = re.split(r"[ :]", value)
            if len(parts) != len(fields):
                raise ValueError
            seconds = sum(float(p) * UNIT_SECONDS[f] for p, f in zip(parts, fields, strict=True))
    except (ValueError, IndexError):
        raise MigrateError(
            f"INTERVAL {str(node.children[1])} {' TO '.join(units)}: not a valid interval", line, column
        ) from None
    return -seconds if negative else seconds


class Translator:
    """Translates one application's code (``translate()``); its state is per application."""

    def __init__(self, app: Application) -> None:
        self.app = app
        self.code = app.code
        self.streams: dict[str, Stream] = {}
        self.references = {r.name.upper() if not r.name.startswith('"') else r.name: r for r in app.references}
        self.report: list[dict] = []
        self.inferred: dict[str, tuple[str, str]] = {}
        self.functions: dict[str, str] = {}
        self.counter = 0
        self.pump = ""  # the pump being translated (helper views are named after it)
        self.source_relation_columns: dict[str, str] = {}
        self.needs: set[str] = set()
        self.helpers: list[str] = []

    # ---- the report -------------------------------------------------------------------------------
    def found(self, construct: str, becomes: str, node: Tree | Token | None = None) -> None:
        """Record a construct and what it became (once per line)."""
        line = where(node)[0] if node is not None else None
        entry = {"line": line, "construct": construct, "becomes": becomes}
        if entry not in self.report:
            self.report.append(entry)

    def refuse(self, node: Tree | Token | None, message: str) -> MigrateError:
        """The error for something not translated, at ``node``."""
        line, column = where(node) if node is not None else (None, None)
        return MigrateError(message, line, column)

    # ---- the whole program ------------------------------------------------------------------------
    def translate(self) -> Translation:
        """Translate the code; raises :class:`MigrateError` at the first construct it cannot translate."""
        tree = parse(self.code)
        statements = [s for s in tree.children if isinstance(s, Tree)]
        if not statements:
            raise MigrateError("the application code has no statements (CREATE STREAM, CREATE PUMP)")
        pieces: list[Piece] = []
        for statement in statements:
            if statement.data == "create_stream":
                pieces.append(self.create_stream(statement))
        for statement in statements:
            if statement.data == "create_pump":
                pieces.append(self.create_pump(statement))
            elif statement.data == "create_view":
                pieces.append(self.create_view(statement))
            elif statement.data == "insert":
                raise self.refuse(
                    statement,
                    "an INSERT outside a pump: KDA runs INSERTs in pumps (CREATE OR REPLACE PUMP ... AS INSERT)",
                )
        pieces.extend(self.stream_views())
        destinations, outputs = self.destinations(tree)
        pieces.extend(outputs)
        pieces.insert(0, self.source_piece())
        pieces[1:1] = self.reference_pieces()
        return Translation(_ordered(pieces), destinations, self.report, self.inferred, self.functions)

    def create_stream(self, node: Tree) -> Piece:
        """``CREATE OR REPLACE STREAM s (col type, ...)``: declared here, a view once its pumps are known."""
        stream = name(next(c for c in node.children if isinstance(c, Tree) and c.data == "ident"))
        columns = []
        for coldef in (c for c in node.children if isinstance(c, Tree) and c.data == "coldef"):
            column = name(coldef.children[0])
            sqltype = coldef.children[1]
            kda_type = text(self.code, sqltype)
            line, col = where(sqltype)
            try:
                columns.append((column, flink_type(kda_type)))
            except MigrateError as exc:
                raise MigrateError(f"column {column}: {exc.message}", line, col) from None
            if column.upper() == "ROWTIME":
                raise self.refuse(coldef, "ROWTIME is every stream's system column; do not declare it")
        if stream in self.streams:
            raise self.refuse(node, f"stream {stream} is declared twice")
        if stream == self.app.source_stream:
            raise self.refuse(node, f"{stream} is the input stream's name; name the stream otherwise")
        self.streams[stream] = Stream(stream, columns, node)
        self.found("CREATE OR REPLACE STREAM", "a view (the UNION ALL of the pumps into it)", node)
        return Piece(f"{text(self.code, node)};", [], provides={f"decl:{stream}"})

    def create_view(self, node: Tree) -> Piece:
        """``CREATE OR REPLACE VIEW v AS SELECT ...``: a view of the query, with its ROWTIME."""
        idents = [c for c in node.children if isinstance(c, Tree) and c.data == "ident"]
        view = name(idents[0])
        names = [name(i) for i in idents[1:]] or None
        query = node.children[-1]
        self.pump, self.needs, self.helpers = view, set(), []
        sql, columns = self.query(query, names, None)
        self.streams[view] = Stream(view, [(c, "") for c in columns], node, is_view=True)
        self.found("CREATE OR REPLACE VIEW", "a view", node)
        return Piece(
            f"{text(self.code, node)};",
            [*self.helpers, f"CREATE TEMPORARY VIEW {q(view)} AS\n{sql}"],
            provides={view, f"decl:{view}"},
            needs=set(self.needs),
        )

    def create_pump(self, node: Tree) -> Piece:
        """``CREATE OR REPLACE PUMP p AS INSERT INTO s [(cols)] SELECT STREAM ...``: a view of the SELECT, cast
        to the stream's columns by position, which the stream's view unites with the other pumps into it."""
        pump = name(next(c for c in node.children if isinstance(c, Tree) and c.data == "ident"))
        insert = node.children[-1]
        target_node = insert.children[2]
        target = name(target_node)
        stream = self.streams.get(target)
        if stream is None or stream.is_view:
            known = ", ".join(sorted(s for s, v in self.streams.items() if not v.is_view)) or "none"
            raise self.refuse(
                target_node,
                f"pump {pump} inserts into {target}, which no CREATE OR REPLACE STREAM declares (declared: {known})",
            )
        column_list = next((c for c in insert.children if isinstance(c, Tree) and c.data == "column_list"), None)
        declared = dict(stream.columns)
        if column_list is not None:
            listed = [name(i) for i in column_list.children if isinstance(i, Tree)]
            for ident, listed_name in zip(
                (i for i in column_list.children if isinstance(i, Tree)), listed, strict=True
            ):
                if listed_name not in declared:
                    raise self.refuse(ident, f"{target} has no column {listed_name} (columns: {', '.join(declared)})")
        else:
            listed = list(declared)
        query = insert.children[-1]
        self.pump, self.needs, self.helpers = f"{target}__{pump}", set(), []
        sql, _ = self.query(query, listed, [declared[c] for c in listed], pump=pump)
        if listed != list(declared):  # the stream's columns the INSERT does not name are NULL
            inner = f"SELECT {', '.join(q(c) for c in listed)}, {q('ROWTIME')} FROM ({sql})"
            sql = (
                "SELECT "
                + ", ".join(q(c) if c in listed else f"CAST(NULL AS {t}) AS {q(c)}" for c, t in stream.columns)
                + f", {q('ROWTIME')}\nFROM ({inner})"
            )
        view = self.pump
        stream.pumps.append(view)
        self.found(
            "CREATE OR REPLACE PUMP ... INSERT INTO ... SELECT STREAM", "a view, part of the stream's view", node
        )
        return Piece(
            f"{text(self.code, node)};",
            [*self.helpers, f"CREATE TEMPORARY VIEW {q(view)} AS\n{sql}"],
            provides={view},
            needs=set(self.needs),
        )

    def stream_views(self) -> list[Piece]:
        """Each written stream's view: its one pump, or the UNION ALL of several."""
        pieces = []
        for stream in self.streams.values():
            if stream.is_view or not stream.pumps:
                continue
            columns = ", ".join(q(c) for c, _ in stream.columns) + f", {q('ROWTIME')}"
            union = "\nUNION ALL\n".join(f"SELECT {columns} FROM {q(p)}" for p in stream.pumps)
            pieces.append(
                Piece(
                    f"-- stream {stream.name}: "
                    + (f"{len(stream.pumps)} pumps" if len(stream.pumps) > 1 else "its pump"),
                    [f"CREATE TEMPORARY VIEW {q(stream.name)} AS\n{union}"],
                    provides={stream.name},
                    needs=set(stream.pumps),
                )
            )
            if len(stream.pumps) > 1:
                self.found(f"{len(stream.pumps)} pumps into {stream.name}", "UNION ALL of their views", stream.node)
        return pieces

    def destinations(self, tree: Tree) -> tuple[dict[str, str], list[Piece]]:
        """The sink table and INSERT of every stream that goes out: each named in the outputs, and each written
        stream nothing reads (its Kinesis stream a default, said in the notes)."""
        read = self._read_streams(tree)
        outputs = dict(self.app.outputs)
        for out in outputs:
            if out.upper() == "ERROR_STREAM":
                continue
            if out not in self.streams:
                raise MigrateError(
                    f"output {out}: no in-application stream of that name in the code "
                    f"(streams: {', '.join(self.streams) or 'none'})"
                )
        pieces, destinations = [], {}
        for stream in self.streams.values():
            if stream.is_view:
                continue
            if not stream.pumps:
                if stream.name in read:
                    raise self.refuse(stream.node, f"stream {stream.name} is read, but no pump writes it")
                self.found(f"stream {stream.name} (no pump writes it)", "nothing: it stays empty", stream.node)
                continue
            if stream.name not in outputs and stream.name in read:
                continue
            if stream.name not in outputs:
                default = re.sub(r"[^a-z0-9-]+", "-", f"{self.app.name}-{stream.name}".lower()).strip("-")
                self.app.notes.append(f"output {stream.name} → Kinesis stream {default} (default; --output to name it)")
                from clickflow.migrate.app import Output

                self.app.outputs[stream.name] = Output(default)
            sink = f"{stream.name}__out"
            destinations[stream.name] = sink
            columns = ",\n  ".join(f"{q(c)} {t}" for c, t in stream.columns)
            ddl = f"CREATE TEMPORARY TABLE {q(sink)} (\n  {columns}\n) WITH (${{sink:{stream.name}}})"
            insert = f"INSERT INTO {q(sink)}\nSELECT {', '.join(q(c) for c, _ in stream.columns)} FROM {q(stream.name)}"
            output = self.app.outputs[stream.name]
            said = f"Kinesis stream {output.stream}" + (
                f" (was a {output.kind} in KDA)" if output.kind != "kinesis" else ""
            )
            self.found(f"destination {stream.name}", said, stream.node)
            pieces.append(
                Piece(f"-- destination {stream.name} → {said}", [ddl], {sink}, {stream.name}, inserts=[insert])
            )
        if not destinations:
            raise MigrateError("no stream goes out: no pump writes a stream that is an output or that nothing reads")
        return destinations, pieces

    @staticmethod
    def _read_streams(tree: Tree) -> set[str]:
        read = set()
        for node in tree.iter_subtrees():
            if node.data == "from_stream":
                read.add(name(node.children[0]))
        return read

    # ---- the input --------------------------------------------------------------------------------
    def source_piece(self) -> Piece:
        """The input's raw table, its typed view and its errors view."""
        schema = self.app.schema
        if schema is None:
            if not self.inferred:
                raise MigrateError(
                    f"no input schema and the SQL uses no column of {self.app.source_stream}: give --input-schema "
                    "or --sample"
                )
            from clickflow.migrate.app import InputColumn

            schema = InputSchema(
                "JSON", tuple(InputColumn(n, kda_type, path) for n, (kda_type, path) in self.inferred.items())
            )
        raw = (
            "CREATE TEMPORARY TABLE `kda_input` (\n"
            "  `payload` STRING,\n"
            "  `arrival` TIMESTAMP_LTZ(3) METADATA FROM 'timestamp' VIRTUAL,\n"
            "  `SHARD_ID` STRING METADATA FROM 'shard-id' VIRTUAL,\n"
            "  `SEQUENCE_NUMBER` STRING METADATA FROM 'sequence-number' VIRTUAL,\n"
            "  `ROWTIME` AS CAST(`arrival` AS TIMESTAMP(3)),\n"
            "  `APPROXIMATE_ARRIVAL_TIME` AS CAST(`arrival` AS TIMESTAMP(3)),\n"
            "  WATERMARK FOR `ROWTIME` AS `ROWTIME`\n"
            ") WITH (${source})"
        )
        values, checks = [], []
        for column in schema.columns:
            kind = flink_type(column.sql_type)
            if schema.format == "JSON":
                path = column.mapping.replace("'", "''")
                extracted = f"JSON_VALUE(`payload`, '{path}')"
            else:
                extracted = f"SPLIT_INDEX(`line`, '{_escape(schema.column_delimiter)}', {int(column.mapping)})"
            if kind != "STRING":
                extracted = f"NULLIF(TRIM({extracted}), '')"
            if kind.startswith("TIMESTAMP"):  # ISO 8601 as well as SQL's 'yyyy-MM-dd HH:mm:ss.SSS'
                extracted = f"REPLACE(REPLACE({extracted}, 'T', ' '), 'Z', '')"
            raw_name = f"{column.name}__raw"
            values.append((column.name, kind, extracted, raw_name))
            if kind != "STRING":
                checks.append((column.name, kind, raw_name))
        if schema.format == "JSON":
            parsed_from = "`kda_input`"
            row = "`payload`"
            readable = "`payload` IS JSON OBJECT"
            unreadable_message = "'not a JSON object'"
        else:
            # a record holds rows split by the row delimiter (as KDA split them); a CR before a newline is cut
            delimiter = " || ".join(f"CHR({ord(c)})" for c in schema.row_delimiter)
            trailing = " || ".join(f"CHR({ord(c)})" for c in sorted(set(schema.row_delimiter + "\r")))
            parsed_from = (
                "(SELECT `i`.*, RTRIM(`r`.`row`, CHR(13)) AS `line`\n"
                f"      FROM (SELECT *, RTRIM(`payload`, {trailing}) AS `rows` FROM `kda_input`) AS `i`\n"
                f"      CROSS JOIN UNNEST(SPLIT(`i`.`rows`, {delimiter})) AS `r`(`row`)\n"
                "      WHERE `r`.`row` <> '')"
            )
            row = "`line`"
            readable = "TRUE"
            unreadable_message = "''"
        raws = ",\n         ".join(f"{extracted} AS {q(raw_name)}" for _, _, extracted, raw_name in values)
        parsed = (
            "CREATE TEMPORARY VIEW `kda_parsed` AS\n"
            f"SELECT {row} AS `DATA_ROW`, `ROWTIME`, `APPROXIMATE_ARRIVAL_TIME`, `SHARD_ID`, `SEQUENCE_NUMBER`,\n"
            f"       {readable} AS `readable`,\n"
            f"       {raws}\n"
            f"FROM {parsed_from}"
        )
        typed = ",\n       ".join(
            f"TRY_CAST({q(raw_name)} AS {kind}) AS {q(column)}" if kind != "STRING" else f"{q(raw_name)} AS {q(column)}"
            for column, kind, _, raw_name in values
        )
        bad = [f"({q(r)} IS NOT NULL AND TRY_CAST({q(r)} AS {k}) IS NULL)" for _, k, r in checks]
        valid = " AND ".join(["`readable`", *(f"NOT {b}" for b in bad)])
        source = (
            f"CREATE TEMPORARY VIEW {q(self.app.source_stream)} AS\n"
            f"SELECT {typed},\n       `ROWTIME`, `APPROXIMATE_ARRIVAL_TIME`, `SHARD_ID`, `SEQUENCE_NUMBER`\n"
            f"FROM `kda_parsed`\nWHERE {valid}"
        )
        reasons = "".join(
            f"\n         WHEN {b} THEN 'column {c}: ''' || {q(r)} || ''' is not a {k}'"
            for (c, k, r), b in zip(checks, bad, strict=True)
        )
        errors = (
            "CREATE TEMPORARY VIEW `kda_errors` AS\n"
            "SELECT `ROWTIME` AS `ERROR_TIME`, 'ERROR' AS `ERROR_LEVEL`,\n"
            f"       CASE WHEN NOT `readable` THEN 'Parse.NotJsonObject' ELSE 'Type.Mismatch' END AS `ERROR_NAME`,\n"
            f"       CASE WHEN NOT `readable` THEN {unreadable_message}{reasons}\n         END AS `MESSAGE`,\n"
            "       `DATA_ROW`\n"
            f"FROM `kda_parsed`\nWHERE NOT ({valid})"
        )
        sink = (
            "CREATE TEMPORARY TABLE `error_stream__out` (\n"
            "  `ERROR_TIME` TIMESTAMP(3), `ERROR_LEVEL` STRING, `ERROR_NAME` STRING, `MESSAGE` STRING,\n"
            "  `DATA_ROW` STRING\n"
            ") WITH (${sink:error_stream})"
        )
        insert = "INSERT INTO `error_stream__out`\nSELECT * FROM `kda_errors`"
        self.found(
            f"input {self.app.source_stream} ({schema.format}, {len(schema.columns)} columns)",
            "a Kinesis table read as text, typed by a view; ROWTIME = the record's arrival time "
            "(watermarked per shard)",
        )
        self.found(
            "error_stream", "records the schema cannot read: ERROR_TIME, ERROR_LEVEL, ERROR_NAME, MESSAGE, DATA_ROW"
        )
        ddl = [f"CREATE TEMPORARY FUNCTION {n} AS '{c}' LANGUAGE JAVA" for n, c in sorted(self.functions.items())]
        return Piece(
            f"-- input: {self.app.source_stream}",
            [*ddl, raw, parsed, source, errors, sink],
            provides={self.app.source_stream},
            inserts=[insert],
        )

    def reference_pieces(self) -> list[Piece]:
        """Each reference data source: a table over its S3 object, joined FOR SYSTEM_TIME AS OF the row's
        processing time (a lookup join: each row meets the table as loaded)."""
        pieces = []
        for ref in self.app.references:
            self.found(
                f"reference data {ref.name} (s3://{ref.bucket}/{ref.key}, {ref.schema.format})",
                "the S3 object, read by KDA_REFERENCE where it is joined (${reference:" + ref.name + "})",
            )
            pieces.append(Piece(f"-- reference data {ref.name}: s3://{ref.bucket}/{ref.key}", [], {ref.name}))
        return pieces

    # ---- queries ----------------------------------------------------------------------------------
    def helper(self, sql: str, kind: str) -> str:
        """A helper view of the pump being translated; returns its name."""
        self.counter += 1
        view = f"{self.pump}__{kind}{self.counter}"
        self.helpers.append(f"CREATE TEMPORARY VIEW {q(view)} AS\n{sql}")
        return view

    def query(
        self, node: Tree, names: list[str] | None, types: list[str] | None, pump: str = ""
    ) -> tuple[str, list[str]]:
        """A query's Flink SELECT, with its items named ``names`` (cast to ``types``) and its ROWTIME last."""
        if node.data == "union":
            left, left_columns = self.query(node.children[0], names, types)
            right, _ = self.query(node.children[-1], names or left_columns, types)
            self.found("UNION ALL", "UNION ALL", node)
            return f"{left}\nUNION ALL\n{right}", left_columns
        if node.data != "select":
            raise self.refuse(node, "expected a SELECT")
        return self.select(node, names, types)

    def relation(self, node: Tree) -> Relation:
        """A FROM item as a relation."""
        alias_node = next((c for c in node.children if isinstance(c, Tree) and c.data == "alias"), None)
        alias = name(alias_node.children[-1]) if alias_node else None
        if node.data == "from_stream":
            stream = name(node.children[0])
            if stream == self.app.source_stream:
                columns = dict(self.source_columns())
                self.needs.add(stream)
                star = tuple(c for c in columns if c not in METADATA)
                return Relation(
                    q(stream), alias or stream, columns | METADATA, stream, self.app.schema is None, star=star
                )
            if stream in self.streams:
                declared = self.streams[stream]
                self.needs.add(stream)
                columns = dict(declared.columns)
                return Relation(q(stream), alias or stream, columns, stream, star=tuple(columns))
            if stream in self.references:
                ref = self.references[stream]
                columns = {c.name: flink_type(c.sql_type) for c in ref.schema.columns}
                self.needs.add(ref.name)
                return Relation(q(ref.name), alias or stream, columns, stream, reference=True, star=tuple(columns))
            if stream.startswith(self.app.prefix + "_"):
                raise self.refuse(node, f"{stream}: clickflow migrates one input, {self.app.source_stream}")
            if stream.upper() == "ERROR_STREAM":
                raise self.refuse(
                    node, "reading error_stream in SQL is not translated; its rows go to the errors stream"
                )
            known = ", ".join([self.app.source_stream, *self.streams, *self.references])
            raise self.refuse(node, f"no stream, view or reference table named {stream} (known: {known})")
        if node.data == "from_query":
            sql, produced = self.query(node.children[0], None, None)
            view = self.helper(sql, "q")
            return Relation(q(view), alias or view, {c: "" for c in produced}, view, star=tuple(produced))
        call = node.children[1]
        view, columns = self.table_function(call)
        return Relation(q(view), alias or view, columns, view, star=tuple(columns))

    def source_columns(self) -> list[tuple[str, str]]:
        """The input's columns (from the schema; without one, those the SQL used so far)."""
        if self.app.schema is not None:
            return [(c.name, flink_type(c.sql_type)) for c in self.app.schema.columns]
        return [(n, flink_type(t)) for n, (t, _) in self.inferred.items()]

    def table_function(self, call: Tree) -> tuple[str, dict[str, str]]:
        """``TABLE(COUNT_DISTINCT_ITEMS_TUMBLING(...))`` / ``TABLE(TOP_K_ITEMS_TUMBLING(...))`` as a view."""
        function = name(call.children[0]) if isinstance(call.children[0], Tree) else str(call.children[0]).upper()
        args_node = next((c for c in call.children if isinstance(c, Tree) and c.data == "arg_list"), None)
        args = [a for a in (args_node.children if args_node else []) if isinstance(a, Tree)]
        if function in LEARNED:
            return self.learned(function, call, args)
        if function not in ("COUNT_DISTINCT_ITEMS_TUMBLING", "TOP_K_ITEMS_TUMBLING"):
            raise self.refuse(
                call,
                f"TABLE({function}(...)): clickflow translates COUNT_DISTINCT_ITEMS_TUMBLING, TOP_K_ITEMS_TUMBLING, "
                f"{', '.join(LEARNED)}",
            )
        expected = 3 if function == "COUNT_DISTINCT_ITEMS_TUMBLING" else 4
        usage = (
            "COUNT_DISTINCT_ITEMS_TUMBLING(CURSOR(SELECT STREAM ...), 'column', windowSeconds)"
            if expected == 3
            else "TOP_K_ITEMS_TUMBLING(CURSOR(SELECT STREAM ...), 'column', k, windowSeconds)"
        )
        if len(args) != expected or args[0].data != "cursor" or args[1].data != "string":
            raise self.refuse(call, f"expected {usage}")
        numbers = []
        for arg, (label, low, high) in zip(
            args[2:], [("k", 1, 100000), ("windowSize", 1, 3600)][-(expected - 2) :], strict=True
        ):
            if arg.data != "number" or not str(arg.children[0]).isdigit():
                raise self.refuse(arg, f"{function}: {label} must be a whole number ({usage})")
            value = int(str(arg.children[0]))
            if not low <= value <= high:
                raise self.refuse(arg, f"{function}: {label} {value} is out of range ({low} to {high})")
            numbers.append(value)
        wanted = str(args[1].children[0])[1:-1].replace("''", "'")
        if self.app.schema is None and not any(c.upper() == wanted.upper() for c in self.inferred):
            self.inferred[wanted] = ("VARCHAR(256)", f"$.{wanted}")  # the input's column the function counts
        cursor_sql, columns = self.query(args[0].children[1], None, None)
        cursor_view = self.helper(cursor_sql, "cursor")
        column = wanted if wanted in columns else next((c for c in columns if c.upper() == wanted.upper()), None)
        if column is None:
            raise self.refuse(
                args[1], f"{function}: the cursor has no column {wanted!r} (columns: {', '.join(columns)})"
            )
        seconds = numbers[-1]
        window = f"TABLE(TUMBLE(TABLE {q(cursor_view)}, DESCRIPTOR(`ROWTIME`), {sql_interval(seconds)}))"
        if function == "COUNT_DISTINCT_ITEMS_TUMBLING":
            if self.app.distinct == "sketch":
                self.functions["HLL_COUNT_DISTINCT"] = UDFS["HLL_COUNT_DISTINCT"]
                counted = f"HLL_COUNT_DISTINCT(CAST({q(column)} AS STRING))"
                how = (
                    "estimated by a HyperLogLog sketch (Apache DataSketches HLL_4, lgK 12: a few KB per window; "
                    "relative standard error 1.6%, so within 4.9% at 3 sigma)"
                )
            else:
                counted = f"COUNT(DISTINCT {q(column)})"
                how = "exact (COUNT(DISTINCT): state grows with the distinct items; --distinct sketch bounds it)"
            sql = (
                f"SELECT {counted} AS `NUMBER_OF_DISTINCT_ITEMS`, `window_time` AS `ROWTIME`\n"
                f"FROM {window}\nGROUP BY `window_start`, `window_end`, `window_time`"
            )
            self.found(
                "COUNT_DISTINCT_ITEMS_TUMBLING",
                f"the distinct count per {seconds} s tumbling window over ROWTIME, {how} "
                "(KDA: exact to 10,000 items, HyperLogLog above)",
                call,
            )
            return self.helper(sql, "distinct"), {"NUMBER_OF_DISTINCT_ITEMS": "BIGINT"}
        k = numbers[0]
        counted = (
            f"SELECT `window_start`, `window_end`, `window_time`, {q(column)}, COUNT(*) AS `MOST_FREQUENT_VALUES`\n"
            f"FROM {window}\nWHERE {q(column)} IS NOT NULL\n"
            f"GROUP BY `window_start`, `window_end`, `window_time`, {q(column)}"
        )
        ranked = (
            f"SELECT {q(column)}, `MOST_FREQUENT_VALUES`, `window_time` AS `ROWTIME` FROM (\n"
            f"  SELECT *, ROW_NUMBER() OVER (PARTITION BY `window_start`, `window_end` "
            f"ORDER BY `MOST_FREQUENT_VALUES` DESC, {q(column)} ASC) AS `rank`\n"
            f"  FROM ({counted})\n) WHERE `rank` <= {k}"
        )
        self.found(
            "TOP_K_ITEMS_TUMBLING",
            f"a window Top-{k} of counts per {seconds} s tumbling window over ROWTIME — exact, ties by value "
            "(KDA: approximate)",
            call,
        )
        return self.helper(ranked, "topk"), {column: "", "MOST_FREQUENT_VALUES": "BIGINT"}

    def learned(self, function: str, call: Tree, args: list[Tree]) -> tuple[str, dict[str, str]]:
        """``TABLE(RANDOM_CUT_FOREST(CURSOR(...), ...))`` and its kin: clickflow's function of the same name
        over the cursor's rows in ROWTIME order (as a KDA stream is), every column passed through and the
        function's columns added; one model for the whole stream, as KDA had."""
        udf, parameters, added = LEARNED[function]
        required = sum(1 for *_, default in parameters if default is None)
        usage = f"{function}(CURSOR(SELECT STREAM ...){''.join(', ' + p[0] for p in parameters)})"
        if not args or args[0].data != "cursor" or not required <= len(args) - 1 <= len(parameters):
            raise self.refuse(call, f"expected {usage}" + ("" if required else " (the numbers may be left out)"))
        values: list[str] = []
        for arg, (label, low, high, _) in zip(args[1:], parameters, strict=False):
            if label == "withDirectionality":
                if arg.data not in ("true", "false"):
                    raise self.refuse(arg, f"{function}: withDirectionality is TRUE or FALSE ({usage})")
                values.append(f"{label} => {arg.data.upper()}")
                continue
            number = str(arg.children[0]) if arg.data == "number" else ""
            whole = label != "scanRadius"
            if not number or whole and not number.isdigit():
                kind = "a whole number" if whole else "a number"
                raise self.refuse(arg, f"{function}: {label} must be {kind} ({usage})")
            value = float(number)
            if not (low <= value <= high) or value == low == 0:
                bound = f"more than {low:g}" if high == float("inf") else f"{low:g} to {high:g}"
                raise self.refuse(arg, f"{function}: {label} {number} is out of range ({bound})")
            values.append(f"{label} => {int(value)}" if whole else f"{label} => CAST({number} AS DOUBLE)")
        given = dict(zip([p[0] for p in parameters], args[1:], strict=False))
        if function.startswith("RANDOM_CUT_FOREST"):
            chosen = {label: float(str(node.children[0])) for label, node in given.items() if node.data == "number"}
            sample, decay = chosen.get("subSampleSize", 256), chosen.get("timeDecay", 100_000)
            if decay <= sample:
                raise self.refuse(
                    given.get("timeDecay", call),
                    f"{function}: timeDecay ({decay:g}) must be more than subSampleSize ({sample:g})",
                )
        if function == "HOTSPOTS":
            size, least = (float(str(given[k].children[0])) for k in ("windowSize", "minimumNumberOfPointsInAHotspot"))
            if least > size:
                raise self.refuse(
                    given["minimumNumberOfPointsInAHotspot"],
                    f"HOTSPOTS: minimumNumberOfPointsInAHotspot ({least:g}) is more than windowSize ({size:g})",
                )
        cursor_sql, columns = self.query(args[0].children[1], None, None)
        ordered = self.helper(f"SELECT * FROM (\n{cursor_sql}\n) ORDER BY `ROWTIME`", "cursor")
        self.functions[function] = udf
        named = "".join(f", {v}" for v in values)
        sql = f"SELECT * FROM {function}(input => TABLE {q(ordered)}{named})"
        what = {
            "RANDOM_CUT_FOREST": "ANOMALY_SCORE per row, from AWS's Random Cut Forest library",
            "RANDOM_CUT_FOREST_WITH_EXPLANATION": "ANOMALY_SCORE and ANOMALY_EXPLANATION per row, from AWS's Random "
            "Cut Forest library",
            "HOTSPOTS": "HOTSPOTS_RESULT per row over the last windowSize rows",
        }[function]
        self.found(
            function,
            f"clickflow's {function} (same parameters): {what}; the cursor's rows in ROWTIME order, one model for the "
            "stream (state, checkpointed)",
            call,
        )
        passed = {c: "" for c in columns if c != "ROWTIME"}
        return self.helper(sql, function.lower().split("_with")[0]), passed | added

    def select(self, node: Tree, names: list[str] | None, types: list[str] | None) -> tuple[str, list[str]]:
        """One SELECT [STREAM]: plain, grouped by a tumbling window, with OVER windows, or ordered by time."""
        parts = {c.data: c for c in node.children if isinstance(c, Tree)}
        tokens = {str(c.type) for c in node.children if isinstance(c, Token)}
        if "DISTINCT" in tokens:
            raise self.refuse(
                node, "SELECT STREAM DISTINCT is not translated: GROUP BY the columns in a window instead"
            )
        if "STREAM" not in tokens:
            self.found("SELECT without STREAM", "a streaming SELECT (every query here is one)", node)
        from_clause = parts["from_clause"]
        items = [c for c in from_clause.children if isinstance(c, Tree)]
        main = self.relation(items[0])
        if "windowed" in parts:
            if len(items) > 1 or "group_by" in parts or "order_by" in parts or "window_clause" in parts:
                raise self.refuse(
                    parts["windowed"],
                    "WINDOWED BY STAGGER is translated over one stream, without GROUP BY, ORDER BY or WINDOW "
                    "(as KDA takes it)",
                )
            return self.stagger(parts, main, names, types)
        if main.reference:
            raise self.refuse(
                items[0],
                f"{main.stream} is reference data: join it to a stream (FROM stream JOIN {main.stream} ON ...)",
            )
        scope = Scope([main])
        joins = []
        for join in items[1:]:
            joins.append(self.join(join, scope))
        where_sql = self.expr(parts["where"].children[-1], scope) if "where" in parts else None
        if "window_clause" in parts:
            for window_def in (c for c in parts["window_clause"].children if isinstance(c, Tree)):
                scope.windows[name(window_def.children[0])] = window_def.children[-1]
            self.found("WINDOW w AS (...)", "the window inlined in each OVER", parts["window_clause"])
        group = parts.get("group_by")
        order = parts.get("order_by")
        scan = f"{main.view} AS {q(main.alias)}"
        grouping: list[str] = []
        rowtime = f"{q(main.alias)}.`ROWTIME`"
        time_term: tuple[str, float] | None = None
        if group is not None:
            if joins:
                raise self.refuse(group, "GROUP BY over a join is not translated: join in one pump, group in the next")
            terms = [c for c in group.children if isinstance(c, Tree)]
            for term in terms:
                seconds = self.rowtime_term(term, scope)
                if seconds is None:
                    continue
                if time_term and time_term[1] != seconds:
                    raise self.refuse(term, "two ROWTIME windows of different sizes in one GROUP BY")
                time_term = (self.expr(term, scope), seconds)
            if time_term is None:
                raise self.refuse(
                    group,
                    "GROUP BY in a streaming query needs a window over ROWTIME, as KDA does: add "
                    "STEP(stream.ROWTIME BY INTERVAL 'n' SECOND) or FLOOR(stream.ROWTIME TO MINUTE)",
                )
            seconds = time_term[1]
            scan = (
                f"TABLE(TUMBLE(TABLE {main.view}, DESCRIPTOR(`ROWTIME`), {sql_interval(seconds)})) AS {q(main.alias)}"
            )
            scope.replace = {
                time_term[0]: "`window_start`",
                f"{q(main.alias)}.`ROWTIME`": "`window_end`",
            }
            grouping = ["`window_start`", "`window_end`", "`window_time`"]
            for term in terms:
                sql = self.expr(term, scope)
                if sql != "`window_start`":
                    grouping.append(sql)
            rowtime = "`window_time`"
            self.found(
                "GROUP BY ..., STEP(ROWTIME BY INTERVAL ...) / FLOOR(ROWTIME TO unit)",
                f"a {seconds:g} s tumbling window over ROWTIME (TUMBLE); emitted when it closes, ROWTIME = its end",
                group,
            )
        elif order is not None:
            first = next(c for c in order.children if isinstance(c, Tree))
            seconds = self.rowtime_term(first.children[0], scope)
            if seconds is not None:
                order_term = self.expr(first.children[0], scope)
                tumble = f"TUMBLE(TABLE {main.view}, DESCRIPTOR(`ROWTIME`), {sql_interval(seconds)})"
                scan = f"TABLE({tumble}) AS {q(main.alias)}"
                scope.replace = {order_term: "`window_start`"}
        columns, out_names = self.output_columns(parts["select_list"], scope, names, types)
        if scope.overs and len(set(scope.overs)) > 1:
            raise self.refuse(
                parts["select_list"],
                "OVER windows of different definitions in one SELECT: Flink computes one window per query; "
                "put each in its own pump",
            )
        sql = f"SELECT {', '.join(columns)}, {rowtime} AS `ROWTIME`\nFROM {scan}"
        for join_sql in joins:
            sql += f"\n{join_sql}"
        if where_sql is not None:
            sql += f"\nWHERE {where_sql}"
        if grouping:
            sql += f"\nGROUP BY {', '.join(grouping)}"
        if "having" in parts:
            sql += f"\nHAVING {self.expr(parts['having'].children[-1], scope)}"
        if order is not None:
            time_key, rest = self.order_by(order, scope)
            rest = [
                (q(out_names[scope.aliases[a]]) if a else k, d, out_names[scope.aliases[a]] if a else None)
                for k, d, a in rest
            ]
            if group is None:
                sql += f"\nORDER BY {', '.join([time_key, *(f'{k}{d}' for k, d, _ in rest)])}"
            else:  # Flink sorts a window aggregate's rows by their time only from a query around it
                hidden = [(f"__order{i}", k) for i, (k, _, alias) in enumerate(rest) if alias is None]
                head, _, tail = sql.partition("\nFROM ")
                inner = head + "".join(f", {k} AS {q(h)}" for h, k in hidden) + "\nFROM " + tail
                keys, names_iter = [], iter(h for h, _ in hidden)
                for _, d, alias in rest:
                    keys.append(f"{q(alias) if alias else q(next(names_iter))}{d}")
                outer_columns = ", ".join(q(c) for c in out_names)
                sql = (
                    f"SELECT {outer_columns}, `ROWTIME` FROM (\n{inner}\n)\nORDER BY {', '.join(['`ROWTIME`', *keys])}"
                )
        return sql, out_names

    def stagger(
        self, parts: dict[str, Tree], main: Relation, names: list[str] | None, types: list[str] | None
    ) -> tuple[str, list[str]]:
        """``WINDOWED BY STAGGER (PARTITION BY keys RANGE INTERVAL ...)``: a window per key that opens at the key's
        first row and closes RANGE later; its aggregate is emitted once, when it closes (ROWTIME = its end).

        STAGGER_WINDOW (clickflow's process table function) holds each key's rows, in ROWTIME order, until the
        window closes and emits them at its last millisecond with its start; a 1 ms tumbling window over that
        time then groups each stagger window's rows (keys, start) into one aggregate."""
        windowed = parts["windowed"]
        partition = next(c for c in windowed.children if isinstance(c, Tree) and c.data == "partition")
        keys = [c for c in partition.children if isinstance(c, Tree)]
        interval = next(c for c in windowed.children if isinstance(c, Tree) and c.data == "interval")
        seconds = _interval_seconds(interval)
        if seconds <= 0 or seconds * 1000 != int(seconds * 1000):
            raise self.refuse(interval, "a stagger window's RANGE is a positive number of milliseconds")
        scope = Scope([main])
        select_items = [c for c in parts["select_list"].children if isinstance(c, Tree)]
        for item in select_items:  # the input's columns the query uses (inferred, without a schema)
            self.select_item(item, Scope([main]), 0)
        where_sql = self.expr(parts["where"].children[-1], scope) if "where" in parts else None
        key_sql = [self.expr(k, scope) for k in keys]
        columns = [c for c in main.columns if c != "ROWTIME"]
        packed = ", ".join(f"'c{i}' VALUE CAST({q(main.alias)}.{q(c)} AS STRING)" for i, c in enumerate(columns))
        rows = (
            "SELECT "
            + "".join(f"{k} AS {q(f'__k{i}')}, " for i, k in enumerate(key_sql))
            + f"{q(main.alias)}.`ROWTIME` AS `ROWTIME`, JSON_OBJECT({packed}) AS `row_json`\n"
            + f"FROM {main.view} AS {q(main.alias)}"
            + (f"\nWHERE {where_sql}" if where_sql else "")
        )
        rows_view = self.helper(rows, "stagger_rows")
        partition_by = ", ".join(q(f"__k{i}") for i in range(len(keys)))
        unpacked = ", ".join(
            f"CAST(JSON_VALUE(`row_json`, '$.c{i}') AS {main.columns[c] or 'STRING'}) AS {q(c)}"
            for i, c in enumerate(columns)
        )
        self.functions["STAGGER_WINDOW"] = UDFS["STAGGER_WINDOW"]
        windows = (
            f"SELECT {partition_by}, `stagger_start`, `rowtime`, {unpacked}\n"
            f"FROM STAGGER_WINDOW(input => TABLE {q(rows_view)} PARTITION BY ({partition_by}), "
            f"on_time => DESCRIPTOR(`ROWTIME`), range_ms => CAST({int(seconds * 1000)} AS BIGINT))"
        )
        windows_view = self.helper(windows, "stagger")
        relation = Relation(q(windows_view), main.alias, dict(main.columns), main.stream, star=main.star)
        scope = Scope([relation])
        scope.replace = {self.expr(k, scope): q(f"__k{i}") for i, k in enumerate(keys)}
        scope.replace[f"{q(main.alias)}.`ROWTIME`"] = "`window_end`"
        out, out_names = self.output_columns(parts["select_list"], scope, names, types)
        tumble = f"TUMBLE(TABLE {q(windows_view)}, DESCRIPTOR(`rowtime`), INTERVAL '0.001' SECOND)"
        sql = (
            f"SELECT {', '.join(out)}, `window_time` AS `ROWTIME`\nFROM TABLE({tumble}) AS {q(main.alias)}\n"
            f"GROUP BY {partition_by}, `stagger_start`, `window_start`, `window_end`, `window_time`"
        )
        if "having" in parts:
            sql += f"\nHAVING {self.expr(parts['having'].children[-1], scope)}"
        self.found(
            "WINDOWED BY STAGGER (PARTITION BY ... RANGE ...)",
            f"STAGGER_WINDOW, clickflow's process table function: a {seconds:g} s window per key from its first "
            "row, emitted once when it closes (ROWTIME = its end)",
            windowed,
        )
        return sql, out_names

    def output_columns(
        self, select_list: Tree, scope: Scope, names: list[str] | None, types: list[str] | None
    ) -> tuple[list[str], list[str]]:
        """A SELECT's items as output columns: named ``names`` (the stream's, by position) and cast to ``types``,
        else by their own names; the count must match the stream's."""
        selected: list[tuple[str, str]] = []
        for item in (c for c in select_list.children if isinstance(c, Tree)):
            selected.extend(self.select_item(item, scope, len(selected)))
        if names is not None and len(selected) != len(names):
            raise self.refuse(
                select_list,
                f"the SELECT gives {len(selected)} columns and the stream takes {len(names)} ({', '.join(names)})",
            )
        out_names = names or _unique([n for _, n in selected])
        columns = [
            f"CAST({sql} AS {types[i]}) AS {q(column)}" if types else f"{sql} AS {q(column)}"
            for i, ((sql, _), column) in enumerate(zip(selected, out_names, strict=True))
        ]
        return columns, out_names

    def join(self, node: Tree, scope: Scope) -> str:
        """``[LEFT] JOIN reference ON stream.x = reference.y [AND ...]``: each row meets the reference rows whose
        key columns equal its values (KDA_REFERENCE, clickflow's function: the S3 object read once, indexed)."""
        head = node.children[0]
        kinds = [str(t).upper() for t in head.children] if isinstance(head, Tree) and head.data == "join_type" else []
        item = next(c for c in node.children if isinstance(c, Tree) and c.data.startswith("from_"))
        relation = self.relation(item)
        if not relation.reference:
            raise self.refuse(
                item,
                f"a join of two streams ({relation.stream}) is not translated: KDA joins streams in windows; join a "
                "stream with reference data, or aggregate each stream in its own pump",
            )
        if kinds and kinds[0] not in ("INNER", "LEFT"):
            raise self.refuse(node, f"{' '.join(kinds)} JOIN with reference data: use JOIN or LEFT JOIN")
        ref = self.references[relation.stream]
        names = [c.name for c in ref.schema.columns]
        keys: list[tuple[str, str]] = []
        for condition in _conjuncts(node.children[-1]):
            pair = self.key_pair(condition, relation, scope)
            if pair is None:
                raise self.refuse(
                    condition,
                    f"a reference-data join is ON equalities of the stream's values and {relation.alias}'s columns "
                    "(AND-ed); filter on anything else in WHERE",
                )
            keys.append(pair)
        relation.expressions = {
            c.name: (
                f"{q(relation.alias)}.`fields`[{i + 1}]"
                if flink_type(c.sql_type) == "STRING"
                else f"TRY_CAST({q(relation.alias)}.`fields`[{i + 1}] AS {flink_type(c.sql_type)})"
            )
            for i, c in enumerate(ref.schema.columns)
        }
        scope.relations.append(relation)
        numeric = ("INT", "BIGINT", "SMALLINT", "TINYINT", "FLOAT", "DOUBLE", "DECIMAL")
        types = {c.name: flink_type(c.sql_type) for c in ref.schema.columns}
        spec_keys = ",".join(
            f"{names.index(column)}:{'number' if types[column].startswith(numeric) else 'text'}" for column, _ in keys
        )
        fields = "|".join(c.mapping for c in ref.schema.columns) if ref.schema.format == "JSON" else str(len(names))
        args = ", ".join(f"CAST({sql} AS STRING)" for _, sql in keys)
        self.functions["KDA_REFERENCE"] = UDFS["KDA_REFERENCE"]
        call = (
            f"LATERAL TABLE(KDA_REFERENCE(${{reference:{ref.name}}}, '{ref.schema.format.lower()}', "
            f"'{_escape(ref.schema.column_delimiter)}', '{_escape(fields)};{spec_keys}', {args})) "
            f"AS {q(relation.alias)}(`fields`)"
        )
        left = bool(kinds) and kinds[0] == "LEFT"
        self.found(
            f"{'LEFT ' if left else ''}JOIN reference data {ref.name}",
            "a lateral join with KDA_REFERENCE: the S3 object read once per task, rows matched on the ON keys",
            node,
        )
        return f"LEFT JOIN {call} ON TRUE" if left else f"CROSS JOIN {call}"

    def key_pair(self, condition: Tree, relation: Relation, scope: Scope) -> tuple[str, str] | None:
        """``stream_expr = ref.col`` (either way round) as (the reference column, the stream value's SQL)."""
        if condition.data != "compare" or str(next(t for t in condition.children if isinstance(t, Token))) != "=":
            return None
        left, right = [c for c in condition.children if isinstance(c, Tree)]
        for ref_side, other in ((left, right), (right, left)):
            column = self.reference_column(ref_side, relation, scope)
            if column is not None and not any(
                self.reference_column(n, relation, scope) for n in other.iter_subtrees() if n.data == "column"
            ):
                return column, self.expr(other, scope)
        return None

    def reference_column(self, node: Tree, relation: Relation, scope: Scope) -> str | None:
        """The reference table's column ``node`` names, if it names one."""
        if node.data != "column":
            return None
        parts = [name(i) for i in node.children]
        if len(parts) == 2 and parts[0] in (relation.alias, relation.stream) and parts[1] in relation.columns:
            return parts[1]
        if len(parts) == 1 and parts[0] in relation.columns and not any(parts[0] in r.columns for r in scope.relations):
            return parts[0]
        return None

    def select_item(self, item: Tree, scope: Scope, index: int) -> list[tuple[str, str]]:
        """An item's SQL and its natural name (``*`` expands to the relation's columns)."""
        if item.data == "star":
            return [(f"{q(r.alias)}.{q(c)}", c) for r in scope.relations for c in r.star]
        if item.data == "qualified_star":
            qualifier = name(item.children[0])
            relation = next((r for r in scope.relations if r.alias == qualifier), None)
            if relation is None:
                raise self.refuse(item, f"{qualifier}.*: no stream {qualifier} in the FROM clause")
            return [(f"{q(relation.alias)}.{q(c)}", c) for c in relation.star]
        expression = item.children[0]
        alias = next((c for c in item.children[1:] if isinstance(c, Tree) and c.data == "ident"), None)
        sql = self.expr(expression, scope)
        if alias is not None:
            natural = name(alias)
            scope.aliases[natural] = index
        elif expression.data == "column":
            natural = name(expression.children[-1])
        else:
            natural = f"EXPR{len(scope.aliases) + 1}"
        return [(sql, natural)]

    def order_by(self, node: Tree, scope: Scope) -> tuple[str, list[tuple[str, str, str | None]]]:
        """ORDER BY in a streaming query: its first key ROWTIME or a STEP/FLOOR of it (KDA's rule), ascending.
        Returns the time key and the others as (SQL, direction, the select alias it names or None)."""
        keys = [c for c in node.children if isinstance(c, Tree)]
        first = keys[0]
        if self.rowtime_term(first.children[0], scope) is None and not self.is_rowtime(first.children[0], scope):
            raise self.refuse(
                first, "ORDER BY in a streaming query must start with ROWTIME or a STEP/FLOOR of it (as in KDA)"
            )
        if any(isinstance(t, Token) and t.type == "DESC" for t in first.children):
            raise self.refuse(first, "ORDER BY a time DESC cannot be streamed: order it ascending")
        mapped = self.expr(first.children[0], scope)
        time_key = "`window_time`" if mapped in ("`window_start`", "`window_end`") else mapped
        rest: list[tuple[str, str, str | None]] = []
        for key in keys[1:]:
            direction = " DESC" if any(isinstance(t, Token) and t.type == "DESC" for t in key.children) else ""
            expression = key.children[0]
            if (
                expression.data == "column"
                and len(expression.children) == 1
                and name(expression.children[0]) in scope.aliases
            ):
                alias = name(expression.children[0])
                rest.append((q(alias), direction, alias))
            else:
                rest.append((self.expr(expression, scope), direction, None))
        self.found(
            "ORDER BY a time expression", "a temporal sort on ROWTIME (rows of a window sorted by the rest)", node
        )
        return time_key, rest

    # ---- time terms -------------------------------------------------------------------------------
    def is_rowtime(self, node: Tree, scope: Scope) -> bool:
        """Whether ``node`` is a reference to ROWTIME."""
        return (
            isinstance(node, Tree)
            and node.data == "column"
            and name(node.children[-1]) == "ROWTIME"
            and len(node.children) <= 2
        )

    def rowtime_term(self, node: Tree, scope: Scope) -> float | None:
        """The window length of ``STEP(ROWTIME BY INTERVAL ...)`` or ``FLOOR(ROWTIME TO unit)``, else None."""
        if not isinstance(node, Tree) or node.data not in ("step", "floor_to"):
            return None
        target = next(c for c in node.children if isinstance(c, Tree))
        if not self.is_rowtime(target, scope):
            return None
        if node.data == "step":
            interval = [c for c in node.children if isinstance(c, Tree)][1]
            if interval.data != "interval":
                raise self.refuse(interval, "STEP(... BY ...) takes an INTERVAL literal")
            seconds = _interval_seconds(interval)
        else:
            unit = str(node.children[-1]).upper()
            if unit not in UNIT_SECONDS:
                raise self.refuse(node, f"FLOOR(ROWTIME TO {unit}): a window needs SECOND, MINUTE, HOUR or DAY")
            seconds = UNIT_SECONDS[unit]
        if seconds <= 0:
            raise self.refuse(node, "a window's length must be positive")
        return seconds

    # ---- expressions ------------------------------------------------------------------------------
    def expr(self, node: Tree | Token, scope: Scope, hint: str = "") -> str:
        """The Flink SQL of an expression (with the grouping's replacements applied)."""
        if scope.replace:  # a grouped query: a whole expression that is a grouping term is replaced, never a part
            saved, scope.replace = scope.replace, {}
            try:
                raw = self._expr(node, scope, hint)
            finally:
                scope.replace = saved
            if raw in saved:
                return saved[raw]
        return self._expr(node, scope, hint)

    def _expr(self, node: Tree | Token, scope: Scope, hint: str) -> str:
        if isinstance(node, Token):
            raise self.refuse(node, f"unexpected {node!s}")
        kind = node.data
        children = [c for c in node.children if isinstance(c, Tree)]
        tokens = [c for c in node.children if isinstance(c, Token)]
        if kind == "column":
            return self.column(node, scope, hint)
        if kind == "number":
            return str(node.children[0])
        if kind == "string":
            return str(node.children[0])
        if kind in ("true", "false", "null"):
            return kind.upper()
        if kind == "timestamp_lit":
            return f"TIMESTAMP {node.children[1]}"
        if kind == "date_lit":
            return f"DATE {node.children[1]}"
        if kind == "time_lit":
            return f"TIME {node.children[1]}"
        if kind == "interval":
            return sql_interval_signed(_interval_seconds(node))
        if kind == "binary":
            op = str(tokens[0])
            numeric = "DOUBLE" if op != "||" else ""
            return f"({self.expr(children[0], scope, numeric)} {op} {self.expr(children[1], scope, numeric)})"
        if kind == "negate":
            return f"(- {self.expr(children[0], scope, 'DOUBLE')})"
        if kind == "plus":
            return self.expr(children[0], scope, "DOUBLE")
        if kind == "compare":
            op = "<>" if str(tokens[0]) == "!=" else str(tokens[0])
            left_hint = _literal_hint(children[1])
            right_hint = _literal_hint(children[0])
            return f"({self.expr(children[0], scope, left_hint)} {op} {self.expr(children[1], scope, right_hint)})"
        if kind == "and_":
            return f"({self.expr(children[0], scope)} AND {self.expr(children[1], scope)})"
        if kind == "or_":
            return f"({self.expr(children[0], scope)} OR {self.expr(children[1], scope)})"
        if kind == "not_":
            return f"(NOT {self.expr(children[0], scope)})"
        negated = " NOT" if any(t.type == "NOT" for t in tokens) else ""
        if kind == "is_null":
            return f"({self.expr(children[0], scope)} IS{negated} NULL)"
        if kind == "is_bool":
            truth = next(t for t in tokens if t.type in ("TRUE", "FALSE"))
            return f"({self.expr(children[0], scope, 'BOOLEAN')} IS{negated} {str(truth).upper()})"
        if kind == "between":
            a, b, c = (self.expr(x, scope, _literal_hint(children[1])) for x in children)
            return f"({a}{negated} BETWEEN {b} AND {c})"
        if kind == "in_list":
            values = ", ".join(self.expr(x, scope) for x in children[1:])
            return f"({self.expr(children[0], scope, _literal_hint(children[1]))}{negated} IN ({values}))"
        if kind == "like":
            return f"({self.expr(children[0], scope)}{negated} LIKE {self.expr(children[1], scope)})"
        if kind == "cast":
            type_text = text(self.code, children[1])
            line, column = where(children[1])
            try:
                flink = flink_type(type_text)
            except MigrateError as exc:
                raise MigrateError(exc.message, line, column) from None
            return f"CAST({self.expr(children[0], scope)} AS {flink})"
        if kind == "case_e":
            whens = [c for c in children if c.data == "when"]
            subject = [c for c in children if c.data != "when"]
            head = ""
            if subject and node.children.index(subject[0]) < node.children.index(whens[0]):
                head = " " + self.expr(subject.pop(0), scope)
            sql = "(CASE" + head
            for when in whens:
                condition, result = [c for c in when.children if isinstance(c, Tree)]
                sql += f" WHEN {self.expr(condition, scope)} THEN {self.expr(result, scope)}"
            if subject:
                sql += f" ELSE {self.expr(subject[0], scope)}"
            return sql + " END)"
        if kind == "extract":
            unit = str(tokens[1]).upper()
            if unit not in ("YEAR", "MONTH", "DAY", "HOUR", "MINUTE", "SECOND", "DOW", "DOY", "WEEK", "QUARTER"):
                raise self.refuse(node, f"EXTRACT({unit} FROM ...): not a field Flink extracts")
            return f"EXTRACT({unit} FROM {self.expr(children[0], scope, 'TIMESTAMP')})"
        if kind == "floor_to" or kind == "ceil_to":
            unit = str(tokens[-1]).upper()
            if unit not in ("SECOND", "MINUTE", "HOUR", "DAY", "WEEK", "MONTH", "QUARTER", "YEAR"):
                raise self.refuse(node, f"{'FLOOR' if kind == 'floor_to' else 'CEIL'}(... TO {unit}): unknown unit")
            self.found(f"{'FLOOR' if kind == 'floor_to' else 'CEIL'}(t TO {unit})", "the same in Flink", node)
            return (
                f"{'FLOOR' if kind == 'floor_to' else 'CEIL'}({self.expr(children[0], scope, 'TIMESTAMP')} TO {unit})"
            )
        if kind == "step":
            target, interval = children
            if interval.data != "interval":
                raise self.refuse(interval, "STEP(... BY ...) takes an INTERVAL literal")
            seconds = _interval_seconds(interval)
            if seconds <= 0 or seconds != int(seconds):
                raise self.refuse(interval, "STEP over a column other than ROWTIME takes a whole number of seconds")
            value = self.expr(target, scope, "TIMESTAMP")
            self.found("STEP(t BY INTERVAL ...)", "t rounded down to the interval since the epoch", node)
            epoch = "TIMESTAMP '1970-01-01 00:00:00'"
            n = int(seconds)
            return f"TIMESTAMPADD(SECOND, (TIMESTAMPDIFF(SECOND, {epoch}, {value}) / {n}) * {n}, {epoch})"
        if kind == "cursor":
            raise self.refuse(node, "CURSOR(...) is read only as the first argument of a table function")
        if kind == "call":
            return self.call(node, scope)
        raise self.refuse(node, f"{text(self.code, node) or kind}: not translated")

    def column(self, node: Tree, scope: Scope, hint: str) -> str:
        """A column reference, resolved to the relation that has it."""
        parts = [name(i) for i in node.children]
        line, col = where(node)
        if len(parts) > 3:
            raise MigrateError(f"{'.'.join(parts)}: a column is named STREAM.COLUMN.FIELD at most", line, col)
        if len(parts) == 3 or len(parts) == 2 and not any(parts[0] in (r.alias, r.stream) for r in scope.relations):
            # a field of a ROW column (a log parser's result): [STREAM.]COLUMN.FIELD
            *head, field_name = parts
            holder = Tree("column", node.children[:-1], node.meta)
            return f"{self.column(holder, scope, '')}.{q(field_name)}"
        if len(parts) == 1:
            column = parts[0]
            if column in ("CURRENT_ROW_TIMESTAMP", "CURRENT_TIMESTAMP", "LOCALTIMESTAMP", "CURRENT_DATE"):
                self.found(column, f"{column}{'()' if column == 'CURRENT_ROW_TIMESTAMP' else ''}", node)
                return "CURRENT_ROW_TIMESTAMP()" if column == "CURRENT_ROW_TIMESTAMP" else column
            if column == "PARTITION_KEY":
                raise MigrateError("PARTITION_KEY: clickflow's connector does not read partition keys", line, col)
            holders = [r for r in scope.relations if column in r.columns or column == "ROWTIME" and not r.reference]
            if column == "ROWTIME":
                holders = holders[:1]
            if len(holders) > 1:
                raise MigrateError(
                    f"column {column} is in {' and '.join(r.alias for r in holders)}: name it STREAM.{column}",
                    line,
                    col,
                )
            if not holders:
                if column in scope.aliases:
                    return q(column)
                inferred = next((r for r in scope.relations if r.inferred), None)
                if inferred is None:
                    raise MigrateError(self._missing(column, scope.relations), line, col)
                return self.infer(inferred, column, node, hint)
            relation = holders[0]
        else:
            qualifier, column = parts
            named = next((r for r in scope.relations if qualifier in (r.alias, r.stream)), None)
            if named is None:
                names = ", ".join(r.alias for r in scope.relations)
                raise MigrateError(
                    f"{qualifier}.{column}: no stream {qualifier} in the FROM clause ({names})", line, col
                )
            if column == "PARTITION_KEY":
                raise MigrateError("PARTITION_KEY: clickflow's connector does not read partition keys", line, col)
            relation = named
            if column != "ROWTIME" and column not in relation.columns:
                if relation.inferred:
                    return self.infer(relation, column, node, hint)
                raise MigrateError(self._missing(column, [relation]), line, col)
        if column == "ROWTIME":
            self.found("ROWTIME", "the record's arrival time in the stream, an event-time attribute", node)
        if column in METADATA and relation.stream == self.app.source_stream:
            self.found(column, "the connector's record metadata", node)
        if column in relation.expressions:
            return relation.expressions[column]
        return f"{q(relation.alias)}.{q(column)}"

    def infer(self, relation: Relation, column: str, node: Tree, hint: str) -> str:
        """A column of the input without a schema: taken as the SQL uses it (a JSON field of that name)."""
        written = str(node.children[-1].children[0])
        field_name = written[1:-1] if written.startswith('"') else written
        if column not in self.inferred:
            kda_type = {"DOUBLE": "DOUBLE", "TIMESTAMP": "TIMESTAMP", "BOOLEAN": "BOOLEAN"}.get(hint, "VARCHAR(256)")
            self.inferred[column] = (kda_type, f"$.{field_name}")
        relation.columns[column] = flink_type(self.inferred[column][0])
        return f"{q(relation.alias)}.{q(column)}"

    def _missing(self, column: str, relations: list[Relation]) -> str:
        where_text = " or ".join(r.alias for r in relations)
        known = sorted({c for r in relations for c in r.columns})
        near = [c for c in known if c.upper() == column.upper()]
        hint = f'; did you mean "{near[0]}"? (an unquoted name is read in upper case: quote it)' if near else ""
        return f"no column {column} in {where_text} (columns: {', '.join(known)}){hint}"

    def call(self, node: Tree, scope: Scope) -> str:
        """A function call: an aggregate (with OVER), a scalar, or one of KDA's that has a Flink equivalent."""
        head = node.children[0]
        function = name(head) if isinstance(head, Tree) else str(head).upper()
        args_node = next((c for c in node.children if isinstance(c, Tree) and c.data in ("arg_list", "star_arg")), None)
        over = next((c for c in node.children if isinstance(c, Tree) and c.data.startswith("over_")), None)
        distinct = args_node is not None and any(
            isinstance(t, Token) and t.type == "DISTINCT" for t in args_node.children
        )
        args = [a for a in args_node.children if isinstance(a, Tree)] if args_node is not None else []
        star = args_node is not None and args_node.data == "star_arg"
        line, col = where(node)
        if function in LEARNED:
            raise MigrateError(f"{function} is a table function: FROM TABLE({function}(CURSOR(...), ...))", line, col)
        if function in UNTRANSLATED:
            raise MigrateError(
                f"{function} is not translated: write it as REGEX_LOG_PARSE(line, pattern) (clickflow translates "
                f"{', '.join(LOG_PARSERS)})",
                line,
                col,
            )
        if function in LOG_PARSERS:
            return self.log_parser(function, node, args, scope)
        if function in AGGREGATES:
            if star and function != "COUNT":
                raise MigrateError(f"{function}(*): only COUNT takes *", line, col)
            hint = "DOUBLE" if function in ("SUM", "AVG", "STDDEV_POP", "STDDEV_SAMP", "VAR_POP", "VAR_SAMP") else ""
            inner = (
                "*" if star else ("DISTINCT " if distinct else "") + ", ".join(self.expr(a, scope, hint) for a in args)
            )
            sql = f"{function}({inner})"
            if over is not None:
                spec = self.over(over, scope)
                scope.overs.append(spec)
                return f"{sql} OVER ({spec})"
            return sql
        if over is not None:
            raise MigrateError(
                f"{function}(...) OVER: only aggregates (COUNT, SUM, AVG, MIN, MAX, ...) take OVER", line, col
            )
        if distinct or star:
            raise MigrateError(f"{function}: DISTINCT and * are for aggregates", line, col)
        if function == "TSDIFF":
            if len(args) != 2:
                raise MigrateError("TSDIFF(a, b) takes two timestamps", line, col)
            self.functions["TSDIFF"] = UDFS["TSDIFF"]
            self.found("TSDIFF(a, b)", "TSDIFF, clickflow's function: a - b in milliseconds", node)
            return f"TSDIFF({self.expr(args[0], scope, 'TIMESTAMP')}, {self.expr(args[1], scope, 'TIMESTAMP')})"
        if function == "CHAR_TO_TIMESTAMP":
            if len(args) != 2:
                raise MigrateError("CHAR_TO_TIMESTAMP(format, text) takes two arguments", line, col)
            self.found("CHAR_TO_TIMESTAMP(format, text)", "TO_TIMESTAMP(text, format)", node)
            return f"TO_TIMESTAMP({self.expr(args[1], scope)}, {self.expr(args[0], scope)})"
        if function == "TIMESTAMP_TO_CHAR":
            if len(args) != 2:
                raise MigrateError("TIMESTAMP_TO_CHAR(format, timestamp) takes two arguments", line, col)
            self.found("TIMESTAMP_TO_CHAR(format, timestamp)", "DATE_FORMAT(timestamp, format)", node)
            return f"DATE_FORMAT({self.expr(args[1], scope, 'TIMESTAMP')}, {self.expr(args[0], scope)})"
        if function == "CURRENT_ROW_TIMESTAMP" and not args:
            self.found("CURRENT_ROW_TIMESTAMP", "CURRENT_ROW_TIMESTAMP()", node)
            return "CURRENT_ROW_TIMESTAMP()"
        if function in SCALARS:
            numeric = (
                "DOUBLE" if function in ("ABS", "MOD", "POWER", "SQRT", "LN", "LOG10", "EXP", "ROUND", "SIGN") else ""
            )
            return f"{function}({', '.join(self.expr(a, scope, numeric) for a in args)})"
        raise MigrateError(
            f"function {function} is not translated: clickflow knows KDA's aggregates, TSDIFF, CHAR_TO_TIMESTAMP, "
            "TIMESTAMP_TO_CHAR, CURRENT_ROW_TIMESTAMP and the common scalar functions",
            line,
            col,
        )

    def log_parser(self, function: str, node: Tree, args: list[Tree], scope: Scope) -> str:
        """One of KDA's log parsers: clickflow's function of the same name, a ROW of its columns
        (``parsed.COLUMN1``); every argument after the line is a literal, as KDA required."""
        usage = {
            "REGEX_LOG_PARSE": "REGEX_LOG_PARSE(line, 'pattern')",
            "FAST_REGEX_LOG_PARSER": "FAST_REGEX_LOG_PARSER(line, 'pattern')",
            "W3C_LOG_PARSE": "W3C_LOG_PARSE(line, 'COMMON' | 'COMMON WITH VHOST' | 'NCSA EXTENDED' | 'REFERER' | "
            "'AGENT' | 'a %-format')",
            "VARIABLE_COLUMN_LOG_PARSE": "VARIABLE_COLUMN_LOG_PARSE(line, columns, 'delimiter' [, 'escape'])",
        }[function]
        counts = (3, 4) if function == "VARIABLE_COLUMN_LOG_PARSE" else (2,)
        if len(args) not in counts:
            raise self.refuse(node, f"expected {usage}")
        literals = []  # a pattern's mistakes are Java's to find: `clickflow migrate --check` plans the job
        for arg in args[1:]:
            if arg.data == "string" or arg.data == "number" and str(arg.children[0]).isdigit():
                literals.append(str(arg.children[0]))
            else:
                raise self.refuse(arg, f"{function}: every argument after the line is a literal ({usage})")
        self.functions[function] = LOG_PARSERS[function]
        self.found(
            f"{function}(...)",
            f"clickflow's {function}: a ROW of its columns (COLUMN1 ...), NULL when the line does not parse",
            node,
        )
        return f"{function}({self.expr(args[0], scope)}, {', '.join(literals)})"

    def over(self, node: Tree, scope: Scope) -> str:
        """An OVER window (named, or inline), ordered by ROWTIME as KDA's are."""
        if node.data == "over_name":
            window = name(node.children[-1])
            if window not in scope.windows:
                raise self.refuse(node, f"OVER {window}: no WINDOW {window} AS (...) in this SELECT")
            spec = scope.windows[window]
        else:
            spec = next(c for c in node.children if isinstance(c, Tree))
        parts = {c.data: c for c in spec.children if isinstance(c, Tree)}
        main = scope.relations[0]
        sql = ""
        if "partition" in parts:
            keys = [c for c in parts["partition"].children if isinstance(c, Tree)]
            sql += "PARTITION BY " + ", ".join(self.expr(k, scope) for k in keys) + " "
        if "order_by" in parts:
            keys = [c for c in parts["order_by"].children if isinstance(c, Tree)]
            if len(keys) != 1 or not self.is_rowtime(keys[0].children[0], scope):
                raise self.refuse(parts["order_by"], "an OVER window is ordered by ROWTIME (as in KDA)")
        sql += f"ORDER BY {q(main.alias)}.`ROWTIME` "
        frame = next(
            (c for c in spec.children if isinstance(c, Tree) and c.data not in ("partition", "order_by")), None
        )
        if frame is None or frame.data == "range_unbounded":
            sql += "RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW"
        elif frame.data == "range_interval":
            seconds = _interval_seconds(next(c for c in frame.children if isinstance(c, Tree)))
            sql += f"RANGE BETWEEN {sql_interval(seconds)} PRECEDING AND CURRENT ROW"
            self.found(
                "RANGE INTERVAL ... PRECEDING", "an OVER window: RANGE BETWEEN ... PRECEDING AND CURRENT ROW", frame
            )
        elif frame.data == "rows_preceding":
            rows = int(str(next(t for t in frame.children if isinstance(t, Token) and t.type == "INT")))
            sql += f"ROWS BETWEEN {rows} PRECEDING AND CURRENT ROW"
            self.found("ROWS n PRECEDING", "an OVER window: ROWS BETWEEN n PRECEDING AND CURRENT ROW", frame)
        elif frame.data == "rows_unbounded":
            sql += "ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW"
        else:
            sql += ("ROWS" if frame.data == "rows_current" else "RANGE") + " BETWEEN CURRENT ROW AND CURRENT ROW"
        return sql


def sql_interval_signed(seconds: float) -> str:
    """A Flink interval literal of ``seconds`` (negative allowed)."""
    return f"-{sql_interval(-seconds)}" if seconds < 0 else sql_interval(seconds)


def _conjuncts(node: Tree) -> list[Tree]:
    """The AND-ed parts of a condition."""
    if node.data == "and_":
        left, right = [c for c in node.children if isinstance(c, Tree)]
        return _conjuncts(left) + _conjuncts(right)
    return [node]


def _literal_hint(node: Tree) -> str:
    if isinstance(node, Tree):
        if node.data == "number":
            return "DOUBLE"
        if node.data == "timestamp_lit":
            return "TIMESTAMP"
        if node.data in ("true", "false"):
            return "BOOLEAN"
    return ""


def _escape(text_value: str) -> str:
    return text_value.replace("'", "''")


def _unique(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for n in names:
        if n in seen:
            seen[n] += 1
            out.append(f"{n}{seen[n]}")
        else:
            seen[n] = 0
            out.append(n)
    return out


def _ordered(pieces: list[Piece]) -> list[Piece]:
    """The pieces in an order where each comes after what it needs (a stable topological sort)."""
    done: set[str] = set()
    out: list[Piece] = []
    rest = list(pieces)
    while rest:
        for index, piece in enumerate(rest):
            if piece.needs <= done:
                out.append(piece)
                done |= piece.provides
                del rest[index]
                break
        else:
            cycle = ", ".join(sorted({n for p in rest for n in p.needs - done}))
            raise MigrateError(f"streams read each other in a cycle: {cycle}")
    return out


def translate(app: Application) -> Translation:
    """Translate ``app``'s code; errors name the code's file."""
    try:
        return Translator(app).translate()
    except MigrateError as exc:
        raise exc.located(app.code_file) from None
