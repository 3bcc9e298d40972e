"""A Flink job that fails, told in one line: the root cause (:mod:`jobs.failure`), with the full
trace — Python and Java — written to a file (``.clickflow/logs/``) instead of 160 lines of py4j and
Java stack on the terminal.
"""

from __future__ import annotations

import time
import traceback
from pathlib import Path

from jobs.failure import root_cause

PROJECT_ROOT = Path(__file__).resolve().parents[1]
LOG_DIR = PROJECT_ROOT / ".clickflow" / "logs"


def is_java_failure(exc: BaseException) -> bool:
    """Whether ``exc`` came out of Flink's JVM (py4j's error, or PyFlink's wrapping of one)."""
    kinds = {cls.__module__ + "." + cls.__name__ for cls in type(exc).__mro__}
    return bool(kinds & {"py4j.protocol.Py4JJavaError", "pyflink.util.exceptions.JavaException"})


def report(command: str, exc: BaseException, log_dir: Path = LOG_DIR) -> str:
    """Write the whole failure (Python and Java) to a log file; the one line to print."""
    log_dir.mkdir(parents=True, exist_ok=True)
    path = log_dir / f"{command}-{time.strftime('%Y%m%d-%H%M%S')}.log"
    text = "".join(traceback.format_exception(exc))
    path.write_text(text, encoding="utf-8")
    cause = root_cause(str(exc)) or root_cause(text) or type(exc).__name__
    shown = path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path
    return f"the Flink job failed: {cause} (full trace: {shown})"
