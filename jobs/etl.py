"""`clickflow etl --config FILE`: a streaming ETL declared in YAML — read a stream of JSON records of
any schema, add fields computed by SQL expressions, route each record by an ordered list of SQL
predicates to a stream, and deliver chosen streams to S3 as Firehose does.

A PyFlink job with the same connector, profiles and local/cluster/Managed Flink switch as the
analytics job (``jobs.stream``). The stream is read once, as text, so every record either leaves by
exactly one route or is an error — never both, never neither:

- a record that is not a JSON object, or lacks a ``required`` field (or has it of another type than
  declared), goes to the ``errors`` stream as ``{"errorCode", "errorMessage", "rawData"}``;
- the others are enriched — the record as it came (every field, declared or not) plus the ``enrich``
  fields (``JSON_MERGE``) — and go to the first route whose ``when`` holds (a predicate that is
  NULL counts as false), else to the ``default`` route.

Declared columns are typed with ``JSON_VALUE ... RETURNING``; a column of type ``JSON`` holds the
JSON text of an array or object, which ``ARRAY_SUM(col, 'field')`` and ``ARRAY_COUNT(col[, 'field'])``
(clickflow's Java functions) read. Delivery (``jobs.delivery``) runs beside the job.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from connectors import environment
from connectors.config import Config, ConfigError, Duration
from connectors.tables import kinesis_options, output_options, polling_options
from jobs import analytics, plans

IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
SCALAR_TYPES = re.compile(
    r"^(STRING|BOOLEAN|INT|INTEGER|BIGINT|DOUBLE|FLOAT|DATE|TIMESTAMP(\(\d\))?|DECIMAL\(\d+,\s*\d+\))$", re.I
)
FUNCTIONS = {
    "ARRAY_SUM": "io.clickflow.udf.ArraySum",
    "ARRAY_COUNT": "io.clickflow.udf.ArrayCount",
    "JSON_MERGE": "io.clickflow.udf.JsonMerge",
}


@dataclass(frozen=True)
class Route:
    """One route of the ETL: records matching ``when`` go to stream ``to`` (no ``when``: the default)."""

    to: str
    when: str | None = None  # None: the default route


@dataclass(frozen=True)
class Delivery:
    """Firehose-style delivery of one stream to S3."""

    prefix: str  # s3://bucket/prefix/ with !{timestamp:yyyy/MM/dd} etc.
    buffer_size: int = 5 * 1024 * 1024  # bytes: an object is written when the buffer holds this much ...
    buffer_interval: float = 60.0  # ... or its oldest record has waited this long


@dataclass(frozen=True)
class EtlConfig:
    """An ETL file's ``etl:`` section, checked: source, columns, enrichments, routes, errors, deliveries."""

    name: str
    source: str
    columns: dict[str, str]
    required: tuple[str, ...]
    enrich: dict[str, str]
    routes: tuple[Route, ...]
    errors: str
    start: str = "trim_horizon"
    deliver: dict[str, Delivery] = field(default_factory=dict)
    error_prefix: str | None = None  # s3://... for the errors stream (!{firehose:error-output-type} allowed)

    def streams(self) -> list[str]:
        """Every stream the ETL reads or writes."""
        return sorted({self.source, self.errors, *(r.to for r in self.routes)})


LOCAL_SHARDS = 1  # the shards of each stream an etl: section names, when clickflow creates it on the local stack


def create_streams(etl: EtlConfig, config: Config, say: Callable[[str], None] = print) -> list[str]:
    """Create the streams ``etl`` reads and writes where missing (the local stack); return those created."""
    from connectors.local_stack.stack import ensure_streams

    return ensure_streams(config, [(stream, LOCAL_SHARDS) for stream in etl.streams()], say, f"etl {etl.name}")


def files_naming(stream: str, folder: Path = Path("etl")) -> list[Path]:
    """The ETL files under ``folder`` whose ``etl:`` section names ``stream`` (for the hint of a missing stream)."""
    found = []
    for path in sorted(folder.glob("*.y*ml")):
        try:
            if stream in load_etl(path).streams():
                found.append(path)
        except ConfigError:
            continue
    return found


