"""Flink's SQL gateway (the local cluster's, ``clickflow cluster up``) through its REST API: a session
opened with the job's settings, statements run in it one at a time, and the id of the job a statement
submits. ``clickflow run`` submits a job whose compiled plan is in the cache this way (``EXECUTE PLAN``),
so that nothing in its own process needs a JVM: the gateway's is already running, its planner warm.

Flink documents the API at "SQL Gateway > REST Endpoint"; only loopback endpoints are used (the cluster's
servers bind 127.0.0.1).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from connectors.cluster import ClusterError, _request


class GatewayError(ClusterError):
    """A statement the gateway refused or failed; the message is Flink's own root cause."""


def root_cause(detail: str) -> str:
    """The line of a Flink stack trace (as the gateway returns it) that says what went wrong: the
    last ``Caused by:``, else its first line."""
    lines = [line.strip() for line in detail.replace("\\n", "\n").splitlines() if line.strip()]
    causes = [line.removeprefix("Caused by: ") for line in lines if line.startswith("Caused by:")]
    return (causes or lines or ["(no detail)"])[-1 if causes else 0][:500]


@dataclass(frozen=True)
class Answer:
    """What a statement returned: the id of the job it submitted (if any) and its rows' fields."""

    job_id: str | None
    rows: list[list[Any]]


class Session:
    """A session of the gateway at ``endpoint`` (``host:port``), its configuration ``properties``; closed
    on leaving a ``with`` block (a job it submitted runs on: it belongs to the cluster)."""

    def __init__(self, endpoint: str, properties: Mapping[str, str], timeout: float = 120.0) -> None:
        self._base = f"http://{endpoint}/v1"
        self._timeout = timeout
        answer = self._call("POST", "/sessions", {"properties": dict(properties), "sessionName": "clickflow"})
        self.handle = str(answer["sessionHandle"])

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, method: str, path: str, body: dict | None = None) -> dict:
        try:
            return _request(f"{self._base}{path}", method, body)
        except ClusterError as exc:
            raise GatewayError(f"the SQL gateway: {root_cause(exc.detail or str(exc))}") from None

    def configuration(self) -> dict[str, str]:
        """The session's configuration: the properties it was opened with over the gateway's own
        (``rest.address`` and ``rest.port``: the cluster it submits jobs to)."""
        return dict(self._call("GET", f"/sessions/{self.handle}").get("properties") or {})

    def execute(self, sql: str) -> Answer:
        """Run one statement and wait for its whole answer (a job-submitting one: until it is submitted)."""
        path = f"/sessions/{self.handle}/operations/" + str(
            self._call("POST", f"/sessions/{self.handle}/statements", {"statement": sql})["operationHandle"]
        )
        rows: list[list[Any]] = []
        token, pause = 0, 0.01
        deadline = time.monotonic() + self._timeout
        while True:
            answer = self._call("GET", f"{path}/result/{token}?rowFormat=JSON")
            kind = answer.get("resultType")
            if kind == "NOT_READY":
                if time.monotonic() > deadline:
                    raise GatewayError(f"the SQL gateway gave no answer within {self._timeout:g}s to: {sql[:200]}")
                time.sleep(pause)
                pause = min(pause * 2, 0.2)
                continue
            rows += [list(row.get("fields", [])) for row in (answer.get("results") or {}).get("data", [])]
            if kind == "EOS" or not answer.get("nextResultUri"):
                return Answer(answer.get("jobID"), rows)
            token += 1

    def close(self) -> None:
        """Close the session (nothing to do if the gateway has gone)."""
        try:
            self._call("DELETE", f"/sessions/{self.handle}")
        except ClusterError:
            pass
