"""Frozen records of the domain. Timestamps are aware UTC datetimes.

These are what services return and what the HTTP layer serialises into Stytch's wire shapes. They never hold
a secret in plaintext except where the API hands it out (``TotpCreated.secret`` and recovery codes, which are
only ever built from freshly generated or just-decrypted values and never logged).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

UserStatus = Literal["active", "pending"]


@dataclass(frozen=True, slots=True)
class Project:
    project_id: str
    name: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Name:
    first_name: str = ""
    middle_name: str = ""
    last_name: str = ""


@dataclass(frozen=True, slots=True)
class NameUpdate:
    """The parts of a name an update gives; ``None`` keeps the stored part."""

    first_name: str | None = None
    middle_name: str | None = None
    last_name: str | None = None

    def applied_to(self, name: Name) -> Name:
        return Name(
            first_name=name.first_name if self.first_name is None else self.first_name,
            middle_name=name.middle_name if self.middle_name is None else self.middle_name,
            last_name=name.last_name if self.last_name is None else self.last_name,
        )


@dataclass(frozen=True, slots=True)
class Email:
    email_id: str
    email: str
    verified: bool


@dataclass(frozen=True, slots=True)
class PhoneNumber:
    phone_id: str
    phone_number: str
    verified: bool


@dataclass(frozen=True, slots=True)
class TotpRef:
    """A TOTP as it appears in ``user.totps``."""

    totp_id: str
    verified: bool


@dataclass(frozen=True, slots=True)
class User:
    project_id: str
    user_id: str
    status: UserStatus
    created_at: datetime
    emails: tuple[Email, ...] = ()
    phone_numbers: tuple[PhoneNumber, ...] = ()
    totps: tuple[TotpRef, ...] = ()
    name: Name | None = None
    trusted_metadata: dict[str, Any] = field(default_factory=dict)
    untrusted_metadata: dict[str, Any] = field(default_factory=dict)
    external_id: str | None = None
    roles: tuple[str, ...] = ("stytch_user",)
    is_locked: bool = False
    lock_created_at: datetime | None = None
    lock_expires_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class AuthenticationFactor:
    """One factor of a session. ``type``/``delivery_method`` use Stytch's enum strings."""

    type: Literal["totp", "recovery_codes"]
    delivery_method: Literal["authenticator_app", "recovery_code"]
    created_at: datetime
    last_authenticated_at: datetime
    updated_at: datetime
    totp_id: str | None = None  # authenticator_app_factor.totp_id
    totp_recovery_code_id: str | None = None  # recovery_code_factor.totp_recovery_code_id


@dataclass(frozen=True, slots=True)
class Session:
    session_id: str
    user_id: str
    started_at: datetime
    last_accessed_at: datetime
    expires_at: datetime
    authentication_factors: tuple[AuthenticationFactor, ...]
    roles: tuple[str, ...] = ("stytch_user",)
    attributes: dict[str, str] = field(default_factory=lambda: {"ip_address": "", "user_agent": ""})
    custom_claims: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class TotpCreated:
    """Result of creating a TOTP: the only time the secret leaves the server."""

    totp_id: str
    secret: str  # base32, 32 chars
    qr_code: str  # "data:image/png;base64, <png>"
    recovery_codes: tuple[str, ...]
    user: User


@dataclass(frozen=True, slots=True)
class TotpRecoveryCodes:
    totp_id: str
    verified: bool
    recovery_codes: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class AuthResult:
    """Result of a TOTP/recovery authenticate or a session authenticate.

    Without a session: ``session is None`` and both token strings are ``""`` (Stytch's wire contract).
    """

    user: User
    session: Session | None
    session_token: str
    session_jwt: str
    totp_id: str = ""
    # The roles that granted the request's ``authorization_check`` (None when no check was asked).
    granting_roles: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class UserPage:
    """One page of ``/v1/users/search``."""

    users: tuple[User, ...]
    next_cursor: str | None
    total: int
