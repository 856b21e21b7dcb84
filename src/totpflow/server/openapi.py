"""The server's OpenAPI 3.1 document, generated from the same msgspec Structs the routes decode and encode.

Operation ids are Stytch's (``api_user_v1_Create``, …) so Arazzo workflows written against Stytch's published
description (stytch-api.md §8) find their operations here. Every operation but JWKS requires HTTP Basic
(``components.securitySchemes.basicAuth``); every operation documents the Stytch error body for the statuses
the HTTP edge produces. The repository ships this document as ``openapi/stytch-consumer-openapi.yml``;
regenerate it with ``totpflow serve --print-openapi > openapi/stytch-consumer-openapi.yml``.
"""

from __future__ import annotations

import json
from typing import Any, Final

import msgspec

from totpflow import __version__
from totpflow.server.http.responses import ErrorResponse
from totpflow.server.http.routes import OPERATIONS

REF: Final = "#/components/schemas/{name}"

ERROR_STATUSES: Final = {
    "400": "Bad request: malformed JSON, a wrongly typed or missing field, or an invalid value.",
    "401": "Missing or wrong credentials, or an authentication factor that did not verify.",
    "404": "No such user, TOTP, session, project or route.",
    "405": "The route exists but not with this method.",
    "413": "The request body exceeds 1 MiB.",
    "429": "The user is locked out or the request was rate limited.",
    "500": "An unexpected server error.",
}


def build_document() -> dict[str, Any]:
    """The OpenAPI 3.1 document as plain JSON-compatible data."""
    types: list[Any] = [ErrorResponse]
    for op in OPERATIONS:
        if op.request is not None:
            types.append(op.request)
        types.append(op.response)
    schemas, components = msgspec.json.schema_components(types, ref_template=REF)
    ref = dict(zip(types, schemas, strict=True))
    errors = {
        status: {"description": text, "content": {"application/json": {"schema": ref[ErrorResponse]}}}
        for status, text in ERROR_STATUSES.items()
    }
    paths: dict[str, dict[str, Any]] = {}
    for op in OPERATIONS:
        operation: dict[str, Any] = {
            "operationId": op.operation_id,
            "summary": op.summary,
            "security": [{"basicAuth": []}] if op.authenticated else [],
        }
        if op.parameters:
            operation["parameters"] = [dict(p) for p in op.parameters]
        if op.request is not None:
            operation["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": ref[op.request]}},
            }
        operation["responses"] = {
            "200": {"description": "Success.", "content": {"application/json": {"schema": ref[op.response]}}},
            **errors,
        }
        paths.setdefault(op.path, {})[op.method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Stytch Consumer API (totpflow)",
            "version": __version__,
            "description": "Users, TOTP, recovery codes, sessions and JWKS, as in Stytch's consumer API.",
        },
        "servers": [{"url": "http://127.0.0.1:8000"}],
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {"basicAuth": {"type": "http", "scheme": "basic"}},
        },
    }


def document_json() -> bytes:
    return json.dumps(build_document(), separators=(",", ":")).encode("utf-8")


def document_yaml() -> str:
    """The document as YAML, in the key order of :func:`build_document`, without YAML anchors (the JSON round
    trip gives every shared sub-object its own copy)."""
    import yaml

    plain = json.loads(document_json())
    return str(yaml.safe_dump(plain, sort_keys=False, allow_unicode=True, width=110))
