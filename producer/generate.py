"""A deterministic synthetic clickstream in the REES46 schema, with labelled anomalies.

Background traffic is a stream of shopping sessions: visitors arrive at random (a Poisson
process), browse products mostly in one category (category and brand popularity are skewed),
sometimes put a product in the cart, and sometimes buy what they carted. On top of that the
generator can inject, at known times:

- bot bursts: one user firing many events a second for half a minute;
- traffic spikes: a flash crowd of new visitors, many times the background rate, for 20 seconds;
- abandoned carts: sessions that cart products and never buy;
- and three that change the traffic's make-up, not its volume, which the fixed rules do not catch
  (rcf_traffic, the learned anomaly, is for them), placed in the second half of the file so that a
  forest has learned the usual traffic first, each for 60 seconds: bot waves (bots adding 8% to the
  traffic, each below the bot threshold: 8 views in every 10 seconds), category surges (one category's
  views up by 12% of all traffic, from new visitors) and purchase drops (no cart or purchase goes
  through: a broken checkout).

Everything injected is written to a labels file. The same seed and options give the same file,
byte for byte: every session draws from its own random generator, seeded in arrival order.
"""

from __future__ import annotations

import csv
import gzip
import heapq
import io
import json
import math
import random
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from connectors.config import OptionError
from producer.rows import COLUMNS, TIME_FORMAT

CATEGORY_CODES = (
    "electronics.smartphone",
    "electronics.audio.headphone",
    "electronics.video.tv",
    "electronics.clocks",
    "computers.notebook",
    "computers.desktop",
    "computers.peripherals.printer",
    "appliances.kitchen.washer",
    "appliances.kitchen.refrigerators",
    "appliances.environment.vacuum",
    "appliances.kitchen.mixer",
    "apparel.shoes",
    "apparel.shoes.keds",
    "furniture.living_room.sofa",
    "furniture.bedroom.bed",
    "kids.toys",
    "auto.accessories.player",
    "sport.bicycle",
    "construction.tools.drill",
    "accessories.bag",
)
BRANDS = (
    "samsung",
    "apple",
    "xiaomi",
    "huawei",
    "lucente",
    "bosch",
    "lg",
    "sony",
    "acer",
    "lenovo",
    "hp",
    "asus",
    "elenberg",
    "indesit",
    "respect",
    "nike",
    "adidas",
    "philips",
    "oppo",
    "janome",
    "polaris",
    "redmond",
)
BOT_USER_BASE = 900_000_000  # bot and flash-crowd users get ids no background user has
CROWD_USER_BASE = 800_000_000
WAVE_USER_BASE = 700_000_000
LEARNED_KINDS = ("bot_wave", "category_surge", "purchase_drop")
LEARNED_DURATION = 60.0  # seconds each of them lasts


@dataclass(frozen=True)
class GenerateOptions:
    """What ``clickflow generate`` makes: how many events, from when, how fast, and what anomalies to inject."""

    events: int = 100_000
    start: datetime = datetime(2019, 10, 1, tzinfo=UTC)
    rate: float = 50.0  # mean events per second over the whole file
    seed: int = 1
    users: int = 20_000
    categories: int = 200
    products: int = 5_000
    bots: int = 0
    spikes: int = 0
    abandoned: int = 0
    spike_multiplier: float = 8.0
    bot_waves: int = 0
    surges: int = 0
    purchase_drops: int = 0

    def validate(self) -> None:
        """Refuse counts and rates out of range, naming the option."""
        for name in ("events", "users", "categories", "products"):
            if getattr(self, name) < 1:
                raise OptionError(f"--{name} must be at least 1, got {getattr(self, name)}")
        for name in ("bots", "spikes", "abandoned", "bot_waves", "surges", "purchase_drops"):
            if getattr(self, name) < 0:
                raise OptionError(f"--{name} must be 0 or more, got {getattr(self, name)}")
        if self.rate <= 0:
            raise OptionError(f"--rate must be more than 0, got {self.rate}")
        if self.spike_multiplier <= 1:
            raise OptionError(f"--spike-multiplier must be more than 1, got {self.spike_multiplier}")


@dataclass
class Catalog:
    """The generated shop: categories and their codes, products with their category, brand and price."""

    category_ids: list[int]
    category_codes: list[str | None]
    product_category: list[int]  # index into category_ids
    product_brand: list[str | None]
    product_price: list[float]
    products_by_category: list[list[int]] = field(default_factory=list)


def _zipf_weights(count: int, exponent: float) -> list[float]:
    return [1.0 / (rank**exponent) for rank in range(1, count + 1)]


