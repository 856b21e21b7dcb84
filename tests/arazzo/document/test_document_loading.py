"""Loading Arazzo documents into the frozen model: the seed, JSON vs YAML, YAML 1.2 scalars, versions,
caching, and the Reusable Object helpers the engine calls."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec
import pytest
import yaml

from totpflow.arazzo.document import (
    load_document,
    resolve_failure_action,
    resolve_parameter,
    resolve_success_action,
)
from totpflow.arazzo.document.model import Criterion, FailureAction, Parameter, ReusableRef, SuccessAction
from totpflow.arazzo.errors import DocumentError, DocumentInvalid, LoadError
from totpflow.arazzo.textdata import parse_text

DATA = Path(__file__).resolve().parents[1] / "data" / "documents"
MINIMAL = """\
arazzo: {version}
info:
  title: Minimal
  version: {info_version}
sourceDescriptions:
  - name: api
    url: https://api.example.invalid/openapi.yaml
workflows:
  - workflowId: w
    steps:
      - stepId: s
        operationId: op
        requestBody:
          payload:
            flag: {flag}
"""


def _write(tmp_path: Path, text: str, name: str = "doc.arazzo.yaml") -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_seed_builds_the_model(seed_path: Path) -> None:
    document = load_document(str(seed_path))
    assert document.arazzo == "1.0.1"
    assert document.url == seed_path.as_uri()
    assert document.info.title == "Stytch TOTP Authenticator Enrollment"
    assert [(s.name, s.url, s.type) for s in document.source_descriptions] == [
        ("stytchConsumerApi", "../openapi/stytch-consumer-openapi.yml", "openapi")
    ]
    (workflow,) = document.workflows
    assert document.workflow("totp-enrollment") is workflow
    assert [step.step_id for step in workflow.steps] == ["createUser", "createTotp", "authenticateTotp"]
    create_user = workflow.steps[0]
    assert create_user.location == "/workflows/0/steps/0"
    assert create_user.operation_id == "api_user_v1_Create"
    assert create_user.request_body is not None
    assert create_user.request_body.content_type == "application/json"
    assert create_user.request_body.payload == {"email": "$inputs.email"}
    assert create_user.success_criteria == (
        Criterion(condition="$statusCode == 200", location="/workflows/0/steps/0/successCriteria/0"),
    )
    assert create_user.on_success is None and create_user.on_failure is None
    assert workflow.steps[1].outputs["qrCode"] == "$response.body#/qr_code"
    assert workflow.inputs is not None and workflow.inputs["required"] == ["email", "totp_code"]
    assert workflow.outputs["sessionToken"] == "$steps.authenticateTotp.outputs.sessionToken"
    assert document.warnings == ()


def test_json_and_yaml_give_the_same_model(seed_path: Path, tmp_path: Path) -> None:
    data = yaml.safe_load(seed_path.read_text(encoding="utf-8"))
    json_path = _write(tmp_path, json.dumps(data), "seed.arazzo.json")
    from_yaml = load_document(str(seed_path))
    from_json = load_document(json_path)
    assert msgspec.structs.replace(from_json, url=from_yaml.url) == from_yaml


def test_yaml_scalars_follow_the_json_schema_tag_set(tmp_path: Path) -> None:
    """YAML 1.1's ``on``/``yes`` booleans and dates would not survive as JSON: they stay strings."""
    document = load_document(
        _write(tmp_path, MINIMAL.format(version="1.0.1", info_version="2024-01-31", flag="on"))
    )
    assert document.info.version == "2024-01-31"
    body = document.workflows[0].steps[0].request_body
    assert body is not None and body.payload == {"flag": "on"}
    document = load_document(
        _write(tmp_path, MINIMAL.format(version="1.0.1", info_version="v1", flag="true"))
    )
    assert document.workflows[0].steps[0].request_body.payload == {"flag": True}  # type: ignore[union-attr]


YAML_SCALARS: list[dict[str, Any]] = yaml.safe_load(
    (Path(__file__).parent / "data" / "yaml_scalars.yaml").read_text(encoding="utf-8")
)


@pytest.mark.parametrize("case", YAML_SCALARS, ids=lambda case: case["yaml"])
def test_yaml_numbers_follow_yaml_1_2s_core_schema(case: dict[str, Any]) -> None:
    value = parse_text(f"value: {case['yaml']}\n")["value"]
    expected = case["expect"]
    if expected in ("inf", "-inf", "nan"):
        assert isinstance(value, float) and str(value) == expected
    else:
        assert value == expected and type(value) is type(expected)


