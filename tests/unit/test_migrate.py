"""`clickflow migrate` without a JVM: reading KDA applications (description, schema, samples), the
translation's shape, the refusals (named and located, nothing written), and that arbitrary text
never raises anything but the migration's own error."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clickflow.migrate import jobdir
from clickflow.migrate.app import Application, InputColumn, InputSchema, infer_schema, load_description
from clickflow.migrate.parse import MigrateError
from clickflow.migrate.translate import translate
from tests.conftest import PROJECT_ROOT

LAB = """CREATE OR REPLACE STREAM DESTINATION_SQL_STREAM (NUMBER_OF_DISTINCT_ITEMS BIGINT);
CREATE OR REPLACE PUMP "STREAM_PUMP" AS INSERT INTO "DESTINATION_SQL_STREAM"
SELECT STREAM NUMBER_OF_DISTINCT_ITEMS FROM TABLE(COUNT_DISTINCT_ITEMS_TUMBLING(
  CURSOR(SELECT STREAM * FROM "SOURCE_SQL_STREAM_001"), 'column1', 60));
"""
SCHEMA = InputSchema(
    "JSON",
    (
        InputColumn("TICKER", "VARCHAR(4)", "$.ticker"),
        InputColumn("PRICE", "REAL", "$.price"),
        InputColumn("EVENT_TIME", "TIMESTAMP", "$.event_time"),
    ),
)


def app(code: str, schema: InputSchema | None = SCHEMA) -> Application:
    return Application("t", code, "app.sql", input_stream="in", schema=schema)


def sql_of(code: str, schema: InputSchema | None = SCHEMA) -> str:
    return "\n".join(translate(app(code, schema)).statements())


def refusal(code: str, schema: InputSchema | None = SCHEMA) -> MigrateError:
    with pytest.raises(MigrateError) as caught:
        translate(app(code, schema))
    return caught.value


def test_the_labs_program_becomes_a_tumbling_distinct_count_with_its_input_inferred():
    application = app(LAB, schema=None)
    translation = translate(application)
    assert translation.inferred == {"column1": ("VARCHAR(256)", "$.column1")}
    sql = "\n".join(translation.statements())
    assert "COUNT(DISTINCT `column1`) AS `NUMBER_OF_DISTINCT_ITEMS`" in sql
    assert "TUMBLE(TABLE `DESTINATION_SQL_STREAM__STREAM_PUMP__cursor1`, DESCRIPTOR(`ROWTIME`)" in sql
    assert "INTERVAL '0 00:01:00.000' DAY TO SECOND(3)" in sql
    assert "INSERT INTO `DESTINATION_SQL_STREAM__out`" in sql
    text = jobdir.job_sql(application, translation)
    # each KDA statement above its translation, as a comment
    assert '-- CREATE OR REPLACE PUMP "STREAM_PUMP" AS INSERT INTO "DESTINATION_SQL_STREAM"' in text
    assert text.index("-- CREATE OR REPLACE PUMP") < text.index("CREATE TEMPORARY VIEW `DESTINATION_SQL_STREAM__")
    constructs = {e["construct"] for e in translation.report}
    assert "COUNT_DISTINCT_ITEMS_TUMBLING" in constructs and "error_stream" in constructs


def test_a_grouping_by_step_over_rowtime_is_a_tumbling_window_and_the_event_time_step_a_key():
    sql = sql_of(
        """CREATE OR REPLACE STREAM D (ticker VARCHAR(4), minute TIMESTAMP, n BIGINT);
CREATE OR REPLACE PUMP P AS INSERT INTO D
SELECT STREAM ticker, STEP(s.event_time BY INTERVAL '60' SECOND), COUNT(*) FROM SOURCE_SQL_STREAM_001 AS s
GROUP BY ticker, STEP(s.ROWTIME BY INTERVAL '10' SECOND), STEP(s.event_time BY INTERVAL '60' SECOND);"""
    )
    assert "TUMBLE(TABLE `SOURCE_SQL_STREAM_001`, DESCRIPTOR(`ROWTIME`), INTERVAL '0 00:00:10.000'" in sql
    assert "GROUP BY `window_start`, `window_end`, `window_time`, `S`.`TICKER`, TIMESTAMPADD(SECOND" in sql
    assert "`window_time` AS `ROWTIME`" in sql


def test_a_selected_rowtime_step_is_the_windows_start_and_rowtime_its_end():
    sql = sql_of(
        """CREATE OR REPLACE STREAM D (w TIMESTAMP, t TIMESTAMP, n BIGINT);
