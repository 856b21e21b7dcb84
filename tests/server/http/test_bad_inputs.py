"""Bad requests to every route over real HTTP: each gets a 4xx Stytch error body and changes no data.

Cases come from ``data/bad_inputs.yaml``; see its header for the placeholders and sections. Header-level
garbage (``header_garbage``) goes over a raw socket (``rawhttp``) to every route the app serves (``served``).
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from rawhttp import RawResponse, exchange, request_bytes
from served import ServedRoute, every_route
from serverkit import Backend, basic, create_project, enroll, loopback_client

DATA = yaml.safe_load((Path(__file__).parent / "data" / "bad_inputs.yaml").read_text(encoding="utf-8"))
ONE_MIB = 1024 * 1024
ERROR_KEYS = {"status_code", "request_id", "error_type", "error_message", "error_url"}


@dataclass(frozen=True)
class Enrolled:
    """A user of the test project with a verified TOTP and a live session, plus a second project."""

    values: dict[str, str]
    other_project: tuple[str, str]

    def fill(self, value: Any) -> Any:
        if isinstance(value, str):
            value = re.sub(r"\{repeat:(\d+):(.)\}", lambda m: m.group(2) * int(m.group(1)), value)
            text = re.sub(r"\{b64:((?:[^{}]|\{[a-z_]+\})*)\}", lambda m: b64(self.fill(m.group(1))), value)
            return re.sub(r"\{([a-z_]+)\}", lambda m: self.values.get(m.group(1), m.group(0)), text)
        if isinstance(value, dict):
            return {k: self.fill(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.fill(v) for v in value]
        return value


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@pytest.fixture(scope="module")
def enrolled(backend: Backend) -> Iterator[Enrolled]:
    values = {
        **enroll(backend, "bad-inputs@example.com"),
        "secret": backend.server.secret,
        "four_kib": "x" * 4096,  # a claim value that alone exceeds the 4,096-byte custom-claims limit
    }
    yield Enrolled(values=values, other_project=create_project(backend))


@pytest.fixture(scope="module")
def api(backend: Backend) -> Iterator[httpx.Client]:
    """A client with the test project's credentials, kept for the module."""
    server = backend.server
    auth = {"Authorization": basic(server.project_id, server.secret)}
    with loopback_client(server.base_url, headers=auth, timeout=30) as client:
        yield client


def snapshot(client: httpx.Client, enrolled: Enrolled) -> dict[str, Any]:
    """What a bad request must not change: the user, its TOTPs and its sessions."""
    user_id = enrolled.values["user_id"]
    user = client.get(f"/v1/users/{user_id}").json()
    sessions = client.get("/v1/sessions", params={"user_id": user_id}).json()
    count = client.post("/v1/users/search", json={}).json()["results_metadata"]["total"]
    user.pop("request_id")
    return {
        "user": user,
        "sessions": sorted(s["session_id"] for s in sessions["sessions"]),
        "users": count,
    }


def assert_error(response: httpx.Response, case: dict[str, Any]) -> None:
    assert response.status_code == case["status"], response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert ERROR_KEYS <= set(body), body
    assert body["status_code"] == case["status"]
    assert body["request_id"].startswith("request-id-test-")
    if "error_type" in case:
        assert body["error_type"] == case["error_type"], body
    if "message_contains" in case:
        assert case["message_contains"] in body["error_message"], body


def send(
    server_url: str,
    method: str,
    path: str,
    *,
    authorization: str | None,
    content: bytes | Iterator[bytes] | None = None,
) -> httpx.Response:
    headers = {"Content-Type": "application/json"}
    if authorization is not None:
        headers["Authorization"] = authorization
    with loopback_client(server_url, timeout=60) as client:
        return client.request(method, path, headers=headers, content=content)


def cases() -> Iterator[Any]:
    for name, route in DATA["routes"].items():
        takes_body = route["method"] in ("POST", "PUT")
        for case in route["body"]:
            yield pytest.param(route, case, "body", id=f"{name}-{case['id']}")
        for case in route.get("requests", []):
            yield pytest.param(route, case, "request", id=f"{name}-{case['id']}")
        if takes_body:
            for case in DATA["common_body"]:
                yield pytest.param(route, case, "body", id=f"{name}-{case['id']}")
        if route.get("authenticated", True):
            for case in DATA["auth"]:
                yield pytest.param(route, case, "auth", id=f"{name}-auth-{case['id']}")
            if route.get("other_project"):
                yield pytest.param(route, route["other_project"], "other_project", id=f"{name}-other-project")
    for case in DATA["other"]:
        yield pytest.param(case, case, "other", id=f"route-{case['id']}")


def body_bytes(case: dict[str, Any], enrolled: Enrolled) -> bytes | Iterator[bytes]:
    if case.get("oversize"):
        payload = b'{"user_id": "' + b"a" * (ONE_MIB + 16) + b'"}'
        if case.get("chunked"):  # no Content-Length: the server must count what arrives
            return iter([payload[i : i + 65536] for i in range(0, len(payload), 65536)])
        return payload
    if "nested" in case:  # within the size limit, deeper than any parser's stack
        depth = case["nested"]
        return b'{"user_id": "u", "a": ' + b"[" * depth + b"]" * depth + b"}"
    if "raw_hex" in case:
        return bytes.fromhex(case["raw_hex"])
    if "raw" in case:
        return str(case["raw"]).encode()
    return as_json(enrolled.fill(case["body"]))


def as_json(value: Any) -> bytes:
    return json.dumps(value).encode()


@pytest.fixture(scope="module")
def baseline(api: httpx.Client, enrolled: Enrolled) -> dict[str, Any]:
    """The data as enrolled; no bad request may change it, so every case compares against this."""
    return snapshot(api, enrolled)


