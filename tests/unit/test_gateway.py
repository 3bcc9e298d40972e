"""A job run by the local cluster's SQL gateway (jobs/gateway.py, connectors/sql_gateway.py), against a loopback
server that answers as Flink's SQL gateway and REST API do: statements and their answers, errors with Flink's
root cause, and the job followed as `run` follows PyFlink's — its end, its failure, a stop with a savepoint."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from connectors import cluster, sql_gateway
from connectors.config import load_config
from jobs import gateway, plans, stream

TRACE = (
    "org.apache.flink.table.gateway.service.utils.SqlExecutionException: Failed to execute the operation.\n"
    + "\tat org.apache.flink.table.gateway.service.operation.OperationManager.run(OperationManager.java:1)\n" * 20
    + "Caused by: org.apache.flink.table.api.ValidationException: Object 'nowhere' not found\n"
    "\tat org.apache.flink.table.planner.Foo.bar(Foo.java:2)\n"
)


class FakeFlink(BaseHTTPRequestHandler):
    """The SQL gateway's and the cluster's REST endpoints that clickflow calls, with one job, J."""

    state = "RUNNING"
    calls: list[str] = []
    polls = 0

    def log_message(self, *args):
        pass

    def _answer(self, body: dict, code: int = 200) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> dict:
        return json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")

    def do_POST(self):
        body = self._body()
        FakeFlink.calls.append(f"POST {self.path} {body.get('statement', '')}".strip())
        if self.path == "/v1/sessions":
            return self._answer({"sessionHandle": "s1"})
        if self.path == "/v1/sessions/s1/statements":
            if body["statement"].startswith("SELECT * FROM nowhere"):
                return self._answer({"errors": ["Internal server error.", TRACE]}, 500)
            return self._answer({"operationHandle": "o1"})
        if self.path == "/jobs/J/stop":
            FakeFlink.state = "FINISHED"
            return self._answer({"request-id": "r1"})
        return self._answer({"errors": ["not found"]}, 404)

    def do_GET(self):
        FakeFlink.calls.append(f"GET {self.path}")
        if self.path.startswith("/v1/sessions/s1/operations/o1/result/0"):
            FakeFlink.polls += 1
            if FakeFlink.polls < 3:
                return self._answer({"resultType": "NOT_READY"})
            rows = {"data": [{"kind": "INSERT", "fields": ["J"]}]}
            return self._answer({"resultType": "EOS", "jobID": "J", "results": rows})
        if self.path == "/v1/sessions/s1":
            properties = {"rest.address": "127.0.0.1", "rest.port": "8082", "pipeline.name": "p"}
            return self._answer({"properties": properties})
        if self.path == "/jobs/J":
            return self._answer({"state": FakeFlink.state, "vertices": [{"status": "RUNNING"}]})
        if self.path == "/jobs/J/exceptions":
            return self._answer({"root-exception": TRACE})
        if self.path == "/jobs/J/savepoints/r1":
            return self._answer({"status": {"id": "COMPLETED"}, "operation": {"location": "file:/sp/savepoint-1"}})
        return self._answer({"errors": ["not found"]}, 404)

    def do_DELETE(self):
        FakeFlink.calls.append(f"DELETE {self.path}")
        return self._answer({})

    def do_PATCH(self):
        FakeFlink.calls.append(f"PATCH {self.path}")
        FakeFlink.state = "CANCELED"
        return self._answer({})


@pytest.fixture
def flink():
    FakeFlink.state, FakeFlink.calls, FakeFlink.polls = "RUNNING", [], 0
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeFlink)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join()


def test_a_session_runs_statements_waits_for_their_answers_and_names_flinks_root_cause(flink):
    with sql_gateway.Session(flink, {"pipeline.name": "p"}) as session:
        assert session.configuration()["rest.port"] == "8082"  # the cluster it submits to
        answer = session.execute("EXECUTE PLAN '/plans/k.json'")
        assert answer.job_id == "J" and answer.rows == [["J"]]
        with pytest.raises(sql_gateway.GatewayError, match=r"ValidationException: Object 'nowhere' not found$"):
            session.execute("SELECT * FROM nowhere")
    assert FakeFlink.calls[0] == "POST /v1/sessions"
    assert FakeFlink.polls == 3  # asked again while the answer was not ready
    assert FakeFlink.calls[-1] == "DELETE /v1/sessions/s1"  # closed (the job it submitted runs on)


def config_for(flink: str):
    return load_config("cluster", overrides=[f"job.cluster={flink}", "job.checkpoint_dir=/tmp/clickflow-x/checkpoints"])


def test_a_job_the_gateway_ran_is_waited_for_and_its_failure_is_flinks_root_cause(flink):
    job = gateway.RestJob(config_for(flink), "J")
    assert job.get_job_client().get_job_id() == "J"
    FakeFlink.state = "FINISHED"
    with stream.StopRequests() as stops:
        assert stream.wait_or_stop(job, job, stops) is False  # ended, without a stop request
    FakeFlink.state = "FAILED"
    with pytest.raises(cluster.ClusterError, match=r"job J failed on the cluster: .*Object 'nowhere' not found"):
        job.wait()


def test_a_stop_request_stops_a_job_the_gateway_ran_with_a_savepoint(flink):
    config = config_for(flink)
    job = gateway.RestJob(config, "J")
    said: list[str] = []
    stops = stream.StopRequests()
    stops.names.append("SIGINT")
    code = stream.stop_on_request(job, config, stops, lambda where: f"resume from {where}", said.append)
    assert code == 130
    assert "POST /jobs/J/stop" in FakeFlink.calls
    assert said[-2:] == [
        "stopped with a savepoint: file:/sp/savepoint-1",
        "resume with: resume from file:/sp/savepoint-1",
    ]
    job.cancel()
    assert FakeFlink.calls[-1] == "PATCH /jobs/J?mode=cancel" and job.get_job_status().result() == "CANCELED"


def test_a_statement_the_gateway_refuses_leaves_the_start_to_the_client(flink, monkeypatch, tmp_path):
    offline = plans.StatementsOnly({})
    offline.executed.append("SELECT * FROM nowhere")
    monkeypatch.setattr(gateway, "offline_job", lambda config, options: (offline, tmp_path / "k.json"))
    monkeypatch.setattr(cluster, "gateway_answers", lambda config: True)
    port = flink.rsplit(":", 1)[1]
    config = load_config("cluster", overrides=["job.cluster=127.0.0.1:8082", f"cluster.sql_gateway_port={port}"])
    said: list[str] = []
    assert gateway.submit_plan(config, stream.RunOptions(), said.append) is None
    assert said == [
        "note: the SQL gateway: org.apache.flink.table.api.ValidationException: Object 'nowhere' not found; "
        "submitting from here"
    ]
    assert not any("EXECUTE PLAN" in call for call in FakeFlink.calls)


@pytest.mark.parametrize("cluster_port", [8082, 8092])
def test_run_submits_through_the_gateway_only_when_it_submits_to_job_cluster(
    flink, monkeypatch, tmp_path, cluster_port
):
    plan = tmp_path / "k.json"
    plan.write_text("{}")
    offline = plans.StatementsOnly({"pipeline.name": "p"})
    offline.executed += ["CREATE TEMPORARY TABLE t (a INT)", "CREATE TEMPORARY FUNCTION f AS 'x.F'"]
    monkeypatch.setattr(gateway, "offline_job", lambda config, options: (offline, plan))
    gateway_port = flink.rsplit(":", 1)[1]
    config = load_config(
        "cluster", overrides=[f"job.cluster=127.0.0.1:{cluster_port}", f"cluster.sql_gateway_port={gateway_port}"]
    )
    monkeypatch.setattr(cluster, "gateway_answers", lambda config: True)
    said: list[str] = []
    job = gateway.submit_plan(config, stream.RunOptions(), said.append)
    statements = [call.split(" ", 2)[2] for call in FakeFlink.calls if call.startswith("POST /v1/sessions/s1/")]
    if cluster_port == 8082:  # the cluster the gateway submits to
        assert job is not None and job.get_job_id() == "J"
        assert statements == [*offline.executed, f"EXECUTE PLAN '{plan}'"]
        assert said == [
            f"plan: compiled plan k from the cache, run by the cluster's SQL gateway at 127.0.0.1:{gateway_port}"
        ]
    else:  # another cluster's gateway: nothing run there, the client submits
        assert job is None and statements == []
        assert said == [
            f"note: the SQL gateway at 127.0.0.1:{gateway_port} submits to 127.0.0.1:8082, not to job.cluster; "
            "submitting from here"
        ]
    assert FakeFlink.calls[-1] == "DELETE /v1/sessions/s1"
