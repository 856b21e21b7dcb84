"""The server's OpenAPI 3.1 document, generated from the same msgspec Structs the routes decode and encode.

Operation ids are Stytch's (``api_user_v1_Create``, …) so Arazzo workflows written against Stytch's published
description (stytch-api.md §8) find their operations here. Every operation but JWKS requires HTTP Basic
(``components.securitySchemes.basicAuth``); every operation documents the Stytch error body for the statuses
the HTTP edge produces. The repository ships this document as ``openapi/stytch-consumer-openapi.yml``;
regenerate it with ``totpflow serve --print-openapi > openapi/stytch-consumer-openapi.yml``.
"""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import Iterable, Iterator
from typing import Any, Final

import msgspec
import msgspec.inspect as mi

from totpflow import __version__
from totpflow.server.http.responses import ErrorResponse
from totpflow.server.http.routes import OPERATIONS

REF: Final = "#/components/schemas/{name}"

ERROR_STATUSES: Final = {
    "400": "Bad request: malformed JSON, a wrongly typed or missing field, or an invalid value.",
    "401": "Missing or wrong credentials, or an authentication factor that did not verify.",
    "403": "An authorization_check that no role of the user grants.",
    "404": "No such user, TOTP, session, project or route.",
    "405": "The route exists but not with this method.",
    "413": "The request body exceeds 1 MiB.",
    "429": "The user is locked out or the request was rate limited.",
    "431": "The request has more than 100 header fields or more than 16 KiB of them.",
    "500": "An unexpected server error.",
}


def description(cls: type) -> str:
    """A class's own docstring as one description: indentation removed and each paragraph joined into one
    line, so the text is the same whatever the Python release (3.13 dedents docstrings when compiling) and
    whatever the schema library does with docstrings."""
    doc = cls.__dict__.get("__doc__")
    if not isinstance(doc, str):
        return ""
    paragraphs = re.split(r"\n\s*\n", inspect.cleandoc(doc))
    return "\n\n".join(" ".join(line.strip() for line in p.splitlines()) for p in paragraphs).strip()


def struct_classes(types: Iterable[Any]) -> dict[str, type[msgspec.Struct]]:
    """Every Struct class reachable from ``types`` (fields, items, unions …), by its component's name."""
    found: dict[str, type[msgspec.Struct]] = {}

    def nested(value: Any) -> Iterator[mi.Type]:
        if isinstance(value, mi.Type):
            yield value
        elif isinstance(value, mi.Field):
            yield value.type
        elif isinstance(value, tuple):
            for item in value:
                yield from nested(item)

    def visit(info: mi.Type) -> None:
        if isinstance(info, mi.StructType):
            if info.cls.__name__ in found:
                return
            found[info.cls.__name__] = info.cls
        for field in msgspec.structs.fields(info):
            for child in nested(getattr(info, field.name)):
                visit(child)

    for info in mi.multi_type_info(list(types)):
        visit(info)
    return found


def own_descriptions(components: dict[str, Any], types: Iterable[Any]) -> dict[str, Any]:
    """The components with each description replaced by :func:`description` of its class (or removed): the
    document then holds our text, not the schema library's rendering of it."""
    classes = struct_classes(types)
    result: dict[str, Any] = {}
    for name, schema in components.items():
        text = description(classes[name]) if name in classes else ""
        head = {"title": schema["title"]} if "title" in schema else {}
        if text:
            head["description"] = text
        rest = {key: value for key, value in schema.items() if key not in ("title", "description")}
        result[name] = head | rest
    return result


def build_document() -> dict[str, Any]:
    """The OpenAPI 3.1 document as plain JSON-compatible data."""
    types: list[Any] = [ErrorResponse]
    for op in OPERATIONS:
        if op.request is not None:
            types.append(op.request)
        types.append(op.response)
    schemas, components = msgspec.json.schema_components(types, ref_template=REF)
    components = own_descriptions(components, types)
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
            "description": (
                "Users, TOTP, recovery codes, sessions, JWKS and the RBAC policy, as in Stytch's consumer "
                "API."
            ),
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
