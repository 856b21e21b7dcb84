"""HTTP Basic authentication of a project (RFC 7617; stytch-api.md §2.2).

Every route but JWKS and ``/openapi.json`` requires ``Authorization: Basic base64(project_id:secret)``. A
missing header is ``unauthorized_credentials`` (401); a header that is not well-formed Basic is
``invalid_authorization_header`` (400); the credentials themselves are checked by
``services.authenticate_project`` (constant-time, in the database), so a project's credentials only ever reach
that project's data.
"""

from __future__ import annotations

import base64
import binascii

from starlette.requests import Request

from totpflow.server import errors
from totpflow.server.http.errors import InvalidAuthorizationHeader


def basic_credentials(request: Request) -> tuple[str, str]:
    """``(project_id, secret)`` from the request's Basic ``Authorization`` header."""
    header = request.headers.get("authorization")
    if header is None:
        raise errors.UnauthorizedCredentials()
    scheme, _, encoded = header.strip().partition(" ")
    if scheme.lower() != "basic" or not encoded:
        raise InvalidAuthorizationHeader()
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise InvalidAuthorizationHeader() from None
    project_id, colon, secret = decoded.partition(":")
    if not colon:
        raise InvalidAuthorizationHeader()
    if not project_id or not secret:
        raise errors.UnauthorizedCredentials()
    return project_id, secret
