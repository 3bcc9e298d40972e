"""A class-data-sharing archive for clickflow's own JVM (the JDK's dynamic CDS): the classes a job loads —
Flink's runtime, its SQL planner, clickflow's functions — parsed and verified once, kept in a file, and mapped
into memory by every later JVM instead of being loaded again from the jars. Measured (docs/benchmarks.md):
1.3 s less of a ~30 s warm start of the streaming job (the JVM's start, the plan's loading, the submission),
and ``analyze`` over 20,000 events in 0.94 of the wall time and 0.93 of the CPU.

``make setup`` builds it (``python -m connectors.class_archive``, about a minute): a JVM started with
``-XX:+RecordDynamicDumpInfo`` runs ``analyze`` over a small generated file with a cold plan cache (so the
optimiser's classes are loaded too), then compiles the streaming job's plan and translates it into operators
without running it, and the JDK's ``jcmd <pid> VM.cds dynamic_dump`` writes what it loaded.
clickflow's JVMs (``run``, ``analyze``, ``explore``, ``etl``, ``migrate``…) then start with
``-XX:SharedArchiveFile``, unless ``$JVM_ARGS`` is set (yours are used as they are) or
``$CLICKFLOW_CLASS_ARCHIVE`` is ``off``.

The archive is only valid for one JVM and one set of jars, so its file name is a digest of the java
executable (path, size, time), PyFlink's jars and clickflow's (their source fingerprints): anything else
finds no archive and starts as before. The JVM checks it too (a class whose bytes differ is loaded from its
jar). A half-written archive would crash the JVM that maps it, so it is written under another name,
tried with ``java -version``, and only then renamed into place. The three most recently built are kept
(~110 MB each).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

SWITCH_ENV = "CLICKFLOW_CLASS_ARCHIVE"  # "off": no archive is used
_WORKLOAD_ENV = "_CLICKFLOW_CLASS_ARCHIVE_DUMP"  # set by build() for its child: where to dump
WORKLOAD_EVENTS = 3000
KEEP = 3  # archives kept (about 110 MB each), the least recently built removed


def java_executable() -> Path | None:
    """The java PyFlink starts (Flink's env.java.home, $JAVA_HOME, else java on PATH), resolved; None if none."""
    from pyflink.pyflink_gateway_server import find_java_executable

    found = shutil.which(find_java_executable())
    return Path(found).resolve() if found else None


def _identity(path: Path) -> list:
    stat = path.stat()
    return [str(path), stat.st_size, int(stat.st_mtime)]


def _clickflow_jars() -> list[str]:
    """The fingerprints of clickflow's jars (connectors/build/*.sha256: of the sources they were built from)."""
    build = Path(__file__).resolve().parent / "build"
    return sorted(p.read_text().split()[0] for p in build.glob("*.sha256")) if build.is_dir() else []


def key(java: Path) -> str:
    """The digest that names the archive for ``java`` and the jars installed now."""
    import pyflink

    flink = Path(pyflink.__file__).resolve().parent
    jars = sorted([*flink.glob("lib/*.jar"), *flink.glob("opt/flink-python*.jar")])
    identity = {
        "java": _identity(java),
        "flink": [_identity(jar) for jar in jars],
        "clickflow": _clickflow_jars(),
    }
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:24]


def directory() -> Path:
    """Where archives are kept: clickflow's cache's ``jvm/``."""
    from connectors.official import cache_root

    return cache_root() / "jvm"


def archive_path(java: Path | None = None) -> Path | None:
    """Where this machine's archive is (or would be); None without a java."""
    java = java or java_executable()
    return directory() / f"classes-{key(java)}.jsa" if java else None


def jvm_options() -> list[str]:
    """The options that make a JVM map the archive: none when it is switched off, not built, or its path
    cannot be passed in $JVM_ARGS (PyFlink splits it on white space)."""
    if os.environ.get(SWITCH_ENV, "").lower() in ("off", "0", "false", "no"):
        return []
    try:
        path = archive_path()
    except Exception:  # noqa: BLE001 - no archive found costs only speed
        return []
    if path is None or not path.is_file() or any(c.isspace() for c in str(path)):
        return []
    # -Xshare:auto (the default): an archive that does not fit this JVM is ignored; its notices are not printed
    return [f"-XX:SharedArchiveFile={path}", "-Xlog:cds=off", "-Xlog:cds+dynamic=off"]


def dump_requested() -> Path | None:
    """In build()'s child: where the archive is to be written."""
    value = os.environ.get(_WORKLOAD_ENV)
    return Path(value) if value else None


def dump_this_jvm(target: Path) -> None:
    """Write the classes this process's JVM has loaded to ``target`` (it was started with
    -XX:+RecordDynamicDumpInfo)."""
    from pyflink.java_gateway import get_gateway

    pid = get_gateway().jvm.ProcessHandle.current().pid()
    jcmd = Path(str(java_executable())).with_name("jcmd")
    done = subprocess.run(
        [str(jcmd), str(pid), "VM.cds", "dynamic_dump", str(target)], capture_output=True, text=True, timeout=600
    )
    if done.returncode != 0 or not target.is_file():
        raise RuntimeError(f"jcmd VM.cds dynamic_dump failed ({done.returncode}): {(done.stdout + done.stderr)[-500:]}")


