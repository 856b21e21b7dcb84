"""The ONE table from server errors to Stytch's HTTP status, ``error_type`` and ``error_message``, and the
exception handlers that render the Stytch error body ``{status_code, request_id, error_type, error_message,
error_url}`` (stytch-api.md §5.1).

Lookup walks the raised class's MRO, so a subclass without a row of its own gets its parent's. Types and exact
messages follow §5.2 where Stytch documents them and the recommended mapping of §5.3 elsewhere. Messages are
fixed strings or templates over the error's ``field`` (a parameter name) or, for errors raised here at the
HTTP edge, its ``detail`` (built from the parser's description, which names a location, never a value): no
secret, code or token ever reaches a message.

The edge adds a few classes of its own (malformed body, oversize body, oversize header fields, bad
Authorization header, unknown route, route of a Stytch product not served here, wrong method), placed under
the server's tree so the same table serves them.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Mapping
from typing import Final

import msgspec
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from totpflow.server import errors
from totpflow.server.http import request_context
from totpflow.server.http.responses import ErrorResponse, request_id
from totpflow.server.http.unserved import product_of

logger = logging.getLogger("totpflow.server.http")


class MalformedBody(errors.BadRequest):
    """The body is not JSON, not an object, has a wrongly typed field or misses a required one."""


class BodyTooLarge(errors.BadRequest):
    """The body exceeds :data:`totpflow.server.http.body.MAX_BODY_BYTES`."""


class BodyTimeout(errors.BadRequest):
    """The body did not all arrive within :data:`totpflow.server.http.body.BODY_TIMEOUT_SECONDS`."""


class BodyIncomplete(errors.BadRequest):
    """The client closed the connection before the whole body arrived (no one reads the answer)."""


class HeadTimeout(errors.BadRequest):
    """A request head (request line and header fields) that did not all arrive within
    :data:`totpflow.server.http.protocol.HEAD_TIMEOUT_SECONDS`."""


class HeadersTooLarge(errors.BadRequest):
    """More header fields, or more bytes of them, than ``totpflow.server.http.headers`` allows."""


class InvalidAuthorizationHeader(errors.BadRequest):
    """An ``Authorization`` header that is not one ASCII ``Basic base64(project_id:secret)`` (RFC 7617)."""


class RouteNotFound(errors.NotFound):
    pass


class UnservedProduct(RouteNotFound):
    """A route of a Stytch product this server does not serve; ``detail`` is the product's name."""


class MethodNotAllowed(errors.ServerError):
    pass


class InternalError(errors.ServerError):
    """Stands for any exception that is not a :class:`totpflow.server.errors.ServerError`."""


ErrorRow = tuple[int, str, str]

INTERNAL_MESSAGE: Final = (
    "Oops, something seems to have gone wrong, please reach out to support@stytch.com to let us know what "
    "went wrong."
)

