"""Why a Flink job failed, in one line, from the Java exception chain in its error's text.

Which cause: the deepest one clickflow's own Java raised (``io.clickflow.*``: the Kinesis connector
names the call, the endpoint and what to fix — no credentials and where it looked, a denied action,
a refused URL) or a table's ``ValidationException`` (a bad option); failing those, the deepest
cause of all (the relocated AWS SDK inside clickflow's jar is not clickflow's own). Pure: the jobs,
``analyze``, ``explore`` and the CLI's one-line errors all read causes through here.
"""

from __future__ import annotations

import re

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
    return f"{name}: {message}"


def flink_root_cause(exc: BaseException) -> str:
    """:func:`root_cause` of an exception's text, else its first line."""
    text = str(exc)
    cause = root_cause(text)
    if cause:
        return cause
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__
