"""Hostile values in every field of every route, over real HTTP, on both backends.

The fields come from the served OpenAPI document (``totpflow.server.openapi.build_document``, the document
``/openapi.json`` serves), the values from ``data/hostile_inputs.yaml`` (see its header for the contract), the
request around each field from the route's ``valid`` request in ``tests/server/http/data/bad_inputs.yaml``.
The same values also go into header fields (``header_slots``: inside the Basic credentials, raw after
``Basic``, raw in other fields) of a request to every route the app serves, over a raw socket.
SQL text must be data, never SQL (OWASP ASVS 5.0 §1.2.4: parameterised queries); CR/LF must never become a
response header (§1.2.1); numbers beyond int64, deep nesting and invalid UTF-8 must be refused as a 400, not a
500 (stytch-api.md §5); unknown fields are ignored (the answer equals the one without them); and no refused
request changes stored data.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import yaml
from figures import record
from rawhttp import RawResponse, exchange, request_bytes
from served import ServedRoute, every_route
from serverkit import Backend, basic, enroll, loopback_client

from totpflow.server.openapi import build_document

HERE = Path(__file__).parent
HOSTILE = yaml.safe_load((HERE / "data" / "hostile_inputs.yaml").read_text(encoding="utf-8"))
ROUTES = yaml.safe_load(
    (HERE.parent / "server" / "http" / "data" / "bad_inputs.yaml").read_text(encoding="utf-8")
)["routes"]
DOCUMENT = build_document()
SCHEMAS = DOCUMENT["components"]["schemas"]
ERROR_KEYS = {"status_code", "request_id", "error_type", "error_message", "error_url"}
MARK = "\u0001HOSTILE\u0001"
MARK_JSON = json.dumps(MARK).encode()
TALLY: dict[str, int] = {}
# create_user and update_user fields the user object returns (attributes are kept for sessions, not echoed).
ECHOING_ROUTES = {"create_user", "update_user"}
ECHOED = {"email", "phone_number", "name", "trusted_metadata", "untrusted_metadata", "external_id", "roles"}

Path_ = tuple[str | int, ...]


@dataclass(frozen=True)
class Field:
    route: str
    location: str  # body | path | query
    path: Path_  # inside the body; (name,) for a path or query parameter
    kind: str  # string | integer | object | array

    @property
    def label(self) -> str:
        return f"{self.route}.{self.location}:{'.'.join(map(str, self.path))}"


def resolve(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema without ``$ref`` and without the ``null`` branch of an optional field."""
    if "$ref" in schema:
        return resolve(SCHEMAS[schema["$ref"].rsplit("/", 1)[1]])
    if "anyOf" in schema:
        branches = [b for b in schema["anyOf"] if b.get("type") != "null"]
        if len(branches) == 1:
            return resolve(branches[0])
    return schema


def walk(route: str, schema: dict[str, Any], path: Path_) -> Iterator[Field]:
    schema = resolve(schema)
    kind = schema.get("type")
    if kind == "object" and "properties" in schema:
        for name, sub in schema["properties"].items():
            yield from walk(route, sub, (*path, name))
        return
    if kind == "array":
        yield Field(route, "body", path, "array")
        if resolve(schema.get("items", {})).get("type") == "string":
            yield Field(route, "body", (*path, 0), "string")
        return
    if kind in ("string", "integer", "object"):
        yield Field(route, "body", path, kind)


def operation(route: dict[str, Any]) -> dict[str, Any]:
    path = route["path"].split("?", 1)[0]
    op: dict[str, Any] = DOCUMENT["paths"][path][route["method"].lower()]
    return op


def fields() -> Iterator[Field]:
    for name, route in ROUTES.items():
        op = operation(route)
        for parameter in op.get("parameters", []):
            yield Field(name, parameter["in"], (parameter["name"],), "string")
        body = op.get("requestBody")
        if body:
            yield from walk(name, body["content"]["application/json"]["schema"], ())


