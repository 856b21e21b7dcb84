"""What params, body and security produce, sent over real HTTP on loopback and decoded by a standard server:
the receiving side must recover exactly the values the workflow meant."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import httpx
import loopback
import pytest

from totpflow.arazzo.api import load
from totpflow.arazzo.body import encode_body
from totpflow.arazzo.params import cookie_header, expand_path, query_string, serialize_parameters
from totpflow.arazzo.security import apply_security, load_credentials


def _text(content: Any) -> str:
    """A part's decoded content as text: a non-text part (JSON) comes as bytes, read as UTF-8."""
    return content.decode("utf-8") if isinstance(content, bytes) else str(content)


class Echo(BaseHTTPRequestHandler):
    """Decodes the request the way a typical server framework would and answers with what it understood."""

    disable_nagle_algorithm = True

    def do_POST(self) -> None:
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length", "0"))
        raw = self.rfile.read(length)
        auth = self.headers.get("Authorization", "")
        decoded: dict[str, Any] = {
            "segments": [unquote(segment) for segment in url.path.split("/")[1:]],
            "query": parse_qsl(url.query, keep_blank_values=True),
            "cookie": self.headers.get("Cookie"),
            "trace": self.headers.get("X-Trace"),
            "basic": base64.b64decode(auth.removeprefix("Basic ")).decode()
            if auth.startswith("Basic ")
            else None,
        }
        content_type = self.headers.get("Content-Type", "")
        if content_type.startswith("multipart/form-data"):
            message = BytesParser(policy=HTTP).parsebytes(
                f"Content-Type: {content_type}\r\n\r\n".encode() + raw
            )
            decoded["parts"] = {
                str(part.get_param("name", header="content-disposition")): _text(part.get_content())
                for part in message.iter_parts()
            }
        elif content_type == "application/x-www-form-urlencoded":
            decoded["form"] = parse_qsl(raw.decode(), keep_blank_values=True)
        body = json.dumps(decoded).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
        return


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with loopback.serve(Echo) as url:
        yield url


def _send(base: str, *, body: Any, content_type: str) -> dict[str, Any]:
    parts = serialize_parameters(
        [
            (None, "userId", "path", "user/1 ü"),
            (None, "tags", "query", ["a&b", "c d", "e=f"]),
            (None, "q", "query", "100% sure?"),
            (None, "X-Trace", "header", "t-1"),
            (None, "theme", "cookie", "dark mode"),
        ]
    )
    credentials = load_credentials(["api=project-test-1:p@ss:word"], {})
    parts.extend(
        apply_security([{"basicAuth": []}], {"basicAuth": {"type": "http", "scheme": "basic"}}, credentials)
    )
    content, sent_type = encode_body(content_type, body)
    headers = [*parts.headers, ("Cookie", cookie_header(parts.cookies))]
    if sent_type:
        headers.append(("Content-Type", sent_type))
    url = f"{base}{expand_path('/users/{userId}/items', parts.path_params)}?{query_string(parts.query)}"
    with httpx.Client() as client:
        response = client.post(url, headers=headers, content=content)
    response.raise_for_status()
    decoded: dict[str, Any] = response.json()
    return decoded


def test_parameters_and_credentials_arrive_intact(server: str) -> None:
    got = _send(server, body={"name": "Rex", "n": 2}, content_type="multipart/form-data")
    assert got["segments"] == ["users", "user/1 ü", "items"]
    assert got["query"] == [["tags", "a&b"], ["tags", "c d"], ["tags", "e=f"], ["q", "100% sure?"]]
    assert got["trace"] == "t-1"
    assert got["cookie"] == "theme=dark%20mode"
    assert got["basic"] == "project-test-1:p@ss:word"
    assert got["parts"] == {"name": "Rex", "n": "2"}


def test_a_form_body_arrives_intact(server: str) -> None:
    got = _send(
        server, body={"a": "x y&z", "list": ["1", "2"]}, content_type="application/x-www-form-urlencoded"
    )
    assert got["form"] == [["a", "x y&z"], ["list", "1"], ["list", "2"]]


_ENCODED_API = """
openapi: 3.1.0
info: {title: encodings, version: "1"}
servers: [{url: "BASE"}]
paths:
  /form:
    post:
      operationId: postForm
      requestBody:
        content:
          application/x-www-form-urlencoded:
            encoding:
              filter: {style: deepObject, explode: true}
              ids: {explode: false}
      responses: {"200": {description: ok}}
  /upload:
    post:
      operationId: upload
      requestBody:
        $ref: "#/components/requestBodies/upload"
      responses: {"200": {description: ok}}
components:
  requestBodies:
    upload:
      content:
        multipart/form-data:
          encoding:
            note: {contentType: "text/plain; charset=iso-8859-1"}
            tags: {contentType: application/json}
"""

