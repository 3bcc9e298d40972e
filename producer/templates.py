"""Record templates in the Amazon Kinesis Data Generator's syntax, compiled once into fast render
functions.

A template is text with ``{{helper}}`` or ``{{helper(arguments)}}`` placeholders, e.g.::

    {"eventType": "{{random.weightedArrayElement({"weights":[0.3,0.1,0.6],"data":["rent","buy","trailer"]})}}",
     "film_id": {{random.number({"min":1,"max":1000})}}, "state": "{{address.state}}", "timestamp": "{{date.now}}"}

KDG's helpers: ``random.number`` (``max`` or ``{"min","max","precision"}``), ``random.arrayElement``,
``random.weightedArrayElement``, ``random.uuid``, ``random.boolean``, ``date.now(format)``,
``date.between(from, to[, format])`` (moment.js format tokens), and the faker helpers ``name.*``,
``address.*``, ``internet.*``, ``commerce.*``, ``lorem.*`` (backed by the Faker library). What KDG
lacks: a seed (the same seed renders the same records), ``{{session.id}}`` and ``{{session.user}}``
that stay the same for a run of events (a visit), ``{{event.time(format)}}`` moving forward at a
chosen rate of events per second of event time, and ``{{sequence}}`` (the record's number).

Speed: a template is parsed once; each placeholder becomes a closure with its arguments already
parsed (cumulative weights for weighted choices, a strftime pattern for formats), so rendering a
record is one pass of calls and one join — no parsing per record. Faker is slow (tens of µs for a
name), so each faker helper draws from a pool of ``faker_pool`` values that Faker makes when the
template is compiled (seeded): the values are Faker's, the per-record cost is a random index.
"""

from __future__ import annotations

import difflib
import json
import math
import random
import re
import time
import uuid
from bisect import bisect_right
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from itertools import accumulate
from pathlib import Path


class TemplateError(ValueError):
    """A template that cannot be compiled: the message names the template, line and column."""


@dataclass
class Context:
    """What one record's rendering may look at: its number, its event time, its visit."""

    rng: random.Random
    sequence: int = 0
    event_time: datetime = datetime(2019, 10, 1, tzinfo=UTC)
    session_id: str = ""
    session_user: int = 0


# --------------------------------------------------------------------------- formats

_MOMENT = [
    ("YYYY", "%Y"),
    ("YY", "%y"),
    ("MMMM", "%B"),
    ("MMM", "%b"),
    ("MM", "%m"),
    ("DD", "%d"),
    ("dddd", "%A"),
    ("ddd", "%a"),
    ("HH", "%H"),
    ("hh", "%I"),
    ("mm", "%M"),
    ("ss", "%S"),
    ("A", "%p"),
    ("Z", "+00:00"),
]


def moment_format(pattern: str) -> Callable[[datetime], str]:
    """A moment.js format (KDG's) as a function of a UTC datetime. ``SSS`` is milliseconds, ``X``
    seconds and ``x`` milliseconds since the epoch; text in [brackets] is kept as it is."""
    if pattern == "X":
        return lambda moment: str(int(moment.timestamp()))
    if pattern == "x":
        return lambda moment: str(int(moment.timestamp() * 1000))
    out, i = [], 0
    while i < len(pattern):
        if pattern[i] == "[":
            end = pattern.find("]", i)
            end = len(pattern) if end < 0 else end
            out.append(pattern[i + 1 : end].replace("%", "%%"))
            i = end + 1
            continue
        if pattern.startswith("SSS", i):
            out.append("\x00ms")
            i += 3
            continue
        for token, directive in _MOMENT:
            if pattern.startswith(token, i):
                out.append(directive)
                i += len(token)
                break
        else:
            out.append(pattern[i].replace("%", "%%"))
            i += 1
    strf = "".join(out)
    if "\x00ms" not in strf:
        return lambda moment: moment.strftime(strf)
    head, _, tail = strf.partition("\x00ms")
    return lambda moment: f"{moment.strftime(head)}{moment.microsecond // 1000:03d}{moment.strftime(tail)}"


def iso_format(moment: datetime) -> str:
    """ISO 8601 UTC with milliseconds, the default format (isoformat is several times faster than strftime)."""
    return moment.isoformat(timespec="milliseconds")[:23] + "Z"


