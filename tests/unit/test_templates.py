"""Record templates (Kinesis Data Generator syntax): each helper, the seed, the count, weighted choice
proportions, correlated visits, event time, the error messages, and the shipped templates against
their schemas (JSON Schema, and the OpenAPI 3 schema of the web-engagement events)."""

from __future__ import annotations

import json
import re
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import jsonschema
import pytest
import yaml

from producer.rows import COLUMNS, RowParser, TimeBounds
from producer.templates import (
    RenderOptions,
    TemplateError,
    TemplateSet,
    compile_template,
    load_templates,
    moment_format,
    render_records,
)

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def render(text: str, count: int = 2000, seed: int = 7, **options) -> list[str]:
    templates = TemplateSet([compile_template(text, "t.tpl", faker_pool=300, seed=seed)], [1.0], json_records=False)
    return [t for _, t, _ in render_records(templates, RenderOptions(seed=seed, count=count, **options))]


def test_numbers_whole_ranged_and_with_a_precision():
    assert {int(v) for v in render("{{random.number(3)}}")} == {0, 1, 2, 3}
    assert {int(v) for v in render('{{random.number({"min":5,"max":7})}}')} == {5, 6, 7}
    prices = [float(v) for v in render('{{random.number({"min":1,"max":2,"precision":0.25})}}')]
    assert set(prices) == {1.0, 1.25, 1.5, 1.75, 2.0}
    assert all(re.match(r"^\d\.\d\d$", v) for v in render('{{random.number({"min":1,"max":2,"precision":0.01})}}'))


def test_array_elements_plain_and_weighted_in_proportion():
    assert set(render('{{random.arrayElement(["a", "b", 3])}}')) == {"a", "b", "3"}
    counts = Counter(
        render('{{random.weightedArrayElement({"weights":[0.3,0.1,0.6],"data":["rent","buy","trailer"]})}}', 20000)
    )
    for value, share in (("rent", 0.3), ("buy", 0.1), ("trailer", 0.6)):
        assert abs(counts[value] / 20000 - share) < 0.015, counts


def test_uuid_dates_and_faker_helpers():
    assert all(UUID.match(v) for v in render("{{random.uuid}}", 200))
    now = render('{{date.now("YYYY-MM-DD HH:mm:ss.SSS")}}', 3)[0]
    assert abs((datetime.strptime(now, "%Y-%m-%d %H:%M:%S.%f") - datetime.now()).total_seconds()) < 120
    between = render('{{date.between("2019-10-01", "2019-10-03", "YYYY-MM-DD")}}', 500)
    assert set(between) <= {"2019-10-01", "2019-10-02"} and len(set(between)) == 2
    row = render("{{name.firstName}}|{{address.state}}|{{internet.email}}|{{commerce.productName}}|{{lorem.words}}", 5)
    first, state, email, product, words = row[0].split("|")
    assert first and state and "@" in email and len(product.split()) == 3 and len(words.split()) == 3
    assert moment_format("[at] HH:mm, ddd D")(datetime(2019, 10, 6, 9, 5, tzinfo=UTC)) == "at 09:05, Sun D"
    assert moment_format("X")(datetime(2019, 10, 1, tzinfo=UTC)) == "1569888000"


def test_the_seed_reproduces_and_the_count_is_kept():
    text = "{{random.uuid}} {{random.number(1000)}} {{name.lastName}} {{session.id}}"
    a, b = render(text, 50, seed=3), render(text, 50, seed=3)
    assert a == b and len(a) == 50
    assert render(text, 50, seed=4) != a


def test_visits_and_event_time_move_forward_at_the_chosen_rate():
    rows = render(
        "{{sequence}} {{session.id}} {{session.user}} {{event.time}}", 20000, events_per_second=10.0, session_length=8.0
    )
    numbers = [int(r.split()[0]) for r in rows]
    assert numbers == list(range(1, 20001))
    times = [datetime.fromisoformat(r.split()[3].replace("Z", "+00:00")) for r in rows]
    assert times == sorted(times)
    span = (times[-1] - times[0]).total_seconds()
    assert abs(span - 2000) < 100  # 20,000 events at 10 a second of event time
    runs = Counter(r.split()[1] for r in rows)
    assert abs(sum(runs.values()) / len(runs) - 8.0) < 0.8  # visits of 8 events on average
    users = {}
    for r in rows:  # a visit keeps its user
        session, user = r.split()[1:3]
        assert users.setdefault(session, user) == user


