"""Arazzo 1.1 features the runner executes, one case per row of data/v1.1/cases.yaml, each run twice:
against the fake Tinypets API through ``httpx.MockTransport`` and against the same API on a real loopback
socket."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from totpflow.arazzo import RunOptions, load
from totpflow.arazzo.api import Loaded
from totpflow.arazzo.errors import DocumentInvalid, LoadError
from totpflow.arazzo.validation import validate

DATA = Path(__file__).parent / "data" / "v1.1"
CASES = yaml.safe_load((DATA / "cases.yaml").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def loaded() -> Loaded:
    return load(str(DATA / "features.arazzo.yaml"))


@pytest.fixture(params=["in-process", "loopback"])
def pets_run(
    request: pytest.FixtureRequest, pets_api: Any, pets_client: httpx.Client
) -> Iterator[tuple[httpx.Client, RunOptions, Any]]:
    """(client, options, API state) for the fake API in process, or on a real loopback socket (the ``pets``
    source's server overridden)."""
    if request.param == "in-process":
        yield pets_client, RunOptions(), pets_api
        return
    url, api = request.getfixturevalue("pets_server")
    with httpx.Client() as client:
        yield client, RunOptions(servers={"pets": url}), api


def _check(
    case: dict[str, Any], loaded: Loaded, api: Any, client: httpx.Client, servers: dict[str, str]
) -> None:
    options = RunOptions(sleep=lambda _seconds: None, timeout=5.0, servers=servers)
    result = loaded.run(case["workflow"], inputs=case.get("inputs"), options=options, client=client)
    top = next(w for w in reversed(result.workflows) if w.workflow_id == case["workflow"])
    assert result.ok is case["ok"], (top.error, [w.error for w in result.workflows])
    if "status" in case:
        assert top.status == case["status"]
    if "outputs" in case:
        assert top.outputs == case["outputs"]
    if "target" in case:
        target = next(w for w in result.workflows if w.workflow_id != case["workflow"])
        assert target.outputs == case["target"]
    if "requests" in case:
        assert api.seen == case["requests"]
    if "bodies" in case:
        assert api.bodies == case["bodies"]
    if "error" in case:
        errors = [top.error or "", *(step.error or "" for step in top.steps)]
        assert any(case["error"] in error for error in errors), errors


@pytest.mark.parametrize("case", CASES, ids=[case["id"] for case in CASES])
def test_in_process(case: dict[str, Any], loaded: Loaded, pets_api: Any, pets_client: httpx.Client) -> None:
    _check(case, loaded, pets_api, pets_client, {})


@pytest.mark.parametrize("case", CASES, ids=[case["id"] for case in CASES])
def test_on_loopback(case: dict[str, Any], loaded: Loaded, pets_server: tuple[str, Any]) -> None:
    url, api = pets_server
    with httpx.Client() as client:
        _check(case, loaded, api, client, {"pets": url})


def test_a_selector_that_does_not_parse_is_refused_at_its_location(tmp_path: Path) -> None:
    text = (DATA / "features.arazzo.yaml").read_text(encoding="utf-8")
    text = text.replace("selector: $.user.name, type: jsonpath", "selector: '$.user[', type: jsonpath", 1)
    text = text.replace("url: ./pets32.openapi.yaml", f"url: {(DATA / 'pets32.openapi.yaml').as_uri()}", 1)
    document = tmp_path / "bad-selector.arazzo.yaml"
    document.write_text(text, encoding="utf-8")
    with pytest.raises(DocumentInvalid) as caught:
        load(str(document))
    locations = [problem.location for problem in caught.value.problems]
    assert locations == ["/workflows/8/steps/0/outputs/user/selector"]


def test_a_step_depending_on_a_later_step_is_refused_at_its_location(tmp_path: Path) -> None:
    text = (DATA / "features.arazzo.yaml").read_text(encoding="utf-8")
    text = text.replace("    dependsOn: [login]\n", "    dependsOn: [later]\n", 1)
    text = text.replace(
        "    dependsOn: [later]\n    parameters:\n    - {name: petId, in: path, value: 1}\n",
        "    dependsOn: [later]\n    parameters:\n    - {name: petId, in: path, value: 1}\n"
        "  - stepId: later\n    operationId: getInvoice\n",
        1,
    )
    text = text.replace("url: ./pets32.openapi.yaml", f"url: {(DATA / 'pets32.openapi.yaml').as_uri()}", 1)
    document = tmp_path / "forward.arazzo.yaml"
    document.write_text(text, encoding="utf-8")
    with pytest.raises(DocumentInvalid) as caught:
        load(str(document))
    assert [problem.location for problem in caught.value.problems] == ["/workflows/14/steps/1/dependsOn/0"]
    assert "does not come before this step" in caught.value.problems[0].message


SELF = "https://flows.invalid/pets/features.arazzo.yaml"


def _with_self(tmp_path: Path, extra_sources: str = "") -> Path:
    """features.arazzo.yaml copied elsewhere, declaring a public ``$self``: its relative source URL now
    resolves against that URL, not against the folder it is read from."""
    text = (DATA / "features.arazzo.yaml").read_text(encoding="utf-8")
    text = text.replace("arazzo: 1.1.0\n", f"arazzo: 1.1.0\n$self: {SELF}\n", 1)
    text = text.replace("sourceDescriptions:\n", "sourceDescriptions:\n" + extra_sources, 1)
    document = tmp_path / "elsewhere" / "copy.arazzo.yaml"
    document.parent.mkdir()
    document.write_text(text, encoding="utf-8")
    return document


def test_self_is_the_base_uri_and_a_mapped_folder_serves_it_offline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pets_client: httpx.Client
) -> None:
    document = _with_self(tmp_path)
    monkeypatch.setenv("TOTPFLOW_MAP_SELF", f"https://flows.invalid/pets/={DATA}")
    loaded = load(str(document))
    assert loaded.sources.source("pets").url == "https://flows.invalid/pets/pets32.openapi.yaml"
    result = loaded.run("selfIdentity", client=pets_client)
    assert result.ok, result.workflows[-1].error
    assert result.workflows[-1].outputs == {"definedBy": SELF}
    # 1.1.0 "Relative References in API URLs": the request goes to the OpenAPI server, not beside $self
    (exchange,) = result.workflows[-1].steps[0].exchanges
    assert exchange.request.url == "http://pets.test/pets/1"