def _parse_moment(text: str) -> datetime:
    moment = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


# --------------------------------------------------------------------------- faker

# KDG (faker.js) names -> Python Faker methods. commerce.* has no Faker provider: built from Faker's
# own words and colours, as faker.js does.
FAKER = {
    "name.firstName": "first_name",
    "name.lastName": "last_name",
    "name.findName": "name",
    "name.fullName": "name",
    "name.prefix": "prefix",
    "name.suffix": "suffix",
    "name.jobTitle": "job",
    "address.state": "state",
    "address.stateAbbr": "state_abbr",
    "address.city": "city",
    "address.country": "country",
    "address.countryCode": "country_code",
    "address.zipCode": "postcode",
    "address.streetAddress": "street_address",
    "address.latitude": "latitude",
    "address.longitude": "longitude",
    "internet.email": "email",
    "internet.userName": "user_name",
    "internet.ip": "ipv4",
    "internet.ipv6": "ipv6",
    "internet.url": "url",
    "internet.domainName": "domain_name",
    "internet.userAgent": "user_agent",
    "internet.mac": "mac_address",
    "lorem.word": "word",
    "lorem.sentence": "sentence",
    "lorem.paragraph": "paragraph",
    "company.companyName": "company",
    "phone.phoneNumber": "phone_number",
}
COMMERCE = ("commerce.productName", "commerce.department", "commerce.color", "commerce.price", "commerce.product")
_DEPARTMENTS = ("Books", "Electronics", "Garden", "Home", "Kids", "Music", "Shoes", "Sports", "Toys", "Beauty")


def _faker_pool(helper: str, faker, size: int) -> list[str]:
    if helper in FAKER:
        method = getattr(faker, FAKER[helper])
        return [str(method()) for _ in range(size)]
    if helper == "lorem.words":
        return [" ".join(faker.words(3)) for _ in range(size)]
    if helper == "commerce.productName":
        return [f"{faker.color_name()} {faker.word().title()} {faker.word().title()}" for _ in range(size)]
    if helper == "commerce.product":
        return [faker.word().title() for _ in range(size)]
    if helper == "commerce.department":
        return list(_DEPARTMENTS)
    if helper == "commerce.color":
        return [faker.color_name() for _ in range(size)]
    if helper == "commerce.price":
        return [f"{faker.pyfloat(min_value=1, max_value=1000, right_digits=2):.2f}" for _ in range(size)]
    raise KeyError(helper)


# --------------------------------------------------------------------------- helpers

Render = Callable[[Context], str]


def _number(args: list, ctx_pos: str) -> Render:
    low: float = 0
    high: float = 99999
    step: float = 1
    if len(args) == 1 and isinstance(args[0], (int, float)) and not isinstance(args[0], bool):
        high = args[0]
    elif len(args) == 1 and isinstance(args[0], dict):
        low, high = args[0].get("min", low), args[0].get("max", high)
        step = args[0].get("precision", 1)
    elif args:
        raise TemplateError(f'{ctx_pos}: random.number takes a maximum, or {{"min": .., "max": .., "precision": ..}}')
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (low, high, step)) or step <= 0:
        raise TemplateError(f"{ctx_pos}: random.number: min, max and precision must be numbers (precision above 0)")
    if high < low:
        raise TemplateError(f"{ctx_pos}: random.number: max {high} is below min {low}")
    if step == 1 and float(low).is_integer() and float(high).is_integer():
        lo, width = int(low), int(high) - int(low) + 1
        return lambda ctx: str(lo + int(ctx.rng.random() * width))
    steps = int(math.floor((high - low) / step + 1e-9))
    exponent = Decimal(str(step)).as_tuple().exponent  # 0.25 -> -2, 0.1 -> -1, 5 -> 0 (finite: checked above)
    decimals = max(0, -exponent) if isinstance(exponent, int) else 0
    return lambda ctx: f"{low + ctx.rng.randint(0, steps) * step:.{decimals}f}"


def _array_element(args: list, ctx_pos: str) -> Render:
    if len(args) != 1 or not isinstance(args[0], list) or not args[0]:
        raise TemplateError(f'{ctx_pos}: random.arrayElement takes a non-empty array, e.g. ["a", "b"]')
    values = [_text(v) for v in args[0]]
    return lambda ctx: values[int(ctx.rng.random() * len(values))]


