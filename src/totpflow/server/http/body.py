"""Reading and decoding request bodies: bounded, strict, and failing with the Stytch error body.

The body is read from the ASGI stream and counted as it arrives, so a missing or lying ``Content-Length``
cannot make the server buffer more than :data:`MAX_BODY_BYTES`; a declared length over the limit is refused
before reading. Decoding is msgspec's strict JSON into the endpoint's Struct
(``totpflow.server.http.requests``). A handler reads the body only once the request's credentials are
verified (``totpflow.server.http.auth``); what the decoded fields may hold before they reach a query (no NUL)
is checked where every value is, in ``totpflow.server.http.dispatch``.
"""

from __future__ import annotations

import asyncio
import types
import typing
from typing import Any, Final, TypeVar

import msgspec
from starlette.requests import ClientDisconnect, Request

from totpflow.server.http.errors import BodyIncomplete, BodyTimeout, BodyTooLarge, MalformedBody

MAX_BODY_BYTES: Final = 1024 * 1024
# The longest a body may take to arrive once its request's head has: a client that declares more than it
# sends, or sends it a few bytes at a time, holds a request no longer (the API's bodies are a few KB).
BODY_TIMEOUT_SECONDS: Final = 60.0

T = TypeVar("T")


async def read_body(
    request: Request, limit: int = MAX_BODY_BYTES, timeout: float = BODY_TIMEOUT_SECONDS
) -> bytes:
    """The raw body, at most ``limit`` bytes; :class:`BodyTooLarge` beyond, :class:`BodyTimeout` when it has
    not all arrived within ``timeout`` seconds, :class:`BodyIncomplete` when the client went away first."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(str(limit))
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(timeout):
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise BodyTooLarge(str(limit))
                chunks.append(chunk)
    except TimeoutError:
        raise BodyTimeout(f"{timeout:g}") from None
    except ClientDisconnect:
        raise BodyIncomplete() from None
    return b"".join(chunks)


async def decode(request: Request, type_: type[T]) -> T:
    """The body decoded strictly as ``type_``; :class:`MalformedBody` names the offending field.

    The field is found by :func:`offending_field` from the Struct's own field list. msgspec's message follows
    it as a detail; it describes the expected type, never the value that was sent, so it is safe to return.
    """
    raw = await read_body(request)
    try:
        decoded = msgspec.json.decode(raw, type=type_, strict=True)
    except msgspec.ValidationError as exc:
        try:  # the typed decode stops at the first field it refuses, before the rest is parsed
            data = msgspec.json.decode(raw)
        except msgspec.DecodeError:
            raise MalformedBody("the body is not valid JSON") from None
        except RecursionError:
            raise MalformedBody("the JSON is nested too deeply") from None
        if not isinstance(data, dict):
            raise MalformedBody("the body must be a JSON object") from None
        field = offending_field(data, type_)
        where = f"the field `{field}`" if field is not None else "the body"
        raise MalformedBody(f"{where} is missing or of the wrong type ({exc})") from None
    except msgspec.DecodeError:
        raise MalformedBody("the body is not valid JSON") from None
    except UnicodeDecodeError:  # JSON text is UTF-8 (RFC 8259 §8.1)
        raise MalformedBody("the body is not valid UTF-8") from None
    except RecursionError:  # msgspec's guard against deeply nested input (a stack-exhaustion attempt)
        raise MalformedBody("the JSON is nested too deeply") from None
    return decoded


def offending_field(data: dict[str, Any], type_: Any, prefix: str = "") -> str | None:
    """The dotted name of the field of ``data`` that a strict decode as the Struct type ``type_`` refuses
    first, descending into nested Structs; None if none is. The decode reads the body in its order, and
    finds a required field missing only at the end: so the fields present are tried in the body's order,
    then the required ones that are absent."""
    fields = {field.encode_name: field for field in msgspec.structs.fields(type_)}
    for key, value in data.items():
        field = fields.get(key)
        if field is None:
            continue
        name = prefix + key
        inner = _struct_of(field.type)
        if inner is not None and isinstance(value, dict):
            found = offending_field(value, inner, name + ".")
            if found is not None:
                return found
        try:
            msgspec.convert(value, field.type, strict=True)
        except msgspec.ValidationError:
            return name
    for key, field in fields.items():
        if field.required and key not in data:
            return prefix + key
    return None


def _struct_of(annotation: Any) -> type[msgspec.Struct] | None:
    """The Struct type of a field annotated ``S`` or ``S | None``."""
    if isinstance(annotation, type) and issubclass(annotation, msgspec.Struct):
        return annotation
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        structs = [
            a for a in typing.get_args(annotation) if isinstance(a, type) and issubclass(a, msgspec.Struct)
        ]
        return structs[0] if len(structs) == 1 else None
    return None
