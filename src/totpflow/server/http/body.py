"""Reading and decoding request bodies: bounded, strict, and failing with the Stytch error body.

The body is read from the ASGI stream and counted as it arrives, so a missing or lying ``Content-Length``
cannot make the server buffer more than :data:`MAX_BODY_BYTES`; a declared length over the limit is refused
before reading. Decoding is msgspec's strict JSON into the endpoint's Struct
(``totpflow.server.http.requests``). A handler reads the body only once the request's credentials are
verified (``totpflow.server.http.auth``); what the decoded fields may hold before they reach a query (no NUL)
is checked where every value is, in ``totpflow.server.http.dispatch``.
"""

from __future__ import annotations

from typing import Final, TypeVar

import msgspec
from starlette.requests import Request

from totpflow.server.http.errors import BodyTooLarge, MalformedBody

MAX_BODY_BYTES: Final = 1024 * 1024

T = TypeVar("T")


async def read_body(request: Request, limit: int = MAX_BODY_BYTES) -> bytes:
    """The raw body, at most ``limit`` bytes; :class:`BodyTooLarge` beyond."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(str(limit))
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(str(limit))
        chunks.append(chunk)
    return b"".join(chunks)


async def decode(request: Request, type_: type[T]) -> T:
    """The body decoded strictly as ``type_``; :class:`MalformedBody` names the offending field.

    msgspec's messages describe the location (``$.expiration_minutes``) and the expected type, never the value
    that was sent, so they are safe to return.
    """
    raw = await read_body(request)
    try:
        decoded = msgspec.json.decode(raw, type=type_, strict=True)
    except msgspec.ValidationError as exc:
        raise MalformedBody(str(exc)) from None
    except msgspec.DecodeError:
        raise MalformedBody("the body is not valid JSON") from None
    except UnicodeDecodeError:  # JSON text is UTF-8 (RFC 8259 §8.1)
        raise MalformedBody("the body is not valid UTF-8") from None
    except RecursionError:  # msgspec's guard against deeply nested input (a stack-exhaustion attempt)
        raise MalformedBody("the JSON is nested too deeply") from None
    return decoded