ERROR_TABLE: Final[dict[type[errors.ServerError], ErrorRow]] = {
    errors.ServerError: (500, "internal_server_error", INTERNAL_MESSAGE),
    InternalError: (500, "internal_server_error", INTERNAL_MESSAGE),
    # 400
    errors.BadRequest: (400, "bad_request", "The submitted request is invalid."),
    MalformedBody: (400, "bad_request", "The submitted request is invalid: {detail}"),
    InvalidAuthorizationHeader: (
        400,
        "invalid_authorization_header",
        "The authorization header sent is not valid. Please contact support@stytch.com for help.",
    ),
    errors.InvalidArgument: (400, "invalid_argument", "{field} is invalid."),
    errors.InvalidEmail: (400, "invalid_email", "email format is invalid."),
    errors.InvalidPhoneNumber: (400, "invalid_phone_number", "phone_number format is invalid."),
    errors.InvalidUserId: (400, "invalid_user_id", "user_id format is invalid."),
    errors.InvalidTotpId: (400, "invalid_totp_id", "totp_id format is invalid."),
    errors.InvalidExpiration: (400, "invalid_expiration", "expiration_minutes is out of range (5 to 1440)."),
    errors.InvalidSessionDuration: (
        400,
        "invalid_session_duration_minutes",
        "session_duration_minutes is out of range (5 to 527040).",
    ),
    errors.InvalidTotpCode: (400, "invalid_totp_code", "The TOTP code should consist of 6 digits."),
    errors.InvalidRecoveryCode: (
        400,
        "invalid_recovery_code",
        "recovery_code format is invalid; it should look like xxxx-xxxx-xxxx.",
    ),
    errors.InvalidExternalId: (400, "invalid_argument", "external_id format is invalid."),
    errors.EmailOrPhoneRequired: (400, "invalid_argument", "An email or a phone_number is required."),
    errors.EmptyRoleId: (400, "empty_rbac_role_id", "A role id in roles is empty."),
    errors.InvalidRoleId: (
        400,
        "invalid_rbac_role_id",
        "A role id in roles is invalid: it may not start or end with white space nor contain a control "
        "character.",
    ),
    errors.TooManyRoles: (400, "too_many_roles", "roles may name at most {limit} roles."),
    errors.ValueTooLong: (400, "invalid_argument", "{field} may be at most {limit} characters long."),
    errors.IpAddressTooLong: (
        400,
        "invalid_ip_address",
        "{field} may be at most {limit} characters long.",
    ),
    errors.UserAgentTooLong: (
        400,
        "invalid_user_agent",
        "{field} may be at most {limit} characters long.",
    ),
    errors.RoleIdTooLong: (
        400,
        "rbac_role_id_too_long",
        "A role id in roles is longer than {limit} characters.",
    ),
    errors.SearchValueTooLong: (
        400,
        "bad_request",
        "The {field} filter takes strings of at most {limit} characters.",
    ),
    errors.InvalidSearchQuery: (400, "bad_request", "The search query is invalid: {field}."),
    errors.SearchInvalidOperator: (400, "user_search_invalid_operator", "query.operator must be AND or OR."),
    errors.SearchInvalidLimit: (400, "user_search_invalid_limit", "limit must be between 0 and 1000."),
    errors.SearchInvalidCursor: (
        400,
        "user_search_invalid_cursor",
        "cursor is not a cursor this server returned.",
    ),
    errors.SearchMissingFilterName: (400, "user_search_missing_filter_name", "{field} has no filter_name."),
    errors.SearchFilterNameMustBeString: (
        400,
        "user_search_filter_name_must_be_string",
        "{field}: filter_name must be a string.",
    ),
    errors.SearchFilterNameNotRecognized: (
        400,
        "user_search_filter_name_not_recognized",
        "{field}: filter_name is not a recognized filter.",
    ),
    errors.SearchMissingFilterValue: (
        400,
        "user_search_missing_filter_value",
        "{field} has no filter_value.",
    ),
    errors.SearchExpectedArrayOfString: (
        400,
        "user_search_expected_array_of_string",
        "The {field} filter takes an array of strings.",
    ),
    errors.SearchExpectedBool: (400, "user_search_expected_bool", "The {field} filter takes a boolean."),
    errors.SearchExpectedString: (400, "user_search_expected_string", "The {field} filter takes a string."),
    errors.SearchExpectedObject: (400, "user_search_expected_object", "{field} must be an object."),
    errors.SearchExpectedTimestamp: (
        400,
        "user_search_expected_timestamp",
        "The {field} filter takes RFC 3339 timestamps with a time zone.",
    ),
    errors.SearchTooManyFilterValues: (
        400,
        "user_search_maximum_filter_value_count_exceeded",
        "The {field} filter takes at most 1000 values.",
    ),
    errors.SearchTooManyOperands: (
        400,
        "user_search_maximum_operand_count_exceeded",
        "query.operands takes at most 100 operands.",
    ),
    errors.SearchInvalidStatusFilter: (
        400,
        "user_search_invalid_status_filter",
        "The status filter takes active or pending.",
    ),
    errors.SearchInvalidOAuthProviderFilter: (
        400,
        "user_search_invalid_oauth_provider_filter",
        "The oauth_provider filter names an unknown OAuth provider.",
    ),
    errors.SearchMixedUserIds: (
        400,
        "user_search_cannot_mix_internal_and_external_user_ids",
        "The user_id filter takes either user ids or external ids, not both.",
    ),
    errors.SearchFullNameFuzzyTooShort: (
        400,
        "user_search_full_name_fuzzy_too_short",
        "The full_name_fuzzy filter needs at least 3 characters.",
    ),
    errors.SearchEmailAddressFuzzyTooShort: (
        400,
        "user_search_email_address_fuzzy_too_short",
        "The email_address_fuzzy filter needs at least 3 characters.",
    ),
    errors.SearchPhoneNumberFuzzyTooShort: (
        400,
        "user_search_phone_number_fuzzy_too_short",
        "The phone_number_fuzzy filter needs at least 3 characters.",
    ),
    errors.InvalidRbacPolicy: (400, "invalid_argument", "The RBAC policy is invalid."),
    errors.InvalidCustomClaims: (
        400,
        "reserved_claims_in_custom_claims",
        "session_custom_claims may not use the registered JWT claim names iss, sub, aud, exp, nbf, iat or "
        "jti.",
    ),
    errors.StytchClaimsInCustomClaims: (
        400,
        "stytch_claims_in_custom_claims",
        "session_custom_claims may not use claim names starting with https://stytch.com/.",
    ),
    errors.CustomClaimsTooLarge: (
        400,
        "custom_claims_too_large",
        "session_custom_claims may be at most 4,096 bytes once serialised as JSON.",
    ),
    errors.UnrepresentableCustomClaims: (
        400,
        "unable_to_represent_custom_claims_json",
        "session_custom_claims could not be represented as JSON.",
    ),
    errors.MetadataTooManyKeys: (
        400,
        "metadata_too_many_keys",
        "{field} may have at most 20 top-level keys.",
    ),
    errors.MetadataTooLarge: (
        400,
        "metadata_too_large",
        "{field} may be at most 4,096 bytes once serialised as JSON.",
    ),
    errors.MetadataTooDeep: (
        400,
        "bad_request",
        "{field} may nest objects and arrays at most 64 levels deep.",
    ),
    errors.RecoveryCodeUsedAsTotpCode: (
        400,
        "recovery_code_used_as_totp_code",
        "A recovery code was sent as a TOTP code; send it to /v1/totps/recover instead.",
    ),
    errors.TotpCodeUsedAsRecoveryCode: (
        400,
        "totp_code_used_as_recovery_code",
        "A TOTP code was sent as a recovery code; send it to /v1/totps/authenticate instead.",
    ),
    errors.DuplicateEmail: (400, "duplicate_email", "A user with the specified email already exists."),
    errors.DuplicatePhoneNumber: (
        400,
        "duplicate_phone_number",
        "A user with the specified phone number already exists.",
    ),
    errors.DuplicateExternalId: (
        400,
        "duplicate_user_external_id",
        "A user with the specified external_id already exists.",
    ),
    errors.ActiveTotpExists: (
        400,
        "active_totp_exists",
        "Cannot create a new TOTP for the specified user since the user already has an active TOTP. Users "
        "may only have one active TOTP at a time.",
    ),
    errors.TotpCodeAlreadyAuthenticated: (
        400,
        "totp_code_already_authenticated",
        "This TOTP code has already been used to authenticate.",
    ),
    errors.ExpiredTotp: (400, "expired_totp", "The TOTP has expired; create a new one."),
    errors.NoActiveRecoveryCodeBackedFactor: (
        400,
        "no_active_recovery_code_backed_factor",
        "The user's TOTP has not been authenticated yet, so its recovery codes cannot be used.",
    ),
    errors.NoSessionArguments: (
        400,
        "no_session_arguments",
        "One of session_token or session_jwt must be provided.",
    ),
    errors.TooManySessionArguments: (
        400,
        "too_many_session_arguments",
        "Only one of session_token or session_jwt may be provided.",
    ),
    errors.NoSessionRevokeArguments: (
        400,
        "no_session_revoke_arguments",
        "One of session_id, session_token or session_jwt must be provided.",
    ),
    errors.TooManySessionRevokeArguments: (
        400,
        "too_many_session_revoke_arguments",
        "Only one of session_id, session_token or session_jwt may be provided.",
    ),
    # 401
    errors.Unauthorized: (401, "unauthorized_credentials", "Unauthorized credentials."),
    errors.UnauthorizedCredentials: (401, "unauthorized_credentials", "Unauthorized credentials."),
    errors.InvalidJwt: (401, "unauthorized_credentials", "Unauthorized credentials."),
    errors.UnableToAuthenticateTotp: (
        401,
        "unable_to_authenticate_totp",
        "The TOTP code could not be authenticated.",
    ),
    errors.UnableToAuthenticateRecoveryCode: (
        401,
        "unable_to_authenticate_recovery_code",
        "The recovery code could not be authenticated.",
    ),
    # 403
    errors.Forbidden: (403, "forbidden", "The request is not allowed."),
    errors.SessionAuthorizationError: (
        403,
        "consumer_session_authorization_error",
        "The User is not authorized to perform the requested action on that resource.",
    ),
    # 404
    errors.NotFound: (404, "not_found", "The requested resource could not be found."),
    RouteNotFound: (404, "route_not_found", "The requested route could not be found."),
    UnservedProduct: (
        404,
        "route_not_found",
        "This server does not serve Stytch's {detail} product; it serves users, TOTPs, recovery codes, "
        "sessions and RBAC.",
    ),
    errors.UserNotFound: (404, "user_not_found", "User could not be found."),
    errors.TotpNotFound: (404, "totp_not_found", "TOTP could not be found."),
    errors.SessionNotFound: (404, "session_not_found", "Session could not be found."),
    errors.ProjectNotFound: (404, "project_not_found", "Project could not be found."),
    # 405, 413, 431
    MethodNotAllowed: (405, "method_not_allowed", "The HTTP method is not allowed on this route."),
    BodyTooLarge: (413, "request_too_large", "The request body is larger than {detail} bytes."),
    BodyTimeout: (408, "request_timeout", "The request body did not arrive within {detail} seconds."),
    HeadTimeout: (408, "request_timeout", "The request head did not arrive within {detail} seconds."),
    BodyIncomplete: (400, "bad_request", "The connection closed before the request body was complete."),
    HeadersTooLarge: (
        431,
        "request_header_fields_too_large",
        "The request's header fields exceed the limit of {detail}.",
    ),
    # 429
    errors.TooManyRequests: (429, "too_many_requests", "Too many requests have been made."),
    errors.UserLockLimitReached: (
        429,
        "user_lock_limit_reached",
        "The user has been locked out due to too many failed authentication attempts. "
        "Please try again later.",
    ),
    errors.RateLimited: (429, "too_many_requests", "Too many requests have been made."),
    errors.IntegrityFailure: (500, "internal_server_error", INTERNAL_MESSAGE),
    errors.StoreFailed: (500, "internal_server_error", INTERNAL_MESSAGE),
    # start-up errors; a request never meets them, and would see a plain 500 if it did
    errors.ConfigError: (500, "internal_server_error", INTERNAL_MESSAGE),
    errors.MasterKeyError: (500, "internal_server_error", INTERNAL_MESSAGE),
    errors.StoreUnavailable: (500, "internal_server_error", INTERNAL_MESSAGE),
    errors.RbacPolicyUnreadable: (500, "internal_server_error", INTERNAL_MESSAGE),
    # the operator's key rotation; no request makes one
    errors.KeyRotationRefused: (500, "internal_server_error", INTERNAL_MESSAGE),
    errors.ForeignMasterKey: (500, "internal_server_error", INTERNAL_MESSAGE),
    errors.RotationPending: (500, "internal_server_error", INTERNAL_MESSAGE),
    # the operator's backup; no request makes one
    errors.BackupFailed: (500, "internal_server_error", INTERNAL_MESSAGE),
}