CREATE OR REPLACE PUMP P AS INSERT INTO D
SELECT STREAM FLOOR(ROWTIME TO MINUTE), ROWTIME, COUNT(*) FROM SOURCE_SQL_STREAM_001
GROUP BY FLOOR(ROWTIME TO MINUTE);"""
    )
    assert "CAST(`window_start` AS TIMESTAMP(3)) AS `W`, CAST(`window_end` AS TIMESTAMP(3)) AS `T`" in sql


def test_a_named_window_is_inlined_as_an_over_window_ordered_by_rowtime():
    sql = sql_of(
        """CREATE OR REPLACE STREAM D (ticker VARCHAR(4), avg_price DOUBLE, last3 DOUBLE);
CREATE OR REPLACE PUMP P AS INSERT INTO D
SELECT STREAM ticker, AVG(price) OVER w FROM SOURCE_SQL_STREAM_001
WINDOW w AS (PARTITION BY ticker RANGE INTERVAL '1' MINUTE PRECEDING);
CREATE OR REPLACE STREAM E (total DOUBLE);
CREATE OR REPLACE PUMP Q AS INSERT INTO E
SELECT STREAM SUM(price) OVER (ROWS 2 PRECEDING) FROM SOURCE_SQL_STREAM_001;""".replace(
            "avg_price DOUBLE, last3 DOUBLE", "avg_price DOUBLE"
        )
    )
    assert (
        "AVG(`SOURCE_SQL_STREAM_001`.`PRICE`) OVER (PARTITION BY `SOURCE_SQL_STREAM_001`.`TICKER` ORDER BY "
        "`SOURCE_SQL_STREAM_001`.`ROWTIME` RANGE BETWEEN INTERVAL '0 00:01:00.000' DAY TO SECOND(3) PRECEDING "
        "AND CURRENT ROW)"
    ) in sql
    assert "ROWS BETWEEN 2 PRECEDING AND CURRENT ROW" in sql


def test_two_pumps_into_a_stream_are_united_and_a_stream_read_by_another_pump_is_a_view():
    translation = translate(
        app(
            """CREATE OR REPLACE STREAM MID (ticker VARCHAR(4));
CREATE OR REPLACE PUMP A AS INSERT INTO MID SELECT STREAM ticker FROM SOURCE_SQL_STREAM_001 WHERE price > 10;
CREATE OR REPLACE PUMP B AS INSERT INTO MID SELECT STREAM ticker FROM SOURCE_SQL_STREAM_001 WHERE price < 1;
CREATE OR REPLACE STREAM OUT_STREAM (ticker VARCHAR(4), n BIGINT);
CREATE OR REPLACE PUMP C AS INSERT INTO OUT_STREAM
SELECT STREAM ticker, COUNT(*) FROM MID GROUP BY ticker, STEP(MID.ROWTIME BY INTERVAL '1' MINUTE);"""
        )
    )
    sql = "\n".join(translation.statements())
    assert "SELECT `TICKER`, `ROWTIME` FROM `MID__A`\nUNION ALL\nSELECT `TICKER`, `ROWTIME` FROM `MID__B`" in sql
    assert list(translation.destinations) == ["OUT_STREAM"]  # MID is read, so it does not go out
    assert sql.index("CREATE TEMPORARY VIEW `MID` AS") < sql.index("CREATE TEMPORARY VIEW `OUT_STREAM__C` AS")


def test_kda_functions_and_types_have_their_flink_forms():
    sql = sql_of(
        """CREATE OR REPLACE STREAM D (a BIGINT, b TIMESTAMP, c VARCHAR(10), d REAL, e DECIMAL(8, 2), f TIMESTAMP);
CREATE OR REPLACE PUMP P AS INSERT INTO D
SELECT STREAM TSDIFF(ROWTIME, event_time), CHAR_TO_TIMESTAMP('yyyy-MM-dd', ticker),
  TIMESTAMP_TO_CHAR('HH:mm', event_time), CAST(price AS REAL), CAST(price AS DECIMAL(8, 2)), CURRENT_ROW_TIMESTAMP
