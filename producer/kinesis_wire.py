"""Two ways to call Kinesis PutRecords, behind one small interface.

``KinesisHttp`` speaks the Kinesis JSON protocol directly over one keep-alive HTTP connection,
signing each call with botocore's SigV4 signer and the standard credential chain. It exists
because boto3 spends most of a PutRecords call's client CPU serialising and validating the 500
records; here the request body is assembled from pre-encoded JSON with one join.

``Boto3Kinesis`` adapts a boto3 client to the same interface: the tests drive it with botocore's
Stubber, and ``replay --client boto3`` uses it where the fast path cannot be (a proxy, say).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from urllib.parse import urlsplit

from botocore.exceptions import ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotocoreConnectionError

from producer.batching import Entry

RETRYABLE_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "LimitExceededException",
        "ThrottlingException",
        "KMSThrottlingException",
        "InternalFailure",
        "InternalFailureException",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "ConnectionError",
    }
)
THROTTLE_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "LimitExceededException",
        "ThrottlingException",
        "KMSThrottlingException",
    }
)


class KinesisError(Exception):
    """An error answer from Kinesis: its code, message and HTTP status."""

    def __init__(self, code: str, message: str, status: int | None = None):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status

    @property
    def retryable(self) -> bool:
        """Whether the call may succeed if sent again (throttling, server errors)."""
        return self.code in RETRYABLE_CODES or (self.status is not None and self.status >= 500)


def _error_code(raw_type: str) -> str:
    # "com.amazonaws.kinesis.v20131202#ResourceNotFoundException" -> "ResourceNotFoundException"
    return raw_type.rsplit("#", 1)[-1] or "UnknownError"


class SigV4:
    """AWS Signature Version 4 for a POST of a JSON-protocol call to ``/`` (all Kinesis needs).

    botocore's signer costs about 2 ms per 500-record call, most of it generic request handling;
    this one hashes the body once and caches the day's signing key. A unit test checks it
    signature for signature against botocore's.
    """

    def __init__(self, region: str, service: str, credentials: Callable):
        self._region = region
        self._service = service
        self._credentials = credentials  # () -> botocore Credentials (refreshable ones stay fresh)
        self._key_cache: tuple[tuple[str, str], bytes] | None = None

    def _signing_key(self, secret: str, day: str) -> bytes:
        if self._key_cache is None or self._key_cache[0] != (secret, day):
            key = ("AWS4" + secret).encode()
            for part in (day, self._region, self._service, "aws4_request"):
                key = hmac.new(key, part.encode(), hashlib.sha256).digest()
            self._key_cache = ((secret, day), key)
        return self._key_cache[1]

    def headers(self, host: str, target: str, body: bytes, now: datetime | None = None) -> dict[str, str]:
        """The SigV4 headers that sign a Kinesis JSON call of ``target`` with ``body``."""
        creds = self._credentials().get_frozen_credentials()
        amz_date = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
        day = amz_date[:8]
        headers = {
            "content-type": "application/x-amz-json-1.1",
            "host": host,
            "x-amz-date": amz_date,
            "x-amz-target": target,
        }
        if creds.token:
            headers["x-amz-security-token"] = creds.token
        names = sorted(headers)
        signed = ";".join(names)
        canonical = "POST\n/\n\n" + "".join(f"{n}:{headers[n]}\n" for n in names) + "\n" + signed + "\n"
        canonical += hashlib.sha256(body).hexdigest()
        scope = f"{day}/{self._region}/{self._service}/aws4_request"
        to_sign = f"AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
        signature = hmac.new(self._signing_key(creds.secret_key, day), to_sign.encode(), hashlib.sha256).hexdigest()
        headers["authorization"] = (
            f"AWS4-HMAC-SHA256 Credential={creds.access_key}/{scope}, SignedHeaders={signed}, Signature={signature}"
        )
        return headers


class KinesisHttp:
    """PutRecords (and any other JSON-protocol call) over one keep-alive connection. Not thread-safe:
    give each sending thread its own."""

    def __init__(self, endpoint_url: str, region: str, credentials: Callable, timeout: float = 30.0):
        parts = urlsplit(endpoint_url)
        self._https = parts.scheme == "https"
        self._host = parts.hostname or ""
        self._port = parts.port or (443 if self._https else 80)
        self._netloc = parts.netloc
        self._url = f"{parts.scheme}://{parts.netloc}/"
        self._signer = SigV4(region, "kinesis", credentials)
        self._timeout = timeout
        self._conn: http.client.HTTPConnection | None = None

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            cls = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
            self._conn = cls(self._host, self._port, timeout=self._timeout)
        return self._conn

    def close(self) -> None:
        """Close the kept-alive connection."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def call(self, operation: str, body: bytes) -> dict:
        """Send one signed Kinesis call; its JSON answer, or a :class:`KinesisError`."""
        headers = self._signer.headers(self._netloc, f"Kinesis_20131202.{operation}", body)
        conn = self._connection()
        try:
            conn.request("POST", "/", body=body, headers=headers)
            response = conn.getresponse()
            payload = response.read()
        except (OSError, http.client.HTTPException) as exc:
            self.close()  # the next call reconnects
            raise KinesisError("ConnectionError", f"{self._url}: {exc}") from None
        if response.status == 200:
            return json.loads(payload) if payload else {}
        try:
            error = json.loads(payload)
        except ValueError:
            error = {"__type": f"HTTP{response.status}", "message": payload[:200].decode(errors="replace")}
        code = _error_code(str(error.get("__type", f"HTTP{response.status}")))
        raise KinesisError(code, str(error.get("message") or error.get("Message") or ""), response.status)

    def put_records(self, stream: str, entries: Sequence[Entry]) -> dict:
        """PutRecords of ``entries`` into ``stream``; the answer as Kinesis gives it."""
        b64 = base64.b64encode
        dumps = json.dumps
        parts = []
        for entry in entries:
            key = entry.partition_key
            key_json = f'"{key}"' if key.isalnum() and key.isascii() else dumps(key)
            parts.append(f'{{"Data":"{b64(entry.data).decode("ascii")}","PartitionKey":{key_json}}}')
        body = f'{{"StreamName":{dumps(stream)},"Records":[{",".join(parts)}]}}'.encode()
        return self.call("PutRecords", body)


class Boto3Kinesis:
    """The same interface over a boto3 Kinesis client (botocore's own retries should be off)."""

    def __init__(self, client):
        self._client = client

    def put_records(self, stream: str, entries: Sequence[Entry]) -> dict:
        """PutRecords of ``entries`` through boto3; its errors raised as :class:`KinesisError`."""
        try:
            return self._client.put_records(
                StreamName=stream,
                Records=[{"Data": e.data, "PartitionKey": e.partition_key} for e in entries],
            )
        except ClientError as exc:
            error = exc.response.get("Error", {})
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            raise KinesisError(error.get("Code", "UnknownError"), error.get("Message", ""), status) from None
        except (BotocoreConnectionError, HTTPClientError) as exc:
            raise KinesisError("ConnectionError", str(exc)) from None

    def close(self) -> None:
        """Nothing to close: boto3 keeps its own pool."""
        pass
