"""`clickflow migrate` + `clickflow run --job` on the local stack: KDA programs the tests write from
KDA's documented grammar — the lab's COUNT_DISTINCT_ITEMS_TUMBLING program, and a corpus with every
construct clickflow translates — run bounded over generated records, each destination compared with
an independent Python computation of what KDA documents, from the records and their arrival times
(ROWTIME) as Kinesis reports them to boto3."""

from __future__ import annotations

import json
import random
import time
import uuid
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

import pytest

from connectors import aws
from tests.conftest import run_cli
from tests.integration.test_cluster import running_cluster  # noqa: F401 - the cluster fixture
from tests.kinesis_helpers import flink_log_lines, new_stream, read_stream

pytestmark = pytest.mark.integration

LAB = """CREATE OR REPLACE STREAM DESTINATION_SQL_STREAM (NUMBER_OF_DISTINCT_ITEMS BIGINT);
CREATE OR REPLACE PUMP "STREAM_PUMP" AS INSERT INTO "DESTINATION_SQL_STREAM"
SELECT STREAM NUMBER_OF_DISTINCT_ITEMS FROM TABLE(COUNT_DISTINCT_ITEMS_TUMBLING(
  CURSOR(SELECT STREAM * FROM "SOURCE_SQL_STREAM_001"), 'column1', 60));
"""