def test_without_the_mapping_the_self_relative_source_is_not_read_from_the_local_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    document = _with_self(tmp_path)
    (document.parent / "pets32.openapi.yaml").write_text((DATA / "pets32.openapi.yaml").read_text())
    monkeypatch.delenv("TOTPFLOW_MAP_SELF", raising=False)
    with pytest.raises(LoadError) as caught:
        load(str(document))
    assert caught.value.location == "/sourceDescriptions/0/url"
    assert "--map-self" in caught.value.message


def test_a_source_url_naming_a_loaded_documents_identity_is_that_document(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pets_run: tuple[httpx.Client, RunOptions, Any]
) -> None:
    """Identity-based referencing: the second source names the document by its ``$self``; it is the one
    already read by location, not fetched (flows.invalid does not resolve)."""
    child = _with_self(tmp_path)
    monkeypatch.setenv("TOTPFLOW_MAP_SELF", f"https://flows.invalid/pets/={DATA}")
    root = tmp_path / "root.arazzo.yaml"
    root.write_text(
        "arazzo: 1.1.0\ninfo: {title: root, version: 1.0.0}\nsourceDescriptions:\n"
        f"- {{name: byLocation, url: {child.as_uri()}, type: arazzo}}\n"
        f"- {{name: byIdentity, url: '{SELF}', type: arazzo}}\n"
        "workflows:\n- workflowId: main\n  steps:\n"
        "  - {stepId: a, workflowId: $sourceDescriptions.byLocation.selfIdentity}\n"
        "  - {stepId: b, workflowId: $sourceDescriptions.byIdentity.selfIdentity}\n",
        encoding="utf-8",
    )
    loaded = load(str(root))
    first, second = loaded.sources.source("byLocation"), loaded.sources.source("byIdentity")
    assert second.document is first.document
    client, options, api = pets_run
    result = loaded.run("main", client=client, options=options)
    assert result.ok, [w.error for w in result.workflows]
    assert api.seen == ["GET /pets/1", "GET /pets/1"]
    assert [w.outputs for w in result.workflows if w.workflow_id == "selfIdentity"] == [
        {"definedBy": SELF}
    ] * 2


