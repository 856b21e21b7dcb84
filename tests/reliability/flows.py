"""Enrollment flows under load (create user → create TOTP → authenticate with a session), and what must hold
of the store afterwards, for the crash-safety suites.

A flow is *complete* when all three steps answered 200. Every complete flow must be fully present afterwards
(the user, its verified TOTP, its active session), whatever happened to the server processes or their database
connections in between: a 200 is only sent after the transaction committed. Incomplete flows may have left
part of their data (a user without a TOTP is a valid state), but never a broken row: the store's integrity
check and the orphan queries of :func:`integrity_problems` must come back empty.
"""

from __future__ import annotations

import sqlite3
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httpx
import pyotp
from cluster import Cluster

ERROR_KEYS = {"status_code", "request_id", "error_type", "error_message", "error_url"}
STEP_TIMEOUT = 30.0  # a request without an answer within this is a hang, and fails the suite


@dataclass
class Flow:
    index: int
    email: str
    user_id: str | None = None
    totp_id: str | None = None
    session_id: str | None = None
    session_token: str | None = None
    steps_ok: int = 0
    failures: list[str] = field(default_factory=list)  # "STATUS error_type" or the transport error's class

    @property
    def complete(self) -> bool:
        return self.steps_ok == 3


def record_failure(flow: Flow, response: httpx.Response) -> None:
    body = response.json()  # every failure is a Stytch error body (asserted here, not assumed)
    assert ERROR_KEYS <= set(body), response.text
    flow.failures.append(f"{response.status_code} {body['error_type']}")


def run_flow(running: Cluster, flow: Flow, node: int) -> None:
    """The three steps against one process; stops at the first step that does not answer 200."""
    try:
        with running.client(node, timeout=STEP_TIMEOUT) as client:
            user = client.post("/v1/users", json={"email": flow.email})
            if user.status_code != 200:
                return record_failure(flow, user)
            flow.user_id = user.json()["user_id"]
            flow.steps_ok = 1
            totp = client.post("/v1/totps", json={"user_id": flow.user_id})
            if totp.status_code != 200:
                return record_failure(flow, totp)
            flow.totp_id = totp.json()["totp_id"]
            flow.steps_ok = 2
            code = pyotp.TOTP(totp.json()["secret"]).now()
            body = {"user_id": flow.user_id, "totp_code": code, "session_duration_minutes": 60}
            session = client.post("/v1/totps/authenticate", json=body)
            if session.status_code != 200:
                return record_failure(flow, session)
            flow.session_id = session.json()["session"]["session_id"]
            flow.session_token = session.json()["session_token"]
            flow.steps_ok = 3
    except httpx.TimeoutException:
        raise  # a hang is a failure of the suite, never an accepted outcome
    except httpx.TransportError as exc:  # the process died under us
        flow.failures.append(type(exc).__name__)


def run_flows(
    running: Cluster,
    count: int,
    workers: int,
    on_progress: Callable[[int], None] | None = None,
    tag: str = "flow",
) -> list[Flow]:
    """``count`` flows over ``workers`` threads, flow ``i`` on process ``i % len(nodes)``;
    ``on_progress(n)`` is called (from the worker threads) with the number of flows finished so far."""
    run = uuid.uuid4().hex[:8]
    flows = [Flow(i, f"{tag}-{run}-{i}@example.com") for i in range(count)]
    done = 0
    lock = threading.Lock()

    def one(flow: Flow) -> None:
        nonlocal done
        run_flow(running, flow, flow.index % len(running.nodes))
        with lock:
            done += 1
            finished = done
        if on_progress is not None:
            on_progress(finished)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        for future in [pool.submit(one, flow) for flow in flows]:
            future.result(timeout=STEP_TIMEOUT * 4 + 60)
    return flows


def missing_parts(running: Cluster, flow: Flow, node: int) -> list[str]:
    """What of a complete flow is not in the store, asked through the API of process ``node``."""
    missing = []
    with running.client(node, timeout=STEP_TIMEOUT) as client:
        user = client.get(f"/v1/users/{flow.user_id}")
        if user.status_code != 200:
            return [f"user ({user.status_code})"]
        totps = {t["totp_id"]: t for t in user.json()["totps"]}
        if not totps.get(flow.totp_id or "", {}).get("verified"):
            missing.append("verified TOTP")
        sessions = client.get("/v1/sessions", params={"user_id": flow.user_id}).json()["sessions"]
        if flow.session_id not in {s["session_id"] for s in sessions}:
            missing.append("session")
        check = client.post("/v1/sessions/authenticate", json={"session_token": flow.session_token})
        if check.status_code != 200:
            missing.append(f"session token ({check.status_code})")
    return missing


# Rows that point at nothing, or more live TOTPs per user than the partial unique index allows; each query
# returns offending rows (none expected).
ORPHAN_QUERIES = {
    "users without project": "SELECT u.user_id FROM users u LEFT JOIN projects p "
    "ON p.project_id = u.project_id WHERE p.project_id IS NULL",
    "emails without user": "SELECT e.email_id FROM emails e LEFT JOIN users u "
    "ON u.user_id = e.user_id WHERE u.user_id IS NULL",
    "totps without user": "SELECT t.totp_id FROM totps t LEFT JOIN users u "
    "ON u.user_id = t.user_id WHERE u.user_id IS NULL",
    "recovery codes without totp": "SELECT r.recovery_code_id FROM recovery_codes r LEFT JOIN totps t "
    "ON t.totp_id = r.totp_id WHERE t.totp_id IS NULL",
    "sessions without user": "SELECT s.session_id FROM sessions s LEFT JOIN users u "
    "ON u.user_id = s.user_id WHERE u.user_id IS NULL",
    "users with two live totps": "SELECT user_id FROM totps WHERE NOT deleted GROUP BY user_id "
    "HAVING COUNT(*) > 1",
    "totps with a partial set of recovery codes": "SELECT totp_id FROM recovery_codes GROUP BY totp_id "
    "HAVING COUNT(*) <> (SELECT MAX(n) FROM (SELECT COUNT(*) AS n FROM recovery_codes GROUP BY totp_id) m)",
    "users of another project in an email row": "SELECT e.email_id FROM emails e JOIN users u "
    "ON u.user_id = e.user_id WHERE u.project_id <> e.project_id",
}


def integrity_problems(running: Cluster) -> dict[str, Any]:
    """The store's own integrity check (SQLite) plus :data:`ORPHAN_QUERIES`; empty when all is well."""
    problems: dict[str, Any] = {}
    if running.backend == "sqlite":
        path = running.database_url.removeprefix("sqlite:///")
        with sqlite3.connect(path, timeout=30) as conn:
            check = [row[0] for row in conn.execute("PRAGMA integrity_check")]
            if check != ["ok"]:
                problems["PRAGMA integrity_check"] = check
            fk = conn.execute("PRAGMA foreign_key_check").fetchall()
            if fk:
                problems["PRAGMA foreign_key_check"] = fk
            for name, query in ORPHAN_QUERIES.items():
                rows = conn.execute(query.replace("NOT deleted", "deleted = 0")).fetchall()
                if rows:
                    problems[name] = rows[:5]
        return problems
    import psycopg

    with psycopg.connect(running.database_url, autocommit=True) as conn:
        for name, query in ORPHAN_QUERIES.items():
            rows = conn.execute(query).fetchall()
            if rows:
                problems[name] = rows[:5]
    return problems


def wait_for(predicate: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False
