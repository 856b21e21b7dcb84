"""``search_users``: every filter of Stytch's table, each refused query's ``user_search_*`` error, ``limit``
and paging (cases in ``data/user_search.yaml``)."""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from frozen_clock import FrozenClock

from totpflow.server import errors, services
from totpflow.server.domain import ids
from totpflow.server.domain.models import Email, Name, PhoneNumber, Project
from totpflow.server.storage import NewUser, TotpRow

CASES = yaml.safe_load((Path(__file__).parent / "data" / "user_search.yaml").read_text(encoding="utf-8"))
START = datetime(2026, 1, 1, tzinfo=UTC)


def new_user(minute: int, status: str, **fields: Any) -> NewUser:
    values: dict[str, Any] = {
        "name": None,
        "trusted_metadata": {},
        "untrusted_metadata": {},
        "external_id": None,
        "roles": ("stytch_user",),
        "email": None,
        "phone_number": None,
        **fields,
    }
    return NewUser(
        user_id=ids.user_id(), status=status, created_at=START + timedelta(minutes=minute), **values
    )


def totp(user: NewUser, verified: bool) -> TotpRow:
    return TotpRow(
        totp_id=ids.totp_id(),
        user_id=user.user_id,
        secret_enc=b"never decrypted by a search",
        verified=verified,
        created_at=user.created_at,
        expires_at=user.created_at + timedelta(days=1),
        last_used_step=None,
    )


@pytest.fixture
def people(deps: services.Deps, project: Project) -> dict[str, str]:
    """The three users of the data file, inserted as stored rows (verified emails and phones have no API
    here); returns the placeholder values."""
    ada = new_user(
        1,
        "active",
        name=Name("Ada", "Byron Éole", "Lovelace"),
        external_id="ext-ada",
        email=Email(ids.email_id(), "ada@corp.example", True),
        phone_number=PhoneNumber(ids.phone_id(), "+15555550101", False),
    )
    bob = new_user(
        2, "pending", name=Name("Bob", "", "Smith"), email=Email(ids.email_id(), "bob@home.example", False)
    )
    cy = new_user(3, "active", phone_number=PhoneNumber(ids.phone_id(), "+15555550202", True))
    totps = {"ada": totp(ada, True), "bob": totp(bob, False)}
    with deps.store.transaction() as tx:
        for user in (ada, bob, cy):
            tx.insert_user(project.project_id, user)
        for row in totps.values():
            tx.insert_totp(project.project_id, row)
    values = {}
    for label, user in (("ada", ada), ("bob", bob), ("cy", cy)):
        values[f"{label}.user_id"] = user.user_id
        values[label] = user.user_id
        if user.email is not None:
            values[f"{label}.email_id"] = user.email.email_id
        if user.phone_number is not None:
            values[f"{label}.phone_id"] = user.phone_number.phone_id
    for label, row in totps.items():
        values[f"{label}.totp_id"] = row.totp_id
    return values


def fill(value: Any, values: dict[str, str]) -> Any:
    if value == "{1001 values}":
        return [f"email-test-{i}" for i in range(1001)]
    if value == "{101 operands}":
        return [{"filter_name": "email_address_fuzzy", "filter_value": f"abc{i}"} for i in range(101)]
    if value == "{deep cursor}":
        return base64.urlsafe_b64encode(b"[" * 3000).decode()
    if isinstance(value, str):
        return re.sub(r"\{([a-z.]+_id)\}", lambda m: values[m.group(1)], value)
    if isinstance(value, list):
        return [fill(v, values) for v in value]
    if isinstance(value, dict):
        return {k: fill(v, values) for k, v in value.items()}
    return value


def test_every_filter_of_stytchs_table_has_a_case() -> None:
    from totpflow.server.services.user_search import FILTER_NAMES

    assert {case["filter_name"] for case in CASES["matches"]} == FILTER_NAMES


@pytest.mark.parametrize(
    "case", CASES["matches"], ids=lambda c: f"{c['filter_name']}={str(c['filter_value'])[:24]}"
)
def test_filter(deps: services.Deps, project: Project, people: dict[str, str], case: dict[str, Any]) -> None:
    operand = {"filter_name": case["filter_name"], "filter_value": fill(case["filter_value"], people)}
    page = services.search_users(deps, project, query={"operator": "AND", "operands": [operand]})
    assert [u.user_id for u in page.users] == [people[name] for name in case["expect"]]
    assert page.total == len(case["expect"]) and page.next_cursor is None


@pytest.mark.parametrize("case", CASES["errors"], ids=lambda c: str(c["id"]))
def test_refused(deps: services.Deps, project: Project, people: dict[str, str], case: dict[str, Any]) -> None:
    error = getattr(errors, case["error"])
    with pytest.raises(error) as exc:
        services.search_users(
            deps,
            project,
            query=fill(case.get("query"), people),
            limit=case.get("limit"),
            cursor=case.get("cursor"),
        )
    assert type(exc.value) is error


@pytest.mark.parametrize("operator", ["AND", "OR"])
def test_a_query_of_the_most_operands_runs(
    deps: services.Deps, project: Project, people: dict[str, str], operator: str
) -> None:
    """``MAX_OPERANDS`` operands of each kind the store turns into SQL conditions: within what the database
    takes (SQLite refuses an expression tree some hundreds deep)."""
    from totpflow.server.services.user_search import MAX_OPERANDS

    operands = [
        {"filter_name": "email_address_fuzzy", "filter_value": "corp.example" if i == 0 else f"nobody{i}"}
        if operator == "OR"
        else {"filter_name": "email_verified", "filter_value": True}
        for i in range(MAX_OPERANDS)
    ]
    page = services.search_users(deps, project, query={"operator": operator, "operands": operands})
    assert [u.user_id for u in page.users] == [people["ada"]]


def test_limit_zero_or_absent_is_100_and_the_last_page_has_no_cursor(
    deps: services.Deps, project: Project, clock: FrozenClock
) -> None:
    made = []
    for i in range(101):
        clock.advance(seconds=1)
        made.append(services.create_user(deps, project, email=f"u{i}@example.com").user_id)
    for limit in (None, 0):
        first = services.search_users(deps, project, query=None, limit=limit)
        assert len(first.users) == 100 and first.total == 101 and first.next_cursor
        last = services.search_users(deps, project, query=None, limit=limit, cursor=first.next_cursor)
        assert [u.user_id for u in first.users + last.users] == made
        assert last.next_cursor is None and last.total == 101
    exact = services.search_users(deps, project, query=None, limit=101)
    assert len(exact.users) == 101 and exact.next_cursor is None
    empty_operands = services.search_users(
        deps, project, query={"operator": "AND", "operands": []}, limit=1000
    )
    assert len(empty_operands.users) == 101 and empty_operands.next_cursor is None


def test_or_and_the_total_with_a_cursor(
    deps: services.Deps, project: Project, people: dict[str, str]
) -> None:
    query = {
        "operator": "OR",
        "operands": [
            {"filter_name": "status", "filter_value": "pending"},
            {"filter_name": "phone_verified", "filter_value": True},
        ],
    }
    first = services.search_users(deps, project, query=query, limit=1)
    assert [u.user_id for u in first.users] == [people["bob"]] and first.total == 2
    second = services.search_users(deps, project, query=query, limit=1, cursor=first.next_cursor)
    assert [u.user_id for u in second.users] == [people["cy"]] and second.total == 2
    assert second.next_cursor is None
