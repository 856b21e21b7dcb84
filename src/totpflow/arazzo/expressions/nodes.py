"""The runtime-expression AST: one frozen record (msgspec Struct) per alternative of the ABNF
(Arazzo 1.0.1 §"Runtime Expressions", with the 1.1.0 refinements), each able to evaluate itself against an
``EvaluationContext``.

``pointer`` fields hold the JSON Pointer written after ``#`` (``None`` when there is none). The non-spec dot
form (``$response.body.a.b``) is turned into the equivalent pointer by the parser, so evaluation has one path.

Names that may contain dots (``identifier`` in 1.1.0: inputs, outputs, step outputs, workflow values) are
looked up whole first. When no value has that name and the name has dots, the longest dotted prefix that
names a value is used and the rest is read as property access (``$steps.s.outputs.arr.0.id`` → output
``arr``, then ``/0/id``) — the non-spec form real documents use.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Literal

import msgspec

from totpflow.arazzo.errors import EvaluationError, UndeclaredInput
from totpflow.arazzo.expressions import pointer as json_pointer
from totpflow.arazzo.expressions.context import EvaluationContext, Message

MessagePart = Literal["header", "query", "path", "body"]


def _apply_pointer(value: Any, pointer: str | None, text: str) -> Any:
    if not pointer:
        return value
    if isinstance(value, str | bytes):
        # A JSON document that arrived as text (e.g. served as text/plain): read it as JSON for the pointer.
        try:
            value = json.loads(value)
        except ValueError:
            raise EvaluationError(text, "a JSON Pointer cannot be applied to a non-JSON text value") from None
    try:
        return json_pointer.resolve(value, pointer)
    except json_pointer.PointerError as exc:
        raise EvaluationError(text, f"JSON Pointer {pointer!r}: {exc.message}") from None


def _lookup_named(lookup: Callable[[str], Any], name: str, pointer: str | None, text: str) -> Any:
    try:
        value = lookup(name)
    except (EvaluationError, UndeclaredInput) as exc:
        if "." in name:  # 1.0's dot access into a value: the longest name that exists, then its members
            parts = name.split(".")
            for cut in range(len(parts) - 1, 0, -1):
                try:
                    value = lookup(".".join(parts[:cut]))
                except (EvaluationError, UndeclaredInput):
                    continue
                dotted = json_pointer.join(parts[cut:]) + (pointer or "")
                return _apply_pointer(value, dotted, text)
        if isinstance(exc, UndeclaredInput):
            raise
        raise EvaluationError(text, exc.message) from None
    return _apply_pointer(value, pointer, text)


class Url(msgspec.Struct, frozen=True):
    def evaluate(self, ctx: EvaluationContext, text: str) -> Any:
        value = ctx.url()
        if value is None:
            raise EvaluationError(text, "no request URL yet")
        return value


class Method(msgspec.Struct, frozen=True):
    def evaluate(self, ctx: EvaluationContext, text: str) -> Any:
        value = ctx.method()
        if value is None:
            raise EvaluationError(text, "no request method yet")
        return value


class StatusCode(msgspec.Struct, frozen=True):
    def evaluate(self, ctx: EvaluationContext, text: str) -> Any:
        value = ctx.status_code()
        if value is None:
            raise EvaluationError(text, "no response status code yet")
        return value


def _read_message(
    message: Message | None, which: str, part: MessagePart, name: str | None, pointer: str | None, text: str
) -> Any:
    if message is None:
        raise EvaluationError(text, f"there is no {which} yet")
    if part == "body":
        return _apply_pointer(message.body, pointer, text)
    assert name is not None
    if part == "header":
        value = message.headers.get(name)
        if value is None:
            raise EvaluationError(text, f"the {which} has no header {name!r}")
        return value
    source = message.query if part == "query" else message.path
    if name not in source:
        raise EvaluationError(text, f"the {which} has no {part} parameter {name!r}")
    return source[name]


class RequestRef(msgspec.Struct, frozen=True):
    """``$request.header.<token>`` | ``.query.<name>`` | ``.path.<name>`` | ``.body[#<pointer>]``."""

    part: MessagePart
    name: str | None = None
    pointer: str | None = None

    def evaluate(self, ctx: EvaluationContext, text: str) -> Any:
        return _read_message(ctx.request(), "request", self.part, self.name, self.pointer, text)


class ResponseRef(msgspec.Struct, frozen=True):
    """``$response.header.<token>`` | ``.query.<name>`` | ``.path.<name>`` | ``.body[#<pointer>]``."""

    part: MessagePart
    name: str | None = None
    pointer: str | None = None

    def evaluate(self, ctx: EvaluationContext, text: str) -> Any:
        return _read_message(ctx.response(), "response", self.part, self.name, self.pointer, text)


class Inputs(msgspec.Struct, frozen=True):
    """``$inputs.<name>[#<pointer>]``: an input of the current workflow."""

    name: str
    pointer: str | None = None

    def evaluate(self, ctx: EvaluationContext, text: str) -> Any:
        return _lookup_named(ctx.input, self.name, self.pointer, text)


class Outputs(msgspec.Struct, frozen=True):
    """``$outputs.<name>[#<pointer>]``: an output of the current workflow."""

    name: str
    pointer: str | None = None

    def evaluate(self, ctx: EvaluationContext, text: str) -> Any:
        return _lookup_named(ctx.output, self.name, self.pointer, text)


class Steps(msgspec.Struct, frozen=True):
    """``$steps.<stepId>.outputs.<name>[#<pointer>]``."""

    step: str
    output: str
    pointer: str | None = None

    def evaluate(self, ctx: EvaluationContext, text: str) -> Any:
        try:  # the common case: an output of that exact name
            value = ctx.step_output(self.step, self.output)
        except EvaluationError:  # maybe a dotted name into an output (see _lookup_named)
            lookup = lambda name: ctx.step_output(self.step, name)  # noqa: E731
            return _lookup_named(lookup, self.output, self.pointer, text)
        return _apply_pointer(value, self.pointer, text) if self.pointer else value


class Workflows(msgspec.Struct, frozen=True):
    """``$workflows.<workflowId>.(inputs|outputs).<name>[#<pointer>]``."""

    workflow: str
    kind: Literal["inputs", "outputs"]
    name: str
    pointer: str | None = None

    def evaluate(self, ctx: EvaluationContext, text: str) -> Any:
        return _lookup_named(
            lambda name: ctx.workflow_value(self.workflow, self.kind, name), self.name, self.pointer, text
        )


class SourceDescriptions(msgspec.Struct, frozen=True):
    """``$sourceDescriptions.<name>.<reference>``: an operationId / workflowId, else a field (``url``)."""

    name: str
    field: str

    def evaluate(self, ctx: EvaluationContext, text: str) -> Any:
        try:
            return ctx.source_description(self.name, self.field)
        except EvaluationError as exc:
            raise EvaluationError(text, exc.message) from None


class Components(msgspec.Struct, frozen=True):
    """``$components.(parameters|successActions|failureActions).<name>``."""

    kind: Literal["parameters", "successActions", "failureActions"]
    name: str

    def evaluate(self, ctx: EvaluationContext, text: str) -> Any:
        try:
            return ctx.component(self.kind, self.name)
        except EvaluationError as exc:
            raise EvaluationError(text, exc.message) from None


class Self(msgspec.Struct, frozen=True):
    """1.1 ``$self``: the identity of the document that holds the expression (null when it declares none)."""

    def evaluate(self, ctx: EvaluationContext, text: str) -> Any:
        return ctx.document_identity()


class MessageRef(msgspec.Struct, frozen=True):
    """1.1 ``$message.header.<token>`` | ``$message.payload[#<pointer>]`` of an AsyncAPI step."""

    part: Literal["header", "payload"]
    name: str | None = None
    pointer: str | None = None

    def evaluate(self, ctx: EvaluationContext, text: str) -> Any:
        """The message a receive step got (the engine's context holds it as ``async_message``)."""
        message = getattr(ctx, "async_message", None)
        if message is None:
            raise EvaluationError(
                text, "$message is only available in an AsyncAPI step, once its message is sent or received"
            )
        headers, payload = message
        if self.part == "header":
            if self.name is None:
                return dict(headers)
            folded = self.name.lower()  # header names compare case-insensitively
            found = next((value for key, value in headers.items() if key.lower() == folded), None)
            if found is None:
                raise EvaluationError(text, f"the message has no header {self.name!r}")
            return found
        return payload if self.pointer is None else _apply_pointer(payload, self.pointer, text)


Node = (
    Url
    | Method
    | StatusCode
    | RequestRef
    | ResponseRef
    | Inputs
    | Outputs
    | Steps
    | Workflows
    | SourceDescriptions
    | Components
    | Self
    | MessageRef
)
