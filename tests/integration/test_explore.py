"""`clickflow explore` over a replayed stream on the local stack: `-e` returns the same rows as
`analyze` over the same file, update mode ends in the right table from a real changelog and in the
query's ORDER BY; the interactive shell, driven through a real terminal (tmux), never shows a
partial result before its prompt; the shipped notebook runs top to bottom in a real Jupyter kernel,
each cell's result equal to an independent computation over the same records."""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
import time
import uuid
from collections import Counter

import pytest

from connectors import aws
from connectors.config import load_config
from jobs.analytics import ANALYTICS
from jobs.analyze import analyze, read_output
from producer.generate import GenerateOptions, write_generated
from tests.conftest import PROJECT_ROOT, cli_command, run_cli
from tests.kinesis_helpers import new_stream

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def replayed(local_stack, tmp_path_factory):
    """A generated file replayed into a stream of its own; yields (config, overrides, file)."""
    config, overrides = local_stack
    stream = new_stream(aws.client(config, "kinesis"), "explore", 2)
    overrides = [*overrides, f"streams.events.name={stream}", f"streams.unique_visitors.name=uv-{uuid.uuid4().hex[:6]}"]
    sample = tmp_path_factory.mktemp("explore") / "sample.csv"
    write_generated(GenerateOptions(events=4000, seed=5, rate=2.0, bots=1), sample)
    run_cli("replay", str(sample), "--quiet", overrides=overrides)
    return load_config("local", overrides=overrides), overrides, sample


def canonical(rows):
    return sorted(json.dumps(row, sort_keys=True) for row in rows)


def test_execute_returns_the_same_rows_as_analyze(replayed, tmp_path):
    config, overrides, sample = replayed
    result = run_cli(
        "explore",
        "-e",
        "SELECT * FROM unique_visitors",
        "--mode",
        "append",
        "--bounded",
        "--format",
        "json",
        overrides=overrides,
        timeout=300,
    )
    explored = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    analyze(config, str(sample), tmp_path / "expected", ["unique_visitors"])
    expected = read_output(tmp_path / "expected", "unique_visitors")
    assert len(expected) >= 30  # 4,000 events at 2/s: over half an hour of one-minute windows
    assert canonical(explored) == canonical(expected)


def test_update_mode_follows_a_real_changelog(replayed):
    """A running count per event type arrives as +I, then -U/+U pairs; the table ends at the counts
    of the file (computed here with csv), and no row is left over from a retraction."""
    _, overrides, sample = replayed
    result = run_cli(
        "explore",
        "-e",
        "SELECT event_type, COUNT(*) AS n FROM clicks GROUP BY event_type",
        "--bounded",
        "--format",
        "json",
        overrides=overrides,
        timeout=300,
    )
    rows = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    with sample.open(newline="") as handle:
        counts = Counter(row["event_type"] for row in csv.DictReader(handle))
    assert {r["event_type"]: r["n"] for r in rows} == dict(counts)
    assert len(rows) == len(counts)
    appended = run_cli(
        "explore",
        "-e",
        "SELECT event_type, COUNT(*) AS n FROM clicks GROUP BY event_type",
        "--mode",
        "append",
        "--bounded",
        overrides=overrides,
        timeout=300,
        check=False,
    )
    assert appended.returncode == 1 and "use --mode update" in appended.stderr


BRANDS = "SELECT brand, COUNT(*) AS n FROM clicks WHERE brand IS NOT NULL GROUP BY brand ORDER BY n DESC LIMIT 5"


def top_brands(sample) -> list[tuple[str, int]]:
    """The five brands seen most in the file, most first (ties by name), counted with csv."""
    with sample.open(newline="") as handle:
        counts = Counter(row["brand"] for row in csv.DictReader(handle) if row["brand"])
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:5]


def same_top(shown: list[tuple[str, int]], expected: list[tuple[str, int]], sample) -> None:
    """The counts in the query's order; each brand's count right (a tie at the fifth place may name
    another brand of the same count)."""
    assert [n for _, n in shown] == [n for _, n in expected], shown
    with sample.open(newline="") as handle:
        counts = Counter(row["brand"] for row in csv.DictReader(handle) if row["brand"])
    assert all(counts[brand] == n for brand, n in shown), shown


def table_rows(text: str) -> list[list[str]]:
    """The body rows of the last text table in ``text`` (between its second and third rule)."""
    lines = text.splitlines()
    rules = [i for i, line in enumerate(lines) if re.fullmatch(r"\+[-+]+\+", line.strip())]
    assert len(rules) >= 3, text
    first, second, third = rules[-3:]
    return [[c.strip() for c in line.strip().strip("|").split("|")] for line in lines[second + 1 : third]]


