"""The current request's id and, once its credentials are verified, its project: shared by the response
bodies (``request_id``, stytch-api.md §2.3) and the request log line, so the two always carry the same id.

A context variable set by :class:`totpflow.server.http.access_log.AccessLog` for each HTTP request; the thread
pool that runs services copies the context, and the object is mutable so that the authenticated project
set there is seen by the log line.
"""

from __future__ import annotations

import uuid
from contextvars import ContextVar
from dataclasses import dataclass


def new_request_id() -> str:
    """A fresh ``request-id-test-<uuid4>`` (stytch-api.md §2.3)."""
    return f"request-id-test-{uuid.uuid4()}"


@dataclass(slots=True)
class RequestContext:
    request_id: str
    project_id: str | None = None
    error_type: str | None = None  # the Stytch error_type of the response, when it is an error


current: ContextVar[RequestContext | None] = ContextVar("totpflow_request", default=None)


def request_id() -> str:
    """The current request's id, or a fresh one outside a request."""
    context = current.get()
    return new_request_id() if context is None else context.request_id


def authenticated(project_id: str) -> None:
    """Record that the current request's credentials are those of ``project_id`` (for its log line)."""
    context = current.get()
    if context is not None:
        context.project_id = project_id


def failed(error_type: str) -> None:
    """Record the error type the current request is answered with (for the metrics)."""
    context = current.get()
    if context is not None:
        context.error_type = error_type
