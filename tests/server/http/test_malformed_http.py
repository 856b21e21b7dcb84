"""Requests the HTTP parser rejects before the app runs still get the Stytch error body."""

from __future__ import annotations

import json
import socket

import pytest

from totpflow.testing import StytchServer

CASES = {
    "non-numeric content-length": b"POST /v1/users HTTP/1.1\r\nHost: t\r\ncontent-length: L\r\n\r\n",
    "malformed request line": b"POST /v1/users HTTP/9.x\r\nHost: t\r\n\r\n",
    "header without a colon": b"GET /v1/users/x HTTP/1.1\r\nHost: t\r\nno-colon-here\r\n\r\n",
}


@pytest.mark.parametrize("raw", CASES.values(), ids=CASES.keys())
def test_parser_rejections_carry_the_stytch_body(totpflow_server: StytchServer, raw: bytes) -> None:
    port = int(totpflow_server.base_url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(raw)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400")
    assert b"content-type: application/json" in head.lower()
    error = json.loads(body)
    assert error["status_code"] == 400
    assert error["error_type"] == "bad_request"
    assert error["request_id"].startswith("request-id-test-")
