"""Shared fixtures for the runner's engine and CLI tests: the Tinypets API of arazzo.md §4.2 as one pure
function, served either through ``httpx.MockTransport`` (in-process) or by a real ``http.server`` on loopback.

Tinypets:
    POST /login            {username, password} → 200 {token, user} + ``X-Rate-Limit: 100``; 401 otherwise
    GET  /pets?status=     needs ``Authorization: Bearer tok-123`` → 200 [{id, name, status}]; 401 otherwise
    GET  /pets/{petId}     1 → 200 {id, name}; anything else → 404
    GET  /flaky?key=K      503 twice per key, then 200; ``&retryAfter=S`` adds a ``Retry-After: S`` header
    GET  /slow             the in-process transport raises ``httpx.ReadTimeout``; the HTTP server sleeps 2 s
    GET  /slow?ms=N&key=K  200 {calls} after N ms (only on the first call per ``key`` when one is given;
                           ``&drip=1`` sends the status line after N/2 ms and the body N/2 ms later); the
                           in-process transport waits as long as the request's timeout allows, then raises
                           ``httpx.ReadTimeout`` as a socket would
    POST /totp             200 {secret, uri}: a TOTP registration (base32 secret, otpauth URI)
    POST /totp/verify      {code} → 200 when it is the secret's current RFC 6238 code (±1 step), else 401
    GET  /invoice          200 an XML invoice (``application/xml``)
    POST /echo             200 the request body back, as XML when it was sent as XML, else as JSON
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import loopback
import pyotp
import pytest

PASSWORD = "s3cr3t-pw"
TOKEN = "tok-123"
TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
PETS = [{"id": 1, "name": "Rex", "status": "available"}, {"id": 2, "name": "Tom", "status": "sold"}]


INVOICE = '<Invoice><Header id="h1"><No>42</No></Header><Line>7</Line><Line>8</Line></Invoice>'


class Xml(str):
    """A response body sent as ``application/xml`` text."""


@dataclass
class PetsApi:
    """The fake API's state: how often each flaky key was called, and every request seen."""

    flaky: Counter[str] = field(default_factory=Counter)
    slow: Counter[str] = field(default_factory=Counter)
    seen: list[str] = field(default_factory=list)
    bodies: list[str] = field(default_factory=list)

    def respond(
        self, method: str, target: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], Any]:
        self.seen.append(f"{method} {target}")
        self.bodies.append(body.decode("utf-8", "replace"))
        url = urlsplit(target)
        query = dict(parse_qsl(url.query))
        path = url.path
        if method == "POST" and path == "/login":
            data = json.loads(body or b"{}")
            if data.get("password") != PASSWORD:
                return 401, {}, {"error": "bad credentials"}
            return 200, {"X-Rate-Limit": "100"}, {"token": TOKEN, "user": {"name": data.get("username")}}
        if method == "GET" and path == "/pets":
            if headers.get("authorization") != f"Bearer {TOKEN}":
                return 401, {}, {"error": "no token"}
            status = query.get("status")
            return 200, {}, [pet for pet in PETS if status in (None, pet["status"])]
        if method == "GET" and path.startswith("/pets/"):
            pet = next((p for p in PETS if str(p["id"]) == path.rsplit("/", 1)[1]), None)
            return (200, {}, pet) if pet else (404, {}, {"error": "no such pet"})
        if method == "GET" and path == "/flaky":
            key = query.get("key", "")
            self.flaky[key] += 1
            if self.flaky[key] <= 2:
                extra = {"Retry-After": query["retryAfter"]} if "retryAfter" in query else {}
                return 503, extra, {"error": "not yet"}
            return 200, {}, {"ok": True, "calls": self.flaky[key]}
        if method == "POST" and path == "/totp":
            uri = f"otpauth://totp/Tinypets:alice?secret={TOTP_SECRET}&issuer=Tinypets"
            return 200, {}, {"secret": TOTP_SECRET, "uri": uri}
        if method == "POST" and path == "/totp/verify":
            code = str(json.loads(body or b"{}").get("code", ""))
            ok = pyotp.TOTP(TOTP_SECRET).verify(code, valid_window=1)
            return (200, {}, {"verified": True}) if ok else (401, {}, {"error": "wrong code"})
        if method == "GET" and path == "/invoice":
            return 200, {}, Xml(INVOICE)
        if method == "POST" and path == "/echo":
            if "xml" in headers.get("content-type", ""):
                return 200, {}, Xml(body.decode("utf-8"))
            return 200, {}, json.loads(body or b"null")
        return 404, {}, {"error": "route not found"}

    def slow_delay(self, query: dict[str, str]) -> float:
        """Seconds ``/slow?ms=N[&key=K]`` waits before answering: N ms, only on the first call per key."""
        key = query.get("key")
        if key is not None:
            self.slow[key] += 1
            if self.slow[key] > 1:
                return 0.0
        return int(query["ms"]) / 1000

    def handler(self, request: httpx.Request) -> httpx.Response:
        target = request.url.raw_path.decode("ascii")
        if request.url.path == "/slow":
            self.seen.append(f"{request.method} {target}")
            query = dict(request.url.params)
            if "ms" not in query:
                raise httpx.ReadTimeout("timed out", request=request)
            delay = self.slow_delay(query)
            gap = delay / 2 if query.get("drip") else delay  # the longest wait between two reads
            limit = request.extensions.get("timeout", {}).get("read")
            if limit is not None and gap > limit:
                time.sleep(limit)
                raise httpx.ReadTimeout("timed out", request=request)
            time.sleep(delay)
            return httpx.Response(200, json={"calls": self.slow[query.get("key", "")]})
        headers = {name.lower(): value for name, value in request.headers.items()}
        status, extra, data = self.respond(request.method, target, headers, request.read())
        if isinstance(data, Xml):
            return httpx.Response(status, headers={**extra, "Content-Type": "application/xml"}, text=data)
        return httpx.Response(status, headers=extra, json=data)


