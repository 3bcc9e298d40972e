"""Shared fixtures. The local AWS stack is started once per test session, on free loopback ports
and in its own state directory, so it never collides with a stack a developer has running."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True, scope="session")
def _loopback_only_environment():
    """Tests talk only to loopback: drop any endpoint or profile a developer's shell carries."""
    saved = {
        k: os.environ.pop(k)
        for k in list(os.environ)
        if k.startswith("AWS_ENDPOINT_URL") or k in ("AWS_PROFILE", "CLICKFLOW_STATE_DIR")
    }
    yield
    os.environ.update(saved)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stack_overrides(state_dir: Path, kinesis_port: int | None = None, aws_port: int | None = None) -> list[str]:
    return [
        f"aws.endpoints.kinesis=http://127.0.0.1:{kinesis_port or free_port()}",
        f"aws.endpoints.default=http://127.0.0.1:{aws_port or free_port()}",
        f"stack.state_dir={state_dir}",
    ]


@pytest.fixture(scope="session")
def local_stack(tmp_path_factory):
    """A running local stack for the whole session; yields (config, overrides). Always stopped."""
    from connectors.config import load_config
    from connectors.local_stack import stack

    overrides = stack_overrides(tmp_path_factory.mktemp("stack-state"))
    config = load_config("local", overrides=overrides)
    try:
        stack.up(config)
    except stack.StackError as exc:
        stack.down(config)
        pytest.fail(f"the local stack did not start: {exc}")
    yield config, overrides
    stack.down(config)


def run_cli(*args: str, overrides: list[str] = (), timeout: float = 120, check: bool = True, **kwargs):
    """Run the real `clickflow` command in a subprocess."""
    sets = [item for o in overrides for item in ("--set", o)]
    command = [sys.executable, "-m", "clickflow", *args[:1], *sets, *args[1:]]
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=PROJECT_ROOT, **kwargs)
    if check and result.returncode != 0:
        raise AssertionError(
            f"{' '.join(command)} exited {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
        )
    return result
