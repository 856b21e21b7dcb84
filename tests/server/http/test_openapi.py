"""The OpenAPI document: served at /openapi.json, shipped as openapi/stytch-consumer-openapi.yml, and equal.

Regenerate the shipped file with ``totpflow serve --print-openapi > openapi/stytch-consumer-openapi.yml``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
import yaml

from totpflow.server import openapi
from totpflow.server.http import requests, responses
from totpflow.server.openapi import build_document
from totpflow.testing import StytchServer

SHIPPED = Path(__file__).resolve().parents[3] / "openapi" / "stytch-consumer-openapi.yml"

OPERATION_IDS = {
    "api_user_v1_Create",
    "api_user_v1_Get",
    "api_user_v1_Update",
    "api_user_v1_Delete",
    "api_user_v1_Search",
    "api_user_v1_DeleteTOTP",
    "api_totp_v1_Create",
    "api_totp_v1_Authenticate",
    "api_totp_v1_RecoveryCodes",
    "api_totp_v1_Recover",
    "api_session_v1_Authenticate",
    "api_session_v1_Revoke",
    "api_session_v1_Get",
    "api_session_v1_GetJWKS",
    "api_consumer_rbac_v1_Policy",
}


def operations(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {op["operationId"]: op for path in document["paths"].values() for op in path.values()}


def test_shipped_file_equals_what_the_server_serves(sqlite_server: StytchServer) -> None:
    served = httpx.get(sqlite_server.base_url + "/openapi.json").json()
    assert yaml.safe_load(SHIPPED.read_text(encoding="utf-8")) == served, (
        "regenerate: totpflow serve --print-openapi > openapi/stytch-consumer-openapi.yml"
    )


def test_served_without_credentials(sqlite_server: StytchServer) -> None:
    assert httpx.get(sqlite_server.base_url + "/openapi.json").status_code == 200


def test_operations_and_security() -> None:
    document = build_document()
    assert document["openapi"].startswith("3.1")
    assert document["servers"] == [{"url": "http://127.0.0.1:8000"}]
    assert document["components"]["securitySchemes"]["basicAuth"] == {"type": "http", "scheme": "basic"}
    ops = operations(document)
    assert set(ops) == OPERATION_IDS
    for operation_id, op in ops.items():
        expected = [] if operation_id == "api_session_v1_GetJWKS" else [{"basicAuth": []}]
        assert op["security"] == expected, operation_id
        for status in ("400", "401", "403", "404", "405", "413", "429", "431", "500"):
            schema = op["responses"][status]["content"]["application/json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/ErrorResponse"}


def test_required_fields_match_the_sdk() -> None:
    """Spot-check against what the SDK's pydantic models require (stytch-api.md §7.3)."""
    schemas = build_document()["components"]["schemas"]
    assert {"status_code", "request_id", "user_id", "email_id", "phone_id", "status", "user"} <= set(
        schemas["CreateUserResponse"]["required"]
    )
    assert {"session_token", "session_jwt", "totp_id", "user_id", "user"} <= set(
        schemas["AuthenticateTotpResponse"]["required"]
    )
    assert set(schemas["CreateTotpRequest"]["required"]) == {"user_id"}
    # api_consumer_rbac_v1_Policy: every field of the policy and its items is required (§1.1 of the RBAC
    # reference); the verdict is optional (absent without an authorization_check).
    assert set(schemas["Policy"]["required"]) == {"roles", "resources", "scopes"}
    assert set(schemas["PolicyRole"]["required"]) == {"role_id", "description", "permissions"}
    assert set(schemas["PolicyResource"]["required"]) == {"resource_id", "description", "actions"}
    assert set(schemas["PolicyScope"]["required"]) == {"scope", "description", "permissions"}
    assert set(schemas["PolicyPermission"]["required"]) == {"resource_id", "actions"}
    assert "verdict" not in schemas["AuthenticateSessionResponse"]["required"]
    assert set(schemas["AuthorizationVerdict"]["required"]) == {"authorized", "granting_roles"}
    assert set(schemas["JWK"]["required"]) == {
        "kty",
        "use",
        "key_ops",
        "alg",
        "kid",
        "x5c",
        "x5tS256",
        "n",
        "e",
    }


@pytest.mark.parametrize("operation_id", sorted(OPERATION_IDS))
def test_every_operation_has_a_success_schema(operation_id: str) -> None:
    op = operations(build_document())[operation_id]
    assert op["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].startswith("#/components/")


class Indented(msgspec.Struct):
    """First line of a description that goes on
    over a second, indented line.

        A second paragraph, indented further."""


class Dedented(msgspec.Struct):
    """First line of a description that goes on
    over a second, indented line.

    A second paragraph, indented further."""


def test_description_is_the_same_however_the_docstring_is_indented() -> None:
    """Python 3.13 dedents docstrings when compiling; earlier releases keep the indentation."""
    expected = (
        "First line of a description that goes on over a second, indented line.\n\n"
        "A second paragraph, indented further."
    )
    assert openapi.description(Indented) == openapi.description(Dedented) == expected


def test_description_is_the_class_own_docstring() -> None:
    class Undocumented(Indented):
        pass

    assert openapi.description(Undocumented) == ""


# What a schema library might do with a docstring: each release of msgspec has done one of these.
RENDERINGS: dict[str, Callable[[str], str | None]] = {
    "raw": lambda doc: doc,
    "stripped": lambda doc: doc.strip(),
    "cleandoc": inspect.cleandoc,
    "first line": lambda doc: doc.strip().splitlines()[0],
    "none": lambda doc: None,
}


@pytest.mark.parametrize("rendering", sorted(RENDERINGS))
def test_document_does_not_depend_on_the_schema_library_docstring_rendering(
    rendering: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = build_document()
    real = msgspec.json.schema_components
    render = RENDERINGS[rendering]

    def rendered_differently(types: Any, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
        schemas, components = real(types, **kwargs)
        classes = {
            name: cls
            for module in (requests, responses)
            for name, cls in vars(module).items()
            if isinstance(cls, type) and issubclass(cls, msgspec.Struct)
        }
        changed: dict[str, Any] = {}
        for name, schema in components.items():
            doc = classes[name].__doc__ if name in classes else None
            text = render(doc) if doc else None
            schema = {k: v for k, v in schema.items() if k != "description"}
            changed[name] = schema if text is None else {"description": text, **schema}
        return schemas, changed

    monkeypatch.setattr(openapi.msgspec.json, "schema_components", rendered_differently)
    assert build_document() == expected
