"""Health checks for orchestrators and load balancers: ``GET /healthz`` and ``GET /readyz``.

``/healthz`` answers 200 whenever the process serves HTTP. ``/readyz`` answers 200 when the store answers and
its schema is at this release's migration head, else 503 with the reason in a word (``database`` or
``schema``), never the database's message; a store that has stopped after an I/O error or corruption
(``errors.StoreFailed``) is not ready either, for good, until the process is restarted. A store that does not
answer within ``READY_TIMEOUT`` seconds (a database that accepts connections but never replies) is not ready
either: the probe answers, it never hangs. Neither takes credentials or says anything about projects or users;
both are plain routes, so unknown-route handling never applies to them.
"""

from __future__ import annotations

import asyncio
import functools
from typing import Final

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from totpflow.server.http.upkeep import run_upkeep
from totpflow.server.storage.migrate import at_head

JSON: Final = "application/json"
READY_TIMEOUT: Final = 5.0
_encode: Final = msgspec.json.Encoder().encode


def _answer(status: int, body: dict[str, str]) -> Response:
    return Response(_encode(body), status, media_type=JSON, headers={"Cache-Control": "no-store"})


async def healthz(request: Request) -> Response:
    return _answer(200, {"status": "ok"})


async def readyz(request: Request) -> Response:
    store = request.app.state.totpflow.deps.store
    if store.failure is not None:
        return _answer(503, {"status": "not_ready", "reason": "database"})
    engine = store.engine
    try:
        current = await asyncio.wait_for(run_upkeep(functools.partial(at_head, engine)), READY_TIMEOUT)
    except Exception:  # any failure to reach or read the store means not ready; its message may hold a URL
        return _answer(503, {"status": "not_ready", "reason": "database"})
    if not current:
        return _answer(503, {"status": "not_ready", "reason": "schema"})
    return _answer(200, {"status": "ready"})


def routes() -> list[Route]:
    return [Route("/healthz", healthz, methods=["GET"]), Route("/readyz", readyz, methods=["GET"])]