def lookup(exc: errors.ServerError) -> ErrorRow:
    """The row of the nearest class in ``type(exc).__mro__`` (every error derives from ``ServerError``)."""
    for cls in type(exc).__mro__:
        row = ERROR_TABLE.get(cls)
        if row is not None:
            return row
    return ERROR_TABLE[InternalError]


def error_body(exc: errors.ServerError) -> ErrorResponse:
    status, error_type, template = lookup(exc)
    request_context.failed(error_type)
    message = template.format(
        field=getattr(exc, "field", ""), detail=exc.detail, limit=f"{getattr(exc, 'limit', 0):,}"
    )
    return ErrorResponse(
        status_code=status,
        request_id=request_id(),
        error_type=error_type,
        error_message=message,
        error_url=f"https://stytch.com/docs/api/errors/{status}#{error_type}",
    )


def render(exc: errors.ServerError, headers: Mapping[str, str] | None = None) -> Response:
    body = error_body(exc)
    return Response(
        msgspec.json.encode(body), body.status_code, headers=headers, media_type="application/json"
    )


async def server_error_handler(request: Request, exc: Exception) -> Response:
    """Every :class:`totpflow.server.errors.ServerError` a service or the edge raises."""
    assert isinstance(exc, errors.ServerError)
    return render(exc)


async def http_exception_handler(request: Request, exc: Exception) -> Response:
    """Starlette's own 404 (no route) and 405 (route without this method)."""
    assert isinstance(exc, HTTPException)
    if exc.status_code == 405:
        return render(MethodNotAllowed(), headers=exc.headers)
    if exc.status_code == 404:
        product = product_of(request.url.path)
        return render(RouteNotFound() if product is None else UnservedProduct(product))
    return render(errors.BadRequest())


class CatchUnexpected:
    """ASGI middleware: any exception no handler took becomes a Stytch 500 body, and is not re-raised.

    The log line names the request id, method, route template (as the request log does: never the raw path,
    which is caller-chosen text), exception class and the traceback's frames, but never the exception's
    message (a database driver's message can quote bound parameters) nor the request body.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            frames = "".join(traceback.format_tb(exc.__traceback__))
            route = getattr(scope.get("route"), "path", None) or "(no route)"
            logger.error(
                "unexpected %s on %s %s (%s)\n%s",
                type(exc).__name__,
                scope["method"],
                route,
                request_id(),
                frames,
            )
            if started:
                raise
            await render(InternalError())(scope, receive, send)