def build_catalog(rng: random.Random, options: GenerateOptions) -> Catalog:
    """A shop of ``options.categories`` categories and ``options.products`` products, drawn from ``rng``."""
    category_ids = sorted({2053013552000000000 + rng.randrange(10**12) for _ in range(options.categories)})
    while len(category_ids) < options.categories:  # astronomically unlikely collisions
        category_ids = sorted(set(category_ids) | {2053013552000000000 + rng.randrange(10**12)})
    rng.shuffle(category_ids)  # popularity rank is not id order
    codes = [None if rng.random() < 0.3 else rng.choice(CATEGORY_CODES) for _ in category_ids]
    base_price = [math.exp(rng.uniform(1.5, 6.5)) for _ in category_ids]
    weights = _zipf_weights(len(category_ids), 1.1)
    brand_weights = _zipf_weights(len(BRANDS), 1.2)
    product_category = rng.choices(range(len(category_ids)), weights=weights, k=options.products)
    product_brand = [
        None if rng.random() < 0.14 else rng.choices(BRANDS, weights=brand_weights)[0] for _ in range(options.products)
    ]
    product_price = [round(base_price[c] * math.exp(rng.gauss(0, 0.35)), 2) for c in product_category]
    by_category: list[list[int]] = [[] for _ in category_ids]
    for product, category in enumerate(product_category):
        by_category[category].append(product)
    return Catalog(category_ids, codes, product_category, product_brand, product_price, by_category)


Row = tuple  # (t seconds, event_type, product index, user_id, session)


class _Generator:
    def __init__(self, options: GenerateOptions):
        self.o = options
        self.master = random.Random(options.seed)
        self.catalog = build_catalog(self.master, options)
        self.category_weights = _zipf_weights(options.categories, 1.1)
        self.populated = [i for i, products in enumerate(self.catalog.products_by_category) if products]

    def session_rng(self) -> random.Random:
        return random.Random(self.master.getrandbits(64))

    @staticmethod
    def session_id(rng: random.Random) -> str:
        return str(uuid.UUID(int=rng.getrandbits(128), version=4))

    def product_in(self, rng: random.Random, home: int) -> int:
        category = home if rng.random() < 0.8 else rng.choice(self.populated)
        return rng.choice(self.catalog.products_by_category[category])

    def home_category(self, rng: random.Random) -> int:
        while True:
            category = rng.choices(range(self.o.categories), weights=self.category_weights)[0]
            if self.catalog.products_by_category[category]:
                return category

    def shopping_session(self, t: float, rng: random.Random) -> Iterator[Row]:
        user = 512_000_000 + rng.randrange(self.o.users)
        session = self.session_id(rng)
        home = self.home_category(rng)
        views = min(60, 1 + int(rng.expovariate(1 / 5.0)))
        carted: list[int] = []
        for _ in range(views):
            product = self.product_in(rng, home)
            yield (t, "view", product, user, session)
            if rng.random() < 0.025:
                t += rng.expovariate(1 / 8.0)
                carted.append(product)
                yield (t, "cart", product, user, session)
            elif rng.random() < 0.004:  # bought straight from the product page
                t += rng.expovariate(1 / 8.0)
                yield (t, "purchase", product, user, session)
            t += rng.expovariate(1 / 25.0)
        if carted and rng.random() < 0.5:
            for product in carted:
                t += rng.expovariate(1 / 20.0)
                yield (t, "purchase", product, user, session)

    def bot_session(self, t: float, rng: random.Random, user: int, label: dict) -> Iterator[Row]:
        session = self.session_id(rng)
        home = self.home_category(rng)
        count = rng.randint(120, 200)
        per_second = rng.uniform(5.0, 8.0)
        label.update(user_id=user, user_session=session, events=count)
        for number in range(count):
            if number:
                t += rng.expovariate(per_second)
            yield (t, "view", self.product_in(rng, home), user, session)
        label["end_t"] = t

    def wave_bot(self, t: float, rng: random.Random, user: int, end: float) -> Iterator[Row]:
        """One bot of a wave: a view every 1.25 s (8 per 10 s, below the bot threshold) until ``end``."""
        session = self.session_id(rng)
        home = self.home_category(rng)
        while t < end:
            yield (t, "view", self.product_in(rng, home), user, session)
            t += 1.25

    def surge_visit(self, t: float, rng: random.Random, user: int, category: int) -> Iterator[Row]:
        products = self.catalog.products_by_category[category]
        yield (t, "view", rng.choice(products), user, self.session_id(rng))

    def crowd_visit(self, t: float, rng: random.Random, user: int) -> Iterator[Row]:
        yield (t, "view", self.product_in(rng, self.home_category(rng)), user, self.session_id(rng))

    def abandoned_session(self, t: float, rng: random.Random, label: dict) -> Iterator[Row]:
        user = 512_000_000 + rng.randrange(self.o.users)
        session = self.session_id(rng)
        home = self.home_category(rng)
        carted = []
        for number in range(rng.randint(1, 3)):
            if number:
                t += rng.expovariate(1 / 20.0)
            product = self.product_in(rng, home)
            yield (t, "view", product, user, session)
            t += rng.expovariate(1 / 10.0)
            carted.append(product)
            yield (t, "cart", product, user, session)
        label.update(
            user_id=user,
            user_session=session,
            cart_events=len(carted),
            carted_products=sorted({self.catalog_product_id(p) for p in carted}),
            cart_value=round(sum(self.catalog.product_price[p] for p in carted), 2),
        )
        label["end_t"] = t  # the last cart

    @staticmethod
    def catalog_product_id(index: int) -> int:
        return 1_000_000 + index


