"""The engine against the fake Tinypets API, one case per row of data/cases.yaml (control flow, retries,
sub-workflows, dependencies, budgets), through ``httpx.MockTransport`` with a fake sleep."""

from __future__ import annotations

import json
from datetime import datetime
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
    extra: dict[str, Any] = dict(case.get("options", {}))
    if "clock" in case:
        moment = datetime.fromisoformat(case["clock"])
        extra["clock"] = lambda: moment
    options = RunOptions(sleep=sleeps.append, timeout=5.0, **extra)
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


def test_dependency_inputs_are_checked_before_any_request(
    loaded: Loaded, pets_api: Any, pets_client: httpx.Client
) -> None:
    with pytest.raises(InputError):
        loaded.run("needsLogin", inputs={"username": "alice"}, client=pets_client)
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


def test_records_read_in_any_order_mask_what_an_earlier_response_revealed(loaded: Loaded) -> None:
    """Exchange records are built when first read; a token that the login response carried under a
    sensitive key is masked in a later step's record even when that record is read first."""

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/login":
            return httpx.Response(200, headers={"X-Rate-Limit": "100"}, json={"token": "tok-123"})
        if request.url.path == "/pets":
            return httpx.Response(200, json=[{"id": 1, "name": "echo tok-123"}])
        return httpx.Response(200, json={"id": 1, "name": "Rex"})

    with httpx.Client(transport=httpx.MockTransport(handler)) as client:
        result = loaded.run(
            "loginAndGetPet",
            inputs={"username": "alice", "password": "s3cr3t-pw"},
            options=RunOptions(masker=Masker()),
            client=client,
        )
    assert result.ok, result.workflows[0].error
    listed = result.workflows[0].steps[1].exchanges[0]
    assert listed.response is not None and listed.response.body == '[{"id":1,"name":"echo ********"}]'
    assert "tok-123" not in repr(result)
    login = result.workflows[0].steps[0].exchanges[0]
    assert login.response is not None and login.response.body == '{"token":"********"}'


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


def _anchored_inputs_document(tmp_path: Path) -> Path:
    """pets.arazzo.yaml with loginAndGetPet's inputs moved to components and referred to by ``$anchor``."""
    data = yaml.safe_load((DATA / "pets.arazzo.yaml").read_text(encoding="utf-8"))
    data["sourceDescriptions"][0]["url"] = str(DATA / "pets.openapi.yaml")
    workflow = next(w for w in data["workflows"] if w["workflowId"] == "loginAndGetPet")
    credentials = {"$anchor": "credentials", **workflow["inputs"]}
    credentials["properties"]["password"] = {"$ref": "#password"}
    data["components"]["inputs"] = {
        "credentials": credentials,
        "password": {"$anchor": "password", "type": "string", "format": "password", "minLength": 8},
    }
    workflow["inputs"] = {"$ref": "#credentials"}
    doc = tmp_path / "anchored.arazzo.yaml"
    doc.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return doc


def test_inputs_schema_refs_by_anchor_are_resolved(
    tmp_path: Path, pets_api: Any, pets_client: httpx.Client
) -> None:
    """``$ref: '#credentials'`` names the component whose ``$anchor`` is ``credentials`` (JSON Schema 2020-12
    §8.2.2): its properties are declared (validation accepts ``$inputs.username``), its required names and
    defaults apply, and a nested anchored schema is checked and masks the value as a password."""
    anchored = load(str(_anchored_inputs_document(tmp_path)))
    with pytest.raises(InputError, match="password"):
        anchored.run("loginAndGetPet", inputs={"username": "alice"}, client=pets_client)
    with pytest.raises(InputError, match="'minLength'"):
        anchored.run("loginAndGetPet", inputs={"username": "alice", "password": "short"}, client=pets_client)
    assert pets_api.seen == []
    result = anchored.run(
        "loginAndGetPet", inputs={"username": "alice", "password": "s3cr3t-pw"}, client=pets_client
    )
    assert result.ok, result.workflows[-1].error
    assert pets_api.seen == ["POST /login", "GET /pets?status=available", "GET /pets/1"]
    assert "s3cr3t-pw" not in repr(result)


def test_loaded_document_runs_repeatedly(loaded: Loaded, pets_client: httpx.Client) -> None:
    inputs = {"username": "alice", "password": "s3cr3t-pw"}
    first = loaded.run("loginAndGetPet", inputs=inputs, client=pets_client)
    second = loaded.run("loginAndGetPet", inputs=inputs, client=pets_client)
    assert first.ok and second.ok
    assert first.workflows[0].outputs == second.workflows[0].outputs


def test_dry_run_sends_nothing(loaded: Loaded, pets_api: Any, pets_client: httpx.Client) -> None:
    inputs = {"username": "alice", "password": "s3cr3t-pw"}
    result = loaded.run("loginAndGetPet", inputs=inputs, options=RunOptions(dry_run=True), client=pets_client)
    assert pets_api.seen == []
    steps = result.workflows[0].steps
    assert [step.action for step in steps] == ["dry-run"] * 3
    assert steps[0].exchanges[0].request.url == "http://pets.test/login"
    assert steps[0].exchanges[0].response is None


