"""KDA's learned and log-parsing functions in Flink SQL (clickflow's function jar), each against an
independent computation: RANDOM_CUT_FOREST(_WITH_EXPLANATION) against a direct call of AWS's library with
the same seed and points (tests/java/ForestReference.java), HOTSPOTS against the documented definition
computed here in Python, the parsers on real log lines of their formats; then rcf_traffic, the learned
anomaly of sql/anomalies.sql, on generated traffic with injected anomalies the fixed rules miss."""

from __future__ import annotations

import json
import math
import random
import re
import signal
import time
from collections import defaultdict
from datetime import datetime

import pytest

from connectors.config import load_config
from jobs.analyze import analyze, read_output
from producer.generate import GenerateOptions, write_generated
from producer.rows import parse_event_time
from tests import reference

pytestmark = pytest.mark.integration

FUNCTIONS = {
    "RANDOM_CUT_FOREST": "RandomCutForestScore",
    "RANDOM_CUT_FOREST_WITH_EXPLANATION": "RandomCutForestWithExplanation",
    "HOTSPOTS": "Hotspots",
    "REGEX_LOG_PARSE": "RegexLogParse",
    "FAST_REGEX_LOG_PARSER": "FastRegexLogParser",
    "W3C_LOG_PARSE": "W3cLogParse",
    "VARIABLE_COLUMN_LOG_PARSE": "VariableColumnLogParse",
}


@pytest.fixture(scope="module")
def flink():
    from connectors.kinesis_connector import build
    from jobs import analytics

    env = analytics.create_table_env(load_config("local"), [build()])
    env.get_config().set("parallelism.default", "1")
    for name, cls in FUNCTIONS.items():
        env.execute_sql(f"CREATE TEMPORARY FUNCTION {name} AS 'io.clickflow.udf.{cls}' LANGUAGE JAVA")
    return env


def table(env, name: str, columns: list[tuple[str, str]], rows: list[tuple]) -> None:
    from pyflink.table import DataTypes

    kinds = {"DOUBLE": DataTypes.DOUBLE(), "STRING": DataTypes.STRING(), "INT": DataTypes.INT()}
    schema = DataTypes.ROW([DataTypes.FIELD(c, kinds[t]) for c, t in columns])
    env.create_temporary_view(name, env.from_elements(rows, schema))


def points(count: int, seed: int, outliers: dict[int, tuple[float, float]]) -> list[tuple[float, float]]:
    rng = random.Random(seed)
    out = [(rng.gauss(10, 1), rng.gauss(-5, 2)) for _ in range(count)]
    for index, point in outliers.items():
        out[index] = point
    return out


def test_random_cut_forest_scores_as_the_library_does(flink):
    data = points(300, 3, {200: (30.0, -5.0), 260: (10.0, 15.0)})
    table(
        flink,
        "pts",
        [("i", "STRING"), ("x", "DOUBLE"), ("y", "DOUBLE")],
        [(str(i), x, y) for i, (x, y) in enumerate(data)],
    )
    for shingle in (1, 2):
        got = list(
            flink.execute_sql(
                f"SELECT i, x, y, ANOMALY_SCORE FROM RANDOM_CUT_FOREST(TABLE pts, 40, 32, 400, {shingle})"
            ).collect()
        )
        expected = reference.forest_scores(data, 40, 32, 400, shingle, 0)
        assert [r[0] for r in got] == [str(i) for i in range(300)]  # every row, passed through, in order
        assert [r[3] for r in got] == pytest.approx([score for score, _ in expected], abs=1e-12)
        assert all(r[3] == 0 for r in got[:32])  # KDA: 0 until subSampleSize records were seen
    scores = [r[3] for r in got]
    assert min(scores[200], scores[260]) > max(
        s for i, s in enumerate(scores[40:], 40) if i not in (200, 201, 260, 261)
    )

    # per key when partitioned: each key's forest sees only its rows
    keyed = [(f"k{i % 2}", str(i), x, y) for i, (x, y) in enumerate(data)]
    table(flink, "keyed", [("k", "STRING"), ("i", "STRING"), ("x", "DOUBLE"), ("y", "DOUBLE")], keyed)
    got = list(flink.execute_sql(
        "SELECT k, i, ANOMALY_SCORE FROM RANDOM_CUT_FOREST(input => TABLE keyed PARTITION BY k, numberOfTrees => 40, "
        "subSampleSize => 32, timeDecay => 400, seed => 9)"
    ).collect())  # fmt: skip
    for key in ("k0", "k1"):
        mine = [data[int(r[1])] for r in keyed if r[0] == key]
        expected = [score for score, _ in reference.forest_scores(mine, 40, 32, 400, 1, 9)]
        assert [r[2] for r in got if r[0] == key] == pytest.approx(expected, abs=1e-12)


