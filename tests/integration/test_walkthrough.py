"""Every command the documentation shows runs as shown: Getting started and each task page, walked as a newcomer
walks them — their shell blocks run in order, in one shell per page, in a fresh folder, against a fresh local
stack of the walk's own (``tests/walkthrough.py`` says how a command's comment tells the walk how it ends).

The commands are run exactly as printed. What makes the walk a sandbox is the environment alone: ``clickflow`` on
PATH from this virtualenv; ``$CLICKFLOW_SET`` (``--set`` values from the environment, documented in
Configuration) points the profiles at the walk's own stack ports, state folder, archive and checkpoints; the
folder holds links to the checkout's ``etl/``, ``templates/`` and ``examples/``, as a clone has them.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import PROJECT_ROOT
from tests.walkthrough import read_page, walked_pages

pytestmark = pytest.mark.integration

PAGES = walked_pages(PROJECT_ROOT / "mkdocs.yml")
PAGE_TIMEOUT = 900  # seconds for one page; a command that hangs fails the walk, named, within it
CLUSTER_PORTS = (8082, 6123, 8083)  # the cluster profile's REST, RPC and SQL gateway ports, as the page uses them


def _port_no_one_is_given() -> int:
    """A free loopback port below the kernel's ephemeral range (32768 and up), which the pages' jobs hold for
    minutes: a port picked from that range (free_port) was taken meanwhile by a process another test started
    (the pages' `clickflow run` then refused it: "job.rest_port … is in use"), when tests run side by side."""
    import random

    from connectors.local_stack.stack import port_in_use

    ports = list(range(20000, 30000))
    random.shuffle(ports)
    return next(port for port in ports if not port_in_use("127.0.0.1", port))


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    """The walk's folder and environment; whatever its pages left running is stopped at the end."""
    from connectors.local_stack.stack import private_overrides

    folder = tmp_path_factory.mktemp("walk")
    for name in ("etl", "templates", "examples"):
        (folder / name).symlink_to(PROJECT_ROOT / name)
    state = folder / ".clickflow"
    overrides = [
        *private_overrides(state),
        f"local:job.archive={state / 'archive'}",  # the cluster's and Managed Flink's stay on the (local) S3
        f"local:job.checkpoint_dir={state / 'checkpoints'}",
        f"job.rest_port={_port_no_one_is_given()}",
    ]
    env = {
        **os.environ,
        "CLICKFLOW_SET": shlex.join(overrides),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("CLICKFLOW_STATE_DIR", None)
    yield folder, env
    # whatever a failed page left running: the cluster, then the stack (each stops only what it started)
    for command in (["cluster", "down"], ["stack", "down"]):
        subprocess.run(["clickflow", *command], cwd=folder, env=env, capture_output=True, timeout=180)


@pytest.mark.parametrize("page", PAGES)
def test_every_shell_block_of_the_page_runs_as_shown(page, sandbox):
    folder, env = sandbox
    walked = read_page(PROJECT_ROOT / "docs" / page)
    assert walked.commands, f"docs/{page} shows no command to run"
    if page == "tasks/cluster.md":
        from connectors.local_stack.stack import port_in_use

        taken = [port for port in CLUSTER_PORTS if port_in_use("127.0.0.1", port)]
        if taken:
            pytest.skip(f"the cluster profile's ports {taken} are taken here (a cluster of your own?)")
    log = folder / f"walk-{page.replace('/', '-')}.log"
    with open(log, "w", encoding="utf-8") as out:
        process = subprocess.Popen(
            ["bash", "-c", walked.script()],
            cwd=folder,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            status = process.wait(timeout=PAGE_TIMEOUT)
        except subprocess.TimeoutExpired:
            status = None
        finally:
            _stop_group(process)
    text = log.read_text(encoding="utf-8", errors="replace")
    shown = "\n".join(text.splitlines()[-60:])
    assert status is not None, f"docs/{page}: not done within {PAGE_TIMEOUT} s; the end of its output:\n{shown}"
    assert status == 0, f"docs/{page}: a command did not end as the page says; the end of its output:\n{shown}"
    took = [line for line in text.splitlines() if line.startswith(("$ ", "(exit "))]
    print(f"docs/{page}: {len(walked.commands)} commands run; not run here: {walked.not_run or 'none'}")
    print("\n".join(took))


def _stop_group(process: subprocess.Popen) -> None:
    """Stop what the page's shell left running: SIGTERM to its process group, then SIGKILL."""
    for sig, grace in ((signal.SIGTERM, 60.0), (signal.SIGKILL, 10.0)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            try:
                os.killpg(process.pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.2)