def _weighted(args: list, ctx_pos: str) -> Render:
    spec = args[0] if len(args) == 1 and isinstance(args[0], dict) else None
    weights, data = (spec or {}).get("weights"), (spec or {}).get("data")
    if not (isinstance(weights, list) and isinstance(data, list) and weights and len(weights) == len(data)):
        raise TemplateError(
            f'{ctx_pos}: random.weightedArrayElement takes {{"weights": [..], "data": [..]}} of equal length'
        )
    if any(not isinstance(w, (int, float)) or w < 0 for w in weights) or sum(weights) <= 0:
        raise TemplateError(f"{ctx_pos}: random.weightedArrayElement: weights must be 0 or more, and not all 0")
    cumulative = list(accumulate(weights))
    total = cumulative[-1]
    values = [_text(v) for v in data]
    last = len(values) - 1
    return lambda ctx: values[min(last, bisect_right(cumulative, ctx.rng.random() * total))]


def _text(value) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _uuid(ctx: Context) -> str:
    return str(uuid.UUID(int=ctx.rng.getrandbits(128), version=4))


def _date_now(args: list, ctx_pos: str) -> Render:
    fmt = _format_arg(args, 0, ctx_pos, "date.now")
    cache: list = [-1, ""]  # the clock's millisecond and its text: formatted once per millisecond

    def now(ctx: Context) -> str:
        millis = time.time_ns() // 1_000_000
        if millis != cache[0]:
            cache[0], cache[1] = millis, fmt(datetime.fromtimestamp(millis / 1000, UTC))
        return str(cache[1])

    return now


def _date_between(args: list, ctx_pos: str) -> Render:
    if len(args) not in (2, 3):
        raise TemplateError(f'{ctx_pos}: date.between takes (from, to[, format]), e.g. ("2019-10-01", "2019-10-31")')
    try:
        start, end = _parse_moment(args[0]), _parse_moment(args[1])
    except (TypeError, ValueError):
        raise TemplateError(f"{ctx_pos}: date.between: {args[0]!r} and {args[1]!r} must be dates") from None
    if end < start:
        raise TemplateError(f"{ctx_pos}: date.between: {args[1]} is before {args[0]}")
    fmt = _format_arg(args, 2, ctx_pos, "date.between")
    span = (end - start).total_seconds()
    return lambda ctx: fmt(start + timedelta(seconds=ctx.rng.random() * span))


def _format_arg(args: list, index: int, ctx_pos: str, name: str) -> Callable[[datetime], str]:
    if len(args) <= index:
        return iso_format
    if not isinstance(args[index], str):
        raise TemplateError(f'{ctx_pos}: {name}: the format must be a string like "YYYY-MM-DD HH:mm:ss"')
    return moment_format(args[index])


def _event_time(args: list, ctx_pos: str) -> Render:
    fmt = _format_arg(args, 0, ctx_pos, "event.time")
    return lambda ctx: fmt(ctx.event_time)


HELPERS: dict[str, Callable[[list, str], Render]] = {
    "random.number": _number,
    "random.arrayElement": _array_element,
    "random.weightedArrayElement": _weighted,
    "date.now": _date_now,
    "date.between": _date_between,
    "event.time": _event_time,
}
PLAIN: dict[str, Render] = {
    "random.uuid": _uuid,
    "random.boolean": lambda ctx: "true" if ctx.rng.random() < 0.5 else "false",
    "session.id": lambda ctx: ctx.session_id,
    "session.user": lambda ctx: str(ctx.session_user),
    "sequence": lambda ctx: str(ctx.sequence),
}
KNOWN = sorted([*HELPERS, *PLAIN, *FAKER, *COMMERCE, "lorem.words"])


# --------------------------------------------------------------------------- compiling

_PLACEHOLDER = re.compile(r"\{\{(.*?)\}\}", re.S)
_CALL = re.compile(r"^\s*([A-Za-z_][\w]*(?:\.[A-Za-z_]\w*)*)\s*(?:\((.*)\))?\s*$", re.S)


