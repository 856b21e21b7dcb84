"""Operations of an OpenAPI description, as a runner needs them: method, path, servers, parameters, security.

Covers OpenAPI 3.0 and 3.1, and Swagger 2.0 best-effort (``schemes``/``host``/``basePath`` become one server,
``consumes`` the request media types, ``securityDefinitions`` the security schemes). Rules applied:

- servers: the operation's, else the Path Item's, else the document's, else ``/`` (OAS 3.1 §4.8.1 "servers");
  server variables take their ``default`` (§4.8.6); a relative server URL is resolved against the URL of the
  OpenAPI document (§4.8.5 "Relative References in API URLs").
- parameters: Path Item parameters merged with the operation's, the operation winning for the same
  ``(name, in)`` (§4.8.10 "parameters"); ``$ref`` followed inside the document. Default ``style`` is ``form``
  for query and cookie, ``simple`` for path and header; ``explode`` defaults to true for ``form`` and OAS
  3.2.0's ``cookie`` only (§4.8.12.4 "Style Values"); path parameters are always required.
- security: the operation's ``security`` when present (even an empty list, which disables it), else the
  document's (§4.8.10 "security").
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urljoin

import msgspec

from totpflow.arazzo.errors import DocumentError
from totpflow.arazzo.expressions import pointer
from totpflow.arazzo.expressions.pointer import PointerError

HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
# ``querystring`` (OAS 3.2): the whole query from one value, described by ``content``; it has no style
_DEFAULT_STYLE = {"query": "form", "cookie": "form", "path": "simple", "header": "simple", "querystring": ""}


class OperationParameter(msgspec.Struct, frozen=True):
    name: str
    in_: str  # path | query | header | cookie | querystring
    style: str
    explode: bool
    required: bool = False
    allow_reserved: bool = False
    schema: Any = None
    content_type: str | None = None  # a parameter described by `content` instead of `schema` (its media type)
    collection_format: str | None = None  # Swagger 2.0: its ``collectionFormat`` as written, if written


class PropertyEncoding(msgspec.Struct, frozen=True):
    """The Encoding Object of one property of a form or multipart request body (OAS 3.1.1 §4.8.15)."""

    content_type: str | None = None  # the first media type its ``contentType`` lists
    style: str | None = None  # ``style``, ``explode`` and ``allowReserved`` as written (None: not written)
    explode: bool | None = None
    allow_reserved: bool | None = None
    # a multipart property whose schema describes a file's content (``file_schema``): a text value is sent as
    # a file part, named after the property, as bytes and binary values are
    file: bool = False


class Operation(msgspec.Struct, frozen=True):
    source_name: str
    operation_id: str | None
    method: str  # lower case, as in the Path Item
    path: str  # the path template, e.g. /v1/users/{user_id}
    servers: tuple[str, ...]  # absolute base URLs, variables substituted by their defaults
    parameters: tuple[OperationParameter, ...]
    request_content_types: tuple[str, ...]
    security: tuple[dict[str, list[str]], ...]
    security_schemes: dict[str, Any]
    responses: dict[str, Any]
    request_body_required: bool = False
    location: str = ""  # JSON Pointer of the Operation Object in its OpenAPI document
    source_url: str = ""
    # media type (lower case, no parameters) → property → its Encoding Object, for the request body's media
    # types that have an ``encoding`` map
    request_encodings: dict[str, dict[str, PropertyEncoding]] = msgspec.field(default_factory=dict)


def is_swagger2(content: Mapping[str, Any]) -> bool:
    return str(content.get("swagger", "")).startswith("2.")


def resolve_pointer(content: Any, fragment: str, *, what: str = "") -> Any:
    """The node at JSON Pointer ``fragment`` (RFC 6901; percent-decoded as a URI fragment, §6)."""
    try:
        tokens = pointer.split_fragment(fragment)
    except PointerError as exc:
        raise DocumentError("", f"{what or 'reference'} {fragment!r} is not a JSON Pointer") from exc
    try:
        return pointer.resolve_tokens(content, tokens, fragment)
    except PointerError as exc:
        raise DocumentError("", f"{what or 'reference'} {fragment!r} does not resolve") from exc


def follow_ref(content: Any, node: Any, *, depth: int = 0) -> Any:
    """``node`` with a local ``$ref`` (``#/…``) followed, repeatedly; other nodes are returned as they are."""
    while isinstance(node, Mapping) and isinstance(node.get("$ref"), str):
        ref = node["$ref"]
        if not ref.startswith("#"):
            raise DocumentError("", f"$ref {ref!r}: only references inside the same document are supported")
        depth += 1
        if depth > 50:
            raise DocumentError("", f"$ref {ref!r}: reference cycle")
        node = resolve_pointer(content, ref[1:], what="$ref")
    return node


def operation_index(content: Mapping[str, Any]) -> dict[str, tuple[str, str]]:
    """operationId → (path, method) over every Path Item of the document."""
    index: dict[str, tuple[str, str]] = {}
    paths = content.get("paths")
    if not isinstance(paths, Mapping):
        return index
    for path, item in paths.items():
        item = follow_ref(content, item)
        if not isinstance(item, Mapping):
            continue
        for method in HTTP_METHODS:
            operation = item.get(method)
            if isinstance(operation, Mapping) and isinstance(operation.get("operationId"), str):
                index.setdefault(operation["operationId"], (path, method))
    return index


def security_schemes(content: Mapping[str, Any]) -> dict[str, Any]:
    """The named security schemes of an OpenAPI document (``components.securitySchemes``; Swagger 2.0's
    ``securityDefinitions``)."""
    if is_swagger2(content):
        table = content.get("securityDefinitions")
    else:
        components = content.get("components")
        table = components.get("securitySchemes") if isinstance(components, Mapping) else None
    return dict(table) if isinstance(table, Mapping) else {}


def build_operation(
    source_name: str, source_url: str, content: Mapping[str, Any], path: str, method: str
) -> Operation:
    """The Operation at ``paths[path][method]`` of an OpenAPI document loaded from ``source_url``."""
    item = follow_ref(content, content["paths"][path])
    operation = item[method]
    location = pointer.join(("paths", path, method))
    swagger = is_swagger2(content)
    body = {} if swagger else _request_body(content, operation)
    return Operation(
        source_name=source_name,
        operation_id=operation.get("operationId"),
        method=method,
        path=path,
        servers=_servers(content, item, operation, source_url, swagger),
        parameters=_parameters(content, item, operation, swagger),
        request_content_types=_content_types(content, item, operation, swagger, body),
        security=tuple(operation.get("security", content.get("security")) or ()),
        security_schemes=security_schemes(content),
        responses=dict(operation.get("responses") or {}),
        request_body_required=bool(body.get("required", False)),
        location=location,
        source_url=source_url,
        request_encodings=_swagger_encodings(content, item, operation)
        if swagger
        else _encodings(content, body),
    )


def _servers(
    content: Mapping[str, Any],
    item: Mapping[str, Any],
    operation: Mapping[str, Any],
    base: str,
    swagger: bool,
) -> tuple[str, ...]:
    if swagger:
        host = content.get("host")
        base_path = content.get("basePath") or ""
        if not host:
            return (urljoin(base, base_path or "/"),)
        schemes = content.get("schemes") or ["https"]
        return tuple(f"{scheme}://{host}{base_path}" for scheme in schemes)
    servers = operation.get("servers") or item.get("servers") or content.get("servers") or [{"url": "/"}]
    urls: list[str] = []
    for server in servers:
        url = str(server.get("url", "/"))
        for name, variable in (server.get("variables") or {}).items():
            url = url.replace("{" + name + "}", str(variable.get("default", "")))
        urls.append(urljoin(base, url))
    return tuple(urls)


def _parameter_objects(
    content: Mapping[str, Any], item: Mapping[str, Any], operation: Mapping[str, Any]
) -> list[Mapping[str, Any]]:
    """The Parameter Objects of a Path Item and of its operation, in that order, ``$ref`` followed;
    ``DocumentError`` for a ``parameters`` that is not a list, or an entry that is not a Parameter Object
    with a name."""
    found: list[Mapping[str, Any]] = []
    for owner, whose in ((item, "its Path Item's"), (operation, "its")):
        listed = owner.get("parameters")
        if listed is None:
            continue
        if not isinstance(listed, list):
            raise DocumentError("", f"{whose} parameters are not a list of Parameter Objects")
        for raw in listed:
            parameter = follow_ref(content, raw)
            if not isinstance(parameter, Mapping) or not isinstance(parameter.get("name"), str):
                raise DocumentError("", f"{whose} parameters hold an entry that is not a Parameter Object")
            found.append(parameter)
    return found


def _parameters(
    content: Mapping[str, Any], item: Mapping[str, Any], operation: Mapping[str, Any], swagger: bool
) -> tuple[OperationParameter, ...]:
    merged: dict[tuple[str, str], OperationParameter] = {}
    for parameter in _parameter_objects(content, item, operation):
        where = parameter.get("in")
        if not isinstance(where, str) or where not in _DEFAULT_STYLE:
            continue  # Swagger 2.0 body / formData: part of the request body, not a parameter
        style = parameter.get("style") or _DEFAULT_STYLE[where]
        if not isinstance(style, str):
            raise DocumentError("", f"its parameter {parameter['name']!r} has a style that is not a string")
        if swagger:
            style, explode = _swagger_style(parameter, where)
        else:
            explode = bool(parameter.get("explode", style in ("form", "cookie")))  # cookie: OAS 3.2.0
        media = parameter.get("content")
        merged[(parameter["name"], where)] = OperationParameter(
            name=parameter["name"],
            in_=where,
            style=style,
            explode=explode,
            required=bool(parameter.get("required", where == "path")) or where == "path",
            allow_reserved=bool(parameter.get("allowReserved", False)),
            schema=parameter.get("schema")
            if not swagger
            else {k: v for k, v in parameter.items() if k != "in"},
            content_type=next(iter(media), None) if isinstance(media, Mapping) else None,
            collection_format=_collection_format(parameter) if swagger else None,
        )
    return tuple(merged.values())


def _collection_format(parameter: Mapping[str, Any]) -> str | None:
    """A Swagger 2.0 parameter's ``collectionFormat``, which applies only to ``type: array`` (Swagger 2.0
    Parameter Object: "used only if type is array"); None for any other parameter."""
    fmt = parameter.get("collectionFormat")
    return fmt if isinstance(fmt, str) and parameter.get("type") == "array" else None


def _swagger_style(parameter: Mapping[str, Any], where: str) -> tuple[str, bool]:
    """Swagger 2.0 ``collectionFormat`` as an OpenAPI 3 style (OAS 3.0 §"Style Examples"). ``tsv``, and
    ``ssv`` or ``pipes`` outside a query, have no OpenAPI 3 style: the location's default stands here and
    the parameter's ``collection_format`` says how it is sent (``params.parameter_spec``)."""
    fmt = _collection_format(parameter) or "csv"
    if fmt == "multi":
        return "form", True
    if fmt == "ssv" and where == "query":
        return "spaceDelimited", False
    if fmt == "pipes" and where == "query":
        return "pipeDelimited", False
    return _DEFAULT_STYLE[where], False


def _request_body(content: Mapping[str, Any], operation: Mapping[str, Any]) -> Mapping[str, Any]:
    """The operation's Request Body Object, a ``$ref`` followed (empty when it has none); ``DocumentError``
    for one that is not an object, or whose ``content`` is not a map of Media Type Objects."""
    raw = operation.get("requestBody")
    if raw is None:
        return {}
    body = follow_ref(content, raw)
    if not isinstance(body, Mapping):
        raise DocumentError("", "its requestBody is not a Request Body Object")
    media = body.get("content")
    if media is not None and not (
        isinstance(media, Mapping) and all(isinstance(item, Mapping) for item in media.values())
    ):
        raise DocumentError("", "its requestBody's content is not a map of media types to Media Type Objects")
    return body


def _swagger_body_parameters(
    content: Mapping[str, Any], item: Mapping[str, Any], operation: Mapping[str, Any]
) -> list[Mapping[str, Any]]:
    """A Swagger 2.0 operation's ``body`` and ``formData`` parameters, the Path Item's included (an
    operation's parameter of the same name and location replaces the Path Item's)."""
    merged: dict[tuple[Any, Any], Mapping[str, Any]] = {}
    for parameter in _parameter_objects(content, item, operation):
        if parameter.get("in") in ("body", "formData"):
            merged[(parameter.get("name"), parameter.get("in"))] = parameter
    return list(merged.values())


# Swagger 2.0 ``collectionFormat`` of a formData array as the Encoding Object of an OpenAPI 3 form body
_COLLECTION_FORMATS = {
    "csv": PropertyEncoding(style="form", explode=False),
    "ssv": PropertyEncoding(style="spaceDelimited", explode=False),
    "pipes": PropertyEncoding(style="pipeDelimited", explode=False),
    "multi": PropertyEncoding(style="form", explode=True),
}


def _swagger_encodings(
    content: Mapping[str, Any], item: Mapping[str, Any], operation: Mapping[str, Any]
) -> dict[str, dict[str, PropertyEncoding]]:
    """A Swagger 2.0 form body's arrays by their ``collectionFormat`` (``csv`` when none is given; ``tsv``
    has no OpenAPI 3 style and repeats the key, as ``multi`` does), as an urlencoded body's Encoding
    Objects."""
    form_data = [p for p in _swagger_body_parameters(content, item, operation) if p.get("in") == "formData"]
    arrays = {
        str(p.get("name")): _COLLECTION_FORMATS.get(
            str(p.get("collectionFormat", "csv")), _COLLECTION_FORMATS["multi"]
        )
        for p in form_data
        if p.get("type") == "array"
    }
    files = {str(p.get("name")): PropertyEncoding(file=True) for p in form_data if p.get("type") == "file"}
    found: dict[str, dict[str, PropertyEncoding]] = {}
    if arrays:
        found["application/x-www-form-urlencoded"] = arrays
    if files:
        found["multipart/form-data"] = files
    return found


def _content_types(
    content: Mapping[str, Any],
    item: Mapping[str, Any],
    operation: Mapping[str, Any],
    swagger: bool,
    body: Mapping[str, Any],
) -> tuple[str, ...]:
    if swagger:
        parameters = _swagger_body_parameters(content, item, operation)
        if not parameters:
            return ()
        if any(p.get("in") == "formData" for p in parameters):
            consumes = (
                operation.get("consumes") or content.get("consumes") or ["application/x-www-form-urlencoded"]
            )
        else:
            consumes = operation.get("consumes") or content.get("consumes") or ["application/json"]
        return tuple(consumes)
    return tuple(body.get("content") or ())


def _encodings(content: Mapping[str, Any], body: Mapping[str, Any]) -> dict[str, dict[str, PropertyEncoding]]:
    """The ``encoding`` maps of the request body's media types, by media type (lower case, no parameters).
    An Encoding Object's ``headers`` describe part headers without giving their values, so none is kept.
    ``DocumentError`` for an ``encoding`` that is not a map of Encoding Objects."""
    found: dict[str, dict[str, PropertyEncoding]] = {}
    for media_type, media_object in (body.get("content") or {}).items():
        key = str(media_type).split(";", 1)[0].strip().lower()
        files = _file_properties(content, media_object) if key.startswith("multipart/") else {}
        if files:
            found[key] = files
        encoding = media_object.get("encoding")
        if not encoding:
            continue
        entries = (
            {name: follow_ref(content, raw) for name, raw in encoding.items()}
            if isinstance(encoding, Mapping)
            else None
        )
        if entries is None or not all(isinstance(entry, Mapping) for entry in entries.values()):
            raise DocumentError(
                "", f"the encoding of its {media_type} request body is not a map of Encoding Objects"
            )
        properties: dict[str, PropertyEncoding] = {}
        for name, entry in entries.items():
            listed = entry.get("contentType")
            first = listed.split(",", 1)[0].strip() if isinstance(listed, str) else ""
            style = entry.get("style")
            explode = entry.get("explode")
            reserved = entry.get("allowReserved")
            described = files.get(str(name))
            properties[str(name)] = PropertyEncoding(
                content_type=first or (described.content_type if described is not None else None),
                style=style if isinstance(style, str) else None,
                explode=explode if isinstance(explode, bool) else None,
                allow_reserved=reserved if isinstance(reserved, bool) else None,
                file=described is not None,
            )
        found[key] = {**files, **properties}
    return found


def file_schema(schema: Any) -> str | None:
    """Whether a schema describes a file's content, and the media type it names: OAS 3.0's ``type: string``
    with ``format: binary`` (``application/octet-stream``, OAS 3.0.3 §4.7.15 "Encoding Object"), or OAS 3.1's
    ``contentMediaType`` without a ``contentEncoding`` (its value; OAS 3.1.1 §4.8.14.3 "Working With
    Binary Data"); None for any other schema. ``format: byte`` and a ``contentEncoding`` describe text, and
    so does a ``contentMediaType`` of text (``text/*``), of JSON (``application/json``, ``*/*+json``; a
    JSON string such as pydantic's ``Json`` fields describe) or with a ``contentSchema``: the content of a
    string field, not a file."""
    if not isinstance(schema, Mapping) or "contentEncoding" in schema or "contentSchema" in schema:
        return None
    media = schema.get("contentMediaType")
    if isinstance(media, str) and media.strip():
        kind = media.split(";", 1)[0].strip().lower()
        if kind.startswith("text/") or kind == "application/json" or kind.endswith("+json"):
            return None
        return media.strip()
    if schema.get("format") == "binary" and schema.get("type", "string") in ("string", ["string"]):
        return "application/octet-stream"
    return None


def _file_properties(
    content: Mapping[str, Any], media_object: Mapping[str, Any]
) -> dict[str, PropertyEncoding]:
    """The properties of a multipart body's schema (its own and its ``allOf`` members', ``$ref`` followed)
    that describe a file, or an array of files, as Encoding Objects naming the file's media type. A schema
    this cannot follow (a reference outside the document, a cycle) describes no file here; reading the
    operation does not fail on it."""
    files: dict[str, PropertyEncoding] = {}
    pending = [media_object.get("schema")]
    seen: set[int] = set()
    while pending:
        schema = _followed(content, pending.pop())
        if not isinstance(schema, Mapping) or id(schema) in seen:
            continue
        seen.add(id(schema))
        members = schema.get("allOf")
        if isinstance(members, list):
            pending.extend(members)
        properties = schema.get("properties")
        for name, raw in properties.items() if isinstance(properties, Mapping) else ():
            prop = _followed(content, raw)
            if isinstance(prop, Mapping) and prop.get("type") in ("array", ["array"]):
                prop = _followed(content, prop.get("items"))
            media = file_schema(prop)
            if media is not None:
                files[str(name)] = PropertyEncoding(content_type=media, file=True)
    return files


def _followed(content: Mapping[str, Any], node: Any) -> Any:
    """``node`` with its ``$ref`` followed; None for a reference this cannot follow."""
    try:
        return follow_ref(content, node)
    except DocumentError:
        return None
