import csv
import hashlib
import json
from collections import Counter, defaultdict
from datetime import UTC, datetime

from producer.generate import GenerateOptions, write_generated
from producer.rows import COLUMNS, RowParser, parse_event_time

OPTIONS = GenerateOptions(events=30_000, rate=40.0, seed=11, bots=2, spikes=2, abandoned=3)


def generate(tmp_path, options=OPTIONS, name="g.csv"):
    path = tmp_path / name
    count, labels = write_generated(options, path)
    with open(path, newline="") as handle:
        rows = list(csv.reader(handle))
    return path, rows, json.loads(labels.read_text())


def test_deterministic(tmp_path):
    a, _, _ = generate(tmp_path, name="a.csv")
    b, _, _ = generate(tmp_path, name="b.csv")
    c, _, _ = generate(
        tmp_path, GenerateOptions(events=30_000, rate=40.0, seed=12, bots=2, spikes=2, abandoned=3), "c.csv"
    )
    digest = lambda p: hashlib.sha256(p.read_bytes()).hexdigest()  # noqa: E731
    assert digest(a) == digest(b) != digest(c)


def test_schema_order_and_proportions(tmp_path):
    _, rows, labels = generate(tmp_path)
    assert tuple(rows[0]) == COLUMNS and len(rows) - 1 == 30_000 == labels["rows"]
    parser = RowParser()
    events = [parser.parse(i + 2, r) for i, r in enumerate(rows[1:])]  # every row is valid
    times = [e.event_time for e in events]
    assert times == sorted(times)
    types = Counter(r[1] for r in rows[1:])
    assert 0.90 < types["view"] / 30_000 < 0.99 and types["cart"] > 0 and types["purchase"] > 0
    categories = Counter(r[3] for r in rows[1:])
    top = categories.most_common(1)[0][1]
    assert top > 5 * (30_000 / len(categories))  # skewed popularity
    prices = defaultdict(set)
    for r in rows[1:]:
        prices[r[2]].add(r[6])
    assert all(len(p) == 1 for p in prices.values())  # one price per product


def test_labels_describe_what_is_in_the_file(tmp_path):
    _, rows, labels = generate(tmp_path)
    data = rows[1:]
    kinds = Counter(label["kind"] for label in labels["injected"])
    assert kinds == {"bot_burst": 2, "traffic_spike": 2, "abandoned_cart": 3}
    for label in labels["injected"]:
        start, end = parse_event_time(label["start"]), parse_event_time(label["end"])
        if label["kind"] == "bot_burst":
            mine = [r for r in data if r[7] == str(label["user_id"])]
            assert len(mine) == label["events"] >= 100
            assert {parse_event_time(r[0]) for r in mine} <= {
                t for t in (parse_event_time(r[0]) for r in mine) if start <= t <= end
            }
        elif label["kind"] == "abandoned_cart":
            mine = [r for r in data if r[8] == label["user_session"]]
            assert sum(r[1] == "cart" for r in mine) == label["cart_events"]
            assert not any(r[1] == "purchase" for r in mine)
            assert sorted({int(r[2]) for r in mine if r[1] == "cart"}) == label["carted_products"]
            assert round(sum(float(r[6]) for r in mine if r[1] == "cart"), 2) == label["cart_value"]
        else:
            inside = sum(start <= parse_event_time(r[0]) < end for r in data)
            before = sum(start.timestamp() - 20 <= parse_event_time(r[0]).timestamp() < start.timestamp() for r in data)
            assert inside > 4 * before and label["events"] > 0


def test_start_time_option(tmp_path):
    options = GenerateOptions(events=100, start=datetime(2024, 5, 1, 12, tzinfo=UTC), seed=3)
    _, rows, _ = generate(tmp_path, options)
    assert rows[1][0].startswith("2024-05-01 12:")


def test_learned_kinds_change_the_make_up_in_the_second_half(tmp_path):
    options = GenerateOptions(events=60_000, rate=50.0, seed=4, bot_waves=1, surges=1, purchase_drops=1)
    _, rows, labels = generate(tmp_path, options)
    data = rows[1:]
    first, last = parse_event_time(labels["first_event"]), parse_event_time(labels["last_event"])
    kinds = {label["kind"]: label for label in labels["injected"]}
    assert set(kinds) == {"bot_wave", "category_surge", "purchase_drop"}
    for label in kinds.values():
        start, end = parse_event_time(label["start"]), parse_event_time(label["end"])
        assert (end - start).total_seconds() == 60
        assert (start - first) >= 0.45 * (last - first)  # the second half: after a forest has learned
    times = [parse_event_time(r[0]) for r in data]

    def inside(label, row_time):
        return parse_event_time(label["start"]) <= row_time < parse_event_time(label["end"])

    drop = kinds["purchase_drop"]
    assert not [r for r, t in zip(data, times, strict=True) if inside(drop, t) and r[1] != "view"]
    assert sum(r[1] != "view" for r in data) > 1000  # carts and purchases elsewhere
    wave = kinds["bot_wave"]
    bots = Counter(r[7] for r in data if 700_000_000 <= int(r[7]) < 700_500_000)
    assert len(bots) == wave["bots"] == 5 and sum(bots.values()) == wave["events"]
    per_window = Counter((r[7], int(t.timestamp()) // 10) for r, t in zip(data, times, strict=True) if r[7] in bots)
    assert max(per_window.values()) <= 10  # each below the bot threshold (10 events in 10 s)
    surge = kinds["category_surge"]
    surged = [r for r, t in zip(data, times, strict=True) if inside(surge, t) and int(r[7]) >= 700_500_000]
    assert len(surged) == surge["events"] and {r[3] for r in surged} == {str(surge["category_id"])}


def test_learned_kinds_leave_the_rest_as_it_was(tmp_path):
    a, _, _ = generate(tmp_path, name="a.csv")
    b, _, _ = generate(tmp_path, GenerateOptions(**{**OPTIONS.__dict__, "bot_waves": 0}), "b.csv")
    assert a.read_bytes() == b.read_bytes()