CORPUS = {
    # two times: ROWTIME decides when a group is emitted, the event time how rows are grouped
    "TWO_TIMES": """CREATE OR REPLACE STREAM "TWO_TIMES" (
  item VARCHAR(8), event_window TIMESTAMP, n BIGINT, total DOUBLE);
CREATE OR REPLACE PUMP "TWO_TIMES_PUMP" AS INSERT INTO "TWO_TIMES"
SELECT STREAM item, STEP(s.event_time BY INTERVAL '10' SECOND), COUNT(*), SUM(amount)
FROM "SOURCE_SQL_STREAM_001" AS s
GROUP BY item, STEP(s.ROWTIME BY INTERVAL '2' SECOND), STEP(s.event_time BY INTERVAL '10' SECOND);""",
    "PER_SECOND": """CREATE OR REPLACE STREAM PER_SECOND (window_start TIMESTAMP, item VARCHAR(8), n INTEGER);
CREATE OR REPLACE PUMP P2 AS INSERT INTO PER_SECOND
SELECT STREAM FLOOR(ROWTIME TO SECOND), item, COUNT(*) AS n FROM SOURCE_SQL_STREAM_001
GROUP BY FLOOR(ROWTIME TO SECOND), item HAVING COUNT(*) > 1;""",
    "MOVING": """CREATE OR REPLACE STREAM MOVING (id INTEGER, avg_amount DOUBLE, n BIGINT);
CREATE OR REPLACE PUMP P3 AS INSERT INTO MOVING
SELECT STREAM id, AVG(amount) OVER w, COUNT(*) OVER w FROM SOURCE_SQL_STREAM_001
WINDOW w AS (PARTITION BY item RANGE INTERVAL '1' SECOND PRECEDING);""",
    "LAST3": """CREATE OR REPLACE STREAM LAST3 (id INTEGER, total DOUBLE);
CREATE OR REPLACE PUMP P4 AS INSERT INTO LAST3
SELECT STREAM id, SUM(amount) OVER (PARTITION BY item ROWS 2 PRECEDING) FROM SOURCE_SQL_STREAM_001;""",
    "SORTED": """CREATE OR REPLACE STREAM SORTED (id INTEGER, amount DOUBLE);
CREATE OR REPLACE PUMP P5 AS INSERT INTO SORTED
SELECT STREAM id, amount FROM SOURCE_SQL_STREAM_001 ORDER BY FLOOR(ROWTIME TO SECOND), amount DESC, id;""",
    "RANKED": """CREATE OR REPLACE STREAM RANKED (item VARCHAR(8), n BIGINT);
CREATE OR REPLACE PUMP P6 AS INSERT INTO RANKED
SELECT STREAM item, COUNT(*) AS n FROM SOURCE_SQL_STREAM_001
GROUP BY item, STEP(ROWTIME BY INTERVAL '1' SECOND)
ORDER BY STEP(ROWTIME BY INTERVAL '1' SECOND), n DESC, item;""",
    "TOP2": """CREATE OR REPLACE STREAM TOP2 (item VARCHAR(8), MOST_FREQUENT_VALUES BIGINT);
CREATE OR REPLACE PUMP P7 AS INSERT INTO TOP2
SELECT STREAM * FROM TABLE(TOP_K_ITEMS_TUMBLING(CURSOR(SELECT STREAM * FROM SOURCE_SQL_STREAM_001), 'ITEM', 2, 1));""",
    "DISTINCT_USERS": """CREATE OR REPLACE STREAM DISTINCT_USERS (NUMBER_OF_DISTINCT_ITEMS BIGINT);
CREATE OR REPLACE PUMP P8 AS INSERT INTO DISTINCT_USERS
SELECT STREAM NUMBER_OF_DISTINCT_ITEMS FROM TABLE(COUNT_DISTINCT_ITEMS_TUMBLING(
  CURSOR(SELECT STREAM * FROM SOURCE_SQL_STREAM_001 WHERE user_id IS NOT NULL), 'USER_ID', 1));""",
    "FUNCS": """CREATE OR REPLACE STREAM FUNCS (id INTEGER, lag_ms BIGINT, parsed TIMESTAMP, day_text VARCHAR(10),
  price DECIMAL(10, 2), ratio REAL, label VARCHAR(16), coalesced VARCHAR(16), stamped TIMESTAMP);
CREATE OR REPLACE PUMP P9 AS INSERT INTO FUNCS
SELECT STREAM id, TSDIFF(ROWTIME, event_time), CHAR_TO_TIMESTAMP('yyyy-MM-dd HH:mm:ss', ts_text),
  TIMESTAMP_TO_CHAR('yyyy-MM-dd', event_time), CAST(amount AS DECIMAL(10, 2)), CAST(amount / 2 AS REAL),
  CASE WHEN amount > 50 THEN 'big' ELSE 'small' END, COALESCE(user_id, 'anonymous'), CURRENT_ROW_TIMESTAMP
FROM SOURCE_SQL_STREAM_001;""",
    # several pumps into one stream, and a stream feeding a stream
    "AB_COUNTS": """CREATE OR REPLACE STREAM AB (id INTEGER, item VARCHAR(8));
CREATE OR REPLACE PUMP PA AS INSERT INTO AB SELECT STREAM id, item FROM SOURCE_SQL_STREAM_001 WHERE item = 'a';
CREATE OR REPLACE PUMP PB AS INSERT INTO AB (item, id)
SELECT STREAM item, id FROM SOURCE_SQL_STREAM_001 WHERE item = 'b';
CREATE OR REPLACE STREAM AB_COUNTS (item VARCHAR(8), n BIGINT);
CREATE OR REPLACE PUMP PC AS INSERT INTO AB_COUNTS
SELECT STREAM item, COUNT(*) FROM AB GROUP BY item, STEP(AB.ROWTIME BY INTERVAL '1' SECOND);""",
    # a window per key, opened by the key's first row, emitted once when RANGE has passed
    "STAGGERED": """CREATE OR REPLACE STREAM STAGGERED (
  item VARCHAR(8), event_minute TIMESTAMP, n BIGINT, total DOUBLE);
CREATE OR REPLACE PUMP PS AS INSERT INTO STAGGERED
SELECT STREAM item, FLOOR(event_time TO MINUTE), COUNT(*), SUM(amount) FROM SOURCE_SQL_STREAM_001
WINDOWED BY STAGGER (PARTITION BY FLOOR(event_time TO MINUTE), item RANGE INTERVAL '0.7' SECOND);""",
    "LABELLED": """CREATE OR REPLACE STREAM LABELLED (id INTEGER, item VARCHAR(8), label VARCHAR(32));
CREATE OR REPLACE PUMP PR AS INSERT INTO LABELLED
SELECT STREAM s.id, s.item, r.label FROM SOURCE_SQL_STREAM_001 AS s LEFT JOIN "ITEMS" AS r ON s.item = r.item;""",
}

COLUMNS = [
    ("ID", "INTEGER", "$.id"),
    ("ITEM", "VARCHAR(8)", "$.item"),
    ("AMOUNT", "DOUBLE", "$.amount"),
    ("USER_ID", "VARCHAR(16)", "$.user.id"),
    ("EVENT_TIME", "TIMESTAMP", "$.event_time"),
    ("TS_TEXT", "VARCHAR(32)", "$.ts_text"),
]
BAD = [b"not json at all", b'{"id": "seven", "item": "a", "amount": 1.0}']


