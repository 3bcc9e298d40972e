"""A loopback HTTP proxy in front of kinesalite that injects the failures real Kinesis produces:
PutRecords answers in which some entries failed (ProvisionedThroughputExceededException), throttled
GetRecords calls, an expired shard iterator, and a stalled shard (every GetRecords on it throttled while
``stalled`` names it: the proxy follows which shard each iterator reads), and one slow PutRecords (the
``slow_put``-th, held ``slow_put_seconds`` before it is forwarded, so that calls sent after it can land first).
It forwards everything else untouched."""

from __future__ import annotations

import http.client
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit


class FaultyKinesis:
    def __init__(
        self,
        upstream: str,
        *,
        fail_every: int = 3,
        failing_puts: int = 2,
        throttled_gets: int = 2,
        expired_gets: int = 1,
        slow_put: int = 0,
        slow_put_seconds: float = 1.0,
    ):
        target = urlsplit(upstream)
        self.upstream = (target.hostname, target.port)
        self.fail_every = fail_every
        self.failing_puts = failing_puts
        self.throttled_gets = throttled_gets
        self.expired_gets = expired_gets
        self.slow_put, self.slow_put_seconds = slow_put, slow_put_seconds
        self.lock = threading.Lock()
        self.puts = 0
        self.gets = 0
        self.failed_entries = 0
        self.throttled = 0
        self.expired = 0
        self.stalled: str | None = None  # a shard id whose every GetRecords is throttled
        self.stalled_gets = 0
        self._shard_of: dict[str, str] = {}  # shard iterator -> the shard it reads
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> FaultyKinesis:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)

    def _forward(self, headers, body: bytes) -> tuple[int, bytes]:
        connection = http.client.HTTPConnection(*self.upstream, timeout=30)
        try:
            forwarded = {k: v for k, v in headers.items() if k.lower() not in ("host", "content-length")}
            connection.request("POST", "/", body=body, headers=forwarded)
            response = connection.getresponse()
            return response.status, response.read()
        finally:
            connection.close()

    def _fault(self, action: str, body: bytes) -> tuple[int, bytes] | None:
        """The injected answer for this call, or None to forward it."""
        with self.lock:
            if action == "GetRecords":
                self.gets += 1
                if self.stalled and self._shard_of.get(json.loads(body).get("ShardIterator")) == self.stalled:
                    self.stalled_gets += 1
                    return 400, _error("ProvisionedThroughputExceededException", "Rate exceeded for shard")
                if self.throttled < self.throttled_gets:
                    self.throttled += 1
                    return 400, _error("ProvisionedThroughputExceededException", "Rate exceeded for shard")
                if self.expired < self.expired_gets:
                    self.expired += 1
                    return 400, _error("ExpiredIteratorException", "Iterator expired")
        return None

    def _follow(self, action: str, body: bytes, answer: bytes) -> None:
        """Remember which shard the iterator in ``answer`` reads."""
        request, response = json.loads(body), json.loads(answer)
        with self.lock:
            if action == "GetShardIterator":
                self._shard_of[response["ShardIterator"]] = request["ShardId"]
            elif response.get("NextShardIterator") and request["ShardIterator"] in self._shard_of:
                self._shard_of[response["NextShardIterator"]] = self._shard_of.pop(request["ShardIterator"])

    def _put_records(self, headers, body: bytes) -> tuple[int, bytes]:
        request = json.loads(body)
        with self.lock:
            self.puts += 1
            failing = self.puts <= self.failing_puts
            slow = self.puts == self.slow_put
        if slow:
            time.sleep(self.slow_put_seconds)
        if not failing:
            return self._forward(headers, body)
        entries = request["Records"]
        keep = [i for i in range(len(entries)) if i % self.fail_every != 0]
        status, answer = self._forward(headers, json.dumps({**request, "Records": [entries[i] for i in keep]}).encode())
        if status != 200:
            return status, answer
        written = iter(json.loads(answer)["Records"])
        results = []
        for i in range(len(entries)):
            if i in keep:
                results.append(next(written))
            else:
                results.append({"ErrorCode": "ProvisionedThroughputExceededException", "ErrorMessage": "Rate exceeded"})
        failed = sum(1 for r in results if "ErrorCode" in r)
        with self.lock:
            self.failed_entries += failed
        return 200, json.dumps({"FailedRecordCount": failed, "Records": results}).encode()

    def _handler(self):
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                action = self.headers.get("X-Amz-Target", "").rpartition(".")[2]
                if action == "PutRecords":
                    status, answer = proxy._put_records(self.headers, body)
                else:
                    status, answer = proxy._fault(action, body) or proxy._forward(self.headers, body)
                    if status == 200 and action in ("GetShardIterator", "GetRecords"):
                        proxy._follow(action, body, answer)
                self.send_response(status)
                self.send_header("Content-Type", "application/x-amz-json-1.1")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args):
                pass

        return Handler


def _error(kind: str, message: str) -> bytes:
    return json.dumps({"__type": kind, "message": message}).encode()
