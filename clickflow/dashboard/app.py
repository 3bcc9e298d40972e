"""`clickflow dashboard`: a live page of the job's output streams, served on 127.0.0.1.

One Starlette (ASGI) app, served by uvicorn: ``/`` the page (``templates/index.html``, its script
built from ``src/main.js`` with Chart.js by esbuild in ``make setup``), ``/api/state`` everything the
page shows as JSON, ``/api/events`` the same as server-sent events — a snapshot when the page
connects, then one whenever rows arrive (at most ``PUSH_INTERVAL`` apart), so the page updates
without reloading. The streams are followed by ``reader.StreamFollower`` threads. ``/api/health`` is the
running job's health, the reading behind ``clickflow status`` (``clickflow/health.py``), shown in a strip
above the charts.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from clickflow.dashboard.reader import StreamFollower
from clickflow.dashboard.state import DashboardState, Limits
from connectors.config import Config

HERE = Path(__file__).resolve().parent
BUNDLE = HERE / "static" / "dist" / "app.js"
ROLES = ("unique_visitors", "active_page_views", "top_categories", "cart_abandonment", "anomalies", "dead_letters")
PUSH_INTERVAL = 0.25  # seconds: at most four snapshots a second per page
HEALTH_TTL = 2.0  # seconds: Flink's REST API is asked at most this often, however many pages poll
HEARTBEAT = 15.0  # seconds: a comment line, so proxies and the browser keep the connection


class DashboardError(RuntimeError):
    """The dashboard cannot start; the message says what to do."""


@dataclass(frozen=True)
class DashboardOptions:
    """How ``clickflow dashboard`` serves: the port, where the streams are read from, the memory bounds."""

    port: int = 8050
    start: str = "trim_horizon"  # trim_horizon | latest: where the streams are read from
    open_browser: bool = False
    limits: Limits = Limits()


def job_health(config: Config) -> dict:
    """The running job's health as ``clickflow status --format json`` gives it; ``status`` "unknown" with a
    ``message`` when it cannot be read (no REST port, or the job went away while it was read)."""
    import urllib.error

    from clickflow.health import HealthError, read_health

    try:
        return read_health(config).to_json()
    except (HealthError, urllib.error.URLError, OSError) as exc:
        return {"status": "unknown", "message": str(exc), "jobs": []}


class _Cached:
    """The last answer of ``read`` for ``ttl`` seconds (one reader at a time)."""

    def __init__(self, read: Callable[[], dict], ttl: float) -> None:
        self.read, self.ttl = read, ttl
        self.lock = threading.Lock()
        self.value: dict | None = None
        self.at = 0.0

    def __call__(self) -> dict:
        with self.lock:
            if self.value is None or time.monotonic() - self.at >= self.ttl:
                self.value, self.at = self.read(), time.monotonic()
            return self.value


def create_app(state: DashboardState, health: Callable[[], dict] | None = None):
    """The ASGI app over ``state`` (the followers feed it) and ``health`` (the job's, as JSON; none: unknown)."""
    from starlette.applications import Starlette
    from starlette.responses import HTMLResponse, JSONResponse, StreamingResponse
    from starlette.routing import Mount, Route
    from starlette.staticfiles import StaticFiles

    page = (HERE / "templates" / "index.html").read_text(encoding="utf-8")

    async def index(request):
        return HTMLResponse(page)

    async def api_state(request):
        return JSONResponse(state.snapshot())

    cached = _Cached(health or (lambda: {"status": "unknown", "message": "no job to ask", "jobs": []}), HEALTH_TTL)

    async def api_health(request):
        return JSONResponse(await asyncio.to_thread(cached))  # Flink's REST API is asked off the event loop

    async def api_events(request):
        async def stream():
            sent, last_sent = -1, 0.0
            while True:
                if await request.is_disconnected():
                    return
                now = time.monotonic()
                if state.version != sent and now - last_sent >= PUSH_INTERVAL:
                    snapshot = state.snapshot()
                    sent, last_sent = snapshot["version"], now
                    yield f"data: {json.dumps(snapshot, separators=(',', ':'))}\n\n"
                elif now - last_sent >= HEARTBEAT:
                    last_sent = now
                    yield ": still here\n\n"
                await asyncio.sleep(0.05)

        headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
        return StreamingResponse(stream(), media_type="text/event-stream", headers=headers)

    return Starlette(
        routes=[
            Route("/", index),
            Route("/api/state", api_state),
            Route("/api/events", api_events),
            Route("/api/health", api_health),
            Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
        ]
    )


def _check_port(port: int) -> None:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            raise DashboardError(
                f"port {port} on 127.0.0.1 is in use (another dashboard?); choose another with --port N"
            ) from None


def start_followers(config: Config, state: DashboardState, start: str, stop: threading.Event) -> list[StreamFollower]:
    """Start one reader thread per output stream of the profile, folding rows into ``state`` until ``stop`` is set."""
    from connectors import aws

    followers = []
    for role in ROLES:
        name = config.output_stream(role).name
        state.watch(role, name)
        consumer = config.dashboard.efo_consumer if config.dashboard.reader == "efo" else None
        follower = StreamFollower(
            role, name, state, lambda: aws.client(config, "kinesis"), start, stop, consumer=consumer
        )
        follower.start()
        followers.append(follower)
    return followers


def serve(
    config: Config,
    options: DashboardOptions,
    say: Callable[[str], None] = print,
    stop: threading.Event | None = None,
) -> None:
    """Follow the streams and serve the page until Ctrl-C (or ``stop``)."""
    import uvicorn

    if not BUNDLE.is_file():
        raise DashboardError(f"the page's script {BUNDLE} is not built: run `make setup` (it runs npm ci and esbuild)")
    if options.start not in ("trim_horizon", "latest"):
        raise DashboardError(f"--from {options.start!r}: expected trim_horizon or latest")
    _check_port(options.port)
    stop = stop or threading.Event()
    state = DashboardState(config.profile, options.limits)
    followers = start_followers(config, state, options.start, stop)
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(state, lambda: job_health(config)),
            host="127.0.0.1",
            port=options.port,
            log_level="warning",
            lifespan="off",
        )
    )
    url = f"http://127.0.0.1:{server.config.port}/"
    streams = ", ".join(config.output_stream(r).name for r in ROLES)
    say(f"dashboard on {url} — following {streams} from {options.start} (Ctrl-C to stop)")
    if options.open_browser:
        import webbrowser

        threading.Timer(1.0, webbrowser.open, args=(url,)).start()

    def stop_watch():
        stop.wait()
        server.should_exit = True

    threading.Thread(target=stop_watch, daemon=True).start()
    try:
        server.run()
    finally:
        stop.set()
        for follower in followers:
            follower.join(timeout=3)