def generate(options: GenerateOptions) -> tuple[Iterator[list[str]], list[dict]]:
    """Rows (as CSV field lists, time order) and the labels of what was injected.

    The labels list is complete once the rows have been consumed.
    """
    options.validate()
    gen = _Generator(options)
    span = options.events / options.rate  # seconds the file covers, roughly
    # Each heap entry: (time of its next row, tie-breaker, that row, the session's remaining rows).
    heap: list[tuple[float, int, Row, Iterator[Row]]] = []
    counter = 0
    labels: list[dict] = []

    def schedule(stream: Iterator[Row]) -> None:
        nonlocal counter
        first = next(stream, None)
        if first is not None:
            counter += 1
            heapq.heappush(heap, (first[0], counter, first, stream))

    injected_events = 0
    slots = _spread(gen.master, options.bots + options.spikes + options.abandoned, 0.1 * span, 0.75 * span)
    kinds = ["bot_burst"] * options.bots + ["traffic_spike"] * options.spikes + ["abandoned_cart"] * options.abandoned
    gen.master.shuffle(kinds)
    for number, (kind, at) in enumerate(zip(kinds, slots, strict=True)):
        label: dict = {"kind": kind, "start_t": at}
        rng = gen.session_rng()
        if kind == "bot_burst":
            schedule(gen.bot_session(at, rng, BOT_USER_BASE + number, label))
            injected_events += 160
        elif kind == "abandoned_cart":
            schedule(gen.abandoned_session(at, rng, label))
        else:
            at = float(int(at))
            duration = 20.0
            crowd = int(options.rate * (options.spike_multiplier - 1) * duration)
            for visitor in range(crowd):
                schedule(
                    gen.crowd_visit(
                        at + rng.uniform(0, duration), gen.session_rng(), CROWD_USER_BASE + number * 100_000 + visitor
                    )
                )
            label.update(start_t=at, end_t=at + duration, events=crowd, multiplier=options.spike_multiplier)
            injected_events += crowd
        labels.append(label)

    drops = []
    learned = ["bot_wave"] * options.bot_waves + ["category_surge"] * options.surges
    learned += ["purchase_drop"] * options.purchase_drops
    if learned:
        gen.master.shuffle(learned)
        slots = _spread(gen.master, len(learned), 0.5 * span, 0.9 * span)
        for number, (kind, at) in enumerate(zip(learned, slots, strict=True)):
            at = float(int(at))
            end = at + LEARNED_DURATION
            rng = gen.session_rng()
            label = {"kind": kind, "start_t": at, "end_t": end}
            if kind == "bot_wave":
                bots = max(2, round(0.08 * options.rate / 0.8))  # 8% more traffic, in bots
                for bot in range(bots):
                    schedule(
                        gen.wave_bot(
                            at + rng.uniform(0, 1.25), gen.session_rng(), WAVE_USER_BASE + number * 1000 + bot, end
                        )
                    )
                label.update(bots=bots, events=int(bots * LEARNED_DURATION / 1.25))
            elif kind == "category_surge":
                category = gen.home_category(rng)
                visits = int(0.12 * options.rate * LEARNED_DURATION)
                for visitor in range(visits):
                    schedule(
                        gen.surge_visit(
                            at + rng.uniform(0, LEARNED_DURATION),
                            gen.session_rng(),
                            WAVE_USER_BASE + 500_000 + number * 100_000 + visitor,
                            category,
                        )
                    )
                label.update(category_id=gen.catalog.category_ids[category], events=visits)
            else:
                drops.append((at, end))
            injected_events += label.get("events", 0)
            labels.append(label)

    if injected_events > options.events // 2:
        raise OptionError(
            f"the injected bots and spikes add about {injected_events:,} events, more than half of "
            f"--events {options.events:,}: raise --events or inject fewer (a spike adds rate x "
            f"{options.spike_multiplier - 1:g} x 20 s events)"
        )
    background_rate = max(options.rate * 0.05, (options.events - injected_events) / span) / 5.4  # sessions/s
    rows = _rows(gen, heap, schedule, background_rate, options, drops)
    return rows, labels


