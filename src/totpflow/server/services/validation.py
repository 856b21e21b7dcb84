"""Checks of meaning on request values (the HTTP layer has already checked their JSON types)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, Final

from totpflow.server import errors
from totpflow.server.domain import ids, rbac
from totpflow.server.domain.emails import email_key
from totpflow.server.domain.jwt import check_custom_claims
from totpflow.server.policy import Policy

# No white space and no control character (an escape sequence would reach the operators' terminals).
EMAIL = re.compile(r"[^@\s\x00-\x1f\x7f]{1,64}@[^@\s\x00-\x1f\x7f]+\.[^@\s.\x00-\x1f\x7f]+")
PHONE = re.compile(r"\+[1-9][0-9]{6,14}")  # E.164
EXTERNAL_ID = re.compile(r"[A-Za-z0-9._|-]{1,128}")
TOTP_CODE = re.compile(r"[0-9]{6}")
# A project id an operator chooses (TOTPFLOW_PROJECT_ID): it is the user name of HTTP Basic auth, so no ":"
# and nothing a header cannot carry; at most the column's 96 characters.
PROJECT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,95}")


def email(value: str) -> str:
    # at most 254 characters as given and as its unique key (``email_key``: lower-cased and NFC-normalised):
    # both can lengthen a string (U+0130 lower-cases to two code points, U+FB2C is three under NFC)
    if len(value) > 254 or EMAIL.fullmatch(value) is None or len(email_key(value)) > 254:
        raise errors.InvalidEmail("email", "not a valid email address")
    return value


# Free-text fields Stytch documents no limit for: limits no real value meets (docs/stytch-compatibility.md).
NAME_PART_LENGTH: Final = 1024
IP_ADDRESS_LENGTH: Final = 64  # an IPv6 address is at most 45 characters, 64 with a zone index
USER_AGENT_LENGTH: Final = 8192  # the longest header line common HTTP servers accept (nginx, Apache)
MAX_ROLES: Final = 100  # explicitly assigned roles of one user, each carried by every session JWT
USER_ID_LENGTH: Final = 128  # a user id (46 characters) or an external id (at most 128)

# Session arguments: a longer value names no session, and is answered as any unknown one (404
# ``session_not_found``), only without being hashed, base64-decoded or looked up
# (docs/stytch-compatibility.md, "Length limits").
SESSION_TOKEN_LENGTH: Final = 256  # a session token is 44 characters
SESSION_ID_LENGTH: Final = 128  # a session id is 49 characters
# The longest session JWT this server can sign is about 220,000 characters: 101 role ids of 128 characters
# outside the Basic Multilingual Plane (each escaped as a surrogate pair, 12 characters: 155,500), 4,096
# bytes of custom claims (at most 3x once escaped), a 96-character project id, both factors, all as base64
# (4/3), and a 4,096-bit key's signature. A usual one is 1-3 KB; 100 ASCII role ids of 128 make about 25,000.
SESSION_JWT_LENGTH: Final = 256 * 1024


def session_token_fits(value: str) -> bool:
    return len(value) <= SESSION_TOKEN_LENGTH


def session_jwt_fits(value: str) -> bool:
    return len(value) <= SESSION_JWT_LENGTH


def session_id_fits(value: str) -> bool:
    return len(value) <= SESSION_ID_LENGTH


def name_part(field: str, value: str | None) -> str | None:
    if value is not None and len(value) > NAME_PART_LENGTH:
        raise errors.ValueTooLong(field, NAME_PART_LENGTH)
    return value


def attributes(value: Mapping[str, str] | None) -> None:
    """``attributes`` (accepted, not stored) within their limits."""
    if value is None:
        return
    if len(value.get("ip_address") or "") > IP_ADDRESS_LENGTH:
        raise errors.IpAddressTooLong("attributes.ip_address", IP_ADDRESS_LENGTH)
    if len(value.get("user_agent") or "") > USER_AGENT_LENGTH:
        raise errors.UserAgentTooLong("attributes.user_agent", USER_AGENT_LENGTH)


def role_ids(values: Sequence[str]) -> None:
    """Explicitly assigned role ids: each one a policy could define (``rbac.id_problem``): not empty
    (``EmptyRoleId``), no white space at either end nor control character (``InvalidRoleId``), none longer
    than ``rbac.MAX_ID_LENGTH`` (``RoleIdTooLong``); at most :data:`MAX_ROLES` distinct ones."""
    if any(not role.strip() for role in values):
        raise errors.EmptyRoleId("roles", "a role id is empty")
    if any(role != role.strip() or rbac.has_control_character(role) for role in values):
        raise errors.InvalidRoleId("roles", "white space at an end or a control character")
    if any(len(role) > rbac.MAX_ID_LENGTH for role in values):
        raise errors.RoleIdTooLong("roles", rbac.MAX_ID_LENGTH)
    if len(set(values) - {rbac.DEFAULT_ROLE}) > MAX_ROLES:
        raise errors.TooManyRoles("roles", MAX_ROLES)


def authorization_check(resource_id: str, action: str) -> None:
    """An ``authorization_check``: ``InvalidArgument`` for a control character (or lone surrogate) in
    either field, which no policy's resource or action may hold (``rbac.id_problem``). Any other value is
    looked for: one the policy does not name is denied as an unknown one (a longer resource id too)."""
    for field, value in (("resource_id", resource_id), ("action", action)):
        if rbac.has_control_character(value):
            raise errors.InvalidArgument(f"authorization_check.{field}", "a control character")


PROJECT_NAME_LENGTH = 200  # the column's


def project_name(value: str) -> str:
    """A project's name: 1-200 characters, none a control character (it is shown on operators' terminals)."""
    if not 0 < len(value) <= PROJECT_NAME_LENGTH or any(
        ord(char) < 0x20 or 0x7F <= ord(char) < 0xA0 for char in value
    ):
        raise errors.InvalidArgument("name", f"1-{PROJECT_NAME_LENGTH} characters, none a control character")
    return value


def phone_number(value: str) -> str:
    if PHONE.fullmatch(value) is None:
        raise errors.InvalidPhoneNumber("phone_number", "not an E.164 phone number")
    return value


def external_id(value: str) -> str:
    """An external id as given; ``InvalidExternalId`` outside its format, or in the form of a user id: a
    path or body ``user_id`` may be either, so such a value would name two users, and a request for a
    deleted user's id would reach the user whose external id it is (``storage.users.external_ref``)."""
    if EXTERNAL_ID.fullmatch(value) is None:
        raise errors.InvalidExternalId("external_id", "1-128 characters of letters, digits and . _ - |")
    if ids.USER_ID.fullmatch(value) is not None:
        raise errors.InvalidExternalId("external_id", "may not have the form of a user_id")
    return value


