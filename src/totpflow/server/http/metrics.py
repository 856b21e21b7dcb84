"""Prometheus metrics at ``GET /metrics`` (text exposition format, ``prometheus-client``).

================================================  ==========================================================
metric                                            what it counts
================================================  ==========================================================
``totpflow_http_requests_total``                  requests by ``method``, ``route`` (the route *template*,
                                                  ``unmatched`` for none) and ``status``
``totpflow_http_request_duration_seconds``        latency histogram by ``method`` and ``route``
``totpflow_second_factor_attempts_total``         TOTP and recovery-code attempts by ``factor`` (``totp``,
                                                  ``recovery_code``) and ``outcome`` (``success``,
                                                  ``failure``: a wrong code)
``totpflow_user_locks_total``                     users locked by consecutive failures
``totpflow_locked_refusals_total``                attempts refused because the user is locked
``totpflow_rate_limit_refusals_total``            requests refused by a rate limit
================================================  ==========================================================

Labels hold only route templates, methods, statuses and the fixed names above: never a project id, user id,
raw path or anything a caller chose, so the set of series stays small and nothing identifies anyone.

With several worker processes (``totpflow serve --workers N``), ``serve`` points ``PROMETHEUS_MULTIPROC_DIR``
at a private directory before the workers start; prometheus-client then keeps each process's values in files
there, and ``/metrics`` in any worker adds up every process's counts (its multiprocess mode).
"""

from __future__ import annotations

import os
from typing import Final

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from totpflow.server import events
from totpflow.server.http.upkeep import run_upkeep

MULTIPROC_ENV: Final = "PROMETHEUS_MULTIPROC_DIR"
METHODS: Final = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})
FACTORS: Final = {"/v1/totps/authenticate": "totp", "/v1/totps/recover": "recovery_code"}
WRONG_CODE: Final = frozenset({"unable_to_authenticate_totp", "unable_to_authenticate_recovery_code"})
LATENCY_BUCKETS: Final = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

REGISTRY: Final = CollectorRegistry()
REQUESTS: Final = Counter(
    "totpflow_http_requests", "HTTP requests.", ["method", "route", "status"], registry=REGISTRY
)
LATENCY: Final = Histogram(
    "totpflow_http_request_duration_seconds",
    "Time from the request's arrival to its response's end.",
    ["method", "route"],
    buckets=LATENCY_BUCKETS,
    registry=REGISTRY,
)
ATTEMPTS: Final = Counter(
    "totpflow_second_factor_attempts",
    "TOTP and recovery-code attempts by outcome.",
    ["factor", "outcome"],
    registry=REGISTRY,
)
LOCKS: Final = Counter("totpflow_user_locks", "Users locked by consecutive failures.", registry=REGISTRY)
LOCKED_REFUSALS: Final = Counter(
    "totpflow_locked_refusals", "Attempts refused because the user is locked.", registry=REGISTRY
)
RATE_LIMITED: Final = Counter(
    "totpflow_rate_limit_refusals", "Requests refused by a rate limit.", registry=REGISTRY
)


def _on_event(event: events.Event) -> None:
    if event == events.USER_LOCKED:
        LOCKS.inc()


events.listen(_on_event)


def observe(method: str, route: str | None, status: int, error_type: str | None, seconds: float) -> None:
    """Count one finished request (called by the request log's middleware, ``access_log.AccessLog``)."""
    method = method if method in METHODS else "OTHER"
    template = route or "unmatched"
    REQUESTS.labels(method, template, str(status)).inc()
    LATENCY.labels(method, template).observe(seconds)
    factor = FACTORS.get(template)
    if factor is not None:
        if status == 200:
            ATTEMPTS.labels(factor, "success").inc()
        elif error_type in WRONG_CODE:
            ATTEMPTS.labels(factor, "failure").inc()
    if error_type == "user_lock_limit_reached":
        LOCKED_REFUSALS.inc()
    elif error_type == "too_many_requests":
        RATE_LIMITED.inc()


def exposition() -> bytes:
    """The metrics in the text format: this process's, or every worker's in multiprocess mode."""
    if os.environ.get(MULTIPROC_ENV):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]  # the library leaves it unannotated
        return generate_latest(registry)
    return generate_latest(REGISTRY)


async def metrics(request: Request) -> Response:
    body = await run_upkeep(exposition)
    return Response(body, 200, headers={"Content-Type": CONTENT_TYPE_LATEST, "Cache-Control": "no-store"})


def routes() -> list[Route]:
    return [Route("/metrics", metrics, methods=["GET"])]