def test_execute_shows_an_order_by_limit_in_the_query_order(replayed):
    _, overrides, sample = replayed
    result = run_cli("explore", "-e", BRANDS, "--bounded", overrides=overrides, timeout=300)
    shown = [(brand, int(n)) for brand, n in table_rows(result.stdout)]
    same_top(shown, top_brands(sample), sample)
    assert result.stdout.rstrip().endswith("5 rows"), result.stdout  # in the query's order: no note


@pytest.fixture(scope="module")
def written(replayed, tmp_path_factory):
    """The replayed stream through `clickflow run --bounded`, to output streams of this module's own.
    Yields (config, overrides)."""
    _, overrides, _ = replayed
    suffix = uuid.uuid4().hex[:6]
    state = tmp_path_factory.mktemp("explore-job")
    overrides = [
        *overrides,
        *(f"streams.{name}.name={name.replace('_', '-')}-{suffix}" for name in (*ANALYTICS, "dead_letters")),
        f"job.archive={state / 'archive'}",
        f"job.checkpoint_dir={state / 'checkpoints'}",
    ]
    run_cli("stack", "create", overrides=overrides)
    run_cli("run", "--bounded", overrides=overrides, timeout=300)
    return load_config("local", overrides=overrides), overrides


def test_execute_over_an_output_stream_reads_what_the_job_wrote(replayed, written, tmp_path):
    config, overrides = written
    _, _, sample = replayed
    result = run_cli(
        "explore", "-e", "SELECT * FROM unique_visitors_stream", "--mode", "append", "--bounded", "--format", "json",
        overrides=overrides, timeout=300,
    )  # fmt: skip
    explored = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    analyze(config, str(sample), tmp_path / "expected", ["unique_visitors"])
    assert canonical(explored) == canonical(read_output(tmp_path / "expected", "unique_visitors"))


def test_the_shell_in_a_real_terminal_shows_only_final_results_before_its_prompt(replayed, tmp_path):
    """The interactive shell under tmux: the Top-N query and an unordered GROUP BY. The pane is read
    while the queries run; whenever a prompt stands below a table, that table is the final one."""
    if shutil.which("tmux") is None:
        pytest.skip("tmux is not installed (apt-get install tmux): the shell is driven through a real terminal")
    _, overrides, sample = replayed
    session = f"explore-{uuid.uuid4().hex[:6]}"
    command = " ".join(f"'{word}'" for word in cli_command("explore", "--bounded", overrides=overrides))
    socket = str(tmp_path / "tmux.sock")
    tmux = ["tmux", "-S", socket]
    env = {**os.environ, "HOME": str(tmp_path)}  # no user tmux configuration
    subprocess.run(
        [*tmux, "new-session", "-d", "-s", session, "-x", "160", "-y", "50", f"cd {PROJECT_ROOT} && {command}"],
        check=True, env=env,
    )  # fmt: skip

    def pane() -> str:
        return subprocess.run(
            [*tmux, "capture-pane", "-p", "-J", "-S", "-", "-t", session], capture_output=True, text=True, env=env
        ).stdout

    def type_line(text: str) -> None:
        # an argument ending in ';' ends a tmux command: that ';' is sent as tmux's literal one, \;
        body, semicolon = (text[:-1], True) if text.endswith(";") else (text, False)
        subprocess.run([*tmux, "send-keys", "-t", session, "-l", body], check=True, env=env)
        subprocess.run(
            [*tmux, "send-keys", "-t", session, *(["\\;"] if semicolon else []), "Enter"], check=True, env=env
        )

    def until(condition, timeout: float, what: str) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = pane()
            check_prompts(text)
            if condition(text):
                return text
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting for {what}:\n{pane()}")

    expected_brands = top_brands(sample)
    with sample.open(newline="") as handle:
        event_types = Counter(row["event_type"] for row in csv.DictReader(handle))

    def check_prompts(text: str) -> None:
        # between two prompts: a query's answer. A table there must be the final one: no running
        # line left, and it ends at "N rows" (or says what stopped the query)
        for block in re.split(r"^flink>.*$", text, flags=re.M)[1:-1]:
            lines = [line for line in block.splitlines() if line.strip()]
            if any(line.startswith("+-") for line in lines):
                assert not any(line.startswith("running:") for line in lines), f"a partial table:\n{block}"
                assert re.match(r"\d+ rows?( \(.*\))?$|\((stopped|cancelled)", lines[-1]), f"not final:\n{block}"

    try:
        until(lambda t: re.search(r"^flink>", t, flags=re.M), 120, "the shell's prompt")
        type_line(BRANDS + ";")
        text = until(lambda t: len(re.findall(r"^flink>", t, flags=re.M)) >= 2, 180, "the first query's answer")
        brands_block = re.split(r"^flink>.*$", text, flags=re.M)[1]
        same_top([(b, int(n)) for b, n in table_rows(brands_block)], expected_brands, sample)
        grouped = "SELECT event_type, COUNT(*) AS n FROM clicks GROUP BY event_type;"
        type_line(grouped)
        text = until(lambda t: len(re.findall(r"^flink>", t, flags=re.M)) >= 3, 180, "the second query's answer")
        block = re.split(r"^flink>.*$", text, flags=re.M)[2]
        assert {k: int(n) for k, n in table_rows(block)} == dict(event_types)
        assert "no ORDER BY: in no particular order" in block
        # a view of the user's own, created at once (the shell's views are created as queries need them)
        type_line("CREATE TEMPORARY VIEW carts AS SELECT * FROM clicks WHERE event_type = 'cart';")
        until(lambda t: len(re.findall(r"^flink>", t, flags=re.M)) >= 4, 120, "the view's answer")
        type_line("SELECT COUNT(*) AS n FROM carts;")
        text = until(lambda t: len(re.findall(r"^flink>", t, flags=re.M)) >= 5, 180, "the count over the view")
        assert table_rows(re.split(r"^flink>.*$", text, flags=re.M)[4]) == [[str(event_types["cart"])]]
        type_line("%quit")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and subprocess.run([*tmux, "has-session", "-t", session], env=env,
                                                             capture_output=True).returncode == 0:  # fmt: skip
            time.sleep(0.2)
    finally:
        subprocess.run([*tmux, "kill-server"], env=env, capture_output=True)


