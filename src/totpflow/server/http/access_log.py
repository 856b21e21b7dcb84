"""Structured request log: one line per HTTP request on the ``totpflow.server.access`` logger.

Fields: ``ts`` (UTC, milliseconds), ``request_id`` (the one in the response body), ``method``, ``route``,
``status``, ``latency_ms`` and ``project_id`` (only once the request's Basic credentials were verified).

``route`` is the route *template* (``/v1/users/{user_id}``), never the raw path, and ``null`` for a path that
matches no route. Ids are not secrets, but a template keeps the field's values a short fixed set that can be
counted, and keeps attacker-chosen text (anything sent to an unknown path) out of the log. Query strings,
headers (``Authorization`` above all) and bodies are never read here, so no secret, code or token can reach a
line (OWASP ASVS 5.0 §16.2.5 / §7: do not log session tokens or credentials).

The server's other log lines (uvicorn's start-up and shutdown messages, its errors) are rendered by the same
formatter, so stderr holds one format: ``{"ts", "level", "logger", "pid", "message"}`` (plus ``exception``) in
JSON, ``ts LEVEL logger[pid] message`` in text. :func:`logging_config` is the ``logging.config.dictConfig``
for both, given to uvicorn as its ``log_config`` so every worker process applies it; with ``off`` only the
server's warnings and errors are written (as text). :func:`configure` applies it in this process.
"""

from __future__ import annotations

import logging
import logging.config
import time
from datetime import UTC, datetime
from typing import Any, Final

import msgspec
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from totpflow.server.http import metrics, request_context

LOGGER_NAME: Final = "totpflow.server.access"
SERVER_LOGGER_NAME: Final = "totpflow.server"  # the server's own messages (start-up of each process …)
logger = logging.getLogger(LOGGER_NAME)
_encode = msgspec.json.Encoder().encode


class AccessLog:
    """ASGI middleware that, once the response has been sent (or has failed), writes the request log line and
    counts the request in the metrics (:func:`metrics.observe`): one status capture serves both."""

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
            elapsed_ns = time.perf_counter_ns() - started
            route = getattr(scope.get("route"), "path", None)
            metrics.observe(scope["method"], route, status, context.error_type, elapsed_ns / 1e9)
            if logger.isEnabledFor(logging.INFO):
                fields = {
                    "request_id": context.request_id,
                    "method": scope["method"][:16],
                    "route": route,
                    "status": status,
                    "latency_ms": round(elapsed_ns / 1e6, 3),
                    "project_id": context.project_id,
                }
                logger.info("request", extra={"access": fields})


def _timestamp(record: logging.LogRecord) -> str:
    moment = datetime.fromtimestamp(record.created, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


class JsonFormatter(logging.Formatter):
    """One JSON object a line: ``{"ts", "request_id", "method", "route", "status", "latency_ms",
    "project_id"}`` for a request, ``{"ts", "level", "logger", "pid", "message"}`` (and ``exception``)
    otherwise."""

    def format(self, record: logging.LogRecord) -> str:
        access: dict[str, Any] | None = getattr(record, "access", None)
        if access is not None:
            return _encode({"ts": _timestamp(record), **access}).decode()
        line: dict[str, Any] = {
            "ts": _timestamp(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "pid": record.process,
            "message": record.getMessage(),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return _encode(line).decode()


class TextFormatter(logging.Formatter):
    """``ts request_id METHOD route status latency_ms project_id`` (``-`` for a missing value) for a request,
    ``ts LEVEL logger[pid] message`` (then any traceback) otherwise."""

    def format(self, record: logging.LogRecord) -> str:
        f: dict[str, Any] | None = getattr(record, "access", None)
        if f is None:
            source = f"{record.name}[{record.process}]"
            text = f"{_timestamp(record)} {record.levelname} {source} {record.getMessage()}"
            if record.exc_info:
                text += "\n" + self.formatException(record.exc_info)
            return text
        return (
            f"{_timestamp(record)} {f.get('request_id')} {f.get('method')} {f.get('route') or '-'} "
            f"{f.get('status')} {f.get('latency_ms')}ms {f.get('project_id') or '-'}"
        )


def logging_config(fmt: str) -> dict[str, Any]:
    """The ``dictConfig`` of the request log and uvicorn's loggers for ``json``, ``text`` or ``off``."""
    formatter = JsonFormatter if fmt == "json" else TextFormatter
    level = "WARNING" if fmt == "off" else "INFO"
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"line": {"()": f"{__name__}.{formatter.__name__}"}},
        "handlers": {
            "stderr": {"class": "logging.StreamHandler", "formatter": "line", "stream": "ext://sys.stderr"}
        },
        "loggers": {
            LOGGER_NAME: {"handlers": ["stderr"], "level": level, "propagate": False},
            SERVER_LOGGER_NAME: {"handlers": ["stderr"], "level": level, "propagate": False},
            "uvicorn": {"handlers": ["stderr"], "level": level, "propagate": False},
            "uvicorn.error": {"level": level, "propagate": True},
            # uvicorn's own access lines stay off: the request log above replaces them.
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
        },
    }


def configure(fmt: str) -> None:
    """Apply :func:`logging_config` in this process."""
    logging.config.dictConfig(logging_config(fmt))
