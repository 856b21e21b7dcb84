"""Structured request log: one line per HTTP request on the ``totpflow.server.access`` logger.

Fields: ``ts`` (UTC, milliseconds), ``request_id`` (the one in the response body), ``method``, ``route``,
``status``, ``latency_ms`` and ``project_id`` (only once the request's Basic credentials were verified).

``route`` is the route *template* (``/v1/users/{user_id}``), never the raw path, and ``null`` for a path that
matches no route. Ids are not secrets, but a template keeps the field's values a short fixed set that can be
counted, and keeps attacker-chosen text (anything sent to an unknown path) out of the log. Query strings,
headers (``Authorization`` above all) and bodies are never read here, so no secret, code or token can reach a
line (OWASP ASVS 5.0 §16.2.5 / §7: do not log session tokens or credentials).

``configure(fmt)`` attaches a stderr handler with the JSON or text formatter (``totpflow serve
--log-format``); with the logger below INFO the middleware does no more than time the request.
"""

from __future__ import annotations

import logging
import sys
import time
from datetime import UTC, datetime
from typing import IO, Any, Final

import msgspec
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from totpflow.server.http import request_context

LOGGER_NAME: Final = "totpflow.server.access"
logger = logging.getLogger(LOGGER_NAME)
_encode = msgspec.json.Encoder().encode


class AccessLog:
    """ASGI middleware writing the request log line once the response has been sent (or failed)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter_ns()
        context = request_context.RequestContext(request_context.new_request_id())
        token = request_context.current.set(context)
        status = 500

        async def capture_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, capture_status)
        finally:
            request_context.current.reset(token)
            if logger.isEnabledFor(logging.INFO):
                route = scope.get("route")
                fields = {
                    "request_id": context.request_id,
                    "method": scope["method"][:16],
                    "route": getattr(route, "path", None),
                    "status": status,
                    "latency_ms": round((time.perf_counter_ns() - started) / 1e6, 3),
                    "project_id": context.project_id,
                }
                logger.info("request", extra={"access": fields})


def _timestamp(record: logging.LogRecord) -> str:
    moment = datetime.fromtimestamp(record.created, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


class JsonFormatter(logging.Formatter):
    """One JSON object a line: ``{"ts", "request_id", "method", "route", "status", "latency_ms",
    "project_id"}``."""

    def format(self, record: logging.LogRecord) -> str:
        fields: dict[str, Any] = getattr(record, "access", {})
        return _encode({"ts": _timestamp(record), **fields}).decode()


class TextFormatter(logging.Formatter):
    """``ts request_id METHOD route status latency_ms project_id`` (``-`` for a missing value)."""

    def format(self, record: logging.LogRecord) -> str:
        f: dict[str, Any] = getattr(record, "access", {})
        return (
            f"{_timestamp(record)} {f.get('request_id')} {f.get('method')} {f.get('route') or '-'} "
            f"{f.get('status')} {f.get('latency_ms')}ms {f.get('project_id') or '-'}"
        )


def configure(fmt: str, stream: IO[str] | None = None) -> None:
    """Send the request log to ``stream`` (stderr) as ``json`` or ``text`` lines, or turn it ``off``."""
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
    logger.propagate = False
    if fmt == "off":
        logger.setLevel(logging.WARNING)
        return
    handler = logging.StreamHandler(sys.stderr if stream is None else stream)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
