"""SQL conditions of the user-search filters (``services.user_search`` validates them first).

Each condition is evaluated against a row of ``users``; emails, phone numbers and TOTPs are matched through
``EXISTS`` subqueries scoped to the same project; email filters compare with the address's unique key
(``domain.emails.email_key``: lower-cased, Unicode NFC), so either spelling of an address finds it. Filters
on data this server never holds match no user; ``password_exists`` is false for every user. Text matches
are case-insensitive (phone numbers have no case) and treat ``%`` and ``_`` literally; the fuzzy ones read
final sigma as sigma on both sides (``domain.emails.sigma_folded``), so a fragment ending or starting with Σ
finds the value however lower-casing wrote it there (Python's Final_Sigma rule, PostgreSQL's plain σ).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import String, and_, cast, exists, false, func, or_, true

from totpflow.server.domain.emails import FINAL_SIGMA, SIGMA, email_key, sigma_folded
from totpflow.server.storage.records import SearchFilter
from totpflow.server.storage.schema import emails, phone_numbers, totps, users

NEVER_HELD = frozenset(
    {
        "oauth_provider",
        "webauthn_registration_id",
        "webauthn_registration_verified",
        "biometric_registration_id",
        "biometric_registration_verified",
        "crypto_wallet_id",
        "crypto_wallet_address",
        "crypto_wallet_verified",
    }
)


def _escape_like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _sigma_folded(column: Any) -> Any:
    """The SQL twin of ``sigma_folded``: ``replace()`` is the same function in SQLite and PostgreSQL."""
    return func.replace(column, FINAL_SIGMA, SIGMA)


def _contains(column: Any, text: str) -> Any:
    return _sigma_folded(func.lower(column)).like(
        f"%{_escape_like(sigma_folded(text.lower()))}%", escape="\\"
    )


def _key_contains(text: str) -> Any:
    """An email's key contains ``text`` in the key's form (lower-cased, NFC: ``email_key``), so either
    spelling of a fragment finds the address; the key is already lower-cased, so no ``lower()`` of the
    column (SQLite's ``LIKE`` is case-insensitive for ASCII only, PostgreSQL's not at all: equal here).
    Both sides are sigma-folded: the fragment was lower-cased without the characters around it."""
    return _sigma_folded(emails.c.email_key).like(
        f"%{_escape_like(sigma_folded(email_key(text)))}%", escape="\\"
    )


def _has_email(condition: Any) -> Any:
    return exists().where(
        emails.c.project_id == users.c.project_id, emails.c.user_id == users.c.user_id, condition
    )


def _has_phone(condition: Any) -> Any:
    return exists().where(
        phone_numbers.c.project_id == users.c.project_id,
        phone_numbers.c.user_id == users.c.user_id,
        condition,
    )


def _has_live_totp(condition: Any) -> Any:
    return exists().where(
        totps.c.project_id == users.c.project_id,
        totps.c.user_id == users.c.user_id,
        ~totps.c.deleted,
        condition,
    )


def _name_part(part: str) -> Any:
    return func.coalesce(users.c.name[part].as_string(), "")


def condition(f: SearchFilter) -> Any:
    """The WHERE condition of one filter."""
    values = f.values
    if f.name in NEVER_HELD:
        return false()
    match f.name:
        case "user_id":
            return users.c.user_id.in_(values)
        case "external_id":
            return users.c.external_id.in_(values)
        case "status":
            return users.c.status.in_(values)
        case "full_name_fuzzy":
            text = str(values[0])
            first, middle, last = _name_part("first_name"), _name_part("middle_name"), _name_part("last_name")
            return or_(
                _contains(first, text),
                _contains(middle, text),
                _contains(last, text),
                _contains(first + cast(" ", String) + last, text),
            )
        case "email_address":
            return _has_email(emails.c.email_key.in_([email_key(str(v)) for v in values]))
        case "email_id":
            return _has_email(emails.c.email_id.in_(values))
        case "email_domain":
            domains = (
                emails.c.email_key.like("%@" + _escape_like(email_key(str(v))), escape="\\") for v in values
            )
            return _has_email(or_(*domains))
        case "email_address_fuzzy":
            return _has_email(_key_contains(str(values[0])))
        case "email_verified":
            return _has_email(emails.c.verified == bool(values[0]))
        case "phone_number":
            return _has_phone(phone_numbers.c.phone_number.in_(values))
        case "phone_id":
            return _has_phone(phone_numbers.c.phone_id.in_(values))
        case "phone_number_fuzzy":
            return _has_phone(_contains(phone_numbers.c.phone_number, str(values[0])))
        case "phone_verified":
            return _has_phone(phone_numbers.c.verified == bool(values[0]))
        case "totp_id":
            return _has_live_totp(totps.c.totp_id.in_(values))
        case "totp_verified":
            return _has_live_totp(totps.c.verified == bool(values[0]))
        case "password_exists":
            return true() if values[0] is False else false()
        case "created_at_greater_than":
            return users.c.created_at > values[0]
        case "created_at_less_than":
            return users.c.created_at < values[0]
        case "created_at_between":
            return and_(users.c.created_at > values[0], users.c.created_at < values[1])
    raise ValueError(f"no SQL condition for the search filter {f.name}")