def _arn(config, kind: str, name: str) -> str:
    return (
        f"arn:aws:{kind}:{config.aws.region}:{config.aws.account_id}:{'stream' if kind == 'kinesis' else kind}/{name}"
    )


def _job_log(result) -> str:
    """What a failed comparison prints besides the rows: the run's own output and what its Flink logged about
    shards (clickflow's connector), tasks ending or failing, warnings and errors."""
    needles = ("io.clickflow", "WARN", "ERROR", "switched from RUNNING to", "Finished reading split")
    return "\n".join([result.stdout[-2000:], result.stderr[-2000:], *flink_log_lines(*needles)[-60:]])


def _fail_ordered(name: str, have: list, want: list, result) -> None:
    """Fail on an ordered output that differs, in a message short enough for a CI log's tail: the counts, what
    is missing or extra, where the order first differs, then the job's log."""
    missing = [x for x in want if x not in have]
    extra = [x for x in have if x not in want]
    first = next((i for i, (a, b) in enumerate(zip(have, want, strict=False)) if a != b), min(len(have), len(want)))
    pytest.fail(
        f"{name}: {len(have)} rows for {len(want)}; missing {missing}; extra {extra}; first difference at {first}: "
        f"{have[first : first + 3]} for {want[first : first + 3]}\n{_job_log(result)}"
    )


def _put_one_by_one(kinesis, stream: str, rows: list[dict]) -> None:
    """One PutRecord per row, a few ms apart, so rows of one item (one shard) arrive at distinct times."""
    for row in rows:
        kinesis.put_record(StreamName=stream, Data=json.dumps(row).encode(), PartitionKey=row.get("item", "x"))
        time.sleep(0.003)


def _arrivals(kinesis, stream: str) -> list[tuple[bytes, int]]:
    """Every record's bytes with its arrival time in epoch milliseconds (ROWTIME), from boto3."""
    return [(r["row"], r["arrival"]) for r in read_stream(kinesis, stream, decode=False)]


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace(" ", "T")).replace(tzinfo=UTC)


def _ms(moment: datetime) -> int:
    return round(moment.timestamp() * 1000)


