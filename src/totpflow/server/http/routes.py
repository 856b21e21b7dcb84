"""Route handlers of the Stytch consumer API (stytch-api.md §4, paths as the SDK sends them in §7.4).

Each handler parses (path, query, strict JSON body), makes one service call and serialises the result. The
project's credentials are verified before the handler runs, so before the body is read
(:func:`authenticated`); :func:`call` hands the values on through ``totpflow.server.http.dispatch.run``, which
checks them and runs the synchronous service in the thread pool. Errors are raised, never caught here:
``totpflow.server.http.errors`` renders them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Concatenate, Final, ParamSpec, TypeVar

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from totpflow.server import services
from totpflow.server.domain import models, rbac
from totpflow.server.http import dispatch
from totpflow.server.http import requests as rq
from totpflow.server.http import responses as rs
from totpflow.server.http.auth import authenticate
from totpflow.server.http.body import decode
from totpflow.server.http.errors import MalformedBody

P = ParamSpec("P")
R = TypeVar("R")

JSON: Final = "application/json"
_encoder: Final = msgspec.json.Encoder()


@dataclass(frozen=True)
class ServerState:
    """What the handlers need, stored on ``app.state.totpflow`` by ``totpflow.server.app.create_app``."""

    deps: services.Deps
    openapi_json: bytes


def state(request: Request) -> ServerState:
    value: ServerState = request.app.state.totpflow
    return value


def reply(body: msgspec.Struct) -> Response:
    return Response(_encoder.encode(body), 200, media_type=JSON)


async def call(
    request: Request,
    service: Callable[Concatenate[services.Deps, models.Project, P], R],
    *args: P.args,
    **kwargs: P.kwargs,
) -> R:
    """``service(deps, project, …)`` for the request's authenticated project, through :func:`dispatch.run`
    (every value checked once, the service run in the thread pool, its credential confirmed in its first
    transaction: ``services.run_as``)."""
    credential: services.Credential = request.state.credential

    def bound(deps: services.Deps, /, *rest: P.args, **named: P.kwargs) -> R:
        try:
            return services.run_as(deps, credential, service, *rest, **named)
        finally:
            # run_as confirms before it returns or raises; a value ``dispatch.run`` refuses before calling
            # this (a NUL character) leaves the credential unconfirmed, for ``authenticated`` to confirm
            request.state.confirmed = True

    if service in services.ON_LOOP:
        return await dispatch.run_on_loop(bound, state(request).deps, *args, **kwargs)
    return await dispatch.run(bound, state(request).deps, *args, **kwargs)


def name(value: rq.NameIn | None) -> models.Name | None:
    if value is None:
        return None
    return models.Name(
        first_name=value.first_name or "",
        middle_name=value.middle_name or "",
        last_name=value.last_name or "",
    )


def attributes(value: rq.AttributesIn | None) -> dict[str, str] | None:
    if value is None:
        return None
    return {"ip_address": value.ip_address or "", "user_agent": value.user_agent or ""}


def auth_response(cls: type[rs.AuthenticateTotpResponse], result: models.AuthResult) -> Response:
    return reply(
        cls(
            request_id=rs.request_id(),
            status_code=200,
            user_id=result.user.user_id,
            totp_id=result.totp_id,
            session_token=result.session_token,
            session_jwt=result.session_jwt,
            session=None if result.session is None else rs.session(result.session),
            user=rs.user(result.user),
        )
    )


# --- users --------------------------------------------------------------------------------------------------


async def create_user(request: Request) -> Response:
    body = await decode(request, rq.CreateUserRequest)
    user = await call(
        request,
        services.create_user,
        email=body.email,
        phone_number=body.phone_number,
        name=name(body.name),
        attributes=attributes(body.attributes),
        create_user_as_pending=bool(body.create_user_as_pending),
        trusted_metadata=body.trusted_metadata,
        untrusted_metadata=body.untrusted_metadata,
        external_id=body.external_id,
        roles=body.roles,
    )
    return reply(
        rs.CreateUserResponse(
            request_id=rs.request_id(),
            status_code=200,
            user_id=user.user_id,
            email_id=rs.first_id(user.emails),
            status=user.status,
            phone_id=rs.first_id(user.phone_numbers),
            user=rs.user(user),
        )
    )


async def get_user(request: Request) -> Response:
    # The SDK repeats user_id in the query string (§4.2); the path is authoritative.
    user = await call(request, services.get_user, request.path_params["user_id"])
    return reply(rs.GetUserResponse(request_id=rs.request_id(), status_code=200, **rs.user_fields(user)))


def name_update(value: rq.NameIn | None) -> models.NameUpdate | None:
    if value is None:
        return None
    return models.NameUpdate(
        first_name=value.first_name, middle_name=value.middle_name, last_name=value.last_name
    )


async def update_user(request: Request) -> Response:
    body = await decode(request, rq.UpdateUserRequest)
    user = await call(
        request,
        services.update_user,
        request.path_params["user_id"],
        name=name_update(body.name),
        attributes=attributes(body.attributes),
        trusted_metadata=body.trusted_metadata,
        untrusted_metadata=body.untrusted_metadata,
        external_id=body.external_id,
        roles=body.roles,
    )
    nested = rs.user(user)
    return reply(
        rs.UpdateUserResponse(
            request_id=rs.request_id(),
            status_code=200,
            user_id=user.user_id,
            emails=nested.emails,
            phone_numbers=nested.phone_numbers,
            crypto_wallets=nested.crypto_wallets,
            user=nested,
        )
    )


async def delete_user(request: Request) -> Response:
    user_id = await call(request, services.delete_user, request.path_params["user_id"])
    return reply(rs.DeleteUserResponse(request_id=rs.request_id(), status_code=200, user_id=user_id))


async def search_users(request: Request) -> Response:
    body = await decode(request, rq.SearchUsersRequest)
    page = await call(
        request,
        services.search_users,
        query=body.query,
        limit=body.limit,
        cursor=body.cursor,
    )
    return reply(
        rs.SearchUsersResponse(
            request_id=rs.request_id(),
            status_code=200,
            results=[rs.user(u) for u in page.users],
            results_metadata=rs.ResultsMetadata(total=page.total, next_cursor=page.next_cursor),
        )
    )


async def delete_totp(request: Request) -> Response:
    user = await call(request, services.delete_totp, request.path_params["totp_id"])
    return reply(
        rs.DeleteTotpResponse(
            request_id=rs.request_id(), status_code=200, user_id=user.user_id, user=rs.user(user)
        )
    )


# --- totps --------------------------------------------------------------------------------------------------


async def create_totp(request: Request) -> Response:
    body = await decode(request, rq.CreateTotpRequest)
    created = await call(
        request, services.create_totp, user_id=body.user_id, expiration_minutes=body.expiration_minutes
    )
    return reply(
        rs.CreateTotpResponse(
            request_id=rs.request_id(),
            status_code=200,
            totp_id=created.totp_id,
            secret=created.secret,
            qr_code=created.qr_code,
            recovery_codes=list(created.recovery_codes),
            user_id=created.user.user_id,
            user=rs.user(created.user),
        )
    )


async def authenticate_totp(request: Request) -> Response:
    body = await decode(request, rq.AuthenticateTotpRequest)
    result = await call(
        request,
        services.authenticate_totp,
        user_id=body.user_id,
        totp_code=body.totp_code,
        session_token=body.session_token,
        session_jwt=body.session_jwt,
        session_duration_minutes=body.session_duration_minutes,
        session_custom_claims=body.session_custom_claims,
    )
    return auth_response(rs.AuthenticateTotpResponse, result)


async def recovery_codes(request: Request) -> Response:
    body = await decode(request, rq.RecoveryCodesRequest)
    user, totps = await call(request, services.get_recovery_codes, user_id=body.user_id)
    return reply(
        rs.RecoveryCodesResponse(
            request_id=rs.request_id(),
            status_code=200,
            user_id=user.user_id,
            totps=[
                rs.TotpWithCodes(
                    totp_id=t.totp_id, verified=t.verified, recovery_codes=list(t.recovery_codes)
                )
                for t in totps
            ],
        )
    )


async def recover(request: Request) -> Response:
    body = await decode(request, rq.RecoverRequest)
    result = await call(
        request,
        services.recover,
        user_id=body.user_id,
        recovery_code=body.recovery_code,
        session_token=body.session_token,
        session_jwt=body.session_jwt,
        session_duration_minutes=body.session_duration_minutes,
        session_custom_claims=body.session_custom_claims,
    )
    return auth_response(rs.RecoverResponse, result)


# --- sessions -----------------------------------------------------------------------------------------------


async def authenticate_session(request: Request) -> Response:
    body = await decode(request, rq.AuthenticateSessionRequest)
    result = await call(
        request,
        services.authenticate_session,
        session_token=body.session_token,
        session_jwt=body.session_jwt,
        session_duration_minutes=body.session_duration_minutes,
        session_custom_claims=body.session_custom_claims,
        authorization_check=None
        if body.authorization_check is None
        else services.AuthorizationCheck(
            resource_id=body.authorization_check.resource_id, action=body.authorization_check.action
        ),
    )
    # The service always returns a session here (a missing one is SessionNotFound).
    assert result.session is not None
    return reply(
        rs.AuthenticateSessionResponse(
            request_id=rs.request_id(),
            status_code=200,
            session=rs.session(result.session),
            session_token=result.session_token,
            session_jwt=result.session_jwt,
            user=rs.user(result.user),
            verdict=None
            if result.granting_roles is None
            else rs.AuthorizationVerdict(authorized=True, granting_roles=list(result.granting_roles)),
        )
    )


async def revoke_session(request: Request) -> Response:
    body = await decode(request, rq.RevokeSessionRequest)
    await call(
        request,
        services.revoke_session,
        session_id=body.session_id,
        session_token=body.session_token,
        session_jwt=body.session_jwt,
    )
    return reply(rs.RevokeSessionResponse(request_id=rs.request_id(), status_code=200))


async def get_sessions(request: Request) -> Response:
    given = request.query_params.getlist("user_id")
    if not given:
        raise MalformedBody("missing required query parameter `user_id`")
    if len(given) > 1:  # which one was meant is ambiguous, as for a second Authorization header
        raise MalformedBody("the query parameter `user_id` is given more than once")
    user_id = given[0]
    sessions = await call(request, services.get_sessions, user_id=user_id)
    return reply(
        rs.GetSessionsResponse(
            request_id=rs.request_id(), status_code=200, sessions=[rs.session(s) for s in sessions]
        )
    )


async def get_jwks(request: Request) -> Response:
    """No authentication: ``PyJWKClient`` fetches this without credentials (§2.2); credentials are ignored."""
    keys = await dispatch.run(services.get_jwks, state(request).deps, request.path_params["project_id"])
    return reply(
        rs.GetJwksResponse(
            request_id=rs.request_id(), status_code=200, keys=msgspec.convert(keys, list[rs.JWK])
        )
    )


# --- rbac ---------------------------------------------------------------------------------------------------


async def rbac_policy(request: Request) -> Response:
    policy = await call(request, services.get_rbac_policy)
    return reply(
        rs.RbacPolicyResponse(
            request_id=rs.request_id(),
            status_code=200,
            policy=msgspec.convert(rbac.policy_json(policy), rs.Policy),
        )
    )


async def openapi_json(request: Request) -> Response:
    return Response(state(request).openapi_json, 200, media_type=JSON)


Handler = Callable[[Request], Awaitable[Response]]


@dataclass(frozen=True)
class Operation:
    """One route and the facts the OpenAPI document states about it."""

    path: str
    method: str
    handler: Handler
    operation_id: str
    summary: str
    request: type[msgspec.Struct] | None
    response: type[msgspec.Struct]
    authenticated: bool = True
    parameters: tuple[dict[str, Any], ...] = ()


def _path(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}


def _query(name: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": True, "schema": {"type": "string"}}


OPERATIONS: Final = (
    Operation("/v1/users", "POST", create_user, "api_user_v1_Create", "Create a user",
              rq.CreateUserRequest, rs.CreateUserResponse),
    Operation("/v1/users/search", "POST", search_users, "api_user_v1_Search", "Search users",
              rq.SearchUsersRequest, rs.SearchUsersResponse),
    Operation("/v1/users/{user_id}", "GET", get_user, "api_user_v1_Get", "Get a user",
              None, rs.GetUserResponse, parameters=(_path("user_id"),)),
    Operation("/v1/users/{user_id}", "PUT", update_user, "api_user_v1_Update", "Update a user",
              rq.UpdateUserRequest, rs.UpdateUserResponse, parameters=(_path("user_id"),)),
    Operation("/v1/users/{user_id}", "DELETE", delete_user, "api_user_v1_Delete", "Delete a user",
              None, rs.DeleteUserResponse, parameters=(_path("user_id"),)),
    Operation("/v1/users/totps/{totp_id}", "DELETE", delete_totp, "api_user_v1_DeleteTOTP", "Delete a TOTP",
              None, rs.DeleteTotpResponse, parameters=(_path("totp_id"),)),
    Operation("/v1/totps", "POST", create_totp, "api_totp_v1_Create", "Create a TOTP",
              rq.CreateTotpRequest, rs.CreateTotpResponse),
    Operation("/v1/totps/authenticate", "POST", authenticate_totp, "api_totp_v1_Authenticate",
              "Authenticate a TOTP code", rq.AuthenticateTotpRequest, rs.AuthenticateTotpResponse),
    Operation("/v1/totps/recovery_codes", "POST", recovery_codes, "api_totp_v1_RecoveryCodes",
              "Get recovery codes", rq.RecoveryCodesRequest, rs.RecoveryCodesResponse),
    Operation("/v1/totps/recover", "POST", recover, "api_totp_v1_Recover", "Authenticate a recovery code",
              rq.RecoverRequest, rs.RecoverResponse),
    Operation("/v1/sessions/authenticate", "POST", authenticate_session, "api_session_v1_Authenticate",
              "Authenticate a session", rq.AuthenticateSessionRequest, rs.AuthenticateSessionResponse),
    Operation("/v1/sessions/revoke", "POST", revoke_session, "api_session_v1_Revoke", "Revoke a session",
              rq.RevokeSessionRequest, rs.RevokeSessionResponse),
    Operation("/v1/sessions", "GET", get_sessions, "api_session_v1_Get", "Get a user's active sessions",
              None, rs.GetSessionsResponse,
              parameters=(_query("user_id"),)),
    Operation("/v1/sessions/jwks/{project_id}", "GET", get_jwks, "api_session_v1_GetJWKS",
              "Get the session signing keys", None, rs.GetJwksResponse, authenticated=False,
              parameters=(_path("project_id"),)),
    Operation("/v1/rbac/policy", "GET", rbac_policy, "api_consumer_rbac_v1_Policy",
              "Get the project's RBAC policy", None, rs.RbacPolicyResponse),
)  # fmt: skip


def authenticated(handler: Handler) -> Handler:
    """Verify the Basic credentials before the handler runs (so before its body is read): a request without
    valid ones costs no body read and learns nothing about its body. A request that fails before its
    service has confirmed them (a malformed body, a bad query parameter) confirms them before it answers, so
    a secret reset elsewhere is refused (401) rather than told what was wrong with the body."""

    async def endpoint(request: Request) -> Response:
        deps = state(request).deps
        request.state.credential = await authenticate(request, deps)
        request.state.confirmed = False
        try:
            return await handler(request)
        except Exception:
            if not request.state.confirmed:
                await dispatch.run(services.confirm, deps, request.state.credential)
            raise

    return endpoint


def routes() -> list[Route]:
    """The Starlette routes, one per operation. Starlette keeps looking past a path that matches with another
    method, so ``POST /v1/users/search`` and ``GET /v1/users/{user_id}`` coexist, and a wrong method is a
    405."""
    table = [
        Route(op.path, authenticated(op.handler) if op.authenticated else op.handler, methods=[op.method])
        for op in OPERATIONS
    ]
    table.append(Route("/openapi.json", openapi_json, methods=["GET"]))
    return table
