"""Request bodies of the Stytch consumer endpoints, as strict msgspec Structs (stytch-api.md §4, §7.2).

Decoding is strict (``"60"`` is not an int, ``1`` is not a bool) and unknown fields are ignored, as Stytch
does (e.g. ``telemetry_id``). ``None`` means "not sent": the SDK only sends non-None keyword arguments.
Meaning (ranges, formats, ownership) is checked by the services, not here.
"""

from __future__ import annotations

from typing import Any

import msgspec


class Request(msgspec.Struct, kw_only=True):
    """Base of every request body."""


class NameIn(msgspec.Struct, kw_only=True):
    first_name: str | None = None
    middle_name: str | None = None
    last_name: str | None = None


class AttributesIn(msgspec.Struct, kw_only=True):
    ip_address: str | None = None
    user_agent: str | None = None


class CreateUserRequest(Request, kw_only=True):
    """``POST /v1/users`` (§4.1); an email or a phone number is required (checked by the service)."""

    email: str | None = None
    phone_number: str | None = None
    name: NameIn | None = None
    attributes: AttributesIn | None = None
    create_user_as_pending: bool | None = None
    trusted_metadata: dict[str, Any] | None = None
    untrusted_metadata: dict[str, Any] | None = None
    external_id: str | None = None
    roles: list[str] | None = None


class UpdateUserRequest(Request, kw_only=True):
    """``PUT /v1/users/{user_id}`` (stytch-rbac-users-sessions.md §2.1). The Python SDK repeats ``user_id``
    in the body; the path is authoritative and the body's copy is ignored. Metadata values may be ``null``
    (which deletes the key)."""

    user_id: str | None = None
    name: NameIn | None = None
    attributes: AttributesIn | None = None
    trusted_metadata: dict[str, Any] | None = None
    untrusted_metadata: dict[str, Any] | None = None
    external_id: str | None = None
    roles: list[str] | None = None


class SearchUsersRequest(Request, kw_only=True):
    """``POST /v1/users/search``; an absent ``query`` returns every user of the project."""

    cursor: str | None = None
    limit: int | None = None
    query: dict[str, Any] | None = None


class CreateTotpRequest(Request, kw_only=True):
    """``POST /v1/totps`` (§4.4)."""

    user_id: str
    expiration_minutes: int | None = None


class SessionArgs(Request, kw_only=True):
    """The session arguments shared by the authenticate endpoints (§4.5, §4.7, §4.9)."""

    session_token: str | None = None
    session_jwt: str | None = None
    session_duration_minutes: int | None = None
    session_custom_claims: dict[str, Any] | None = None


class AuthenticateTotpRequest(SessionArgs, kw_only=True):
    """``POST /v1/totps/authenticate`` (§4.5)."""

    user_id: str
    totp_code: str


class RecoveryCodesRequest(Request, kw_only=True):
    """``POST /v1/totps/recovery_codes`` (§4.6)."""

    user_id: str


class RecoverRequest(SessionArgs, kw_only=True):
    """``POST /v1/totps/recover`` (§4.7)."""

    user_id: str
    recovery_code: str


class AuthorizationCheckIn(msgspec.Struct, kw_only=True):
    resource_id: str
    action: str


class AuthenticateSessionRequest(SessionArgs, kw_only=True):
    """``POST /v1/sessions/authenticate`` (§4.9); ``authorization_check`` is evaluated against the project's
    RBAC policy (stytch-rbac-users-sessions.md §1.2)."""

    authorization_check: AuthorizationCheckIn | None = None


class RevokeSessionRequest(Request, kw_only=True):
    """``POST /v1/sessions/revoke`` (§4.10): exactly one of the three (checked by the service)."""

    session_id: str | None = None
    session_token: str | None = None
    session_jwt: str | None = None
