"""Loopback stand-ins for where AWS hands out temporary credentials, to prove that a job finds them
the way Managed Flink (and ECS) provide them: a container-credentials endpoint
(``AWS_CONTAINER_CREDENTIALS_FULL_URI``), and a recording proxy that tells which access key signed
each request that passed through it."""

from __future__ import annotations

import http.client
import json
import re
import threading
from collections import Counter
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/")


class _Server:
    def __init__(self, handler):
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.server.daemon_threads = True
        self.server.handle_error = lambda request, address: None  # a client that hangs up is no news
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


class ContainerCredentials(_Server):
    """Serves one set of temporary credentials at ``/creds``; counts the calls by client (``java``
    for the AWS SDK for Java, ``python`` for botocore), and refuses the clients in ``refuse``."""

    def __init__(self, key_id: str = "ASIACONTAINERTEST01", refuse: tuple[str, ...] = ()):
        self.key_id = key_id
        self.refuse = refuse
        self.calls: Counter[str] = Counter()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                agent = self.headers.get("User-Agent", "").lower()
                client = "java" if "aws-sdk-java" in agent else "python" if "botocore" in agent else "other"
                outer.calls[client] += 1
                if self.path != "/creds" or client in outer.refuse:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                expires = (datetime.now(UTC) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
                body = json.dumps(
                    {
                        "AccessKeyId": outer.key_id,
                        "SecretAccessKey": "container-secret",
                        "Token": "container-token",
                        "Expiration": expires,
                    }
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        super().__init__(Handler)

    @property
    def full_uri(self) -> str:
        return self.url + "/creds"


class SigningRecorder(_Server):
    """Forwards every request to ``upstream`` unchanged, recording (client, access key id, action)
    of each: which credentials signed what."""

    def __init__(self, upstream: str):
        target = urlsplit(upstream)
        self.upstream = (target.hostname, target.port)
        self.signed: Counter[tuple[str, str, str]] = Counter()
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _proxy(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0) or 0))
                agent = self.headers.get("User-Agent", "").lower()
                client = "java" if "aws-sdk-java" in agent else "python"
                key = _CREDENTIAL.search(self.headers.get("Authorization", ""))
                action = self.headers.get("X-Amz-Target", "").rpartition(".")[2]
                if not action:  # a query-protocol call (STS): Action=... in the form body
                    found = re.search(rb"Action=(\w+)", body)
                    action = found.group(1).decode() if found else self.command
                with outer.lock:
                    outer.signed[(client, key.group(1) if key else "", action)] += 1
                connection = http.client.HTTPConnection(*outer.upstream, timeout=30)
                try:
                    headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
                    connection.request(self.command, self.path, body=body, headers=headers)
                    answer = connection.getresponse()
                    data = answer.read()
                    self.send_response(answer.status)
                    for name, value in answer.getheaders():
                        if name.lower() not in ("content-length", "transfer-encoding", "connection", "date", "server"):
                            self.send_header(name, value)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                finally:
                    connection.close()

            do_POST = do_GET = _proxy

            def log_message(self, *args):
                pass

        super().__init__(Handler)

    def keys(self, client: str) -> set[str]:
        """The access key ids that signed ``client``'s requests."""
        return {key for (who, key, _), n in self.signed.items() if who == client and n}

    def actions(self, client: str) -> Counter[str]:
        """How often ``client`` called each action."""
        out: Counter[str] = Counter()
        for (who, _, action), n in self.signed.items():
            if who == client:
                out[action] += n
        return out
