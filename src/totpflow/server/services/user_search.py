"""``POST /v1/users/search``: the query language of Stytch's consumer user search, validated into
:class:`~totpflow.server.storage.SearchFilter` values, and keyset pagination
(stytch-rbac-users-sessions.md §3).

Every filter of Stytch's table is accepted with its value type checked. Filters on data this server never
holds (WebAuthn and biometric registrations, crypto wallets, OAuth providers) match no user;
``password_exists`` is false for every user. Errors use Stytch's ``user_search_*`` types.

``limit`` is 0–1000; 0, like an absent limit, means the default of 100 (Stytch's limit is a protobuf integer,
where 0 is "not set"). The last page has ``next_cursor: null`` — never ``""``, on which the Python SDK's
``search_all`` would loop forever.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Final

from totpflow.server import errors
from totpflow.server.domain import ids
from totpflow.server.domain.models import Project, User, UserPage
from totpflow.server.services.deps import Deps
from totpflow.server.storage.records import SearchFilter

MAX_FILTER_VALUES: Final = 1000
# Operands of one query: a query this size is already unusual, and each operand is an SQL condition (SQLite
# refuses an expression tree some hundreds of conditions deep).
MAX_OPERANDS: Final = 100
MIN_FUZZY_LENGTH: Final = 3
# Characters of one string of a filter (Stytch documents no limit): longer than any stored value a filter
# compares with (an email is at most 254, a name part 1,024), so a longer one could only match a fuzzy
# filter's "first last" of two maximal name parts, and an unbounded pattern costs every row's comparison.
MAX_FILTER_STRING_LENGTH: Final = 1024
# A cursor this server returns is some 120 characters; anything much longer is not one.
MAX_CURSOR_LENGTH: Final = 512

# Stytch's OAuth providers (https://stytch.com/docs/api/oauth-google-start and its siblings).
OAUTH_PROVIDERS: Final = frozenset(
    {
        "amazon", "apple", "bitbucket", "coinbase", "discord", "facebook", "figma", "github", "gitlab",
        "google", "linkedin", "microsoft", "salesforce", "slack", "snapchat", "spotify", "tiktok", "twitch",
        "twitter", "yahoo",
    }
)  # fmt: skip

_STRING_LISTS: Final = frozenset(
    {
        "user_id", "external_id", "email_address", "email_id", "phone_number", "phone_id", "totp_id",
        "oauth_provider", "webauthn_registration_id", "biometric_registration_id", "crypto_wallet_id",
        "crypto_wallet_address",
    }
)  # fmt: skip
_BOOLEANS: Final = frozenset(
    {
        "email_verified", "phone_verified", "totp_verified", "webauthn_registration_verified",
        "biometric_registration_verified", "crypto_wallet_verified", "password_exists",
    }
)  # fmt: skip
_FUZZY: Final[dict[str, Callable[[str], errors.InvalidSearchQuery]]] = {
    "full_name_fuzzy": errors.SearchFullNameFuzzyTooShort,
    "email_address_fuzzy": errors.SearchEmailAddressFuzzyTooShort,
    "phone_number_fuzzy": errors.SearchPhoneNumberFuzzyTooShort,
}
_TIMESTAMPS: Final = frozenset({"created_at_greater_than", "created_at_less_than"})
FILTER_NAMES: Final = (
    _STRING_LISTS | _BOOLEANS | set(_FUZZY) | _TIMESTAMPS | {"created_at_between", "status", "email_domain"}
)


def _timestamp(name: str, value: Any) -> datetime:
    if not isinstance(value, str):
        raise errors.SearchExpectedTimestamp(name)
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError as exc:
        raise errors.SearchExpectedTimestamp(name) from exc
    if moment.tzinfo is None:
        raise errors.SearchExpectedTimestamp(name)
    return _in_utc(moment, errors.SearchExpectedTimestamp(name))


def _in_utc(moment: datetime, refusal: errors.InvalidSearchQuery) -> datetime:
    """``moment`` in UTC, as the store compares it; ``refusal`` for a moment UTC cannot hold (the first or
    last hours of years 1 and 9999 in a time zone that pushes them past the calendar)."""
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise refusal from None


def _strings(name: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise errors.SearchExpectedArrayOfString(name)
    if len(value) > MAX_FILTER_VALUES:
        raise errors.SearchTooManyFilterValues(name)
    return tuple(_bounded(name, v) for v in value)


def _bounded(name: str, value: str) -> str:
    if len(value) > MAX_FILTER_STRING_LENGTH:
        raise errors.SearchValueTooLong(name, MAX_FILTER_STRING_LENGTH)
    return value


def _user_ids(values: tuple[str, ...]) -> SearchFilter:
    """``user_id`` takes user ids or external ids, not a mix of both."""
    internal = [ids.USER_ID.fullmatch(v) is not None for v in values]
    if all(internal):
        return SearchFilter("user_id", values)
    if any(internal):
        raise errors.SearchMixedUserIds("user_id")
    return SearchFilter("external_id", values)


def parse_operand(position: int, operand: Any) -> SearchFilter:
    where = f"query.operands[{position}]"
    if not isinstance(operand, dict):
        raise errors.SearchExpectedObject(where)
    if "filter_name" not in operand or operand["filter_name"] is None:
        raise errors.SearchMissingFilterName(where)
    name = operand["filter_name"]
    if not isinstance(name, str):
        raise errors.SearchFilterNameMustBeString(where)
    if name not in FILTER_NAMES:
        raise errors.SearchFilterNameNotRecognized(where)
    if "filter_value" not in operand or operand["filter_value"] is None:
        raise errors.SearchMissingFilterValue(where)
    value = operand["filter_value"]
    if name in _STRING_LISTS:
        values = _strings(name, value)
        if name == "user_id":
            return _user_ids(values)
        if name == "oauth_provider" and not OAUTH_PROVIDERS.issuperset(v.lower() for v in values):
            raise errors.SearchInvalidOAuthProviderFilter(name)
        return SearchFilter(name, values)
    if name in _BOOLEANS:
        if not isinstance(value, bool):
            raise errors.SearchExpectedBool(name)
        return SearchFilter(name, (value,))
    if name in _FUZZY:
        if not isinstance(value, str):
            raise errors.SearchExpectedString(name)
        if len(value.strip()) < MIN_FUZZY_LENGTH:
            raise _FUZZY[name](name)
        _bounded(name, value.strip())
        return SearchFilter(name, (value.strip(),))
    if name in _TIMESTAMPS:
        return SearchFilter(name, (_timestamp(name, value),))
    if name == "created_at_between":
        if not isinstance(value, dict):
            raise errors.SearchExpectedObject(name)
        bounds = (_timestamp(name, value.get("greater_than")), _timestamp(name, value.get("less_than")))
        return SearchFilter(name, bounds)
    if name == "status":
        if not isinstance(value, str):
            raise errors.SearchExpectedString(name)
        if value not in ("active", "pending"):
            raise errors.SearchInvalidStatusFilter(name)
        return SearchFilter(name, (value,))
    # email_domain: Stytch's value type is unconfirmed; one string or an array of strings.
    return SearchFilter(name, (_bounded(name, value),) if isinstance(value, str) else _strings(name, value))


def parse_query(query: Mapping[str, Any] | None) -> tuple[str, list[SearchFilter]]:
    """``(operator, filters)``; no query or no operands means every user."""
    if query is None:
        return "AND", []
    operator = query.get("operator")
    if operator not in ("AND", "OR"):
        raise errors.SearchInvalidOperator("query.operator")
    operands = query.get("operands")
    if operands is None:
        return str(operator), []
    if not isinstance(operands, list):
        raise errors.SearchExpectedObject("query.operands")
    if len(operands) > MAX_OPERANDS:
        raise errors.SearchTooManyOperands("query.operands")
    return str(operator), [parse_operand(i, o) for i, o in enumerate(operands)]


def encode_cursor(user: User) -> str:
    raw = json.dumps([user.created_at.isoformat(), user.user_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """The position a cursor of :func:`encode_cursor` names; ``SearchInvalidCursor`` for anything else."""
    if len(cursor) > MAX_CURSOR_LENGTH:
        raise errors.SearchInvalidCursor("cursor")
    try:
        created_at, user_id = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        moment = datetime.fromisoformat(created_at)
    except (ValueError, TypeError, binascii.Error, RecursionError) as exc:
        raise errors.SearchInvalidCursor("cursor") from exc
    if moment.tzinfo is None or not isinstance(user_id, str) or ids.USER_ID.fullmatch(user_id) is None:
        raise errors.SearchInvalidCursor("cursor")
    return _in_utc(moment, errors.SearchInvalidCursor("cursor")), user_id


def search_users(
    deps: Deps,
    project: Project,
    *,
    query: Mapping[str, Any] | None,
    limit: int | None = None,
    cursor: str | None = None,
) -> UserPage:
    """One page of the project's users matching ``query``, oldest first, and the total that match."""
    policy = deps.policy
    if limit is None or limit == 0:
        limit = policy.search_limit_default
    if not 1 <= limit <= policy.search_limit_max:
        raise errors.SearchInvalidLimit("limit")
    operator, filters = parse_query(query)
    after = None if cursor is None or cursor == "" else decode_cursor(cursor)
    with deps.store.transaction(readonly=True) as tx:
        found, total = tx.search_users(
            project.project_id,
            operator=operator,
            filters=filters,
            limit=limit + 1,
            after=after,
            now=deps.now(),
        )
    page = found[:limit]
    next_cursor = encode_cursor(page[-1]) if len(found) > limit else None
    return UserPage(users=tuple(page), next_cursor=next_cursor, total=total)
