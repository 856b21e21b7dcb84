"""A minimal HTTP/1.1 client over a plain socket, for requests no HTTP library will send: raw bytes and
control characters in header values, duplicated headers, conflicting lengths, oversize heads. Shared by
``tests/server/http`` and ``tests/reliability`` (importable from both)."""

from __future__ import annotations

import json
import socket
import threading
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit


@dataclass(frozen=True)
class RawResponse:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)

    def json(self) -> Any:
        return json.loads(self.body)


def exchange(base_url: str, request: bytes, timeout: float = 60) -> RawResponse:
    """Send ``request`` (whole, as given) and read the answer until the server closes the connection.

    The request is sent from a second thread while the answer is read, so a server that answers before it has
    read everything (a 431 to an 8 MB head) is not deadlocked against a client still writing."""
    parts = urlsplit(base_url)
    with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 80), timeout=timeout) as sock:

        def write() -> None:
            try:
                sock.sendall(request)
            except OSError:  # the server answered and closed while the rest was still being sent
                pass

        writer = threading.Thread(target=write, daemon=True)
        writer.start()
        data = bytearray()
        try:
            while chunk := sock.recv(65536):
                data += chunk
        except ConnectionResetError:
            pass
        writer.join(timeout)
    return parse(bytes(data))


def parse(data: bytes) -> RawResponse:
    head, separator, body = data.partition(b"\r\n\r\n")
    if not separator:
        raise AssertionError(f"no complete HTTP response: {data[:200]!r}")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = [(k.strip(), v.strip()) for k, _, v in (line.partition(":") for line in lines[1:])]
    response = RawResponse(status, headers, body)
    length = response.header("content-length")
    if length is not None:
        assert len(body) == int(length), f"short body: {len(body)} of {length} bytes"
    return response


def request_bytes(method: str, target: str, header_lines: list[bytes], body: bytes | None) -> bytes:
    """``METHOD target HTTP/1.1`` with ``header_lines`` (each without its CRLF) and ``body``."""
    head = f"{method} {target} HTTP/1.1\r\n".encode("latin-1")
    return head + b"".join(line + b"\r\n" for line in header_lines) + b"\r\n" + (body or b"")
