"""The runner's default client: no TLS set-up for plain HTTP, full certificate verification for HTTPS, and
one deadline for a whole exchange over TLS too."""

from __future__ import annotations

import datetime
import http.server
import ipaddress
import ssl
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import loopback
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from totpflow.arazzo.senders import HttpFailure
from totpflow.arazzo.senders.httpx_sender import HttpxSender
from totpflow.arazzo.senders.transport import LazyTransport, new_client


class _Hello(http.server.BaseHTTPRequestHandler):
    disable_nagle_algorithm = True

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: object) -> None:
        pass


class _Trickle(_Hello):
    """The whole response one byte every 50 ms: about 3 s."""

    def do_GET(self) -> None:
        loopback.trickle(self, b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok")


def _self_signed(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


def _serve(tls: tuple[Path, Path] | None, handler: type[_Hello] = _Hello) -> Iterator[str]:
    context = None
    if tls is not None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(*tls)
    with loopback.serve(handler, tls=context) as url:
        yield f"{url}/"


@pytest.fixture
def plain_url() -> Iterator[str]:
    yield from _serve(None)


@pytest.fixture
def tls_url(tmp_path: Path) -> Iterator[str]:
    yield from _serve(_self_signed(tmp_path))


def test_plain_http_needs_no_tls_transport(plain_url: str) -> None:
    transport = LazyTransport()
    with httpx.Client(transport=transport) as client:
        assert client.get(plain_url).text == "ok"
    assert transport._tls is None  # no CA bundle loaded for a plain-HTTP run


def test_https_is_still_verified(tls_url: str) -> None:
    with new_client(timeout=10) as client, pytest.raises(httpx.ConnectError) as info:
        client.get(tls_url)
    assert any(isinstance(exc, ssl.SSLCertVerificationError) for exc in _chain(info.value))


def test_a_trickled_https_response_ends_at_the_timeout(tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    trusting = ssl.create_default_context(cafile=str(cert))
    for url in _serve((cert, key), _Trickle):
        sender = HttpxSender(httpx.Client(transport=LazyTransport(verify=trusting)), own=True)
        begun = time.monotonic()
        try:
            with pytest.raises(HttpFailure) as trickled:
                sender.send(sender.build("GET", url, [], None, 0.5))
        finally:
            sender.close()
        assert trickled.value.timeout
        assert time.monotonic() - begun < 1.5  # the whole response would take about 3 s


def _chain(exc: BaseException | None) -> Iterator[BaseException]:
    """The exception and its causes (the TLS library's error is wrapped by httpcore, then httpx)."""
    while exc is not None:
        yield exc
        exc = exc.__cause__ or exc.__context__
