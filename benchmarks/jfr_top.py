"""Where a Java Flight Recorder recording of a job spent its CPU samples: by thread, by part of the job, by method.

    .venv/bin/python benchmarks/jfr_top.py RECORDING.jfr [--top 25]

Record a job with JFR (it ships with the JDK) by starting its JVM with, for example,
    JVM_ARGS="-XX:StartFlightRecording=filename=/tmp/job.jfr,settings=profile" \\
        .venv/bin/python benchmarks/pipeline.py --events 100000 --live 0 --startups 0
then read it with this script. It reads the recording's execution samples (``jfr print``, the JDK's own
reader: a sample is a running Java thread's stack, taken every 10-20 ms) and prints:
- samples by thread (numbers in thread names folded, so a task's subtasks count together);
- samples by part of the job: each sample goes to the part of the frame nearest the top of its stack that
  belongs to one of PARTS (the first matching prefix in PARTS' order) other than the JDK's, which gets
  only stacks of nothing else;
- the methods most often on top of the stack (self time), with their part.
Samples are CPU time only: a thread that waits is not sampled; garbage collection is not in them (the GC
pauses' total is printed apart).
"""

from __future__ import annotations

import argparse
import re
import subprocess
from collections import Counter
from pathlib import Path

# (part, prefixes of its methods' names; generated classes have no package): a frame is the first part whose
# prefix it has; a sample, the part of its frame nearest the top of the stack
PARTS: list[tuple[str, tuple[str, ...]]] = [
    ("AWS SDK (in the connector)", ("io.clickflow.kinesis.shaded.",)),
    ("Kinesis connector (clickflow)", ("io.clickflow.kinesis.",)),
    ("clickflow functions", ("io.clickflow.udf.",)),
    ("JSON format", ("org.apache.flink.formats.json.", "org.apache.flink.shaded.jackson2.")),
    (
        "file sink (archive)",
        ("org.apache.flink.connector.file.", "org.apache.flink.streaming.api.functions.sink.filesystem."),
    ),
    ("generated operator code", ("StreamExecCalc$", "GlobalWindowAggsHandler", "LocalWindowAggsHandler", "Generated")),
    ("compiling generated code", ("org.apache.flink.table.runtime.generated.", "org.codehaus.")),
    ("Flink table runtime (windows, joins, ranks)", ("org.apache.flink.table.runtime.",)),
    (
        "Flink table data (rows, strings, serializers)",
        ("org.apache.flink.table.data.", "org.apache.flink.table.types."),
    ),
    (
        "checkpoints and state",
        (
            "org.apache.flink.runtime.state.",
            "org.apache.flink.runtime.checkpoint.",
            "org.apache.flink.contrib.streaming.state.",
            "org.rocksdb.",
        ),
    ),
    (
        "network stack and serialization",
        (
            "org.apache.flink.runtime.io.",
            "org.apache.flink.core.memory.",
            "org.apache.flink.api.common.typeutils.",
        ),
    ),
    (
        "Flink streaming runtime (mailbox, timers, watermarks)",
        ("org.apache.flink.streaming.", "org.apache.flink.runtime."),
    ),
    (
        "SQL planner and code generation",
        ("org.apache.flink.table.planner.", "org.apache.calcite."),
    ),
    ("Python bridge (py4j)", ("py4j.", "org.apache.flink.api.python.", "org.apache.flink.python.")),
    ("Netty (Flink's RPC, REST)", ("org.apache.flink.shaded.netty4.", "org.apache.pekko.", "scala.")),
    ("JDK", ("java.", "javax.", "jdk.", "sun.")),
]
_FRAME = re.compile(r"^\s+([\w$.<>/]+)\(")
_THREAD = re.compile(r'sampledThread = "(.*)" \(javaThreadId')


def part_of(method: str) -> str | None:
    for part, prefixes in PARTS:
        if method.startswith(prefixes):
            return part
    return None


def fold(thread: str) -> str:
    return re.sub(r"\d+", "N", thread)


def jfr_print(recording: Path, event: str, *options: str) -> str:
    """The JDK's text of ``recording``'s ``event`` events (``jfr print``)."""
    command = ["jfr", "print", "--events", event, *options, str(recording)]
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout


def samples(recording: Path):
    """(thread, [frames, leaf first]) for each execution sample of ``recording``."""
    text = jfr_print(recording, "jdk.ExecutionSample", "--stack-depth", "64")
    thread, frames = None, []
    for line in text.splitlines():
        if line.startswith("jdk.ExecutionSample"):
            thread, frames = None, []
        elif (m := _THREAD.search(line)) is not None:
            thread = m.group(1)
        elif (m := _FRAME.match(line)) is not None and thread is not None:
            frames.append(m.group(1))
        elif line.startswith("}") and thread is not None:
            yield thread, frames
            thread = None


def gc_pause_seconds(recording: Path) -> float:
    text = jfr_print(recording, "jdk.GarbageCollection")
    total = 0.0
    for m in re.finditer(r"sumOfPauses = ([\d.]+) (ms|s|us)", text):
        total += float(m.group(1)) * {"s": 1.0, "ms": 1e-3, "us": 1e-6}[m.group(2)]
    return total


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("recording", type=Path)
    parser.add_argument("--top", type=int, default=25, help="methods listed (default 25)")
    parser.add_argument("--threads", default="", help="only threads whose name holds this text (e.g. 'Source')")
    parser.add_argument(
        "--callers",
        metavar="TEXT",
        help="instead: the commonest stacks (12 frames) of samples with a frame holding TEXT",
    )
    args = parser.parse_args()
    if args.callers:
        stacks: Counter[tuple[str, ...]] = Counter()
        for thread, frames in samples(args.recording):
            if args.threads in thread and any(args.callers in f for f in frames):
                stacks[tuple(frames[:12])] += 1
        for stack, count in stacks.most_common(args.top):
            print(f"{count} samples:\n    " + "\n    ".join(stack))
        return 0

    threads: Counter[str] = Counter()
    parts: Counter[str] = Counter()
    tops: Counter[str] = Counter()
    total = 0
    for thread, frames in samples(args.recording):
        if args.threads not in thread or not frames:
            continue
        total += 1
        threads[fold(thread)] += 1
        found = [p for f in frames if (p := part_of(f)) is not None]
        parts[next((p for p in found if p != "JDK"), found[0] if found else "other")] += 1  # JDK: when nothing else
        tops[frames[0]] += 1
    if not total:
        print("no execution samples: was the recording made with settings=profile (or default) and did the JVM run?")
        return 1

    def table(title: str, counts: Counter[str], n: int) -> None:
        print(f"\n{title}")
        for name, count in counts.most_common(n):
            print(f"  {100 * count / total:5.1f}%  {count:>6}  {name}")

    print(
        f"{total:,} execution samples in {args.recording}"
        + (f" (threads with {args.threads!r})" if args.threads else "")
    )
    print(f"garbage collection pauses: {gc_pause_seconds(args.recording):.2f} s in all")
    table("by thread (digits folded to N)", threads, 15)
    table("by part of the job (the part nearest the top of each stack)", parts, len(PARTS) + 1)
    table(f"top {args.top} methods on top of the stack (self time)", tops, args.top)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
