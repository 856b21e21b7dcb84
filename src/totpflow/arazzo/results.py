"""What a run produced: records the engine builds and every report (terminal, JSON, JUnit, HAR) renders.

Secrets are masked when these records are built, so no report can leak a credential, a ``password``-format
input or a value the caller declared secret. An ``Exchange`` of a run is built when it is first read: until
then it holds the request and response as sent and received, and reading ``request`` or ``response`` masks
them with the run's ``Masker`` as it is then (secrets only ever get added to it, so a record built late masks
at least what one built at once would have). A run that nobody inspects in detail does not pay for records.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Literal

import msgspec


class RecordedRequest(msgspec.Struct, frozen=True):
    method: str
    url: str
    headers: tuple[tuple[str, str], ...]  # masked
    body: str | None  # text as sent (masked); None when there was no body
    content_type: str | None = None


class RecordedResponse(msgspec.Struct, frozen=True):
    status_code: int
    headers: tuple[tuple[str, str], ...]  # masked
    body: str | None  # text (masked); binary bodies are summarised
    content_type: str | None = None
    http_version: str = "HTTP/1.1"


Recorder = Callable[[], tuple[RecordedRequest, RecordedResponse | None]]


class Exchange:
    """One HTTP attempt of a step: ``request``, ``response`` (None when the request failed: timeout,
    connection error), ``started_at``, ``elapsed_ms`` and ``error``. Built from finished records, or
    ``deferred`` with a ``Recorder`` that builds them on first read."""

    __slots__ = ("_recorder", "_request", "_response", "elapsed_ms", "error", "started_at")

    def __init__(
        self,
        request: RecordedRequest,
        response: RecordedResponse | None,
        started_at: datetime,
        elapsed_ms: float,
        error: str | None = None,
    ) -> None:
        self._request: RecordedRequest | None = request
        self._response = response
        self._recorder: Recorder | None = None
        self.started_at = started_at
        self.elapsed_ms = elapsed_ms
        self.error = error

    @classmethod
    def deferred(
        cls, recorder: Recorder, started_at: datetime, elapsed_ms: float, error: str | None = None
    ) -> Exchange:
        exchange = cls.__new__(cls)
        exchange._request, exchange._response, exchange._recorder = None, None, recorder
        exchange.started_at, exchange.elapsed_ms, exchange.error = started_at, elapsed_ms, error
        return exchange

    def _record(self) -> RecordedRequest:
        recorder = self._recorder
        if recorder is not None:
            self._request, self._response = recorder()
            self._recorder = None
        assert self._request is not None
        return self._request

    @property
    def request(self) -> RecordedRequest:
        return self._request if self._recorder is None and self._request is not None else self._record()

    @property
    def response(self) -> RecordedResponse | None:
        if self._recorder is not None:
            self._record()
        return self._response

    def _fields(self) -> tuple[Any, ...]:
        return (self.request, self.response, self.started_at, self.elapsed_ms, self.error)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Exchange) and self._fields() == other._fields()

    def __hash__(self) -> int:
        return hash(self._fields())

    def __repr__(self) -> str:
        return (
            f"Exchange(request={self.request!r}, response={self.response!r}, started_at={self.started_at!r},"
            f" elapsed_ms={self.elapsed_ms!r}, error={self.error!r})"
        )


class CheckResult(msgspec.Struct, frozen=True):
    """One success criterion (or action criterion) as evaluated."""

    condition: str
    passed: bool
    type: str = "simple"
    message: str | None = None  # why it failed, e.g. the left and right values (masked)


class MessageRecord(msgspec.Struct, frozen=True):
    """One message an async step published or received, as reports show it (masked); or, for a receive step
    whose wait ended without a matching message (``timed_out``), what it waited for: the channel, address,
    correlation id and ``timeout_ms``, with no headers and no payload."""

    action: str  # send | receive
    source: str  # the AsyncAPI source description's name
    channel: str  # the channel's key in the AsyncAPI document
    address: str  # where it travelled (topic, routing key, subject, path)
    protocol: str
    server: str  # host[:port] of the broker
    headers: dict[str, str]
    payload: Any
    content_type: str | None
    correlation_id: str | None
    started_at: datetime
    elapsed_ms: float
    timeout_ms: float | None = None  # how long a receive step waited at most (None for a send)
    timed_out: bool = False  # a receive step's wait ended without a matching message


class StepResult(msgspec.Struct, frozen=True):
    workflow_id: str
    step_id: str
    ok: bool
    attempts: int
    exchanges: tuple[Exchange, ...]  # one per HTTP attempt; empty for a workflowId step
    checks: tuple[CheckResult, ...]  # of the last attempt
    outputs: dict[str, Any]  # masked
    elapsed_ms: float
    operation: str | None = None  # operationId, operationPath or workflowId as written
    action: str | None = (
        None  # the action taken after the step: "next", "end", "goto:<target>", "retry", "fail"
    )
    error: str | None = None  # why the step failed, with the document location where there is one
    messages: tuple[MessageRecord, ...] = ()  # an AsyncAPI step's messages, one per attempt


class WorkflowResult(msgspec.Struct, frozen=True):
    workflow_id: str
    ok: bool
    status: Literal["succeeded", "failed", "transferred", "skipped"]
    steps: tuple[StepResult, ...]
    outputs: dict[str, Any]  # masked
    inputs: dict[str, Any]  # masked
    elapsed_ms: float
    error: str | None = None
    transferred_to: str | None = None  # a goto to another workflow ends this one
    # "<workflowId>/<stepId>" of the workflowId step that ran it: its outcome reaches the run through that
    # step (a failure the step's failure actions handle fails nothing); None for a workflow the run was asked
    # for, a dependency or the target of a goto
    called_by: str | None = None


class RunResult(msgspec.Struct, frozen=True):
    document: str  # the document's path or URL as given
    ok: bool
    workflows: tuple[WorkflowResult, ...]
    started_at: datetime
    elapsed_ms: float
    warnings: tuple[str, ...] = ()
