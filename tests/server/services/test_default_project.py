"""The store's default project (created once, by whichever command comes first), the secret only the embedded
server's process accepts, and resetting a project's secret."""

from __future__ import annotations

import threading

import pytest

from totpflow.server import errors, services
from totpflow.server.services import admin

THREADS = 12


def test_the_first_project_is_created_once_under_contention(deps: services.Deps) -> None:
    barrier = threading.Barrier(THREADS)
    created: list[object] = []

    def start() -> None:
        barrier.wait()
        created.append(services.create_first_project(deps))

    threads = [threading.Thread(target=start) for _ in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    made = [c for c in created if c is not None]
    assert len(created) == THREADS and len(made) == 1
    assert [p.project_id for p in admin.list_projects(deps)] == [made[0][0].project_id]  # type: ignore[index]
    assert services.create_first_project(deps) is None


def test_a_process_secret_works_beside_the_stored_one_until_withdrawn(deps: services.Deps) -> None:
    created = services.create_first_project(deps)
    assert created is not None
    project, stored = created
    issued = services.issue_process_secret(deps, project.project_id)
    assert services.authenticate_project(deps, project.project_id, issued) == project
    assert services.authenticate_project(deps, project.project_id, stored) == project
    services.withdraw_process_secret(deps, project.project_id)
    with pytest.raises(errors.UnauthorizedCredentials):
        services.authenticate_project(deps, project.project_id, issued)
    assert services.authenticate_project(deps, project.project_id, stored) == project
    # It is bound to the project it was issued for.
    other, _ = services.create_project(deps, name="other")
    for_other = services.issue_process_secret(deps, other.project_id)
    with pytest.raises(errors.UnauthorizedCredentials):
        services.authenticate_project(deps, project.project_id, for_other)


def test_reset_secret(deps: services.Deps) -> None:
    project, old = services.create_project(deps, name="shop")
    assert services.authenticate_project(deps, project.project_id, old) == project  # now remembered
    new = services.reset_project_secret(deps, project.project_id)
    assert new != old
    with pytest.raises(errors.UnauthorizedCredentials):
        services.authenticate_project(deps, project.project_id, old)
    assert services.authenticate_project(deps, project.project_id, new).name == "shop"
    with pytest.raises(errors.ProjectNotFound):
        services.reset_project_secret(deps, "project-test-unknown")