FROM SOURCE_SQL_STREAM_001;"""
    )
    assert "TSDIFF(`SOURCE_SQL_STREAM_001`.`ROWTIME`, `SOURCE_SQL_STREAM_001`.`EVENT_TIME`)" in sql
    assert "TO_TIMESTAMP(`SOURCE_SQL_STREAM_001`.`TICKER`, 'yyyy-MM-dd')" in sql
    assert "DATE_FORMAT(`SOURCE_SQL_STREAM_001`.`EVENT_TIME`, 'HH:mm')" in sql
    assert "CAST(`SOURCE_SQL_STREAM_001`.`PRICE` AS FLOAT)" in sql and "AS DECIMAL(8, 2)" in sql
    assert "CURRENT_ROW_TIMESTAMP()" in sql
    assert "CREATE TEMPORARY FUNCTION TSDIFF AS 'io.clickflow.udf.TsDiff'" in sql


def test_a_stagger_window_goes_through_the_process_table_function():
    sql = sql_of(
        """CREATE OR REPLACE STREAM D (ticker VARCHAR(4), minute TIMESTAMP, n BIGINT);
CREATE OR REPLACE PUMP P AS INSERT INTO D
SELECT STREAM ticker, FLOOR(event_time TO MINUTE), COUNT(*) FROM SOURCE_SQL_STREAM_001
WINDOWED BY STAGGER (PARTITION BY FLOOR(event_time TO MINUTE), ticker RANGE INTERVAL '1' MINUTE);"""
    )
    assert "STAGGER_WINDOW(input => TABLE `D__P__stagger_rows1` PARTITION BY (`__k0`, `__k1`)" in sql
    assert "range_ms => CAST(60000 AS BIGINT)" in sql
    assert "CAST(`__k1` AS STRING) AS `TICKER`, CAST(`__k0` AS TIMESTAMP(3)) AS `MINUTE`" in sql


def test_records_the_schema_cannot_read_are_errors_with_kdas_columns():
    sql = sql_of(
        "CREATE OR REPLACE STREAM D (p REAL);\n"
        "CREATE OR REPLACE PUMP P AS INSERT INTO D SELECT STREAM price FROM SOURCE_SQL_STREAM_001;"
    )
    assert "TRY_CAST(`PRICE__raw` AS FLOAT) AS `PRICE`" in sql
    assert "'Parse.NotJsonObject' ELSE 'Type.Mismatch'" in sql
    assert "`ERROR_TIME`, 'ERROR' AS `ERROR_LEVEL`" in sql and "`DATA_ROW`" in sql


@pytest.mark.parametrize(
    ("code", "line", "column", "words"),
    [
        (
            "CREATE OR REPLACE STREAM D (s DOUBLE);\nCREATE OR REPLACE PUMP P AS INSERT INTO D\n"
            "SELECT STREAM ANOMALY_SCORE FROM TABLE(RANDOM_CUT_FOREST("
            "CURSOR(SELECT STREAM * FROM SOURCE_SQL_STREAM_001), 2000));",
            3,
            110,
            "RANDOM_CUT_FOREST: numberOfTrees 2000 is out of range (1 to 1000)",
        ),
        (
            "CREATE OR REPLACE STREAM D (s DOUBLE);\nCREATE OR REPLACE PUMP P AS INSERT INTO D\n"
            "SELECT STREAM ANOMALY_SCORE FROM TABLE(RANDOM_CUT_FOREST("
            "CURSOR(SELECT STREAM * FROM SOURCE_SQL_STREAM_001), 100, 512, 500));",
            3,
            120,
            "timeDecay (500) must be more than subSampleSize (512)",
        ),
        (
            "CREATE OR REPLACE STREAM D (h VARCHAR(100));\nCREATE OR REPLACE PUMP P AS INSERT INTO D\n"
            "SELECT STREAM HOTSPOTS_RESULT FROM TABLE(HOTSPOTS("
            "CURSOR(SELECT STREAM * FROM SOURCE_SQL_STREAM_001), 100, 0.5));",
            3,
            42,
            "expected HOTSPOTS(CURSOR(SELECT STREAM ...), windowSize, scanRadius, minimumNumberOfPointsInAHotspot)",
        ),
        (
            "CREATE OR REPLACE STREAM D (h VARCHAR(100));\nCREATE OR REPLACE PUMP P AS INSERT INTO D\n"
            "SELECT STREAM REGEX_LOG_PARSE(TICKER, TICKER) FROM SOURCE_SQL_STREAM_001;",
            3,
            39,
            "REGEX_LOG_PARSE: every argument after the line is a literal",
        ),
        (
            "CREATE OR REPLACE STREAM D (h VARCHAR(100));\nCREATE OR REPLACE PUMP P AS INSERT INTO D\n"
            "SELECT STREAM SYS_LOG_PARSE(TICKER) FROM SOURCE_SQL_STREAM_001;",
            3,
            15,
            "SYS_LOG_PARSE is not translated: write it as REGEX_LOG_PARSE(line, pattern)",
        ),
        (
            "CREATE OR REPLACE STREAM D (n BIGINT);\nCREATE OR REPLACE PUMP P AS INSERT INTO D\n"
            "SELECT STREAM COUNT(*) FROM SOURCE_SQL_STREAM_001 GROUP BY ticker;",
            3,
            51,
            "needs a window over ROWTIME",
        ),
        (
            "CREATE OR REPLACE STREAM D (n VARCHAR(4));\nCREATE OR REPLACE PUMP P AS INSERT INTO D\n"
            "SELECT STREAM tickr FROM SOURCE_SQL_STREAM_001;",
            3,
            15,
            "no column TICKR in SOURCE_SQL_STREAM_001",
        ),
        (
            "CREATE OR REPLACE STREAM D (n VARCHAR(4));\nCREATE OR REPLACE PUMP P AS INSERT INTO D\n"
            "SELECT STREAM PARTITION_KEY FROM SOURCE_SQL_STREAM_001;",
            3,
            15,
            "does not read partition keys",
        ),
        (
            "CREATE OR REPLACE STREAM D (n BIGINT);\nCREATE OR REPLACE PUMP P AS INSERT INTO D\n"
            "SELECT STREAM COUNT(*) FROM SOURCE_SQL_STREAM_001 GROUP BY STEP(ROWTIME BY INTERVAL '1' MONTH);",
            3,
            76,
            "year-month interval",
        ),
        (
            "CREATE OR REPLACE STREAM D (p REAL);\nCREATE OR REPLACE PUMP P AS INSERT INTO D\n"
            "SELECT STREAM price FROM SOURCE_SQL_STREAM_001 ORDER BY ROWTIME DESC;",
            3,
            57,
            "ascending",
        ),
        (
            "CREATE OR REPLACE STREAM D (p REAL);\nCREATE OR REPLACE PUMP P AS INSERT INTO NOWHERE\n"
            "SELECT STREAM price FROM SOURCE_SQL_STREAM_001;",
            2,
            41,
            "no CREATE OR REPLACE STREAM declares",
        ),
        (
            "CREATE OR REPLACE STREAM D (p REAL, q REAL);\nCREATE OR REPLACE PUMP P AS INSERT INTO D\n"
            "SELECT STREAM price FROM SOURCE_SQL_STREAM_001;",
            3,
            15,
            "gives 1 columns and the stream takes 2",
        ),
        (
            "CREATE OR REPLACE STREAM D (p REAL);\nCREATE OR REPLACE PUMP P AS INSERT INTO D\n"
            "SELECT STREAM price FROM SOURCE_SQL_STREAM_001 WHERE;",
            3,
            53,
            "unexpected ';'",
        ),
        (
            "CREATE OR REPLACE STREAM D (p REAL);\nCREATE OR REPLACE PUMP P AS INSERT INTO D\n"
            "SELECT STREAM a.price FROM SOURCE_SQL_STREAM_001 AS a JOIN D AS b ON a.price = b.p;",
            3,
            60,
            "a join of two streams",
        ),
    ],
)
def test_what_is_not_translated_is_refused_at_its_line_and_column(code, line, column, words):
    error = refusal(code)
    assert (error.line, error.column) == (line, column), str(error)
    assert words in error.message
    assert str(error).startswith(f"app.sql:line {line}, column {column}: ")


def test_a_keyword_where_only_a_name_can_be_is_read_as_a_name():
    sql = sql_of(
        "CREATE OR REPLACE STREAM D (step BIGINT);\n"
        "CREATE OR REPLACE PUMP P AS INSERT INTO D "
        "SELECT STREAM COUNT(*) AS range FROM SOURCE_SQL_STREAM_001 AS window "
        "GROUP BY STEP(window.ROWTIME BY INTERVAL '1' SECOND);"
    )
    assert "CAST(COUNT(*) AS BIGINT) AS `STEP`" in sql and "AS `WINDOW`" in sql


KDA_WORDS = [
    "CREATE", "OR", "REPLACE", "STREAM", "PUMP", "AS", "INSERT", "INTO", "SELECT", "FROM", "WHERE", "GROUP", "BY",
    "STEP", "(", ")", ",", ";", "ROWTIME", "INTERVAL", "'1'", "SECOND", "COUNT", "*", "SOURCE_SQL_STREAM_001",
    "TABLE", "CURSOR", "WINDOW", "OVER", "ORDER", "RANGE", "PRECEDING", "STAGGER", "WINDOWED", "PARTITION", "x",
    "'a'", "1", "=", "+", "D", "JOIN", "ON", "FLOOR", "TO", "MINUTE", '"q"', "--c\n", "CAST", "BIGINT", "NULL",
]  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=200), st.lists(st.sampled_from(KDA_WORDS), max_size=60).map(" ".join)))
def test_migrate_never_raises_anything_but_its_own_error(code):
    for schema in (SCHEMA, None):
        try:
            translate(app(code, schema))
        except MigrateError:
            pass


def test_a_description_is_read_and_its_errors_name_the_key(tmp_path):
    description = {
        "ApplicationDetail": {
            "ApplicationName": "ticker-app",
            "ApplicationCode": LAB,
            "InputDescriptions": [
                {
                    "NamePrefix": "SOURCE_SQL_STREAM",
                    "KinesisStreamsInputDescription": {"ResourceARN": "arn:aws:kinesis:us-east-1:1:stream/ticks"},
                    "InputStartingPositionConfiguration": {"InputStartingPosition": "NOW"},
                    "InputSchema": {
                        "RecordFormat": {"RecordFormatType": "CSV", "MappingParameters": {"CSVMappingParameters": {
                            "RecordRowDelimiter": "\n", "RecordColumnDelimiter": "|"}}},
                        "RecordEncoding": "UTF-8",
                        "RecordColumns": [{"Name": "column1", "SqlType": "VARCHAR(16)"}],
                    },
                }
            ],
            "OutputDescriptions": [
                {
                    "Name": "DESTINATION_SQL_STREAM",
                    "KinesisFirehoseOutputDescription": {
                        "ResourceARN": "arn:aws:firehose:us-east-1:1:deliverystream/f"},
                }
            ],
        }
    }  # fmt: skip
    path = tmp_path / "app.json"
    path.write_text(json.dumps(description))
    application = load_description(path, path.read_text())
    assert (application.name, application.input_stream) == ("ticker-app", "ticks")
    assert application.schema is not None and application.schema.column_delimiter == "|"
    assert application.outputs["DESTINATION_SQL_STREAM"].kind == "firehose"
    assert application.start == "latest"  # KDA's NOW
    sql = "\n".join(translate(application).statements())
    assert "SPLIT_INDEX(`line`, '|', 0)" in sql
    description["ApplicationDetail"]["InputDescriptions"][0]["InputSchema"]["RecordFormat"]["RecordFormatType"] = "XML"
    path.write_text(json.dumps(description))
    with pytest.raises(MigrateError, match=r"InputDescriptions\[0\]\.InputSchema\.RecordFormat\.RecordFormatType"):
        load_description(path, path.read_text())
    path.write_text(json.dumps({"Application": {}}))
    with pytest.raises(MigrateError, match="describe-application"):
        load_description(path, path.read_text())


def test_a_schema_is_inferred_from_samples_as_kdas_discovery_did(tmp_path):
    sample = tmp_path / "sample.jsonl"
    rows = [
        {"ticker": "AMZN", "price": 10.5, "qty": 3, "at": "2026-12-01 10:00:00.000", "who": {"id": "u1"}, "tags": []},
        {"ticker": "MSFT", "price": 11, "qty": 4, "at": "2026-12-01T10:00:01Z", "who": {"id": "u2"}, "tags": [1]},
    ]
    sample.write_text("\n".join(json.dumps(r) for r in rows))
    notes: list[str] = []
    schema = infer_schema(sample, notes)
    assert {c.name: (c.sql_type, c.mapping) for c in schema.columns} == {
        "TICKER": ("VARCHAR(8)", "$.ticker"),
        "PRICE": ("DOUBLE", "$.price"),
        "QTY": ("INTEGER", "$.qty"),
        "AT": ("TIMESTAMP", "$.at"),
        "WHO_ID": ("VARCHAR(8)", "$.who.id"),
    }
    assert any("inferred from 2 sample records" in n for n in notes) and any("$.tags" in n for n in notes)


RCF_PROGRAM = """CREATE OR REPLACE STREAM "TEMP_STREAM" ("TICKER" VARCHAR(4), "PRICE" REAL, "ANOMALY_SCORE" DOUBLE);
CREATE OR REPLACE STREAM "DESTINATION_SQL_STREAM" ("TICKER" VARCHAR(4), "PRICE" REAL, "ANOMALY_SCORE" DOUBLE);
CREATE OR REPLACE PUMP "STREAM_PUMP" AS INSERT INTO "TEMP_STREAM"
SELECT STREAM "TICKER", "PRICE", ANOMALY_SCORE FROM
  TABLE(RANDOM_CUT_FOREST(CURSOR(SELECT STREAM "TICKER", "PRICE" FROM "SOURCE_SQL_STREAM_001"), 50, 64, 1000, 1));
