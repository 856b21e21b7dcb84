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
import yaml

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
            parts = list(message.iter_parts())
            decoded["parts"] = {
                str(part.get_param("name", header="content-disposition")): _text(part.get_content())
                for part in parts
            }
            decoded["files"] = {  # the parts a framework hands over as uploaded files
                str(part.get_param("name", header="content-disposition")): [
                    part.get_filename(),
                    part.get_content_type(),
                ]
                for part in parts
                if part.get_filename() is not None
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


RUN_BODIES = yaml.safe_load((Path(__file__).parent / "run_bodies.yaml").read_text(encoding="utf-8"))


@pytest.mark.parametrize("case", RUN_BODIES, ids=[case["name"] for case in RUN_BODIES])
def test_a_run_sends_the_body_its_source_describes(case: dict[str, Any], server: str, tmp_path: Path) -> None:
    api = case["api"].replace("{base}", server).replace("{host}", server.removeprefix("http://").rstrip("/"))
    (tmp_path / "api.yaml").write_text(api, encoding="utf-8")
    (tmp_path / "run.arazzo.yaml").write_text(case["workflow"], encoding="utf-8")
    result = load(str(tmp_path / "run.arazzo.yaml")).run("send")
    assert result.ok, result
    assert result.workflows[0].outputs == case["outputs"]
