"""The JSON report (``--json-output FILE``): the whole run, workflow outputs included.

Public API::

    to_json(result, *, masker=None) -> dict
    write_json(result, path, *, masker=None) -> None      UTF-8, indented, keys in the order below
    write_refusal(document, errors, path) -> None         a run refused before it started (exit code 2)

Shape (camelCase keys, like Redocly ``respect``'s ``--json-output``, which this extends with workflow inputs
and outputs, step outputs and every attempt; reference/arazzo.md §3, respect issue #2878)::

    {ok, document, startedAt, elapsedMs, warnings,
     workflows: [{workflowId, ok, status, transferredTo, calledBy, outputs, inputs, elapsedMs, error,
                  steps: [{stepId, ok, attempts, operation, action, error, elapsedMs,
                           checks: [{condition, type, passed, message}], outputs,
                           request: {method, url, headers, body} | null,        # the last attempt
                           response: {statusCode, headers, body, timeMs} | null,
                           exchanges: [{startedAt, timeMs, error, request, response}],
                           messages: [{action, source, channel, address, protocol, server, headers,
                                       payload, payloadEncoding?, contentType, correlationId,
                                       startedAt, timeMs, timeoutMs, timedOut}]}]}]}

``payloadEncoding`` is present, ``"base64"``, only for a binary payload (bytes that are not UTF-8 text), shown
in base64 so that every byte can be read back.

``calledBy`` is ``"<workflowId>/<stepId>"`` of the ``workflowId`` step that ran the workflow (null for a
workflow the run was asked for, a dependency or a goto's target): such a workflow's failure is the run's only
if that step's failure actions do not handle it.

``messages`` are the messages an AsyncAPI step published or received (empty for other steps). A receive
step's wait that ended without a matching message is recorded too, with ``timedOut: true``: the channel,
address, correlation id and ``timeoutMs`` it waited with, no ``payload`` nor ``contentType`` (nothing
arrived). ``timeoutMs`` is null for a send.

A refused run (invalid document, command line or inputs; nothing was sent) is reported as
``{ok: false, document, exitCode: 2, errors: [{location, message}], warnings: [], workflows: []}``.

``headers`` is an object of name → value (a repeated field → a list of its values). A body recorded as JSON
text is included as the JSON value it holds; any other body as its text.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from totpflow.arazzo.masking import Masker
from totpflow.arazzo.reports.jsonable import json_default, shown_payload, write_json_text
from totpflow.arazzo.reports.masked import mask_result
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


def _time(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _ms(value: float) -> float:
    return round(value, 3)


def headers_object(headers: tuple[tuple[str, str], ...]) -> dict[str, str | list[str]]:
    result: dict[str, str | list[str]] = {}
    for name, value in headers:
        current = result.get(name)
        if current is None:
            result[name] = value
        elif isinstance(current, list):
            current.append(value)
        else:
            result[name] = [current, value]
    return result


def body_value(body: str | None, content_type: str | None) -> Any:
    if body is None:
        return None
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media == "application/json" or media.endswith("+json"):
        try:
            return json.loads(body)
        except ValueError:
            return body
    return body


def _request(request: RecordedRequest) -> dict[str, Any]:
    return {
        "method": request.method,
        "url": request.url,
        "headers": headers_object(request.headers),
        "body": body_value(request.body, request.content_type),
    }


def _response(response: RecordedResponse | None, elapsed_ms: float) -> dict[str, Any] | None:
    if response is None:
        return None
    return {
        "statusCode": response.status_code,
        "headers": headers_object(response.headers),
        "body": body_value(response.body, response.content_type),
        "timeMs": _ms(elapsed_ms),
    }


def _exchange(exchange: Exchange) -> dict[str, Any]:
    return {
        "startedAt": _time(exchange.started_at),
        "timeMs": _ms(exchange.elapsed_ms),
        "error": exchange.error,
        "request": _request(exchange.request),
        "response": _response(exchange.response, exchange.elapsed_ms),
    }


def _check(check: CheckResult) -> dict[str, Any]:
    return {
        "condition": check.condition,
        "type": check.type,
        "passed": check.passed,
        "message": check.message,
    }


def _step(step: StepResult) -> dict[str, Any]:
    last = step.exchanges[-1] if step.exchanges else None
    return {
        "stepId": step.step_id,
        "ok": step.ok,
        "attempts": step.attempts,
        "operation": step.operation,
        "action": step.action,
        "error": step.error,
        "elapsedMs": _ms(step.elapsed_ms),
        "checks": [_check(check) for check in step.checks],
        "outputs": step.outputs,
        "request": None if last is None else _request(last.request),
        "response": None if last is None else _response(last.response, last.elapsed_ms),
        "exchanges": [_exchange(exchange) for exchange in step.exchanges],
        "messages": [message_json(message) for message in step.messages],
    }


def message_json(message: MessageRecord) -> dict[str, Any]:
    """One message of an AsyncAPI step as the JSON report and the ``--messages`` file show it."""
    payload, encoding = shown_payload(message.payload)
    shown: dict[str, Any] = {
        "action": message.action,
        "source": message.source,
        "channel": message.channel,
        "address": message.address,
        "protocol": message.protocol,
        "server": message.server,
        "headers": dict(message.headers),
        "payload": payload,
        "contentType": message.content_type,
        "correlationId": message.correlation_id,
        "startedAt": _time(message.started_at),
        "timeMs": _ms(message.elapsed_ms),
        "timeoutMs": None if message.timeout_ms is None else _ms(message.timeout_ms),
        "timedOut": message.timed_out,
    }
    if encoding is not None:  # a binary payload, in base64
        shown["payloadEncoding"] = encoding
    if message.timed_out:  # nothing arrived: no payload, rather than a null one
        del shown["payload"], shown["contentType"]
    return shown


def _workflow(workflow: WorkflowResult) -> dict[str, Any]:
    return {
        "workflowId": workflow.workflow_id,
        "ok": workflow.ok,
        "status": workflow.status,
        "transferredTo": workflow.transferred_to,
        "calledBy": workflow.called_by,
        "outputs": workflow.outputs,
        "inputs": workflow.inputs,
        "elapsedMs": _ms(workflow.elapsed_ms),
        "error": workflow.error,
        "steps": [_step(step) for step in workflow.steps],
    }


def to_json(result: RunResult, *, masker: Masker | None = None) -> dict[str, Any]:
    result = mask_result(result, masker)
    return {
        "ok": result.ok,
        "document": result.document,
        "startedAt": _time(result.started_at),
        "elapsedMs": _ms(result.elapsed_ms),
        "warnings": list(result.warnings),
        "workflows": [_workflow(workflow) for workflow in result.workflows],
    }


def write_json(result: RunResult, path: str | Path, *, masker: Masker | None = None) -> None:
    text = json.dumps(to_json(result, masker=masker), indent=2, ensure_ascii=False, default=json_default)
    write_json_text(path, text + "\n")


def write_refusal(document: str, errors: list[tuple[str, str]], path: str | Path) -> None:
    """The report of a run refused before it started (exit code 2: an invalid document, command line or
    inputs): ``ok`` false, no workflows, and every error with its location (a JSON Pointer, "" for none).
    Messages are masked like every other report text (credential-shaped values)."""
    masker = Masker()
    report = {
        "ok": False,
        "document": masker.mask_url(document, query_values=True),
        "exitCode": 2,
        "errors": [
            {"location": location, "message": masker.mask_text(message)} for location, message in errors
        ],
        "warnings": [],
        "workflows": [],
    }
    write_json_text(path, json.dumps(report, indent=2, ensure_ascii=False) + "\n")