_ENCODED_WORKFLOW = """
arazzo: 1.0.1
info: {title: encodings, version: "1"}
sourceDescriptions: [{name: api, url: ./api.yaml, type: openapi}]
workflows:
  - workflowId: send
    steps:
      - stepId: form
        operationId: postForm
        requestBody:
          payload: {filter: {status: active, age: 3}, ids: [1, 2], q: x y}
        successCriteria: [{condition: $statusCode == 200}]
        outputs: {form: $response.body#/form}
      - stepId: upload
        operationId: upload
        requestBody:
          payload: {note: "café", tags: [a, b]}
        successCriteria: [{condition: $statusCode == 200}]
        outputs: {parts: $response.body#/parts}
      - stepId: named
        operationId: upload
        parameters: [{name: Content-Type, in: header, value: multipart/form-data}]
        requestBody:
          payload: {a: "1"}
        successCriteria: [{condition: $statusCode == 200}]
        outputs: {parts: $response.body#/parts}
    outputs:
      form: $steps.form.outputs.form
      parts: $steps.upload.outputs.parts
      named: $steps.named.outputs.parts
"""


def test_a_run_sends_form_and_multipart_bodies_by_their_encoding_objects(server: str, tmp_path: Path) -> None:
    """The operation's Encoding Objects (OAS 3.1.1 §4.8.15) shape what a step sends: a deepObject property
    and a comma-separated array in a form body, a part in the charset its content type names, an array as
    one JSON part."""
    (tmp_path / "api.yaml").write_text(_ENCODED_API.replace("BASE", server), encoding="utf-8")
    (tmp_path / "run.arazzo.yaml").write_text(_ENCODED_WORKFLOW, encoding="utf-8")
    result = load(str(tmp_path / "run.arazzo.yaml")).run("send")
    assert result.ok, result
    outputs = result.workflows[0].outputs
    assert outputs["form"] == [
        ["filter[status]", "active"],
        ["filter[age]", "3"],
        ["ids", "1,2"],
        ["q", "x y"],
    ]
    assert outputs["parts"] == {"note": "café", "tags": '["a","b"]'}
    assert outputs["named"] == {"a": "1"}  # a multipart Content-Type the step names gets the body's boundary


_SWAGGER_FORM_API = """
swagger: "2.0"
info: {title: form data, version: "1"}
host: HOST
schemes: [http]
paths:
  /form:
    parameters:
      - {in: formData, name: note, type: string}
    post:
      operationId: postForm
      parameters:
        - {in: formData, name: csv, type: array, items: {type: string}}
        - {in: formData, name: pipes, type: array, items: {type: string}, collectionFormat: pipes}
        - {in: formData, name: multi, type: array, items: {type: string}, collectionFormat: multi}
      responses: {"200": {description: ok}}
"""

_SWAGGER_FORM_WORKFLOW = """
arazzo: 1.0.1
info: {title: form data, version: "1"}
sourceDescriptions: [{name: api, url: ./api.yaml, type: openapi}]
workflows:
  - workflowId: send
    steps:
      - stepId: form
        operationId: postForm
        requestBody:
          payload: {note: x y, csv: [a, b], pipes: [c, d], multi: [e, f]}
        successCriteria: [{condition: $statusCode == 200}]
        outputs: {form: $response.body#/form}
    outputs:
      form: $steps.form.outputs.form
"""


def test_a_swagger_form_body_follows_its_parameters(server: str, tmp_path: Path) -> None:
    """Swagger 2.0 ``formData`` parameters make the body a form, the Path Item's too, and an array is written
    as its ``collectionFormat`` says (``csv`` when none is given)."""
    host = server.removeprefix("http://").rstrip("/")
    (tmp_path / "api.yaml").write_text(_SWAGGER_FORM_API.replace("HOST", host), encoding="utf-8")
    (tmp_path / "run.arazzo.yaml").write_text(_SWAGGER_FORM_WORKFLOW, encoding="utf-8")
    result = load(str(tmp_path / "run.arazzo.yaml")).run("send")
    assert result.ok, result
    assert result.workflows[0].outputs["form"] == [
        ["note", "x y"],
        ["csv", "a,b"],
        ["pipes", "c|d"],
        ["multi", "e"],
        ["multi", "f"],
    ]