def _spread(rng: random.Random, count: int, low: float, high: float) -> list[float]:
    """``count`` times spread evenly over [low, high), each nudged a little, in time order."""
    if count == 0:
        return []
    step = (high - low) / count
    return [low + step * i + rng.uniform(0, step * 0.3) for i in range(count)]


def _rows(
    gen: _Generator,
    heap,
    schedule: Callable,
    session_rate: float,
    options: GenerateOptions,
    drops: list[tuple[float, float]] = (),  # type: ignore[assignment]
) -> Iterator[list[str]]:
    catalog = gen.catalog
    next_arrival = gen.master.expovariate(session_rate)
    start = options.start
    emitted = 0
    last_second, last_text = None, ""
    while emitted < options.events:
        while not heap or next_arrival <= heap[0][0]:
            schedule(gen.shopping_session(next_arrival, gen.session_rng()))
            next_arrival += gen.master.expovariate(session_rate)
        _, order, row, stream = heap[0]
        following = next(stream, None)
        if following is None:
            heapq.heappop(heap)
        else:
            heapq.heapreplace(heap, (following[0], order, following, stream))
        _, event_type, product, user, session = row
        if event_type != "view" and any(begin <= row[0] < end for begin, end in drops):
            continue  # a purchase drop: no cart or purchase goes through
        second = int(row[0])
        if second != last_second:
            last_second, last_text = second, (start + timedelta(seconds=second)).strftime(TIME_FORMAT)
        category = catalog.product_category[product]
        price = catalog.product_price[product]
        yield [
            last_text,
            event_type,
            str(gen.catalog_product_id(product)),
            str(catalog.category_ids[category]),
            catalog.category_codes[category] or "",
            catalog.product_brand[product] or "",
            f"{price:.2f}",
            str(user),
            session,
        ]
        emitted += 1


def _open_output(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.name.endswith(".gz"):
        return io.TextIOWrapper(gzip.GzipFile(path, "wb", mtime=0), encoding="utf-8", newline="")
    if path.name.endswith(".csv"):
        return open(path, "w", encoding="utf-8", newline="")
    raise OptionError(f"{path}: the output must end in .csv or .csv.gz")


def default_labels_path(output: Path) -> Path:
    """Where the labels of injected anomalies go by default: beside the output, ``.labels.json``."""
    name = output.name
    for suffix in (".gz", ".csv"):
        name = name.removesuffix(suffix)
    return output.with_name(name + ".labels.json")


def write_generated(
    options: GenerateOptions,
    output: Path,
    labels_path: Path | None = None,
    on_row: Callable[[int], None] = lambda _: None,
) -> tuple[int, Path]:
    """Write the CSV and its labels file; return (rows written, labels path)."""
    rows, labels = generate(options)
    labels_path = labels_path or default_labels_path(output)
    count = 0
    first_time = last_time = ""
    with _open_output(output) as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(COLUMNS)
        for row in rows:
            writer.writerow(row)
            count += 1
            first_time = first_time or row[0]
            last_time = row[0]
            if count % 10_000 == 0:
                on_row(count)
    start = options.start
    for label in labels:
        if "end_t" not in label:
            raise RuntimeError(f"the injected {label['kind']} did not fit before the last event; raise --events")
        begin = label.pop("start_t")
        end = label.pop("end_t")
        label["start"] = (start + timedelta(seconds=int(begin))).strftime(TIME_FORMAT)
        label["end"] = (start + timedelta(seconds=int(end))).strftime(TIME_FORMAT)
        if label["end"] > last_time:
            raise RuntimeError(f"injected {label['kind']} ends after the last event; raise --events")
    document = {
        "options": {k: (v.strftime(TIME_FORMAT) if isinstance(v, datetime) else v) for k, v in asdict(options).items()},
        "rows": count,
        "first_event": first_time,
        "last_event": last_time,
        "injected": sorted(labels, key=lambda label: (label["start"], label["kind"])),
    }
    labels_path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    return count, labels_path
