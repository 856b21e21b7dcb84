"""Identifier and secret formats of the Stytch API (stytch-api.md §2.3).

Every id is ``<kind>-test-<uuid4>``; the ``test`` environment is the only one a self-hosted server
offers. Ids are not secrets: they are random only so that they cannot be guessed across projects.
"""

from __future__ import annotations

import base64
import re
import secrets
import uuid

ENVIRONMENT = "test"

_UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"


def _new(kind: str) -> str:
    return f"{kind}-{ENVIRONMENT}-{uuid.uuid4()}"


def _pattern(kind: str) -> re.Pattern[str]:
    return re.compile(rf"{kind}-(?:test|live)-{_UUID}")


USER_ID = _pattern("user")
TOTP_ID = _pattern("totp")
SESSION_ID = _pattern("session")
PROJECT_ID = _pattern("project")


def user_id() -> str:
    return _new("user")


def totp_id() -> str:
    return _new("totp")


def session_id() -> str:
    return _new("session")


def email_id() -> str:
    return _new("email")


def phone_id() -> str:
    return _new("phone-number")


def recovery_code_id() -> str:
    return _new("totp-recovery-code")


def request_id() -> str:
    return _new("request-id")


def jwk_id() -> str:
    return _new("jwk")


def project_id() -> str:
    return _new("project")


def project_secret() -> str:
    """``secret-test-`` + base64url of 26 random bytes (36 characters, as in Stytch's documented example)."""
    return f"secret-{ENVIRONMENT}-" + base64.urlsafe_b64encode(secrets.token_bytes(26)).decode("ascii")
