"""Start-up benchmark: where the streaming job's seconds go between `clickflow run` and its first record.

    .venv/bin/python benchmarks/startup.py [--runs 3]

Starts its own stack on free ports, replays 2,000 generated events, compiles the job's plan once (so every
timed start loads it, as a warm `run` does), then starts the job --runs times in a fresh Python process each,
with the JVM class archive (connectors/class_archive.py, built by `make setup`) and without it
(CLICKFLOW_CLASS_ARCHIVE=off), in turn. Each start is timed step by step, as `jobs.stream.start` takes them:

  imports            Python imports of clickflow's job modules (PyFlink's with them)
  JVM                PyFlink's JVM started and the TableEnvironment made (the class archive is mapped here)
  register           the job's tables, views and functions registered (the plan key is made from them)
  load plan          the compiled plan read from the cache
  translate          the plan turned into operators: their Java code generated and split
  submit             the embedded Flink started, the job graph built (its operators' code compiled once here
                     too) and submitted
  first record       the job deployed, its operators' code compiled in its tasks, the first event read and
                     written to the events archive

and the medians are printed for each. Everything is in a temporary directory; the stack is stopped at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from connectors import class_archive
from connectors.config import load_config
from connectors.local_stack import stack

ROOT = Path(__file__).resolve().parents[1]
PY = str(ROOT / ".venv" / "bin" / "python") if (ROOT / ".venv").exists() else sys.executable
STEPS = ("imports", "JVM", "register", "load plan", "translate", "submit", "first record")


def one_start(overrides: list[str], archive: Path) -> dict[str, float]:
    """In a fresh process (--child): start the job from the cached plan, time each step, stop it."""
    marks: dict[str, float] = {}
    last = time.perf_counter()  # clickflow's job modules (PyFlink's among them) are imported below

    def mark(step: str) -> None:
        nonlocal last
        now = time.perf_counter()
        marks[step] = now - last
        last = now

    from connectors import environment
    from jobs import plans, stream

    mark("imports")
    config = load_config("local", overrides=[*overrides, f"job.archive={archive}", "job.rest_port=0"])
    where = environment.decide(config)
    env = plans.Recorder(environment.table_env(where), views_from_cache=plans.cache_dir())
    mark("JVM")
    options = stream.RunOptions(start="trim_horizon")
    stream.configure(env, where.config, options)
    statements = stream.build(env, where.config, options)
    mark("register")
    from pyflink.table import TableResult

    path = plans.plan_path(env, statements, plans.cache_dir())
    if not path.is_file():
        raise RuntimeError(f"no cached plan {path}: the parent compiles it first")
    plan = plans.load_plan(env, path)
    mark("load plan")
    internal = plan.unwrap()
    operators = env._j_tenv.getPlanner().translatePlan(internal)
    mark("translate")
    result = TableResult(env._j_tenv.executeInternal(operators, internal.getSinkIdentifiers()))
    mark("submit")
    while not any(p.is_file() for p in (archive / "events").rglob("*")):
        time.sleep(0.05)
    mark("first record")
    result.get_job_client().cancel().result()
    return marks


def compile_once(overrides: list[str], workdir: Path, env: dict[str, str]) -> None:
    """Run the job once through `jobs.stream.start` (which compiles and caches its plan), then stop it."""
    script = (
        "import sys; sys.path.insert(0, sys.argv[1])\n"
        "from connectors.config import load_config\n"
        "from jobs import stream\n"
        "config = load_config('local', overrides=sys.argv[2:])\n"
        "stream.start(config, stream.RunOptions(start='trim_horizon')).get_job_client().cancel().result()\n"
    )
    sets = [*overrides, f"job.archive={workdir / 'archive-compile'}", "job.rest_port=0"]
    subprocess.run([PY, "-c", script, str(ROOT), *sets], check=True, cwd=ROOT, env=env, capture_output=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3, help="start-ups with the class archive and without, each")
    parser.add_argument("--child", nargs=2, metavar=("OVERRIDES_JSON", "ARCHIVE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(one_start(json.loads(args.child[0]), Path(args.child[1]))))
        return 0

    built = class_archive.archive_path()
    if built is None or not built.is_file():
        print("note: no class archive is built (make setup builds it): both rows run without one")
    workdir = Path(tempfile.mkdtemp(prefix="clickflow-startup-"))
    overrides = [*stack.private_overrides(workdir / "stack"), f"job.checkpoint_dir={workdir / 'checkpoints'}"]
    config = load_config("local", overrides=overrides)
    env = {k: v for k, v in os.environ.items() if k != "JVM_ARGS"}
    env["CLICKFLOW_PLAN_CACHE"] = str(workdir / "plans")
    stack.up(config)
    try:
        sets = [x for o in overrides for x in ("--set", o)]
        sample = workdir / "sample.csv"
        for command in (["generate", str(sample), "--events", "2000"], ["replay", str(sample)]):
            subprocess.run([PY, "-m", "clickflow", *command, *sets, "--quiet"], check=True, cwd=ROOT, env=env)
        compile_once(overrides, workdir, env)
        times: dict[str, list[dict[str, float]]] = {"with the class archive": [], "class archive off": []}
        for n in range(args.runs):
            for label, switch in (("with the class archive", "on"), ("class archive off", "off")):
                child = subprocess.run(
                    [PY, __file__, "--child", json.dumps(overrides), str(workdir / f"archive-{switch}-{n}")],
                    cwd=ROOT,
                    env={**env, class_archive.SWITCH_ENV: switch},
                    capture_output=True,
                    text=True,
                    timeout=600,
                )
                if child.returncode != 0:
                    raise RuntimeError(f"a start failed:\n{child.stderr[-3000:]}")
                times[label].append(json.loads(child.stdout.strip().splitlines()[-1]))
                total = sum(times[label][-1].values())
                print(f"  run {n + 1}, {label}: {total:.1f} s to the first record", flush=True)
        print(f"\nwarm start-up of the streaming job, medians of {args.runs} (seconds):")
        print(f"  {'step':<14}" + "".join(f"{label:>24}" for label in times))
        for step in (*STEPS, "total"):
            row = []
            for runs in times.values():
                values = [sum(r.values()) if step == "total" else r[step] for r in runs]
                row.append(statistics.median(values))
            print(f"  {step:<14}" + "".join(f"{value:>24.2f}" for value in row))
    finally:
        stack.down(config)
    return 0


if __name__ == "__main__":
    sys.exit(main())