def test_dry_run_of_a_workflow_step_leaves_what_reads_its_outputs_unevaluated(
    loaded: Loaded, pets_api: Any, pets_client: httpx.Client
) -> None:
    """A dry run does not evaluate a child workflow's outputs, so the calling step's criteria and outputs that
    read ``$outputs`` are not evaluated either: the run passes, as the real run would."""
    result = loaded.run("subWorkflow", options=RunOptions(dry_run=True), client=pets_client)
    assert pets_api.seen == []
    assert result.ok, result.workflows[-1].error
    parent = next(w for w in result.workflows if w.workflow_id == "subWorkflow")
    assert [(step.step_id, step.ok, step.action) for step in parent.steps] == [("child", True, "dry-run")]


def test_unknown_workflow_is_a_usage_error(loaded: Loaded, pets_client: httpx.Client) -> None:
    from totpflow.arazzo.errors import UsageError

    with pytest.raises(UsageError):
        loaded.run("noSuchWorkflow", client=pets_client)


@pytest.mark.parametrize(
    ("content_type", "token"),
    [
        ("application/json", "tok-1"),
        ("application/problem+json; charset=utf-8", "tok-1"),
        ("text/plain", None),  # text stays text: a JSON Pointer into "not json" selects nothing (null)
    ],
)
def test_response_bodies_are_json_only_for_json_media_types(
    loaded: Loaded, content_type: str, token: str | None
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        body = b"not json" if content_type == "text/plain" else b'{"token": "tok-1"}'
        return httpx.Response(200, headers={"Content-Type": content_type}, content=body)

    with httpx.Client(transport=httpx.MockTransport(handler)) as client:
        result = loaded.run("endEarly", client=client)
    workflow = result.workflows[0]
    assert result.ok, workflow.error
    assert workflow.outputs == {"token": token}


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json; charset=klingon",  # not JSON, in a charset Python does not know
        "application/problem+json; charset=base64",  # a codec that is no text encoding
        "text/plain; charset=rot13",
        "text/plain; charset=undefined",
    ],
)
def test_a_response_in_a_charset_that_is_no_text_encoding_is_read_without_failing_the_step(
    loaded: Loaded, content_type: str
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"Content-Type": content_type}, content=b"not json")

    with httpx.Client(transport=httpx.MockTransport(handler)) as client:
        result = loaded.run("endEarly", client=client)
    workflow = result.workflows[0]
    assert result.ok, workflow.error
    assert workflow.outputs == {"token": None}


_LOGIN_AS = """
  - workflowId: login
    steps:
      - stepId: signIn
        operationId: $sourceDescriptions.pets.login
        requestBody: {{payload: {{username: {who}}}}}
        outputs: {{token: $response.body#/token}}
    outputs: {{token: $steps.signIn.outputs.token}}
"""


def test_workflows_expressions_read_this_documents_workflow_not_a_namesake_elsewhere(tmp_path: Path) -> None:
    """``$workflows.login.outputs`` names the ``login`` of the document it is written in (Arazzo 1.0.1
    "Runtime Expressions": ``$workflows`` are this document's), even after a workflow of the same id in
    another Arazzo source ran later."""

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"token": "token-of-" + json.loads(request.content)["username"]})

    pets = str(DATA / "pets.openapi.yaml")
    head = "arazzo: 1.0.1\ninfo: {{title: {title}, version: 1.0.0}}\nsourceDescriptions:\n"
    (tmp_path / "other.arazzo.yaml").write_text(
        head.format(title="other")
        + f"  - {{name: pets, url: {pets}}}\nworkflows:"
        + _LOGIN_AS.format(who="them")
    )
    (tmp_path / "main.arazzo.yaml").write_text(
        head.format(title="main")
        + f"  - {{name: pets, url: {pets}}}\n  - {{name: other, url: ./other.arazzo.yaml, type: arazzo}}\n"
        + "workflows:"
        + _LOGIN_AS.format(who="us")
        + """
  - workflowId: main
    steps:
      - stepId: ours
        workflowId: login
      - stepId: theirs
        workflowId: $sourceDescriptions.other.login
      - stepId: read
        operationId: $sourceDescriptions.pets.login
        requestBody: {payload: {username: $workflows.login.outputs.token}}
        outputs: {echoed: $response.body#/token}
    outputs: {echoed: $steps.read.outputs.echoed}
"""
    )
    with httpx.Client(transport=httpx.MockTransport(handler)) as client:
        result = load(str(tmp_path / "main.arazzo.yaml")).run("main", client=client)
    assert result.ok, result.workflows[-1].error
    assert result.workflows[-1].outputs == {"echoed": "token-of-token-of-us"}