def _size(text, where: str) -> int:
    match = re.match(r"^\s*(\d+(?:\.\d+)?)\s*(b|kb|mb|gb)\s*$", str(text).lower())
    if not match:
        raise ConfigError(f"{where}: expected a size like 5mb, got {text!r}")
    return int(float(match.group(1)) * {"b": 1, "kb": 1024, "mb": 1024**2, "gb": 1024**3}[match.group(2)])


def _check_prefix(prefix: str, where: str) -> None:
    from datetime import UTC, datetime

    from jobs.delivery import render_prefix

    try:
        render_prefix(prefix, datetime.now(UTC))
    except ValueError as exc:
        raise ConfigError(
            f"{where}: {exc} (known: !{{timestamp:...}}, !{{firehose:error-output-type}}, !{{firehose:random-string}})"
        ) from None


def has_etl_section(path: Path) -> bool:
    """Whether the YAML file at ``path`` has a top-level ``etl:`` key (unreadable or invalid: no)."""
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return False
    return isinstance(document, dict) and "etl" in document


def load_etl(path: Path) -> EtlConfig:
    """Read and check the ``etl:`` section of a config file; every error names the file and the key."""
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read it: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise ConfigError(f"{path}{f':{mark.line + 1}' if mark else ''}: not valid YAML") from None
    data = document.get("etl") if isinstance(document, dict) else None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected an 'etl:' section with name, source, enrich, routes, errors, deliver")
    path = Path(f"{path}: etl")  # errors name the section
    known = {"name", "source", "enrich", "routes", "errors", "deliver", "error_prefix"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"{path}: {unknown[0]}: unknown key (known: {', '.join(sorted(known))})")

    def need(mapping, key, where, kind=str):
        if key not in mapping:
            raise ConfigError(f"{path}: {where}{key}: missing")
        if not isinstance(mapping[key], kind):
            raise ConfigError(f"{path}: {where}{key}: expected {kind.__name__}, got {mapping[key]!r}")
        return mapping[key]

    source = need(data, "source", "", dict)
    columns = need(source, "columns", "source.", dict)
    for name, kind in columns.items():
        if not IDENTIFIER.match(str(name)):
            raise ConfigError(f"{path}: source.columns.{name}: a column name must be a plain identifier")
        if str(kind).upper() != "JSON" and not SCALAR_TYPES.match(str(kind)):
            raise ConfigError(
                f"{path}: source.columns.{name}: type {kind!r}: use a scalar SQL type (STRING, BIGINT, DOUBLE, "
                "BOOLEAN, DECIMAL(p, s), TIMESTAMP(3), DATE) or JSON for an array or object"
            )
    required = tuple(source.get("required", list(columns)))
    for name in required:
        if name not in columns:
            raise ConfigError(f"{path}: source.required: {name!r} is not one of source.columns")
    enrich = data.get("enrich") or {}
    if not isinstance(enrich, dict):
        raise ConfigError(f"{path}: enrich: expected a mapping of new field: SQL expression")
    for name in enrich:
        if not IDENTIFIER.match(str(name)) or name in columns:
            raise ConfigError(f"{path}: enrich.{name}: a new field needs a plain name not among source.columns")
    routes = need(data, "routes", "", list)
    parsed = []
    for index, route in enumerate(routes):
        where = f"routes[{index}]"
        if not isinstance(route, dict):
            raise ConfigError(f"{path}: {where}: expected {{when, to}} or {{default}}")
        if "default" in route:
            if index != len(routes) - 1:
                raise ConfigError(f"{path}: {where}: the default route must come last")
            parsed.append(Route(str(route["default"])))
        else:
            parsed.append(Route(str(need(route, "to", f"{where}.")), str(need(route, "when", f"{where}."))))
    if not parsed or parsed[-1].when is not None:
        raise ConfigError(f"{path}: routes: end with {{default: STREAM}} so every record has a place")
    start = str(source.get("start", "trim_horizon")).lower()
    if start not in ("trim_horizon", "latest"):
        raise ConfigError(f"{path}: source.start: expected trim_horizon or latest, got {start!r}")
    deliver = {}
    for stream, spec in (data.get("deliver") or {}).items():
        where = f"deliver.{stream}"
        if not isinstance(spec, dict):
            raise ConfigError(f"{path}: {where}: expected {{prefix, buffer_size, buffer_interval}}")
        prefix = str(need(spec, "prefix", f"{where}."))
        if not prefix.startswith("s3://"):
            raise ConfigError(f"{path}: {where}.prefix: expected s3://bucket/prefix/, got {prefix!r}")
        try:
            interval = Duration.parse(spec.get("buffer_interval", "60s"))
        except ValueError as exc:
            raise ConfigError(f"{path}: {where}.buffer_interval: {exc}") from None
        size = _size(spec.get("buffer_size", "5mb"), f"{path}: {where}.buffer_size")
        _check_prefix(prefix, f"{path}: {where}.prefix")
        deliver[str(stream)] = Delivery(prefix, size, interval)
    config = EtlConfig(
        name=str(need(data, "name", "")),
        source=str(need(source, "stream", "source.")),
        columns={str(k): str(v) for k, v in columns.items()},
        required=required,
        enrich={str(k): str(v) for k, v in enrich.items()},
        routes=tuple(parsed),
        errors=str(need(data, "errors", "")),
        start=start,
        deliver=deliver,
        error_prefix=data.get("error_prefix"),
    )
    for stream in deliver:
        if stream not in config.streams() or stream == config.source:
            raise ConfigError(f"{path}: deliver.{stream}: not one of the routes' streams or the errors stream")
    if config.error_prefix:
        if not str(config.error_prefix).startswith("s3://"):
            raise ConfigError(f"{path}: error_prefix: expected s3://bucket/prefix/")
        _check_prefix(str(config.error_prefix), f"{path}: error_prefix")
    return config