def test_documents_referring_to_each_other_by_identity_are_parsed_before_either_is_resolved(
    tmp_path: Path, pets_run: tuple[httpx.Client, RunOptions, Any]
) -> None:
    """1.1.0 "Parsing Documents": A names B by location, B names A by A's ``$self`` (a URL that cannot be
    fetched). A is registered under its identity before B's references resolve, so B's source is A itself,
    the cycle ends, and a workflow of A runs one of B that runs one of A. B's step resolves its Reusable
    Object against B's own components (A has none)."""
    pets = (DATA / "pets32.openapi.yaml").as_uri()
    a_self = "https://flows.invalid/a.arazzo.yaml"
    a, b = tmp_path / "a.arazzo.yaml", tmp_path / "b.arazzo.yaml"
    a.write_text(
        f"arazzo: 1.1.0\n$self: {a_self}\ninfo: {{title: a, version: 1.0.0}}\nsourceDescriptions:\n"
        f"- {{name: b, url: {b.as_uri()}, type: arazzo}}\n- {{name: pets, url: '{pets}', type: openapi}}\n"
        "workflows:\n- workflowId: start\n  steps:\n"
        "  - {stepId: viaB, workflowId: $sourceDescriptions.b.middle}\n"
        "- workflowId: finish\n  inputs: {type: object, properties: {petId: {type: integer}}}\n  steps:\n"
        "  - stepId: pet\n    operationId: getPet\n"
        "    parameters: [{name: petId, in: path, value: $inputs.petId}]\n",
        encoding="utf-8",
    )
    b.write_text(
        "arazzo: 1.1.0\ninfo: {title: b, version: 1.0.0}\nsourceDescriptions:\n"
        f"- {{name: a, url: '{a_self}', type: arazzo}}\n"
        "workflows:\n- workflowId: middle\n  steps:\n"
        "  - stepId: backToA\n    workflowId: $sourceDescriptions.a.finish\n"
        "    parameters: [{reference: $components.parameters.pet}]\n"
        "components:\n  parameters:\n    pet: {name: petId, value: 2}\n",
        encoding="utf-8",
    )
    loaded = load(str(a))
    assert loaded.sources.source("a", loaded.sources.source("b").document).document is loaded.document
    client, options, api = pets_run
    result = loaded.run("start", client=client, options=options)
    assert result.ok, [w.error for w in result.workflows]
    assert [w.workflow_id for w in result.workflows] == ["finish", "middle", "start"]
    assert api.seen == ["GET /pets/2"]


def test_an_empty_success_criteria_list_is_refused_before_anything_is_sent(
    tmp_path: Path, pets_run: tuple[httpx.Client, RunOptions, Any]
) -> None:
    """1.1.0 Step Object: ``successCriteria``, when present, holds at least one criterion. In process the
    library refuses the document; on loopback ``totpflow run`` (a real subprocess, its server overridden to
    the loopback API) exits 2 naming the location, and the server sees no request, where the same document
    with the criteria left out is run against it."""
    document = tmp_path / "empty-criteria.arazzo.yaml"
    text = (
        "arazzo: 1.1.0\ninfo: {title: t, version: 1.0.0}\nsourceDescriptions:\n"
        f"- {{name: pets, url: '{(DATA / 'pets32.openapi.yaml').as_uri()}', type: openapi}}\n"
        "workflows:\n- workflowId: w\n  steps:\n"
        "  - {stepId: pet, operationId: getPet, parameters: [{name: petId, in: path, value: 1}],\n"
        "     successCriteria: []}\n"
    )
    document.write_text(text, encoding="utf-8")
    client, options, api = pets_run
    location = "/workflows/0/steps/0/successCriteria"
    if not options.servers:
        with pytest.raises(DocumentInvalid) as caught:
            load(str(document)).run("w", client=client, options=options)
        assert [problem.location for problem in caught.value.problems] == [location]
        assert api.seen == []
        return
    server = f"pets={options.servers['pets']}"

    def run_cli() -> subprocess.CompletedProcess[str]:
        argv = [sys.executable, "-m", "totpflow", "run", str(document), "-w", "w", "--server", server]
        return subprocess.run(argv, capture_output=True, text=True, timeout=120)

    refused = run_cli()
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert location in refused.stdout + refused.stderr and "Traceback" not in refused.stderr
    assert api.seen == []
    document.write_text(text.replace(",\n     successCriteria: []}", "}"), encoding="utf-8")
    ran = run_cli()
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert api.seen == ["GET /pets/1"]  # the same server, reached once the document is valid


