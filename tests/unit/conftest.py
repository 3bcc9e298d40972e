"""Unit tests need no JVM and no server: here `java` and `javac` fail loudly, so a unit test that
starts Flink or compiles a jar fails at once (mark it `integration` instead)."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(autouse=True)
def _no_jvm(request, tmp_path_factory, monkeypatch):
    if request.node.get_closest_marker("integration"):
        return  # the few here that build a jar are integration tests
    fake = tmp_path_factory.getbasetemp() / "no-jvm"
    if not fake.is_dir():
        fake.mkdir()
        for tool in ("java", "javac"):
            script = fake / tool
            script.write_text(f'#!/bin/sh\necho "a unit test ran {tool}: mark it integration" >&2\nexit 97\n')
            script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake}:{os.environ['PATH']}")
    monkeypatch.setenv("JAVA_HOME", str(fake / "none"))
