"""The streaming job submitted to the local cluster through its SQL gateway, from its compiled plan,
with no JVM in ``clickflow run``'s own process.

A start on the cluster otherwise starts a JVM here, translates the plan into operators and submits them
(about 11 s of a warm start on this project's 2-core machine): work that the gateway, a JVM that is already
running with its planner warm, does in a fraction of the time. So when the profile names the local cluster
(``clickflow cluster up``), its gateway answers, and the plan cache holds this start's plan, ``run``:

1. makes the job's statements as every start does, but on :class:`jobs.plans.StatementsOnly` (no JVM), which
   gives the plan key;
2. opens a gateway session with the job's settings (checkpoints, restarts, the state to restore, its jars),
   runs the statements that define the plan's tables and functions (never its views: the plan holds their
   queries), then ``EXECUTE PLAN`` of the cached plan;
3. follows the job through the cluster's REST API: :class:`RestJob` answers as PyFlink's job client does,
   so ``run`` waits, stops with a savepoint or cancels it the same way.

Anything that needs the planner here (no plan in the cache yet, a view's columns not kept) falls back to
the client's own JVM, which compiles the plan and caches it for the next start.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from connectors import cluster, environment, sql_gateway
from connectors.config import Config
from jobs import analytics, plans, stream

# Settings the cluster owns (its addresses, its processes' own); the job's session gets every other one.
_CLUSTERS_OWN = ("rest.", "execution.target", "jobmanager.", "taskmanager.", "python.")


def _runs_on_gateway(config: Config) -> bool:
    return (
        bool(config.job.plan_cache)
        and bool(config.job.cluster)
        and cluster.is_local_cluster(config)
        and cluster.gateway_answers(config)
    )


def offline_job(config: Config, options: Any) -> tuple[plans.StatementsOnly, Path] | None:
    """The job of ``config`` made on :class:`jobs.plans.StatementsOnly`: (its environment, the plan in the
    cache), or None when the cache does not hold its plan or something on the way needs the planner."""
    where = environment.decide(config)
    jars = environment.pipeline_jars(where.config)
    offline = plans.StatementsOnly(analytics.job_settings(where.config, jars, embedded=False))
    recorder = plans.Recorder(offline, views_from_cache=plans.cache_dir())
    try:
        stream.configure(recorder, where.config, options)
        statements = stream.build(recorder, where.config, options)
        path = plans.plan_path(recorder, statements, plans.cache_dir())
    except plans.NeedsPlanner:
        return None
    return (offline, path) if path.is_file() else None


def submit_plan(config: Config, options: Any, say: Callable[[str], None]) -> RestJob | None:
    """Submit the job of ``config`` through the local cluster's SQL gateway when its plan is cached (and the
    gateway answers); its :class:`RestJob`, or None (then the client submits it, as before)."""
    if not _runs_on_gateway(config):
        return None
    found = offline_job(config, options)
    if found is None:
        say("plan: not cached for the SQL gateway yet; planning here (the next start goes through the gateway)")
        return None
    offline, path = found
    settings = {k: v for k, v in offline.to_dict().items() if not k.startswith(_CLUSTERS_OWN)}
    settings["execution.runtime-mode"] = "streaming"
    shipped = [jar for jar in settings.get("pipeline.jars", "").split(";") if jar]
    in_lib = config.job.connector != "official" and len(shipped) == 1
    if in_lib and cluster.runs_jar(config, plans.jar_digest(shipped[0])):
        # The cluster's processes have this very jar in lib/: shipping it with the job as well (15 MB, its
        # classes loaded afresh for each job) cost 0.7 s of a start here.
        del settings["pipeline.jars"]
    endpoint = cluster.gateway_endpoint(config)
    with sql_gateway.Session(endpoint, settings) as session:
        submits_to = session.configuration()
        target = f"{submits_to.get('rest.address')}:{submits_to.get('rest.port')}"
        if submits_to.get("rest.port") != str(cluster.rest_address(config).port):
            # another cluster's gateway on this port (the local cluster's, for the compose profile, say)
            say(f"note: the SQL gateway at {endpoint} submits to {target}, not to job.cluster; submitting from here")
            return None
        try:
            for statement in offline.executed:
                session.execute(statement)
            answer = session.execute("EXECUTE PLAN '" + str(path).replace("'", "''") + "'")
        except sql_gateway.GatewayError as exc:  # nothing was submitted: the client can still plan and submit
            say(f"note: {exc}; submitting from here")
            return None
    plans.touch(path)
    if not answer.job_id:
        raise cluster.ClusterError(f"the SQL gateway at {endpoint} ran the plan {path} but named no job")
    say(f"plan: compiled plan {path.stem[:12]} from the cache, run by the cluster's SQL gateway at {endpoint}")
    return RestJob(config, answer.job_id)


class _Now:
    """A value that is already there, answered as PyFlink's futures answer (``result()``)."""

    def __init__(self, value: Any = None) -> None:
        self._value = value

    def result(self) -> Any:
        return self._value