def _column(name: str, kind: str) -> str:
    if kind.upper() == "JSON":
        return f"JSON_QUERY(payload, '$.{name}') AS `{name}`"
    return f"JSON_VALUE(payload, '$.{name}' RETURNING {kind.upper()} NULL ON ERROR) AS `{name}`"


def statements(etl: EtlConfig, config: Config, source_extra: dict[str, str]) -> tuple[list[str], list[str]]:
    """The DDL/views, and the INSERTs of the job (one per route, and the errors)."""
    ddl = [f"CREATE TEMPORARY FUNCTION {name} AS '{cls}' LANGUAGE JAVA" for name, cls in FUNCTIONS.items()]
    raw = {**kinesis_options(config, etl.source, source_extra), "format": "raw"}
    ddl.append(analytics.table_sql("etl_raw", [("payload", "STRING")], raw))
    columns = ",\n       ".join(_column(n, k) for n, k in etl.columns.items())
    ddl.append(f"CREATE TEMPORARY VIEW etl_parsed AS\nSELECT payload,\n       {columns}\nFROM etl_raw")
    valid = " AND ".join(["payload IS JSON OBJECT", *(f"`{n}` IS NOT NULL" for n in etl.required)])
    reasons = "\n".join(
        f"         WHEN `{n}` IS NULL THEN 'missing field {n}, or not a {etl.columns[n]}'" for n in etl.required
    )
    ddl.append(
        "CREATE TEMPORARY VIEW etl_errors AS\n"
        "SELECT JSON_OBJECT('errorCode' VALUE code, 'errorMessage' VALUE message, 'rawData' VALUE payload) AS payload\n"
        "FROM (\n  SELECT payload,\n"
        "         CASE WHEN payload IS NOT JSON OBJECT THEN 'Parse.NotJsonObject' ELSE 'Schema.Mismatch' END AS code,\n"
        "         CASE WHEN payload IS NOT JSON OBJECT THEN 'not a JSON object'\n"
        f"{reasons}\n         END AS message\n"
        f"  FROM etl_parsed\n  WHERE NOT ({valid})\n)"
    )
    extra = ", ".join(f"'{n}' VALUE `{n}`" for n in etl.enrich)
    added = "".join(f",\n         {expr} AS `{n}`" for n, expr in etl.enrich.items())
    merged = f"JSON_MERGE(payload, JSON_OBJECT({extra}))" if etl.enrich else "payload"
    ddl.append(
        f"CREATE TEMPORARY VIEW etl_enriched AS\nSELECT {merged} AS record, *\n"
        f"FROM (\n  SELECT *{added}\n  FROM etl_parsed\n  WHERE {valid}\n)"
    )
    targets = sorted({r.to for r in etl.routes} | {etl.errors})
    for stream in targets:
        options = {**kinesis_options(config, stream), "format": "raw", **output_options(config)}
        ddl.append(analytics.table_sql(_sink(stream), [("payload", "STRING")], options))
    inserts: list[str] = []
    earlier: list[str] = []
    for route in etl.routes:
        if route.when is None:
            condition = "NOT (" + " OR ".join(earlier) + ")" if earlier else "TRUE"
        else:
            holds = f"COALESCE(({route.when}), FALSE)"
            condition = " AND ".join([holds, *(f"NOT {e}" for e in earlier)])
            earlier.append(holds)
        inserts.append(f"INSERT INTO `{_sink(route.to)}` SELECT record FROM etl_enriched WHERE {condition}")
    inserts.append(f"INSERT INTO `{_sink(etl.errors)}` SELECT payload FROM etl_errors")
    return ddl, inserts