def _position(text: str, offset: int) -> tuple[int, int]:
    line = text.count("\n", 0, offset) + 1
    column = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return line, column


def _arguments(raw: str, where: str) -> list:
    if raw is None or not raw.strip():
        return []
    try:
        return json.loads(f"[{raw}]")
    except ValueError as exc:
        detail = getattr(exc, "msg", exc)  # json's own error carries its message apart
        raise TemplateError(f"{where}: the arguments are not JSON: ({raw.strip()[:60]}) — {detail}") from None


@dataclass
class CompiledTemplate:
    """A template compiled once into literal text and render functions."""

    name: str
    parts: list  # str literals and Render functions, in order

    def render(self, ctx: Context) -> str:
        """One record: the literals and each function's output, joined."""
        return "".join([p if p.__class__ is str else p(ctx) for p in self.parts])


def compile_template(text: str, name: str, faker=None, faker_pool: int = 10_000, seed: int = 1) -> CompiledTemplate:
    """Parse ``text`` once into literals and render functions; errors name ``name``:line:column.
    ``faker`` makes the faker helpers' pools (a Faker seeded with ``seed`` when none is given)."""
    parts: list = []
    pools: dict[str, list[str]] = {}
    last = 0
    for match in _PLACEHOLDER.finditer(text):
        line, column = _position(text, match.start())
        where = f"{name}:{line}:{column}"
        if match.start() > last:
            parts.append(text[last : match.start()])
        last = match.end()
        call = _CALL.match(match.group(1))
        if not call:
            raise TemplateError(f"{where}: not a helper call: {{{{{match.group(1).strip()[:60]}}}}}")
        helper, raw = call.group(1), call.group(2)
        if helper in HELPERS:
            parts.append(HELPERS[helper](_arguments(raw, where), where))
        elif helper in PLAIN:
            if raw and raw.strip():
                raise TemplateError(f"{where}: {helper} takes no arguments")
            parts.append(PLAIN[helper])
        elif helper in FAKER or helper in COMMERCE or helper == "lorem.words":
            if faker is None:
                from faker import Faker

                faker = Faker("en_US")
                faker.seed_instance(seed)
            if helper not in pools:
                pools[helper] = _faker_pool(helper, faker, faker_pool)
            pool = pools[helper]
            size = len(pool)
            parts.append(lambda ctx, pool=pool, size=size: pool[int(ctx.rng.random() * size)])
        else:
            close = difflib.get_close_matches(helper, KNOWN, n=1)
            hint = f" (did you mean {close[0]}?)" if close else f" (known: {', '.join(KNOWN[:12])}, ...)"
            raise TemplateError(f"{where}: unknown helper {helper}{hint}")
    tail = text[last:]
    if "{{" in tail:
        line, column = _position(text, last + tail.index("{{"))
        raise TemplateError(f"{name}:{line}:{column}: '{{{{' is never closed with '}}}}'")
    if tail:
        parts.append(tail)
    return CompiledTemplate(name, parts)


# --------------------------------------------------------------------------- several templates


@dataclass
class TemplateSet:
    """One template, or several with weights (a ``.yaml`` file), ready to render records."""

    templates: list[CompiledTemplate]
    weights: list[float] = field(default_factory=list)
    json_records: bool = True  # check that every record is a JSON object

    def pick(self, rng: random.Random) -> CompiledTemplate:
        """One of the set's templates, chosen by weight."""
        if len(self.templates) == 1:
            return self.templates[0]
        return self.templates[bisect_right(self.weights, rng.random() * self.weights[-1])]


