"""`analyze` runs the real sql/ files in Flink; every analytic is compared row for row with an
independent computation in plain Python (tests/reference.py) over the same input."""

from __future__ import annotations

import json
import os
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

import pytest

from connectors.config import load_config
from jobs.analytics import ANALYTICS
from jobs.analyze import analyze, read_output
from jobs.plans import CACHE_ENV
from producer.generate import GenerateOptions, write_generated
from producer.rows import parse_event_time, read_rows
from tests import reference
from tests.conftest import run_cli
from tests.fixtures import write_csv

pytestmark = pytest.mark.integration

APPROX = {"expected": 0.0011, "score": 0.0011}  # both sides round to 3 decimals from doubles
MONEY = {"revenue", "cart_value"}


def normalise(row: dict) -> tuple:
    return tuple(sorted((k, v) for k, v in row.items() if k not in APPROX and k not in MONEY))


def assert_same_rows(name: str, got: list[dict], expected: list[dict]) -> None:
    got_sorted = sorted(got, key=lambda r: repr(normalise(r)))
    want_sorted = sorted(expected, key=lambda r: repr(normalise(r)))
    missing = {repr(normalise(r)) for r in want_sorted} - {repr(normalise(r)) for r in got_sorted}
    extra = {repr(normalise(r)) for r in got_sorted} - {repr(normalise(r)) for r in want_sorted}
    assert not missing and not extra, f"{name}: missing {sorted(missing)[:3]}, unexpected {sorted(extra)[:3]}"
    assert len(got_sorted) == len(want_sorted), f"{name}: {len(got_sorted)} rows, expected {len(want_sorted)}"
    for a, b in zip(got_sorted, want_sorted, strict=True):
        assert set(a) == set(b), f"{name}: columns {sorted(a)} != {sorted(b)}"
        for key, tolerance in APPROX.items():
            if key in b:
                assert abs(a[key] - b[key]) <= tolerance, f"{name}: {key} {a[key]} != {b[key]} in {b}"
        for key in MONEY & set(b):
            assert round(float(a[key]), 2) == b[key], f"{name}: {key} {a[key]} != {b[key]} in {b}"


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    work = tmp_path_factory.mktemp("analytics")
    path = work / "events.csv"
    write_generated(GenerateOptions(events=40_000, rate=40.0, seed=17, bots=2, spikes=2, abandoned=3), path)
    labels = json.loads(path.with_name("events.labels.json").read_text())
    config = load_config("local", overrides=["analytics.top_categories.window=5m"])
    said: list[str] = []
    with private_plan_cache(work / "plans"):  # empty: this run compiles its plan
        summary = analyze(config, str(path), work / "out", say=said.append)
    assert any(line.startswith("plan: compiled and cached") for line in said), said
    return config, path, labels, summary, work / "out"


@contextmanager
def private_plan_cache(directory: Path):
    saved = os.environ[CACHE_ENV]
    os.environ[CACHE_ENV] = str(directory)
    try:
        yield
    finally:
        os.environ[CACHE_ENV] = saved


def test_a_cached_plan_gives_the_results_of_a_freshly_compiled_one(generated, tmp_path):
    config, path, _, _, out = generated
    said: list[str] = []
    with private_plan_cache(out.parent / "plans"):
        analyze(config, str(path), tmp_path / "out", say=said.append)
    assert any(line.startswith("plan: compiled plan") and "from the cache" in line for line in said), said
    for name in [*ANALYTICS, "late_events"]:
        fresh, cached = read_output(out, name), read_output(tmp_path / "out", name)
        assert sorted(map(repr, cached)) == sorted(map(repr, fresh)), name


def test_the_same_statements_compile_to_the_same_plan_whatever_was_compiled_before():
    """A restored job's state is matched to its operators by uids made from the plan's node numbers: they must
    not depend on what the process compiled first (here: another plan between two compiles of one)."""
    from jobs.analytics import create_table_env
    from jobs.plans import Recorder, compile_plan

    env = Recorder(create_table_env(load_config("local")))

    def plan_of(name: str, query: str) -> dict:
        env.execute_sql(
            f"CREATE TEMPORARY TABLE IF NOT EXISTS src_{name} (a INT, b STRING) WITH ('connector' = 'datagen')"
        )
        env.execute_sql(
            f"CREATE TEMPORARY TABLE IF NOT EXISTS out_{name} (a INT, n BIGINT) WITH ('connector' = 'blackhole')"
        )
        statements = env.create_statement_set().add_insert_sql(f"INSERT INTO out_{name} {query.format(name)}")
        return json.loads(compile_plan(env, statements).asJsonString())

    counts = "SELECT a, COUNT(*) FROM src_{} GROUP BY a"
    first = plan_of("one", counts)
    plan_of("other", "SELECT a, CAST(CHAR_LENGTH(b) AS BIGINT) FROM src_{} WHERE a > 0")
    again = plan_of("one", counts)
    assert [node["id"] for node in first["nodes"]] == list(range(1, len(first["nodes"]) + 1))
    assert again == first


