"""A message as it crosses a broker (``Message``), and the AsyncAPI Correlation ID Object that picks one out.

A Correlation ID ``location`` uses the AsyncAPI runtime-expression grammar (not Arazzo's):
``$message.header#/<json pointer>`` or ``$message.payload#/<json pointer>`` — the application headers or the
decoded payload, then a JSON Pointer into them. Values are compared as text: a string as it is, anything else
as compact JSON (``7`` → ``"7"``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import msgspec

from totpflow.arazzo.errors import DocumentError, EvaluationError
from totpflow.arazzo.expressions import pointer

_MISSING: Any = object()


class Message(msgspec.Struct, frozen=True):
    """One message: the channel address it travelled on, its application headers (protocol headers excluded),
    its payload bytes and content type (``None`` when the protocol carries none)."""

    address: str
    headers: dict[str, str]
    payload: bytes
    content_type: str | None = None

    def decoded(self) -> Any:
        """The payload as a structure when it is JSON (by content type, or it parses), else text or bytes."""
        json_type = self.content_type is None or "json" in self.content_type.lower()
        if json_type:
            try:
                return json.loads(self.payload)
            except ValueError:
                pass
        try:
            return self.payload.decode()
        except UnicodeDecodeError:
            return self.payload


class CorrelationId(msgspec.Struct, frozen=True):
    """``source`` is ``header`` or ``payload``; ``pointer`` a JSON Pointer into it (``""``: all of it)."""

    source: str
    pointer: str
    location: str

    @classmethod
    def parse(cls, location: str, where: str = "") -> CorrelationId:
        for source in ("header", "payload"):
            prefix = f"$message.{source}"
            if location == prefix or location.startswith(prefix + "#"):
                ptr = location[len(prefix) + 1 :]
                if ptr and not ptr.startswith("/"):
                    break
                try:
                    pointer.split(ptr)
                except EvaluationError as exc:
                    raise DocumentError(where, f"correlationId location {location!r}: {exc}") from None
                return cls(source, ptr, location)
        raise DocumentError(
            where,
            f"correlationId location {location!r} is not '$message.header#/…' or '$message.payload#/…'",
        )

    def value(self, message: Message) -> Any:
        """The message's correlation value, or ``None`` when the message does not carry the location."""
        if self.source == "header":
            return _lookup_header(message.headers, pointer.split(self.pointer))
        try:
            return pointer.resolve(message.decoded(), self.pointer)
        except EvaluationError:
            return None

    def matches(self, message: Message, expected: Any) -> bool:
        found = self.value(message)
        return found is not None and as_text(found) == as_text(expected)


def put(
    location: CorrelationId, headers: Mapping[str, str], payload: Any, value: str
) -> tuple[dict[str, str], Any]:
    """Headers and payload of a message to send with ``value`` written at ``location`` (a reply address the
    runner chose, an id the receiver will correlate on). A header location names one header; a payload
    location must have its parent in the payload."""
    if location.source == "header":
        tokens = pointer.split(location.pointer)
        if len(tokens) != 1:
            raise EvaluationError(location.location, "a header location names exactly one header")
        return {**headers, tokens[0]: value}, payload
    return dict(headers), pointer.replace(payload, location.pointer, value)


def _lookup_header(headers: Mapping[str, str], tokens: tuple[str, ...]) -> Any:
    if not tokens:
        return dict(headers)
    if len(tokens) > 1:  # header values are strings: nothing below them
        return None
    name = tokens[0]
    if name in headers:
        return headers[name]
    folded = name.lower()  # header names compare case-insensitively, as in HTTP
    return next((value for key, value in headers.items() if key.lower() == folded), None)


def as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    return json.dumps(value, separators=(",", ":"), sort_keys=True)