@pytest.mark.parametrize("version", ["1.1.0", "1.0.1"])
def test_the_strict_grammar_applies_to_1_1_documents_only(tmp_path: Path, version: str) -> None:
    """Dot access after a body (``$response.body.token``) is outside the runtime-expression ABNF: a 1.1
    document is refused at its location; a 1.0 document keeps the lenient form, with a warning."""
    document = tmp_path / "dot-access.arazzo.yaml"
    document.write_text(
        f"arazzo: {version}\ninfo: {{title: t, version: 1.0.0}}\nsourceDescriptions:\n"
        f"- {{name: pets, url: '{(DATA / 'pets32.openapi.yaml').as_uri()}', type: openapi}}\n"
        "workflows:\n- workflowId: w\n  steps:\n  - stepId: login\n    operationId: login\n"
        "    outputs: {token: $response.body.token}\n",
        encoding="utf-8",
    )
    if version == "1.0.1":
        assert any("$response.body#/token" in warning for warning in load(str(document)).warnings)
        return
    with pytest.raises(DocumentInvalid) as caught:
        load(str(document))
    problem = caught.value.problems[0]
    assert problem.location == "/workflows/0/steps/0/outputs/token"
    assert "$response.body#/token" in problem.message


@pytest.mark.parametrize("version", ["1.1.0", "1.0.1"])
@pytest.mark.parametrize(
    ("where", "step_fields"),
    [
        ("parameters/0/value", "parameters: [{name: petId, in: path, value: $components.inputs.creds}]"),
        ("parameters/0/reference", "parameters: [{reference: $components.inputs.creds}]"),
        ("successCriteria/0/condition", "successCriteria: [{condition: $components.inputs.creds != null}]"),
    ],
    ids=["value", "reusable-object", "condition"],
)
def test_components_inputs_is_not_an_expression_in_either_version(
    tmp_path: Path, version: str, where: str, step_fields: str, pets_client: httpx.Client, pets_api: Any
) -> None:
    """``$components.`` names only ``parameters``, ``successActions`` and ``failureActions`` (1.1.0 ABNF);
    ``components.inputs`` holds schemas, which workflow ``inputs`` reach with ``$ref``. A 1.0 document is
    refused the same way: 1.0.1 offers the same three kinds and nothing a schema could evaluate to. Refused
    at its location by ``load`` (nothing sent), a full ``validate`` and ``validate --skip-sources``."""
    document = tmp_path / "components-inputs.arazzo.yaml"
    document.write_text(
        f"arazzo: {version}\ninfo: {{title: t, version: 1.0.0}}\nsourceDescriptions:\n"
        f"- {{name: pets, url: '{(DATA / 'pets32.openapi.yaml').as_uri()}', type: openapi}}\n"
        "components:\n  inputs:\n    creds: {type: object, properties: {user: {type: string}}}\n"
        "workflows:\n- workflowId: w\n  inputs: {$ref: '#/components/inputs/creds'}\n  steps:\n"
        f"  - {{stepId: pet, operationId: getPet, {step_fields}}}\n",
        encoding="utf-8",
    )
    location = f"/workflows/0/steps/0/{where}"
    with pytest.raises(DocumentInvalid) as caught:
        load(str(document)).run("w", client=pets_client)
    assert [problem.location for problem in caught.value.problems] == [location]
    assert pets_api.seen == []
    for checked in (validate(str(document)), validate(str(document), skip_sources=True)):
        assert [problem.location for problem in checked.problems] == [location]