def test_every_analytic_matches_the_reference(generated):
    config, path, _, summary, out = generated
    events, bad = reference.load_csv(path)
    assert bad == 0 and summary.events == len(events) == 40_000 and summary.rows_rejected == 0
    expected = reference.all_analytics(events, config)
    for name in ANALYTICS:
        rows = read_output(out, name)
        assert rows, f"{name} wrote nothing"
        assert summary.outputs[name] == len(rows)
        assert_same_rows(name, rows, expected[name])


def test_injected_anomalies_are_found(generated):
    config, _, labels, _, out = generated
    anomalies = read_output(out, "anomalies")
    bots = {row["entity"] for row in anomalies if row["anomaly_type"] == "bot_burst"}
    spikes = [row for row in anomalies if row["anomaly_type"] == "traffic_spike"]
    abandoned = {row["user_session"]: row for row in read_output(out, "cart_abandonment")}
    first = parse_event_time(labels["first_event"])
    spike_window = config.analytics.traffic_spike.window
    checked_spikes = 0
    for label in labels["injected"]:
        start, end = parse_event_time(label["start"]), parse_event_time(label["end"])
        if label["kind"] == "bot_burst":
            assert str(label["user_id"]) in bots, f"bot {label['user_id']} not flagged"
        elif label["kind"] == "abandoned_cart":
            row = abandoned[label["user_session"]]
            assert row["cart_events"] == label["cart_events"]
            assert row["carted_products"] == len(label["carted_products"])
            assert round(row["cart_value"], 2) == label["cart_value"]
        elif (start - first).total_seconds() >= spike_window * (
            config.analytics.traffic_spike.min_baseline_windows + 1
        ):
            checked_spikes += 1
            flagged = [r for r in spikes if start <= parse_event_time(r["window_start"]) < end]
            assert flagged, f"spike at {label['start']} not flagged"
    assert checked_spikes >= 1
    assert len(bots) >= 2


def minute(m: int, s: int = 0, frac: str = "") -> str:
    return f"2019-10-01 00:{m:02d}:{s:02d}{frac} UTC"


def line(
    time: str,
    kind: str = "view",
    product: int = 1,
    category: int = 10,
    code: str = "",
    price: str = "1.00",
    user: int = 1,
    session: str = "s-1",
) -> str:
    return f"{time},{kind},{product},{category},{code},brand,{price},{user},{session}"


EDGE_CONFIG = [
    "analytics.top_categories.window=1m",
    "analytics.top_categories.top_n=2",
    "analytics.bot_burst.threshold=3",
    "analytics.traffic_spike.baseline_windows=5",
    "analytics.traffic_spike.min_baseline_windows=3",
    "analytics.traffic_spike.stddevs=2",
]


@pytest.fixture(scope="module")
def edge_cases(tmp_path_factory):
    work = tmp_path_factory.mktemp("edges")
    rows = [
        # a cart at 00:00:10 and the next event of the session exactly 30 minutes later: two sessions
        line(minute(0, 10), "cart", product=7, price="12.34", user=1, session="gap-exact"),
        line(minute(0, 20), "cart", product=8, price="5.00", user=2, session="gap-under"),
        line(minute(0, 30, ".250"), "view", user=3, session="s-3"),
        line(minute(0, 59), "view", user=4, session="s-4"),  # last second of the first minute
        line(minute(1, 0), "view", user=5, session="s-5"),  # exactly on the boundary: second minute
        line(minute(1, 2), "view", user=6, session="s-6"),
        line(minute(0, 58), "view", user=7, session="s-7"),  # 4 s out of order: within the 5 s bound
        "2019-10-01 25:00:00 UTC,view,1,10,,brand,1.00,8,s-8",  # unparsable time: rejected, reported
        # ties in the top-N: categories 30, 20, 10 with two views each, 40 with one, in minute 2
        line(minute(2, 1), category=30, user=11, session="t-1"),
        line(minute(2, 2), category=30, user=12, session="t-2"),
        line(minute(2, 3), category=20, user=13, session="t-3"),
        line(minute(2, 4), category=20, code="kids.toys", user=14, session="t-4"),  # one code seen
        line(minute(2, 5), category=10, user=15, session="t-5"),
        line(minute(2, 6), category=10, user=16, session="t-6"),
        line(minute(2, 7), category=40, user=17, session="t-7"),
        # a bot: five events from one user within ten seconds (threshold 3)
        *[line(minute(3, s), user=9, session="bot") for s in (0, 2, 4, 6, 8)],
        # a quiet baseline of one event per 10 s, then a burst of six
        *[line(minute(10, s), user=100 + s, session=f"q-{s}") for s in (0, 10, 20, 30, 40, 50)],
        *[line(minute(11, s), user=200 + s, session=f"b-{s}") for s in range(6)],
        line(minute(30, 10), "view", product=7, user=1, session="gap-exact"),
        line(minute(30, 19), "purchase", product=8, price="5.00", user=2, session="gap-under"),
    ]
    path = write_csv(work / "edges.csv", rows)
    config = load_config("local", overrides=EDGE_CONFIG)
    summary = analyze(config, str(path), work / "out")
    return config, path, summary, work / "out"