def test_the_shipped_notebook_runs_top_to_bottom_in_a_jupyter_kernel(replayed, written, tmp_path):
    """notebooks/explore.ipynb executed by nbclient in a real ipykernel, against this module's
    streams; each paragraph's result (kept by --output) equal to an independent computation, and no
    cell left showing a running line."""
    import nbformat
    from nbclient import NotebookClient

    config, overrides = written
    _, _, sample = replayed
    notebook = nbformat.read(PROJECT_ROOT / "notebooks" / "explore.ipynb", as_version=4)
    names = ["event_mix", "top_brands", "visitors", "categories", "anomalies", "written"]
    dump = (
        "import json, datetime, decimal\n"
        "from clickflow.interactive.explore import json_value\n"
        "def plain(v):\n"
        "    v = v.item() if hasattr(v, 'item') else v\n"
        "    return v.to_pydatetime() if hasattr(v, 'to_pydatetime') else v\n"
        "def rows(frame):\n"
        "    return [{c: json_value(plain(v)) for c, v in r.items()} for r in frame.to_dict('records')]\n"
        f"print(json.dumps({{n: rows(globals()[n]) for n in {names!r}}}))"
    )
    notebook.cells.append(nbformat.v4.new_code_cell(dump))
    options = " ".join(["--bounded", "--timeout", "240", *(f"--set {o}" for o in overrides)])
    client = NotebookClient(
        notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(PROJECT_ROOT)}}
    )
    client.execute(env={**os.environ, "CLICKFLOW_NOTEBOOK": options})  # the kernel's environment
    for cell in notebook.cells:
        if cell.cell_type == "code":
            errors = [o for o in cell.outputs if o.output_type == "error"]
            assert not errors, (cell.source, errors)
            shown = " ".join(str(o.get("data", {}).get("text/plain", "")) for o in cell.outputs)
            assert "running:" not in shown and "starting ..." not in shown, (cell.source, shown)
    results = json.loads(notebook.cells[-1].outputs[-1]["text"])

    with sample.open(newline="") as handle:
        event_types = Counter(row["event_type"] for row in csv.DictReader(handle))
    mix = [(r["event_type"], r["events"]) for r in results["event_mix"]]
    assert dict(mix) == dict(event_types) and [n for _, n in mix] == sorted(event_types.values(), reverse=True)
    brands = [(r["brand"], r["n"]) for r in results["top_brands"]]
    same_top(brands, top_brands(sample), sample)
    brands_cell = next(c for c in notebook.cells if "--output top_brands" in c.source)
    text = " ".join(str(o.get("data", {}).get("text/plain", "")) for o in brands_cell.outputs)
    positions = [text.index(brand) for brand, _ in brands]
    assert positions == sorted(positions), text  # shown in the query's order

    expected = tmp_path / "expected"
    analyze(config, str(sample), expected, ["unique_visitors", "top_categories", "anomalies"])
    assert canonical(results["visitors"]) == canonical(read_output(expected, "unique_visitors"))
    assert canonical(results["categories"]) == canonical(read_output(expected, "top_categories"))
    assert canonical(results["anomalies"]) == canonical(read_output(expected, "anomalies"))
    assert canonical(results["written"]) == canonical(read_output(expected, "unique_visitors"))
    assert results["anomalies"], "the sample's bot should be flagged"