@pytest.mark.parametrize(("route", "case", "kind"), list(cases()))
def test_bad_input(
    backend: Backend,
    api: httpx.Client,
    enrolled: Enrolled,
    baseline: dict[str, Any],
    route: dict[str, Any],
    case: dict[str, Any],
    kind: str,
) -> None:
    server = backend.server
    own = basic(server.project_id, server.secret)
    path = enrolled.fill(case.get("path", route["path"]))
    valid = as_json(enrolled.fill(route["valid"])) if "valid" in route else None
    if kind == "body":
        response = send(
            server.base_url, route["method"], path, authorization=own, content=body_bytes(case, enrolled)
        )
    elif kind == "request":
        response = send(server.base_url, route["method"], path, authorization=own)
    elif kind == "auth":
        authorization = None if case["authorization"] is None else enrolled.fill(case["authorization"])
        content = str(case["raw"]).encode() if "raw" in case else valid  # credentials are checked first
        response = send(server.base_url, route["method"], path, authorization=authorization, content=content)
    elif kind == "other_project":
        response = send(
            server.base_url,
            route["method"],
            path,
            authorization=basic(*enrolled.other_project),
            content=valid,
        )
        if case.get("no_results"):
            assert response.status_code == 200
            assert response.json()["results"] == []
    else:
        response = send(server.base_url, case["method"], path, authorization=own, content=b"{}")
    if case["status"] >= 400:
        assert_error(response, case)
    assert snapshot(api, enrolled) == baseline


# --- header-level garbage, on every served route ------------------------------------------------------------


ROUTES_SERVED = every_route()


def garbage_fill(text: str, values: dict[str, str]) -> bytes:
    """A header text of ``header_garbage`` as wire bytes (Latin-1), its placeholders filled."""
    text = re.sub(r"\{repeat:(\d+):(.)\}", lambda m: m.group(2) * int(m.group(1)), text)
    text = re.sub(r"\{b64:((?:[^{}]|\{[a-z_]+\})*)\}", lambda m: b64(garbage_text(m.group(1), values)), text)
    return garbage_text(text, values).encode("latin-1")


def garbage_text(text: str, values: dict[str, str]) -> str:
    return re.sub(r"\{([a-z_]+)\}", lambda m: values.get(m.group(1), m.group(0)), text)


def garbage_request(route: ServedRoute, case: dict[str, Any], values: dict[str, str]) -> bytes:
    body = b"{}" if route.takes_body else b""
    values = {**values, "length": str(len(body))}
    fields: dict[str, str] = {
        "host": "Host: 127.0.0.1",
        "content-type": "Content-Type: application/json",
        "content-length": f"Content-Length: {len(body)}",
        "connection": "Connection: close",
    }
    for name, value in case.get("replace", {}).items():
        fields[name] = f"{name.title()}: {value}"
    lines = [garbage_fill(line, values) for line in fields.values()]
    for value in case.get("authorization", ["{basic}"]):
        lines.append(b"Authorization: " + garbage_fill(value, values))
    lines += [garbage_fill(line, values) for line in case.get("headers", [])]
    lines += [b"X-Pad-%d: %d" % (i, i) for i in range(case.get("pad_to_fields", 0) - len(lines))]
    return request_bytes(route.method, route.target, lines, body)


def answer(response: RawResponse) -> tuple[int, str | None]:
    """Status and error type; every 4xx and 5xx must carry the Stytch error body."""
    if response.status < 400:
        return response.status, None
    assert (response.header("content-type") or "").startswith("application/json"), response
    body = response.json()
    assert ERROR_KEYS <= set(body), body
    assert body["status_code"] == response.status
    assert body["request_id"].startswith("request-id-test-")
    return response.status, body["error_type"]


@pytest.fixture(scope="module")
def route_answers(backend: Backend, enrolled: Enrolled) -> dict[str, tuple[tuple[int, str | None], bool]]:
    """Per route: its answer to the plain request, and whether it needs credentials (401 without them)."""
    values = {**enrolled.values, "basic": basic(backend.server.project_id, backend.server.secret)}
    found = {}
    for route in ROUTES_SERVED:
        plain = answer(exchange(backend.server.base_url, garbage_request(route, {}, values)))
        anonymous = answer(
            exchange(backend.server.base_url, garbage_request(route, {"authorization": []}, values))
        )
        found[route.label] = (plain, anonymous == (401, "unauthorized_credentials"))
    return found


def garbage_cases() -> Iterator[Any]:
    for route in ROUTES_SERVED:
        for case in DATA["header_garbage"]:
            yield pytest.param(route, case, id=f"{route.label}-{case['id']}")


@pytest.mark.parametrize(("route", "case"), list(garbage_cases()))
def test_header_garbage(
    backend: Backend,
    api: httpx.Client,
    enrolled: Enrolled,
    baseline: dict[str, Any],
    route_answers: dict[str, tuple[tuple[int, str | None], bool]],
    route: ServedRoute,
    case: dict[str, Any],
) -> None:
    values = {**enrolled.values, "basic": basic(backend.server.project_id, backend.server.secret)}
    response = exchange(backend.server.base_url, garbage_request(route, case, values))
    got = answer(response)
    assert got[0] < 500, response
    plain, needs_credentials = route_answers[route.label]
    applies = "status" in case and (
        needs_credentials or "authorization" not in case or case.get("everywhere")
    )
    if applies:
        assert got == (case["status"], case["error_type"]), response
        if "message_contains" in case:
            assert case["message_contains"] in response.json()["error_message"], response
    else:
        assert got == plain, response
    assert snapshot(api, enrolled) == baseline
