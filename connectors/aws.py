"""boto3 clients and credentials for a profile: endpoints per service, credentials from the AWS chain."""

from __future__ import annotations

import os
from collections.abc import Callable

from connectors.config import Config, ConfigError, is_local_url

# The embedded stack checks no signatures; these dummy keys are only ever sent to loopback
# endpoints (load_config refuses aws.credentials: local with any other endpoint).
_LOCAL_KEY_ID = "clickflow-local"
_LOCAL_SECRET = "clickflow-local-secret"


def endpoint_for(config: Config, service: str) -> str | None:
    """The endpoint URL for a boto3 service name, following boto3's own precedence.

    AWS_ENDPOINT_URL_<SERVICE> (e.g. AWS_ENDPOINT_URL_KINESIS), then AWS_ENDPOINT_URL, then the
    profile's ``aws.endpoints.<service>``, then ``aws.endpoints.default``; None means AWS itself.
    """
    env_name = "AWS_ENDPOINT_URL_" + service.upper().replace("-", "_")
    for candidate in (
        os.environ.get(env_name),
        os.environ.get("AWS_ENDPOINT_URL"),
        config.aws.endpoints.get(service),
        config.aws.endpoints.get("default"),
    ):
        if candidate:
            return candidate
    return None


def session(config: Config):
    """A boto3 session for the profile: dummy keys for the local stack, else the standard credential chain."""
    import boto3  # here, not at import time: the job on Managed Flink imports this module without boto3

    if config.aws.credentials == "local":
        return boto3.Session(
            aws_access_key_id=_LOCAL_KEY_ID,
            aws_secret_access_key=_LOCAL_SECRET,
            region_name=config.aws.region,
        )
    return boto3.Session(region_name=config.aws.region)


def credentials(config: Config):
    """The session's credentials, or a :class:`ConfigError` saying how to provide them."""
    creds = session(config).get_credentials()
    if creds is None:
        raise ConfigError(
            "no AWS credentials found: set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, "
            "or run where a role is attached (profile "
            f"{config.profile!r} uses aws.credentials: chain)"
        )
    return creds


def client(config: Config, service: str, **options):
    """A boto3 client for ``service`` at the profile's endpoint; refuses dummy keys against a non-local endpoint."""
    endpoint = endpoint_for(config, service)
    if config.aws.credentials == "local" and endpoint and not is_local_url(endpoint):
        raise ConfigError(
            f"endpoint for {service} is {endpoint} (from the environment), which is not local; "
            "the local profile's dummy credentials are only sent to 127.0.0.1 or a compose service"
        )
    import botocore.config

    retries = options.pop("retries", {"max_attempts": 3, "mode": "standard"})
    botocore_config = botocore.config.Config(retries=retries, **options)
    return session(config).client(service, endpoint_url=endpoint, config=botocore_config)


def ensure_bucket(
    s3, bucket: str, region: str, say: Callable[[str], None] = lambda _: None, dry_run: bool = False
) -> None:
    """Create ``bucket`` unless it exists (in ``region``); with ``dry_run`` only say so."""
    from botocore.exceptions import ClientError

    try:
        s3.head_bucket(Bucket=bucket)
        return
    except ClientError as exc:
        if exc.response["Error"]["Code"] not in ("404", "NoSuchBucket", "NotFound"):
            raise
    if dry_run:
        say(f"would create bucket s3://{bucket}")
        return
    try:
        if region == "us-east-1":
            s3.create_bucket(Bucket=bucket)
        else:
            s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": region})
        say(f"created bucket s3://{bucket}")
    except ClientError as exc:
        if exc.response["Error"]["Code"] not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
            raise


def ensure_role(
    iam,
    name: str,
    trust: dict,
    policy: dict,
    description: str,
    say: Callable[[str], None] = lambda _: None,
    dry_run: bool = False,
    tags: list[dict] | None = None,
) -> bool:
    """Create the IAM role ``name`` (trusted as ``trust`` says) unless it exists, then put its one
    inline policy ``<name>-policy``; with ``dry_run`` only say so. Returns whether it existed."""
    import json

    from botocore.exceptions import ClientError

    try:
        iam.get_role(RoleName=name)
        exists = True
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "NoSuchEntity":
            raise
        exists = False
    verb = ("would update" if exists else "would create") if dry_run else ("updating" if exists else "creating")
    say(f"{verb} role {name} and its policy {name}-policy")
    if dry_run:
        return exists
    if not exists:
        extra = {"Tags": tags} if tags else {}
        iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust), Description=description, **extra)
    iam.put_role_policy(RoleName=name, PolicyName=f"{name}-policy", PolicyDocument=json.dumps(policy))
    return exists
