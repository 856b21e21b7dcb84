"""The ASGI application: the one place that wires the web framework to the services, the key rotation and the
error table.

``create_app(settings)`` builds a Starlette app over a fresh ``services.Deps`` (``totpflow.server.wiring``);
``create_app_from_env()`` builds it in each worker process (``--workers N``), reading the same settings from
the environment (uvicorn's factory there is ``totpflow.server.supervision.create_worker_app``, which calls
it).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import AsyncIterator
from datetime import timedelta

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.routing import BaseRoute

from totpflow.server import errors, services
from totpflow.server.config import Settings
from totpflow.server.http import access_log, dispatch, health, metrics
from totpflow.server.http.errors import CatchUnexpected, http_exception_handler, server_error_handler
from totpflow.server.http.headers import HeaderLimits
from totpflow.server.http.routes import ServerState, routes
from totpflow.server.http.upkeep import run_upkeep, upkeep_threads
from totpflow.server.openapi import document_json
from totpflow.server.services.keys import rotate_due_keys
from totpflow.server.wiring import build_deps

ROTATION_CHECK_SECONDS = 60


async def rotate_keys_periodically(deps: services.Deps, every: timedelta) -> None:
    """Once a minute, start a key rollover for each project whose newest key is ``every`` old (in the thread
    upkeep pool: the store is synchronous). A failed check is logged and retried at the next one."""
    logger = logging.getLogger(access_log.SERVER_LOGGER_NAME)
    while True:
        try:
            for rotation in await run_upkeep(functools.partial(rotate_due_keys, deps, every)):
                logger.info("signing key %s published; it signs from %s", rotation.kid, rotation.signs_from)
        except Exception as exc:
            logger.error("signing-key rotation check failed: %s", type(exc).__name__)
        await asyncio.sleep(ROTATION_CHECK_SECONDS)


def served_routes() -> list[BaseRoute]:
    """Every route the app serves: the API's, the health checks and the metrics."""
    return [*routes(), *health.routes(), *metrics.routes()]


def create_app(settings: Settings, deps: services.Deps | None = None) -> Starlette:
    """The Stytch-compatible server as an ASGI app (routes in ``totpflow.server.http.routes``)."""
    resolved = build_deps(settings) if deps is None else deps

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        logging.getLogger(access_log.SERVER_LOGGER_NAME).info("serving requests")
        every = resolved.policy.rotate_keys_every
        rotating = None if every is None else asyncio.create_task(rotate_keys_periodically(resolved, every))
        yield
        if rotating is not None:
            rotating.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await rotating
        # Transactions in flight end before the store closes; the lifespan does not wait for an upkeep check
        # stuck on an unanswering database (the interpreter's exit still joins its thread).
        await dispatch.service_threads.drain()
        await upkeep_threads.drain(wait=False)
        resolved.store.dispose()
        if resolved.counters is not None:
            resolved.counters.close()

    app = Starlette(
        routes=served_routes(),
        # Outermost first: the request log (which also counts each request in the metrics) sees the 500 that
        # CatchUnexpected renders, and every 431.
        middleware=[
            Middleware(access_log.AccessLog),
            Middleware(CatchUnexpected),
            Middleware(HeaderLimits),
        ],
        exception_handlers={
            errors.ServerError: server_error_handler,
            HTTPException: http_exception_handler,
        },
        lifespan=lifespan,
    )
    # A path with a trailing slash is no route (a Stytch 404), never a redirect built from the Host header.
    app.router.redirect_slashes = False
    app.state.totpflow = ServerState(deps=resolved, openapi_json=document_json())
    return app


def create_app_from_env() -> Starlette:
    """For ``uvicorn --factory totpflow.server.app:create_app_from_env``; settings from the environment,
    including the request log's format (each worker process configures its own logging)."""
    from totpflow.server.supervision import watch_supervisor

    settings = Settings.from_env()
    access_log.configure(settings.log_format)
    watch_supervisor()
    return create_app(settings)