def test_the_explanation_says_which_column_and_adds_up_to_the_score(flink):
    data = points(240, 4, {200: (30.0, -5.0), 220: (10.0, -25.0)})
    table(flink, "expl", [("x", "DOUBLE"), ("y", "DOUBLE")], data)
    got = list(flink.execute_sql(
        "SELECT ANOMALY_SCORE, ANOMALY_EXPLANATION "
        "FROM RANDOM_CUT_FOREST_WITH_EXPLANATION(TABLE expl, 40, 32, 400, 1, TRUE)"
    ).collect())  # fmt: skip
    expected = reference.forest_scores(data, 40, 32, 400, 1, 0)
    for (score, text), (want, dims) in zip(got, expected, strict=True):
        explanation = json.loads(text)
        assert list(explanation) == ["x", "y"]
        assert score == pytest.approx(want, abs=1e-12)
        for column, (high, low) in zip(("x", "y"), dims, strict=True):
            entry = explanation[column]
            assert set(entry) == {"ATTRIBUTION_SCORE", "STRENGTH", "DIRECTION"}
            assert all(isinstance(v, str) for v in entry.values())  # KDA wrote them as strings
            assert float(entry["ATTRIBUTION_SCORE"]) == pytest.approx(high + low, abs=1e-12)
            assert float(entry["STRENGTH"]) == pytest.approx(abs(high - low), abs=1e-12)
            assert entry["DIRECTION"] == ("HIGH" if high >= low else "LOW")
        assert sum(float(e["ATTRIBUTION_SCORE"]) for e in explanation.values()) == pytest.approx(
            score, rel=1e-6
        )  # float32 inside the library
    assert json.loads(got[200][1])["x"]["DIRECTION"] == "HIGH" and json.loads(got[220][1])["y"]["DIRECTION"] == "LOW"
    assert float(json.loads(got[200][1])["x"]["ATTRIBUTION_SCORE"]) > 0.8 * got[200][0]
    plain = list(flink.execute_sql(
        "SELECT ANOMALY_EXPLANATION FROM RANDOM_CUT_FOREST_WITH_EXPLANATION(TABLE expl, 40, 32, 400, 1, FALSE)"
    ).collect())  # fmt: skip
    assert set(json.loads(plain[-1][0])["x"]) == {"ATTRIBUTION_SCORE"}  # without directionality


def test_a_forest_saved_and_restored_goes_on_exactly_as_the_unbroken_one():
    """The library's state object saved with what clickflow's serializer saves (the trees, the samplers and
    their random state) rebuilds a forest that scores the next points as the unbroken one would — so the
    savepoint test below can hold a restored job to one unbroken run."""
    data = points(150, 5, {})
    unbroken = reference.forest_scores(data, 30, 16, 200, 2, 1)
    restored = reference.forest_scores(data, 30, 16, 200, 2, 1, restore_every=7)
    assert restored == unbroken


