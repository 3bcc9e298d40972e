"""The JVM class archive (connectors/class_archive.py): when clickflow's JVMs use it, what its name depends on,
and that a damaged one is never put in place."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from connectors import class_archive


@pytest.fixture
def java(tmp_path, monkeypatch) -> Path:
    """A java executable to name the archive after (unit tests start no JVM)."""
    path = tmp_path / "jdk" / "bin" / "java"
    path.parent.mkdir(parents=True)
    path.write_text("")
    monkeypatch.setattr(class_archive, "java_executable", lambda: path)
    return path


@pytest.fixture
def cache(tmp_path, monkeypatch, java) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv(class_archive.SWITCH_ENV, raising=False)
    return tmp_path / "cache" / "clickflow" / "jvm"


def test_options_only_when_the_archive_is_built_and_not_switched_off(cache, monkeypatch):
    assert class_archive.jvm_options() == []  # not built: the JVM starts as before
    path = class_archive.archive_path()
    assert path is not None and path.parent == cache
    path.parent.mkdir(parents=True)
    path.write_bytes(b"archive")
    assert class_archive.jvm_options() == [f"-XX:SharedArchiveFile={path}", "-Xlog:cds=off", "-Xlog:cds+dynamic=off"]
    monkeypatch.setenv(class_archive.SWITCH_ENV, "off")
    assert class_archive.jvm_options() == []


def test_no_options_for_a_path_with_spaces(tmp_path, monkeypatch, java):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "my cache"))
    path = class_archive.archive_path()
    assert path is not None
    path.parent.mkdir(parents=True)
    path.write_bytes(b"archive")
    assert class_archive.jvm_options() == []  # PyFlink splits $JVM_ARGS on white space


def test_the_name_changes_with_the_java_and_with_clickflows_jars(tmp_path, monkeypatch):
    java = tmp_path / "bin" / "java"
    java.parent.mkdir()
    java.write_text("a")
    first = class_archive.key(java)
    assert class_archive.key(java) == first
    java.write_text("another java")
    second = class_archive.key(java)
    assert second != first
    monkeypatch.setattr(class_archive, "_clickflow_jars", lambda: ["rebuilt"])
    assert class_archive.key(java) != second


def test_build_says_why_it_is_skipped_without_jcmd(cache, java):
    said: list[str] = []
    assert class_archive.build(said.append) is None
    assert said == [f"class archive: {java.with_name('jcmd')} not found (a JRE, not a JDK?); skipped"]
    assert not cache.exists()


@pytest.mark.integration
def test_a_truncated_archive_is_found_unusable(tmp_path):
    """A JVM that maps a cut-short archive crashes; build() tries the archive before putting it in place."""
    java = class_archive.java_executable()
    built = class_archive.archive_path(java) if java else None
    if built is None or not built.is_file():
        pytest.skip("the class archive is built by `make setup`")
    assert java is not None
    assert class_archive._usable(java, built)
    cut = tmp_path / "cut.jsa"
    with built.open("rb") as whole, cut.open("wb") as out:
        out.write(whole.read(1_000_000))
    assert not class_archive._usable(java, cut)


@pytest.mark.integration
def test_clickflows_jvm_maps_the_archive():
    """A JVM started by create_table_env has the archive mapped into its memory (/proc/PID/maps)."""
    import subprocess
    import sys

    built = class_archive.archive_path()
    if built is None or not built.is_file():
        pytest.skip("the class archive is built by `make setup`")
    script = (
        "from connectors.config import load_config\n"
        "from jobs.analytics import create_table_env\n"
        "from pyflink.java_gateway import get_gateway\n"
        "create_table_env(load_config('local'))\n"
        "pid = get_gateway().jvm.ProcessHandle.current().pid()\n"
        "print(open(f'/proc/{pid}/maps').read())\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("JVM_ARGS", class_archive.SWITCH_ENV)}
    root = Path(__file__).resolve().parents[2]
    maps = subprocess.run(
        [sys.executable, "-c", script], env=env, cwd=root, capture_output=True, text=True, timeout=300, check=True
    ).stdout
    assert str(built) in maps
    off = subprocess.run(
        [sys.executable, "-c", script],
        env={**env, class_archive.SWITCH_ENV: "off"},
        cwd=root,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    ).stdout
    assert str(built) not in off
