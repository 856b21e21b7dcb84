"""The content codings of a response body (RFC 9110 §8.4), undone for ``PlainSender`` as httpx undoes them
for ``HttpxSender``, so that a step reads the same body whichever sends it: ``gzip``, ``deflate`` (the zlib
format, or raw deflate as some servers send it) and ``identity``. A coding httpx decodes only with an
optional module (``br``, ``zstd``) is left as it came, as httpx without that module leaves it, and so is an
unknown one.

The body is decoded no further than the limit a step reads: a small compressed body that would expand past
it fails the request instead of filling memory.
"""

from __future__ import annotations

import zlib

from totpflow.arazzo.senders.wire import HttpFailure

_GZIP_WBITS = zlib.MAX_WBITS | 16


def decoded(body: bytes, codings: str | None, limit: int) -> bytes | None:
    """``body`` with the codings of a ``Content-Encoding`` value undone, the last applied first; None once it
    is longer than ``limit`` bytes. ``HttpFailure`` (``DecodingError``) for a body not in the coding named."""
    if not codings:
        return body
    for coding in reversed([name.strip().lower() for name in codings.split(",")]):
        if coding == "gzip":
            body = _inflated(body, _GZIP_WBITS, limit)
        elif coding == "deflate":
            try:
                body = _inflated(body, zlib.MAX_WBITS, limit)
            except HttpFailure:
                body = _inflated(body, -zlib.MAX_WBITS, limit)  # raw deflate, without the zlib wrapper
        else:  # identity, or a coding left as it came
            continue
        if len(body) > limit:
            return None
    return body


def _inflated(data: bytes, wbits: int, limit: int) -> bytes:
    """``data`` inflated, at most ``limit`` + 1 bytes of it (enough to tell that it is too long)."""
    inflater = zlib.decompressobj(wbits)
    try:
        out = inflater.decompress(data, limit + 1)
        if len(out) <= limit:
            out += inflater.flush()
    except zlib.error as exc:
        raise HttpFailure(f"DecodingError: {exc}") from None
    return out
