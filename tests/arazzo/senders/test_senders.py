"""The engine's HTTP seam over real loopback servers: ``PlainSender`` (http.client) sends exactly what it
reports, keeps connections alive, resends once on a connection the server closed, and turns every failure
into ``HttpFailure``; ``RoutingSender`` keeps httpx for ``https`` and proxied requests. A response trickled a
few bytes at a time, each in time, ends in a timeout once the request's timeout has passed."""

from __future__ import annotations

import gzip
import http.server
import json
import socket
import threading
import time
import zlib
from collections.abc import Iterator
from typing import Any, ClassVar

import httpx
import loopback
import pytest

from totpflow.arazzo.senders import HttpFailure, RoutingSender, as_sender
from totpflow.arazzo.senders.httpx_sender import HttpxSender
from totpflow.arazzo.senders.plain import USER_AGENT, PlainSender
from totpflow.arazzo.senders.transport import new_client


class _Echo(http.server.BaseHTTPRequestHandler):
    """Answers with what it received; counts connections; ``/slow`` sleeps, ``/close`` closes after."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    seen: ClassVar[list[dict[str, Any]]] = []
    connections: ClassVar[set[tuple[str, int]]] = set()

    def _answer(self) -> None:
        if self.path.startswith("/trickle"):
            self._trickle()
            return
        if self.path.startswith(("/sized/", "/chunked/")):
            self._sized()
            return
        if self.path.startswith("/encoded/"):
            self._encoded()
            return
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        type(self).connections.add(self.client_address)
        type(self).seen.append(
            {"method": self.command, "path": self.path, "headers": list(self.headers.items()), "body": body}
        )
        if self.path == "/slow":
            time.sleep(1.0)
        payload = b'{"ok": true}'
        self.send_response(201 if self.command == "POST" else 200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Set-Cookie", "a=1")
        self.send_header("Set-Cookie", "b=2")
        self.send_header("Content-Length", str(len(payload)))
        if self.path == "/close":
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(payload)

    def _sized(self) -> None:
        """``/sized/N``: a body of N bytes with its ``Content-Length``; ``/chunked/N``: the same in 100-byte
        chunks, its length unannounced."""
        size = int(self.path.rsplit("/", 1)[1])
        self.send_response(200)
        if self.path.startswith("/sized/"):
            self.send_header("Content-Length", str(size))
            self.end_headers()
            self.wfile.write(b"x" * size)
            return
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            for start in range(0, size, 100):
                piece = b"x" * min(100, size - start)
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            self.wfile.write(b"0\r\n\r\n")
        except OSError:  # the client stopped reading
            self.close_connection = True

    def _encoded(self) -> None:
        """``/encoded/<kind>/<N>``: N bytes of JSON text in the content coding ``kind`` names, sent whether or
        not the request accepts it."""
        kind, size = self.path.split("/")[2:4]
        text = b'{"text": "' + b"a" * max(int(size) - 12, 0) + b'"}'
        raw_deflate = zlib.compressobj(wbits=-zlib.MAX_WBITS)
        coded = {
            "gzip": ("gzip", gzip.compress(text)),
            "deflate": ("deflate", zlib.compress(text)),
            "raw-deflate": ("deflate", raw_deflate.compress(text) + raw_deflate.flush()),
            "gzip-then-identity": ("gzip, identity", gzip.compress(text)),
            "twice": ("gzip, deflate", zlib.compress(gzip.compress(text))),
            "unknown": ("x-unheard-of", text),
            "corrupt": ("gzip", b"\x1f\x8b not gzip at all"),
        }
        coding, body = coded[kind]
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Encoding", coding)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _trickle(self) -> None:
        """``/trickle-head``: the whole response one byte every ``TRICKLE_GAP`` seconds; ``/trickle-body``:
        the status line and header fields at once, then the body so."""
        body = b'{"ok": true, "padding": "' + b"x" * 40 + b'"}'
        head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body)
        self.close_connection = True
        try:
            if self.path == "/trickle-body":
                self.wfile.write(head)
                self.wfile.flush()
                head = b""
            for index in range(len(head + body)):
                self.wfile.write((head + body)[index : index + 1])
                self.wfile.flush()
                time.sleep(TRICKLE_GAP)
        except OSError:  # the client gave up
            pass

    do_GET = do_POST = do_DELETE = _answer

    def handle(self) -> None:
        try:
            super().handle()
        except OSError:  # a client that gave up (a timeout, a body it would not read) closed the connection
            pass

    def log_message(self, *args: object) -> None:
        pass


TRICKLE_GAP = 0.05  # seconds between two bytes of a trickled response: 3 s or more for the whole


@pytest.fixture
def server() -> Iterator[str]:
    _Echo.seen, _Echo.connections = [], set()
    with loopback.serve(_Echo) as url:
        yield url


def test_plain_sender_sends_exactly_what_it_reports(server: str) -> None:
    sender = PlainSender()
    try:
        request = sender.build(
            "POST", f"{server}/v1/users?q=a%20b", [("Content-Type", "application/json")], b'{"x":1}', 5.0
        )
        reply = sender.send(request)
    finally:
        sender.close()
    seen = _Echo.seen[0]
    assert (seen["method"], seen["path"], seen["body"]) == ("POST", "/v1/users?q=a%20b", b'{"x":1}')
    assert [(k.lower(), v) for k, v in seen["headers"]] == [(k.lower(), v) for k, v in request.headers]
    names = {name.lower() for name, _ in request.headers}
    assert {"host", "user-agent", "content-length", "content-type"} <= names
    assert dict(request.headers)["User-Agent"] == USER_AGENT
    assert request.url == f"{server}/v1/users?q=a%20b"
    assert (reply.status_code, reply.content, reply.http_version) == (201, b'{"ok": true}', "HTTP/1.1")
    assert [v for k, v in reply.headers if k.lower() == "set-cookie"] == [
        "a=1",
        "b=2",
    ]  # repeated fields kept


def test_plain_sender_keeps_the_connection_alive(server: str) -> None:
    sender = PlainSender()
    try:
        for _ in range(3):
            assert sender.send(sender.build("GET", f"{server}/a", [], None, 5.0)).status_code == 200
    finally:
        sender.close()
    assert len(_Echo.connections) == 1


def test_a_connection_the_server_closed_is_replaced(server: str) -> None:
    sender = PlainSender()
    try:
        assert sender.send(sender.build("GET", f"{server}/close", [], None, 5.0)).status_code == 200
        assert sender.send(sender.build("DELETE", f"{server}/after", [], None, 5.0)).status_code == 200
    finally:
        sender.close()
    assert [seen["path"] for seen in _Echo.seen] == ["/close", "/after"]
    assert len(_Echo.connections) == 2


def test_a_kept_alive_connection_the_server_closed_is_replaced_before_use() -> None:
    """The server closes an idle kept-alive connection without saying so: the next request, a POST that must
    not be sent twice, goes out once, on a new connection."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    received: list[bytes] = []

    def serve() -> None:
        for index in range(2):
            conn, _ = listener.accept()
            received.append(conn.recv(65536).split(b"\r\n", 1)[0])
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            if index == 0:
                time.sleep(0.1)
                conn.close()  # idle close, no "Connection: close"
            else:
                conn.recv(65536)  # wait until the client is done
                conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    sender = PlainSender()
    try:
        first = sender.build("POST", f"http://127.0.0.1:{port}/1", [], b"{}", 5.0)
        assert sender.send(first).content == b"ok"
        time.sleep(0.3)
        second = sender.build("POST", f"http://127.0.0.1:{port}/2", [], b"{}", 5.0)
        assert sender.send(second).content == b"ok"
    finally:
        sender.close()
        listener.close()
    assert received == [b"POST /1 HTTP/1.1", b"POST /2 HTTP/1.1"]