def load_templates(path: Path, seed: int = 1, faker_pool: int = 10_000) -> TemplateSet:
    """A ``.tpl`` file (one template) or a ``.yaml`` file: ``templates: [{weight, template | file}]``."""
    from faker import Faker

    faker = Faker("en_US")
    faker.seed_instance(seed)
    if not path.is_file():
        raise TemplateError(f"{path}: no such template file")
    text = path.read_text(encoding="utf-8")
    if path.suffix not in (".yaml", ".yml"):
        text = text.rstrip("\n")  # the file's own last newline is not part of the record
        return TemplateSet([compile_template(text, str(path), faker, faker_pool)], [1.0], ".json" in path.name)
    import yaml

    try:
        spec = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        raise TemplateError(f"{where}: not valid YAML: {getattr(exc, 'problem', exc)}") from None
    entries = spec.get("templates") if isinstance(spec, dict) else None
    if not isinstance(entries, list) or not entries:
        raise TemplateError(f"{path}: expected 'templates:' with a list of {{weight, template or file}}")
    compiled, weights = [], []
    for index, entry in enumerate(entries):
        where = f"{path} templates[{index}]"
        if not isinstance(entry, dict) or ("template" in entry) == ("file" in entry):
            raise TemplateError(f"{where}: give either 'template' (the text) or 'file' (a .tpl beside this file)")
        weight = entry.get("weight", 1)
        if not isinstance(weight, (int, float)) or weight <= 0:
            raise TemplateError(f"{where}: weight must be a number above 0, got {weight!r}")
        if "file" in entry:
            child = path.parent / entry["file"]
            if not child.is_file():
                raise TemplateError(f"{where}: no such template file {child}")
            compiled.append(compile_template(child.read_text(encoding="utf-8"), str(child), faker, faker_pool))
        else:
            compiled.append(compile_template(str(entry["template"]), where, faker, faker_pool))
        weights.append(float(weight))
    return TemplateSet(compiled, list(accumulate(weights)), bool(spec.get("json", True)))


@dataclass(frozen=True)
class RenderOptions:
    """How templates are rendered: seed, count, start and pace of event time, visits and users."""

    seed: int = 1
    count: int = 1000
    start: datetime = datetime(2019, 10, 1, tzinfo=UTC)
    events_per_second: float = 50.0  # how fast {{event.time}} moves: mean events per second of event time
    session_length: float = 8.0  # mean events per visit ({{session.id}}, {{session.user}})
    users: int = 20_000  # {{session.user}} is drawn from 1..users


def render_records(templates: TemplateSet, options: RenderOptions) -> Iterator[tuple[int, str, datetime]]:
    """(record number from 1, text, event time) for ``options.count`` records; deterministic per seed."""
    rng = random.Random(options.seed)
    ctx = Context(rng, event_time=options.start)
    seconds = 0.0
    continue_visit = 1 - 1 / max(1.0, options.session_length)  # geometric run lengths with that mean
    for number in range(1, options.count + 1):
        ctx.sequence = number
        seconds += rng.expovariate(options.events_per_second)
        ctx.event_time = options.start + timedelta(seconds=seconds)
        if number == 1 or rng.random() > continue_visit:  # a new visit
            ctx.session_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
            ctx.session_user = rng.randint(1, options.users)
        template = templates.pick(rng)
        text = template.render(ctx)
        if templates.json_records:
            try:
                json.loads(text)
            except ValueError as exc:
                raise TemplateError(
                    f"{template.name}: record {number} is not valid JSON ({exc}); the record was: {text[:200]}"
                ) from None
        yield number, text, ctx.event_time


def write_records(templates: TemplateSet, options: RenderOptions, path: Path, on_record=None) -> int:
    """Render the records into ``path`` (one per line; .gz compressed); returns how many."""
    import gzip

    path.parent.mkdir(parents=True, exist_ok=True)
    opener = gzip.open if path.suffix == ".gz" else open
    count = 0
    with opener(path, "wt", encoding="utf-8", newline="\n") as out:
        for number, text, _ in render_records(templates, options):
            out.write(text)
            out.write("\n")
            count = number
            if on_record is not None and number % 1000 == 0:
                on_record(number)
    return count


def keyed_records(
    templates: TemplateSet, options: RenderOptions, partition_key: str | None
) -> Iterator[tuple[int, bytes, str, datetime]]:
    """The records as the replay sends them: (number, data, partition key, event time). The key is
    the record's ``partition_key`` field, or else its number (which spreads records over shards)."""
    for number, text, moment in render_records(templates, options):
        if partition_key is None:
            key = str(number)
        else:
            try:
                value = json.loads(text).get(partition_key)
            except (ValueError, AttributeError):
                value = None
            if value is None or value == "":
                raise TemplateError(f"record {number} has no field {partition_key!r} for --partition-key: {text[:120]}")
            key = value if isinstance(value, str) else json.dumps(value)
        yield number, text.encode("utf-8"), key, moment
