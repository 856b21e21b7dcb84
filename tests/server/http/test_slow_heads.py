"""A request head must arrive in time (``protocol.HEAD_TIMEOUT_SECONDS``, shortened here): a client that sends
nothing after connecting, or a head a few bytes at a time, gets a Stytch 408 and its connection closed; one in
time is served, on a new connection and on a kept-alive one. The server's own protocol over loopback, from a
thread of the test."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator

import pytest
from inprocess_server import serving
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from totpflow.server.http.protocol import NoDelayProtocol

TIMEOUT = 0.5
REQUEST = b"GET /ok HTTP/1.1\r\nHost: t\r\n\r\n"


async def ok(request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")


@pytest.fixture
def port(monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    monkeypatch.setattr(NoDelayProtocol, "head_timeout", TIMEOUT)
    app = Starlette(routes=[Route("/ok", ok)])
    with serving(app, lifespan="off", http=NoDelayProtocol) as base_url:
        yield int(base_url.rsplit(":", 1)[1])


def read_all(sock: socket.socket) -> bytes:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def assert_408(data: bytes) -> None:
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408")
    error = json.loads(body)
    assert (error["status_code"], error["error_type"]) == (408, "request_timeout")


def test_a_connection_that_sends_nothing_is_closed_with_a_408(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        started = time.monotonic()
        assert_408(read_all(sock))
    assert time.monotonic() - started < TIMEOUT + 5


def test_a_head_sent_a_few_bytes_at_a_time_is_closed_with_a_408(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        started = time.monotonic()
        for index in range(12):  # 12 pieces a quarter of the timeout apart: three times the timeout
            try:
                sock.sendall(REQUEST[index : index + 1])
            except OSError:  # closed by the server
                break
            time.sleep(TIMEOUT / 4)
        assert_408(read_all(sock))
    assert time.monotonic() - started < 3 * TIMEOUT + 5


def test_heads_in_time_are_served_on_new_and_kept_alive_connections(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        for _ in range(3):
            time.sleep(TIMEOUT * 0.6)  # each head starts within the timeout, three times over it in all
            sock.sendall(REQUEST)
            answer = sock.recv(65536)
            assert answer.startswith(b"HTTP/1.1 200") and answer.endswith(b"ok")
