"""A Flink job that fails, told in one line: the root cause from the Java exception chain, with the
full trace written to a file (``.clickflow/logs/``) instead of 160 lines of py4j and Java stack.

Which cause: the deepest one clickflow's own Java raised (``io.clickflow.*``: the Kinesis connector
names the call, the endpoint and what to fix — no credentials and where it looked, a denied action,
a refused URL) or a table's ``ValidationException`` (a bad option); failing those, the deepest
cause of all (the relocated AWS SDK inside clickflow's jar is not clickflow's own).
"""

from __future__ import annotations

import re
import time
import traceback
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
LOG_DIR = PROJECT_ROOT / ".clickflow" / "logs"
# "java.io.IOException: message", "Caused by: x.y.Z: message", ": x.y.Z: message" (py4j's first line)
_CAUSE = re.compile(r"^(?::\s*|Caused by:\s*)?((?:[a-z_$][\w$]*\.)+[A-Z][\w$]*): (.*)$")
_PREFERRED = ("io.clickflow.", "org.apache.flink.table.api.ValidationException")
_NOT_OURS = "io.clickflow.kinesis.shaded."  # the AWS SDK inside clickflow's jar, relocated


def chain(trace: str) -> list[tuple[str, str]]:
    """The (class, first line of message) of each exception a Java stack trace names, outermost first."""
    found = []
    for line in trace.splitlines():
        match = _CAUSE.match(line.strip())
        if match and not line.lstrip().startswith("at "):
            found.append((match.group(1), match.group(2).strip()))
    return found


def root_cause(trace: str) -> str | None:
    """The one line that says why the job failed (see the module's docstring), or None."""
    causes = chain(trace)
    if not causes:
        return None
    preferred = [c for c in causes if c[0].startswith(_PREFERRED) and not c[0].startswith(_NOT_OURS)]
    name, message = (preferred or causes)[-1]
    if preferred or not message:
        return message or name
    return f"{name.rsplit('.', 1)[-1]}: {message}"


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
