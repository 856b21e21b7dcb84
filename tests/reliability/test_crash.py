"""Crash safety: a server process killed with SIGKILL, and database connections terminated by PostgreSQL, in
the middle of a few hundred enrollment flows (``flows.py``).

* ``kill -9``: two processes share the store; one is killed once a third of the flows are done and restarted
  at once on the same port, while the flows go on. Every flow that got its three 200s is fully present
  afterwards (checked through both processes), and the store passes its integrity check.
* ``pg_terminate_backend``: every connection of the two processes is terminated three times during the load.
  Requests may fail, but only with a Stytch error body and never by hanging; every complete flow is present;
  and the servers serve new flows normally afterwards.

Each test runs :data:`FLOWS` flows (300; ``TOTPFLOW_CRASH_FLOWS=N`` for a longer run) over :data:`WORKERS`
threads, about 20 s per test on a 2-core machine.
"""

from __future__ import annotations

import os
import threading
import uuid
from pathlib import Path

import pytest
from cluster import Cluster, cluster
from figures import record
from flows import Flow, integrity_problems, missing_parts, run_flows

FLOWS = int(os.environ.get("TOTPFLOW_CRASH_FLOWS", "300"))
WORKERS = 8
RECOVERY_FLOWS = 10
BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def summary(flows: list[Flow]) -> dict[str, int]:
    failures: dict[str, int] = {}
    for flow in flows:
        for failure in flow.failures:
            failures[failure] = failures.get(failure, 0) + 1
    return {
        "flows": len(flows),
        "complete": sum(f.complete for f in flows),
        "interrupted": sum(not f.complete for f in flows),
        **{f"failure {k}": v for k, v in sorted(failures.items())},
    }


def assert_complete_flows_present(running: Cluster, flows: list[Flow]) -> int:
    complete = [f for f in flows if f.complete]
    missing = {f.email: parts for f in complete if (parts := missing_parts(running, f, f.index % 2))}
    assert not missing, missing
    return len(complete)


@pytest.fixture(params=BACKENDS)
def backend_name(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


def test_kill_9_during_enrollment_flows(backend_name: str, tmp_path: Path) -> None:
    with cluster(backend_name, tmp_path, 2) as running:
        victim = running.nodes[0]
        reached = threading.Event()
        restarted = threading.Event()

        def progress(finished: int) -> None:
            if finished >= FLOWS // 3:
                reached.set()

        def killer() -> None:
            if reached.wait(timeout=300):
                running.kill(victim)
                running.start(victim)  # same port; the flows already running keep going
                restarted.set()

        thread = threading.Thread(target=killer, daemon=True)
        thread.start()
        flows = run_flows(running, FLOWS, WORKERS, progress, tag=f"kill-{backend_name}")
        thread.join(timeout=120)
        assert restarted.is_set(), "the server was not killed and restarted during the flows"

        present = assert_complete_flows_present(running, flows)
        problems = integrity_problems(running)
        assert not problems, problems
        after = run_flows(running, RECOVERY_FLOWS, 2, tag=f"after-kill-{backend_name}")
        assert all(f.complete for f in after), summary(after)
        record("crash", test="kill -9", backend=backend_name, kills=1, present=present,
               integrity="ok", **summary(flows))  # fmt: skip


@pytest.mark.postgres
def test_terminated_postgres_connections_during_enrollment_flows(tmp_path: Path) -> None:
    import psycopg

    name = f"totpflow-crash-{uuid.uuid4().hex[:12]}"
    with cluster("postgres", tmp_path, 2, application_name=name) as running:
        marks = [FLOWS // 4, FLOWS // 2, 3 * FLOWS // 4]
        fired: list[int] = []
        terminated: list[int] = []
        lock = threading.Lock()

        def terminate() -> None:
            base = running.database_url.split("?", 1)[0]
            with psycopg.connect(base, autocommit=True) as conn:
                rows = conn.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s",
                    (name,),
                ).fetchall()
            with lock:
                terminated.append(sum(1 for (ok,) in rows if ok))

        def progress(finished: int) -> None:
            with lock:
                due = [m for m in marks if finished >= m and m not in fired]
                fired.extend(due)
            for _ in due:
                terminate()

        flows = run_flows(running, FLOWS, WORKERS, progress, tag="pgkill")
        assert len(terminated) == len(marks)
        assert sum(terminated) > 0, "no server connection was found to terminate"
        present = assert_complete_flows_present(running, flows)
        problems = integrity_problems(running)
        assert not problems, problems
        after = run_flows(running, RECOVERY_FLOWS, 2, tag="after-pgkill")
        assert all(f.complete for f in after), summary(after)
        statuses = {k for f in flows for k in f.failures}
        assert all(s[:1] in "45" for s in statuses), statuses  # Stytch bodies only; no transport errors
        record("crash", test="pg_terminate_backend", backend="postgres", terminations=len(marks),
               connections_terminated=sum(terminated), present=present, integrity="ok",
               **summary(flows))  # fmt: skip
