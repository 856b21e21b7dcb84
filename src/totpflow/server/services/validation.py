"""Checks of meaning on request values (the HTTP layer has already checked their JSON types)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from totpflow.server import errors
from totpflow.server.domain import ids
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
    # at most 254 characters as given and as stored lower-cased (its case-insensitive key): lower-casing can
    # lengthen a string (U+0130 becomes two code points)
    if len(value) > 254 or len(value.lower()) > 254 or EMAIL.fullmatch(value) is None:
        raise errors.InvalidEmail("email", "not a valid email address")
    return value


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
    if EXTERNAL_ID.fullmatch(value) is None:
        raise errors.InvalidExternalId("external_id", "1-128 characters of letters, digits and . _ - |")
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
    if value is None:
        return None
    low, high = policy.session_duration_minutes_range
    if not low <= value <= high:
        raise errors.InvalidSessionDuration("session_duration_minutes", f"must be between {low} and {high}")
    return value


def custom_claims(value: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    if value is not None:
        check_custom_claims(value)
    return value
