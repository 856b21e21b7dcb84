"""``update_user``: what each field does, merge rules, limits, uniqueness, and lookup by external id."""

from __future__ import annotations

import threading

import pytest

from totpflow.server import errors, services
from totpflow.server.domain.models import Name, NameUpdate, Project


def test_update_every_field(deps: services.Deps, project: Project) -> None:
    user = services.create_user(deps, project, email="up@example.com", trusted_metadata={"a": 1, "b": 2})
    updated = services.update_user(
        deps,
        project,
        user.user_id,
        name=NameUpdate(first_name="Ada", last_name="Lovelace"),
        attributes={"ip_address": "203.0.113.7"},
        trusted_metadata={"b": None, "c": {"nested": True}},
        untrusted_metadata={"theme": "dark"},
        external_id="ada-1",
        roles=["editor", "stytch_user", "editor"],
    )
    assert updated.name == Name(first_name="Ada", last_name="Lovelace")
    assert updated.trusted_metadata == {"a": 1, "c": {"nested": True}}
    assert updated.untrusted_metadata == {"theme": "dark"}
    assert updated.external_id == "ada-1" and updated.roles == ("stytch_user", "editor")
    assert updated.emails == user.emails and updated.created_at == user.created_at
    assert services.get_user(deps, project, "ada-1") == updated


def test_partial_name_keeps_other_parts_and_nothing_given_changes_nothing(
    deps: services.Deps, project: Project
) -> None:
    user = services.create_user(deps, project, email="n@example.com", name=Name("Ada", "B", "Lovelace"))
    assert services.update_user(deps, project, user.user_id, name=NameUpdate(middle_name="")).name == Name(
        "Ada", "", "Lovelace"
    )
    unchanged = services.get_user(deps, project, user.user_id)
    assert services.update_user(deps, project, user.user_id) == unchanged


def test_roles_replace_the_explicit_set(deps: services.Deps, project: Project) -> None:
    user = services.create_user(deps, project, email="r@example.com", roles=["admin"])
    assert services.update_user(deps, project, user.user_id, roles=["editor"]).roles == (
        "stytch_user",
        "editor",
    )
    assert services.update_user(deps, project, user.user_id, roles=[]).roles == ("stytch_user",)


def test_by_external_id(deps: services.Deps, project: Project) -> None:
    user = services.create_user(deps, project, email="x@example.com", external_id="ext-7")
    assert services.update_user(deps, project, "ext-7", untrusted_metadata={"k": 1}).user_id == user.user_id
    cleared = services.update_user(deps, project, "ext-7", external_id="")
    assert cleared.external_id is None and cleared.untrusted_metadata == {"k": 1}
    with pytest.raises(errors.UserNotFound):
        services.get_user(deps, project, "ext-7")
    assert (
        services.create_user(deps, project, email="y@example.com", external_id="ext-7").external_id == "ext-7"
    )


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"trusted_metadata": {f"k{i}": i for i in range(21)}}, errors.MetadataTooManyKeys),
        ({"untrusted_metadata": {"big": "x" * 4100}}, errors.MetadataTooLarge),
        ({"external_id": "has space"}, errors.InvalidExternalId),
        ({"external_id": "taken"}, errors.DuplicateExternalId),
    ],
)
def test_refused_updates_change_nothing(
    deps: services.Deps, project: Project, kwargs: dict[str, object], error: type[Exception]
) -> None:
    services.create_user(deps, project, email="other@example.com", external_id="taken")
    user = services.create_user(deps, project, email="me@example.com", trusted_metadata={"k0": 0})
    before = services.get_user(deps, project, user.user_id)
    with pytest.raises(error):
        services.update_user(deps, project, user.user_id, **kwargs)  # type: ignore[arg-type]
    assert services.get_user(deps, project, user.user_id) == before


def test_limits_apply_to_the_merged_result(deps: services.Deps, project: Project) -> None:
    user = services.create_user(
        deps, project, email="m@example.com", trusted_metadata={f"k{i}": i for i in range(20)}
    )
    with pytest.raises(errors.MetadataTooManyKeys):
        services.update_user(deps, project, user.user_id, trusted_metadata={"one_more": 1})
    swapped = services.update_user(deps, project, user.user_id, trusted_metadata={"k0": None, "one_more": 1})
    assert len(swapped.trusted_metadata) == 20 and "k0" not in swapped.trusted_metadata
    with pytest.raises(errors.MetadataTooManyKeys):
        services.create_user(
            deps, project, email="c@example.com", untrusted_metadata={f"k{i}": i for i in range(21)}
        )


def test_unknown_malformed_and_foreign_users(deps: services.Deps, project: Project) -> None:
    with pytest.raises(errors.UserNotFound):
        services.update_user(deps, project, "user-test-00000000-0000-4000-8000-000000000000", roles=[])
    with pytest.raises(errors.InvalidUserId):
        services.update_user(deps, project, "not a user id!", roles=[])
    user = services.create_user(deps, project, email="mine@example.com")
    other, _ = services.create_project(deps, name="other")
    with pytest.raises(errors.UserNotFound):
        services.update_user(deps, other, user.user_id, roles=["admin"])


def test_concurrent_merges_keep_every_key(deps: services.Deps, project: Project) -> None:
    """Each update reads, merges and writes under the row lock: no update loses another's key."""
    user = services.create_user(deps, project, email="race@example.com")
    failures: list[BaseException] = []

    def put(i: int) -> None:
        try:
            services.update_user(deps, project, user.user_id, untrusted_metadata={f"k{i}": i})
        except BaseException as exc:  # reported below
            failures.append(exc)

    threads = [threading.Thread(target=put, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert services.get_user(deps, project, user.user_id).untrusted_metadata == {f"k{i}": i for i in range(8)}
