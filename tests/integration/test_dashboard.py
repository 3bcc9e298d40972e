"""`clickflow dashboard` end to end in a real headless Chromium (Debian's, driven by Playwright): known
rows are put on the output streams of the local stack; the numbers the page shows must be those
rows; more rows must appear without a reload; a deleted stream must be shown as missing, and a
stream made anew must be read from its start."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
import uuid

import pytest

from connectors import aws
from connectors.local_stack.stack import free_port
from tests.browser import CHROMIUM, MISSING
from tests.browser import FLAGS as BROWSER_FLAGS
from tests.conftest import PROJECT_ROOT

pytestmark = pytest.mark.integration

ROLES = ("unique_visitors", "active_page_views", "top_categories", "cart_abandonment", "anomalies", "dead_letters")


def minute(n: int) -> str:
    return f"2019-10-01 00:{n:02d}:00"


def put(kinesis, stream: str, rows: list[dict]) -> None:
    answer = kinesis.put_records(
        StreamName=stream,
        Records=[{"Data": json.dumps(r).encode(), "PartitionKey": str(i)} for i, r in enumerate(rows)],
    )
    assert answer["FailedRecordCount"] == 0


def visitors(n: int, users: int) -> dict:
    return {
        "analytic": "unique_visitors",
        "window_start": minute(n),
        "window_end": minute(n + 1),
        "unique_users": users,
        "unique_sessions": users + 2,
        "events": users * 4,
    }


def anomaly(entity: str, n: int, score: float) -> dict:
    return {
        "analytic": "anomalies",
        "anomaly_type": "bot_burst",
        "entity": entity,
        "window_start": minute(n),
        "window_end": minute(n)[:-2] + "10",
        "observed": int(score * 10),
        "expected": 10.0,
        "score": score,
    }


@pytest.fixture
def dashboard(local_stack, tmp_path):
    """A dashboard process over streams of its own; yields (url, kinesis client, names by role)."""
    if not CHROMIUM:
        pytest.skip(MISSING)
    config, overrides = local_stack
    suffix = uuid.uuid4().hex[:6]
    names = {role: f"dash-{role.replace('_', '-')}-{suffix}" for role in ROLES}
    kinesis = aws.client(config, "kinesis")
    for name in names.values():
        kinesis.create_stream(StreamName=name, ShardCount=1)
    for name in names.values():
        kinesis.get_waiter("stream_exists").wait(StreamName=name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 100})
    port = free_port()
    sets = [*overrides, *(f"streams.{role}.name={name}" for role, name in names.items())]
    log = open(tmp_path / "dashboard.log", "wb")  # noqa: SIM115 - the server's output for as long as it runs
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "clickflow",
            "dashboard",
            "--port",
            str(port),
            *[item for s in sets for item in ("--set", s)],
        ],
        cwd=PROJECT_ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(url + "api/state", timeout=2).read()  # noqa: S310 - loopback
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError((tmp_path / "dashboard.log").read_text()) from None
                time.sleep(0.2)
        yield url, kinesis, names
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def test_the_page_shows_the_streams_rows_live_and_says_when_a_stream_is_gone(dashboard, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    url, kinesis, names = dashboard
    put(kinesis, names["unique_visitors"], [visitors(n, 100 + n) for n in range(6)])
    put(
        kinesis,
        names["top_categories"],
        [
            {
                "window_start": "2019-10-01 00:00:00",
                "window_end": "2019-10-01 01:00:00",
                "rank": r,
                "category_id": 10 + r,
                "category_code": f"kids.toys.{r}",
                "views": 500 - r,
                "carts": 1,
                "purchases": 3 - r,
                "revenue": 12.5 * r,
            }
            for r in (2, 1, 3)
        ],
    )
    put(kinesis, names["anomalies"], [anomaly("900000042", 3, 6.4)])
    put(kinesis, names["dead_letters"], [{"reason": "unparsable event_time: yesterday", "payload": "x"}] * 2)

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=BROWSER_FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 2400})
            page.goto(url)
            # the top category of the hour, the visitors of a given minute, an anomaly's entity
            expect(page.locator("#top-current tbody tr").first).to_contain_text("kids.toys.1 (11)")
            expect(page.locator("#top-current tbody tr").first).to_contain_text("499")
            row = page.locator("#visitors-latest tbody tr", has_text=minute(3))
            expect(row).to_contain_text("103")
            chart = page.evaluate("() => window.dashboard.charts.visitors.data")
            assert chart["labels"][0] == "00:00:00" and chart["datasets"][0]["data"][0] == 100  # not in the table
            expect(page.locator("#anomalies tbody tr").first).to_contain_text("900000042")
            expect(page.locator("#dead-letters tbody tr").first).to_contain_text("unparsable event_time")
            expect(page.locator("tr.stream-anomalies")).to_contain_text("live")

            # more rows: the page follows without a reload
            page.evaluate("() => { window.__sameDocument = true; }")
            put(kinesis, names["unique_visitors"], [visitors(7, 777)])
            put(kinesis, names["anomalies"], [anomaly("900000099", 7, 9.9)])
            expect(page.locator("#visitors-latest tbody tr").first).to_contain_text("777")
            expect(page.locator("#anomalies tbody tr").first).to_contain_text("900000099")  # newest first
            assert page.evaluate("() => window.__sameDocument") is True
            page.screenshot(path=str(tmp_path / "dashboard.png"))

            # a stream goes away: said plainly; made anew: read from its start
            kinesis.delete_stream(StreamName=names["anomalies"])
            expect(page.locator("tr.stream-anomalies")).to_contain_text("missing", timeout=15_000)
            expect(page.locator("#summary")).to_contain_text("missing")
            kinesis.create_stream(StreamName=names["anomalies"], ShardCount=1)
            kinesis.get_waiter("stream_exists").wait(StreamName=names["anomalies"])
            put(kinesis, names["anomalies"], [anomaly("123", 9, 4.0)])
            expect(page.locator("tr.stream-anomalies")).to_contain_text("live", timeout=15_000)
            expect(page.locator("#anomalies tbody tr")).to_have_count(1)  # the old stream's rows are gone
            expect(page.locator("#anomalies tbody tr").first).to_contain_text("123")
        finally:
            browser.close()
    assert (tmp_path / "dashboard.png").stat().st_size > 20_000


def test_state_endpoint_and_a_taken_port(dashboard):
    url, kinesis, names = dashboard
    put(kinesis, names["unique_visitors"], [visitors(0, 5)])
    deadline = time.monotonic() + 15
    while True:
        state = json.load(urllib.request.urlopen(url + "api/state", timeout=5))  # noqa: S310 - loopback
        if state["visitors"]:
            break
        assert time.monotonic() < deadline, state
        time.sleep(0.2)
    assert state["visitors"][0] == {"window": minute(0), "users": 5, "sessions": 7, "events": 20}
    assert {s["role"] for s in state["streams"]} == set(ROLES)
    port = url.rsplit(":", 1)[1].strip("/")
    taken = subprocess.run(
        [sys.executable, "-m", "clickflow", "dashboard", "--port", port],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert taken.returncode == 1 and f"port {port} on 127.0.0.1 is in use" in taken.stderr


def test_the_health_strip_shows_the_jobs_health_and_follows_it(tmp_path):
    """The strip above the charts, in Chromium, over the app's /api/health: a job's figures and its problems
    as `clickflow status` reads them, then the job healthy, without a reload (the reading itself is tested
    against a running job in test_status)."""
    import threading

    import uvicorn
    from playwright.sync_api import expect, sync_playwright

    from clickflow.dashboard import app
    from clickflow.dashboard.state import DashboardState, Limits
    from clickflow.health import Health, JobHealth, ShardHealth, judge
    from connectors.config import load_config

    if not CHROMIUM:
        pytest.skip(MISSING)
    monitoring = load_config("local").monitoring
    now = int(time.time() * 1000)
    job = JobHealth(
        job_id="f" * 32,
        name="clickflow (local)",
        state="RUNNING",
        started_at_ms=now - 125_000,
        uptime_ms=125_000,
        restarts=1,
        checkpoint_interval_ms=5_000,
        last_checkpoint_at_ms=now - 3_000,
        shards=[ShardHealth("events", "shardId-000000000000", 75_000, 10), ShardHealth("events", "shardId-1", 0, 5)],
        dead_letters=9,
        dead_letters_last_minute=4,
    )
    behind = Health("http://127.0.0.1:8081", [job], {job.job_id: judge(job, monitoring, now)}, now)
    caught_up = JobHealth(**{**job.__dict__, "shards": [ShardHealth("events", "shardId-000000000000", 0, 10)]})
    current = {"health": behind}
    server = uvicorn.Server(
        uvicorn.Config(
            app.create_app(DashboardState("local", Limits()), lambda: current["health"].to_json()),
            host="127.0.0.1",
            port=free_port(),
            log_level="warning",
            lifespan="off",
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.config.port}/"
        deadline = time.monotonic() + 15
        while not server.started:
            assert time.monotonic() < deadline, "the app did not start"
            time.sleep(0.05)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=BROWSER_FLAGS)
            try:
                page = browser.new_page(viewport={"width": 1400, "height": 900})
                page.goto(url)
                expect(page.locator("#health-status")).to_have_text("job unhealthy")
                expect(page.locator("#health")).to_have_class("health health-unhealthy")
                detail = page.locator("#health-detail")
                expect(detail).to_contain_text("clickflow (local) running for 2 min 5 s")
                expect(detail).to_contain_text("restarts 1")
                expect(detail).to_contain_text("furthest shard 1 min 15 s behind")
                expect(detail).to_contain_text("dead letters 4 in the last minute (9 in all)")
                expect(page.locator("#health-problems li")).to_have_text(
                    ["shardId-000000000000 of events is 1 min 15 s behind (monitoring.max_lag is 1 min 0 s)"]
                )
                page.screenshot(path=str(tmp_path / "health.png"))

                page.evaluate("() => { window.__sameDocument = true; }")
                current["health"] = Health(behind.where, [caught_up], {job.job_id: []}, now)
                expect(page.locator("#health-status")).to_have_text("job healthy", timeout=10_000)
                expect(page.locator("#health-problems li")).to_have_count(0)
                expect(detail).to_contain_text("furthest shard 0 ms behind")
                assert page.evaluate("() => window.__sameDocument") is True

                current["health"] = Health(behind.where, [], {}, now)
                expect(page.locator("#health-status")).to_have_text("job not running", timeout=10_000)
                expect(detail).to_have_text("no clickflow job at http://127.0.0.1:8081")
            finally:
                browser.close()
    finally:
        server.should_exit = True
        thread.join(10)