@pytest.mark.parametrize("version", ["1.0.0", "1.0.1", "1.0.2", "1.0.1-rc.1", "1.1.0", "1.1.7"])
def test_every_1_0_and_1_1_patch_version_is_accepted(tmp_path: Path, version: str) -> None:
    assert (
        load_document(_write(tmp_path, MINIMAL.format(version=version, info_version="v1", flag=1))).arazzo
        == version
    )


@pytest.mark.parametrize("version", ["1.2.0", "'1.1'", "'1.0'", "2.0.0", "1", "1.0.x", "null"])
def test_other_versions_are_refused(tmp_path: Path, version: str) -> None:
    with pytest.raises(LoadError) as raised:
        load_document(_write(tmp_path, MINIMAL.format(version=version, info_version="v1", flag=1)))
    assert raised.value.location == "/arazzo"
    assert not isinstance(raised.value, DocumentInvalid)


def test_invalid_yaml_reports_the_line(tmp_path: Path) -> None:
    with pytest.raises(LoadError) as raised:
        load_document(_write(tmp_path, "arazzo: 1.0.1\ninfo: [unclosed\n"))
    assert "line 3" in raised.value.message or "line 2" in raised.value.message


def test_a_changed_file_is_read_again(tmp_path: Path) -> None:
    path = _write(tmp_path, MINIMAL.format(version="1.0.1", info_version="v1", flag=1))
    assert load_document(path).info.version == "v1"
    _write(tmp_path, MINIMAL.format(version="1.0.1", info_version="v22", flag=1))
    assert load_document(path).info.version == "v22"


def test_document_invalid_lists_every_problem_and_names_the_first() -> None:
    with pytest.raises(DocumentInvalid) as invalid:
        load_document(str(DATA / "invalid" / "missing-targets.arazzo.yaml"))
    assert len(invalid.value.problems) == 5
    assert str(invalid.value).startswith("/: 5 problems in the document; first: /workflows/0/dependsOn/1: ")


def test_reusable_objects_resolve_against_components() -> None:
    document = load_document(str(DATA / "valid" / "pets.arazzo.yaml"))
    retry_flaky = document.workflows[1]
    (reference,) = retry_flaky.steps[0].parameters
    assert isinstance(reference, ReusableRef) and reference.has_value
    parameter = resolve_parameter(document, reference)
    assert parameter == Parameter(
        name="key",
        value="$workflows.loginAndGetPet.outputs.token",  # the reference's value overrides the component's
        in_="query",
        location="/components/parameters/flakyKey",
    )
    plain = document.workflows[0].steps[1].parameters[0]
    assert isinstance(plain, Parameter) and resolve_parameter(document, plain) is plain

    (failure,) = retry_flaky.failure_actions
    action = resolve_failure_action(document, failure)
    assert isinstance(action, FailureAction)
    assert (action.type, action.retry_after, action.retry_limit) == ("retry", 0.5, 3)

    shop = load_document(str(DATA / "valid" / "shop.arazzo.yaml"))
    on_success = shop.workflows[1].steps[0].on_success
    assert on_success is not None
    assert resolve_success_action(shop, on_success[0]) == SuccessAction(
        name="finish", type="end", location="/components/successActions/finish"
    )


def test_an_unresolvable_reference_raises_at_its_location() -> None:
    document = load_document(str(DATA / "valid" / "pets.arazzo.yaml"))
    missing = ReusableRef(reference="$components.parameters.nope", location="/x")
    with pytest.raises(DocumentError) as raised:
        resolve_parameter(document, missing)
    assert raised.value.location == "/x"
    wrong_kind = ReusableRef(reference="$components.parameters.flakyKey", location="/y")
    with pytest.raises(DocumentError):
        resolve_failure_action(document, wrong_kind)


def test_the_criterion_expression_type_object_is_read_in_both_forms() -> None:
    shop = load_document(str(DATA / "valid" / "shop.arazzo.yaml"))
    criterion = shop.workflows[0].steps[0].success_criteria[1]
    assert (criterion.type, criterion.version) == ("jsonpath", "draft-goessner-dispatch-jsonpath-00")
    flat = load_document(str(DATA / "schema" / "pass" / "expression-type-object.yaml"))
    nested, flattened = flat.workflows[0].steps[0].success_criteria
    assert (nested.type, nested.version) == ("xpath", "xpath-10")
    assert (flattened.type, flattened.version) == ("jsonpath", "draft-goessner-dispatch-jsonpath-00")
