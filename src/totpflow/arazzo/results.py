"""What a run produced: records the engine builds and every report (terminal, JSON, JUnit, HAR) renders.

Secrets are masked when these records are built (``Exchange`` holds already-masked headers and bodies), so no
report can leak a credential, a ``password``-format input or a value the caller declared secret.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    method: str
    url: str
    headers: tuple[tuple[str, str], ...]  # masked
    body: str | None  # text as sent (masked); None when there was no body
    content_type: str | None = None


@dataclass(frozen=True, slots=True)
class RecordedResponse:
    status_code: int
    headers: tuple[tuple[str, str], ...]  # masked
    body: str | None  # text (masked); binary bodies are summarised
    content_type: str | None = None
    http_version: str = "HTTP/1.1"


@dataclass(frozen=True, slots=True)
class Exchange:
    """One HTTP attempt of a step."""

    request: RecordedRequest
    response: RecordedResponse | None  # None when the request failed (timeout, connection error)
    started_at: datetime
    elapsed_ms: float
    error: str | None = None


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One success criterion (or action criterion) as evaluated."""

    condition: str
    passed: bool
    type: str = "simple"
    message: str | None = None  # why it failed, e.g. the left and right values (masked)


@dataclass(frozen=True, slots=True)
class StepResult:
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


@dataclass(frozen=True, slots=True)
class WorkflowResult:
    workflow_id: str
    ok: bool
    status: Literal["succeeded", "failed", "transferred", "skipped"]
    steps: tuple[StepResult, ...]
    outputs: dict[str, Any]  # masked
    inputs: dict[str, Any]  # masked
    elapsed_ms: float
    error: str | None = None
    transferred_to: str | None = None  # a goto to another workflow ends this one


@dataclass(frozen=True, slots=True)
class RunResult:
    document: str  # the document's path or URL as given
    ok: bool
    workflows: tuple[WorkflowResult, ...]
    started_at: datetime
    elapsed_ms: float
    warnings: tuple[str, ...] = field(default=())