def _sink(stream: str) -> str:
    return "etl_to_" + re.sub(r"[^A-Za-z0-9_]", "_", stream)


@dataclass(frozen=True)
class EtlRunOptions:
    """How ``clickflow etl`` runs: bounded or not, where it starts reading, what it resumes from."""

    bounded: bool = False  # read the stream to its end as of now, then finish (local connector)
    start: str | None = None  # trim_horizon | latest; None: the file's source.start
    restore: str | None = None  # a savepoint or checkpoint to resume from, or "latest"


def job_config(etl: EtlConfig, config: Config) -> Config:
    """The profile as the ETL's job sees it: its checkpoints (and, beside them, its savepoints) under
    ``job.checkpoint_dir``/etl-NAME, apart from the analytics job's."""
    checkpoints = f"{config.job.checkpoint_dir.rstrip('/')}/etl-{etl.name}/checkpoints"
    return dataclasses.replace(config, job=dataclasses.replace(config.job, checkpoint_dir=checkpoints))


def positions_file(etl: EtlConfig, config: Config, stream: str) -> Path:
    """Where the delivery of ``stream`` keeps how far it has written (a resumed ETL continues after it)."""
    from connectors.local_stack.stack import state_dir

    return state_dir(config) / "etl" / etl.name / f"{stream}.json"


def start_job(etl: EtlConfig, config: Config, options: EtlRunOptions, on_msf: bool = False):
    """Build and submit the job; returns its TableResult."""
    from jobs.stream import RunOptions, configure

    extra = {"source.init.position": (options.start or etl.start).upper(), **polling_options(config, f"etl-{etl.name}")}
    if options.bounded:
        extra.update(environment.bounded_option(config))
    where = environment.decide(job_config(etl, config), on_msf)
    env = plans.Recorder(environment.table_env(where), views_from_cache=plans.cache_for(where.config, where.managed))
    configure(env, where.config, RunOptions(restore=options.restore), on_msf=where.managed)
    env.get_config().set("pipeline.name", f"clickflow etl {etl.name}")
    ddl, inserts = statements(etl, where.config, extra)
    for statement in ddl:
        env.execute_sql(statement)
    statement_set = env.create_statement_set()
    for insert in inserts:
        statement_set.add_insert_sql(insert)
    return plans.execute(env, statement_set, plans.cache_for(where.config, where.managed))


