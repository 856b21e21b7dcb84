"""HTTP Basic authentication of a project (RFC 7617; stytch-api.md §2.2), done before anything else.

Every route but JWKS and ``/openapi.json`` requires ``Authorization: Basic base64(project_id:secret)``.
:func:`authenticate` parses the header and verifies the credentials before the handler reads a byte of the
body, so an unauthenticated caller costs no body read, no JSON decoding and learns nothing about its body (a
wrong secret with a malformed body is a 401, as Stytch answers).

* no ``Authorization`` header, an empty project id or secret, a wrong secret or an unknown project:
  ``unauthorized_credentials`` (401);
* a header that is not exactly one well-formed Basic credential: ``invalid_authorization_header`` (400). That
  covers a second ``Authorization`` header (RFC 9110 §5.3: it is not a list, so two are ambiguous), any byte
  outside ASCII (a token68 is ASCII, RFC 7235 §2.1), a scheme other than Basic, base64 that does not decode,
  and credentials that are not UTF-8 or have no colon.

The credentials are checked against the project row this process remembers
(``services.remembered_credential``: constant-time, no I/O, so no thread-pool trip) or else in the database
(``services.authenticate_credential`` through ``totpflow.server.http.dispatch.run``, which refuses a NUL in
them as it does in every other value that reaches a query). Either way the handler's service then runs under
``services.run_as``, which confirms them in the request's first transaction: a reset secret is refused by
the next request, in every process.
"""

from __future__ import annotations

import base64

from starlette.requests import Request

from totpflow.server import errors, services
from totpflow.server.http import dispatch, request_context
from totpflow.server.http.errors import InvalidAuthorizationHeader


def basic_credentials(request: Request) -> tuple[str, str]:
    """``(project_id, secret)`` from the request's one Basic ``Authorization`` header."""
    headers = request.headers.getlist("authorization")
    if not headers:
        raise errors.UnauthorizedCredentials()
    # Header bytes arrive decoded as Latin-1, so a byte over 0x7f is a character outside ASCII here.
    if len(headers) > 1 or not headers[0].isascii():
        raise InvalidAuthorizationHeader()
    scheme, _, encoded = headers[0].strip().partition(" ")
    if scheme.lower() != "basic" or not encoded:
        raise InvalidAuthorizationHeader()
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except ValueError:  # binascii.Error and UnicodeDecodeError both derive from it
        raise InvalidAuthorizationHeader() from None
    project_id, colon, secret = decoded.partition(":")
    if not colon:
        raise InvalidAuthorizationHeader()
    if not project_id or not secret:
        raise errors.UnauthorizedCredentials()
    return project_id, secret


async def authenticate(request: Request, deps: services.Deps) -> services.Credential:
    """The credential the request carries (its project recorded for the request log line); the service it
    leads to confirms it (``services.run_as``)."""
    project_id, secret = basic_credentials(request)
    credential = services.remembered_credential(deps, project_id, secret)
    if credential is None:
        credential = await dispatch.run(services.authenticate_credential, deps, project_id, secret)
    request_context.authenticated(credential.project.project_id)
    return credential