ERRORS = [
    ('{"a": {{random.numbr(3)}}}', r"t\.tpl:1:7: unknown helper random\.numbr \(did you mean random\.number\?\)"),
    ('{"a": 1,\n "b": {{random.number({min:1})}}}', r"t\.tpl:2:7: the arguments are not JSON"),
    ('{"a": {{random.uuid}', r"t\.tpl:1:7: '\{\{' is never closed"),
    ("{{random.arrayElement([])}}", r"t\.tpl:1:1: random\.arrayElement takes a non-empty array"),
    ('{{random.weightedArrayElement({"weights":[1],"data":[1,2]})}}', r"of equal length"),
    ('{{random.number({"min":5,"max":1})}}', r"max 1 is below min 5"),
    ("{{ 12 }}", r"t\.tpl:1:1: not a helper call"),
    ("{{random.uuid(1)}}", r"random\.uuid takes no arguments"),
]


@pytest.mark.parametrize(("text", "message"), ERRORS, ids=[m[:30] for _, m in ERRORS])
def test_a_template_error_names_the_template_line_and_column(text, message):
    with pytest.raises(TemplateError, match=message):
        compile_template(text, "t.tpl")


def test_a_record_that_is_not_json_is_named(tmp_path):
    path = tmp_path / "broken.json.tpl"
    path.write_text('{"name": "{{random.arrayElement(["x", "y\\"z"])}}"}\n')
    templates = load_templates(path, faker_pool=10)
    with pytest.raises(TemplateError, match=r"broken\.json\.tpl: record \d+ is not valid JSON"):
        list(render_records(templates, RenderOptions(count=200)))
    bad_yaml = tmp_path / "set.yaml"
    bad_yaml.write_text("templates:\n  - weight: 0\n    template: '{}'\n")
    with pytest.raises(TemplateError, match=r"set\.yaml templates\[0\]: weight must be a number above 0"):
        load_templates(bad_yaml)


def records_of(name: str, count: int = 3000) -> list[dict]:
    templates = load_templates(TEMPLATES / name, seed=11, faker_pool=300)
    return [json.loads(t) for _, t, _ in render_records(templates, RenderOptions(seed=11, count=count))]


def checker() -> jsonschema.FormatChecker:
    return jsonschema.Draft202012Validator.FORMAT_CHECKER


def test_the_film_template_is_kdgs_example_and_fits_its_schema():
    schema = json.loads((TEMPLATES / "film-streaming.schema.json").read_text())
    validator = jsonschema.Draft202012Validator(schema, format_checker=checker())
    records = records_of("film-streaming.json.tpl")
    for record in records:
        validator.validate(record)
    shares = Counter(r["eventType"] for r in records)
    assert abs(shares["trailer"] / len(records) - 0.6) < 0.03


def test_the_rees46_template_fits_its_schema_and_the_producers_own_parser():
    schema = json.loads((TEMPLATES / "rees46.schema.json").read_text())
    validator = jsonschema.Draft202012Validator(schema, format_checker=checker())
    parser = RowParser(bounds=TimeBounds.ahead_of_now(86400))
    for number, record in enumerate(records_of("rees46.json.tpl"), start=2):
        validator.validate(record)
        parser.parse(number, ["" if record.get(c) is None else str(record[c]) for c in COLUMNS])  # no RowError
    kinds = Counter(r["event_type"] for r in records_of("rees46.json.tpl"))
    assert kinds["view"] > kinds["cart"] > 0 and kinds["purchase"] > 0


def test_the_web_engagement_events_fit_their_openapi_schema():
    document = yaml.safe_load((TEMPLATES / "web-engagement.openapi.yaml").read_text())
    assert document["openapi"].startswith("3.")
    validator = jsonschema.Draft202012Validator(
        {"$ref": "#/components/schemas/WebEngagementEvent", "components": document["components"]},
        format_checker=checker(),
    )
    records = records_of("web-engagement.yaml")
    for record in records:
        validator.validate(record)
    kinds = Counter(r["event_type"] for r in records)
    assert set(kinds) == {"page_view", "click", "form_submit"} and kinds["page_view"] > kinds["click"]
    visits = Counter(r["session_id"] for r in records)
    assert max(visits.values()) > 1  # a visit spans several events