CREATE OR REPLACE PUMP "OUTPUT_PUMP" AS INSERT INTO "DESTINATION_SQL_STREAM"
SELECT STREAM * FROM "TEMP_STREAM" ORDER BY FLOOR("TEMP_STREAM".ROWTIME TO SECOND), ANOMALY_SCORE DESC;
"""


def test_random_cut_forest_becomes_the_function_over_the_cursor_in_rowtime_order():
    translation = translate(app(RCF_PROGRAM))
    sql = "\n".join(translation.statements())
    assert translation.functions["RANDOM_CUT_FOREST"] == "io.clickflow.udf.RandomCutForestScore"
    assert "CREATE TEMPORARY FUNCTION RANDOM_CUT_FOREST AS 'io.clickflow.udf.RandomCutForestScore'" in sql
    # the cursor, sorted by ROWTIME as a KDA stream is, then the function with KDA's parameters by name
    assert ") ORDER BY `ROWTIME`" in sql
    assert (
        "RANDOM_CUT_FOREST(input => TABLE `TEMP_STREAM__STREAM_PUMP__cursor1`, numberOfTrees => 50, "
        "subSampleSize => 64, timeDecay => 1000, shingleSize => 1)"
    ) in sql
    # the next pump reads the first one's stream, ANOMALY_SCORE a column of it
    assert "ORDER BY `window_time`, `TEMP_STREAM`.`ANOMALY_SCORE` DESC" in sql
    defaults = "\n".join(translate(app(RCF_PROGRAM.replace(", 50, 64, 1000, 1)", ")"))).statements())
    assert "RANDOM_CUT_FOREST(input => TABLE `TEMP_STREAM__STREAM_PUMP__cursor1`)" in defaults  # KDA's defaults


def test_the_explanation_hotspots_and_log_parsers_translate():
    code = """CREATE OR REPLACE STREAM E (TICKER VARCHAR(4), ANOMALY_SCORE DOUBLE, ANOMALY_EXPLANATION VARCHAR(512));
