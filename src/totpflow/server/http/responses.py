"""Response bodies of the Stytch consumer endpoints, and their rendering from domain records.

Shapes follow stytch-api.md §3 (User, Session, AuthenticationFactor, JWK) and §4 (one Struct per endpoint);
the official SDK's pydantic models are the judge. Every body carries ``status_code`` and ``request_id``
(§0.1). Timestamps are RFC 3339 UTC with second precision and a ``Z`` suffix. No hash or stored secret has
a field here.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import msgspec

from totpflow.server.domain import models
from totpflow.server.http import request_context

Timestamp = Annotated[str, msgspec.Meta(extra_json_schema={"format": "date-time"})]


def request_id() -> str:
    """The current request's ``request-id-test-<uuid4>`` (§2.3), the one its log line carries."""
    return request_context.request_id()


def timestamp(value: datetime) -> str:
    """RFC 3339, UTC, second precision, ``Z``."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def optional_timestamp(value: datetime | None) -> str | None:
    return None if value is None else timestamp(value)


class Envelope(msgspec.Struct, kw_only=True):
    """Fields of every response body, success or error (§0.1, §5.1)."""

    request_id: str
    status_code: int


# --- shared objects (§3) ------------------------------------------------------------------------------------


class EmailOut(msgspec.Struct, kw_only=True):
    email_id: str
    email: str
    verified: bool


class PhoneNumberOut(msgspec.Struct, kw_only=True):
    phone_id: str
    phone_number: str
    verified: bool


class TotpOut(msgspec.Struct, kw_only=True):
    totp_id: str
    verified: bool


class NameOut(msgspec.Struct, kw_only=True):
    first_name: str
    middle_name: str
    last_name: str


class UserFields(msgspec.Struct, kw_only=True):
    """The User object (§3.1). The arrays of factors this server does not offer are always empty. ``name``
    is always an object and an unset part is ``""``; an unset ``external_id`` is ``""``, as in Stytch's own
    samples (stytch-rbac-users-sessions.md §2.3)."""

    user_id: str
    emails: list[EmailOut]
    status: str
    phone_numbers: list[PhoneNumberOut]
    webauthn_registrations: list[dict[str, Any]]
    providers: list[dict[str, Any]]
    totps: list[TotpOut]
    crypto_wallets: list[dict[str, Any]]
    biometric_registrations: list[dict[str, Any]]
    is_locked: bool
    roles: list[str]
    name: NameOut
    created_at: Timestamp | None
    password: None
    trusted_metadata: dict[str, Any]
    untrusted_metadata: dict[str, Any]
    external_id: str
    lock_created_at: Timestamp | None
    lock_expires_at: Timestamp | None


class User(UserFields, kw_only=True):
    pass


class AuthenticatorAppFactor(msgspec.Struct, kw_only=True):
    totp_id: str


class RecoveryCodeFactor(msgspec.Struct, kw_only=True):
    totp_recovery_code_id: str


class AuthenticationFactor(msgspec.Struct, kw_only=True, omit_defaults=True):
    """One factor (§3.2); exactly one of the ``*_factor`` objects is present."""

    type: str
    delivery_method: str
    created_at: Timestamp
    last_authenticated_at: Timestamp
    updated_at: Timestamp
    authenticator_app_factor: AuthenticatorAppFactor | None = None
    recovery_code_factor: RecoveryCodeFactor | None = None


class SessionAttributes(msgspec.Struct, kw_only=True):
    ip_address: str
    user_agent: str


class Session(msgspec.Struct, kw_only=True):
    session_id: str
    user_id: str
    authentication_factors: list[AuthenticationFactor]
    roles: list[str]
    started_at: Timestamp
    last_accessed_at: Timestamp
    expires_at: Timestamp
    attributes: SessionAttributes
    custom_claims: dict[str, Any]


class JWK(msgspec.Struct, kw_only=True):
    """A session signing key (§3.4); all nine fields are required by the SDK."""

    kty: str
    use: str
    key_ops: list[str]
    alg: str
    kid: str
    x5c: list[str]
    x5tS256: str
    n: str
    e: str


class TotpWithCodes(msgspec.Struct, kw_only=True):
    totp_id: str
    verified: bool
    recovery_codes: list[str]


class ResultsMetadata(msgspec.Struct, kw_only=True):
    total: int
    next_cursor: str | None


# --- endpoint bodies (§4) -----------------------------------------------------------------------------------


class CreateUserResponse(Envelope, kw_only=True):
    user_id: str
    email_id: str
    status: str
    phone_id: str
    user: User


class GetUserResponse(UserFields, kw_only=True):
    """The User flattened at top level (§4.2), plus the envelope fields."""

    request_id: str
    status_code: int


class UpdateUserResponse(Envelope, kw_only=True):
    """``PUT /v1/users/{user_id}``: the user nested under ``user``, its emails, phone numbers and crypto
    wallets repeated at the top level (upstream OpenAPI ``api_user_v1_UpdateResponse``)."""

    user_id: str
    emails: list[EmailOut]
    phone_numbers: list[PhoneNumberOut]
    crypto_wallets: list[dict[str, Any]]
    user: User


class DeleteUserResponse(Envelope, kw_only=True):
    user_id: str


class SearchUsersResponse(Envelope, kw_only=True):
    results: list[User]
    results_metadata: ResultsMetadata


class DeleteTotpResponse(Envelope, kw_only=True):
    user_id: str
    user: User


class CreateTotpResponse(Envelope, kw_only=True):
    totp_id: str
    secret: str
    qr_code: str
    recovery_codes: list[str]
    user_id: str
    user: User


class AuthenticateTotpResponse(Envelope, kw_only=True):
    """Without a session: ``session`` null and both tokens ``""`` (§0.8)."""

    user_id: str
    totp_id: str
    session_token: str
    session_jwt: str
    session: Session | None
    user: User


class RecoverResponse(AuthenticateTotpResponse, kw_only=True):
    pass


class RecoveryCodesResponse(Envelope, kw_only=True):
    user_id: str
    totps: list[TotpWithCodes]


class AuthorizationVerdict(msgspec.Struct, kw_only=True):
    """``api_session_v1_AuthorizationVerdict``: present only when an ``authorization_check`` passed."""

    authorized: bool
    granting_roles: list[str]


class AuthenticateSessionResponse(Envelope, kw_only=True, omit_defaults=True):
    """``verdict`` is absent unless the request carried an ``authorization_check`` (it is the only field
    with a default, so ``omit_defaults`` drops nothing else)."""

    session: Session
    session_token: str
    session_jwt: str
    user: User
    verdict: AuthorizationVerdict | None = None


class PolicyPermission(msgspec.Struct, kw_only=True):
    resource_id: str
    actions: list[str]


class PolicyRole(msgspec.Struct, kw_only=True):
    role_id: str
    description: str
    permissions: list[PolicyPermission]


class PolicyResource(msgspec.Struct, kw_only=True):
    resource_id: str
    description: str
    actions: list[str]


class PolicyScope(msgspec.Struct, kw_only=True):
    scope: str
    description: str
    permissions: list[PolicyPermission]


class Policy(msgspec.Struct, kw_only=True):
    """``api_consumer_rbac_v1_Policy``: every field is required (the Python SDK's model has no defaults)."""

    roles: list[PolicyRole]
    resources: list[PolicyResource]
    scopes: list[PolicyScope]


class RbacPolicyResponse(Envelope, kw_only=True):
    policy: Policy


class RevokeSessionResponse(Envelope, kw_only=True):
    pass


class GetSessionsResponse(Envelope, kw_only=True):
    sessions: list[Session]


class GetJwksResponse(Envelope, kw_only=True):
    keys: list[JWK]


class ErrorResponse(Envelope, kw_only=True):
    """The Stytch error body (§5.1)."""

    error_type: str
    error_message: str
    error_url: str


# --- rendering from domain records --------------------------------------------------------------------------


def user_fields(user: models.User) -> dict[str, Any]:
    """The User object's fields, for nesting (``User(**…)``) or flattening (``GetUserResponse(**…)``)."""
    name = user.name or models.Name()
    return {
        "user_id": user.user_id,
        "emails": [EmailOut(email_id=e.email_id, email=e.email, verified=e.verified) for e in user.emails],
        "status": user.status,
        "phone_numbers": [
            PhoneNumberOut(phone_id=p.phone_id, phone_number=p.phone_number, verified=p.verified)
            for p in user.phone_numbers
        ],
        "webauthn_registrations": [],
        "providers": [],
        "totps": [TotpOut(totp_id=t.totp_id, verified=t.verified) for t in user.totps],
        "crypto_wallets": [],
        "biometric_registrations": [],
        "is_locked": user.is_locked,
        "roles": list(user.roles),
        "name": NameOut(first_name=name.first_name, middle_name=name.middle_name, last_name=name.last_name),
        "created_at": timestamp(user.created_at),
        "password": None,
        "trusted_metadata": user.trusted_metadata,
        "untrusted_metadata": user.untrusted_metadata,
        "external_id": user.external_id or "",
        "lock_created_at": optional_timestamp(user.lock_created_at),
        "lock_expires_at": optional_timestamp(user.lock_expires_at),
    }


def user(record: models.User) -> User:
    return User(**user_fields(record))


def factor(record: models.AuthenticationFactor) -> AuthenticationFactor:
    return AuthenticationFactor(
        type=record.type,
        delivery_method=record.delivery_method,
        created_at=timestamp(record.created_at),
        last_authenticated_at=timestamp(record.last_authenticated_at),
        updated_at=timestamp(record.updated_at),
        authenticator_app_factor=None
        if record.totp_id is None
        else AuthenticatorAppFactor(totp_id=record.totp_id),
        recovery_code_factor=None
        if record.totp_recovery_code_id is None
        else RecoveryCodeFactor(totp_recovery_code_id=record.totp_recovery_code_id),
    )


def session(record: models.Session) -> Session:
    return Session(
        session_id=record.session_id,
        user_id=record.user_id,
        authentication_factors=[factor(f) for f in record.authentication_factors],
        roles=list(record.roles),
        started_at=timestamp(record.started_at),
        last_accessed_at=timestamp(record.last_accessed_at),
        expires_at=timestamp(record.expires_at),
        attributes=SessionAttributes(
            ip_address=record.attributes.get("ip_address", ""),
            user_agent=record.attributes.get("user_agent", ""),
        ),
        custom_claims=record.custom_claims,
    )


def first_id(items: tuple[models.Email, ...] | tuple[models.PhoneNumber, ...]) -> str:
    """The id of the first email/phone, ``""`` when absent (the SDK requires a string, §0.10)."""
    if not items:
        return ""
    head = items[0]
    return head.email_id if isinstance(head, models.Email) else head.phone_id
