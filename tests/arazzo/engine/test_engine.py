"""The engine against the fake Tinypets API, one case per row of data/cases.yaml (control flow, retries,
sub-workflows, dependencies, budgets), through ``httpx.MockTransport`` with a fake sleep."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from totpflow.arazzo import RunOptions, load
from totpflow.arazzo.api import Loaded
from totpflow.arazzo.errors import InputError
from totpflow.arazzo.masking import Masker

DATA = Path(__file__).parent / "data"
CASES = yaml.safe_load((DATA / "cases.yaml").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def loaded() -> Loaded:
    return load(str(DATA / "pets.arazzo.yaml"))


@pytest.mark.parametrize("case", CASES, ids=[case["id"] for case in CASES])
def test_case(case: dict[str, Any], loaded: Loaded, pets_api: Any, pets_client: httpx.Client) -> None:
    sleeps: list[float] = []
    options = RunOptions(sleep=sleeps.append, timeout=5.0, **case.get("options", {}))
    result = loaded.run(case["workflow"], inputs=case.get("inputs"), options=options, client=pets_client)
    top = result.workflows[-1]
    assert top.workflow_id == case["workflow"]
    assert result.ok is case["ok"], top.error
    if "status" in case:
        assert top.status == case["status"]
    if "outputs" in case:
        assert top.outputs == case["outputs"]
    if "requests" in case:
        assert pets_api.seen == case["requests"]
    if "request_count" in case:
        assert len(pets_api.seen) == case["request_count"]
    if "attempts" in case:
        attempts = {step.step_id: step.attempts for step in top.steps}
        assert {k: attempts[k] for k in case["attempts"]} == case["attempts"]
    if "actions" in case:
        actions = {step.step_id: step.action for step in top.steps}
        assert {k: actions[k] for k in case["actions"]} == case["actions"]
    if "sleeps" in case:
        assert sleeps == case["sleeps"]
    if "error" in case:
        assert top.error is not None and case["error"] in top.error
    if "workflows" in case:
        assert [w.workflow_id for w in result.workflows] == case["workflows"]


def test_missing_required_input_stops_before_any_request(
    loaded: Loaded, pets_api: Any, pets_client: httpx.Client
) -> None:
    with pytest.raises(InputError) as caught:
        loaded.run("loginAndGetPet", inputs={"username": "alice"}, client=pets_client)
    assert "password" in str(caught.value)
    assert pets_api.seen == []


def test_password_input_is_masked_in_every_record(loaded: Loaded, pets_client: httpx.Client) -> None:
    masker = Masker()
    result = loaded.run(
        "loginAndGetPet",
        inputs={"username": "alice", "password": "s3cr3t-pw"},
        options=RunOptions(masker=masker),
        client=pets_client,
    )
    assert result.ok
    assert "s3cr3t-pw" not in repr(result)
    login = result.workflows[0].steps[0]
    assert login.exchanges[0].request.body is not None and "********" in login.exchanges[0].request.body


def test_secret_outputs_are_masked_in_the_response_that_carried_them(
    loaded: Loaded, pets_client: httpx.Client
) -> None:
    result = loaded.run(
        "endEarly", options=RunOptions(secret_outputs=frozenset({"token"})), client=pets_client
    )
    assert result.ok
    assert "tok-123" not in repr(result)


def test_every_workflow_runs_in_document_order_when_none_is_named(tmp_path: Path) -> None:
    api_seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        api_seen.append(request.url.path)
        return httpx.Response(200, json={"token": "tok-123", "name": "Rex"})

    doc = tmp_path / "two.arazzo.yaml"
    doc.write_text(
        (DATA / "two-workflows.arazzo.yaml")
        .read_text()
        .replace("./pets.openapi.yaml", str(DATA / "pets.openapi.yaml"))
    )
    with httpx.Client(transport=httpx.MockTransport(handler)) as client:
        result = load(str(doc)).run(client=client)
    assert [w.workflow_id for w in result.workflows] == ["first", "second"]
    assert api_seen == ["/login", "/pets/1"]


def test_loaded_document_runs_repeatedly(loaded: Loaded, pets_client: httpx.Client) -> None:
    inputs = {"username": "alice", "password": "s3cr3t-pw"}
    first = loaded.run("loginAndGetPet", inputs=inputs, client=pets_client)
    second = loaded.run("loginAndGetPet", inputs=inputs, client=pets_client)
    assert first.ok and second.ok
    assert first.workflows[0].outputs == second.workflows[0].outputs