def cases() -> Iterator[Any]:
    for field in fields():
        if field.kind == "string":
            for value in HOSTILE["strings"]:
                if "repeat" in value and field.location != "body":
                    continue  # a 1 MiB URL is refused by the HTTP parser before the application
                yield pytest.param(field, "string", value, id=f"{field.label}-{value['id']}")
            if field.location == "body":
                for value in HOSTILE["invalid_utf8"]:
                    yield pytest.param(field, "utf8", value, id=f"{field.label}-{value['id']}")
        elif field.kind == "integer":
            for value in HOSTILE["numbers"]:
                yield pytest.param(field, "number", value, id=f"{field.label}-{value['id']}")
        if field.kind in ("object", "array"):
            for value in HOSTILE["nesting"]:
                yield pytest.param(field, "nesting", value, id=f"{field.label}-{value['id']}")
        key = f"{field.route}.{'.'.join(map(str, field.path))}"
        if field.kind == "object" and key in HOSTILE["object_templates"]:
            for value in HOSTILE["strings"]:
                yield pytest.param(field, "template", value, id=f"{field.label}-{value['id']}")


def known_bug(backend: str, field: Field, kind: str, value: dict[str, Any]) -> str | None:
    """The description of a server bug this suite found that the case hits (``known_bugs`` in the data)."""
    for bug in HOSTILE["known_bugs"]:
        if "backend" in bug and bug["backend"] != backend:
            continue
        if "kinds" in bug and kind not in bug["kinds"]:
            continue
        if "values" in bug and value["id"] not in bug["values"]:
            continue
        if "fields" in bug and field.label not in bug["fields"]:
            continue
        return str(bug["reason"])
    return None


def unknown_cases() -> Iterator[Any]:
    for name, route in ROUTES.items():
        # revoke_session's valid request revokes the enrolled session: it cannot be sent twice.
        if route["method"] != "POST" or name == "revoke_session":
            continue
        for value in HOSTILE["unknown_fields"]:
            yield pytest.param(name, value, id=f"{name}-{value['id']}")


@pytest.fixture(scope="module")
def enrolled(backend: Backend) -> Iterator[dict[str, str]]:
    yield enroll(backend, f"hostile-{backend.name}@example.com")
    record("hostile_inputs", backend=backend.name, **dict(sorted(TALLY.items())))
    TALLY.clear()


def auth(backend: Backend) -> dict[str, str]:
    return {"Authorization": basic(backend.server.project_id, backend.server.secret)}


def fill(value: Any, values: dict[str, str]) -> Any:
    if isinstance(value, str):
        for key, text in values.items():
            value = value.replace("{" + key + "}", text)
        return value
    if isinstance(value, dict):
        return {k: fill(v, values) for k, v in value.items()}
    if isinstance(value, list):
        return [fill(v, values) for v in value]
    return value


def place(body: Any, path: Path_, value: Any) -> Any:
    """``body`` with ``value`` at ``path`` (intermediate objects and one-element lists created)."""
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(head, int):
        return [place(None, rest, value)]
    out = dict(body) if isinstance(body, dict) else {}
    out[head] = place(out.get(head), rest, value)
    return out


def hostile_json(kind: str, value: dict[str, Any]) -> bytes:
    """The JSON text (bytes) of a hostile value."""
    if kind in ("string", "template"):
        if "raw_json" in value:
            return str(value["raw_json"]).encode()
        if "repeat" in value:
            return json.dumps(value["repeat"]["char"] * value["repeat"]["count"]).encode()
        return json.dumps(value["value"]).encode()
    if kind == "number":
        return str(value["literal"]).encode()
    if kind == "utf8":
        return b'"a' + bytes.fromhex(value["hex"]) + b'b"'
    depth = int(value["depth"])
    return b'{"a":' * depth + b"1" + b"}" * depth


def hostile_text(value: dict[str, Any]) -> str | None:
    """The string a hostile string value decodes to (None when it has none)."""
    if "value" in value:
        return str(value["value"])
    if "repeat" in value:
        return str(value["repeat"]["char"] * value["repeat"]["count"])
    return None