def test_failures_are_http_failures(server: str) -> None:
    sender = PlainSender()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    try:
        with pytest.raises(HttpFailure) as refused:
            sender.send(sender.build("GET", f"http://127.0.0.1:{closed_port}/", [], None, 5.0))
        assert not refused.value.timeout and "ConnectionRefused" in refused.value.message
        with pytest.raises(HttpFailure) as slow:
            sender.send(sender.build("GET", f"{server}/slow", [], None, 0.2))
        assert slow.value.timeout
        with pytest.raises(HttpFailure, match="not an http:// URL"):
            sender.build("GET", "ftp://127.0.0.1/x", [], None, 5.0)
        with pytest.raises(HttpFailure):
            sender.send(sender.build("GET", f"{server}/x", [("X-Bad", "a\r\nInjected: 1")], None, 5.0))
    finally:
        sender.close()


def test_routing_sends_plain_http_without_httpx_and_the_rest_with_it(
    server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    with RoutingSender() as routing:
        plain = routing.build("GET", f"{server}/p", [], None, 5.0)
        assert isinstance(plain.sender, PlainSender)
        assert routing.send(plain).status_code == 200
        tls = routing.build("GET", "https://127.0.0.1:1/x", [], None, 5.0)
        assert isinstance(tls.sender, HttpxSender)
        userinfo = routing.build("GET", "http://user:pw@127.0.0.1:1/x", [], None, 5.0)
        assert isinstance(userinfo.sender, HttpxSender)
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:1")
    with RoutingSender() as proxied:
        assert isinstance(proxied.build("GET", f"{server}/p", [], None, 5.0).sender, HttpxSender)


class _ForwardProxy(http.server.BaseHTTPRequestHandler):
    """A forward proxy that answers itself: the request line carries the absolute URL (RFC 9112 §3.2.2)."""

    def do_GET(self) -> None:
        body = json.dumps({"proxied": self.path}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.mark.parametrize("variable", ["HTTP_PROXY", "http_proxy", "ALL_PROXY"])
def test_a_proxy_named_in_the_environment_carries_the_request(
    variable: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    with loopback.serve(_ForwardProxy) as proxy:
        monkeypatch.setenv(variable, proxy)
        with RoutingSender() as routing:
            reply = routing.send(routing.build("GET", "http://127.0.0.1:1/x?a=1", [], None, 5.0))
    assert reply.status_code == 200
    assert json.loads(reply.content) == {"proxied": "http://127.0.0.1:1/x?a=1"}


def test_a_proxy_httpx_cannot_use_fails_the_request_without_showing_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.setenv("ALL_PROXY", "ftp://user:pr0xy-pw@127.0.0.1:1")
    with RoutingSender() as routing, pytest.raises(HttpFailure) as failed:
        routing.build("GET", "http://127.0.0.1:1/x", [], None, 5.0)
    assert "ALL_PROXY" in failed.value.message and "pr0xy-pw" not in failed.value.message


def test_an_httpx_client_is_wrapped_and_reports_the_same_fields(server: str) -> None:
    with httpx.Client() as client:
        sender = as_sender(client)
        assert isinstance(sender, HttpxSender)
        request = sender.build("POST", f"{server}/h", [("Content-Type", "application/json")], b"{}", 5.0)
        reply = sender.send(request)
    assert reply.status_code == 201 and reply.content == b'{"ok": true}'
    assert {name.lower() for name, _ in request.headers} >= {"host", "content-length", "content-type"}
    assert as_sender(sender) is sender


def test_the_httpx_sender_applies_the_timeout_of_each_request(server: str) -> None:
    with httpx.Client(timeout=30.0) as client:
        sender = as_sender(client)
        assert sender.send(sender.build("GET", f"{server}/quick", [], None, 0.5)).status_code == 200
        with pytest.raises(HttpFailure) as slow:
            sender.send(sender.build("GET", f"{server}/slow", [], None, 0.2))
    assert slow.value.timeout


@pytest.mark.parametrize("path", ["/trickle-head", "/trickle-body"])
def test_the_plain_sender_gives_up_on_a_trickling_response_at_its_timeout(server: str, path: str) -> None:
    sender = PlainSender()
    begun = time.monotonic()
    try:
        with pytest.raises(HttpFailure) as trickled:
            sender.send(sender.build("GET", f"{server}{path}", [], None, 0.4))
    finally:
        sender.close()
    assert trickled.value.timeout
    assert time.monotonic() - begun < 2.0  # the whole response would take 3 s or more


def test_the_httpx_sender_gives_up_on_a_trickling_body_within_twice_its_timeout(server: str) -> None:
    begun = time.monotonic()
    with httpx.Client() as client:
        sender = as_sender(client)
        with pytest.raises(HttpFailure) as trickled:
            sender.send(sender.build("GET", f"{server}/trickle-body", [], None, 0.4))
    assert trickled.value.timeout
    assert time.monotonic() - begun < 2.0


@pytest.mark.parametrize("path", ["/trickle-head", "/trickle-body"])
def test_the_runners_own_httpx_client_gives_up_on_a_trickling_response_at_its_timeout(
    server: str, path: str
) -> None:
    sender = HttpxSender(new_client(), own=True)
    begun = time.monotonic()
    try:
        with pytest.raises(HttpFailure) as trickled:
            sender.send(sender.build("GET", f"{server}{path}", [], None, 0.4))
        waited = time.monotonic() - begun
        # the deadline was the exchange's only: the next request on the same client has its own
        assert sender.send(sender.build("GET", f"{server}/quick", [], None, 5.0)).status_code == 200
    finally:
        sender.close()
    assert trickled.value.timeout
    assert waited < 1.5  # the whole response would take 3 s or more; an injected client's bound is 2 × 0.4 s


def test_a_kept_alive_connection_gets_the_whole_timeout_for_each_request(server: str) -> None:
    sender = PlainSender()
    try:
        for _ in range(3):  # each well within its own timeout, together longer than one
            assert sender.send(sender.build("GET", f"{server}/quick", [], None, 0.5)).status_code == 200
            time.sleep(0.3)
    finally:
        sender.close()
    assert len(_Echo.connections) == 1


@pytest.mark.parametrize("kind", ["sized", "chunked"])
@pytest.mark.parametrize("sender_name", ["plain", "httpx"])
def test_a_body_longer_than_the_limit_fails_the_request(server: str, kind: str, sender_name: str) -> None:
    """A body up to ``max_body`` bytes is read whole; a longer one, announced or not, fails the request
    rather than be read into memory, and the sender goes on with the next request."""
    sender: PlainSender | HttpxSender = (
        PlainSender(max_body=1000)
        if sender_name == "plain"
        else HttpxSender(httpx.Client(), own=True, max_body=1000)
    )
    try:
        assert sender.send(sender.build("GET", f"{server}/{kind}/1000", [], None, 5.0)).content == b"x" * 1000
        with pytest.raises(HttpFailure, match="larger than 1000 bytes") as failed:
            sender.send(sender.build("GET", f"{server}/{kind}/5000", [], None, 5.0))
        assert not failed.value.timeout
        assert sender.send(sender.build("GET", f"{server}/{kind}/10", [], None, 5.0)).content == b"x" * 10
    finally:
        sender.close()


@pytest.mark.parametrize(
    "kind", ["gzip", "deflate", "raw-deflate", "gzip-then-identity", "twice", "unknown", "corrupt"]
)
def test_both_senders_read_a_content_coded_body_alike(server: str, kind: str) -> None:
    """A body in a content coding, asked for or not, is decoded by the plain sender as httpx decodes it: the
    same body, the same failure for one that is not in its coding; the next request goes on."""
    plain, through_httpx = PlainSender(max_body=4000), HttpxSender(httpx.Client(), own=True, max_body=4000)
    answers: list[bytes | str] = []
    try:
        for sender in (plain, through_httpx):
            try:
                reply = sender.send(sender.build("GET", f"{server}/encoded/{kind}/3000", [], None, 5.0))
                answers.append(reply.content)
            except HttpFailure as failure:
                answers.append(failure.message.split(":")[0])
            assert sender.send(sender.build("GET", f"{server}/quick", [], None, 5.0)).status_code == 200
    finally:
        plain.close()
        through_httpx.close()
    assert answers[0] == answers[1]
    expected = "DecodingError" if kind == "corrupt" else b'{"text": "' + b"a" * 2988 + b'"}'
    assert answers[0] == expected


@pytest.mark.parametrize("sender_name", ["plain", "httpx"])
def test_a_coded_body_longer_than_the_limit_once_decoded_fails_the_request(
    server: str, sender_name: str
) -> None:
    """The limit holds for the decoded body: 5,000 bytes of gzip text expand past a 4,000-byte limit."""
    sender: PlainSender | HttpxSender = (
        PlainSender(max_body=4000)
        if sender_name == "plain"
        else HttpxSender(httpx.Client(), own=True, max_body=4000)
    )
    try:
        with pytest.raises(HttpFailure, match="larger than 4000 bytes"):
            sender.send(sender.build("GET", f"{server}/encoded/gzip/5000", [], None, 5.0))
    finally:
        sender.close()


def test_a_request_that_fails_half_written_never_goes_out(server: str) -> None:
    """A header value http.client cannot encode fails the request after its request line was buffered; the
    next request on the sender goes out alone (the failed one went out ahead of it, and its answer was read
    as the next one's)."""
    sender = PlainSender()
    try:
        assert sender.send(sender.build("GET", f"{server}/warm", [], None, 5.0)).status_code == 200
        euro = [("X-Note", "price in \u20ac")]  # outside Latin-1
        with pytest.raises(HttpFailure):
            sender.send(sender.build("DELETE", f"{server}/items/1", euro, None, 5.0))
        reply = sender.send(sender.build("GET", f"{server}/items/2", [], None, 5.0))
    finally:
        sender.close()
    assert reply.status_code == 200
    assert [(seen["method"], seen["path"]) for seen in _Echo.seen] == [("GET", "/warm"), ("GET", "/items/2")]


@pytest.mark.parametrize(
    ("value", "outcome"), [("Jos\u00e9", "Jos\u00e9"), ("price in \u20ac", "UnicodeEncodeError")]
)
def test_both_senders_treat_a_non_ascii_header_value_alike(server: str, value: str, outcome: str) -> None:
    """Latin-1 on the wire from either sender (http.server reads header bytes as Latin-1); a value outside it
    fails the request in both (httpx raised a UnicodeEncodeError below the engine: an internal error)."""
    for sender in (PlainSender(), HttpxSender(httpx.Client(), own=True)):
        try:
            sender.send(sender.build("GET", f"{server}/greet", [("X-Name", value)], None, 5.0))
            got = dict(_Echo.seen[-1]["headers"])["X-Name"]
        except HttpFailure as failure:
            got = failure.message.split(":")[0]
        finally:
            sender.close()
        assert got == outcome, type(sender).__name__
