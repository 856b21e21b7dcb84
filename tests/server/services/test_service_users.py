"""Users: creation rules, lookup by id or external id, uniqueness per project, search and pagination."""

from __future__ import annotations

import pytest
from frozen_clock import FrozenClock
from sqlalchemy import text

from totpflow.server import errors, services
from totpflow.server.domain.models import Name, Project


def test_create_and_get(deps: services.Deps, project: Project) -> None:
    user = services.create_user(
        deps,
        project,
        email="Ada@Example.com",
        phone_number="+15555550100",
        name=Name(first_name="Ada"),
        external_id="ext-1",
        roles=["admin"],
        trusted_metadata={"a": 1},
    )
    assert user.user_id.startswith("user-test-") and user.status == "active"
    assert user.emails[0].email == "Ada@Example.com" and not user.emails[0].verified
    assert user.phone_numbers[0].phone_number == "+15555550100"
    assert user.roles == ("stytch_user", "admin") and user.name == Name(first_name="Ada")
    assert services.get_user(deps, project, user.user_id) == user
    assert services.get_user(deps, project, "ext-1") == user


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({}, errors.InvalidArgument),
        ({"email": "no-at-sign"}, errors.InvalidEmail),
        ({"phone_number": "5555550100"}, errors.InvalidPhoneNumber),
        ({"email": "a@example.com", "external_id": "has space"}, errors.InvalidExternalId),
    ],
)
def test_invalid_create(
    deps: services.Deps, project: Project, kwargs: dict[str, str], error: type[Exception]
) -> None:
    with pytest.raises(error):
        services.create_user(deps, project, **kwargs)  # type: ignore[arg-type]


def test_an_external_id_of_a_user_id_form_is_refused(deps: services.Deps, project: Project) -> None:
    first = services.create_user(deps, project, email="first@example.com")
    with pytest.raises(errors.InvalidExternalId, match="form of a user_id"):
        services.create_user(deps, project, email="second@example.com", external_id=first.user_id)
    with pytest.raises(errors.InvalidExternalId, match="form of a user_id"):
        services.update_user(deps, project, first.user_id, external_id=first.user_id.replace("test", "live"))


def test_a_user_id_never_reaches_a_user_whose_external_id_it_is(
    deps: services.Deps, project: Project
) -> None:
    """A store may hold an external id of a user id's form from before it was refused: a request for that
    id, once its own user is deleted, must not act on the user holding it as its external id."""
    gone = services.create_user(deps, project, email="gone@example.com")
    holder = services.create_user(deps, project, email="holder@example.com", external_id="legacy")
    with deps.store.transaction() as tx:
        tx.execute(
            text("UPDATE users SET external_id = :ext WHERE user_id = :uid"),
            {"ext": gone.user_id, "uid": holder.user_id},
        )
    assert services.get_user(deps, project, gone.user_id).user_id == gone.user_id
    services.delete_user(deps, project, gone.user_id)
    for act in (
        lambda: services.get_user(deps, project, gone.user_id),
        lambda: services.create_totp(deps, project, user_id=gone.user_id),
        lambda: services.delete_user(deps, project, gone.user_id),
    ):
        with pytest.raises(errors.UserNotFound):
            act()
    assert services.get_user(deps, project, holder.user_id).totps == ()


def test_uniqueness_is_per_project(deps: services.Deps, project: Project) -> None:
    services.create_user(deps, project, email="dup@example.com", phone_number="+15555550101", external_id="x")
    with pytest.raises(errors.DuplicateEmail):
        services.create_user(deps, project, email="DUP@example.com")
    with pytest.raises(errors.DuplicatePhoneNumber):
        services.create_user(deps, project, phone_number="+15555550101")
    with pytest.raises(errors.DuplicateExternalId):
        services.create_user(deps, project, email="other@example.com", external_id="x")
    other, _ = services.create_project(deps, name="other")
    services.create_user(deps, other, email="dup@example.com", phone_number="+15555550101", external_id="x")