@pytest.mark.parametrize(
    ("correlation", "warned"),
    [("7", False), ("{order: 7}", True), ("[7]", True)],
    ids=["scalar", "object", "array"],
)
def test_a_correlation_id_that_is_an_object_or_array_is_accepted_with_a_warning(
    tmp_path: Path, correlation: str, warned: bool
) -> None:
    """The 1.1 schema allows any JSON value for ``correlationId``, the text says string: scalars are accepted
    as they are, an object or array with a warning (it is compared as its JSON text)."""
    shop = Path(__file__).parent / "data" / "async" / "shop.asyncapi.yaml"
    document = tmp_path / "correlation.arazzo.yaml"
    document.write_text(
        "arazzo: 1.1.0\ninfo: {title: t, version: 1.0.0}\nsourceDescriptions:\n"
        f"- {{name: shop, url: '{shop.as_uri()}', type: asyncapi}}\n"
        "workflows:\n- workflowId: w\n  steps:\n"
        "  - {stepId: wait, channelPath: '{$sourceDescriptions.shop.url}#/channels/confirmations',\n"
        f"     action: receive, correlationId: {correlation}, timeout: 10,\n"
        "     parameters: [{name: run, in: channel, value: r}]}\n",
        encoding="utf-8",
    )
    warnings = [w for w in load(str(document)).warnings if "/correlationId" in w]
    assert bool(warnings) is warned, warnings


@pytest.mark.parametrize("template", ["{petId}", "%7BpetId%7D"], ids=["braces", "percent-encoded"])
def test_an_operation_path_to_a_templated_path_runs_in_1_1(
    tmp_path: Path, template: str, pets_run: tuple[httpx.Client, RunOptions, Any]
) -> None:
    """Reference §7 item 12: the 1.1 grammar excludes ``{`` ``}`` from literal text, yet an ``operationPath``
    to an OpenAPI path template needs them. The part after ``#`` is a JSON Pointer into the source, so its
    braces are the path's, accepted without a warning; the URI-fragment form (``%7B``/``%7D``) too."""
    document = tmp_path / "templated.arazzo.yaml"
    document.write_text(
        "arazzo: 1.1.0\ninfo: {title: t, version: 1.0.0}\nsourceDescriptions:\n"
        f"- {{name: pets, url: '{(DATA.parent / 'pets.openapi.yaml').as_uri()}', type: openapi}}\n"
        "workflows:\n- workflowId: w\n  steps:\n  - stepId: pet\n"
        f"    operationPath: '{{$sourceDescriptions.pets.url}}#/paths/~1pets~1{template}/get'\n"
        "    parameters: [{name: petId, in: path, value: 1}]\n"
        "    successCriteria: [{condition: $statusCode == 200}]\n",
        encoding="utf-8",
    )
    checked = validate(str(document))
    assert (list(checked.problems), list(checked.warnings)) == ([], [])
    client, options, api = pets_run
    assert load(str(document)).run("w", client=client, options=options).ok
    assert api.seen == ["GET /pets/1"]


DOT_ACCESS = yaml.safe_load((DATA / "dot-access.yaml").read_text(encoding="utf-8"))


