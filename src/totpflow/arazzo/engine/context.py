"""The engine's ``EvaluationContext``: what a runtime expression sees while a step runs.

One ``Frame`` per running workflow holds its inputs, the outputs of its steps so far and its own outputs; one
``StepContext`` per step attempt adds the request and response of that attempt (Arazzo 1.0.1 "Runtime
Expressions": ``$url``, ``$method``, ``$statusCode``, ``$request.*``, ``$response.*``). For a ``workflowId``
step ``$outputs.x`` reads the called workflow's outputs (§1.4 item 6 of the reference: the step's criteria and
outputs are evaluated against the child's results).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

import msgspec

from totpflow.arazzo.document.model import ArazzoDocument, Workflow
from totpflow.arazzo.errors import EvaluationError
from totpflow.arazzo.expressions import Message

if TYPE_CHECKING:
    from totpflow.arazzo.engine.plan import Plan
    from totpflow.arazzo.inputs import InputResolver
    from totpflow.arazzo.senders import Outgoing
    from totpflow.arazzo.sources import SourceSet


class Frame(msgspec.Struct):
    """The state of one running workflow."""

    document: ArazzoDocument
    workflow: Workflow
    inputs: InputResolver
    given: Mapping[str, Any]
    depth: int
    step_outputs: dict[str, dict[str, Any]] = msgspec.field(default_factory=dict)
    outputs: dict[str, Any] = msgspec.field(default_factory=dict)


class Shared(msgspec.Struct):
    """State shared by every frame of one run: finished workflows' inputs and outputs and the frames of the
    running ones, outermost first (``$workflows.*``)."""

    sources: SourceSet
    plan: Plan
    # (document URL, workflowId) → the inputs and outputs of its last run that ended: ``$workflows.<id>``
    # names a workflow of the document the expression is written in
    workflows: dict[tuple[str, str], tuple[Mapping[str, Any], Mapping[str, Any]]] = msgspec.field(
        default_factory=dict
    )
    running: list[Frame] = msgspec.field(default_factory=list)
    # steps that succeeded in this run, (document URL, workflowId, stepId): 1.1 step dependencies
    completed: set[tuple[str, str, str]] = msgspec.field(default_factory=set)


class StepContext:
    """An ``expressions.EvaluationContext`` over a frame and, optionally, one HTTP exchange or child run."""

    __slots__ = (
        "_method",
        "_request",
        "_response",
        "_status",
        "_url",
        "async_message",
        "child_outputs",
        "frame",
        "shared",
    )

    def __init__(self, frame: Frame, shared: Shared) -> None:
        self.frame = frame
        self.shared = shared
        self._url: str | Outgoing | None = None
        self._method: str | None = None
        self._status: int | None = None
        self._request: Message | None = None
        self._response: Message | None = None
        self.child_outputs: Mapping[str, Any] | None = None
        # the message a receive step got: (headers, decoded payload), for ``$message`` expressions
        self.async_message: tuple[Mapping[str, str], Any] | None = None

    def set_message(self, headers: Mapping[str, str], payload: Any) -> None:
        self.async_message = (headers, payload)

    def set_request(self, method: str, url: str | Outgoing, request: Message) -> None:
        """``url`` may be the request as sent, whose URL is then read only if ``$url`` is."""
        self._method, self._url, self._request = method, url, request

    def set_response(self, status: int | None, response: Message | None) -> None:
        self._status, self._response = status, response

    # -- EvaluationContext -----------------------------------------------------------------------------------

    def url(self) -> str | None:
        url = self._url
        return url if url is None or isinstance(url, str) else url.url

    def method(self) -> str | None:
        return self._method

    def status_code(self) -> int | None:
        return self._status

    def request(self) -> Message | None:
        return self._request

    def response(self) -> Message | None:
        return self._response

    def input(self, name: str) -> Any:
        return self.frame.inputs.get(name, self)

    def input_absent(self, name: str) -> bool:
        return self.frame.inputs.absent(name)

    def output(self, name: str) -> Any:
        source = self.child_outputs if self.child_outputs is not None else self.frame.outputs
        if name not in source:
            raise EvaluationError(f"$outputs.{name}", "no such output (yet)")
        return source[name]

    def step_output(self, step_id: str, name: str) -> Any:
        outputs = self.frame.step_outputs.get(step_id)
        if outputs is None:
            raise EvaluationError(
                f"$steps.{step_id}.outputs.{name}", f"step {step_id!r} has not succeeded yet"
            )
        if name not in outputs:
            raise EvaluationError(
                f"$steps.{step_id}.outputs.{name}", f"step {step_id!r} has no output {name!r}"
            )
        return outputs[name]

    def workflow_value(self, workflow_id: str, kind: Literal["inputs", "outputs"], name: str) -> Any:
        """A running workflow's inputs are known from its start: the workflow itself, or one further up the
        call stack (a caller, the innermost run of it when it is on the stack more than once) reads them from
        its frame. Its outputs, and a workflow's that is not running, are those of its last run that ended."""
        expression = f"$workflows.{workflow_id}.{kind}.{name}"
        running = self._running(workflow_id)
        if kind == "inputs" and running is not None:
            ctx = self if running is self.frame else StepContext(running, self.shared)
            value = ctx.input(name)
            if value is ctx:
                raise EvaluationError(expression, f"workflow {workflow_id!r} has no input {name!r}")
            return value
        record = self.shared.workflows.get((self.frame.document.url, workflow_id))
        if record is None and running is not None:
            raise EvaluationError(
                expression, f"workflow {workflow_id!r} is still running: its outputs exist once it has ended"
            )
        if record is None:
            raise EvaluationError(expression, f"workflow {workflow_id!r} has not run in this run")
        values = record[0] if kind == "inputs" else record[1]
        if name not in values:
            raise EvaluationError(expression, f"workflow {workflow_id!r} has no {kind[:-1]} {name!r}")
        return values[name]

    def _running(self, workflow_id: str) -> Frame | None:
        """The innermost running frame of ``workflow_id`` of this frame's document (this frame first)."""
        frame = self.frame
        if frame.workflow.workflow_id == workflow_id:
            return frame
        url = frame.document.url
        return next(
            (
                f
                for f in reversed(self.shared.running)
                if f.workflow.workflow_id == workflow_id and f.document.url == url
            ),
            None,
        )

    def source_description(self, name: str, field: str) -> Any:
        """1.1.0 "Source Description Expression Resolution": an operationId (OpenAPI), an operation (AsyncAPI)
        or a workflowId (Arazzo) of the source first, as its Operation or Workflow Object as written; then a
        field of the Source Description Object (``url``, ``name``, ``type``)."""
        try:
            source = self.shared.sources.source(name, self.frame.document)
        except Exception as exc:  # the sources module raises its own DocumentError subclass
            raise EvaluationError(
                f"$sourceDescriptions.{name}.{field}", "no such source description"
            ) from exc
        named = _named_in_source(source, field)
        if named is not None:
            return named
        if field in ("url", "name", "type"):
            return getattr(source, field)
        raise EvaluationError(
            f"$sourceDescriptions.{name}.{field}", f"no operation, workflow or field {field!r}"
        )

    def document_identity(self) -> str | None:
        return self.frame.document.identity

    def component(self, kind: str, name: str) -> Any:
        components = self.frame.document.components
        table: Mapping[str, Any] | None = {
            "inputs": components.inputs,
            "parameters": components.parameters,
            "successActions": components.success_actions,
            "failureActions": components.failure_actions,
        }.get(kind)
        if table is None or name not in table:
            raise EvaluationError(f"$components.{kind}.{name}", "no such component")
        item = table[name]
        if kind == "parameters":  # the parameter's value, evaluated here
            return self.shared.plan.value(item, item.value).evaluate(self)
        return item


def _named_in_source(source: Any, ref: str) -> Any:
    """The operation or workflow ``ref`` names in a loaded source, as written; None when it names none."""
    if source.type == "openapi":
        found = source.operation_ids().get(ref)
        if found is None:
            return None
        path, method = found
        operation = source.content.get("paths", {}).get(path, {})
        operation = operation.get(method) if isinstance(operation, Mapping) else None
        return operation if isinstance(operation, Mapping) else {"operationId": ref}
    if source.type == "asyncapi" and source.asyncapi is not None:
        operations = source.asyncapi.content.get("operations")
        return operations.get(ref) if isinstance(operations, Mapping) else None
    if source.type == "arazzo" and source.document is not None:
        workflows = source.document.raw.get("workflows") or ()
        return next((w for w in workflows if isinstance(w, Mapping) and w.get("workflowId") == ref), None)
    return None