def request_for(
    field: Field, kind: str, value: dict[str, Any], values: dict[str, str]
) -> tuple[str, bytes | None]:
    route = ROUTES[field.route]
    path = fill(route["path"], values)
    if field.location in ("path", "query"):
        text = hostile_text(value) or "\ud800".encode("utf-8", "surrogatepass").decode("latin-1")
        encoded = quote(text, safe="")
        name = field.path[0]
        if field.location == "path":
            template = route["path"].split("?", 1)[0]
            path = fill(template.replace("{" + str(name) + "}", encoded), values)
        else:
            path = path.split("?", 1)[0] + f"?{name}={encoded}"
        return path, (b"{}" if route["method"] == "POST" else None)
    base = fill(HOSTILE["base_overrides"].get(field.route, route.get("valid", {})), values)
    if kind == "template":
        key = f"{field.route}.{'.'.join(map(str, field.path))}"
        slot = place(base, field.path, fill(HOSTILE["object_templates"][key], {"value": MARK}))
        body = json.dumps(slot).encode()
    else:
        body = json.dumps(place(base, field.path, MARK)).encode()
    assert body.count(MARK_JSON) == 1
    return path, body.replace(MARK_JSON, hostile_json(kind, value))


@pytest.fixture(scope="module")
def api(backend: Backend) -> Iterator[httpx.Client]:
    """A client with the test project's credentials, kept for the module."""
    with loopback_client(backend.server.base_url, headers=auth(backend), timeout=60) as client:
        yield client


def snapshot(client: httpx.Client, values: dict[str, str]) -> dict[str, Any]:
    user = client.get(f"/v1/users/{values['user_id']}").json()
    sessions = client.get("/v1/sessions", params={"user_id": values["user_id"]}).json()
    total = client.post("/v1/users/search", json={}).json()["results_metadata"]["total"]
    user.pop("request_id")
    for session in sessions["sessions"]:
        session.pop("last_accessed_at", None)  # authenticate_session (a free-text route) touches it
        session.pop("expires_at", None)
        session.pop("custom_claims", None)  # … and stores the claims it is given (checked verbatim there)
    return {"user": user, "sessions": sessions["sessions"], "users": total}


@pytest.fixture(scope="module")
def baseline(api: httpx.Client, enrolled: dict[str, str]) -> dict[str, Any]:
    return snapshot(api, enrolled)


def send(backend: Backend, method: str, path: str, body: bytes | None, authenticated: bool) -> httpx.Response:
    headers = {"Content-Type": "application/json", **(auth(backend) if authenticated else {})}
    with loopback_client(backend.server.base_url, timeout=60) as client:
        return client.request(method, path, headers=headers, content=body)


def check_answer(response: httpx.Response) -> None:
    TALLY["requests"] = TALLY.get("requests", 0) + 1
    TALLY[f"{response.status_code // 100}xx"] = TALLY.get(f"{response.status_code // 100}xx", 0) + 1
    assert response.status_code < 500, response.text[:2000]
    assert "x-injected" not in response.headers
    assert "set-cookie" not in response.headers
    if response.status_code >= 400:
        assert response.headers["content-type"].startswith("application/json")
        body = response.json()
        assert ERROR_KEYS <= set(body), body
        assert body["status_code"] == response.status_code