CREATE OR REPLACE PUMP P1 AS INSERT INTO E
SELECT STREAM TICKER, ANOMALY_SCORE, ANOMALY_EXPLANATION FROM TABLE(RANDOM_CUT_FOREST_WITH_EXPLANATION(
  CURSOR(SELECT STREAM TICKER, PRICE FROM SOURCE_SQL_STREAM_001), 100, 256, 100000, 1, true));
CREATE OR REPLACE STREAM H (PRICE REAL, HOTSPOTS_RESULT VARCHAR(10000));
CREATE OR REPLACE PUMP P2 AS INSERT INTO H
SELECT STREAM PRICE, HOTSPOTS_RESULT FROM TABLE(HOTSPOTS(CURSOR(SELECT STREAM PRICE FROM SOURCE_SQL_STREAM_001),
  1000, 0.2, 17));
CREATE OR REPLACE STREAM L (HOST VARCHAR(64), FIELD2 VARCHAR(16));
CREATE OR REPLACE PUMP P3 AS INSERT INTO L
SELECT STREAM t.r.COLUMN1, t.r.COLUMN2 FROM (
  SELECT STREAM W3C_LOG_PARSE(TICKER, 'COMMON') AS r FROM SOURCE_SQL_STREAM_001) AS t;
CREATE OR REPLACE STREAM V (A VARCHAR(16));
CREATE OR REPLACE PUMP P4 AS INSERT INTO V
SELECT STREAM VARIABLE_COLUMN_LOG_PARSE(TICKER, 'A, B', ',').A FROM SOURCE_SQL_STREAM_001;
"""
    translation = translate(app(code.replace(".A FROM", " FROM")))
    sql = "\n".join(translation.statements())
    assert "withDirectionality => TRUE" in sql and "timeDecay => 100000" in sql
    assert "HOTSPOTS(input => TABLE `H__P2__cursor" in sql
    assert "windowSize => 1000, scanRadius => CAST(0.2 AS DOUBLE), minimumNumberOfPointsInAHotspot => 17" in sql
    assert "W3C_LOG_PARSE(`SOURCE_SQL_STREAM_001`.`TICKER`, 'COMMON') AS `R`" in sql
    assert "CAST(`T`.`R`.`COLUMN1` AS STRING) AS `HOST`" in sql  # t.r.COLUMN1: a field of the parsed row
    assert "VARIABLE_COLUMN_LOG_PARSE(`SOURCE_SQL_STREAM_001`.`TICKER`, 'A, B', ',')" in sql
    assert set(translation.functions) >= {
        "RANDOM_CUT_FOREST_WITH_EXPLANATION", "HOTSPOTS", "W3C_LOG_PARSE", "VARIABLE_COLUMN_LOG_PARSE"
    }  # fmt: skip


def test_statements_split_outside_quotes_and_comments():
    text = "CREATE VIEW a AS SELECT ';' AS x; -- a comment; still\nINSERT INTO `b;c` SELECT 1;\n"
    assert jobdir.split_statements(text) == ["CREATE VIEW a AS SELECT ';' AS x", "INSERT INTO `b;c` SELECT 1"]


def test_a_refusal_is_one_line_and_nothing_is_written(tmp_path):
    program = tmp_path / "app.sql"
    program.write_text(
        "CREATE OR REPLACE STREAM D (n BIGINT);\nCREATE OR REPLACE PUMP P AS INSERT INTO D\n"
        "SELECT STREAM HOTSPOTS(x) FROM SOURCE_SQL_STREAM_001;"
    )
    out = tmp_path / "job"
    result = subprocess.run(
        [sys.executable, "-m", "clickflow", "migrate", str(program), "--out", str(out)],
        capture_output=True, text=True, cwd=PROJECT_ROOT, timeout=60,
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0 and "Traceback" not in result.stderr
    assert f"{program}:line 3, column 15: HOTSPOTS is a table function: FROM TABLE(HOTSPOTS(CURSOR(...), ...))" in (
        result.stderr
    )
    assert not out.exists() and list(tmp_path.iterdir()) == [program]


def test_the_job_directory_is_written_whole_and_read_back(tmp_path):
    application = app(LAB, schema=None)
    translation = translate(application)
    out = tmp_path / "job"
    jobdir.write(out, application, translation, ["# report"], overwrite=False)
    job = jobdir.load(out)
    assert job.input_stream == "in" and job.outputs["error_stream"] == "t-errors"
    assert len(job.inserts()) == 2 and all("INSERT" not in s.split()[0] for s in job.ddl())
    with pytest.raises(MigrateError, match="exists and is not empty"):
        jobdir.write(out, application, translation, [], overwrite=False)
    jobdir.write(out, application, translation, ["# again"], overwrite=True)
    assert (out / "report.md").read_text() == "# again\n" and [p.name for p in tmp_path.iterdir()] == ["job"]


def test_a_migrated_jobs_outputs_are_written_one_call_at_a_time_in_the_streams_order(tmp_path):
    from connectors.config import load_config
    from jobs.migrated import render

    application = app(LAB, schema=None)
    out = tmp_path / "job"
    jobdir.write(out, application, translate(application), [], overwrite=False)
    job = jobdir.load(out)
    rendered = render(job, load_config("local"), {})
    sinks = [s for s in rendered if "'sink.flush-buffer.timeout'" in s]  # the Kinesis sinks' tables
    assert len(sinks) == len(job.outputs) >= 2  # the output and the error stream
    assert all("'sink.requests.max-inflight' = '1'" in s for s in sinks)
