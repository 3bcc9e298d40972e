"""Small input files the tests make for themselves (never the shared sample)."""

from __future__ import annotations

from pathlib import Path

HEADER = "event_time,event_type,product_id,category_id,category_code,brand,price,user_id,user_session"


def row(
    second: int = 0,
    event_type: str = "view",
    product: int = 1004,
    category: int = 2053013555631882655,
    code: str = "electronics.smartphone",
    brand: str = "samsung",
    price: str = "31.90",
    user: int = 541312140,
    session: str = "72d76fde-8bb3-4e00-8c23-a032dfed738c",
    minute: int = 0,
    hour: int = 0,
) -> str:
    return (
        f"2019-10-01 {hour:02d}:{minute:02d}:{second:02d} UTC,{event_type},{product},{category},{code},{brand},"
        f"{price},{user},{session}"
    )


def write_csv(path: Path, rows: list[str], newline: str = "\n", final_newline: bool = True) -> Path:
    text = newline.join([HEADER, *rows]) + (newline if final_newline else "")
    path.write_bytes(text.encode("utf-8"))
    return path


def botocore_authorization(creds, host: str, target: str, body: bytes, now, monkeypatch) -> dict:
    """botocore's own SigV4 headers for a Kinesis JSON call at ``now``: the reference both of
    clickflow's signers (Python and Java) are checked against."""
    import botocore.auth
    from botocore.awsrequest import AWSRequest

    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: now.replace(tzinfo=None))
    request = AWSRequest(
        method="POST",
        url=f"https://{host}/",
        data=body,
        headers={"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": target, "Host": host},
    )
    botocore.auth.SigV4Auth(creds, "kinesis", host.split(".")[1]).add_auth(request)
    return dict(request.headers.items())
