"""A masked copy of a whole ``RunResult``, so a report can re-apply the run's ``Masker`` before writing.

The engine already masks what it records (``results`` module docstring); reports take the Masker again as
defence in depth: a secret registered late in the run (e.g. a secret output of the last step) is then masked
in the records of earlier steps too. Masking is idempotent, so applying it twice is harmless.
"""

from __future__ import annotations

from msgspec.structs import replace

from totpflow.arazzo.masking import Masker
from totpflow.arazzo.results import (
    CheckResult,
    Exchange,
    MessageRecord,
    RecordedRequest,
    RecordedResponse,
    RunResult,
    StepResult,
    WorkflowResult,
)


def _text(masker: Masker, text: str | None) -> str | None:
    return None if text is None else masker.mask_text(text)


def mask_request(request: RecordedRequest, masker: Masker) -> RecordedRequest:
    return replace(
        request,
        url=masker.mask_url(request.url),
        headers=masker.mask_headers(request.headers),
        body=_text(masker, request.body),
    )


def mask_response(response: RecordedResponse, masker: Masker) -> RecordedResponse:
    return replace(response, headers=masker.mask_headers(response.headers), body=_text(masker, response.body))


def mask_exchange(exchange: Exchange, masker: Masker) -> Exchange:
    return Exchange(
        mask_request(exchange.request, masker),
        None if exchange.response is None else mask_response(exchange.response, masker),
        exchange.started_at,
        exchange.elapsed_ms,
        _text(masker, exchange.error),
    )


def mask_check(check: CheckResult, masker: Masker) -> CheckResult:
    return replace(check, condition=masker.mask_text(check.condition), message=_text(masker, check.message))


def mask_message(message: MessageRecord, masker: Masker) -> MessageRecord:
    return replace(
        message,
        headers=dict(masker.mask_headers(message.headers.items())),
        payload=masker.mask_json(message.payload),
        correlation_id=_text(masker, message.correlation_id),
    )


def mask_step(step: StepResult, masker: Masker) -> StepResult:
    return replace(
        step,
        exchanges=tuple(mask_exchange(exchange, masker) for exchange in step.exchanges),
        messages=tuple(mask_message(message, masker) for message in step.messages),
        checks=tuple(mask_check(check, masker) for check in step.checks),
        outputs=masker.mask_json(step.outputs),
        error=_text(masker, step.error),
    )


def mask_workflow(workflow: WorkflowResult, masker: Masker) -> WorkflowResult:
    return replace(
        workflow,
        steps=tuple(mask_step(step, masker) for step in workflow.steps),
        outputs=masker.mask_json(workflow.outputs),
        inputs=masker.mask_json(workflow.inputs),
        error=_text(masker, workflow.error),
    )


def mask_result(result: RunResult, masker: Masker | None) -> RunResult:
    if masker is None:
        return result
    return replace(
        result,
        document=masker.mask_url(result.document, query_values=True),
        workflows=tuple(mask_workflow(workflow, masker) for workflow in result.workflows),
        warnings=tuple(masker.mask_text(warning) for warning in result.warnings),
    )