def run(
    etl: EtlConfig,
    config: Config,
    options: EtlRunOptions,
    say: Callable[[str], None] = print,
    resume: Callable[[str], str] | None = None,
) -> int:
    """``clickflow etl``: check the streams, start delivery and the job; bounded: wait for both.

    SIGINT or SIGTERM stops the job with a savepoint, lets each delivery read what the job wrote and
    write it, says the command that resumes (``resume(location)``: the job from the savepoint, each
    delivery after what it wrote) and returns 130; a second signal cancels the job at once."""
    import threading

    from jobs.delivery import S3Delivery
    from jobs.stream import StopRequests, restore_latest, stop_on_request, wait_or_stop
    from producer.records import check_stream

    if resume is None:
        resume = lambda location: f"clickflow etl --profile {config.profile} --restore {location}"  # noqa: E731
    if config.aws.credentials == "local":
        created = create_streams(etl, config, say)
        if created:
            say("(on the local stack `clickflow etl` creates the streams it names, as `stack up --config FILE` does)")
    for stream in etl.streams():
        check_stream(config, stream)
    if options.restore == "latest":
        found = restore_latest(job_config(etl, config))
        options = dataclasses.replace(options, restore=found)
        say(f"resuming from {found}")
    stop, halt = threading.Event(), threading.Event()
    specs = [(stream, spec.prefix, spec.buffer_size, spec.buffer_interval, "") for stream, spec in etl.deliver.items()]
    if etl.error_prefix:
        specs.append((etl.errors, etl.error_prefix, 5 * 1024 * 1024, 60.0, "processing-failed"))
    deliveries = []
    for stream, prefix, size, interval, output_type in specs:
        saved = positions_file(etl, config, stream)
        if not options.restore:
            saved.unlink(missing_ok=True)  # a new run delivers from the stream's start
        resuming = bool(options.restore)
        delivery = S3Delivery(config, stream, prefix, size, interval, stop, output_type, saved, resuming, halt)
        if delivery.resumed_from:
            say(f"delivering {stream} after the positions in {saved}")
        deliveries.append(delivery)
    result = start_job(etl, config, options)
    client = result.get_job_client()
    # started once the job is planned: their threads' garbage collections must not talk to the JVM while the
    # planner does (plans._on_this_thread); they read their streams from their positions, so nothing is missed
    for delivery in deliveries:
        delivery.start()
    routes = ", ".join(f"{r.when or 'default'} -> {r.to}" for r in etl.routes)
    say(f"etl {etl.name}: job {client.get_job_id()} reading {etl.source}; {routes}; errors -> {etl.errors}")
    for delivery in deliveries:
        say(f"delivering {delivery.stream} to {delivery.prefix}")
    code = 0
    try:
        with StopRequests(then=lambda: halt.set() if len(stops.names) > 1 else None) as stops:
            if wait_or_stop(result, client, stops):
                code = stop_on_request(client, job_config(etl, config), stops, resume, say)
    finally:
        stop.set()  # deliveries read their streams to the end (unless halted), write what they hold, and stop
        for delivery in deliveries:
            delivery.join()
    failed = [d for d in deliveries if d.error]
    for delivery in deliveries:
        say(
            f"{delivery.stream}: {delivery.records:,} records in {len(delivery.objects):,} objects under "
            f"{delivery.prefix}" + (f" — FAILED: {delivery.error}" if delivery.error else "")
        )
    if failed:
        raise ConfigError(f"delivery to S3 failed for {', '.join(d.stream for d in failed)} (see above)")
    if code:
        if halt.is_set():
            say(
                "deliveries stopped at once: what each had read is written and its place kept; "
                "what they had not read yet is delivered on resume"
            )
        return code
    say("etl finished")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point on Managed Flink (a package built with ``clickflow package --etl``): the config from
    the application's property groups, the ETL from the zip's etl.yaml; the job is submitted and
    Managed Flink supervises it (delivery to S3 is Firehose's there)."""
    from connectors.config import load_config, msf_properties_file

    here = Path(__file__).resolve().parents[1]
    config = load_config("aws", properties_file=msf_properties_file())
    start_job(load_etl(here / "etl.yaml"), config, EtlRunOptions(), on_msf=True)
    return 0