def test_edge_cases_match_the_reference(edge_cases):
    config, path, summary, out = edge_cases
    events, bad = reference.load_csv(path)
    assert bad == 1 and summary.rows_rejected == 1
    reject = json.loads((out / "_rejects.jsonl").read_text())
    assert reject["line"] == 9 and reject["field"] == "event_time"
    expected = reference.all_analytics(events, config)
    for name in ANALYTICS:
        assert_same_rows(name, read_output(out, name), expected[name])


def test_edge_cases_by_hand(edge_cases):
    _, _, _, out = edge_cases
    visitors = {r["window_start"][11:]: r["events"] for r in read_output(out, "unique_visitors")}
    assert visitors["00:00:00"] == 5  # includes the out-of-order 00:00:58
    assert visitors["00:01:00"] == 2  # 00:01:00 belongs to the window it starts
    top = sorted(
        (r["rank"], r["category_id"], r["category_code"])
        for r in read_output(out, "top_categories")
        if r["window_start"].endswith("00:02:00")
    )
    assert top == [(1, 10, None), (2, 20, "kids.toys")]
    abandoned = {r["user_session"]: r for r in read_output(out, "cart_abandonment")}
    assert set(abandoned) == {"gap-exact"}  # "gap-under" bought within one session
    assert abandoned["gap-exact"]["session_end"] == "2019-10-01 00:00:10"
    assert abandoned["gap-exact"]["cart_value"] == 12.34
    anomalies = read_output(out, "anomalies")
    assert [(r["entity"], r["observed"], r["score"]) for r in anomalies if r["anomaly_type"] == "bot_burst"] == [
        ("9", 5, 5 / 3)
    ]
    spike = [r for r in anomalies if r["anomaly_type"] == "traffic_spike" and r["window_start"].endswith("00:11:00")]
    assert spike and spike[0]["observed"] == 6 and spike[0]["expected"] == 1.0 and spike[0]["score"] == 5.0


def test_json_lines_input_gives_the_same_results(generated, tmp_path):
    config, path, _, _, out = generated
    events, _ = reference.load_csv(path)
    jsonl = tmp_path / "events.jsonl"
    result = run_cli("replay", "--help")  # the CLI is importable and answers
    assert "--resume-from" in result.stdout

    with open(path, newline="") as handle:
        parser, rows = read_rows(handle, str(path))
        jsonl.write_text("".join(parser.parse(n, f).to_json() + "\n" for n, f, _ in rows) + "not json\n")
    summary = analyze(config, str(jsonl), tmp_path / "out", names=["unique_visitors", "cart_abandonment"])
    assert summary.rows_rejected == 1 and summary.events == 40_000
    for name in ("unique_visitors", "cart_abandonment"):
        assert_same_rows(name, read_output(tmp_path / "out", name), read_output(out, name))


def test_explain_and_refusing_to_overwrite(generated, tmp_path):
    _, path, _, _, out = generated
    result = run_cli("analyze", "--explain", "--only", "anomalies")
    assert "-- sql/anomalies.sql, rendered" in result.stdout
    assert "INTERVAL '0 00:00:10.000' DAY TO SECOND(3)" in result.stdout
    assert "== Optimized Execution Plan ==" in result.stdout
    # the valid-event check is made once per record, its verdict shared by the branches that read its fields
    # (CheckEvent.isDeterministic); inlined, each branch's projection and filter made it again per field read
    plan = result.stdout.split("== Optimized Execution Plan ==")[-1]
    calls = [line.count("CHECK_EVENT(") for line in plan.splitlines() if "CHECK_EVENT(" in line]
    assert calls and max(calls) == 1 and len(calls) <= 2, plan
    again = run_cli("analyze", str(path), "--output", str(out), check=False)
    assert again.returncode == 1 and "already holds results" in again.stderr and "--overwrite" in again.stderr


