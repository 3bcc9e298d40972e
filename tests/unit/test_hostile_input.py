"""Hostile input and interruptions, without a server: each finding of the careful-new-user review as a
regression test, the table of bad inputs driving every command, the replay's progress and resume,
and a fuzz test of the row reader and parser."""

from __future__ import annotations

import gzip
import json
import math
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clickflow.cli import continuation, main
from connectors.config import load_config
from producer import replay as replay_module
from producer.resume import Checkpoint, Progress, ResumeError, load
from producer.rows import RowError, RowParser, SchemaError, TimeBounds, read_rows
from producer.source import READ_ERRORS, SourceError, guarded, open_source, read_failure
from tests.fixtures import HEADER, row, write_csv
from tests.unit.test_replay import MemoryKinesis, run, sample


def gz_sample(tmp_path: Path, rows: int, cut: int | None = None) -> Path:
    """A .csv.gz of ``rows`` rows; with ``cut``, only its first ``cut`` bytes (a torn download)."""
    text = HEADER + "\n" + "".join(row(second=i % 60, minute=i // 60, product=i) + "\n" for i in range(rows))
    data = gzip.compress(text.encode())
    path = tmp_path / "torn.csv.gz"
    path.write_bytes(data if cut is None else data[:cut])
    return path


# --------------------------------------------------------------------------- broken input files


def test_a_truncated_gzip_ends_the_replay_with_a_summary_and_the_rows_before_it_sent(tmp_path):
    path = gz_sample(tmp_path, 3000)
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) * 2 // 3])
    memory = MemoryKinesis()
    summary = run(tmp_path, path, memory)
    assert summary.input_error and "ends early (a truncated .gz file)" in summary.input_error
    assert "torn.csv.gz" in summary.input_error and "after line" in summary.input_error
    assert 0 < summary.records_sent < 3000 and summary.stopped_early and not summary.complete
    lines = sorted(line for _, _, line in memory.stored)
    assert lines == list(range(2, lines[-1] + 1))  # everything read before the tear was sent
    assert summary.resume_line == lines[-1]


def test_a_plain_file_named_gz_is_one_clear_error(tmp_path):
    path = write_csv(tmp_path / "plain.csv.gz", [row(1)])
    with pytest.raises(SourceError, match=r"plain\.csv\.gz: not gzip data, though the name ends in \.gz, at its start"):
        run(tmp_path, path, MemoryKinesis())
    from jobs.analyze import AnalyzeSummary, prepare_events
    from producer.rejects import RejectsFile

    config = load_config("local")
    with pytest.raises(SourceError, match="not gzip data"):
        prepare_events(
            config, str(path), tmp_path / "e.jsonl", RejectsFile(tmp_path / "r", ""), AnalyzeSummary("", tmp_path)
        )
    torn = gz_sample(tmp_path, 3000, cut=4000)
    with pytest.raises(SourceError, match=r"torn\.csv\.gz: the compressed data ends early.*after line"):
        prepare_events(
            config, str(torn), tmp_path / "e.jsonl", RejectsFile(tmp_path / "r", ""), AnalyzeSummary("", tmp_path)
        )


def test_analyze_counts_a_row_the_csv_reader_cannot_split_as_a_reject(tmp_path):
    from jobs.analyze import AnalyzeSummary, prepare_events
    from producer.rejects import RejectsFile

    huge = "x" * 200_000  # over the csv module's field size limit
    path = write_csv(tmp_path / "huge.csv", [row(1), f'"{huge}"', row(2)])
    summary = AnalyzeSummary(str(path), tmp_path)
    rejects = RejectsFile(tmp_path / "rejects.jsonl", str(path))
    prepare_events(load_config("local"), str(path), tmp_path / "events.jsonl", rejects, summary)
    rejects.close()
    assert (summary.events, summary.rows_rejected) == (2, 1)
    assert "field larger than field limit" in json.loads((tmp_path / "rejects.jsonl").read_text())["reason"]


def test_analyze_output_naming_a_file_is_a_clear_error(tmp_path):
    from jobs.analyze import AnalyzeError, analyze

    taken = tmp_path / "results.txt"
    taken.write_text("mine")
    with pytest.raises(AnalyzeError, match=r"--output .*results\.txt: this is a file; give a directory"):
        analyze(load_config("local"), str(sample(tmp_path)), taken)
    with pytest.raises(AnalyzeError, match=r"results\.txt is a file, so no directory can be made there"):
        analyze(load_config("local"), str(sample(tmp_path)), taken / "sub")
    assert taken.read_text() == "mine"


# --------------------------------------------------------------------------- event times


def test_the_producer_refuses_implausible_event_times():
    bounds = TimeBounds.ahead_of_now(86400)
    parser = RowParser(bounds=bounds)
    now = datetime.now(UTC)
    for text, message in (
        ("9999-12-31 23:59:59 UTC", "more than producer.max_event_time_ahead in the future"),
        ("1970-01-01 00:00:00 UTC", "not after 1970-01-01 00:00:00 UTC"),
        ((now + timedelta(days=2)).strftime("%Y-%m-%d %H:%M:%S UTC"), "in the future"),
    ):
        fields = row().split(",")
        fields[0] = text
        with pytest.raises(RowError, match=message) as found:
            parser.parse(2, fields)
        assert found.value.field == "event_time"
    fields = row().split(",")
    fields[0] = (now + timedelta(hours=1)).strftime("%Y-%m-%d %H:%M:%S UTC")  # a clock a little ahead: fine
    assert parser.parse(2, fields).event_time > now
    fields[0] = "1970-01-01 00:00:01 UTC"
    assert parser.parse(2, fields).event_time.year == 1970


def test_the_replay_rejects_a_year_9999_row_and_sends_the_rest(tmp_path):
    bad = row(3).replace("2019-10-01", "9999-10-01")
    memory = MemoryKinesis()
    summary = run(tmp_path, write_csv(tmp_path / "y.csv", [row(1), bad, row(5)]), memory)
    assert (summary.records_sent, summary.rows_rejected) == (2, 1)
    reject = json.loads((tmp_path / "rejects.jsonl").read_text())
    assert reject["field"] == "event_time" and "implausible event time" in reject["reason"]


def test_an_id_beyond_bigint_is_a_rejected_row_not_a_failed_job():
    fields = row().split(",")
    fields[2] = "9223372036854775808"
    with pytest.raises(RowError, match="too large for a 64-bit id") as found:
        RowParser().parse(2, fields)
    assert found.value.field == "product_id"
    fields[2] = "9223372036854775807"
    assert RowParser().parse(2, fields).record["product_id"] == 9223372036854775807


# --------------------------------------------------------------------------- options as values


def run_main(capsys, *argv: str) -> tuple[int, str]:
    try:
        code = main(list(argv))
    except SystemExit as exc:  # argparse: usage errors
        code = exc.code
    captured = capsys.readouterr()
    return code, captured.err + captured.out


CLOSED_PORT = "http://127.0.0.1:9"  # the discard port: nothing listens there in a test
OFFLINE = ["--set", f"aws.endpoints.kinesis={CLOSED_PORT}", "--set", f"aws.endpoints.default={CLOSED_PORT}"]

BAD_COMMANDS = [
    # (argv, exit code, what the message must say)
    (["replay", "s.csv", "--rate", "nan"], 2, r"--rate: expected a finite number above 0, got 'nan'"),
    (["replay", "s.csv", "--rate", "inf"], 2, r"--rate: expected a finite number above 0, got 'inf'"),
    (["replay", "s.csv", "--speedup", "0"], 2, r"--speedup: expected a finite number above 0"),
    (["replay", "s.csv", "--rate", "5", "--speedup", "2"], 2, r"not allowed with argument --rate"),
    (["replay", "s.csv", "--limit", "0"], 2, r"--limit: expected 1 or more, got 0"),
    (["replay", "s.csv", "--limit", "-1"], 2, r"--limit: expected 1 or more, got -1"),
    (["replay", "s.csv", "--resume-from", "-5"], 2, r"--resume-from: expected 0 or more, got -5"),
    (["replay", "s.csv", "--resume", "--resume-from", "3"], 2, r"not allowed with argument"),
    (["replay", "s.csv", "--set", "producer.in_flight=0"], 1, r"producer\.in_flight: must be 1\.\.64"),
    (["generate", "o.csv", "--events", "0"], 2, r"--events: expected 1 or more"),
    (["generate", "o.csv", "--rate", "nan"], 2, r"--rate: expected a finite number above 0"),
    (["generate", "o.csv", "--bots", "-1"], 2, r"--bots: expected 0 or more"),
    (["tail", "--limit", "0"], 2, r"--limit: expected 1 or more"),
    (["tail", "--idle-exit", "nan"], 2, r"--idle-exit: expected a finite number above 0"),
    (["put", "--json", '{"category_id": 1, "price": NaN}'], 1, r"NaN is not a JSON value"),
    (["put", "--json", '{"category_id": 1, "price": Infinity}'], 1, r"Infinity is not a JSON value"),
    (["put", "--json", "[1, 2]"], 1, r"--json must be a JSON object"),
    (["put", "--json", "{oops"], 1, r"--json is not valid JSON"),
    (["analyze", "no-such.csv", "--output", "out/x"], 1, r"no-such\.csv: no such file"),
    (["analyze", "s.csv", "--output", "o", "--only", "nope"], 1, r"no analytic named nope"),
    (["explore", "-e", "SELECT 1", "--max-rows", "0"], 2, r"--max-rows: expected 1 or more"),
    (["explore", "-e", "SELECT 1", "--timeout", "inf"], 2, r"--timeout: expected a finite number above 0"),
    (["deploy", "--parallelism", "0"], 2, r"--parallelism: expected 1 or more"),
    (
        ["package", "--connector", "official", "--connector-jar", "nowhere.jar"],
        1,
        r"--connector-jar .*nowhere\.jar: no such file",
    ),
    (["alerts", "run", "--idle-exit", "-1"], 2, r"--idle-exit: expected a finite number above 0"),
    (["stack", "sideways"], 2, r"invalid choice: 'sideways'"),
    (["run", "--set", "job.rest_port=99999"], 1, r"job\.rest_port: expected 0\.\.65535"),
    (["replay", "s.csv", "--set", "producer.max_event_time_ahead=soon"], 1, r"bad duration 'soon'"),
    # an unreachable service: one line naming the endpoint, no traceback
    (["tail", "--limit", "1", *OFFLINE], 1, r"cannot connect to http://127\.0\.0\.1:9"),
    (["put", "--json", '{"category_id": 1}', *OFFLINE], 1, r"cannot connect to http://127\.0\.0\.1:9"),
]


@pytest.mark.parametrize(("argv", "code", "message"), BAD_COMMANDS, ids=[" ".join(a[:3]) for a, _, _ in BAD_COMMANDS])
def test_bad_input_is_one_line_naming_what_is_wrong(capsys, tmp_path, monkeypatch, argv, code, message):
    import re

    monkeypatch.chdir(tmp_path)
    write_csv(tmp_path / "s.csv", [row(1)])
    got, output = run_main(capsys, *argv)
    assert got == code, output
    assert re.search(message, output), output
    assert "Traceback" not in output


def test_a_bug_keeps_its_traceback_instead_of_becoming_a_one_line_error(monkeypatch):
    """Only errors a user can mend are one line; a plain ValueError from a command is a bug and propagates."""
    from clickflow.commands import jobs

    def broken(config, options, say, resume=None):
        raise ValueError("a bug")

    monkeypatch.setattr("jobs.stream.run", broken)
    monkeypatch.setattr(jobs, "load", lambda args, *rest: None)
    with pytest.raises(ValueError, match="a bug"):
        main(["run"])


def test_the_help_documents_the_exit_codes(capsys):
    for argv in (["--help"], ["replay", "--help"], ["analyze", "--help"]):
        code, output = run_main(capsys, *argv)
        assert code == 0
        assert "3    finished, but some input rows were rejected" in output and "130  interrupted" in output


def test_explore_json_never_prints_nan():
    from clickflow.interactive.explore import json_value

    assert (
        json.dumps([json_value(math.nan), json_value(math.inf), json_value(1.5)], allow_nan=False)
        == "[null, null, 1.5]"
    )


def test_put_refuses_non_finite_numbers():
    from producer.records import put_record

    with pytest.raises(ValueError, match="NaN or Infinity, which JSON does not allow"):
        put_record(None, "s", {"category_id": 1, "price": float("nan")})


# --------------------------------------------------------------------------- progress and resume


def test_progress_keeps_a_prefix_and_the_rows_done_beyond_it(tmp_path):
    progress = Progress(tmp_path / "p.json", Checkpoint("f.csv", "s"))
    for line in range(2, 12):
        progress.issue(line)
    progress.acknowledge([7, 8, 9])  # a later lane finished first
    assert (progress.prefix, progress.beyond, progress.pending) == (1, [7, 8, 9], 7)  # line 1: the header
    progress.acknowledge([2, 3, 4])
    progress.settle(12)  # a rejected row
    assert (progress.prefix, progress.beyond) == (4, [7, 8, 9, 12])
    progress.acknowledge([5, 6, 10, 11])
    assert (progress.prefix, progress.beyond, progress.pending) == (12, [], 0)
    saved = load(tmp_path / "p.json", "f.csv", "s")
    assert (saved.prefix, saved.beyond, saved.acknowledged) == (12, (), 10)
    with pytest.raises(ResumeError, match="is for f.csv into s, not this replay"):
        load(tmp_path / "p.json", "g.csv", "s")
    with pytest.raises(ResumeError, match="no progress file"):
        load(tmp_path / "none.json", "f.csv", "s")


def test_undelivered_records_are_sent_by_the_resume_and_nothing_else(tmp_path):
    path = sample(tmp_path, 60)

    class RefusesLine20(MemoryKinesis):
        def put_records(self, stream, entries):
            answer = super().put_records(stream, [e for e in entries if e.line != 20])
            records = iter(answer["Records"])
            results = [
                {"ErrorCode": "InternalFailure", "ErrorMessage": "x"} if e.line == 20 else next(records)
                for e in entries
            ]
            return {"FailedRecordCount": sum("ErrorCode" in r for r in results), "Records": results}

    first = RefusesLine20()
    summary = run(tmp_path, path, first)
    assert summary.records_undelivered == 1 and summary.stopped_early
    assert summary.resume_line == 19 and summary.done_beyond == 41  # lines 21..61
    assert continuation(["replay", str(path), "--set", "x=1", "--limit", "99"], summary, 99).endswith(
        "--set x=1 --resume --limit 99"
    )
    second = MemoryKinesis()
    resumed = run(tmp_path, path, second, resume=True)
    assert [line for _, _, line in second.stored] == [20]
    assert resumed.complete and resumed.acknowledged_total == 60


def test_stopped_at_once_mid_file_the_resume_leaves_no_gap(tmp_path, monkeypatch):
    path = sample(tmp_path, 400)
    real_guarded = replay_module.guarded

    def interrupted_at_line_150(rows, uri):  # a second Ctrl-C arrives while the file is being read
        for item in real_guarded(rows, uri):
            if item[0] == 150:
                raise KeyboardInterrupt
            yield item

    monkeypatch.setattr(replay_module, "guarded", interrupted_at_line_150)
    first = MemoryKinesis()
    summary = run(tmp_path, path, first)
    assert summary.abandoned and summary.stopped_early
    monkeypatch.setattr(replay_module, "guarded", real_guarded)
    second = MemoryKinesis()
    run(
        tmp_path,
        path,
        second,
        resume=summary.done_beyond > 0,
        resume_from=0 if summary.done_beyond else summary.resume_line,
    )
    lines = Counter(line for _, _, line in first.stored + second.stored)
    assert set(lines) == set(range(2, 402))  # no gap
    assert sum(lines.values()) - 400 <= summary.unknown  # duplicates only where the outcome was unknown


def test_the_continuation_keeps_every_option_and_counts_down_the_limit():
    class Stopped:
        done_beyond = 0
        resume_line = 120
        acknowledged_total = 100

    argv = [
        "replay",
        "my file.csv",
        "--profile",
        "local",
        "--set",
        "producer.in_flight=2",
        "--limit",
        "500",
        "--resume-from",
        "20",
        "--rate",
        "50",
        "--stream",
        "s1",
    ]
    assert continuation(argv, Stopped(), 500) == (
        "clickflow replay 'my file.csv' --profile local --set producer.in_flight=2 --rate 50 --stream s1 "
        "--resume-from 120 --limit 400"
    )


# --------------------------------------------------------------------------- fuzzing

ROW_ERRORS = (RowError, SchemaError, SourceError)


def _read_everything(data: bytes, tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    with open_source(str(path)) as opened:
        try:
            parser, rows = read_rows(opened.text, name, TimeBounds.ahead_of_now(86400))
        except READ_ERRORS as exc:  # as replay and analyze do
            raise read_failure(name, exc, 0) from None
        for line, fields, problem in guarded(rows, name):
            if problem:
                continue  # a row the CSV reader could not split: a counted reject
            try:
                parser.parse(line, fields)
            except RowError:
                pass


VALID = (HEADER + "\n" + "\n".join(row(i) for i in range(5)) + "\n").encode()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.one_of(
        st.binary(max_size=400),
        st.builds(
            lambda cut, flips: bytes(b ^ flips.get(i, 0) for i, b in enumerate(VALID[:cut])),
            st.integers(0, len(VALID)),
            st.dictionaries(st.integers(0, len(VALID) - 1), st.integers(1, 255), max_size=6),
        ),
    ),
    st.booleans(),
)
def test_fuzzed_csv_and_gzip_bytes_raise_only_the_documented_rejects(tmp_path, data, as_gzip):
    if as_gzip:
        packed = gzip.compress(VALID)
        data = packed[: len(data) % (len(packed) + 1)] if data else packed  # torn gzip streams too
        name = "f.csv.gz"
    else:
        name = "f.csv"
    try:
        _read_everything(data, tmp_path, name)
    except ROW_ERRORS:
        pass  # the documented ways a file is refused: its header, or it cannot be read