def hotspots_reference(window: list[tuple[float, ...]], radius: float, least: int) -> list[dict]:
    """HOTSPOTS as clickflow documents it, computed independently: neighbours within ``radius``, groups of
    neighbours (union-find), each group's box (sides at least ``radius``), density = the group's share of
    the points over its box's share of the window's box; hotspots are groups of ``least`` points or more,
    denser than the window's average, densest first."""
    parent = list(range(len(window)))

    def find(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, p in enumerate(window):
        for j in range(i):
            if math.dist(p, window[j]) <= radius:
                parent[find(i)] = find(j)
    groups = defaultdict(list)
    for i, p in enumerate(window):
        groups[find(i)].append(p)

    def volume(ps):
        return math.prod(max(max(c) - min(c), radius) for c in zip(*ps, strict=True))

    out = []
    for members in groups.values():
        density = (len(members) / len(window)) / (volume(members) / volume(window))
        if len(members) >= least and density > 1:
            columns = list(zip(*members, strict=True))
            out.append(
                {"density": density, "minValues": [min(c) for c in columns], "maxValues": [max(c) for c in columns]}
            )
    return sorted(out, key=lambda h: -h["density"])


def test_hotspots_are_the_dense_groups_of_the_last_window_size_points(flink):
    rng = random.Random(6)
    data = []
    for i in range(400):
        if 150 <= i < 260 and i % 2:  # a hot region for a while
            data.append((rng.uniform(2.0, 2.6), rng.uniform(7.0, 7.5)))
        else:
            data.append((rng.uniform(0, 10), rng.uniform(0, 10)))
    table(flink, "hot", [("x", "DOUBLE"), ("y", "DOUBLE")], data)
    got = [json.loads(r[0]) for r in flink.execute_sql(
        "SELECT HOTSPOTS_RESULT FROM HOTSPOTS(TABLE hot, 100, CAST(0.6 AS DOUBLE), 8)"
    ).collect()]  # fmt: skip
    assert len(got) == len(data)
    found = 0
    for i, result in enumerate(got):
        expected = hotspots_reference(data[max(0, i - 99) : i + 1], 0.6, 8)
        assert list(result) == ["hotspots"]
        assert len(result["hotspots"]) == len(expected), i
        for hotspot, want in zip(result["hotspots"], expected, strict=True):
            assert hotspot["density"] == pytest.approx(want["density"], rel=1e-9)
            assert hotspot["minValues"] == want["minValues"] and hotspot["maxValues"] == want["maxValues"]
        found += bool(expected)
    assert found > 50  # the hot region shows
    inside = got[259]["hotspots"][0]
    assert 2.0 <= inside["minValues"][0] and inside["maxValues"][1] <= 7.5


LOG_LINES = [
    '127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326',
    '192.168.2.20 - - [28/Jul/2006:10:27:10 -0300] "GET /cgi-bin/try/ HTTP/1.0" 200 3395 '
    '"http://www.example.com/start.html" "Mozilla/4.08 [en] (Win98; I ;Nav)"',
    "Oct 11 22:14:15 mymachine su: 'su root' failed for lonvick on /dev/pts/8",
    "2019-10-01 00:00:00 UTC,view,44600062,2103807459595387724,,shiseido,35.79,541312140,72d76fde",
    "not a log line",
]


def test_the_log_parsers_read_real_lines_of_their_formats(flink):
    table(flink, "logs", [("n", "INT"), ("line", "STRING")], list(enumerate(LOG_LINES)))

    def rows(select: str) -> dict[int, tuple]:
        return {
            r[0]: tuple(r[1:])
            for r in flink.execute_sql(f"SELECT n, p.* FROM (SELECT n, {select} AS p FROM logs)").collect()
        }

    common = rows("W3C_LOG_PARSE(line, 'COMMON')")
    assert common[0] == (
        "127.0.0.1",
        "-",
        "frank",
        "10/Oct/2000:13:55:36 -0700",
        "GET /apache_pb.gif HTTP/1.0",
        "200",
        "2326",
    )
    assert common[4] == (None,) * 7  # a line that does not parse: NULLs, not an error
    extended = rows("W3C_LOG_PARSE(line, 'NCSA EXTENDED')")
    assert extended[1] == (
        "192.168.2.20", "-", "-", "28/Jul/2006:10:27:10 -0300", "GET /cgi-bin/try/ HTTP/1.0", "200", "3395",
        "http://www.example.com/start.html", "Mozilla/4.08 [en] (Win98; I ;Nav)",
    )  # fmt: skip
    assert extended[0] == (None,) * 9  # COMMON's line lacks the referer and agent
    syslog = rows(r"REGEX_LOG_PARSE(line, '(\w{3} +\d+ [\d:]+) (\S+) (\w+): (.*)')")
    assert syslog[2] == ("Oct 11 22:14:15", "mymachine", "su", "'su root' failed for lonvick on /dev/pts/8")
    assert syslog[0] == (None,) * 4
    lazy = rows("FAST_REGEX_LOG_PARSER(line, '(.*) (.*)')")
    greedy = rows("REGEX_LOG_PARSE(line, '(.*) (.*)')")
    assert lazy[3] == (
        "2019-10-01",
        "00:00:00 UTC,view,44600062,2103807459595387724,,shiseido,35.79,541312140,72d76fde",
    )
    assert greedy[3] == (
        "2019-10-01 00:00:00",
        "UTC,view,44600062,2103807459595387724,,shiseido,35.79,541312140,72d76fde",
    )
    fields = rows("VARIABLE_COLUMN_LOG_PARSE(line, 'EVENT_TIME, EVENT_TYPE VARCHAR(8), PRODUCT_ID, REST', ',')")
    assert fields[3] == (
        "2019-10-01 00:00:00 UTC",
        "view",
        "44600062",
        "2103807459595387724,,shiseido,35.79,541312140,72d76fde",
    )
    assert fields[4] == ("not a log line", None, None, None)
    numbered = rows(r"VARIABLE_COLUMN_LOG_PARSE(line, 3, ' ', '\')")
    assert numbered[0] == (
        "127.0.0.1",
        "-",
        'frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326',
    )
    named = list(
        flink.execute_sql(
            "SELECT p.EVENT_TYPE "
            "FROM (SELECT VARIABLE_COLUMN_LOG_PARSE(line, 'EVENT_TIME, EVENT_TYPE', ',') AS p FROM logs)"
        ).collect()
    )
    # two columns: the second holds the rest of the line, nothing dropped
    assert [r[0] for r in named] == [None, None, None, LOG_LINES[3].split(",", 1)[1], None]
    assert named[3][0].startswith("view,44600062,")


def test_bad_arguments_are_refused_with_what_is_wrong(flink):
    table(flink, "few", [("x", "DOUBLE")], [(1.0,), (2.0,)])
    cases = [
        ("SELECT * FROM RANDOM_CUT_FOREST(TABLE few, 2000, 32, 400, 1)", "numberOfTrees must be 1 to 1000, got 2000"),
        (
            "SELECT * FROM RANDOM_CUT_FOREST(TABLE few, 40, 500, 400, 1)",
            "timeDecay (400 records) must be more than subSampleSize (500)",
        ),
        ("SELECT p.* FROM (SELECT REGEX_LOG_PARSE('a', '(') AS p)", "not a regular expression"),
        ("SELECT p.* FROM (SELECT W3C_LOG_PARSE('a', 'no such format') AS p)", "unknown format 'no such format'"),
    ]  # fmt: skip
    for query, message in cases:
        with pytest.raises(Exception, match=re.escape(message)):
            list(flink.execute_sql(query).collect())


# ---- rcf_traffic ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def learned(tmp_path_factory):
    """Generated traffic with two of each injected anomaly the fixed rules miss, analysed with every
    scored window kept (a threshold just above 0), and with the profile's threshold."""
    work = tmp_path_factory.mktemp("learned")
    path = work / "events.csv"
    write_generated(GenerateOptions(events=100_000, rate=50.0, seed=5, bot_waves=2, surges=2, purchase_drops=2), path)
    labels = json.loads(path.with_name("events.labels.json").read_text())
    every = load_config("local", overrides=["analytics.rcf_traffic.threshold=0.000001"])
    analyze(every, str(path), work / "every", names=["anomalies"])
    config = load_config("local")
    analyze(config, str(path), work / "flagged", names=["anomalies"])
    return path, labels, read_output(work / "every", "anomalies"), read_output(work / "flagged", "anomalies"), config


def _window(row) -> tuple[datetime, datetime]:
    return parse_event_time(row["window_start"] + " UTC"), parse_event_time(row["window_end"] + " UTC")


def test_injected_anomalies_rank_above_normal_windows(learned):
    """Each injected anomaly, scored by its highest window, against every window outside all of them
    (the last, cut short by the end of the file, left out): the area under the ROC curve."""
    _, labels, every, _, _ = learned
    injected = [
        (parse_event_time(lab["start"]), parse_event_time(lab["end"]), lab["kind"])
        for lab in labels["injected"]
        if lab["kind"] in ("bot_wave", "category_surge", "purchase_drop")
    ]
    scored = [r for r in every if r["anomaly_type"] == "rcf_traffic"]
    last = max(_window(r)[1] for r in scored)
    normal, best = [], defaultdict(float)
    for row in scored:
        start, end = _window(row)
        inside = [(a, kind) for a, b, kind in injected if start < b and end > a]
        for key in inside:
            best[key] = max(best[key], row["score"])
        if not inside and end < last:
            normal.append(row["score"])
    assert len(best) == 6 and len(normal) > 60
    auc = sum((p > n) + 0.5 * (p == n) for p in best.values() for n in normal) / (len(best) * len(normal))
    assert auc >= 0.9, (auc, sorted(best.items()))
    # and the fixed rules do not see them
    fixed = [r for r in every if r["anomaly_type"] in ("bot_burst", "traffic_spike")]
    assert not [
        r
        for r in fixed
        for a, b, _ in injected
        if _window(r)[0] < b and _window(r)[1] > a and r["anomaly_type"] == "bot_burst"
    ]


def test_rcf_traffic_equals_its_independent_computation_and_says_what_was_unusual(learned):
    path, labels, every, flagged, config = learned
    events, _ = reference.load_csv(path)
    expected = reference.rcf_traffic(events, config)
    got = [r for r in flagged if r["anomaly_type"] == "rcf_traffic"]
    from tests.integration.test_analytics import assert_same_rows

    assert_same_rows("rcf_traffic", got, expected)
    assert got, "nothing flagged at the profile's threshold"
    waves = [lab for lab in labels["injected"] if lab["kind"] == "bot_wave"]
    first = parse_event_time(waves[0]["start"]), parse_event_time(waves[0]["end"])
    during = [r for r in got if _window(r)[0] < first[1] and _window(r)[1] > first[0]]
    assert during and during[0]["entity"] == "heavy_share high"  # the bots: heavy visits, each below the threshold
    # every scored window passes the threshold's filter consistently
    assert {(r["window_start"], r["score"]) for r in got} == {
        (r["window_start"], r["score"])
        for r in every
        if r["anomaly_type"] == "rcf_traffic" and r["score"] > config.analytics.rcf_traffic.threshold
    }


# ---- a migrated KDA application using them, on the local stack, stopped and restored halfway -------

KDA_PROGRAM = """
CREATE OR REPLACE STREAM "TEMP_STREAM" ("ID" VARCHAR(8), "X" DOUBLE, "Y" DOUBLE, "ANOMALY_SCORE" DOUBLE);
CREATE OR REPLACE STREAM "SCORED" ("ID" VARCHAR(8), "X" DOUBLE, "Y" DOUBLE, "ANOMALY_SCORE" DOUBLE);
-- the KDA example's shape: the forest's pump into a stream, a second pump ordering it out
CREATE OR REPLACE PUMP "STREAM_PUMP" AS INSERT INTO "TEMP_STREAM"
SELECT STREAM "ID", "X", "Y", ANOMALY_SCORE FROM
  TABLE(RANDOM_CUT_FOREST(CURSOR(SELECT STREAM "ID", "X", "Y" FROM "SOURCE_SQL_STREAM_001"), 30, 32, 500, 1));
CREATE OR REPLACE PUMP "OUTPUT_PUMP" AS INSERT INTO "SCORED"
SELECT STREAM * FROM "TEMP_STREAM" ORDER BY FLOOR("TEMP_STREAM".ROWTIME TO SECOND), ANOMALY_SCORE DESC;

CREATE OR REPLACE STREAM "EXPLAINED" ("ID" VARCHAR(8), "ANOMALY_SCORE" DOUBLE, "ANOMALY_EXPLANATION" VARCHAR(1024));
CREATE OR REPLACE PUMP "EXPLAIN_PUMP" AS INSERT INTO "EXPLAINED"
SELECT STREAM "ID", ANOMALY_SCORE, ANOMALY_EXPLANATION FROM TABLE(RANDOM_CUT_FOREST_WITH_EXPLANATION(
  CURSOR(SELECT STREAM "ID", "X", "Y" FROM "SOURCE_SQL_STREAM_001"), 30, 32, 500, 2, TRUE));

CREATE OR REPLACE STREAM "HOT" ("ID" VARCHAR(8), HOTSPOTS_RESULT VARCHAR(10000));
CREATE OR REPLACE PUMP "HOT_PUMP" AS INSERT INTO "HOT"
SELECT STREAM "ID", "HOTSPOTS_RESULT" FROM TABLE(HOTSPOTS(
  CURSOR(SELECT STREAM "ID", "X", "Y" FROM "SOURCE_SQL_STREAM_001"), 60, 0.6, 6));

CREATE OR REPLACE STREAM "PARSED" ("ID" VARCHAR(8), "HOST" VARCHAR(64), "REQUEST" VARCHAR(256), "STATUS" VARCHAR(4),
  "WORD" VARCHAR(32), "LAZY_HEAD" VARCHAR(64), "FIRST_FIELD" VARCHAR(64));
CREATE OR REPLACE PUMP "PARSE_PUMP" AS INSERT INTO "PARSED"
SELECT STREAM t."ID", t.w.COLUMN1, t.w.COLUMN5, t.w.COLUMN6, t.r.COLUMN1, t.f.COLUMN1, t.v.COLUMN1 FROM (
  SELECT STREAM "ID", W3C_LOG_PARSE("LINE", 'COMMON') AS w, REGEX_LOG_PARSE("LINE", '\\S+ \\S+ (\\w+) .*') AS r,
         FAST_REGEX_LOG_PARSER("LINE", '(.*) (.*)') AS f, VARIABLE_COLUMN_LOG_PARSE("LINE", 2, ' ') AS v
  FROM "SOURCE_SQL_STREAM_001") AS t;
"""


def _kda_rows(count: int) -> list[dict]:
    rng = random.Random(12)
    rows = []
    for i in range(count):
        if i in (150, 250):  # far from every other point
            x, y = 40.0, -40.0
        elif 100 <= i < 180 and i % 3 == 0:  # a hot region for a while
            x, y = rng.uniform(2.0, 2.5), rng.uniform(2.0, 2.5)
        else:
            x, y = rng.uniform(0, 10), rng.uniform(0, 10)
        user = rng.choice(["frank", "-", "alice"])
        status = rng.choice([200, 404])
        line = f'10.0.0.{i % 7} - {user} [10/Oct/2000:13:{i % 60:02d}:36 -0700] "GET /p/{i} HTTP/1.0" {status} {i}'
        rows.append({"id": f"r{i:03d}", "x": x, "y": y, "line": line})
    return rows


def _put_in_order(kinesis, stream: str, rows: list[dict]) -> None:
    for row in rows:  # one shard, one record at a time: the arrival order is the order put
        kinesis.put_record(StreamName=stream, Data=json.dumps(row).encode(), PartitionKey="p")
        time.sleep(0.004)


def test_a_migrated_application_using_them_runs_stops_and_restores_as_one_unbroken_run(local_stack, tmp_path):
    from connectors import aws
    from tests.conftest import run_cli
    from tests.integration.test_stopping import clickflow, read_until, sets
    from tests.kinesis_helpers import new_stream, read_stream

    config, overrides = local_stack
    kinesis = aws.client(config, "kinesis")
    source = new_stream(kinesis, "kda-learned", 1)
    outputs = {name: new_stream(kinesis, f"kda-{name.lower()}", 1) for name in ("SCORED", "EXPLAINED", "HOT", "PARSED")}
    errors = new_stream(kinesis, "kda-learned-err", 1)
    program = tmp_path / "learned.sql"
    program.write_text(KDA_PROGRAM)
    schema = tmp_path / "schema.json"
    json_format = {"RecordFormatType": "JSON", "MappingParameters": {"JSONMappingParameters": {"RecordRowPath": "$"}}}
    schema.write_text(json.dumps({
        "RecordFormat": json_format,
        "RecordColumns": [
            {"Name": "ID", "SqlType": "VARCHAR(8)", "Mapping": "$.id"},
            {"Name": "X", "SqlType": "DOUBLE", "Mapping": "$.x"},
            {"Name": "Y", "SqlType": "DOUBLE", "Mapping": "$.y"},
            {"Name": "LINE", "SqlType": "VARCHAR(512)", "Mapping": "$.line"},
        ],
    }))  # fmt: skip
    job = tmp_path / "learned-flink"
    run_cli(
        "migrate", str(program), "--input-stream", source, "--input-schema", str(schema), "--out", str(job),
        *[a for name, stream in [*outputs.items(), ("error_stream", errors)] for a in ("--output", f"{name}={stream}")],
        overrides=overrides,
    )  # fmt: skip
    rows = _kda_rows(300)
    _put_in_order(kinesis, source, rows[:150])
    settings = [*sets(overrides), "--set", f"job.checkpoint_dir={tmp_path / 'chk'}", "--set", "job.rest_port=0"]
    with clickflow("run", "--job", str(job), *settings) as process:
        assert read_until(process, "reading", 180), "the migrated job did not start"
        deadline = time.monotonic() + 120
        while len(read_stream(kinesis, outputs["PARSED"])) < 140 and time.monotonic() < deadline:
            time.sleep(1)
        time.sleep(3)
        process.send_signal(signal.SIGINT)
        out, _ = process.communicate(timeout=180)
    assert process.returncode == 130, out
    location = re.search(r"stopped with a savepoint: (\S+)", out).group(1)
    _put_in_order(kinesis, source, rows[150:])
    resumed = run_cli("run", "--job", str(job), *settings, "--restore", location, "--bounded", timeout=400)
    assert "finished" in resumed.stdout, resumed.stdout + resumed.stderr

    arrivals = [r["arrival"] for r in read_stream(kinesis, source)]
    assert arrivals == sorted(arrivals) and len(set(arrivals)) == len(arrivals)  # ROWTIME order = the order put
    got = {name: {r["row"]["ID"]: r["row"] for r in read_stream(kinesis, s)} for name, s in outputs.items()}
    counts = {name: len(read_stream(kinesis, s)) for name, s in outputs.items()}
    assert counts == {name: 300 for name in outputs}, counts  # every row once, across the stop and the restore
    points = [(r["x"], r["y"]) for r in rows]

    # the forests, as one unbroken run of the library over the same points in the same order
    scores = reference.forest_scores(points, 30, 32, 500, 1, 0)
    assert [got["SCORED"][r["id"]]["ANOMALY_SCORE"] for r in rows] == pytest.approx([s for s, _ in scores], abs=1e-12)
    assert all(got["SCORED"][r["id"]]["ANOMALY_SCORE"] == 0 for r in rows[:32])
    explained = reference.forest_scores(points, 30, 32, 500, 2, 0)
    for row, (score, dims) in zip(rows, explained, strict=True):
        out_row = got["EXPLAINED"][row["id"]]
        assert out_row["ANOMALY_SCORE"] == pytest.approx(score, abs=1e-12)
        explanation = json.loads(out_row["ANOMALY_EXPLANATION"])
        for c, column in enumerate(("X", "Y")):  # a column's attribution: its places in the shingle added up
            high = sum(h for d, (h, _) in enumerate(dims) if d % 2 == c)
            low = sum(lo for d, (_, lo) in enumerate(dims) if d % 2 == c)
            assert float(explanation[column]["ATTRIBUTION_SCORE"]) == pytest.approx(high + low, abs=1e-12)
            assert explanation[column]["DIRECTION"] == ("HIGH" if high >= low else "LOW")
    for i, row in enumerate(rows):
        expected = hotspots_reference(points[max(0, i - 59) : i + 1], 0.6, 6)
        hotspots = json.loads(got["HOT"][row["id"]]["HOTSPOTS_RESULT"])["hotspots"]
        assert [(h["minValues"], h["maxValues"]) for h in hotspots] == [
            (h["minValues"], h["maxValues"]) for h in expected
        ]
        assert [h["density"] for h in hotspots] == pytest.approx([h["density"] for h in expected], rel=1e-9)
    assert any(json.loads(got["HOT"][r["id"]]["HOTSPOTS_RESULT"])["hotspots"] for r in rows[120:180])
    for row in rows:
        parsed = got["PARSED"][row["id"]]
        host, _, user, *_ = row["line"].split(" ")
        request = row["line"].split('"')[1]
        status = row["line"].rsplit(" ", 2)[1]
        assert parsed == {
            "ID": row["id"], "HOST": host, "REQUEST": request, "STATUS": status,
            "WORD": user if user != "-" else None, "LAZY_HEAD": host, "FIRST_FIELD": host,
        }, parsed  # fmt: skip
