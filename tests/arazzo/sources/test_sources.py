"""Source descriptions: operations resolved from OpenAPI 3.x / Swagger 2.0, Arazzo sources, the seed."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urljoin

import pytest

from totpflow.arazzo.document import load_document
from totpflow.arazzo.document.model import Step
from totpflow.arazzo.document.reader import load_data
from totpflow.arazzo.errors import DocumentError, OperationNotFound
from totpflow.arazzo.params import serialize_parameters
from totpflow.arazzo.sources import OperationParameter, SourceSet
from totpflow.arazzo.sources.openapi import build_operation

DATA = Path(__file__).resolve().parents[1] / "data" / "documents"


@pytest.fixture(scope="module")
def pets() -> SourceSet:
    return SourceSet.load(load_document(str(DATA / "valid" / "pets.arazzo.yaml")))


def _step(target: str, kind: str = "operation_id") -> Step:
    return Step(step_id="probe", location="/probe", **{kind: target})


def test_the_seed_resolves_in_the_upstream_stytch_openapi(seed_path: Path) -> None:
    document = load_document(str(seed_path))
    sources = SourceSet.load(document)
    operations = [sources.resolve_operation(step) for step in document.workflows[0].steps]
    assert [(op.method, op.path) for op in operations] == [
        ("post", "/v1/users"),
        ("post", "/v1/totps"),
        ("post", "/v1/totps/authenticate"),
    ]
    for operation in operations:
        assert operation.source_name == "stytchConsumerApi"
        assert operation.servers == ("https://api.stytch.com", "https://test.stytch.com")
        assert operation.request_content_types == ("application/json",)
        assert operation.security == ()  # the upstream file declares the scheme but requires none
        assert operation.security_schemes == {"basicAuth": {"type": "http", "scheme": "basic"}}
        assert "200" in operation.responses
    source = sources.source("stytchConsumerApi")
    assert source.url == (seed_path.parent.parent / "openapi" / "stytch-consumer-openapi.yml").as_uri()
    assert source.operation_ids() is source.operation_ids()  # the operationId index is built once


def test_parameters_merge_path_and_operation_level_with_openapi_defaults(pets: SourceSet) -> None:
    operation = pets.resolve_operation(_step("listPets"))
    assert operation.servers == ("http://127.0.0.1:8000/api",)  # server variables take their defaults
    assert operation.security == ({"bearer": []},)  # inherited from the document root
    by_key = {(p.name, p.in_): p for p in operation.parameters}
    assert set(by_key) == {
        ("X-Trace", "header"),
        ("limit", "query"),
        ("status", "query"),
        ("tags", "query"),
        ("session", "cookie"),
    }
    assert by_key[
        ("X-Trace", "header")
    ].required  # the operation's declaration wins over the path item's $ref
    assert by_key[("limit", "query")] == OperationParameter(
        name="limit", in_="query", style="form", explode=True, schema={"type": "integer"}
    )
    assert (by_key[("tags", "query")].style, by_key[("tags", "query")].explode) == ("pipeDelimited", False)
    assert (by_key[("X-Trace", "header")].style, by_key[("X-Trace", "header")].explode) == ("simple", False)
    assert (by_key[("session", "cookie")].style, by_key[("session", "cookie")].explode) == ("form", True)


def test_operation_level_servers_security_and_bodies(pets: SourceSet) -> None:
    login = pets.resolve_operation(_step("login"))
    assert login.security == ()  # `security: []` on the operation switches the root requirement off
    assert login.request_content_types == ("application/json", "application/x-www-form-urlencoded")
    assert login.request_body_required
    assert login.security_schemes == {"bearer": {"type": "http", "scheme": "bearer"}}
    get_pet = pets.resolve_operation(_step("getPet"))
    source_url = pets.source("pets").url
    assert get_pet.servers == (urljoin(source_url, "/v2"),)  # relative to the OpenAPI document's URL
    (pet_id,) = get_pet.parameters
    assert (pet_id.name, pet_id.in_, pet_id.style, pet_id.explode, pet_id.required) == (
        "petId",
        "path",
        "simple",
        False,
        True,
    )


def test_responses_keep_refs_resolvable_through_resolve_ref(pets: SourceSet) -> None:
    login = pets.resolve_operation(_step("login"))
    assert login.responses["200"] == {"$ref": "#/components/responses/Token"}
    token = pets.resolve_ref("pets", login.responses["200"]["$ref"])
    assert token["description"] == "a session token"
    schema = pets.resolve_ref(pets.source("pets"), token["content"]["application/json"]["schema"]["$ref"])
    assert schema["properties"] == {"token": {"type": "string"}}
    with pytest.raises(DocumentError):
        pets.resolve_ref("pets", "#/components/schemas/Nope")
    with pytest.raises(DocumentError):
        pets.resolve_ref("pets", "other.yaml#/components/schemas/Token")


@pytest.mark.parametrize(
    "operation_path",
    [
        "{$sourceDescriptions.pets.url}#/paths/~1pets~1{petId}/get",  # the spec form
        "pets#/paths/~1pets~1%7BpetId%7D/get",  # the bare quirk, with a percent-encoded fragment
        "../openapi/pets.openapi.yaml#/paths/~1pets~1{petId}/get",  # the source's URL written out
    ],
)
def test_operation_path_forms(pets: SourceSet, operation_path: str) -> None:
    operation = pets.resolve_operation(_step(operation_path, "operation_path"))
    assert (operation.operation_id, operation.method, operation.path) == ("getPet", "get", "/pets/{petId}")


def test_an_operation_without_an_operation_id_resolves_by_path(pets: SourceSet) -> None:
    operation = pets.resolve_operation(
        _step("{$sourceDescriptions.pets.url}#/paths/~1flaky/get", "operation_path")
    )
    assert (operation.operation_id, operation.path) == (None, "/flaky")
    assert operation.parameters[0].required


@pytest.mark.parametrize(
    ("target", "kind", "message"),
    [
        ("nope", "operation_id", "no operation 'nope' in source 'pets'"),
        ("$sourceDescriptions.cats.login", "operation_id", "no OpenAPI source description named 'cats'"),
        (
            "{$sourceDescriptions.pets.url}#/paths/~1pets",
            "operation_path",
            "does not point at an Operation Object",
        ),
        ("{$sourceDescriptions.pets.url}#/paths/~1pets/delete", "operation_path", "no operation at"),
        ("cats#/paths/~1pets/get", "operation_path", "names no OpenAPI source description"),
    ],
)
def test_unresolvable_operations(pets: SourceSet, target: str, kind: str, message: str) -> None:
    with pytest.raises(OperationNotFound) as raised:
        pets.resolve_operation(_step(target, kind))
    assert message in raised.value.message
    assert raised.value.location.startswith("/probe/")


def test_swagger_2_best_effort() -> None:
    shop = load_document(str(DATA / "valid" / "shop.arazzo.yaml"))
    sources = SourceSet.load(shop)
    assert sources.source("store").type == "openapi"  # detected: the source description gives no type
    order = sources.resolve_operation(_step("$sourceDescriptions.store.placeOrder"))
    assert order.servers == ("http://127.0.0.1:9000/store",)
    assert order.parameters == ()  # `in: body` is the request body, not a parameter
    assert order.request_content_types == ("application/json",)
    assert order.security == ({"apiKey": []},)
    assert order.security_schemes["apiKey"]["name"] == "X-Api-Key"
    get_order = sources.resolve_operation(_step("$sourceDescriptions.store.getOrder"))
    fields = {p.name: p for p in get_order.parameters}["fields"]
    assert (fields.style, fields.explode) == ("form", True)  # collectionFormat: multi
    assert get_order.request_content_types == ()


@pytest.mark.parametrize("fmt", ["csv", "ssv", "tsv", "pipes", "multi"])
@pytest.mark.parametrize("where", ["query", "path", "header"])
def test_a_swagger_collection_format_applies_only_to_an_array(where: str, fmt: str) -> None:
    document = {
        "swagger": "2.0",
        "paths": {
            "/x/{p}": {
                "get": {
                    "parameters": [
                        {
                            "name": "p" if where == "path" else "q",
                            "in": where,
                            "type": "string",
                            "required": True,
                            "collectionFormat": fmt,
                        },
                    ]
                }
            }
        },
    }
    operation = build_operation("api", "http://127.0.0.1/", document, "/x/{p}", "get")
    (parameter,) = operation.parameters
    assert parameter.collection_format is None
    sent = serialize_parameters([(parameter, parameter.name, where, "hello world")])  # not refused
    assert {
        "query": sent.query == [("q", "hello%20world")],
        "path": sent.path_params == {"p": "hello%20world"},
        "header": sent.headers == [("q", "hello world")],
    }[where]


def test_arazzo_sources_load_recursively_and_survive_a_cycle() -> None:
    parent = load_document(str(DATA / "valid" / "parent.arazzo.yaml"))
    sources = SourceSet.load(parent)
    child_source = sources.source("child")
    assert child_source.type == "arazzo" and child_source.document is not None
    child = child_source.document
    assert sources.source("parent", child).document is parent  # the cycle comes back to the same object
    assert [d.url for d in sources.documents()] == [parent.url, child.url]
    document, workflow = sources.resolve_workflow("$sourceDescriptions.child.inner", parent)
    assert document is child and workflow.workflow_id == "inner"
    login = sources.resolve_operation(workflow.steps[0], child)
    assert (login.source_name, login.path) == ("pets", "/login")
    assert sources.resolve_workflow("outer")[1].workflow_id == "outer"
    with pytest.raises(OperationNotFound):
        sources.resolve_workflow("$sourceDescriptions.child.nope", parent)
    with pytest.raises(OperationNotFound):
        sources.resolve_workflow(
            "$sourceDescriptions.pets.inner", child
        )  # an OpenAPI source has no workflows


def test_parsed_files_are_cached_until_they_change(tmp_path: Path) -> None:
    path = tmp_path / "api.yaml"
    path.write_text("openapi: 3.1.0\npaths: {}\n", encoding="utf-8")
    first = load_data(path.as_uri())
    assert load_data(path.as_uri()) is first
    path.write_text("openapi: 3.0.3\npaths: {}\n", encoding="utf-8")
    assert load_data(path.as_uri())["openapi"] == "3.0.3"