class _Savepoint:
    """A stop with a savepoint under way in a thread, answered as the Java client's future (isDone, get)."""

    def __init__(self, stop: Callable[[], str | None]) -> None:
        self._location: str | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(stop,), daemon=True)
        self._thread.start()

    def _run(self, stop: Callable[[], str | None]) -> None:
        try:
            self._location = stop()
        except BaseException as exc:  # noqa: BLE001 - handed to get()
            self._error = exc

    def isDone(self) -> bool:  # noqa: N802 - the Java future's name, which jobs.stream calls
        return not self._thread.is_alive()

    def get(self) -> str | None:
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._location


class RestJob:
    """A job on the local cluster followed through its REST API, answering what ``jobs.stream.run`` asks of
    PyFlink's TableResult and JobClient: its id, its state, the wait for its end (raising what it failed
    with), a stop with a savepoint, a cancel."""

    def __init__(self, config: Config, job_id: str) -> None:
        self._config = config
        self._id = job_id

    def get_job_client(self) -> RestJob:
        """Itself (a TableResult's job client)."""
        return self

    def get_job_id(self) -> str:
        """The job's id on the cluster."""
        return self._id

    def _state(self) -> str:
        answer = cluster.get_json(f"{cluster.rest_address(self._config).url}/jobs/{self._id}", timeout=10)
        if answer is None:
            raise cluster.ClusterError(f"the cluster does not answer at {self._config.job.cluster}")
        return str(answer.get("state", "UNKNOWN"))

    def get_job_status(self) -> _Now:
        """The job's state now (RUNNING, FINISHED, ...)."""
        return _Now(self._state())

    def wait(self) -> None:
        """Until the job ends; a cluster.ClusterError with the job's root cause if it did not finish."""
        while (state := self._state()) not in stream.TERMINAL:
            time.sleep(0.5)
        if state != "FINISHED":
            raise cluster.ClusterError(f"job {self._id} {state.lower()} on the cluster: {self.failure()}")

    def failure(self) -> str:
        """The first line of the job's root exception, as the cluster keeps it."""
        url = f"{cluster.rest_address(self._config).url}/jobs/{self._id}/exceptions"
        answer = cluster.get_json(url, timeout=10) or {}
        trace = str(answer.get("root-exception") or "")
        return sql_gateway.root_cause(trace) if trace else "no exception recorded"

    def stop_with_savepoint_at(self, directory: str) -> _Savepoint:
        """Start stopping the job with a savepoint under ``directory``; the future of its location."""
        return _Savepoint(lambda: cluster.stop(self._config, self._id, directory))

    def cancel(self) -> _Now:
        """Cancel the job, without a savepoint."""
        cluster.stop(self._config, self._id, None)
        return _Now()
