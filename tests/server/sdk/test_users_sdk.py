"""``users.update``, the User object's shape and the error types of custom claims and crossed factors, through
the official ``stytch`` SDK's sync and async methods against a real ``totpflow serve`` (SQLite and
PostgreSQL)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pyotp
import pytest
import stytch
from serverkit import BACKENDS, Backend, start
from stytch.core.response_base import StytchError

from totpflow.server.domain import ids
from totpflow.server.domain.models import Email
from totpflow.server.storage import NewUser, open_store

# The SDK's async client passes aiohttp a BasicAuth, which aiohttp deprecates; not ours to fix.
pytestmark = [
    pytest.mark.filterwarnings("ignore:BasicAuth is deprecated:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:The 'auth' parameter is deprecated:DeprecationWarning"),
]

T = TypeVar("T")


@pytest.fixture(scope="module", params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backend]:
    with start(request.param, tmp_path_factory.mktemp(f"users-sdk-{request.param}")) as running:
        yield running


@pytest.fixture(scope="module")
def client(backend: Backend) -> stytch.Client:
    return backend.server.client()


@pytest.fixture(params=["sync", "async"])
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def run(mode: str, client: stytch.Client, group: str, method: str, **kwargs: Any) -> Any:
    """Call ``client.<group>.<method>`` or its ``_async`` twin, by ``mode``."""
    api = getattr(client, group)
    if mode == "sync":
        return getattr(api, method)(**kwargs)
    coroutine: Callable[..., Awaitable[T]] = getattr(api, f"{method}_async")

    async def call() -> T:
        try:
            return await coroutine(**kwargs)
        finally:  # the SDK's aiohttp session belongs to this event loop; the next call makes a new one
            await api.async_client.close()

    return asyncio.run(call())


def error_of(exc: pytest.ExceptionInfo[StytchError]) -> tuple[int, str | None]:
    return exc.value.details.status_code, exc.value.details.error_type


def nested(levels: int) -> Any:
    """An array nested ``levels`` deep around 1 (``[[1]]`` is 2)."""
    value: Any = 1
    for _ in range(levels):
        value = [value]
    return value


def test_metadata_nested_64_levels_deep_is_kept_and_read_back(client: stytch.Client) -> None:
    user = client.users.create(email=new_email(), trusted_metadata={"x": nested(63)})
    assert client.users.get(user_id=user.user_id).trusted_metadata == {"x": nested(63)}


def new_email() -> str:
    return f"users-sdk-{uuid.uuid4().hex[:10]}@example.com"


def test_a_never_named_user_has_an_empty_name_and_external_id(client: stytch.Client, mode: str) -> None:
    created = run(mode, client, "users", "create", email=new_email())
    got = run(mode, client, "users", "get", user_id=created.user_id)
    assert got.name is not None
    assert (got.name.first_name, got.name.middle_name, got.name.last_name) == ("", "", "")
    assert got.external_id == "" and got.roles == ["stytch_user"]
    assert got.trusted_metadata == {} and got.untrusted_metadata == {} and got.password is None


def test_update(client: stytch.Client, mode: str) -> None:
    address = new_email()
    created = client.users.create(email=address, trusted_metadata={"plan": "free", "seats": 1})
    external = f"ext-{uuid.uuid4().hex[:8]}"
    updated = run(
        mode,
        client,
        "users",
        "update",
        user_id=created.user_id,
        name={"first_name": "Ada", "last_name": "Lovelace"},
        attributes={"ip_address": "203.0.113.7", "user_agent": "tests"},
        trusted_metadata={"plan": "pro", "seats": None},
        untrusted_metadata={"theme": "dark"},
        external_id=external,
        roles=["editor"],
    )
    assert updated.status_code == 200 and updated.user_id == created.user_id
    assert [e.email for e in updated.emails] == [address] and updated.phone_numbers == []
    assert updated.crypto_wallets == []
    user = updated.user
    assert user.name is not None and (user.name.first_name, user.name.last_name) == ("Ada", "Lovelace")
    assert user.name.middle_name == ""
    assert user.trusted_metadata == {"plan": "pro"} and user.untrusted_metadata == {"theme": "dark"}
    assert user.external_id == external and user.roles == ["stytch_user", "editor"]

    # The external id names the user too; a partial name keeps the other parts.
    again = run(mode, client, "users", "update", user_id=external, name={"middle_name": "B"})
    assert again.user_id == created.user_id and again.user.name is not None
    assert (again.user.name.first_name, again.user.name.middle_name) == ("Ada", "B")
    assert client.users.get(user_id=created.user_id).name.middle_name == "B"


def test_update_errors(client: stytch.Client, mode: str) -> None:
    taken = f"taken-{uuid.uuid4().hex[:8]}"
    client.users.create(email=new_email(), external_id=taken)
    user = client.users.create(email=new_email())
    cases: list[tuple[dict[str, Any], tuple[int, str]]] = [
        ({"user_id": "user-test-00000000-0000-4000-8000-000000000000"}, (404, "user_not_found")),
        ({"user_id": "not a user id!"}, (400, "invalid_user_id")),
        ({"user_id": user.user_id, "external_id": taken}, (400, "duplicate_user_external_id")),
        ({"user_id": user.user_id, "external_id": "has space"}, (400, "invalid_argument")),
        (
            {"user_id": user.user_id, "trusted_metadata": {f"k{i}": i for i in range(21)}},
            (400, "metadata_too_many_keys"),
        ),
        ({"user_id": user.user_id, "untrusted_metadata": {"big": "x" * 4100}}, (400, "metadata_too_large")),
        # past 64 levels (about 950 exhausted the recursion limit on the way in, or on the way back out)
        ({"user_id": user.user_id, "trusted_metadata": {"x": nested(64)}}, (400, "bad_request")),
        ({"user_id": user.user_id, "untrusted_metadata": {"x": nested(200)}}, (400, "bad_request")),
        # a role id no policy could define (a control character, white space at an end)
        ({"user_id": user.user_id, "roles": ["ad\x1b[2Jmin"]}, (400, "invalid_rbac_role_id")),
        ({"user_id": user.user_id, "roles": ["admin\u0085"]}, (400, "invalid_rbac_role_id")),
        ({"user_id": user.user_id, "roles": ["admin "]}, (400, "invalid_rbac_role_id")),
    ]
    for kwargs, expected in cases:
        with pytest.raises(StytchError) as exc:
            run(mode, client, "users", "update", **kwargs)
        assert error_of(exc) == expected, kwargs
        assert exc.value.details.error_url.endswith(f"/{expected[0]}#{expected[1]}")
    got = client.users.get(user_id=user.user_id)
    assert got.external_id == "" and got.trusted_metadata == {} and got.untrusted_metadata == {}
    assert got.roles == ["stytch_user"]


def test_length_limits_take_the_longest_value_and_refuse_one_more(client: stytch.Client, mode: str) -> None:
    """Each limit of docs/stytch-compatibility.md ("Length limits") holds its longest value, on create and on
    update, and refuses one character (or role) more with its Stytch error type; nothing changes then."""
    longest = {
        "name": {"first_name": "a" * 1024, "middle_name": "é" * 1024, "last_name": "c" * 1024},
        "attributes": {"ip_address": "f" * 64, "user_agent": "u" * 8192},
        "roles": [f"{i:03d}" + "r" * 125 for i in range(100)],
    }
    created = run(mode, client, "users", "create", email=new_email(), **longest)
    assert created.user.name.middle_name == "é" * 1024 and len(created.user.roles) == 101
    over: list[tuple[dict[str, Any], tuple[int, str]]] = [
        ({"name": {"last_name": "c" * 1025}}, (400, "invalid_argument")),
        ({"attributes": {"ip_address": "f" * 65}}, (400, "invalid_ip_address")),
        ({"attributes": {"user_agent": "u" * 8193}}, (400, "invalid_user_agent")),
        ({"roles": ["r" * 129]}, (400, "rbac_role_id_too_long")),
        ({"roles": [f"role-{i}" for i in range(101)]}, (400, "too_many_roles")),
    ]
    for kwargs, expected in over:
        with pytest.raises(StytchError) as exc:
            run(mode, client, "users", "create", email=new_email(), **kwargs)
        assert error_of(exc) == expected, kwargs
        with pytest.raises(StytchError) as exc:
            run(mode, client, "users", "update", user_id=created.user_id, **kwargs)
        assert error_of(exc) == expected, kwargs
    # the same role a thousand times is one role; stytch_user named again is not counted
    same = run(mode, client, "users", "update", user_id=created.user_id, roles=["stytch_user", *["r"] * 1000])
    assert same.user.roles == ["stytch_user", "r"]
    assert client.users.get(user_id=created.user_id).name.first_name == "a" * 1024


def test_claims_and_crossed_factor_error_types(client: stytch.Client, mode: str) -> None:
    user = client.users.create(email=new_email())
    totp = client.totps.create(user_id=user.user_id)
    code = pyotp.TOTP(totp.secret).now()
    cases: list[tuple[str, dict[str, Any], str]] = [
        ("authenticate", {"totp_code": totp.recovery_codes[0]}, "recovery_code_used_as_totp_code"),
        ("recover", {"recovery_code": code}, "totp_code_used_as_recovery_code"),
        (
            "authenticate",
            {"totp_code": code, "session_duration_minutes": 60, "session_custom_claims": {"sub": "x"}},
            "reserved_claims_in_custom_claims",
        ),
        (
            "authenticate",
            {
                "totp_code": code,
                "session_duration_minutes": 60,
                "session_custom_claims": {"https://stytch.com/roles": ["admin"]},
            },
            "stytch_claims_in_custom_claims",
        ),
        (
            "authenticate",
            {"totp_code": code, "session_duration_minutes": 60, "session_custom_claims": {"b": "x" * 4096}},
            "custom_claims_too_large",
        ),
        (
            "recover",
            {"recovery_code": totp.recovery_codes[1], "session_custom_claims": {"d": nested(200)}},
            "unable_to_represent_custom_claims_json",
        ),
    ]
    for method, kwargs, error_type in cases:
        with pytest.raises(StytchError) as exc:
            run(mode, client, "totps", method, user_id=user.user_id, **kwargs)
        assert error_of(exc) == (400, error_type)
        assert exc.value.details.error_url == f"https://stytch.com/docs/api/errors/400#{error_type}"
    # None of these was an attempt: the code still authenticates and the recovery code still recovers.
    assert client.totps.authenticate(user_id=user.user_id, totp_code=code).user_id == user.user_id
    assert client.totps.recover(user_id=user.user_id, recovery_code=totp.recovery_codes[0]).status_code == 200


# --- search -------------------------------------------------------------------------------------------------

BULK = 2500


@pytest.fixture(scope="module")
def bulk_domain(backend: Backend) -> str:
    """2,500 users with emails at one domain, inserted through the store (2,500 HTTP calls would only add
    time), spread over a few seconds of creation time with many ties, as keyset paging must handle."""
    domain = f"bulk-{uuid.uuid4().hex[:6]}.example"
    start = datetime.now(UTC).replace(microsecond=0)
    store = open_store(backend.server.database_url)
    try:
        with store.transaction() as tx:
            for i in range(BULK):
                tx.insert_user(
                    backend.server.project_id,
                    NewUser(
                        user_id=ids.user_id(),
                        status="active",
                        created_at=start + timedelta(seconds=i // 100),
                        name=None,
                        trusted_metadata={},
                        untrusted_metadata={},
                        external_id=None,
                        roles=("stytch_user",),
                        email=Email(ids.email_id(), f"u{i}@{domain}", False),
                        phone_number=None,
                    ),
                )
    finally:
        store.dispose()
    return domain


def domain_query(domain: str) -> dict[str, Any]:
    return {"operator": "AND", "operands": [{"filter_name": "email_domain", "filter_value": [domain]}]}


@pytest.mark.parametrize("limit", [None, 500])
def test_search_all_pages_through_2500_users_once_each(
    client: stytch.Client, bulk_domain: str, limit: int | None
) -> None:
    seen: list[str] = []
    pages = 0
    for page in client.users.search_all(limit=limit, query=domain_query(bulk_domain)):  # type: ignore[arg-type]
        pages += 1
        assert page.results_metadata.total == BULK
        seen.extend(u.user_id for u in page.results)
        assert pages <= BULK  # search_all ends only on next_cursor None
    assert len(seen) == BULK and len(set(seen)) == BULK
    assert pages == (25 if limit is None else 5)


def test_search_all_async_pages_through_2500_users_once_each(client: stytch.Client, bulk_domain: str) -> None:
    async def collect() -> list[str]:
        seen: list[str] = []
        try:
            async for page in client.users.search_all_async(limit=1000, query=domain_query(bulk_domain)):  # type: ignore[arg-type]
                seen.extend(u.user_id for u in page.results)
        finally:
            await client.users.async_client.close()
        return seen

    seen = asyncio.run(collect())
    assert len(seen) == BULK and len(set(seen)) == BULK


def test_search_filters(client: stytch.Client, mode: str) -> None:
    address = new_email()
    user = client.users.create(email=address, name={"first_name": "Grace", "last_name": "Hopper"})
    totp = client.totps.create(user_id=user.user_id)
    only_mine = {"filter_name": "email_address", "filter_value": [address]}
    cases: list[tuple[dict[str, Any], bool]] = [
        ({"filter_name": "email_id", "filter_value": [user.email_id]}, True),
        ({"filter_name": "totp_id", "filter_value": [totp.totp_id]}, True),
        ({"filter_name": "totp_verified", "filter_value": False}, True),
        ({"filter_name": "full_name_fuzzy", "filter_value": "grace hop"}, True),
        ({"filter_name": "user_id", "filter_value": [user.user_id]}, True),
        ({"filter_name": "password_exists", "filter_value": False}, True),
        ({"filter_name": "oauth_provider", "filter_value": ["google"]}, False),
        ({"filter_name": "webauthn_registration_verified", "filter_value": True}, False),
        ({"filter_name": "crypto_wallet_address", "filter_value": ["0xabc"]}, False),
        ({"filter_name": "phone_id", "filter_value": ["phone-number-test-x"]}, False),
    ]
    for operand, found in cases:
        query = {"operator": "AND", "operands": [only_mine, operand]}
        page = run(mode, client, "users", "search", query=query, limit=0)
        assert [u.user_id for u in page.results] == ([user.user_id] if found else []), operand
        assert page.results_metadata.total == (1 if found else 0)
        assert page.results_metadata.next_cursor is None


# --- Unicode spellings of one address (docs/stytch-compatibility.md, "Email addresses") ---------------------


@pytest.mark.parametrize(
    ("composed", "decomposed"),
    [
        ("zo\u00e9-{tag}@example.com", "ZOE\u0301-{tag}@example.com"),  # é as U+00E9, then E + U+0301
        ("{tag}@b\u00fccher.example", "{tag}@bu\u0308cher.example"),  # an IDN domain: ü, then u + U+0308
    ],
    ids=["local-part", "idn-domain"],
)
def test_one_address_in_two_unicode_spellings_is_one_user(
    client: stytch.Client, mode: str, composed: str, decomposed: str
) -> None:
    tag = uuid.uuid4().hex[:10]
    composed, decomposed = composed.format(tag=tag), decomposed.format(tag=tag)
    user = run(mode, client, "users", "create", email=composed)
    assert user.user.emails[0].email == composed  # stored and returned as given
    with pytest.raises(StytchError) as refused:
        run(mode, client, "users", "create", email=decomposed)
    assert error_of(refused) == (400, "duplicate_email")
    domain = composed.split("@")[1]
    for operand in (
        {"filter_name": "email_address", "filter_value": [composed]},
        {"filter_name": "email_address", "filter_value": [decomposed]},
        {"filter_name": "email_address_fuzzy", "filter_value": decomposed.split("@")[0]},
        {"filter_name": "email_address_fuzzy", "filter_value": composed.split("@")[0].upper()},
    ):
        query = {"operator": "AND", "operands": [operand]}
        page = run(mode, client, "users", "search", query=query, limit=0)
        assert [u.user_id for u in page.results] == [user.user_id], operand
    for spelling in (domain, decomposed.split("@")[1]):
        query = {
            "operator": "AND",
            "operands": [
                {"filter_name": "email_domain", "filter_value": [spelling]},
                {"filter_name": "email_id", "filter_value": [user.user.emails[0].email_id]},
            ],
        }
        page = run(mode, client, "users", "search", query=query, limit=0)
        assert [u.user_id for u in page.results] == [user.user_id], spelling


# Capital sigma lower-cases to ς at the end of a word and to σ elsewhere (Python's str.lower); a fragment cut
# from an address or name can end (or start) where the whole value does not, and PostgreSQL's lower() always
# writes σ: the fuzzy filters compare with ς read as σ on both sides.
@pytest.mark.parametrize(
    ("email", "first_name", "operand"),
    [
        ("ΟΔΟΣΤ-{tag}@example.com", None, ("email_address_fuzzy", "ΟΔΟΣ")),
        ("ΟΔΟΣ-{tag}@example.com", None, ("email_address_fuzzy", "Σ-{tag}")),
        ("ΟΔΟΣ-{tag}@example.com", None, ("email_address_fuzzy", "οδοσ-{tag}")),
        ("ΟΔΟΣ.Β{tag}@example.com", None, ("email_address_fuzzy", "ΔΟΣ.")),
        ("οδος-{tag}@example.com", None, ("email_address_fuzzy", "ΟΔΟΣ-")),
        ("{tag}@example.com", "ΟΔΥΣΣΕΑΣ", ("full_name_fuzzy", "ΔΥΣ")),
        ("{tag}@example.com", "ΟΔΥΣΣΕΑΣ", ("full_name_fuzzy", "ΟΔΥΣΣΕΑΣ")),
    ],
    ids=["email-fragment-ends-in-sigma", "email-fragment-starts-with-sigma",
         "email-fragment-typed-with-sigma", "email-sigma-before-a-full-stop", "email-stored-with-final-sigma",
         "name-fragment-ends-in-sigma", "name-whole-word"],
)  # fmt: skip
def test_fuzzy_search_finds_a_sigma_in_any_form(
    client: stytch.Client, mode: str, email: str, first_name: str | None, operand: tuple[str, str]
) -> None:
    tag = uuid.uuid4().hex[:10]
    created = run(
        mode,
        client,
        "users",
        "create",
        email=email.format(tag=tag),
        **({} if first_name is None else {"name": {"first_name": first_name}}),
    )
    query = {
        "operator": "AND",
        "operands": [
            {"filter_name": operand[0], "filter_value": operand[1].format(tag=tag)},
            {"filter_name": "user_id", "filter_value": [created.user_id]},
        ],
    }
    page = run(mode, client, "users", "search", query=query, limit=0)
    assert [u.user_id for u in page.results] == [created.user_id]


def test_search_errors(client: stytch.Client, mode: str) -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        ({"limit": 1001}, "user_search_invalid_limit"),
        ({"cursor": "garbage!"}, "user_search_invalid_cursor"),
        ({"query": {"operator": "XOR", "operands": []}}, "user_search_invalid_operator"),
        (
            {"query": {"operator": "AND", "operands": [{"filter_name": "roles", "filter_value": ["a"]}]}},
            "user_search_filter_name_not_recognized",
        ),
        (
            {
                "query": {
                    "operator": "AND",
                    "operands": [{"filter_name": "email_verified", "filter_value": "y"}],
                }
            },
            "user_search_expected_bool",
        ),
        (
            {
                "query": {
                    "operator": "AND",
                    "operands": [{"filter_name": "full_name_fuzzy", "filter_value": "a"}],
                }
            },
            "user_search_full_name_fuzzy_too_short",
        ),
    ]
    for kwargs, error_type in cases:
        with pytest.raises(StytchError) as exc:
            run(mode, client, "users", "search", **kwargs)
        assert error_of(exc) == (400, error_type), kwargs
