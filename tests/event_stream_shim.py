"""A loopback HTTP proxy in front of kinesis-mock for boto3's SubscribeToShard.

Kinesis answers SubscribeToShard with an event stream whose first message is an ``initial-response``
event, and botocore requires it (``First event was not of type initial-response``); kinesis-mock sends
the events alone (the AWS SDK for Java reads them either way). The proxy adds that first message to a
subscription's answer — encoded as the event stream format says: prelude (total and headers lengths,
CRC32), headers, payload, CRC32 of it all — and forwards everything else untouched."""

from __future__ import annotations

import binascii
import http.client
import struct
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit


def event_message(headers: dict[str, str], payload: bytes) -> bytes:
    """One event stream message with string headers."""
    encoded = b"".join(
        bytes([len(name)]) + name.encode() + b"\x07" + struct.pack(">H", len(value)) + value.encode()
        for name, value in headers.items()
    )
    prelude = struct.pack(">II", 12 + len(encoded) + len(payload) + 4, len(encoded))
    message = prelude + struct.pack(">I", binascii.crc32(prelude)) + encoded + payload
    return message + struct.pack(">I", binascii.crc32(message))


INITIAL_RESPONSE = event_message(
    {":message-type": "event", ":event-type": "initial-response", ":content-type": "application/json"}, b"{}"
)


class EventStreamShim:
    def __init__(self, upstream: str):
        target = urlsplit(upstream)
        self.upstream = (target.hostname, target.port)
        self.subscriptions = 0
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> EventStreamShim:
        shim = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                upstream = http.client.HTTPConnection(*shim.upstream, timeout=600)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
                upstream.request("POST", self.path, body=body, headers=headers)
                answer = upstream.getresponse()
                subscription = self.headers.get("X-Amz-Target", "").endswith(".SubscribeToShard")
                streaming = subscription and answer.status == 200
                self.send_response(answer.status)
                for name, value in answer.getheaders():
                    if name.lower() not in ("content-length", "transfer-encoding", "connection", "date", "server"):
                        self.send_header(name, value)
                if not streaming:
                    data = answer.read()
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                    upstream.close()
                    return
                shim.subscriptions += 1
                self.send_header("Transfer-Encoding", "chunked")
                self.send_header("Connection", "close")
                self.end_headers()
                try:
                    self._chunk(INITIAL_RESPONSE)
                    while data := answer.read1(65536):
                        self._chunk(data)
                    self._chunk(b"")
                except OSError:
                    pass  # the subscriber went away
                finally:
                    upstream.close()
                    self.close_connection = True

            def _chunk(self, data: bytes) -> None:
                self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                self.wfile.flush()

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