def project_id(value: str) -> str:
    if PROJECT_ID.fullmatch(value) is None:
        raise errors.InvalidArgument("project_id", "1-96 letters, digits and . _ -, a letter or digit first")
    return value


def totp_code(value: str) -> str:
    if TOTP_CODE.fullmatch(value) is None:
        raise errors.InvalidTotpCode("totp_code", "must be 6 digits")
    return value


def totp_id(value: str) -> str:
    if ids.TOTP_ID.fullmatch(value) is None:
        raise errors.InvalidTotpId("totp_id", "format is invalid")
    return value


def expiration_minutes(value: int | None, policy: Policy) -> int:
    if value is None:
        return policy.totp_expiration_minutes_default
    low, high = policy.totp_expiration_minutes_range
    if not low <= value <= high:
        raise errors.InvalidExpiration("expiration_minutes", f"must be between {low} and {high}")
    return value


def session_duration(value: int | None, policy: Policy) -> int | None:
    """The duration asked for, or ``None`` when none is: absent, or 0 (the zero value of Stytch's protobuf
    ``int32``, which is "not set"; Go's SDK omits it), as search reads ``limit: 0``. The same rule for
    ``/v1/totps/authenticate``, ``/v1/totps/recover`` and ``/v1/sessions/authenticate``."""
    if value is None or value == 0:
        return None
    low, high = policy.session_duration_minutes_range
    if not low <= value <= high:
        raise errors.InvalidSessionDuration("session_duration_minutes", f"must be between {low} and {high}")
    return value


def custom_claims(value: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    if value is not None:
        check_custom_claims(value)
    return value