def _workload(target: Path) -> None:
    """build()'s child: analyze a small generated file, plan the streaming job, then dump this JVM's classes
    to ``target``."""
    from connectors.config import load_config
    from jobs.analyze import analyze
    from producer.generate import GenerateOptions, write_generated

    config = load_config("local")
    with tempfile.TemporaryDirectory(prefix="clickflow-classes-") as work:
        sample = Path(work) / "sample.csv"
        write_generated(GenerateOptions(events=WORKLOAD_EVENTS, bots=2, abandoned=2), sample)
        analyze(config, str(sample), Path(work) / "out")
        _plan_stream_job(config)
        dump_this_jvm(target)


def _plan_stream_job(config) -> None:
    """Compile the streaming job's plan and translate it into operators, without running it (no Kinesis is
    needed): the job's connector, sinks and operators are loaded as `run` loads them."""
    from jobs import plans, stream

    _, env, statements = stream.prepare(config, stream.RunOptions(start="trim_horizon", bounded=True), rest_port=0)
    plan = plans.compile_plan(env, statements)
    env._j_tenv.getPlanner().translatePlan(plan.unwrap())


def _usable(java: Path, archive: Path) -> bool:
    """A JVM starts with ``archive`` mapped (a damaged archive makes it crash)."""
    done = subprocess.run(
        [
            str(java),
            f"-XX:SharedArchiveFile={archive}",
            "-Xlog:cds=off",
            "-Xlog:cds+dynamic=off",
            "-XX:-CreateCoredumpOnCrash",
            f"-XX:ErrorFile={os.devnull}",  # no hs_err_pid file left behind by the crash this looks for
            "-version",
        ],
        capture_output=True,
        timeout=120,
    )
    return done.returncode == 0


def build(say: Callable[[str], None] = print, force: bool = False) -> Path | None:
    """Build this machine's archive unless it is there (``force``: again). Returns its path, or None when it
    cannot be built here (said why): clickflow then starts its JVMs without one, as before."""
    java = java_executable()
    if java is None:
        say("class archive: no java found; skipped")
        return None
    if not java.with_name("jcmd").is_file():
        say(f"class archive: {java.with_name('jcmd')} not found (a JRE, not a JDK?); skipped")
        return None
    target = archive_path(java)
    assert target is not None
    if target.is_file() and not force:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    say(f"class archive: loading a job's classes once to share them with every later JVM (about a minute) → {target}")
    partial = target.with_name(f"{target.stem}.{os.getpid()}.partial")
    env = {
        **os.environ,
        "JVM_ARGS": "-XX:+RecordDynamicDumpInfo",
        _WORKLOAD_ENV: str(partial),
        "CLICKFLOW_PLAN_CACHE": tempfile.mkdtemp(prefix="clickflow-classes-plans-"),  # cold: the optimiser runs
    }
    env.pop(SWITCH_ENV, None)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "connectors.class_archive", "--workload"],
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
            cwd=Path(__file__).resolve().parent.parent,
        )
        if done.returncode != 0 or not partial.is_file():
            say(f"class archive: not built; JVMs start without one. The run said:\n{done.stderr[-2000:]}")
            return None
        if not _usable(java, partial):
            say(f"class archive: {partial} does not start a JVM; not used")
            return None
        os.replace(partial, target)
    except (subprocess.TimeoutExpired, OSError) as exc:
        say(f"class archive: not built ({exc}); JVMs start without one")
        return None
    finally:
        partial.unlink(missing_ok=True)
        shutil.rmtree(env["CLICKFLOW_PLAN_CACHE"], ignore_errors=True)
    archives = sorted(target.parent.glob("classes-*.jsa"), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in archives[KEEP:]:  # the newest few: two checkouts (or JDKs) on one machine keep theirs
        old.unlink(missing_ok=True)
    say(f"class archive: {target.stat().st_size / 1e6:.0f} MB")
    return target


def main(argv: list[str] | None = None) -> int:
    """``python -m connectors.class_archive [--force]``: build the archive unless it is there."""
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m connectors.class_archive",
        description="Build the JVM class archive clickflow's JVMs start with (make setup runs this). "
        f"Set {SWITCH_ENV}=off to start without it.",
    )
    parser.add_argument("--force", action="store_true", help="build it again even if it is there")
    parser.add_argument("--workload", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.workload:
        target = dump_requested()
        if target is None:
            parser.error(f"--workload is build()'s child: {_WORKLOAD_ENV} is not set")
        _workload(target)
        return 0
    build(force=args.force)
    return 0  # an archive that cannot be built costs only speed: set-up goes on


if __name__ == "__main__":
    sys.exit(main())