@pytest.mark.parametrize("version", ["1.1.0", "1.0.1"])
@pytest.mark.parametrize("case", DOT_ACCESS, ids=[case["id"] for case in DOT_ACCESS])
def test_dot_access_into_an_output_or_input_follows_the_declared_version(
    tmp_path: Path, case: dict[str, Any], version: str, pets_api: Any, pets_client: httpx.Client
) -> None:
    """Dot access into a declared output or input (``$inputs.user.id`` with input ``user``): the strict 1.1
    grammar reads the dotted text as one name, so a 1.1 document is refused at its location (by ``load``,
    which ``run`` goes through, and by a full ``validate``) unless that dotted name is declared; a 1.0
    document keeps the lenient form with a warning; ``validate --skip-sources`` only warns. The expression is
    reported once, its advice naming the spec form that reads the same value (``[n]`` as a pointer step)."""
    document = tmp_path / "dot-access.arazzo.yaml"
    document.write_text(
        json.dumps(
            {
                "arazzo": version,
                "info": {"title": "t", "version": "1.0.0"},
                "sourceDescriptions": [
                    {"name": "pets", "url": (DATA / "pets32.openapi.yaml").as_uri(), "type": "openapi"}
                ],
                "workflows": [
                    {
                        "workflowId": "w",
                        "inputs": {
                            "type": "object",
                            "properties": {name: {"type": "object"} for name in case["inputs"]},
                        },
                        "steps": [
                            {
                                "stepId": "login",
                                "operationId": "login",
                                "outputs": dict.fromkeys(case["outputs"], "$response.body#/user"),
                            },
                            {
                                "stepId": "pet",
                                "operationId": "getPet",
                                "parameters": [{"name": "petId", "in": "path", "value": case["expression"]}],
                            },
                        ],
                    }
                ],
            }
        ),
        encoding="utf-8",
    )
    location = "/workflows/0/steps/1/parameters/0/value"
    expected = case[version]
    full = validate(str(document))
    lenient = validate(str(document), skip_sources=True)
    if expected == "clean":
        assert not full.problems and not full.warnings, (full.problems, full.warnings)
        assert load(str(document)).warnings == ()
        return
    if "warning" in expected:
        assert not full.problems, full.problems
        (warning,) = [w for w in full.warnings if w.startswith(location)]
        assert [warning] == [w for w in load(str(document)).warnings if w.startswith(location)]
        assert expected["warning"] in warning, warning
        if "run" in case:  # accepted, so it runs: the dot reads a member
            result = load(str(document)).run("w", inputs=case["run"]["inputs"], client=pets_client)
            assert result.ok, [step.error for step in result.workflows[0].steps]
            assert pets_api.seen == case["run"]["requests"]
        return
    with pytest.raises(DocumentInvalid) as caught:
        load(str(document))
    for problems in (caught.value.problems, full.problems):
        (problem,) = problems
        assert problem.location == location
        assert expected["problem"] in problem.message
    assert not lenient.problems, lenient.problems
    (warning,) = [w for w in lenient.warnings if w.startswith(location)]
    assert expected["problem"] in warning, warning


@pytest.mark.parametrize("version", ["1.1.0", "1.0.1"])
def test_an_operation_path_through_a_url_an_operation_shadows_is_refused_in_1_1(
    tmp_path: Path, version: str, pets_client: httpx.Client, pets_api: Any
) -> None:
    """pets32 has an operation whose operationId is ``url``: in a 1.1 document
    ``{$sourceDescriptions.pets.url}`` names it before the field, so the operationPath is refused at its
    location before anything is sent; a 1.0 document reads the field as before."""
    document = tmp_path / "shadowed.arazzo.yaml"
    document.write_text(
        f"arazzo: {version}\ninfo: {{title: t, version: 1.0.0}}\nsourceDescriptions:\n"
        f"- {{name: pets, url: '{(DATA / 'pets32.openapi.yaml').as_uri()}', type: openapi}}\n"
        "workflows:\n- workflowId: w\n  steps:\n  - stepId: pet\n"
        "    operationPath: '{$sourceDescriptions.pets.url}#/paths/~1pets~1{petId}/get'\n"
        "    parameters: [{name: petId, in: path, value: 1}]\n",
        encoding="utf-8",
    )
    if version == "1.0.1":
        assert load(str(document)).run("w", client=pets_client).ok
        assert pets_api.seen == ["GET /pets/1"]
        return
    with pytest.raises(DocumentInvalid) as caught:
        load(str(document))
    (problem,) = caught.value.problems
    assert problem.location == "/workflows/0/steps/0/operationPath"
    assert "operation named 'url'" in problem.message
    assert pets_api.seen == []