def test_config_errors_stop_before_flink(tmp_path):
    path = write_csv(tmp_path / "one.csv", [line(minute(0, 1))])
    result = run_cli(
        "analyze",
        str(path),
        "--output",
        str(tmp_path / "o"),
        "--set",
        "analytics.bot_burst.window=10 seconds",
        check=False,
    )
    assert result.returncode == 1
    assert "--set analytics.bot_burst.window=10 seconds: analytics.bot_burst.window: bad duration" in result.stderr
    result = run_cli(
        "analyze", str(path), "--output", str(tmp_path / "o"), "--set", "analytics.bot_brust.window=1s", check=False
    )
    assert result.returncode == 1 and "analytics.bot_brust: unknown key" in result.stderr
    assert not (tmp_path / "o").exists()  # nothing ran


def test_output_paths_exist(generated):
    _, _, _, summary, out = generated
    assert Path(out / "_summary.json").is_file()
    written = json.loads((out / "_summary.json").read_text())
    assert written["events"] == summary.events and written["seconds"] > 0


LATE_DELAY = 5.0


def window_closed(moment: datetime, watermark: datetime, window: float) -> bool:
    seconds = moment.timestamp()
    end = datetime.fromtimestamp(seconds - seconds % window + window, UTC)
    return end - timedelta(milliseconds=1) <= watermark


def late_expected(times: list[datetime], sessions: list[str | None], kinds: list[str], config) -> dict[str, set]:
    """Which events each analytic drops as late, worked out here: the watermark before an event is
    the largest earlier event time minus the delay (the data moves in whole seconds, so Flink emits
    each advance); a window has closed when its end minus 1 ms is at or before that watermark."""
    a = config.analytics
    late = {name: set() for name in ANALYTICS}
    highest = None
    for i, moment in enumerate(times):
        if highest is not None:
            watermark = highest - timedelta(seconds=LATE_DELAY)
            closed = partial(window_closed, moment, watermark)
            if closed(a.unique_visitors.window):
                late["unique_visitors"].add(i)
            if kinds[i] == "view" and closed(a.active_page_views.window):
                late["active_page_views"].add(i)
            if closed(a.top_categories.window):
                late["top_categories"].add(i)
            if sessions[i] and moment + timedelta(seconds=a.cart_abandonment.session_gap, milliseconds=-2) <= watermark:
                late["cart_abandonment"].add(i)
            if closed(a.bot_burst.window) or closed(a.traffic_spike.window):
                late["anomalies"].add(i)
        highest = moment if highest is None else max(highest, moment)
    return late


def test_events_dropped_as_late_are_counted_per_analytic(tmp_path):
    start = datetime(2019, 10, 1, tzinfo=UTC)
    rows = [(start + timedelta(seconds=2 * i), "view", f"s-{i // 20}") for i in range(2100)]  # 70 minutes
    # 10 min late (closed for the minute windows, not for the hour), 64 min late (closed for all),
    # and 3 s out of order (within the 5 s delay: on time everywhere)
    rows.insert(900, (start + timedelta(minutes=20, seconds=1), "view", "late-1"))
    rows.insert(1950, (start + timedelta(minutes=1), "cart", "late-2"))
    rows.insert(1200, (start + timedelta(minutes=40), "view", "on-time"))
    text = [
        f"{moment.strftime('%Y-%m-%d %H:%M:%S')} UTC,{kind},1,{10 + n % 3},,b,1.00,{n},{session}"
        for n, (moment, kind, session) in enumerate(rows)
    ]
    path = write_csv(tmp_path / "late.csv", text)
    config = load_config("local")
    summary = analyze(config, str(path), tmp_path / "out")

    expected = late_expected([r[0] for r in rows], [r[2] for r in rows], [r[1] for r in rows], config)
    assert summary.late == {name: len(expected[name]) for name in ANALYTICS}
    assert summary.late["unique_visitors"] == 2 and summary.late["top_categories"] == 1  # the data is as meant
    listed = read_output(tmp_path / "out", "late_events")
    for name in ANALYTICS:
        got = sorted(r["event_ts"] for r in listed if r["analytic"] == name)
        assert got == sorted(rows[i][0].strftime("%Y-%m-%d %H:%M:%S") for i in expected[name]), name
    # nothing lost silently: every event is in a window's count or in late_events
    counted = sum(r["events"] for r in read_output(tmp_path / "out", "unique_visitors"))
    assert counted + summary.late["unique_visitors"] == len(rows)
    views = sum(r["page_views"] for r in read_output(tmp_path / "out", "active_page_views"))
    assert views + summary.late["active_page_views"] == sum(1 for r in rows if r[1] == "view")
    assert "late events dropped" in "\n".join(summary.report())