def strings(value: Any) -> Iterator[str]:
    """Every string in a decoded JSON value."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)


def delete_created(backend: Backend, response: httpx.Response) -> None:
    user_id = response.json()["user_id"]
    with loopback_client(backend.server.base_url, headers=auth(backend), timeout=60) as client:
        assert client.delete(f"/v1/users/{user_id}").status_code == 200


@contextmanager
def target(backend: Backend, field: Field, enrolled: dict[str, str]) -> Iterator[dict[str, str]]:
    """The ids a case's request is filled with: the enrolled user's, or, for a route that changes the user it
    names (``own_user_routes``), those of a user created for the case and deleted after it."""
    if field.route not in HOSTILE["own_user_routes"]:
        yield enrolled
        return
    with loopback_client(backend.server.base_url, headers=auth(backend), timeout=60) as client:
        created = client.post("/v1/users", json={"email": f"target-{uuid.uuid4().hex[:12]}@example.com"})
        assert created.status_code == 200, created.text
        user_id = created.json()["user_id"]
        try:
            yield {**enrolled, "user_id": user_id}
        finally:
            assert client.delete(f"/v1/users/{user_id}").status_code == 200


@pytest.mark.parametrize(("field", "kind", "value"), list(cases()))
def test_hostile_value(
    request: pytest.FixtureRequest,
    backend: Backend,
    api: httpx.Client,
    enrolled: dict[str, str],
    baseline: dict[str, Any],
    field: Field,
    kind: str,
    value: dict[str, Any],
) -> None:
    bug = known_bug(backend.name, field, kind, value)
    if bug:  # strict: when the server is fixed the case passes, the xfail fails, and the entry must go
        request.applymarker(pytest.mark.xfail(strict=True, reason=bug))
    route = ROUTES[field.route]
    with target(backend, field, enrolled) as ids:
        path, body = request_for(field, kind, value, ids)
        response = send(backend, route["method"], path, body, route.get("authenticated", True))
        check_answer(response)
        if response.status_code == 200:
            try:
                assert field.route in HOSTILE["free_text_routes"], response.text[:2000]
                text = hostile_text(value)
                if text is not None and field.route in ECHOING_ROUTES and field.path[0] in ECHOED:
                    assert any(text == t for t in strings(response.json()["user"])), "not stored verbatim"
            finally:
                if field.route == "create_user":
                    delete_created(backend, response)
    assert snapshot(api, enrolled) == baseline


@pytest.mark.parametrize(("route_name", "value"), list(unknown_cases()))
def test_unknown_fields_are_ignored(
    backend: Backend,
    api: httpx.Client,
    enrolled: dict[str, str],
    baseline: dict[str, Any],
    route_name: str,
    value: dict[str, Any],
) -> None:
    route = ROUTES[route_name]
    valid = fill(HOSTILE["base_overrides"].get(route_name, route["valid"]), enrolled)
    answers = []
    extras: list[dict[str, Any]] = [{}, value["fields"]]
    for extra in extras:
        if route_name == "create_user":
            valid = {**valid, "email": f"unknown-{uuid.uuid4().hex[:12]}@example.com"}
        response = send(backend, "POST", route["path"], json.dumps({**valid, **extra}).encode(), True)
        check_answer(response)
        answers.append((response.status_code, response.json().get("error_type")))
        if route_name == "create_user" and response.status_code == 200:
            assert "admin" not in response.text
            delete_created(backend, response)
    assert answers[0] == answers[1], answers
    assert snapshot(api, enrolled) == baseline


# --- hostile values in header fields, on every served route ------------------------------------------------

ROUTES_SERVED = every_route()
SURROGATE = "\ud800".encode("utf-8", "surrogatepass")


def header_value(kind: str, value: dict[str, Any]) -> bytes:
    """The bytes of a hostile value in a header (see ``header_slots`` in the data)."""
    if kind == "utf8":
        return bytes.fromhex(value["hex"])
    if "repeat" in value:
        return str(
            value["repeat"]["char"] * min(value["repeat"]["count"], HOSTILE["header_repeat_cap"])
        ).encode()
    if "raw_json" in value:
        return SURROGATE
    return str(value["value"]).encode()


def header_request(
    backend: Backend, route: ServedRoute, slot: dict[str, Any] | None, hostile: bytes
) -> bytes:
    """The route's request with ``hostile`` in ``slot`` (None: the plain request)."""
    server = backend.server
    body = b"{}" if route.takes_body else b""
    fields = {
        "host": b"Host: 127.0.0.1",
        "content-type": b"Content-Type: application/json",
        "content-length": b"Content-Length: %d" % len(body),
        "connection": b"Connection: close",
        "authorization": b"Authorization: " + basic(server.project_id, server.secret).encode(),
    }
    extra: list[bytes] = []
    if slot is not None and slot["kind"] == "in_credentials":
        parts = {"project_id": server.project_id.encode(), "secret": server.secret.encode()}
        parts[slot["part"]] = hostile
        fields["authorization"] = b"Authorization: Basic " + base64.b64encode(
            parts["project_id"] + b":" + parts["secret"]
        )
    elif slot is not None and slot["kind"] == "raw_credentials":
        fields["authorization"] = b"Authorization: Basic " + hostile
    elif slot is not None:
        line = slot["name"].encode() + b": " + hostile
        if "replaces" in slot:
            fields[slot["replaces"]] = line
        else:
            extra.append(line)
    return request_bytes(route.method, route.target, [*fields.values(), *extra], body)