def _at(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def test_the_labs_count_distinct_program_counts_each_60_s_window(local_stack, tmp_path):
    config, overrides = local_stack
    kinesis = aws.client(config, "kinesis")
    source, out, errors = (
        new_stream(kinesis, "kda-lab", 2),
        new_stream(kinesis, "kda-out", 1),
        new_stream(kinesis, "kda-err", 1),
    )
    rng = random.Random(23)
    rows = [{"column1": f"item-{rng.randint(1, 60)}"} for _ in range(600)]
    for start in range(0, len(rows), 200):
        batch = [
            {"Data": json.dumps(r).encode(), "PartitionKey": str(i)} for i, r in enumerate(rows[start : start + 200])
        ]
        assert kinesis.put_records(StreamName=source, Records=batch)["FailedRecordCount"] == 0
    kinesis.put_record(StreamName=source, Data=BAD[0], PartitionKey="bad")
    program = tmp_path / "lab.sql"
    program.write_text(LAB)
    job = tmp_path / "lab-flink"
    migrated = run_cli(
        "migrate", str(program), "--input-stream", source, "--output", f"DESTINATION_SQL_STREAM={out}",
        "--output", f"error_stream={errors}", "--out", str(job), overrides=overrides,
    )  # fmt: skip
    assert "column1 VARCHAR(256) ($.column1)" in migrated.stdout  # the inference is said
    assert {"job.sql", "clickflow.yaml", "report.md"} <= {p.name for p in job.iterdir()}
    sql = (job / "job.sql").read_text()
    assert "-- SELECT STREAM NUMBER_OF_DISTINCT_ITEMS FROM TABLE(COUNT_DISTINCT_ITEMS_TUMBLING(" in sql
    result = run_cli("run", "--job", str(job), "--bounded", overrides=overrides, timeout=300)
    assert "finished" in result.stdout, result.stdout + result.stderr

    windows: dict[int, set[str]] = defaultdict(set)
    for data, arrival in _arrivals(kinesis, source):
        if data != BAD[0]:
            windows[arrival // 60_000].add(json.loads(data)["column1"])
    expected = Counter(len(items) for items in windows.values())
    got = Counter(r["row"]["NUMBER_OF_DISTINCT_ITEMS"] for r in read_stream(kinesis, out))
    assert got == expected and sum(got.values()) >= 1
    [error] = [r["row"] for r in read_stream(kinesis, errors)]
    assert error["ERROR_NAME"] == "Parse.NotJsonObject" and error["DATA_ROW"] == BAD[0].decode()
    assert set(error) == {"ERROR_TIME", "ERROR_LEVEL", "ERROR_NAME", "MESSAGE", "DATA_ROW"}

    # --distinct sketch: HyperLogLog, within its error bound of the exact counts (3 sigma of 1.6%)
    sketched_out = f"kda-sketch-{uuid.uuid4().hex[:8]}"  # not created here: run --job makes it on the local stack
    sketched = tmp_path / "lab-sketch"
    migrated = run_cli(
        "migrate", str(program), "--input-stream", source, "--output", f"DESTINATION_SQL_STREAM={sketched_out}",
        "--output", f"error_stream={errors}", "--distinct", "sketch", "--out", str(sketched), overrides=overrides,
    )  # fmt: skip
    assert "HyperLogLog sketch" in migrated.stdout and "relative standard error 1.6%" in migrated.stdout
    ran = run_cli("run", "--job", str(sketched), "--bounded", overrides=overrides, timeout=300)
    assert f"created stream {sketched_out} on the local stack" in ran.stdout
    estimates = sorted(r["row"]["NUMBER_OF_DISTINCT_ITEMS"] for r in read_stream(kinesis, sketched_out))
    exact = sorted(len(items) for items in windows.values())
    assert len(estimates) == len(exact)
    assert all(abs(e - x) <= 3 * 0.016 * x + 1 for e, x in zip(estimates, exact, strict=True))


def _corpus_rows(count: int) -> list[dict]:
    rng = random.Random(7)
    base = datetime(2026, 12, 1, 8, 0, 0, tzinfo=UTC)
    rows = []
    for i in range(count):
        moment = base + timedelta(milliseconds=37 * i)
        row = {
            "id": i,
            "item": rng.choice("aaabbcd"),
            "amount": round(rng.uniform(0, 100), 2),
            "event_time": moment.strftime("%Y-%m-%d %H:%M:%S.") + f"{moment.microsecond // 1000:03d}",
            "ts_text": moment.strftime("%Y-%m-%d %H:%M:%S"),
        }
        if rng.random() < 0.7:
            row["user"] = {"id": f"u{rng.randint(1, 15)}"}
        rows.append(row)
    return rows


def test_a_corpus_of_every_construct_runs_and_equals_an_independent_computation(local_stack, tmp_path):
    config, overrides = local_stack
    kinesis, s3 = aws.client(config, "kinesis"), aws.client(config, "s3")
    source = new_stream(kinesis, "kda-corpus", 2)
    outputs = {name: new_stream(kinesis, f"kda-{name.lower().replace('_', '-')}", 1) for name in CORPUS}
    errors = new_stream(kinesis, "kda-errors", 1)
    key = f"kda-{uuid.uuid4().hex[:6]}/items.csv"
    s3.put_object(Bucket=config.bucket, Key=key, Body=b"a,Apples\nb,Bananas\r\nc,Cherries\n")
    description = {
        "ApplicationDetail": {
            "ApplicationName": "corpus",
            "ApplicationCode": "\n\n".join(CORPUS.values()),
            "InputDescriptions": [
                {
                    "NamePrefix": "SOURCE_SQL_STREAM",
                    "KinesisStreamsInputDescription": {"ResourceARN": _arn(config, "kinesis", source)},
                    "InputSchema": {
                        "RecordFormat": {
                            "RecordFormatType": "JSON",
                            "MappingParameters": {"JSONMappingParameters": {"RecordRowPath": "$"}},
                        },
                        "RecordEncoding": "UTF-8",
                        "RecordColumns": [{"Name": n, "SqlType": t, "Mapping": m} for n, t, m in COLUMNS],
                    },
                }
            ],
            "OutputDescriptions": [
                {"Name": name, "KinesisStreamsOutputDescription": {"ResourceARN": _arn(config, "kinesis", stream)}}
                for name, stream in [*outputs.items(), ("error_stream", errors)]
            ],
            "ReferenceDataSourceDescriptions": [
                {
                    "TableName": "ITEMS",
                    "S3ReferenceDataSourceDescription": {"BucketARN": f"arn:aws:s3:::{config.bucket}", "FileKey": key},
                    "ReferenceSchema": {
                        "RecordFormat": {
                            "RecordFormatType": "CSV",
                            "MappingParameters": {
                                "CSVMappingParameters": {"RecordRowDelimiter": "\n", "RecordColumnDelimiter": ","}
                            },
                        },
                        "RecordEncoding": "UTF-8",
                        "RecordColumns": [
                            {"Name": "ITEM", "SqlType": "VARCHAR(8)"},
                            {"Name": "LABEL", "SqlType": "VARCHAR(32)"},
                        ],
                    },
                }
            ],
        }
    }
    app = tmp_path / "corpus.json"
    app.write_text(json.dumps(description))
    rows = _corpus_rows(360)
    _put_one_by_one(kinesis, source, rows)
    for bad in BAD:
        kinesis.put_record(StreamName=source, Data=bad, PartitionKey="bad")

    check = run_cli("migrate", str(app), "--check", overrides=overrides, timeout=300)
    assert "planned: Flink accepts the translated SQL" in check.stdout
    job = tmp_path / "corpus-flink"
    run_cli("migrate", str(app), "--out", str(job), overrides=overrides)
    result = run_cli("run", "--job", str(job), "--bounded", overrides=overrides, timeout=400)
    assert "finished" in result.stdout, result.stdout + result.stderr

    arrivals = {}
    for data, arrival in _arrivals(kinesis, source):
        if data not in BAD:
            arrivals[json.loads(data)["id"]] = arrival
    assert len(arrivals) == len(rows)
    for row in rows:
        row["rt"] = arrivals[row["id"]]
        row["et"] = _ms(_time(row["event_time"]))
    got = {name: [r["row"] for r in read_stream(kinesis, stream)] for name, stream in outputs.items()}
    (tmp_path / "got.json").write_text(json.dumps({"rows": rows, "got": got}, default=str))  # to study a failure

    # GROUP BY item, STEP(ROWTIME BY 2 s), STEP(event_time BY 10 s): one row per group, the event-time step kept
    groups = defaultdict(list)
    for row in rows:
        groups[(row["item"], row["rt"] // 2000, row["et"] // 10_000)].append(row["amount"])
    expected = Counter((item, step * 10_000, len(a), round(sum(a), 6)) for (item, _, step), a in groups.items())
    assert (
        Counter((r["ITEM"], _ms(_time(r["EVENT_WINDOW"])), r["N"], round(r["TOTAL"], 6)) for r in got["TWO_TIMES"])
        == expected
    )

    # GROUP BY FLOOR(ROWTIME TO SECOND), item HAVING COUNT(*) > 1
    seconds = Counter((row["rt"] // 1000, row["item"]) for row in rows)
    assert Counter((_ms(_time(r["WINDOW_START"])), r["ITEM"], r["N"]) for r in got["PER_SECOND"]) == Counter(
        (s * 1000, item, n) for (s, item), n in seconds.items() if n > 1
    )

    # OVER (PARTITION BY item RANGE INTERVAL '1' SECOND PRECEDING): each row with the rows of its item 1 s before
    for out in got["MOVING"]:
        me = rows[out["ID"]]
        window = [r["amount"] for r in rows if r["item"] == me["item"] and me["rt"] - 1000 <= r["rt"] <= me["rt"]]
        assert out["N"] == len(window) and out["AVG_AMOUNT"] == pytest.approx(sum(window) / len(window))
    assert sorted(r["ID"] for r in got["MOVING"]) == list(range(len(rows)))

    # ROWS 2 PRECEDING: the row and the two before it in its item (arrival order)
    by_item = defaultdict(list)
    for row in sorted(rows, key=lambda r: r["rt"]):
        by_item[row["item"]].append(row)
    last3 = {}
    for item_rows in by_item.values():
        for index, row in enumerate(item_rows):
            last3[row["id"]] = sum(r["amount"] for r in item_rows[max(0, index - 2) : index + 1])
    assert {r["ID"]: pytest.approx(r["TOTAL"]) for r in got["LAST3"]} == last3

    # ORDER BY FLOOR(ROWTIME TO SECOND), amount DESC, id: the rows in that order
    order = sorted(rows, key=lambda r: (r["rt"] // 1000, -r["amount"], r["id"]))
    want, have = [r["id"] for r in order], [r["ID"] for r in got["SORTED"]]
    if have != want:  # the job's log with it: a compact message, as a CI log keeps only the end of a long one
        _fail_ordered("SORTED", have, want, result)

    # GROUP BY item, STEP(ROWTIME BY 1 s) ORDER BY the step, n DESC, item
    counts = Counter((row["rt"] // 1000, row["item"]) for row in rows)
    ranked = sorted(counts.items(), key=lambda kv: (kv[0][0], -kv[1], kv[0][1]))
    want_ranked, have_ranked = [(item, n) for (_, item), n in ranked], [(r["ITEM"], r["N"]) for r in got["RANKED"]]
    if have_ranked != want_ranked:
        _fail_ordered("RANKED", have_ranked, want_ranked, result)

    # TOP_K_ITEMS_TUMBLING(..., 'ITEM', 2, 1): each second's two most frequent items, exact
    per_second = defaultdict(Counter)
    for row in rows:
        per_second[row["rt"] // 1000][row["item"]] += 1
    top = Counter()
    for counter in per_second.values():
        for item, n in sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))[:2]:
            top[(item, n)] += 1
    assert Counter((r["ITEM"], r["MOST_FREQUENT_VALUES"]) for r in got["TOP2"]) == top

    # COUNT_DISTINCT_ITEMS_TUMBLING over the rows that have a user, per second
    users = defaultdict(set)
    for row in rows:
        if "user" in row:
            users[row["rt"] // 1000].add(row["user"]["id"])
    assert Counter(r["NUMBER_OF_DISTINCT_ITEMS"] for r in got["DISTINCT_USERS"]) == Counter(map(len, users.values()))

    # functions, types and NULLs
    funcs = {r["ID"]: r for r in got["FUNCS"]}
    assert sorted(funcs) == list(range(len(rows)))
    for row in rows:
        out = funcs[row["id"]]
        assert out["LAG_MS"] == row["rt"] - row["et"]
        assert _time(out["PARSED"]) == _time(row["ts_text"])
        assert out["DAY_TEXT"] == row["event_time"][:10]
        assert Decimal(str(out["PRICE"])) == Decimal(str(row["amount"])).quantize(Decimal("0.01"), ROUND_HALF_UP)
        assert out["RATIO"] == pytest.approx(row["amount"] / 2, rel=1e-6)
        assert out["LABEL"] == ("big" if row["amount"] > 50 else "small")
        assert out["COALESCED"] == row.get("user", {}).get("id", "anonymous")
        assert out["STAMPED"] is not None

    # two pumps into AB, AB grouped into AB_COUNTS
    ab = Counter((row["item"], row["rt"] // 1000) for row in rows if row["item"] in "ab")
    assert Counter((r["ITEM"], r["N"]) for r in got["AB_COUNTS"]) == Counter((item, n) for (item, _), n in ab.items())

    # WINDOWED BY STAGGER: per (minute, item), a window from its first row's ROWTIME for 700 ms
    staggered = Counter()
    keyed = defaultdict(list)
    for row in sorted(rows, key=lambda r: r["rt"]):
        keyed[(row["et"] // 60_000, row["item"])].append(row)
    for (minute, item), key_rows in keyed.items():
        start, members = None, []
        for row in [*key_rows, None]:
            if row is None or (start is not None and row["rt"] >= start + 700):
                staggered[(item, minute * 60_000, len(members), round(sum(r["amount"] for r in members), 6))] += 1
                start, members = None, []
            if row is not None:
                start = row["rt"] if start is None else start
                members.append(row)
    assert (
        Counter((r["ITEM"], _ms(_time(r["EVENT_MINUTE"])), r["N"], round(r["TOTAL"], 6)) for r in got["STAGGERED"])
        == staggered
    )

    # LEFT JOIN the reference data from S3: d has no label
    labels = {"a": "Apples", "b": "Bananas", "c": "Cherries"}
    assert {r["ID"]: (r["ITEM"], r["LABEL"]) for r in got["LABELLED"]} == {
        row["id"]: (row["item"], labels.get(row["item"])) for row in rows
    }

    # what the schema cannot read: KDA's error_stream columns, the raw row kept
    bad = {r["row"]["DATA_ROW"]: r["row"] for r in read_stream(kinesis, errors)}
    assert set(bad) == {b.decode() for b in BAD}
    assert bad[BAD[0].decode()]["ERROR_NAME"] == "Parse.NotJsonObject"
    mismatch = bad[BAD[1].decode()]
    assert mismatch["ERROR_NAME"] == "Type.Mismatch" and "ID" in mismatch["MESSAGE"] and "seven" in mismatch["MESSAGE"]


def test_a_migrated_job_packages_for_managed_flink_and_loads_from_the_zip_alone(tmp_path):
    import subprocess
    import sys
    import zipfile

    from clickflow.msf import deploy
    from clickflow.msf import package as pkg
    from connectors.config import load_config

    program = tmp_path / "lab.sql"
    program.write_text(LAB)
    job = tmp_path / "lab-flink"
    run_cli(
        "migrate",
        str(program),
        "--input-stream",
        "ticks",
        "--output",
        "DESTINATION_SQL_STREAM=counts",
        "--out",
        str(job),
    )
    config = load_config("aws", overrides=["aws.account_id='123456789012'"])
    built = pkg.build_package(config, tmp_path / "lab.zip", say=lambda _: None, job_dir=job)
    with zipfile.ZipFile(built.path) as archive:
        assert "from jobs.migrated import main" in archive.read("main.py").decode()
        assert {"migrated/job.sql", "migrated/clickflow.yaml", "jobs/migrated.py"} <= set(archive.namelist())
        archive.extractall(tmp_path / "unpacked")
    assert pkg.read_package(built.path).job.input_stream == "ticks"
    # from the zip alone, site-packages off (no lark there): the job module imports and its directory loads
    probe = (
        f"import sys; root = {str(tmp_path / 'unpacked')!r}; sys.path[:0] = [root, root + '/deps']\n"
        "from pathlib import Path\nimport jobs.migrated\nfrom clickflow.migrate.jobdir import load\n"
        "job = load(Path(root) / 'migrated'); print(len(job.inserts()), 'lark' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-S", "-c", probe], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["2", "False"]
    policy = deploy.iam_policy(config, "123456789012", "kda-lab", "b", "k", job=built.job)
    by_sid = {s["Sid"]: s for s in policy["Statement"]}
    arn = "arn:aws:kinesis:us-east-1:123456789012:stream/"
    assert by_sid["ReadEventsStream"]["Resource"] == [arn + "ticks"]
    assert by_sid["WriteOutputStreams"]["Resource"] == [arn + "counts", arn + "lab-errors"]
    assert "WriteArchive" not in by_sid


def test_csv_records_with_a_schema_inferred_from_a_sample_with_a_header(local_stack, tmp_path):
    config, overrides = local_stack
    kinesis = aws.client(config, "kinesis")
    source, out, errors = (new_stream(kinesis, n, 1) for n in ("kda-csv", "kda-csv-out", "kda-csv-err"))
    rng = random.Random(5)
    header = "event_time,event_type,product_id,brand,price"
    rows = [
        f"2019-10-01 00:00:{i % 60:02d} UTC,{rng.choice(['view', 'cart', 'purchase'])},{1000 + i},"
        f"{rng.choice(['apple', 'samsung', ''])},{rng.uniform(1, 500):.2f}"
        for i in range(200)
    ]
    bad = "2019-10-01 00:01:00 UTC,view,notanumber,apple,1.00"
    sample = tmp_path / "sample.csv"
    sample.write_text("\r\n".join([header, *rows[:20]]) + "\r\n")
    records = ["\r\n".join(rows[:3]), *rows[3:], bad]  # the first record holds three rows, as KDA allowed
    for index, record in enumerate(records):
        kinesis.put_record(StreamName=source, Data=(record + "\r\n").encode(), PartitionKey=str(index))
    program = tmp_path / "events.sql"
    program.write_text(
        """CREATE OR REPLACE STREAM PER_TYPE (event_type VARCHAR(16), n BIGINT, revenue DOUBLE, branded BIGINT);
CREATE OR REPLACE PUMP P AS INSERT INTO PER_TYPE
SELECT STREAM event_type, COUNT(*), SUM(price), COUNT(NULLIF(brand, '')) FROM SOURCE_SQL_STREAM_001
GROUP BY event_type, STEP(SOURCE_SQL_STREAM_001.ROWTIME BY INTERVAL '1' HOUR);"""
    )
    job = tmp_path / "csv-flink"
    migrated = run_cli(
        "migrate", str(program), "--sample", str(sample), "--input-stream", source,
        "--output", f"PER_TYPE={out}", "--output", f"error_stream={errors}", "--out", str(job), overrides=overrides,
    )  # fmt: skip
    assert "is a header" in migrated.stdout and "PRODUCT_ID INTEGER (2)" in migrated.stdout
    run_cli("run", "--job", str(job), "--bounded", overrides=overrides, timeout=300)
    # one group per event type and hour of arrival (ROWTIME): summed over the hours the records arrived in
    arrival_hours = {a // 3_600_000 for _, a in _arrivals(kinesis, source)}
    per_type = defaultdict(lambda: [0, 0.0, 0])
    for line in rows:
        _, kind, _, brand, price = line.split(",")
        per_type[kind][0] += 1
        per_type[kind][1] += float(price)
        per_type[kind][2] += brand != ""
    got = defaultdict(lambda: [0, 0.0, 0])
    for record in read_stream(kinesis, out):
        r = record["row"]
        got[r["EVENT_TYPE"]][0] += r["N"]
        got[r["EVENT_TYPE"]][1] += r["REVENUE"]
        got[r["EVENT_TYPE"]][2] += r["BRANDED"]
    assert {k: (n, round(s, 2), b) for k, (n, s, b) in got.items()} == {
        k: (n, round(s, 2), b) for k, (n, s, b) in per_type.items()
    }
    assert len(arrival_hours) > 1 or len(read_stream(kinesis, out)) == len(per_type)
    [error] = [r["row"] for r in read_stream(kinesis, errors)]
    assert error["ERROR_NAME"] == "Type.Mismatch" and "PRODUCT_ID" in error["MESSAGE"] and error["DATA_ROW"] == bad

    # what translates but Flink cannot plan: --check says so, exit 1, nothing written
    program.write_text(
        "CREATE OR REPLACE STREAM D (n DOUBLE);\n"
        "CREATE OR REPLACE PUMP P AS INSERT INTO D SELECT STREAM SUM(brand) OVER (ROWS 2 PRECEDING) "
        "FROM SOURCE_SQL_STREAM_001;"
    )
    check = run_cli("migrate", str(program), "--sample", str(sample), "--check", overrides=overrides, check=False)
    assert check.returncode == 1 and "Flink refused the translated SQL" in check.stderr
    assert "Traceback" not in check.stderr


def test_the_lab_runs_bounded_on_the_local_cluster(request, tmp_path):
    config, overrides, _, _ = request.getfixturevalue("running_cluster")  # test_cluster's: a cluster, then down
    kinesis = aws.client(config, "kinesis")
    source, out, errors = (new_stream(kinesis, n, 1) for n in ("kda-cl", "kda-cl-out", "kda-cl-err"))
    rows = [{"column1": f"item-{i % 37}"} for i in range(300)]
    batch = [{"Data": json.dumps(r).encode(), "PartitionKey": str(i)} for i, r in enumerate(rows)]
    assert kinesis.put_records(StreamName=source, Records=batch)["FailedRecordCount"] == 0
    program = tmp_path / "lab.sql"
    program.write_text(LAB)
    job = tmp_path / "lab-flink"
    run_cli(
        "migrate", str(program), "--input-stream", source, "--output", f"DESTINATION_SQL_STREAM={out}",
        "--output", f"error_stream={errors}", "--out", str(job), overrides=overrides,
    )  # fmt: skip
    result = run_cli("run", "--job", str(job), "--profile", "cluster", "--bounded", overrides=overrides, timeout=300)
    assert "finished" in result.stdout, result.stdout + result.stderr
    windows: dict[int, set[str]] = defaultdict(set)
    for data, arrival in _arrivals(kinesis, source):
        windows[arrival // 60_000].add(json.loads(data)["column1"])
    got = Counter(r["row"]["NUMBER_OF_DISTINCT_ITEMS"] for r in read_stream(kinesis, out))
    assert got == Counter(len(items) for items in windows.values())