def test_projects_cannot_see_each_other(deps: services.Deps, project: Project) -> None:
    user = services.create_user(deps, project, email="mine@example.com")
    created = services.create_totp(deps, project, user_id=user.user_id)
    other, _ = services.create_project(deps, name="other")
    with pytest.raises(errors.UserNotFound):
        services.get_user(deps, other, user.user_id)
    with pytest.raises(errors.UserNotFound):
        services.delete_user(deps, other, user.user_id)
    with pytest.raises(errors.UserNotFound):
        services.create_totp(deps, other, user_id=user.user_id)
    with pytest.raises(errors.TotpNotFound):
        services.delete_totp(deps, other, created.totp_id)
    with pytest.raises(errors.UserNotFound):
        services.get_sessions(deps, other, user_id=user.user_id)
    assert services.search_users(deps, other, query=None).total == 0


def test_unknown_and_malformed_user_ids(deps: services.Deps, project: Project) -> None:
    with pytest.raises(errors.UserNotFound):
        services.get_user(deps, project, "user-test-00000000-0000-4000-8000-000000000000")
    with pytest.raises(errors.InvalidUserId):
        services.get_user(deps, project, "not a user id!")


def test_project_authentication(deps: services.Deps, project_and_secret: tuple[Project, str]) -> None:
    project, secret = project_and_secret
    assert services.authenticate_project(deps, project.project_id, secret) == project
    with pytest.raises(errors.UnauthorizedCredentials):
        services.authenticate_project(deps, project.project_id, secret + "x")
    with pytest.raises(errors.UnauthorizedCredentials):
        services.authenticate_project(deps, "project-test-unknown", secret)
    assert services.any_project_exists(deps)
    again = services.ensure_project(deps, project_id=project.project_id, secret="new-secret", name="renamed")
    assert again.name == "renamed"
    assert (
        services.authenticate_project(deps, project.project_id, "new-secret").project_id == project.project_id
    )


def test_search_filters_and_pagination(deps: services.Deps, project: Project, clock: FrozenClock) -> None:
    made = []
    for i in range(5):
        clock.advance(seconds=1)
        made.append(
            services.create_user(
                deps,
                project,
                email=f"u{i}@{'corp' if i % 2 else 'home'}.example",
                create_user_as_pending=i == 4,
            )
        )
    page = services.search_users(deps, project, query=None, limit=2)
    assert [u.user_id for u in page.users] == [u.user_id for u in made[:2]] and page.total == 5
    assert page.next_cursor is not None
    page2 = services.search_users(deps, project, query=None, limit=2, cursor=page.next_cursor)
    page3 = services.search_users(deps, project, query=None, limit=2, cursor=page2.next_cursor)
    assert [u.user_id for u in page2.users + page3.users] == [u.user_id for u in made[2:]]
    assert page3.next_cursor is None

    def ids(query: dict[str, object]) -> list[str]:
        return [u.user_id for u in services.search_users(deps, project, query=query).users]

    corp = {"filter_name": "email_domain", "filter_value": ["corp.example"]}
    pending = {"filter_name": "status", "filter_value": "pending"}
    assert ids({"operator": "AND", "operands": [corp]}) == [made[1].user_id, made[3].user_id]
    assert ids({"operator": "OR", "operands": [corp, pending]}) == [
        made[1].user_id,
        made[3].user_id,
        made[4].user_id,
    ]
    assert ids({"operator": "AND", "operands": [corp, pending]}) == []
    assert ids(
        {
            "operator": "AND",
            "operands": [{"filter_name": "email_address", "filter_value": ["U0@home.example"]}],
        }
    ) == [made[0].user_id]
    assert ids(
        {"operator": "AND", "operands": [{"filter_name": "user_id", "filter_value": [made[2].user_id]}]}
    ) == [made[2].user_id]


@pytest.mark.parametrize(
    ("query", "limit", "cursor"),
    [
        ({"operator": "XOR", "operands": []}, 100, None),
        ({"operator": "AND", "operands": [{"filter_name": "nope", "filter_value": 1}]}, 100, None),
        ({"operator": "AND", "operands": [{"filter_name": "status", "filter_value": "gone"}]}, 100, None),
        (None, -1, None),
        (None, 1001, None),
        (None, 10, "garbage!"),
    ],
)
def test_invalid_search(
    deps: services.Deps, project: Project, query: dict[str, object] | None, limit: int, cursor: str | None
) -> None:
    with pytest.raises(errors.InvalidSearchQuery):
        services.search_users(deps, project, query=query, limit=limit, cursor=cursor)