@pytest.fixture
def pets_api() -> PetsApi:
    return PetsApi()


@pytest.fixture
def pets_client(pets_api: PetsApi) -> Iterator[httpx.Client]:
    with httpx.Client(transport=httpx.MockTransport(pets_api.handler)) as client:
        yield client


@pytest.fixture
def pets_server() -> Iterator[tuple[str, PetsApi]]:
    """The same API on a real loopback socket: (base URL, state)."""
    api = PetsApi()

    class Handler(BaseHTTPRequestHandler):
        disable_nagle_algorithm = True  # http.server writes headers and body separately (arazzo.md §4.4)
        wbufsize = 65536
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            if self.path.startswith("/slow"):
                api.seen.append(f"{self.command} {self.path}")
                query = dict(parse_qsl(urlsplit(self.path).query))
                if "ms" not in query:
                    time.sleep(2)
                    status, extra, data = 200, {}, {"late": True}
                else:
                    delay = api.slow_delay(query)
                    if query.get("drip"):
                        self._drip(delay, {"calls": api.slow[query.get("key", "")]})
                        return
                    time.sleep(delay)
                    status, extra, data = 200, {}, {"calls": api.slow[query.get("key", "")]}
            else:
                headers = {name.lower(): value for name, value in self.headers.items()}
                status, extra, data = api.respond(self.command, self.path, headers, body)
            xml = isinstance(data, Xml)
            payload = data.encode() if xml else json.dumps(data).encode()
            self.send_response(status)
            for name, value in extra.items():
                self.send_header(name, value)
            self.send_header("Content-Type", "application/xml" if xml else "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def _drip(self, delay: float, data: Any) -> None:
            """The status line and headers after half the delay, the body after the other half."""
            payload = json.dumps(data).encode()
            time.sleep(delay / 2)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.flush()
            time.sleep(delay / 2)
            self.wfile.write(payload)

        do_GET = do_POST = _serve

    with loopback.serve(Handler) as url:
        yield url, api