def raw_answer(response: RawResponse) -> tuple[int, str | None]:
    TALLY["header_requests"] = TALLY.get("header_requests", 0) + 1
    TALLY[f"header_{response.status // 100}xx"] = TALLY.get(f"header_{response.status // 100}xx", 0) + 1
    assert response.status < 500, response
    assert response.header("x-injected") is None and response.header("set-cookie") is None, response
    if response.status < 400:
        return response.status, None
    assert (response.header("content-type") or "").startswith("application/json"), response
    body = response.json()
    assert ERROR_KEYS <= set(body), body
    assert body["status_code"] == response.status
    return response.status, str(body["error_type"])


@pytest.fixture(scope="module")
def plain_answers(
    backend: Backend, enrolled: dict[str, str]
) -> dict[str, tuple[tuple[int, str | None], bool]]:
    """Per route: its answer to the plain request, and whether it needs credentials (401 without them)."""
    found = {}
    for route in ROUTES_SERVED:
        plain = raw_answer(exchange(backend.server.base_url, header_request(backend, route, None, b"")))
        no_credentials = header_request(backend, route, None, b"").replace(
            b"Authorization: " + basic(backend.server.project_id, backend.server.secret).encode() + b"\r\n",
            b"",
        )
        anonymous = raw_answer(exchange(backend.server.base_url, no_credentials))
        found[route.label] = (plain, anonymous == (401, "unauthorized_credentials"))
    return found


def header_cases() -> Iterator[Any]:
    for route in ROUTES_SERVED:
        for slot in HOSTILE["header_slots"]:
            for value in HOSTILE["strings"]:
                yield pytest.param(
                    route, slot, "string", value, id=f"{route.label}-{slot['id']}-{value['id']}"
                )
            for value in HOSTILE["invalid_utf8"]:
                yield pytest.param(route, slot, "utf8", value, id=f"{route.label}-{slot['id']}-{value['id']}")


PARSER_REFUSED = (400, "bad_request")
HEAD_TOO_LARGE = (431, "request_header_fields_too_large")


@pytest.mark.parametrize(("route", "slot", "kind", "value"), list(header_cases()))
def test_hostile_header(
    backend: Backend,
    api: httpx.Client,
    enrolled: dict[str, str],
    baseline: dict[str, Any],
    plain_answers: dict[str, tuple[tuple[int, str | None], bool]],
    route: ServedRoute,
    slot: dict[str, Any],
    kind: str,
    value: dict[str, Any],
) -> None:
    hostile = header_value(kind, value)
    got = raw_answer(exchange(backend.server.base_url, header_request(backend, route, slot, hostile)))
    plain, needs_credentials = plain_answers[route.label]
    if needs_credentials and slot["kind"] != "raw":
        assert got[0] in (400, 401, 431), got
    else:
        assert got in (plain, PARSER_REFUSED, HEAD_TOO_LARGE), got
    assert snapshot(api, enrolled) == baseline
